package clients

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openxsuaa/xsuaa/keys"
	"github.com/openxsuaa/xsuaa/scopes"
)

// Defaults and limits of service-managed certificates (XSUAA's x509
// binding parameters).
const (
	defaultValidity     = 7
	defaultValidityType = "DAYS"
	// freshCertificate is the age below which an unpinned certificate is
	// accepted even if an even newer one with the same DNs was already
	// used (XSUAA's rule, which lets two fresh certificates overlap).
	freshCertificate = 10 * time.Minute
	// verifyCacheTTL bounds how long a successful chain verification is
	// reused; verifyCacheMax bounds the cache's size.
	verifyCacheTTL = 10 * time.Minute
	verifyCacheMax = 10000
)

// Managed subjects of service-managed certificates: read right to left as
// in RFC 4514, "CN=<binding id>,OU=<instance id>,OU=<zone id>,O=xsuaa".
var (
	oidCN = asn1.ObjectIdentifier{2, 5, 4, 3}
	oidOU = asn1.ObjectIdentifier{2, 5, 4, 11}
	oidO  = asn1.ObjectIdentifier{2, 5, 4, 10}
)

// ManagedSubject is the subject the server's CA gives the certificate of a
// binding: CN=<binding id>, OU=<instance id>, OU=<zone id>, O=xsuaa, each
// its own RDN. It identifies the binding to anyone reading the certificate.
func ManagedSubject(zoneID, instanceID, bindingID string) pkix.Name {
	return pkix.Name{ExtraNames: []pkix.AttributeTypeAndValue{
		{Type: oidO, Value: "xsuaa"},
		{Type: oidOU, Value: zoneID},
		{Type: oidOU, Value: instanceID},
		{Type: oidCN, Value: bindingID},
	}}
}

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

// certPlan is a validated x509 binding request, before it is stored.
type certPlan struct {
	// issued is set for service-managed certificates: the key goes only
	// into the response.
	issued *keys.ClientCertificate
	leaf   *x509.Certificate
	pem    string // what the credentials return: the chain as PEM, or "" when hidden
	pinned bool
	unique bool // ensure-uniqueness: across all instances, not only this one
}

// prepareX509 validates the x509 parameters of a new binding and issues
// or verifies its certificate. It runs without the write lock: key
// generation can take seconds.
func (r *Registry) prepareX509(p bindParams, instanceID, bindingID string) (*certPlan, error) {
	x := p.X509
	if x == nil {
		x = &x509Params{}
	}
	at := func(field string) string { return p.prefix + "x509." + field }
	if x.Certificate != nil {
		for _, f := range []struct {
			name  string
			given bool
		}{{"key-length", x.KeyLength != nil}, {"validity", x.Validity != nil}, {"validity-type", x.ValidityType != nil}} {
			if f.given {
				return nil, opErr(ErrInvalid, "%s: applies only to certificates the server generates; it cannot be combined with %s", at(f.name), at("certificate"))
			}
		}
		return r.prepareSelfManaged(x, at)
	}
	for _, f := range []struct {
		name  string
		given bool
	}{{"certificate-pinning", x.Pinning != nil}, {"ensure-uniqueness", x.EnsureUnique != nil}, {"hide-certificate", x.HideCert != nil}} {
		if f.given {
			return nil, opErr(ErrInvalid, "%s: applies only to self-managed certificates, given in %s", at(f.name), at("certificate"))
		}
	}
	if r.cfg.CA == nil {
		return nil, opErr(ErrInvalid, "credential-type x509: this server has no CA to issue certificates; pass your own in %s", at("certificate"))
	}
	bits := keys.ClientKeyBits[0]
	if x.KeyLength != nil {
		bits = *x.KeyLength
		if !slices.Contains(keys.ClientKeyBits, bits) {
			return nil, opErr(ErrInvalid, "%s: %d is not supported; use 2048, 4096 or 8192 (bits)", at("key-length"), bits)
		}
	}
	validity, unit := defaultValidity, defaultValidityType
	if x.Validity != nil {
		validity = *x.Validity
	}
	if x.ValidityType != nil {
		unit = strings.ToUpper(strings.TrimSpace(*x.ValidityType))
	}
	now := r.now()
	var notAfter time.Time
	switch {
	case validity < 1:
		return nil, opErr(ErrInvalid, "%s: must be at least 1, not %d", at("validity"), validity)
	case unit == "DAYS" && validity <= 36600:
		notAfter = now.AddDate(0, 0, validity)
	case unit == "MONTHS" && validity <= 1200:
		notAfter = now.AddDate(0, validity, 0)
	case unit == "YEARS" && validity <= 100:
		notAfter = now.AddDate(validity, 0, 0)
	case unit == "DAYS" || unit == "MONTHS" || unit == "YEARS":
		return nil, opErr(ErrInvalid, "%s: %d %s is longer than the server's CA is valid (until %s)", at("validity"), validity, unit, r.cfg.CA.Cert.NotAfter.UTC().Format(time.DateOnly))
	default:
		return nil, opErr(ErrInvalid, "%s: %q is not supported; use DAYS, MONTHS or YEARS", at("validity-type"), *x.ValidityType)
	}
	if notAfter.After(r.cfg.CA.Cert.NotAfter) {
		return nil, opErr(ErrInvalid, "%s: %d %s would end on %s, after the server's CA certificate does (%s); choose a shorter validity",
			at("validity"), validity, unit, notAfter.Format(time.DateOnly), r.cfg.CA.Cert.NotAfter.UTC().Format(time.DateOnly))
	}
	issued, err := r.cfg.CA.IssueClientCertificate(keys.ClientCertificateRequest{
		Subject: ManagedSubject(r.cfg.Zone.ID, instanceID, bindingID), KeyBits: bits, NotAfter: notAfter,
	})
	if errors.Is(err, keys.ErrClientCertificateRequest) {
		return nil, &OpError{Kind: ErrInvalid, Msg: at("validity") + ": " + err.Error()}
	}
	if err != nil {
		return nil, err
	}
	return &certPlan{issued: issued, leaf: issued.Leaf, pem: string(issued.ChainPEM), pinned: true}, nil
}

func (r *Registry) prepareSelfManaged(x *x509Params, at func(string) string) (*certPlan, error) {
	text := normalizePEM(*x.Certificate)
	if text == "" {
		return nil, opErr(ErrInvalid, "%s: is empty; pass the client certificate as PEM (-----BEGIN CERTIFICATE-----…)", at("certificate"))
	}
	certs, err := keys.ParseCertificatesPEM([]byte(text))
	if err != nil {
		return nil, opErr(ErrInvalid, "%s: not a PEM certificate: %v", at("certificate"), err)
	}
	leaf := certs[0]
	if leaf.IsCA {
		return nil, opErr(ErrInvalid, "%s: the first certificate (%s) is a CA certificate; put the client certificate first, then its chain", at("certificate"), DN(leaf.RawSubject))
	}
	if err := r.verifyCertificate(certs, r.now()); err != nil {
		return nil, opErr(ErrInvalid, "%s: %v", at("certificate"), err)
	}
	var b bytes.Buffer
	for _, c := range certs {
		pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	plan := &certPlan{leaf: leaf, pem: b.String(), pinned: true}
	if x.Pinning != nil {
		plan.pinned = *x.Pinning
	}
	if x.EnsureUnique != nil {
		plan.unique = *x.EnsureUnique
	}
	if x.HideCert != nil && *x.HideCert {
		plan.pem = ""
	}
	return plan, nil
}

// normalizePEM trims a PEM text given as a parameter and turns the literal
// \n that PEM pasted through JSON often arrives with into line breaks.
func normalizePEM(text string) string {
	text = strings.TrimSpace(text)
	if !strings.Contains(text, "\n") && strings.Contains(text, `\n`) {
		text = strings.ReplaceAll(text, `\n`, "\n")
	}
	return text
}

// boundLeaf returns the certificate an x509 binding was made with: from
// its stored certificate, or, when that is hidden (hide-certificate), from
// the x509.certificate parameter it was bound with. Nil if neither parses.
func boundLeaf(b Binding) *x509.Certificate {
	text := b.CertPEM
	if text == "" {
		if p, err := parseBindParams(orEmpty(b.Parameters)); err == nil && p.X509 != nil && p.X509.Certificate != nil {
			text = normalizePEM(*p.X509.Certificate)
		}
	}
	certs, err := keys.ParseCertificatesPEM([]byte(text))
	if err != nil || len(certs) == 0 {
		return nil
	}
	return certs[0]
}

// renewShare is the part of a certificate's validity after which the
// binding metadata's renew_before lies.
const renewShare = 0.8

// osbTime is the OSB 2.17 timestamp format, yyyy-mm-ddThh:mm:ss.sZ, which
// is also RFC 3339.
const osbTime = "2006-01-02T15:04:05.0Z"

// certMetadata returns the OSB binding metadata of an x509 binding: when
// its certificate expires and when to rotate it (after 80% of its
// validity). Unpinned bindings have none: they accept every newer
// certificate with the same DNs, so the binding itself does not expire.
func certMetadata(b Binding) *BindingMetadata {
	if !b.CertPinned {
		return nil
	}
	leaf := boundLeaf(b)
	if leaf == nil {
		return nil
	}
	validity := leaf.NotAfter.Sub(leaf.NotBefore)
	renew := leaf.NotBefore.Add(time.Duration(float64(validity) * renewShare)).Truncate(time.Second)
	return &BindingMetadata{ExpiresAt: leaf.NotAfter.UTC().Format(osbTime), RenewBefore: renew.UTC().Format(osbTime)}
}

// checkUnique enforces XSUAA's uniqueness rule for a new certificate:
// within the instance (and, with ensure-uniqueness, within every
// instance), a pinned certificate's hash and an unpinned one's subject and
// issuer DN pair must be unused. Callers hold writeMu.
func (r *Registry) checkUnique(c *Client, plan *certPlan) error {
	fp := Fingerprint(plan.leaf)
	key := dnKey{DN(plan.leaf.RawSubject), DN(plan.leaf.RawIssuer)}
	clash := func(o *Client) string {
		if plan.pinned {
			if e, ok := o.certs[fp]; ok {
				return e.bindingID
			}
		} else if e, ok := o.dns[key]; ok {
			return e.bindingID
		}
		return ""
	}
	others := []*Client{c}
	if plan.unique {
		r.mu.RLock()
		for _, o := range r.byInst {
			if o != c {
				others = append(others, o)
			}
		}
		r.mu.RUnlock()
	}
	for _, o := range others {
		if id := clash(o); id != "" {
			where := "this instance"
			if o != c {
				where = "service instance " + o.InstanceID
			}
			if plan.pinned {
				return opErr(ErrConflict, "x509.certificate: the same certificate is already bound by binding %s of %s", id, where)
			}
			return opErr(ErrConflict, "x509.certificate: a certificate with subject %q and issuer %q is already bound (unpinned) by binding %s of %s", key.subject, key.issuer, id, where)
		}
	}
	return nil
}

// certBinding fills the certificate fields of a new x509 binding.
func certBinding(b *Binding, plan *certPlan) {
	fp := Fingerprint(plan.leaf)
	b.CertFingerprint = fp[:]
	b.CertSubject = DN(plan.leaf.RawSubject)
	b.CertIssuer = DN(plan.leaf.RawIssuer)
	b.CertNotBefore = plan.leaf.NotBefore.UTC()
	b.CertPEM = plan.pem
	b.CertPinned = plan.pinned
}

// indexCert adds an x509 binding to a client's (copied) indexes.
func (r *Registry) indexCert(c *Client, b Binding) {
	e := r.entry(c, b)
	if b.CertPinned {
		var fp [32]byte
		copy(fp[:], b.CertFingerprint)
		c.certs[fp] = certEntry{bindingID: b.ID, revSig: e.revSig}
		return
	}
	d := &dnEntry{bindingID: b.ID, revSig: e.revSig}
	d.notBefore.Store(b.CertNotBefore.UnixMicro())
	c.dns[dnKey{b.CertSubject, b.CertIssuer}] = d
}

// unindexCert removes an x509 binding from a client's (copied) indexes.
func unindexCert(c *Client, b Binding) {
	if b.CertPinned {
		var fp [32]byte
		copy(fp[:], b.CertFingerprint)
		delete(c.certs, fp)
		return
	}
	delete(c.dns, dnKey{b.CertSubject, b.CertIssuer})
}

// withCerts returns a copy of c whose certificate indexes are copies
// changed by fn. Entries are shared: dnEntry's clock is the binding's.
func withCerts(c *Client, fn func(*Client)) *Client {
	cp := *c
	cp.certs = make(map[[32]byte]certEntry, len(c.certs)+1)
	for k, v := range c.certs {
		cp.certs[k] = v
	}
	cp.dns = make(map[dnKey]*dnEntry, len(c.dns)+1)
	for k, v := range c.dns {
		cp.dns[k] = v
	}
	fn(&cp)
	return &cp
}

// CertificateOnly reports whether the client can only authenticate with a
// certificate: it has no secret bindings, and it has x509 bindings or its
// credential-types allow no secrets.
func (c *Client) CertificateOnly() bool {
	if len(c.secrets) > 0 {
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
func (r *Registry) AuthenticateCertificate(clientID string, chain []*x509.Certificate) (*Credential, error) {
	if len(chain) == 0 || chain[0] == nil {
		return nil, &CertError{Reason: "no client certificate"}
	}
	leaf := chain[0]
	notBound := func() error {
		return &CertError{Reason: fmt.Sprintf("the client certificate (subject %q) is not a credential of client %q", DN(leaf.RawSubject), clientID)}
	}
	c, ok := r.Lookup(clientID)
	if !ok {
		return nil, notBound()
	}
	fp := Fingerprint(leaf)
	cred := &Credential{Client: c, CertThumbprint: base64.RawURLEncoding.EncodeToString(fp[:])}
	now := r.now()
	if e, ok := c.certs[fp]; ok {
		if err := r.verifyCached(fp, chain, now); err != nil {
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
	if err := r.verifyCached(fp, chain, now); err != nil {
		return nil, &CertError{Reason: "the client certificate " + err.Error()}
	}
	nb := leaf.NotBefore.UnixMicro()
	stored := d.notBefore.Load()
	if nb < stored && now.Sub(leaf.NotBefore) >= freshCertificate {
		return nil, &CertError{Reason: fmt.Sprintf("the client certificate (valid from %s) is older than the newest certificate with the same subject and issuer already used (valid from %s)",
			leaf.NotBefore.UTC().Format(time.RFC3339), time.UnixMicro(stored).UTC().Format(time.RFC3339))}
	}
	if nb > stored {
		r.advanceNotBefore(d, nb)
	}
	cred.BindingID, cred.RevSig = d.bindingID, d.revSig
	return cred, nil
}

// advanceNotBefore moves an unpinned binding's accepted validity start
// forward in memory at once, and in the store in the background (the
// token path never waits for storage). After a crash before the write,
// the older start applies again until the newer certificate is next used.
func (r *Registry) advanceNotBefore(d *dnEntry, nb int64) {
	for {
		cur := d.notBefore.Load()
		if nb <= cur {
			return
		}
		if d.notBefore.CompareAndSwap(cur, nb) {
			break
		}
	}
	adv, ok := r.store.(CertNotBeforeAdvancer)
	if !ok {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := adv.AdvanceCertNotBefore(ctx, d.bindingID, time.UnixMicro(nb).UTC()); err != nil {
			r.cfg.Log.Warn("cannot store the newer certificate validity start", "binding", d.bindingID, "error", err)
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

func (r *Registry) verifyCached(fp [32]byte, chain []*x509.Certificate, now time.Time) error {
	r.vcache.mu.RLock()
	until, ok := r.vcache.m[fp]
	r.vcache.mu.RUnlock()
	if ok && now.Before(until) && !now.Before(chain[0].NotBefore) {
		return nil
	}
	chains, err := r.verify(chain, now)
	if err != nil {
		return err
	}
	until = now.Add(verifyCacheTTL)
	for _, c := range chains[0] {
		if c.NotAfter.Before(until) {
			until = c.NotAfter
		}
	}
	r.vcache.mu.Lock()
	if r.vcache.m == nil || len(r.vcache.m) >= verifyCacheMax {
		r.vcache.m = make(map[[32]byte]time.Time)
	}
	r.vcache.m[fp] = until
	r.vcache.mu.Unlock()
	return nil
}

// verifyCertificate checks a chain (leaf first) against the trust store,
// for the error messages of the broker.
func (r *Registry) verifyCertificate(chain []*x509.Certificate, now time.Time) error {
	_, err := r.verify(chain, now)
	return err
}

// verify checks chain[0] against the trust store for TLS client
// authentication at now, with chain[1:] as intermediates. Its errors read
// after "the client certificate".
func (r *Registry) verify(chain []*x509.Certificate, now time.Time) ([][]*x509.Certificate, error) {
	leaf := chain[0]
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	chains, err := leaf.Verify(x509.VerifyOptions{
		Roots: r.roots, Intermediates: inter, CurrentTime: now,
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
