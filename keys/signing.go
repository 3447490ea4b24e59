package keys

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// signingKeyBits is the size of generated token signing keys.
const signingKeyBits = 2048

// SigningKey is one RSA token signing key, decrypted in memory.
type SigningKey struct {
	KID        string
	Private    *rsa.PrivateKey
	ActiveFrom time.Time
	pemPublic  string
	// signer signs with this key: through OpenSSL when the build and the
	// key allow it, else with crypto/rsa (see newRSASigner). Its OpenSSL
	// key object is made once, here, and freed by close when the key is
	// retired (Signer.Close).
	signer rsaSigner
}

// PublicPEM returns the SPKI public key in PEM, as XSUAA puts it into
// the "verificationkey" of credentials and the "value" of a JWK.
func (k *SigningKey) PublicPEM() string { return k.pemPublic }

// Signer signs access tokens with RS256 and publishes the verification keys.
// It is safe for concurrent use; the hot path takes no lock but a sync.Map
// read (and, with OpenSSL, a read lock of the key).
//
// Signatures come from OpenSSL's libcrypto when the build has cgo and not
// -tags xsuaa_nossl, else from Go's crypto/rsa; Backend says which.
type Signer struct {
	active *SigningKey
	all    []*SigningKey
	jwks   []byte
	etag   string
	closed atomic.Bool

	signers sync.Map // jku -> jose.Signer for the active key
}

// LoadSigner loads the signing keys from store, creating the first RSA key
// when there is none. now decides which key is active.
func LoadSigner(ctx context.Context, store Store, mk *MasterKey, now time.Time) (*Signer, error) {
	recs, err := store.ListKeys(ctx, UseSigning)
	if err != nil {
		return nil, fmt.Errorf("load signing keys: %w", err)
	}
	if len(recs) == 0 {
		rec, err := newSigningRecord(mk, now)
		if err != nil {
			return nil, err
		}
		if err := store.CreateKey(ctx, rec); err != nil && !errors.Is(err, ErrAlreadyExists) {
			return nil, fmt.Errorf("store signing key: %w", err)
		}
		if recs, err = store.ListKeys(ctx, UseSigning); err != nil {
			return nil, err
		}
	}
	s := &Signer{}
	for _, r := range recs {
		k, err := openSigningRecord(mk, r)
		if err != nil {
			s.Close()
			return nil, err
		}
		s.all = append(s.all, k)
		if !k.ActiveFrom.After(now) && (s.active == nil || k.ActiveFrom.After(s.active.ActiveFrom)) {
			s.active = k
		}
	}
	if s.active == nil {
		s.Close()
		return nil, errors.New("no signing key is active yet")
	}
	if err := s.renderJWKS(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func newSigningRecord(mk *MasterKey, now time.Time) (Record, error) {
	priv, err := rsa.GenerateKey(rand.Reader, signingKeyBits)
	if err != nil {
		return Record{}, err
	}
	spki, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		return Record{}, err
	}
	sum := sha256.Sum256(spki)
	kid := "default-jwt-key-" + hex.EncodeToString(sum[:5]) // XSUAA's kid shape
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return Record{}, err
	}
	sealed, err := mk.Seal(der, []byte(kid))
	if err != nil {
		return Record{}, err
	}
	return Record{ID: kid, Use: UseSigning, Public: spki, SealedPrivate: sealed, CreatedAt: now, ActiveFrom: now}, nil
}

func openSigningRecord(mk *MasterKey, r Record) (*SigningKey, error) {
	der, err := mk.Open(r.SealedPrivate, []byte(r.ID))
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", r.ID, err)
	}
	defer clear(der) // the parsed keys hold their own copies
	pk, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", r.ID, err)
	}
	priv, ok := pk.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("signing key %s is not an RSA key", r.ID)
	}
	priv.Precompute()
	return &SigningKey{
		KID:        r.ID,
		Private:    priv,
		ActiveFrom: r.ActiveFrom,
		pemPublic:  string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: r.Public})),
		signer:     newRSASigner(r.ID, priv, der),
	}, nil
}

// Active returns the key that signs new tokens.
func (s *Signer) Active() *SigningKey { return s.active }

// Keys returns every published key, the active one among them.
func (s *Signer) Keys() []*SigningKey { return s.all }

// Backend names what signs new tokens: BackendOpenSSL ("openssl", OpenSSL's
// libcrypto through cgo) or BackendGo ("go", crypto/rsa).
func (s *Signer) Backend() string { return s.active.signer.backend() }

// Close frees what the keys hold outside the Go heap (their OpenSSL key
// objects); Sign fails afterwards. It is safe while Sign runs (it waits for
// signatures in progress) and idempotent. A Signer that is dropped without
// Close is freed by the garbage collector.
func (s *Signer) Close() error {
	s.closed.Store(true)
	for _, k := range s.all {
		k.signer.close()
	}
	return nil
}

// JWKS returns the JSON Web Key Set of every published key, rendered once,
// and a strong ETag for it.
func (s *Signer) JWKS() (body []byte, etag string) { return s.jwks, s.etag }

// Sign signs payload (the JSON claims) with the active key, with the header
// {"alg":"RS256","jku":jku,"kid":<kid>,"typ":"JWT"}, and returns the compact JWS.
func (s *Signer) Sign(payload []byte, jku string) (string, error) {
	if s.closed.Load() {
		return "", errSignerClosed
	}
	v, ok := s.signers.Load(jku)
	if !ok {
		opts := (&jose.SignerOptions{}).WithType("JWT").WithHeader("jku", jku)
		// The key is a jose.OpaqueSigner: go-jose writes the header (the
		// kid from its Public()) and the signer signs the signing input.
		js, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: s.active.signer}, opts)
		if err != nil {
			return "", err
		}
		v, _ = s.signers.LoadOrStore(jku, js)
	}
	obj, err := v.(jose.Signer).Sign(payload)
	if err != nil {
		return "", err
	}
	return obj.CompactSerialize()
}

// jwk is one key as /token_keys serves it: the RFC 7517 members plus UAA's
// legacy "value" (the PEM public key), which older SAP libraries read.
type jwk struct {
	Kty   string `json:"kty"`
	E     string `json:"e"`
	Use   string `json:"use"`
	Kid   string `json:"kid"`
	Alg   string `json:"alg"`
	Value string `json:"value"`
	N     string `json:"n"`
}

func (s *Signer) renderJWKS() error {
	set := struct {
		Keys []jwk `json:"keys"`
	}{Keys: []jwk{}}
	for _, k := range s.all {
		b, err := (&jose.JSONWebKey{Key: &k.Private.PublicKey, KeyID: k.KID, Algorithm: string(jose.RS256), Use: "sig"}).MarshalJSON()
		if err != nil {
			return err
		}
		var parsed struct{ N, E string }
		if err := json.Unmarshal(b, &parsed); err != nil {
			return err
		}
		set.Keys = append(set.Keys, jwk{Kty: "RSA", E: parsed.E, Use: "sig", Kid: k.KID, Alg: "RS256", Value: k.pemPublic, N: parsed.N})
	}
	body, err := json.Marshal(set)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(body)
	s.jwks, s.etag = body, `"`+hex.EncodeToString(sum[:16])+`"`
	return nil
}
