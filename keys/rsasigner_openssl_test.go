//go:build cgo && !xsuaa_nossl

package keys

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// wantBackend is the backend a sound key gets in this build.
const wantBackend = BackendOpenSSL

// TestOpenSSLErrors: what OpenSSL rejects comes back as a Go error that
// carries OpenSSL's reason.
func TestOpenSSLErrors(t *testing.T) {
	priv, der := mustTestKey(t)
	pub := &jose.JSONWebKey{Key: &priv.PublicKey, KeyID: "k", Algorithm: string(jose.RS256)}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, _ := x509.MarshalPKCS8PrivateKey(ec)
	for name, tc := range map[string]struct {
		der  []byte
		want string
	}{
		"garbage":   {[]byte("definitely not DER"), "openssl: decode private key: error:"},
		"truncated": {der[:len(der)/2], "openssl: decode private key: error:"},
		"trailing":  {append(append([]byte(nil), der...), 0, 0), "trailing data"},
		"EC key":    {ecDER, "not an RSA key"},
		"empty":     {nil, "empty private key"},
	} {
		s, err := newOpenSSLSigner(tc.der, pub)
		if err == nil {
			s.close()
			t.Errorf("%s: no error", name)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %q, want it to contain %q", name, err, tc.want)
		}
	}
}

// TestOpenSSLClose: close frees the key once; signing afterwards fails.
func TestOpenSSLClose(t *testing.T) {
	priv, der := mustTestKey(t)
	s, err := newOpenSSLSigner(der, &jose.JSONWebKey{Key: &priv.PublicKey, KeyID: "k"})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 { // leave a few contexts in the pool
		if _, err := s.SignPayload([]byte("p"), jose.RS256); err != nil {
			t.Fatal(err)
		}
	}
	s.close()
	s.close()
	if _, err := s.SignPayload([]byte("p"), jose.RS256); !errors.Is(err, errSignerClosed) {
		t.Fatalf("after close: %v", err)
	}
}

// TestOpenSSLCleanup: a signer dropped without close is freed after GC.
func TestOpenSSLCleanup(t *testing.T) {
	priv, der := mustTestKey(t)
	s, err := newOpenSSLSigner(der, &jose.JSONWebKey{Key: &priv.PublicKey, KeyID: "k"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.SignPayload([]byte("p"), jose.RS256); err != nil {
		t.Fatal(err)
	}
	k := s.(*opensslSigner).key // the cleanup's argument; keeps only itself alive
	s = nil
	freed := func() bool {
		k.mu.RLock()
		defer k.mu.RUnlock()
		return k.pkey == nil
	}
	for i := 0; i < 100 && !freed(); i++ {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if !freed() {
		t.Fatal("the OpenSSL key of an unreachable signer was not freed")
	}
}
