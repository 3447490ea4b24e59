package server

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"github.com/openxsuaa/xsuaa/keys"
)

// The admin API serves what the OSB API has no call for: listing instances
// and bindings (the CLI's "services", "service", "service-keys") and the
// signing keys ("keys list", "keys rotate"). It is behind the broker's
// Basic credentials and answers with OSB-style errors {"error","description"}.
const maxAdminBody = 64 << 10

// adminMiddleware enforces the broker's Basic credentials (throttled and
// audited like the broker API's) and bounds bodies.
func (s *Server) adminMiddleware(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.brokerAuthenticated(w, r, "admin") {
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxAdminBody)
		next(w, r)
	})
}

func (s *Server) handleListInstances(w http.ResponseWriter, r *http.Request) {
	list, err := s.registry.ListInstances(r.Context())
	if err != nil {
		s.writeOpError(w, r, err, false)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"instances": list})
}

func (s *Server) handleDescribeInstance(w http.ResponseWriter, r *http.Request) {
	d, err := s.registry.DescribeInstance(r.Context(), mux.Vars(r)["instance_id"])
	if err != nil {
		s.writeOpError(w, r, err, false)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (s *Server) handleListKeys(w http.ResponseWriter, r *http.Request) {
	// Another replica may have rotated: report the keys as stored now.
	if !s.synced(w, r, func(w http.ResponseWriter) {
		w.Header().Set("Retry-After", "5")
		writeBrokerError(w, http.StatusServiceUnavailable, "ServiceUnavailable", "the database cannot be reached; try again")
	}) {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"keys": s.signer.Status()})
}

// rotateRequest is the body of POST /admin/keys/rotate.
type rotateRequest struct {
	// ActivateAfter is a Go duration ("30m", "2h", "0s"); empty means
	// keys.DefaultActivateAfter.
	ActivateAfter string `json:"activate_after"`
}

func (s *Server) handleRotateKey(w http.ResponseWriter, r *http.Request) {
	var req rotateRequest
	if !decodeBody(w, r, &req) {
		return
	}
	after := keys.DefaultActivateAfter
	if req.ActivateAfter != "" {
		d, err := time.ParseDuration(req.ActivateAfter)
		if err != nil || d < 0 {
			writeBrokerError(w, http.StatusBadRequest, "BadRequest", fmt.Sprintf("activate_after must be a non-negative duration like \"30m\" or \"0s\", not %q", req.ActivateAfter))
			return
		}
		after = d
	}
	st, err := s.signer.Rotate(r.Context(), time.Now(), after)
	if errors.Is(err, keys.ErrTooManyKeys) {
		writeBrokerError(w, http.StatusConflict, "Conflict", err.Error())
		return
	}
	if err != nil {
		s.writeOpError(w, r, err, false)
		return
	}
	s.log.Debug("signing key rotated", "kid", st.KID, "active_from", st.ActiveFrom)
	s.audit(r, EventKeyRotated, "kid", st.KID, "active_from", st.ActiveFrom, "activate_after", after.String(), "outcome", outcomeSuccess)
	writeJSON(w, http.StatusCreated, st)
}
