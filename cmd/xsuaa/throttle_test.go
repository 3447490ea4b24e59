package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// End-to-end tests of the throttling of failed authentications and of the
// audit log, against the real binary on loopback. Linux routes all of
// 127.0.0.0/8 to the loopback interface, so clients dial from 127.0.0.2
// (the attacker) and 127.0.0.1 (the real client) to tell sources apart.

// reply is a response the throttle tests look at.
type reply struct {
	code int
	body map[string]any
	hdr  http.Header
}

// send sends req with c and decodes the JSON body.
func send(t *testing.T, c *http.Client, req *http.Request) reply {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s %s: %d, body is not a JSON object: %q", req.Method, req.URL, resp.StatusCode, b)
	}
	return reply{resp.StatusCode, m, resp.Header}
}

// tokenReq is a client_secret_post token request to base.
func tokenReq(base, clientID, secret string) *http.Request {
	req, _ := http.NewRequest("POST", base+"/oauth/token", strings.NewReader(url.Values{
		"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {secret}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req
}

// brokerReq is a GET /v2/catalog with the given broker password.
func brokerReq(base, password string) *http.Request {
	req, _ := http.NewRequest("GET", base+"/v2/catalog", nil)
	req.SetBasicAuth(brokerUser, password)
	req.Header.Set("X-Broker-API-Version", "2.17")
	return req
}

// retryAfter checks a 429 and returns its Retry-After, within (0, max].
func retryAfter(t *testing.T, what string, r reply, max int) int {
	t.Helper()
	if r.code != http.StatusTooManyRequests {
		t.Fatalf("%s: %d %v, want 429", what, r.code, r.body)
	}
	n, err := strconv.Atoi(r.hdr.Get("Retry-After"))
	if err != nil || n < 1 || n > max {
		t.Fatalf("%s: Retry-After %q, want whole seconds in [1, %d]", what, r.hdr.Get("Retry-After"), max)
	}
	if cc := r.hdr.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("%s: Cache-Control %q, want no-store", what, cc)
	}
	return n
}

// TestThrottleTokenEndpoint: an attacker at 127.0.0.2 guessing the real
// client's secret gets 429 with Retry-After after the limit; the right
// secret from that same address still gets a token (a valid credential
// is never refused: the owner behind the same NAT, or after a typo, is
// not locked out; a 256-bit secret is not guessed anyway); the real client
// at 127.0.0.1 is not affected; once Retry-After has passed, a wrong
// secret from 127.0.0.2 is a 401 again.
func TestThrottleTokenEndpoint(t *testing.T) {
	const limit = 3
	s := startServer(t, "", "--auth-failure-limit", strconv.Itoa(limit), "--auth-failure-window", "3s")
	attacker, real := s.clientFrom(net.ParseIP("127.0.0.2"), nil), s.clientFrom(net.ParseIP("127.0.0.1"), nil)

	for i, base := range []string{s.httpsURL, s.httpURL} {
		// A client of its own for each listener: the failures of one
		// subtest do not count in the other.
		s.provision(fmt.Sprintf("th-%d", i), fmt.Sprintf("th-app-%d", i), fmt.Sprintf(`{"xsappname":"throttled%d","authorities":["$XSAPPNAME.Read"],"scopes":[{"name":"$XSAPPNAME.Read"}]}`, i))
		_, creds := s.bind(fmt.Sprintf("th-%d", i), fmt.Sprintf("th-key-%d", i), nil)
		t.Run(strings.SplitN(base, ":", 2)[0], func(t *testing.T) {
			for n := range limit {
				if r := send(t, attacker, tokenReq(base, creds.ClientID, fmt.Sprintf("guess-%d", n))); r.code != 401 {
					t.Fatalf("guess %d: %d %v, want 401", n+1, r.code, r.body)
				}
			}
			r := send(t, attacker, tokenReq(base, creds.ClientID, "one-more-guess"))
			start := time.Now() // not before the server computed Retry-After
			wait := retryAfter(t, "another guess from the blocked address", r, 3)
			re := regexp.MustCompile(`^too many failed client authentications for client ` + regexp.QuoteMeta(creds.ClientID) +
				` from 127\.0\.0\.2; retry after ` + strconv.Itoa(wait) + ` seconds?$`)
			if len(r.body) != 2 || r.body["error"] != "too_many_requests" || !re.MatchString(fmt.Sprint(r.body["error_description"])) {
				t.Errorf("429 body %v, want exactly error too_many_requests and a description like %s", r.body, re)
			}
			if r := send(t, attacker, tokenReq(base, creds.ClientID, creds.ClientSecret)); r.code != 200 {
				t.Errorf("the right secret from the blocked address: %d %v, want 200", r.code, r.body)
			}

			// The real client, at its own address, is served throughout.
			if r := send(t, real, tokenReq(base, creds.ClientID, creds.ClientSecret)); r.code != 200 {
				t.Errorf("the real client from 127.0.0.1: %d %v, want 200", r.code, r.body)
			}
			// Another client id from the attacker's address is its own pair.
			if r := send(t, attacker, tokenReq(base, "sb-other!t1", "x")); r.code != 401 {
				t.Errorf("another client id from 127.0.0.2: %d %v, want 401", r.code, r.body)
			}

			time.Sleep(time.Until(start.Add(time.Duration(wait) * time.Second)))
			if r := send(t, attacker, tokenReq(base, creds.ClientID, "late-guess")); r.code != 401 {
				t.Errorf("a guess after Retry-After: %d %v, want 401", r.code, r.body)
			}
		})
	}
	if !strings.Contains(s.logs.String(), `"event":"auth.throttled"`) {
		t.Errorf("no auth.throttled event on stderr (the default --audit-log):\n%s", s.logs)
	}
}

// TestThrottleBrokerAPI: wrong broker passwords from 127.0.0.2 get an
// OSB-style 429 after the limit; the broker password from that same
// address, and the platform at 127.0.0.1, keep working.
func TestThrottleBrokerAPI(t *testing.T) {
	const limit = 2
	s := startServer(t, "", "--auth-failure-limit", strconv.Itoa(limit), "--auth-failure-window", "2s")
	attacker, platform := s.clientFrom(net.ParseIP("127.0.0.2"), nil), s.clientFrom(net.ParseIP("127.0.0.1"), nil)
	for n := range limit {
		if r := send(t, attacker, brokerReq(s.httpURL, "guess")); r.code != 401 {
			t.Fatalf("guess %d: %d %v, want 401", n+1, r.code, r.body)
		}
	}
	r := send(t, attacker, brokerReq(s.httpURL, "guess"))
	start := time.Now() // not before the server computed Retry-After
	wait := retryAfter(t, "a guess from the blocked address", r, 2)
	if r.body["error"] != "TooManyRequests" || !strings.HasPrefix(fmt.Sprint(r.body["description"]), "too many failed broker authentications from 127.0.0.2; retry after ") {
		t.Errorf("429 body %v, want OSB error TooManyRequests", r.body)
	}
	if r := send(t, attacker, brokerReq(s.httpURL, brokerPass)); r.code != 200 {
		t.Errorf("the broker password from the blocked address: %d %v, want 200", r.code, r.body)
	}
	if r := send(t, platform, brokerReq(s.httpURL, brokerPass)); r.code != 200 {
		t.Errorf("the platform from 127.0.0.1: %d %v, want 200", r.code, r.body)
	}
	time.Sleep(time.Until(start.Add(time.Duration(wait) * time.Second)))
	if r := send(t, attacker, brokerReq(s.httpURL, "late-guess")); r.code != 401 {
		t.Errorf("a guess after Retry-After: %d %v, want 401", r.code, r.body)
	}
}

// TestThrottleBehindProxy: behind a trusted proxy the source is the last
// X-Forwarded-For hop, so clients behind the same proxy are told apart;
// from an untrusted peer the header is ignored.
func TestThrottleBehindProxy(t *testing.T) {
	s := startServer(t, "", "--auth-failure-limit", "2", "--auth-failure-window", "1m", "--trusted-proxy", "127.0.0.3")
	s.provision("px-1", "px-app", `{"xsappname":"proxied"}`)
	_, creds := s.bind("px-1", "px-key", nil)
	proxy, direct := s.clientFrom(net.ParseIP("127.0.0.3"), nil), s.clientFrom(net.ParseIP("127.0.0.2"), nil)
	forwarded := func(xff, secret string, c *http.Client) reply {
		req := tokenReq(s.httpURL, creds.ClientID, secret)
		req.Header.Set("X-Forwarded-For", xff)
		return send(t, c, req)
	}
	for range 2 {
		forwarded("203.0.113.50, 198.51.100.7", "guess", proxy)
	}
	r := forwarded("203.0.113.50, 198.51.100.7", "guess", proxy)
	retryAfter(t, "the blocked client behind the proxy", r, 60)
	if d := fmt.Sprint(r.body["error_description"]); !strings.Contains(d, " from 198.51.100.7; ") {
		t.Errorf("429 names %q, want the forwarded address 198.51.100.7", d)
	}
	if r := forwarded("198.51.100.8", "guess", proxy); r.code != 401 {
		t.Errorf("another client behind the proxy: %d %v, want 401", r.code, r.body)
	}
	// From an untrusted peer, X-Forwarded-For names no one: 127.0.0.2
	// is not blocked although it claims the blocked address.
	if r := forwarded("198.51.100.7", "guess", direct); r.code != 401 {
		t.Errorf("X-Forwarded-For from an untrusted peer: %d %v, want 401", r.code, r.body)
	}
}

// auditLine is one line of the audit log.
type auditLine map[string]any

// readAudit reads the JSON lines of an audit log file.
func readAudit(t *testing.T, path string) (raw string, lines []auditLine) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l auditLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("audit line is not JSON: %q", sc.Text())
		}
		lines = append(lines, l)
	}
	return string(b), lines
}

// TestAuditLogFile runs the lifecycle of a secret and an x509 binding,
// failed and throttled authentications, with --audit-log FILE: the file
// is private, holds one line per event with the expected attributes, and
// contains none of the secrets and private keys the server handed out.
func TestAuditLogFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	s := startServer(t, "", "--audit-log", path, "--auth-failure-limit", "2", "--auth-failure-window", "1m")
	identity := "cloudfoundry " + base64.StdEncoding.EncodeToString([]byte(`{"user_id":"auditor-7"}`))

	// Provision with an originating identity.
	body, _ := json.Marshal(map[string]any{"service_id": serviceID, "plan_id": planAppID, "organization_guid": "org-1", "space_guid": "space-1",
		"parameters": json.RawMessage(`{"xsappname":"audited","authorities":["$XSAPPNAME.Read"],"scopes":[{"name":"$XSAPPNAME.Read"}],
		  "oauth2-configuration":{"credential-types":["binding-secret","x509"]}}`)})
	req, _ := http.NewRequest("PUT", s.httpURL+"/v2/service_instances/au-1", strings.NewReader(string(body)))
	req.SetBasicAuth(brokerUser, brokerPass)
	req.Header.Set("X-Broker-API-Version", "2.17")
	req.Header.Set("X-Broker-API-Originating-Identity", identity)
	if code, b, _ := s.do(req); code != 201 {
		t.Fatalf("provision: %d %s", code, b)
	}
	_, sec := s.bind("au-1", "au-secret", nil)
	_, x5 := s.bindX509("au-1", "au-cert", map[string]any{"credential-type": "x509"})
	if sec.ClientSecret == "" || !strings.Contains(x5.Key, "PRIVATE KEY") {
		t.Fatalf("bind returned no secret or no private key: %q, %q", sec.ClientSecret, x5.Key)
	}
	s.secretToken(sec)

	// Failures from 127.0.0.2: the second reaches the limit, the third is throttled.
	attacker := s.clientFrom(net.ParseIP("127.0.0.2"), nil)
	const guess = "guessed-secret-5d1f"
	for _, want := range []int{401, 401, 429} {
		if r := send(t, attacker, tokenReq(s.httpsURL, sec.ClientID, guess)); r.code != want {
			t.Fatalf("guess: %d %v, want %d", r.code, r.body, want)
		}
	}
	if r := send(t, attacker, brokerReq(s.httpURL, guess)); r.code != 401 {
		t.Fatalf("broker guess: %d %v", r.code, r.body)
	}
	s.unbind("au-1", "au-secret")
	s.unbind("au-1", "au-cert")
	if code, b := s.broker("DELETE", "/v2/service_instances/au-1?service_id="+serviceID+"&plan_id="+planAppID, nil); code != 200 {
		t.Fatalf("deprovision: %d %v", code, b)
	}
	s.stop() // flushes nothing (lines are written whole), but the file is complete

	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("audit log mode %v, want 0600", fi.Mode().Perm())
	}
	raw, lines := readAudit(t, path)
	want := []auditLine{
		{"event": "instance.created", "instance_id": "au-1", "client_id": "sb-audited!t1", "outcome": "success", "status": 201.0,
			"origin_platform": "cloudfoundry", "origin_user": "auditor-7", "source": "127.0.0.1"},
		{"event": "binding.created", "instance_id": "au-1", "binding_id": "au-secret", "credential_type": "binding-secret", "outcome": "success"},
		{"event": "binding.created", "instance_id": "au-1", "binding_id": "au-cert", "credential_type": "x509", "outcome": "success"},
		{"event": "auth.failed", "client_id": "sb-audited!t1", "source": "127.0.0.2", "reason": "wrong secret", "outcome": "failure", "status": 401.0},
		{"event": "auth.failed", "client_id": "sb-audited!t1", "source": "127.0.0.2"},
		{"event": "auth.throttled", "client_id": "sb-audited!t1", "source": "127.0.0.2", "outcome": "blocked", "retry_after": 60.0},
		{"event": "broker.auth.failed", "api": "broker", "source": "127.0.0.2", "reason": "wrong password"},
		{"event": "binding.deleted", "binding_id": "au-secret", "credential_type": "binding-secret", "outcome": "success"},
		{"event": "binding.deleted", "binding_id": "au-cert", "credential_type": "x509", "outcome": "success"},
		{"event": "instance.deleted", "instance_id": "au-1", "outcome": "success", "status": 200.0},
	}
	if len(lines) != len(want) {
		t.Errorf("%d audit lines, want %d:\n%s", len(lines), len(want), raw)
	}
	for i := range min(len(lines), len(want)) {
		if _, ok := lines[i]["time"]; !ok {
			t.Errorf("line %d has no time: %v", i+1, lines[i])
		}
		for k, v := range want[i] {
			if fmt.Sprint(lines[i][k]) != fmt.Sprint(v) {
				t.Errorf("line %d: %s = %v, want %v (%v)", i+1, k, lines[i][k], v, lines[i])
			}
		}
	}

	// No secret, no private key: neither the secret nor any line of the
	// key's PEM body, nor what the attacker sent.
	secrets := []string{sec.ClientSecret, guess, brokerPass, "PRIVATE KEY"}
	for _, l := range strings.Split(x5.Key, "\n") {
		if len(l) >= 16 && !strings.HasPrefix(l, "-----") {
			secrets = append(secrets, l)
		}
	}
	for _, secret := range secrets {
		if strings.Contains(raw, secret) {
			t.Errorf("the audit log contains %q", secret)
		}
	}
	// Nor does the server log: audit events went to the file only.
	if strings.Contains(s.logs.String(), `"msg":"audit"`) {
		t.Errorf("audit events on stderr although --audit-log names a file")
	}
}

// TestAuditLogFlag: --audit-log off writes no events; a path that cannot
// be opened, or negative throttle flags, stop the server with a clear error.
func TestAuditLogFlag(t *testing.T) {
	s := startServer(t, "", "--audit-log", "off")
	if r := send(t, s.clientFrom(net.ParseIP("127.0.0.1"), nil), brokerReq(s.httpURL, "wrong")); r.code != 401 {
		t.Fatalf("%d %v", r.code, r.body)
	}
	if strings.Contains(s.logs.String(), `"msg":"audit"`) {
		t.Errorf("audit events written with --audit-log off:\n%s", s.logs)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--audit-log", filepath.Join(t.TempDir(), "missing-dir", "audit.log")}, "--audit-log: "},
		{[]string{"--auth-failure-limit", "-1"}, "must not be negative"},
		{[]string{"--auth-failure-window", "soon"}, "invalid value"},
	} {
		out, err := runBinary(t, append([]string{"serve", "--data-dir", t.TempDir(), "--http", "127.0.0.1:0", "--https", ""}, tc.args...)...)
		if err == nil || !strings.Contains(out, tc.want) {
			t.Errorf("serve %v: %v, output %q; want an error naming %q", tc.args, err, out, tc.want)
		}
	}
}

// runBinary runs xsuaa with args (and the test's broker credentials) to
// completion, at most 20 s, and returns its combined output.
func runBinary(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, args...)
	cmd.Env = append(os.Environ(), apiCredentialsEnv()...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}
