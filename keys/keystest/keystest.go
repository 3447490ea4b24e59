// Package keystest makes X.509 test material: a certificate authority
// outside the server (standing in for a company PKI that issues
// self-managed client certificates, or a foreign CA) and certificates from
// it. Tests of clients, server and cmd/xsuaa share it.
package keystest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"testing"
	"time"
)

// CA is a test certificate authority with an ECDSA P-256 key.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// NewCA returns a CA called cn (O=Example Corp), valid from a day ago to
// a day from now.
func NewCA(tb testing.TB, cn string) *CA {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn, Organization: []string{"Example Corp"}},
		NotBefore: time.Now().Add(-24 * time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	return &CA{Cert: cert, Key: key}
}

// PEM returns the CA's certificate as PEM.
func (ca *CA) PEM() string { return CertPEM(ca.Cert) }

// Issue returns a client certificate for CN=cn,OU=Clients,O=Example Corp,
// valid from notBefore to notAfter, with its key (Leaf set), and the
// certificate as PEM. eku defaults to client authentication.
func (ca *CA) Issue(tb testing.TB, cn string, notBefore, notAfter time.Time, eku ...x509.ExtKeyUsage) (tls.Certificate, string) {
	tb.Helper()
	if eku == nil {
		eku = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	return ca.issue(tb, &x509.Certificate{
		Subject:   pkix.Name{CommonName: cn, OrganizationalUnit: []string{"Clients"}, Organization: []string{"Example Corp"}},
		NotBefore: notBefore, NotAfter: notAfter, KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: eku,
	})
}

// IssueServer returns a server certificate for the DNS names and
// 127.0.0.1, like Issue.
func (ca *CA) IssueServer(tb testing.TB, cn string, notBefore, notAfter time.Time, dns ...string) (tls.Certificate, string) {
	tb.Helper()
	return ca.issue(tb, &x509.Certificate{
		Subject:   pkix.Name{CommonName: cn, OrganizationalUnit: []string{"Servers"}, Organization: []string{"Example Corp"}},
		NotBefore: notBefore, NotAfter: notAfter, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, DNSNames: dns, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	})
}

func (ca *CA) issue(tb testing.TB, tmpl *x509.Certificate) (tls.Certificate, string) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	if tmpl.SerialNumber, err = rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64)); err != nil {
		tb.Fatal(err)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		tb.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, CertPEM(leaf)
}

// CertPEM returns a certificate as PEM.
func CertPEM(c *x509.Certificate) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
}

// KeyPEM returns the private key of c as PKCS#8 PEM.
func KeyPEM(tb testing.TB, c tls.Certificate) string {
	tb.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		tb.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}
