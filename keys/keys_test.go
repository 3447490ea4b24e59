package keys_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/openxsuaa/xsuaa/keys"
)

// memStore is the package's in-memory Store for tests (export_test.go).
type memStore = keys.MemStore

// discard is a logger that drops everything.
var discard = slog.New(slog.DiscardHandler)

// testMasterKey returns a master key from a fixed 32-byte key.
func testMasterKey(t testing.TB) *keys.MasterKey {
	t.Helper()
	return masterKey(t, "0123456789abcdef0123456789abcdef")
}

func masterKey(t testing.TB, ikm string) *keys.MasterKey {
	t.Helper()
	mk, err := keys.NewMasterKey([]byte(ikm))
	if err != nil {
		t.Fatal(err)
	}
	return mk
}

// sameKey reports whether a and b are the same master key: each opens
// what the other sealed.
func sameKey(t *testing.T, a, b *keys.MasterKey) bool {
	t.Helper()
	sealed, err := a.Seal([]byte("probe"), []byte("aad"))
	if err != nil {
		t.Fatal(err)
	}
	pt, err := b.Open(sealed, []byte("aad"))
	return err == nil && string(pt) == "probe"
}

func TestLoadMasterKeyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, keys.MasterKeyFile)

	first, err := keys.LoadMasterKey(dir, "", discard)
	if err != nil {
		t.Fatalf("LoadMasterKey: %v", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("master key file not created: %v", err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Errorf("master key file mode = %v, want 0600", fi.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(data)))
	if err != nil || len(raw) != 32 {
		t.Errorf("master key file %q is not 32 bytes in base64 (%v)", data, err)
	}

	second, err := keys.LoadMasterKey(dir, "", discard)
	if err != nil {
		t.Fatalf("LoadMasterKey again: %v", err)
	}
	if !sameKey(t, first, second) {
		t.Error("reloading the master key file gave another key")
	}
	if !bytes.Equal(first.Derive("purpose", 32), second.Derive("purpose", 32)) {
		t.Error("reloaded master key derives other keys")
	}
	if again, _ := os.ReadFile(path); !bytes.Equal(again, data) {
		t.Error("loading rewrote the master key file")
	}

	// A separate installation gets its own key.
	other, err := keys.LoadMasterKey(t.TempDir(), "", discard)
	if err != nil {
		t.Fatal(err)
	}
	if sameKey(t, first, other) {
		t.Error("two generated master keys are the same")
	}
}

func TestLoadMasterKeyFileWarnsWhenReadable(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix permissions")
	}
	dir := t.TempDir()
	key := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	path := filepath.Join(dir, keys.MasterKeyFile)
	if err := os.WriteFile(path, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil { // not subject to the umask
		t.Fatal(err)
	}
	var logs bytes.Buffer
	mk, err := keys.LoadMasterKey(dir, "", slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatalf("LoadMasterKey of a 0644 file: %v", err)
	}
	if !sameKey(t, mk, masterKey(t, string(bytes.Repeat([]byte{7}, 32)))) {
		t.Error("LoadMasterKey did not use the file's key")
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "chmod 600") {
		t.Errorf("no warning about the file mode; logs: %s", logs.String())
	}
}

func TestLoadMasterKeyBadFile(t *testing.T) {
	tests := []struct{ name, content string }{
		{"not base64", "this is not base64!\n"},
		{"too short", base64.StdEncoding.EncodeToString(make([]byte, 16)) + "\n"},
		{"empty", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, keys.MasterKeyFile), []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := keys.LoadMasterKey(dir, "", discard); err == nil {
				t.Error("LoadMasterKey accepted a bad key file")
			}
		})
	}
}

func TestLoadMasterKeyEnv(t *testing.T) {
	long := "an-environment-master-key-of-40-chars!!!"
	tests := []struct {
		name    string
		env     string
		wantErr bool
	}{
		{"1 character", "x", true},
		{"31 characters", strings.Repeat("k", 31), true},
		{"32 characters", strings.Repeat("k", 32), false},
		{"40 characters", long, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			mk, err := keys.LoadMasterKey(dir, tc.env, discard)
			if tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), "32") {
					t.Errorf("LoadMasterKey with a %d-character key = %v, want an error naming the minimum of 32", len(tc.env), err)
				}
				return
			}
			if err != nil {
				t.Fatalf("LoadMasterKey: %v", err)
			}
			if !sameKey(t, mk, masterKey(t, tc.env)) {
				t.Error("the environment key was not used as given")
			}
			if _, err := os.Stat(filepath.Join(dir, keys.MasterKeyFile)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a key file was created although the environment has a key (%v)", err)
			}
		})
	}

	// The environment wins over an existing file.
	dir := t.TempDir()
	fromFile, err := keys.LoadMasterKey(dir, "", discard)
	if err != nil {
		t.Fatal(err)
	}
	fromEnv, err := keys.LoadMasterKey(dir, long, discard)
	if err != nil {
		t.Fatal(err)
	}
	if sameKey(t, fromFile, fromEnv) {
		t.Error("the file's key was used although the environment has one")
	}
}

func TestMasterKeySealOpen(t *testing.T) {
	mk := testMasterKey(t)
	for _, size := range []int{0, 1, 31, 32, 1000} {
		pt := make([]byte, size)
		rand.Read(pt)
		sealed, err := mk.Seal(pt, []byte("record-1"))
		if err != nil {
			t.Fatalf("Seal(%d bytes): %v", size, err)
		}
		if size >= 16 && bytes.Contains(sealed, pt) {
			t.Errorf("Seal(%d bytes) contains the plaintext", size)
		}
		got, err := mk.Open(sealed, []byte("record-1"))
		if err != nil || !bytes.Equal(got, pt) {
			t.Errorf("Open(Seal(%d bytes)) = %x, %v", size, got, err)
		}
	}

	pt := []byte("the private key")
	sealed, err := mk.Seal(pt, []byte("record-1"))
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := mk.Seal(pt, []byte("record-1")); bytes.Equal(again, sealed) {
		t.Error("sealing twice gave the same bytes: the nonce is not random")
	}

	tampered := func(i int) []byte {
		b := bytes.Clone(sealed)
		b[i] ^= 0x01
		return b
	}
	tests := []struct {
		name   string
		mk     *keys.MasterKey
		sealed []byte
		aad    string
	}{
		{"wrong aad", mk, sealed, "record-2"},
		{"no aad", mk, sealed, ""},
		{"tampered nonce", mk, tampered(0), "record-1"},
		{"tampered ciphertext", mk, tampered(12), "record-1"},
		{"tampered tag", mk, tampered(len(sealed) - 1), "record-1"},
		{"truncated", mk, sealed[:len(sealed)-1], "record-1"},
		{"too short", mk, sealed[:10], "record-1"},
		{"empty", mk, nil, "record-1"},
		{"other master key", masterKey(t, "fedcba9876543210fedcba9876543210"), sealed, "record-1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got, err := tc.mk.Open(tc.sealed, []byte(tc.aad)); err == nil {
				t.Errorf("Open succeeded with %q", got)
			}
		})
	}
}

func TestMasterKeyDerive(t *testing.T) {
	mk := testMasterKey(t)
	a, b := mk.Derive("purpose a", 32), mk.Derive("purpose b", 32)
	if len(a) != 32 || len(b) != 32 {
		t.Fatalf("Derive lengths %d, %d, want 32", len(a), len(b))
	}
	if bytes.Equal(a, b) {
		t.Error("two purposes derived the same key")
	}
	if !bytes.Equal(a, mk.Derive("purpose a", 32)) {
		t.Error("Derive is not deterministic")
	}
	if bytes.Equal(a, masterKey(t, "fedcba9876543210fedcba9876543210").Derive("purpose a", 32)) {
		t.Error("two master keys derived the same key")
	}
}

var kidShape = regexp.MustCompile(`^default-jwt-key-[0-9a-f]{10}$`)

func TestLoadSignerCreatesOneKey(t *testing.T) {
	ctx := context.Background()
	store, mk, now := &memStore{}, testMasterKey(t), time.Now()
	s, err := keys.LoadSigner(ctx, store, mk, now)
	if err != nil {
		t.Fatalf("LoadSigner: %v", err)
	}
	active := s.Active()
	if !kidShape.MatchString(active.KID) {
		t.Errorf("kid %q does not have the shape default-jwt-key-<10 hex>", active.KID)
	}
	if bits := active.Private.N.BitLen(); bits != 2048 {
		t.Errorf("signing key has %d bits, want 2048", bits)
	}
	if got := s.Keys(); len(got) != 1 || got[0] != active {
		t.Errorf("Keys() = %v, want only the active key", got)
	}

	recs, _ := store.ListKeys(ctx, keys.UseSigning)
	if len(recs) != 1 {
		t.Fatalf("store has %d signing keys, want 1", len(recs))
	}
	rec := recs[0]
	// The first key is active from a little before its creation (clock skew
	// between replicas starting at once).
	if rec.ID != active.KID || rec.Use != keys.UseSigning || !rec.ActiveFrom.Equal(now.Add(-5*time.Minute)) || !rec.CreatedAt.Equal(now) {
		t.Errorf("stored record = id %q use %q created %v active %v", rec.ID, rec.Use, rec.CreatedAt, rec.ActiveFrom)
	}
	spki, err := x509.MarshalPKIXPublicKey(&active.Private.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(rec.Public, spki) {
		t.Error("stored Public is not the SPKI DER of the key")
	}
	// The private key is not stored in clear, in any encoding.
	pkcs8, err := x509.MarshalPKCS8PrivateKey(active.Private)
	if err != nil {
		t.Fatal(err)
	}
	for name, secret := range map[string][]byte{
		"PKCS#8 DER":       pkcs8,
		"PKCS#1 DER":       x509.MarshalPKCS1PrivateKey(active.Private),
		"private exponent": active.Private.D.Bytes(),
		"prime":            active.Private.Primes[0].Bytes(),
	} {
		if bytes.Contains(rec.SealedPrivate, secret) {
			t.Errorf("stored SealedPrivate contains the %s of the private key", name)
		}
	}
	if pt, err := mk.Open(rec.SealedPrivate, []byte(rec.ID)); err != nil || !bytes.Equal(pt, pkcs8) {
		t.Errorf("SealedPrivate does not open to the PKCS#8 key with the kid as aad (%v)", err)
	}
	if got, want := active.PublicPEM(), string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki})); got != want {
		t.Errorf("PublicPEM = %q, want %q", got, want)
	}

	// A second load (a restart, or another replica) uses the same key.
	s2, err := keys.LoadSigner(ctx, store, mk, now.Add(time.Minute))
	if err != nil {
		t.Fatalf("second LoadSigner: %v", err)
	}
	if s2.Active().KID != active.KID || !s2.Active().Private.Equal(active.Private) {
		t.Errorf("second LoadSigner uses key %s, want %s", s2.Active().KID, active.KID)
	}
	if recs, _ := store.ListKeys(ctx, keys.UseSigning); len(recs) != 1 {
		t.Errorf("second LoadSigner left %d signing keys, want 1", len(recs))
	}
	body1, etag1 := s.JWKS()
	body2, etag2 := s2.JWKS()
	if !bytes.Equal(body1, body2) || etag1 != etag2 {
		t.Errorf("JWKS differs between two loads of the same key:\n%s %s\n%s %s", body1, etag1, body2, etag2)
	}

	// Another master key cannot open the stored key.
	if _, err := keys.LoadSigner(ctx, store, masterKey(t, "fedcba9876543210fedcba9876543210"), now); err == nil {
		t.Error("LoadSigner with another master key succeeded")
	}
}

// decodeSegment decodes one base64url segment of a compact JWS as JSON.
func decodeSegment(t *testing.T, seg string, v any) {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatalf("segment %q is not unpadded base64url: %v", seg, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("segment %s: %v", b, err)
	}
}

// jwksKey returns the key kid from the JWKS the signer serves.
func jwksKey(t *testing.T, s *keys.Signer, kid string) *rsa.PublicKey {
	t.Helper()
	body, _ := s.JWKS()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		t.Fatalf("JWKS %s: %v", body, err)
	}
	found := set.Key(kid)
	if len(found) != 1 {
		t.Fatalf("JWKS has %d keys with kid %q, want 1", len(found), kid)
	}
	pub, ok := found[0].Key.(*rsa.PublicKey)
	if !ok {
		t.Fatalf("JWKS key %q is a %T, want *rsa.PublicKey", kid, found[0].Key)
	}
	return pub
}

// verifyToken checks a compact JWS from s with go-jose and with crypto/rsa
// and returns its payload.
func verifyToken(t *testing.T, s *keys.Signer, token, jku string) []byte {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q has %d parts, want 3", token, len(parts))
	}
	var header map[string]any
	decodeSegment(t, parts[0], &header)
	kid := s.Active().KID
	want := map[string]any{"alg": "RS256", "jku": jku, "kid": kid, "typ": "JWT"}
	if len(header) != len(want) {
		t.Errorf("header %v, want exactly %v", header, want)
	}
	for k, v := range want {
		if header[k] != v {
			t.Errorf("header %q = %v, want %v", k, header[k], v)
		}
	}
	pub := jwksKey(t, s, kid)

	jws, err := jose.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatalf("go-jose cannot parse the token: %v", err)
	}
	payload, err := jws.Verify(pub)
	if err != nil {
		t.Fatalf("go-jose does not verify the token with the JWKS key: %v", err)
	}
	if h := jws.Signatures[0].Header; h.KeyID != kid || h.Algorithm != "RS256" {
		t.Errorf("go-jose header kid %q alg %q", h.KeyID, h.Algorithm)
	}

	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig); err != nil {
		t.Errorf("crypto/rsa does not verify the RS256 signature: %v", err)
	}
	return payload
}

func TestSignerSign(t *testing.T) {
	s, err := keys.LoadSigner(context.Background(), &memStore{}, testMasterKey(t), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, jku := range []string{"https://localhost:8443/token_keys", "https://tenant.localhost:8443/token_keys", ""} {
		payload := []byte(`{"sub":"sb-orders!t1","scope":["uaa.resource"],"jku":"` + jku + `"}`)
		token, err := s.Sign(payload, jku)
		if err != nil {
			t.Fatalf("Sign: %v", err)
		}
		if got := verifyToken(t, s, token, jku); !bytes.Equal(got, payload) {
			t.Errorf("verified payload = %s, want %s", got, payload)
		}
	}
}

func TestSignerJWKS(t *testing.T) {
	s, err := keys.LoadSigner(context.Background(), &memStore{}, testMasterKey(t), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	body, etag := s.JWKS()
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		t.Fatalf("JWKS %s: %v", body, err)
	}
	if len(set.Keys) != 1 {
		t.Fatalf("JWKS has %d keys, want 1", len(set.Keys))
	}
	k := set.Keys[0]
	var members []string
	for m := range k {
		members = append(members, m)
	}
	slices.Sort(members)
	if want := []string{"alg", "e", "kid", "kty", "n", "use", "value"}; !slices.Equal(members, want) {
		t.Errorf("JWK members = %q, want %q", members, want)
	}
	active := s.Active()
	for m, want := range map[string]string{"kty": "RSA", "e": "AQAB", "use": "sig", "kid": active.KID, "alg": "RS256"} {
		if k[m] != want {
			t.Errorf("JWK %q = %v, want %q", m, k[m], want)
		}
	}
	n, err := base64.RawURLEncoding.DecodeString(fmt.Sprint(k["n"]))
	if err != nil || new(big.Int).SetBytes(n).Cmp(active.Private.N) != 0 {
		t.Errorf("JWK n is not the unpadded base64url modulus (%v)", err)
	}
	value, _ := k["value"].(string)
	if value != active.PublicPEM() {
		t.Errorf("JWK value = %q, want the PEM public key %q", value, active.PublicPEM())
	}
	block, rest := pem.Decode([]byte(value))
	if block == nil || block.Type != "PUBLIC KEY" || len(bytes.TrimSpace(rest)) != 0 {
		t.Fatalf("JWK value %q is not one PEM PUBLIC KEY block", value)
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatalf("JWK value: %v", err)
	}
	if !active.Private.PublicKey.Equal(pub) {
		t.Error("JWK value is another key")
	}
	if !active.Private.PublicKey.Equal(jwksKey(t, s, active.KID)) {
		t.Error("go-jose reads another key from the JWKS")
	}

	if !strings.HasPrefix(etag, `"`) || !strings.HasSuffix(etag, `"`) || len(etag) < 10 {
		t.Errorf("ETag %q is not a quoted strong validator", etag)
	}
	if body2, etag2 := s.JWKS(); etag2 != etag || !bytes.Equal(body2, body) {
		t.Error("JWKS or its ETag changed between two calls")
	}
}

// rsaKeys are generated once: RSA key generation is slow.
var rsaKeys = sync.OnceValues(func() ([]*rsa.PrivateKey, error) {
	var out []*rsa.PrivateKey
	for range 3 {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, nil
})

// signingRecord seals key i of rsaKeys into a record as LoadSigner stores it.
func signingRecord(t *testing.T, mk *keys.MasterKey, i int, created, activeFrom time.Time) keys.Record {
	t.Helper()
	all, err := rsaKeys()
	if err != nil {
		t.Fatal(err)
	}
	k := all[i]
	spki, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	kid := fmt.Sprintf("default-jwt-key-%010d", i)
	sealed, err := mk.Seal(der, []byte(kid))
	if err != nil {
		t.Fatal(err)
	}
	return keys.Record{ID: kid, Use: keys.UseSigning, Public: spki, SealedPrivate: sealed, CreatedAt: created, ActiveFrom: activeFrom}
}

func TestLoadSignerActiveKey(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	tests := []struct {
		name       string
		activeFrom []time.Duration // of keys 0, 1, ... relative to now
		wantActive int             // index, or -1 for an error
	}{
		{"one key", []time.Duration{-day}, 0},
		{"one key active from now", []time.Duration{0}, 0},
		{"newer key is active", []time.Duration{-2 * day, -day}, 1},
		{"next key published before it is active", []time.Duration{-day, day}, 0},
		{"rotated, next announced", []time.Duration{-2 * day, -day, day}, 1},
		{"only a future key", []time.Duration{time.Hour}, -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			mk, store := testMasterKey(t), &memStore{}
			for i, d := range tc.activeFrom {
				r := signingRecord(t, mk, i, now.Add(d-time.Hour), now.Add(d))
				if err := store.CreateKey(ctx, r); err != nil {
					t.Fatal(err)
				}
			}
			s, err := keys.LoadSigner(ctx, store, mk, now)
			if tc.wantActive < 0 {
				if err == nil {
					t.Errorf("LoadSigner succeeded with active key %s, want an error", s.Active().KID)
				}
				return
			}
			if err != nil {
				t.Fatalf("LoadSigner: %v", err)
			}
			if recs, _ := store.ListKeys(ctx, keys.UseSigning); len(recs) != len(tc.activeFrom) {
				t.Errorf("LoadSigner changed the number of keys to %d", len(recs))
			}
			want := fmt.Sprintf("default-jwt-key-%010d", tc.wantActive)
			if got := s.Active().KID; got != want {
				t.Errorf("active key = %s, want %s", got, want)
			}
			// Every key is published, the future one included.
			body, _ := s.JWKS()
			var set jose.JSONWebKeySet
			if err := json.Unmarshal(body, &set); err != nil {
				t.Fatal(err)
			}
			if len(set.Keys) != len(tc.activeFrom) {
				t.Errorf("JWKS has %d keys, want %d", len(set.Keys), len(tc.activeFrom))
			}
			token, err := s.Sign([]byte(`{}`), "https://localhost/token_keys")
			if err != nil {
				t.Fatal(err)
			}
			verifyToken(t, s, token, "https://localhost/token_keys")
		})
	}
}

func TestSignerConcurrentSign(t *testing.T) {
	s, err := keys.LoadSigner(context.Background(), &memStore{}, testMasterKey(t), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	const workers, each = 16, 4
	tokens := make([][]string, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for i := range each {
				// Few distinct jkus, so that goroutines race to build the
				// same per-jku signer.
				jku := fmt.Sprintf("https://zone%d.localhost/token_keys", (w+i)%3)
				tok, err := s.Sign(fmt.Appendf(nil, `{"w":%d,"i":%d}`, w, i), jku)
				if err != nil {
					errs[w] = err
					return
				}
				tokens[w] = append(tokens[w], tok)
			}
		}()
	}
	close(start)
	wg.Wait()
	for w := range workers {
		if errs[w] != nil {
			t.Fatalf("worker %d: %v", w, errs[w])
		}
		for i, tok := range tokens[w] {
			jku := fmt.Sprintf("https://zone%d.localhost/token_keys", (w+i)%3)
			if got, want := string(verifyToken(t, s, tok, jku)), fmt.Sprintf(`{"w":%d,"i":%d}`, w, i); got != want {
				t.Errorf("worker %d token %d payload %s, want %s", w, i, got, want)
			}
		}
	}
}

func TestLoadCA(t *testing.T) {
	ctx := context.Background()
	store, mk := &memStore{}, testMasterKey(t)
	now := time.Now()
	clock := func() time.Time { return now }
	ca, err := keys.LoadCA(ctx, store, mk, clock)
	if err != nil {
		t.Fatalf("LoadCA: %v", err)
	}
	c := ca.Cert
	if !c.IsCA || !c.BasicConstraintsValid || c.KeyUsage&x509.KeyUsageCertSign == 0 {
		t.Errorf("CA certificate: IsCA %v, basic constraints %v, key usage %b", c.IsCA, c.BasicConstraintsValid, c.KeyUsage)
	}
	if err := c.CheckSignatureFrom(c); err != nil {
		t.Errorf("CA certificate is not self-signed: %v", err)
	}
	if !c.NotBefore.Before(now) || !c.NotAfter.After(now.Add(5*365*24*time.Hour)) {
		t.Errorf("CA validity %v to %v", c.NotBefore, c.NotAfter)
	}
	block, _ := pem.Decode(ca.CertPEM())
	if block == nil || block.Type != "CERTIFICATE" || !bytes.Equal(block.Bytes, c.Raw) {
		t.Error("CertPEM is not the CA certificate in PEM")
	}
	recs, _ := store.ListKeys(ctx, keys.UseCA)
	if len(recs) != 1 || !bytes.Equal(recs[0].Public, c.Raw) {
		t.Fatalf("store has %d CA records, want 1 holding the certificate", len(recs))
	}

	again, err := keys.LoadCA(ctx, store, mk, clock)
	if err != nil {
		t.Fatalf("second LoadCA: %v", err)
	}
	if !bytes.Equal(again.Cert.Raw, c.Raw) {
		t.Error("second LoadCA returned another certificate")
	}
	if recs, _ := store.ListKeys(ctx, keys.UseCA); len(recs) != 1 {
		t.Errorf("second LoadCA left %d CA records, want 1", len(recs))
	}
	// A certificate the reloaded CA issues chains to the original one.
	cert, err := again.IssueServerCertificate([]string{"localhost"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cert.Leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: "localhost", CurrentTime: now}); err != nil {
		t.Errorf("certificate of the reloaded CA does not verify: %v", err)
	}

	if _, err := keys.LoadCA(ctx, store, masterKey(t, "fedcba9876543210fedcba9876543210"), clock); err == nil {
		t.Error("LoadCA with another master key succeeded")
	}
}

func TestIssueServerCertificate(t *testing.T) {
	now := time.Now()
	ca, err := keys.LoadCA(context.Background(), &memStore{}, testMasterKey(t), func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.IssueServerCertificate([]string{"localhost", "127.0.0.1", "::1"})
	if err != nil {
		t.Fatalf("IssueServerCertificate: %v", err)
	}
	leaf := cert.Leaf
	if leaf == nil {
		t.Fatal("no Leaf")
	}
	if len(cert.Certificate) != 2 || !bytes.Equal(cert.Certificate[0], leaf.Raw) || !bytes.Equal(cert.Certificate[1], ca.Cert.Raw) {
		t.Error("chain is not [leaf, CA]")
	}
	signer, ok := cert.PrivateKey.(crypto.Signer)
	if !ok {
		t.Fatalf("private key %T cannot sign", cert.PrivateKey)
	}
	if pub, ok := signer.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(leaf.PublicKey) {
		t.Error("private key does not match the certificate")
	}
	if leaf.IsCA {
		t.Error("server certificate is a CA")
	}
	if !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageServerAuth) {
		t.Errorf("ExtKeyUsage %v lacks serverAuth", leaf.ExtKeyUsage)
	}
	if !leaf.NotBefore.Before(now) {
		t.Errorf("NotBefore %v is not backdated before %v", leaf.NotBefore, now)
	}
	if maxValidity := 398 * 24 * time.Hour; leaf.NotAfter.Sub(now) > maxValidity || leaf.NotAfter.Sub(leaf.NotBefore) > maxValidity {
		t.Errorf("validity %v to %v is longer than 398 days", leaf.NotBefore, leaf.NotAfter)
	}

	for _, name := range []string{"localhost", "127.0.0.1", "::1"} {
		opts := x509.VerifyOptions{Roots: ca.Pool(), DNSName: name, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
		if _, err := leaf.Verify(opts); err != nil {
			t.Errorf("certificate does not verify for %s: %v", name, err)
		}
	}
	for _, name := range []string{"example.com", "10.0.0.1"} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: name, CurrentTime: now}); err == nil {
			t.Errorf("certificate verifies for %s", name)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: x509.NewCertPool(), DNSName: "localhost", CurrentTime: now}); err == nil {
		t.Error("certificate verifies without the CA")
	}

	// A real TLS handshake, as a client trusting only the CA sees it.
	clientConn, serverConn := net.Pipe()
	defer clientConn.Close()
	defer serverConn.Close()
	done := make(chan error, 1)
	go func() {
		srv := tls.Server(serverConn, &tls.Config{Certificates: []tls.Certificate{cert}})
		done <- srv.Handshake()
	}()
	cl := tls.Client(clientConn, &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"})
	if err := cl.Handshake(); err != nil {
		t.Errorf("TLS handshake: %v", err)
	}
	clientConn.Close()
	if err := <-done; err != nil {
		t.Errorf("server side of the handshake: %v", err)
	}
}
