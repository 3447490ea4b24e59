package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestREADMEWalkthrough runs the README's curl walkthrough, as written,
// against a real server started as the README starts it (generated broker
// credentials in ./xsuaa-data). Only the two listen addresses are replaced
// by the free ports the test server got.
func TestREADMEWalkthrough(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is needed for the README walkthrough", tool)
			}
			t.Skipf("%s is not installed; the README walkthrough needs it", tool)
		}
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(readme), "<!-- walkthrough -->\n```sh\n")
	script, _, ok2 := strings.Cut(after, "\n```")
	if !ok || !ok2 {
		t.Fatal("README has no ```sh block after <!-- walkthrough -->")
	}

	dir := t.TempDir()
	s := startServerEnv(t, filepath.Join(dir, "xsuaa-data"), nil)
	httpsHost := strings.TrimPrefix(s.httpsURL, "https://")
	run := strings.NewReplacer("127.0.0.1:8080", strings.TrimPrefix(s.httpURL, "http://"), "localhost:8443", httpsHost).Replace(script)
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", run)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	t.Logf("walkthrough output:\n%s", out)
	if err != nil {
		t.Fatalf("walkthrough failed: %v", err)
	}
	for _, want := range []string{
		`"access_token":"ey`,            // step 3, form body
		"orders!t1.Read uaa.resource\n", // step 3, Basic
		`"cid": "sb-orders!t1"`,         // step 4, decoded claims
		`"aud": [`,
		`"kid":"default-jwt-key-`, // step 5
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("walkthrough output lacks %q", want)
		}
	}
	if lines := strings.Split(strings.TrimSpace(string(out)), "\n"); lines[len(lines)-1] != "401" {
		t.Errorf("the unbound secret's last request answered %q, want 401", lines[len(lines)-1])
	}
	if !strings.Contains(s.stdout.String(), "Generated service broker credentials") {
		t.Errorf("first start did not print the generated broker credentials: %q", s.stdout.String())
	}
}
