package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/pkce"

	"github.com/openxsuaa/xsuaa/clients"
	"github.com/openxsuaa/xsuaa/clients/storage"
	"github.com/openxsuaa/xsuaa/scopes"
)

// The authorization code grant is fosite's: its explicit handler issues
// codes at /oauth/authorize (authorize.go) and redeems them at
// /oauth/token, its PKCE handler checks S256 challenges (optional for our
// confidential clients: approuter 20 sends none). What they store goes
// through loginStore below into storage.Logins, so a code issued by one
// replica is redeemed on any other.

// authCodeLifetime is how long a code may wait for its exchange (UAA's).
const authCodeLifetime = 5 * time.Minute

var (
	_ oauth2.AuthorizeCodeStrategy  = (*tokenStrategy)(nil)
	_ oauth2.CoreStorage            = loginStore{}
	_ oauth2.TokenRevocationStorage = loginStore{}
	_ pkce.PKCERequestStorage       = loginStore{}
)

// authCodeRecord is what a stored code keeps of its authorize request
// (storage.AuthCode.Request).
type authCodeRecord struct {
	RedirectURI   string   `json:"redirect_uri,omitempty"`
	Requested     []string `json:"requested,omitempty"`
	Scopes        []string `json:"scopes"`
	Challenge     string   `json:"code_challenge,omitempty"`
	ChallengeMode string   `json:"code_challenge_method,omitempty"`
	AuthTime      int64    `json:"auth_time"`
	Nonce         string   `json:"nonce,omitempty"`
}

// GenerateAuthorizeCode makes a code: 128 random bits in hex, stored
// under their keyed hash.
func (t *tokenStrategy) GenerateAuthorizeCode(context.Context, fosite.Requester) (string, string, error) {
	var b [16]byte
	rand.Read(b[:])
	code := hex.EncodeToString(b[:])
	return code, t.s.refresh.signature(code), nil
}

// AuthorizeCodeSignature is the stored key of a code.
func (t *tokenStrategy) AuthorizeCodeSignature(_ context.Context, code string) string {
	return t.s.refresh.signature(code)
}

// ValidateAuthorizeCode has nothing left to check: the store returns only
// unexpired, unused codes.
func (t *tokenStrategy) ValidateAuthorizeCode(context.Context, fosite.Requester, string) error {
	return nil
}

// authorizeClientKey is the context key under which handleAuthorize hands
// the client it resolved (with the redirect URI it matched) to fosite's
// GetClient.
type authorizeClientKey struct{}

// GetClient returns the client handleAuthorize resolved for this request.
func (l loginStore) GetClient(ctx context.Context, id string) (fosite.Client, error) {
	if c, ok := ctx.Value(authorizeClientKey{}).(*client); ok && c.GetID() == id {
		return c, nil
	}
	return nil, fosite.ErrNotFound
}

// CreateAuthorizeCodeSession stores a code with what its exchange needs.
func (l loginStore) CreateAuthorizeCodeSession(ctx context.Context, signature string, req fosite.Requester) error {
	c, ok := req.GetClient().(*client)
	sess, ok2 := req.GetSession().(*session)
	if !ok || !ok2 || sess.login == nil {
		return errors.New("authorization code for a request without a user")
	}
	form := req.GetRequestForm()
	rec, err := json.Marshal(authCodeRecord{
		RedirectURI: form.Get("redirect_uri"), Requested: req.GetRequestedScopes(), Scopes: req.GetGrantedScopes(),
		Challenge: form.Get("code_challenge"), ChallengeMode: form.Get("code_challenge_method"),
		AuthTime: sess.login.authTime.Unix(), Nonce: form.Get("nonce"),
	})
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	cl := c.cred.Client
	return l.s.logins.CreateAuthCode(ctx, storage.AuthCode{
		Signature: signature, ZoneID: cl.Zone.ID, ClientID: cl.ID, UserID: sess.login.user.ID,
		Request: rec, CreatedAt: now, ExpiresAt: now.Add(authCodeLifetime),
	})
}

// GetAuthorizeCodeSession redeems a code. fosite asks for it twice per
// exchange (to check, then to issue) and invalidates it after issuing;
// here the first ask takes it from the store in one atomic statement, so
// that of two concurrent exchanges exactly one gets it, and the second
// ask is answered from the request's authResult. The code's user and
// scopes are read again: the token reflects the user's role collections
// at the exchange, within the scopes granted at the authorization.
func (l loginStore) GetAuthorizeCodeSession(ctx context.Context, signature string, _ fosite.Session) (fosite.Requester, error) {
	a, _ := ctx.Value(authKey{}).(*authResult)
	if a == nil || a.cred == nil {
		return nil, fosite.ErrNotFound
	}
	if a.code != nil && a.codeSignature == signature {
		return a.code, nil
	}
	code, err := l.s.logins.TakeAuthCode(ctx, signature, time.Now().UTC())
	switch {
	case errors.Is(err, storage.ErrUsed):
		a.reason = "authorization code used before"
		// fosite then refuses the exchange; the tokens of the first
		// exchange stay valid, as with UAA.
		return fosite.NewRequest(), fosite.ErrInvalidatedAuthorizeCode
	case errors.Is(err, storage.ErrNotFound):
		a.reason = "unknown or expired authorization code"
		return nil, fosite.ErrNotFound
	case err != nil:
		return nil, err
	}
	cl := a.cred.Client
	req := fosite.NewRequest()
	req.ID = signature
	if code.ZoneID != cl.Zone.ID {
		// Issued in another zone, maybe to the same shared client (whose
		// id is the same in every subscribed zone): as if unknown here.
		a.reason = "authorization code of another identity zone"
		return nil, fosite.ErrNotFound
	}
	if code.ClientID != cl.ID {
		// fosite answers that the code was issued to another client.
		a.reason = "authorization code of another client"
		req.Client = &fosite.DefaultClient{ID: code.ClientID}
		return req, nil
	}
	var rec authCodeRecord
	if err := json.Unmarshal(code.Request, &rec); err != nil {
		return nil, err
	}
	u, ok := l.s.index.User(code.UserID)
	if !ok || code.CreatedAt.Before(u.UpdatedAt) {
		a.reason = "the code's user was deleted or changed"
		return nil, fosite.ErrNotFound
	}
	sess := &session{subject: u.ID, grantType: scopes.GrantAuthorizationCode,
		login: l.s.newUserLogin(cl, u, time.Unix(rec.AuthTime, 0)), nonce: rec.Nonce}
	req.Client = &client{cred: a.cred, index: l.s.index}
	req.Session = sess
	req.RequestedScope = rec.Requested
	for _, sc := range rec.Scopes {
		if slices.Contains(sess.login.grant.Scopes, sc) {
			req.GrantScope(sc)
		}
	}
	req.Form = url.Values{}
	for k, v := range map[string]string{"redirect_uri": rec.RedirectURI, "code_challenge": rec.Challenge, "code_challenge_method": rec.ChallengeMode} {
		if v != "" {
			req.Form.Set(k, v)
		}
	}
	a.code, a.codeSignature = req, signature
	return req, nil
}

// InvalidateAuthorizeCodeSession has nothing to do: the code was taken.
func (loginStore) InvalidateAuthorizeCodeSession(context.Context, string) error { return nil }

// The PKCE challenge is stored with the code (CreateAuthorizeCodeSession)
// and read back with it.

func (loginStore) CreatePKCERequestSession(context.Context, string, fosite.Requester) error {
	return nil
}

// GetPKCERequestSession returns the taken code when it carries a
// challenge, else ErrNotFound (which fosite reads as "no PKCE").
func (l loginStore) GetPKCERequestSession(ctx context.Context, signature string, _ fosite.Session) (fosite.Requester, error) {
	a, _ := ctx.Value(authKey{}).(*authResult)
	if a == nil || a.code == nil || a.codeSignature != signature || a.code.GetRequestForm().Get("code_challenge") == "" {
		return nil, fosite.ErrNotFound
	}
	return a.code, nil
}

func (loginStore) DeletePKCERequestSession(context.Context, string) error { return nil }

// RevokeAccessToken and RevokeRefreshToken are what fosite calls when a
// code is presented again. Access tokens are stateless JWTs; the refresh
// token of the first exchange stays, as with UAA (documented).
func (loginStore) RevokeAccessToken(context.Context, string) error  { return nil }
func (loginStore) RevokeRefreshToken(context.Context, string) error { return nil }
func (loginStore) RevokeRefreshTokenMaybeGracePeriod(context.Context, string, string) error {
	return nil
}

// authorizeClient is the fosite client of an authorize request: the
// client of the zone that client_id names, with the one redirect URI the
// request may use (fosite compares redirect URIs exactly; XSUAA's
// wildcards were matched by handleAuthorize).
func (s *Server) authorizeClient(cl *clients.Client, redirectURI string) *client {
	return &client{cred: &clients.Credential{Client: cl}, index: s.index, redirectURI: redirectURI}
}
