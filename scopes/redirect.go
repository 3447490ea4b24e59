package scopes

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// Redirect URIs (oauth2-configuration.redirect-uris) say where the
// authorization code flow may send a browser back to, and where logout
// may redirect. As on XSUAA a pattern may hold wildcards:
//
//   - "*" as a whole host label matches one or more labels
//     (https://*.example.com matches https://a.example.com and
//     https://a.b.example.com, never https://example.com or another host);
//   - "*" as the port matches any port;
//   - in the path and query, "**" matches anything, "*" anything but "/".
//
// A pattern is an absolute https:// URL, or http:// for a loopback host
// (localhost, a name ending in .localhost, 127.0.0.0/8 or ::1): XSUAA
// allows http only for localhost, and this server, which runs next to the
// app on a developer's machine, also for the loopback addresses. Userinfo,
// fragments, spaces and control characters are refused.
//
// Redirects to localhost are always allowed, whatever the patterns say
// (XSUAA allows them in its cloud landscapes): a code sent there reaches
// only the user's own machine.

// maxRedirectURIs bounds oauth2-configuration.redirect-uris.
const maxRedirectURIs = 100

// maxRedirectURILen bounds one redirect URI, in a descriptor or a request.
const maxRedirectURILen = 2048

// redirectURIProblem returns what is wrong with a redirect URI pattern, or
// "" if nothing is.
func redirectURIProblem(p string) string {
	if len(p) > maxRedirectURILen {
		return fmt.Sprintf("must be at most %d characters (is %d)", maxRedirectURILen, len(p))
	}
	if strings.ContainsFunc(p, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return fmt.Sprintf("%q contains spaces or control characters", p)
	}
	scheme, rest, ok := strings.Cut(p, "://")
	if !ok {
		return fmt.Sprintf("%q is not an absolute URL; write https://<host>/<path>", p)
	}
	scheme = strings.ToLower(scheme)
	if scheme != "https" && scheme != "http" {
		return fmt.Sprintf("%q: the scheme must be https (or http for localhost), not %q", p, scheme)
	}
	if strings.Contains(p, "#") {
		return fmt.Sprintf("%q: a redirect URI must not have a fragment (#)", p)
	}
	authority, _, _ := strings.Cut(rest, "/")
	authority, _, _ = strings.Cut(authority, "?")
	if strings.Contains(authority, "@") {
		return fmt.Sprintf("%q: a redirect URI must not hold user information (@)", p)
	}
	host, port, err := splitAuthority(authority)
	if err != "" {
		return fmt.Sprintf("%q: %s", p, err)
	}
	if port != "" && port != "*" && !isPort(port) {
		return fmt.Sprintf("%q: the port must be a number from 1 to 65535 or *, not %q", p, port)
	}
	if strings.Contains(host, "*") && net.ParseIP(host) == nil {
		for _, label := range strings.Split(host, ".") {
			if strings.Contains(label, "*") && label != "*" {
				return fmt.Sprintf("%q: a * in the host must stand for whole labels, as in https://*.example.com", p)
			}
		}
		if host == "*" || strings.HasSuffix(host, ".*") {
			return fmt.Sprintf("%q: a * may relax the start of a host, not all of it or its domain", p)
		}
	}
	if !validHost(host) {
		return fmt.Sprintf("%q: %q is not a host name or IP address", p, host)
	}
	if scheme == "http" && !isLoopbackHost(host) {
		return fmt.Sprintf("%q: for URIs that use http:// only localhost (or a loopback address) is allowed as host; use https://", p)
	}
	return ""
}

// splitAuthority splits "host[:port]" (IPv6 in brackets).
func splitAuthority(a string) (host, port, problem string) {
	if a == "" {
		return "", "", "the host is missing"
	}
	if strings.HasPrefix(a, "[") {
		end := strings.Index(a, "]")
		if end < 0 {
			return "", "", "an IPv6 address must be closed with ]"
		}
		host, rest := a[1:end], a[end+1:]
		if rest == "" {
			return host, "", ""
		}
		if !strings.HasPrefix(rest, ":") {
			return "", "", fmt.Sprintf("unexpected %q after the IPv6 address", rest)
		}
		return host, rest[1:], ""
	}
	host, port, hasPort := strings.Cut(a, ":")
	if hasPort && port == "" {
		return "", "", "the port after : is missing"
	}
	return host, port, ""
}

func isPort(s string) bool {
	if s == "" || len(s) > 5 {
		return false
	}
	n := 0
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
		n = n*10 + int(r-'0')
	}
	return n >= 1 && n <= 65535
}

// validHost accepts IP addresses and host names whose labels are letters,
// digits, hyphens, underscores or a whole "*".
func validHost(h string) bool {
	if net.ParseIP(h) != nil {
		return true
	}
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		if label == "*" {
			continue
		}
		for _, r := range label {
			if !(isASCIILetter(r) || isDigit(r) || r == '-' || r == '_') {
				return false
			}
		}
	}
	return true
}

// isLoopbackHost reports whether a host names this machine: localhost,
// *.localhost, or a loopback address.
func isLoopbackHost(h string) bool {
	h = strings.ToLower(strings.TrimSuffix(h, "."))
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// MatchRedirectURI reports whether uri, a redirect URI a request sent, is
// allowed by the patterns (see the rules above); a uri that is not an
// absolute http(s) URL without userinfo and fragment never is. A uri to
// localhost always is.
func MatchRedirectURI(patterns []string, uri string) bool {
	u, ok := parseRedirectURI(uri)
	if !ok {
		return false
	}
	if h := strings.ToLower(u.Hostname()); h == "localhost" {
		return true
	}
	for _, p := range patterns {
		if matchRedirectPattern(p, u) {
			return true
		}
	}
	return false
}

// parseRedirectURI parses a requested redirect URI strictly.
func parseRedirectURI(s string) (*url.URL, bool) {
	if len(s) > maxRedirectURILen || strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '\\' }) {
		return nil, false
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil ||
		u.Fragment != "" || strings.Contains(s, "#") || u.Opaque != "" {
		return nil, false
	}
	if !validHost(u.Hostname()) || strings.Contains(u.Hostname(), "*") {
		return nil, false
	}
	if p := u.Port(); p != "" && !isPort(p) {
		return nil, false
	}
	return u, true
}

// matchRedirectPattern matches a parsed uri against one pattern.
func matchRedirectPattern(pattern string, u *url.URL) bool {
	scheme, rest, ok := strings.Cut(pattern, "://")
	if !ok || !strings.EqualFold(scheme, u.Scheme) {
		return false
	}
	end := strings.IndexAny(rest, "/?")
	authority, pathQuery := rest, ""
	if end >= 0 {
		authority, pathQuery = rest[:end], rest[end:]
	}
	host, port, problem := splitAuthority(authority)
	if problem != "" {
		return false
	}
	if port == "" {
		port = defaultPort(u.Scheme)
	}
	uriPort := u.Port()
	if uriPort == "" {
		uriPort = defaultPort(u.Scheme)
	}
	if port != "*" && port != uriPort {
		return false
	}
	if !matchHost(strings.ToLower(host), strings.ToLower(u.Hostname())) {
		return false
	}
	got := u.EscapedPath()
	if got == "" {
		got = "/"
	}
	if u.RawQuery != "" || u.ForceQuery {
		got += "?" + u.RawQuery
	}
	if pathQuery == "" {
		pathQuery = "/"
	}
	return matchWildcards(pathQuery, got)
}

func defaultPort(scheme string) string {
	if scheme == "http" {
		return "80"
	}
	return "443"
}

// matchHost matches host labels; a "*" label stands for one or more labels.
func matchHost(pattern, host string) bool {
	if !strings.Contains(pattern, "*") || net.ParseIP(pattern) != nil {
		return pattern == host
	}
	return matchLabels(strings.Split(pattern, "."), strings.Split(host, "."))
}

func matchLabels(p, h []string) bool {
	if len(p) == 0 {
		return len(h) == 0
	}
	if p[0] != "*" {
		return len(h) > 0 && p[0] == h[0] && matchLabels(p[1:], h[1:])
	}
	// "*" takes at least one label; the rest of the pattern the others.
	for n := 1; n <= len(h); n++ {
		if matchLabels(p[1:], h[n:]) {
			return true
		}
	}
	return false
}

// matchWildcards matches s against a path-and-query pattern where "**"
// matches anything and "*" anything but "/". It runs in O(len(p)·len(s)).
func matchWildcards(p, s string) bool {
	// Tokens: literal bytes, or star (-1) and double star (-2).
	var toks []int
	for i := 0; i < len(p); i++ {
		switch {
		case strings.HasPrefix(p[i:], "**"):
			toks = append(toks, -2)
			i++
		case p[i] == '*':
			toks = append(toks, -1)
		default:
			toks = append(toks, int(p[i]))
		}
	}
	// reach[j]: the first i tokens can match s[:j].
	reach := make([]bool, len(s)+1)
	reach[0] = true
	for _, t := range toks {
		next := make([]bool, len(s)+1)
		switch t {
		case -2:
			seen := false
			for j := 0; j <= len(s); j++ {
				seen = seen || reach[j]
				next[j] = seen
			}
		case -1:
			seen := false
			for j := 0; j <= len(s); j++ {
				if j > 0 && s[j-1] == '/' {
					seen = false
				}
				seen = seen || reach[j]
				next[j] = seen
			}
		default:
			for j := 1; j <= len(s); j++ {
				next[j] = reach[j-1] && int(s[j-1]) == t
			}
		}
		reach = next
	}
	return reach[len(s)]
}
