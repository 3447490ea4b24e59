package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// cloudSDKDescriptor is a SaaS application's xs-security.json: one
// instance whose client works in every subscribed zone.
const cloudSDKDescriptor = `{"xsappname":"saasapp","tenant-mode":"shared",
 "scopes":[{"name":"$XSAPPNAME.Read"}],
 "authorities":["$XSAPPNAME.Read"],
 "role-templates":[{"name":"Reader","scope-references":["$XSAPPNAME.Read"]}],
 "role-collections":[{"name":"SaaS_Reader","role-template-references":["$XSAPPNAME.Reader"]}]}`

// TestCloudSDKServiceToken: the SAP Cloud SDK for JavaScript
// (@sap-cloud-sdk/connectivity 4) with the binding of a shared instance
// in VCAP_SERVICES: serviceToken('xsuaa', { jwt }) given a user's token of
// subscriber zone t1 gets a client_credentials token of t1 (zid, iss
// https://t1.localhost:<port>/oauth/token, ext_attr.zdn), of t2 one of t2,
// and of the provider zone one of the provider zone; each validates with
// @sap/xssec. The script pins how the SDK addresses the tenant (x-zid on
// the bare uaadomain; by subdomain only for a JWT without zid), its cache
// per tenant, and a refusal for a zone without a subscription
// (testdata/cloudsdk/servicetoken.js, with the *.localhost preload
// resolver).
func TestCloudSDKServiceToken(t *testing.T) {
	node, modules, ok := needCloudSDK(t)
	if !ok {
		return
	}
	s := startServer(t, "")
	type zone struct {
		ID        string `json:"id"`
		Subdomain string `json:"subdomain"`
		URL       string `json:"url"`
	}
	for _, z := range []string{"t1", "t2", "t3"} {
		s.ok("create-zone", z)
	}
	s.ok("create-service", "saas", "-c", cloudSDKDescriptor)
	s.ok("subscribe", "saas", "--zone", "t1")
	s.ok("subscribe", "saas", "--zone", "t2")
	creds := s.ok("create-service-key", "saas", "k")
	var zones []struct {
		zone
		Provider bool `json:"provider"`
	}
	s.okJSON(&zones, "zones")
	byName := map[string]zone{}
	var home zone
	for _, z := range zones {
		byName[z.Subdomain] = z.zone
		if z.Provider {
			home = z.zone
		}
	}
	type tenant struct {
		zone
		User     string `json:"user"`
		Password string `json:"password"`
	}
	var tenants []tenant
	for _, u := range []struct{ user, zone string }{{"alice", home.Subdomain}, {"carol", "t1"}, {"dave", "t2"}} {
		args := []string{}
		if u.zone != home.Subdomain {
			args = []string{"--zone", u.zone}
		}
		password := u.user + "-password-1"
		s.ok(append([]string{"create-user", u.user, "--password", password}, args...)...)
		s.ok(append([]string{"assign-role-collection", "SaaS_Reader", u.user}, args...)...)
		tenants = append(tenants, tenant{byName[u.zone], u.user, password})
	}
	// As Cloud Foundry binds it: @sap/xsenv (under the SDK) reads it.
	vcap, err := json.Marshal(map[string]any{"xsuaa": []map[string]any{{
		"label": "xsuaa", "plan": "application", "name": "saas", "tags": []string{"xsuaa"}, "credentials": json.RawMessage(creds),
	}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("VCAP_SERVICES", string(vcap))
	runNodeScript(t, s, node, modules, "cloudsdk/servicetoken.js", writeJSONFile(t, map[string]any{
		"credentials": json.RawMessage(creds), "home": home, "tenants": tenants, "unsubscribed": byName["t3"],
	}))
}

// needCloudSDK returns node and a directory whose node_modules holds
// @sap-cloud-sdk/connectivity 4 (which brings @sap/xssec 4 and
// @sap/xsenv): XSUAA_CLOUDSDK_NODE_MODULES (.ci/run installs it there)
// when it holds it, else a fresh npm install. Without node or npm the test
// skips; in CI (CI=true or XSUAA_REQUIRE_NODE=1) a missing node or
// variable fails it.
func needCloudSDK(t *testing.T) (node, modules string, ok bool) {
	t.Helper()
	ci := os.Getenv("CI") == "true" || os.Getenv("XSUAA_REQUIRE_NODE") == "1"
	node, errNode := exec.LookPath("node")
	npm, errNpm := exec.LookPath("npm")
	if errNode != nil || errNpm != nil {
		if ci {
			t.Fatalf("node and npm are needed (CI): node: %v, npm: %v", errNode, errNpm)
		}
		t.Skipf("node and npm are needed to run the SAP Cloud SDK (node: %v, npm: %v)", errNode, errNpm)
	}
	has := func(dir string) bool {
		var pkg struct{ Version string }
		b, err := os.ReadFile(filepath.Join(dir, "node_modules", "@sap-cloud-sdk", "connectivity", "package.json"))
		return err == nil && json.Unmarshal(b, &pkg) == nil && strings.HasPrefix(pkg.Version, "4.")
	}
	if dir := os.Getenv("XSUAA_CLOUDSDK_NODE_MODULES"); dir != "" {
		// Accept both the prefix directory and its node_modules.
		for _, d := range []string{dir, filepath.Dir(dir)} {
			if has(d) {
				return node, d, true
			}
		}
		if ci {
			t.Fatalf("XSUAA_CLOUDSDK_NODE_MODULES=%s holds no @sap-cloud-sdk/connectivity 4", dir)
		}
	} else if ci {
		t.Fatal("XSUAA_CLOUDSDK_NODE_MODULES is not set: CI must run the SAP Cloud SDK test (.ci/run installs @sap-cloud-sdk/connectivity@4)")
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "install", "--no-audit", "--no-fund", "--no-save", "--prefix", dir, "@sap-cloud-sdk/connectivity@4")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm install @sap-cloud-sdk/connectivity@4: %v\n%s", err, out)
	}
	return node, dir, true
}
