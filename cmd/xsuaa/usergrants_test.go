package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
)

// TestPasswordAndRefreshGrants: the password grant logs a user in and
// issues a user token shaped like XSUAA's with a refresh token; the
// refresh token is not rotated and its tokens follow the user's role
// collections; failures are UAA's 401s, counted per user for the lockout,
// with a client's retries of one attempt counted once.
func TestPasswordAndRefreshGrants(t *testing.T) {
	s := startServer(t, "")
	s.ok("create-service", "demo-xsuaa", "-c", demoLoginDescriptor)
	s.ok("create-service", "cc-only", "-c", `{"xsappname":"cconly","oauth2-configuration":{"grant-types":["client_credentials"]}}`)
	s.ok("create-service", "other-xsuaa", "-c", `{"xsappname":"otherapp"}`)
	var demo, cc, other credentials
	s.okJSON(&demo, "create-service-key", "demo-xsuaa", "demo-key")
	s.okJSON(&cc, "create-service-key", "cc-only", "cc-key")
	s.okJSON(&other, "create-service-key", "other-xsuaa", "other-key")
	s.ok("create-user", "alice", "--password", "alice-pw-1", "--email", "alice@example.com", "--given-name", "Alice", "--family-name", "Example", "--attribute", "Country=DE")
	s.ok("create-user", "bob", "--password", "bob-pw-123")
	s.ok("assign-role-collection", "Demo_Viewer", "alice")

	password := func(c credentials, user, pw string, extra url.Values) (int, map[string]any) {
		t.Helper()
		form := url.Values{"grant_type": {"password"}, "client_id": {c.ClientID}, "client_secret": {c.ClientSecret}, "username": {user}, "password": {pw}}
		for k, v := range extra {
			form[k] = v
		}
		code, body, _ := s.token(s.httpsURL, form, nil)
		return code, body
	}
	code, body := password(demo, "alice", "alice-pw-1", nil)
	if code != 200 {
		t.Fatalf("password grant: %d %v", code, body)
	}
	if body["scope"] != "demo!t1.Display openid" || body["refresh_token"] == "" || !strings.HasSuffix(body["refresh_token"].(string), "-r") {
		t.Errorf("password grant response: %v", body)
	}
	_, claims := s.verify(body["access_token"].(string))
	for k, want := range map[string]any{"user_name": "alice", "origin": "sap.default", "email": "alice@example.com", "given_name": "Alice",
		"family_name": "Example", "grant_type": "password", "client_id": "sb-demo!t1", "cid": "sb-demo!t1"} {
		if claims[k] != want {
			t.Errorf("claim %s = %v, want %v", k, claims[k], want)
		}
	}
	if claims["sub"] != claims["user_id"] || claims["auth_time"] == nil {
		t.Errorf("sub %v, user_id %v, auth_time %v", claims["sub"], claims["user_id"], claims["auth_time"])
	}
	if got := claims["xs.user.attributes"].(map[string]any)["Country"]; !slices.Equal(toStrings(got), []string{"DE"}) {
		t.Errorf("xs.user.attributes.Country = %v", got)
	}
	if got := claims["xs.system.attributes"].(map[string]any)["xs.rolecollections"]; !slices.Equal(toStrings(got), []string{"Demo_Viewer"}) {
		t.Errorf("xs.rolecollections = %v", got)
	}
	if got := toStrings(claims["aud"]); !slices.Equal(got, []string{"openid", "demo!t1", "sb-demo!t1"}) {
		t.Errorf("aud = %v", got)
	}
	refresh := body["refresh_token"].(string)

	// Refresh with Basic credentials, as approuter does: the same refresh
	// token comes back; a role collection taken away is gone at once.
	doRefresh := func(c credentials, rt string) (int, map[string]any) {
		t.Helper()
		code, body, _ := s.token(s.httpsURL, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, []string{c.ClientID, c.ClientSecret})
		return code, body
	}
	if code, body := doRefresh(demo, refresh); code != 200 || body["refresh_token"] != refresh || body["scope"] != "demo!t1.Display openid" {
		t.Errorf("refresh: %d %v", code, body)
	}
	s.ok("unassign-role-collection", "Demo_Viewer", "alice")
	if code, body := doRefresh(demo, refresh); code != 200 || body["scope"] != "openid" {
		t.Errorf("refresh after the role collection was taken: %d %v; want scope openid", code, body)
	}
	s.ok("assign-role-collection", "Demo_Viewer", "alice")

	// Refusals, each a protocol error naming the problem, never a 5xx.
	for _, tc := range []struct {
		name  string
		do    func() (int, map[string]any)
		code  int
		error string
		desc  string
	}{
		{"wrong password", func() (int, map[string]any) { return password(demo, "alice", "wrong-pw", nil) }, 401, "unauthorized", "Bad credentials"},
		{"unknown user", func() (int, map[string]any) { return password(demo, "nobody", "whatever-pw", nil) }, 401, "unauthorized", "Bad credentials"},
		{"another origin", func() (int, map[string]any) {
			return password(demo, "alice", "alice-pw-1", url.Values{"login_hint": {`{"origin":"ldap"}`}})
		}, 401, "unauthorized", "Bad credentials"},
		{"malformed login_hint", func() (int, map[string]any) {
			return password(demo, "alice", "alice-pw-1", url.Values{"login_hint": {`ldap`}})
		}, 400, "invalid_request", "login_hint"},
		{"no password", func() (int, map[string]any) { return password(demo, "alice", "", nil) }, 400, "invalid_request", "password"},
		{"a scope the user lacks", func() (int, map[string]any) {
			return password(demo, "alice", "alice-pw-1", url.Values{"scope": {"demo!t1.Edit"}})
		}, 400, "invalid_scope", "demo!t1.Edit is invalid"},
		{"a client without the password grant", func() (int, map[string]any) { return password(cc, "alice", "alice-pw-1", nil) }, 400, "unauthorized_client", "password"},
		{"a refresh token of another client", func() (int, map[string]any) { return doRefresh(other, refresh) }, 401, "invalid_token", "Invalid refresh token"},
		{"a refresh by a client without the grant", func() (int, map[string]any) { return doRefresh(cc, refresh) }, 400, "unauthorized_client", "refresh_token"},
		{"an unknown refresh token", func() (int, map[string]any) { return doRefresh(demo, "0123456789abcdef0123456789abcdef-r") }, 401, "invalid_token", "Invalid refresh token"},
		{"no refresh token", func() (int, map[string]any) { return doRefresh(demo, "") }, 400, "invalid_request", "refresh_token"},
		{"an unsupported grant", func() (int, map[string]any) {
			code, body, _ := s.token(s.httpsURL, url.Values{"grant_type": {"implicit"}, "client_id": {demo.ClientID}, "client_secret": {demo.ClientSecret}}, nil)
			return code, body
		}, 400, "unsupported_grant_type", "implicit"},
	} {
		code, body := tc.do()
		if code != tc.code || body["error"] != tc.error || !strings.Contains(body["error_description"].(string), tc.desc) {
			t.Errorf("%s: %d %v; want %d %s with %q", tc.name, code, body, tc.code, tc.error, tc.desc)
		}
	}

	// Lockout: approuter's three tries of one wrong password count once,
	// so two mistyped passwords lock nobody; five distinct ones lock alice
	// (even her right password is refused), not bob.
	for i := 0; i < 3; i++ {
		password(demo, "alice", "mistyped-1", nil)
	}
	if code, body := password(demo, "alice", "alice-pw-1", nil); code != 200 {
		t.Fatalf("after retries of one wrong password: %d %v", code, body)
	}
	for _, pw := range []string{"guess-1", "guess-2", "guess-3", "guess-4", "guess-5"} {
		password(demo, "alice", pw, nil)
	}
	if code, body := password(demo, "alice", "alice-pw-1", nil); code != 401 || !strings.Contains(body["error_description"].(string), "locked") {
		t.Errorf("alice after 5 wrong passwords: %d %v; want 401 locked", code, body)
	}
	if code, body := password(demo, "bob", "bob-pw-123", nil); code != 200 {
		t.Errorf("bob while alice is locked: %d %v", code, body)
	}
	// The client itself is not throttled by its users' failures.
	if code, body, _ := s.token(s.httpsURL, url.Values{"grant_type": {"client_credentials"}, "client_id": {demo.ClientID}, "client_secret": {demo.ClientSecret}}, nil); code != 200 {
		t.Errorf("client_credentials while alice is locked: %d %v", code, body)
	}
	// A new password ends the old refresh tokens (and the lockout).
	s.ok("set-password", "alice", "--password", "alice-pw-2")
	if code, body := doRefresh(demo, refresh); code != 401 {
		t.Errorf("refresh after a password change: %d %v", code, body)
	}
	code, body = password(demo, "alice", "alice-pw-2", nil)
	if code != 200 {
		t.Fatalf("the new password after the lockout was reset: %d %v", code, body)
	}
	refresh = body["refresh_token"].(string)
	// A deleted user's refresh token stops at once.
	s.ok("delete-user", "alice")
	if code, body := doRefresh(demo, refresh); code != 401 {
		t.Errorf("refresh of a deleted user: %d %v", code, body)
	}
	logs := s.logs.String()
	for _, secret := range []string{"alice-pw-1", "mistyped-1", "guess-3", "bob-pw-123", refresh} {
		if strings.Contains(logs, secret) {
			t.Errorf("%q is in the server's logs", secret)
		}
	}
	if !strings.Contains(logs, `"event":"user.login.failed"`) {
		t.Error("failed user logins are not audited")
	}
}

// TestXssecPasswordGrant proves that @sap/xssec 4 fetches user tokens with
// the password grant and reads the user, its attributes, role collections
// and scopes from them (testdata/xssec/password.js).
func TestXssecPasswordGrant(t *testing.T) {
	node, modules, ok := needNode(t)
	if !ok {
		t.Skip("node and npm are needed to run @sap/xssec against the server")
	}
	s := startServer(t, "")
	s.ok("create-service", "demo-xsuaa", "-c", demoLoginDescriptor)
	raw := s.ok("create-service-key", "demo-xsuaa", "demo-key")
	s.ok("create-user", "alice", "--password", "alice-pw-1", "--email", "alice@example.com", "--given-name", "Alice", "--family-name", "Example", "--attribute", "Country=DE")
	s.ok("assign-role-collection", "Demo_Viewer", "alice")
	cfg := map[string]any{"credentials": json.RawMessage(raw), "user": "alice", "password": "alice-pw-1",
		"email": "alice@example.com", "givenName": "Alice", "familyName": "Example"}
	runNodeScript(t, s, node, modules, "xssec/password.js", writeJSONFile(t, cfg))
}

// Two apps for token exchange: front's Viewer gives uaa.user, which the
// exchange requires of the login token; back has its own role.
const (
	frontDescriptor = `{"xsappname":"front",
 "scopes":[{"name":"$XSAPPNAME.Display"},{"name":"uaa.user"}],
 "role-templates":[{"name":"Viewer","scope-references":["$XSAPPNAME.Display","uaa.user"]},{"name":"Plain","scope-references":["$XSAPPNAME.Display"]}],
 "role-collections":[{"name":"Front_Viewer","role-template-references":["$XSAPPNAME.Viewer"]},{"name":"Front_Plain","role-template-references":["$XSAPPNAME.Plain"]}]}`
	backDescriptor = `{"xsappname":"back",
 "scopes":[{"name":"$XSAPPNAME.Read"}],
 "role-templates":[{"name":"Reader","scope-references":["$XSAPPNAME.Read"]}],
 "role-collections":[{"name":"Back_Reader","role-template-references":["$XSAPPNAME.Reader"]}]}`
)

// TestJWTBearerGrant: a user token of one app is exchanged for a token of
// the same user for another app, with that app's scopes from the user's
// role collections; assertions that are not such user tokens are refused
// with a reason.
func TestJWTBearerGrant(t *testing.T) {
	s := startServer(t, "")
	s.ok("create-service", "front-xsuaa", "-c", frontDescriptor)
	s.ok("create-service", "back-xsuaa", "-c", backDescriptor)
	var front, back credentials
	s.okJSON(&front, "create-service-key", "front-xsuaa", "k")
	s.okJSON(&back, "create-service-key", "back-xsuaa", "k")
	s.ok("create-user", "alice", "--password", "alice-pw-1")
	s.ok("create-user", "bob", "--password", "bob-pw-123")
	s.ok("assign-role-collection", "Front_Viewer", "alice")
	s.ok("assign-role-collection", "Back_Reader", "alice")
	s.ok("assign-role-collection", "Front_Plain", "bob")
	login := func(user, pw string) string {
		t.Helper()
		code, body, _ := s.token(s.httpsURL, url.Values{"grant_type": {"password"}, "client_id": {front.ClientID}, "client_secret": {front.ClientSecret},
			"username": {user}, "password": {pw}}, nil)
		if code != 200 {
			t.Fatalf("login of %s: %d %v", user, code, body)
		}
		return body["access_token"].(string)
	}
	exchange := func(c credentials, assertion string) (int, map[string]any) {
		t.Helper()
		code, body, _ := s.token(s.httpsURL, url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"},
			"client_id": {c.ClientID}, "client_secret": {c.ClientSecret}, "assertion": {assertion}}, nil)
		return code, body
	}
	aliceToken := login("alice", "alice-pw-1")
	code, body := exchange(back, aliceToken)
	if code != 200 || body["scope"] != "back!t1.Read openid" || body["refresh_token"] == nil {
		t.Fatalf("exchange: %d %v", code, body)
	}
	_, claims := s.verify(body["access_token"].(string))
	if claims["user_name"] != "alice" || claims["client_id"] != "sb-back!t1" || claims["grant_type"] != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		t.Errorf("exchanged token: %v", claims)
	}
	var cc map[string]any
	if code, cc, _ = s.token(s.httpsURL, url.Values{"grant_type": {"client_credentials"}, "client_id": {front.ClientID}, "client_secret": {front.ClientSecret}}, nil); code != 200 {
		t.Fatal(code, cc)
	}
	parts := strings.Split(aliceToken, ".")
	// One payload character changed, the length kept: a well-formed JWT
	// whose signature no longer matches.
	flipped := []byte(parts[1])
	if flipped[10] == 'A' {
		flipped[10] = 'B'
	} else {
		flipped[10] = 'A'
	}
	tampered := parts[0] + "." + string(flipped) + "." + parts[2]
	for _, tc := range []struct {
		name, assertion, want string
	}{
		{"a token without uaa.user", login("bob", "bob-pw-123"), "uaa.user"},
		{"a client_credentials token", cc["access_token"].(string), "not a user token"},
		{"a tampered token", tampered, "its signature is not one of this server's keys"},
		{"not a JWT", "hello", "not a JWT"},
		{"no assertion", "", "assertion is missing"},
	} {
		code, body := exchange(back, tc.assertion)
		if code != 400 || !strings.Contains(body["error_description"].(string), tc.want) {
			t.Errorf("%s: %d %v; want 400 naming %q", tc.name, code, body, tc.want)
		}
	}
	// approuter's legacy fallback, user_token: the user token as Bearer,
	// client_id and no secret; the refresh token it returns is then
	// redeemed with the client's own credentials.
	userToken := func(clientID, bearer string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest("POST", s.httpsURL+"/oauth/token", strings.NewReader(url.Values{"grant_type": {"user_token"},
			"client_id": {clientID}, "token_format": {"jwt"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "Bearer "+bearer)
		code, b, _ := s.do(req)
		var m map[string]any
		json.Unmarshal(b, &m)
		return code, m
	}
	code, body = userToken(back.ClientID, aliceToken)
	if code != 200 || body["scope"] != "back!t1.Read openid" || body["refresh_token"] == nil {
		t.Fatalf("user_token: %d %v", code, body)
	}
	if _, claims := s.verify(body["access_token"].(string)); claims["user_name"] != "alice" || claims["client_id"] != back.ClientID || claims["grant_type"] != "user_token" {
		t.Errorf("user_token token: %v", claims)
	}
	if code, r, _ := s.token(s.httpsURL, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {body["refresh_token"].(string)}}, []string{back.ClientID, back.ClientSecret}); code != 200 {
		t.Errorf("refresh of the user_token's refresh token by its client: %d %v", code, r)
	}
	for _, tc := range []struct {
		name, client, bearer string
		code                 int
		error, want          string
	}{
		{"a token without uaa.user", back.ClientID, login("bob", "bob-pw-123"), 400, "invalid_grant", "uaa.user"},
		{"a client_credentials token", back.ClientID, cc["access_token"].(string), 401, "invalid_token", "not a user token"},
		{"a tampered token", back.ClientID, tampered, 401, "invalid_token", "its signature is not one of this server's keys"},
		{"an unknown client", "sb-nobody!t9", aliceToken, 401, "invalid_client", "Bad credentials"},
	} {
		code, body := userToken(tc.client, tc.bearer)
		if code != tc.code || body["error"] != tc.error || !strings.Contains(fmt.Sprint(body["error_description"]), tc.want) {
			t.Errorf("user_token with %s: %d %v; want %d %s naming %q", tc.name, code, body, tc.code, tc.error, tc.want)
		}
	}

	// A deleted user's token is refused.
	s.ok("delete-user", "alice")
	if code, body := exchange(back, aliceToken); code != 400 || !strings.Contains(body["error_description"].(string), "no longer exists") {
		t.Errorf("exchange for a deleted user: %d %v", code, body)
	}
	if code, body := userToken(back.ClientID, aliceToken); code != 400 || !strings.Contains(body["error_description"].(string), "no longer exists") {
		t.Errorf("user_token for a deleted user: %d %v", code, body)
	}
}

// TestXssecTokenExchange proves that @sap/xssec 4's fetchJwtBearerToken
// exchanges a user's token of one app for one of another app, which that
// app's security context accepts (testdata/xssec/exchange.js).
func TestXssecTokenExchange(t *testing.T) {
	node, modules, ok := needNode(t)
	if !ok {
		t.Skip("node and npm are needed to run @sap/xssec against the server")
	}
	s := startServer(t, "")
	s.ok("create-service", "front-xsuaa", "-c", frontDescriptor)
	s.ok("create-service", "back-xsuaa", "-c", backDescriptor)
	front := s.ok("create-service-key", "front-xsuaa", "k")
	back := s.ok("create-service-key", "back-xsuaa", "k")
	s.ok("create-user", "alice", "--password", "alice-pw-1")
	s.ok("assign-role-collection", "Front_Viewer", "alice")
	s.ok("assign-role-collection", "Back_Reader", "alice")
	cfg := map[string]any{"front": json.RawMessage(front), "back": json.RawMessage(back), "user": "alice", "password": "alice-pw-1"}
	runNodeScript(t, s, node, modules, "xssec/exchange.js", writeJSONFile(t, cfg))
}

// TestUserinfo: /userinfo answers a user token that carries openid with
// the user's profile and attributes, and refuses anything else with a
// Bearer challenge naming the problem.
func TestUserinfo(t *testing.T) {
	s := startServer(t, "")
	s.ok("create-service", "demo-xsuaa", "-c", demoLoginDescriptor)
	var demo credentials
	s.okJSON(&demo, "create-service-key", "demo-xsuaa", "k")
	s.ok("create-user", "alice", "--password", "alice-pw-1", "--email", "alice@example.com", "--given-name", "Alice", "--family-name", "Example", "--attribute", "Country=DE")
	s.ok("assign-role-collection", "Demo_Viewer", "alice")
	tokenFor := func(form url.Values) string {
		t.Helper()
		form.Set("client_id", demo.ClientID)
		form.Set("client_secret", demo.ClientSecret)
		code, body, _ := s.token(s.httpsURL, form, nil)
		if code != 200 {
			t.Fatalf("token: %d %v", code, body)
		}
		return body["access_token"].(string)
	}
	user := tokenFor(url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"alice-pw-1"}})
	noOpenID := tokenFor(url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"alice-pw-1"}, "scope": {"demo!t1.Display"}})
	client := tokenFor(url.Values{"grant_type": {"client_credentials"}})
	userinfo := func(auth string) (int, map[string]any, http.Header) {
		t.Helper()
		req, _ := http.NewRequest("GET", s.httpsURL+"/userinfo", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		code, b, h := s.do(req)
		var m map[string]any
		json.Unmarshal(b, &m)
		return code, m, h
	}
	code, info, h := userinfo("Bearer " + user)
	if code != 200 || info["user_name"] != "alice" || info["email"] != "alice@example.com" || info["name"] != "Alice Example" ||
		info["given_name"] != "Alice" || h.Get("Cache-Control") != "no-store" {
		t.Errorf("userinfo: %d %v %v", code, info, h)
	}
	if attrs, _ := info["user_attributes"].(map[string]any); !slices.Equal(toStrings(attrs["Country"]), []string{"DE"}) {
		t.Errorf("user_attributes = %v", info["user_attributes"])
	}
	for _, tc := range []struct {
		name, auth string
		code       int
		want       string
	}{
		{"no token", "", 401, "Authorization: Bearer"},
		{"a client token", "Bearer " + client, 401, "not a user token"},
		{"a tampered token", "Bearer " + user + "x", 401, "signature"},
		{"Basic credentials", "Basic YTpi", 401, "Bearer"},
		{"a token without openid", "Bearer " + noOpenID, 403, "openid"},
	} {
		code, body, h := userinfo(tc.auth)
		desc, _ := body["error_description"].(string)
		if code != tc.code || !strings.Contains(desc, tc.want) {
			t.Errorf("%s: %d %v; want %d naming %q", tc.name, code, body, tc.code, tc.want)
		}
		if code == 401 && !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer ") {
			t.Errorf("%s: WWW-Authenticate %q", tc.name, h.Get("WWW-Authenticate"))
		}
	}
	s.ok("delete-user", "alice")
	if code, body, _ := userinfo("Bearer " + user); code != 401 || !strings.Contains(body["error_description"].(string), "no longer exists") {
		t.Errorf("userinfo of a deleted user: %d %v", code, body)
	}
}

// TestIDTokenWithGoOIDC: a user grant that was granted openid returns an
// ID token that coreos/go-oidc verifies against the server's discovery
// document and key set, for the client as audience.
func TestIDTokenWithGoOIDC(t *testing.T) {
	s := startServer(t, "")
	s.ok("create-service", "demo-xsuaa", "-c", demoLoginDescriptor)
	var demo credentials
	s.okJSON(&demo, "create-service-key", "demo-xsuaa", "k")
	s.ok("create-user", "alice", "--password", "alice-pw-1", "--email", "alice@example.com")
	s.ok("assign-role-collection", "Demo_Viewer", "alice")
	code, body, _ := s.token(s.httpsURL, url.Values{"grant_type": {"password"}, "client_id": {demo.ClientID}, "client_secret": {demo.ClientSecret},
		"username": {"alice"}, "password": {"alice-pw-1"}}, nil)
	raw, _ := body["id_token"].(string)
	if code != 200 || raw == "" {
		t.Fatalf("password grant: %d %v; want an id_token", code, body)
	}
	ctx := oidc.ClientContext(context.Background(), s.client)
	issuer := demo.URL + "/oauth/token"
	provider, err := oidc.NewProvider(ctx, issuer)
	if err != nil {
		t.Fatalf("go-oidc discovery at %s: %v", issuer, err)
	}
	idt, err := provider.Verifier(&oidc.Config{ClientID: demo.ClientID}).Verify(ctx, raw)
	if err != nil {
		t.Fatalf("go-oidc refuses the ID token: %v", err)
	}
	var claims struct {
		UserName string `json:"user_name"`
		Email    string `json:"email"`
		JTI      string `json:"jti"`
	}
	if err := idt.Claims(&claims); err != nil || claims.UserName != "alice" || claims.Email != "alice@example.com" || claims.JTI != body["jti"] {
		t.Errorf("ID token claims %+v, %v; want alice's, with the access token's jti %v", claims, err, body["jti"])
	}
	_, access := s.verify(body["access_token"].(string))
	if idt.Subject != access["user_id"] {
		t.Errorf("ID token sub %q, access token user_id %v", idt.Subject, access["user_id"])
	}
	if _, err := provider.Verifier(&oidc.Config{ClientID: "sb-other!t1"}).Verify(ctx, raw); err == nil {
		t.Error("go-oidc accepted the ID token for another audience")
	}
	// Without openid there is no ID token.
	code, body, _ = s.token(s.httpsURL, url.Values{"grant_type": {"password"}, "client_id": {demo.ClientID}, "client_secret": {demo.ClientSecret},
		"username": {"alice"}, "password": {"alice-pw-1"}, "scope": {"demo!t1.Display"}}, nil)
	if _, has := body["id_token"]; code != 200 || body["scope"] != "demo!t1.Display" || has {
		t.Errorf("a token without openid: %d %v; want 200 without an id_token", code, body)
	}
}
