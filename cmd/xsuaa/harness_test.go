package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/openxsuaa/xsuaa/clients/storage/storagetest"
)

// The end-to-end tests build the real binary once and start it as a child
// process on loopback ports, with a real SQLite file in a temporary data
// directory, and talk to it over real HTTP and TLS sockets.

var binPath string

const (
	brokerUser = "broker"
	brokerPass = "e2e-broker-password"
	adminUser  = "admin"
	adminPass  = "e2e-admin-password"
	serviceID  = "3a9c5a2e-6f0b-4c5e-9b7d-0e1f2a3b4c5d"
	planAppID  = "7c1d2e3f-4a5b-4c6d-8e7f-901a2b3c4d5e"
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "xsuaa-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "xsuaa")
	if out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// The end-to-end tests run against SQLite (the default) or, with
// XSUAA_E2E_BACKEND=postgres, against PostgreSQL (XSUAA_TEST_DATABASE
// names the server; .ci/run runs them both ways). With PostgreSQL, each
// data directory gets a database of its own, so that a restart on the
// same data directory finds its state, and a fixed master key.
//
// postgresE2E reads the variable each time (not once at package
// initialisation), so that go test's cache knows the results depend on it.
func postgresE2E() bool { return os.Getenv("XSUAA_E2E_BACKEND") == "postgres" }

// e2eMasterKey is the master key of PostgreSQL runs.
const e2eMasterKey = "e2e-master-key-0123456789abcdefghij"

var e2eDatabases sync.Map // data dir -> database URL

// backendEnv returns the environment that points a server on dataDir at
// its database.
func backendEnv(t *testing.T, dataDir string) []string {
	if !postgresE2E() {
		return nil
	}
	u, ok := e2eDatabases.Load(dataDir)
	if !ok {
		u, _ = e2eDatabases.LoadOrStore(dataDir, storagetest.PostgresURL(t))
	}
	return []string{"XSUAA_DATABASE=" + u.(string), "XSUAA_MASTER_KEY=" + e2eMasterKey}
}

// sqliteOnly skips a test that is about the SQLite default (its file, or
// the zero-configuration start) when the tests run on PostgreSQL.
func sqliteOnly(t *testing.T, why string) {
	t.Helper()
	if postgresE2E() {
		t.Skip("SQLite only: " + why)
	}
}

// lockedBuffer collects a child's output safely across goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testServer is one running xsuaa process.
type testServer struct {
	t         *testing.T
	cmd       *exec.Cmd
	dataDir   string
	httpURL   string // http://127.0.0.1:<port>
	httpsURL  string // https://localhost:<port>, the public URL
	httpsAddr string
	logs      *lockedBuffer
	stdout    *lockedBuffer
	client    *http.Client // trusts the server's CA
	done      chan struct{}
}

// apiCredentialsEnv is the environment with the tests' broker and admin
// credentials, for servers and the CLI.
func apiCredentialsEnv() []string {
	return []string{"XSUAA_BROKER_USER=" + brokerUser, "XSUAA_BROKER_PASSWORD=" + brokerPass,
		"XSUAA_ADMIN_USER=" + adminUser, "XSUAA_ADMIN_PASSWORD=" + adminPass}
}

// startServer starts xsuaa serve on free loopback ports with dataDir
// ("" for a fresh temporary one) and the test's broker credentials in the
// environment, and waits until it is ready.
func startServer(t *testing.T, dataDir string, extraArgs ...string) *testServer {
	t.Helper()
	return startServerEnv(t, dataDir, apiCredentialsEnv(), extraArgs...)
}

// startServerEnv is startServer with the given extra environment.
func startServerEnv(t *testing.T, dataDir string, env []string, extraArgs ...string) *testServer {
	t.Helper()
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	// The backend's settings first: a test's own environment wins.
	s, err := spawnServer(t, dataDir, append(backendEnv(t, dataDir), env...), extraArgs...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// spawnServer starts xsuaa serve on dataDir with env added to this
// process's environment and waits until it is ready. It does not fail
// the test itself, so that several can start in parallel goroutines.
func spawnServer(t *testing.T, dataDir string, env []string, extraArgs ...string) (*testServer, error) {
	args := append([]string{"serve", "--data-dir", dataDir, "--http", "127.0.0.1:0", "--https", "127.0.0.1:0"}, extraArgs...)
	cmd := exec.Command(binPath, args...)
	cmd.Env = append(os.Environ(), env...)
	s := &testServer{t: t, cmd: cmd, dataDir: dataDir, logs: &lockedBuffer{}, stdout: &lockedBuffer{}, done: make(chan struct{})}
	pr, pw := io.Pipe()
	cmd.Stderr = io.MultiWriter(pw, s.logs)
	cmd.Stdout = s.stdout
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() { cmd.Wait(); pw.Close(); close(s.done) }()
	t.Cleanup(s.stop)

	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sent := false
		for sc.Scan() {
			var line struct {
				Msg, Scheme, Addr, URL string
			}
			if json.Unmarshal(sc.Bytes(), &line) != nil && !parseTextLine(sc.Text(), &line.Msg, &line.Scheme, &line.Addr, &line.URL) {
				continue
			}
			switch {
			case line.Msg == "listening" && line.Scheme == "http":
				s.httpURL = "http://" + line.Addr
			case line.Msg == "listening" && line.Scheme == "https":
				s.httpsAddr = line.Addr
			case line.Msg == "xsuaa started" && !sent:
				s.httpsURL, sent = line.URL, true
				ready <- nil
			}
		}
		if !sent {
			ready <- fmt.Errorf("server exited before it was ready")
		}
	}()
	select {
	case err := <-ready:
		if err != nil {
			return nil, fmt.Errorf("%v; logs:\n%s", err, s.logs)
		}
	case <-time.After(30 * time.Second):
		return nil, fmt.Errorf("server not ready after 30s; logs:\n%s", s.logs)
	}
	pem, err := os.ReadFile(filepath.Join(dataDir, "ca.pem"))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("ca.pem holds no certificate")
	}
	s.client = &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	return s, nil
}

// textAttr matches key=value or key="quoted value" in --log-format text.
var textAttr = regexp.MustCompile(`(\w+)=("(?:[^"\\]|\\.)*"|\S*)`)

// parseTextLine reads msg, scheme, addr and url from a text log line.
func parseTextLine(l string, msg, scheme, addr, u *string) bool {
	if !strings.HasPrefix(l, "time=") {
		return false
	}
	for _, m := range textAttr.FindAllStringSubmatch(l, -1) {
		v := m[2]
		if uq, err := strconv.Unquote(v); err == nil {
			v = uq
		}
		switch m[1] {
		case "msg":
			*msg = v
		case "scheme":
			*scheme = v
		case "addr":
			*addr = v
		case "url":
			*u = v
		}
	}
	return true
}

// stop ends the server with SIGTERM and waits for it.
func (s *testServer) stop() {
	select {
	case <-s.done:
		return
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
}

// do sends a request and returns the status and the body.
func (s *testServer) do(req *http.Request) (int, []byte, http.Header) {
	s.t.Helper()
	resp, err := s.client.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	return resp.StatusCode, b, resp.Header
}

// broker sends an authenticated OSB request; body may be a string (raw) or any JSON value.
func (s *testServer) broker(method, path string, body any) (int, map[string]any) {
	s.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, s.httpURL+path, rd)
	req.SetBasicAuth(brokerUser, brokerPass)
	req.Header.Set("X-Broker-API-Version", "2.17")
	req.Header.Set("Content-Type", "application/json")
	code, b, _ := s.do(req)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		s.t.Fatalf("%s %s: %d, body is not a JSON object: %q", method, path, code, b)
	}
	return code, m
}

// provision creates an application-plan instance named name from desc.
func (s *testServer) provision(id, name, desc string) {
	s.t.Helper()
	code, body := s.broker("PUT", "/v2/service_instances/"+id, map[string]any{
		"service_id": serviceID, "plan_id": planAppID, "organization_guid": "org-1", "space_guid": "space-1",
		"context":    map[string]any{"platform": "cloudfoundry", "instance_name": name},
		"parameters": json.RawMessage(desc),
	})
	if code != http.StatusCreated {
		s.t.Fatalf("provision %s: %d %v", id, code, body)
	}
}

// credentials is the part of a binding's credentials the tests read.
type credentials struct {
	ClientID        string `json:"clientid"`
	ClientSecret    string `json:"clientsecret"`
	URL             string `json:"url"`
	UAADomain       string `json:"uaadomain"`
	XSAppName       string `json:"xsappname"`
	IdentityZoneID  string `json:"identityzoneid"`
	VerificationKey string `json:"verificationkey"`
}

// bind creates a binding and returns its credentials as raw JSON and parsed.
func (s *testServer) bind(instance, binding string, params any) (json.RawMessage, credentials) {
	s.t.Helper()
	body := map[string]any{"service_id": serviceID, "plan_id": planAppID}
	if params != nil {
		body["parameters"] = params
	}
	code, resp := s.broker("PUT", "/v2/service_instances/"+instance+"/service_bindings/"+binding, body)
	if code != http.StatusCreated {
		s.t.Fatalf("bind %s/%s: %d %v", instance, binding, code, resp)
	}
	raw, _ := json.Marshal(resp["credentials"])
	var c credentials
	json.Unmarshal(raw, &c)
	return raw, c
}

// token posts a token request form to base+/oauth/token; basic, if not nil,
// is sent as Basic credentials {user, password}.
func (s *testServer) token(base string, form url.Values, basic []string) (int, map[string]any, http.Header) {
	s.t.Helper()
	return s.tokenIn(base, "", form, basic)
}

// tokenIn is token in the identity zone whose id zid names as X-Zid
// ("": none).
func (s *testServer) tokenIn(base, zid string, form url.Values, basic []string) (int, map[string]any, http.Header) {
	s.t.Helper()
	req := formPost(base+"/oauth/token", form)
	if zid != "" {
		req.Header.Set("X-Zid", zid)
	}
	if basic != nil {
		req.SetBasicAuth(basic[0], basic[1])
	}
	code, b, h := s.do(req)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		s.t.Fatalf("token: %d, body is not JSON: %q", code, b)
	}
	return code, m, h
}

// sendJSON sends req with client and returns the status and the body
// read as a JSON object (nil when it is not one).
func sendJSON(t testing.TB, client *http.Client, req *http.Request) (int, map[string]any) {
	t.Helper()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

// formPost is a POST of form, form-encoded, to target.
func formPost(target string, form url.Values) *http.Request {
	req, _ := http.NewRequest("POST", target, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req
}

// secretToken fetches a token with the client secret in the form body.
func (s *testServer) secretToken(c credentials) string {
	s.t.Helper()
	code, body, _ := s.token(s.httpsURL, url.Values{"grant_type": {"client_credentials"}, "client_id": {c.ClientID}, "client_secret": {c.ClientSecret}}, nil)
	if code != 200 {
		s.t.Fatalf("token for %s: %d %v", c.ClientID, code, body)
	}
	return body["access_token"].(string)
}

// verify checks a token's RS256 signature against the server's /token_keys
// (fetched over TLS, for the token's zid) and returns header and claims.
func (s *testServer) verify(token string) (map[string]any, map[string]any) {
	s.t.Helper()
	jws, err := jose.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		s.t.Fatalf("parse token: %v", err)
	}
	var unverified map[string]any
	json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &unverified)
	req, _ := http.NewRequest("GET", s.httpsURL+"/token_keys?zid="+url.QueryEscape(fmt.Sprint(unverified["zid"])), nil)
	code, b, _ := s.do(req)
	if code != 200 {
		s.t.Fatalf("token_keys: %d %s", code, b)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(b, &set); err != nil {
		s.t.Fatalf("token_keys: %v", err)
	}
	kid := jws.Signatures[0].Header.KeyID
	keys := set.Key(kid)
	if len(keys) != 1 {
		s.t.Fatalf("kid %q is not in /token_keys: %s", kid, b)
	}
	payload, err := jws.Verify(keys[0])
	if err != nil {
		s.t.Fatalf("signature does not verify: %v", err)
	}
	var claims map[string]any
	json.Unmarshal(payload, &claims)
	hdr := map[string]any{"alg": jws.Signatures[0].Header.Algorithm, "kid": kid}
	for k, v := range jws.Signatures[0].Header.ExtraHeaders {
		hdr[string(k)] = v
	}
	return hdr, claims
}
