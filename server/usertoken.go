package server

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"time"

	"github.com/openxsuaa/xsuaa/clients"
	"github.com/openxsuaa/xsuaa/clients/storage"
	"github.com/openxsuaa/xsuaa/scopes"
)

// User tokens: what a token issued for a logged-in user carries, shaped
// like XSUAA's (user_id = sub, user_name, origin, email, names, auth_time,
// xs.user.attributes, xs.system.attributes with the role collections).

// userClaims is an XSUAA user access token, fields in XSUAA's order.
type userClaims struct {
	JTI                string              `json:"jti"`
	ExtAttr            extAttr             `json:"ext_attr"`
	XSSystemAttributes map[string][]string `json:"xs.system.attributes,omitempty"`
	GivenName          string              `json:"given_name,omitempty"`
	FamilyName         string              `json:"family_name,omitempty"`
	XSUserAttributes   map[string][]string `json:"xs.user.attributes"`
	Sub                string              `json:"sub"`
	Scope              []string            `json:"scope"`
	ClientID           string              `json:"client_id"`
	CID                string              `json:"cid"`
	AZP                string              `json:"azp"`
	GrantType          string              `json:"grant_type"`
	UserID             string              `json:"user_id"`
	Origin             string              `json:"origin"`
	UserName           string              `json:"user_name"`
	Email              string              `json:"email,omitempty"`
	AuthTime           int64               `json:"auth_time"`
	RevSig             string              `json:"rev_sig"`
	IAT                int64               `json:"iat"`
	Exp                int64               `json:"exp"`
	Iss                string              `json:"iss"`
	ZID                string              `json:"zid"`
	Aud                []string            `json:"aud"`
	Cnf                *confirmation       `json:"cnf,omitempty"`
}

// userLogin is what a user grant learnt: who, since when, and what the
// user's roles give the client.
type userLogin struct {
	user            *storage.User
	authTime        time.Time
	grant           scopes.UserGrant
	roleCollections []string
}

// newUserLogin computes the user's grant for client c now.
func (s *Server) newUserLogin(c *clients.Client, u *storage.User, authTime time.Time) *userLogin {
	g, rcs := s.index.GrantUser(c, u)
	return &userLogin{user: u, authTime: authTime, grant: g, roleCollections: rcs}
}

// userTokenClaims builds the claims of a user token with granted scopes.
func (t *tokenStrategy) userTokenClaims(cred *clients.Credential, sess *session, granted []string) *userClaims {
	cl, login := cred.Client, sess.login
	exp := sess.expiresAt.Unix()
	u := login.user
	c := &userClaims{
		JTI:              sess.jti,
		ExtAttr:          extAttr{Enhancer: "XSUAA", SubaccountID: cl.Zone.ID, ZDN: cl.Zone.Subdomain},
		GivenName:        u.GivenName,
		FamilyName:       u.FamilyName,
		XSUserAttributes: login.grant.Attributes,
		Sub:              u.ID,
		Scope:            granted,
		ClientID:         cl.ID,
		CID:              cl.ID,
		AZP:              cl.ID,
		GrantType:        sess.grantType,
		UserID:           u.ID,
		Origin:           u.Origin,
		UserName:         u.UserName,
		Email:            u.Email,
		AuthTime:         login.authTime.Unix(),
		RevSig:           cred.RevSig,
		IAT:              exp - int64(cl.App.TokenValidity),
		Exp:              exp,
		Iss:              t.s.zoneIssuer(cl.Zone),
		ZID:              cl.Zone.ID,
		Aud:              userAudiences(cl.ID, granted),
	}
	if attrs := cl.App.SystemAttributes; attrs == nil || slices.Contains(*attrs, "rolecollections") {
		rcs := login.roleCollections
		if rcs == nil {
			rcs = []string{}
		}
		c.XSSystemAttributes = map[string][]string{"xs.rolecollections": rcs}
	}
	if cred.CertThumbprint != "" {
		c.Cnf = &confirmation{X5tS256: cred.CertThumbprint}
	}
	return c
}

// userAudiences is UAA's "aud" of a user token: the audiences of the
// granted scopes, plus "openid" for the openid scope.
func userAudiences(clientID string, granted []string) []string {
	aud := scopes.Audiences(clientID, granted)
	if slices.Contains(granted, scopes.OpenID) {
		aud = append([]string{scopes.OpenID}, aud...)
	}
	return aud
}

// refreshTokens makes and recognises refresh tokens: "<32 hex>-r" as
// UAA's opaque ones, stored under an HMAC of the value, so that the
// database alone cannot give one out.
type refreshTokens struct{ key []byte }

func (r refreshTokens) generate() (token, signature string) {
	var b [16]byte
	rand.Read(b[:])
	token = hex.EncodeToString(b[:]) + "-r"
	return token, r.signature(token)
}

func (r refreshTokens) signature(token string) string {
	m := hmac.New(sha256.New, r.key)
	m.Write([]byte(token))
	return hex.EncodeToString(m.Sum(nil))
}

// refreshGrantRecord is what a refresh token keeps of the grant that
// issued it (storage.RefreshToken.Request).
type refreshGrantRecord struct {
	Scopes    []string `json:"scopes"`
	GrantType string   `json:"grant_type"`
	AuthTime  int64    `json:"auth_time"`
}

// storeRefreshToken stores a refresh token for the request's user.
func (s *Server) storeRefreshToken(ctx context.Context, signature string, cred *clients.Credential, sess *session, granted []string) error {
	rec, err := json.Marshal(refreshGrantRecord{Scopes: granted, GrantType: sess.grantType, AuthTime: sess.login.authTime.Unix()})
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	return s.logins.CreateRefreshToken(ctx, storage.RefreshToken{
		Signature: signature, ZoneID: cred.Client.Zone.ID, ClientID: cred.Client.ID, UserID: sess.login.user.ID,
		Request: rec, CreatedAt: now, ExpiresAt: now.Add(cred.Client.App.RefreshLifetime()),
	})
}

// idTokenClaims is an OpenID Connect ID token (Core §2) of a user grant
// that was granted openid, with UAA's user claims. It shares the access
// token's jti, as XSUAA's does. No XSUAA client reads it; OIDC libraries
// verify it against the discovery document.
type idTokenClaims struct {
	JTI        string   `json:"jti"`
	Sub        string   `json:"sub"`
	Aud        []string `json:"aud"`
	Iss        string   `json:"iss"`
	Exp        int64    `json:"exp"`
	IAT        int64    `json:"iat"`
	AuthTime   int64    `json:"auth_time"`
	AMR        []string `json:"amr"`
	AZP        string   `json:"azp"`
	CID        string   `json:"cid"`
	UserID     string   `json:"user_id"`
	UserName   string   `json:"user_name"`
	Origin     string   `json:"origin"`
	Email      string   `json:"email,omitempty"`
	GivenName  string   `json:"given_name,omitempty"`
	FamilyName string   `json:"family_name,omitempty"`
	ZID        string   `json:"zid"`
	Scope      []string `json:"scope"`
	RevSig     string   `json:"rev_sig"`
	Nonce      string   `json:"nonce,omitempty"`
}

// idToken signs the ID token of a user grant.
func (s *Server) idToken(cred *clients.Credential, sess *session) (string, error) {
	cl, u := cred.Client, sess.login.user
	exp := sess.expiresAt.Unix()
	c := idTokenClaims{
		JTI: sess.jti, Sub: u.ID, Aud: []string{cl.ID}, Iss: s.zoneIssuer(cl.Zone), Exp: exp, IAT: exp - int64(cl.App.TokenValidity),
		AuthTime: sess.login.authTime.Unix(), AMR: []string{"pwd"}, AZP: cl.ID, CID: cl.ID, UserID: u.ID,
		UserName: u.UserName, Origin: u.Origin, Email: u.Email, GivenName: u.GivenName, FamilyName: u.FamilyName,
		ZID: cl.Zone.ID, Scope: []string{scopes.OpenID}, RevSig: cred.RevSig, Nonce: sess.nonce,
	}
	payload, err := json.Marshal(&c)
	if err != nil {
		return "", err
	}
	return s.signer.Sign(payload, s.zoneJKU(cl.Zone))
}
