package server

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"testing"

	"github.com/openxsuaa/xsuaa/clients/registry"
	"github.com/openxsuaa/xsuaa/scopes"
)

// FuzzTokenRequest sends arbitrary bodies, Authorization, Content-Type and
// zones (X-Zid or a Host, a tenant host) to /oauth/token:
// the answer is never a 5xx, and always a JSON object, an OAuth2 error or a
// token response.
func FuzzTokenRequest(f *testing.F) {
	fx := newFixture(f)
	f.Add(fx.tokenForm(), "", "application/x-www-form-urlencoded", "")
	f.Add("grant_type=client_credentials", base64.StdEncoding.EncodeToString([]byte(fx.clientID+":"+fx.secret)), "application/x-www-form-urlencoded", "")
	f.Add("grant_type=client_credentials&scope=bench!t1.Read", base64.StdEncoding.EncodeToString([]byte(fx.clientID+":"+fx.secret)), "", "")
	f.Add("grant_type=password&username=a&password=b", "", "application/x-www-form-urlencoded", "")
	f.Add("grant_type=client_credentials&client_id=%zz", "", "application/x-www-form-urlencoded", "")
	f.Add("--x\r\nContent-Disposition: form-data; name=\"grant_type\"\r\n\r\nclient_credentials\r\n--x--\r\n", "", "multipart/form-data; boundary=x", "")
	f.Add("grant_type=client_credentials&authorities=%7B%22az_attr%22%3A%5B1%5D%7D", "%%%", "text/plain", "")
	f.Add("", "Og==", "application/x-www-form-urlencoded", "")
	// With a space, the second argument is the whole Authorization header.
	f.Add(fx.tokenForm(), "Bearer abc", "application/x-www-form-urlencoded", "")
	f.Add("grant_type=client_credentials", "Basic", "application/x-www-form-urlencoded", "")
	f.Add("grant_type=client_credentials", "basic "+base64.StdEncoding.EncodeToString([]byte(fx.clientID+":"+fx.secret)), "application/x-www-form-urlencoded", "")
	f.Add("grant_type=client_credentials", "Basic "+base64.StdEncoding.EncodeToString([]byte("sb-\x00:x")), "application/x-www-form-urlencoded", "")
	f.Add(fx.tokenForm()+"&grant_type=client_credentials", "", "application/x-www-form-urlencoded", "")
	f.Add("grant_type=client_credentials&client_id=sb-%1b!t1&client_secret=x", "", "application/x-www-form-urlencoded", "")
	f.Add("grant_type=client_credentials&client_id=sb-%ff!t1&client_secret=x", "", "application/x-www-form-urlencoded", "")
	// The zone: X-Zid, or with "host:" the Host (a tenant host).
	zid := fx.srv.index.ProviderZone().ID
	f.Add(fx.tokenForm(), "", "application/x-www-form-urlencoded", zid)
	f.Add(fx.tokenForm(), "", "application/x-www-form-urlencoded", "host:"+fx.srv.index.ProviderZone().Subdomain+".localhost:8443")
	f.Add(fx.tokenForm(), "", "application/x-www-form-urlencoded", "host:nosuch.localhost")
	f.Add(fx.tokenForm(), "", "application/x-www-form-urlencoded", "host:a.b.localhost:1")
	f.Add(fx.tokenForm(), "", "application/x-www-form-urlencoded", "host:[::1]:8443")
	f.Add(fx.tokenForm(), "", "application/x-www-form-urlencoded", "\x00zid")
	f.Add(fx.tokenForm(), "", "application/x-www-form-urlencoded", "host:\xff.localhost")
	f.Fuzz(func(t *testing.T, body, basic, ctype, zone string) {
		hdr := map[string]string{"Content-Type": ctype}
		if host, ok := strings.CutPrefix(zone, "host:"); ok {
			hdr["Host"] = host
		} else if zone != "" {
			hdr["X-Zid"] = zone
		}
		if strings.Contains(basic, " ") {
			hdr["Authorization"] = basic
		} else if basic != "" {
			hdr["Authorization"] = "Basic " + basic
		}
		rec := fx.serve("POST", "/oauth/token?x=1", body, hdr)
		if rec.Code >= 500 {
			t.Fatalf("status %d for body %q: %s", rec.Code, body, rec.Body)
		}
		var m map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
			t.Fatalf("status %d, body is not a JSON object: %q", rec.Code, rec.Body)
		}
		if rec.Code != 200 && (m["error"] == nil || m["error_description"] == nil) {
			t.Fatalf("status %d without error and error_description: %s", rec.Code, rec.Body)
		}
		if rec.Code == 401 && !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), `Basic realm="UAA/client"`) {
			t.Fatalf("401 with WWW-Authenticate %q", rec.Header().Get("WWW-Authenticate"))
		}
	})
}

// FuzzBrokerBodies sends arbitrary bodies to the broker's provision,
// update and bind endpoints: never a 5xx, always a JSON object.
func FuzzBrokerBodies(f *testing.F) {
	fx := newFixture(f)
	f.Add(`{"service_id":"`+ServiceID+`","plan_id":"`+PlanApplicationID+`","organization_guid":"o","space_guid":"s","parameters":{"xsappname":"fz"}}`, uint8(0))
	f.Add(`{"service_id":"`+ServiceID+`","plan_id":"`+PlanBrokerID+`","organization_guid":"o","space_guid":"s","parameters":{"xsappname":"fz","scopes":[{"name":"$XSAPPNAME.a","grant-as-authority-to-apps":["$XSSERVICENAME(x)"]}]}}`, uint8(0))
	f.Add(`{"service_id":"`+ServiceID+`","parameters":{"xsappname":"bench","authorities":["$ACCEPT_GRANTED_AUTHORITIES"]}}`, uint8(1))
	f.Add(`{"service_id":"`+ServiceID+`","plan_id":"`+PlanApplicationID+`","parameters":{"credential-type":"x509"}}`, uint8(2))
	f.Add(`{"service_id":`, uint8(0))
	f.Add(`[1,2]`, uint8(2))
	f.Add(`{"context":"x","parameters":null}`, uint8(0))
	f.Fuzz(func(t *testing.T, body string, op uint8) {
		method, path := "PUT", "/v2/service_instances/fuzz-inst"
		switch op % 3 {
		case 1:
			method, path = "PATCH", "/v2/service_instances/inst-1"
		case 2:
			path = "/v2/service_instances/inst-1/service_bindings/fuzz-bind"
		}
		hdr := map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("b:p")), "X-Broker-API-Version": "2.17"}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		rec := fx.serve(method, path, body, hdr)
		runtime.ReadMemStats(&after)
		// A body costs memory in proportion to its size, within the
		// documented bound of a descriptor's checks.
		if n := after.TotalAlloc - before.TotalAlloc; n > scopes.MaxParseAlloc+64*uint64(len(body))+4<<20 {
			t.Fatalf("%s %s: %d bytes of body allocated %d MB", method, path, len(body), n>>20)
		}
		if rec.Code >= 500 {
			t.Fatalf("%s %s: status %d for %q: %s", method, path, rec.Code, body, rec.Body)
		}
		var m map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
			t.Fatalf("%s %s: body is not a JSON object: %q", method, path, rec.Body)
		}
		if rec.Code >= 400 && rec.Code != 410 && (m["error"] == nil || m["description"] == nil) {
			t.Fatalf("%s %s: status %d without error and description: %s", method, path, rec.Code, rec.Body)
		}
	})
}

// FuzzLoginPages sends arbitrary authorize requests, login forms and
// logout requests, with arbitrary cookies: never a 5xx, and never a
// redirect anywhere but to this server's own pages or a registered
// redirect URI. (The seeds carry no valid CSRF token: a login that gets
// as far as the password costs a bcrypt comparison.)
func FuzzLoginPages(f *testing.F) {
	fx := newFixture(f)
	in, _, err := fx.reg.CreateInstance(context.Background(), registry.InstanceRequest{
		ID: "inst-web", Name: "web", ServiceID: ServiceID, PlanID: PlanApplicationID, Plan: scopes.PlanApplication, OrgGUID: "o", SpaceGUID: "s",
		Parameters: json.RawMessage(`{"xsappname":"web","oauth2-configuration":{"redirect-uris":["http://127.0.0.1:5055/**","https://*.example.com/cb"]}}`),
	})
	if err != nil {
		f.Fatal(err)
	}
	web := "sb-" + in.RuntimeName
	if rec := fx.serve("GET", "/oauth/authorize?response_type=code&client_id="+url.QueryEscape(web), "", nil); rec.Code != 400 ||
		!strings.Contains(rec.Body.String(), "redirect_uri is missing") {
		f.Fatalf("the fixture's client %s: %d %s", web, rec.Code, rec.Body)
	}
	authorize := "response_type=code&client_id=" + url.QueryEscape(web) + "&redirect_uri=" + url.QueryEscape("http://127.0.0.1:5055/login/callback")
	f.Add(uint8(0), authorize, "", "")
	f.Add(uint8(0), authorize+"&state=abc&code_challenge=x&code_challenge_method=plain&idp=ldap", "", "XSUAA_SESSION=abc")
	f.Add(uint8(0), "response_type=token&client_id="+url.QueryEscape(web)+"&redirect_uri=https%3A%2F%2Fa.example.com%2Fcb", "", "")
	f.Add(uint8(0), "client_id=x&redirect_uri=javascript:alert(1)&login_hint=%7B%22origin%22%3A1%7D", "", "")
	f.Add(uint8(1), "", "username=a&password=b&X-Uaa-Csrf=x&continue=%2Foauth%2Fauthorize%3Fa%3Db", "XSUAA_CSRF="+strings.Repeat("a", 43))
	f.Add(uint8(1), "", "continue=https://evil.example&origin=%00", "")
	f.Add(uint8(2), "redirect=http%3A%2F%2F127.0.0.1%3A5055%2Fx&client_id="+url.QueryEscape(web), "", "XSUAA_SESSION="+strings.Repeat("b", 43))
	f.Add(uint8(2), "post_logout_redirect_uri=https://evil.example/&client_id="+url.QueryEscape(web), "", "")
	f.Add(uint8(3), "continue=/oauth/authorize?x", "", "")
	f.Add(uint8(4), authorize, "", "")
	f.Add(uint8(8), authorize+"&state=abc", "", "XSUAA_SESSION=abc")
	f.Add(uint8(13), "", "username=a&password=b&X-Uaa-Csrf=x&continue=%2Foauth%2Fauthorize%3Fa%3Db", "XSUAA_CSRF="+strings.Repeat("a", 43))
	f.Fuzz(func(t *testing.T, which uint8, query, body, cookie string) {
		method, path := "GET", "/oauth/authorize"
		switch which % 4 {
		case 1:
			method, path = "POST", "/login.do"
		case 2:
			path = "/logout.do"
		case 3:
			path = "/login"
		}
		req := httptest.NewRequest(method, "/", strings.NewReader(body))
		req.URL.Path, req.URL.RawQuery = path, query
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		// The zone the request addresses: none (the provider's), its id
		// as X-Zid, a tenant host, an unknown tenant host.
		switch which / 4 % 4 {
		case 1:
			req.Header.Set("X-Zid", fx.srv.index.ProviderZone().ID)
		case 2:
			req.Host = fx.srv.index.ProviderZone().Subdomain + "." + fx.srv.publicHost
		case 3:
			req.Host = "nosuch." + fx.srv.publicHost
		}
		rec := httptest.NewRecorder()
		fx.srv.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s?%q (zone addressing %d): status %d: %s", method, path, query, which/4%4, rec.Code, rec.Body)
		}
		if loc := rec.Header().Get("Location"); loc != "" {
			u, err := url.Parse(loc)
			own := err == nil && u.Scheme == "" && u.Host == "" && (strings.HasPrefix(loc, "/oauth/authorize") || loc == "/login")
			registered := err == nil && (u.Scheme == "http" && u.Host == "127.0.0.1:5055" || u.Scheme == "https" && strings.HasSuffix(u.Host, ".example.com") && u.Path == "/cb")
			if !own && !registered {
				t.Fatalf("%s %s?%q (body %q): redirect to %q", method, path, query, body, loc)
			}
		}
	})
}
