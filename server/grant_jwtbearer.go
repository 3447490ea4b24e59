package server

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/ory/fosite"

	"github.com/openxsuaa/xsuaa/scopes"
)

// tokenExchangeGrant serves the two ways to exchange a user token for a
// token of another client, as XSUAA does for principal propagation:
//
//   - grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer: the client
//     authenticates as usual and sends the user token as assertion;
//   - grant_type=user_token, approuter's legacy fallback: the user token
//     comes as "Authorization: Bearer" and client_id names the client,
//     without a secret (authenticateClient checks the token).
//
// Either way the user token is one this server issued, in the client's
// zone, unexpired, carrying uaa.user; the new token is for the same user
// and the client, with the scopes of the user's role collections that
// this client may carry — recomputed, not copied — and a refresh token
// (approuter falls back to user_token without one). fosite's RFC 7523
// handler is for assertions of separately registered issuers and copies
// no user, so this handler is our own.
type tokenExchangeGrant struct {
	s        *Server
	strategy *tokenStrategy
	grant    string // scopes.GrantJWTBearer or scopes.GrantUserToken
}

// jwtBearerGrant and userTokenGrant are its two grants as handlers of
// types of their own: fosite keeps one handler per type.
type (
	jwtBearerGrant struct{ tokenExchangeGrant }
	userTokenGrant struct{ tokenExchangeGrant }
)

var (
	_ fosite.TokenEndpointHandler = jwtBearerGrant{}
	_ fosite.TokenEndpointHandler = userTokenGrant{}
)

func (tokenExchangeGrant) CanSkipClientAuth(context.Context, fosite.AccessRequester) bool {
	return false
}

func (g tokenExchangeGrant) CanHandleTokenEndpointRequest(_ context.Context, req fosite.AccessRequester) bool {
	return req.GetGrantTypes().ExactOne(g.grant)
}

func invalidAssertion(why string) error {
	return &fosite.RFC6749Error{ErrorField: "invalid_grant", DescriptionField: "Invalid assertion: " + why, CodeField: http.StatusBadRequest}
}

// HandleTokenEndpointRequest checks the user token and the user.
func (g tokenExchangeGrant) HandleTokenEndpointRequest(ctx context.Context, req fosite.AccessRequester) error {
	if !g.CanHandleTokenEndpointRequest(ctx, req) {
		return fosite.ErrUnknownRequest
	}
	var (
		c      *client
		sess   *session
		claims *userClaims
		err    error
	)
	if g.grant == scopes.GrantUserToken {
		// authenticateClient verified the Bearer token.
		c, sess, _, err = userGrantRequest(req, g.grant, "")
		if a, _ := ctx.Value(authKey{}).(*authResult); err == nil && (a == nil || a.userToken == nil) {
			err = fosite.ErrServerError.WithDebug("user_token without a verified bearer token")
		} else if err == nil {
			claims = a.userToken
		}
	} else {
		var assertion string
		c, sess, assertion, err = userGrantRequest(req, g.grant, "assertion")
		if err == nil {
			var why string
			if claims, why = g.s.verifyUserToken(assertion, time.Now()); why != "" {
				err = invalidAssertion(why)
			}
		}
	}
	if err != nil {
		return err
	}
	cl := c.cred.Client
	if claims.ZID != cl.Zone.ID {
		return invalidAssertion("it was issued in another identity zone; exchange tokens only within one zone")
	}
	if !slices.Contains(claims.Scope, scopes.UAAUser) {
		return invalidAssertion("it does not carry the scope uaa.user, which token exchange requires (declare uaa.user in the app's scopes and give it through a role template)")
	}
	u, ok := g.s.index.User(claims.UserID)
	if !ok || u.ZoneID != cl.Zone.ID {
		return invalidAssertion("its user no longer exists")
	}
	sess.login = g.s.newUserLogin(cl, u, time.Unix(claims.AuthTime, 0))
	sess.grantType = g.grant
	if err := grantUserScopes(req, sess.login); err != nil {
		return err
	}
	sess.expiresAt = time.Now().UTC().Add(cl.App.Lifetime()).Round(time.Second)
	return nil
}

// PopulateTokenEndpointResponse issues the access token and a refresh token.
func (g tokenExchangeGrant) PopulateTokenEndpointResponse(ctx context.Context, req fosite.AccessRequester, resp fosite.AccessResponder) error {
	if !g.CanHandleTokenEndpointRequest(ctx, req) {
		return fosite.ErrUnknownRequest
	}
	sess := req.GetSession().(*session)
	c := req.GetClient().(*client)
	token, _, err := g.strategy.GenerateAccessToken(ctx, req)
	if err != nil {
		return fosite.ErrServerError.WithWrap(err).WithDebug(err.Error())
	}
	refresh, sig := g.s.refresh.generate()
	if err := g.s.storeRefreshToken(ctx, sig, c.cred, sess, req.GetGrantedScopes()); err != nil {
		return fosite.ErrServerError.WithWrap(err).WithDebug(err.Error())
	}
	resp.SetAccessToken(token)
	resp.SetTokenType("bearer")
	resp.SetExpiresIn(time.Until(sess.expiresAt).Round(time.Second) - time.Second)
	resp.SetScopes(req.GetGrantedScopes())
	resp.SetExtra("refresh_token", refresh)
	return nil
}

// verifyUserToken checks a user token this server signed: RS256 under one
// of its published keys, its issuer, unexpired, with a user. It returns
// the claims, or why the token is not one. A token verified before is
// not parsed and verified again (approuter and SAP's libraries exchange
// one login token many times): its claims come from verifiedTokens, as
// long as the key that signed it is still published and it has not
// expired.
func (s *Server) verifyUserToken(token string, now time.Time) (*userClaims, string) {
	if len(token) > maxTokenBody {
		return nil, "it is too long"
	}
	sum := sha256Sum(token)
	if v, ok := s.verifiedTokens.get(sum); ok && v.claims.Exp > now.Unix() && s.signer.Published(v.kid) {
		return v.claims, ""
	}
	jws, err := jose.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil || len(jws.Signatures) != 1 {
		return nil, "it is not a JWT signed with RS256"
	}
	kid := jws.Signatures[0].Header.KeyID
	var payload []byte
	for _, k := range s.signer.Keys() {
		if k.KID == kid {
			payload, err = jws.Verify(&k.Private.PublicKey)
			break
		}
	}
	if payload == nil || err != nil {
		return nil, "its signature is not one of this server's keys"
	}
	var c userClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, "its claims cannot be read"
	}
	zone, known := s.index.Zone(c.ZID)
	switch {
	case !known || c.Iss != s.zoneIssuer(zone):
		return nil, "it was not issued by this server"
	case c.Exp <= now.Unix():
		return nil, "it has expired"
	case c.UserID == "":
		return nil, "it is not a user token"
	}
	s.verifiedTokens.put(sum, verifiedToken{claims: &c, kid: kid})
	return &c, ""
}

// verifiedToken is a user token's verified claims and the key that signed it.
type verifiedToken struct {
	claims *userClaims
	kid    string
}

// verifiedTokenCache keeps the claims of user tokens verified before, by
// the SHA-256 of the token; at maxVerifiedTokens it starts over. Claims
// are never changed after verification.
type verifiedTokenCache struct {
	mu     sync.RWMutex
	tokens map[[sha256.Size]byte]verifiedToken
}

const maxVerifiedTokens = 10000

func (c *verifiedTokenCache) get(sum [sha256.Size]byte) (verifiedToken, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	v, ok := c.tokens[sum]
	return v, ok
}

func (c *verifiedTokenCache) put(sum [sha256.Size]byte, v verifiedToken) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tokens == nil || len(c.tokens) >= maxVerifiedTokens {
		c.tokens = make(map[[sha256.Size]byte]verifiedToken)
	}
	c.tokens[sum] = v
}

func sha256Sum(s string) [sha256.Size]byte { return sha256.Sum256([]byte(s)) }
