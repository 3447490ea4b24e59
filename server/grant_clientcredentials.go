package server

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ory/fosite"

	"github.com/openxsuaa/xsuaa/scopes"
)

// The client_credentials grant: a technical user's token, the hot path
// of this server. handleToken has parsed and checked the request, synced
// the index and found the zone; clientCredentials authenticates the
// client, checks what it asks for, signs one token and writes the answer.
//
// It is served here rather than by fosite's handler: for this grant
// fosite would build an access request, a session clone, a sanitized
// copy, a response map and its JSON for every token, about 5 % of the
// server's CPU under load, and do nothing this server needs beyond the
// checks below, which are fosite's own, in fosite's order and with
// fosite's errors (so writeTokenError answers exactly as before):
// client authentication, the requested scopes among the client's
// authorities (invalid_scope), the requested audience (fosite's matching
// strategy; a client here has none, so any is invalid_request), then the
// grant type allowed for the client (unauthorized_client). The user
// grants, which carry state (codes, sessions, refresh tokens), stay
// fosite's.

// clientCredentials serves a client_credentials token request.
func (s *Server) clientCredentials(w http.ResponseWriter, r *http.Request, auth *authResult) {
	form := r.PostForm
	if _, err := s.authenticate(auth, r, form); err != nil {
		s.writeTokenError(w, r, auth, err)
		return
	}
	cl := auth.cred.Client
	requested := splitNonEmpty(form.Get("scope"))
	for _, sc := range requested {
		if !exactScopes(cl.Authorities, sc) {
			s.writeTokenError(w, r, auth, fosite.ErrInvalidScope.WithHintf("The OAuth 2.0 Client is not allowed to request scope '%s'.", sc))
			return
		}
	}
	if err := fosite.DefaultAudienceMatchingStrategy(nil, fosite.GetAudiences(form)); err != nil {
		s.writeTokenError(w, r, auth, err)
		return
	}
	if !cl.App.AllowsGrantType(scopes.GrantClientCredentials) {
		s.writeTokenError(w, r, auth, fosite.ErrUnauthorizedClient.WithHint("The OAuth 2.0 Client is not allowed to use authorization grant 'client_credentials'."))
		return
	}
	// UAA's rule: no scope parameter grants every authority.
	granted := requested
	if len(granted) == 0 {
		granted = cl.Authorities
	}
	expiresAt := time.Now().UTC().Add(cl.App.Lifetime())
	token, jti, err := s.signClientToken(auth.cred, expiresAt, granted, form.Get("authorities"))
	if err != nil {
		s.writeTokenError(w, r, auth, err)
		return
	}
	// expires_in counts from now, after the signature, as fosite and
	// UAA count it: a token valid for 900 s says 899.
	writeClientTokenAnswer(w, token, jti, int64(time.Until(expiresAt)/time.Second), granted)
	if s.log.Enabled(r.Context(), slog.LevelDebug) {
		s.log.Debug("token issued", "client_id", cl.ID, "zone", auth.zone, "method", auth.method,
			"binding", auth.cred.BindingID, "scopes", len(granted), "jti", jti, "expires_at", expiresAt)
	}
}

// splitNonEmpty splits a space-separated parameter, dropping empty parts
// (fosite's reading of scope).
func splitNonEmpty(v string) []string {
	if v == "" {
		return nil
	}
	parts := strings.Split(v, " ")
	return slices.DeleteFunc(parts, func(p string) bool { return p == "" })
}

// writeClientTokenAnswer writes the token response RFC 6749 §5.1 and UAA
// give, with the fields in the order fosite wrote them (sorted).
func writeClientTokenAnswer(w http.ResponseWriter, token, jti string, expiresIn int64, granted []string) {
	scope, _ := json.Marshal(strings.Join(granted, " "))
	out := make([]byte, 0, len(token)+len(scope)+128)
	out = append(out, `{"access_token":"`...)
	out = append(out, token...) // a JWS: base64url and dots only
	out = append(out, `","expires_in":`...)
	out = strconv.AppendInt(out, expiresIn, 10)
	out = append(out, `,"jti":"`...)
	out = append(out, jti...) // hex
	out = append(out, `","scope":`...)
	out = append(out, scope...)
	out = append(out, `,"token_type":"bearer"}`...)
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(http.StatusOK)
	w.Write(out)
}
