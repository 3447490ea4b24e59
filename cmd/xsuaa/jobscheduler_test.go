package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestJobSchedulingReuseService runs SAP's Job Scheduling scenario end to
// end, the way it works on SAP BTP: the reuse service owns an xsuaa
// instance on the broker plan; each consumer's Job Scheduling instance gets
// a clone of it (made here with xsuaa create-clone, acting as the reuse
// service's broker, once with the broker binding's secret and once with its
// certificate); the application grants its scope to
// $XSSERVICENAME(<the consumer's instance>); the clone fetches its token
// with curl (Basic at url, or its certificate at certurl), and the
// application — the security guide's own code with @sap/xssec 3, and the
// same with @sap/xssec 4 — accepts it.
func TestJobSchedulingReuseService(t *testing.T) {
	needTools(t, "curl")
	s := startServer(t, "")
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}

	// The reuse service's own xsuaa instance (broker plan) and two keys.
	s.ok("create-service", "jobscheduler-uaa", "-p", "broker", "-c",
		`{"xsappname":"jobscheduler","authorities":["$ACCEPT_GRANTED_AUTHORITIES"],"oauth2-configuration":{"credential-types":["binding-secret","x509"]}}`)
	brokerSecret := file("broker-secret.json", s.ok("create-service-key", "jobscheduler-uaa", "broker-secret"))
	brokerCert := file("broker-cert.json", s.ok("create-service-key", "jobscheduler-uaa", "broker-cert", "-c", `{"credential-type":"x509"}`))

	// A consumer instance my-jobscheduler: its clone, made with the broker's
	// secret; another, my-jobscheduler-x509, made with the broker's
	// certificate, whose clone authenticates with a certificate too.
	cloneSecret := file("clone-secret.json", s.ok("create-clone", "-k", brokerSecret, "my-jobscheduler"))
	cloneCert := file("clone-cert.json", s.ok("create-clone", "-k", brokerCert, "my-jobscheduler-x509", "-c", `{"credential-type":"x509"}`))
	var cs, cc map[string]any
	json.Unmarshal([]byte(readFile(t, cloneSecret)), &cs)
	json.Unmarshal([]byte(readFile(t, cloneCert)), &cc)
	if !strings.HasSuffix(fmt.Sprint(cs["xsappname"]), "!b1|jobscheduler!b1") || cs["clientsecret"] == nil || cc["credential-type"] != "x509" || cc["key"] == nil {
		t.Fatalf("clone credentials: %v / %v", cs, cc)
	}

	// The application grants its scope to both consumer instances by name,
	// after the clones exist.
	s.ok("create-service", "myapp", "-c", `{"xsappname":"myapp","scopes":[{"name":"$XSAPPNAME.JOBSCHEDULER",
		"grant-as-authority-to-apps":["$XSSERVICENAME(my-jobscheduler)","$XSSERVICENAME(my-jobscheduler-x509)"]}]}`)
	appKey := s.ok("create-service-key", "myapp", "app-key")

	// The clones' tokens, fetched with curl as a Job Scheduling instance
	// would: the secret as Basic at url, the certificate at certurl.
	tokenSecret := curlToken(t, s, "-u", fmt.Sprintf("%s:%s", cs["clientid"], cs["clientsecret"]), fmt.Sprint(cs["url"])+"/oauth/token", "-d", "grant_type=client_credentials")
	certFile, keyFile := file("clone.pem", fmt.Sprint(cc["certificate"])), file("clone.key", fmt.Sprint(cc["key"]))
	tokenCert := curlToken(t, s, "--cert", certFile, "--key", keyFile, fmt.Sprint(cc["certurl"])+"/oauth/token",
		"-d", "grant_type=client_credentials", "--data-urlencode", fmt.Sprintf("client_id=%s", cc["clientid"]))
	for name, tok := range map[string]string{"secret": tokenSecret, "certificate": tokenCert} {
		if scopes := claimStrings(t, tok, "scope"); !slices.Contains(scopes, "myapp!t1.JOBSCHEDULER") {
			t.Errorf("the clone's token (%s) has scopes %q, want myapp!t1.JOBSCHEDULER", name, scopes)
		}
	}
	// The application's own token is valid for it but carries no grant.
	appKeyFile := file("app-key.json", appKey)
	ownToken := curlToken(t, s, "-u", clientIDSecret(t, appKeyFile), fmt.Sprint(cs["url"])+"/oauth/token", "-d", "grant_type=client_credentials")
	// The reuse service's own token is for another audience.
	brokerToken := curlToken(t, s, "-u", clientIDSecret(t, brokerSecret), fmt.Sprint(cs["url"])+"/oauth/token", "-d", "grant_type=client_credentials")
	parts := strings.Split(tokenSecret, ".")
	parts[1] = strings.TrimRight(base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(decodeSegment(t, parts[1]), `"exp":`, `"exp":1`, 1))), "=")
	tampered := strings.Join(parts, ".")

	t.Run("the security guide's application", func(t *testing.T) {
		for _, v := range []struct{ script, major string }{{"jobscheduler/app-xssec3.js", "3"}, {"jobscheduler/app-xssec4.js", "4"}} {
			t.Run("xssec"+v.major, func(t *testing.T) {
				node, modules, ok := needJobModules(t, v.major)
				if !ok {
					t.Skip("node and npm are needed; set XSUAA_REQUIRE_NODE=1 to make this fatal")
				}
				app := startNodeApp(t, s, node, modules, v.script, appKey)
				for _, tc := range []struct {
					name, token string
					want        int
				}{
					{"the clone's token (secret)", tokenSecret, 200},
					{"the clone's token (certificate)", tokenCert, 200},
					{"a token without the grant", ownToken, 403},
					{"a token for another audience", brokerToken, 401},
					{"a tampered token", tampered, 401},
					{"no token", "", 401},
				} {
					if got := postWithToken(t, app+"/api/process", tc.token); got != tc.want {
						t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
					}
				}
			})
		}
	})

	t.Run("grant before the clone exists", func(t *testing.T) {
		// The clone's runtime name is known beforehand: the CLI derives its
		// id from the broker's client id, org, space and the consumer name.
		id := uuid.NewSHA1(uuid.NameSpaceURL, []byte("xsuaa-clone:"+clientIDOf(t, brokerSecret)+"/xsuaa-cli-org/xsuaa-cli-space/later")).String()
		s.ok("create-service", "early-app", "-c", `{"xsappname":"early","scopes":[{"name":"$XSAPPNAME.JOBSCHEDULER",
			"grant-as-authority-to-apps":["$XSAPPNAME(application,`+id+`!b1|jobscheduler!b1)"]}]}`)
		later := file("later.json", s.ok("create-clone", "-k", brokerSecret, "later"))
		tok := curlToken(t, s, "-u", clientIDSecret(t, later), fmt.Sprint(cs["url"])+"/oauth/token", "-d", "grant_type=client_credentials")
		if scopes := claimStrings(t, tok, "scope"); !slices.Contains(scopes, "early!t1.JOBSCHEDULER") {
			t.Errorf("clone created after the grant: scopes %q", scopes)
		}
	})

	t.Run("the broker instance stops accepting", func(t *testing.T) {
		s.ok("update-service", "jobscheduler-uaa", "-c", `{"xsappname":"jobscheduler","oauth2-configuration":{"credential-types":["binding-secret","x509"]}}`)
		tok := curlToken(t, s, "-u", clientIDSecret(t, cloneSecret), fmt.Sprint(cs["url"])+"/oauth/token", "-d", "grant_type=client_credentials")
		if scopes := claimStrings(t, tok, "scope"); slices.Contains(scopes, "myapp!t1.JOBSCHEDULER") {
			t.Errorf("after the broker instance stopped accepting grants: scopes %q", scopes)
		}
		s.ok("update-service", "jobscheduler-uaa", "-c", `{"xsappname":"jobscheduler","authorities":["$ACCEPT_GRANTED_AUTHORITIES"],"oauth2-configuration":{"credential-types":["binding-secret","x509"]}}`)
		tok = curlToken(t, s, "-u", clientIDSecret(t, cloneSecret), fmt.Sprint(cs["url"])+"/oauth/token", "-d", "grant_type=client_credentials")
		if scopes := claimStrings(t, tok, "scope"); !slices.Contains(scopes, "myapp!t1.JOBSCHEDULER") {
			t.Errorf("after it accepts again: scopes %q", scopes)
		}
	})

	t.Run("requests the clone API refuses", func(t *testing.T) {
		for _, tc := range []struct{ params, want string }{
			{`{"credential-type":"x509","bogus":1}`, `unknown field "bogus"`},
			{`{"key-length":4096}`, "key-length: belongs inside the x509 object"},
			{`{"x509":{"validity":2}}`, `add "credential-type": "x509"`},
			{`{"credential-type":"instance-secret"}`, `a clone takes "binding-secret" or "x509"`},
			{`{"credential-type":"x509","x509":{"certificate":"-----BEGIN CERTIFICATE-----"}}`, "comes from the server's CA"},
			{`{"authorities":"JOBSCHEDULER"}`, "authorities: must be an array"},
		} {
			r := s.cli("create-clone", "-k", brokerSecret, "refused", "-c", tc.params)
			if r.code != 1 || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("create-clone -c %s: exit %d, %q; want 1 and %q", tc.params, r.code, r.stderr, tc.want)
			}
		}
	})

	t.Run("ambiguous and unknown names", func(t *testing.T) {
		// An xsuaa instance with the consumer instance's name in the same space.
		s.ok("create-service", "my-jobscheduler", "-c", `{"xsappname":"namesake"}`)
		r := s.cli("create-service", "twice-app", "-c", `{"xsappname":"twice","scopes":[{"name":"$XSAPPNAME.X","grant-as-authority-to-apps":["$XSSERVICENAME(my-jobscheduler)"]}]}`)
		if r.code != 1 || !strings.Contains(r.stderr, `2 service instances named "my-jobscheduler"`) {
			t.Errorf("ambiguous $XSSERVICENAME: exit %d, %q", r.code, r.stderr)
		}
		s.ok("delete-service", "my-jobscheduler", "-f")
		r = s.cli("update-service", "myapp", "-c", `{"xsappname":"myapp","scopes":[{"name":"$XSAPPNAME.JOBSCHEDULER","grant-as-authority-to-apps":["$XSSERVICENAME(nobody)"]}]}`)
		if r.code != 1 || !strings.Contains(r.stderr, `no service instance named "nobody"`) || strings.Count(r.stderr, "invalid xs-security.json") != 1 {
			t.Errorf("unknown $XSSERVICENAME in an update: exit %d, %q; want the problem named once", r.code, r.stderr)
		}
		// The audit log says it once too.
		found := false
		for _, line := range strings.Split(s.logs.String(), "\n") {
			if strings.Contains(line, `"event":"instance.updated"`) && strings.Contains(line, "nobody") {
				found = true
				if n := strings.Count(line, "invalid xs-security.json"); n != 1 {
					t.Errorf("audit line names the descriptor %d times: %s", n, line)
				}
			}
		}
		if !found {
			t.Error("no audit line for the refused update")
		}
	})

	t.Run("clone deleted", func(t *testing.T) {
		s.ok("delete-clone", "-k", brokerCert, "my-jobscheduler-x509")
		code, _ := curlStatus(t, s, "--cert", certFile, "--key", keyFile, fmt.Sprint(cc["certurl"])+"/oauth/token",
			"-d", "grant_type=client_credentials", "--data-urlencode", fmt.Sprintf("client_id=%s", cc["clientid"]))
		if code != 401 {
			t.Errorf("the deleted clone's certificate: %d, want 401", code)
		}
		s.ok("delete-clone", "-k", brokerSecret, "my-jobscheduler")
		if code, _ := curlStatus(t, s, "-u", clientIDSecret(t, cloneSecret), fmt.Sprint(cs["url"])+"/oauth/token", "-d", "grant_type=client_credentials"); code != 401 {
			t.Errorf("the deleted clone's secret: %d, want 401", code)
		}
	})
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// clientIDOf and clientIDSecret read a credentials file.
func clientIDOf(t *testing.T, path string) string {
	t.Helper()
	var c map[string]any
	json.Unmarshal([]byte(readFile(t, path)), &c)
	return fmt.Sprint(c["clientid"])
}

func clientIDSecret(t *testing.T, path string) string {
	t.Helper()
	var c map[string]any
	json.Unmarshal([]byte(readFile(t, path)), &c)
	return fmt.Sprintf("%s:%s", c["clientid"], c["clientsecret"])
}

// curlStatus runs curl with args, trusting the server's CA, and returns
// the HTTP status and body.
func curlStatus(t *testing.T, s *testServer, args ...string) (int, string) {
	t.Helper()
	args = append([]string{"-s", "--cacert", filepath.Join(s.dataDir, "ca.pem"), "-w", "\n%{http_code}"}, args...)
	out, err := exec.Command("curl", args...).Output()
	if err != nil {
		t.Fatalf("curl %q: %v", args, err)
	}
	body, status, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	if !strings.Contains(string(out), "\n") {
		body, status = "", strings.TrimSpace(string(out))
	}
	var code int
	fmt.Sscan(status, &code)
	return code, body
}

// curlToken fetches a token with curl and returns the access token.
func curlToken(t *testing.T, s *testServer, args ...string) string {
	t.Helper()
	code, body := curlStatus(t, s, args...)
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	if code != 200 || json.Unmarshal([]byte(body), &tr) != nil || tr.AccessToken == "" {
		t.Fatalf("curl token: %d %s", code, body)
	}
	return tr.AccessToken
}

func decodeSegment(t *testing.T, seg string) string {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// claimStrings returns a token's claim that is an array of strings.
func claimStrings(t *testing.T, token, claim string) []string {
	t.Helper()
	var claims map[string]any
	json.Unmarshal([]byte(decodeSegment(t, strings.Split(token, ".")[1])), &claims)
	var out []string
	for _, v := range claims[claim].([]any) {
		out = append(out, v.(string))
	}
	return out
}

// needJobModules returns node and a directory whose node_modules holds
// @sap/xssec of the given major version, @sap/xsenv, express and passport:
// XSUAA_NODE_MODULES (version 4) or XSUAA_NODE3_MODULES (version 3) when
// they hold them, else a fresh npm install.
func needJobModules(t *testing.T, major string) (node, modules string, ok bool) {
	t.Helper()
	node, _, ok = needNode(t)
	if !ok {
		return "", "", false
	}
	env := map[string]string{"3": "XSUAA_NODE3_MODULES", "4": "XSUAA_NODE_MODULES"}[major]
	has := func(dir string) bool {
		var pkg struct{ Version string }
		b, err := os.ReadFile(filepath.Join(dir, "node_modules", "@sap", "xssec", "package.json"))
		_, errE := os.Stat(filepath.Join(dir, "node_modules", "express"))
		_, errP := os.Stat(filepath.Join(dir, "node_modules", "passport"))
		return err == nil && json.Unmarshal(b, &pkg) == nil && strings.HasPrefix(pkg.Version, major+".") && errE == nil && errP == nil
	}
	if dir := os.Getenv(env); dir != "" {
		// Accept both the prefix directory and its node_modules.
		for _, d := range []string{dir, filepath.Dir(dir)} {
			if has(d) {
				return node, d, true
			}
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s does not hold @sap/xssec@%s, @sap/xsenv, express and passport (.ci/run installs them)", env, major)
	}
	npm, _ := exec.LookPath("npm")
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "install", "--no-audit", "--no-fund", "--no-save", "--prefix", dir, "@sap/xssec@"+major, "@sap/xsenv", "express", "passport")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm install: %v\n%s", err, out)
	}
	return node, dir, true
}

// startNodeApp starts testdata/jobscheduler/<script> bound to the xsuaa
// binding creds (VCAP_SERVICES, as Cloud Foundry sets it) and returns its
// base URL.
func startNodeApp(t *testing.T, s *testServer, node, modules, script, creds string) string {
	t.Helper()
	path, err := filepath.Abs(filepath.Join("../../testdata", script))
	if err != nil {
		t.Fatal(err)
	}
	vcap, _ := json.Marshal(map[string]any{"xsuaa": []map[string]any{{
		"label": "xsuaa", "name": "myapp", "plan": "application", "tags": []string{"xsuaa"}, "credentials": json.RawMessage(creds),
	}}})
	cmd := exec.Command(node, path)
	cmd.Env = append(os.Environ(), "NODE_PATH="+filepath.Join(modules, "node_modules"),
		"NODE_EXTRA_CA_CERTS="+filepath.Join(s.dataDir, "ca.pem"), "VCAP_SERVICES="+string(vcap))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	port := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if p, ok := strings.CutPrefix(sc.Text(), "listening "); ok {
				port <- p
			}
		}
		io.Copy(io.Discard, out)
	}()
	select {
	case p := <-port:
		return "http://127.0.0.1:" + p
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not start: %s", script, logs)
	}
	return ""
}

// postWithToken posts an empty JSON body with a bearer token and returns
// the status.
func postWithToken(t *testing.T, url, token string) int {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader("{}"))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
