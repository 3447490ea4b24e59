package server

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestParseOriginatingIdentity(t *testing.T) {
	long := strings.Repeat("u", 300)
	cases := []struct {
		name   string
		header string
		want   originatingIdentity
	}{
		{"Cloud Foundry", "cloudfoundry " + b64(`{"user_id":"683ea748-3092-4ff4-b656-39cacc4d5360"}`),
			originatingIdentity{Platform: "cloudfoundry", User: "683ea748-3092-4ff4-b656-39cacc4d5360"}},
		{"Kubernetes", "kubernetes " + b64(`{"username":"duke","uid":"c2dde242-5ce4-11e7-988c-000c2946f14f","groups":["admin","dev"],"extra":{"mydata":["data1"]}}`),
			originatingIdentity{Platform: "kubernetes", User: "duke"}},
		{"user_id wins over username", "p " + b64(`{"username":"b","user_id":"a"}`), originatingIdentity{Platform: "p", User: "a"}},
		{"unpadded base64", "cloudfoundry " + base64.RawStdEncoding.EncodeToString([]byte(`{"user_id":"x1"}`)),
			originatingIdentity{Platform: "cloudfoundry", User: "x1"}},
		{"URL-safe base64", "cloudfoundry " + base64.URLEncoding.EncodeToString([]byte(`{"user_id":"??>>"}`)),
			originatingIdentity{Platform: "cloudfoundry", User: "??>>"}},
		{"surrounding spaces", "  cloudfoundry   " + b64(`{"user_id":"x"}`) + "  ", originatingIdentity{Platform: "cloudfoundry", User: "x"}},
		{"platform only", "cloudfoundry", originatingIdentity{Platform: "cloudfoundry", Err: "no identity after the platform"}},
		{"not base64", "cloudfoundry {\"user_id\":\"x\"}", originatingIdentity{Platform: "cloudfoundry", Err: "identity is not base64"}},
		{"not a JSON object", "cloudfoundry " + b64(`["x"]`), originatingIdentity{Platform: "cloudfoundry", Err: "identity is not a JSON object"}},
		{"not JSON", "cloudfoundry " + b64(`user_id=x`), originatingIdentity{Platform: "cloudfoundry", Err: "identity is not a JSON object"}},
		{"user_id is a number", "cloudfoundry " + b64(`{"user_id":42}`), originatingIdentity{Platform: "cloudfoundry", Err: "identity has no user_id or username"}},
		{"empty object", "cloudfoundry " + b64(`{}`), originatingIdentity{Platform: "cloudfoundry", Err: "identity has no user_id or username"}},
		{"long user is clipped", "cloudfoundry " + b64(`{"user_id":"`+long+`"}`), originatingIdentity{Platform: "cloudfoundry", User: long[:maxAuditString] + "…"}},
		{"invalid UTF-8 is replaced", "cloudfoundry " + b64("{\"user_id\":\"a\xffb\"}"), originatingIdentity{Platform: "cloudfoundry", User: "a\uFFFDb"}},
		{"header too long", "cloudfoundry " + strings.Repeat("A", maxOriginatingIdentity), originatingIdentity{Platform: "cloudfoundry", Err: "header too long"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := parseOriginatingIdentity(tc.header); got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// FuzzOriginatingIdentity: any header value is read without panicking,
// into bounded, valid UTF-8 strings, and always yields a user or a reason.
func FuzzOriginatingIdentity(f *testing.F) {
	f.Add("cloudfoundry " + b64(`{"user_id":"683ea748-3092-4ff4-b656-39cacc4d5360"}`))
	f.Add("kubernetes " + b64(`{"username":"duke","groups":["a"]}`))
	f.Add("cloudfoundry")
	f.Add("x " + b64(`{"user_id":{"a":1}}`))
	f.Add(" \t ")
	f.Add("p " + b64("{\"username\":\"\\ud800\"}"))
	f.Fuzz(func(t *testing.T, h string) {
		oi := parseOriginatingIdentity(h)
		for _, s := range []string{oi.Platform, oi.User} {
			if len(s) > maxAuditString+len("…") {
				t.Fatalf("%d bytes, more than the bound: %q", len(s), s)
			}
		}
		if !utf8.ValidString(oi.Platform) || !utf8.ValidString(oi.User) {
			t.Fatalf("invalid UTF-8: %+v", oi)
		}
		if (oi.User == "") == (oi.Err == "") {
			t.Fatalf("want exactly one of User and Err: %+v", oi)
		}
	})
}

// TestLogClientID: the logs name a client id only when it names a client;
// anything else, a misplaced secret of any shape among it, is a short
// fingerprint.
func TestLogClientID(t *testing.T) {
	f := newFixture(t)
	zone := f.srv.index.ProviderZone().ID
	for _, tc := range []struct{ in, want string }{
		{f.clientID, f.clientID},
		{"", ""},
		{"683ea748-3092-4ff4-b656-39cacc4d5360$kBp0iIvn7xWmnSv0ZtCVeTkxbrAQwUsWcGuMzKAd5jA=", "unknown:"},
		{" " + f.secret, "unknown:"},
		{`"` + f.secret + `"`, "unknown:"},
		{f.clientID + " " + f.secret, "unknown:"},
		{strings.Repeat("x", 300), "unknown:"},
	} {
		got := f.srv.logClientID(zone, tc.in)
		if !strings.HasPrefix(got, tc.want) || (tc.want == "unknown:" && len(got) != len("unknown:")+8) {
			t.Errorf("logClientID(%q) = %q, want %q…", tc.in, got, tc.want)
		}
	}
}

// TestAuditEvents runs broker, clone and token operations in process and
// checks the audit lines each one writes, and that no secret is in them.
func TestAuditEvents(t *testing.T) {
	var buf bytes.Buffer
	f := newFixtureWith(t, func(c *Config) {
		c.Audit = slog.New(slog.NewJSONHandler(&buf, nil))
		c.AuthFailureLimit, c.AuthFailureWindow = 2, time.Minute
	})
	cfIdentity := "cloudfoundry " + b64(`{"user_id":"user-42"}`)
	osb := func(method, path, body string, extra ...string) request {
		h := map[string]string{"Authorization": basic("b", "p"), "X-Broker-API-Version": "2.17", "Content-Type": "application/json"}
		for i := 0; i < len(extra); i += 2 {
			h[extra[i]] = extra[i+1]
		}
		return request{method: method, path: path, body: body, hdr: h}
	}
	provision := func(plan, xsappname string) string {
		return `{"service_id":"` + ServiceID + `","plan_id":"` + plan + `","organization_guid":"o","space_guid":"s","parameters":{"xsappname":"` + xsappname + `","authorities":["$XSAPPNAME.R"],"scopes":[{"name":"$XSAPPNAME.R"}]}}`
	}
	bindBody := `{"service_id":"` + ServiceID + `","plan_id":"` + PlanApplicationID + `"}`
	q := "?service_id=" + ServiceID + "&plan_id=" + PlanApplicationID
	token := func(id, secret string) request {
		return request{method: "POST", path: "/oauth/token", remote: "198.51.100.4:999",
			body: url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}}.Encode(),
			hdr:  map[string]string{"Content-Type": "application/x-www-form-urlencoded"}}
	}
	const wrongSecret = "wrong-secret-7f3a9c"
	swapped := "683ea748-3092-4ff4-b656-39cacc4d5360$kBp0iIvn7xWmnSv0ZtCVeTkxbrAQwUsWcGuMzKAd5jA="
	var secrets []string // every secret the server returned
	var brokerCreds [2]string

	type event map[string]any
	steps := []struct {
		name       string
		req        func() request
		wantStatus int
		want       []event // the events written, each a subset of a line
		after      func(body []byte)
	}{
		{
			name: "provision", wantStatus: 201,
			req: func() request {
				return osb("PUT", "/v2/service_instances/inst-a", provision(PlanApplicationID, "audited"), headerOriginatingIdentity, cfIdentity)
			},
			want: []event{{"event": "instance.created", "instance_id": "inst-a", "outcome": "success", "status": 201.0, "created": true,
				"plan": "application", "client_id": "sb-audited!t1", "origin_platform": "cloudfoundry", "origin_user": "user-42", "source": "192.0.2.1"}},
		},
		{
			name: "repeated provision", wantStatus: 200,
			req: func() request {
				return osb("PUT", "/v2/service_instances/inst-a", provision(PlanApplicationID, "audited"))
			},
			want: []event{{"event": "instance.created", "outcome": "success", "status": 200.0, "created": false}},
		},
		{
			name: "provision with a bad descriptor, malformed identity", wantStatus: 400,
			req: func() request {
				return osb("PUT", "/v2/service_instances/inst-b", `{"service_id":"`+ServiceID+`","plan_id":"`+PlanApplicationID+`","organization_guid":"o","space_guid":"s","parameters":{"xsappname":"a.b"}}`,
					headerOriginatingIdentity, "cloudfoundry !!!")
			},
			want: []event{{"event": "instance.created", "instance_id": "inst-b", "outcome": "failure", "status": 400.0,
				"origin_platform": "cloudfoundry", "origin_error": "identity is not base64"}},
		},
		{
			name: "update", wantStatus: 200,
			req: func() request {
				return osb("PATCH", "/v2/service_instances/inst-a", `{"service_id":"`+ServiceID+`","parameters":{"xsappname":"audited","description":"x"}}`)
			},
			want: []event{{"event": "instance.updated", "instance_id": "inst-a", "outcome": "success", "client_id": "sb-audited!t1"}},
		},
		{
			name: "bind", wantStatus: 201,
			req: func() request { return osb("PUT", "/v2/service_instances/inst-a/service_bindings/bind-a", bindBody) },
			want: []event{{"event": "binding.created", "instance_id": "inst-a", "binding_id": "bind-a", "client_id": "sb-audited!t1",
				"credential_type": "binding-secret", "outcome": "success", "status": 201.0}},
			after: func(body []byte) {
				var resp struct{ Credentials struct{ ClientSecret string } }
				json.Unmarshal(body, &resp)
				secrets = append(secrets, resp.Credentials.ClientSecret)
			},
		},
		{
			name: "unknown client", wantStatus: 401,
			req: func() request { return token("sb-nobody!t1", wrongSecret) },
			want: []event{{"event": "auth.failed", "client_id": fingerprint("sb-nobody!t1"), "reason": "unknown client", "method": "client_secret_post",
				"outcome": "failure", "status": 401.0, "source": "198.51.100.4"}},
		},
		{
			name: "wrong secret", wantStatus: 401,
			req:  func() request { return token("sb-audited!t1", wrongSecret) },
			want: []event{{"event": "auth.failed", "client_id": "sb-audited!t1", "reason": "wrong secret"}},
		},
		{
			name: "wrong secret again reaches the limit", wantStatus: 401,
			req: func() request { return token("sb-audited!t1", wrongSecret) },
			want: []event{
				{"event": "auth.failed", "client_id": "sb-audited!t1", "reason": "wrong secret"},
				{"event": "auth.throttled", "client_id": "sb-audited!t1", "throttled_source": "198.51.100.4", "outcome": "blocked", "limit": 2.0, "retry_after": 60.0},
			},
		},
		{
			name: "throttled: no event per request", wantStatus: 429,
			req: func() request { return token("sb-audited!t1", wrongSecret) },
		},
		{
			name: "throttled, but the right secret works", wantStatus: 200,
			req: func() request { return token("sb-audited!t1", secrets[0]) },
		},
		{
			name: "id and secret swapped", wantStatus: 401,
			req:  func() request { return token(swapped, "sb-audited!t1") },
			want: []event{{"event": "auth.failed", "client_id": fingerprint(swapped), "reason": "unknown client"}},
		},
		{
			name: "broker: wrong password", wantStatus: 401,
			req: func() request {
				r := osb("GET", "/v2/catalog", "")
				r.hdr["Authorization"] = basic("b", wrongSecret)
				return r
			},
			want: []event{{"event": "broker.auth.failed", "api": "broker", "reason": "wrong password", "outcome": "failure", "status": 401.0}},
		},
		{
			name: "broker: wrong password, claiming an originating identity", wantStatus: 401,
			req: func() request {
				r := osb("GET", "/v2/catalog", "", headerOriginatingIdentity, cfIdentity)
				r.hdr["Authorization"] = basic("b", wrongSecret)
				return r
			},
			want: []event{{"event": "broker.auth.failed", "origin_platform": nil, "origin_user": nil},
				{"event": "broker.auth.throttled", "origin_platform": nil, "origin_user": nil}},
		},
		{
			name: "token: unknown client, claiming an originating identity", wantStatus: 401,
			req: func() request {
				r := token("sb-nobody!t1", wrongSecret)
				r.hdr[headerOriginatingIdentity] = cfIdentity
				return r
			},
			want: []event{{"event": "auth.failed", "origin_platform": nil, "origin_user": nil},
				{"event": "auth.throttled", "origin_platform": nil, "origin_user": nil}},
		},
		{
			name: "a clone's id through the broker API", wantStatus: 400,
			req: func() request {
				return osb("PUT", "/v2/service_instances/clone:consumer-1", provision(PlanApplicationID, "squatter"))
			},
		},
		{
			name: "broker-plan instance", wantStatus: 201,
			req:  func() request { return osb("PUT", "/v2/service_instances/inst-r", provision(PlanBrokerID, "reuse")) },
			want: []event{{"event": "instance.created", "plan": "broker", "client_id": "sb-reuse!b1"}},
		},
		{
			name: "bind the broker-plan instance", wantStatus: 201,
			req: func() request {
				return osb("PUT", "/v2/service_instances/inst-r/service_bindings/bind-r", `{"service_id":"`+ServiceID+`","plan_id":"`+PlanBrokerID+`"}`)
			},
			want: []event{{"event": "binding.created", "client_id": "sb-reuse!b1"}},
			after: func(body []byte) {
				var resp struct {
					Credentials struct{ ClientID, ClientSecret string }
				}
				json.Unmarshal(body, &resp)
				brokerCreds = [2]string{resp.Credentials.ClientID, resp.Credentials.ClientSecret}
				secrets = append(secrets, resp.Credentials.ClientSecret)
			},
		},
		{
			name: "create a clone", wantStatus: 201,
			req: func() request {
				return request{method: "PUT", path: "/sap/rest/broker/clones/consumer-1", body: `{}`,
					hdr: map[string]string{"Authorization": basic(brokerCreds[0], brokerCreds[1]), headerOriginatingIdentity: cfIdentity}}
			},
			want: []event{{"event": "clone.created", "clone_id": "consumer-1", "parent_client_id": "sb-reuse!b1", "client_id": "sb-consumer-1!b1|reuse!b1",
				"credential_type": "binding-secret", "outcome": "success", "status": 201.0, "origin_user": "user-42"}},
			after: func(body []byte) {
				var resp struct{ Credentials struct{ ClientSecret string } }
				json.Unmarshal(body, &resp)
				secrets = append(secrets, resp.Credentials.ClientSecret)
			},
		},
		{
			name: "clone API: wrong secret", wantStatus: 401,
			req: func() request {
				return request{method: "DELETE", path: "/sap/rest/broker/clones/consumer-1", hdr: map[string]string{"Authorization": basic(brokerCreds[0], wrongSecret)}}
			},
			want: []event{{"event": "broker.auth.failed", "api": "clone", "client_id": "sb-reuse!b1", "reason": "wrong secret"}},
		},
		{
			name: "delete the clone", wantStatus: 200,
			req: func() request {
				return request{method: "DELETE", path: "/sap/rest/broker/clones/consumer-1", hdr: map[string]string{"Authorization": basic(brokerCreds[0], brokerCreds[1])}}
			},
			want: []event{{"event": "clone.deleted", "clone_id": "consumer-1", "parent_client_id": "sb-reuse!b1", "outcome": "success"}},
		},
		{
			name: "unbind", wantStatus: 200,
			req: func() request { return osb("DELETE", "/v2/service_instances/inst-a/service_bindings/bind-a"+q, "") },
			want: []event{{"event": "binding.deleted", "instance_id": "inst-a", "binding_id": "bind-a", "client_id": "sb-audited!t1",
				"credential_type": "binding-secret", "outcome": "success", "status": 200.0}},
		},
		{
			name: "deprovision", wantStatus: 200,
			req:  func() request { return osb("DELETE", "/v2/service_instances/inst-a"+q, "") },
			want: []event{{"event": "instance.deleted", "instance_id": "inst-a", "client_id": "sb-audited!t1", "outcome": "success"}},
		},
		{
			name: "deprovision again", wantStatus: 410,
			req:  func() request { return osb("DELETE", "/v2/service_instances/inst-a"+q, "") },
			want: []event{{"event": "instance.deleted", "instance_id": "inst-a", "outcome": "failure", "status": 410.0}},
		},
		{
			name: "reads are not audited", wantStatus: 200,
			req: func() request { return osb("GET", "/v2/catalog", "") },
		},
	}
	for _, st := range steps {
		start := buf.Len()
		rec := f.do(st.req())
		if rec.Code != st.wantStatus {
			t.Fatalf("%s: %d %s, want %d", st.name, rec.Code, rec.Body, st.wantStatus)
		}
		if st.after != nil {
			st.after(rec.Body.Bytes())
		}
		lines := strings.Split(strings.TrimSpace(buf.String()[start:]), "\n")
		if lines[0] == "" {
			lines = nil
		}
		if len(lines) != len(st.want) {
			t.Errorf("%s: %d audit lines, want %d:\n%s", st.name, len(lines), len(st.want), strings.Join(lines, "\n"))
			continue
		}
		for i, line := range lines {
			var got map[string]any
			if err := json.Unmarshal([]byte(line), &got); err != nil {
				t.Fatalf("%s: line is not JSON: %q", st.name, line)
			}
			for _, k := range []string{"time", "event", "source", "outcome"} {
				if _, ok := got[k]; !ok {
					t.Errorf("%s: line lacks %q: %s", st.name, k, line)
				}
			}
			for k, v := range st.want[i] {
				if fmt.Sprint(got[k]) != fmt.Sprint(v) {
					t.Errorf("%s: %s = %v, want %v (line %s)", st.name, k, got[k], v, line)
				}
			}
		}
	}
	for _, secret := range append(secrets, wrongSecret, swapped, "Basic ", "Authorization") {
		if secret == "" {
			t.Fatal("a bind or clone returned no secret")
		}
		if strings.Contains(buf.String(), secret) {
			t.Errorf("the audit log contains %q", secret)
		}
	}
	if t.Failed() || testing.Verbose() {
		t.Logf("audit log:\n%s", buf.String())
	}
}

// TestAuditOff: without an audit logger nothing is written and requests
// work as before.
func TestAuditOff(t *testing.T) {
	f := newFixture(t)
	if f.srv.auditLog != nil {
		t.Fatal("audit logger set without Config.Audit")
	}
	rec := f.do(request{method: "DELETE", path: "/v2/service_instances/nope?service_id=" + ServiceID + "&plan_id=" + PlanApplicationID,
		hdr: map[string]string{"Authorization": basic("b", "p"), "X-Broker-API-Version": "2.17"}})
	if rec.Code != http.StatusGone {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
}
