package server

import (
	"context"
	"crypto/x509"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Client certificates reach the token endpoint in one of two ways:
//
//   - Directly: the HTTPS listener asks for a client certificate
//     (tls.RequestClientCert, so that HTTPS works without one and a bad
//     certificate gets an OAuth error rather than a TLS alert); the
//     handshake proves possession of its key, and the registry verifies
//     the chain and matches the binding.
//   - Through a TLS-terminating proxy: TrustProxies marks requests whose
//     TCP peer is a configured proxy; only for those are the forwarded
//     certificate headers read (X-Forwarded-Client-Cert in Envoy's or
//     gorouter's form, RFC 9440 Client-Cert), and the certificate is then
//     verified exactly as a direct one. From any other peer the headers
//     are ignored.

// proxyKey marks, in a request's context, that its TCP peer is a trusted proxy.
type proxyKey struct{}

// TrustProxies returns a handler that lets the token endpoint read the
// client certificate that a TLS-terminating proxy forwarded in a header,
// for requests whose peer address (RemoteAddr) lies in one of the
// prefixes. With no prefixes it returns next unchanged.
func TrustProxies(next http.Handler, prefixes []netip.Prefix) http.Handler {
	if len(prefixes) == 0 {
		return next
	}
	trusted := append([]netip.Prefix(nil), prefixes...)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if peerIn(r.RemoteAddr, trusted) {
			r = r.WithContext(context.WithValue(r.Context(), proxyKey{}, true))
		}
		next.ServeHTTP(w, r)
	})
}

// ParsePrefix reads a --trusted-proxy value: a CIDR prefix, or a single
// IPv4 or IPv6 address.
func ParsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	if p.Addr().Is4In6() {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p.Masked(), nil
}

// peerIn reports whether a RemoteAddr ("ip:port") lies in one of prefixes.
func peerIn(remote string, prefixes []netip.Prefix) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	a = a.Unmap().WithZone("")
	for _, p := range prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// fromTrustedProxy reports whether TrustProxies marked r.
func fromTrustedProxy(r *http.Request) bool {
	v, _ := r.Context().Value(proxyKey{}).(bool)
	return v
}

// clientCertificate returns the client certificate chain of a token
// request, leaf first: from the forwarded headers of a trusted proxy, else
// from the request's own TLS connection; nil when there is none. Chains
// are not verified here; parse errors name the header.
func (s *Server) clientCertificate(r *http.Request) ([]*x509.Certificate, error) {
	if fromTrustedProxy(r) {
		// Only the header of the configured format; empty values count
		// as absent: some proxies send the header empty when the client
		// presented no certificate.
		switch s.certHeader {
		case CertHeaderRFC9440:
			if v := strings.TrimSpace(r.Header.Get(headerClientCert)); v != "" {
				return parseClientCertHeader(v, strings.Join(r.Header.Values(headerClientCertChain), ","))
			}
		case CertHeaderEnvoy, CertHeaderGorouter:
			// Repeated header lines are one comma-separated list.
			if v := strings.TrimSpace(strings.Join(r.Header.Values(headerXFCC), ",")); strings.Trim(v, ", ") != "" {
				return parseXFCC(v, s.certHeader)
			}
		}
	}
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		return r.TLS.PeerCertificates, nil
	}
	return nil, nil
}
