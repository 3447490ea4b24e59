// Package server wires the HTTP surface of the XSUAA-compatible server:
// the OAuth2 token endpoint (on fosite), the JWKS and discovery documents,
// and the Open Service Broker API through which instances and bindings are
// managed. All routes are listed in routes.go.
package server
