package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/ory/fosite"

	"github.com/openxsuaa/xsuaa/clients/storage"
	"github.com/openxsuaa/xsuaa/scopes"
)

// refreshGrant serves grant_type=refresh_token as UAA does by default, not
// as fosite's handler does: the refresh token is not rotated (approuter
// retries a failed refresh with the same token, three times), and the new
// access token's scopes are recomputed from the user's role collections
// now, within the scopes the token was first granted.
type refreshGrant struct {
	s        *Server
	strategy *tokenStrategy
}

var _ fosite.TokenEndpointHandler = refreshGrant{}

// errInvalidRefreshToken is UAA's answer for an unknown, expired or foreign refresh token.
var errInvalidRefreshToken = &fosite.RFC6749Error{ErrorField: "invalid_token", DescriptionField: "Invalid refresh token (expired or unknown)", CodeField: http.StatusUnauthorized}

func (refreshGrant) CanSkipClientAuth(context.Context, fosite.AccessRequester) bool { return false }

func (refreshGrant) CanHandleTokenEndpointRequest(_ context.Context, req fosite.AccessRequester) bool {
	return req.GetGrantTypes().ExactOne(scopes.GrantRefreshToken)
}

// HandleTokenEndpointRequest implements RFC 6749 §6 with UAA's rules.
func (g refreshGrant) HandleTokenEndpointRequest(ctx context.Context, req fosite.AccessRequester) error {
	if !g.CanHandleTokenEndpointRequest(ctx, req) {
		return fosite.ErrUnknownRequest
	}
	c, sess, token, err := userGrantRequest(req, scopes.GrantRefreshToken, "refresh_token")
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	sig := g.s.refresh.signature(token)
	row, cached := g.s.refreshRows.get(sig)
	if !cached {
		rt, err := g.s.logins.GetRefreshToken(ctx, sig, now)
		if errors.Is(err, storage.ErrNotFound) {
			return errInvalidRefreshToken
		}
		if err != nil {
			return fosite.ErrServerError.WithWrap(err).WithDebug(err.Error())
		}
		row.RefreshToken = rt
		if err := json.Unmarshal(rt.Request, &row.grant); err != nil {
			return fosite.ErrServerError.WithWrap(err).WithDebug(err.Error())
		}
		g.s.refreshRows.put(sig, row)
	}
	rt, rec := row.RefreshToken, row.grant
	cl := c.cred.Client
	if rt.ClientID != cl.ID || rt.ZoneID != cl.Zone.ID || !rt.ExpiresAt.After(now) {
		return errInvalidRefreshToken // expired, or issued to another client: as if unknown
	}
	// The user must exist now and not have changed since the token was
	// issued (a new password ends refresh tokens): the index, synced for
	// this request, tells, which is what makes the cache above safe.
	u, ok := g.s.index.User(rt.UserID)
	if !ok || rt.CreatedAt.Before(u.UpdatedAt) {
		return errInvalidRefreshToken
	}
	sess.login = g.s.newUserLogin(cl, u, time.Unix(rec.AuthTime, 0))
	sess.grantType, sess.refreshToken = rec.GrantType, token
	allowed := rec.Scopes
	if requested := req.GetRequestedScopes(); len(requested) > 0 {
		for _, sc := range requested {
			if !slices.Contains(rec.Scopes, sc) {
				return errScopeInvalid(sc)
			}
		}
		allowed = requested
	}
	for _, sc := range allowed {
		if slices.Contains(sess.login.grant.Scopes, sc) {
			req.GrantScope(sc)
		}
	}
	sess.expiresAt = now.Add(cl.App.Lifetime()).Round(time.Second)
	return nil
}

// PopulateTokenEndpointResponse issues the access token and returns the
// same refresh token.
func (g refreshGrant) PopulateTokenEndpointResponse(ctx context.Context, req fosite.AccessRequester, resp fosite.AccessResponder) error {
	if !g.CanHandleTokenEndpointRequest(ctx, req) {
		return fosite.ErrUnknownRequest
	}
	sess := req.GetSession().(*session)
	token, _, err := g.strategy.GenerateAccessToken(ctx, req)
	if err != nil {
		return fosite.ErrServerError.WithWrap(err).WithDebug(err.Error())
	}
	resp.SetAccessToken(token)
	resp.SetTokenType("bearer")
	resp.SetExpiresIn(time.Until(sess.expiresAt).Round(time.Second) - time.Second)
	resp.SetScopes(req.GetGrantedScopes())
	resp.SetExtra("refresh_token", sess.refreshToken)
	return nil
}

// userGrantRequest is what the user grant handlers check first: the
// client may use the grant, and the request holds the parameter the
// grant needs (the refresh token, the assertion; none for param "").
func userGrantRequest(req fosite.AccessRequester, grant, param string) (*client, *session, string, error) {
	c, ok := req.GetClient().(*client)
	sess, ok2 := req.GetSession().(*session)
	if !ok || !ok2 {
		return nil, nil, "", fosite.ErrServerError.WithDebug("unexpected client or session type")
	}
	if !c.GetGrantTypes().Has(grant) {
		return nil, nil, "", fosite.ErrUnauthorizedClient.WithHintf("The client is not allowed to use the %s grant.", grant)
	}
	if param == "" {
		return c, sess, "", nil
	}
	value := req.GetRequestForm().Get(param)
	if value == "" {
		return nil, nil, "", fosite.ErrInvalidRequest.WithHintf("%s is missing.", param)
	}
	return c, sess, value, nil
}

// refreshRow is a refresh token row with its grant record decoded.
type refreshRow struct {
	storage.RefreshToken
	grant refreshGrantRecord
}

// refreshRowCache keeps refresh token rows this replica has read, decoded
// once. A row
// never changes once written; it is deleted when it expires, when its
// user is deleted or sets a new password — each of which refreshGrant
// checks against the row itself and the synced index — so a cached row
// is as good as a read. Only found rows are kept (one made on another
// replica a moment ago must still be read); at maxCachedRefreshRows the
// cache starts over.
type refreshRowCache struct {
	mu   sync.RWMutex
	rows map[string]refreshRow
}

const maxCachedRefreshRows = 100000

func (c *refreshRowCache) get(sig string) (refreshRow, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	rt, ok := c.rows[sig]
	return rt, ok
}

func (c *refreshRowCache) put(sig string, row refreshRow) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rows == nil || len(c.rows) >= maxCachedRefreshRows {
		c.rows = make(map[string]refreshRow)
	}
	c.rows[sig] = row
}
