package main

import (
	"crypto/tls"
	"strings"
	"sync"

	"github.com/openxsuaa/xsuaa/clients"
	"github.com/openxsuaa/xsuaa/keys"
)

// tenantCertificates serves a TLS certificate valid for the exact name of
// each tenant host <subdomain>.<public host> of a known zone, issued by
// the local CA on the first handshake for that name and kept; Node
// rejects a *.localhost wildcard, so each name gets its own leaf. Any
// other name gets the server's certificate.
type tenantCertificates struct {
	ca         *keys.CA
	index      *clients.Index
	publicHost string
	fallback   *tls.Certificate

	mu     sync.Mutex // serialises issuance
	leaves sync.Map   // host name -> *tls.Certificate
}

// GetCertificate is tls.Config.GetCertificate.
func (t *tenantCertificates) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	name := strings.ToLower(strings.TrimSuffix(hello.ServerName, "."))
	sub, ok := strings.CutSuffix(name, "."+t.publicHost)
	if !ok || sub == "" || strings.Contains(sub, ".") {
		return t.fallback, nil
	}
	if c, ok := t.leaves.Load(name); ok {
		return c.(*tls.Certificate), nil
	}
	// Only zones that exist get a leaf, so the leaves are bounded by the
	// zones.
	if _, known := t.index.ZoneBySubdomain(sub); !known {
		return t.fallback, nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if c, ok := t.leaves.Load(name); ok {
		return c.(*tls.Certificate), nil
	}
	cert, err := t.ca.IssueServerCertificate([]string{name})
	if err != nil {
		return nil, err
	}
	t.leaves.Store(name, &cert)
	return &cert, nil
}
