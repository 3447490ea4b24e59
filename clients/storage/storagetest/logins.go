package storagetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/openxsuaa/xsuaa/clients/storage"
)

// testAuthCodes: a code is taken once — by exactly one of concurrent
// takers, from any pool — and neither an expired nor an unknown code is.
func testAuthCodes(t *testing.T, db Database) {
	ctx := context.Background()
	ss := openPools(t, db)
	now := time.UnixMicro(time.Now().UnixMicro()).UTC()
	code := storage.AuthCode{Signature: "sig-1", ZoneID: "zone-1", ClientID: "sb-demo!t1", UserID: "u-1",
		Request: json.RawMessage(`{"redirect_uri":"http://127.0.0.1:5055/login/callback"}`), CreatedAt: now, ExpiresAt: now.Add(5 * time.Minute)}
	mustNot(t, "CreateAuthCode", ss[0].CreateAuthCode(ctx, code))
	expired := code
	expired.Signature, expired.ExpiresAt = "sig-expired", now.Add(-time.Second)
	mustNot(t, "CreateAuthCode", ss[0].CreateAuthCode(ctx, expired))
	if err := ss[0].CreateAuthCode(ctx, code); err == nil {
		t.Error("a code was stored twice under one signature")
	}

	var wg sync.WaitGroup
	results := make(chan error, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := ss[i%len(ss)].TakeAuthCode(ctx, "sig-1", now)
			if err == nil && (got.UserID != "u-1" || string(got.Request) != string(code.Request) || !got.ExpiresAt.Equal(code.ExpiresAt)) {
				t.Errorf("TakeAuthCode = %+v", got)
			}
			results <- err
		}()
	}
	wg.Wait()
	close(results)
	took, used := 0, 0
	for err := range results {
		switch {
		case err == nil:
			took++
		case errors.Is(err, storage.ErrUsed):
			used++
		default:
			t.Errorf("TakeAuthCode: %v", err)
		}
	}
	if took != 1 || used != 7 {
		t.Errorf("8 concurrent takers: %d took the code, %d were told it was used; want 1 and 7", took, used)
	}
	if got, err := ss[1].TakeAuthCode(ctx, "sig-1", now); !errors.Is(err, storage.ErrUsed) || got.ClientID != "sb-demo!t1" {
		t.Errorf("a used code = %+v, %v; want ErrUsed with the code (to revoke what it issued)", got, err)
	}
	for _, sig := range []string{"sig-expired", "no-such-code", "bad\x00sig"} {
		if _, err := ss[0].TakeAuthCode(ctx, sig, now); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("TakeAuthCode(%q) = %v, want ErrNotFound", sig, err)
		}
	}
	mustNot(t, "PruneLogins", ss[0].PruneLogins(ctx, now.Add(10*time.Minute)))
	if _, err := ss[0].TakeAuthCode(ctx, "sig-1", now); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("a pruned code = %v", err)
	}
}

// testRefreshTokensAndSessions: refresh tokens and login sessions are
// found until they expire or their user's are deleted, from any pool.
func testRefreshTokensAndSessions(t *testing.T, db Database) {
	ctx := context.Background()
	ss := openPools(t, db)
	now := time.UnixMicro(time.Now().UnixMicro()).UTC()
	for i, u := range []string{"u-1", "u-1", "u-2"} {
		rt := storage.RefreshToken{Signature: "rt-" + string(rune('a'+i)), ZoneID: "zone-1", ClientID: "sb-demo!t1", UserID: u,
			Request: json.RawMessage(`{"scopes":["openid"]}`), CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		mustNot(t, "CreateRefreshToken", ss[0].CreateRefreshToken(ctx, rt))
		ls := storage.LoginSession{IDHash: "ls-" + string(rune('a'+i)), ZoneID: "zone-1", UserID: u, AuthTime: now, ExpiresAt: now.Add(time.Hour)}
		mustNot(t, "CreateLoginSession", ss[0].CreateLoginSession(ctx, ls))
	}
	got, err := ss[1].GetRefreshToken(ctx, "rt-a", now)
	if err != nil || got.UserID != "u-1" || string(got.Request) != `{"scopes":["openid"]}` || !got.ExpiresAt.Equal(now.Add(time.Hour)) {
		t.Errorf("GetRefreshToken = %+v, %v", got, err)
	}
	if _, err := ss[1].GetRefreshToken(ctx, "rt-a", now.Add(2*time.Hour)); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("an expired refresh token = %v", err)
	}
	if ls, err := ss[1].GetLoginSession(ctx, "ls-c", now); err != nil || ls.UserID != "u-2" || !ls.AuthTime.Equal(now) {
		t.Errorf("GetLoginSession = %+v, %v", ls, err)
	}
	mustNot(t, "DeleteRefreshTokens", ss[0].DeleteRefreshTokens(ctx, "u-1"))
	mustNot(t, "DeleteLoginSessions", ss[0].DeleteLoginSessions(ctx, "u-1"))
	for _, sig := range []string{"rt-a", "rt-b"} {
		if _, err := ss[1].GetRefreshToken(ctx, sig, now); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("a deleted user's refresh token %s = %v", sig, err)
		}
	}
	if _, err := ss[1].GetRefreshToken(ctx, "rt-c", now); err != nil {
		t.Errorf("another user's refresh token went too: %v", err)
	}
	if _, err := ss[1].GetLoginSession(ctx, "ls-a", now); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("a deleted user's session = %v", err)
	}
	mustNot(t, "DeleteLoginSession", ss[0].DeleteLoginSession(ctx, "ls-c"))
	if _, err := ss[1].GetLoginSession(ctx, "ls-c", now); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("a deleted session = %v", err)
	}
}

// testConcurrentRefreshTokens: of many concurrent writers from two pools,
// each returns only once its row can be read from another pool, and a
// row that cannot be written (a signature taken) fails only its writer.
func testConcurrentRefreshTokens(t *testing.T, db Database) {
	ctx := context.Background()
	ss := openPools(t, db)
	now := time.UnixMicro(time.Now().UnixMicro()).UTC()
	row := func(sig string) storage.RefreshToken {
		return storage.RefreshToken{Signature: sig, ZoneID: "zone-1", ClientID: "sb-demo!t1", UserID: "u-1",
			Request: json.RawMessage(`{}`), CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	}
	mustNot(t, "CreateRefreshToken", ss[0].CreateRefreshToken(ctx, row("taken")))
	const n = 96
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sig := fmt.Sprintf("rt-%03d", i)
			if i%16 == 0 {
				sig = "taken"
			}
			if errs[i] = ss[i%2].CreateRefreshToken(ctx, row(sig)); errs[i] == nil {
				if _, err := ss[(i+1)%2].GetRefreshToken(ctx, sig, now); err != nil {
					errs[i] = fmt.Errorf("written but not readable from the other pool: %w", err)
				}
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if (i%16 == 0) != (err != nil) {
			t.Errorf("writer %d (taken signature: %v): %v", i, i%16 == 0, err)
		}
	}
}

// testLoginFailures: a user's failure record is written whole and read
// back from any pool; none reads as zero.
func testLoginFailures(t *testing.T, db Database) {
	ctx := context.Background()
	ss := openPools(t, db)
	now := time.UnixMicro(time.Now().UnixMicro()).UTC()
	if f, err := ss[0].GetLoginFailures(ctx, "u-1"); err != nil || f.Count != 0 || f.UserID != "u-1" || !f.LockedUntil.IsZero() {
		t.Errorf("no failures = %+v, %v", f, err)
	}
	f := storage.LoginFailures{UserID: "u-1", Count: 1, WindowStart: now, LastDigest: "d1", LastAt: now}
	mustNot(t, "PutLoginFailures", ss[0].PutLoginFailures(ctx, f))
	f.Count, f.LastDigest, f.LockedUntil = 5, "d5", now.Add(5*time.Minute)
	mustNot(t, "PutLoginFailures", ss[1].PutLoginFailures(ctx, f))
	if got, err := ss[0].GetLoginFailures(ctx, "u-1"); err != nil || got != f {
		t.Errorf("GetLoginFailures = %+v, %v; want %+v", got, err, f)
	}
	mustNot(t, "DeleteLoginFailures", ss[0].DeleteLoginFailures(ctx, "u-1"))
	if got, _ := ss[1].GetLoginFailures(ctx, "u-1"); got.Count != 0 {
		t.Errorf("after DeleteLoginFailures: %+v", got)
	}
}
