package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestXssecConformance proves that SAP's own Node library @sap/xssec (4.x)
// fetches and accepts, unmodified, the tokens the real server issues, and
// rejects tampered and foreign ones. The library is installed with npm at
// test time (its licence forbids vendoring it), or taken from
// XSUAA_NODE_MODULES (a directory whose node_modules holds @sap/xssec).
// Without node/npm the test skips, unless XSUAA_REQUIRE_NODE=1 (CI).
func TestXssecConformance(t *testing.T) {
	node, modules, ok := needNode(t)
	if !ok {
		t.Skip("node and npm are needed to run @sap/xssec against the server; set XSUAA_REQUIRE_NODE=1 to make this fatal")
	}
	s := startServer(t, "")
	s.provision("conf-inst-1", "conformance-app",
		`{"xsappname":"conformance-app","scopes":[{"name":"$XSAPPNAME.Read"}],"authorities":["$XSAPPNAME.Read"]}`)
	s.provision("conf-inst-2", "conformance-other",
		`{"xsappname":"conformance-other","scopes":[{"name":"$XSAPPNAME.Write"}],"authorities":["$XSAPPNAME.Write"]}`)
	raw, creds := s.bind("conf-inst-1", "conf-bind-1", nil)
	otherRaw, _ := s.bind("conf-inst-2", "conf-bind-2", nil)
	if creds.ClientID == "" || creds.UAADomain == "" || creds.URL == "" {
		t.Fatalf("binding credentials lack clientid/uaadomain/url: %s", raw)
	}
	runNodeScript(t, s, node, modules, "xssec/conformance.js", writeJSONFile(t, map[string]json.RawMessage{"credentials": raw, "otherCredentials": otherRaw}))
}

// needNode returns node and a directory whose node_modules holds
// @sap/xssec and @sap/xsenv. Without node or npm it returns ok=false, or
// fails the test when XSUAA_REQUIRE_NODE=1 (CI).
func needNode(t *testing.T) (node, modules string, ok bool) {
	t.Helper()
	node, errNode := exec.LookPath("node")
	npm, errNpm := exec.LookPath("npm")
	if errNode != nil || errNpm != nil {
		if os.Getenv("XSUAA_REQUIRE_NODE") == "1" {
			t.Fatalf("node and npm are needed (XSUAA_REQUIRE_NODE=1): node: %v, npm: %v", errNode, errNpm)
		}
		t.Logf("node/npm not found (node: %v, npm: %v)", errNode, errNpm)
		return "", "", false
	}
	return node, xssecModules(t, npm), true
}

// runNodeScript runs testdata/<script> with args, with SAP's libraries on
// NODE_PATH and the server's CA in NODE_EXTRA_CA_CERTS, and fails the test
// unless every check of the script passed.
func runNodeScript(t *testing.T, s *testServer, node, modules, script string, args ...string) {
	t.Helper()
	runNodeScriptCA(t, s, node, modules, script, filepath.Join(s.dataDir, "ca.pem"), args...)
}

// runNodeScriptCA is runNodeScript with caFile as NODE_EXTRA_CA_CERTS.
func runNodeScriptCA(t *testing.T, s *testServer, node, modules, script, caFile string, args ...string) {
	t.Helper()
	path, err := filepath.Abs(filepath.Join("../../testdata", script))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, append([]string{path}, args...)...)
	cmd.Dir = filepath.Dir(path)
	cmd.Env = append(os.Environ(),
		"NODE_PATH="+filepath.Join(modules, "node_modules"),
		"NODE_EXTRA_CA_CERTS="+caFile,
	)
	out, err := cmd.CombinedOutput()
	t.Logf("node %s:\n%s", script, out)
	if err != nil || !xssecAllPassed.Match(out) {
		t.Fatalf("node %s failed (%v):\n%s\nserver logs:\n%s", script, err, out, s.logs)
	}
}

// writeJSONFile writes v as JSON to a new temporary file (0600) and returns its path.
func writeJSONFile(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "cfg.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// xssecAllPassed matches the script's summary line when nothing failed.
var xssecAllPassed = regexp.MustCompile(`(?m)^[1-9][0-9]* passed, 0 failed$`)

// xssecModules returns a directory whose node_modules holds @sap/xssec and
// @sap/xsenv: XSUAA_NODE_MODULES if it has them, else a fresh npm install.
func xssecModules(t *testing.T, npm string) string {
	t.Helper()
	if dir := os.Getenv("XSUAA_NODE_MODULES"); dir != "" {
		// Accept both the prefix directory and its node_modules.
		for _, d := range []string{dir, filepath.Dir(dir)} {
			if st, err := os.Stat(filepath.Join(d, "node_modules", "@sap", "xssec")); err == nil && st.IsDir() {
				t.Logf("using @sap/xssec from XSUAA_NODE_MODULES=%s: %s", dir, installedVersions(d))
				return d
			}
		}
		t.Logf("XSUAA_NODE_MODULES=%s holds no node_modules/@sap/xssec; installing with npm", dir)
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "install", "--no-audit", "--no-fund", "--no-save", "--prefix", dir, "@sap/xssec@4", "@sap/xsenv")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm install @sap/xssec@4 @sap/xsenv: %v\n%s", err, out)
	}
	t.Logf("installed with npm: %s", installedVersions(dir))
	return dir
}

// installedVersions reports the versions of the packages under dir/node_modules.
func installedVersions(dir string) string {
	var v []string
	for _, p := range []string{"@sap/xssec", "@sap/xsenv"} {
		b, err := os.ReadFile(filepath.Join(dir, "node_modules", p, "package.json"))
		var pkg struct{ Version string }
		if err != nil || json.Unmarshal(b, &pkg) != nil {
			v = append(v, p+"@?")
			continue
		}
		v = append(v, p+"@"+pkg.Version)
	}
	return strings.Join(v, ", ")
}
