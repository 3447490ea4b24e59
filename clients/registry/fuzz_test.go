package registry

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
)

// wantInvalid fails unless err is an *OpError of kind ErrInvalid whose
// message starts with one of prefixes.
func wantInvalid(t *testing.T, err error, prefixes ...string) {
	t.Helper()
	var oe *OpError
	if !errors.As(err, &oe) || !errors.Is(err, ErrInvalid) {
		t.Fatalf("error %v (%T) is not an *OpError of kind ErrInvalid", err, err)
	}
	for _, p := range prefixes {
		if strings.HasPrefix(oe.Msg, p) {
			return
		}
	}
	t.Fatalf("error %q names none of %q", oe.Msg, prefixes)
}

// FuzzParseBindParams feeds arbitrary binding parameters to
// parseBindParams: it never panics, fails only with an ErrInvalid
// *OpError that names the parameter's path, and what it accepts survives
// a round trip through the JSON it stands for.
func FuzzParseBindParams(f *testing.F) {
	for _, seed := range []string{
		`{}`,
		`{"credential-type":"binding-secret"}`,
		`{"credential-type":"x509","x509":{"key-length":2048,"validity":7,"validity-type":"DAYS"}}`,
		`{"credential-type":"x509","x509":{"key-length":"4096","validity":" 3 ","validity-type":"months"}}`,
		`{"x509":{"certificate":"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----","certificate-pinning":"false","ensure-uniqueness":true,"hide-certificate":"true"}}`,
		`{"xsuaa":{"credential-type":"x509","x509":{"validity":1}}}`,
		`{"xsuaa":{"xsuaa":{}}}`,
		`{"xsuaa":{},"x509":{}}`,
		`{"xsuaa":null}`,
		`{"validity":3}`,
		`{"x509":{"key-length":2048.0}}`,
		`{"x509":{"key-length":1e3}}`,
		`{"x509":{"key-length":"0x800"}}`,
		`{"x509":{"key-length":99999999999999999999}}`,
		`{"x509":{"unknown":1}}`,
		`{"x509":[]}`,
		`{"x509":null}`,
		`{"credential-type":5}`,
		`{"credential-type":"x509","credential-type":"binding-secret"}`,
		`{"hide-secret":"true","app":{"x":[1,2,{"y":null}]}}`,
		`[]`, `null`, `"x"`, `1`, ``, `{`, `{"x509":{"validity":"\u0031"}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var p bindParams
		var err error
		boundedAlloc(t, len(raw), func() { p, err = parseBindParams(raw) })
		if err != nil {
			wantInvalid(t, err, "parameters", "credential-type", "hide-secret", "x509", "xsuaa.", "key-length", "validity", "certificate", "ensure-uniqueness", "hide-certificate")
			return
		}
		if p.prefix != "" && p.prefix != "xsuaa." {
			t.Fatalf("prefix %q", p.prefix)
		}
		// The parameters as the JSON they stand for parse to the same.
		m := map[string]any{}
		if p.CredentialType != "" {
			m["credential-type"] = p.CredentialType
		}
		if x := p.X509; x != nil {
			xm := map[string]any{}
			for k, v := range map[string]any{"key-length": x.KeyLength, "validity": x.Validity, "validity-type": x.ValidityType,
				"certificate": x.Certificate, "certificate-pinning": x.Pinning, "ensure-uniqueness": x.EnsureUnique, "hide-certificate": x.HideCert} {
				if !reflect.ValueOf(v).IsNil() {
					xm[k] = v
				}
			}
			m["x509"] = xm
		}
		if p.prefix != "" {
			m = map[string]any{"xsuaa": m}
		}
		again, _ := json.Marshal(m)
		q, err := parseBindParams(again)
		if err != nil {
			t.Fatalf("%s (from %q): %v", again, raw, err)
		}
		if q.CredentialType != p.CredentialType || q.prefix != p.prefix || (p.CredentialType == "" && p.X509 == nil) != (q.CredentialType == "" && q.X509 == nil) ||
			!reflect.DeepEqual(p.X509, q.X509) {
			t.Fatalf("%q parsed to %+v, its re-encoding %s to %+v", raw, p, again, q)
		}
	})
}

// fuzzCA makes a CA and, from it, a client certificate, as PEM.
func fuzzCA(f *testing.F) (ca *x509.Certificate, caPEM, leafPEM string) {
	f.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Fuzz CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		f.Fatal(err)
	}
	ca, _ = x509.ParseCertificate(der)
	leafKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leafDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "client", OrganizationalUnit: []string{"a", "b"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(12 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, ca, &leafKey.PublicKey, key)
	if err != nil {
		f.Fatal(err)
	}
	return ca, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER}))
}

// FuzzSelfManagedCertificate feeds arbitrary text as the
// x509.certificate binding parameter to prepareSelfManaged, which reads
// the PEM (also with literal \n, as pasted through JSON), rejects CA
// certificates and verifies the chain: it never panics, fails only with an
// ErrInvalid *OpError naming x509.certificate, and accepts only a client
// certificate of the trusted CA, whose chain it returns as PEM that parses
// back to the same certificates.
func FuzzSelfManagedCertificate(f *testing.F) {
	ca, caPEM, leafPEM := fuzzCA(f)
	for _, seed := range []string{
		leafPEM,
		leafPEM + caPEM,
		strings.ReplaceAll(leafPEM, "\n", `\n`),
		strings.ReplaceAll(leafPEM, "\n", "\r\n"),
		"  \n" + leafPEM + "\n\n",
		"preamble\n" + leafPEM,
		leafPEM + "trailing",
		leafPEM[:len(leafPEM)/2],
		caPEM,
		strings.Replace(leafPEM, "CERTIFICATE", "PRIVATE KEY", 2),
		"-----BEGIN CERTIFICATE-----\nbm90IERFUg==\n-----END CERTIFICATE-----\n",
		"-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n",
		`\n`, "", "hello",
	} {
		f.Add(seed)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	r := &Registry{cfg: Config{Now: time.Now, ClientCAs: roots}}
	at := func(field string) string { return "x509." + field }
	f.Fuzz(func(t *testing.T, text string) {
		plan, err := r.prepareSelfManaged(&x509Params{Certificate: &text}, at)
		if err != nil {
			if plan != nil {
				t.Fatal("a plan and an error")
			}
			wantInvalid(t, err, "x509.certificate: ")
			return
		}
		if plan.leaf == nil || plan.leaf.IsCA || !plan.pinned {
			t.Fatalf("plan %+v", plan)
		}
		if _, err := plan.leaf.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			t.Fatalf("accepted a certificate that does not verify: %v", err)
		}
		var first *pem.Block
		rest := []byte(plan.pem)
		for n := 0; ; n++ {
			var b *pem.Block
			if b, rest = pem.Decode(rest); b == nil {
				break
			}
			if n == 0 {
				first = b
			}
			if _, err := x509.ParseCertificate(b.Bytes); err != nil || b.Type != "CERTIFICATE" {
				t.Fatalf("returned PEM block %d (%s): %v", n, b.Type, err)
			}
		}
		if first == nil || !bytes.Equal(first.Bytes, plan.leaf.Raw) || len(bytes.TrimSpace(rest)) > 0 {
			t.Fatalf("returned PEM %q does not start with the leaf", plan.pem)
		}
	})
}

// FuzzParseCloneParams feeds arbitrary bodies to the clone API's parser:
// it never panics, fails only with an ErrInvalid *OpError, and what it
// accepts is a clone it can make: a secret or a certificate from the CA,
// with x509 parameters only for the latter.
func FuzzParseCloneParams(f *testing.F) {
	for _, seed := range []string{
		`{}`, `{"authorities":["TASK_GET"]}`, `{"authorities":null}`, `{"authorities":[]}`,
		`{"credential-type":"x509","x509":{"key-length":4096,"validity":2,"validity-type":"DAYS"}}`,
		`{"credential-type":"x509","bogus":1}`, `{"key-length":2048}`, `{"x509":{}}`,
		`{"context":{"instance_name":"my-jobscheduler","organization_guid":"o","space_guid":"s","platform":"cloudfoundry"}}`,
		`{"context":{"instance_name":1}}`, `{"context":[]}`, `[]`, `null`, `"x"`, `{"credential-type":"instance-secret"}`,
		`{"credential-type":"x509","x509":{"certificate":"-----BEGIN CERTIFICATE-----"}}`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		var p cloneParams
		var err error
		boundedAlloc(t, len(body), func() { p, err = parseCloneParams(json.RawMessage(body)) })
		if err != nil {
			wantInvalid(t, err, "")
			return
		}
		switch p.bind.CredentialType {
		case "", "binding-secret":
			if p.bind.X509 != nil {
				t.Fatalf("x509 parameters accepted for a secret clone: %q", body)
			}
		case "x509":
			if x := p.bind.X509; x != nil && x.Certificate != nil {
				t.Fatalf("a self-managed certificate accepted for a clone: %q", body)
			}
		default:
			t.Fatalf("credential type %q accepted: %q", p.bind.CredentialType, body)
		}
	})
}

// boundedAlloc runs parse and fails when it allocated more than a small
// multiple of the input (plus 1 MB): a parser bounds its work by the
// input's size and shape before doing per-node work.
func boundedAlloc(t *testing.T, n int, parse func()) {
	t.Helper()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	parse()
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > 1<<20+64*uint64(n) {
		t.Fatalf("%d bytes of input allocated %d KB", n, got>>10)
	}
}
