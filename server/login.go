package server

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/openxsuaa/xsuaa/clients/registry"
	"github.com/openxsuaa/xsuaa/clients/storage"
	"github.com/openxsuaa/xsuaa/scopes"
)

// The login pages: GET /login (also shown by /oauth/authorize), POST
// /login.do and /logout.do. A successful login stores a login session
// (storage.Logins, so every replica knows it) and sets its cookie.
//
// Cookies. approuter's own session cookie is JSESSIONID, and cookies do
// not isolate by port, so ours have other names: XSUAA_SESSION holds the
// login session (HttpOnly, SameSite=Lax so that the cross-site redirect
// from approuter to /oauth/authorize carries it, Secure on HTTPS),
// XSUAA_CSRF the login form's anti-forgery secret (HttpOnly,
// SameSite=Strict). The form carries an HMAC of the latter; /login.do
// also refuses a cross-origin Origin header.
const (
	sessionCookie = "XSUAA_SESSION"
	csrfCookie    = "XSUAA_CSRF"
	csrfField     = "X-Uaa-Csrf"
	// loginSessionLifetime is how long a login lasts at this server
	// (UAA's default session timeout): within it, a new authorize
	// request is answered without the login page.
	loginSessionLifetime = 30 * time.Minute
	// maxLoginForm bounds the body of POST /login.do.
	maxLoginForm = 16 << 10
)

// Login failure messages, in UAA's words.
const (
	msgBadLogin = "Unable to verify email or password. Please try again."
	msgLocked   = "Your account has been locked because of too many failed attempts to login."
)

// loginState is the user of a valid login session.
type loginState struct {
	idHash   string
	user     *storage.User
	authTime time.Time
}

// currentLogin returns the login session the request's cookie names, if
// it is valid in the zone and its user still exists.
func (s *Server) currentLogin(r *http.Request, zoneID string) (*loginState, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || len(c.Value) != 43 {
		return nil, false
	}
	h := s.keyedHash("session", c.Value)
	ls, err := s.logins.GetLoginSession(r.Context(), h, time.Now().UTC())
	if err != nil {
		if !errors.Is(err, storage.ErrNotFound) {
			s.log.Warn("reading a login session failed", "error", err)
		}
		return nil, false
	}
	if ls.ZoneID != zoneID {
		return nil, false
	}
	u, ok := s.index.User(ls.UserID)
	if !ok {
		return nil, false
	}
	return &loginState{idHash: h, user: u, authTime: ls.AuthTime}, true
}

// keyedHash is the server's HMAC of a value of some kind (session ids,
// CSRF secrets), in hex.
func (s *Server) keyedHash(kind, value string) string {
	m := hmac.New(sha256.New, s.loginKey)
	m.Write([]byte(kind + "\x00" + value))
	return hex.EncodeToString(m.Sum(nil))
}

// randomToken returns 256 random bits, base64url without padding (43
// characters).
func randomToken() string {
	var b [32]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// setCookie sets one of our cookies: HttpOnly, Path=/, Secure on HTTPS.
func setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int, sameSite http.SameSite) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge, HttpOnly: true,
		Secure: r.TLS != nil, SameSite: sameSite})
}

// csrfToken returns the form token of the request's CSRF cookie, setting
// a new cookie when it has none.
func (s *Server) csrfToken(w http.ResponseWriter, r *http.Request) string {
	secret := ""
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) == 43 {
		secret = c.Value
	} else {
		secret = randomToken()
		setCookie(w, r, csrfCookie, secret, 0, http.SameSiteStrictMode)
	}
	return s.keyedHash("csrf", secret)
}

// validCSRF checks a posted form token against the request's CSRF cookie.
func (s *Server) validCSRF(r *http.Request, token string) bool {
	c, err := r.Cookie(csrfCookie)
	if err != nil || len(c.Value) != 43 {
		return false
	}
	return hmac.Equal([]byte(token), []byte(s.keyedHash("csrf", c.Value)))
}

// sameOrigin reports whether a browser's Origin header, if any, names
// this server as the request reached it. "null" (an origin a browser
// keeps private) says nothing either way; the CSRF token still decides.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" || o == "null" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && strings.EqualFold(u.Host, r.Host)
}

// validContinue reports whether a login form's continue target is an
// authorize request of this server (and nothing else: no open redirect).
func validContinue(c string) bool {
	return (c == "/oauth/authorize" || strings.HasPrefix(c, "/oauth/authorize?")) &&
		!strings.ContainsAny(c, "\\\r\n\t ") && len(c) <= 8<<10
}

// validOrigin reports whether an origin key is acceptable in a form.
func validOrigin(o string) bool {
	return o != "" && len(o) <= 64 && badText(o) == "" && !strings.ContainsAny(o, " \"{}")
}

// handleLoginPage serves GET /login: the login form, or who is logged in.
func (s *Server) handleLoginPage(w http.ResponseWriter, r *http.Request) {
	zone, ok := s.syncedPageZone(w, r)
	if !ok {
		return
	}
	cont := r.URL.Query().Get("continue")
	if !validContinue(cont) {
		cont = ""
	}
	if login, ok := s.currentLogin(r, zone.ID); ok && cont == "" {
		s.writePage(w, http.StatusOK, page{Title: "Logged in", Zone: zone.Subdomain,
			Message: "You are logged in as " + login.user.UserName + ".", Logout: true})
		return
	}
	s.showLogin(w, r, zone.Subdomain, cont, registry.DefaultOrigin, "", "", http.StatusOK)
}

// showLogin renders the login form.
func (s *Server) showLogin(w http.ResponseWriter, r *http.Request, zone, cont, origin, errMsg, userName string, status int) {
	s.writePage(w, status, page{Title: "Log in", Zone: zone, Form: true, CSRF: s.csrfToken(w, r),
		Continue: cont, Origin: origin, Error: errMsg, UserName: userName})
}

// handleLoginDo serves POST /login.do: checks the form's origin and CSRF
// token, the user's password under the per-user lockout, then starts a
// login session and returns the browser to its authorize request.
func (s *Server) handleLoginDo(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginForm)
	if err := r.ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.writePage(w, http.StatusRequestEntityTooLarge, pageError("The request is invalid", "The login form is larger than 16 KiB."))
			return
		}
		s.writePage(w, http.StatusBadRequest, pageError("The request is invalid", "The login form cannot be read."))
		return
	}
	form := r.PostForm
	if !s.singleTextValues(w, form, "field") {
		return
	}
	if !sameOrigin(r) {
		s.writePage(w, http.StatusForbidden, pageError("Login refused", "The login form was sent from another site."))
		return
	}
	if !s.validCSRF(r, form.Get(csrfField)) {
		s.writePage(w, http.StatusForbidden, pageError("Login refused",
			"The login form has expired or did not come from this server's login page. Go back, reload the page and log in again."))
		return
	}
	cont := form.Get("continue")
	if cont != "" && !validContinue(cont) {
		s.writePage(w, http.StatusBadRequest, pageError("The request is invalid", "The login form's continue target is not an authorize request of this server."))
		return
	}
	origin := form.Get("origin")
	if origin == "" {
		origin = registry.DefaultOrigin
	}
	if !validOrigin(origin) {
		s.writePage(w, http.StatusBadRequest, pageError("The request is invalid", "The login form's origin is not an origin key."))
		return
	}
	zone, ok := s.syncedPageZone(w, r)
	if !ok {
		return
	}
	name, password := form.Get("username"), form.Get("password")
	if name == "" || password == "" {
		s.showLogin(w, r, zone.Subdomain, cont, origin, "Enter your user name and password.", name, http.StatusBadRequest)
		return
	}
	check, err := s.checkPassword(r.Context(), zone.ID, origin, name, password)
	if err != nil {
		s.log.Error("checking a password failed", "error", err)
		s.writePage(w, http.StatusServiceUnavailable, pageError("Try again later", "The server cannot reach its database."))
		return
	}
	if check.failure != "" {
		logName := fingerprint(name) // a password typed as the user name stays out of the log
		if check.user != nil {
			logName = check.user.UserName
		}
		s.audit(r, EventUserLoginFailed, "user_name", logName, "origin", origin, "zone", zone.ID, "outcome", outcomeFailure,
			"status", http.StatusUnauthorized, "reason", check.failure, "via", "login page")
		msg := msgBadLogin
		if check.locked {
			msg = msgLocked
		}
		s.showLogin(w, r, zone.Subdomain, cont, origin, msg, name, http.StatusUnauthorized)
		return
	}
	// A new session id at every login (no fixation); an old session of
	// this browser ends.
	if old, ok := s.currentLogin(r, zone.ID); ok {
		s.logins.DeleteLoginSession(r.Context(), old.idHash)
	}
	id := randomToken()
	now := time.Now().UTC()
	if err := s.logins.CreateLoginSession(r.Context(), storage.LoginSession{IDHash: s.keyedHash("session", id),
		ZoneID: zone.ID, UserID: check.user.ID, AuthTime: now, ExpiresAt: now.Add(loginSessionLifetime)}); err != nil {
		s.log.Error("storing a login session failed", "error", err)
		s.writePage(w, http.StatusServiceUnavailable, pageError("Try again later", "The server cannot reach its database."))
		return
	}
	setCookie(w, r, sessionCookie, id, 0, http.SameSiteLaxMode)
	s.audit(r, EventUserLogin, "user_id", check.user.ID, "user_name", check.user.UserName, "origin", origin, "zone", zone.ID, "outcome", outcomeSuccess)
	if cont == "" {
		cont = "/login"
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, cont, http.StatusFound)
}

// handleLogout serves /logout.do: ends the login session, then redirects
// to redirect (or post_logout_redirect_uri) when it is among the
// redirect URIs of the client client_id names (UAA's rule), else shows a
// page saying the user logged out.
func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginForm)
	if err := r.ParseForm(); err != nil {
		s.writePage(w, http.StatusBadRequest, pageError("The request is invalid", "The logout request cannot be read."))
		return
	}
	if err := s.index.Sync(r.Context()); err != nil {
		s.log.Warn("logout with the last known clients: the database cannot be reached", "error", err)
	}
	zone, ok := s.pageZone(w, r)
	if !ok {
		return
	}
	if login, ok := s.currentLogin(r, zone.ID); ok {
		if err := s.logins.DeleteLoginSession(r.Context(), login.idHash); err != nil {
			s.log.Error("deleting a login session failed", "error", err)
			s.writePage(w, http.StatusServiceUnavailable, pageError("Try again later", "The server cannot reach its database; you are still logged in."))
			return
		}
		s.audit(r, EventUserLogout, "user_id", login.user.ID, "user_name", login.user.UserName, "zone", zone.ID, "outcome", outcomeSuccess)
	}
	setCookie(w, r, sessionCookie, "", -1, http.SameSiteLaxMode)
	target := r.Form.Get("redirect")
	if target == "" {
		target = r.Form.Get("post_logout_redirect_uri")
	}
	p := page{Title: "Logged out", Zone: zone.Subdomain, Message: "You have logged out."}
	if target != "" {
		clientID := r.Form.Get("client_id")
		cl, ok := s.index.Lookup(zone.ID, clientID)
		switch {
		case clientID == "":
			p.Note = "The page did not send you back: the logout request names no client_id whose redirect URIs could allow " + clip(target) + "."
		case !ok:
			p.Note = "The page did not send you back: no client " + strconv.Quote(clip(clientID)) + " exists."
		case !scopes.MatchRedirectURI(cl.App.RedirectURIs, target):
			p.Note = "The page did not send you back: " + clip(target) + " is not among the redirect URIs of client " + strconv.Quote(clientID) + "."
		default:
			w.Header().Set("Cache-Control", "no-store")
			http.Redirect(w, r, target, http.StatusFound)
			return
		}
	}
	s.writePage(w, http.StatusOK, p)
}
