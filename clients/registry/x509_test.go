package registry_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openxsuaa/xsuaa/clients"
	"github.com/openxsuaa/xsuaa/clients/registry"
	"github.com/openxsuaa/xsuaa/clients/storage"
	"github.com/openxsuaa/xsuaa/clients/storage/sqlstore"
	"github.com/openxsuaa/xsuaa/keys"
	"github.com/openxsuaa/xsuaa/keys/keystest"
)

// extCA is a company PKI outside the server (keystest.CA); leaf returns
// what the registry tests need: the parsed certificate and its PEM.
type extCA struct{ *keystest.CA }

func newExtCA(t testing.TB, cn string) *extCA { return &extCA{keystest.NewCA(t, cn)} }

// leaf issues a client certificate; eku nil means clientAuth.
func (ca *extCA) leaf(t testing.TB, cn string, notBefore, notAfter time.Time, eku ...x509.ExtKeyUsage) (*x509.Certificate, string) {
	t.Helper()
	c, p := ca.Issue(t, cn, notBefore, notAfter, eku...)
	return c.Leaf, p
}

// x509Env is a Registry with a CA and a trusted external CA, over a real
// SQLite file, with a clock the test sets.
type x509Env struct {
	t     *testing.T
	path  string
	store *sqlstore.Store
	mk    *keys.MasterKey
	ca    *keys.CA
	ext   *extCA // trusted (in ClientCAs)
	mu    sync.Mutex
	clock time.Time
	reg   *testRegistry
}

var x509Zone = storage.Zone{ID: "zone-x509", Subdomain: "x509", Index: 1}

const x509Descriptor = `{"xsappname":"%s","oauth2-configuration":{"credential-types":["x509","binding-secret"]}}`

func newX509Env(t *testing.T) *x509Env {
	t.Helper()
	e := &x509Env{t: t, path: filepath.Join(t.TempDir(), "xsuaa.db"), clock: time.Now().UTC()}
	var err error
	if e.store, err = sqlstore.OpenSQLite(context.Background(), e.path); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if e.store != nil {
			e.store.Close()
		}
	})
	if e.mk, err = keys.NewMasterKey([]byte("0123456789abcdef0123456789abcdef")); err != nil {
		t.Fatal(err)
	}
	if _, err := createZone(e.store, x509Zone); err != nil {
		t.Fatal(err)
	}
	if e.ca, err = keys.LoadCA(context.Background(), storage.Keys(e.store), e.mk, e.now); err != nil {
		t.Fatal(err)
	}
	e.ext = newExtCA(t, "Example Client CA")
	e.reg = e.newRegistry()
	return e
}

func (e *x509Env) now() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.clock
}

func (e *x509Env) advance(d time.Duration) {
	e.mu.Lock()
	e.clock = e.clock.Add(d)
	e.mu.Unlock()
}

// newRegistry builds a Registry on the env's store, as a restarted server would.
func (e *x509Env) newRegistry() *testRegistry {
	e.t.Helper()
	pool := e.ca.Pool()
	pool.AddCert(e.ext.Cert)
	return newTestRegistry(e.t, registry.Config{
		Store: e.store, MasterKey: e.mk,
		Endpoints: registry.Endpoints{URL: "https://x509.example:8443", CertURL: "https://x509.cert.example:8443", UAADomain: "x509.example:8443"},
		CA:        e.ca, Now: e.now,
	}, pool, x509Zone.ID)
}

func (e *x509Env) instance(id, xsappname string) {
	e.t.Helper()
	_, _, err := e.reg.CreateInstance(context.Background(), registry.InstanceRequest{
		ID: id, Name: id, ServiceID: "s", PlanID: "p", Plan: "application", OrgGUID: "o", SpaceGUID: "s",
		Parameters: json.RawMessage(strings.ReplaceAll(x509Descriptor, "%s", xsappname)),
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *x509Env) bind(instanceID, bindingID string, params any) (registry.Credentials, error) {
	e.t.Helper()
	raw, _ := json.Marshal(params)
	creds, _, err := e.reg.Bind(context.Background(), registry.BindRequest{InstanceID: instanceID, BindingID: bindingID, Parameters: raw})
	return creds, err
}

func (e *x509Env) mustBind(instanceID, bindingID string, params any) registry.Credentials {
	e.t.Helper()
	creds, err := e.bind(instanceID, bindingID, params)
	if err != nil {
		e.t.Fatalf("Bind(%s, %s, %v): %v", instanceID, bindingID, params, err)
	}
	return creds
}

// auth authenticates clientID with leaf and returns the binding id, or the error.
func (e *x509Env) auth(reg *testRegistry, clientID string, chain ...*x509.Certificate) (string, error) {
	cred, err := reg.AuthenticateCertificate(clientID, chain)
	if err != nil {
		if cred != nil || !errors.Is(err, clients.ErrBadCredentials) {
			e.t.Errorf("AuthenticateCertificate = %v, %v; a failure must be a nil credential and ErrBadCredentials", cred, err)
		}
		return "", err
	}
	if cred.Client.ID != clientID || cred.RevSig == "" {
		e.t.Errorf("AuthenticateCertificate(%s) = client %s, rev_sig %q", clientID, cred.Client.ID, cred.RevSig)
	}
	sum := sha256.Sum256(chain[0].Raw)
	if cred.CertThumbprint != base64.RawURLEncoding.EncodeToString(sum[:]) {
		e.t.Errorf("CertThumbprint = %q, want the base64url SHA-256 of the leaf", cred.CertThumbprint)
	}
	return cred.BindingID, nil
}

func wantOpError(t *testing.T, what string, err, kind error, wantInMsg ...string) {
	t.Helper()
	var oe *registry.OpError
	if !errors.As(err, &oe) || !errors.Is(err, kind) {
		t.Errorf("%s: error %v, want an *OpError of kind %v", what, err, kind)
		return
	}
	for _, s := range wantInMsg {
		if !strings.Contains(oe.Msg, s) {
			t.Errorf("%s: message %q does not contain %q", what, oe.Msg, s)
		}
	}
}

func TestX509ServiceManaged(t *testing.T) {
	ctx := context.Background()
	e := newX509Env(t)
	e.instance("inst-1", "certapp")
	e.instance("inst-2", "otherapp")
	params := map[string]any{"credential-type": "x509", "x509": map[string]any{"key-length": 2048, "validity": 2, "validity-type": "DAYS"}}
	creds := e.mustBind("inst-1", "bind-1", params)

	if creds.CredentialType != "x509" || creds.ClientSecret != "" || creds.CertURL != "https://x509.cert.example:8443" ||
		creds.CertificatePinning == nil || !*creds.CertificatePinning || creds.ClientID != "sb-certapp!t1" {
		t.Errorf("credentials = %+v", creds)
	}
	certs, err := keys.ParseCertificatesPEM([]byte(creds.Certificate))
	if err != nil || len(certs) != 2 || !certs[1].Equal(e.ca.Cert) {
		t.Fatalf("certificate: %d certificates, %v; want leaf and the server's CA", len(certs), err)
	}
	leaf := certs[0]
	if got, want := clients.DN(leaf.RawSubject), "CN=bind-1,OU=inst-1,OU=zone-x509,O=xsuaa"; got != want {
		t.Errorf("subject %q, want %q", got, want)
	}
	if d := leaf.NotAfter.Sub(e.now()); d < 47*time.Hour || d > 49*time.Hour {
		t.Errorf("validity ends in %s, want 2 days", d)
	}
	kb, _ := pem.Decode([]byte(creds.Key))
	if kb == nil || kb.Type != "RSA PRIVATE KEY" {
		t.Fatalf("key is not an RSA PRIVATE KEY PEM: %q", creds.Key)
	}
	js, _ := json.Marshal(creds)
	var m map[string]any
	json.Unmarshal(js, &m)
	for _, k := range []string{"certificate", "key", "certurl", "certificate-pinning"} {
		if _, ok := m[k]; !ok {
			t.Errorf("credentials JSON lacks %q: %s", k, js)
		}
	}
	if _, ok := m["clientsecret"]; ok {
		t.Errorf("credentials JSON has a clientsecret: %s", js)
	}

	// The certificate authenticates its client, and no other.
	if id, err := e.auth(e.reg, "sb-certapp!t1", leaf); err != nil || id != "bind-1" {
		t.Errorf("own client: binding %q, %v", id, err)
	}
	if _, err := e.auth(e.reg, "sb-otherapp!t1", leaf); err == nil {
		t.Error("another client's certificate authenticated")
	}
	if _, err := e.auth(e.reg, "sb-nobody!t1", leaf); err == nil {
		t.Error("unknown client authenticated")
	}
	if c, _ := e.reg.Lookup("sb-certapp!t1"); !c.CertificateOnly() {
		t.Error("client with only an x509 binding: CertificateOnly() = false")
	}

	// Repeating the request (the client may never have seen the first
	// answer) returns the same certificate with its key; GetBinding too.
	again, created, err := e.reg.Bind(ctx, registry.BindRequest{InstanceID: "inst-1", BindingID: "bind-1", Parameters: mustJSON(params)})
	if err != nil || created || again.Key != creds.Key || again.Certificate != creds.Certificate {
		t.Errorf("repeated Bind = created %v, same key %v, same certificate %v, %v", created, again.Key == creds.Key, again.Certificate == creds.Certificate, err)
	}
	got, err := e.reg.GetBinding(ctx, "inst-1", "bind-1")
	if err != nil || got.Key != creds.Key || got.Certificate != creds.Certificate || got.CredentialType != "x509" {
		t.Errorf("GetBinding = %+v, %v", got, err)
	}

	// The private key is stored only sealed: not in clear in the
	// database, its WAL, or anywhere in the data directory.
	e.store.Close()
	key, _ := x509.ParsePKCS1PrivateKey(kb.Bytes)
	secretBits := key.D.Bytes()
	filepath.Walk(filepath.Dir(e.path), func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return nil
		}
		b, _ := os.ReadFile(p)
		if bytes.Contains(b, kb.Bytes) || bytes.Contains(b, secretBits) || bytes.Contains(b, []byte(creds.Key[40:100])) {
			t.Errorf("%s contains the private key", p)
		}
		return nil
	})
	if e.store, err = sqlstore.OpenSQLite(ctx, e.path); err != nil {
		t.Fatal(err)
	}

	// After a restart the certificate still works; after unbinding it
	// stops at once, and stays stopped after another restart.
	reg := e.newRegistry()
	if _, err := e.auth(reg, "sb-certapp!t1", leaf); err != nil {
		t.Errorf("after restart: %v", err)
	}
	if err := reg.Unbind(ctx, "inst-1", "bind-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.auth(reg, "sb-certapp!t1", leaf); err == nil {
		t.Error("certificate of an unbound binding authenticated")
	}
	if _, err := e.auth(e.newRegistry(), "sb-certapp!t1", leaf); err == nil {
		t.Error("after restart, certificate of an unbound binding authenticated")
	}
}

func TestX509ServiceManagedValidity(t *testing.T) {
	e := newX509Env(t)
	e.instance("inst-1", "certapp")
	tests := []struct {
		name   string
		params any
		want   time.Duration
	}{
		{"defaults: 7 days", map[string]any{"credential-type": "x509"}, 7 * 24 * time.Hour},
		{"months", map[string]any{"credential-type": "x509", "x509": map[string]any{"validity": 1, "validity-type": "MONTHS"}}, e.now().AddDate(0, 1, 0).Sub(e.now())},
		{"years as strings", map[string]any{"credential-type": "x509", "x509": map[string]any{"validity": "1", "validity-type": "years", "key-length": "2048"}}, e.now().AddDate(1, 0, 0).Sub(e.now())},
		{"nested under xsuaa", map[string]any{"xsuaa": map[string]any{"credential-type": "x509", "x509": map[string]any{"validity": 3}}}, 3 * 24 * time.Hour},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			creds := e.mustBind("inst-1", "bind-v"+string(rune('a'+i)), tc.params)
			certs, err := keys.ParseCertificatesPEM([]byte(creds.Certificate))
			if err != nil {
				t.Fatal(err)
			}
			if got := certs[0].NotAfter.Sub(e.now()); got < tc.want-time.Second || got > tc.want+time.Second {
				t.Errorf("valid for %s, want %s", got, tc.want)
			}
		})
	}
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func TestX509BindErrors(t *testing.T) {
	e := newX509Env(t)
	e.instance("inst-1", "certapp")
	// An instance whose default credential type is binding-secret.
	if _, _, err := e.reg.CreateInstance(context.Background(), registry.InstanceRequest{
		ID: "inst-secret", Name: "s", ServiceID: "s", PlanID: "p", Plan: "application", OrgGUID: "o", SpaceGUID: "s",
		Parameters: json.RawMessage(`{"xsappname":"secretapp","oauth2-configuration":{"credential-types":["binding-secret","x509"]}}`),
	}); err != nil {
		t.Fatal(err)
	}
	now := e.now()
	untrusted := newExtCA(t, "Untrusted CA")
	_, untrustedPEM := untrusted.leaf(t, "client", now.Add(-time.Hour), now.Add(time.Hour))
	_, expiredPEM := e.ext.leaf(t, "client", now.Add(-3*time.Hour), now.Add(-time.Hour))
	_, futurePEM := e.ext.leaf(t, "client", now.Add(time.Hour), now.Add(2*time.Hour))
	_, serverPEM := e.ext.leaf(t, "client", now.Add(-time.Hour), now.Add(time.Hour), x509.ExtKeyUsageServerAuth)
	caPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: e.ext.Cert.Raw}))
	x := func(kv ...any) map[string]any {
		m := map[string]any{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return map[string]any{"credential-type": "x509", "x509": m}
	}
	tests := []struct {
		name     string
		instance string
		params   any
		want     []string
	}{
		{"key length 1024", "inst-1", x("key-length", 1024), []string{"x509.key-length: 1024 is not supported; use 2048, 4096 or 8192"}},
		{"key length not a number", "inst-1", x("key-length", "big"), []string{"x509.key-length: must be a whole number"}},
		{"validity 0", "inst-1", x("validity", 0), []string{"x509.validity: must be at least 1"}},
		{"validity beyond the CA", "inst-1", x("validity", 50, "validity-type", "YEARS"), []string{"x509.validity:", "after the server's CA certificate"}},
		{"validity type weeks", "inst-1", x("validity-type", "WEEKS"), []string{`x509.validity-type: "WEEKS" is not supported; use DAYS, MONTHS or YEARS`}},
		{"unknown x509 key", "inst-1", x("keylength", 2048), []string{`x509: unknown parameter "keylength"`}},
		{"x509 not an object", "inst-1", map[string]any{"credential-type": "x509", "x509": "yes"}, []string{"x509: must be an object"}},
		{"key-length at the top level", "inst-1", map[string]any{"credential-type": "x509", "key-length": 2048}, []string{"key-length: belongs inside the x509 object"}},
		{"x509 parameters with the default secret type", "inst-secret", map[string]any{"x509": map[string]any{"key-length": 2048}}, []string{`the instance's default credential type is "binding-secret"`, `add "credential-type": "x509"`}},
		{"x509 parameters with binding-secret", "inst-1", map[string]any{"credential-type": "binding-secret", "x509": map[string]any{}}, []string{`the requested credential type is "binding-secret"`}},
		{"wrongly nested under xsuaa", "inst-secret", map[string]any{"xsuaa": map[string]any{"x509": map[string]any{"validity": 3}}}, []string{"xsuaa.x509: certificate parameters were given"}},
		{"xsuaa and top level", "inst-1", map[string]any{"credential-type": "x509", "xsuaa": map[string]any{"credential-type": "x509"}}, []string{"either at the top level or nested under \"xsuaa\""}},
		{"xsuaa not an object", "inst-1", map[string]any{"xsuaa": []int{1}}, []string{"parameters.xsuaa: not a JSON object"}},
		{"credential-type not a string", "inst-1", map[string]any{"credential-type": 509}, []string{"credential-type: must be a string"}},
		{"unsupported credential type", "inst-1", map[string]any{"credential-type": "x509_attested"}, []string{`credential-type "x509_attested" is not allowed`}},
		{"certificate with key-length", "inst-1", x("certificate", caPEM, "key-length", 2048), []string{"x509.key-length: applies only to certificates the server generates"}},
		{"pinning without certificate", "inst-1", x("certificate-pinning", false), []string{"x509.certificate-pinning: applies only to self-managed certificates"}},
		{"pinning not a bool", "inst-1", x("certificate", caPEM, "certificate-pinning", "maybe"), []string{"x509.certificate-pinning: must be true or false"}},
		{"empty certificate", "inst-1", x("certificate", " "), []string{"x509.certificate: is empty"}},
		{"not PEM", "inst-1", x("certificate", "MIIB..."), []string{"x509.certificate: not a PEM certificate"}},
		{"bad DER", "inst-1", x("certificate", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), []string{"x509.certificate: not a PEM certificate"}},
		{"untrusted", "inst-1", x("certificate", untrustedPEM), []string{"x509.certificate: is not issued by a trusted CA", `issuer "CN=Untrusted CA,O=Example Corp"`, "--client-ca"}},
		{"expired", "inst-1", x("certificate", expiredPEM), []string{"x509.certificate: expired at"}},
		{"not yet valid", "inst-1", x("certificate", futurePEM), []string{"x509.certificate: is not valid before"}},
		{"server auth only", "inst-1", x("certificate", serverPEM), []string{"x509.certificate: is not valid for TLS client authentication"}},
		{"a CA certificate", "inst-1", x("certificate", caPEM), []string{"x509.certificate: the first certificate", "is a CA certificate"}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.bind(tc.instance, "bind-err-"+string(rune('a'+i)), tc.params)
			wantOpError(t, tc.name, err, registry.ErrInvalid, tc.want...)
		})
	}
}

func TestX509SelfManagedPinned(t *testing.T) {
	e := newX509Env(t)
	e.instance("inst-1", "certapp")
	e.instance("inst-2", "otherapp")
	e.instance("inst-3", "thirdapp")
	now := e.now()
	a, aPEM := e.ext.leaf(t, "app-client", now.Add(-time.Hour), now.Add(time.Hour))
	b, _ := e.ext.leaf(t, "app-client", now.Add(-time.Hour), now.Add(time.Hour)) // same DNs, other key
	// The PEM as JSON tools often deliver it, with literal \n.
	escaped := strings.ReplaceAll(strings.TrimSpace(aPEM), "\n", `\n`)
	creds := e.mustBind("inst-1", "bind-a", map[string]any{"credential-type": "x509", "x509": map[string]any{"certificate": escaped}})
	if creds.Key != "" || creds.Certificate != aPEM || creds.CertificatePinning == nil || !*creds.CertificatePinning {
		t.Errorf("credentials: key %q, certificate %q, pinning %v", creds.Key, creds.Certificate, creds.CertificatePinning)
	}
	if id, err := e.auth(e.reg, "sb-certapp!t1", a); err != nil || id != "bind-a" {
		t.Errorf("pinned certificate: %q, %v", id, err)
	}
	_, err := e.auth(e.reg, "sb-certapp!t1", b)
	if err == nil || !strings.Contains(err.Error(), "is not a credential of client") {
		t.Errorf("another certificate with the same DNs: %v, want not a credential", err)
	}

	// Uniqueness: within the instance, and with ensure-uniqueness across instances.
	_, err = e.bind("inst-1", "bind-a2", map[string]any{"credential-type": "x509", "x509": map[string]any{"certificate": aPEM}})
	wantOpError(t, "the same pinned certificate twice in one instance", err, registry.ErrConflict, "already bound by binding bind-a of this instance")
	e.mustBind("inst-2", "bind-a-other", map[string]any{"credential-type": "x509", "x509": map[string]any{"certificate": aPEM}})
	_, err = e.bind("inst-3", "bind-a-unique", map[string]any{"credential-type": "x509", "x509": map[string]any{"certificate": aPEM, "ensure-uniqueness": true}})
	wantOpError(t, "ensure-uniqueness", err, registry.ErrConflict, "already bound by another service instance")

	// hide-certificate leaves the certificate out, also in GetBinding.
	c, cPEM := e.ext.leaf(t, "hidden", now.Add(-time.Hour), now.Add(time.Hour))
	creds = e.mustBind("inst-3", "bind-hidden", map[string]any{"credential-type": "x509", "x509": map[string]any{"certificate": cPEM, "hide-certificate": "true"}})
	got, err := e.reg.GetBinding(context.Background(), "inst-3", "bind-hidden")
	if creds.Certificate != "" || err != nil || got.Certificate != "" {
		t.Errorf("hide-certificate: certificate %q, GetBinding %q, %v", creds.Certificate, got.Certificate, err)
	}
	if id, err := e.auth(e.reg, "sb-thirdapp!t1", c); err != nil || id != "bind-hidden" {
		t.Errorf("hidden certificate: %q, %v", id, err)
	}

	// A certificate that expires after binding stops authenticating.
	e.advance(2 * time.Hour)
	if _, err := e.auth(e.reg, "sb-certapp!t1", a); err == nil || !strings.Contains(err.Error(), "expired at") {
		t.Errorf("expired certificate: %v, want expired", err)
	}
}

func TestX509SelfManagedUnpinned(t *testing.T) {
	ctx := context.Background()
	e := newX509Env(t)
	e.instance("inst-1", "certapp")
	now := e.now()
	old, oldPEM := e.ext.leaf(t, "rotating", now.Add(-3*time.Hour), now.Add(24*time.Hour))
	creds := e.mustBind("inst-1", "bind-r", map[string]any{"credential-type": "x509", "x509": map[string]any{"certificate": oldPEM, "certificate-pinning": false}})
	if creds.CertificatePinning == nil || *creds.CertificatePinning {
		t.Errorf("certificate-pinning in credentials = %v, want false", creds.CertificatePinning)
	}
	_, err := e.bind("inst-1", "bind-r2", map[string]any{"credential-type": "x509", "x509": map[string]any{"certificate": oldPEM, "certificate-pinning": false}})
	wantOpError(t, "the same DNs twice unpinned", err, registry.ErrConflict, `subject "CN=rotating,OU=Clients,O=Example Corp"`)

	newer, _ := e.ext.leaf(t, "rotating", now.Add(-time.Hour), now.Add(24*time.Hour))
	expired, _ := e.ext.leaf(t, "rotating", now.Add(-2*time.Hour), now.Add(-time.Minute))
	other, _ := e.ext.leaf(t, "someone-else", now.Add(-time.Hour), now.Add(24*time.Hour))
	untrusted, _ := newExtCA(t, "Example Client CA").leaf(t, "rotating", now.Add(-time.Hour), now.Add(24*time.Hour))

	steps := []struct {
		name    string
		cert    *x509.Certificate
		wantErr string
	}{
		{"the bound certificate", old, ""},
		{"an expired one with the same DNs", expired, "expired at"},
		{"another subject", other, "is not a credential"},
		{"same DN names, untrusted issuer key", untrusted, "not issued by a trusted CA"},
		{"a newer one with the same DNs", newer, ""},
		{"the older one, after the newer was used", old, "is older than the newest certificate"},
		{"the newer one again", newer, ""},
	}
	for _, s := range steps {
		id, err := e.auth(e.reg, "sb-certapp!t1", s.cert)
		switch {
		case s.wantErr == "" && (err != nil || id != "bind-r"):
			t.Errorf("%s: binding %q, %v; want bind-r", s.name, id, err)
		case s.wantErr != "" && (err == nil || !strings.Contains(err.Error(), s.wantErr)):
			t.Errorf("%s: %v, want an error containing %q", s.name, err, s.wantErr)
		}
	}

	// The accepted start moved forward in the store too (asynchronously),
	// so a restart does not bring the older certificate back.
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, err := e.store.GetBinding(ctx, "bind-r")
		if err == nil && b.CertNotBefore.Equal(newer.NotBefore) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stored CertNotBefore = %s, %v; want %s", b.CertNotBefore, err, newer.NotBefore)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := e.auth(e.newRegistry(), "sb-certapp!t1", old); err == nil {
		t.Error("after restart the older certificate authenticated again")
	}

	// Certificates less than 10 minutes old are accepted even when a still
	// newer one was used: two fresh certificates may overlap.
	fresh1, _ := e.ext.leaf(t, "rotating", now.Add(-4*time.Minute), now.Add(24*time.Hour))
	fresh2, _ := e.ext.leaf(t, "rotating", now.Add(-time.Minute), now.Add(24*time.Hour))
	for i, c := range []*x509.Certificate{fresh2, fresh1, fresh2, fresh1} {
		if _, err := e.auth(e.reg, "sb-certapp!t1", c); err != nil {
			t.Errorf("fresh certificate %d: %v", i, err)
		}
	}
	e.advance(15 * time.Minute)
	if _, err := e.auth(e.reg, "sb-certapp!t1", fresh1); err == nil || !strings.Contains(err.Error(), "is older than") {
		t.Errorf("15 minutes later, the older fresh certificate: %v, want older", err)
	}
	if _, err := e.auth(e.reg, "sb-certapp!t1", fresh2); err != nil {
		t.Errorf("15 minutes later, the newest certificate: %v", err)
	}

	// Unbinding removes the DN entry at once.
	if err := e.reg.Unbind(ctx, "inst-1", "bind-r"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.auth(e.reg, "sb-certapp!t1", fresh2); err == nil {
		t.Error("after unbind the certificate authenticated")
	}
}

func TestX509MixedBindings(t *testing.T) {
	e := newX509Env(t)
	e.instance("inst-1", "certapp")
	x := e.mustBind("inst-1", "bind-x", map[string]any{"credential-type": "x509"})
	s := e.mustBind("inst-1", "bind-s", map[string]any{"credential-type": "binding-secret"})
	if s.ClientSecret == "" || s.Certificate != "" || s.CertURL != "" || s.CertificatePinning != nil {
		t.Errorf("secret binding credentials = %+v", s)
	}
	c, _ := e.reg.Lookup("sb-certapp!t1")
	if c.CertificateOnly() {
		t.Error("client with a secret binding: CertificateOnly() = true")
	}
	if _, err := e.reg.Authenticate("sb-certapp!t1", s.ClientSecret); err != nil {
		t.Errorf("secret: %v", err)
	}
	certs, _ := keys.ParseCertificatesPEM([]byte(x.Certificate))
	if id, err := e.auth(e.reg, "sb-certapp!t1", certs...); err != nil || id != "bind-x" {
		t.Errorf("certificate with its chain: %q, %v", id, err)
	}
	// The x509 binding has no secret: nothing it stores authenticates.
	b, err := e.store.GetBinding(context.Background(), "bind-x")
	if err != nil || len(b.SecretHash) != 0 || b.CertPEM != x.Certificate || !b.CertPinned || len(b.CertFingerprint) != 32 {
		t.Errorf("stored x509 binding = %+v, %v", b, err)
	}
	if _, err := e.reg.Authenticate("sb-certapp!t1", b.SecretID+"$"); err == nil {
		t.Error("the x509 binding's secret id authenticated")
	}
}

// TestX509MigrationFromV1 upgrades a database that has only the first
// migration: existing secret bindings keep working and read zero
// certificate fields (and no name, context or instance secret).
func TestX509MigrationFromV1(t *testing.T) {
	ctx := context.Background()
	e := newX509Env(t)
	e.instance("inst-1", "certapp")
	creds := e.mustBind("inst-1", "bind-s", map[string]any{"credential-type": "binding-secret"})
	e.store.Close()

	// Turn the file back into a schema-1 database.
	db, err := sql.Open("sqlite3", "file:"+e.path)
	if err != nil {
		t.Fatal(err)
	}
	// Every table and index that later migrations made goes.
	schema1 := map[string]bool{"zones": true, "instances": true, "bindings": true, "keys": true, "migrations": true, "bindings_instance": true}
	rows, err := db.Query(`SELECT type, name FROM sqlite_master WHERE type IN ('table', 'index') AND name NOT LIKE 'sqlite_%' ORDER BY type DESC`)
	if err != nil {
		t.Fatal(err)
	}
	var drops []string
	for rows.Next() {
		var typ, name string
		if err := rows.Scan(&typ, &name); err != nil {
			t.Fatal(err)
		}
		if !schema1[name] {
			drops = append(drops, "DROP "+strings.ToUpper(typ)+" IF EXISTS "+name)
		}
	}
	rows.Close()
	for _, stmt := range drops {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatal(err)
		}
	}
	for _, col := range []string{"cert_fingerprint", "cert_subject", "cert_issuer", "cert_not_before", "cert_pem", "cert_pinned", "name", "context", "sealed_secret", "mac"} {
		if _, err := db.Exec(`ALTER TABLE bindings DROP COLUMN ` + col); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Exec(`ALTER TABLE instances DROP COLUMN sealed_secret`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`DELETE FROM migrations WHERE num >= 2`); err != nil {
		t.Fatal(err)
	}
	db.Close()

	if e.store, err = sqlstore.OpenSQLite(ctx, e.path); err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	b, err := e.store.GetBinding(ctx, "bind-s")
	if err != nil || b.CertFingerprint != nil || b.CertSubject != "" || !b.CertNotBefore.IsZero() || b.CertPEM != "" || b.CertPinned {
		t.Errorf("upgraded secret binding = %+v, %v; want zero certificate fields", b, err)
	}
	reg := e.newRegistry()
	if _, err := reg.Authenticate("sb-certapp!t1", creds.ClientSecret); err != nil {
		t.Errorf("secret after upgrade: %v", err)
	}
	e.reg = reg
	x := e.mustBind("inst-1", "bind-x", map[string]any{"credential-type": "x509"})
	certs, _ := keys.ParseCertificatesPEM([]byte(x.Certificate))
	if _, err := e.auth(e.newRegistry(), "sb-certapp!t1", certs[0]); err != nil {
		t.Errorf("certificate bound after upgrade, after restart: %v", err)
	}
}

// TestX509ConcurrentRotation authenticates with several certificates of one
// unpinned binding at once while it is unbound and bound again; run with
// -race.
func TestX509ConcurrentRotation(t *testing.T) {
	e := newX509Env(t)
	e.instance("inst-1", "certapp")
	now := e.now()
	_, firstPEM := e.ext.leaf(t, "rot", now.Add(-2*time.Hour), now.Add(time.Hour))
	params := map[string]any{"credential-type": "x509", "x509": map[string]any{"certificate": firstPEM, "certificate-pinning": false}}
	e.mustBind("inst-1", "bind-r", params)
	var certs []*x509.Certificate
	for i := 0; i < 4; i++ {
		c, _ := e.ext.leaf(t, "rot", now.Add(-time.Duration(90-i*10)*time.Minute), now.Add(time.Hour))
		certs = append(certs, c)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for _, c := range certs {
		wg.Add(1)
		go func(c *x509.Certificate) {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				e.reg.AuthenticateCertificate("sb-certapp!t1", []*x509.Certificate{c})
			}
		}(c)
	}
	for i := 0; i < 5; i++ {
		if err := e.reg.Unbind(context.Background(), "inst-1", "bind-r"); err != nil {
			t.Fatal(err)
		}
		e.mustBind("inst-1", "bind-r", params)
	}
	close(stop)
	wg.Wait()
	// The newest certificate always works; the oldest never does any more
	// once the newest was seen.
	if _, err := e.auth(e.reg, "sb-certapp!t1", certs[3]); err != nil {
		t.Errorf("newest: %v", err)
	}
	if _, err := e.auth(e.reg, "sb-certapp!t1", certs[0]); err == nil || !strings.Contains(err.Error(), "is older than") {
		t.Errorf("oldest after the newest: %v", err)
	}
}
