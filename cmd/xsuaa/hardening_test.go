package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openxsuaa/xsuaa/keys/keystest"
)

// TestTLSCipherSuites: the HTTPS listener speaks TLS 1.3, and TLS 1.2
// only with ECDHE and AEAD suites: a client that offers only CBC or RSA
// key exchange suites gets no connection.
func TestTLSCipherSuites(t *testing.T) {
	s := startServer(t, "")
	addr := strings.TrimPrefix(s.httpsURL, "https://")
	for _, tc := range []struct {
		name   string
		max    uint16
		suites []uint16
		ok     bool
	}{
		{"TLS 1.3", tls.VersionTLS13, nil, true},
		{"TLS 1.2, ECDHE-RSA-AES128-GCM", tls.VersionTLS12, []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}, true},
		{"TLS 1.2, ECDHE with CBC-SHA1 only", tls.VersionTLS12, []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}, false},
		{"TLS 1.2, RSA key exchange only", tls.VersionTLS12, []uint16{tls.TLS_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_RSA_WITH_AES_256_GCM_SHA384}, false},
	} {
		conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: s.caPool(), ServerName: "localhost", MaxVersion: tc.max, CipherSuites: tc.suites})
		if err == nil {
			conn.Close()
		}
		if (err == nil) != tc.ok {
			t.Errorf("%s: handshake error %v, want success %v", tc.name, err, tc.ok)
		}
	}
}

// TestNoStore: responses that carry a token, a secret or personal data
// say Cache-Control: no-store; the public key set is cacheable.
func TestNoStore(t *testing.T) {
	s := startServer(t, "")
	s.provision("ns", "ns-app", `{"xsappname":"nostore"}`)
	raw, c := s.bind("ns", "ns-b", nil)
	if len(raw) == 0 {
		t.Fatal("no credentials")
	}
	get := func(method, path string, body url.Values, user, pass string) http.Header {
		var req *http.Request
		if body != nil {
			req, _ = http.NewRequest(method, s.httpURL+path, strings.NewReader(body.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		} else {
			req, _ = http.NewRequest(method, s.httpURL+path, nil)
		}
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		req.Header.Set("X-Broker-API-Version", "2.17")
		_, _, h := s.do(req)
		return h
	}
	for _, tc := range []struct {
		name string
		h    http.Header
		want string
	}{
		{"a token", get("POST", "/oauth/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {c.ClientID}, "client_secret": {c.ClientSecret}}, "", ""), "no-store"},
		{"a binding's credentials", get("GET", "/v2/service_instances/ns/service_bindings/ns-b", nil, brokerUser, brokerPass), "no-store"},
		{"the admin API", get("GET", "/admin/instances", nil, adminUser, adminPass), "no-store"},
		{"an error", get("GET", "/v2/catalog", nil, brokerUser, "wrong"), "no-store"},
		{"the key set", get("GET", "/token_keys", nil, "", ""), "public, max-age=300"},
	} {
		if got := tc.h.Get("Cache-Control"); got != tc.want {
			t.Errorf("%s: Cache-Control %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestDataDirModes: the data directory is 0700 and its secret files 0600;
// a directory or file opened to others (a copy, a careless chmod) is
// tightened at the next start, with a warning.
func TestDataDirModes(t *testing.T) {
	sqliteOnly(t, "on PostgreSQL the data dir holds no secret files")
	dir := filepath.Join(t.TempDir(), "data")
	s := startServer(t, dir)
	s.stop()
	check := func(when string) {
		t.Helper()
		if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: data dir mode %v, %v; want 0700", when, fi.Mode().Perm(), err)
		}
		for _, f := range []string{dbFile, "master.key", brokerCredsFile} {
			if fi, err := os.Stat(filepath.Join(dir, f)); err == nil && fi.Mode().Perm() != 0o600 {
				t.Errorf("%s: %s has mode %v, want 0600", when, f, fi.Mode().Perm())
			}
		}
	}
	check("first start")
	os.Chmod(dir, 0o777)
	os.Chmod(filepath.Join(dir, "master.key"), 0o644)
	os.Chmod(filepath.Join(dir, dbFile), 0o664)
	s = startServer(t, dir)
	check("after a restart")
	logs := s.logs.String()
	for _, want := range []string{"data dir was open to other users; tightened to 0700", "a secret file was open to other users; tightened to 0600"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the server log lacks %q", want)
		}
	}
}

// TestConnectionCap: with --max-connections 50, 300 connections that
// send nothing and 100 idle keep-alive connections do not keep a real
// client out, and the server holds about 50 connections, not 400.
func TestConnectionCap(t *testing.T) {
	s := startServer(t, "", "--max-connections", "50")
	addr := strings.TrimPrefix(s.httpURL, "http://")
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range 300 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		conns = append(conns, c)
	}
	for range 100 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		conns = append(conns, c)
		fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	}
	time.Sleep(300 * time.Millisecond)
	client := &http.Client{Timeout: 5 * time.Second}
	start := time.Now()
	resp, err := client.Get(s.httpURL + "/healthz")
	if err != nil {
		t.Fatalf("a real client among 400 idle connections: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || time.Since(start) > 2*time.Second {
		t.Errorf("a real client among 400 idle connections: %d after %v", resp.StatusCode, time.Since(start))
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", s.cmd.Process.Pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	// 50 connections, the listeners, the database and the logs.
	if len(fds) > 80 {
		t.Errorf("the server holds %d file descriptors with --max-connections 50", len(fds))
	}
}

// TestNginxForwardsCertificate: nginx terminates mutual TLS and forwards
// the client's certificate with the README's configuration (Envoy's form,
// --client-cert-header envoy); the certificate's token comes back bound
// to it. A client that sends the header itself through nginx gets
// nothing from it: nginx replaces it. A client without a certificate is
// sent on without the header.
func TestNginxForwardsCertificate(t *testing.T) {
	nginx := needNginx(t)
	s := startServer(t, "", "--trusted-proxy", "127.0.0.1", "--client-cert-header", "envoy")
	s.provision("ng", "ng-app", fmt.Sprintf(x5Descriptor, "ngapp"))
	_, creds := s.bindX509("ng", "ng-cert", nil)
	cert, err := tls.X509KeyPair([]byte(creds.Certificate), []byte(creds.Key))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ca := keystest.NewCA(t, "nginx CA")
	srvCert, srvPEM := ca.IssueServer(t, "localhost", time.Now().Add(-time.Hour), time.Now().Add(time.Hour), "localhost")
	for name, content := range map[string]string{"ng.pem": srvPEM, "ng.key": keystest.KeyPEM(t, srvCert)} {
		os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600)
	}
	port := freePort(t)
	conf := nginxPreamble(dir, 64) + fmt.Sprintf(`
  map $ssl_client_escaped_cert $xfcc {
    ""      "";
    default "Cert=\"$ssl_client_escaped_cert\"";
  }
  server {
    listen 127.0.0.1:%[2]d ssl;
    ssl_certificate %[1]s/ng.pem;
    ssl_certificate_key %[1]s/ng.key;
    ssl_verify_client optional_no_ca;
    location / {
      proxy_pass %[3]s;
      proxy_set_header X-Forwarded-Client-Cert $xfcc;
      proxy_set_header Client-Cert "";
      proxy_set_header Client-Cert-Chain "";
      proxy_set_header X-Forwarded-For $remote_addr;
    }
  }
}
`, dir, port, s.httpURL)
	confFile := filepath.Join(dir, "nginx.conf")
	os.WriteFile(confFile, []byte(conf), 0o600)
	cmd := exec.Command(nginx, "-c", confFile, "-p", dir, "-e", filepath.Join(dir, "error.log"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(ca.PEM()))
	base := fmt.Sprintf("https://localhost:%d", port)
	client := func(c *tls.Certificate) *http.Client {
		cfg := &tls.Config{RootCAs: pool}
		if c != nil {
			cfg.Certificates = []tls.Certificate{*c}
		}
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, err := client(nil).Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			errLog, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("nginx not ready: %v\n%s", err, errLog)
		}
	}
	code, body := certToken(t, client(&cert), base, creds.ClientID, nil)
	s.wantCertBound(code, body, creds.ClientID, cert.Leaf)

	// A client that forges the header (its own choice of certificate,
	// the binding's public one) through nginx: nginx drops it.
	pemLeaf := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Leaf.Raw}))
	for name, hdr := range map[string]map[string]string{
		"envoy":    {"X-Forwarded-Client-Cert": `Cert="` + url.PathEscape(pemLeaf) + `"`},
		"rfc 9440": {"Client-Cert": ":" + base64.StdEncoding.EncodeToString(cert.Leaf.Raw) + ":"},
	} {
		code, body := certToken(t, client(nil), base, creds.ClientID, hdr)
		want401(t, "a forged "+name+" header through nginx", code, body, "unauthorized", "Unsupported instance credential")
	}
}

// TestMisplacedSecretsNotLogged sends a client secret, a user's password
// and the broker's password in every wrong place a person or a script
// puts them, and checks that none of the server log (at debug), the
// audit log and the access log holds any of them, in any shape.
func TestMisplacedSecretsNotLogged(t *testing.T) {
	dir := t.TempDir()
	auditFile, accessFile := filepath.Join(dir, "audit.log"), filepath.Join(dir, "access.log")
	s := startServer(t, "", "--log-level", "debug", "--audit-log", auditFile, "--access-log", accessFile)
	s.provision("ms", "ms-app", `{"xsappname":"misplaced","scopes":[{"name":"$XSAPPNAME.Read"}]}`)
	_, c := s.bind("ms", "ms-b", nil)
	s.ok("create-user", "alice", "--password", "alice-pw-1")
	secret, userPW := c.ClientSecret, "alice-pw-1"
	post := func(form url.Values, hdr map[string]string) {
		req, _ := http.NewRequest("POST", s.httpURL+"/oauth/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		s.do(req)
	}
	cc := func(id, sec string) url.Values {
		return url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {sec}}
	}
	basic := func(u, p string) map[string]string {
		return map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(u+":"+p))}
	}
	for _, shape := range []string{secret, `"` + secret + `"`, " " + secret, secret + " ", c.ClientID + " " + secret, "'" + secret + "'", secret + "\t"} {
		post(cc(shape, "x"), nil)                                                                                                    // as client_id
		post(cc(shape, secret), nil)                                                                                                 // id and secret swapped
		post(url.Values{"grant_type": {"client_credentials"}}, basic(shape, "x"))                                                    // as the Basic user
		post(url.Values{"grant_type": {"client_credentials"}, "client_id": {c.ClientID}}, map[string]string{"Authorization": shape}) // as the whole header
		post(url.Values{"grant_type": {"password"}, "client_id": {c.ClientID}, "client_secret": {secret}, "username": {shape}, "password": {"x"}}, nil)
	}
	// A user's password typed as the user name, at the token endpoint and
	// at the login page.
	post(url.Values{"grant_type": {"password"}, "client_id": {c.ClientID}, "client_secret": {secret}, "username": {userPW}, "password": {userPW}}, nil)
	b := newBrowser(t, s)
	b.post(s.httpsURL+"/login.do", url.Values{"username": {userPW}, "password": {userPW}})
	// The broker's password as the broker user.
	req, _ := http.NewRequest("GET", s.httpURL+"/v2/catalog", nil)
	req.SetBasicAuth(brokerPass, brokerPass)
	req.Header.Set("X-Broker-API-Version", "2.17")
	s.do(req)
	time.Sleep(200 * time.Millisecond) // the access log writes after the response
	audit, _ := os.ReadFile(auditFile)
	access, _ := os.ReadFile(accessFile)
	if len(audit) == 0 || len(access) == 0 {
		t.Fatalf("empty logs: audit %d bytes, access %d bytes", len(audit), len(access))
	}
	for name, log := range map[string]string{"server log": s.logs.String(), "audit log": string(audit), "access log": string(access)} {
		for _, v := range []string{secret, secret[:24], secret[len(secret)-24:], userPW, brokerPass} {
			if strings.Contains(log, v) {
				t.Errorf("the %s holds %q", name, v)
			}
		}
	}
}

// TestAuditFlood: 600 failed authentications with fresh client ids from
// one address write a bounded number of audit lines (20 a minute, plus
// the throttle's own), not one per request; another address still gets
// its lines.
func TestAuditFlood(t *testing.T) {
	auditFile := filepath.Join(t.TempDir(), "audit.log")
	s := startServer(t, "", "--audit-log", auditFile)
	flood := s.clientFrom(net.ParseIP("127.0.0.2"), nil)
	for i := range 600 {
		r := send(t, flood, tokenReq(s.httpURL, fmt.Sprintf("sb-fresh-%d!t1", i), "guess"))
		if r.code != 401 && r.code != 429 {
			t.Fatalf("request %d: %d", i, r.code)
		}
	}
	send(t, s.clientFrom(net.ParseIP("127.0.0.1"), nil), tokenReq(s.httpURL, "sb-other!t1", "guess"))
	time.Sleep(100 * time.Millisecond)
	b, _ := os.ReadFile(auditFile)
	var fromFlood, fromOther int
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case strings.Contains(line, `"source":"127.0.0.2"`):
			fromFlood++
		case strings.Contains(line, `"source":"127.0.0.1"`) && strings.Contains(line, `"event":"auth.failed"`):
			fromOther++
		}
	}
	if fromFlood > 25 || fromOther != 1 {
		t.Errorf("audit lines: %d from the flooding address (want at most 25 for 600 failures), %d from another (want 1); %d bytes", fromFlood, fromOther, len(b))
	}
}

// TestDeepJSONBounded: a 1 MB descriptor of deeply nested objects, sent
// to the broker, gets a 400 naming the bound at once, and the server's
// memory stays small (it once grew by gigabytes before answering).
func TestDeepJSONBounded(t *testing.T) {
	s := startServer(t, "")
	one := strings.Repeat(`{"a":`, 9000) + "1" + strings.Repeat("}", 9000)
	var b strings.Builder
	b.WriteString(`{"service_id":"` + serviceID + `","plan_id":"` + planAppID + `","organization_guid":"o","space_guid":"s","parameters":{"xsappname":"deep","scopes":[`)
	for i := 0; b.Len() < 1000000; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(one)
	}
	b.WriteString(`]}}`)
	req, _ := http.NewRequest("PUT", s.httpURL+"/v2/service_instances/deep", strings.NewReader(b.String()))
	req.SetBasicAuth(brokerUser, brokerPass)
	req.Header.Set("X-Broker-API-Version", "2.17")
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	code, body, _ := s.do(req)
	if code != 400 || !strings.Contains(string(body), "nests deeper than 32 levels") || time.Since(start) > 2*time.Second {
		t.Errorf("a deeply nested 1 MB body: %d %.200s after %v", code, body, time.Since(start))
	}
	status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	for _, line := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			var kb int
			fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(line, "VmHWM:")), "%d", &kb)
			if kb > 200<<10 {
				t.Errorf("the server's peak memory is %d MB after a deeply nested body", kb>>10)
			}
		}
	}
}
