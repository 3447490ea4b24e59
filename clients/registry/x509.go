package registry

import (
	"bytes"
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/openxsuaa/xsuaa/clients"
	"github.com/openxsuaa/xsuaa/clients/storage"
	"github.com/openxsuaa/xsuaa/keys"
)

// Defaults and limits of service-managed certificates (XSUAA's x509
// binding parameters).
const (
	defaultValidity     = 7
	defaultValidityType = "DAYS"
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
func (r *Registry) prepareX509(ctx context.Context, p bindParams, zoneID, instanceID, bindingID string) (*certPlan, error) {
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
	// RSA key generation takes a core for up to seconds (8192 bits:
	// tens of seconds): at most one per core at a time, so that binds
	// cannot starve the token path.
	select {
	case r.keygen <- struct{}{}:
		defer func() { <-r.keygen }()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	issued, err := r.cfg.CA.IssueClientCertificate(keys.ClientCertificateRequest{
		Subject: ManagedSubject(zoneID, instanceID, bindingID), KeyBits: bits, NotAfter: notAfter,
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
		return nil, opErr(ErrInvalid, "%s: the first certificate (%s) is a CA certificate; put the client certificate first, then its chain", at("certificate"), clients.DN(leaf.RawSubject))
	}
	if _, err := clients.VerifyChain(r.cfg.ClientCAs, certs, r.now()); err != nil {
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
func boundLeaf(b storage.Binding) *x509.Certificate {
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
func certMetadata(b storage.Binding) *BindingMetadata {
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
// issuer DN pair must be unused. It reads inside the write transaction, so
// no concurrent bind on any replica can slip in between. The message says
// what conflicts, never whose (another instance may be another org's).
func checkUnique(ctx context.Context, tx storage.Tx, instanceID string, plan *certPlan) error {
	scope := instanceID
	if plan.unique {
		scope = ""
	}
	subject, issuer := clients.DN(plan.leaf.RawSubject), clients.DN(plan.leaf.RawIssuer)
	var fp []byte
	if plan.pinned {
		sum := clients.Fingerprint(plan.leaf)
		fp = sum[:]
	}
	clash, err := tx.FindCertBindings(ctx, scope, fp, subject, issuer)
	if err != nil {
		return err
	}
	if len(clash) == 0 {
		return nil
	}
	where := "by another service instance (x509.ensure-uniqueness is true)"
	for _, b := range clash {
		if b.InstanceID == instanceID {
			where = "by binding " + b.ID + " of this instance"
		}
	}
	if plan.pinned {
		return opErr(ErrConflict, "x509.certificate: the same certificate is already bound %s", where)
	}
	return opErr(ErrConflict, "x509.certificate: a certificate with subject %q and issuer %q is already bound (unpinned) %s", subject, issuer, where)
}

// certBinding fills the certificate fields of a new x509 binding.
func certBinding(b *storage.Binding, plan *certPlan) {
	fp := clients.Fingerprint(plan.leaf)
	b.CertFingerprint = fp[:]
	b.CertSubject = clients.DN(plan.leaf.RawSubject)
	b.CertIssuer = clients.DN(plan.leaf.RawIssuer)
	b.CertNotBefore = plan.leaf.NotBefore.UTC()
	b.CertPEM = plan.pem
	b.CertPinned = plan.pinned
}
