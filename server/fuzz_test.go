package server

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
)

// FuzzTokenRequest sends arbitrary bodies and headers to /oauth/token:
// the answer is never a 5xx, and always a JSON object, an OAuth2 error or a
// token response.
func FuzzTokenRequest(f *testing.F) {
	fx := newFixture(f)
	f.Add(fx.tokenForm(), "", "application/x-www-form-urlencoded")
	f.Add("grant_type=client_credentials", base64.StdEncoding.EncodeToString([]byte(fx.clientID+":"+fx.secret)), "application/x-www-form-urlencoded")
	f.Add("grant_type=client_credentials&scope=bench!t1.Read", base64.StdEncoding.EncodeToString([]byte(fx.clientID+":"+fx.secret)), "")
	f.Add("grant_type=password&username=a&password=b", "", "application/x-www-form-urlencoded")
	f.Add("grant_type=client_credentials&client_id=%zz", "", "application/x-www-form-urlencoded")
	f.Add("--x\r\nContent-Disposition: form-data; name=\"grant_type\"\r\n\r\nclient_credentials\r\n--x--\r\n", "", "multipart/form-data; boundary=x")
	f.Add("grant_type=client_credentials&authorities=%7B%22az_attr%22%3A%5B1%5D%7D", "%%%", "text/plain")
	f.Add("", "Og==", "application/x-www-form-urlencoded")
	// With a space, the second argument is the whole Authorization header.
	f.Add(fx.tokenForm(), "Bearer abc", "application/x-www-form-urlencoded")
	f.Add("grant_type=client_credentials", "Basic", "application/x-www-form-urlencoded")
	f.Add("grant_type=client_credentials", "basic "+base64.StdEncoding.EncodeToString([]byte(fx.clientID+":"+fx.secret)), "application/x-www-form-urlencoded")
	f.Add("grant_type=client_credentials", "Basic "+base64.StdEncoding.EncodeToString([]byte("sb-\x00:x")), "application/x-www-form-urlencoded")
	f.Add(fx.tokenForm()+"&grant_type=client_credentials", "", "application/x-www-form-urlencoded")
	f.Add("grant_type=client_credentials&client_id=sb-%1b!t1&client_secret=x", "", "application/x-www-form-urlencoded")
	f.Add("grant_type=client_credentials&client_id=sb-%ff!t1&client_secret=x", "", "application/x-www-form-urlencoded")
	f.Fuzz(func(t *testing.T, body, basic, ctype string) {
		hdr := map[string]string{"Content-Type": ctype}
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
		rec := fx.serve(method, path, body, hdr)
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
