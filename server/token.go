package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"
	"github.com/ory/fosite/handler/oauth2"

	"github.com/openxsuaa/xsuaa/clients"
	"github.com/openxsuaa/xsuaa/scopes"
)

// secretParameters are the token request parameters that carry secrets.
var secretParameters = []string{"client_secret", "password", "refresh_token", "assertion", "code", "code_verifier"}

// formType is the media type of a token request's body.
const formType = "application/x-www-form-urlencoded"

// maxTokenBody bounds the body of a token request.
const maxTokenBody = 64 << 10

// The token path, in order: handleToken (route, form parsing, index
// sync, zone) → for client_credentials, clientCredentials
// (grant_clientcredentials.go: authenticate, scope and audience checks,
// signClientToken: claims and one RS256 signature, the answer); for the
// user grants, fosite's NewAccessRequest → authenticateClient (its client
// authentication hook) → the grant's handler → tokenStrategy.
// GenerateAccessToken (user claims, one signature) → WriteAccessResponse.

// newOAuth2Provider composes fosite with the user grants of tokenGrants, our
// client authentication, a store that keeps no access tokens (loginStore)
// and our JWT strategy.
func newOAuth2Provider(s *Server) fosite.OAuth2Provider {
	cfg := &fosite.Config{
		ScopeStrategy:                exactScopes,
		AudienceMatchingStrategy:     fosite.DefaultAudienceMatchingStrategy,
		AccessTokenLifespan:          scopes.DefaultTokenValidity,
		RefreshTokenLifespan:         scopes.DefaultRefreshTokenValidity,
		RefreshTokenScopes:           []string{}, // every user grant gets a refresh token
		ClientAuthenticationStrategy: s.authenticateClient,
		ClientSecretsHasher:          refuseHasher{},
		AuthorizeCodeLifespan:        authCodeLifetime,
		// What an authorize request keeps with its code: fosite's
		// default keeps only code and redirect_uri.
		SanitationWhiteList: []string{"code", "redirect_uri", "code_challenge", "code_challenge_method", "nonce"},
		// The redirect carries code and state only, as UAA's does.
		OmitRedirectScopeParam: true,
		// PKCE (S256 only) is checked whenever the authorize request
		// carried a challenge; approuter 20 never sends one, and every
		// client here is confidential.
		EnforcePKCE:                    false,
		EnforcePKCEForPublicClients:    true,
		EnablePKCEPlainChallengeMethod: false,
	}
	strategy := &tokenStrategy{s: s}
	refresh := func(fosite.Configurator, any, any) any { return refreshGrant{s: s, strategy: strategy} }
	jwtBearer := func(fosite.Configurator, any, any) any {
		return jwtBearerGrant{tokenExchangeGrant{s: s, strategy: strategy, grant: scopes.GrantJWTBearer}}
	}
	userToken := func(fosite.Configurator, any, any) any {
		return userTokenGrant{tokenExchangeGrant{s: s, strategy: strategy, grant: scopes.GrantUserToken}}
	}
	explicit := func(c fosite.Configurator, st, strat any) any {
		return explicitGrant{compose.OAuth2AuthorizeExplicitFactory(c, st, strat).(*oauth2.AuthorizeExplicitGrantHandler)}
	}
	password := func(c fosite.Configurator, st, strat any) any {
		return passwordGrant{compose.OAuth2ResourceOwnerPasswordCredentialsFactory(c, st, strat).(*oauth2.ResourceOwnerPasswordCredentialsGrantHandler)}
	}
	return compose.Compose(cfg, loginStore{s: s}, strategy,
		explicit,
		compose.OAuth2PKCEFactory, // after the explicit handler, which takes the code
		password,
		refresh, jwtBearer, userToken)
}

// fosite asks every token endpoint handler to populate every response,
// and its authorization code and password handlers answer a request of
// another grant with errorsx.WithStack(ErrUnknownRequest): a stack walk
// and allocations on each of them for every token. explicitGrant and
// passwordGrant let such a request pass with the plain sentinel; all
// else is fosite's handler.

type explicitGrant struct {
	*oauth2.AuthorizeExplicitGrantHandler
}

func (h explicitGrant) PopulateTokenEndpointResponse(ctx context.Context, req fosite.AccessRequester, resp fosite.AccessResponder) error {
	if !h.CanHandleTokenEndpointRequest(ctx, req) {
		return fosite.ErrUnknownRequest
	}
	return h.AuthorizeExplicitGrantHandler.PopulateTokenEndpointResponse(ctx, req, resp)
}

type passwordGrant struct {
	*oauth2.ResourceOwnerPasswordCredentialsGrantHandler
}

func (h passwordGrant) PopulateTokenEndpointResponse(ctx context.Context, req fosite.AccessRequester, resp fosite.AccessResponder) error {
	if !h.CanHandleTokenEndpointRequest(ctx, req) {
		return fosite.ErrUnknownRequest
	}
	return h.ResourceOwnerPasswordCredentialsGrantHandler.PopulateTokenEndpointResponse(ctx, req, resp)
}

// tokenGrants are the grant types the token endpoint serves:
// client_credentials by clientCredentials, the others by the handlers
// composed above: fosite's authorization code (with PKCE) and resource
// owner password handlers, refreshGrant and tokenExchangeGrant
// (jwt-bearer and user_token). The discovery documents list them.
var tokenGrants = []string{scopes.GrantClientCredentials, scopes.GrantAuthorizationCode, scopes.GrantRefreshToken,
	scopes.GrantPassword, scopes.GrantJWTBearer, scopes.GrantUserToken}

// idTokenGrants are the grants that log a user in and so return an
// OpenID Connect ID token when openid is granted. A refresh or a token
// exchange does not (OpenID Connect Core §12.2 lets a refresh leave it
// out; approuter and SAP's libraries never read it): each token costs one
// signature.
var idTokenGrants = []string{scopes.GrantAuthorizationCode, scopes.GrantPassword}

// exactScopes is fosite's exact scope strategy: XSUAA scope names contain
// dots and '!' that must not act as wildcards.
func exactScopes(haystack []string, needle string) bool {
	return fosite.ExactScopeStrategy(haystack, needle)
}

// authKey is the context key of the per-request authResult.
type authKey struct{}

// authResult carries what handleToken read of the request into fosite's
// hook, and the authenticated credential or the failure's reason out of
// it, for error messages, the throttle and the audit log.
type authResult struct {
	// The request's Basic credentials, parsed once.
	user, pass string
	basic      bool
	// zone is the identity zone the request addresses, clientID the
	// client it names (see requestClientID), source its address
	// (sourceAddr), key its throttle key, throttled how long the pair
	// stays over the failure limit (0: it is not).
	zone, clientID, source string
	key                    uint64
	throttled              time.Duration
	// method is the authentication method tried, reason why it failed.
	method, reason string
	cred           *clients.Credential
	// For the password grant: the origin the request names (login_hint),
	// the user name tried, and why the user was refused.
	origin, userName, userFailure string
	userLocked                    bool
	// For the authorization code grant: the code this request took from
	// the store (see loginStore.GetAuthorizeCodeSession).
	code          *fosite.Request
	codeSignature string
	// For the user_token grant: the verified user token of the
	// Authorization: Bearer header.
	userToken *userClaims
}

// requestClientID is the client id a token request names: the Basic user
// (URL-decoded when it decodes, since both forms authenticate) or else
// the client_id parameter.
func requestClientID(a *authResult, form url.Values) string {
	if a.basic {
		if u, err := url.QueryUnescape(a.user); err == nil {
			return u
		}
		return a.user
	}
	return form.Get("client_id")
}

// session is the fosite session of one token request. It holds only what
// the token path needs: the access token's expiry fosite sets (a refresh
// token's is the client's refresh-token-validity, set where it is
// stored), the jti we choose, and
// for a user grant the user (subject, set by fosite's password handler;
// login, computed from it), the grant type the token names and the
// refresh token a refresh presented.
type session struct {
	expiresAt    time.Time
	jti          string
	subject      string
	login        *userLogin
	grantType    string
	refreshToken string
	// nonce is the OpenID nonce of the authorize request, for the ID token.
	nonce string
}

func (s *session) SetExpiresAt(key fosite.TokenType, exp time.Time) {
	if key == fosite.AccessToken {
		s.expiresAt = exp
	}
}
func (s *session) GetExpiresAt(key fosite.TokenType) time.Time {
	if key == fosite.AccessToken {
		return s.expiresAt
	}
	return time.Time{}
}
func (s *session) SetSubject(sub string) { s.subject = sub }
func (s *session) GetUsername() string   { return "" }
func (s *session) GetSubject() string    { return s.subject }
func (s *session) Clone() fosite.Session { cp := *s; return &cp }

// handleToken serves POST /oauth/token.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeOAuthError(w, http.StatusMethodNotAllowed, "invalid_request", "HTTP method "+r.Method+" is not supported; use POST")
		return
	}
	// One body format, the one the checks below read: a multipart body
	// would reach fosite's parser past them.
	if ct := r.Header.Get("Content-Type"); ct != formType && (ct != "" || r.ContentLength != 0) {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != formType {
			writeOAuthError(w, http.StatusUnsupportedMediaType, "invalid_request",
				"the request body must be application/x-www-form-urlencoded, not "+strconv.Quote(clip(ct)))
			return
		}
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxTokenBody)
	if err := r.ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeOAuthError(w, http.StatusRequestEntityTooLarge, "invalid_request", "request body is larger than 64 KiB")
			return
		}
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "malformed request: "+err.Error())
		return
	}
	// RFC 6749 §3.2: parameters must not be included more than once.
	query := queryValues(r)
	for _, src := range []url.Values{r.PostForm, query} {
		for k, v := range src {
			if len(v) > 1 {
				writeOAuthError(w, http.StatusBadRequest, "invalid_request", "parameter "+strconv.Quote(k)+" is included more than once")
				return
			}
		}
	}
	// Secrets never come in the URL, which proxies and access logs keep
	// (RFC 6749 §2.3.1).
	for _, k := range secretParameters {
		if query.Has(k) {
			writeOAuthError(w, http.StatusBadRequest, "invalid_request",
				k+" must not be sent in the URL's query string, which logs keep; send it in the request body")
			return
		}
	}
	// Other parameters may come in the body or, as old clients send them,
	// in the query string; the body wins.
	for k, v := range query {
		if _, ok := r.PostForm[k]; !ok {
			r.PostForm[k] = v
		}
	}
	grantType := r.PostForm.Get("grant_type")
	switch {
	case grantType == "":
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "Missing grant type")
		return
	case !slices.Contains(tokenGrants, grantType):
		writeOAuthError(w, http.StatusBadRequest, "unsupported_grant_type", "Unsupported grant type: "+grantType)
		return
	}
	if why := badText(r.PostForm.Get("client_id")); why != "" {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "client_id "+why)
		return
	}
	auth := &authResult{}
	if why := badText(r.Header.Get("X-Zid")); why != "" {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "the X-Zid header "+why)
		return
	}
	auth.user, auth.pass, auth.basic = r.BasicAuth()
	if auth.basic {
		if why := badText(auth.user); why != "" {
			writeOAuthError(w, http.StatusBadRequest, "invalid_request", "the client id of the Basic credentials "+why)
			return
		}
	}
	auth.clientID = requestClientID(auth, r.PostForm)
	if grantType == scopes.GrantPassword {
		origin, ok := loginHintOrigin(r.PostForm.Get("login_hint"))
		if !ok {
			writeOAuthError(w, http.StatusBadRequest, "invalid_request", `login_hint must be {"origin":"<origin key>"}`)
			return
		}
		auth.origin = origin
	}
	noteClient(w, auth.clientID)
	auth.source = sourceAddr(r)
	if s.tokenThrottle != nil {
		// A pair over the failure limit is still authenticated (the
		// owner's valid credentials always work); only a failure is
		// answered 429 (writeTokenError).
		auth.key = s.tokenThrottle.key(auth.clientID, throttleSource(auth.source))
		auth.throttled = s.tokenThrottle.check(auth.key)
	}
	// The index must reflect every change acknowledged before this
	// request started, on any replica: one read of the store's revision.
	if !s.synced(w, r, func(w http.ResponseWriter) {
		w.Header().Set("Retry-After", "5")
		writeOAuthError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "the server cannot reach its database to confirm client credentials; try again")
	}) {
		return
	}
	// The request's identity zone (X-Zid, the host's subdomain, else the
	// provider's), from the synced index: it travels with the request
	// (auth.zone) to the credential lookup.
	zone, problem, conflict := s.requestZone(r)
	switch {
	case conflict:
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", problem)
		return
	case problem != "":
		w.Header().Set("WWW-Authenticate", `Basic realm="UAA/client", error="unauthorized"`)
		writeOAuthError(w, http.StatusUnauthorized, "invalid_client", "Bad credentials: "+problem)
		return
	}
	auth.zone = zone.ID
	if grantType == scopes.GrantClientCredentials {
		s.clientCredentials(w, r, auth)
		return
	}
	ctx := context.WithValue(r.Context(), authKey{}, auth)
	sess := &session{grantType: grantType}
	ar, err := s.oauth.NewAccessRequest(ctx, r, sess)
	if err != nil {
		s.writeTokenError(w, r, auth, err)
		return
	}
	// The authorization code grant replaces the session with the one its
	// code was issued with.
	sess = ar.GetSession().(*session)
	switch grantType {
	case scopes.GrantPassword:
		u, ok := s.index.User(sess.subject)
		if !ok {
			s.writeTokenError(w, r, auth, fosite.ErrNotFound)
			return
		}
		sess.login = s.newUserLogin(auth.cred.Client, u, time.Now())
		if err := grantUserScopes(ar, sess.login); err != nil {
			s.writeTokenError(w, r, auth, err)
			return
		}
	}
	resp, err := s.oauth.NewAccessResponse(ctx, ar)
	if err != nil {
		s.writeTokenError(w, r, auth, err)
		return
	}
	resp.SetExtra("jti", sess.jti)
	if slices.Contains(idTokenGrants, grantType) && slices.Contains(ar.GetGrantedScopes(), scopes.OpenID) {
		idToken, err := s.idToken(auth.cred, sess)
		if err != nil {
			s.writeTokenError(w, r, auth, err)
			return
		}
		resp.SetExtra("id_token", idToken)
	}
	s.oauth.WriteAccessResponse(ctx, w, ar, resp)
	if s.log.Enabled(ctx, slog.LevelDebug) {
		s.log.Debug("token issued", "client_id", auth.cred.Client.ID, "zone", auth.zone, "method", auth.method,
			"binding", auth.cred.BindingID, "scopes", len(ar.GetGrantedScopes()), "jti", sess.jti, "expires_at", sess.expiresAt)
	}
}

// queryValues returns the parameters of r's query string as ParseForm
// read them: r.Form holds each key's body values first and then its
// query values, so the query is not parsed a second time.
func queryValues(r *http.Request) url.Values {
	if r.URL.RawQuery == "" {
		return nil
	}
	query := url.Values{}
	for k, v := range r.Form {
		if q := v[len(r.PostForm[k]):]; len(q) > 0 {
			query[k] = q
		}
	}
	return query
}

// grantUserScopes grants a user grant's scopes: those of the user's roles
// that the client may carry, or the requested ones among them (a
// requested scope outside them is invalid_scope).
func grantUserScopes(ar fosite.Requester, login *userLogin) error {
	requested := ar.GetRequestedScopes()
	if len(requested) == 0 {
		requested = login.grant.Scopes
	}
	for _, sc := range requested {
		if !slices.Contains(login.grant.Scopes, sc) {
			return errScopeInvalid(sc)
		}
		ar.GrantScope(sc)
	}
	return nil
}

// errScopeInvalid is UAA's invalid_scope for a requested scope the
// request may not have.
func errScopeInvalid(scope string) error {
	return &fosite.RFC6749Error{ErrorField: "invalid_scope", CodeField: http.StatusBadRequest,
		DescriptionField: scope + " is invalid. Please use a valid scope name in the request"}
}

// loginHintOrigin reads the origin of login_hint={"origin":"<key>"}.
func loginHintOrigin(hint string) (string, bool) {
	if hint == "" {
		return "", true
	}
	var v struct {
		Origin string `json:"origin"`
	}
	if json.Unmarshal([]byte(hint), &v) != nil || v.Origin == "" || len(v.Origin) > 64 || badText(v.Origin) != "" {
		return "", false
	}
	return v.Origin, true
}

// Errors of client authentication, in UAA's words.
var (
	errBadCredentials = &fosite.RFC6749Error{ErrorField: "invalid_client", DescriptionField: "Bad credentials", CodeField: http.StatusUnauthorized}
	errNoCredentials  = &fosite.RFC6749Error{ErrorField: "invalid_client", DescriptionField: "Full authentication is required to access this resource", CodeField: http.StatusUnauthorized}
	errClientMismatch = &fosite.RFC6749Error{ErrorField: "invalid_client", DescriptionField: "Given client ID does not match authenticated client", CodeField: http.StatusUnauthorized}
)

// authenticateClient is fosite's ClientAuthenticationStrategy. It accepts
// client_secret_basic, client_secret_post and tls_client_auth (RFC 8705).
// Basic credentials are tried as sent and then URL-decoded (RFC 6749
// §2.3.1 says clients encode them, curl -u and older SAP libraries do
// not); with X-CF-ENCODED-CREDENTIALS: true only the decoded form is
// tried, as UAA does. A request without a secret authenticates with its
// client certificate (see clientCertificate) and client_id.
func (s *Server) authenticateClient(ctx context.Context, r *http.Request, form url.Values) (fosite.Client, error) {
	a, _ := ctx.Value(authKey{}).(*authResult)
	if a == nil {
		a = &authResult{zone: s.index.ProviderZone().ID}
		a.user, a.pass, a.basic = r.BasicAuth()
	}
	return s.authenticate(a, r, form)
}

// authenticate authenticates the client of a token request (see
// authenticateClient) and records the credential, or why it failed, in a.
func (s *Server) authenticate(a *authResult, r *http.Request, form url.Values) (fosite.Client, error) {
	var cred *clients.Credential
	var err error
	id := form.Get("client_id")
	if h := r.Header.Get("Authorization"); h != "" && !a.basic {
		if form.Get("grant_type") == scopes.GrantUserToken {
			return s.authenticateUserToken(a, h, id)
		}
		a.reason = "an Authorization header without Basic credentials"
		return nil, malformedAuthorization(h)
	}
	if a.basic {
		a.method = "client_secret_basic"
		cred, err = s.authenticateBasic(a.zone, a.user, a.pass, strings.EqualFold(r.Header.Get("X-CF-ENCODED-CREDENTIALS"), "true"))
		if err == nil {
			if id != "" && id != cred.Client.ID {
				a.reason = "client_id is not the authenticated client"
				return nil, errClientMismatch
			}
		} else if id == "" {
			id = a.user
		}
	} else if secret := form.Get("client_secret"); secret != "" {
		a.method = "client_secret_post"
		cred, err = s.index.Authenticate(a.zone, id, secret)
	} else {
		a.method = "tls_client_auth"
		chain, cerr := s.clientCertificate(r)
		switch {
		case cerr != nil:
			a.reason = "forwarded certificate unreadable"
			return nil, certAuthError("the forwarded client certificate cannot be read: " + cerr.Error())
		case chain == nil && id == "":
			a.method, a.reason = "", "no credentials"
			return nil, errNoCredentials
		case chain == nil:
			a.reason = "neither secret nor certificate"
			err = clients.ErrBadCredentials
		case id == "":
			a.reason = "certificate without client_id"
			return nil, certAuthError("client_id is required with certificate authentication")
		default:
			if cred, err = s.index.AuthenticateCertificate(a.zone, id, chain); err != nil {
				var ce *clients.CertError
				if errors.As(err, &ce) {
					a.reason = "certificate: " + ce.Reason
					return nil, certAuthError(ce.Reason)
				}
			}
		}
	}
	if err != nil {
		// An x509-only client that did not present a certificate gets
		// XSUAA's answer for an x509 binding at the secret URL.
		c, ok := s.index.Lookup(a.zone, id)
		if ok && c.CertificateOnly() {
			if a.reason == "" {
				a.reason = "secret for a client that authenticates with certificates only"
			}
			return nil, &fosite.RFC6749Error{ErrorField: "unauthorized", CodeField: http.StatusUnauthorized,
				DescriptionField: "Unsupported instance credential for " + id + ": its bindings authenticate with X.509 certificates; present the binding's certificate over TLS at its certurl, with client_id and no client_secret"}
		}
		if a.reason == "" {
			// For the audit log; a Basic user may name the client
			// URL-encoded.
			if !ok && a.basic {
				_, ok = s.index.Lookup(a.zone, a.clientID)
			}
			switch {
			case !ok:
				a.reason = "unknown client"
			case a.method == "tls_client_auth":
				a.reason = "certificate not accepted"
			default:
				a.reason = "wrong secret"
			}
		}
		return nil, errBadCredentials
	}
	a.cred = cred
	return &client{cred: cred, index: s.index}, nil
}

// authenticateUserToken authenticates a user_token request: a user token
// of this server as "Authorization: Bearer", and the client client_id
// names in the request's zone (no secret: the user's token vouches for
// the request, as with UAA).
func (s *Server) authenticateUserToken(a *authResult, header, id string) (fosite.Client, error) {
	a.method = "bearer_user_token"
	scheme, token, _ := strings.Cut(strings.TrimSpace(header), " ")
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		a.reason = "user_token without a Bearer token"
		return nil, &fosite.RFC6749Error{ErrorField: "invalid_client", CodeField: http.StatusUnauthorized,
			DescriptionField: "Bad credentials: the user_token grant needs the user's token as Authorization: Bearer"}
	}
	claims, why := s.verifyUserToken(strings.TrimSpace(token), time.Now())
	if why != "" {
		a.reason = "user_token: " + why
		return nil, &fosite.RFC6749Error{ErrorField: "invalid_token", CodeField: http.StatusUnauthorized,
			DescriptionField: "Bearer token invalid: " + why}
	}
	cl, ok := s.index.Lookup(a.zone, id)
	if !ok {
		a.reason = "unknown client"
		return nil, errBadCredentials
	}
	a.userToken = claims
	a.cred = &clients.Credential{Client: cl}
	return &client{cred: a.cred, index: s.index}, nil
}

// malformedAuthorization is the 401 for an Authorization header that does
// not hold Basic credentials.
func malformedAuthorization(h string) error {
	scheme, payload, _ := strings.Cut(strings.TrimSpace(h), " ")
	reason := "the Authorization header's Basic credentials are not the base64 of client_id:client_secret"
	if !strings.EqualFold(scheme, "Basic") {
		if len(scheme) > 20 {
			scheme = scheme[:20] + "…"
		}
		reason = fmt.Sprintf("the Authorization scheme %q is not supported; send Basic client credentials, client_id and client_secret in the body, or a client certificate", scheme)
	} else if strings.TrimSpace(payload) == "" {
		reason = "the Authorization header says Basic but holds no credentials"
	}
	return &fosite.RFC6749Error{ErrorField: "invalid_client", DescriptionField: "Bad credentials: " + reason, CodeField: http.StatusUnauthorized}
}

// certAuthError is a 401 invalid_client for a failed certificate
// authentication, with a reason the client can act on.
func certAuthError(reason string) error {
	return &fosite.RFC6749Error{ErrorField: "invalid_client", DescriptionField: "Bad credentials: " + reason, CodeField: http.StatusUnauthorized}
}

func (s *Server) authenticateBasic(zone, user, pass string, encodedOnly bool) (*clients.Credential, error) {
	du, errU := url.QueryUnescape(user)
	dp, errP := url.QueryUnescape(pass)
	decodable := errU == nil && errP == nil
	if !encodedOnly {
		cred, err := s.index.Authenticate(zone, user, pass)
		if err == nil || !decodable || (du == user && dp == pass) {
			return cred, err
		}
	}
	if !decodable {
		return nil, clients.ErrBadCredentials
	}
	return s.index.Authenticate(zone, du, dp)
}

// writeTokenError writes a fosite error in the OAuth2 JSON shape, with
// UAA's descriptions where clients know them.
func (s *Server) writeTokenError(w http.ResponseWriter, r *http.Request, auth *authResult, err error) {
	rfc := fosite.ErrorToRFC6749Error(err)
	desc := rfc.DescriptionField
	switch rfc.ErrorField {
	case "invalid_client", "unauthorized":
		if auth.throttled > 0 && auth.userFailure == "" {
			// Over the failure limit: 429, neither audited nor counted.
			writeTokenThrottled(w, auth.clientID, throttleSource(auth.source), auth.throttled)
			return
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="UAA/client", error="unauthorized", error_description="`+quotedStringEscaper.Replace(desc)+`"`)
		s.log.Debug("client authentication failed", "client_id", s.logClientID(auth.zone, auth.clientID), "remote", r.RemoteAddr, "reason", auth.reason)
		s.authFailed(r, auth, rfc.CodeField)
	case "invalid_grant", "invalid_request":
		if auth.userFailure == "" {
			desc = rfc.GetDescription()
			break
		}
		// A refused user: UAA's 401, counted for the audit log, not the
		// client throttle (the client authenticated).
		rfc = errUserBadCredentials
		if auth.userLocked {
			rfc = errUserLocked
		}
		desc = rfc.DescriptionField
		s.audit(r, EventUserLoginFailed, "client_id", s.logClientID(auth.zone, auth.clientID), "user_name", auth.userName,
			"origin", auth.origin, "zone", auth.zone, "outcome", outcomeFailure, "status", rfc.CodeField, "reason", auth.userFailure)
	case "invalid_scope":
		desc = "invalid scope"
		if rfc.DescriptionField != fosite.ErrInvalidScope.DescriptionField {
			desc = rfc.DescriptionField // errScopeInvalid named the scope
			break
		}
		if auth.cred != nil {
			for _, sc := range strings.Fields(r.PostForm.Get("scope")) {
				if !exactScopes(auth.cred.Client.Authorities, sc) {
					desc = sc + " is invalid. Please use a valid scope name in the request"
					break
				}
			}
		}
	default:
		desc = rfc.GetDescription()
		if rfc.CodeField >= 500 {
			s.log.Error("token request failed", "error", err, "debug", rfc.Debug())
			desc = "internal error"
		}
	}
	writeOAuthError(w, rfc.CodeField, rfc.ErrorField, desc)
}

// quotedStringEscaper escapes text for an HTTP quoted-string (RFC 9110 §5.6.4).
var quotedStringEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`)

// authFailed counts a failed client authentication against the request's
// (client id, source) pair and audits it, and the block when the failure
// reached the limit.
func (s *Server) authFailed(r *http.Request, auth *authResult, status int) {
	// Only reasons the server wrote itself: a description may echo
	// request input (where a secret may have been misplaced).
	reason := auth.reason
	if reason == "" {
		reason = "client authentication failed"
	}
	s.audit(r, EventAuthFailed, "client_id", s.logClientID(auth.zone, auth.clientID), "method", auth.method,
		"outcome", outcomeFailure, "status", status, "reason", reason)
	if blocked, wait := s.tokenThrottle.fail(auth.key); blocked {
		src := throttleSource(auth.source)
		n := retryAfterSeconds(wait)
		s.log.Debug("client authentication throttled", "client_id", s.logClientID(auth.zone, auth.clientID), "source", src, "retry_after", n)
		s.audit(r, EventAuthThrottled, "client_id", s.logClientID(auth.zone, auth.clientID), "throttled_source", src,
			"outcome", outcomeBlocked, "limit", s.tokenThrottle.limit, "retry_after", n)
	}
}

// writeOAuthError writes {"error","error_description"} with the headers
// RFC 6749 §5.2 and UAA use.
func writeOAuthError(w http.ResponseWriter, status int, code, desc string) {
	h := w.Header()
	h.Set("Content-Type", "application/json;charset=UTF-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

// client adapts an authenticated credential to fosite.Client, which
// fosite sees for the user grants only; index gives the scopes the client
// may carry for users.
type client struct {
	cred       *clients.Credential
	index      *clients.Index
	userScopes []string
	// redirectURI is, at /oauth/authorize, the redirect URI the request
	// may use.
	redirectURI string
}

var (
	_ fosite.Client                         = (*client)(nil)
	_ fosite.ClientWithCustomTokenLifespans = (*client)(nil)
)

func (c *client) GetID() string           { return c.cred.Client.ID }
func (c *client) GetHashedSecret() []byte { return nil }
func (c *client) GetRedirectURIs() []string {
	if c.redirectURI == "" {
		return nil
	}
	return []string{c.redirectURI}
}

// GetResponseTypes is "code" for a client that may use the
// authorization code grant.
func (c *client) GetResponseTypes() fosite.Arguments {
	if c.cred.Client.App.AllowsGrantType(scopes.GrantAuthorizationCode) {
		return fosite.Arguments{"code"}
	}
	return nil
}
func (c *client) IsPublic() bool                { return false }
func (c *client) GetAudience() fosite.Arguments { return nil }

// GetGrantTypes returns the grants the instance allows (grant-types).
func (c *client) GetGrantTypes() fosite.Arguments {
	var out fosite.Arguments
	for _, gt := range tokenGrants {
		if c.cred.Client.App.AllowsGrantType(gt) {
			out = append(out, gt)
		}
	}
	return out
}

// GetScopes returns what the client may request: the scopes it may carry
// for users (computed on fosite's first question, once).
func (c *client) GetScopes() fosite.Arguments {
	if c.userScopes == nil {
		c.userScopes = c.index.UserClientScopes(c.cred.Client)
	}
	return c.userScopes
}

// GetEffectiveLifespan returns the instance's token-validity and
// refresh-token-validity.
func (c *client) GetEffectiveLifespan(_ fosite.GrantType, tt fosite.TokenType, fallback time.Duration) time.Duration {
	switch tt {
	case fosite.AccessToken:
		return c.cred.Client.App.Lifetime()
	case fosite.RefreshToken:
		return c.cred.Client.App.RefreshLifetime()
	}
	return fallback
}

// claims is an XSUAA client_credentials access token, fields in XSUAA's order.
type claims struct {
	JTI         string            `json:"jti"`
	ExtAttr     extAttr           `json:"ext_attr"`
	Sub         string            `json:"sub"`
	Authorities []string          `json:"authorities"`
	Scope       []string          `json:"scope"`
	ClientID    string            `json:"client_id"`
	CID         string            `json:"cid"`
	AZP         string            `json:"azp"`
	GrantType   string            `json:"grant_type"`
	RevSig      string            `json:"rev_sig"`
	IAT         int64             `json:"iat"`
	Exp         int64             `json:"exp"`
	Iss         string            `json:"iss"`
	ZID         string            `json:"zid"`
	AZAttr      map[string]string `json:"az_attr,omitempty"`
	Aud         []string          `json:"aud"`
	// Cnf binds a token issued through certificate authentication to
	// that certificate (RFC 8705 §3).
	Cnf *confirmation `json:"cnf,omitempty"`
}

// confirmation is the "cnf" claim of a certificate-bound token.
type confirmation struct {
	X5tS256 string `json:"x5t#S256"`
}

type extAttr struct {
	Enhancer     string `json:"enhancer"`
	SubaccountID string `json:"subaccountid"`
	ZDN          string `json:"zdn"`
}

// tokenStrategy is fosite's AccessTokenStrategy: RS256 JWTs shaped like XSUAA's.
type tokenStrategy struct{ s *Server }

var _ oauth2.AccessTokenStrategy = (*tokenStrategy)(nil)

// GenerateAccessToken builds the claims of a user token and signs them once.
func (t *tokenStrategy) GenerateAccessToken(ctx context.Context, req fosite.Requester) (string, string, error) {
	c, ok := req.GetClient().(*client)
	sess, ok2 := req.GetSession().(*session)
	if !ok || !ok2 {
		return "", "", errors.New("unexpected client or session type")
	}
	if sess.login == nil {
		// client_credentials tokens are clientCredentials' (signClientToken).
		return "", "", errors.New("an access token without a user")
	}
	var jti [16]byte
	rand.Read(jti[:])
	sess.jti = hex.EncodeToString(jti[:])
	payload, err := json.Marshal(t.userTokenClaims(c.cred, sess, req.GetGrantedScopes()))
	if err != nil {
		return "", "", err
	}
	jws, err := t.s.signer.Sign(payload, t.s.zoneJKU(c.cred.Client.Zone))
	if err != nil {
		return "", "", err
	}
	return jws, t.AccessTokenSignature(ctx, jws), nil
}

// signClientToken signs a client_credentials token of cred's client,
// valid until expiresAt, with the granted scopes and the az_attr of the
// authorities parameter, and returns it with its jti.
func (s *Server) signClientToken(cred *clients.Credential, expiresAt time.Time, granted []string, authorities string) (token, jti string, err error) {
	var raw [16]byte
	rand.Read(raw[:])
	jti = hex.EncodeToString(raw[:])
	payload := appendClientClaims(make([]byte, 0, 1024), s.clientTokenClaims(cred, jti, expiresAt, granted, authorities))
	token, err = s.signer.Sign(payload, s.zoneJKU(cred.Client.Zone))
	return token, jti, err
}

// clientTokenClaims builds the claims of a client_credentials token.
func (s *Server) clientTokenClaims(cred *clients.Credential, jti string, expiresAt time.Time, granted []string, authorities string) *claims {
	cl := cred.Client
	exp := expiresAt.Unix()
	cl2 := &claims{
		JTI:         jti,
		ExtAttr:     extAttr{Enhancer: "XSUAA", SubaccountID: cl.Zone.ID, ZDN: cl.Zone.Subdomain},
		Sub:         cl.ID,
		Authorities: granted,
		Scope:       granted,
		ClientID:    cl.ID,
		CID:         cl.ID,
		AZP:         cl.ID,
		GrantType:   "client_credentials",
		RevSig:      cred.RevSig,
		IAT:         exp - int64(cl.App.TokenValidity),
		Exp:         exp,
		Iss:         s.zoneIssuer(cl.Zone),
		ZID:         cl.Zone.ID,
		AZAttr:      azAttr(authorities),
		Aud:         scopes.Audiences(cl.ID, granted),
	}
	if cred.CertThumbprint != "" {
		cl2.Cnf = &confirmation{X5tS256: cred.CertThumbprint}
	}
	return cl2
}

// AccessTokenSignature returns the signature part of a JWS.
func (t *tokenStrategy) AccessTokenSignature(_ context.Context, token string) string {
	return token[strings.LastIndexByte(token, '.')+1:]
}

// ValidateAccessToken is not used: this server issues tokens, resource
// servers validate them against /token_keys.
func (t *tokenStrategy) ValidateAccessToken(context.Context, fosite.Requester, string) error {
	return fosite.ErrInvalidTokenFormat
}

// azAttr reads the "authorities" request parameter, {"az_attr":{"k":"v"}},
// whose flat string map UAA copies into the token. Anything else is ignored,
// as UAA ignores it.
func azAttr(param string) map[string]string {
	if param == "" {
		return nil
	}
	var v struct {
		AZAttr map[string]any `json:"az_attr"`
	}
	if json.Unmarshal([]byte(param), &v) != nil || len(v.AZAttr) == 0 {
		return nil
	}
	out := make(map[string]string, len(v.AZAttr))
	for k, val := range v.AZAttr {
		if s, ok := val.(string); ok {
			out[k] = s
		}
	}
	return out
}

// The refresh token strategy (fosite's password handler issues one with
// every token; refreshGrant redeems them).

// GenerateRefreshToken makes a refresh token.
func (t *tokenStrategy) GenerateRefreshToken(context.Context, fosite.Requester) (string, string, error) {
	token, sig := t.s.refresh.generate()
	return token, sig, nil
}

// RefreshTokenSignature is the stored key of a refresh token.
func (t *tokenStrategy) RefreshTokenSignature(_ context.Context, token string) string {
	return t.s.refresh.signature(token)
}

// ValidateRefreshToken is not used: refreshGrant reads refresh tokens itself.
func (t *tokenStrategy) ValidateRefreshToken(context.Context, fosite.Requester, string) error {
	return fosite.ErrInvalidTokenFormat
}

// statelessStore satisfies fosite's storage interfaces without storing
// anything: tokens are self-contained JWTs, and clients are authenticated
// by authenticateClient, so no token write happens per request.
type statelessStore struct{}

var (
	_ fosite.Storage            = statelessStore{}
	_ oauth2.AccessTokenStorage = statelessStore{}
)

func (statelessStore) GetClient(context.Context, string) (fosite.Client, error) {
	return nil, fosite.ErrNotFound
}
func (statelessStore) ClientAssertionJWTValid(context.Context, string) error { return nil }
func (statelessStore) SetClientAssertionJWT(context.Context, string, time.Time) error {
	return nil
}
func (statelessStore) CreateAccessTokenSession(context.Context, string, fosite.Requester) error {
	return nil
}
func (statelessStore) GetAccessTokenSession(context.Context, string, fosite.Session) (fosite.Requester, error) {
	return nil, fosite.ErrNotFound
}
func (statelessStore) DeleteAccessTokenSession(context.Context, string) error { return nil }

// refuseHasher replaces fosite's bcrypt default; secrets are checked by
// the registry, never by fosite, so this is never asked to compare.
type refuseHasher struct{}

func (refuseHasher) Compare(context.Context, []byte, []byte) error { return fosite.ErrInvalidClient }
func (refuseHasher) Hash(context.Context, []byte) ([]byte, error) {
	return nil, errors.New("not supported")
}
