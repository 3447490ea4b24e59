package clients

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openxsuaa/xsuaa/clients/storage"
	"github.com/openxsuaa/xsuaa/scopes"
)

// Limits of certificate authentication.
const (
	// freshCertificate is the age below which an unpinned certificate is
	// accepted even if an even newer one with the same DNs was already
	// used (XSUAA's rule, which lets two fresh certificates overlap).
	freshCertificate = 10 * time.Minute
	// verifyCacheTTL bounds how long a successful chain verification is
	// reused; verifyCacheMax bounds the cache's size.
	verifyCacheTTL = 10 * time.Minute
	verifyCacheMax = 10000
)

// certEntry is a certificate matched by its exact fingerprint: every
// service-managed one and the pinned self-managed ones.
type certEntry struct {
	bindingID string
	revSig    string
}

// dnKey finds unpinned self-managed certificates.
type dnKey struct{ subject, issuer string }

// dnEntry is an unpinned self-managed certificate. notBefore (Unix
// microseconds) is the oldest validity start still accepted; it only moves
// forward, atomically, from the token path.
type dnEntry struct {
	bindingID string
	revSig    string
	notBefore atomic.Int64
}

// Fingerprint returns the SHA-256 of a certificate's DER.
func Fingerprint(cert *x509.Certificate) [32]byte { return sha256.Sum256(cert.Raw) }

// Thumbprint returns RFC 8705's "x5t#S256" of a certificate: the
// base64url (unpadded) SHA-256 of its DER.
func Thumbprint(cert *x509.Certificate) string {
	fp := Fingerprint(cert)
	return base64.RawURLEncoding.EncodeToString(fp[:])
}

// DN returns a DER-encoded distinguished name (a certificate's RawSubject
// or RawIssuer) in RFC 4514 form, keeping the order and the multi-valued
// RDNs of the encoding. Two names compare equal as strings when their
// attributes and values are equal, whatever ASN.1 string types encode them.
func DN(raw []byte) string {
	var seq pkix.RDNSequence
	if rest, err := asn1.Unmarshal(raw, &seq); err != nil || len(rest) > 0 {
		return "#" + hex.EncodeToString(raw)
	}
	return seq.String()
}

// CertificateOnly reports whether the client can only authenticate with a
// certificate: it has no secret bindings, and it has x509 bindings or its
// credential-types allow no secrets.
func (c *Client) CertificateOnly() bool {
	if c.secrets.len() > 0 {
		return false
	}
	return len(c.certs)+len(c.dns) > 0 ||
		(!c.App.AllowsCredentialType(scopes.CredentialSecret) && !c.App.AllowsCredentialType(scopes.CredentialInstance))
}

// CertError is why a client certificate did not authenticate. It wraps
// ErrBadCredentials; Reason is safe to show to the client.
type CertError struct{ Reason string }

// Error implements error.
func (e *CertError) Error() string { return "bad credentials: " + e.Reason }

// Unwrap makes errors.Is(err, ErrBadCredentials) hold.
func (e *CertError) Unwrap() error { return ErrBadCredentials }

// AuthenticateCertificate authenticates clientID with a client
// certificate chain (leaf first) that was presented over TLS, whose
// possession the TLS handshake proved, or that a trusted proxy forwarded.
// The leaf must belong to one of the client's x509 bindings: by its exact
// SHA-256 for pinned and service-managed certificates, else by subject and
// issuer DN with a validity start no older than the newest one seen. The
// chain must verify against the trust store (the server's CA and the
// configured client CAs) for TLS client authentication at the registry's
// clock; successful verifications are cached by fingerprint for a few
// minutes. It reads memory only.
func (x *Index) AuthenticateCertificate(zoneID, clientID string, chain []*x509.Certificate) (*Credential, error) {
	if len(chain) == 0 || chain[0] == nil {
		return nil, &CertError{Reason: "no client certificate"}
	}
	leaf := chain[0]
	notBound := func() error {
		return &CertError{Reason: fmt.Sprintf("the client certificate (subject %q) is not a credential of client %q", DN(leaf.RawSubject), clientID)}
	}
	c, ok := x.Lookup(zoneID, clientID)
	if !ok {
		return nil, notBound()
	}
	fp := Fingerprint(leaf)
	cred := &Credential{Client: c, CertThumbprint: base64.RawURLEncoding.EncodeToString(fp[:])}
	now := x.cfg.Now().UTC()
	if e, ok := c.certs[fp]; ok {
		if err := x.verifyCached(fp, chain, now); err != nil {
			return nil, &CertError{Reason: "the client certificate " + err.Error()}
		}
		cred.BindingID, cred.RevSig = e.bindingID, e.revSig
		return cred, nil
	}
	if len(c.dns) == 0 {
		return nil, notBound()
	}
	d, ok := c.dns[dnKey{DN(leaf.RawSubject), DN(leaf.RawIssuer)}]
	if !ok {
		return nil, notBound()
	}
	if err := x.verifyCached(fp, chain, now); err != nil {
		return nil, &CertError{Reason: "the client certificate " + err.Error()}
	}
	nb := leaf.NotBefore.UnixMicro()
	stored := d.notBefore.Load()
	if nb < stored && now.Sub(leaf.NotBefore) >= freshCertificate {
		return nil, &CertError{Reason: fmt.Sprintf("the client certificate (valid from %s) is older than the newest certificate with the same subject and issuer already used (valid from %s)",
			leaf.NotBefore.UTC().Format(time.RFC3339), time.UnixMicro(stored).UTC().Format(time.RFC3339))}
	}
	if nb > stored {
		x.advanceNotBefore(d, nb)
	}
	cred.BindingID, cred.RevSig = d.bindingID, d.revSig
	return cred, nil
}

// advanceNotBefore moves an unpinned binding's accepted validity start
// forward in memory at once, and in the store in the background (the
// token path never waits for a write); the store's change then reaches
// the other replicas. After a crash before the write, the older start
// applies again until the newer certificate is next used.
func (x *Index) advanceNotBefore(d *dnEntry, nb int64) {
	for {
		cur := d.notBefore.Load()
		if nb <= cur {
			return
		}
		if d.notBefore.CompareAndSwap(cur, nb) {
			break
		}
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := x.store.Update(ctx, func(tx storage.Tx) error {
			return tx.AdvanceCertNotBefore(ctx, d.bindingID, time.UnixMicro(nb).UTC())
		})
		if err != nil {
			x.cfg.Log.Warn("cannot store the newer certificate validity start", "binding", d.bindingID, "error", err)
		}
	}()
}

// verifyCache remembers successful chain verifications by leaf
// fingerprint until the chain's earliest NotAfter or the TTL, whichever
// comes first.
type verifyCache struct {
	mu sync.RWMutex
	m  map[[32]byte]time.Time
}

func (x *Index) verifyCached(fp [32]byte, chain []*x509.Certificate, now time.Time) error {
	x.vcache.mu.RLock()
	until, ok := x.vcache.m[fp]
	x.vcache.mu.RUnlock()
	if ok && now.Before(until) && !now.Before(chain[0].NotBefore) {
		return nil
	}
	chains, err := VerifyChain(x.cfg.ClientCAs, chain, now)
	if err != nil {
		return err
	}
	until = now.Add(verifyCacheTTL)
	for _, c := range chains[0] {
		if c.NotAfter.Before(until) {
			until = c.NotAfter
		}
	}
	x.vcache.mu.Lock()
	if x.vcache.m == nil || len(x.vcache.m) >= verifyCacheMax {
		x.vcache.m = make(map[[32]byte]time.Time)
	}
	x.vcache.m[fp] = until
	x.vcache.mu.Unlock()
	return nil
}

// VerifyChain checks chain[0] against roots for TLS client authentication
// at now, with chain[1:] as intermediates. Its errors read after "the
// client certificate"; the write side shows them to the broker.
func VerifyChain(roots *x509.CertPool, chain []*x509.Certificate, now time.Time) ([][]*x509.Certificate, error) {
	leaf := chain[0]
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	chains, err := leaf.Verify(x509.VerifyOptions{
		Roots: roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err == nil {
		return chains, nil
	}
	var inv x509.CertificateInvalidError
	var ua x509.UnknownAuthorityError
	switch {
	case errors.As(err, &inv) && inv.Reason == x509.Expired:
		if now.Before(inv.Cert.NotBefore) {
			return nil, fmt.Errorf("is not valid before %s (subject %q)", inv.Cert.NotBefore.UTC().Format(time.RFC3339), DN(inv.Cert.RawSubject))
		}
		return nil, fmt.Errorf("expired at %s (subject %q)", inv.Cert.NotAfter.UTC().Format(time.RFC3339), DN(inv.Cert.RawSubject))
	case errors.As(err, &inv) && inv.Reason == x509.IncompatibleUsage:
		return nil, errors.New("is not valid for TLS client authentication (its extended key usage lacks clientAuth)")
	case errors.As(err, &ua):
		return nil, fmt.Errorf("is not issued by a trusted CA (issuer %q); trusted are the server's own CA (ca.pem) and the CAs given with --client-ca", DN(leaf.RawIssuer))
	}
	return nil, fmt.Errorf("does not verify: %v", err)
}
