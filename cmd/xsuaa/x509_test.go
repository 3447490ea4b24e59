package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openxsuaa/xsuaa/keys/keystest"
)

// End-to-end tests of x509 bindings and mutual TLS against the real binary:
// service-managed and self-managed certificates over direct TLS on
// loopback, through a TLS-terminating proxy, with curl, Go's client and
// SAP's @sap/xssec.

// x5Descriptor allows certificates (the default) and secrets.
const x5Descriptor = `{"xsappname":"%s","scopes":[{"name":"$XSAPPNAME.Read"}],"authorities":["$XSAPPNAME.Read"],
  "oauth2-configuration":{"credential-types":["x509","binding-secret"]}}`

// x5Credentials is what the tests read of an x509 binding's credentials.
type x5Credentials struct {
	ClientID       string `json:"clientid"`
	ClientSecret   string `json:"clientsecret"`
	CredentialType string `json:"credential-type"`
	Certificate    string `json:"certificate"`
	Key            string `json:"key"`
	CertURL        string `json:"certurl"`
	Pinning        *bool  `json:"certificate-pinning"`
	IdentityZoneID string `json:"identityzoneid"`
}

// bindX509 creates a binding with params and returns its raw and parsed credentials.
func (s *testServer) bindX509(instance, binding string, params any) (json.RawMessage, x5Credentials) {
	s.t.Helper()
	raw, _ := s.bind(instance, binding, params)
	var c x5Credentials
	if err := json.Unmarshal(raw, &c); err != nil {
		s.t.Fatal(err)
	}
	return raw, c
}

// bindStatus tries a binding and returns the broker's status and body.
func (s *testServer) bindStatus(instance, binding string, params any) (int, map[string]any) {
	s.t.Helper()
	return s.broker("PUT", "/v2/service_instances/"+instance+"/service_bindings/"+binding,
		map[string]any{"service_id": serviceID, "plan_id": planAppID, "parameters": params})
}

func (s *testServer) unbind(instance, binding string) {
	s.t.Helper()
	code, body := s.broker("DELETE", "/v2/service_instances/"+instance+"/service_bindings/"+binding+"?service_id="+serviceID+"&plan_id="+planAppID, nil)
	if code != 200 {
		s.t.Fatalf("unbind %s: %d %v", binding, code, body)
	}
}

// caPool returns a pool with the server's CA.
func (s *testServer) caPool() *x509.CertPool {
	s.t.Helper()
	b, err := os.ReadFile(filepath.Join(s.dataDir, "ca.pem"))
	if err != nil {
		s.t.Fatal(err)
	}
	p := x509.NewCertPool()
	p.AppendCertsFromPEM(b)
	return p
}

// mtlsClient returns a client that trusts the server's CA and presents
// cert whatever CAs the server names (as curl does).
func (s *testServer) mtlsClient(cert *tls.Certificate) *http.Client {
	cfg := &tls.Config{RootCAs: s.caPool()}
	if cert != nil {
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	return &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
}

// certToken posts a client_credentials request with only client_id.
func certToken(t *testing.T, c *http.Client, base, clientID string, hdr map[string]string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/oauth/token", strings.NewReader(url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", base, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%d, body is not JSON: %q", resp.StatusCode, b)
	}
	return resp.StatusCode, m
}

func x5t(c *x509.Certificate) string {
	s := sha256.Sum256(c.Raw)
	return base64.RawURLEncoding.EncodeToString(s[:])
}

// wantCertBound checks a 200 token response: the signature verifies and
// cnf names leaf.
func (s *testServer) wantCertBound(code int, body map[string]any, clientID string, leaf *x509.Certificate) {
	s.t.Helper()
	if code != 200 {
		s.t.Fatalf("token with certificate: %d %v", code, body)
	}
	_, claims := s.verify(body["access_token"].(string))
	cnf, _ := claims["cnf"].(map[string]any)
	if claims["client_id"] != clientID || cnf["x5t#S256"] != x5t(leaf) {
		s.t.Errorf("claims client_id %v cnf %v; want %s and x5t#S256 %s", claims["client_id"], claims["cnf"], clientID, x5t(leaf))
	}
}

func want401(t *testing.T, what string, code int, body map[string]any, wantErr, wantDesc string) {
	t.Helper()
	desc, _ := body["error_description"].(string)
	if code != 401 || body["error"] != wantErr || !strings.Contains(desc, wantDesc) {
		t.Errorf("%s: %d %v; want 401 %s containing %q", what, code, body, wantErr, wantDesc)
	}
}

func TestX509MTLS(t *testing.T) {
	dir := t.TempDir()
	ext := keystest.NewCA(t, "Example Client CA")
	caFile := filepath.Join(dir, "client-ca.pem")
	if err := os.WriteFile(caFile, []byte(ext.PEM()), 0o644); err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(dir, "data")
	s := startServer(t, dataDir, "--client-ca", caFile)
	s.provision("x5", "x5-app", fmt.Sprintf(x5Descriptor, "x5app"))
	s.provision("x5only", "x5only-app", `{"xsappname":"x5only","oauth2-configuration":{"credential-types":["x509"]}}`)

	// Service-managed: default type, so no parameters are needed at all.
	raw, managed := s.bindX509("x5", "managed", map[string]any{"x509": map[string]any{"validity": 1}})
	if managed.CredentialType != "x509" || managed.ClientSecret != "" || managed.Key == "" || managed.CertURL != s.httpsURL ||
		managed.Pinning == nil || !*managed.Pinning || managed.ClientID != "sb-x5app!t1" {
		t.Fatalf("x509 credentials: %s", raw)
	}
	cert, err := tls.X509KeyPair([]byte(managed.Certificate), []byte(managed.Key))
	if err != nil {
		t.Fatalf("certificate and key do not make a TLS key pair: %v", err)
	}
	if cn := cert.Leaf.Subject.CommonName; cn != "managed" {
		t.Errorf("certificate CN %q, want the binding id", cn)
	}
	withCert := s.mtlsClient(&cert)
	code, body := certToken(t, withCert, managed.CertURL, managed.ClientID, nil)
	s.wantCertBound(code, body, managed.ClientID, cert.Leaf)

	// A secret binding of the same instance works at the same URL, with or
	// without a client certificate on the connection.
	_, sec := s.bind("x5", "secret", map[string]any{"credential-type": "binding-secret"})
	for name, c := range map[string]*http.Client{"with certificate": withCert, "without": s.mtlsClient(nil)} {
		req, _ := http.NewRequest("POST", s.httpsURL+"/oauth/token", strings.NewReader(url.Values{"grant_type": {"client_credentials"}, "client_id": {sec.ClientID}, "client_secret": {sec.ClientSecret}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("secret %s: %d %v", name, resp.StatusCode, m)
		} else if _, claims := s.verify(m["access_token"].(string)); claims["cnf"] != nil {
			t.Errorf("secret %s: token has cnf %v", name, claims["cnf"])
		}
	}

	// Self-managed, pinned: only that exact certificate.
	now := time.Now()
	pinned, pinnedPEM := ext.Issue(t, "orders-client", now.Add(-time.Hour), now.Add(24*time.Hour))
	sameDN, _ := ext.Issue(t, "orders-client", now.Add(-time.Hour), now.Add(24*time.Hour))
	raw, self := s.bindX509("x5", "pinned", map[string]any{"credential-type": "x509", "x509": map[string]any{"certificate": pinnedPEM, "certificate-pinning": true}})
	if self.Key != "" || self.Certificate != pinnedPEM || self.CertURL != s.httpsURL {
		t.Errorf("self-managed credentials: %s", raw)
	}
	code, body = certToken(t, s.mtlsClient(&pinned), self.CertURL, self.ClientID, nil)
	s.wantCertBound(code, body, self.ClientID, pinned.Leaf)
	code, body = certToken(t, s.mtlsClient(&sameDN), self.CertURL, self.ClientID, nil)
	want401(t, "another certificate with the same DN", code, body, "invalid_client", "is not a credential of client")

	// Self-managed, unpinned: newer certificates with the same DNs work;
	// an expired one gets a 401 that says so.
	_, rotPEM := ext.Issue(t, "rotating", now.Add(-3*time.Hour), now.Add(24*time.Hour))
	s.bindX509("x5", "unpinned", map[string]any{"credential-type": "x509", "x509": map[string]any{"certificate": rotPEM, "certificate-pinning": false}})
	newer, _ := ext.Issue(t, "rotating", now.Add(-time.Hour), now.Add(24*time.Hour))
	expired, _ := ext.Issue(t, "rotating", now.Add(-2*time.Hour), now.Add(-time.Minute))
	code, body = certToken(t, s.mtlsClient(&newer), s.httpsURL, self.ClientID, nil)
	s.wantCertBound(code, body, self.ClientID, newer.Leaf)
	code, body = certToken(t, s.mtlsClient(&expired), s.httpsURL, self.ClientID, nil)
	want401(t, "expired certificate", code, body, "invalid_client", "expired at")

	// Certificates of other clients, and clients without a certificate.
	code, body = certToken(t, withCert, s.httpsURL, "sb-x5only!t1", nil)
	want401(t, "certificate of another client", code, body, "invalid_client", "is not a credential of client")
	code, body = certToken(t, s.mtlsClient(nil), s.httpsURL, "sb-x5only!t1", nil)
	want401(t, "x509-only client without a certificate", code, body, "unauthorized", "Unsupported instance credential for sb-x5only!t1")
	code, body = certToken(t, &http.Client{Timeout: 10 * time.Second}, s.httpURL, "sb-x5only!t1", nil)
	want401(t, "x509-only client over plain HTTP", code, body, "unauthorized", "Unsupported instance credential")

	// Broker errors name the parameter.
	_, untrustedPEM := keystest.NewCA(t, "Untrusted CA").Issue(t, "x", now.Add(-time.Hour), now.Add(time.Hour))
	for _, tc := range []struct {
		name     string
		instance string
		params   any
		want     string
	}{
		{"key length", "x5", map[string]any{"credential-type": "x509", "x509": map[string]any{"key-length": 1024}}, "x509.key-length: 1024 is not supported; use 2048, 4096 or 8192"},
		{"validity type", "x5", map[string]any{"x509": map[string]any{"validity-type": "WEEKS"}}, "x509.validity-type"},
		{"untrusted certificate", "x5", map[string]any{"x509": map[string]any{"certificate": untrustedPEM}}, "x509.certificate: is not issued by a trusted CA"},
		{"malformed certificate", "x5", map[string]any{"x509": map[string]any{"certificate": "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----"}}, "x509.certificate: not a PEM certificate"},
		{"disallowed type", "x5only", map[string]any{"credential-type": "binding-secret"}, `credential-type "binding-secret" is not allowed`},
		{"misplaced parameter", "x5", map[string]any{"credential-type": "x509", "validity": 3}, "validity: belongs inside the x509 object"},
	} {
		code, body := s.bindStatus(tc.instance, "bad-"+strings.ReplaceAll(tc.name, " ", "-"), tc.params)
		desc, _ := body["description"].(string)
		if code != 400 || body["error"] != "BadRequest" || !strings.Contains(desc, tc.want) {
			t.Errorf("%s: %d %v; want 400 BadRequest containing %q", tc.name, code, body, tc.want)
		}
	}

	// GET binding, and a retried bind, return the certificate with its
	// key (kept sealed): the platform may never have seen the first answer.
	code, got := s.broker("GET", "/v2/service_instances/x5/service_bindings/managed", nil)
	gc, _ := got["credentials"].(map[string]any)
	if code != 200 || gc["certificate"] != managed.Certificate || gc["key"] != managed.Key {
		t.Errorf("GET binding: %d certificate equal %v, key equal %v", code, gc["certificate"] == managed.Certificate, gc["key"] == managed.Key)
	}

	// Unbinding stops the certificate at once, on an open keep-alive connection.
	var reused []bool
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused = append(reused, i.Reused) }})
	post := func() (int, map[string]any) {
		req, _ := http.NewRequestWithContext(ctx, "POST", managed.CertURL+"/oauth/token", strings.NewReader("grant_type=client_credentials&client_id="+url.QueryEscape(managed.ClientID)))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := withCert.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	if code, body := post(); code != 200 {
		t.Fatalf("before unbind: %d %v", code, body)
	}
	s.unbind("x5", "managed")
	code, body = post()
	want401(t, "certificate of an unbound binding", code, body, "invalid_client", "is not a credential")
	if len(reused) != 2 || !reused[1] {
		t.Errorf("connections reused %v: the request after unbind must use the same connection", reused)
	}

	// After a restart the bindings are still there, and the unbound one is still gone.
	s.stop()
	s = startServer(t, dataDir, "--client-ca", caFile)
	code, body = certToken(t, s.mtlsClient(&pinned), s.httpsURL, self.ClientID, nil)
	s.wantCertBound(code, body, self.ClientID, pinned.Leaf)
	code, body = certToken(t, s.mtlsClient(&cert), s.httpsURL, managed.ClientID, nil)
	want401(t, "after restart, certificate of the unbound binding", code, body, "invalid_client", "is not a credential")
}

// TestX509TrustedProxy puts a TLS-terminating proxy (Envoy-like: it
// verifies the client's certificate and forwards it in
// X-Forwarded-Client-Cert) in front of the plain HTTP listener. The server
// trusts only the proxy's source address, 127.0.0.2.
func TestX509TrustedProxy(t *testing.T) {
	needTools(t, "curl")
	dir := t.TempDir()
	s := startServer(t, "", "--trusted-proxy", "127.0.0.2/32", "--client-cert-header", "envoy")
	s.provision("px", "px-app", fmt.Sprintf(x5Descriptor, "pxapp"))
	_, creds := s.bindX509("px", "px-cert", nil)
	cert, err := tls.X509KeyPair([]byte(creds.Certificate), []byte(creds.Key))
	if err != nil {
		t.Fatal(err)
	}

	// The proxy, with its own server certificate.
	proxyCA := keystest.NewCA(t, "Proxy CA")
	proxyCert, _ := proxyCA.IssueServer(t, "proxy", time.Now().Add(-time.Hour), time.Now().Add(time.Hour), "localhost")
	backend, _ := url.Parse(s.httpURL)
	fromProxy := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, Timeout: 5 * time.Second}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(backend)
			pr.Out.Header.Del("X-Forwarded-Client-Cert") // sanitize, then set
			if cs := pr.In.TLS; cs != nil && len(cs.PeerCertificates) > 0 {
				leaf := cs.PeerCertificates[0]
				sum := sha256.Sum256(leaf.Raw)
				pemLeaf := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw})
				pr.Out.Header.Set("X-Forwarded-Client-Cert", fmt.Sprintf(`By=spiffe://cluster.local/ns/auth/sa/xsuaa;Hash=%x;Cert="%s";Subject="%s"`,
					sum, url.PathEscape(string(pemLeaf)), leaf.Subject))
			}
		},
		Transport: &http.Transport{DialContext: fromProxy.DialContext},
	}
	proxy := httptest.NewUnstartedServer(rp)
	proxy.TLS = &tls.Config{Certificates: []tls.Certificate{proxyCert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: s.caPool()}
	proxy.StartTLS()
	defer proxy.Close()

	// curl → proxy (mTLS) → xsuaa (HTTP, certificate in the header).
	for name, content := range map[string]string{"cert.pem": creds.Certificate, "key.pem": creds.Key, "proxy-ca.pem": proxyCA.PEM()} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.Command("curl", "-sS", "--cacert", filepath.Join(dir, "proxy-ca.pem"), "--cert", filepath.Join(dir, "cert.pem"), "--key", filepath.Join(dir, "key.pem"),
		"-X", "POST", proxy.URL+"/oauth/token", "-d", "grant_type=client_credentials&client_id="+creds.ClientID).CombinedOutput()
	var body map[string]any
	if err != nil || json.Unmarshal(out, &body) != nil {
		t.Fatalf("curl through the proxy: %v: %s", err, out)
	}
	s.wantCertBound(200, body, creds.ClientID, cert.Leaf)

	// The same kinds of headers straight from a client are ignored.
	pemLeaf := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Leaf.Raw}))
	headers := map[string]map[string]string{
		"envoy":    {"X-Forwarded-Client-Cert": `Cert="` + url.PathEscape(pemLeaf) + `"`},
		"gorouter": {"X-Forwarded-Client-Cert": base64.StdEncoding.EncodeToString(cert.Leaf.Raw)},
		"rfc 9440": {"Client-Cert": ":" + base64.StdEncoding.EncodeToString(cert.Leaf.Raw) + ":"},
	}
	direct := &http.Client{Timeout: 10 * time.Second}
	proxied := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: fromProxy.DialContext}}
	for name, hdr := range headers {
		code, body := certToken(t, direct, s.httpURL, creds.ClientID, hdr)
		want401(t, name+" header from an untrusted address", code, body, "unauthorized", "Unsupported instance credential")
		code, body = certToken(t, proxied, s.httpURL, creds.ClientID, hdr)
		if name == "envoy" {
			s.wantCertBound(code, body, creds.ClientID, cert.Leaf)
			continue
		}
		// The server reads only the header format the proxy sets (which
		// the proxy sanitizes): RFC 9440's header is ignored, and
		// X-Forwarded-Client-Cert is read only in Envoy's form.
		if name == "gorouter" {
			want401(t, name+" header through the envoy proxy", code, body, "invalid_client", "X-Forwarded-Client-Cert")
		} else {
			want401(t, name+" header through the envoy proxy", code, body, "unauthorized", "Unsupported instance credential")
		}
	}

	// From the proxy's address, a forwarded certificate is still verified.
	forged, _ := keystest.NewCA(t, "Forged CA").Issue(t, "px-cert", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	code, body := certToken(t, proxied, s.httpURL, creds.ClientID, map[string]string{"X-Forwarded-Client-Cert": `Cert="` + url.PathEscape(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: forged.Leaf.Raw}))) + `"`})
	want401(t, "forwarded certificate of an untrusted CA", code, body, "invalid_client", "is not a credential")
	code, body = certToken(t, proxied, s.httpURL, creds.ClientID, map[string]string{"X-Forwarded-Client-Cert": `Hash=abc;By=x`})
	want401(t, "forwarded header without a certificate", code, body, "invalid_client", "has no Cert or Chain")

	// Unbinding stops the forwarded certificate too.
	s.unbind("px", "px-cert")
	code, body = certToken(t, proxied, s.httpURL, creds.ClientID, headers["envoy"])
	want401(t, "forwarded certificate of an unbound binding", code, body, "invalid_client", "is not a credential")
}

// TestXssecX509 proves that @sap/xssec fetches a token with an x509
// binding (mTLS to certurl) and validates it, with testdata/xssec/x509.js.
func TestXssecX509(t *testing.T) {
	node, modules, ok := needNode(t)
	if !ok {
		t.Skip("node and npm are needed to run @sap/xssec against the server")
	}

	s := startServer(t, "")
	s.provision("xs-x509", "xssec-x509", fmt.Sprintf(x5Descriptor, "xssecx509"))
	raw, _ := s.bindX509("xs-x509", "xs-x509-cert", map[string]any{"credential-type": "x509"})
	foreign, _ := keystest.NewCA(t, "Foreign CA").Issue(t, "foreign", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	foreignPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: foreign.Leaf.Raw}))
	cfg := map[string]any{"credentials": raw, "foreignCertificate": foreignPEM, "foreignKey": keystest.KeyPEM(t, foreign)}
	runNodeScript(t, s, node, modules, "xssec/x509.js", writeJSONFile(t, cfg))
}
