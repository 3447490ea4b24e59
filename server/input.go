package server

import (
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"
)

// MaxHeaderBytes bounds a request's header block (request line and
// header fields). Larger ones get 431 in the protocol's JSON error shape.
// The http.Server's own MaxHeaderBytes should be a few times larger: it is
// the backstop, and its 431 is plain text.
const MaxHeaderBytes = 64 << 10

// headerSize approximates the size of r's header block on the wire.
func headerSize(r *http.Request) int {
	n := len(r.Method) + len(r.RequestURI) + len(r.Proto) + 4 + len("Host: ") + len(r.Host) + 2
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	return n
}

// limitHeaders answers 431 to requests whose header block is larger than
// MaxHeaderBytes.
func limitHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n := headerSize(r); n > MaxHeaderBytes {
			desc := fmt.Sprintf("the request's header fields are %d bytes, more than the %d this server accepts", n, MaxHeaderBytes)
			if brokerArea(r) {
				writeBrokerError(w, http.StatusRequestHeaderFieldsTooLarge, "RequestHeaderFieldsTooLarge", desc)
			} else {
				writeOAuthError(w, http.StatusRequestHeaderFieldsTooLarge, "invalid_request", desc)
			}
			return
		}
		next.ServeHTTP(w, r)
	})
}

// brokerArea reports whether r is for an API with the broker's error shape.
func brokerArea(r *http.Request) bool {
	return strings.HasPrefix(r.URL.Path, "/v2/") || strings.HasPrefix(r.URL.Path, "/sap/rest/broker/")
}

// badText describes why s is not printable UTF-8 text (invalid UTF-8 or a
// control character), or returns "" when it is.
func badText(s string) string {
	if !utf8.ValidString(s) {
		return "is not valid UTF-8"
	}
	for _, c := range s {
		if c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0) {
			return fmt.Sprintf("contains the control character %U", c)
		}
	}
	return ""
}
