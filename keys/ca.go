package keys

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"time"
)

// Validity periods and clock-skew allowance of issued certificates.
const (
	caValidity         = 10 * 365 * 24 * time.Hour
	serverCertValidity = 397 * 24 * time.Hour // the longest browsers accept
	backdate           = 5 * time.Minute
	caRecordID         = "ca-1"
)

// CA is the local certificate authority of an installation. Its key is an
// ECDSA P-256 key, sealed at rest; it issues the TLS server certificate.
type CA struct {
	Cert *x509.Certificate
	key  crypto.Signer
	now  func() time.Time
}

// LoadCA loads the CA from store, creating it on first use.
func LoadCA(ctx context.Context, store Store, mk *MasterKey, now func() time.Time) (*CA, error) {
	recs, err := store.ListKeys(ctx, UseCA)
	if err != nil {
		return nil, fmt.Errorf("load CA: %w", err)
	}
	if len(recs) == 0 {
		rec, err := newCARecord(mk, now())
		if err != nil {
			return nil, err
		}
		// Several replicas may start at once: one CA wins, the others
		// load it.
		err = store.UpdateKeys(ctx, func(tx KeyTx) error {
			recs, err := tx.ListKeys(ctx, UseCA)
			if err != nil || len(recs) > 0 {
				return err
			}
			return tx.CreateKey(ctx, rec)
		})
		if err != nil {
			return nil, fmt.Errorf("store CA: %w", err)
		}
		if recs, err = store.ListKeys(ctx, UseCA); err != nil {
			return nil, err
		}
	}
	r := recs[len(recs)-1]
	cert, err := x509.ParseCertificate(r.Public)
	if err != nil {
		return nil, fmt.Errorf("CA certificate: %w", err)
	}
	der, err := mk.Open(r.SealedPrivate, []byte(r.ID))
	if err != nil {
		return nil, fmt.Errorf("CA key: %w", err)
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("CA key: %w", err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, errors.New("CA key cannot sign")
	}
	return &CA{Cert: cert, key: signer, now: now}, nil
}

func newCARecord(mk *MasterKey, now time.Time) (Record, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Record{}, err
	}
	serial, err := randomSerial()
	if err != nil {
		return Record{}, err
	}
	skid, err := subjectKeyID(&key.PublicKey)
	if err != nil {
		return Record{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "xsuaa local CA " + serial.Text(16)[:8], Organization: []string{"xsuaa"}},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
		SubjectKeyId:          skid,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return Record{}, err
	}
	priv, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return Record{}, err
	}
	sealed, err := mk.Seal(priv, []byte(caRecordID))
	if err != nil {
		return Record{}, err
	}
	return Record{ID: caRecordID, Use: UseCA, Public: der, SealedPrivate: sealed, CreatedAt: now, ActiveFrom: now}, nil
}

// CertPEM returns the CA certificate in PEM, for clients' trust stores.
func (ca *CA) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw})
}

// Pool returns a pool holding only this CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// IssueServerCertificate issues a TLS server certificate (ECDSA P-256, which
// makes handshakes cheap) for the given DNS names and IP addresses.
func (ca *CA) IssueServerCertificate(hosts []string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := randomSerial()
	if err != nil {
		return tls.Certificate{}, err
	}
	now := ca.now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: hosts[0], Organization: []string{"xsuaa"}},
		NotBefore:    now.Add(-backdate),
		NotAfter:     now.Add(serverCertValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.key)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der, ca.Cert.Raw}, PrivateKey: key, Leaf: leaf}, nil
}

// randomSerial returns a random positive 128-bit serial number.
func randomSerial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
}

// subjectKeyID is the RFC 5280 method 1 key identifier.
func subjectKeyID(pub crypto.PublicKey) ([]byte, error) {
	spki, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	var info struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(spki, &info); err != nil {
		return nil, err
	}
	sum := sha1.Sum(info.PublicKey.Bytes)
	return sum[:], nil
}
