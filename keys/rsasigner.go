package keys

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"

	jose "github.com/go-jose/go-jose/v4"
)

// Names of the RSA signing backends, as Signer.Backend reports them.
const (
	// BackendOpenSSL signs through OpenSSL's libcrypto (cgo; see openssl.go).
	// It is the default when the build has cgo and the xsuaa_nossl tag is
	// not set, and its first signature for a key verified with crypto/rsa.
	BackendOpenSSL = "openssl"
	// BackendGo signs with Go's crypto/rsa: in builds without cgo or with
	// -tags xsuaa_nossl, and for any key OpenSSL could not load or sign with.
	BackendGo = "go"
)

// errNoOpenSSL is what newOpenSSLSigner returns in builds without OpenSSL.
var errNoOpenSSL = errors.New("built without OpenSSL (no cgo, or -tags xsuaa_nossl)")

// errSignerClosed is returned by signing after the key was closed (retired).
var errSignerClosed = errors.New("signing key is closed")

// rsaSigner signs RS256 (PKCS#1 v1.5, SHA-256) with one private key. It is a
// jose.OpaqueSigner, so go-jose builds the JWS around it and calls
// SignPayload with the signing input; Public returns the public key with
// the kid, from which go-jose takes the "kid" header. Implementations are
// safe for concurrent use.
type rsaSigner interface {
	jose.OpaqueSigner
	// backend is BackendOpenSSL or BackendGo.
	backend() string
	// close releases what the signer holds outside the Go heap. Signing
	// afterwards fails; close is idempotent and safe during signing.
	close()
}

// rs256 is the only algorithm both signers offer.
var rs256 = []jose.SignatureAlgorithm{jose.RS256}

// goSigner signs with Go's crypto/rsa.
type goSigner struct {
	priv *rsa.PrivateKey
	pub  *jose.JSONWebKey
}

func (g *goSigner) Public() *jose.JSONWebKey        { return g.pub }
func (g *goSigner) Algs() []jose.SignatureAlgorithm { return rs256 }
func (g *goSigner) backend() string                 { return BackendGo }
func (g *goSigner) close()                          {}
func (g *goSigner) SignPayload(payload []byte, alg jose.SignatureAlgorithm) ([]byte, error) {
	if alg != jose.RS256 {
		return nil, jose.ErrUnsupportedAlgorithm
	}
	digest := sha256.Sum256(payload)
	return rsa.SignPKCS1v15(rand.Reader, g.priv, crypto.SHA256, digest[:])
}

// newRSASigner returns the signer for one key: OpenSSL's when the build has
// it, the key loads into libcrypto and a first OpenSSL signature verifies
// with crypto/rsa against priv's public key; Go's otherwise. pkcs8 is the
// DER of priv (the caller zeroes it afterwards; OpenSSL keeps its own copy).
// A failure to use OpenSSL in an OpenSSL build is logged, never fatal.
func newRSASigner(kid string, priv *rsa.PrivateKey, pkcs8 []byte) rsaSigner {
	pub := &jose.JSONWebKey{Key: &priv.PublicKey, KeyID: kid, Algorithm: string(jose.RS256)}
	fallback := &goSigner{priv: priv, pub: pub}
	s, err := newOpenSSLSigner(pkcs8, pub)
	if errors.Is(err, errNoOpenSSL) {
		return fallback
	}
	if err == nil {
		if err = selfTest(s, &priv.PublicKey); err != nil {
			s.close()
		}
	}
	if err != nil {
		slog.Warn("OpenSSL cannot sign with this key; falling back to Go's crypto/rsa",
			"kid", kid, "signer", BackendGo, "err", err)
		return fallback
	}
	return s
}

// selfTestPayload is what selfTest signs: the shape of a JWS signing input.
var selfTestPayload = []byte(`eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ4c3VhYS1zZWxmLXRlc3QifQ`)

// selfTest signs once with s and verifies the signature with crypto/rsa, so
// that a key OpenSSL decoded differently from Go never signs a token.
func selfTest(s rsaSigner, pub *rsa.PublicKey) error {
	sig, err := s.SignPayload(selfTestPayload, jose.RS256)
	if err != nil {
		return fmt.Errorf("self-test signature: %w", err)
	}
	digest := sha256.Sum256(selfTestPayload)
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig); err != nil {
		return fmt.Errorf("self-test signature does not verify with crypto/rsa: %w", err)
	}
	return nil
}

// SignerBackend names the signer this build prefers: BackendOpenSSL when
// it was built with OpenSSL (cgo, without -tags xsuaa_nossl), else
// BackendGo. A key OpenSSL cannot load still falls back to Go's (see
// Signer.Backend for what signs now).
func SignerBackend() string {
	if _, err := newOpenSSLSigner(nil, nil); errors.Is(err, errNoOpenSSL) {
		return BackendGo
	}
	return BackendOpenSSL
}
