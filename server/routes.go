package server

import (
	"net/http"
	"strings"

	"github.com/gorilla/mux"
)

// routes lists the whole API surface.
func (s *Server) routes() http.Handler {
	r := mux.NewRouter()
	// Unmatched requests under /v2 get broker-style errors (after the
	// broker's authentication), all others OAuth-style ones.
	r.NotFoundHandler = s.byArea(notFound, brokerNotFound)
	r.MethodNotAllowedHandler = s.byArea(methodNotAllowed, brokerMethodNotAllowed)

	// OAuth2 and key discovery.
	r.HandleFunc("/oauth/token", s.handleToken)
	r.HandleFunc("/token_keys", s.handleTokenKeys).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/token_key", s.handleTokenKey).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/.well-known/openid-configuration", s.handleDiscovery).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/oauth/token/.well-known/openid-configuration", s.handleDiscovery).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/.well-known/oauth-authorization-server", s.handleOAuthMetadata).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/.well-known/oauth-authorization-server/oauth/token", s.handleOAuthMetadata).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/healthz", s.handleHealth).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/userinfo", s.handleUserinfo).Methods(http.MethodGet, http.MethodPost)

	// User login (authorize.go, login.go).
	r.HandleFunc("/oauth/authorize", s.handleAuthorize).Methods(http.MethodGet)
	r.HandleFunc("/login", s.handleLoginPage).Methods(http.MethodGet)
	r.HandleFunc("/login.do", s.handleLoginDo).Methods(http.MethodPost)
	r.HandleFunc("/logout.do", s.handleLogout).Methods(http.MethodGet, http.MethodPost)

	// Clones of broker-plan instances, for reuse services (clones.go).
	r.Handle("/sap/rest/broker/clones/{clone_id}", s.cloneAPI(EventCloneCreated, s.handleCreateClone)).Methods(http.MethodPut)
	r.Handle("/sap/rest/broker/clones/{clone_id}", s.cloneAPI(EventCloneDeleted, s.handleDeleteClone)).Methods(http.MethodDelete)

	// Admin API for the CLI (admin.go), behind the broker's credentials.
	admin := func(path string, h http.HandlerFunc, method string) {
		r.Handle("/admin"+path, s.adminMiddleware(h)).Methods(method)
	}
	admin("/instances", s.handleListInstances, http.MethodGet)
	admin("/instances/{instance_id}", s.handleDescribeInstance, http.MethodGet)
	admin("/keys", s.handleListKeys, http.MethodGet)
	admin("/keys/rotate", s.handleRotateKey, http.MethodPost)
	admin("/zones", s.handleListZones, http.MethodGet)
	admin("/zones", s.handleCreateZone, http.MethodPost)
	admin("/zones/{subdomain}", s.handleDeleteZone, http.MethodDelete)
	admin("/subscriptions", s.handleListSubscriptions, http.MethodGet)
	admin("/subscriptions", s.handleSubscribe, http.MethodPost)
	admin("/subscriptions", s.handleUnsubscribe, http.MethodDelete)
	admin("/users", s.handleListUsers, http.MethodGet)
	admin("/users", s.handleCreateUser, http.MethodPost)
	admin("/users/{name}", s.handleDeleteUser, http.MethodDelete)
	admin("/users/{name}/password", s.handleSetPassword, http.MethodPut)
	admin("/role-collections", s.handleListRoleCollections, http.MethodGet)
	admin("/role-collections", s.handleCreateRoleCollection, http.MethodPost)
	admin("/role-collections/{name}", s.handleDeleteRoleCollection, http.MethodDelete)
	admin("/role-collections/{name}/users/{user}", s.handleAssignRoleCollection, http.MethodPut)
	admin("/role-collections/{name}/users/{user}", s.handleAssignRoleCollection, http.MethodDelete)

	// Open Service Broker API v2.17.
	broker := func(path string, h http.HandlerFunc, method string) {
		r.Handle("/v2"+path, s.brokerMiddleware(h)).Methods(method)
	}
	broker("/catalog", s.handleCatalog, http.MethodGet)
	// Changes are audited (audit.go); reads are not.
	broker("/service_instances/{instance_id}", s.audited(EventInstanceCreated, s.handleProvision), http.MethodPut)
	broker("/service_instances/{instance_id}", s.audited(EventInstanceUpdated, s.handleUpdate), http.MethodPatch)
	broker("/service_instances/{instance_id}", s.audited(EventInstanceDeleted, s.handleDeprovision), http.MethodDelete)
	broker("/service_instances/{instance_id}", s.handleGetInstance, http.MethodGet)
	broker("/service_instances/{instance_id}/last_operation", s.handleInstanceLastOperation, http.MethodGet)
	broker("/service_instances/{instance_id}/service_bindings/{binding_id}", s.audited(EventBindingCreated, s.handleBind), http.MethodPut)
	broker("/service_instances/{instance_id}/service_bindings/{binding_id}", s.audited(EventBindingDeleted, s.handleUnbind), http.MethodDelete)
	broker("/service_instances/{instance_id}/service_bindings/{binding_id}", s.handleGetBinding, http.MethodGet)
	broker("/service_instances/{instance_id}/service_bindings/{binding_id}/last_operation", s.handleBindingLastOperation, http.MethodGet)
	return recoverPanics(s, noStoreByDefault(r))
}

// noStoreByDefault marks every response no-store before its handler runs:
// tokens, secrets, keys of bindings and personal data must not be kept by
// a cache. The public key set and the discovery documents set their own,
// cacheable, Cache-Control.
func noStoreByDefault(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// byArea picks the OAuth or the broker variant of a fallback handler.
func (s *Server) byArea(oauth, broker http.HandlerFunc) http.Handler {
	b, a := s.brokerMiddleware(broker), s.adminMiddleware(broker)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasPrefix(r.URL.Path, "/v2/"):
			b.ServeHTTP(w, r)
			return
		case strings.HasPrefix(r.URL.Path, "/admin/"):
			a.ServeHTTP(w, r)
			return
		}
		oauth(w, r)
	})
}
