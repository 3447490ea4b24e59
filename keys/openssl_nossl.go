//go:build !cgo || xsuaa_nossl

package keys

import jose "github.com/go-jose/go-jose/v4"

// newOpenSSLSigner reports that this build signs with Go's crypto/rsa only:
// it has no cgo, or was made with -tags xsuaa_nossl (see openssl.go).
func newOpenSSLSigner(pkcs8 []byte, pub *jose.JSONWebKey) (rsaSigner, error) {
	return nil, errNoOpenSSL
}
