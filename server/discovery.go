package server

import (
	"encoding/json"
	"net/http"
)

// handleTokenKeys serves the JWKS. ?zid= names the identity zone whose
// keys are wanted; an unknown zone is a 400, which SAP's libraries treat as
// a failed online validation.
func (s *Server) handleTokenKeys(w http.ResponseWriter, r *http.Request) {
	if !s.knownZone(w, r) {
		return
	}
	body, etag := s.signer.JWKS()
	h := w.Header()
	h.Set("ETag", etag)
	h.Set("Cache-Control", "public, max-age=300")
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", "application/json;charset=UTF-8")
	w.Write(body)
}

// handleTokenKey serves the active key alone, as UAA's /token_key does.
func (s *Server) handleTokenKey(w http.ResponseWriter, r *http.Request) {
	if !s.knownZone(w, r) {
		return
	}
	k, err := s.signer.ActiveJWK()
	if err != nil {
		s.log.Error("rendering the active key failed", "error", err)
		writeOAuthError(w, http.StatusInternalServerError, "server_error", "internal error; see the server log")
		return
	}
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.Write(k)
}

// knownZone brings the index and the keys up to date and checks the zone
// a key request names (?zid= or X-Zid). A key another replica rotated in
// is published here before any replica signs with it: the sync sees its
// revision. Without the database, the last known keys and zones are
// still the right ones to serve.
func (s *Server) knownZone(w http.ResponseWriter, r *http.Request) bool {
	if err := s.index.Sync(r.Context()); err != nil {
		s.log.Warn("serving the last known token keys: the database cannot be reached", "error", err)
	}
	zid := r.URL.Query().Get("zid")
	if zid == "" {
		zid = r.Header.Get("X-Zid")
	}
	if _, known := s.index.Zone(zid); zid != "" && !known {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "unknown identity zone "+clip(zid))
		return false
	}
	if sub, ok := s.tenantSubdomain(r.Host); ok && zid == "" {
		if _, known := s.index.ZoneBySubdomain(sub); !known {
			writeOAuthError(w, http.StatusBadRequest, "invalid_request", "unknown identity zone for the host's subdomain "+clip(sub))
			return false
		}
	}
	return true
}

// authorizationServerMetadata is what both discovery documents say of
// the server (RFC 8414 §2) in the zone the request addresses: the
// issuer and endpoints are that zone's (zoneURL). It writes a 404 and
// returns nil when the request names no zone of this server.
func (s *Server) authorizationServerMetadata(w http.ResponseWriter, r *http.Request) map[string]any {
	if err := s.index.Sync(r.Context()); err != nil {
		s.log.Warn("serving discovery from the last known zones: the database cannot be reached", "error", err)
	}
	zone, problem, conflict := s.requestZone(r)
	if problem != "" {
		status := http.StatusNotFound
		if conflict {
			status = http.StatusBadRequest
		}
		writeOAuthError(w, status, "invalid_request", problem)
		return nil
	}
	base := s.zoneURL(zone)
	return map[string]any{
		"issuer":                                base + "/oauth/token",
		"authorization_endpoint":                base + "/oauth/authorize",
		"token_endpoint":                        base + "/oauth/token",
		"end_session_endpoint":                  base + "/logout.do",
		"jwks_uri":                              base + "/token_keys",
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post", "tls_client_auth"},
		"tls_client_certificate_bound_access_tokens":       true,
		"token_endpoint_auth_signing_alg_values_supported": []string{"RS256"},
		"grant_types_supported":                            tokenGrants,
		"userinfo_endpoint":                                base + "/userinfo",
		"response_types_supported":                         []string{"code"},
		"response_modes_supported":                         []string{"query"},
		"code_challenge_methods_supported":                 []string{"S256"},
		"scopes_supported":                                 []string{"openid", "uaa.user", "uaa.resource"},
		"mtls_endpoint_aliases":                            map[string]string{"token_endpoint": base + "/oauth/token"},
	}
}

// handleDiscovery serves the OpenID Connect discovery document.
func (s *Server) handleDiscovery(w http.ResponseWriter, r *http.Request) {
	doc := s.authorizationServerMetadata(w, r)
	if doc == nil {
		return
	}
	w.Header().Set("Cache-Control", "public, max-age=300")
	doc["subject_types_supported"] = []string{"public"}
	doc["id_token_signing_alg_values_supported"] = []string{"RS256"}
	doc["claims_supported"] = []string{"sub", "iss", "client_id", "aud", "zid", "grant_type", "azp", "scope",
		"exp", "iat", "jti", "rev_sig", "cid", "ext_attr", "authorities", "user_id", "user_name", "origin", "email",
		"given_name", "family_name", "auth_time", "nonce", "xs.user.attributes", "xs.system.attributes"}
	writeJSON(w, http.StatusOK, doc)
}

// handleOAuthMetadata serves the OAuth 2.0 authorization server metadata
// (RFC 8414), which generic OAuth clients — MCP clients among them — look
// for before the OpenID document: at /.well-known/oauth-authorization-server
// and, since the issuer has the path /oauth/token, also at
// /.well-known/oauth-authorization-server/oauth/token (§3.1).
func (s *Server) handleOAuthMetadata(w http.ResponseWriter, r *http.Request) {
	if doc := s.authorizationServerMetadata(w, r); doc != nil {
		w.Header().Set("Cache-Control", "public, max-age=300")
		writeJSON(w, http.StatusOK, doc)
	}
}

// handleHealth answers a load balancer's health check: UP when the
// replica can confirm its clients with the database (the check every
// token request makes), else 503 DOWN, so that a balancer can take a
// replica cut off from the database out of rotation.
func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	if err := s.index.Sync(r.Context()); err != nil {
		w.Header().Set("Retry-After", "5")
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "DOWN", "database": "unreachable"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "UP"})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func notFound(w http.ResponseWriter, r *http.Request) {
	writeOAuthError(w, http.StatusNotFound, "not_found", "no such endpoint: "+r.Method+" "+r.URL.Path)
}

func methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	writeOAuthError(w, http.StatusMethodNotAllowed, "invalid_request", "method "+r.Method+" is not allowed on "+r.URL.Path)
}

// recoverPanics turns a panic in a handler into a 500 that leaks nothing,
// and logs it.
func recoverPanics(s *Server, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("panic serving request", "method", r.Method, "path", r.URL.Path, "panic", v)
				writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "server_error", "error_description": "internal error"})
			}
		}()
		next.ServeHTTP(w, r)
	})
}
