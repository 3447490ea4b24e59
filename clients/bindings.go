package clients

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/google/uuid"

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
}

// Credentials is the credentials object of a binding, with XSUAA's field
// names. Key is empty except in the response that created the binding:
// the private key is not stored. The secret is returned again (it is kept
// sealed), except with hide-secret.
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
}

// Bind creates a binding with a fresh credential and returns its
// credentials. A repeated request with identical attributes returns the
// existing binding's credentials (without a certificate's private key) and
// created=false.
//
// Credential types: "binding-secret" gets a generated secret; "x509" gets
// a certificate from the server's CA (parameters x509.key-length,
// x509.validity, x509.validity-type) or binds the caller's own
// (x509.certificate, x509.certificate-pinning, x509.ensure-uniqueness,
// x509.hide-certificate). Parameters may also come nested under "xsuaa".
func (r *Registry) Bind(ctx context.Context, req BindRequest) (creds Credentials, created bool, err error) {
	params := orEmpty(req.Parameters)
	p, err := parseBindParams(params)
	if err != nil {
		return Credentials{}, false, err
	}
	// Checks that need no lock come first, so that a certificate (whose
	// key generation may take seconds) is made without holding writeMu.
	c, ok := r.lookupInstance(req.InstanceID)
	if !ok {
		return Credentials{}, false, opErr(ErrNotFound, "service instance %s does not exist", req.InstanceID)
	}
	if done, creds, err := r.existingBinding(ctx, c, req, params); done {
		return creds, false, err
	}
	ctype, err := bindingType(c, p)
	if err != nil {
		return Credentials{}, false, err
	}
	var plan *certPlan
	if ctype == scopes.CredentialX509 {
		if plan, err = r.prepareX509(p, req.InstanceID, req.BindingID); err != nil {
			return Credentials{}, false, err
		}
	}

	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	// The instance may have changed or gone meanwhile: check again.
	if c, ok = r.lookupInstance(req.InstanceID); !ok {
		return Credentials{}, false, opErr(ErrNotFound, "service instance %s does not exist", req.InstanceID)
	}
	if done, creds, err := r.existingBinding(ctx, c, req, params); done {
		return creds, false, err
	}
	if ctype, err = bindingType(c, p); err != nil {
		return Credentials{}, false, err
	}
	b := Binding{
		ID: req.BindingID, InstanceID: req.InstanceID, CredentialType: ctype,
		Parameters: params, AppGUID: req.AppGUID, CreatedAt: r.now(),
		Name: req.Name, Context: req.Context,
	}
	var secret, key string
	if plan != nil {
		if err := r.checkUnique(c, plan); err != nil {
			return Credentials{}, false, err
		}
		// No secret: a random id keeps the store's unique secret_id column happy.
		b.SecretID, b.SecretHash = uuid.NewString(), []byte{}
		certBinding(&b, plan)
		if plan.issued != nil {
			key = string(plan.issued.KeyPEM)
		}
	} else {
		var sid string
		if secret, sid, err = newSecret(); err != nil {
			return Credentials{}, false, err
		}
		b.SecretID, b.SecretHash = sid, r.hasher.hash(secret)
		if b.SealedSecret, err = r.cfg.MasterKey.Seal([]byte(secret), []byte(b.ID)); err != nil {
			return Credentials{}, false, err
		}
	}
	if err := r.store.CreateBinding(ctx, b, MaxBindings); err != nil {
		switch {
		case errors.Is(err, ErrLimit):
			return Credentials{}, false, opErr(ErrLimit, "service instance %s already has the maximum of %d bindings and service keys; delete one first", req.InstanceID, MaxBindings)
		case errors.Is(err, ErrAlreadyExists):
			return Credentials{}, false, opErr(ErrConflict, "service binding %s already exists", req.BindingID)
		case errors.Is(err, ErrNotFound):
			return Credentials{}, false, opErr(ErrNotFound, "service instance %s does not exist", req.InstanceID)
		}
		return Credentials{}, false, err
	}
	if plan != nil {
		r.publish(req.InstanceID, withCerts(c, func(n *Client) { r.indexCert(n, b) }), false)
		r.cfg.Log.Info("service binding created", "instance", req.InstanceID, "binding", req.BindingID, "credential_type", ctype,
			"certificate_subject", b.CertSubject, "certificate_issuer", b.CertIssuer, "pinned", b.CertPinned, "service_managed", plan.issued != nil)
	} else {
		r.publish(req.InstanceID, withSecrets(c, func(m map[string]secretEntry) { m[b.SecretID] = r.entry(c, b) }), false)
		r.cfg.Log.Info("service binding created", "instance", req.InstanceID, "binding", req.BindingID, "credential_type", ctype)
	}
	return r.credentials(c, b, secret, key), true, nil
}

// existingBinding handles a bind request for an id that exists: the same
// request again returns its credentials, a different one is a conflict.
// done is false when the id is free.
func (r *Registry) existingBinding(ctx context.Context, c *Client, req BindRequest, params json.RawMessage) (done bool, creds Credentials, err error) {
	old, err := r.store.GetBinding(ctx, req.BindingID)
	if errors.Is(err, ErrNotFound) {
		return false, Credentials{}, nil
	}
	if err != nil {
		return true, Credentials{}, err
	}
	if old.InstanceID == req.InstanceID && old.AppGUID == req.AppGUID && canonicalJSON(old.Parameters) == canonicalJSON(params) {
		return true, r.credentials(c, old, r.storedSecret(old), ""), nil
	}
	return true, Credentials{}, opErr(ErrConflict, "service binding %s already exists with different attributes", req.BindingID)
}

// bindingType resolves and checks the credential type of a new binding.
func bindingType(c *Client, p bindParams) (string, error) {
	ctype := p.CredentialType
	if ctype == "" {
		ctype = c.App.DefaultCredentialType()
	}
	if !c.App.AllowsCredentialType(ctype) {
		return "", opErr(ErrInvalid, "%scredential-type %q is not allowed for this instance; its oauth2-configuration.credential-types are %q", p.prefix, ctype, c.App.CredentialTypes)
	}
	switch ctype {
	case scopes.CredentialSecret:
		if p.X509 != nil {
			how := "the instance's default credential type"
			if p.CredentialType != "" {
				how = "the requested credential type"
			}
			return "", opErr(ErrInvalid, "%sx509: certificate parameters were given, but %s is %q; add \"credential-type\": \"x509\"", p.prefix, how, ctype)
		}
	case scopes.CredentialX509:
	default:
		return "", opErr(ErrInvalid, "%scredential-type %q is not supported by this server yet; use %q or %q", p.prefix, ctype, scopes.CredentialSecret, scopes.CredentialX509)
	}
	return ctype, nil
}

// Unbind deletes a binding; its credential stops working before Unbind returns.
func (r *Registry) Unbind(ctx context.Context, instanceID, bindingID string) error {
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	b, err := r.store.GetBinding(ctx, bindingID)
	if errors.Is(err, ErrNotFound) || (err == nil && b.InstanceID != instanceID) {
		return opErr(ErrNotFound, "service binding %s does not exist", bindingID)
	}
	if err != nil {
		return err
	}
	if err := r.store.DeleteBinding(ctx, bindingID); err != nil {
		return err
	}
	if c, ok := r.lookupInstance(instanceID); ok {
		if b.CredentialType == scopes.CredentialX509 {
			r.publish(instanceID, withCerts(c, func(n *Client) { unindexCert(n, b) }), false)
		} else {
			r.publish(instanceID, withSecrets(c, func(m map[string]secretEntry) { delete(m, b.SecretID) }), false)
		}
	}
	r.cfg.Log.Info("service binding deleted", "instance", instanceID, "binding", bindingID)
	return nil
}

// GetBinding returns the credentials of a binding, without the secret.
func (r *Registry) GetBinding(ctx context.Context, instanceID, bindingID string) (Credentials, error) {
	b, err := r.store.GetBinding(ctx, bindingID)
	c, ok := r.lookupInstance(instanceID)
	if errors.Is(err, ErrNotFound) || (err == nil && (b.InstanceID != instanceID || !ok)) {
		return Credentials{}, opErr(ErrNotFound, "service binding %s does not exist", bindingID)
	}
	if err != nil {
		return Credentials{}, err
	}
	return r.credentials(c, b, r.storedSecret(b), ""), nil
}

// storedSecret opens a binding's sealed secret; "" if it has none (x509)
// or it cannot be opened (which the log reports).
func (r *Registry) storedSecret(b Binding) string {
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

// credentials builds a binding's credentials; secret and key are only
// known when the binding is created.
func (r *Registry) credentials(c *Client, b Binding, secret, key string) Credentials {
	z, ep := c.Zone, r.cfg.Endpoints
	cr := Credentials{
		ClientID: c.ID, ClientSecret: secret, CredentialType: b.CredentialType,
		URL: ep.URL, UAADomain: ep.UAADomain, XSAppName: c.App.RuntimeName,
		IdentityZone: z.Subdomain, IdentityZoneID: z.ID, TenantID: z.ID, ZoneID: z.ID, SubaccountID: z.ID,
		TenantMode: c.App.TenantMode, ServiceInstanceID: c.InstanceID, APIURL: ep.URL, SBURL: ep.URL,
	}
	if r.cfg.VerificationKey != nil {
		cr.VerificationKey = r.cfg.VerificationKey()
	}
	if c.App.Plan == scopes.PlanBroker {
		cr.TrustedSuffix = "|" + c.App.RuntimeName
	}
	if b.CredentialType == scopes.CredentialX509 {
		pinned := b.CertPinned
		cr.Certificate, cr.Key, cr.CertURL, cr.CertificatePinning = b.CertPEM, key, ep.CertURL, &pinned
		if cr.CertURL == "" {
			cr.CertURL = ep.URL
		}
	}
	return cr
}
