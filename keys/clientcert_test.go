package keys_test

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/openxsuaa/xsuaa/keys"
)

// clientCertCA returns a fresh CA whose clock reads now.
func clientCertCA(t testing.TB, now time.Time) *keys.CA {
	t.Helper()
	mk, err := keys.NewMasterKey([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	ca, err := keys.LoadCA(context.Background(), &memStore{}, mk, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func TestIssueClientCertificate(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	ca := clientCertCA(t, now)
	subject := pkix.Name{CommonName: "bind-1", OrganizationalUnit: []string{"inst-1"}, Organization: []string{"xsuaa"}}
	notAfter := now.AddDate(0, 0, 7)
	cc, err := ca.IssueClientCertificate(keys.ClientCertificateRequest{Subject: subject, KeyBits: 2048, NotAfter: notAfter})
	if err != nil {
		t.Fatal(err)
	}
	leaf := cc.Leaf

	// The template, field by field.
	if leaf.Subject.String() != subject.String() {
		t.Errorf("subject %q, want %q", leaf.Subject, subject)
	}
	if !leaf.NotBefore.Equal(now.Add(-5*time.Minute)) || !leaf.NotAfter.Equal(notAfter) {
		t.Errorf("validity %s – %s, want %s – %s", leaf.NotBefore, leaf.NotAfter, now.Add(-5*time.Minute), notAfter)
	}
	if leaf.KeyUsage != x509.KeyUsageDigitalSignature|x509.KeyUsageKeyEncipherment {
		t.Errorf("key usage %b, want digitalSignature|keyEncipherment", leaf.KeyUsage)
	}
	if len(leaf.ExtKeyUsage) != 1 || leaf.ExtKeyUsage[0] != x509.ExtKeyUsageClientAuth {
		t.Errorf("extended key usage %v, want [clientAuth]", leaf.ExtKeyUsage)
	}
	if !leaf.BasicConstraintsValid || leaf.IsCA {
		t.Errorf("basic constraints valid=%v CA=%v, want a valid non-CA constraint", leaf.BasicConstraintsValid, leaf.IsCA)
	}
	if leaf.SerialNumber.Sign() <= 0 || leaf.SerialNumber.Cmp(new(big.Int).Lsh(big.NewInt(1), 128)) >= 0 {
		t.Errorf("serial %s is not a positive 128-bit number", leaf.SerialNumber)
	}
	if !bytes.Equal(leaf.AuthorityKeyId, ca.Cert.SubjectKeyId) || len(ca.Cert.SubjectKeyId) == 0 {
		t.Errorf("authority key id %x, want the CA's subject key id %x", leaf.AuthorityKeyId, ca.Cert.SubjectKeyId)
	}
	pub, ok := leaf.PublicKey.(*rsa.PublicKey)
	if !ok || pub.N.BitLen() != 2048 {
		t.Fatalf("public key %T, want a 2048-bit RSA key", leaf.PublicKey)
	}
	spki, _ := x509.MarshalPKIXPublicKey(pub)
	var info struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	asn1.Unmarshal(spki, &info)
	if sum := sha1.Sum(info.PublicKey.Bytes); !bytes.Equal(leaf.SubjectKeyId, sum[:]) {
		t.Errorf("subject key id %x, want RFC 5280 method 1 %x", leaf.SubjectKeyId, sum)
	}

	// The chain PEM is the leaf, then the CA, and verifies for client auth.
	certs, err := keys.ParseCertificatesPEM(cc.ChainPEM)
	if err != nil || len(certs) != 2 || !certs[0].Equal(leaf) || !certs[1].Equal(ca.Cert) {
		t.Fatalf("ChainPEM = %d certificates, %v; want leaf and CA", len(certs), err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("leaf does not verify for client auth: %v", err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err == nil {
		t.Error("leaf verifies for server auth, want client auth only")
	}

	// The key is PKCS#1 PEM and matches the certificate.
	b, rest := pem.Decode(cc.KeyPEM)
	if b == nil || b.Type != "RSA PRIVATE KEY" || len(bytes.TrimSpace(rest)) > 0 {
		t.Fatalf("KeyPEM is not one RSA PRIVATE KEY block: %q", cc.KeyPEM)
	}
	key, err := x509.ParsePKCS1PrivateKey(b.Bytes)
	if err != nil || !key.PublicKey.Equal(pub) {
		t.Errorf("key does not match the certificate: %v", err)
	}

	// Two certificates never share a serial or a key.
	cc2, err := ca.IssueClientCertificate(keys.ClientCertificateRequest{Subject: subject, KeyBits: 2048, NotAfter: notAfter})
	if err != nil {
		t.Fatal(err)
	}
	if cc2.Leaf.SerialNumber.Cmp(leaf.SerialNumber) == 0 || bytes.Equal(cc2.KeyPEM, cc.KeyPEM) {
		t.Error("second certificate repeats the serial or the key")
	}
}

func TestIssueClientCertificateRefuses(t *testing.T) {
	now := time.Now()
	ca := clientCertCA(t, now)
	tests := []struct {
		name string
		req  keys.ClientCertificateRequest
		want string
	}{
		{"1024-bit key", keys.ClientCertificateRequest{KeyBits: 1024, NotAfter: now.Add(time.Hour)}, "1024 bits is not supported"},
		{"zero key size", keys.ClientCertificateRequest{NotAfter: now.Add(time.Hour)}, "0 bits is not supported"},
		{"3072-bit key", keys.ClientCertificateRequest{KeyBits: 3072, NotAfter: now.Add(time.Hour)}, "use 2048, 4096 or 8192"},
		{"validity in the past", keys.ClientCertificateRequest{KeyBits: 2048, NotAfter: now.Add(-time.Second)}, "not in the future"},
		{"beyond the CA", keys.ClientCertificateRequest{KeyBits: 2048, NotAfter: ca.Cert.NotAfter.Add(time.Hour)}, "after the CA certificate's own end"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ca.IssueClientCertificate(tc.req)
			if !errors.Is(err, keys.ErrClientCertificateRequest) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want ErrClientCertificateRequest containing %q", err, tc.want)
			}
		})
	}
}

// TestIssueClientCertificate4096 is the one larger key the suite generates:
// 8192 bits is accepted the same way, but takes many seconds.
func TestIssueClientCertificate4096(t *testing.T) {
	if testing.Short() {
		t.Skip("4096-bit RSA key generation is slow")
	}
	now := time.Now()
	cc, err := clientCertCA(t, now).IssueClientCertificate(keys.ClientCertificateRequest{Subject: pkix.Name{CommonName: "b"}, KeyBits: 4096, NotAfter: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if n := cc.Leaf.PublicKey.(*rsa.PublicKey).N.BitLen(); n != 4096 {
		t.Errorf("key has %d bits, want 4096", n)
	}
}

func TestParseCertificatesPEM(t *testing.T) {
	ca := clientCertCA(t, time.Now())
	one := string(ca.CertPEM())
	tests := []struct {
		name, in string
		n        int
		wantErr  string
	}{
		{"one", one, 1, ""},
		{"two with text around", "leaf:\n" + one + "\n" + one + "\n\n", 2, ""},
		{"empty", "", 0, "no PEM CERTIFICATE block"},
		{"garbage", "hello", 0, "no PEM CERTIFICATE block"},
		{"a key", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", 0, `is a "PRIVATE KEY"`},
		{"bad DER", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", 0, "certificate 1"},
		{"trailing junk", one + "-----BEGIN CERT", 0, "unexpected data after PEM certificate 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			certs, err := keys.ParseCertificatesPEM([]byte(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || len(certs) != tc.n {
				t.Errorf("got %d certificates, %v; want %d", len(certs), err, tc.n)
			}
		})
	}
}
