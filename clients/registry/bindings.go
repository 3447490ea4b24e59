package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/openxsuaa/xsuaa/clients"
	"github.com/openxsuaa/xsuaa/clients/storage"
	"github.com/openxsuaa/xsuaa/scopes"
)

// BindRequest asks to create a binding (or service key) of an instance.
type BindRequest struct {
	InstanceID string
	BindingID  string
	AppGUID    string
	// Parameters are the binding parameters, e.g. {"credential-type":"binding-secret"}.
	Parameters json.RawMessage
	// Name is the binding's or service key's name, if the platform gave one.
	Name string
	// Context is the OSB context object as the platform sent it.
	Context json.RawMessage
	// PredecessorID is OSB 2.17's predecessor_binding_id: the request
	// rotates that binding (see Bind).
	PredecessorID string
}

// Credentials is the credentials object of a binding, with XSUAA's field
// names. Key is empty except in the response that created the binding:
// the private key is not stored. Secrets are returned again (a binding's
// own is kept sealed, as is the instance-secret), except with hide-secret.
type Credentials struct {
	ClientID     string `json:"clientid"`
	ClientSecret string `json:"clientsecret,omitempty"`
	// Certificate is the x509 binding's certificate and chain as PEM
	// (absent with hide-certificate), Key its private key (only for
	// service-managed certificates, only at creation), CertURL the base
	// URL for token requests with the certificate.
	Certificate        string `json:"certificate,omitempty"`
	Key                string `json:"key,omitempty"`
	CertURL            string `json:"certurl,omitempty"`
	CertificatePinning *bool  `json:"certificate-pinning,omitempty"`
	CredentialType     string `json:"credential-type"`
	URL                string `json:"url"`
	UAADomain          string `json:"uaadomain"`
	XSAppName          string `json:"xsappname"`
	IdentityZone       string `json:"identityzone"`
	IdentityZoneID     string `json:"identityzoneid"`
	TenantID           string `json:"tenantid"`
	ZoneID             string `json:"zoneid"`
	SubaccountID       string `json:"subaccountid"`
	TenantMode         string `json:"tenantmode"`
	ServiceInstanceID  string `json:"serviceInstanceId"`
	APIURL             string `json:"apiurl"`
	SBURL              string `json:"sburl"`
	VerificationKey    string `json:"verificationkey"`
	TrustedSuffix      string `json:"trustedclientidsuffix,omitempty"`

	// Metadata is not part of the credentials object: the broker returns
	// it beside it, as the OSB binding metadata. Set for x509 bindings
	// with a pinned certificate, nil otherwise.
	Metadata *BindingMetadata `json:"-"`
}

// BindingMetadata is the OSB 2.17 binding metadata object. Both times are
// UTC in the form yyyy-mm-ddThh:mm:ss.sZ (RFC 3339).
type BindingMetadata struct {
	// ExpiresAt is when the binding's certificate expires (its NotAfter).
	ExpiresAt string `json:"expires_at,omitempty"`
	// RenewBefore is when 80% of the certificate's validity has passed:
	// the time to rotate the binding (predecessor_binding_id).
	RenewBefore string `json:"renew_before,omitempty"`
}

// Bind creates a binding with a fresh credential and returns its
// credentials. A repeated request with identical attributes returns the
// existing binding's credentials (without a certificate's private key) and
// created=false.
//
// Credential types: "binding-secret" gets a generated secret;
// "instance-secret" gets the instance's shared secret (see
// instancesecret.go); "x509" gets a certificate from the server's CA
// (parameters x509.key-length, x509.validity, x509.validity-type) or binds
// the caller's own (x509.certificate, x509.certificate-pinning,
// x509.ensure-uniqueness, x509.hide-certificate). "hide-secret": true
// leaves clientsecret out of the credentials of a secret binding (this
// response and every later one); with x509 it is an error. Parameters may
// also come nested under "xsuaa".
//
// With req.PredecessorID the request rotates that binding (OSB 2.17): the
// new binding gets the predecessor's parameters, and with them its
// credential type, and fresh credentials (a new secret, or a new
// certificate from the CA; an instance-secret binding gets the instance's
// secret, which cannot rotate). The predecessor keeps working until it is
// unbound (an expired certificate's binding can be rotated too, which OSB
// does not ask for). The request must carry no parameters. A binding with
// a self-managed certificate cannot be rotated: the same certificate
// cannot be bound twice, so the caller binds the new certificate instead.
func (r *Registry) Bind(ctx context.Context, req BindRequest) (creds Credentials, created bool, err error) {
	// Checks that need no transaction come first, so that a certificate
	// (whose key generation may take seconds) is made outside it; the
	// transaction checks again what may have changed meanwhile.
	in, app, err := instance(ctx, r.store, req.InstanceID)
	if err != nil {
		return Credentials{}, false, err
	}
	if req.PredecessorID != "" {
		if req, err = r.successorRequest(ctx, req); err != nil {
			return Credentials{}, false, err
		}
	}
	params := orEmpty(req.Parameters)
	p, err := parseBindParams(params)
	if err != nil {
		return Credentials{}, false, err
	}
	if done, creds, err := r.existingBinding(ctx, r.store, req, params); done {
		return creds, false, err
	}
	ctype, err := bindingType(app, p)
	if err != nil {
		return Credentials{}, false, err
	}
	var plan *certPlan
	if ctype == scopes.CredentialX509 {
		if plan, err = r.prepareX509(ctx, p, in.ZoneID, req.InstanceID, req.BindingID); err != nil {
			return Credentials{}, false, err
		}
	}

	var b storage.Binding
	err = r.update(ctx, func(tx storage.Tx) error {
		created = false
		in, app, err := instance(ctx, tx, req.InstanceID)
		if err != nil {
			return err
		}
		if req.PredecessorID != "" {
			if _, err := r.predecessor(ctx, tx, req); err != nil {
				return err
			}
		}
		var done bool
		if done, creds, err = r.existingBinding(ctx, tx, req, params); done {
			return err
		}
		if ctype, err = bindingType(app, p); err != nil {
			return err
		}
		b = storage.Binding{
			ID: req.BindingID, InstanceID: req.InstanceID, CredentialType: ctype,
			Parameters: params, AppGUID: req.AppGUID, CreatedAt: r.now(),
			Name: req.Name, Context: req.Context,
		}
		var secret, key string
		switch {
		case plan != nil:
			if err := checkUnique(ctx, tx, req.InstanceID, plan); err != nil {
				return err
			}
			// No secret: a random id keeps the store's unique secret_id column happy.
			b.SecretID, b.SecretHash = uuid.NewString(), []byte{}
			certBinding(&b, plan)
			if plan.issued != nil {
				key = string(plan.issued.KeyPEM)
				// Kept sealed, as a secret is, so that a retried bind (the
				// client may never have seen the answer) and fetching the
				// binding return the key again: a binding is never a
				// certificate whose key is lost.
				if b.SealedSecret, err = r.cfg.MasterKey.Seal(plan.issued.KeyPEM, []byte(b.ID)); err != nil {
					return err
				}
			}
		case ctype == scopes.CredentialInstance:
			// The secret is the instance's; the binding only counts.
			if secret, err = r.ensureInstanceSecret(ctx, tx, &in); err != nil {
				return err
			}
			b.SecretID, b.SecretHash = uuid.NewString(), []byte{}
		default:
			var sid string
			if secret, sid, err = clients.NewSecret(); err != nil {
				return err
			}
			b.SecretID, b.SecretHash = sid, r.hasher.Hash(secret)
			// Kept sealed so that fetching the binding returns it again;
			// with hide-secret it is never returned, so it is not kept.
			if !hidesSecret(b) {
				if b.SealedSecret, err = r.cfg.MasterKey.Seal([]byte(secret), []byte(b.ID)); err != nil {
					return err
				}
			}
		}
		if err := tx.CreateBinding(ctx, b, MaxBindings); err != nil {
			switch {
			case errors.Is(err, storage.ErrLimit):
				return opErr(ErrLimit, "service instance %s already has the maximum of %d bindings and service keys; delete one first", req.InstanceID, MaxBindings)
			case errors.Is(err, storage.ErrAlreadyExists):
				return opErr(ErrConflict, "service binding %s already exists", req.BindingID)
			case errors.Is(err, storage.ErrNotFound):
				return opErr(ErrNotFound, "service instance %s does not exist", req.InstanceID)
			}
			return err
		}
		zone, err := tx.GetZone(ctx, in.ZoneID)
		if err != nil {
			return err
		}
		creds, created = r.credentials(zone, in, app, b, secret, key), true
		return nil
	})
	if err != nil || !created {
		return creds, false, err
	}
	logArgs := []any{"instance", req.InstanceID, "binding", req.BindingID, "credential_type", b.CredentialType}
	if req.PredecessorID != "" {
		logArgs = append(logArgs, "predecessor", req.PredecessorID)
	}
	if plan != nil {
		logArgs = append(logArgs, "certificate_subject", b.CertSubject, "certificate_issuer", b.CertIssuer, "pinned", b.CertPinned, "service_managed", plan.issued != nil)
	}
	r.cfg.Log.Debug("service binding created", logArgs...)
	return creds, true, nil
}

// successorRequest turns a rotation request into the request it stands
// for: the predecessor's parameters, and its app, name and context unless
// the request gives them.
func (r *Registry) successorRequest(ctx context.Context, req BindRequest) (BindRequest, error) {
	if len(req.Parameters) > 0 && canonicalJSON(req.Parameters) != "null" && canonicalJSON(req.Parameters) != "{}" {
		return req, opErr(ErrInvalid, "parameters: a rotation request (predecessor_binding_id %q) takes the parameters of the binding it rotates; send none", req.PredecessorID)
	}
	pred, err := r.predecessor(ctx, r.store, req)
	if err != nil {
		return req, err
	}
	if pred.CredentialType == scopes.CredentialX509 && pred.CertSubject != "" {
		if p, err := parseBindParams(orEmpty(pred.Parameters)); err == nil && p.X509 != nil && p.X509.Certificate != nil {
			if pred.CertPinned {
				return req, opErr(ErrInvalid, "predecessor_binding_id: service binding %s binds your own certificate (x509.certificate, pinned), and the same certificate cannot be bound twice; to rotate, create a new binding with your new certificate, then unbind %s", pred.ID, pred.ID)
			}
			return req, opErr(ErrInvalid, "predecessor_binding_id: service binding %s binds your own certificate unpinned: it already accepts every newer certificate with subject %q and issuer %q, so it needs no rotation; for a certificate with other names create a new binding with x509.certificate", pred.ID, pred.CertSubject, pred.CertIssuer)
		}
	}
	req.Parameters = pred.Parameters
	if req.AppGUID == "" {
		req.AppGUID = pred.AppGUID
	}
	if req.Name == "" {
		req.Name = pred.Name
	}
	if len(req.Context) == 0 || string(req.Context) == "null" {
		req.Context = pred.Context
	}
	return req, nil
}

// predecessor returns the binding a rotation request names; it must be
// another binding of the same instance.
func (r *Registry) predecessor(ctx context.Context, rd storage.Reader, req BindRequest) (storage.Binding, error) {
	if req.PredecessorID == req.BindingID {
		return storage.Binding{}, opErr(ErrInvalid, "predecessor_binding_id: %q is the id of the new binding itself; name the binding it replaces", req.PredecessorID)
	}
	pred, err := rd.GetBinding(ctx, req.PredecessorID)
	// Another instance's binding reads as one that does not exist: the
	// answer must not tell whether an id is taken elsewhere (another org's).
	switch {
	case err != nil && !errors.Is(err, storage.ErrNotFound):
		return storage.Binding{}, err
	case err != nil || pred.InstanceID != req.InstanceID:
		return storage.Binding{}, opErr(ErrInvalid, "predecessor_binding_id: service binding %s does not exist in service instance %s; a binding can only be rotated within its instance", req.PredecessorID, req.InstanceID)
	}
	return pred, nil
}

// existingBinding handles a bind request for an id that exists: the same
// request again returns its credentials, a different one is a conflict.
// done is false when the id is free.
func (r *Registry) existingBinding(ctx context.Context, rd storage.Reader, req BindRequest, params json.RawMessage) (done bool, creds Credentials, err error) {
	old, err := rd.GetBinding(ctx, req.BindingID)
	if errors.Is(err, storage.ErrNotFound) {
		return false, Credentials{}, nil
	}
	if err != nil {
		return true, Credentials{}, err
	}
	if old.InstanceID == req.InstanceID && old.AppGUID == req.AppGUID && canonicalJSON(old.Parameters) == canonicalJSON(params) {
		creds, err := r.storedCredentials(ctx, rd, old)
		return true, creds, err
	}
	return true, Credentials{}, opErr(ErrConflict, "service binding %s already exists with different attributes", req.BindingID)
}

// bindingType resolves and checks the credential type of a new binding.
func bindingType(app *scopes.App, p bindParams) (string, error) {
	ctype := p.CredentialType
	if ctype == "" {
		ctype = app.DefaultCredentialType()
	}
	if !app.AllowsCredentialType(ctype) {
		return "", opErr(ErrInvalid, "%scredential-type %q is not allowed for this instance; its oauth2-configuration.credential-types are %q", p.prefix, ctype, app.CredentialTypes)
	}
	switch ctype {
	case scopes.CredentialSecret, scopes.CredentialInstance:
		if p.X509 != nil {
			how := "the instance's default credential type"
			if p.CredentialType != "" {
				how = "the requested credential type"
			}
			return "", opErr(ErrInvalid, "%sx509: certificate parameters were given, but %s is %q; add \"credential-type\": \"x509\"", p.prefix, how, ctype)
		}
	case scopes.CredentialX509:
		if p.HideSecret != nil {
			return "", opErr(ErrInvalid, "%shide-secret: applies only to the credential types %q and %q, not %q; to leave your own certificate out of the credentials use x509.hide-certificate", p.prefix, scopes.CredentialSecret, scopes.CredentialInstance, ctype)
		}
	default:
		return "", opErr(ErrInvalid, "%scredential-type %q is not supported; use %q, %q or %q", p.prefix, ctype, scopes.CredentialSecret, scopes.CredentialInstance, scopes.CredentialX509)
	}
	return ctype, nil
}

// Unbind deletes a binding; its credential stops working, on every
// replica, for every token request that starts after Unbind returns.
func (r *Registry) Unbind(ctx context.Context, instanceID, bindingID string) error {
	err := r.update(ctx, func(tx storage.Tx) error {
		b, err := tx.GetBinding(ctx, bindingID)
		if errors.Is(err, storage.ErrNotFound) || (err == nil && b.InstanceID != instanceID) {
			return opErr(ErrNotFound, "service binding %s does not exist", bindingID)
		}
		if err != nil {
			return err
		}
		return tx.DeleteBinding(ctx, bindingID)
	})
	if err != nil {
		return err
	}
	r.cfg.Log.Debug("service binding deleted", "instance", instanceID, "binding", bindingID)
	return nil
}

// GetBinding returns the credentials of a binding: an instance-secret
// binding's carry the instance's secret, a binding-secret binding's its
// own (unless hide-secret was given), a service-managed certificate's its
// private key.
func (r *Registry) GetBinding(ctx context.Context, instanceID, bindingID string) (Credentials, error) {
	b, err := r.store.GetBinding(ctx, bindingID)
	if errors.Is(err, storage.ErrNotFound) || (err == nil && b.InstanceID != instanceID) {
		return Credentials{}, opErr(ErrNotFound, "service binding %s does not exist", bindingID)
	}
	if err != nil {
		return Credentials{}, err
	}
	return r.storedCredentials(ctx, r.store, b)
}

// storedCredentials builds the credentials of an existing binding: with
// its sealed secret or private key, or the instance's secret for an
// instance-secret binding (none with hide-secret).
func (r *Registry) storedCredentials(ctx context.Context, rd storage.Reader, b storage.Binding) (Credentials, error) {
	in, app, err := instance(ctx, rd, b.InstanceID)
	if err != nil {
		return Credentials{}, err
	}
	zone, err := rd.GetZone(ctx, in.ZoneID)
	if err != nil {
		return Credentials{}, err
	}
	secret, key := r.storedSecret(b), ""
	if b.CredentialType == scopes.CredentialX509 {
		// A service-managed certificate's sealed private key.
		secret, key = "", secret
	}
	if b.CredentialType == scopes.CredentialInstance && !hidesSecret(b) {
		if in.SealedSecret == nil {
			return Credentials{}, fmt.Errorf("service instance %s has instance-secret bindings but no instance-secret", in.ID)
		}
		if secret, err = clients.OpenInstanceSecret(r.cfg.MasterKey, in); err != nil {
			return Credentials{}, err
		}
	}
	return r.credentials(zone, in, app, b, secret, key), nil
}

// hidesSecret reports whether a binding was made with "hide-secret": true.
func hidesSecret(b storage.Binding) bool {
	p, err := parseBindParams(orEmpty(b.Parameters))
	return err == nil && p.HideSecret != nil && *p.HideSecret
}

// storedSecret opens a binding's sealed secret; "" if it has none (x509)
// or it cannot be opened (which the log reports).
func (r *Registry) storedSecret(b storage.Binding) string {
	if len(b.SealedSecret) == 0 {
		return ""
	}
	secret, err := r.cfg.MasterKey.Open(b.SealedSecret, []byte(b.ID))
	if err != nil {
		r.cfg.Log.Error("cannot open the sealed secret of a binding", "binding", b.ID, "error", err)
		return ""
	}
	return string(secret)
}

// credentials builds a binding's credentials from its rows; secret and
// key are only known when the binding is created (or, for the
// instance-secret, read from the store). With hide-secret the secret is
// left out.
func (r *Registry) credentials(z storage.Zone, in storage.Instance, app *scopes.App, b storage.Binding, secret, key string) Credentials {
	if hidesSecret(b) {
		secret = ""
	}
	ep := r.cfg.Endpoints
	if z.ID != r.index.ProviderZone().ID {
		ep = ep.inZone(z.Subdomain)
	}
	cr := Credentials{
		ClientID: app.ClientID(), ClientSecret: secret, CredentialType: b.CredentialType,
		URL: ep.URL, UAADomain: ep.UAADomain, XSAppName: app.RuntimeName,
		IdentityZone: z.Subdomain, IdentityZoneID: z.ID, TenantID: z.ID, ZoneID: z.ID, SubaccountID: z.ID,
		TenantMode: app.TenantMode, ServiceInstanceID: in.ID, APIURL: r.cfg.Endpoints.URL, SBURL: r.cfg.Endpoints.URL,
	}
	if r.cfg.VerificationKey != nil {
		cr.VerificationKey = r.cfg.VerificationKey()
	}
	if app.Plan == scopes.PlanBroker {
		cr.TrustedSuffix = "|" + app.RuntimeName
	}
	if b.CredentialType == scopes.CredentialX509 {
		pinned := b.CertPinned
		cr.Certificate, cr.Key, cr.CertURL, cr.CertificatePinning = b.CertPEM, key, ep.CertURL, &pinned
		if cr.CertURL == "" {
			cr.CertURL = ep.URL
		}
		cr.Metadata = certMetadata(b)
	}
	return cr
}
