package server

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"golang.org/x/crypto/bcrypt"

	"github.com/openxsuaa/xsuaa/clients/registry"
	"github.com/openxsuaa/xsuaa/clients/storage"
)

// The password grant (grant_type=password: approuter's "basic" routes,
// @sap/xssec's fetchPasswordToken) is fosite's resource owner password
// handler on loginStore, whose Authenticate checks the user's password
// against its bcrypt hash under the per-user lockout below.

// The per-user lockout, UAA's defaults: lockoutFailures failed passwords
// within lockoutWindow lock the user's password logins for
// lockoutDuration. A client that retries one failed call (approuter tries
// three times) counts once: the same wrong password again within
// retryCollapse is not a new failure. Only the user is affected, never
// other users or the client.
const (
	lockoutFailures = 5
	lockoutWindow   = 20 * time.Minute
	lockoutDuration = 5 * time.Minute
	retryCollapse   = 10 * time.Second
)

// Errors of user authentication, in UAA's words.
var (
	errUserBadCredentials = &fosite.RFC6749Error{ErrorField: "unauthorized", DescriptionField: "Bad credentials", CodeField: http.StatusUnauthorized}
	errUserLocked         = &fosite.RFC6749Error{ErrorField: "unauthorized", DescriptionField: "Your account has been locked because of too many failed attempts to login.", CodeField: http.StatusUnauthorized}
)

// dummyHash is compared against when the user does not exist, so that a
// wrong user name costs as much time as a wrong password. It is made on
// first use: the CLI, the same binary, never needs it.
var dummyHash = sync.OnceValue(func() []byte {
	h, _ := bcrypt.GenerateFromPassword([]byte("no user has this password"), registry.PasswordHashCost)
	return h
})

// loginStore is the storage of fosite's user grants: password checks and
// refresh token sessions; access tokens are stateless (statelessStore).
type loginStore struct {
	statelessStore
	s *Server
}

var _ oauth2.ResourceOwnerPasswordCredentialsGrantStorage = loginStore{}

// Authenticate checks a user's password in the request's zone (the
// authResult of handleToken) and returns the user's id. Every refusal is
// fosite.ErrNotFound, which handleToken answers with UAA's 401; the
// reason is kept in the authResult.
func (l loginStore) Authenticate(ctx context.Context, name, password string) (string, error) {
	a, _ := ctx.Value(authKey{}).(*authResult)
	if a == nil {
		return "", fosite.ErrNotFound
	}
	check, err := l.s.checkPassword(ctx, a.zone, a.origin, name, password)
	if err != nil {
		return "", err
	}
	// A user name is logged only when it names a user: a password typed
	// into the user name field must not reach the log.
	a.userName = fingerprint(name)
	if check.user != nil {
		a.userName = check.user.UserName
	}
	if check.failure != "" {
		a.userFailure, a.userLocked = check.failure, check.locked
		return "", fosite.ErrNotFound
	}
	return check.user.ID, nil
}

// passwordCheck is the outcome of checkPassword: the user (nil if none
// has the name), and why the password was refused ("" if it was not).
type passwordCheck struct {
	user    *storage.User
	failure string
	locked  bool
}

// checkPassword checks a user's password under the per-user lockout; the
// password grant and the login page share it. origin "" is the default
// origin.
func (s *Server) checkPassword(ctx context.Context, zone, origin, name, password string) (passwordCheck, error) {
	if origin == "" {
		origin = registry.DefaultOrigin
	}
	now := time.Now().UTC()
	u, ok := s.index.FindUser(zone, origin, name)
	if !ok {
		bcrypt.CompareHashAndPassword(dummyHash(), []byte(password))
		return passwordCheck{failure: "unknown user"}, nil
	}
	failures, err := s.logins.GetLoginFailures(ctx, u.ID)
	if err != nil {
		return passwordCheck{}, err
	}
	if failures.LockedUntil.After(now) {
		return passwordCheck{user: u, failure: "locked", locked: true}, nil
	}
	if bcrypt.CompareHashAndPassword(u.PasswordHash, []byte(password)) != nil {
		if err := s.recordUserFailure(ctx, u, failures, password, now); err != nil {
			return passwordCheck{}, err
		}
		return passwordCheck{user: u, failure: "wrong password"}, nil
	}
	if failures.Count > 0 {
		if err := s.logins.DeleteLoginFailures(ctx, u.ID); err != nil {
			return passwordCheck{}, err
		}
	}
	return passwordCheck{user: u}, nil
}

// recordUserFailure counts a failed password and locks the user at the limit.
func (s *Server) recordUserFailure(ctx context.Context, u *storage.User, f storage.LoginFailures, password string, now time.Time) error {
	m := hmac.New(sha256.New, s.loginKey)
	m.Write([]byte(u.ID + "\x00" + password))
	digest := hex.EncodeToString(m.Sum(nil)[:16])
	if f.LastDigest == digest && now.Sub(f.LastAt) < retryCollapse {
		return nil // a retry of the same attempt
	}
	if f.Count == 0 || now.Sub(f.WindowStart) > lockoutWindow {
		f = storage.LoginFailures{UserID: u.ID, WindowStart: now}
	}
	f.Count++
	f.LastDigest, f.LastAt = digest, now
	if f.Count >= lockoutFailures {
		f.LockedUntil = now.Add(lockoutDuration)
		s.log.Warn("user locked after failed logins", "user_id", u.ID, "failures", f.Count, "locked_until", f.LockedUntil)
	}
	return s.logins.PutLoginFailures(ctx, f)
}

// CreateRefreshTokenSession stores the refresh token fosite's password
// handler issues.
func (l loginStore) CreateRefreshTokenSession(ctx context.Context, signature, _ string, req fosite.Requester) error {
	c, ok := req.GetClient().(*client)
	sess, ok2 := req.GetSession().(*session)
	if !ok || !ok2 || sess.login == nil {
		return errors.New("refresh token for a request without a user")
	}
	return l.s.storeRefreshToken(ctx, signature, c.cred, sess, req.GetGrantedScopes())
}

func (loginStore) GetRefreshTokenSession(context.Context, string, fosite.Session) (fosite.Requester, error) {
	return nil, fosite.ErrNotFound // refreshGrant reads refresh tokens itself
}
func (loginStore) DeleteRefreshTokenSession(context.Context, string) error  { return nil }
func (loginStore) RotateRefreshToken(context.Context, string, string) error { return nil }
