package server

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"time"
)

// The access log (Config.Access, xsuaa serve --access-log) has one line
// per request: method, path (without the query), status, duration,
// source address, and who asked — a client id, or the broker's user name
// — only when it names a client or user this server knows; anything else
// a request puts there (a mistyped id, or a secret sent in the wrong
// field) appears only as a short fingerprint. Secrets, tokens and bodies
// are never written.

// statusWriter records the status a handler answered, for the access
// and audit logs.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// accessWriter records the status a handler answered, and the client id
// the token endpoint read (noteClient).
type accessWriter struct {
	statusWriter
	client string
}

// noteClient tells the access log which client id a request named.
func noteClient(w http.ResponseWriter, id string) {
	if a, ok := w.(*accessWriter); ok {
		a.client = id
	}
}

// accessLog wraps next with the access log.
func (s *Server) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		aw := &accessWriter{statusWriter: statusWriter{ResponseWriter: w}}
		next.ServeHTTP(aw, r)
		attrs := []any{"method", r.Method, "path", clip(r.URL.Path), "status", aw.status,
			"duration_ms", float64(time.Since(start).Microseconds()) / 1000, "source", sourceAddr(r)}
		if who := s.requester(r, aw.client); who != "" {
			attrs = append(attrs, "client", who)
		}
		s.access.Info("request", attrs...)
	})
}

// requester names who a request says it is, for the access log: the
// client id the token endpoint noted, else the Basic user; a name the
// server does not know is fingerprinted.
func (s *Server) requester(r *http.Request, noted string) string {
	id, _, basic := r.BasicAuth()
	if basic {
		if u, err := url.QueryUnescape(id); err == nil {
			id = u
		}
		if id == string(s.broker[0]) {
			return id
		}
	}
	if noted != "" {
		id = noted
	}
	if id == "" {
		return ""
	}
	if _, known := s.index.Lookup(s.index.ProviderZone().ID, id); known {
		return id
	}
	return fingerprint(id)
}

// fingerprint names a value without showing it.
func fingerprint(v string) string {
	sum := sha256.Sum256([]byte(v))
	return "unknown:" + hex.EncodeToString(sum[:4])
}
