package server

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/ory/fosite"

	"github.com/openxsuaa/xsuaa/clients"
	"github.com/openxsuaa/xsuaa/clients/registry"
	"github.com/openxsuaa/xsuaa/clients/storage"
	"github.com/openxsuaa/xsuaa/keys"
)

// Config is what a Server needs. Every field is required unless noted.
type Config struct {
	// Index is the token path's read model, Registry the write side
	// that keeps it current (package clients and clients/registry).
	Index    *clients.Index
	Registry *registry.Registry
	Signer   *keys.Signer
	// URL is the public base URL, e.g. https://localhost:8443: tokens'
	// "iss" is URL+"/oauth/token" and their "jku" URL+"/token_keys".
	URL string
	// ClientCertHeader is the one header format in which trusted proxies
	// (TrustProxies) forward client certificates; "" trusts none.
	ClientCertHeader CertHeader
	// BrokerUser and BrokerPassword protect the service broker API,
	// AdminUser and AdminPassword the admin API; they must differ.
	BrokerUser, BrokerPassword string
	AdminUser, AdminPassword   string
	// Log defaults to discarding.
	Log *slog.Logger
	// Audit receives the audit events (see audit.go), one Info record
	// each; give it a JSON handler for JSON lines. Nil discards them.
	Audit *slog.Logger
	// Access receives one Info record per request (see access.go). Nil:
	// no access log.
	Access *slog.Logger
	// AuthFailureLimit failed authentications within AuthFailureWindow
	// block the (client id, source address) pair at the token endpoint,
	// and the source address at the broker and clone APIs, until the
	// window has passed (see throttle.go). Zero in either disables
	// throttling; xsuaa serve uses DefaultAuthFailureLimit and
	// DefaultAuthFailureWindow.
	AuthFailureLimit  int
	AuthFailureWindow time.Duration
	// AuthFailureKeys bounds the pairs tracked per API; default
	// DefaultAuthFailureKeys.
	AuthFailureKeys int
	// Now is the throttle's clock; default time.Now.
	Now func() time.Time
	// Logins keeps the user grants' refresh tokens and failed-login
	// counters; LoginKey (32 bytes, derived from the master key) keys the
	// hashes under which refresh tokens and failed passwords are kept.
	Logins   storage.Logins
	LoginKey []byte
}

// Server is the HTTP handler of the whole API.
type Server struct {
	index    *clients.Index
	registry *registry.Registry
	signer   *keys.Signer
	url      string
	// scheme ("https://") and hostPort ("localhost:8443") are the parts
	// of url from which a zone's URL is made (zoneURL).
	scheme, hostPort string
	broker           [2][]byte
	admin            [2][]byte
	// certHeader is Config.ClientCertHeader.
	certHeader CertHeader
	// publicHost is the host name of the public URL; tenants are
	// addressed as <subdomain>.<publicHost>.
	publicHost string
	oauth      fosite.OAuth2Provider
	log        *slog.Logger
	auditLog   *slog.Logger // nil: no audit events
	// failureLines bounds the audit lines of failed authentications.
	failureLines *failureLines
	access       *slog.Logger // nil: no access log
	// tokenThrottle counts failed client authentications per (client id,
	// source) at the token endpoint, brokerThrottle failed Basic
	// authentications per (API, source) at the broker and clone APIs.
	// Nil when throttling is off.
	tokenThrottle, brokerThrottle *failureLimiter
	handler                       http.Handler
	logins                        storage.Logins
	loginKey                      []byte
	refresh                       refreshTokens
	refreshRows                   refreshRowCache
	verifiedTokens                verifiedTokenCache
}

// New returns a Server for cfg.
func New(cfg Config) (*Server, error) {
	if cfg.Index == nil || cfg.Registry == nil || cfg.Signer == nil || cfg.URL == "" {
		return nil, errors.New("server: Index, Registry, Signer and URL are required")
	}

	if cfg.BrokerUser == "" || cfg.BrokerPassword == "" || cfg.AdminUser == "" || cfg.AdminPassword == "" {
		return nil, errors.New("server: broker and admin credentials are required")
	}
	if cfg.ClientCertHeader != CertHeaderNone && !slices.Contains(CertHeaders, cfg.ClientCertHeader) {
		return nil, fmt.Errorf("server: unknown client certificate header format %q", cfg.ClientCertHeader)
	}
	if cfg.AdminPassword == cfg.BrokerPassword {
		return nil, errors.New("server: the admin password must differ from the broker password")
	}
	if cfg.Logins == nil || len(cfg.LoginKey) < 32 {
		return nil, errors.New("server: Logins and a 32-byte LoginKey are required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	url := strings.TrimSuffix(cfg.URL, "/")
	s := &Server{
		index:      cfg.Index,
		registry:   cfg.Registry,
		signer:     cfg.Signer,
		url:        url,
		scheme:     schemeOf(url),
		hostPort:   hostPortOf(url),
		broker:     [2][]byte{[]byte(cfg.BrokerUser), []byte(cfg.BrokerPassword)},
		admin:      [2][]byte{[]byte(cfg.AdminUser), []byte(cfg.AdminPassword)},
		certHeader: cfg.ClientCertHeader,
		publicHost: hostOf(cfg.URL),
		log:        cfg.Log,
		auditLog:   cfg.Audit,
		access:     cfg.Access,
		logins:     cfg.Logins,
		loginKey:   cfg.LoginKey,
		refresh:    refreshTokens{key: cfg.LoginKey},
	}
	if cfg.AuthFailureLimit < 0 || cfg.AuthFailureWindow < 0 {
		return nil, errors.New("server: AuthFailureLimit and AuthFailureWindow must not be negative")
	}
	s.failureLines = newFailureLines(cfg.Now)
	s.tokenThrottle = newFailureLimiter(cfg.AuthFailureLimit, cfg.AuthFailureWindow, cfg.AuthFailureKeys, cfg.Now)
	s.brokerThrottle = newFailureLimiter(cfg.AuthFailureLimit, cfg.AuthFailureWindow, cfg.AuthFailureKeys, cfg.Now)
	s.oauth = newOAuth2Provider(s)
	s.handler = limitHeaders(s.routes())
	if s.access != nil {
		s.handler = s.accessLog(s.handler)
	}
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// synced brings the index up to the database's current revision, so that
// what the request authenticates against reflects every change
// acknowledged before it started, on any replica (see clients/sync.go).
// When the database cannot be reached within the index's sync timeout
// (clients.DefaultSyncTimeout), it answers with unavailable and returns
// false.
func (s *Server) synced(w http.ResponseWriter, r *http.Request, unavailable func(http.ResponseWriter)) bool {
	if err := s.index.Sync(r.Context()); err != nil {
		s.log.Error("cannot confirm the clients with the database; refusing the request", "path", r.URL.Path, "error", err)
		unavailable(w)
		return false
	}
	return true
}

// brokerAuthorized checks the broker's Basic credentials in constant time.
func (s *Server) brokerAuthorized(r *http.Request) bool { return basicMatches(r, s.broker) }

// adminAuthorized checks the admin API's Basic credentials in constant time.
func (s *Server) adminAuthorized(r *http.Request) bool { return basicMatches(r, s.admin) }

// basicMatches compares a request's Basic credentials with want in
// constant time.
func basicMatches(r *http.Request, want [2][]byte) bool {
	u, p, ok := r.BasicAuth()
	if !ok {
		return false
	}
	uOK := subtle.ConstantTimeCompare([]byte(u), want[0])
	pOK := subtle.ConstantTimeCompare([]byte(p), want[1])
	return uOK&pOK == 1
}
