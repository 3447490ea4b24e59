package server

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/openxsuaa/xsuaa/clients/registry"
	"github.com/openxsuaa/xsuaa/scopes"
)

// Benchmarks of the token path. Read them as a ratio to
// BenchmarkRSA2048Sign, the cost of the one signature every RS256 token
// needs: the rest of the path should be close to free.
//
//	go test ./server -run '^$' -bench . -benchmem

// BenchmarkRSA2048Sign is the baseline: one PKCS#1 v1.5 SHA-256 signature.
func BenchmarkRSA2048Sign(b *testing.B) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	digest := sha256.Sum256([]byte("payload"))
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:]); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// newBenchFixture is the fixture configured as xsuaa serve runs by
// default: throttling on, audit events written (to nowhere). One failed
// authentication of another client is recorded first, so that the
// throttle's check does its map read as it does on a server that has
// seen failures.
func newBenchFixture(b *testing.B) *fixture {
	f := newFixtureWith(b, func(c *Config) {
		c.AuthFailureLimit, c.AuthFailureWindow = DefaultAuthFailureLimit, DefaultAuthFailureWindow
		c.Audit = slog.New(slog.NewJSONHandler(io.Discard, nil))
	})
	if rec := f.serve("POST", "/oauth/token", "grant_type=client_credentials&client_id=sb-other!t1&client_secret=x",
		map[string]string{"Content-Type": "application/x-www-form-urlencoded"}); rec.Code != http.StatusUnauthorized {
		b.Fatalf("%d %s", rec.Code, rec.Body)
	}
	return f
}

// BenchmarkTokenInProcess runs whole token requests (client_secret_post)
// through the handler without a network.
func BenchmarkTokenInProcess(b *testing.B) {
	f := newBenchFixture(b)
	runTokenRequests(b, f, f.tokenForm(), map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
}

// runTokenRequests times token requests with body and hdr through f's
// handler on every core; each must succeed.
func runTokenRequests(b *testing.B, f *fixture, body string, hdr map[string]string) {
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if rec := f.serve("POST", "/oauth/token", body, hdr); rec.Code != http.StatusOK {
				b.Fatalf("%d %s", rec.Code, rec.Body)
			}
		}
	})
}

// BenchmarkTokenBasicInProcess is the same with client_secret_basic.
func BenchmarkTokenBasicInProcess(b *testing.B) {
	f := newBenchFixture(b)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest("POST", "/oauth/token", strings.NewReader("grant_type=client_credentials"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(f.clientID, f.secret)
			rec := newDiscard()
			f.srv.ServeHTTP(rec, req)
			if rec.code != http.StatusOK {
				b.Fatalf("status %d", rec.code)
			}
		}
	})
}

// BenchmarkTokenLoopbackHTTP sends token requests over keep-alive HTTP
// connections to a real listener on 127.0.0.1.
func BenchmarkTokenLoopbackHTTP(b *testing.B) {
	f := newBenchFixture(b)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	hs := &http.Server{Handler: f.srv}
	go hs.Serve(ln)
	defer hs.Close()
	url := "http://" + ln.Addr().String() + "/oauth/token"
	body := f.tokenForm()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := client.Post(url, "application/x-www-form-urlencoded", strings.NewReader(body))
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Fatalf("status %d", resp.StatusCode)
			}
		}
	})
}

// discard is a ResponseWriter that keeps only the status.
type discard struct {
	h    http.Header
	code int
}

func newDiscard() *discard                     { return &discard{h: http.Header{}, code: 200} }
func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) WriteHeader(code int)        { d.code = code }

// newUserBenchFixture adds to the bench fixture an app whose role
// collection gives alice a scope and uaa.user, and returns alice's
// password grant response.
func newUserBenchFixture(b *testing.B) (*fixture, map[string]any) {
	f := newBenchFixture(b)
	ctx := context.Background()
	zone := f.srv.index.ProviderZone().ID
	if _, _, err := f.reg.CreateInstance(ctx, registry.InstanceRequest{
		ID: "inst-users", Name: "users", ServiceID: ServiceID, PlanID: PlanApplicationID, Plan: scopes.PlanApplication, OrgGUID: "o", SpaceGUID: "s",
		Parameters: json.RawMessage(`{"xsappname":"ubench","scopes":[{"name":"$XSAPPNAME.Read"},{"name":"uaa.user"}],
			"role-templates":[{"name":"Reader","scope-references":["$XSAPPNAME.Read","uaa.user"]}],
			"role-collections":[{"name":"Readers","role-template-references":["$XSAPPNAME.Reader"]}]}`),
	}); err != nil {
		b.Fatal(err)
	}
	creds, _, err := f.reg.Bind(ctx, registry.BindRequest{InstanceID: "inst-users", BindingID: "bind-users"})
	if err != nil {
		b.Fatal(err)
	}
	f.clientID, f.secret = creds.ClientID, creds.ClientSecret
	if _, err := f.reg.CreateUser(ctx, registry.UserSpec{ZoneID: zone, Name: "alice", Password: "alice-pw-1"}); err != nil {
		b.Fatal(err)
	}
	if err := f.reg.AssignRoleCollection(ctx, zone, "Readers", "", "alice"); err != nil {
		b.Fatal(err)
	}
	rec := f.serve("POST", "/oauth/token", url.Values{"grant_type": {"password"}, "client_id": {f.clientID}, "client_secret": {f.secret},
		"username": {"alice"}, "password": {"alice-pw-1"}}.Encode(), map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	var resp map[string]any
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &resp) != nil {
		b.Fatalf("password grant: %d %s", rec.Code, rec.Body)
	}
	return f, resp
}

// BenchmarkRefreshInProcess runs refresh_token grants (one refresh token,
// Basic credentials, as approuter sends them).
func BenchmarkRefreshInProcess(b *testing.B) {
	f, resp := newUserBenchFixture(b)
	body := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {resp["refresh_token"].(string)}}.Encode()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest("POST", "/oauth/token", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(f.clientID, f.secret)
			rec := newDiscard()
			f.srv.ServeHTTP(rec, req)
			if rec.code != http.StatusOK {
				b.Fatalf("status %d", rec.code)
			}
		}
	})
}

// BenchmarkJWTBearerInProcess runs jwt-bearer exchanges of one user token.
func BenchmarkJWTBearerInProcess(b *testing.B) {
	f, resp := newUserBenchFixture(b)
	body := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "client_id": {f.clientID}, "client_secret": {f.secret},
		"assertion": {resp["access_token"].(string)}}.Encode()
	hdr := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if rec := f.serve("POST", "/oauth/token", body, hdr); rec.Code != http.StatusOK {
				b.Fatalf("%d %s", rec.Code, rec.Body)
			}
		}
	})
}
