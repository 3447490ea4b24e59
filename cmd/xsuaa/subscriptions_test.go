package main

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// shopDescriptor is a SaaS application: tenant-mode shared, a role
// collection for its users, the password grant for the tests, and a
// Callback scope granted to the SaaS provisioning service's client.
const shopDescriptor = `{"xsappname":"shop","tenant-mode":"shared",
 "scopes":[{"name":"$XSAPPNAME.Read"},{"name":"$XSAPPNAME.Callback","grant-as-authority-to-apps":["$XSAPPNAME(application,sap-provisioning,tenant-onboarding)"]}],
 "authorities":["$XSAPPNAME.Read"],
 "role-templates":[{"name":"Reader","scope-references":["$XSAPPNAME.Read"]}],
 "role-collections":[{"name":"Shop_Reader","role-template-references":["$XSAPPNAME.Reader"]}],
 "oauth2-configuration":{"redirect-uris":["http://localhost:*/**"],"credential-types":["binding-secret","x509"]}}`

// TestSubscriptions: a tenant-mode shared instance's one client id and
// secret authenticate in its own zone and in every zone subscribed to it
// (xsuaa subscribe), by X-Zid or tenant host, with tokens naming that
// zone; the isolation table: a dedicated instance never in another zone,
// a shared one not in an unsubscribed zone and not after unsubscribe (at
// once), users of one zone not in another, errors never naming another
// zone's objects. The descriptor's role collections are copied into each
// subscribed zone (unassigned) and go with the subscription; a zone with
// subscriptions is deleted only with -f; a shared instance cannot become
// dedicated while subscribed; deleting it ends its subscriptions.
func TestSubscriptions(t *testing.T) {
	s := startServer(t, "")
	zid := map[string]string{"provider": s.providerZoneID(t)}
	for _, sub := range []string{"t1", "t2", "t3"} {
		var z struct{ ID string }
		s.okJSON(&z, "create-zone", sub)
		zid[sub] = z.ID
	}
	s.ok("create-service", "shop", "-c", shopDescriptor)
	s.ok("create-service", "solo", "-c", `{"xsappname":"solo","scopes":[{"name":"$XSAPPNAME.Read"}],"authorities":["$XSAPPNAME.Read"]}`)
	var shop, solo credentials
	s.okJSON(&shop, "create-service-key", "shop", "k")
	s.okJSON(&solo, "create-service-key", "solo", "k")
	var raw map[string]any
	s.okJSON(&raw, "service-key", "shop", "k")
	if raw["tenantmode"] != "shared" || raw["identityzone"] != "provider" {
		t.Errorf("credentials of a shared instance: tenantmode %v identityzone %v", raw["tenantmode"], raw["identityzone"])
	}

	// Mistakes, each one line naming it.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"subscribe", "solo", "--zone", "t1"}, "service instance solo is tenant-mode dedicated: only a tenant-mode shared instance can be subscribed to"},
		{[]string{"subscribe", "shop", "--zone", "provider"}, `zone "provider" is the service instance's own zone`},
		{[]string{"subscribe", "shop", "--zone", "nosuch"}, `no zone has the subdomain "nosuch"`},
		{[]string{"subscribe", "shop", "--zone", "sap-provisioning"}, `zone "sap-provisioning" is the SaaS provisioning service's`},
		{[]string{"subscribe", "nosuch", "--zone", "t1"}, "nosuch"},
		{[]string{"subscribe", "shop"}, "subscribe needs --zone SUBDOMAIN"},
		{[]string{"subscribe", "shop", "--zone", "t1", "--app-urls", `{"appUrls":{"onSubscription":"ftp://x/{tenantId}"}}`}, "must be an absolute http or https URL"},
		{[]string{"unsubscribe", "shop", "--zone", "t1"}, `zone "t1" is not subscribed to service instance shop`},
	} {
		res := s.cli(tc.args...)
		if res.code == 0 || !strings.Contains(res.stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want %q", tc.args, res.code, res.stderr, tc.want)
		}
	}

	if out := s.ok("subscribe", "shop", "--zone", "t1"); !strings.Contains(out, "Subscribed zone t1 (id "+zid["t1"]+") to service instance shop (shop!t1).") {
		t.Errorf("subscribe: %q", out)
	}
	s.ok("subscribe", "shop", "--zone", "t2")
	s.fails(1, []string{`zone "t1" is already subscribed to service instance shop`}, "subscribe", "shop", "--zone", "t1")
	var subs []struct {
		Instance, Zone string
		ZoneID         string `json:"zone_id"`
	}
	s.okJSON(&subs, "subscriptions")
	if len(subs) != 2 || subs[0].Zone+subs[1].Zone != "t1t2" || subs[0].Instance != "shop" || subs[1].ZoneID != zid["t2"] {
		t.Errorf("subscriptions: %+v", subs)
	}

	port := s.httpsURL[strings.LastIndex(s.httpsURL, ":"):]
	tenantHTTP := &http.Client{Transport: s.tenantTransport()}
	// token asks for a token in a zone, by X-Zid on the bare host or at
	// the zone's tenant host (over TLS, the zone's own certificate).
	token := func(c credentials, zone string, byHost bool, form url.Values) (int, map[string]any) {
		t.Helper()
		if form == nil {
			form = url.Values{"grant_type": {"client_credentials"}}
		}
		form.Set("client_id", c.ClientID)
		form.Set("client_secret", c.ClientSecret)
		base, client := s.httpsURL, s.client
		if byHost {
			base, client = "https://"+zone+".localhost"+port, tenantHTTP
		}
		req := formPost(base+"/oauth/token", form)
		if !byHost && zone != "" {
			req.Header.Set("X-Zid", zid[zone])
		}
		return sendJSON(t, client, req)
	}
	wantZone := func(what, zone string, body map[string]any) {
		t.Helper()
		hdr, claims := s.verify(fmt.Sprint(body["access_token"]))
		iss := "https://" + zone + ".localhost" + port
		if zone == "provider" {
			iss = s.httpsURL
		}
		ext, _ := claims["ext_attr"].(map[string]any)
		if claims["zid"] != zid[zone] || claims["iss"] != iss+"/oauth/token" || hdr["jku"] != iss+"/token_keys" || ext["zdn"] != zone ||
			ext["subaccountid"] != zid[zone] || claims["client_id"] != shop.ClientID && claims["client_id"] != solo.ClientID {
			t.Errorf("%s: the token does not name zone %s: header %v claims %v", what, zone, hdr, claims)
		}
	}
	type row struct {
		name   string
		c      credentials
		zone   string
		byHost bool
		code   int
	}
	isolation := func(rows []row) {
		t.Helper()
		for _, tc := range rows {
			code, body := token(tc.c, tc.zone, tc.byHost, nil)
			if code != tc.code {
				t.Errorf("%s: %d %v, want %d", tc.name, code, body, tc.code)
				continue
			}
			if code == 200 {
				wantZone(tc.name, tc.zone, body)
				continue
			}
			// A refusal names no zone, instance or app of another zone.
			for _, leak := range []string{"shop", "solo", "t1", "t2", zid["t1"], zid["t2"], zid["provider"]} {
				if desc := fmt.Sprint(body["error_description"]); strings.Contains(desc, leak) {
					t.Errorf("%s: the refusal %q names %q", tc.name, desc, leak)
				}
			}
		}
	}
	isolation([]row{
		{"shared, its own zone", shop, "provider", false, 200},
		{"shared, subscribed t1 by X-Zid", shop, "t1", false, 200},
		{"shared, subscribed t1 at its tenant host", shop, "t1", true, 200},
		{"shared, subscribed t2 at its tenant host", shop, "t2", true, 200},
		{"shared, unsubscribed t3 by X-Zid", shop, "t3", false, 401},
		{"shared, unsubscribed t3 at its tenant host", shop, "t3", true, 401},
		{"shared, the provisioning zone", shop, "sap-provisioning", true, 401},
		{"dedicated, its own zone", solo, "provider", false, 200},
		{"dedicated, another zone by X-Zid", solo, "t1", false, 401},
		{"dedicated, another zone at its tenant host", solo, "t2", true, 401},
	})

	// The same certificate, too: an x509 key of the shared instance
	// authenticates over mTLS at a subscribed tenant's host (a token of
	// that zone, bound to the certificate), not at an unsubscribed one's.
	var kx x5Credentials
	s.okJSON(&kx, "create-service-key", "shop", "kx", "-c", `{"credential-type":"x509"}`)
	cert, err := tls.X509KeyPair([]byte(kx.Certificate), []byte(kx.Key))
	if err != nil {
		t.Fatal(err)
	}
	mtls := s.tenantTransport()
	mtls.TLSClientConfig.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
	for _, tc := range []struct {
		zone string
		want int
	}{{"t1", 200}, {"t2", 200}, {"t3", 401}} {
		code, body := sendJSON(t, &http.Client{Transport: mtls}, formPost("https://"+tc.zone+".localhost"+port+"/oauth/token",
			url.Values{"grant_type": {"client_credentials"}, "client_id": {kx.ClientID}}))
		if code != tc.want {
			t.Errorf("certificate at %s's host: %d %v, want %d", tc.zone, code, body, tc.want)
			continue
		}
		if tc.want == 200 {
			wantZone("certificate in "+tc.zone, tc.zone, body)
			if _, claims := s.verify(body["access_token"].(string)); claims["cnf"] == nil {
				t.Errorf("certificate in %s: no cnf: %v", tc.zone, claims)
			}
		}
	}

	// Role collections: copied into each subscribed zone, unassigned,
	// listed per zone.
	for _, tc := range []struct {
		zone string
		has  bool
	}{{"", true}, {"t1", true}, {"t2", true}, {"t3", false}} {
		args := []string{"role-collections"}
		if tc.zone != "" {
			args = append(args, "--zone", tc.zone)
		}
		if out := s.ok(args...); strings.Contains(out, "Shop_Reader") != tc.has || (tc.has && !strings.Contains(out, "shop!t1.Reader")) {
			t.Errorf("role collections of zone %q:\n%s", tc.zone, out)
		}
	}
	// A user of t1 with the copied collection gets the app's scope in t1,
	// through the shared client; the same name in t2 is another user.
	s.ok("create-user", "alice", "--zone", "t1", "--password", "alice-pw-t1")
	s.ok("assign-role-collection", "Shop_Reader", "alice", "--zone", "t1")
	s.ok("create-user", "alice", "--zone", "t2", "--password", "alice-pw-t2")
	pw := func(zone, password string) url.Values {
		return url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {password}}
	}
	code, body := token(shop, "t1", true, pw("t1", "alice-pw-t1"))
	if code != 200 {
		t.Fatalf("password grant in t1: %d %v", code, body)
	}
	wantZone("a user token in t1", "t1", body)
	if _, claims := s.verify(fmt.Sprint(body["access_token"])); !slices.Contains(toStrings(claims["scope"]), "shop!t1.Read") || claims["user_name"] != "alice" {
		t.Errorf("t1 user token: %v", claims)
	}
	for _, tc := range []struct {
		name, zone, password string
	}{
		{"t1's password in t2", "t2", "alice-pw-t1"},
		{"t1's password in t3", "t3", "alice-pw-t1"},
		{"t1's password in the provider zone", "provider", "alice-pw-t1"},
	} {
		if code, body := token(shop, tc.zone, false, pw(tc.zone, tc.password)); code == 200 {
			t.Errorf("%s: %d %v", tc.name, code, body)
		}
	}
	// t2's alice has no collection: a token without the app's scope.
	if code, body := token(shop, "t2", false, pw("t2", "alice-pw-t2")); code != 200 {
		t.Errorf("t2's alice: %d %v", code, body)
	} else if _, claims := s.verify(fmt.Sprint(body["access_token"])); slices.Contains(toStrings(claims["scope"]), "shop!t1.Read") {
		t.Errorf("t2's alice got t1's role: %v", claims["scope"])
	}

	// A zone with subscriptions is deleted only when forced.
	s.fails(1, []string{`zone "t2" holds 0 service instance(s), 1 subscription(s) and 1 user(s)`}, "delete-zone", "t2")
	s.fails(1, []string{`zone "sap-provisioning" is the SaaS provisioning service's, which cannot be deleted`}, "delete-zone", "sap-provisioning")
	// A shared instance stays shared while subscribed.
	s.fails(1, []string{"must stay shared; unsubscribe them first"}, "update-service", "shop", "-c", strings.Replace(shopDescriptor, `"shared"`, `"dedicated"`, 1))

	// Unsubscribe: at once, the secret no longer works there; the copied
	// collection and its assignments are gone; other zones are untouched.
	if out := s.ok("unsubscribe", "shop", "--zone", "t1"); !strings.Contains(out, "Unsubscribed zone t1 from service instance shop.") {
		t.Errorf("unsubscribe: %q", out)
	}
	isolation([]row{
		{"after unsubscribe, t1 by X-Zid", shop, "t1", false, 401},
		{"after unsubscribe, t1 at its tenant host", shop, "t1", true, 401},
		{"after t1's unsubscribe, t2", shop, "t2", true, 200},
	})
	if out := s.ok("role-collections", "--zone", "t1"); strings.Contains(out, "Shop_Reader") {
		t.Errorf("t1's copied collection after unsubscribe:\n%s", out)
	}
	if out := s.ok("users", "--zone", "t1"); strings.Contains(out, "Shop_Reader") {
		t.Errorf("t1's alice keeps the collection after unsubscribe:\n%s", out)
	}
	// Subscribing again works; a forced zone deletion ends it.
	s.ok("subscribe", "shop", "--zone", "t1")
	s.ok("delete-zone", "t2", "-f")
	s.okJSON(&subs, "subscriptions", "shop")
	if len(subs) != 1 || subs[0].Zone != "t1" {
		t.Errorf("subscriptions after deleting t2: %+v", subs)
	}
	// Deleting the instance ends its subscriptions and their collections.
	s.ok("delete-service", "shop", "-f")
	isolation([]row{{"a deleted shared instance in t1", shop, "t1", false, 401}})
	s.okJSON(&subs, "subscriptions")
	if len(subs) != 0 {
		t.Errorf("subscriptions after delete-service: %+v", subs)
	}
	if out := s.ok("role-collections", "--zone", "t1"); strings.Contains(out, "Shop_Reader") {
		t.Errorf("t1's copied collection after delete-service:\n%s", out)
	}
}

// TestSubscriptionCallbacks: xsuaa subscribe --app-urls calls a SaaS
// application's callbacks as SAP's SaaS provisioning service does: GET
// getDependencies, then PUT onSubscription/{tenantId} with the documented
// payload, with a client_credentials token of the provisioning client in
// zone sap-provisioning that carries the application's Callback scope,
// which the application (express + @sap/xssec 4) checks; the tenant's
// application URL it answers is kept. A failing PUT leaves no
// subscription, no role collection and no token in the zone; a failing
// DELETE leaves the subscription working. With two tenants subscribed,
// @sap/xssec 4 fetches each tenant's token with {tenant} and {zid} and
// validates it (testdata/xssec/saas.js).
func TestSubscriptionCallbacks(t *testing.T) {
	s := startServer(t, "")
	type zone struct {
		ID        string `json:"id"`
		Subdomain string `json:"subdomain"`
	}
	zones := map[string]zone{}
	for _, sub := range []string{"t1", "t2", "failing", "sticky", "t3"} {
		var z zone
		s.okJSON(&z, "create-zone", sub)
		zones[sub] = z
	}
	s.ok("create-service", "shop", "-c", shopDescriptor)
	creds := s.ok("create-service-key", "shop", "k")
	var shop credentials
	if err := json.Unmarshal([]byte(creds), &shop); err != nil {
		t.Fatal(err)
	}
	node, modules, ok := needNode(t)
	if !ok {
		t.Skip("node and npm are needed; set XSUAA_REQUIRE_NODE=1 to make this fatal")
	}
	app := startNodeApp(t, s, node, modules, "saas/app.js", creds)
	appURLs := filepath.Join(t.TempDir(), "saas-registry.json")
	if err := os.WriteFile(appURLs, []byte(`{"xsappname":"shop","displayName":"Shop","appUrls":{
		"getDependencies":"`+app+`/callback/v1.0/dependencies","onSubscription":"`+app+`/callback/v1.0/tenants/{tenantId}"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	type call struct {
		Method, Path string
		Body         map[string]any
		Token        struct {
			Zid, ClientID, GrantType string
			Callback                 bool
		}
	}
	calls := func() []call {
		t.Helper()
		resp, err := http.Get(app + "/calls")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out []call
		json.NewDecoder(resp.Body).Decode(&out)
		return out
	}
	tokenIn := func(zone string) int {
		t.Helper()
		code, _, _ := s.tokenIn(s.httpsURL, zones[zone].ID, url.Values{"grant_type": {"client_credentials"},
			"client_id": {shop.ClientID}, "client_secret": {shop.ClientSecret}}, nil)
		return code
	}

	// Subscribe t1: getDependencies, then PUT, each with the provisioning
	// client's token carrying shop's Callback scope.
	out := s.ok("subscribe", "shop", "--zone", "t1", "--app-urls", appURLs)
	if !strings.Contains(out, "Application URL of the tenant: https://t1-shop.app.localhost:5000") {
		t.Errorf("subscribe with callbacks: %q", out)
	}
	got := calls()
	if len(got) != 2 || got[0].Method != "GET" || got[0].Path != "/v1.0/dependencies" || got[1].Method != "PUT" || got[1].Path != "/v1.0/tenants/"+zones["t1"].ID {
		t.Fatalf("the application's calls: %+v", got)
	}
	for _, c := range got {
		if c.Token.Zid != "sap-provisioning" || !strings.HasPrefix(c.Token.ClientID, "sb-tenant-onboarding!t") || c.Token.GrantType != "client_credentials" || !c.Token.Callback {
			t.Errorf("%s %s: the token %+v is not the provisioning client's with the Callback scope", c.Method, c.Path, c.Token)
		}
	}
	want := map[string]any{"subscriptionAppId": "shop!t1", "subscriptionAppName": "shop", "subscribedTenantId": zones["t1"].ID,
		"subscribedSubdomain": "t1", "subscribedSubaccountId": zones["t1"].ID, "globalAccountGUID": s.providerZoneID(t), "eventType": "CREATE"}
	for k, v := range want {
		if got[1].Body[k] != v {
			t.Errorf("PUT payload %s = %v, want %v (payload %v)", k, got[1].Body[k], v, got[1].Body)
		}
	}
	if code := tokenIn("t1"); code != 200 {
		t.Errorf("a token in t1 after subscribe: %d", code)
	}
	var subs []struct {
		Zone   string
		AppURL string `json:"app_url"`
	}
	s.okJSON(&subs, "subscriptions", "shop")
	if len(subs) != 1 || subs[0].AppURL != "https://t1-shop.app.localhost:5000" {
		t.Errorf("subscriptions: %+v", subs)
	}
	// The application refuses a token without its Callback scope (shop's
	// own client_credentials token): the check is real.
	req, _ := http.NewRequest("GET", app+"/callback/v1.0/dependencies", nil)
	req.Header.Set("Authorization", "Bearer "+s.secretToken(shop))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 403 {
		t.Errorf("the application with a token lacking Callback: %v %v", resp, err)
	}

	// A failing onSubscription: the subscription fails and leaves nothing.
	n := len(calls())
	s.fails(1, []string{"answered 500: onboarding failed"}, "subscribe", "shop", "--zone", "failing", "--app-urls", appURLs)
	if got := calls(); len(got) != n+2 || got[n+1].Method != "PUT" {
		t.Errorf("calls for the failing tenant: %+v", got[n:])
	}
	if code := tokenIn("failing"); code != 401 {
		t.Errorf("a token in the zone whose subscription failed: %d", code)
	}
	if out := s.ok("role-collections", "--zone", "failing"); strings.Contains(out, "Shop_Reader") {
		t.Errorf("a failed subscription left role collections:\n%s", out)
	}
	s.okJSON(&subs, "subscriptions", "shop")
	if len(subs) != 1 {
		t.Errorf("a failed subscription is listed: %+v", subs)
	}

	// A failing DELETE: the unsubscription fails, the subscription stays.
	s.ok("subscribe", "shop", "--zone", "sticky", "--app-urls", appURLs)
	s.fails(1, []string{"answered 500: offboarding failed"}, "unsubscribe", "shop", "--zone", "sticky")
	if code := tokenIn("sticky"); code != 200 {
		t.Errorf("a token in the zone whose unsubscription failed: %d", code)
	}

	// Unsubscribe t1: DELETE with the payload, then no token there.
	n = len(calls())
	s.ok("unsubscribe", "shop", "--zone", "t1")
	if got := calls(); len(got) != n+1 || got[n].Method != "DELETE" || got[n].Path != "/v1.0/tenants/"+zones["t1"].ID || got[n].Body["eventType"] != "DELETE" {
		t.Errorf("unsubscribe's call: %+v", got[n:])
	}
	if code := tokenIn("t1"); code != 401 {
		t.Errorf("a token in t1 after unsubscribe: %d", code)
	}

	// Two subscribed tenants with @sap/xssec: {tenant} and {zid}.
	s.ok("subscribe", "shop", "--zone", "t1", "--app-urls", appURLs)
	s.ok("subscribe", "shop", "--zone", "t2")
	runNodeScript(t, s, node, modules, "xssec/saas.js", writeJSONFile(t, map[string]any{
		"credentials": json.RawMessage(creds), "tenants": []any{zones["t1"], zones["t2"]}, "unsubscribed": zones["t3"],
	}))
}

// TestSubscriptionAttacks: the admin API's subscriptions against bad
// input and misbehaving applications, each a clear 4xx or a 502 naming
// what the application did, never a 5xx of the server's own, and never a
// subscription half made: no admin credentials, an oversized or deeply
// nested body, bad callback URLs, an application that redirects, answers
// something that is no URL, answers too much, or too late (each of the
// last three undone with DELETE: the application may have taken the
// tenant on). The provisioning token never reaches the server's log.
func TestSubscriptionAttacks(t *testing.T) {
	s := startServer(t, "")
	var z struct{ ID string }
	s.okJSON(&z, "create-zone", "t1")
	s.ok("create-service", "shop", "-c", shopDescriptor)
	var shop credentials
	s.okJSON(&shop, "create-service-key", "shop", "k")
	var in struct{ ID string }
	s.okJSON(&in, "service", "shop")

	// A SaaS application that misbehaves as each path says.
	var mu sync.Mutex
	var seen []string // method, path and Authorization of every call
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.Path+" "+r.Header.Get("Authorization"))
		mu.Unlock()
		switch {
		case r.Method == http.MethodDelete:
			w.WriteHeader(200)
		case strings.HasPrefix(r.URL.Path, "/redirect/"):
			http.Redirect(w, r, "http://127.0.0.1:1/elsewhere", http.StatusFound)
		case strings.HasPrefix(r.URL.Path, "/html/"):
			io.WriteString(w, "<html>welcome</html>")
		case strings.HasPrefix(r.URL.Path, "/huge/"):
			w.Write(bytes.Repeat([]byte("x"), 4<<20))
		case strings.HasPrefix(r.URL.Path, "/slow/"):
			time.Sleep(3 * time.Second)
			io.WriteString(w, "https://late.example")
		case strings.HasPrefix(r.URL.Path, "/deps-bad/"):
			io.WriteString(w, `{"not":"a list"}`)
		case strings.HasPrefix(r.URL.Path, "/slow-ok/"):
			time.Sleep(300 * time.Millisecond)
			io.WriteString(w, "https://ok.example")
		default:
			io.WriteString(w, "https://ok.example")
		}
	}))
	defer app.Close()
	calls := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), seen...)
	}

	post := func(auth bool, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest("POST", s.httpURL+"/admin/subscriptions", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if auth {
			req.SetBasicAuth(adminUser, adminPass)
		}
		code, b, _ := s.do(req)
		var m map[string]any
		json.Unmarshal(b, &m)
		return code, m
	}
	appURLs := func(onSub string) string {
		return `{"instance_id":"` + in.ID + `","zone":"t1","app_urls":{"appUrls":{"onSubscription":"` + app.URL + onSub + `"}}}`
	}
	for _, tc := range []struct {
		name   string
		auth   bool
		body   string
		code   int
		want   string
		undone bool // the application was asked to DELETE what it took on
	}{
		{"no admin credentials", false, appURLs("/ok/{tenantId}"), 401, "", false},
		{"an oversized body", true, `{"instance_id":"` + strings.Repeat("x", 70<<10) + `"}`, 413, "larger than", false},
		{"deeply nested app URLs", true, `{"instance_id":"x","zone":"t1","app_urls":` + strings.Repeat("[", 200) + strings.Repeat("]", 200) + `}`, 400, "malformed JSON body", false},
		{"app URLs without onSubscription", true, `{"instance_id":"` + in.ID + `","zone":"t1","app_urls":{"appUrls":{"getDependencies":"http://x/"}}}`, 400, "onSubscription is required", false},
		{"app URLs with user info", true, `{"instance_id":"` + in.ID + `","zone":"t1","app_urls":{"onSubscription":"http://u:p@127.0.0.1/{tenantId}"}}`, 400, "absolute http or https URL", false},
		{"a timeout out of range", true, `{"instance_id":"` + in.ID + `","zone":"t1","app_urls":{"onSubscription":"http://127.0.0.1/{tenantId}","callbackTimeoutMillis":999999999}}`, 400, "callbackTimeoutMillis", false},
		{"an unknown instance", true, `{"instance_id":"no-such","zone":"t1"}`, 404, "does not exist", false},
		{"an unknown zone", true, `{"instance_id":"` + in.ID + `","zone":"nosuch"}`, 404, `no zone has the subdomain "nosuch"`, false},
		{"an application that redirects", true, appURLs("/redirect/{tenantId}"), 502, "answered 302", false},
		{"an application that answers no URL", true, appURLs("/html/{tenantId}"), 502, "not the tenant's application URL", true},
		{"an application that answers 4 MB", true, appURLs("/huge/{tenantId}"), 502, "not the tenant's application URL", true},
		{"an application too slow for callbackTimeoutMillis", true, `{"instance_id":"` + in.ID + `","zone":"t1","app_urls":{"onSubscription":"` + app.URL + `/slow/{tenantId}","callbackTimeoutMillis":500}}`, 502, "context deadline exceeded", true},
		{"getDependencies that answers no list", true, `{"instance_id":"` + in.ID + `","zone":"t1","app_urls":{"getDependencies":"` + app.URL + `/deps-bad/","onSubscription":"` + app.URL + `/ok/{tenantId}"}}`, 502, "no list of dependencies", false},
	} {
		n := len(calls())
		code, body := post(tc.auth, tc.body)
		desc := fmt.Sprint(body["description"])
		if code != tc.code || !strings.Contains(desc, tc.want) {
			t.Errorf("%s: %d %v, want %d naming %q", tc.name, code, body, tc.code, tc.want)
		}
		got := calls()[n:]
		deleted := len(got) > 0 && strings.HasPrefix(got[len(got)-1], "DELETE ")
		if deleted != tc.undone {
			t.Errorf("%s: the application's calls %q; want an undoing DELETE: %v", tc.name, got, tc.undone)
		}
		// Nothing half made: no subscription, no role collection, no token.
		var subs []any
		s.okJSON(&subs, "subscriptions")
		if len(subs) != 0 {
			t.Fatalf("%s left a subscription: %v", tc.name, subs)
		}
		if out := s.ok("role-collections", "--zone", "t1"); strings.Contains(out, "Shop_Reader") {
			t.Fatalf("%s left a role collection:\n%s", tc.name, out)
		}
	}
	tokenInT1 := func() int {
		code, _, _ := s.tokenIn(s.httpsURL, z.ID, url.Values{"grant_type": {"client_credentials"}}, []string{shop.ClientID, shop.ClientSecret})
		return code
	}
	if code := tokenInT1(); code != 401 {
		t.Errorf("a token in t1 after the failed subscriptions: %d", code)
	}
	// Two subscribes of t1 at once, both past the first check while the
	// application answers: one wins, the other is a 409, and the loser
	// does not ask the application to let go of the tenant the winner
	// keeps.
	n := len(calls())
	codes := make(chan int, 2)
	for range 2 {
		go func() {
			code, _ := post(true, appURLs("/slow-ok/{tenantId}"))
			codes <- code
		}()
	}
	if a, b := <-codes, <-codes; a+b != 201+409 {
		t.Errorf("two subscribes at once: %d and %d, want 201 and 409", a, b)
	}
	for _, c := range calls()[n:] {
		if method, rest, _ := strings.Cut(c, " "); method == "DELETE" {
			path, _, _ := strings.Cut(rest, " ")
			t.Errorf("the losing subscribe told the application to let go: DELETE %s", path)
		}
	}
	if code := tokenInT1(); code != 200 {
		t.Errorf("a token in t1 after the concurrent subscribes: %d", code)
	}
	// The provisioning tokens the application saw are not in the log.
	for _, c := range calls() {
		if _, tok, ok := strings.Cut(c, " Bearer "); ok && strings.Contains(s.logs.String(), tok) {
			t.Errorf("the provisioning token of %q is in the server's log", c)
		}
	}
}

// crossDescriptor is a shared app whose users get uaa.user (for token
// exchange) and whose redirect URI is the tests' callback.
const crossDescriptor = `{"xsappname":"cross","tenant-mode":"shared",
 "scopes":[{"name":"$XSAPPNAME.Read"},{"name":"uaa.user"}],
 "role-templates":[{"name":"Reader","scope-references":["$XSAPPNAME.Read","uaa.user"]}],
 "role-collections":[{"name":"Cross_Reader","role-template-references":["$XSAPPNAME.Reader"]}],
 "oauth2-configuration":{"redirect-uris":["http://127.0.0.1:5055/**"]}}`

// TestSubscriptionsCrossTenant: with one shared client in two subscribed
// zones, what one zone issued is refused in the other, though the client
// is the same: t1's refresh token, t1's user token in the jwt-bearer and
// user_token grants, t1's authorization code, and t1's login session
// cookie at t2's /oauth/authorize. Each also works in t1, so the refusal
// is the zone's.
func TestSubscriptionsCrossTenant(t *testing.T) {
	s := startServer(t, "")
	zid := map[string]string{}
	for _, sub := range []string{"t1", "t2"} {
		var z struct{ ID string }
		s.okJSON(&z, "create-zone", sub)
		zid[sub] = z.ID
	}
	s.ok("create-service", "cross", "-c", crossDescriptor)
	var c credentials
	s.okJSON(&c, "create-service-key", "cross", "k")
	for _, sub := range []string{"t1", "t2"} {
		s.ok("subscribe", "cross", "--zone", sub)
		s.ok("create-user", "alice", "--zone", sub, "--password", "alice-pw-"+sub)
		s.ok("assign-role-collection", "Cross_Reader", "alice", "--zone", sub)
	}
	port := s.httpsURL[strings.LastIndex(s.httpsURL, ":"):]
	tenant := func(sub string) string { return "https://" + sub + ".localhost" + port }
	tenantHTTP := &http.Client{Transport: s.tenantTransport(), CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	token := func(sub string, form url.Values, header ...string) (int, map[string]any) {
		t.Helper()
		req := formPost(tenant(sub)+"/oauth/token", form)
		req.SetBasicAuth(c.ClientID, c.ClientSecret)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		return sendJSON(t, tenantHTTP, req)
	}
	code, t1 := token("t1", url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"alice-pw-t1"}})
	if code != 200 {
		t.Fatalf("password grant in t1: %d %v", code, t1)
	}
	userToken, refresh := t1["access_token"].(string), t1["refresh_token"].(string)

	// An authorization code of t1: alice logs in at t1's tenant host.
	newCode := func() string {
		t.Helper()
		b := newBrowserAt(t, s, tenant("t1"))
		b.client.Transport = s.tenantTransport()
		authorize := tenant("t1") + "/oauth/authorize?" + url.Values{"response_type": {"code"}, "client_id": {c.ClientID}, "redirect_uri": {appCallback}}.Encode()
		code, _ := callbackParams(t, b.login(b.get(authorize), "alice", "alice-pw-t1"))
		return code
	}
	// t1's login session, for t2's /oauth/authorize.
	b1 := newBrowserAt(t, s, tenant("t1"))
	b1.client.Transport = s.tenantTransport()
	callbackParams(t, b1.login(b1.get(tenant("t1")+"/oauth/authorize?"+url.Values{"response_type": {"code"}, "client_id": {c.ClientID}, "redirect_uri": {appCallback}}.Encode()), "alice", "alice-pw-t1"))
	u1, _ := url.Parse(tenant("t1"))
	var session string
	for _, ck := range b1.client.Jar.Cookies(u1) {
		if ck.Name == "XSUAA_SESSION" {
			session = ck.Value
		}
	}
	if session == "" {
		t.Fatal("no login session cookie at t1")
	}

	for _, tc := range []struct {
		name        string
		try         func(sub string) (int, map[string]any)
		code        int    // in t2
		error, desc string // in t2
	}{
		{"t1's refresh token", func(sub string) (int, map[string]any) {
			return token(sub, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}})
		}, 401, "invalid_token", "Invalid refresh token"}, // UAA's answer to an unknown refresh token
		{"t1's user token, jwt-bearer", func(sub string) (int, map[string]any) {
			return token(sub, url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {userToken}})
		}, 400, "invalid_grant", "another identity zone"},
		{"t1's authorization code", func(sub string) (int, map[string]any) {
			return token(sub, url.Values{"grant_type": {"authorization_code"}, "code": {newCode()}, "redirect_uri": {appCallback}})
		}, 400, "invalid_grant", ""},
	} {
		if code, body := tc.try("t1"); code != 200 {
			t.Errorf("%s in t1: %d %v", tc.name, code, body)
		} else if _, claims := s.verify(body["access_token"].(string)); claims["zid"] != zid["t1"] {
			t.Errorf("%s in t1: a token of zone %v", tc.name, claims["zid"])
		}
		if code, body := tc.try("t2"); code != tc.code || body["error"] != tc.error || !strings.Contains(fmt.Sprint(body["error_description"]), tc.desc) {
			t.Errorf("%s in t2: %d %v; want %d %s naming %q", tc.name, code, body, tc.code, tc.error, tc.desc)
		}
	}
	// approuter's user_token grant: the user token as Bearer, the client
	// id in the form, no secret.
	userTokenGrant := func(sub string) int {
		t.Helper()
		req, _ := http.NewRequest("POST", tenant(sub)+"/oauth/token", strings.NewReader(url.Values{"grant_type": {"user_token"}, "client_id": {c.ClientID}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "Bearer "+userToken)
		resp, err := tenantHTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if a, b := userTokenGrant("t1"), userTokenGrant("t2"); a != 200 || b != 400 {
		t.Errorf("t1's user token in the user_token grant: %d in t1, %d in t2; want 200 and 400", a, b)
	}
	// /userinfo at a tenant's host answers for that zone's tokens only.
	userinfo := func(base string, header ...string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", base+"/userinfo", nil)
		req.Header.Set("Authorization", "Bearer "+userToken)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := tenantHTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tc := range []struct {
		name   string
		base   string
		header []string
		want   int
	}{
		{"t1's host", tenant("t1"), nil, 200},
		{"t2's host", tenant("t2"), nil, 401},
		{"the bare host with t2's X-Zid", s.httpsURL, []string{"X-Zid", zid["t2"]}, 401},
		{"the bare host with t1's X-Zid", s.httpsURL, []string{"X-Zid", zid["t1"]}, 200},
	} {
		if got := userinfo(tc.base, tc.header...); got != tc.want {
			t.Errorf("t1's user token at /userinfo of %s: %d, want %d", tc.name, got, tc.want)
		}
	}
	// t1's session cookie at t2: the login page, no code.
	req, _ := http.NewRequest("GET", tenant("t2")+"/oauth/authorize?"+url.Values{"response_type": {"code"}, "client_id": {c.ClientID}, "redirect_uri": {appCallback}}.Encode(), nil)
	req.AddCookie(&http.Cookie{Name: "XSUAA_SESSION", Value: session})
	resp, err := tenantHTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `action="/login.do"`) || resp.Header.Get("Location") != "" {
		t.Errorf("t1's session at t2's authorize: %d %q; want t2's login page", resp.StatusCode, resp.Header.Get("Location"))
	}
}
