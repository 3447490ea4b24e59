package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// TestFloor checks that the floor does a token's real work: the answer is
// an RS256 JWT that verifies against the floor's key set, with this
// request's jti and a current iat and exp, and a wrong secret, an unknown
// client or another grant is refused.
func TestFloor(t *testing.T) {
	f, _, err := newFloor(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer f.close()
	body, _ := f.signer.JWKS()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil || len(set.Keys) == 0 {
		t.Fatalf("key set %s: %v", body, err)
	}
	post := func(form string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", "/oauth/token", strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		f.ServeHTTP(rec, req)
		return rec
	}
	jtis := map[string]bool{}
	for range 2 {
		rec := post(floorForm())
		var answer struct {
			AccessToken string `json:"access_token"`
			TokenType   string `json:"token_type"`
			JTI         string `json:"jti"`
		}
		if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &answer) != nil || answer.TokenType != "bearer" {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
		jws, err := jose.ParseSigned(answer.AccessToken, []jose.SignatureAlgorithm{jose.RS256})
		if err != nil {
			t.Fatal(err)
		}
		keys := set.Key(jws.Signatures[0].Header.KeyID)
		if len(keys) != 1 {
			t.Fatalf("kid %q not in the key set", jws.Signatures[0].Header.KeyID)
		}
		payload, err := jws.Verify(keys[0].Key)
		if err != nil {
			t.Fatalf("signature: %v", err)
		}
		var claims struct {
			JTI      string `json:"jti"`
			IAT, Exp int64
			ClientID string `json:"client_id"`
		}
		if err := json.Unmarshal(payload, &claims); err != nil {
			t.Fatalf("claims %s: %v", payload, err)
		}
		now := time.Now().Unix()
		if claims.JTI != answer.JTI || jtis[claims.JTI] || claims.ClientID != floorClientID || claims.IAT < now-5 || claims.IAT > now || claims.Exp != claims.IAT+43200 {
			t.Errorf("claims %s (answer's jti %q)", payload, answer.JTI)
		}
		jtis[claims.JTI] = true
	}
	for _, form := range []url.Values{
		{"grant_type": {"client_credentials"}, "client_id": {floorClientID}, "client_secret": {floorSecret + "x"}},
		{"grant_type": {"client_credentials"}, "client_id": {"sb-other!t1"}, "client_secret": {floorSecret}},
		{"grant_type": {"password"}, "client_id": {floorClientID}, "client_secret": {floorSecret}},
	} {
		if rec := post(form.Encode()); rec.Code != http.StatusUnauthorized {
			t.Errorf("%s: %d %s", form.Encode(), rec.Code, rec.Body)
		}
	}
}
