package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

const ordersDescriptor = `{
  "xsappname": "orders",
  "tenant-mode": "dedicated",
  "scopes": [{"name": "$XSAPPNAME.Read"}, {"name": "$XSAPPNAME.Write"}],
  "authorities": ["$XSAPPNAME.Read", "$XSAPPNAME.Write"],
  "oauth2-configuration": {"token-validity": 900}
}`

var hex32 = regexp.MustCompile(`^[0-9a-f]{32}$`)

// TestTokenShape fetches tokens with the secret in the form body (HTTPS)
// and in a Basic header (HTTP) and checks every claim XSUAA puts into a
// client_credentials token.
func TestTokenShape(t *testing.T) {
	s := startServer(t, "")
	s.provision("inst-orders", "orders-xsuaa", ordersDescriptor)
	_, c := s.bind("inst-orders", "bind-1", nil)
	if c.ClientID != "sb-orders!t1" || c.XSAppName != "orders!t1" {
		t.Fatalf("credentials name %q / %q, want sb-orders!t1 / orders!t1", c.ClientID, c.XSAppName)
	}
	if c.URL != s.httpsURL || c.UAADomain != strings.TrimPrefix(s.httpsURL, "https://") {
		t.Fatalf("url %q uaadomain %q, want %s", c.URL, c.UAADomain, s.httpsURL)
	}

	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {c.ClientID}, "client_secret": {c.ClientSecret}}
	basicForm := url.Values{"grant_type": {"client_credentials"}}
	for name, fetch := range map[string]func() (int, map[string]any, http.Header){
		"form body over https": func() (int, map[string]any, http.Header) { return s.token(s.httpsURL, form, nil) },
		"basic over http": func() (int, map[string]any, http.Header) {
			return s.token(s.httpURL, basicForm, []string{c.ClientID, c.ClientSecret})
		},
		"url-encoded basic": func() (int, map[string]any, http.Header) {
			return s.token(s.httpURL, basicForm, []string{url.QueryEscape(c.ClientID), url.QueryEscape(c.ClientSecret)})
		},
		"parameters in the query string": func() (int, map[string]any, http.Header) {
			req, _ := http.NewRequest("POST", s.httpURL+"/oauth/token?grant_type=client_credentials", nil)
			req.SetBasicAuth(c.ClientID, c.ClientSecret)
			code, b, h := s.do(req)
			var m map[string]any
			json.Unmarshal(b, &m)
			return code, m, h
		},
	} {
		t.Run(name, func(t *testing.T) {
			code, resp, h := fetch()
			if code != 200 {
				t.Fatalf("status %d: %v", code, resp)
			}
			if h.Get("Cache-Control") != "no-store" || !strings.HasPrefix(h.Get("Content-Type"), "application/json") {
				t.Errorf("headers %v", h)
			}
			if resp["token_type"] != "bearer" || resp["expires_in"] != float64(899) || resp["scope"] != "orders!t1.Read orders!t1.Write uaa.resource" {
				t.Errorf("response %v", resp)
			}
			if !hex32.MatchString(fmt.Sprint(resp["jti"])) {
				t.Errorf("jti %v is not 32 hex characters", resp["jti"])
			}
			hdr, claims := s.verify(resp["access_token"].(string))
			if hdr["alg"] != "RS256" || hdr["typ"] != "JWT" || hdr["jku"] != s.httpsURL+"/token_keys" || !strings.HasPrefix(fmt.Sprint(hdr["kid"]), "default-jwt-key-") {
				t.Errorf("header %v", hdr)
			}
			want := map[string]any{
				"jti": resp["jti"], "sub": "sb-orders!t1", "client_id": "sb-orders!t1", "cid": "sb-orders!t1", "azp": "sb-orders!t1",
				"grant_type": "client_credentials", "iss": s.httpsURL + "/oauth/token", "zid": c.IdentityZoneID,
				"scope":       []any{"orders!t1.Read", "orders!t1.Write", "uaa.resource"},
				"authorities": []any{"orders!t1.Read", "orders!t1.Write", "uaa.resource"},
				"aud":         []any{"orders!t1", "uaa", "sb-orders!t1"},
				"ext_attr":    map[string]any{"enhancer": "XSUAA", "subaccountid": c.IdentityZoneID, "zdn": "provider"},
			}
			for k, v := range want {
				if !jsonEqual(claims[k], v) {
					t.Errorf("claim %s = %v, want %v", k, claims[k], v)
				}
			}
			iat, exp := claims["iat"].(float64), claims["exp"].(float64)
			if exp-iat != 900 || time.Since(time.Unix(int64(iat), 0)).Abs() > time.Minute {
				t.Errorf("iat %v exp %v", iat, exp)
			}
			if !regexp.MustCompile(`^[0-9a-f]{8}$`).MatchString(fmt.Sprint(claims["rev_sig"])) {
				t.Errorf("rev_sig %v", claims["rev_sig"])
			}
		})
	}

	t.Run("scope parameter narrows the token", func(t *testing.T) {
		f := url.Values{"grant_type": {"client_credentials"}, "client_id": {c.ClientID}, "client_secret": {c.ClientSecret}, "scope": {"orders!t1.Read"}}
		code, resp, _ := s.token(s.httpURL, f, nil)
		if code != 200 || resp["scope"] != "orders!t1.Read" {
			t.Fatalf("%d %v", code, resp)
		}
		_, claims := s.verify(resp["access_token"].(string))
		if !jsonEqual(claims["aud"], []any{"orders!t1", "sb-orders!t1"}) {
			t.Errorf("aud %v", claims["aud"])
		}
	})
	t.Run("az_attr from the authorities parameter", func(t *testing.T) {
		f := url.Values{"grant_type": {"client_credentials"}, "client_id": {c.ClientID}, "client_secret": {c.ClientSecret},
			"authorities": {`{"az_attr":{"tenant":"t1","n":1}}`}}
		code, resp, _ := s.token(s.httpURL, f, nil)
		if code != 200 {
			t.Fatalf("%d %v", code, resp)
		}
		_, claims := s.verify(resp["access_token"].(string))
		if !jsonEqual(claims["az_attr"], map[string]any{"tenant": "t1"}) {
			t.Errorf("az_attr %v", claims["az_attr"])
		}
	})
}

// TestRestartKeepsEverything stops the server and starts it again on the
// same data directory: instances, bindings, secrets and signing keys survive,
// and a token issued before the restart validates after it.
func TestRestartKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir)
	s.provision("inst-r", "restart-xsuaa", `{"xsappname":"restart-app"}`)
	_, c := s.bind("inst-r", "bind-r", nil)
	before := s.secretToken(c)
	hdrBefore, _ := s.verify(before)
	s.stop()

	s2 := startServer(t, dir)
	hdrAfter, claims := s2.verify(before) // old token, new process
	if hdrAfter["kid"] != hdrBefore["kid"] || claims["cid"] != "sb-restart-app!t1" {
		t.Fatalf("kid %v→%v, claims %v", hdrBefore["kid"], hdrAfter["kid"], claims)
	}
	after := s2.secretToken(c) // the old secret still works
	if h, _ := s2.verify(after); h["kid"] != hdrBefore["kid"] {
		t.Fatalf("signing key changed across restart: %v → %v", hdrBefore["kid"], h["kid"])
	}
	_, c2 := s2.bind("inst-r", "bind-r2", nil)
	if c2.IdentityZoneID != c.IdentityZoneID || c2.VerificationKey != c.VerificationKey {
		t.Fatal("zone or verification key changed across restart")
	}
}

// TestUnbindRevokesAtOnce: with two bindings, unbinding one makes its
// secret fail at once, also on an open keep-alive connection, while the
// other keeps working. No secret is stored or logged in clear.
func TestUnbindRevokesAtOnce(t *testing.T) {
	s := startServer(t, "")
	s.provision("inst-u", "unbind-xsuaa", `{"xsappname":"unbind-app"}`)
	_, c1 := s.bind("inst-u", "b1", nil)
	_, c2 := s.bind("inst-u", "b2", nil)
	if c1.ClientSecret == c2.ClientSecret || c1.ClientID != c2.ClientID {
		t.Fatal("bindings of one instance share the client id and differ in secret")
	}
	s.secretToken(c1) // opens a keep-alive connection
	s.secretToken(c2)

	if code, body := s.broker("DELETE", "/v2/service_instances/inst-u/service_bindings/b1?service_id="+serviceID+"&plan_id="+planAppID, nil); code != 200 || len(body) != 0 {
		t.Fatalf("unbind: %d %v", code, body)
	}
	for _, base := range []string{s.httpsURL, s.httpURL} {
		code, resp, h := s.token(base, url.Values{"grant_type": {"client_credentials"}, "client_id": {c1.ClientID}, "client_secret": {c1.ClientSecret}}, nil)
		if code != 401 || resp["error"] != "invalid_client" || resp["error_description"] != "Bad credentials" || !strings.Contains(h.Get("WWW-Authenticate"), `realm="UAA/client"`) {
			t.Fatalf("unbound secret at %s: %d %v %v", base, code, resp, h)
		}
	}
	s.secretToken(c2)
	if code, _ := s.broker("DELETE", "/v2/service_instances/inst-u/service_bindings/b1?service_id="+serviceID+"&plan_id="+planAppID, nil); code != 410 {
		t.Fatalf("second unbind: %d, want 410", code)
	}

	// Deleting the instance revokes the remaining binding too.
	if code, _ := s.broker("DELETE", "/v2/service_instances/inst-u?service_id="+serviceID+"&plan_id="+planAppID, nil); code != 200 {
		t.Fatalf("deprovision: %d", code)
	}
	if code, _, _ := s.token(s.httpsURL, url.Values{"grant_type": {"client_credentials"}, "client_id": {c2.ClientID}, "client_secret": {c2.ClientSecret}}, nil); code != 401 {
		t.Fatalf("secret of a deleted instance: %d", code)
	}

	s.stop()
	for _, secret := range []string{c1.ClientSecret, c2.ClientSecret} {
		if strings.Contains(s.logs.String(), secret) || strings.Contains(s.stdout.String(), secret) {
			t.Error("a client secret appears in the logs")
		}
		_, rnd, _ := strings.Cut(secret, "$")
		filepath.WalkDir(s.dataDir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, _ := os.ReadFile(path)
			if bytes.Contains(b, []byte(rnd)) {
				t.Errorf("%s holds a client secret in clear", path)
			}
			if bytes.Contains(b, []byte("PRIVATE KEY")) {
				t.Errorf("%s holds a PEM private key in clear", path)
			}
			return nil
		})
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}
