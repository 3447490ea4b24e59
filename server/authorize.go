package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/ory/fosite"

	"github.com/openxsuaa/xsuaa/clients/registry"
	"github.com/openxsuaa/xsuaa/scopes"
)

// handleAuthorize serves GET /oauth/authorize, the start of the
// authorization code flow (approuter sends response_type=code,
// client_id, redirect_uri, and state and an S256 code_challenge in
// browser mode). In order:
//
//  1. the client and the redirect URI are checked here, against the
//     client's redirect-uris with XSUAA's wildcards; when either is wrong
//     the answer is a 400 page that names the problem and never
//     redirects;
//  2. fosite parses the rest (response_type, scope, state); its errors
//     now go back to the checked redirect URI;
//  3. without a login session of this zone the login page is shown, and
//     after the login the browser comes back here;
//  4. with one, the user's scopes for the client are granted (or the
//     requested ones among them) and fosite's code handler stores a code
//     and redirects to redirect_uri?code=…&state=….
func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	query := r.URL.Query()
	if !s.singleTextValues(w, query, "parameter") {
		return
	}
	zone, ok := s.syncedPageZone(w, r)
	if !ok {
		return
	}
	clientID := query.Get("client_id")
	if clientID == "" {
		s.writePage(w, http.StatusBadRequest, pageError("The request is invalid", "client_id is missing."))
		return
	}
	cl, ok := s.index.Lookup(zone.ID, clientID)
	if !ok {
		s.writePage(w, http.StatusBadRequest, pageError("Unknown client", fmt.Sprintf("No client %q exists in this identity zone.", clip(clientID))))
		return
	}
	if !cl.App.AllowsGrantType(scopes.GrantAuthorizationCode) {
		s.writePage(w, http.StatusBadRequest, pageError("Login not allowed for this client",
			fmt.Sprintf("Client %q may not use the authorization_code grant: its oauth2-configuration.grant-types do not list it.", clientID)))
		return
	}
	redirectURI := query.Get("redirect_uri")
	switch {
	case redirectURI == "":
		// Without redirect_uri, a client with exactly one redirect URI
		// without wildcards gets that one (RFC 6749 §3.1.2.3).
		if len(cl.App.RedirectURIs) != 1 || strings.Contains(cl.App.RedirectURIs[0], "*") {
			s.writePage(w, http.StatusBadRequest, pageError("The request is invalid",
				fmt.Sprintf("redirect_uri is missing, and client %q has no single redirect URI to use instead.", clientID)))
			return
		}
		redirectURI = cl.App.RedirectURIs[0]
	case !scopes.MatchRedirectURI(cl.App.RedirectURIs, redirectURI):
		s.writePage(w, http.StatusBadRequest, pageError("Invalid redirect URI",
			fmt.Sprintf("The redirect_uri %q is not among the redirect URIs of client %q (oauth2-configuration.redirect-uris in its xs-security.json).", clip(redirectURI), clientID)))
		return
	}
	origin := registryOrigin(query)
	if origin == "" {
		s.writePage(w, http.StatusBadRequest, pageError("The request is invalid", `login_hint must be {"origin":"<origin key>"} and idp an origin key.`))
		return
	}

	c := s.authorizeClient(cl, redirectURI)
	ctx := context.WithValue(r.Context(), authorizeClientKey{}, c)
	ar, err := s.oauth.NewAuthorizeRequest(ctx, r)
	if err != nil && !(errors.Is(err, fosite.ErrInvalidState) && ar.GetRedirectURI() != nil) {
		s.oauth.WriteAuthorizeError(ctx, w, ar, err)
		return
	}
	// fosite wants a state of at least 8 characters; UAA takes any or
	// none, and approuter without STATE_PARAMETER_SECRET sends none. That
	// check is fosite's last, so the request is otherwise complete.

	login, ok := s.currentLogin(r, zone.ID)
	if !ok || login.user.Origin != origin {
		s.showLogin(w, r, zone.Subdomain, r.URL.RequestURI(), origin, "", "", http.StatusOK)
		return
	}
	sess := &session{subject: login.user.ID, grantType: scopes.GrantAuthorizationCode,
		login: s.newUserLogin(cl, login.user, login.authTime)}
	if err := grantUserScopes(ar, sess.login); err != nil {
		s.oauth.WriteAuthorizeError(ctx, w, ar, err)
		return
	}
	resp, err := s.oauth.NewAuthorizeResponse(ctx, ar, sess)
	if err != nil {
		s.oauth.WriteAuthorizeError(ctx, w, ar, err)
		return
	}
	// The redirect, as UAA's: a 302 (fosite's is a 303), without an empty
	// state.
	params := resp.GetParameters()
	if ar.GetState() == "" {
		params.Del("state")
	}
	target := *ar.GetRedirectURI()
	q := target.Query()
	for k, v := range params {
		q[k] = v
	}
	target.RawQuery = q.Encode()
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, target.String(), http.StatusFound)
	if s.log.Enabled(ctx, slog.LevelDebug) {
		s.log.Debug("authorization code issued", "client_id", cl.ID, "user_id", login.user.ID, "pkce", ar.GetRequestForm().Get("code_challenge") != "")
	}
}

// registryOrigin is the origin an authorize request names: idp=<key>
// (approuter 21) or login_hint={"origin":"<key>"} (approuter 20), else
// the default origin; "" when either is malformed.
func registryOrigin(q map[string][]string) string {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	if idp := get("idp"); idp != "" {
		if len(idp) > 64 || strings.ContainsAny(idp, " \"{}") {
			return ""
		}
		return idp
	}
	origin, ok := loginHintOrigin(get("login_hint"))
	switch {
	case !ok:
		return ""
	case origin == "":
		return registry.DefaultOrigin
	}
	return origin
}
