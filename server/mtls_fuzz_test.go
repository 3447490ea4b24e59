package server

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"net/url"
	"testing"
	"time"

	"github.com/openxsuaa/xsuaa/keys/keystest"
)

// seedCert is a small certificate for the fuzz corpora.
func seedCert(f *testing.F) *x509.Certificate {
	f.Helper()
	return leafOf(keystest.NewCA(f, "Fuzz CA").Issue(f, "fuzz", time.Now(), time.Now().Add(time.Hour)))
}

// checkChain states what every successful parse returns: one to
// maxForwardedChain parsed certificates.
func checkChain(t *testing.T, certs []*x509.Certificate, err error) {
	t.Helper()
	if err != nil {
		if certs != nil {
			t.Fatalf("error %v with %d certificates", err, len(certs))
		}
		return
	}
	if len(certs) == 0 || len(certs) > maxForwardedChain {
		t.Fatalf("%d certificates without an error", len(certs))
	}
	for i, c := range certs {
		if c == nil || len(c.Raw) == 0 {
			t.Fatalf("certificate %d is empty", i)
		}
	}
}

// FuzzParseXFCC feeds arbitrary X-Forwarded-Client-Cert values (Envoy's
// key=value form and gorouter's bare base64) to the parser: it never
// panics, and succeeds only with parsed certificates.
func FuzzParseXFCC(f *testing.F) {
	c := seedCert(f)
	p := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
	b64 := base64.StdEncoding.EncodeToString(c.Raw)
	for _, s := range []string{
		`Cert="` + url.PathEscape(p) + `"`,
		`By=spiffe://cluster.local/ns/a/sa/b;Hash=0123;Cert="` + url.PathEscape(p) + `";Subject="CN=a,O=\"b\"";URI=,By=x`,
		`Chain="` + url.PathEscape(p+p) + `"`,
		`Cert=` + url.PathEscape(p),
		b64,
		b64[:30] + "\n" + b64[30:],
		`Cert="%zz"`, `Cert="abc`, `a=b;;c=d`, `=`, `"`, `,`, `Cert=""`, `Cert="\`, "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		for _, format := range []CertHeader{CertHeaderEnvoy, CertHeaderGorouter} {
			certs, err := parseXFCC(v, format)
			checkChain(t, certs, err)
		}
	})
}

// FuzzParseClientCert feeds arbitrary RFC 9440 Client-Cert and
// Client-Cert-Chain values to the parser.
func FuzzParseClientCert(f *testing.F) {
	c := seedCert(f)
	sf := ":" + base64.StdEncoding.EncodeToString(c.Raw) + ":"
	f.Add(sf, "")
	f.Add(sf+";x=1", sf+", "+sf)
	f.Add(":", "")
	f.Add("::", ":")
	f.Add(":AAAA:", ",,")
	f.Add(sf, ":!:")
	f.Fuzz(func(t *testing.T, cert, chain string) {
		certs, err := parseClientCertHeader(cert, chain)
		checkChain(t, certs, err)
	})
}

// FuzzXFCCRoundTrip checks that any certificate DER that parses survives
// each forwarding format intact.
func FuzzXFCCRoundTrip(f *testing.F) {
	f.Add(seedCert(f).Raw)
	f.Fuzz(func(t *testing.T, der []byte) {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return
		}
		p := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
		for _, tc := range []struct {
			format CertHeader
			v      string
		}{
			{CertHeaderEnvoy, `Hash=00;Cert="` + url.PathEscape(p) + `"`},
			{CertHeaderEnvoy, `By=client;Cert="garbage",Hash=00;Cert="` + url.PathEscape(p) + `"`},
			{CertHeaderGorouter, base64.StdEncoding.EncodeToString(der)},
		} {
			certs, err := parseXFCC(tc.v, tc.format)
			if err != nil || len(certs) != 1 || !bytes.Equal(certs[0].Raw, c.Raw) {
				t.Fatalf("%s: %d certificates, %v", tc.format, len(certs), err)
			}
		}
		certs, err := parseClientCertHeader(":"+base64.StdEncoding.EncodeToString(der)+":", "")
		if err != nil || len(certs) != 1 || !bytes.Equal(certs[0].Raw, c.Raw) {
			t.Fatalf("rfc 9440: %d certificates, %v", len(certs), err)
		}
	})
}
