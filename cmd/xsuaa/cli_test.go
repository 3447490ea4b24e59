package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// The CLI tests run the built binary's client commands against a real
// server, as a user would in a shell.

// cliResult is one CLI run.
type cliResult struct {
	stdout, stderr string
	code           int
}

// cli runs "xsuaa args..." against s with the broker credentials in the
// environment and the server's data dir for its CA.
func (s *testServer) cli(args ...string) cliResult {
	s.t.Helper()
	return s.cliEnv(nil, args...)
}

func (s *testServer) cliEnv(env []string, args ...string) cliResult {
	s.t.Helper()
	cmd := exec.Command(binPath, args...)
	cmd.Env = append(append(os.Environ(), "XSUAA_SERVER="+s.httpURL), apiCredentialsEnv()...)
	cmd.Env = append(cmd.Env, env...)
	if !slices.Contains(args, "--data-dir") {
		cmd.Args = append(cmd.Args, "--data-dir", s.dataDir)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		s.t.Fatal(err)
	}
	return cliResult{out.String(), errb.String(), code}
}

// ok runs a command that must succeed and returns its output.
func (s *testServer) ok(args ...string) string {
	s.t.Helper()
	r := s.cli(args...)
	if r.code != 0 {
		s.t.Fatalf("xsuaa %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// fails runs a command that must fail with code and a one-line message
// containing every want.
func (s *testServer) fails(code int, wants []string, args ...string) {
	s.t.Helper()
	r := s.cli(args...)
	if r.code != code {
		s.t.Errorf("xsuaa %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, code, r.stdout, r.stderr)
		return
	}
	msg := strings.TrimSpace(r.stderr)
	if code == 1 && strings.Count(msg, "\n") != 0 {
		s.t.Errorf("xsuaa %s: error is not one line:\n%s", strings.Join(args, " "), msg)
	}
	for _, w := range wants {
		if !strings.Contains(msg, w) {
			s.t.Errorf("xsuaa %s: error %q does not mention %q", strings.Join(args, " "), msg, w)
		}
	}
}

// okJSON runs a command with --json and decodes its output.
func (s *testServer) okJSON(v any, args ...string) {
	s.t.Helper()
	out := s.ok(append(args, "--json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		s.t.Fatalf("xsuaa %s --json: %v\n%s", strings.Join(args, " "), err, out)
	}
}

const cliDescriptor = `{"xsappname":"orders","tenant-mode":"dedicated",
 "scopes":[{"name":"$XSAPPNAME.Read","description":"read"}],
 "authorities":["$XSAPPNAME.Read"],
 "oauth2-configuration":{"credential-types":["binding-secret","x509"]}}`

const cliDescriptorV2 = `{"xsappname":"orders","tenant-mode":"dedicated",
 "scopes":[{"name":"$XSAPPNAME.Read","description":"read"},{"name":"$XSAPPNAME.Write","description":"write"}],
 "authorities":["$XSAPPNAME.Read","$XSAPPNAME.Write"],
 "oauth2-configuration":{"credential-types":["binding-secret","x509"]}}`

type cliInstance struct {
	ID, Name, Plan, XSAppName, ClientID string
	Bindings                            int
	Scopes, Authorities                 []string
	BindingList                         []struct{ ID, Name, AppGUID, CredentialType string } `json:"binding_list"`
}

type cliToken struct {
	Header map[string]any
	Claims map[string]any
}

// TestCLIWorkflow walks the cf-style workflow end to end: create, list,
// update, keys, tokens, bindings in both local formats, unbind, delete.
func TestCLIWorkflow(t *testing.T) {
	s := startServer(t, "")
	dir := t.TempDir()
	desc := filepath.Join(dir, "xs-security.json")
	os.WriteFile(desc, []byte(cliDescriptor), 0o644)

	// Help and usage.
	if r := s.cli("--help"); r.code != 0 || !strings.Contains(r.stdout, "create-service-key") {
		t.Errorf("xsuaa --help: exit %d, %s", r.code, r.stdout)
	}
	for _, c := range commands {
		if r := s.cli(c.name, "--help"); r.code != 0 || !strings.Contains(r.stdout, "Usage: xsuaa "+c.name) || !strings.Contains(r.stdout, "-json") || r.stderr != "" {
			t.Errorf("xsuaa %s --help: exit %d, stdout %q, stderr %q; want the usage on stdout and exit 0", c.name, r.code, r.stdout, r.stderr)
		}
	}
	s.fails(2, []string{"unknown command"}, "frobnicate")
	s.fails(2, []string{"create-service takes"}, "create-service")
	s.fails(2, []string{"-c is required"}, "create-service", "x")
	s.fails(2, []string{"not a JSON object"}, "create-service", "x", "-c", "{broken")

	// Create: file and inline JSON, the cf form, and errors naming the problem.
	out := s.ok("create-service", "my-orders", "-c", desc)
	if !strings.Contains(out, "orders!t1") || !strings.Contains(out, "sb-orders!t1") {
		t.Errorf("create-service output lacks the xsappname/clientid:\n%s", out)
	}
	s.ok("create-service", "xsuaa", "broker", "my-broker", "-c", `{"xsappname":"reuse","scopes":[{"name":"$XSAPPNAME.Use"}]}`)
	s.fails(1, []string{`service "my-orders" already exists`}, "create-service", "my-orders", "-c", desc)
	s.fails(1, []string{"scopez", "400"}, "create-service", "bad", "-c", `{"xsappname":"bad","scopez":[]}`)
	s.fails(1, []string{"not found"}, "service", "no-such-service")

	var list []cliInstance
	s.okJSON(&list, "services")
	if len(list) != 2 || list[0].Name != "my-orders" || list[0].XSAppName != "orders!t1" || list[1].Plan != "broker" || list[1].XSAppName != "reuse!b1" {
		t.Errorf("services --json = %+v", list)
	}
	if out := s.ok("services"); !strings.Contains(out, "NAME") || !strings.Contains(out, "reuse!b1") {
		t.Errorf("services table:\n%s", out)
	}

	// Update.
	os.WriteFile(desc, []byte(cliDescriptorV2), 0o644)
	s.ok("update-service", "my-orders", "-c", desc)
	var in cliInstance
	s.okJSON(&in, "service", "my-orders")
	if !slices.Contains(in.Scopes, "orders!t1.Write") || !slices.Contains(in.Authorities, "orders!t1.Write") {
		t.Errorf("after update-service, service --json = %+v", in)
	}
	s.fails(1, []string{"Cannot change AppId"}, "update-service", "my-orders", "-c", `{"xsappname":"renamed"}`)

	// Service keys: secret and x509.
	out = s.ok("create-service-key", "my-orders", "k1")
	var k1 map[string]any
	if err := json.Unmarshal([]byte(out), &k1); err != nil || k1["clientsecret"] == "" || k1["clientid"] != "sb-orders!t1" {
		t.Fatalf("create-service-key printed %s (%v)", out, err)
	}
	k1File := filepath.Join(dir, "k1.json")
	os.WriteFile(k1File, []byte(out), 0o600)
	s.fails(1, []string{`already has a key "k1"`}, "create-service-key", "my-orders", "k1")
	kxOut := s.ok("create-service-key", "my-orders", "kx", "-c", `{"credential-type":"x509"}`)
	kxFile := filepath.Join(dir, "kx.json")
	os.WriteFile(kxFile, []byte(kxOut), 0o600)
	if out := s.ok("service-key", "my-orders", "k1"); !strings.Contains(out, k1["clientsecret"].(string)) {
		t.Errorf("service-key does not return the key's secret:\n%s", out)
	}
	var keyList []struct {
		Name           string
		CredentialType string `json:"credential_type"`
	}
	s.okJSON(&keyList, "service-keys", "my-orders")
	if len(keyList) != 2 || keyList[0].Name != "k1" || keyList[1].Name != "kx" || keyList[1].CredentialType != "x509" {
		t.Errorf("service-keys --json = %+v", keyList)
	}

	// Tokens: by name, from a credentials file, with a certificate.
	var tok cliToken
	s.okJSON(&tok, "token", "my-orders", "k1", "--decode")
	if tok.Claims["client_id"] != "sb-orders!t1" || !contains(strings.Join(toStrings(tok.Claims["scope"]), " "), "orders!t1.Write") || tok.Header["alg"] != "RS256" {
		t.Errorf("token --decode = %+v", tok)
	}
	var resp map[string]any
	s.okJSON(&resp, "token", "-k", k1File)
	if resp["token_type"] != "bearer" || resp["access_token"] == "" {
		t.Errorf("token -k = %v", resp)
	}
	s.okJSON(&tok, "token", "-k", kxFile, "--decode")
	if cnf, _ := tok.Claims["cnf"].(map[string]any); cnf["x5t#S256"] == nil {
		t.Errorf("token with the x509 key has no cnf.x5t#S256: %+v", tok.Claims)
	}
	// By name too: the service key's certificate comes with its key.
	if r := s.cli("token", "my-orders", "kx"); r.code != 0 || !strings.Contains(r.stdout, "access_token") {
		t.Errorf("token my-orders kx (an x509 service key): exit %d, %s %s", r.code, r.stdout, r.stderr)
	}
	s.fails(2, []string{"-k CREDENTIALS_FILE or NAME KEY"}, "token")

	// Bindings written into a default-env.json, merged with what is there.
	envFile := filepath.Join(dir, "default-env.json")
	os.WriteFile(envFile, []byte(`{"PORT":5000,"VCAP_SERVICES":{"destination":[{"name":"dest","label":"destination","credentials":{"uri":"x"}}]}}`), 0o644)
	s.ok("bind-service", "my-orders", "--vcap", envFile)
	env := readEnv(t, envFile)
	if env.Port != 5000 || len(env.VCAP["destination"]) != 1 || len(env.VCAP["xsuaa"]) != 1 {
		t.Fatalf("default-env.json after bind-service = %+v", env)
	}
	x := env.VCAP["xsuaa"][0]
	if x.Name != "my-orders" || x.Label != "xsuaa" || !slices.Contains(x.Tags, "xsuaa") || x.Plan != "application" || x.Credentials["clientsecret"] == nil || x.BindingGUID == "" {
		t.Errorf("xsuaa entry = %+v", x)
	}
	if st, _ := os.Stat(envFile); st.Mode().Perm() != 0o600 {
		t.Errorf("default-env.json mode %v, want 0600 (it holds a secret)", st.Mode().Perm())
	}
	s.okJSON(&resp, "token", "-k", envFile)
	s.fails(1, []string{"already bound"}, "bind-service", "my-orders", "--vcap", envFile)

	// ... and as a servicebinding.io directory, with an x509 credential.
	root := filepath.Join(dir, "bindings")
	s.ok("bind-service", "my-orders", "--app", "worker", "--binding-root", root, "-c", `{"credential-type":"x509"}`)
	for _, f := range []string{".metadata", "clientid", "certificate", "key", "certurl", "type", "tags", "label", "plan", "instance_name", "binding_guid"} {
		if _, err := os.Stat(filepath.Join(root, "my-orders", f)); err != nil {
			t.Errorf("binding directory lacks %s: %v", f, err)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(root, "my-orders", "type")); string(b) != "xsuaa" {
		t.Errorf("type file = %q", b)
	}
	s.fails(2, []string{"exactly one of --vcap FILE and --binding-root DIR"}, "bind-service", "my-orders")
	s.fails(1, []string{"already holds binding", "unbind-service --binding-root"}, "bind-service", "my-orders", "--app", "third", "--binding-root", root)
	s.fails(1, []string{"already holds binding", "unbind-service --vcap"}, "bind-service", "my-orders", "--app", "third", "--vcap", envFile)

	s.okJSON(&in, "service", "my-orders")
	if in.Bindings != 4 {
		t.Errorf("service shows %d bindings, want 4 (2 keys, 2 app bindings): %+v", in.Bindings, in.BindingList)
	}
	if out := s.ok("service", "my-orders"); !strings.Contains(out, "worker") || !strings.Contains(out, "k1") {
		t.Errorf("service output lacks bindings:\n%s", out)
	}
	s.fails(1, []string{"4 key(s) or binding(s)", "-f"}, "delete-service", "my-orders")

	// Unbind: the file loses the entry (and keeps the rest), the secret dies.
	bound, _ := os.ReadFile(envFile)
	s.ok("unbind-service", "my-orders", "--vcap", envFile)
	env = readEnv(t, envFile)
	if env.Port != 5000 || len(env.VCAP["destination"]) != 1 || len(env.VCAP["xsuaa"]) != 0 {
		t.Errorf("default-env.json after unbind-service = %+v", env)
	}
	stale := filepath.Join(dir, "stale-env.json")
	os.WriteFile(stale, bound, 0o600)
	s.fails(1, []string{"Bad credentials", "401"}, "token", "-k", stale)
	s.ok("unbind-service", "my-orders", "--app", "worker", "--binding-root", root)
	if _, err := os.Stat(filepath.Join(root, "my-orders")); !os.IsNotExist(err) {
		t.Errorf("binding directory still there after unbind-service: %v", err)
	}

	// Delete a key: its credential stops working (the instance now has
	// only an x509 key, so a secret gets XSUAA's "unsupported credential").
	s.ok("delete-service-key", "my-orders", "k1")
	s.fails(1, []string{"401"}, "token", "-k", k1File)
	s.fails(1, []string{`no service key "k1"`}, "delete-service-key", "my-orders", "k1")

	// Delete: forced while a key remains.
	s.ok("delete-service", "my-orders", "-f")
	s.fails(1, []string{"401"}, "token", "-k", kxFile)
	s.ok("delete-service", "my-broker")
	s.okJSON(&list, "services")
	if len(list) != 0 {
		t.Errorf("services after deleting everything = %+v", list)
	}

	// Broker credentials from the data dir when the environment has none,
	// and a clear error when neither is there.
	if r := s.cliEnv([]string{"XSUAA_BROKER_USER=", "XSUAA_BROKER_PASSWORD="}, "services", "--data-dir", t.TempDir()); r.code != 1 || !strings.Contains(r.stderr, "no broker credentials") {
		t.Errorf("services without credentials: exit %d, %s", r.code, r.stderr)
	}
	if r := s.cliEnv([]string{"XSUAA_ADMIN_PASSWORD=wrong"}, "services"); r.code != 1 || !strings.Contains(r.stderr, "401") || !strings.Contains(r.stderr, "admin") {
		t.Errorf("services with a wrong admin password: exit %d, %s", r.code, r.stderr)
	}
	if r := s.cliEnv([]string{"XSUAA_ADMIN_USER=", "XSUAA_ADMIN_PASSWORD="}, "users", "--data-dir", t.TempDir()); r.code != 1 || !strings.Contains(r.stderr, "no admin credentials") {
		t.Errorf("users without admin credentials: exit %d, %s", r.code, r.stderr)
	}
	if r := s.cliEnv([]string{"XSUAA_BROKER_PASSWORD=wrong"}, "create-service", "x-svc", "-c", `{"xsappname":"xsvc"}`); r.code != 1 || !strings.Contains(r.stderr, "401") {
		t.Errorf("create-service with a wrong broker password: exit %d, %s", r.code, r.stderr)
	}
	// The broker's credentials are not the admin's: with them, the admin
	// API refuses key rotation and user administration.
	if r := s.cliEnv([]string{"XSUAA_ADMIN_USER=" + brokerUser, "XSUAA_ADMIN_PASSWORD=" + brokerPass}, "keys", "rotate"); r.code != 1 || !strings.Contains(r.stderr, "401") {
		t.Errorf("rotate-key with the broker's credentials: exit %d, %s", r.code, r.stderr)
	}
	if r := s.cliEnv([]string{"XSUAA_SERVER=http://127.0.0.1:1"}, "services"); r.code != 1 || !strings.Contains(r.stderr, "cannot reach") {
		t.Errorf("services against no server: exit %d, %s", r.code, r.stderr)
	}
}

type envFileContent struct {
	Port int `json:"PORT"`
	VCAP map[string][]struct {
		Name, Label, Plan string
		Tags              []string
		BindingGUID       string `json:"binding_guid"`
		InstanceGUID      string `json:"instance_guid"`
		InstanceName      string `json:"instance_name"`
		Credentials       map[string]any
	} `json:"VCAP_SERVICES"`
}

func readEnv(t *testing.T, path string) envFileContent {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var e envFileContent
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("%s: %v\n%s", path, err, b)
	}
	return e
}

func toStrings(v any) []string {
	var out []string
	if l, ok := v.([]any); ok {
		for _, x := range l {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
	}
	return out
}

// TestCLIBindingsWithXsenv proves that SAP's @sap/xsenv finds what
// bind-service writes, in both formats, unchanged, and that @sap/xssec
// fetches and accepts a token with it (testdata/xsenv/bindings.js).
func TestCLIBindingsWithXsenv(t *testing.T) {
	node, modules, ok := needNode(t)
	if !ok {
		t.Skip("node and npm are needed to run @sap/xsenv; set XSUAA_REQUIRE_NODE=1 to make this fatal")
	}
	s := startServer(t, "")
	dir := t.TempDir()
	s.ok("create-service", "my-orders", "-c", cliDescriptor)
	envFile := filepath.Join(dir, "default-env.json")
	root := filepath.Join(dir, "bindings")
	s.ok("bind-service", "my-orders", "--vcap", envFile)
	runNodeScript(t, s, node, modules, "xsenv/bindings.js", "vcap", envFile, "my-orders", "sb-orders!t1")
	s.ok("bind-service", "my-orders", "--app", "svc", "--binding-root", root)
	runNodeScript(t, s, node, modules, "xsenv/bindings.js", "dir", root, "my-orders", "sb-orders!t1")
	// An x509 binding directory: xssec does mTLS with the files' certificate and key.
	s.ok("unbind-service", "my-orders", "--app", "svc", "--binding-root", root)
	s.ok("bind-service", "my-orders", "--app", "svc", "--binding-root", root, "-c", `{"credential-type":"x509"}`)
	runNodeScript(t, s, node, modules, "xsenv/bindings.js", "dir", root, "my-orders", "sb-orders!t1")
}

// TestCLIKeyRotation rotates the signing key with the CLI: the new key is
// published at once and signs only after --activate-after; the old key
// stays published, so @sap/xssec accepts tokens of both.
func TestCLIKeyRotation(t *testing.T) {
	s := startServer(t, "")
	s.ok("create-service", "my-orders", "-c", cliDescriptor)
	s.ok("create-service-key", "my-orders", "k1")

	var ks []struct{ KID, State string }
	s.okJSON(&ks, "keys", "list")
	if len(ks) != 1 || ks[0].State != "active" {
		t.Fatalf("keys list = %+v", ks)
	}
	oldKID := ks[0].KID
	var before cliToken
	s.okJSON(&before, "token", "my-orders", "k1", "--decode")
	oldResp := map[string]any{}
	s.okJSON(&oldResp, "token", "my-orders", "k1")

	// Published at once, signing after 3 s.
	var rotated struct{ KID, State string }
	s.okJSON(&rotated, "keys", "rotate", "--activate-after", "3s")
	if rotated.State != "pending" || rotated.KID == oldKID {
		t.Fatalf("keys rotate = %+v", rotated)
	}
	if logs := s.logs.String(); !strings.Contains(logs, `"event":"key.rotated"`) || !strings.Contains(logs, rotated.KID) {
		t.Errorf("the audit log (stderr) has no key.rotated event for %s", rotated.KID)
	}
	code, body, _ := s.do(mustRequest(t, "GET", s.httpURL+"/token_keys"))
	if code != 200 || !strings.Contains(string(body), rotated.KID) || !strings.Contains(string(body), oldKID) {
		t.Errorf("/token_keys right after rotate: %d %s", code, body)
	}
	var tok cliToken
	s.okJSON(&tok, "token", "my-orders", "k1", "--decode")
	if tok.Header["kid"] != oldKID {
		t.Errorf("a token before activation has kid %v, want %s", tok.Header["kid"], oldKID)
	}
	if out := s.ok("keys", "list"); !strings.Contains(out, "pending") || !strings.Contains(out, "active") {
		t.Errorf("keys list:\n%s", out)
	}
	// The server switches by itself when the time comes.
	deadline := time.Now().Add(20 * time.Second)
	for tok.Header["kid"] != rotated.KID && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		s.okJSON(&tok, "token", "my-orders", "k1", "--decode")
	}
	if tok.Header["kid"] != rotated.KID {
		t.Fatalf("tokens still carry kid %v 20 s after the activation time, want %s", tok.Header["kid"], rotated.KID)
	}
	s.okJSON(&ks, "keys", "list")
	if len(ks) != 2 || ks[0].KID != oldKID || ks[0].State != "retired" || ks[1].State != "active" {
		t.Errorf("keys list after activation = %+v", ks)
	}
	// New credentials carry the new verification key.
	var k2 map[string]any
	if err := json.Unmarshal([]byte(s.ok("create-service-key", "my-orders", "k2")), &k2); err != nil {
		t.Fatal(err)
	}
	code, body, _ = s.do(mustRequest(t, "GET", s.httpURL+"/token_key"))
	var active struct{ Kid, Value string }
	json.Unmarshal(body, &active)
	if code != 200 || active.Kid != rotated.KID || k2["verificationkey"] != active.Value {
		t.Errorf("/token_key = %d %s; new key's verificationkey %v", code, body, k2["verificationkey"])
	}
	// A restart keeps both keys and the new one active.
	s.stop()
	s2 := startServer(t, s.dataDir)
	s2.okJSON(&ks, "keys", "list")
	if len(ks) != 2 || ks[1].KID != rotated.KID || ks[1].State != "active" {
		t.Errorf("keys list after restart = %+v", ks)
	}
	s2.fails(1, []string{"activate"}, "keys", "rotate", "--activate-after", "-1s")

	node, modules, ok := needNode(t)
	if !ok {
		t.Log("node/npm missing: skipping the @sap/xssec rotation check")
		return
	}
	var newResp map[string]any
	s2.okJSON(&newResp, "token", "my-orders", "k1")
	k1 := s2.ok("service-key", "my-orders", "k1")
	runNodeScript(t, s2, node, modules, "xssec/rotation.js", writeJSONFile(t, map[string]any{
		"credentials": json.RawMessage(k1), "oldToken": oldResp["access_token"], "newToken": newResp["access_token"],
		"oldKid": oldKID, "newKid": rotated.KID,
	}))
}

func mustRequest(t *testing.T, method, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// TestCLISafety: the CLI never replaces or deletes a directory it did not
// write, and never passes a control character from the server (or from
// an argument echoed back) to the terminal.
func TestCLISafety(t *testing.T) {
	s := startServer(t, "")
	s.ok("create-service", "my-orders", "-c", `{"xsappname":"orders"}`)
	root := t.TempDir()
	mine := filepath.Join(root, "my-orders")
	os.MkdirAll(mine, 0o755)
	os.WriteFile(filepath.Join(mine, "notes.txt"), []byte("keep me"), 0o644)
	s.fails(1, []string{"is not a binding directory that xsuaa wrote", "left alone"}, "bind-service", "my-orders", "--app", "a", "--binding-root", root)
	if b, err := os.ReadFile(filepath.Join(mine, "notes.txt")); err != nil || string(b) != "keep me" {
		t.Errorf("the user's directory after bind-service: %q, %v", b, err)
	}
	// A binding directory the CLI wrote is replaced and removed as before;
	// one whose type file another tool wrote is not removed.
	other := filepath.Join(t.TempDir(), "r")
	s.ok("bind-service", "my-orders", "--app", "b", "--binding-root", other)
	os.WriteFile(filepath.Join(other, "my-orders", "type"), []byte("postgresql"), 0o600)
	s.fails(1, []string{"left alone"}, "unbind-service", "my-orders", "--app", "b", "--binding-root", other)
	if _, err := os.Stat(filepath.Join(other, "my-orders", ".metadata")); err != nil {
		t.Errorf("unbind-service removed a directory it did not recognise: %v", err)
	}

	r := s.cli("service", "no\x1b]0;owned\x07such\x1b[2J")
	if r.code == 0 || strings.ContainsAny(r.stdout+r.stderr, "\x1b\x07") {
		t.Errorf("an unknown service named with escape sequences: exit %d, output %q", r.code, r.stdout+r.stderr)
	}
}

func TestStripControls(t *testing.T) {
	for in, want := range map[string]string{
		"plain text\n\tok":          "plain text\n\tok",
		"red \x1b[31mtext":          "red \uFFFD[31mtext",
		"bell\x07 del\x7f c1\u009b": "bell\uFFFD del\uFFFD c1\uFFFD",
		"bad \xff utf-8":            "bad \uFFFD utf-8",
	} {
		if got := stripControls(in); got != want {
			t.Errorf("stripControls(%q) = %q, want %q", in, got, want)
		}
	}
}
