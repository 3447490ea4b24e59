package keys

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// These tests hold for both builds (OpenSSL and -tags xsuaa_nossl); only
// TestBackendMatchesBuild asserts which backend is in use. CI runs both:
//
//	go test ./keys && go test -tags xsuaa_nossl ./keys

func testMasterKey(t testing.TB) *MasterKey {
	t.Helper()
	mk, err := NewMasterKey(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return mk
}

func newTestSigner(t testing.TB) *Signer {
	t.Helper()
	s, err := LoadSigner(context.Background(), &MemStore{}, testMasterKey(t), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// testKey is one RSA-2048 key shared by the tests that need a bare key.
var testKey = sync.OnceValues(func() (*rsa.PrivateKey, error) {
	return rsa.GenerateKey(rand.Reader, signingKeyBits)
})

func mustTestKey(t testing.TB) (*rsa.PrivateKey, []byte) {
	t.Helper()
	priv, err := testKey()
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return priv, der
}

// backends returns a signer of each backend this build has for priv.
func backends(t testing.TB, priv *rsa.PrivateKey, der []byte) map[string]rsaSigner {
	t.Helper()
	pub := &jose.JSONWebKey{Key: &priv.PublicKey, KeyID: "test-kid", Algorithm: string(jose.RS256)}
	out := map[string]rsaSigner{BackendGo: &goSigner{priv: priv, pub: pub}}
	o, err := newOpenSSLSigner(der, pub)
	switch {
	case errors.Is(err, errNoOpenSSL):
	case err != nil:
		t.Fatalf("OpenSSL signer: %v", err)
	default:
		t.Cleanup(o.close)
		out[BackendOpenSSL] = o
	}
	return out
}

// jwksKey returns the public key of kid as JWKS() publishes it, parsed by go-jose.
func jwksKey(t testing.TB, s *Signer, kid string) *jose.JSONWebKey {
	t.Helper()
	body, _ := s.JWKS()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		t.Fatalf("JWKS does not parse: %v\n%s", err, body)
	}
	keys := set.Key(kid)
	if len(keys) != 1 {
		t.Fatalf("JWKS has %d keys with kid %q", len(keys), kid)
	}
	return &keys[0]
}

// TestSignersVerify: every signature, from each backend, verifies with
// crypto/rsa and with the JWKS key, and equals crypto/rsa's own (PKCS#1
// v1.5 signatures are deterministic).
func TestSignersVerify(t *testing.T) {
	s := newTestSigner(t)
	k := s.Active()
	der, err := x509.MarshalPKCS8PrivateKey(k.Private)
	if err != nil {
		t.Fatal(err)
	}
	jwksPub, ok := jwksKey(t, s, k.KID).Key.(*rsa.PublicKey)
	if !ok {
		t.Fatalf("JWKS key is a %T", jwksKey(t, s, k.KID).Key)
	}
	block, _ := pem.Decode([]byte(k.PublicPEM()))
	pemPub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	for name, bs := range backends(t, k.Private, der) {
		t.Run(name, func(t *testing.T) {
			for i := range 20 {
				payload := []byte(fmt.Sprintf(`{"i":%d,"pad":%q}`, i, strings.Repeat("x", i*50)))
				sig, err := bs.SignPayload(payload, jose.RS256)
				if err != nil {
					t.Fatal(err)
				}
				digest := sha256.Sum256(payload)
				for what, pub := range map[string]*rsa.PublicKey{"private key": &k.Private.PublicKey, "JWKS": jwksPub, "PEM": pemPub.(*rsa.PublicKey)} {
					if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig); err != nil {
						t.Fatalf("signature %d does not verify with the %s public key: %v", i, what, err)
					}
				}
				want, _ := rsa.SignPKCS1v15(nil, k.Private, crypto.SHA256, digest[:])
				if !bytes.Equal(sig, want) {
					t.Fatalf("signature %d differs from crypto/rsa's", i)
				}
			}
			if _, err := bs.SignPayload([]byte("x"), jose.PS256); !errors.Is(err, jose.ErrUnsupportedAlgorithm) {
				t.Errorf("PS256: err = %v, want ErrUnsupportedAlgorithm", err)
			}
		})
	}
}

// TestSignJWS: a token from Signer.Sign has XSUAA's header and verifies
// with the JWKS key.
func TestSignJWS(t *testing.T) {
	s := newTestSigner(t)
	const jku = "https://example.test/token_keys"
	payload := []byte(`{"client_id":"sb-app","scope":["uaa.resource"]}`)
	tok, err := s.Sign(payload, jku)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := jose.ParseSigned(tok, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	h := jws.Signatures[0].Protected
	if h.Algorithm != "RS256" || h.KeyID != s.Active().KID || h.ExtraHeaders["typ"] != "JWT" || h.ExtraHeaders["jku"] != jku || h.JSONWebKey != nil {
		t.Errorf("header = %+v", h)
	}
	hdr, err := base64.RawURLEncoding.DecodeString(strings.SplitN(tok, ".", 2)[0])
	if want := `{"alg":"RS256","jku":"` + jku + `","kid":"` + s.Active().KID + `","typ":"JWT"}`; err != nil || string(hdr) != want {
		t.Errorf("header = %s (%v), want %s", hdr, err, want)
	}
	got, err := jws.Verify(jwksKey(t, s, s.Active().KID))
	if err != nil {
		t.Fatalf("token does not verify with the JWKS key: %v", err)
	}
	if !bytes.Equal(got, payload) {
		t.Errorf("payload = %s", got)
	}
}

// TestSignConcurrent signs from many goroutines at once through one Signer.
func TestSignConcurrent(t *testing.T) {
	s := newTestSigner(t)
	pub := jwksKey(t, s, s.Active().KID)
	const goroutines, each = 32, 6
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*each)
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				payload := []byte(fmt.Sprintf(`{"g":%d,"i":%d}`, g, i))
				tok, err := s.Sign(payload, fmt.Sprintf("https://jku.test/%d", g%3))
				if err != nil {
					errs <- err
					return
				}
				jws, err := jose.ParseSigned(tok, []jose.SignatureAlgorithm{jose.RS256})
				if err != nil {
					errs <- err
					return
				}
				got, err := jws.Verify(pub)
				if err != nil || !bytes.Equal(got, payload) {
					errs <- fmt.Errorf("goroutine %d token %d: %v (payload %s)", g, i, err, got)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestCloseWhileSigning: Close during signing neither crashes nor lets a
// signature through afterwards; Close is idempotent.
func TestCloseWhileSigning(t *testing.T) {
	s := newTestSigner(t)
	pub := &s.Active().Private.PublicKey
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				tok, err := s.Sign([]byte(`{}`), "https://jku.test")
				if err != nil {
					if !errors.Is(err, errSignerClosed) {
						t.Errorf("Sign after Close: %v, want errSignerClosed", err)
					}
					return
				}
				if _, err := verifyCompact(tok, pub); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	time.Sleep(20 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	if _, err := s.Sign([]byte(`{}`), "https://jku.test"); !errors.Is(err, errSignerClosed) {
		t.Errorf("Sign after Close: %v", err)
	}
	if _, err := s.Active().signer.SignPayload([]byte(`{}`), jose.RS256); s.Backend() == BackendOpenSSL && !errors.Is(err, errSignerClosed) {
		t.Errorf("SignPayload after close: %v", err)
	}
	s.Close()
}

func verifyCompact(tok string, pub *rsa.PublicKey) ([]byte, error) {
	jws, err := jose.ParseSigned(tok, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return nil, err
	}
	return jws.Verify(pub)
}

// TestFallbackWhenSelfTestFails: a key that OpenSSL reads differently from
// Go (here: OpenSSL gets another key's DER) is signed with by crypto/rsa.
func TestFallbackWhenSelfTestFails(t *testing.T) {
	priv, _ := mustTestKey(t)
	other, err := rsa.GenerateKey(rand.Reader, signingKeyBits)
	if err != nil {
		t.Fatal(err)
	}
	otherDER, _ := x509.MarshalPKCS8PrivateKey(other)
	for name, der := range map[string][]byte{"other key": otherDER, "garbage": []byte("not a key"), "empty": nil} {
		s := newRSASigner("kid-1", priv, der)
		if s.backend() != BackendGo {
			t.Errorf("%s: backend %s, want %s", name, s.backend(), BackendGo)
		}
		sig, err := s.SignPayload([]byte("p"), jose.RS256)
		digest := sha256.Sum256([]byte("p"))
		if err != nil || rsa.VerifyPKCS1v15(&priv.PublicKey, crypto.SHA256, digest[:], sig) != nil {
			t.Errorf("%s: fallback signature: %v", name, err)
		}
		s.close()
	}
}

// TestNewRSASignerUsesBuildBackend: a sound key gets this build's backend.
func TestNewRSASignerUsesBuildBackend(t *testing.T) {
	priv, der := mustTestKey(t)
	s := newRSASigner("kid-1", priv, der)
	defer s.close()
	if s.backend() != wantBackend {
		t.Errorf("backend %s, want %s", s.backend(), wantBackend)
	}
	if s.Public().KeyID != "kid-1" || !s.Public().IsPublic() {
		t.Errorf("Public() = %+v", s.Public())
	}
}

// TestBackendMatchesBuild is the one test that depends on the build tags:
// OpenSSL with cgo, Go with CGO_ENABLED=0 or -tags xsuaa_nossl.
func TestBackendMatchesBuild(t *testing.T) {
	s := newTestSigner(t)
	if got := s.Backend(); got != wantBackend {
		t.Fatalf("Backend() = %q, want %q for this build", got, wantBackend)
	}
	t.Logf("signer backend: %s", s.Backend())
}
