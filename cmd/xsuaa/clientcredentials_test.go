package main

import (
	"net/url"
	"strings"
	"testing"
)

// TestClientCredentialsChecks: the client_credentials grant's checks
// (client authentication, the requested scopes among the authorities, the
// audience, the grant allowed for the client) answer as UAA and fosite
// did: the same status, error and description.
func TestClientCredentialsChecks(t *testing.T) {
	s := startServer(t, "")
	s.ok("create-service", "cc-app", "-c", `{"xsappname":"ccapp","scopes":[{"name":"$XSAPPNAME.Read"},{"name":"$XSAPPNAME.Write"}],"authorities":["$XSAPPNAME.Read","$XSAPPNAME.Write"]}`)
	s.ok("create-service", "login-only", "-c", `{"xsappname":"loginonly","oauth2-configuration":{"grant-types":["authorization_code","refresh_token"],"redirect-uris":["http://localhost:5055/**"]}}`)
	var cc, loginOnly credentials
	s.okJSON(&cc, "create-service-key", "cc-app", "k")
	s.okJSON(&loginOnly, "create-service-key", "login-only", "k")
	form := func(c credentials, kv ...string) url.Values {
		f := url.Values{"grant_type": {"client_credentials"}, "client_id": {c.ClientID}, "client_secret": {c.ClientSecret}}
		for i := 0; i+1 < len(kv); i += 2 {
			f.Set(kv[i], kv[i+1])
		}
		return f
	}
	for _, tc := range []struct {
		name      string
		form      url.Values
		status    int
		errorCode string
		desc      string // a part of error_description, or the granted scope
	}{
		{"all authorities", form(cc), 200, "", "ccapp!t1.Read ccapp!t1.Write uaa.resource"},
		{"one requested scope", form(cc, "scope", "ccapp!t1.Write"), 200, "", "ccapp!t1.Write"},
		{"scopes with extra spaces", form(cc, "scope", " ccapp!t1.Read  ccapp!t1.Write "), 200, "", "ccapp!t1.Read ccapp!t1.Write"},
		{"a scope that is no authority", form(cc, "scope", "ccapp!t1.Read ccapp!t1.Admin"), 400, "invalid_scope", "ccapp!t1.Admin is invalid. Please use a valid scope name in the request"},
		{"an audience", form(cc, "audience", "https://elsewhere.example"), 400, "invalid_request", "Requested audience 'https://elsewhere.example' has not been whitelisted"},
		{"an audience and a bad scope: the scope first", form(cc, "scope", "x.y", "audience", "z"), 400, "invalid_scope", "x.y is invalid"},
		{"wrong secret", form(cc, "client_secret", "nope"), 401, "invalid_client", "Bad credentials"},
		{"a wrong secret and a bad scope: the client first", form(cc, "client_secret", "nope", "scope", "x.y"), 401, "invalid_client", "Bad credentials"},
		{"a client whose grant-types leave client_credentials out", form(loginOnly), 400, "unauthorized_client", "not allowed to use authorization grant 'client_credentials'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, resp, h := s.token(s.httpURL, tc.form, nil)
			if code != tc.status {
				t.Fatalf("status %d, want %d: %v", code, tc.status, resp)
			}
			if h.Get("Cache-Control") != "no-store" || h.Get("Pragma") != "no-cache" || h.Get("Content-Type") != "application/json;charset=UTF-8" {
				t.Errorf("headers %v", h)
			}
			if tc.status == 200 {
				if resp["scope"] != tc.desc || resp["token_type"] != "bearer" {
					t.Errorf("answer %v, want scope %q", resp, tc.desc)
				}
				_, claims := s.verify(resp["access_token"].(string))
				if got := strings.Join(toStrings(claims["scope"]), " "); got != tc.desc || claims["jti"] != resp["jti"] {
					t.Errorf("token scope %q jti %v, answer's jti %v", got, claims["jti"], resp["jti"])
				}
				return
			}
			if resp["error"] != tc.errorCode || !strings.Contains(resp["error_description"].(string), tc.desc) {
				t.Errorf("answer %v, want %s containing %q", resp, tc.errorCode, tc.desc)
			}
		})
	}
}
