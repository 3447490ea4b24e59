package keys_test

import (
	"bytes"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/openxsuaa/xsuaa/keys"
)

// FuzzParseCertificatesPEM feeds arbitrary bytes to ParseCertificatesPEM,
// which reads --client-ca files and self-managed binding certificates: it
// never panics, returns certificates or an error but not both, and what
// it returns re-encodes as PEM and parses back to the same certificates.
func FuzzParseCertificatesPEM(f *testing.F) {
	ca := clientCertCA(f, time.Now())
	one := string(ca.CertPEM())
	issued, err := ca.IssueClientCertificate(keys.ClientCertificateRequest{KeyBits: 2048, NotAfter: time.Now().Add(time.Hour)})
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{
		one,
		string(issued.ChainPEM),
		"leaf:\n" + one + "\n" + one + "\n\n",
		strings.ReplaceAll(one, "\n", "\r\n"),
		one[:len(one)/2],
		one + "-----BEGIN CERT",
		one + "\x00",
		string(issued.KeyPEM),
		"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
		"-----BEGIN CERTIFICATE-----\nProc-Type: 4,ENCRYPTED\n\nAAAA\n-----END CERTIFICATE-----\n",
		"-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n",
		"", "hello", "-----BEGIN", "-----END CERTIFICATE-----",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		certs, err := keys.ParseCertificatesPEM(data)
		if err != nil {
			if certs != nil {
				t.Fatalf("%d certificates and an error %v", len(certs), err)
			}
			return
		}
		if len(certs) == 0 {
			t.Fatal("no certificates and no error")
		}
		var again bytes.Buffer
		for i, c := range certs {
			if c == nil || len(c.Raw) == 0 {
				t.Fatalf("certificate %d is empty", i)
			}
			pem.Encode(&again, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
		}
		back, err := keys.ParseCertificatesPEM(again.Bytes())
		if err != nil || len(back) != len(certs) {
			t.Fatalf("re-encoded: %d certificates, %v; want %d", len(back), err, len(certs))
		}
		for i := range back {
			if !back[i].Equal(certs[i]) {
				t.Fatalf("certificate %d changed in the round trip", i)
			}
		}
	})
}
