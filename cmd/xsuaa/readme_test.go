package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/openxsuaa/xsuaa/clients/storage/storagetest"
)

// A README example is a fenced block. The HTML comments on the lines right
// before its fence say how the tests treat it:
//
//	<!-- name -->                  names it, for the checks of its output below
//	<!-- not run: why -->          a command the tests cannot run as a reader does
//	<!-- needs: postgresql -->     run only when XSUAA_TEST_DATABASE names a server
//	<!-- in the tests: why -->     replaced by what the test says (npm install)
//
// ```sh blocks run; a ```js block must start with
// "// FILE — run: COMMAND", and is written to FILE and run with COMMAND;
// other languages (json, nginx, plain text) are fragments shown, not run.
type readmeExample struct {
	line  int // of the opening fence
	lang  string
	name  string
	notes []string
	body  string
}

// readmeExamples parses README.md's fenced blocks in order.
func readmeExamples(t *testing.T) []readmeExample {
	t.Helper()
	f, err := os.Open("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		examples []readmeExample
		notes    []string
		cur      *readmeExample
		body     strings.Builder
	)
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case cur != nil && line == "```":
			cur.body = body.String()
			examples = append(examples, *cur)
			cur, notes = nil, nil
			body.Reset()
		case cur != nil:
			body.WriteString(line + "\n")
		case strings.HasPrefix(line, "```"):
			cur = &readmeExample{line: n, lang: strings.TrimPrefix(line, "```"), notes: notes, name: fmt.Sprintf("line %d", n)}
			for _, note := range notes {
				if !strings.Contains(note, ":") {
					cur.name = note
				}
			}
		case strings.HasPrefix(line, "<!-- ") && strings.HasSuffix(line, " -->"):
			notes = append(notes, strings.TrimSuffix(strings.TrimPrefix(line, "<!-- "), " -->"))
		default:
			notes = nil
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if cur != nil {
		t.Fatalf("README.md line %d: a fenced block is not closed", cur.line)
	}
	return examples
}

func (e readmeExample) note(prefix string) (string, bool) {
	for _, n := range e.notes {
		if rest, ok := strings.CutPrefix(n, prefix); ok {
			return strings.TrimSpace(rest), true
		}
	}
	return "", false
}

var jsHeader = regexp.MustCompile(`^// (\S+\.js) — run: (.+)\n`)

// TestREADMEInOrder runs every example of README.md as a reader runs them:
// in order, in one bash process (so variables, the working directory and
// the background server carry over from block to block), starting in the
// repository's root with the five-minute path's go build. What differs
// from a reader's machine, and only that: the scratch directory is a
// temporary one instead of /tmp/xsuaa-play; the servers listen on free
// ports instead of 8080/8443 (and the replicas' 8081/8082/8441/8442), so
// the CLI gets XSUAA_SERVER for its default; the replicas' database is a
// new one on XSUAA_TEST_DATABASE's server; node_modules is the one
// XSUAA_NODE_MODULES names instead of a fresh npm install; and no XSUAA_*
// variable of the test's own environment leaks in.
func TestREADMEInOrder(t *testing.T) {
	sqliteOnly(t, "the README runs the zero-configuration default")
	needTools(t, "bash", "curl", "jq", "openssl", "go")
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	play := filepath.Join(t.TempDir(), "xsuaa-play")
	httpAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	httpsPort := freePort(t)
	approuterPort := freePort(t)
	common := []string{
		"/tmp/xsuaa-play", play,
		"127.0.0.1:8080", httpAddr,
		"127.0.0.1:5000", fmt.Sprintf("127.0.0.1:%d", approuterPort),
		"PORT=5000", fmt.Sprintf("PORT=%d", approuterPort),
		"localhost:8443", fmt.Sprintf("localhost:%d", httpsPort),
	}
	serve := strings.NewReplacer(append(common,
		"xsuaa serve ", fmt.Sprintf("xsuaa serve --http %s --https 127.0.0.1:%d ", httpAddr, httpsPort))...)
	dbURL := storagetest.PostgresURLOrEmpty(t)
	replicas := []string{"/tmp/xsuaa-play", play, "postgres://xsuaa@127.0.0.1:5432/xsuaa", dbURL}
	for _, port := range []string{"8081", "8082", "8441", "8442"} {
		replicas = append(replicas, "127.0.0.1:"+port, fmt.Sprintf("127.0.0.1:%d", freePort(t)))
	}
	var (
		nodeModules string
		haveNode    bool
		script      strings.Builder
		ran         = map[string]bool{}
	)
	script.WriteString("cd " + shellQuote(root) + "\n")
	for _, e := range readmeExamples(t) {
		if why, ok := e.note("not run:"); ok {
			t.Logf("README line %d not run: %s", e.line, why)
			continue
		}
		body := e.body
		switch e.lang {
		case "sh":
			if need, ok := e.note("needs:"); ok {
				if need != "postgresql" {
					t.Fatalf("README line %d needs %q; the test knows only postgresql", e.line, need)
				}
				if dbURL == "" {
					t.Logf("README line %d not run: XSUAA_TEST_DATABASE is not set", e.line)
					continue
				}
				body = strings.NewReplacer(replicas...).Replace(body)
			} else {
				body = serve.Replace(body)
			}
			if why, ok := e.note("in the tests:"); ok {
				if !strings.HasPrefix(body, "npm install ") {
					t.Fatalf("README line %d: the test replaces only npm install, not %q (%s)", e.line, body, why)
				}
				if strings.Contains(body, "@sap/approuter") {
					// The approuter CI installed, linked where the
					// README installs it (npm install --prefix DIR).
					m := npmPrefix.FindStringSubmatch(body)
					if m == nil {
						t.Fatalf("README line %d: the approuter install needs --prefix DIR", e.line)
					}
					approuter := loginTool(t, "XSUAA_APPROUTER20")
					modules := strings.TrimSuffix(approuter, "/@sap/approuter/approuter.js")
					body = "ln -s " + shellQuote(modules) + " " + shellQuote(m[1]+"/node_modules") + "\n"
					break
				}
				if !haveNode {
					nodeModules, haveNode = nodeModulesFor(t)
				}
				if !haveNode {
					continue
				}
				body = "ln -s " + shellQuote(filepath.Join(nodeModules, "node_modules")) + " node_modules\n"
			}
		case "js":
			m := jsHeader.FindStringSubmatch(body)
			if m == nil {
				t.Errorf("README line %d: a js example must start with %q so that it can be run", e.line, "// FILE.js — run: COMMAND")
				continue
			}
			if !haveNode {
				nodeModules, haveNode = nodeModulesFor(t)
			}
			if !haveNode {
				continue
			}
			body = fmt.Sprintf("cat > %s <<'README_JS'\n%sREADME_JS\n%s\n", m[1], body, m[2])
		default:
			continue // a fragment: a descriptor, a configuration, a response
		}
		ran[e.name] = true
		fmt.Fprintf(&script, "printf '\\n@@@ %s @@@\\n'\n%s", e.name, body)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", script.String())
	cmd.Dir = root
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "XSUAA_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "XSUAA_SERVER=http://"+httpAddr)
	// The servers run in the script's process group: whatever happens, the
	// test stops them.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	t.Cleanup(func() {
		if cmd.Process != nil {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
	})
	raw, err := cmd.CombinedOutput()
	out := string(raw)
	t.Logf("output:\n%s", out)
	if err != nil {
		for _, log := range []string{"xsuaa.log", "replica-1.log", "replica-2.log", "approuter.log"} {
			if b, err := os.ReadFile(filepath.Join(play, log)); err == nil {
				t.Logf("%s:\n%s", log, b)
			}
		}
		t.Fatalf("the README, run in order, failed: %v", err)
	}

	outputs := map[string]string{}
	for _, part := range strings.Split(out, "\n@@@ ")[1:] {
		name, text, _ := strings.Cut(part, " @@@\n")
		outputs[name] = text
	}
	checks := []struct {
		block    string
		contains []string
		endsWith string
		node     bool
		postgres bool
	}{
		{block: "five-minutes", contains: []string{`["hello!t1.Read","uaa.resource"]`}, endsWith: "Verified OK"},
		{block: "walkthrough", contains: []string{
			`"access_token":"ey`,            // step 3, form body
			"orders!t1.Read uaa.resource\n", // step 3, Basic
			`"cid": "sb-orders!t1"`,         // step 4, decoded claims
			`"aud": [`,
			`"kid":"default-jwt-key-`, // step 5
		}, endsWith: "401"},
		{block: "xssec", endsWith: "client sb-orders!t1 Read: true", node: true},
		{block: "cli", contains: []string{
			"xsappname: bookshop!t1",
			`["bookshop!t1.Read","uaa.resource"]`,
			"bearer\n",
			"bindings/bookshop-xsuaa/.metadata",
		}},
		{block: "xsenv", endsWith: "sb-bookshop!t1 bookshop!t1.Read uaa.resource", node: true},
		{block: "cli-cleanup", contains: []string{"Unbound service bookshop-xsuaa", "Deleted service bookshop-xsuaa", "active"}},
		{block: "users", contains: []string{
			"Assigned role collection Store_Viewer to user alice.",
			"openid store!t1.Display uaa.user\nopenid store!t1.Display uaa.user\n", // the password grant, then the refresh
		}, endsWith: `{"user_name":"alice","email":"alice@example.com","user_attributes":{"Country":["DE"]}}`},
		{block: "approuter-run", contains: []string{"<h1>Welcome to the store</h1>"},
			endsWith: `{"name":"alice","scopes":["openid","store!t1.Display","uaa.user"]}`},
		{block: "subscribe", contains: []string{"Subscribed zone tenant-one", "tenant-one 200\ntenant-two 401\n", "Market_Reader", "market!t1.Reader"}},
		{block: "subscribe-callbacks", contains: []string{
			"Application URL of the tenant: http://tenant-two.market.localhost:5001/",
			"tenant-two 200\n",
			"Unsubscribed zone tenant-two from service instance market-xsuaa.",
			"GET /callback/v1.0/dependencies sb-tenant-onboarding!t2",
			`"subscribedSubdomain":"tenant-two"`,
			"DELETE /callback/v1.0/tenants/",
		}, node: true},
		{block: "x509", contains: []string{
			`"token_type":"bearer"`, // step 3
			`"x5t#S256": "`,         // step 3, the cnf claim
			"subject=",              // step 4, openssl pkcs12 -info
			"bearer\n",              // step 4, curl with the keystore
		}, endsWith: "401"},
		{block: "x509-self-managed", endsWith: "bearer"},
		{block: "credentials", contains: []string{
			"instance-secret instance-secret same secret\n",
			"hidden: true\n",
			"shared-key-1 200\nshared-key-2 200\n",
			"shared-key-1 401\nshared-key-2 200\n",
		}, endsWith: "after the update: shared-key-2 401, app-a 200"},
		{block: "grants", endsWith: `{"scope":["app!t1.JOBSCHEDULER","uaa.resource"],"aud":["app!t1","uaa","sb-scheduler!t1"]}`},
		{block: "reuse", contains: []string{
			"!b1|jobscheduler!b1\n", // step 2: the clone's client id
			`["jobs-app!t1.JOBSCHEDULER","uaa.resource"]`,
			"Deleted clone my-jobscheduler",
		}, endsWith: "the clone's credentials no longer work"},
		{block: "clones", contains: []string{`"clientid":"sb-consumer-42!b1|jobscheduler!b1"`}, endsWith: "{}"},
		{block: "replicas", contains: []string{"is at schema version"}, endsWith: "200\n401", postgres: true},
	}
	for _, c := range checks {
		if (c.node && !haveNode) || (c.postgres && dbURL == "") {
			continue
		}
		if !ran[c.block] {
			t.Errorf("README has no runnable block <!-- %s -->", c.block)
			continue
		}
		got := outputs[c.block]
		for _, want := range c.contains {
			if !strings.Contains(got, want) {
				t.Errorf("README block %s: output lacks %q:\n%s", c.block, want, got)
			}
		}
		if !strings.HasSuffix(strings.TrimSpace(got), c.endsWith) {
			t.Errorf("README block %s: output ends in %q, want %q", c.block, lastLines(got, 2), c.endsWith)
		}
	}

	// What the reader was told about files.
	serverLog, _ := os.ReadFile(filepath.Join(play, "xsuaa.log"))
	if !strings.Contains(string(serverLog), "Generated service broker credentials") {
		t.Errorf("the first start did not print the generated broker credentials:\n%s", serverLog)
	}
	for _, f := range []string{"xsuaa.db", "master.key", "broker-credentials.json"} {
		if fi, err := os.Stat(filepath.Join(play, "xsuaa-data", f)); err != nil {
			t.Error(err)
		} else if fi.Mode().Perm() != 0o600 {
			t.Errorf("xsuaa-data/%s has mode %v, want 0600", f, fi.Mode().Perm())
		}
	}
	// Everything the examples wrote is ignored by git, should a reader run
	// them in the repository root instead.
	entries, err := os.ReadDir(play)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() {
			name += "/"
		}
		check := exec.Command("git", "check-ignore", "-q", "--no-index", name)
		check.Dir = root
		if err := check.Run(); err != nil {
			t.Errorf("the README's examples write %s, which .gitignore does not cover (git check-ignore: %v)", name, err)
		}
	}
	if dbURL != "" {
		for _, f := range []string{"master.key", "broker-credentials.json", "xsuaa.db"} {
			if _, err := os.Stat(filepath.Join(play, "replica-1", f)); err == nil {
				t.Errorf("a replica on PostgreSQL wrote %s into its data directory", f)
			}
		}
	}
}

// nodeModulesFor returns a directory with node_modules holding SAP's
// libraries (CI's, or installed with npm), or false when node is missing
// outside CI.
func nodeModulesFor(t *testing.T) (string, bool) {
	_, modules, ok := needNode(t)
	if !ok {
		t.Log("node and npm are missing: the README's Node.js examples are not run")
	}
	return modules, ok
}

// npmPrefix reads the directory of npm install --prefix DIR.
var npmPrefix = regexp.MustCompile(`--prefix (\S+)`)

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
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
