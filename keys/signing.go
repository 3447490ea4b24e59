package keys

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"slices"
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

// Defaults of signing-key rotation.
const (
	// firstKeySkew backdates the first key's activation (see LoadSigner).
	firstKeySkew = 5 * time.Minute
	// DefaultActivateAfter is how long a rotated key is published before it
	// signs: SAP's Node library caches a key set for up to 30 minutes and
	// does not refetch on an unknown kid, Java's for up to 15.
	DefaultActivateAfter = 30 * time.Minute
	// DefaultRetainRetired is how long a key stays published after its
	// successor took over: the longest token validity a descriptor may set
	// (86400 s) plus clock skew, so every token it signed can be verified
	// until it expires.
	DefaultRetainRetired = 24*time.Hour + 10*time.Minute
	// MaxSigningKeys bounds the published keys (active, pending, retired).
	MaxSigningKeys = 10
)

// Key states, as Signer.Status reports them.
const (
	StatePending = "pending" // published, signs from ActiveFrom on
	StateActive  = "active"  // signs new tokens
	StateRetired = "retired" // published until PublishedUntil, signs nothing
)

// KeyStatus describes one published signing key.
type KeyStatus struct {
	KID        string    `json:"kid"`
	State      string    `json:"state"`
	CreatedAt  time.Time `json:"created_at"`
	ActiveFrom time.Time `json:"active_from"`
	// RetiredAt is when a retired key's successor became active;
	// PublishedUntil when it leaves the key set. Zero unless retired.
	RetiredAt      time.Time `json:"retired_at,omitzero"`
	PublishedUntil time.Time `json:"published_until,omitzero"`
}

// ErrTooManyKeys is returned by Rotate when MaxSigningKeys are published.
var ErrTooManyKeys = errors.New("too many signing keys")

// Signer signs access tokens with RS256 and publishes the verification keys.
// It is safe for concurrent use; the hot path takes no lock but an atomic
// load and a sync.Map read (and, with OpenSSL, a read lock of the key).
//
// Keys rotate: Rotate adds a key that is published at once and signs from
// its ActiveFrom on; Refresh (which Run calls at every transition) switches
// the active key and drops retired keys once DefaultRetainRetired has passed.
// Every change builds a new immutable keySet that Sign picks up atomically.
//
// Signatures come from OpenSSL's libcrypto when the build has cgo and not
// -tags xsuaa_nossl, else from Go's crypto/rsa; Backend says which.
type Signer struct {
	store  Store
	mk     *MasterKey
	set    atomic.Pointer[keySet]
	mu     sync.Mutex // serialises Rotate and Refresh
	closed atomic.Bool
	opened map[string]*SigningKey // every key ever opened, by kid, for Close
	// changed wakes Run when Rotate scheduled a new transition.
	changed chan struct{}
}

// keySet is one immutable view of the keys.
type keySet struct {
	active  *SigningKey
	all     []*SigningKey // published, oldest ActiveFrom first
	status  []KeyStatus
	jwks    []byte
	etag    string
	next    time.Time // the next transition (activation or removal); zero if none
	headers sync.Map  // jku -> the active key's encoded JWS header and the dot after it
}

// LoadSigner loads the signing keys from store, creating the first RSA key
// when there is none. now decides which key is active.
func LoadSigner(ctx context.Context, store Store, mk *MasterKey, now time.Time) (*Signer, error) {
	recs, err := store.ListKeys(ctx, UseSigning)
	if err != nil {
		return nil, fmt.Errorf("load signing keys: %w", err)
	}
	if len(recs) == 0 {
		// The first start of an installation; with several replicas
		// starting at once, exactly one of them stores its key (the
		// check is repeated inside the serialised transaction) and the
		// others load it.
		// The first key has no predecessor to overlap with, so it is
		// active from a little before its creation: replicas that read
		// the time before another one created it, or whose clocks lag,
		// find it active too.
		rec, err := newSigningRecord(mk, now, now.Add(-firstKeySkew))
		if err != nil {
			return nil, err
		}
		err = store.UpdateKeys(ctx, func(tx KeyTx) error {
			recs, err := tx.ListKeys(ctx, UseSigning)
			if err != nil || len(recs) > 0 {
				return err
			}
			return tx.CreateKey(ctx, rec)
		})
		if err != nil {
			return nil, fmt.Errorf("store signing key: %w", err)
		}
	}
	s := &Signer{store: store, mk: mk, opened: map[string]*SigningKey{}, changed: make(chan struct{}, 1)}
	if _, err := s.Refresh(ctx, now); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Refresh reloads the keys from the store (another replica may have
// rotated), makes the newest key whose ActiveFrom has come the active one,
// and deletes retired keys whose PublishedUntil has passed. It returns when
// the next transition is due (zero if none is scheduled).
func (s *Signer) Refresh(ctx context.Context, now time.Time) (next time.Time, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	recs, err := s.store.ListKeys(ctx, UseSigning)
	if err != nil {
		return time.Time{}, fmt.Errorf("load signing keys: %w", err)
	}
	slices.SortStableFunc(recs, func(a, b Record) int { return a.ActiveFrom.Compare(b.ActiveFrom) })
	// The active key is the last one whose ActiveFrom has come; keys
	// before it retired when their successor became active.
	ai := -1
	for i, r := range recs {
		if !r.ActiveFrom.After(now) {
			ai = i
		}
	}
	if ai < 0 {
		return time.Time{}, errors.New("no signing key is active yet")
	}
	set := &keySet{}
	for i, r := range recs {
		st := KeyStatus{KID: r.ID, CreatedAt: r.CreatedAt, ActiveFrom: r.ActiveFrom}
		switch {
		case i < ai:
			st.State, st.RetiredAt = StateRetired, recs[i+1].ActiveFrom
			st.PublishedUntil = st.RetiredAt.Add(DefaultRetainRetired)
			if !st.PublishedUntil.After(now) {
				// Every replica derives the same from the timestamps,
				// whether or not its own delete is the one that lands.
				err := s.store.UpdateKeys(ctx, func(tx KeyTx) error {
					if err := tx.DeleteKey(ctx, r.ID); err != nil && !errors.Is(err, ErrNotFound) {
						return err
					}
					return nil
				})
				if err != nil {
					return time.Time{}, fmt.Errorf("delete retired signing key %s: %w", r.ID, err)
				}
				slog.Info("retired signing key removed from the key set", "kid", r.ID, "retired_at", st.RetiredAt)
				continue
			}
			set.next = earliest(set.next, st.PublishedUntil)
		case i == ai:
			st.State = StateActive
		default:
			st.State = StatePending
			set.next = earliest(set.next, r.ActiveFrom)
		}
		k, ok := s.opened[r.ID]
		if !ok {
			if k, err = openSigningRecord(s.mk, r); err != nil {
				return time.Time{}, err
			}
			s.opened[r.ID] = k
		}
		set.all = append(set.all, k)
		set.status = append(set.status, st)
		if i == ai {
			set.active = k
		}
	}
	if err := set.renderJWKS(); err != nil {
		return time.Time{}, err
	}
	old := s.set.Load()
	if old != nil && old.etag == set.etag && old.active == set.active {
		// Nothing changed: keep the set and its cached jose signers.
		return old.next, nil
	}
	if old != nil && old.active != set.active {
		slog.Info("signing key activated", "kid", set.active.KID, "previous", old.active.KID)
	}
	s.set.Store(set)
	// Free the OpenSSL objects of keys that left the set. A Sign that
	// loaded an older set before this Store cannot be using them: a key
	// leaves only DefaultRetainRetired after it stopped signing.
	for kid, k := range s.opened {
		if !slices.Contains(set.all, k) {
			k.signer.close()
			delete(s.opened, kid)
		}
	}
	return set.next, nil
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}

// Rotate creates a new signing key that is published at once and becomes
// the active key at now+activateAfter (or at once when activateAfter is 0).
// It fails with ErrTooManyKeys when MaxSigningKeys are published.
func (s *Signer) Rotate(ctx context.Context, now time.Time, activateAfter time.Duration) (KeyStatus, error) {
	if activateAfter < 0 {
		return KeyStatus{}, fmt.Errorf("activate-after must not be negative, got %s", activateAfter)
	}
	if n := len(s.set.Load().all); n >= MaxSigningKeys {
		return KeyStatus{}, tooManyKeys(n)
	}
	// The key is made outside the transaction (it takes a while); the
	// limit and its activation time are decided inside it, against the
	// keys every replica has stored.
	rec, err := newSigningRecord(s.mk, now, now)
	if err != nil {
		return KeyStatus{}, err
	}
	err = s.store.UpdateKeys(ctx, func(tx KeyTx) error {
		recs, err := tx.ListKeys(ctx, UseSigning)
		if err != nil {
			return err
		}
		if len(recs) >= MaxSigningKeys {
			return tooManyKeys(len(recs))
		}
		// The new key must sort after every stored one, also when
		// clocks tie (stores keep microseconds).
		rec.ActiveFrom = now.Add(activateAfter)
		for _, r := range recs {
			if !rec.ActiveFrom.After(r.ActiveFrom) {
				rec.ActiveFrom = r.ActiveFrom.Add(time.Microsecond)
			}
		}
		return tx.CreateKey(ctx, rec)
	})
	if errors.Is(err, ErrTooManyKeys) {
		return KeyStatus{}, err
	}
	if err != nil {
		return KeyStatus{}, fmt.Errorf("store signing key: %w", err)
	}
	// With no delay the key is active at once, even when it had to be
	// nudged a few microseconds past a tie with the current key. A key
	// that must wait for a pending one (rotated earlier with a longer
	// delay) stays pending, and its status says so: the clock is never
	// moved forward, which would retire keys early and drop ones that
	// still verify live tokens.
	if from := rec.ActiveFrom; activateAfter == 0 && from.After(now) && from.Sub(now) < time.Millisecond {
		now = from
	}
	if _, err := s.Refresh(ctx, now); err != nil {
		return KeyStatus{}, err
	}
	select {
	case s.changed <- struct{}{}:
	default:
	}
	for _, st := range s.Status() {
		if st.KID == rec.ID {
			return st, nil
		}
	}
	return KeyStatus{}, fmt.Errorf("signing key %s vanished after rotation", rec.ID)
}

// Run calls Refresh at every scheduled transition and at least every
// poll interval (so that keys rotated by another replica are picked up),
// until ctx is done. Errors are logged and retried.
func (s *Signer) Run(ctx context.Context, clock func() time.Time, poll time.Duration, log *slog.Logger) {
	next := s.set.Load().next
	for {
		wait := poll
		if !next.IsZero() {
			if d := next.Sub(clock()); d < wait {
				wait = max(d, 0) + 10*time.Millisecond
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-s.changed:
			t.Stop()
		case <-t.C:
		}
		n, err := s.Refresh(ctx, clock())
		if err != nil {
			log.Error("refreshing signing keys failed", "error", err)
			continue
		}
		next = n
	}
}

func tooManyKeys(n int) error {
	return fmt.Errorf("%w: %d keys are published (the limit); retired keys leave the key set %s after their successor became active", ErrTooManyKeys, n, DefaultRetainRetired)
}

// Status describes the published keys, oldest ActiveFrom first.
func (s *Signer) Status() []KeyStatus { return slices.Clone(s.set.Load().status) }

func newSigningRecord(mk *MasterKey, now, activeFrom time.Time) (Record, error) {
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
	return Record{ID: kid, Use: UseSigning, Public: spki, SealedPrivate: sealed, CreatedAt: now, ActiveFrom: activeFrom}, nil
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
func (s *Signer) Active() *SigningKey { return s.set.Load().active }

// Keys returns every published key, the active one among them.
func (s *Signer) Keys() []*SigningKey { return slices.Clone(s.set.Load().all) }

// Backend names what signs new tokens: BackendOpenSSL ("openssl", OpenSSL's
// libcrypto through cgo) or BackendGo ("go", crypto/rsa).
func (s *Signer) Backend() string { return s.Active().signer.backend() }

// Close frees what the keys hold outside the Go heap (their OpenSSL key
// objects); Sign fails afterwards. It is safe while Sign runs (it waits for
// signatures in progress) and idempotent. A Signer that is dropped without
// Close is freed by the garbage collector.
func (s *Signer) Close() error {
	s.closed.Store(true)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range s.opened {
		k.signer.close()
	}
	return nil
}

// JWKS returns the JSON Web Key Set of every published key, rendered once
// per change, and a strong ETag for it.
func (s *Signer) JWKS() (body []byte, etag string) {
	set := s.set.Load()
	return set.jwks, set.etag
}

// ActiveJWK returns the active key as one JWK, as /token_key serves it.
func (s *Signer) ActiveJWK() ([]byte, error) {
	set := s.set.Load()
	return set.active.jwk()
}

// Sign signs payload (the JSON claims) with the active key, with the header
// {"alg":"RS256","jku":jku,"kid":<kid>,"typ":"JWT"}, and returns the compact JWS.
func (s *Signer) Sign(payload []byte, jku string) (string, error) {
	if s.closed.Load() {
		return "", errSignerClosed
	}
	set := s.set.Load()
	prefix, err := set.header(jku)
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	buf := make([]byte, len(prefix), len(prefix)+enc.EncodedLen(len(payload))+1+enc.EncodedLen(set.active.Private.Size()))
	copy(buf, prefix)
	buf = enc.AppendEncode(buf, payload)
	sig, err := set.active.signer.SignPayload(buf, jose.RS256)
	if err != nil {
		return "", err
	}
	buf = append(buf, '.')
	return string(enc.AppendEncode(buf, sig)), nil
}

// header returns the encoded protected header of the active key's tokens
// for jku, with the '.' that follows it: the same for every token, so it
// is made once per key set and jku rather than once per token (the JWS is
// the compact serialization of RFC 7515 §7.1; go-jose and SAP's libraries
// parse it, the tests check).
func (set *keySet) header(jku string) ([]byte, error) {
	if v, ok := set.headers.Load(jku); ok {
		return v.([]byte), nil
	}
	h, err := json.Marshal(struct {
		Alg string `json:"alg"`
		Jku string `json:"jku"`
		Kid string `json:"kid"`
		Typ string `json:"typ"`
	}{string(jose.RS256), jku, set.active.KID, "JWT"})
	if err != nil {
		return nil, err
	}
	prefix := append(base64.RawURLEncoding.AppendEncode(nil, h), '.')
	v, _ := set.headers.LoadOrStore(jku, prefix)
	return v.([]byte), nil
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

// jwk renders the key as /token_keys lists it.
func (k *SigningKey) jwk() ([]byte, error) {
	b, err := (&jose.JSONWebKey{Key: &k.Private.PublicKey, KeyID: k.KID, Algorithm: string(jose.RS256), Use: "sig"}).MarshalJSON()
	if err != nil {
		return nil, err
	}
	var parsed struct{ N, E string }
	if err := json.Unmarshal(b, &parsed); err != nil {
		return nil, err
	}
	return json.Marshal(jwk{Kty: "RSA", E: parsed.E, Use: "sig", Kid: k.KID, Alg: "RS256", Value: k.pemPublic, N: parsed.N})
}

func (set *keySet) renderJWKS() error {
	keys := []json.RawMessage{}
	for _, k := range set.all {
		b, err := k.jwk()
		if err != nil {
			return err
		}
		keys = append(keys, b)
	}
	body, err := json.Marshal(struct {
		Keys []json.RawMessage `json:"keys"`
	}{keys})
	if err != nil {
		return err
	}
	sum := sha256.Sum256(body)
	set.jwks, set.etag = body, `"`+hex.EncodeToString(sum[:16])+`"`
	return nil
}

// Published reports whether the key kid is in the published key set.
func (s *Signer) Published(kid string) bool {
	for _, k := range s.set.Load().all {
		if k.KID == kid {
			return true
		}
	}
	return false
}
