package registry

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/openxsuaa/xsuaa/clients/storage"
)

// FuzzParseCallbacks: the application's callback URLs (xsuaa subscribe
// --app-urls) are accepted only as absolute http or https URLs without
// user info, with onSubscription present and a bounded timeout; anything
// else is an ErrInvalid naming the problem, never a panic. An accepted
// onSubscription URL stays one with the zone id put in.
func FuzzParseCallbacks(f *testing.F) {
	for _, seed := range []string{
		`{"appUrls":{"getDependencies":"https://app.example/deps","onSubscription":"https://app.example/tenants/{tenantId}"}}`,
		`{"onSubscription":"http://127.0.0.1:5001/cb/{tenantId}","callbackTimeoutMillis":1000}`,
		`{"appUrls":{"onSubscription":"https://user:pw@app.example/{tenantId}"}}`,
		`{"appUrls":{"onSubscription":"ftp://app.example/{tenantId}"}}`,
		`{"appUrls":{"onSubscription":"/relative/{tenantId}"}}`,
		`{"appUrls":{"onSubscription":"https://app.example/{tenantId}","callbackTimeoutMillis":-1}}`,
		`{"appUrls":{"onSubscription":"https://app.example/{tenantId}","callbackTimeoutMillis":1e12}}`,
		`{"appUrls":null}`, `{"appUrls":{}}`, `{"appUrls":[]}`, `[]`, `null`, ``, `{`, `{"appUrls":{"onSubscription":5}}`,
		`{"appUrls":{"onSubscription":"https://[::1]:99999/{tenantId}"}}`,
		`{"appUrls":{"onSubscription":"https://app.example/%zz/{tenantId}"}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cb, err := ParseCallbacks(data)
		if err != nil {
			var op *OpError
			if !errors.As(err, &op) || !errors.Is(err, ErrInvalid) || !strings.HasPrefix(op.Msg, "app URLs: ") {
				t.Fatalf("ParseCallbacks(%q): %v is not an ErrInvalid naming the app URLs", data, err)
			}
			return
		}
		for _, u := range []string{cb.GetDependencies, strings.ReplaceAll(cb.OnSubscription, "{tenantId}", url.PathEscape("2bc924a5-4e48-4550-b2e9-dc7330ae1122"))} {
			if u == "" && cb.GetDependencies == "" {
				continue
			}
			p, err := url.Parse(u)
			if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" || p.User != nil {
				t.Fatalf("ParseCallbacks(%q) accepted %q", data, u)
			}
		}
		if cb.OnSubscription == "" || cb.CallbackTimeoutMillis < 0 || cb.CallbackTimeoutMillis > 300000 {
			t.Fatalf("ParseCallbacks(%q) accepted %+v", data, cb)
		}
	})
}

// FuzzCallbackAnswers: what an application answers to getDependencies and
// to onSubscription's PUT is taken only as a list of xsappnames and an
// absolute http(s) URL that every backend can store; anything else is an
// ErrCallback, never a panic.
func FuzzCallbackAnswers(f *testing.F) {
	for _, seed := range []string{
		`[{"xsappname":"audit-log!b1"}]`, `[]`, ``, `  `, `[{}]`, `[{"xsappname":5}]`, `{"xsappname":"x"}`, `null`,
		`https://t1-shop.app.localhost:5000`, `"https://t1.example/"`, `<html>welcome</html>`, `ftp://x/`, `https://`,
		"https://t1.example/\x00", "\"https://t1.example/\\u0000\"", `"\ud800"`, "https://t1.example/\xff",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		deps, err := parseDependencies(body)
		if err != nil && !errors.Is(err, ErrCallback) {
			t.Fatalf("parseDependencies(%q): %v is not an ErrCallback", body, err)
		}
		for _, d := range deps {
			if d == "" || storage.CheckText("", d) != nil {
				t.Fatalf("parseDependencies(%q) accepted %q", body, d)
			}
		}
		u, err := parseAppURL(body)
		if err != nil {
			if !errors.Is(err, ErrCallback) {
				t.Fatalf("parseAppURL(%q): %v is not an ErrCallback", body, err)
			}
			return
		}
		if u == "" {
			return
		}
		p, perr := url.Parse(u)
		if perr != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" || storage.CheckText("", u) != nil {
			t.Fatalf("parseAppURL(%q) accepted %q", body, u)
		}
	})
}
