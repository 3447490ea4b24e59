package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestBrokerAPI runs the Open Service Broker v2.17 lifecycle and its error
// cases against the real server: every answer is the expected 2xx/4xx with a
// JSON body, never a 5xx.
func TestBrokerAPI(t *testing.T) {
	s := startServer(t, "")
	inst := func(extra map[string]any) map[string]any {
		b := map[string]any{"service_id": serviceID, "plan_id": planAppID, "organization_guid": "org-1", "space_guid": "space-1",
			"context": map[string]any{"instance_name": "broker-test"}, "parameters": map[string]any{"xsappname": "broker-test"}}
		for k, v := range extra {
			if v == nil {
				delete(b, k)
			} else {
				b[k] = v
			}
		}
		return b
	}
	q := "?service_id=" + serviceID + "&plan_id=" + planAppID

	// Raw requests for the auth and version checks.
	raw := func(method, path, user, pass, version string) int {
		req, _ := http.NewRequest(method, s.httpURL+path, nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		if version != "" {
			req.Header.Set("X-Broker-API-Version", version)
		}
		code, b, _ := s.do(req)
		var m map[string]any
		if json.Unmarshal(b, &m) != nil {
			t.Errorf("%s %s: body %q is not JSON", method, path, b)
		}
		return code
	}
	if code := raw("GET", "/v2/catalog", "", "", "2.17"); code != 401 {
		t.Errorf("catalog without credentials: %d, want 401", code)
	}
	if code := raw("GET", "/v2/catalog", brokerUser, "wrong", "2.17"); code != 401 {
		t.Errorf("catalog with a wrong password: %d, want 401", code)
	}
	if code := raw("GET", "/v2/catalog", brokerUser, brokerPass, ""); code != 412 {
		t.Errorf("catalog without X-Broker-API-Version: %d, want 412", code)
	}
	if code := raw("GET", "/v2/catalog", brokerUser, brokerPass, "1.0"); code != 412 {
		t.Errorf("catalog with version 1.0: %d, want 412", code)
	}
	code, cat := s.broker("GET", "/v2/catalog", nil)
	if code != 200 || !strings.Contains(mustJSON(cat), `"name":"xsuaa"`) || !strings.Contains(mustJSON(cat), `"name":"broker"`) {
		t.Fatalf("catalog: %d %v", code, cat)
	}

	cases := []struct {
		name, method, path string
		body               any
		want               int
		descContains       string
	}{
		{"missing service_id", "PUT", "/v2/service_instances/i1", inst(map[string]any{"service_id": nil}), 400, "service_id"},
		{"missing plan_id", "PUT", "/v2/service_instances/i1", inst(map[string]any{"plan_id": nil}), 400, "plan_id"},
		{"missing organization_guid", "PUT", "/v2/service_instances/i1", inst(map[string]any{"organization_guid": nil}), 400, "organization_guid"},
		{"missing space_guid", "PUT", "/v2/service_instances/i1", inst(map[string]any{"space_guid": nil}), 400, "space_guid"},
		{"unknown service", "PUT", "/v2/service_instances/i1", inst(map[string]any{"service_id": "nope"}), 400, "service_id"},
		{"unknown plan", "PUT", "/v2/service_instances/i1", inst(map[string]any{"plan_id": "nope"}), 400, "plan_id"},
		{"malformed JSON", "PUT", "/v2/service_instances/i1", `{"service_id":`, 400, "malformed JSON"},
		{"body is an array", "PUT", "/v2/service_instances/i1", `[]`, 400, "JSON object"},
		{"wrong field type", "PUT", "/v2/service_instances/i1", `{"service_id":1}`, 400, "service_id"},
		{"no descriptor", "PUT", "/v2/service_instances/i1", inst(map[string]any{"parameters": nil}), 400, "xs-security.json"},
		{"unknown descriptor field", "PUT", "/v2/service_instances/i1", inst(map[string]any{"parameters": map[string]any{"xsappname": "a", "scopez": []any{}}}), 400, "scopez"},
		{"bad xsappname", "PUT", "/v2/service_instances/i1", inst(map[string]any{"parameters": map[string]any{"xsappname": "a.b!c"}}), 400, "xsappname"},
		{"token-validity out of range", "PUT", "/v2/service_instances/i1", inst(map[string]any{"parameters": map[string]any{"xsappname": "a", "oauth2-configuration": map[string]any{"token-validity": 5}}}), 400, "token-validity"},
		{"create", "PUT", "/v2/service_instances/i1", inst(nil), 201, ""},
		{"identical re-create", "PUT", "/v2/service_instances/i1", inst(nil), 200, ""},
		{"conflicting re-create", "PUT", "/v2/service_instances/i1", inst(map[string]any{"space_guid": "space-2"}), 409, "different attributes"},
		{"same xsappname in another instance", "PUT", "/v2/service_instances/i2", inst(nil), 409, "broker-test"},
		{"fetch instance", "GET", "/v2/service_instances/i1", nil, 200, ""},
		{"fetch unknown instance", "GET", "/v2/service_instances/nope", nil, 404, "nope"},
		{"last_operation", "GET", "/v2/service_instances/i1/last_operation", nil, 200, ""},
		{"update without service_id", "PATCH", "/v2/service_instances/i1", map[string]any{"parameters": map[string]any{"xsappname": "broker-test"}}, 400, "service_id"},
		{"update changing xsappname", "PATCH", "/v2/service_instances/i1", map[string]any{"service_id": serviceID, "parameters": map[string]any{"xsappname": "other"}}, 400, "Cannot change AppId"},
		{"update with a bad descriptor", "PATCH", "/v2/service_instances/i1", map[string]any{"service_id": serviceID, "parameters": map[string]any{"xsappname": "broker-test", "scopes": "x"}}, 400, "scopes"},
		{"update", "PATCH", "/v2/service_instances/i1", map[string]any{"service_id": serviceID, "parameters": map[string]any{"xsappname": "broker-test", "scopes": []any{map[string]any{"name": "$XSAPPNAME.X"}}}}, 200, ""},
		{"update unknown instance", "PATCH", "/v2/service_instances/nope", map[string]any{"service_id": serviceID}, 404, "nope"},
		{"bind without plan_id", "PUT", "/v2/service_instances/i1/service_bindings/b1", map[string]any{"service_id": serviceID}, 400, "plan_id"},
		{"bind to unknown instance", "PUT", "/v2/service_instances/nope/service_bindings/b1", map[string]any{"service_id": serviceID, "plan_id": planAppID}, 404, "nope"},
		{"bind with a disallowed credential type", "PUT", "/v2/service_instances/i1/service_bindings/b1", map[string]any{"service_id": serviceID, "plan_id": planAppID, "parameters": map[string]any{"credential-type": "x509"}}, 400, "credential-type"},
		{"bind with non-object parameters", "PUT", "/v2/service_instances/i1/service_bindings/b1", map[string]any{"service_id": serviceID, "plan_id": planAppID, "parameters": "x"}, 400, "parameters"},
		{"bind", "PUT", "/v2/service_instances/i1/service_bindings/b1", map[string]any{"service_id": serviceID, "plan_id": planAppID, "bind_resource": map[string]any{"app_guid": "app-1"}}, 201, ""},
		{"identical re-bind", "PUT", "/v2/service_instances/i1/service_bindings/b1", map[string]any{"service_id": serviceID, "plan_id": planAppID, "bind_resource": map[string]any{"app_guid": "app-1"}}, 200, ""},
		{"conflicting re-bind", "PUT", "/v2/service_instances/i1/service_bindings/b1", map[string]any{"service_id": serviceID, "plan_id": planAppID, "bind_resource": map[string]any{"app_guid": "app-2"}}, 409, "different attributes"},
		{"fetch binding", "GET", "/v2/service_instances/i1/service_bindings/b1", nil, 200, ""},
		{"fetch unknown binding", "GET", "/v2/service_instances/i1/service_bindings/nope", nil, 404, "nope"},
		{"binding last_operation", "GET", "/v2/service_instances/i1/service_bindings/b1/last_operation", nil, 200, ""},
		{"unbind without plan_id", "DELETE", "/v2/service_instances/i1/service_bindings/b1?service_id=" + serviceID, nil, 400, "plan_id"},
		{"unbind", "DELETE", "/v2/service_instances/i1/service_bindings/b1" + q, nil, 200, ""},
		{"unbind again", "DELETE", "/v2/service_instances/i1/service_bindings/b1" + q, nil, 410, ""},
		{"deprovision without service_id", "DELETE", "/v2/service_instances/i1?plan_id=" + planAppID, nil, 400, "service_id"},
		{"deprovision", "DELETE", "/v2/service_instances/i1" + q, nil, 200, ""},
		{"deprovision again", "DELETE", "/v2/service_instances/i1" + q, nil, 410, ""},
		{"last_operation after delete", "GET", "/v2/service_instances/i1/last_operation", nil, 410, ""},
		{"unknown endpoint", "GET", "/v2/nope", nil, 404, "no such endpoint"},
		{"wrong method", "POST", "/v2/catalog", nil, 405, "not allowed"},
	}
	for _, tc := range cases {
		code, body := s.broker(tc.method, tc.path, tc.body)
		if code != tc.want {
			t.Errorf("%s: %s %s = %d %v, want %d", tc.name, tc.method, tc.path, code, body, tc.want)
			continue
		}
		if tc.want >= 400 && tc.want != 410 {
			desc, _ := body["description"].(string)
			if body["error"] == nil || !strings.Contains(desc, tc.descContains) {
				t.Errorf("%s: error body %v should name %q", tc.name, body, tc.descContains)
			}
		} else if tc.want == 200 && (tc.method == "DELETE" || tc.method == "PATCH") && len(body) != 0 {
			t.Errorf("%s: body %v, want {}", tc.name, body)
		}
	}
}

// TestTokenEndpointErrors checks the OAuth2 error answers of /oauth/token.
func TestTokenEndpointErrors(t *testing.T) {
	s := startServer(t, "")
	s.provision("inst-e", "errors-xsuaa", `{"xsappname":"errors-app","scopes":[{"name":"$XSAPPNAME.Read"}],"authorities":["$XSAPPNAME.Read"]}`)
	_, c := s.bind("inst-e", "b-e", nil)
	_, other := func() (any, credentials) {
		s.provision("inst-o", "other-xsuaa", `{"xsappname":"other-app"}`)
		return s.bind("inst-o", "b-o", nil)
	}()
	good := func(extra ...string) url.Values {
		v := url.Values{"grant_type": {"client_credentials"}, "client_id": {c.ClientID}, "client_secret": {c.ClientSecret}}
		for i := 0; i+1 < len(extra); i += 2 {
			if extra[i+1] == "" {
				v.Del(extra[i])
			} else {
				v.Set(extra[i], extra[i+1])
			}
		}
		return v
	}
	cases := []struct {
		name      string
		method    string
		form      url.Values
		basic     []string
		header    map[string]string
		want      int
		wantError string
		descPart  string
	}{
		{"GET", "GET", nil, nil, nil, 405, "invalid_request", "POST"},
		{"no grant_type", "POST", good("grant_type", ""), nil, nil, 400, "invalid_request", "Missing grant type"},
		{"password grant without a user", "POST", good("grant_type", "password"), nil, nil, 400, "invalid_request", "Username or password are missing"},
		{"implicit grant", "POST", good("grant_type", "implicit"), nil, nil, 400, "unsupported_grant_type", "Unsupported grant type: implicit"},
		{"implicit grant", "POST", good("grant_type", "implicit"), nil, nil, 400, "unsupported_grant_type", ""},
		{"wrong secret", "POST", good("client_secret", "x$y"), nil, nil, 401, "invalid_client", "Bad credentials"},
		{"unknown client", "POST", good("client_id", "sb-nope!t1"), nil, nil, 401, "invalid_client", "Bad credentials"},
		{"another instance's secret", "POST", good("client_secret", other.ClientSecret), nil, nil, 401, "invalid_client", "Bad credentials"},
		{"no credentials", "POST", good("client_id", "", "client_secret", ""), nil, nil, 401, "invalid_client", "Full authentication"},
		{"secret without client_id", "POST", good("client_id", ""), nil, nil, 401, "invalid_client", ""},
		{"basic with a wrong secret", "POST", url.Values{"grant_type": {"client_credentials"}}, []string{c.ClientID, "nope"}, nil, 401, "invalid_client", "Bad credentials"},
		{"basic and a different client_id", "POST", url.Values{"grant_type": {"client_credentials"}, "client_id": {other.ClientID}}, []string{c.ClientID, c.ClientSecret}, nil, 401, "invalid_client", "does not match"},
		{"encoded-credentials header with raw secret containing %", "POST", url.Values{"grant_type": {"client_credentials"}}, []string{c.ClientID, "%zz"}, map[string]string{"X-CF-ENCODED-CREDENTIALS": "true"}, 401, "invalid_client", ""},
		{"unknown scope", "POST", good("scope", "other-app!t1.Admin"), nil, nil, 400, "invalid_scope", "other-app!t1.Admin is invalid"},
		{"unknown zone header", "POST", good(), nil, map[string]string{"X-Zid": "nope"}, 401, "invalid_client", "unknown identity zone"},
		{"oversized body", "POST", good("pad", strings.Repeat("a", 70<<10)), nil, nil, 413, "invalid_request", "64 KiB"},
		{"malformed form", "POST", nil, nil, map[string]string{"Body": "grant_type=%zz"}, 400, "invalid_request", "malformed"},
		{"audience parameter", "POST", good("audience", "https://elsewhere"), nil, nil, 400, "invalid_request", ""},
	}
	for _, tc := range cases {
		body := ""
		if tc.form != nil {
			body = tc.form.Encode()
		}
		if b, ok := tc.header["Body"]; ok {
			body = b
		}
		req, _ := http.NewRequest(tc.method, s.httpsURL+"/oauth/token", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range tc.header {
			if k != "Body" {
				req.Header.Set(k, v)
			}
		}
		if tc.basic != nil {
			req.SetBasicAuth(tc.basic[0], tc.basic[1])
		}
		code, b, h := s.do(req)
		var resp map[string]string
		if err := json.Unmarshal(b, &resp); err != nil {
			t.Errorf("%s: body %q is not a JSON object of strings", tc.name, b)
			continue
		}
		if code != tc.want || resp["error"] != tc.wantError || !strings.Contains(resp["error_description"], tc.descPart) {
			t.Errorf("%s: %d %v, want %d %s %q", tc.name, code, resp, tc.want, tc.wantError, tc.descPart)
		}
		if code == 401 && !strings.HasPrefix(h.Get("WWW-Authenticate"), `Basic realm="UAA/client"`) {
			t.Errorf("%s: WWW-Authenticate %q", tc.name, h.Get("WWW-Authenticate"))
		}
	}
}

// TestKeysAndDiscovery checks /token_keys (ETag, zid), /token_key and the
// OpenID configuration on both listeners.
func TestKeysAndDiscovery(t *testing.T) {
	s := startServer(t, "")
	s.provision("inst-k", "keys-xsuaa", `{"xsappname":"keys-app"}`)
	_, c := s.bind("inst-k", "b-k", nil)
	for _, base := range []string{s.httpURL, s.httpsURL} {
		req, _ := http.NewRequest("GET", base+"/token_keys?zid="+c.IdentityZoneID, nil)
		code, body, h := s.do(req)
		var set struct {
			Keys []map[string]string `json:"keys"`
		}
		if code != 200 || json.Unmarshal(body, &set) != nil || len(set.Keys) != 1 {
			t.Fatalf("%s/token_keys: %d %s", base, code, body)
		}
		k := set.Keys[0]
		for _, f := range []string{"kty", "e", "use", "kid", "alg", "value", "n"} {
			if k[f] == "" {
				t.Errorf("key lacks %q: %v", f, k)
			}
		}
		if k["value"] != c.VerificationKey {
			t.Error("verificationkey of the binding differs from the published key")
		}
		etag := h.Get("ETag")
		req, _ = http.NewRequest("GET", base+"/token_keys", nil)
		req.Header.Set("If-None-Match", etag)
		if code, _, _ := s.do(req); code != 304 || etag == "" {
			t.Errorf("If-None-Match %q: %d, want 304", etag, code)
		}
		req, _ = http.NewRequest("GET", base+"/token_keys?zid=unknown-zone", nil)
		if code, body, _ := s.do(req); code != 400 || !strings.Contains(string(body), "unknown-zone") {
			t.Errorf("unknown zid: %d %s", code, body)
		}
		req, _ = http.NewRequest("GET", base+"/token_key", nil)
		if code, body, _ := s.do(req); code != 200 || !strings.Contains(string(body), k["kid"]) {
			t.Errorf("/token_key: %d %s", code, body)
		}
		for _, p := range []string{"/.well-known/openid-configuration", "/oauth/token/.well-known/openid-configuration"} {
			req, _ = http.NewRequest("GET", base+p, nil)
			code, body, _ := s.do(req)
			var doc map[string]any
			if code != 200 || json.Unmarshal(body, &doc) != nil || doc["issuer"] != s.httpsURL+"/oauth/token" ||
				doc["jwks_uri"] != s.httpsURL+"/token_keys" || doc["token_endpoint"] != s.httpsURL+"/oauth/token" {
				t.Errorf("%s: %d %s", p, code, body)
			}
		}
		req, _ = http.NewRequest("GET", base+"/healthz", nil)
		if code, _, _ := s.do(req); code != 200 {
			t.Errorf("healthz: %d", code)
		}
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
