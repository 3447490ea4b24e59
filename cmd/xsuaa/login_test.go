package main

import (
	"context"
	"crypto/tls"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// browser is a cookie-keeping HTTP client that follows redirects within
// the server and stops at the first one that leaves it (to the
// application's callback or logout page).
type browser struct {
	t      *testing.T
	s      *testServer
	base   string // the server's URL the browser uses
	client *http.Client
}

func newBrowser(t *testing.T, s *testServer) *browser { return newBrowserAt(t, s, s.httpsURL) }

// newBrowserAt is a browser that reaches the server at baseURL.
func newBrowserAt(t *testing.T, s *testServer, baseURL string) *browser {
	jar, _ := cookiejar.New(nil)
	base, _ := url.Parse(baseURL)
	c := &http.Client{Transport: s.client.Transport, Jar: jar,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if req.URL.Host != base.Host {
				return http.ErrUseLastResponse
			}
			return nil
		}}
	return &browser{t: t, s: s, base: baseURL, client: c}
}

// page is a response the browser got.
type page struct {
	code     int
	body     string
	location string
	header   http.Header
	url      *url.URL
}

// newBrowserAtJar is a browser with b's cookies that reaches the server
// at baseURL.
func newBrowserAtJar(b *browser, baseURL string) *browser {
	nb := newBrowserAt(b.t, b.s, baseURL)
	nb.client.Jar = b.client.Jar
	return nb
}

func (b *browser) do(req *http.Request) page {
	b.t.Helper()
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return page{code: resp.StatusCode, body: string(body), location: resp.Header.Get("Location"), header: resp.Header, url: resp.Request.URL}
}

func (b *browser) get(u string) page {
	req, _ := http.NewRequest("GET", u, nil)
	return b.do(req)
}

func (b *browser) post(u string, form url.Values, header ...string) page {
	req, _ := http.NewRequest("POST", u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return b.do(req)
}

var hiddenField = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// loginForm reads the hidden fields of a login page.
func loginForm(t *testing.T, p page) url.Values {
	t.Helper()
	if p.code != 200 || !strings.Contains(p.body, `action="/login.do"`) {
		t.Fatalf("want the login form, got %d %s", p.code, p.body)
	}
	form := url.Values{}
	for _, m := range hiddenField.FindAllStringSubmatch(p.body, -1) {
		form.Set(m[1], htmlUnescape(m[2]))
	}
	return form
}

func htmlUnescape(s string) string {
	return strings.NewReplacer("&amp;", "&", "&#43;", "+", "&#34;", `"`, "&#39;", "'", "&lt;", "<", "&gt;", ">").Replace(s)
}

// login fills in the login form at p and returns where the browser ends.
func (b *browser) login(p page, user, password string) page {
	b.t.Helper()
	form := loginForm(b.t, p)
	form.Set("username", user)
	form.Set("password", password)
	return b.post(b.base+"/login.do", form)
}

const appCallback = "http://127.0.0.1:5055/login/callback"

// TestAuthorizationCodeFlow: a user logs in at the login page for a
// client using golang.org/x/oauth2 with PKCE, and coreos/go-oidc verifies
// the ID token with its nonce; the login session then serves a second
// client without a new login; logout ends it.
func TestAuthorizationCodeFlow(t *testing.T) {
	s := startServer(t, "")
	s.ok("create-service", "demo-xsuaa", "-c", demoLoginDescriptor)
	s.ok("create-service", "other-xsuaa", "-c", `{"xsappname":"otherapp","oauth2-configuration":{"redirect-uris":["http://127.0.0.1:5055/**"]}}`)
	var demo, other credentials
	s.okJSON(&demo, "create-service-key", "demo-xsuaa", "k")
	s.okJSON(&other, "create-service-key", "other-xsuaa", "k")
	s.ok("create-user", "alice", "--password", "alice-pw-1", "--email", "alice@example.com", "--given-name", "Alice", "--attribute", "Country=DE")
	s.ok("assign-role-collection", "Demo_Viewer", "alice")

	ctx := oidc.ClientContext(context.Background(), s.client)
	provider, err := oidc.NewProvider(ctx, demo.URL+"/oauth/token")
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	if ep := provider.Endpoint(); ep.AuthURL != demo.URL+"/oauth/authorize" {
		t.Errorf("discovery authorization_endpoint %q", ep.AuthURL)
	}
	cfg := oauth2.Config{ClientID: demo.ClientID, ClientSecret: demo.ClientSecret, Endpoint: provider.Endpoint(),
		RedirectURL: appCallback, Scopes: []string{"openid", "demo!t1.Display"}}
	verifier := oauth2.GenerateVerifier()
	b := newBrowser(t, s)
	authURL := cfg.AuthCodeURL("state-0123456789", oauth2.S256ChallengeOption(verifier), oidc.Nonce("nonce-42"))
	p := b.get(authURL)
	for _, want := range []string{"<title>Log in</title>", `name="username"`, `name="password"`, `<link rel="icon" href="data:,">`} {
		if !strings.Contains(p.body, want) {
			t.Errorf("login page lacks %s", want)
		}
	}
	if csp := p.header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || p.header.Get("Cache-Control") != "no-store" {
		t.Errorf("login page headers: %v", p.header)
	}
	end := b.login(p, "alice", "alice-pw-1")
	code, state := callbackParams(t, end)
	if state != "state-0123456789" {
		t.Errorf("state %q", state)
	}
	checkSessionCookie(t, b, s)

	tok, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("x/oauth2 exchange: %v", err)
	}
	if tok.RefreshToken == "" || tok.Extra("scope") != "openid demo!t1.Display" {
		t.Errorf("token response: refresh %q scope %v", tok.RefreshToken, tok.Extra("scope"))
	}
	_, claims := s.verify(tok.AccessToken)
	for k, want := range map[string]any{"grant_type": "authorization_code", "user_name": "alice", "client_id": demo.ClientID, "email": "alice@example.com"} {
		if claims[k] != want {
			t.Errorf("claim %s = %v, want %v", k, claims[k], want)
		}
	}
	rawID, _ := tok.Extra("id_token").(string)
	idt, err := provider.Verifier(&oidc.Config{ClientID: demo.ClientID}).Verify(ctx, rawID)
	if err != nil {
		t.Fatalf("go-oidc refuses the ID token: %v", err)
	}
	if idt.Nonce != "nonce-42" || idt.Subject != claims["user_id"] {
		t.Errorf("ID token nonce %q sub %q", idt.Nonce, idt.Subject)
	}
	// The refresh token works with x/oauth2's token source.
	ts := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken})
	if nt, err := ts.Token(); err != nil || nt.AccessToken == "" {
		t.Errorf("refresh through x/oauth2: %v", err)
	}

	// Single sign-on: the login session serves another client at once.
	ocfg := oauth2.Config{ClientID: other.ClientID, ClientSecret: other.ClientSecret, Endpoint: provider.Endpoint(), RedirectURL: appCallback}
	ocode, ostate := callbackParams(t, b.get(ocfg.AuthCodeURL("")))
	if ostate != "" {
		t.Errorf("state without a state parameter: %q", ostate)
	}
	if _, err := ocfg.Exchange(ctx, ocode); err != nil {
		t.Errorf("second client, no PKCE: %v", err)
	}

	// Logout: redirected to an allowed URI, and the next authorize
	// request shows the login form again.
	lo := b.get(s.httpsURL + "/logout.do?redirect=" + url.QueryEscape("http://127.0.0.1:5055/logged-out.html") + "&client_id=" + url.QueryEscape(demo.ClientID))
	if lo.code != 302 || lo.location != "http://127.0.0.1:5055/logged-out.html" {
		t.Errorf("logout: %d %q", lo.code, lo.location)
	}
	loginForm(t, b.get(authURL))
	u, _ := url.Parse(s.httpsURL)
	for _, c := range b.client.Jar.Cookies(u) {
		if c.Name == "XSUAA_SESSION" {
			t.Errorf("session cookie after logout: %v", c)
		}
	}
}

// callbackParams reads code and state from the redirect to the callback.
func callbackParams(t *testing.T, p page) (code, state string) {
	t.Helper()
	if (p.code != 302 && p.code != 303) || !strings.HasPrefix(p.location, appCallback+"?") {
		t.Fatalf("want a redirect to %s, got %d %q %s", appCallback, p.code, p.location, p.body)
	}
	u, _ := url.Parse(p.location)
	q := u.Query()
	if q.Get("error") != "" {
		t.Fatalf("callback with error: %s", p.location)
	}
	return q.Get("code"), q.Get("state")
}

// checkSessionCookie: the login session's cookie is not JSESSIONID, and
// is HttpOnly, SameSite=Lax and Secure on HTTPS.
func checkSessionCookie(t *testing.T, b *browser, s *testServer) {
	t.Helper()
	req, _ := http.NewRequest("GET", s.httpsURL+"/login", nil)
	jar := b.client.Jar
	b.client.Jar = nil
	defer func() { b.client.Jar = jar }()
	// Log in once more without the jar to see the Set-Cookie header.
	p := b.do(req)
	form := loginForm(t, p)
	var csrf string
	for _, line := range p.header.Values("Set-Cookie") {
		if strings.HasPrefix(line, "XSUAA_CSRF=") {
			csrf = strings.SplitN(strings.TrimPrefix(line, "XSUAA_CSRF="), ";", 2)[0]
			if !strings.Contains(line, "HttpOnly") || !strings.Contains(line, "SameSite=Strict") || !strings.Contains(line, "Secure") {
				t.Errorf("CSRF cookie %q", line)
			}
		}
	}
	form.Set("username", "alice")
	form.Set("password", "alice-pw-1")
	req, _ = http.NewRequest("POST", s.httpsURL+"/login.do", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: "XSUAA_CSRF", Value: csrf})
	noFollow := &http.Client{Transport: s.client.Transport, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var found bool
	for _, line := range resp.Header.Values("Set-Cookie") {
		if strings.HasPrefix(line, "JSESSIONID") {
			t.Errorf("the server sets JSESSIONID: %q", line)
		}
		if strings.HasPrefix(line, "XSUAA_SESSION=") {
			found = true
			for _, attr := range []string{"HttpOnly", "SameSite=Lax", "Secure", "Path=/"} {
				if !strings.Contains(line, attr) {
					t.Errorf("session cookie %q lacks %s", line, attr)
				}
			}
		}
	}
	if !found {
		t.Errorf("login without XSUAA_SESSION: %d %v", resp.StatusCode, resp.Header)
	}
}

// TestLoginAttacks: every attack on the login surface gets a clear 4xx
// (a page, or an OAuth error at the token endpoint) and never a redirect
// it should not make.
func TestLoginAttacks(t *testing.T) {
	s := startServer(t, "")
	s.ok("create-service", "demo-xsuaa", "-c", demoLoginDescriptor)
	s.ok("create-service", "other-xsuaa", "-c", `{"xsappname":"otherapp","oauth2-configuration":{"redirect-uris":["http://127.0.0.1:5055/**"]}}`)
	s.ok("create-service", "cc-only", "-c", `{"xsappname":"cconly","oauth2-configuration":{"grant-types":["client_credentials"],"redirect-uris":["http://127.0.0.1:5055/**"]}}`)
	var demo, other, cc credentials
	s.okJSON(&demo, "create-service-key", "demo-xsuaa", "k")
	s.okJSON(&other, "create-service-key", "other-xsuaa", "k")
	s.okJSON(&cc, "create-service-key", "cc-only", "k")
	s.ok("create-user", "alice", "--password", "alice-pw-1")
	s.ok("create-user", "mallory", "--password", "mallory-pw-1")
	s.ok("assign-role-collection", "Demo_Viewer", "alice")
	authorize := func(clientID, redirect string, extra ...string) string {
		q := url.Values{"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {redirect}}
		for i := 0; i+1 < len(extra); i += 2 {
			q.Set(extra[i], extra[i+1])
		}
		return s.httpsURL + "/oauth/authorize?" + q.Encode()
	}

	// Requests refused before any login: a 400 page, never a redirect.
	for _, tc := range []struct{ name, url, want string }{
		{"unknown client", authorize("sb-nobody!t9", appCallback), `No client &#34;sb-nobody!t9&#34; exists`},
		{"no client_id", s.httpsURL + "/oauth/authorize?response_type=code&redirect_uri=" + url.QueryEscape(appCallback), "client_id is missing"},
		{"redirect to another host", authorize(demo.ClientID, "https://evil.example/cb"), "is not among the redirect URIs"},
		{"redirect to another port", authorize(demo.ClientID, "http://127.0.0.1:5056/cb"), "is not among the redirect URIs"},
		{"redirect with userinfo", authorize(demo.ClientID, "http://evil@127.0.0.1:5055/cb"), "is not among the redirect URIs"},
		{"redirect with a fragment", authorize(demo.ClientID, appCallback+"#x"), "is not among the redirect URIs"},
		{"redirect without scheme", authorize(demo.ClientID, "//evil.example/cb"), "is not among the redirect URIs"},
		{"no redirect_uri and wildcard patterns", s.httpsURL + "/oauth/authorize?response_type=code&client_id=" + url.QueryEscape(demo.ClientID), "redirect_uri is missing"},
		{"client without authorization_code", authorize(cc.ClientID, appCallback), "may not use the authorization_code grant"},
		{"duplicate parameter", authorize(demo.ClientID, appCallback) + "&client_id=x", "included more than once"},
		{"control character", authorize(demo.ClientID, appCallback, "state", "a\x00b"), "control character"},
		{"malformed login_hint", authorize(demo.ClientID, appCallback, "login_hint", "ldap"), "login_hint must be"},
	} {
		p := newBrowser(t, s).get(tc.url)
		if p.code != 400 || p.location != "" || !strings.Contains(p.body, tc.want) || !strings.Contains(p.header.Get("Content-Type"), "text/html") {
			t.Errorf("%s: %d %q, body %s; want a 400 page with %q", tc.name, p.code, p.location, p.body, tc.want)
		}
	}

	// Errors after the redirect URI was checked go back to it (RFC 6749 §4.1.2.1).
	for _, tc := range []struct{ name, url, want string }{
		{"response_type token", authorize(demo.ClientID, appCallback, "response_type", "token"), "error=unsupported_response_type"},
		{"a scope the client cannot carry", authorize(demo.ClientID, appCallback, "scope", "otherapp!t2.Admin"), "error=invalid_scope"},
	} {
		p := newBrowser(t, s).get(tc.url)
		if p.code != 303 && p.code != 302 || !strings.HasPrefix(p.location, appCallback+"?") || !strings.Contains(p.location, tc.want) {
			t.Errorf("%s: %d %q; want a redirect with %s", tc.name, p.code, p.location, tc.want)
		}
	}

	// The login form.
	b := newBrowser(t, s)
	form := loginForm(t, b.get(authorize(demo.ClientID, appCallback)))
	post := func(b *browser, change func(url.Values), header ...string) page {
		f := url.Values{}
		for k, v := range form {
			f[k] = slices.Clone(v)
		}
		f.Set("username", "alice")
		f.Set("password", "alice-pw-1")
		if change != nil {
			change(f)
		}
		return b.post(s.httpsURL+"/login.do", f, header...)
	}
	fresh := newBrowser(t, s) // has no CSRF cookie
	for _, tc := range []struct {
		name   string
		b      *browser
		change func(url.Values)
		header []string
		code   int
		want   string
	}{
		{"no CSRF token", b, func(f url.Values) { f.Del("X-Uaa-Csrf") }, nil, 403, "has expired or did not come from this server"},
		{"forged CSRF token", b, func(f url.Values) { f.Set("X-Uaa-Csrf", strings.Repeat("0", 64)) }, nil, 403, "has expired"},
		{"CSRF token without its cookie", fresh, nil, nil, 403, "has expired"},
		{"cross-site Origin", b, nil, []string{"Origin", "https://evil.example"}, 403, "sent from another site"},
		{"open redirect in continue", b, func(f url.Values) { f.Set("continue", "https://evil.example/") }, nil, 400, "continue target"},
		{"protocol-relative continue", b, func(f url.Values) { f.Set("continue", "//evil.example/oauth/authorize") }, nil, 400, "continue target"},
		{"continue elsewhere on the server", b, func(f url.Values) { f.Set("continue", "/admin/users") }, nil, 400, "continue target"},
		{"oversized form", b, func(f url.Values) { f.Set("junk", strings.Repeat("x", 20<<10)) }, nil, 413, "larger than 16 KiB"},
		{"duplicate field", b, func(f url.Values) { f.Add("username", "bob") }, nil, 400, "more than once"},
		{"wrong password", b, func(f url.Values) { f.Set("password", "wrong-pw") }, nil, 401, "Unable to verify email or password"},
		{"unknown user", b, func(f url.Values) { f.Set("username", "nobody") }, nil, 401, "Unable to verify email or password"},
		{"empty password", b, func(f url.Values) { f.Set("password", "") }, nil, 400, "Enter your user name and password"},
	} {
		p := post(tc.b, tc.change, tc.header...)
		if p.code != tc.code || p.location != "" || !strings.Contains(p.body, tc.want) {
			t.Errorf("%s: %d %q %s; want %d with %q", tc.name, p.code, p.location, p.body, tc.code, tc.want)
		}
	}
	// A wrong password shows the form again, with the user name kept.
	if p := post(b, func(f url.Values) { f.Set("password", "wrong-pw") }); !strings.Contains(p.body, `value="alice"`) || !strings.Contains(p.body, `action="/login.do"`) {
		t.Errorf("the form after a wrong password: %s", p.body)
	}

	// Codes: log in, then attack the exchange.
	verifier := oauth2.GenerateVerifier()
	newCode := func(pkce bool) string {
		t.Helper()
		extra := []string{"state", "s-0123456789"}
		if pkce {
			extra = append(extra, "code_challenge", oauth2.S256ChallengeFromVerifier(verifier), "code_challenge_method", "S256")
		}
		b := newBrowser(t, s)
		code, _ := callbackParams(t, b.login(b.get(authorize(demo.ClientID, appCallback, extra...)), "alice", "alice-pw-1"))
		return code
	}
	exchange := func(c credentials, code, redirect string, extra ...string) (int, map[string]any) {
		form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect}, "client_id": {c.ClientID}, "client_secret": {c.ClientSecret}}
		for i := 0; i+1 < len(extra); i += 2 {
			form.Set(extra[i], extra[i+1])
		}
		code2, body, _ := s.token(s.httpsURL, form, nil)
		return code2, body
	}
	used := newCode(false)
	if code, body := exchange(demo, used, appCallback); code != 200 {
		t.Fatalf("exchange: %d %v", code, body)
	}
	for _, tc := range []struct {
		name  string
		do    func() (int, map[string]any)
		code  int
		error string
		desc  string
	}{
		{"a code used before", func() (int, map[string]any) { return exchange(demo, used, appCallback) }, 400, "invalid_grant", "already been used"},
		{"an unknown code", func() (int, map[string]any) { return exchange(demo, "0123456789abcdef0123456789abcdef", appCallback) }, 400, "invalid_grant", ""},
		{"a code of another client", func() (int, map[string]any) { return exchange(other, newCode(false), appCallback) }, 400, "invalid_grant", "does not match"},
		{"another redirect_uri", func() (int, map[string]any) { return exchange(demo, newCode(false), appCallback+"2") }, 400, "invalid_grant", "redirect_uri"},
		{"PKCE with a wrong verifier", func() (int, map[string]any) {
			return exchange(demo, newCode(true), appCallback, "code_verifier", oauth2.GenerateVerifier())
		}, 400, "invalid_grant", "PKCE code challenge did not match"},
		{"PKCE without the verifier", func() (int, map[string]any) { return exchange(demo, newCode(true), appCallback) }, 400, "invalid_grant", "PKCE code verifier"},
		{"a verifier without a challenge", func() (int, map[string]any) {
			return exchange(demo, newCode(false), appCallback, "code_verifier", verifier)
		}, 400, "invalid_grant", "PKCE"},
		{"a wrong client secret", func() (int, map[string]any) {
			return exchange(credentials{ClientID: demo.ClientID, ClientSecret: "wrong"}, newCode(false), appCallback)
		}, 401, "invalid_client", "Bad credentials"},
		{"no code", func() (int, map[string]any) { return exchange(demo, "", appCallback) }, 400, "invalid_grant", ""},
	} {
		code, body := tc.do()
		desc, _ := body["error_description"].(string)
		if code != tc.code || body["error"] != tc.error || !strings.Contains(desc, tc.desc) {
			t.Errorf("%s: %d %v; want %d %s with %q", tc.name, code, body, tc.code, tc.error, tc.desc)
		}
	}
	// A code past its 5 minutes (the clock moved by rewriting the stored
	// expiry; SQLite only, the storage suite checks both backends).
	if !postgresE2E() {
		expired := newCode(false)
		db, err := sql.Open("sqlite3", filepath.Join(s.dataDir, dbFile))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`UPDATE auth_codes SET expires_at = 1 WHERE used = 0`); err != nil {
			t.Fatal(err)
		}
		db.Close()
		if code, body := exchange(demo, expired, appCallback); code != 400 || body["error"] != "invalid_grant" {
			t.Errorf("an expired code: %d %v; want 400 invalid_grant", code, body)
		}
	}
	// A code spent by a failed exchange (wrong verifier) cannot be retried.
	c := newCode(true)
	exchange(demo, c, appCallback, "code_verifier", oauth2.GenerateVerifier())
	if code, body := exchange(demo, c, appCallback, "code_verifier", verifier); code != 400 {
		t.Errorf("a code after a failed PKCE check: %d %v", code, body)
	}
	// The right verifier works.
	if code, body := exchange(demo, newCode(true), appCallback, "code_verifier", verifier); code != 200 {
		t.Errorf("PKCE exchange: %d %v", code, body)
	}

	// Logout redirects only to a client's redirect URIs.
	for _, tc := range []struct{ name, query, note string }{
		{"unregistered redirect", "redirect=https://evil.example/&client_id=" + url.QueryEscape(demo.ClientID), "is not among the redirect URIs"},
		{"no client_id", "redirect=" + url.QueryEscape("http://127.0.0.1:5055/x"), "names no client_id"},
		{"unknown client", "post_logout_redirect_uri=" + url.QueryEscape("http://127.0.0.1:5055/x") + "&client_id=nobody", "no client"},
	} {
		p := newBrowser(t, s).get(s.httpsURL + "/logout.do?" + tc.query)
		if p.code != 200 || p.location != "" || !strings.Contains(p.body, tc.note) || !strings.Contains(p.body, "You have logged out") {
			t.Errorf("logout %s: %d %q %s", tc.name, p.code, p.location, p.body)
		}
	}

	// Lockout at the login page: five different wrong passwords lock
	// mallory (alice is unaffected), and then the right one is refused too.
	mb := newBrowser(t, s)
	for i := range 5 {
		p := mb.login(mb.get(authorize(demo.ClientID, appCallback)), "mallory", fmt.Sprintf("wrong-pw-%d", i))
		if p.code != 401 {
			t.Fatalf("wrong password %d: %d", i, p.code)
		}
	}
	if p := mb.login(mb.get(authorize(demo.ClientID, appCallback)), "mallory", "mallory-pw-1"); p.code != 401 || !strings.Contains(p.body, "locked") {
		t.Errorf("a locked user: %d %s", p.code, p.body)
	}
	ab := newBrowser(t, s)
	callbackParams(t, ab.login(ab.get(authorize(demo.ClientID, appCallback)), "alice", "alice-pw-1"))

	// Nothing of this reached the logs as a password.
	for _, secret := range []string{"alice-pw-1", "wrong-pw", "mallory-pw-1"} {
		if strings.Contains(s.logs.String(), secret) {
			t.Errorf("the server log holds %q", secret)
		}
	}
}

// TestUserGrantsWithCertificates: the user grants take the client's X.509
// credential like the others: an authorization code, a password and a
// refresh token redeemed with the binding's certificate over TLS and
// client_id alone, each token bound to the certificate (cnf).
func TestUserGrantsWithCertificates(t *testing.T) {
	s := startServer(t, "")
	s.ok("create-service", "cert-web", "-c", `{"xsappname":"certweb","scopes":[{"name":"$XSAPPNAME.Display"}],
 "role-templates":[{"name":"Viewer","scope-references":["$XSAPPNAME.Display"]}],
 "role-collections":[{"name":"CertWeb_Viewer","role-template-references":["$XSAPPNAME.Viewer"]}],
 "oauth2-configuration":{"credential-types":["x509"],"redirect-uris":["http://127.0.0.1:5055/**"]}}`)
	var c x5Credentials
	s.okJSON(&c, "create-service-key", "cert-web", "k")
	s.ok("create-user", "alice", "--password", "alice-pw-1")
	s.ok("assign-role-collection", "CertWeb_Viewer", "alice")
	cert, err := tls.X509KeyPair([]byte(c.Certificate), []byte(c.Key))
	if err != nil {
		t.Fatalf("the binding's certificate: %v", err)
	}
	mtls := s.mtlsClient(&cert)
	post := func(form url.Values) (int, map[string]any) {
		t.Helper()
		form.Set("client_id", c.ClientID)
		resp, err := mtls.PostForm(c.CertURL+"/oauth/token", form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	b := newBrowser(t, s)
	code, _ := callbackParams(t, b.login(b.get(s.httpsURL+"/oauth/authorize?"+url.Values{"response_type": {"code"},
		"client_id": {c.ClientID}, "redirect_uri": {appCallback}}.Encode()), "alice", "alice-pw-1"))
	for _, tc := range []struct {
		name string
		form url.Values
	}{
		{"authorization_code", url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {appCallback}}},
		{"password", url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"alice-pw-1"}}},
	} {
		status, body := post(tc.form)
		if status != 200 || body["scope"] != "certweb!t1.Display openid" {
			t.Fatalf("%s with a certificate: %d %v", tc.name, status, body)
		}
		_, claims := s.verify(body["access_token"].(string))
		if cnf, _ := claims["cnf"].(map[string]any); cnf["x5t#S256"] == nil || claims["grant_type"] != tc.name {
			t.Errorf("%s token with a certificate: %v", tc.name, claims)
		}
		if status, r := post(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {body["refresh_token"].(string)}}); status != 200 {
			t.Errorf("refresh of the %s grant's token with a certificate: %d %v", tc.name, status, r)
		}
	}
	// Without the certificate, the secretless client has no credential.
	if status, body := (func() (int, map[string]any) {
		code, m, _ := s.token(s.httpsURL, url.Values{"grant_type": {"password"}, "client_id": {c.ClientID}, "username": {"alice"}, "password": {"alice-pw-1"}}, nil)
		return code, m
	})(); status != 401 {
		t.Errorf("a password grant without the certificate: %d %v", status, body)
	}
}
