package keys

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"time"
)

// ClientKeyBits are the RSA key sizes of service-managed client
// certificates, as XSUAA's x509.key-length offers them. The first is the
// default.
var ClientKeyBits = []int{2048, 4096, 8192}

// ClientCertificateRequest describes a client certificate for an x509
// binding. The CA chooses everything else: a fresh RSA key, a random
// 128-bit serial, a validity that starts 5 minutes in the past (clock
// skew), and key usages for TLS client authentication only.
type ClientCertificateRequest struct {
	Subject pkix.Name
	// KeyBits is the RSA modulus size, one of ClientKeyBits.
	KeyBits int
	// NotAfter ends the validity; it must lie after now and no later than
	// the CA certificate's own end.
	NotAfter time.Time
}

// ClientCertificate is an issued client certificate with its private key.
// The key exists only here: nothing stores it.
type ClientCertificate struct {
	Leaf *x509.Certificate
	// ChainPEM is the leaf followed by the CA certificate, as PEM.
	ChainPEM []byte
	// KeyPEM is the private key as PKCS#1 "RSA PRIVATE KEY" PEM, the form
	// XSUAA returns and curl, OpenSSL, Node and Java all read.
	KeyPEM []byte
}

// ErrClientCertificateRequest reports a ClientCertificateRequest the CA
// refuses; its message names the problem.
var ErrClientCertificateRequest = errors.New("invalid client certificate request")

// IssueClientCertificate generates an RSA key and issues a TLS client
// certificate for it. Generating 4096- and 8192-bit keys takes from a
// fraction of a second to many seconds.
func (ca *CA) IssueClientCertificate(req ClientCertificateRequest) (*ClientCertificate, error) {
	if !slices.Contains(ClientKeyBits, req.KeyBits) {
		return nil, fmt.Errorf("%w: key length %d bits is not supported; use 2048, 4096 or 8192", ErrClientCertificateRequest, req.KeyBits)
	}
	now := ca.now()
	if !req.NotAfter.After(now) {
		return nil, fmt.Errorf("%w: validity ends at %s, which is not in the future", ErrClientCertificateRequest, req.NotAfter.UTC().Format(time.RFC3339))
	}
	if req.NotAfter.After(ca.Cert.NotAfter) {
		return nil, fmt.Errorf("%w: validity ends at %s, after the CA certificate's own end %s", ErrClientCertificateRequest,
			req.NotAfter.UTC().Format(time.RFC3339), ca.Cert.NotAfter.UTC().Format(time.RFC3339))
	}
	key, err := rsa.GenerateKey(rand.Reader, req.KeyBits)
	if err != nil {
		return nil, err
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	skid, err := subjectKeyID(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      req.Subject,
		NotBefore:    now.Add(-backdate),
		NotAfter:     req.NotAfter,
		// digitalSignature signs the TLS CertificateVerify; keyEncipherment
		// is what RSA keys carry for TLS 1.2 RSA key transport (smallstep's
		// default leaf template does the same).
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  false,
		SubjectKeyId:          skid,
		AuthorityKeyId:        ca.Cert.SubjectKeyId,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	var chain bytes.Buffer
	pem.Encode(&chain, &pem.Block{Type: "CERTIFICATE", Bytes: der})
	pem.Encode(&chain, &pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	return &ClientCertificate{Leaf: leaf, ChainPEM: chain.Bytes(), KeyPEM: keyPEM}, nil
}

// ParseCertificatesPEM returns the certificates of the CERTIFICATE blocks
// in data, in order. Other blocks are an error, and so is data without
// any certificate.
func ParseCertificatesPEM(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	rest := data
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("PEM block %d is a %q, not a CERTIFICATE", len(out)+1, b.Type)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", len(out)+1, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM CERTIFICATE block found")
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, fmt.Errorf("unexpected data after PEM certificate %d", len(out))
	}
	return out, nil
}
