package server

import (
	"net/http"

	"github.com/gorilla/mux"
)

// routes lists the whole API surface.
func (s *Server) routes() http.Handler {
	r := mux.NewRouter()
	r.NotFoundHandler = http.HandlerFunc(notFound)
	r.MethodNotAllowedHandler = http.HandlerFunc(methodNotAllowed)

	// OAuth2 and key discovery.
	r.HandleFunc("/oauth/token", s.handleToken)
	r.HandleFunc("/token_keys", s.handleTokenKeys).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/token_key", s.handleTokenKey).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/.well-known/openid-configuration", s.handleDiscovery).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/oauth/token/.well-known/openid-configuration", s.handleDiscovery).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/healthz", handleHealth).Methods(http.MethodGet, http.MethodHead)

	// Open Service Broker API v2.17.
	b := r.PathPrefix("/v2").Subrouter()
	b.Use(s.brokerMiddleware)
	b.NotFoundHandler = s.brokerMiddleware(http.HandlerFunc(brokerNotFound))
	b.MethodNotAllowedHandler = s.brokerMiddleware(http.HandlerFunc(brokerMethodNotAllowed))
	b.HandleFunc("/catalog", s.handleCatalog).Methods(http.MethodGet)
	b.HandleFunc("/service_instances/{instance_id}", s.handleProvision).Methods(http.MethodPut)
	b.HandleFunc("/service_instances/{instance_id}", s.handleUpdate).Methods(http.MethodPatch)
	b.HandleFunc("/service_instances/{instance_id}", s.handleDeprovision).Methods(http.MethodDelete)
	b.HandleFunc("/service_instances/{instance_id}", s.handleGetInstance).Methods(http.MethodGet)
	b.HandleFunc("/service_instances/{instance_id}/last_operation", s.handleInstanceLastOperation).Methods(http.MethodGet)
	b.HandleFunc("/service_instances/{instance_id}/service_bindings/{binding_id}", s.handleBind).Methods(http.MethodPut)
	b.HandleFunc("/service_instances/{instance_id}/service_bindings/{binding_id}", s.handleUnbind).Methods(http.MethodDelete)
	b.HandleFunc("/service_instances/{instance_id}/service_bindings/{binding_id}", s.handleGetBinding).Methods(http.MethodGet)
	b.HandleFunc("/service_instances/{instance_id}/service_bindings/{binding_id}/last_operation", s.handleBindingLastOperation).Methods(http.MethodGet)
	return recoverPanics(s, r)
}
