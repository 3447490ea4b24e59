package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// tenantAppDescriptor is a "tenant-mode": "shared" app whose users log in
// through approuter at http://<tenant>.app.localhost:<approuterPort>: the
// redirect URI pattern's "*" stands for the tenant label.
func tenantAppDescriptor(approuterPort int) string {
	return fmt.Sprintf(`{"xsappname":"mtdemo","tenant-mode":"shared",
 "scopes":[{"name":"$XSAPPNAME.Display"},{"name":"$XSAPPNAME.Edit"}],
 "role-templates":[{"name":"Viewer","scope-references":["$XSAPPNAME.Display"]},
                   {"name":"Editor","scope-references":["$XSAPPNAME.Edit"]}],
 "role-collections":[{"name":"Demo_Viewer","role-template-references":["$XSAPPNAME.Viewer"]},
                     {"name":"Demo_Editor","role-template-references":["$XSAPPNAME.Editor"]}],
 "oauth2-configuration":{"redirect-uris":["http://*.app.localhost:%d/**"]}}`, approuterPort)
}

// TestApprouter20Tenants: approuter 20 (Debian's node 20) with
// TENANT_HOST_PATTERN='^(.*)\.app\.localhost$' and the binding of a
// "tenant-mode": "shared" instance of the provider zone, subscribed in
// zones t1 and t2, driven by curl (testdata/login/approuter-tenants-curl.sh):
// a user of t1 logs in at t1.app.localhost through t1's tenant host, a
// user of t2 at t2.app.localhost through t2's; the xssec backend behind
// approuter sees each zone's zid and subdomain; approuter refuses a
// session cookie of one tenant's host at the other's; the basic route,
// logout and a host without a tenant go to the right zone. After t2 is
// unsubscribed, t2's authorize request through approuter is refused
// (unknown client) and t1's still shows the login page.
func TestApprouter20Tenants(t *testing.T) {
	approuter := loginTool(t, "XSUAA_APPROUTER20")
	modules := loginTool(t, "XSUAA_LOGIN_NODE_MODULES")
	for _, tool := range []string{"curl", "jq", "node"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed", tool)
		}
	}
	node, _ := exec.LookPath("node")
	start := time.Now()
	s := startServer(t, "")
	var z1, z2 struct{ ID string }
	s.okJSON(&z1, "create-zone", "t1")
	s.okJSON(&z2, "create-zone", "t2")

	arPort, backendPort := freePort(t), freePort(t)
	s.ok("create-service", "mtdemo-xsuaa", "-c", tenantAppDescriptor(arPort))
	var creds map[string]any
	if err := json.Unmarshal([]byte(s.ok("create-service-key", "mtdemo-xsuaa", "approuter-key")), &creds); err != nil {
		t.Fatalf("credentials: %v", err)
	}
	public, err := url.Parse(s.httpsURL)
	if err != nil {
		t.Fatal(err)
	}
	if creds["tenantmode"] != "shared" || creds["url"] != s.httpsURL || creds["uaadomain"] != public.Host {
		t.Fatalf("the binding of a shared instance: tenantmode %v url %v uaadomain %v", creds["tenantmode"], creds["url"], creds["uaadomain"])
	}
	for _, zone := range []string{"t1", "t2"} {
		s.ok("subscribe", "mtdemo-xsuaa", "--zone", zone)
	}
	// alice is a user of t1, bob of t2; the subscriptions brought the
	// descriptor's role collections into both zones.
	s.ok("create-user", "alice", "--zone", "t1", "--password", "alice-pw-1", "--email", "alice@example.com")
	s.ok("assign-role-collection", "Demo_Viewer", "alice", "--zone", "t1")
	s.ok("create-user", "bob", "--zone", "t2", "--password", "bob-pw-123", "--email", "bob@example.com")
	s.ok("assign-role-collection", "Demo_Viewer", "bob", "--zone", "t2")

	login, _ := filepath.Abs("../../testdata/login")
	resolver, _ := filepath.Abs("../../testdata/localhost-resolver.js")
	ca := filepath.Join(s.dataDir, "ca.pem")
	credsJSON, _ := json.Marshal(creds)
	common := []string{"NODE_PATH=" + modules, "NODE_EXTRA_CA_CERTS=" + ca, "HOST=127.0.0.1"}
	// The backend validates with the binding as it is: xssec fetches the
	// keys of each token's zone at https://<uaadomain>/token_keys?zid=.
	startNode(t, "backend", login, node, append(common, "CREDENTIALS="+string(credsJSON), fmt.Sprintf("PORT=%d", backendPort)),
		"listening", filepath.Join(login, "backend.js"))

	// Approuter puts the tenant in front of uaadomain and keeps the port
	// of url (lib/utils/uaa-utils.js); a uaadomain with a port would give
	// https://[t1.localhost:<port>]:<port>. On XSUAA uaadomain never has
	// one, so approuter's copy of the binding has the bare host name.
	arCreds := map[string]any{}
	for k, v := range creds {
		arCreds[k] = v
	}
	arCreds["uaadomain"] = public.Hostname()
	vcap, _ := json.Marshal(map[string]any{"xsuaa": []any{map[string]any{"name": "uaa", "label": "xsuaa", "tags": []string{"xsuaa"}, "credentials": arCreds}}})
	// xs-app.json's /cap route needs a "cap" destination; nothing listens there.
	dests, _ := json.Marshal([]map[string]any{{"name": "backend", "url": fmt.Sprintf("http://127.0.0.1:%d", backendPort), "forwardAuthToken": true},
		{"name": "cap", "url": fmt.Sprintf("http://127.0.0.1:%d", freePort(t))}})
	ar := startNode(t, "approuter", filepath.Join(login, "approuter"), node,
		append(common, "VCAP_SERVICES="+string(vcap), "destinations="+string(dests), "XS_BIND_ADDRESS=127.0.0.1",
			fmt.Sprintf("PORT=%d", arPort), "PRESERVE_FRAGMENT=false", `TENANT_HOST_PATTERN=^(.*)\.app\.localhost$`,
			// Node's resolver does not map t1.localhost to loopback.
			"NODE_OPTIONS=--require "+resolver),
		"listening on port", approuter)

	tenantURL := func(zone string) string { return "https://" + zone + "." + public.Host }
	script, _ := filepath.Abs("../../testdata/login/approuter-tenants-curl.sh")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", script)
	cmd.Env = append(os.Environ(), fmt.Sprintf("AR_PORT=%d", arPort), "UAA="+s.httpsURL, "UAA_T1="+tenantURL("t1"),
		"UAA_T2="+tenantURL("t2"), "CACERT="+ca, "ZID_T1="+z1.ID, "ZID_T2="+z2.ID, "ALICE_PW=alice-pw-1", "BOB_PW=bob-pw-123",
		"XSAPPNAME="+creds["xsappname"].(string))
	out, err := cmd.CombinedOutput()
	t.Logf("approuter-tenants-curl.sh:\n%s", out)
	if err != nil || !strings.Contains(string(out), "all checks passed") {
		t.Fatalf("the curl driver failed (%v); server log:\n%s", err, s.logs)
	}
	// Approuter refused the cross-tenant requests for the tenant, not
	// for a scope: alice's t1 session at t2's pages and bob's t2 session
	// at t1's.
	arLog := ar.out.String()
	for _, want := range []string{
		"GET request to /index.html completed with status 403 You cannot use session from another tenant.",
		"GET request to /api/whoami completed with status 403 You cannot use session from another tenant.",
		"JWT token tenant: t1, URL tenant: t2",
		"JWT token tenant: t2, URL tenant: t1",
	} {
		if !strings.Contains(arLog, want) {
			t.Errorf("approuter's log lacks %q:\n%s", want, arLog)
		}
	}
	// The server logged alice in in t1 and bob in t2, and did not know
	// alice in t2 (the basic route's password grant there; the name of an
	// unknown user is not logged).
	for _, want := range [][]string{
		{`"event":"user.login"`, `"user_name":"alice"`, `"zone":"` + z1.ID + `"`},
		{`"event":"user.login"`, `"user_name":"bob"`, `"zone":"` + z2.ID + `"`},
		{`"event":"user.login.failed"`, `"client_id":"` + creds["clientid"].(string) + `"`, `"reason":"unknown user"`, `"zone":"` + z2.ID + `"`},
	} {
		found := false
		for _, line := range strings.Split(s.logs.String(), "\n") {
			all := true
			for _, w := range want {
				all = all && strings.Contains(line, w)
			}
			found = found || all
		}
		if !found {
			t.Errorf("no audit event with %v; the server's log:\n%s", want, s.logs)
		}
	}

	// After t2's subscription ends, approuter still sends t2's users to
	// t2's /oauth/authorize, where the shared client is now unknown; t1's
	// login page still opens.
	s.ok("unsubscribe", "mtdemo-xsuaa", "--zone", "t2")
	noRedirect := &http.Client{Transport: s.tenantTransport(), Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(u string) (int, string, string) {
		t.Helper()
		resp, err := noRedirect.Get(u)
		if err != nil {
			t.Fatalf("GET %s: %v", u, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Location"), string(b)
	}
	for _, tc := range []struct {
		zone, want string
		code       int
	}{{"t2", "Unknown client", 400}, {"t1", `action="/login.do"`, 200}} {
		code, authz, _ := get(fmt.Sprintf("http://%s.app.localhost:%d/index.html", tc.zone, arPort))
		if code != 302 || !strings.HasPrefix(authz, tenantURL(tc.zone)+"/oauth/authorize?") {
			t.Errorf("after unsubscribing t2, %s's page: %d to %q", tc.zone, code, authz)
			continue
		}
		if code, _, body := get(authz); code != tc.code || !strings.Contains(body, tc.want) {
			t.Errorf("after unsubscribing t2, %s's authorize request: %d %s; want %d with %q", tc.zone, code, body, tc.code, tc.want)
		}
	}
	t.Logf("the tenant login stack took %s", time.Since(start).Round(time.Second))
}
