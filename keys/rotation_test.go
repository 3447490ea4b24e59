package keys_test

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/openxsuaa/xsuaa/keys"
)

// jwksKIDs returns the kids in the signer's JWKS, in order.
func jwksKIDs(t *testing.T, s *keys.Signer) []string {
	t.Helper()
	body, _ := s.JWKS()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		t.Fatalf("JWKS: %v", err)
	}
	var out []string
	for _, k := range set.Keys {
		out = append(out, k.KeyID)
	}
	return out
}

// tokenKID returns the kid in a compact JWS's header.
func tokenKID(t *testing.T, token string) string {
	t.Helper()
	jws, err := jose.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	return jws.Signatures[0].Header.KeyID
}

func states(st []keys.KeyStatus) string {
	var out []string
	for _, s := range st {
		out = append(out, s.State)
	}
	return strings.Join(out, ",")
}

// TestSignerRotation walks one rotation through time: published at once,
// active only after activateAfter, the old key published until every token
// it signed has expired, then removed from the key set and the store.
func TestSignerRotation(t *testing.T) {
	ctx := context.Background()
	store, mk := &memStore{}, testMasterKey(t)
	t0 := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	s, err := keys.LoadSigner(ctx, store, mk, t0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	oldKID := s.Active().KID
	const jku = "https://localhost/token_keys"
	oldToken, err := s.Sign([]byte(`{"n":1}`), jku)
	if err != nil {
		t.Fatal(err)
	}
	etag0 := func() string { _, e := s.JWKS(); return e }()

	st, err := s.Rotate(ctx, t0, 30*time.Minute)
	if err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	newKID := st.KID
	if st.State != keys.StatePending || !st.ActiveFrom.Equal(t0.Add(30*time.Minute)) || newKID == oldKID {
		t.Fatalf("Rotate returned %+v; want a pending key active from %s", st, t0.Add(30*time.Minute))
	}
	if got := jwksKIDs(t, s); !slices.Equal(got, []string{oldKID, newKID}) {
		t.Errorf("JWKS after rotate = %v, want [%s %s] (the new key published at once)", got, oldKID, newKID)
	}
	if _, e := s.JWKS(); e == etag0 {
		t.Error("the JWKS ETag did not change with the key set")
	}
	if got := s.Active().KID; got != oldKID {
		t.Errorf("active right after rotate = %s, want still %s", got, oldKID)
	}
	if tok, _ := s.Sign([]byte(`{}`), jku); tokenKID(t, tok) != oldKID {
		t.Errorf("a token signed before activation carries kid %s, want %s", tokenKID(t, tok), oldKID)
	}

	steps := []struct {
		at        time.Duration
		active    string
		published []string
		states    string
		next      time.Duration // 0: none scheduled
	}{
		{29 * time.Minute, oldKID, []string{oldKID, newKID}, "active,pending", 30 * time.Minute},
		{30 * time.Minute, newKID, []string{oldKID, newKID}, "retired,active", 30*time.Minute + keys.DefaultRetainRetired},
		{30*time.Minute + keys.DefaultRetainRetired - time.Second, newKID, []string{oldKID, newKID}, "retired,active", 30*time.Minute + keys.DefaultRetainRetired},
		{30*time.Minute + keys.DefaultRetainRetired, newKID, []string{newKID}, "active", 0},
	}
	for _, step := range steps {
		next, err := s.Refresh(ctx, t0.Add(step.at))
		if err != nil {
			t.Fatalf("Refresh at +%s: %v", step.at, err)
		}
		if got := s.Active().KID; got != step.active {
			t.Errorf("at +%s active = %s, want %s", step.at, got, step.active)
		}
		if got := jwksKIDs(t, s); !slices.Equal(got, step.published) {
			t.Errorf("at +%s JWKS = %v, want %v", step.at, got, step.published)
		}
		if got := states(s.Status()); got != step.states {
			t.Errorf("at +%s states = %s, want %s", step.at, got, step.states)
		}
		want := time.Time{}
		if step.next != 0 {
			want = t0.Add(step.next)
		}
		if !next.Equal(want) {
			t.Errorf("at +%s next transition = %s, want %s", step.at, next, want)
		}
		if step.at == 30*time.Minute {
			// The old key still verifies the token it signed; new
			// tokens carry the new kid.
			if got := string(verifyTokenWithKID(t, s, oldToken, oldKID)); got != `{"n":1}` {
				t.Errorf("old token payload %s", got)
			}
			tok, err := s.Sign([]byte(`{"n":2}`), jku)
			if err != nil {
				t.Fatal(err)
			}
			verifyToken(t, s, tok, jku)
			if tokenKID(t, tok) != newKID {
				t.Errorf("token after activation has kid %s, want %s", tokenKID(t, tok), newKID)
			}
		}
	}
	recs, _ := store.ListKeys(ctx, keys.UseSigning)
	if len(recs) != 1 || recs[0].ID != newKID {
		t.Errorf("store after retirement holds %d keys, want only %s", len(recs), newKID)
	}

	// A second signer on the same store (another replica, or a restart)
	// sees the same state.
	s2, err := keys.LoadSigner(ctx, store, mk, t0.Add(31*time.Minute+keys.DefaultRetainRetired))
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if s2.Active().KID != newKID {
		t.Errorf("reloaded active = %s, want %s", s2.Active().KID, newKID)
	}
}

// verifyTokenWithKID checks token against the JWKS key kid.
func verifyTokenWithKID(t *testing.T, s *keys.Signer, token, kid string) []byte {
	t.Helper()
	jws, err := jose.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	payload, err := jws.Verify(jwksKey(t, s, kid))
	if err != nil {
		t.Fatalf("token of kid %s does not verify against the JWKS: %v", kid, err)
	}
	return payload
}

func TestSignerRotateLimits(t *testing.T) {
	ctx := context.Background()
	t0 := time.Now()
	s, err := keys.LoadSigner(ctx, &memStore{}, testMasterKey(t), t0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Rotate(ctx, t0, -time.Second); err == nil {
		t.Error("Rotate with a negative delay succeeded")
	}
	for i := 1; i < keys.MaxSigningKeys; i++ {
		if _, err := s.Rotate(ctx, t0, time.Duration(i)*time.Minute); err != nil {
			t.Fatalf("Rotate %d: %v", i, err)
		}
	}
	if _, err := s.Rotate(ctx, t0, time.Hour); !errors.Is(err, keys.ErrTooManyKeys) {
		t.Errorf("Rotate beyond %d keys = %v, want ErrTooManyKeys", keys.MaxSigningKeys, err)
	}
	// Immediate activation.
	s2, err := keys.LoadSigner(ctx, &memStore{}, testMasterKey(t), t0)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	st, err := s2.Rotate(ctx, t0, 0)
	if err != nil || st.State != keys.StateActive || s2.Active().KID != st.KID {
		t.Errorf("Rotate(0) = %+v, %v; active %s; want the new key active at once", st, err, s2.Active().KID)
	}
}

// TestSignerRefreshWhileSigning rotates and refreshes while goroutines
// sign; every token must verify against the key set; run with -race.
func TestSignerRefreshWhileSigning(t *testing.T) {
	ctx := context.Background()
	t0 := time.Now()
	s, err := keys.LoadSigner(ctx, &memStore{}, testMasterKey(t), t0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const jku = "https://localhost/token_keys"
	stop := make(chan struct{})
	var wg sync.WaitGroup
	tokens := make([][]string, 4)
	for w := range tokens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				tok, err := s.Sign([]byte(`{}`), jku)
				if err != nil {
					t.Error(err)
					return
				}
				tokens[w] = append(tokens[w], tok)
			}
		}()
	}
	for i := range 3 {
		if _, err := s.Rotate(ctx, t0.Add(time.Duration(i)*time.Minute), 0); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	n := 0
	for _, ts := range tokens {
		for _, tok := range ts {
			verifyTokenWithKID(t, s, tok, tokenKID(t, tok))
			n++
		}
	}
	if n == 0 {
		t.Fatal("no tokens were signed")
	}
}

// TestRotationNeverDropsALiveKey runs random sequences of rotations with
// random delays on an injected clock, as replicas and operators may: a
// key that signed a token stays in the key set while that token can be
// alive (the longest token validity, 24 h), the status reports exactly
// one active key, pending keys in the future and retired ones in the
// past, and a token is always signed by the key the status calls active.
func TestRotationNeverDropsALiveKey(t *testing.T) {
	const maxTokenLife = 24 * time.Hour
	delays := []time.Duration{0, time.Second, time.Minute, 30 * time.Minute, 3 * time.Hour, 25 * time.Hour, 72 * time.Hour}
	steps := []time.Duration{time.Millisecond, time.Second, time.Minute, time.Hour, 6 * time.Hour, 23 * time.Hour, 30 * time.Hour}
	for seed := range 12 {
		rng := rand.New(rand.NewPCG(uint64(seed), 7))
		ctx := context.Background()
		now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
		s, err := keys.LoadSigner(ctx, &memStore{}, testMasterKey(t), now)
		if err != nil {
			t.Fatal(err)
		}
		signedAt := map[string]time.Time{} // kid → last time it signed
		for step := range 60 {
			if rng.IntN(3) == 0 {
				if _, err := s.Rotate(ctx, now, delays[rng.IntN(len(delays))]); err != nil && !errors.Is(err, keys.ErrTooManyKeys) {
					t.Fatalf("seed %d step %d: Rotate: %v", seed, step, err)
				}
			} else {
				now = now.Add(steps[rng.IntN(len(steps))])
				if _, err := s.Refresh(ctx, now); err != nil {
					t.Fatalf("seed %d step %d: Refresh: %v", seed, step, err)
				}
			}
			tok, err := s.Sign([]byte(`{}`), "https://localhost/token_keys")
			if err != nil {
				t.Fatal(err)
			}
			signer := tokenKID(t, tok)
			signedAt[signer] = now
			published := jwksKIDs(t, s)
			for kid, at := range signedAt {
				if now.Sub(at) <= maxTokenLife && !slices.Contains(published, kid) {
					t.Fatalf("seed %d step %d: key %s signed a token %s ago and is no longer published (%v)", seed, step, kid, now.Sub(at), published)
				}
			}
			active := 0
			for _, st := range s.Status() {
				switch st.State {
				case keys.StateActive:
					active++
					if st.KID != signer {
						t.Fatalf("seed %d step %d: status says %s is active, but %s signs", seed, step, st.KID, signer)
					}
				case keys.StatePending:
					if !st.ActiveFrom.After(now) {
						t.Fatalf("seed %d step %d: %s pending although active from %s <= now %s", seed, step, st.KID, st.ActiveFrom, now)
					}
				case keys.StateRetired:
					// (an immediate rotation may nudge its key a few
					// microseconds past a tie with the current one)
					if st.RetiredAt.After(now.Add(time.Millisecond)) {
						t.Fatalf("seed %d step %d: %s retired at %s, after now %s", seed, step, st.KID, st.RetiredAt, now)
					}
				}
			}
			if active != 1 {
				t.Fatalf("seed %d step %d: %d active keys", seed, step, active)
			}
		}
		s.Close()
	}
}
