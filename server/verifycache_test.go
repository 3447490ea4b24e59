package server

import (
	"context"
	"encoding/json"
	"testing"
	"time"
)

// TestVerifiedTokenCache: a user token verified once is answered from the
// cache, but never past its expiry, and never once the key that signed it
// has left the key set.
func TestVerifiedTokenCache(t *testing.T) {
	f := newFixture(t)
	s := f.srv
	now := time.Now()
	provider := s.index.ProviderZone()
	payload, _ := json.Marshal(userClaims{Sub: "u-1", UserID: "u-1", ZID: provider.ID, Iss: s.zoneIssuer(provider), Exp: now.Add(time.Hour).Unix(), Scope: []string{"uaa.user"}})
	token, err := s.signer.Sign(payload, s.zoneJKU(provider))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if c, why := s.verifyUserToken(token, now); why != "" || c.UserID != "u-1" {
			t.Fatalf("verification %d: %v %q", i+1, c, why)
		}
	}
	if _, ok := s.verifiedTokens.get(sha256Sum(token)); !ok {
		t.Fatal("the verified token is not cached")
	}
	if _, why := s.verifyUserToken(token, now.Add(2*time.Hour)); why != "it has expired" {
		t.Errorf("a cached token after its expiry: %q", why)
	}
	// Rotate, and let the old key leave the key set.
	ctx := context.Background()
	if _, err := s.signer.Rotate(ctx, now, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.signer.Refresh(ctx, now.Add(48*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, why := s.verifyUserToken(token, now); why != "its signature is not one of this server's keys" {
		t.Errorf("a cached token whose key left the key set: %q", why)
	}
}
