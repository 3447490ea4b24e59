package server

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gorilla/mux"

	"github.com/openxsuaa/xsuaa/clients"
	"github.com/openxsuaa/xsuaa/clients/registry"
	"github.com/openxsuaa/xsuaa/clients/storage"
	"github.com/openxsuaa/xsuaa/scopes"
)

// Catalog identifiers. They are fixed so that platforms registered with one
// installation keep working across restarts and upgrades.
const (
	ServiceID         = "3a9c5a2e-6f0b-4c5e-9b7d-0e1f2a3b4c5d"
	PlanApplicationID = "7c1d2e3f-4a5b-4c6d-8e7f-901a2b3c4d5e"
	PlanBrokerID      = "8d2e3f4a-5b6c-4d7e-9f80-a12b3c4d5e6f"
	maxBrokerBody     = 2 << 20
)

// brokerVersion matches the X-Broker-API-Version values this broker accepts.
var brokerVersion = regexp.MustCompile(`^2\.[0-9]{1,4}$`)

var planNames = map[string]string{PlanApplicationID: scopes.PlanApplication, PlanBrokerID: scopes.PlanBroker}

// brokerError is the OSB error body.
type brokerError struct {
	Error       string `json:"error"`
	Description string `json:"description"`
}

func writeBrokerError(w http.ResponseWriter, status int, code, desc string) {
	if a, ok := w.(*auditWriter); ok {
		a.reason = desc
	}
	writeJSON(w, status, brokerError{Error: code, Description: desc})
}

// brokerMiddleware throttles failed authentications (429), enforces Basic
// authentication (401) and the X-Broker-API-Version header (412), and
// bounds request bodies.
func (s *Server) brokerMiddleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.brokerAuthenticated(w, r, "broker") {
			return
		}
		v := r.Header.Get("X-Broker-API-Version")
		if v == "" {
			writeBrokerError(w, http.StatusPreconditionFailed, "PreconditionFailed", "the X-Broker-API-Version header is required; this broker implements 2.17")
			return
		}
		if !brokerVersion.MatchString(v) {
			writeBrokerError(w, http.StatusPreconditionFailed, "PreconditionFailed", fmt.Sprintf("X-Broker-API-Version %q is not supported; this broker implements 2.x up to 2.17", v))
			return
		}
		vars := mux.Vars(r)
		for _, k := range []string{"instance_id", "binding_id"} {
			if id, ok := vars[k]; ok {
				if why := badText(id); why != "" {
					writeBrokerError(w, http.StatusBadRequest, "BadRequest", fmt.Sprintf("%s %q %s", k, id, why))
					return
				}
				if registry.ReservedID(id) {
					writeBrokerError(w, http.StatusBadRequest, "BadRequest", fmt.Sprintf("%s %q: ids starting with \"clone:\" are reserved for the clones of reuse services", k, id))
					return
				}
			}
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBrokerBody)
		next.ServeHTTP(w, r)
	})
}

// brokerAuthenticated checks the broker's Basic credentials for api
// ("broker" or "admin"): valid credentials always pass, whatever failed
// before from the same address; wrong ones get 401 (audited and counted)
// or, from an address over the failure limit, 429 (neither). It reports
// whether the request may go on.
func (s *Server) brokerAuthenticated(w http.ResponseWriter, r *http.Request, api string) bool {
	want := s.broker
	if api == "admin" {
		want = s.admin
	}
	if basicMatches(r, want) {
		return true
	}
	key, wait := s.brokerThrottleState(r, api)
	if wait > 0 {
		writeBrokerThrottled(w, api, throttleSource(sourceAddr(r)), wait)
		return false
	}
	// The user name is not logged: it may be a password typed into the
	// wrong field.
	reason := "no credentials"
	if user, _, ok := r.BasicAuth(); ok && subtle.ConstantTimeCompare([]byte(user), want[0]) == 1 {
		reason = "wrong password"
	} else if ok {
		reason = "unknown user"
	}
	s.brokerAuthFailed(r, key, api, reason)
	whose, realm := "the broker's", "xsuaa service broker"
	if api == "admin" {
		whose, realm = "the admin", "xsuaa admin"
	}
	w.Header().Set("WWW-Authenticate", `Basic realm="`+realm+`"`)
	writeBrokerError(w, http.StatusUnauthorized, "Unauthorized", "the "+api+" API needs "+whose+" Basic credentials")
	return false
}

// brokerThrottleState returns the request's throttle key at api
// ("broker", "admin" or "clone") and how long its source address stays
// over the failure limit (0: it is not).
func (s *Server) brokerThrottleState(r *http.Request, api string) (key uint64, wait time.Duration) {
	if s.brokerThrottle == nil {
		return 0, 0
	}
	key = s.brokerThrottle.key(api, throttleSource(sourceAddr(r)))
	return key, s.brokerThrottle.check(key)
}

// brokerAuthFailed counts and audits a failed authentication at the broker
// or clone API, and audits the block when it reached the limit.
func (s *Server) brokerAuthFailed(r *http.Request, key uint64, api, reason string, attrs ...any) {
	s.audit(r, EventBrokerAuthFailed, append([]any{"api", api}, append(attrs,
		"outcome", outcomeFailure, "status", http.StatusUnauthorized, "reason", reason)...)...)
	if blocked, wait := s.brokerThrottle.fail(key); blocked {
		src := throttleSource(sourceAddr(r))
		n := retryAfterSeconds(wait)
		s.log.Debug("broker authentication throttled", "api", api, "source", src, "retry_after", n)
		s.audit(r, EventBrokerAuthThrottled, "api", api, "throttled_source", src,
			"outcome", outcomeBlocked, "limit", s.brokerThrottle.limit, "retry_after", n)
	}
}

func brokerNotFound(w http.ResponseWriter, r *http.Request) {
	writeBrokerError(w, http.StatusNotFound, "NotFound", "no such endpoint: "+r.Method+" "+r.URL.Path)
}

func brokerMethodNotAllowed(w http.ResponseWriter, r *http.Request) {
	writeBrokerError(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "method "+r.Method+" is not allowed on "+r.URL.Path)
}

func (s *Server) handleCatalog(w http.ResponseWriter, r *http.Request) {
	// Fields a later OSB version added are left out for a platform that
	// speaks an earlier one, whose schema may not allow them.
	v := brokerMinor(r)
	plan := func(id, name, desc string) map[string]any {
		p := map[string]any{"id": id, "name": name, "description": desc, "free": true, "bindable": true}
		if v >= 15 {
			p["plan_updateable"] = false
		}
		if v >= 17 {
			// A bind request may name a predecessor_binding_id.
			p["binding_rotatable"] = true
		}
		return p
	}
	service := map[string]any{
		"id":              ServiceID,
		"name":            "xsuaa",
		"description":     "XSUAA-compatible authorization and trust management: OAuth2 clients from xs-security.json",
		"bindable":        true,
		"plan_updateable": false,
		"tags":            []string{"xsuaa"},
		"metadata":        map[string]any{"displayName": "Authorization & Trust Management (XSUAA-compatible)"},
		"plans": []any{
			plan(PlanApplicationID, scopes.PlanApplication, "OAuth2 client of an application (runtime name <xsappname>!t<N>)"),
			plan(PlanBrokerID, scopes.PlanBroker, "OAuth2 client of a reuse service's broker (runtime name <xsappname>!b<N>)"),
		},
	}
	if v >= 14 {
		service["instances_retrievable"], service["bindings_retrievable"] = true, true
	}
	writeJSON(w, http.StatusOK, map[string]any{"services": []any{service}})
}

// bindWriteTimeout is how long a bind response may take to be written.
const bindWriteTimeout = 5 * time.Minute

// brokerMinor is the minor version of the request's X-Broker-API-Version
// (brokerMiddleware admitted only 2.x).
func brokerMinor(r *http.Request) int {
	_, minor, _ := strings.Cut(r.Header.Get("X-Broker-API-Version"), ".")
	n, _ := strconv.Atoi(minor)
	return n
}

// decodeBody decodes a JSON request body into v; an empty body is {}.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeBrokerError(w, http.StatusRequestEntityTooLarge, "BadRequest", fmt.Sprintf("request body is larger than %d bytes", maxBrokerBody))
			return false
		}
		writeBrokerError(w, http.StatusBadRequest, "BadRequest", "cannot read request body: "+err.Error())
		return false
	}
	if len(bytes.TrimSpace(b)) == 0 {
		b = []byte("{}")
	}
	// The nesting is bounded before anything is decoded.
	if err := scopes.CheckJSONShape(b, scopes.MaxJSONDepth, 2*scopes.MaxJSONValues); err != nil {
		writeBrokerError(w, http.StatusBadRequest, "BadRequest", "malformed JSON body: "+err.Error())
		return false
	}
	// encoding/json would silently replace invalid UTF-8 with U+FFFD.
	if !utf8.Valid(b) {
		writeBrokerError(w, http.StatusBadRequest, "BadRequest", fmt.Sprintf("malformed JSON body: not valid UTF-8 (at byte %d)", invalidUTF8At(b)))
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		writeBrokerError(w, http.StatusBadRequest, "BadRequest", "malformed JSON body: "+jsonErrorText(err))
		return false
	}
	if dec.More() {
		writeBrokerError(w, http.StatusBadRequest, "BadRequest", "malformed JSON body: unexpected data after the JSON object")
		return false
	}
	return true
}

// invalidUTF8At returns the offset of the first byte of b that is not
// part of valid UTF-8.
func invalidUTF8At(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return len(b)
}

func jsonErrorText(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field != "" {
			return fmt.Sprintf("field %q must be %s, not %s", te.Field, jsonKind(te.Type.Kind().String()), te.Value)
		}
		return "the body must be a JSON object, not " + te.Value
	}
	return err.Error()
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "map", "struct":
		return "an object"
	case "slice":
		return "an array"
	}
	return k
}

// missing returns the names of the required fields that are empty.
func missing(fields ...[2]string) string {
	var out []string
	for _, f := range fields {
		if f[1] == "" {
			out = append(out, f[0])
		}
	}
	return strings.Join(out, ", ")
}

// writeOpError maps a registry error to an OSB response.
func (s *Server) writeOpError(w http.ResponseWriter, r *http.Request, err error, goneOnNotFound bool) {
	var op *registry.OpError
	if !errors.As(err, &op) {
		if errors.Is(err, storage.ErrUnavailable) || errors.Is(err, clients.ErrUnavailable) {
			s.log.Error("broker request failed: the database cannot be reached", "method", r.Method, "path", r.URL.Path, "error", err)
			w.Header().Set("Retry-After", "5")
			writeBrokerError(w, http.StatusServiceUnavailable, "ServiceUnavailable", "the database cannot be reached; try again")
			return
		}
		s.log.Error("broker request failed", "method", r.Method, "path", r.URL.Path, "error", err)
		writeBrokerError(w, http.StatusInternalServerError, "InternalError", "internal error; see the server log")
		return
	}
	switch {
	case errors.Is(op, registry.ErrNotFound) && goneOnNotFound:
		writeJSON(w, http.StatusGone, map[string]string{})
	case errors.Is(op, registry.ErrNotFound):
		writeBrokerError(w, http.StatusNotFound, "NotFound", op.Msg)
	case errors.Is(op, registry.ErrConflict):
		writeBrokerError(w, http.StatusConflict, "Conflict", op.Msg)
	case errors.Is(op, registry.ErrLimit):
		writeBrokerError(w, http.StatusUnprocessableEntity, "LimitReached", op.Msg)
	case errors.Is(op, registry.ErrCallback):
		// The application behind a subscription answered wrongly: the
		// operator sees what it said; nothing was written.
		writeBrokerError(w, http.StatusBadGateway, "CallbackFailed", op.Msg)
	default:
		writeBrokerError(w, http.StatusBadRequest, "BadRequest", op.Msg)
	}
}

type provisionRequest struct {
	ServiceID        string          `json:"service_id"`
	PlanID           string          `json:"plan_id"`
	OrganizationGUID string          `json:"organization_guid"`
	SpaceGUID        string          `json:"space_guid"`
	Context          json.RawMessage `json:"context"`
	Parameters       json.RawMessage `json:"parameters"`
}

// contextInfo is what the broker reads of the OSB context object.
type contextInfo struct {
	InstanceName string `json:"instance_name"`
	// BindingName ("binding_name", as SAP's Service Manager sends it, or
	// "name") names a binding or service key; the CLI lists keys by it.
	BindingName      string `json:"binding_name"`
	Name             string `json:"name"`
	OrganizationGUID string `json:"organization_guid"`
	SpaceGUID        string `json:"space_guid"`
	// ZoneID ("zone_id") or Subdomain ("subdomain") names the identity
	// zone (subaccount) a new instance lives in; neither: the provider
	// zone. SAP's Service Manager sends both for a subaccount.
	ZoneID    string `json:"zone_id"`
	Subdomain string `json:"subdomain"`
}

func (s *Server) checkService(w http.ResponseWriter, serviceID, planID string, planRequired bool) (plan string, ok bool) {
	if serviceID != ServiceID {
		writeBrokerError(w, http.StatusBadRequest, "BadRequest", fmt.Sprintf("service_id %q is not this broker's service (%s)", serviceID, ServiceID))
		return "", false
	}
	if planID == "" && !planRequired {
		return "", true
	}
	plan, ok = planNames[planID]
	if !ok {
		writeBrokerError(w, http.StatusBadRequest, "BadRequest", fmt.Sprintf("plan_id %q is not a plan of this broker (application: %s, broker: %s)", planID, PlanApplicationID, PlanBrokerID))
	}
	return plan, ok
}

func (s *Server) handleProvision(w http.ResponseWriter, r *http.Request) {
	var req provisionRequest
	if !decodeBody(w, r, &req) {
		return
	}
	if m := missing([2]string{"service_id", req.ServiceID}, [2]string{"plan_id", req.PlanID},
		[2]string{"organization_guid", req.OrganizationGUID}, [2]string{"space_guid", req.SpaceGUID}); m != "" {
		writeBrokerError(w, http.StatusBadRequest, "BadRequest", "missing required fields: "+m)
		return
	}
	plan, ok := s.checkService(w, req.ServiceID, req.PlanID, true)
	if !ok {
		return
	}
	var ci contextInfo
	if len(req.Context) > 0 && json.Unmarshal(req.Context, &ci) != nil {
		writeBrokerError(w, http.StatusBadRequest, "BadRequest", "context must be a JSON object")
		return
	}
	id := mux.Vars(r)["instance_id"]
	auditNote(w, "plan", plan)
	in, created, err := s.registry.CreateInstance(r.Context(), registry.InstanceRequest{
		ID: id, ZoneID: ci.ZoneID, ZoneSubdomain: ci.Subdomain, Name: ci.InstanceName, ServiceID: req.ServiceID, PlanID: req.PlanID, Plan: plan,
		OrgGUID: req.OrganizationGUID, SpaceGUID: req.SpaceGUID, Parameters: req.Parameters, Context: req.Context,
	})
	if err != nil {
		s.writeOpError(w, r, err, false)
		return
	}
	auditNote(w, "client_id", "sb-"+in.RuntimeName, "created", created)
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, map[string]string{})
}

type updateRequest struct {
	ServiceID  string          `json:"service_id"`
	PlanID     string          `json:"plan_id"`
	Context    json.RawMessage `json:"context"`
	Parameters json.RawMessage `json:"parameters"`
}

func (s *Server) handleUpdate(w http.ResponseWriter, r *http.Request) {
	var req updateRequest
	if !decodeBody(w, r, &req) {
		return
	}
	if req.ServiceID == "" {
		writeBrokerError(w, http.StatusBadRequest, "BadRequest", "missing required fields: service_id")
		return
	}
	if _, ok := s.checkService(w, req.ServiceID, req.PlanID, false); !ok {
		return
	}
	in, err := s.registry.UpdateInstance(r.Context(), registry.InstanceRequest{
		ID: mux.Vars(r)["instance_id"], ServiceID: req.ServiceID, PlanID: req.PlanID, Parameters: req.Parameters, Context: req.Context,
	})
	if err != nil {
		s.writeOpError(w, r, err, false)
		return
	}
	auditNote(w, "client_id", "sb-"+in.RuntimeName)
	writeJSON(w, http.StatusOK, map[string]string{})
}

// queryIDs checks the service_id and plan_id query parameters of DELETE
// and last_operation requests.
func (s *Server) queryIDs(w http.ResponseWriter, r *http.Request, required bool) bool {
	q := r.URL.Query()
	sid, pid := q.Get("service_id"), q.Get("plan_id")
	if required {
		if m := missing([2]string{"service_id", sid}, [2]string{"plan_id", pid}); m != "" {
			writeBrokerError(w, http.StatusBadRequest, "BadRequest", "missing required query parameters: "+m)
			return false
		}
	}
	if sid == "" && pid == "" {
		return true
	}
	if sid == "" {
		sid = ServiceID
	}
	_, ok := s.checkService(w, sid, pid, false)
	return ok
}

func (s *Server) handleDeprovision(w http.ResponseWriter, r *http.Request) {
	if !s.queryIDs(w, r, true) {
		return
	}
	if s.auditLog != nil {
		if in, err := s.registry.GetInstance(r.Context(), mux.Vars(r)["instance_id"]); err == nil {
			auditNote(w, "client_id", "sb-"+in.RuntimeName)
		}
	}
	if err := s.registry.DeleteInstance(r.Context(), mux.Vars(r)["instance_id"]); err != nil {
		s.writeOpError(w, r, err, true)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{})
}

func (s *Server) handleGetInstance(w http.ResponseWriter, r *http.Request) {
	if !s.queryIDs(w, r, false) {
		return
	}
	in, err := s.registry.GetInstance(r.Context(), mux.Vars(r)["instance_id"])
	if err != nil {
		s.writeOpError(w, r, err, false)
		return
	}
	var app scopes.App
	json.Unmarshal(in.App, &app)
	resp := map[string]any{"service_id": in.ServiceID, "plan_id": in.PlanID, "parameters": in.Parameters}
	if brokerMinor(r) >= 16 { // instance metadata came with OSB 2.16
		resp["metadata"] = map[string]any{"labels": map[string]string{"xsappname": app.RuntimeName, "clientid": app.ClientID(), "name": in.Name}}
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) handleInstanceLastOperation(w http.ResponseWriter, r *http.Request) {
	if !s.queryIDs(w, r, false) {
		return
	}
	if _, err := s.registry.GetInstance(r.Context(), mux.Vars(r)["instance_id"]); err != nil {
		// Operations are synchronous, so a platform polls only after a
		// delete, which has completed: 410 tells it to forget the instance.
		s.writeOpError(w, r, err, true)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"state": "succeeded"})
}

type bindRequest struct {
	ServiceID    string `json:"service_id"`
	PlanID       string `json:"plan_id"`
	AppGUID      string `json:"app_guid"`
	BindResource *struct {
		AppGUID string `json:"app_guid"`
	} `json:"bind_resource"`
	Context    json.RawMessage `json:"context"`
	Parameters json.RawMessage `json:"parameters"`
	// PredecessorBindingID makes the request a binding rotation (OSB 2.17).
	PredecessorBindingID string `json:"predecessor_binding_id"`
}

// bindResponse is the body of a bind or fetch binding response.
type bindResponse struct {
	Credentials registry.Credentials      `json:"credentials"`
	Metadata    *registry.BindingMetadata `json:"metadata,omitempty"`
}

func (s *Server) handleBind(w http.ResponseWriter, r *http.Request) {
	// A certificate's RSA key (up to 8192 bits) may take longer to make
	// than the server's write timeout allows a response: this one may
	// take up to bindWriteTimeout, so that the platform gets its answer.
	http.NewResponseController(w).SetWriteDeadline(time.Now().Add(bindWriteTimeout))
	var req bindRequest
	if !decodeBody(w, r, &req) {
		return
	}
	// A rotation request needs only predecessor_binding_id; service_id and
	// plan_id, if sent, must still be this broker's.
	rotation := req.PredecessorBindingID != ""
	if m := missing([2]string{"service_id", req.ServiceID}, [2]string{"plan_id", req.PlanID}); m != "" && !rotation {
		writeBrokerError(w, http.StatusBadRequest, "BadRequest", "missing required fields: "+m)
		return
	}
	if !rotation || req.ServiceID != "" || req.PlanID != "" {
		sid := req.ServiceID
		if sid == "" {
			sid = ServiceID
		}
		if _, ok := s.checkService(w, sid, req.PlanID, !rotation); !ok {
			return
		}
	}
	app := req.AppGUID
	if req.BindResource != nil && req.BindResource.AppGUID != "" {
		app = req.BindResource.AppGUID
	}
	var ci contextInfo
	if len(req.Context) > 0 && json.Unmarshal(req.Context, &ci) != nil {
		writeBrokerError(w, http.StatusBadRequest, "BadRequest", "context must be a JSON object")
		return
	}
	name := ci.BindingName
	if name == "" {
		name = ci.Name
	}
	vars := mux.Vars(r)
	creds, created, err := s.registry.Bind(r.Context(), registry.BindRequest{
		InstanceID: vars["instance_id"], BindingID: vars["binding_id"], AppGUID: app, Parameters: req.Parameters,
		Name: name, Context: req.Context, PredecessorID: req.PredecessorBindingID,
	})
	if err != nil {
		s.writeOpError(w, r, err, false)
		return
	}
	auditNote(w, "client_id", creds.ClientID, "credential_type", creds.CredentialType, "created", created)
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, bindResponse{Credentials: creds, Metadata: creds.Metadata})
}

func (s *Server) handleUnbind(w http.ResponseWriter, r *http.Request) {
	if !s.queryIDs(w, r, true) {
		return
	}
	vars := mux.Vars(r)
	if s.auditLog != nil {
		// For the audit line only: what the binding was.
		if creds, err := s.registry.GetBinding(r.Context(), vars["instance_id"], vars["binding_id"]); err == nil {
			auditNote(w, "client_id", creds.ClientID, "credential_type", creds.CredentialType)
		}
	}
	if err := s.registry.Unbind(r.Context(), vars["instance_id"], vars["binding_id"]); err != nil {
		s.writeOpError(w, r, err, true)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{})
}

func (s *Server) handleGetBinding(w http.ResponseWriter, r *http.Request) {
	if !s.queryIDs(w, r, false) {
		return
	}
	vars := mux.Vars(r)
	creds, err := s.registry.GetBinding(r.Context(), vars["instance_id"], vars["binding_id"])
	if err != nil {
		s.writeOpError(w, r, err, false)
		return
	}
	writeJSON(w, http.StatusOK, bindResponse{Credentials: creds, Metadata: creds.Metadata})
}

func (s *Server) handleBindingLastOperation(w http.ResponseWriter, r *http.Request) {
	if !s.queryIDs(w, r, false) {
		return
	}
	vars := mux.Vars(r)
	if _, err := s.registry.GetBinding(r.Context(), vars["instance_id"], vars["binding_id"]); err != nil {
		s.writeOpError(w, r, err, true)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"state": "succeeded"})
}
