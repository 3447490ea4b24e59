package server

import (
	"net/http"
	"slices"
	"strings"
	"time"
)

// handleUserinfo serves GET /userinfo (OpenID Connect Core §5.3) as UAA
// does, for approuter's /user-api/attributes: with a user token of this
// server that carries openid, the user's current profile and the token's
// xs.user.attributes as user_attributes.
func (s *Server) handleUserinfo(w http.ResponseWriter, r *http.Request) {
	unauthorized := func(desc string) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="UAA/userinfo", error="invalid_token", error_description="`+quotedStringEscaper.Replace(desc)+`"`)
		writeOAuthError(w, http.StatusUnauthorized, "invalid_token", desc)
	}
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		unauthorized("send the user's access token as Authorization: Bearer <token>")
		return
	}
	if !s.synced(w, r, func(w http.ResponseWriter) {
		w.Header().Set("Retry-After", "5")
		writeOAuthError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "the server cannot reach its database; try again")
	}) {
		return
	}
	claims, why := s.verifyUserToken(strings.TrimSpace(token), time.Now())
	if why != "" {
		unauthorized("the token is not valid: " + why)
		return
	}
	// A tenant's host (or X-Zid) answers only for its own zone's tokens.
	// The bare host without X-Zid answers for a token of any zone, as
	// clients that know only the uaadomain send it there.
	if _, byHost := s.tenantSubdomain(r.Host); byHost || r.Header.Get("X-Zid") != "" {
		zone, problem, _ := s.requestZone(r)
		if problem == "" && zone.ID != claims.ZID {
			problem = "the token was issued in another identity zone"
		}
		if problem != "" {
			unauthorized(problem)
			return
		}
	}
	if !slices.Contains(claims.Scope, "openid") {
		writeOAuthError(w, http.StatusForbidden, "insufficient_scope", "the token does not carry the scope openid")
		return
	}
	u, ok := s.index.User(claims.UserID)
	if !ok {
		unauthorized("the token's user no longer exists")
		return
	}
	attrs := claims.XSUserAttributes
	if attrs == nil {
		attrs = map[string][]string{}
	}
	name := strings.TrimSpace(u.GivenName + " " + u.FamilyName)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{
		"user_id":             u.ID,
		"sub":                 u.ID,
		"user_name":           u.UserName,
		"origin":              u.Origin,
		"zid":                 u.ZoneID,
		"given_name":          u.GivenName,
		"family_name":         u.FamilyName,
		"name":                name,
		"email":               u.Email,
		"email_verified":      u.Email != "",
		"phone_number":        nil,
		"previous_logon_time": nil,
		"user_attributes":     attrs,
	})
}
