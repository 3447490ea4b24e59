package server

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openxsuaa/xsuaa/clients/registry"
	"github.com/openxsuaa/xsuaa/clients/storage"
	"github.com/openxsuaa/xsuaa/keys"
	"github.com/openxsuaa/xsuaa/keys/keystest"
	"github.com/openxsuaa/xsuaa/scopes"
)

// mtlsFixture is the server fixture of helpers_test.go with a CA, an
// instance that allows x509 and secrets, a secret binding (fixture's
// clientID/secret) and a service-managed x509 binding (cert), and a clock
// the test can move.
type mtlsFixture struct {
	*fixture
	ca     *keys.CA
	cert   tls.Certificate // the x509 binding's certificate and key
	leaf   *x509.Certificate
	other  *keystest.CA // a CA trusted for self-managed certificates
	mu     sync.Mutex
	offset time.Duration
}

func (m *mtlsFixture) now() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return time.Now().Add(m.offset)
}

func (m *mtlsFixture) advance(d time.Duration) {
	m.mu.Lock()
	m.offset += d
	m.mu.Unlock()
}

func newMTLSFixture(tb testing.TB) *mtlsFixture {
	tb.Helper()
	ctx := context.Background()
	m := &mtlsFixture{other: keystest.NewCA(tb, "Self-managed CA")}
	p := newParts(tb)
	var err error
	if m.ca, err = keys.LoadCA(ctx, storage.Keys(p.store), p.mk, time.Now); err != nil {
		tb.Fatal(err)
	}
	pool := m.ca.Pool()
	pool.AddCert(m.other.Cert)
	rc := p.registryConfig(tb, pool, m.now)
	rc.CA = m.ca
	reg := registry.New(rc)
	srv, err := New(p.serverConfig(reg))
	if err != nil {
		tb.Fatal(err)
	}
	for _, in := range []struct{ id, desc string }{
		{"inst-1", `{"xsappname":"bench","scopes":[{"name":"$XSAPPNAME.Read"}],"authorities":["$XSAPPNAME.Read"],"oauth2-configuration":{"credential-types":["binding-secret","x509"]}}`},
		{"inst-x", `{"xsappname":"certonly","oauth2-configuration":{"credential-types":["x509"]}}`},
	} {
		if _, _, err := reg.CreateInstance(ctx, registry.InstanceRequest{
			ID: in.id, Name: in.id, ServiceID: ServiceID, PlanID: PlanApplicationID, Plan: scopes.PlanApplication,
			OrgGUID: "o", SpaceGUID: "s", Parameters: json.RawMessage(in.desc),
		}); err != nil {
			tb.Fatal(err)
		}
	}
	sec, _, err := reg.Bind(ctx, registry.BindRequest{InstanceID: "inst-1", BindingID: "bind-s"})
	if err != nil {
		tb.Fatal(err)
	}
	x, _, err := reg.Bind(ctx, registry.BindRequest{InstanceID: "inst-1", BindingID: "bind-x", Parameters: json.RawMessage(`{"credential-type":"x509"}`)})
	if err != nil {
		tb.Fatal(err)
	}
	if m.cert, err = tls.X509KeyPair([]byte(x.Certificate), []byte(x.Key)); err != nil {
		tb.Fatal(err)
	}
	m.leaf = m.cert.Leaf
	m.fixture = &fixture{srv: srv, reg: reg, clientID: sec.ClientID, secret: sec.ClientSecret}
	return m
}

// tlsServer serves h on a loopback TLS listener configured as xsuaa serve
// configures its HTTPS listener.
func (m *mtlsFixture) tlsServer(tb testing.TB, h http.Handler) *httptest.Server {
	tb.Helper()
	cert, err := m.ca.IssueServerCertificate([]string{"127.0.0.1"})
	if err != nil {
		tb.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(h)
	ts.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequestClientCert, ClientCAs: m.ca.Pool(), MinVersion: tls.VersionTLS12}
	ts.StartTLS()
	tb.Cleanup(ts.Close)
	return ts
}

// client returns an HTTP client trusting the fixture's CA that presents
// certs[0], if given, whatever CAs the server asks for (as curl does; Go's
// client would otherwise send no certificate the server's CA list rules out).
func (m *mtlsFixture) client(certs ...tls.Certificate) *http.Client {
	cfg := &tls.Config{RootCAs: m.ca.Pool()}
	if len(certs) > 0 {
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &certs[0], nil }
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg, MaxIdleConnsPerHost: 64}}
}

// postToken posts form and returns the status and the decoded JSON body.
func postToken(tb testing.TB, c *http.Client, u string, form url.Values, hdr map[string]string) (int, map[string]any) {
	tb.Helper()
	req, _ := http.NewRequest("POST", u+"/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		tb.Fatalf("%d, body is not JSON: %q", resp.StatusCode, b)
	}
	return resp.StatusCode, m
}

// tokenClaims decodes a token's payload without verifying it (the token
// path's signature is covered elsewhere).
func tokenClaims(tb testing.TB, body map[string]any) map[string]any {
	tb.Helper()
	tok, _ := body["access_token"].(string)
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		tb.Fatalf("no JWT in %v", body)
	}
	p, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		tb.Fatal(err)
	}
	var c map[string]any
	json.Unmarshal(p, &c)
	return c
}

func thumbprint(c *x509.Certificate) string {
	s := sha256.Sum256(c.Raw)
	return base64.RawURLEncoding.EncodeToString(s[:])
}

func TestMTLSDirect(t *testing.T) {
	m := newMTLSFixture(t)
	ts := m.tlsServer(t, m.srv)
	withCert, noCert := m.client(m.cert), m.client()
	certForm := url.Values{"grant_type": {"client_credentials"}, "client_id": {m.clientID}}
	secretForm := url.Values{"grant_type": {"client_credentials"}, "client_id": {m.clientID}, "client_secret": {m.secret}}

	code, body := postToken(t, withCert, ts.URL, certForm, nil)
	if code != 200 {
		t.Fatalf("mTLS: %d %v", code, body)
	}
	claims := tokenClaims(t, body)
	if cnf, _ := claims["cnf"].(map[string]any); cnf == nil || cnf["x5t#S256"] != thumbprint(m.leaf) {
		t.Errorf("cnf = %v, want x5t#S256 %s", claims["cnf"], thumbprint(m.leaf))
	}
	if claims["client_id"] != m.clientID || claims["grant_type"] != "client_credentials" {
		t.Errorf("claims = %v", claims)
	}

	// Secrets keep working at the same URL, with or without a certificate,
	// and their tokens are not certificate-bound.
	for name, c := range map[string]*http.Client{"with a certificate": withCert, "without": noCert} {
		code, body := postToken(t, c, ts.URL, secretForm, nil)
		if code != 200 {
			t.Errorf("secret %s: %d %v", name, code, body)
		} else if _, ok := tokenClaims(t, body)["cnf"]; ok {
			t.Errorf("secret %s: token has cnf", name)
		}
	}

	// A certificate from a CA the server does not trust does not break
	// secret authentication; used for mTLS it gets a 401 naming the problem.
	foreign, _ := keystest.NewCA(t, "Foreign CA").Issue(t, "intruder", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if code, body := postToken(t, m.client(foreign), ts.URL, secretForm, nil); code != 200 {
		t.Errorf("secret with a foreign certificate: %d %v", code, body)
	}

	tests := []struct {
		name      string
		client    *http.Client
		form      url.Values
		wantError string
		wantDesc  string
	}{
		{"foreign certificate", m.client(foreign), certForm, "invalid_client", "not a credential of client"},
		{"certificate of another client", withCert, url.Values{"grant_type": {"client_credentials"}, "client_id": {"sb-certonly!t1"}}, "invalid_client", "not a credential of client \"sb-certonly!t1\""},
		{"certificate without client_id", withCert, url.Values{"grant_type": {"client_credentials"}}, "invalid_client", "client_id is required"},
		{"no certificate", noCert, certForm, "invalid_client", "Bad credentials"},
		{"no credentials at all", noCert, url.Values{"grant_type": {"client_credentials"}}, "invalid_client", "Full authentication is required"},
		{"x509-only client without a certificate", noCert, url.Values{"grant_type": {"client_credentials"}, "client_id": {"sb-certonly!t1"}}, "unauthorized", "Unsupported instance credential for sb-certonly!t1"},
		{"x509-only client with a secret", noCert, url.Values{"grant_type": {"client_credentials"}, "client_id": {"sb-certonly!t1"}, "client_secret": {"x"}}, "unauthorized", "Unsupported instance credential"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := postToken(t, tc.client, ts.URL, tc.form, nil)
			desc, _ := body["error_description"].(string)
			if code != 401 || body["error"] != tc.wantError || !strings.Contains(desc, tc.wantDesc) {
				t.Errorf("%d %v; want 401 %s containing %q", code, body, tc.wantError, tc.wantDesc)
			}
		})
	}

	// Expiry is checked per request: the same certificate on the same
	// keep-alive connection fails once it has expired.
	m.advance(8 * 24 * time.Hour)
	code, body = postToken(t, withCert, ts.URL, certForm, nil)
	if desc, _ := body["error_description"].(string); code != 401 || !strings.Contains(desc, "expired at") {
		t.Errorf("expired certificate: %d %v; want 401 expired", code, body)
	}
}

func TestMTLSUnbindOnOpenConnection(t *testing.T) {
	m := newMTLSFixture(t)
	ts := m.tlsServer(t, m.srv)
	c := m.client(m.cert)
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {m.clientID}}
	var conns int
	trace := func() {
		// One keep-alive connection carries every request below.
		c.Transport.(*http.Transport).DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			conns++
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		}
	}
	trace()
	if code, body := postToken(t, c, ts.URL, form, nil); code != 200 {
		t.Fatalf("before unbind: %d %v", code, body)
	}
	if err := m.reg.Unbind(context.Background(), "inst-1", "bind-x"); err != nil {
		t.Fatal(err)
	}
	if code, body := postToken(t, c, ts.URL, form, nil); code != 401 {
		t.Errorf("after unbind, same connection: %d %v; want 401", code, body)
	}
	if conns != 1 {
		t.Errorf("%d connections, want 1 (keep-alive)", conns)
	}
}

// forwardedHeaders formats a chain (leaf first) as each kind of proxy does.
func forwardedHeaders(chain ...*x509.Certificate) map[string]map[string]string {
	leaf := chain[0]
	pemOf := func(cs ...*x509.Certificate) string {
		var b strings.Builder
		for _, c := range cs {
			b.Write(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
		}
		return b.String()
	}
	sum := sha256.Sum256(leaf.Raw)
	sf := func(c *x509.Certificate) string { return ":" + base64.StdEncoding.EncodeToString(c.Raw) + ":" }
	var chainSF []string
	for _, c := range chain[1:] {
		chainSF = append(chainSF, sf(c))
	}
	return map[string]map[string]string{
		// Two hops: the element the nearest proxy appended (the last) counts.
		"envoy Cert": {headerXFCC: `By=spiffe://cluster.local/ns/auth/sa/gateway;Hash=00,By=spiffe://cluster.local/ns/auth/sa/xsuaa;Hash=` + hex.EncodeToString(sum[:]) +
			`;Cert="` + url.PathEscape(pemOf(leaf)) + `";Subject="` + leaf.Subject.String() + `";URI=`},
		"envoy Chain":         {headerXFCC: `Hash=` + hex.EncodeToString(sum[:]) + `;Chain="` + url.PathEscape(pemOf(chain...)) + `"`},
		"envoy unquoted Cert": {headerXFCC: `Cert=` + url.PathEscape(pemOf(leaf))},
		"gorouter":            {headerXFCC: base64.StdEncoding.EncodeToString(leaf.Raw)},
		"rfc 9440":            {headerClientCert: sf(leaf), headerClientCertChain: strings.Join(chainSF, ", ")},
	}
}

// certHeaderOf is the format a forwardedHeaders entry is in.
func certHeaderOf(name string) CertHeader {
	switch {
	case strings.HasPrefix(name, "envoy"):
		return CertHeaderEnvoy
	case name == "gorouter":
		return CertHeaderGorouter
	}
	return CertHeaderRFC9440
}

func TestForwardedClientCertificate(t *testing.T) {
	m := newMTLSFixture(t)
	h := TrustProxies(m.srv, []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("2001:db8::/32")})
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {m.clientID}}.Encode()
	serve := func(remote string, hdr map[string]string) (int, map[string]any) {
		req := httptest.NewRequest("POST", "/oauth/token", strings.NewReader(form))
		req.RemoteAddr = remote
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var body map[string]any
		json.Unmarshal(rec.Body.Bytes(), &body)
		return rec.Code, body
	}
	for name, hdr := range forwardedHeaders(m.leaf, m.ca.Cert) {
		t.Run(name, func(t *testing.T) {
			m.srv.certHeader = certHeaderOf(name)
			for _, remote := range []string{"192.0.2.10:4711", "[2001:db8::7]:4711", "[::ffff:192.0.2.11]:1"} {
				code, body := serve(remote, hdr)
				if code != 200 {
					t.Errorf("from trusted %s: %d %v", remote, code, body)
					continue
				}
				if cnf, _ := tokenClaims(t, body)["cnf"].(map[string]any); cnf["x5t#S256"] != thumbprint(m.leaf) {
					t.Errorf("from trusted %s: cnf %v", remote, cnf)
				}
			}
			for _, remote := range []string{"198.51.100.7:4711", "[2001:db9::1]:1", "127.0.0.1:1", "garbage"} {
				if code, body := serve(remote, hdr); code != 401 {
					t.Errorf("from untrusted %s: %d %v; the header must be ignored", remote, code, body)
				}
			}
		})
	}

	// Forwarded certificates are verified like direct ones.
	now := time.Now()
	forged := keystest.NewCA(t, "Forged CA")
	fake := leafOf(forged.Issue(t, "bind-x", now.Add(-time.Hour), now.Add(time.Hour)))
	expired := leafOf(m.other.Issue(t, "old", now.Add(-2*time.Hour), now.Add(-time.Hour)))
	real := forwardedHeaders(m.leaf, m.ca.Cert)
	tests := []struct {
		name   string
		format CertHeader
		hdr    map[string]string
		want   string
	}{
		{"untrusted issuer", CertHeaderGorouter, forwardedHeaders(fake)["gorouter"], "not a credential of client"},
		{"malformed XFCC", CertHeaderEnvoy, map[string]string{headerXFCC: `Cert="%zz"`}, "cannot be read: X-Forwarded-Client-Cert Cert: bad URL encoding"},
		{"XFCC without Cert", CertHeaderEnvoy, map[string]string{headerXFCC: `By=spiffe://x;Hash=abc`}, "has no Cert or Chain"},
		{"malformed Client-Cert", CertHeaderRFC9440, map[string]string{headerClientCert: "abc"}, "cannot be read: Client-Cert: not a structured-field byte sequence"},
		{"expired and unbound", CertHeaderRFC9440, forwardedHeaders(expired)["rfc 9440"], "not a credential"},
		{"empty header: no certificate", CertHeaderEnvoy, map[string]string{headerXFCC: " ", headerClientCert: ""}, "Bad credentials"},
		// A client's own element comes first; only the proxy's last one counts.
		{"XFCC: the client's element first, the proxy's without Cert", CertHeaderEnvoy,
			map[string]string{headerXFCC: real["envoy unquoted Cert"][headerXFCC] + `,By=spiffe://proxy;Hash=00`}, "the last element (the nearest proxy's) has no Cert"},
		// Every header but the configured one is ignored, from the trusted proxy too.
		{"Client-Cert to an envoy deployment", CertHeaderEnvoy, real["rfc 9440"], "Bad credentials"},
		{"XFCC to an rfc9440 deployment", CertHeaderRFC9440, real["envoy Cert"], "Bad credentials"},
		{"envoy form to a gorouter deployment", CertHeaderGorouter, real["envoy Cert"], "not the base64 DER"},
		{"gorouter form to an envoy deployment", CertHeaderEnvoy, real["gorouter"], "X-Forwarded-Client-Cert"},
		{"any header without --client-cert-header", CertHeaderNone, real["rfc 9440"], "Bad credentials"},
		{"XFCC without --client-cert-header", CertHeaderNone, real["gorouter"], "Bad credentials"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m.srv.certHeader = tc.format
			code, body := serve("192.0.2.1:1", tc.hdr)
			desc, _ := body["error_description"].(string)
			if code != 401 || body["error"] != "invalid_client" || !strings.Contains(desc, tc.want) {
				t.Errorf("%d %v; want 401 invalid_client containing %q", code, body, tc.want)
			}
		})
	}

	// A self-managed certificate bound to the client and forwarded with
	// its chain, once valid and once expired.
	ctx := context.Background()
	m.srv.certHeader = CertHeaderEnvoy
	sm := leafOf(m.other.Issue(t, "self-managed", now.Add(-time.Hour), now.Add(time.Hour)))
	if _, _, err := m.reg.Bind(ctx, registry.BindRequest{InstanceID: "inst-1", BindingID: "bind-sm", Parameters: mustJSONRaw(map[string]any{
		"credential-type": "x509", "x509": map[string]any{"certificate": string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: sm.Raw}))},
	})}); err != nil {
		t.Fatal(err)
	}
	if code, body := serve("192.0.2.1:1", forwardedHeaders(sm)["envoy Cert"]); code != 200 {
		t.Errorf("self-managed certificate: %d %v", code, body)
	}
	m.advance(2 * time.Hour)
	code, body := serve("192.0.2.1:1", forwardedHeaders(sm)["envoy Cert"])
	if desc, _ := body["error_description"].(string); code != 401 || !strings.Contains(desc, "expired at") {
		t.Errorf("expired self-managed certificate: %d %v", code, body)
	}
}

func mustJSONRaw(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func TestParsePrefix(t *testing.T) {
	tests := []struct{ in, want, err string }{
		{"10.0.0.0/8", "10.0.0.0/8", ""},
		{"10.1.2.3/8", "10.0.0.0/8", ""},
		{"127.0.0.1", "127.0.0.1/32", ""},
		{"::1", "::1/128", ""},
		{"::ffff:10.0.0.0/104", "10.0.0.0/8", ""},
		{" fd00::/8 ", "fd00::/8", ""},
		{"localhost", "", "err"},
		{"10.0.0.0/33", "", "err"},
	}
	for _, tc := range tests {
		p, err := ParsePrefix(tc.in)
		if (err != nil) != (tc.err != "") || (err == nil && p.String() != tc.want) {
			t.Errorf("ParsePrefix(%q) = %v, %v; want %s %s", tc.in, p, err, tc.want, tc.err)
		}
	}
}

func TestParseForwardedHeaders(t *testing.T) {
	ca := keystest.NewCA(t, "Parser CA")
	now := time.Now()
	leaf := leafOf(ca.Issue(t, "leaf", now, now.Add(time.Hour)))
	quoted := `Cert="` + url.PathEscape(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw}))) + `"`
	tests := []struct {
		name    string
		format  CertHeader
		xfcc    string
		n       int
		wantErr string
	}{
		{"quoted subject with separators", CertHeaderEnvoy, `Subject="CN=a,OU=b;c=\"d\"";` + quoted, 1, ""},
		{"key case", CertHeaderEnvoy, strings.Replace(quoted, "Cert=", "cert=", 1), 1, ""},
		{"spaces around pairs", CertHeaderEnvoy, ` Hash=00 ; ` + quoted + ` `, 1, ""},
		{"form-encoded armour", CertHeaderEnvoy, `Cert=` + strings.ReplaceAll(url.PathEscape(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw}))), "%20", "+"), 1, ""},
		{"bare base64 in Cert", CertHeaderEnvoy, `Cert=` + url.QueryEscape(base64.StdEncoding.EncodeToString(leaf.Raw)), 1, ""},
		{"gorouter with line breaks", CertHeaderGorouter, base64.StdEncoding.EncodeToString(leaf.Raw)[:40] + " \n" + base64.StdEncoding.EncodeToString(leaf.Raw)[40:], 1, ""},
		{"the first element ignored", CertHeaderEnvoy, `Cert="garbage",` + quoted, 1, ""},
		{"only the first element has Cert", CertHeaderEnvoy, quoted + `,Hash=00`, 0, "has no Cert or Chain"},
		{"an empty last element", CertHeaderEnvoy, quoted + `, `, 0, "empty element"},
		{"too many elements", CertHeaderEnvoy, strings.Repeat("Hash=00,", 20) + quoted, 0, "more than 16 elements"},
		{"unterminated quote", CertHeaderEnvoy, `Cert="abc`, 0, "unterminated quoted value"},
		{"junk after quote", CertHeaderEnvoy, `Cert="abc"x`, 0, "after a quoted value"},
		{"pair without =", CertHeaderEnvoy, `Cert`, 0, ""},
		{"empty", CertHeaderEnvoy, ``, 0, "empty"},
		{"bad base64", CertHeaderGorouter, `abc!`, 0, ""},
		{"envoy's form as gorouter's", CertHeaderGorouter, quoted, 0, "not the base64 DER"},
		{"not a certificate", CertHeaderEnvoy, `Cert=` + url.PathEscape("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), 0, "Cert"},
		{"a key", CertHeaderEnvoy, `Cert=` + url.PathEscape("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), 0, "not a CERTIFICATE"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			certs, err := parseXFCC(tc.xfcc, tc.format)
			if tc.n > 0 {
				if err != nil || len(certs) != tc.n || !certs[0].Equal(leaf) {
					t.Errorf("parseXFCC = %d certificates, %v; want %d starting with the leaf", len(certs), err, tc.n)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("parseXFCC = %d certificates, %v; want an error containing %q", len(certs), err, tc.wantErr)
			}
		})
	}

	sf := ":" + base64.StdEncoding.EncodeToString(leaf.Raw) + ":"
	cc := []struct {
		name, cert, chain string
		n                 int
		wantErr           string
	}{
		{"leaf", sf, "", 1, ""},
		{"leaf with parameters", sf + ";a=1", "", 1, ""},
		{"leaf and chain", sf, sf + ", " + sf, 3, ""},
		{"no colons", base64.StdEncoding.EncodeToString(leaf.Raw), "", 0, "not a structured-field byte sequence"},
		{"no closing colon", ":" + base64.StdEncoding.EncodeToString(leaf.Raw), "", 0, "closing ':'"},
		{"junk after", sf + "x", "", 0, "unexpected data"},
		{"bad base64", ":!!:", "", 0, "bad base64"},
		{"bad chain item", sf, sf + ",:AAAA:", 0, "Client-Cert-Chain item 2"},
		{"long chain", sf, strings.Repeat(sf+",", 9) + sf, 0, "more than 7 certificates"},
	}
	for _, tc := range cc {
		t.Run("Client-Cert "+tc.name, func(t *testing.T) {
			certs, err := parseClientCertHeader(tc.cert, tc.chain)
			if tc.n > 0 {
				if err != nil || len(certs) != tc.n {
					t.Errorf("= %d certificates, %v; want %d", len(certs), err, tc.n)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("= %d certificates, %v; want an error containing %q", len(certs), err, tc.wantErr)
			}
		})
	}
}

// leafOf returns the parsed certificate of keystest.CA.Issue's result.
func leafOf(c tls.Certificate, _ string) *x509.Certificate { return c.Leaf }
