package server

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/gorilla/mux"
)

// The audit log is one JSON object per line (Config.Audit, a log/slog
// logger; xsuaa serve --audit-log) for every change made through the
// broker and clone APIs and every failed or throttled authentication.
// Each line has "time", "level", "msg":"audit" and:
//
//   - "event": one of the Event* names below;
//   - "source": the client's address (see sourceAddr);
//   - "origin_platform" and "origin_user": the platform and the user id
//     from X-Broker-API-Originating-Identity when the request carries it
//     (as the platform asserts them; "origin_error" says why a malformed
//     header could not be read);
//   - "outcome": "success" or "failure", with "status" (the HTTP status)
//     and, for failures, "reason"; "blocked" for the *.throttled events;
//   - the ids involved: "instance_id", "binding_id", "clone_id",
//     "client_id", and "credential_type" where known.
//
// Secrets, private keys and Authorization headers are never written.

// Audit event names.
const (
	EventInstanceCreated = "instance.created"
	EventInstanceUpdated = "instance.updated"
	EventInstanceDeleted = "instance.deleted"
	EventBindingCreated  = "binding.created"
	EventBindingDeleted  = "binding.deleted"
	EventCloneCreated    = "clone.created"
	EventCloneDeleted    = "clone.deleted"
	// EventAuthFailed is a failed client authentication at the token endpoint.
	EventAuthFailed = "auth.failed"
	// EventAuthThrottled is written when a (client id, source) pair of the
	// token endpoint reaches the failure limit and is blocked.
	EventAuthThrottled = "auth.throttled"
	// EventBrokerAuthFailed is a failed Basic authentication at the broker
	// API ("api":"broker") or the clone API ("api":"clone").
	EventBrokerAuthFailed = "broker.auth.failed"
	// EventBrokerAuthThrottled is written when a source address of the
	// broker or clone API reaches the failure limit and is blocked.
	EventBrokerAuthThrottled = "broker.auth.throttled"
	// EventKeyRotated is a new signing key created through the admin API.
	EventKeyRotated = "key.rotated"
	// User and role collection administration through the admin API:
	// who, never a password.
	EventUserCreated           = "user.created"
	EventUserDeleted           = "user.deleted"
	EventUserPasswordSet       = "user.password.set"
	EventRoleCollectionCreated = "rolecollection.created"
	EventRoleCollectionDeleted = "rolecollection.deleted"
	EventRoleCollectionAssign  = "rolecollection.assigned"
	EventRoleCollectionRemoved = "rolecollection.unassigned"
	// EventUserLoginFailed is a refused user password (wrong, unknown
	// user, locked) at the token endpoint or the login page.
	EventUserLoginFailed = "user.login.failed"
	// EventUserLogin and EventUserLogout start and end a login session
	// at the login page.
	EventUserLogin  = "user.login"
	EventUserLogout = "user.logout"
	// EventZoneCreated and EventZoneDeleted: zones through the admin API.
	EventZoneCreated = "zone.created"
	EventZoneDeleted = "zone.deleted"
	// EventSubscriptionCreated and EventSubscriptionDeleted: a zone's
	// subscription to a shared instance began or ended (or failed to).
	EventSubscriptionCreated = "subscription.created"
	EventSubscriptionDeleted = "subscription.deleted"
	// EventFailuresSuppressed counts the failure lines of a source that
	// were left out in its last minute (failureLines).
	EventFailuresSuppressed = "auth.failed.suppressed"
)

// Outcomes of audited operations.
const (
	outcomeSuccess = "success"
	outcomeFailure = "failure"
	// outcomeBlocked marks the auth.throttled events: the pair (or
	// address) is blocked until "retry_after" seconds have passed.
	outcomeBlocked = "blocked"
)

// headerOriginatingIdentity is OSB's X-Broker-API-Originating-Identity:
// "<platform> <base64 of a JSON object>".
const headerOriginatingIdentity = "X-Broker-API-Originating-Identity"

// maxAuditString bounds client-chosen strings (client ids, user names) in
// log lines.
const maxAuditString = 256

// maxOriginatingIdentity bounds the header value that is decoded.
const maxOriginatingIdentity = 8 << 10

// audit writes one audit event: event, the request's source address and
// originating identity (r may be nil for events without a request), then
// attrs, as slog key-value pairs or slog.Attr values. Callers must not
// pass secrets or private keys.
func (s *Server) audit(r *http.Request, event string, attrs ...any) {
	if s.auditLog == nil {
		return
	}
	ctx := context.Background()
	if r != nil && (unauthenticatedEvent(event) || event == EventUserLoginFailed) {
		src := throttleSource(sourceAddr(r))
		ok, before := s.failureLines.allow(src)
		if before > 0 {
			s.auditLog.Log(r.Context(), slog.LevelInfo, "audit", "event", EventFailuresSuppressed, "source", src,
				"suppressed", before, "outcome", outcomeFailure)
		}
		if !ok {
			return
		}
	}
	all := make([]any, 0, 8+len(attrs))
	all = append(all, "event", event)
	if r != nil {
		ctx = r.Context()
		all = append(all, "source", sourceAddr(r))
		// The originating identity is the platform's word, worth
		// recording only once the platform authenticated: on a failed or
		// throttled authentication anyone could have sent it.
		if h := r.Header.Get(headerOriginatingIdentity); h != "" && !unauthenticatedEvent(event) {
			oi := parseOriginatingIdentity(h)
			all = append(all, "origin_platform", oi.Platform)
			if oi.User != "" {
				all = append(all, "origin_user", oi.User)
			}
			if oi.Err != "" {
				all = append(all, "origin_error", oi.Err)
			}
		}
	}
	s.auditLog.Log(ctx, slog.LevelInfo, "audit", append(all, attrs...)...)
}

// unauthenticatedEvent reports whether an event is about a request whose
// credentials were not accepted.
func unauthenticatedEvent(event string) bool {
	switch event {
	case EventAuthFailed, EventAuthThrottled, EventBrokerAuthFailed, EventBrokerAuthThrottled:
		return true
	}
	return false
}

// originatingIdentity is what the audit log reads of an
// X-Broker-API-Originating-Identity header.
type originatingIdentity struct {
	Platform string // e.g. "cloudfoundry", "kubernetes"
	User     string // the object's "user_id" (Cloud Foundry) or "username" (Kubernetes)
	Err      string // why the header could not be read, if it could not
}

// parseOriginatingIdentity reads "<platform> <base64 JSON object>" (OSB
// 2.13+). It never fails: a malformed value yields what could be read and
// an Err. Strings are clipped to maxAuditString and made valid UTF-8.
func parseOriginatingIdentity(h string) originatingIdentity {
	var oi originatingIdentity
	h = strings.TrimSpace(h)
	if len(h) > maxOriginatingIdentity {
		oi.Platform = clip(firstField(h))
		oi.Err = "header too long"
		return oi
	}
	platform, value, _ := strings.Cut(h, " ")
	oi.Platform = clip(platform)
	value = strings.TrimSpace(value)
	if value == "" {
		oi.Err = "no identity after the platform"
		return oi
	}
	var raw []byte
	var err error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if raw, err = enc.DecodeString(value); err == nil {
			break
		}
	}
	if err != nil {
		oi.Err = "identity is not base64"
		return oi
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) != nil {
		oi.Err = "identity is not a JSON object"
		return oi
	}
	for _, k := range []string{"user_id", "username"} {
		var u string
		if v, ok := obj[k]; ok && json.Unmarshal(v, &u) == nil && u != "" {
			oi.User = clip(u)
			return oi
		}
	}
	oi.Err = "identity has no user_id or username"
	return oi
}

func firstField(s string) string {
	if i := strings.IndexAny(s, " \t"); i >= 0 {
		return s[:i]
	}
	return s
}

// clip shortens a client-chosen string for logs and messages to
// maxAuditString bytes (marking the cut with "…") and replaces invalid
// UTF-8.
func clip(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if len(s) > maxAuditString {
		cut := maxAuditString
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

// logClientID is how the audit and server logs name the client id a
// request sent: as it is when it names a client of the zone, else by a
// short fingerprint. A secret sent in the wrong field (as client_id, with
// quotes, with a leading space, as "id secret") is never a client id, so
// it never reaches a log, whatever its shape.
func (s *Server) logClientID(zone, id string) string {
	if id == "" {
		return ""
	}
	if _, ok := s.index.Lookup(zone, id); ok {
		return id
	}
	return fingerprint(id)
}

// auditWriter records what an audited handler answered.
type auditWriter struct {
	statusWriter
	reason string // the error description, for failures
	attrs  []any  // added by the handler through auditNote
}

// auditNote adds attributes to the audit event of the request being
// answered through w; without an audited handler it does nothing.
func auditNote(w http.ResponseWriter, attrs ...any) {
	if a, ok := w.(*auditWriter); ok {
		a.attrs = append(a.attrs, attrs...)
	}
}

// audited wraps a handler that changes state: once it has answered, one
// event records the route's ids, the outcome, the status, the reason of a
// failure and what the handler added with auditNote.
func (s *Server) audited(event string, next http.HandlerFunc, attrs ...any) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.auditLog == nil {
			next(w, r)
			return
		}
		aw := &auditWriter{statusWriter: statusWriter{ResponseWriter: w}}
		next(aw, r)
		out := make([]any, 0, 16)
		vars := mux.Vars(r)
		for _, k := range []string{"instance_id", "binding_id", "clone_id"} {
			if v, ok := vars[k]; ok {
				out = append(out, k, clip(v))
			}
		}
		out = append(out, attrs...)
		out = append(out, aw.attrs...)
		if aw.status == 0 {
			aw.status = http.StatusOK
		}
		if aw.status < 400 {
			out = append(out, "outcome", outcomeSuccess, "status", aw.status)
		} else {
			out = append(out, "outcome", outcomeFailure, "status", aw.status)
			if aw.reason != "" {
				out = append(out, "reason", aw.reason)
			}
		}
		s.audit(r, event, out...)
	}
}
