package server

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/gorilla/mux"

	"github.com/openxsuaa/xsuaa/clients"
	"github.com/openxsuaa/xsuaa/clients/registry"
)

// The clone API lets a reuse service, authenticated with the credentials
// of its broker-plan instance, create and delete the per-consumer OAuth
// clients XSUAA calls clones ("<id>!b<N>|<broker xsappname>"). XSUAA's own
// clone API is not publicly documented; this one is shaped after the calls
// SAP's service broker framework makes and is this server's choice:
//
//	PUT    /sap/rest/broker/clones/{clone_id}   body (optional):
//	       {"authorities": ["TASK_GET"], "credential-type": "binding-secret"|"x509",
//	        "x509": {"key-length": …, "validity": …, "validity-type": …},
//	        "context": {"instance_name": …, "organization_guid": …, "space_guid": …}}
//	DELETE /sap/rest/broker/clones/{clone_id}
//
// The reuse service authenticates with its binding's client id and secret
// (Basic), or with its binding's certificate (mutual TLS, or forwarded by a
// trusted proxy, as at the token endpoint) and ?client_id=<its client id>.
// Errors use the broker API's {"error","description"} shape.

// cloneHandler is a clone API handler; parent is the authenticated
// broker-plan credential.
type cloneHandler func(w http.ResponseWriter, r *http.Request, parent *clients.Credential)

// cloneAPI authenticates a clone API request (throttled per source
// address, see throttle.go) and runs h, audited as event.
func (s *Server) cloneAPI(event string, h cloneHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cred, ok := s.cloneAuth(w, r)
		if !ok {
			return
		}
		s.audited(event, func(w http.ResponseWriter, r *http.Request) { h(w, r, cred) },
			"parent_client_id", cred.Client.ID)(w, r)
	})
}

// cloneAuth authenticates the broker-plan client: by its Basic
// credentials, or by its client certificate and ?client_id=.
func (s *Server) cloneAuth(w http.ResponseWriter, r *http.Request) (*clients.Credential, bool) {
	// Valid credentials always pass; a failure from an address over the
	// limit is a 429, neither audited nor counted.
	key, wait := s.brokerThrottleState(r, "clone")
	unauthorized := func(reason, user string, err error) (*clients.Credential, bool) {
		if wait > 0 {
			writeBrokerThrottled(w, "clone", throttleSource(sourceAddr(r)), wait)
			return nil, false
		}
		s.brokerAuthFailed(r, key, "clone", reason, "client_id", s.logClientID(s.index.ProviderZone().ID, user))
		w.Header().Set("WWW-Authenticate", `Basic realm="UAA/client"`)
		msg := "the clone API needs the credentials of a broker-plan binding: its clientid and clientsecret as Basic credentials, or its certificate over mutual TLS with ?client_id=<clientid>"
		var ce *clients.CertError
		if errors.As(err, &ce) {
			msg = "the client certificate does not authenticate: " + ce.Reason
		}
		writeBrokerError(w, http.StatusUnauthorized, "Unauthorized", msg)
		return nil, false
	}
	zone := s.index.ProviderZone().ID
	user, pass, basic := r.BasicAuth()
	chain, certErr := s.clientCertificate(r)
	clientID := r.URL.Query().Get("client_id")
	if !basic && chain == nil {
		return unauthorized("no credentials", "", nil)
	}
	if !s.synced(w, r, func(w http.ResponseWriter) {
		w.Header().Set("Retry-After", "5")
		writeBrokerError(w, http.StatusServiceUnavailable, "ServiceUnavailable", "the database cannot be reached; try again")
	}) {
		return nil, false
	}
	if basic {
		cred, err := s.authenticateBasic(zone, user, pass, strings.EqualFold(r.Header.Get("X-CF-ENCODED-CREDENTIALS"), "true"))
		if err == nil {
			return cred, true
		}
		if u, err := url.QueryUnescape(user); err == nil {
			user = u
		}
		if _, known := s.index.Lookup(zone, user); !known {
			return unauthorized("unknown client", user, nil)
		}
		return unauthorized("wrong secret", user, nil)
	}
	switch {
	case certErr != nil:
		return unauthorized("forwarded certificate unreadable", clientID, nil)
	case clientID == "":
		return unauthorized("certificate without client_id", "", nil)
	}
	cred, err := s.index.AuthenticateCertificate(zone, clientID, chain)
	if err != nil {
		return unauthorized("certificate not accepted", clientID, err)
	}
	return cred, true
}

func (s *Server) handleCreateClone(w http.ResponseWriter, r *http.Request, cred *clients.Credential) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBrokerBody))
	if err != nil {
		writeBrokerError(w, http.StatusBadRequest, "BadRequest", "cannot read request body: "+err.Error())
		return
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		body = nil
	} else if !json.Valid(body) {
		writeBrokerError(w, http.StatusBadRequest, "BadRequest", "malformed JSON body")
		return
	}
	creds, created, err := s.registry.CreateClone(r.Context(), registry.CloneRequest{Parent: cred, CloneID: mux.Vars(r)["clone_id"], Parameters: body})
	if err != nil {
		s.writeOpError(w, r, err, false)
		return
	}
	auditNote(w, "client_id", creds.ClientID, "credential_type", creds.CredentialType, "created", created)
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, map[string]any{"credentials": creds})
}

func (s *Server) handleDeleteClone(w http.ResponseWriter, r *http.Request, cred *clients.Credential) {
	if err := s.registry.DeleteClone(r.Context(), cred, mux.Vars(r)["clone_id"]); err != nil {
		s.writeOpError(w, r, err, false)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{})
}
