package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// shopDescriptor is a SaaS application: tenant-mode shared, a role
// collection for its users, the password grant for the tests, and a
// Callback scope granted to the SaaS provisioning service's client.
const shopDescriptor = `{"xsappname":"shop","tenant-mode":"shared",
 "scopes":[{"name":"$XSAPPNAME.Read"},{"name":"$XSAPPNAME.Callback","grant-as-authority-to-apps":["$XSAPPNAME(application,sap-provisioning,tenant-onboarding)"]}],
 "authorities":["$XSAPPNAME.Read"],
 "role-templates":[{"name":"Reader","scope-references":["$XSAPPNAME.Read"]}],
 "role-collections":[{"name":"Shop_Reader","role-template-references":["$XSAPPNAME.Reader"]}],
 "oauth2-configuration":{"redirect-uris":["http://localhost:*/**"]}}`

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
		req, _ := http.NewRequest("POST", base+"/oauth/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if !byHost && zone != "" {
			req.Header.Set("X-Zid", zid[zone])
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("token in %s: %v", zone, err)
		}
		defer resp.Body.Close()
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
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
