package server

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/ory/fosite"

	"github.com/openxsuaa/xsuaa/scopes"
)

// jwtBearerGrant serves grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer
// as XSUAA does for principal propagation: the assertion is a user token
// this server issued, in the requesting client's zone, unexpired, and
// carrying uaa.user; the new token is for the same user and the
// requesting client, with the scopes of the user's role collections that
// this client may carry — recomputed, not copied — and a refresh token
// (approuter falls back to the legacy user_token grant without one).
// fosite's RFC 7523 handler is for assertions of separately registered
// issuers and copies no user, so this handler is our own.
type jwtBearerGrant struct {
	s        *Server
	strategy *tokenStrategy
}

var _ fosite.TokenEndpointHandler = jwtBearerGrant{}

func (jwtBearerGrant) CanSkipClientAuth(context.Context, fosite.AccessRequester) bool { return false }

func (jwtBearerGrant) CanHandleTokenEndpointRequest(_ context.Context, req fosite.AccessRequester) bool {
	return req.GetGrantTypes().ExactOne(scopes.GrantJWTBearer)
}

func invalidAssertion(why string) error {
	return &fosite.RFC6749Error{ErrorField: "invalid_grant", DescriptionField: "Invalid assertion: " + why, CodeField: http.StatusBadRequest}
}

// HandleTokenEndpointRequest checks the assertion and the user.
func (g jwtBearerGrant) HandleTokenEndpointRequest(ctx context.Context, req fosite.AccessRequester) error {
	if !g.CanHandleTokenEndpointRequest(ctx, req) {
		return fosite.ErrUnknownRequest
	}
	c, sess, assertion, err := userGrantRequest(req, scopes.GrantJWTBearer, "assertion")
	if err != nil {
		return err
	}
	claims, why := g.s.verifyUserToken(assertion, time.Now())
	if why != "" {
		return invalidAssertion(why)
	}
	cl := c.cred.Client
	if claims.ZID != cl.Zone.ID {
		return invalidAssertion("it was issued in another identity zone; exchange tokens only within one zone")
	}
	if !slices.Contains(claims.Scope, "uaa.user") {
		return invalidAssertion("it does not carry the scope uaa.user, which token exchange requires (declare uaa.user in the app's scopes and give it through a role template)")
	}
	u, ok := g.s.index.User(claims.UserID)
	if !ok || u.ZoneID != cl.Zone.ID {
		return invalidAssertion("its user no longer exists")
	}
	sess.login = g.s.newUserLogin(cl, u, time.Unix(claims.AuthTime, 0))
	sess.grantType = scopes.GrantJWTBearer
	if err := grantUserScopes(req, sess.login); err != nil {
		return err
	}
	sess.expiresAt = time.Now().UTC().Add(cl.App.Lifetime()).Round(time.Second)
	return nil
}

// PopulateTokenEndpointResponse issues the access token and a refresh token.
func (g jwtBearerGrant) PopulateTokenEndpointResponse(ctx context.Context, req fosite.AccessRequester, resp fosite.AccessResponder) error {
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
// the claims, or why the token is not one.
func (s *Server) verifyUserToken(token string, now time.Time) (*userClaims, string) {
	if len(token) > maxTokenBody {
		return nil, "it is too long"
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
	switch {
	case c.Iss != s.issuer:
		return nil, "it was not issued by this server"
	case c.Exp <= now.Unix():
		return nil, "it has expired"
	case c.UserID == "":
		return nil, "it is not a user token"
	}
	return &c, ""
}
