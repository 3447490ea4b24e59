package main

import (
	"context"
	"crypto/tls"
	"database/sql"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestZones: identity zones through the CLI and the admin API: the
// provider zone exists from the start; a zone is created with a
// subdomain and an id (given or new), its key set answers at once
// (/token_keys?zid=), mistakes are one line naming them, and a deleted
// zone is unknown at once; the provider zone cannot be deleted.
func TestZones(t *testing.T) {
	s := startServer(t, "")
	var zones []struct {
		ID, Subdomain     string
		Provider, Builtin bool
		Instances, Users  int
	}
	s.okJSON(&zones, "zones")
	// The provider zone (its subdomain "provider" for a localhost URL) and
	// the SaaS provisioning service's built-in zone.
	if len(zones) != 2 || !zones[0].Provider || zones[0].Subdomain != "provider" ||
		zones[1].ID != "sap-provisioning" || zones[1].Subdomain != "sap-provisioning" || !zones[1].Builtin {
		t.Fatalf("zones at the start: %+v", zones)
	}
	provider := zones[0]
	keys := func(zid string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", s.httpURL+"/token_keys?zid="+zid, nil)
		code, _, _ := s.do(req)
		return code
	}
	const id = "6b9a7b2c-1f0e-4e1c-9d3a-2b5e8f7c4a10"
	if out := s.ok("create-zone", "tenant-one", "--id", id); !strings.Contains(out, "Created zone tenant-one (id "+id+")") {
		t.Errorf("create-zone: %q", out)
	}
	var created struct{ ID, Subdomain string }
	s.okJSON(&created, "create-zone", "tenant-two")
	if len(created.ID) != 36 || created.Subdomain != "tenant-two" {
		t.Errorf("create-zone without --id: %+v", created)
	}
	if out := s.ok("zones"); !strings.Contains(out, "tenant-one") || !strings.Contains(out, id) || !strings.Contains(out, "provider") ||
		!strings.Contains(out, "https://tenant-one.localhost:") {
		t.Errorf("zones:\n%s", out)
	}
	if code := keys(id); code != 200 {
		t.Errorf("/token_keys?zid= of a new zone: %d", code)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"create-zone", "Tenant_1"}, "must be a DNS label"},
		{[]string{"create-zone", "x-"}, "must be a DNS label"},
		{[]string{"create-zone", "tenant-one"}, `a zone with the subdomain "tenant-one" exists`},
		{[]string{"create-zone", "tenant-three", "--id", id}, "a zone with the id " + id + " exists"},
		{[]string{"create-zone", "tenant-three", "--id", "not-a-guid"}, "must be a GUID"},
		{[]string{"delete-zone", provider.Subdomain}, "is the provider zone, which cannot be deleted"},
		{[]string{"delete-zone", "nosuch"}, `no zone has the subdomain "nosuch"`},
	} {
		s.fails(1, []string{tc.want}, tc.args...)
	}
	if out := s.ok("delete-zone", "tenant-one"); !strings.Contains(out, "Deleted zone tenant-one.") {
		t.Errorf("delete-zone: %q", out)
	}
	if code := keys(id); code != 400 {
		t.Errorf("/token_keys?zid= of a deleted zone: %d, want 400", code)
	}
	raw := s.ok("zones", "--json")
	if strings.Contains(raw, "tenant-one") || !json.Valid([]byte(raw)) {
		t.Errorf("zones after the delete: %s", raw)
	}
}

// TestZoneResolution: a token request addresses a zone by X-Zid or by a
// tenant host <subdomain>.<public host>; an unknown zone is a 401
// invalid_client, X-Zid and a host naming two zones a 400; the key set
// answers by ?zid= and by tenant host, unknown ones 400. The provider's
// client is not a client of another zone.
func TestZoneResolution(t *testing.T) {
	s := startServer(t, "")
	s.provision("zr", "zr-app", `{"xsappname":"zoneapp"}`)
	_, c := s.bind("zr", "zr-b", nil)
	var z struct{ ID string }
	s.okJSON(&z, "create-zone", "tenant-one")
	token := func(host, zid string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest("POST", s.httpURL+"/oauth/token", strings.NewReader("grant_type=client_credentials&client_id="+c.ClientID+"&client_secret="+url.QueryEscape(c.ClientSecret)))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if host != "" {
			req.Host = host
		}
		if zid != "" {
			req.Header.Set("X-Zid", zid)
		}
		code, b, _ := s.do(req)
		var m map[string]any
		json.Unmarshal(b, &m)
		return code, m
	}
	port := s.httpsURL[strings.LastIndex(s.httpsURL, ":"):]
	for _, tc := range []struct {
		name, host, zid string
		code            int
		want            string
	}{
		{"the provider zone", "", "", 200, ""},
		{"X-Zid of the provider zone", "", s.providerZoneID(t), 200, ""},
		{"a tenant host: the provider's client is not its client", "tenant-one.localhost" + port, "", 401, "Bad credentials"},
		{"X-Zid of another zone", "", z.ID, 401, "Bad credentials"},
		{"an unknown tenant host", "nosuch.localhost" + port, "", 401, "unknown identity zone for the host's subdomain nosuch"},
		{"an unknown X-Zid", "", "9e1c6b5a-0000-4000-8000-000000000000", 401, "unknown identity zone"},
		{"X-Zid and host disagree", "tenant-one.localhost" + port, s.providerZoneID(t), 400, "the host another"},
	} {
		code, body := token(tc.host, tc.zid)
		if code != tc.code || (tc.want != "" && !strings.Contains(fmt.Sprint(body["error_description"]), tc.want)) {
			t.Errorf("%s: %d %v; want %d with %q", tc.name, code, body, tc.code, tc.want)
		}
	}
	keys := func(host, query string) int {
		req, _ := http.NewRequest("GET", s.httpURL+"/token_keys"+query, nil)
		if host != "" {
			req.Host = host
		}
		code, _, _ := s.do(req)
		return code
	}
	if code := keys("tenant-one.localhost"+port, ""); code != 200 {
		t.Errorf("key set at a tenant host: %d", code)
	}
	if code := keys("nosuch.localhost"+port, ""); code != 400 {
		t.Errorf("key set at an unknown tenant host: %d, want 400", code)
	}
}

// providerZoneID returns the provider zone's id.
func (s *testServer) providerZoneID(t *testing.T) string {
	var zones []struct {
		ID       string
		Provider bool
	}
	s.okJSON(&zones, "zones")
	for _, z := range zones {
		if z.Provider {
			return z.ID
		}
	}
	t.Fatal("no provider zone")
	return ""
}

// TestZoneTokens: an instance created in a zone (create-service --zone)
// has credentials whose url is the zone's tenant host and whose
// identityzone is the zone's subdomain; it authenticates only in its
// zone (dedicated), by X-Zid or at the tenant host over TLS with a
// certificate for that exact name; its tokens carry the zone's zid,
// zdn, subaccountid, iss and jku whichever way the zone was addressed;
// the discovery document of a tenant host names the zone's issuer.
func TestZoneTokens(t *testing.T) {
	s := startServer(t, "")
	var zone struct{ ID string }
	s.okJSON(&zone, "create-zone", "tenant-two")
	s.fails(1, []string{`there is no identity zone with the subdomain "nosuch"`}, "create-service", "lost", "--zone", "nosuch", "-c", `{"xsappname":"lost"}`)
	s.ok("create-service", "zoned", "--zone", "tenant-two", "-c", `{"xsappname":"zoned","scopes":[{"name":"$XSAPPNAME.Read"}],"authorities":["$XSAPPNAME.Read"]}`)
	var c struct {
		ClientID       string `json:"clientid"`
		ClientSecret   string `json:"clientsecret"`
		URL            string `json:"url"`
		UAADomain      string `json:"uaadomain"`
		IdentityZone   string `json:"identityzone"`
		IdentityZoneID string `json:"identityzoneid"`
	}
	s.okJSON(&c, "create-service-key", "zoned", "k")
	port := s.httpsURL[strings.LastIndex(s.httpsURL, ":"):]
	zoneURL := "https://tenant-two.localhost" + port
	if c.URL != zoneURL || c.IdentityZone != "tenant-two" || c.IdentityZoneID != zone.ID || c.UAADomain != "localhost"+port {
		t.Fatalf("credentials of an instance in a zone: %+v", c)
	}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {c.ClientID}, "client_secret": {c.ClientSecret}}
	// The tenant host over TLS: curl and browsers resolve *.localhost to
	// loopback; Go's resolver does not, so the dialer does it here.
	tenantClient := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: s.caPool()},
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if host, p, err := net.SplitHostPort(addr); err == nil && strings.HasSuffix(host, ".localhost") {
				addr = net.JoinHostPort("127.0.0.1", p)
			}
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}}
	post := func(client *http.Client, base, zid string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest("POST", base+"/oauth/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if zid != "" {
			req.Header.Set("X-Zid", zid)
		}
		resp, err := client.Do(req)
		if err != nil {
			if strings.Contains(err.Error(), "certificate is valid for localhost, not") {
				return 0, nil // no leaf for a host that names no zone
			}
			t.Fatalf("token at %s: %v", base, err)
		}
		defer resp.Body.Close()
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	for _, tc := range []struct {
		name       string
		client     *http.Client
		base, zid  string
		wantStatus int
	}{
		{"X-Zid on the bare host", s.client, s.httpsURL, zone.ID, 200},
		{"the tenant host, TLS for its exact name", tenantClient, zoneURL, "", 200},
		{"the provider zone: not its zone", s.client, s.httpsURL, "", 401},
		{"a host that names no zone: no certificate for it", tenantClient, "https://nosuch.localhost" + port, "", 0},
	} {
		code, body := post(tc.client, tc.base, tc.zid)
		if code != tc.wantStatus {
			t.Errorf("%s: %d %v, want %d", tc.name, code, body, tc.wantStatus)
			continue
		}
		if code != 200 {
			continue
		}
		hdr, claims := s.verify(body["access_token"].(string))
		ext, _ := claims["ext_attr"].(map[string]any)
		if claims["zid"] != zone.ID || claims["iss"] != zoneURL+"/oauth/token" || hdr["jku"] != zoneURL+"/token_keys" ||
			ext["zdn"] != "tenant-two" || ext["subaccountid"] != zone.ID {
			t.Errorf("%s: the token does not name its zone: header %v claims %v", tc.name, hdr, claims)
		}
	}
	// xsuaa hosts: the /etc/hosts lines for the tenant hosts.
	if out := s.ok("hosts"); out != "127.0.0.1\tprovider.localhost\n127.0.0.1\ttenant-two.localhost\n" {
		t.Errorf("hosts: %q", out)
	}
	if out := s.ok("hosts", "--address", "::1"); out != "::1\tprovider.localhost\n::1\ttenant-two.localhost\n" {
		t.Errorf("hosts --address ::1: %q", out)
	}
	s.fails(2, []string{`--address "nowhere" is not an IP address`}, "hosts", "--address", "nowhere")
	var zones []struct{ Subdomain, URL string }
	s.okJSON(&zones, "zones")
	if len(zones) != 3 || zones[0].URL != s.httpsURL || zones[2].URL != zoneURL {
		t.Errorf("zones and their URLs: %+v", zones)
	}
	// A provider token names the bare host.
	s.provision("p", "p-app", `{"xsappname":"papp"}`)
	_, pc := s.bind("p", "p-b", nil)
	if hdr, claims := s.verify(s.secretToken(pc)); claims["iss"] != s.httpsURL+"/oauth/token" || hdr["jku"] != s.httpsURL+"/token_keys" {
		t.Errorf("a provider token: header %v claims %v", hdr, claims)
	}
	var doc map[string]any
	resp, err := tenantClient.Get(zoneURL + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&doc)
	resp.Body.Close()
	if doc["issuer"] != zoneURL+"/oauth/token" || doc["jwks_uri"] != zoneURL+"/token_keys" {
		t.Errorf("discovery at the tenant host: %v", doc)
	}
	req, _ := http.NewRequest("GET", s.httpURL+"/.well-known/openid-configuration", nil)
	req.Host = "nosuch.localhost" + port
	if code, b, _ := s.do(req); code != 404 || !strings.Contains(string(b), "unknown identity zone for the host's subdomain nosuch") {
		t.Errorf("discovery at an unknown tenant host: %d %s, want 404", code, b)
	}
}

// TestZonesWithXssec: SAP's @sap/xssec 4 with the credentials of an
// instance in a zone fetches tokens at the tenant host (its url, and with
// {tenant}) and with {zid}, each naming the zone and validated with
// createSecurityContext; a token of a deleted zone is rejected
// (testdata/xssec/zones.js, with the *.localhost preload resolver).
func TestZonesWithXssec(t *testing.T) {
	s := startServer(t, "")
	var zone, gone struct{ ID, Subdomain string }
	s.okJSON(&zone, "create-zone", "tenant-two")
	s.okJSON(&gone, "create-zone", "gone")
	s.ok("create-service", "zoned", "--zone", "tenant-two", "-c", `{"xsappname":"zoned"}`)
	s.ok("create-service", "gone-app", "--zone", "gone", "-c", `{"xsappname":"goneapp"}`)
	creds := s.ok("create-service-key", "zoned", "k")
	var g credentials
	goneCreds := s.ok("create-service-key", "gone-app", "k")
	if err := json.Unmarshal([]byte(goneCreds), &g); err != nil {
		t.Fatal(err)
	}
	code, goneAnswer, _ := s.tokenIn(s.httpsURL, gone.ID, url.Values{"grant_type": {"client_credentials"},
		"client_id": {g.ClientID}, "client_secret": {g.ClientSecret}}, nil)
	goneToken, _ := goneAnswer["access_token"].(string)
	if code != 200 || goneToken == "" {
		t.Fatalf("a token in zone gone: %d %v", code, goneAnswer)
	}
	s.ok("delete-zone", "gone", "-f")
	node, modules, ok := needNode(t)
	if !ok {
		return
	}
	runNodeScript(t, s, node, modules, "xssec/zones.js", writeJSONFile(t, map[string]any{
		"credentials": json.RawMessage(creds), "zone": map[string]string{"id": zone.ID, "subdomain": zone.Subdomain}, "goneCredentials": json.RawMessage(goneCreds), "goneZoneToken": goneToken,
	}))
}

// TestOlderZonesUpgraded: a database an older version wrote, whose
// localhost installation named its provider zone "localhost" and had no
// SaaS provisioning zone, gets both fixed at the next start: the provider
// zone becomes "provider" (so identityzone is never localhost, and
// https://<identityzone>.<uaadomain> reaches it) and sap-provisioning is
// made; the zone's id and instances stay. SQLite only (the storage suite
// checks RenameZone on both backends).
func TestOlderZonesUpgraded(t *testing.T) {
	if postgresE2E() {
		t.Skip("the older database is made by rewriting the SQLite file")
	}
	dir := t.TempDir()
	s := startServer(t, dir)
	provider := s.providerZoneID(t)
	s.ok("create-service", "old-app", "-c", `{"xsappname":"oldapp"}`)
	s.stop()
	db, err := sql.Open("sqlite3", filepath.Join(dir, dbFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`UPDATE zones SET subdomain = 'localhost' WHERE id = '` + provider + `'`, `DELETE FROM zones WHERE id = 'sap-provisioning'`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	s = startServer(t, dir)
	var zones []struct {
		ID, Subdomain     string
		Provider, Builtin bool
		Instances         int
	}
	s.okJSON(&zones, "zones")
	if len(zones) != 2 || zones[0].ID != provider || zones[0].Subdomain != "provider" || zones[0].Instances != 1 ||
		zones[1].ID != "sap-provisioning" || !zones[1].Builtin {
		t.Errorf("zones after upgrading an older database: %+v", zones)
	}
	var key map[string]any
	s.okJSON(&key, "create-service-key", "old-app", "k")
	if key["identityzone"] != "provider" || key["identityzoneid"] != provider {
		t.Errorf("credentials after the upgrade: identityzone %v, id %v", key["identityzone"], key["identityzoneid"])
	}
}
