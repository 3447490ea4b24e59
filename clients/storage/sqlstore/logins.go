package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/openxsuaa/xsuaa/clients/storage"
)

// The login flows' rows (migration 6): single statements through the
// backend's direct writer, outside Update and the change feed.

func (s *Store) CreateAuthCode(ctx context.Context, c storage.AuthCode) error {
	if err := checkTexts("signature", c.Signature, "zone id", c.ZoneID, "client id", c.ClientID, "user id", c.UserID); err != nil {
		return err
	}
	_, err := s.b.direct().exec(ctx, `INSERT INTO auth_codes (signature, zone_id, client_id, user_id, request, created_at, expires_at, used)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, c.Signature, c.ZoneID, c.ClientID, c.UserID, nonNil(c.Request),
		c.CreatedAt.UnixMicro(), c.ExpiresAt.UnixMicro(), boolInt(c.Used))
	return err
}

func (s *Store) TakeAuthCode(ctx context.Context, signature string, now time.Time) (storage.AuthCode, error) {
	if !storable(signature) {
		return storage.AuthCode{}, fmt.Errorf("authorization code: %w", storage.ErrNotFound)
	}
	// One statement decides: of concurrent takers exactly one updates.
	n, err := s.b.direct().exec(ctx, `UPDATE auth_codes SET used = 1 WHERE signature = $1 AND used = 0 AND expires_at > $2`, signature, now.UnixMicro())
	if err != nil {
		return storage.AuthCode{}, err
	}
	var c storage.AuthCode
	var request []byte
	var created, expires, used int64
	err = s.b.direct().queryRow(ctx, `SELECT signature, zone_id, client_id, user_id, request, created_at, expires_at, used FROM auth_codes WHERE signature = $1`, signature).
		Scan(&c.Signature, &c.ZoneID, &c.ClientID, &c.UserID, &request, &created, &expires, &used)
	if errors.Is(err, errNoRows) {
		return c, fmt.Errorf("authorization code: %w", storage.ErrNotFound)
	}
	if err != nil {
		return c, err
	}
	c.Request, c.CreatedAt, c.ExpiresAt, c.Used = request, fromMicros(created), fromMicros(expires), true
	switch {
	case n == 1:
		return c, nil
	case used == 0: // expired before it was used
		return storage.AuthCode{}, fmt.Errorf("authorization code: %w", storage.ErrNotFound)
	}
	return c, fmt.Errorf("authorization code: %w", storage.ErrUsed)
}

func (s *Store) CreateRefreshToken(ctx context.Context, t storage.RefreshToken) error {
	if err := checkTexts("signature", t.Signature, "zone id", t.ZoneID, "client id", t.ClientID, "user id", t.UserID); err != nil {
		return err
	}
	return s.refreshTokens.add(ctx, t)
}

func (s *Store) GetRefreshToken(ctx context.Context, signature string, now time.Time) (storage.RefreshToken, error) {
	var t storage.RefreshToken
	if !storable(signature) {
		return t, fmt.Errorf("refresh token: %w", storage.ErrNotFound)
	}
	var request []byte
	var created, expires int64
	err := s.pool().queryRow(ctx, `SELECT signature, zone_id, client_id, user_id, request, created_at, expires_at FROM refresh_tokens
		WHERE signature = $1 AND expires_at > $2`, signature, now.UnixMicro()).
		Scan(&t.Signature, &t.ZoneID, &t.ClientID, &t.UserID, &request, &created, &expires)
	if errors.Is(err, errNoRows) {
		return t, fmt.Errorf("refresh token: %w", storage.ErrNotFound)
	}
	t.Request, t.CreatedAt, t.ExpiresAt = request, fromMicros(created), fromMicros(expires)
	return t, err
}

func (s *Store) DeleteRefreshTokens(ctx context.Context, userID string) error {
	if !storable(userID) {
		return nil
	}
	_, err := s.b.direct().exec(ctx, `DELETE FROM refresh_tokens WHERE user_id = $1`, userID)
	return err
}

func (s *Store) CreateLoginSession(ctx context.Context, ls storage.LoginSession) error {
	if err := checkTexts("session", ls.IDHash, "zone id", ls.ZoneID, "user id", ls.UserID); err != nil {
		return err
	}
	_, err := s.b.direct().exec(ctx, `INSERT INTO login_sessions (id_hash, zone_id, user_id, auth_time, expires_at) VALUES ($1, $2, $3, $4, $5)`,
		ls.IDHash, ls.ZoneID, ls.UserID, ls.AuthTime.UnixMicro(), ls.ExpiresAt.UnixMicro())
	return err
}

func (s *Store) GetLoginSession(ctx context.Context, idHash string, now time.Time) (storage.LoginSession, error) {
	var ls storage.LoginSession
	if !storable(idHash) {
		return ls, fmt.Errorf("login session: %w", storage.ErrNotFound)
	}
	var auth, expires int64
	err := s.pool().queryRow(ctx, `SELECT id_hash, zone_id, user_id, auth_time, expires_at FROM login_sessions WHERE id_hash = $1 AND expires_at > $2`,
		idHash, now.UnixMicro()).Scan(&ls.IDHash, &ls.ZoneID, &ls.UserID, &auth, &expires)
	if errors.Is(err, errNoRows) {
		return ls, fmt.Errorf("login session: %w", storage.ErrNotFound)
	}
	ls.AuthTime, ls.ExpiresAt = fromMicros(auth), fromMicros(expires)
	return ls, err
}

func (s *Store) DeleteLoginSession(ctx context.Context, idHash string) error {
	if !storable(idHash) {
		return nil
	}
	_, err := s.b.direct().exec(ctx, `DELETE FROM login_sessions WHERE id_hash = $1`, idHash)
	return err
}

func (s *Store) DeleteLoginSessions(ctx context.Context, userID string) error {
	if !storable(userID) {
		return nil
	}
	_, err := s.b.direct().exec(ctx, `DELETE FROM login_sessions WHERE user_id = $1`, userID)
	return err
}

func (s *Store) GetLoginFailures(ctx context.Context, userID string) (storage.LoginFailures, error) {
	f := storage.LoginFailures{UserID: userID}
	if !storable(userID) {
		return f, nil
	}
	var window, last, locked int64
	err := s.pool().queryRow(ctx, `SELECT count, window_start, last_digest, last_at, locked_until FROM login_failures WHERE user_id = $1`, userID).
		Scan(&f.Count, &window, &f.LastDigest, &last, &locked)
	if errors.Is(err, errNoRows) {
		return f, nil
	}
	if err != nil {
		return f, err
	}
	f.WindowStart, f.LastAt = fromMicros(window), fromMicros(last)
	if locked != 0 {
		f.LockedUntil = fromMicros(locked)
	}
	return f, nil
}

func (s *Store) PutLoginFailures(ctx context.Context, f storage.LoginFailures) error {
	if err := checkTexts("user id", f.UserID, "digest", f.LastDigest); err != nil {
		return err
	}
	// An upsert both dialects know (SQLite 3.24+, PostgreSQL 9.5+).
	_, err := s.b.direct().exec(ctx, `INSERT INTO login_failures (user_id, count, window_start, last_digest, last_at, locked_until)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (user_id) DO UPDATE SET count = excluded.count, window_start = excluded.window_start,
			last_digest = excluded.last_digest, last_at = excluded.last_at, locked_until = excluded.locked_until`,
		f.UserID, f.Count, f.WindowStart.UnixMicro(), f.LastDigest, f.LastAt.UnixMicro(), optionalTS(f.LockedUntil))
	return err
}

func (s *Store) DeleteLoginFailures(ctx context.Context, userID string) error {
	if !storable(userID) {
		return nil
	}
	_, err := s.b.direct().exec(ctx, `DELETE FROM login_failures WHERE user_id = $1`, userID)
	return err
}

func (s *Store) PruneLogins(ctx context.Context, now time.Time) error {
	for _, table := range []string{"auth_codes", "refresh_tokens", "login_sessions"} {
		if _, err := s.b.direct().exec(ctx, `DELETE FROM `+table+` WHERE expires_at <= $1`, now.UnixMicro()); err != nil {
			return err
		}
	}
	return nil
}

// pool is the store's read pool.
func (s *Store) pool() querier { return s.b.pool() }
