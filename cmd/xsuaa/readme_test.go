package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/openxsuaa/xsuaa/clients/storage/storagetest"
)

// TestREADMEWalkthrough runs the README's curl walkthrough, as written,
// against a real server started as the README starts it (generated broker
// credentials in ./xsuaa-data). Only the two listen addresses are replaced
// by the free ports the test server got.
func TestREADMEWalkthrough(t *testing.T) {
	sqliteOnly(t, "the README runs the zero-configuration default")
	needTools(t, "bash", "curl", "jq")
	script := readmeBlock(t, "walkthrough")

	dir := t.TempDir()
	s := startServerEnv(t, filepath.Join(dir, "xsuaa-data"), nil)
	out := runREADMEBlock(t, s, dir, script, nil)
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

// needTools skips (or, in CI, fails) when a tool the README uses is missing.
func needTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is needed for the README examples", tool)
			}
			t.Skipf("%s is not installed; the README examples need it", tool)
		}
	}
}

// readmeBlock returns the ```sh block that follows <!-- name --> in README.md.
func readmeBlock(t *testing.T, name string) string {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(readme), "<!-- "+name+" -->\n```sh\n")
	script, _, ok2 := strings.Cut(after, "\n```")
	if !ok || !ok2 {
		t.Fatalf("README has no ```sh block after <!-- %s -->", name)
	}
	return script
}

// runREADMEBlock runs a README script with bash in dir against s, with the
// README's default addresses replaced by s's ports.
func runREADMEBlock(t *testing.T, s *testServer, dir, script string, env []string) string {
	t.Helper()
	httpsHost := strings.TrimPrefix(s.httpsURL, "https://")
	run := strings.NewReplacer("127.0.0.1:8080", strings.TrimPrefix(s.httpURL, "http://"), "localhost:8443", httpsHost).Replace(script)
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", run)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	t.Logf("output:\n%s", out)
	if err != nil {
		t.Fatalf("README block failed: %v", err)
	}
	return string(out)
}

// TestREADMEReuse runs the README's reuse-service walkthrough and then
// its clone API example, in one directory, with the built binary on PATH
// and the server's ./xsuaa-data, as a reader runs them.
func TestREADMEReuse(t *testing.T) {
	sqliteOnly(t, "the README runs the zero-configuration default")
	needTools(t, "bash", "curl", "jq")
	dir := t.TempDir()
	s := startServerEnv(t, filepath.Join(dir, "xsuaa-data"), nil)
	out := runREADMEBlock(t, s, dir, readmeBlock(t, "reuse")+"\n"+readmeBlock(t, "clones"), []string{
		"PATH=" + filepath.Dir(binPath) + string(os.PathListSeparator) + os.Getenv("PATH"),
		"XSUAA_SERVER=" + s.httpURL, "XSUAA_BROKER_USER=", "XSUAA_BROKER_PASSWORD=",
	})
	for _, want := range []string{
		"!b1|jobscheduler!b1\n", // step 2: the clone's client id
		`["jobs-app!t1.JOBSCHEDULER","uaa.resource"]`,
		"Deleted clone my-jobscheduler",
		"the clone's credentials no longer work",
		`"clientid":"sb-consumer-42!b1|jobscheduler!b1"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("reuse walkthrough output lacks %q", want)
		}
	}
	if !strings.HasSuffix(strings.TrimSpace(out), "{}") {
		t.Errorf("the clone API's delete answered %q, want {}", out)
	}
}

// TestREADMECLI runs the README's CLI block with the built binary on PATH,
// in a directory with the server's ./xsuaa-data (generated broker
// credentials, ca.pem), as the README describes.
func TestREADMECLI(t *testing.T) {
	sqliteOnly(t, "the README runs the zero-configuration default")
	needTools(t, "bash", "jq")
	dir := t.TempDir()
	s := startServerEnv(t, filepath.Join(dir, "xsuaa-data"), nil)
	out := runREADMEBlock(t, s, dir, readmeBlock(t, "cli"), []string{
		"PATH=" + filepath.Dir(binPath) + string(os.PathListSeparator) + os.Getenv("PATH"),
		"XSUAA_SERVER=" + s.httpURL, "XSUAA_BROKER_USER=", "XSUAA_BROKER_PASSWORD=",
	})
	for _, want := range []string{
		"xsappname: bookshop!t1",
		`["bookshop!t1.Read","uaa.resource"]`,
		"bearer\n",
		"bindings/bookshop-xsuaa/.metadata",
		"Unbound service bookshop-xsuaa",
		"Deleted service bookshop-xsuaa",
		"active",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("CLI walkthrough output lacks %q", want)
		}
	}
}

// TestREADMEReplicas runs the README's block on several replicas, as
// written, on a new PostgreSQL database, with the built binary on PATH;
// only the database URL and the four listen ports are replaced.
func TestREADMEReplicas(t *testing.T) {
	if postgresE2E() {
		t.Skip("runs in the default pass")
	}
	needTools(t, "bash", "curl", "jq", "openssl")
	dbURL := storagetest.PostgresURL(t)
	script := readmeBlock(t, "replicas")
	var pairs []string
	pairs = append(pairs, "postgres://xsuaa@127.0.0.1:5432/xsuaa", dbURL)
	for _, port := range []string{"8081", "8082", "8441", "8442"} {
		pairs = append(pairs, "127.0.0.1:"+port, fmt.Sprintf("127.0.0.1:%d", freePort(t)))
	}
	script = strings.NewReplacer(pairs...).Replace(script)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(binPath)+string(os.PathListSeparator)+os.Getenv("PATH"))
	// The replicas run in the script's process group: if the script fails
	// before it stops them, the test does.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	t.Cleanup(func() {
		if cmd.Process != nil {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
	})
	out, err := cmd.CombinedOutput()
	t.Logf("output:\n%s", out)
	if err != nil {
		logs1, _ := os.ReadFile(filepath.Join(dir, "replica-1.log"))
		logs2, _ := os.ReadFile(filepath.Join(dir, "replica-2.log"))
		t.Fatalf("README block failed: %v\nreplica 1:\n%s\nreplica 2:\n%s", err, logs1, logs2)
	}
	want := "is at schema version"
	if !strings.Contains(string(out), want) {
		t.Errorf("output lacks %q", want)
	}
	if !strings.HasSuffix(strings.TrimSpace(string(out)), "200\n401") {
		t.Errorf("output ends in %q, want the token from replica 2 (200), then the refusal by replica 1 (401)", out)
	}
	for _, f := range []string{"master.key", "broker-credentials.json", "xsuaa.db"} {
		if _, err := os.Stat(filepath.Join(dir, "replica-1", f)); err == nil {
			t.Errorf("a replica on PostgreSQL wrote %s into its data directory", f)
		}
	}
}
