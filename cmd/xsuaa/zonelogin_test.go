package main

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// tenantTransport trusts the server's CA and dials every *.localhost name
// on loopback, as curl and browsers resolve it.
func (s *testServer) tenantTransport() *http.Transport {
	return &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: s.caPool()},
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if host, p, err := net.SplitHostPort(addr); err == nil && strings.HasSuffix(host, ".localhost") {
				addr = net.JoinHostPort("127.0.0.1", p)
			}
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}
}

// TestZoneLogin: users and role collections live in a zone (--zone); a
// user of zone t1 logs in at t1's tenant host through /oauth/authorize
// with PKCE for a client of t1 and gets a token naming t1 (go-oidc
// discovers t1's issuer); the password grant works in t1. Isolation: the
// same user cannot log in at t2's tenant host, t1's session is not one at
// t2, t1's client is unknown at the bare host, users and role collections
// are listed per zone, and an unknown zone's pages are a 404.
func TestZoneLogin(t *testing.T) {
	s := startServer(t, "")
	var z1, z2 struct{ ID string }
	s.okJSON(&z1, "create-zone", "t1")
	s.okJSON(&z2, "create-zone", "t2")
	s.ok("create-service", "demo-xsuaa", "--zone", "t1", "-c", demoLoginDescriptor)
	var demo credentials
	s.okJSON(&demo, "create-service-key", "demo-xsuaa", "k")
	s.ok("create-user", "alice", "--zone", "t1", "--password", "alice-pw-1", "--email", "alice@example.com")
	s.ok("assign-role-collection", "Demo_Viewer", "alice", "--zone", "t1")

	// Listed per zone; another zone's names are not found there.
	for _, tc := range []struct {
		args []string
		has  bool
	}{
		{[]string{"users", "--zone", "t1"}, true},
		{[]string{"users"}, false},
		{[]string{"users", "--zone", "t2"}, false},
		{[]string{"role-collections", "--zone", "t1"}, true},
		{[]string{"role-collections", "--zone", "t2"}, false},
	} {
		out := s.ok(tc.args...)
		if has := strings.Contains(out, "alice") || strings.Contains(out, "Demo_Viewer"); has != tc.has {
			t.Errorf("%v: %q", tc.args, out)
		}
	}
	s.fails(1, []string{`no zone has the subdomain "nosuch"`}, "users", "--zone", "nosuch")
	s.fails(1, []string{"user alice (origin sap.default) not found"}, "assign-role-collection", "Demo_Viewer", "alice", "--zone", "t2")

	transport := s.tenantTransport()
	ctx := oidc.ClientContext(context.Background(), &http.Client{Transport: transport})
	provider, err := oidc.NewProvider(ctx, demo.URL+"/oauth/token")
	if err != nil {
		t.Fatalf("discovery at the tenant host: %v", err)
	}
	cfg := oauth2.Config{ClientID: demo.ClientID, ClientSecret: demo.ClientSecret, Endpoint: provider.Endpoint(),
		RedirectURL: appCallback, Scopes: []string{"openid", demo.XSAppName + ".Display"}}
	verifier := oauth2.GenerateVerifier()
	b := newBrowserAt(t, s, demo.URL)
	b.client.Transport = transport
	p := b.get(cfg.AuthCodeURL("state-0123456789", oauth2.S256ChallengeOption(verifier)))
	if !strings.Contains(p.body, "t1") {
		t.Errorf("the login page does not name zone t1: %s", p.body)
	}
	code, _ := callbackParams(t, b.login(p, "alice", "alice-pw-1"))
	tok, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("code exchange at the tenant host: %v", err)
	}
	_, claims := s.verify(tok.AccessToken)
	if claims["zid"] != demo.IdentityZoneID || claims["user_name"] != "alice" || claims["iss"] != demo.URL+"/oauth/token" ||
		!strings.Contains(tok.Extra("scope").(string), demo.XSAppName+".Display") {
		t.Errorf("a user token of zone t1: %v scope %v", claims, tok.Extra("scope"))
	}
	pw, err := cfg.PasswordCredentialsToken(ctx, "alice", "alice-pw-1")
	if err != nil {
		t.Fatalf("password grant in zone t1: %v", err)
	}
	if _, c := s.verify(pw.AccessToken); c["zid"] != demo.IdentityZoneID {
		t.Errorf("password token zid %v", c["zid"])
	}

	t2 := strings.Replace(demo.URL, "://t1.", "://t2.", 1)
	b2 := newBrowserAtJar(b, t2)
	b2.client.Transport = transport
	p2 := b2.get(t2 + "/login")
	if strings.Contains(p2.body, "You are logged in") {
		t.Errorf("t1's session counts at t2: %s", p2.body)
	}
	if end := b2.login(p2, "alice", "alice-pw-1"); end.code != http.StatusUnauthorized || !strings.Contains(end.body, "Unable to verify") {
		t.Errorf("a user of t1 logging in at t2: %d %s", end.code, end.body)
	}
	bare := newBrowser(t, s)
	if p := bare.get(s.httpsURL + "/oauth/authorize?response_type=code&client_id=" + demo.ClientID + "&redirect_uri=" + appCallback); p.code != 400 ||
		!strings.Contains(p.body, "Unknown client") || strings.Contains(p.body, "t1") {
		t.Errorf("t1's client at the bare host: %d %s", p.code, p.body)
	}
	// The audit events name the zone: alice's failed login was at t2.
	for event, zone := range map[string]string{"user.created": z1.ID, "rolecollection.assigned": z1.ID, "user.login": z1.ID, "user.login.failed": z2.ID} {
		found := false
		for _, line := range strings.Split(s.logs.String(), "\n") {
			found = found || strings.Contains(line, `"event":"`+event+`"`) && strings.Contains(line, `"zone":"`+zone+`"`)
		}
		if !found {
			t.Errorf("no %s audit event naming zone %s", event, zone)
		}
	}
	req, _ := http.NewRequest("GET", s.httpURL+"/login", nil)
	req.Host = "nosuch.localhost"
	if code, body, _ := s.do(req); code != 404 || !strings.Contains(string(body), "Unknown identity zone") {
		t.Errorf("the login page of an unknown zone: %d %s", code, body)
	}
}

// TestZoneCertificate: an x509 binding of an instance in a zone has the
// zone's tenant host as certurl; the certificate authenticates there over
// mTLS (a leaf for the exact name on the server's side) and the token is
// the zone's, bound to the certificate; at the bare host without X-Zid
// the client is unknown.
func TestZoneCertificate(t *testing.T) {
	s := startServer(t, "")
	var zone struct{ ID string }
	s.okJSON(&zone, "create-zone", "t1")
	s.ok("create-service", "certs", "--zone", "t1", "-c", `{"xsappname":"zcerts","oauth2-configuration":{"credential-types":["x509"]}}`)
	var c x5Credentials
	s.okJSON(&c, "create-service-key", "certs", "kx", "-c", `{"credential-type":"x509"}`)
	port := s.httpsURL[strings.LastIndex(s.httpsURL, ":"):]
	if c.CertURL != "https://t1.localhost"+port || c.IdentityZoneID != zone.ID || c.ClientSecret != "" {
		t.Fatalf("x509 credentials of an instance in a zone: certurl %q zone %q", c.CertURL, c.IdentityZoneID)
	}
	cert, err := tls.X509KeyPair([]byte(c.Certificate), []byte(c.Key))
	if err != nil {
		t.Fatal(err)
	}
	transport := s.tenantTransport()
	transport.TLSClientConfig.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
	client := &http.Client{Transport: transport}
	for _, tc := range []struct {
		name, base string
		want       int
	}{
		{"the tenant host", c.CertURL, 200},
		{"the bare host", s.httpsURL, 401},
	} {
		code, body := sendJSON(t, client, formPost(tc.base+"/oauth/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {c.ClientID}}))
		if code != tc.want {
			t.Errorf("%s: %d %v, want %d", tc.name, code, body, tc.want)
			continue
		}
		if tc.want == 200 {
			_, claims := s.verify(body["access_token"].(string))
			if claims["zid"] != zone.ID || claims["iss"] != c.CertURL+"/oauth/token" || claims["cnf"] == nil {
				t.Errorf("%s: a certificate token of zone t1: %v", tc.name, claims)
			}
		}
	}
}
