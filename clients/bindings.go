package clients

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/openxsuaa/xsuaa/scopes"
)

// BindRequest asks to create a binding (or service key) of an instance.
type BindRequest struct {
	InstanceID string
	BindingID  string
	AppGUID    string
	// Parameters are the binding parameters, e.g. {"credential-type":"binding-secret"}.
	Parameters json.RawMessage
}

// bindParams are the binding parameters this server understands.
type bindParams struct {
	CredentialType string `json:"credential-type"`
}

// Credentials is the credentials object of a binding, with XSUAA's field
// names. ClientSecret is empty except in the response that created the
// binding: the secret is stored only as a hash.
type Credentials struct {
	ClientID          string `json:"clientid"`
	ClientSecret      string `json:"clientsecret,omitempty"`
	CredentialType    string `json:"credential-type"`
	URL               string `json:"url"`
	UAADomain         string `json:"uaadomain"`
	XSAppName         string `json:"xsappname"`
	IdentityZone      string `json:"identityzone"`
	IdentityZoneID    string `json:"identityzoneid"`
	TenantID          string `json:"tenantid"`
	ZoneID            string `json:"zoneid"`
	SubaccountID      string `json:"subaccountid"`
	TenantMode        string `json:"tenantmode"`
	ServiceInstanceID string `json:"serviceInstanceId"`
	APIURL            string `json:"apiurl"`
	SBURL             string `json:"sburl"`
	VerificationKey   string `json:"verificationkey"`
	TrustedSuffix     string `json:"trustedclientidsuffix,omitempty"`
}

// Bind creates a binding with a fresh credential and returns its
// credentials. A repeated request with identical attributes returns the
// existing binding's credentials without the secret and created=false.
func (r *Registry) Bind(ctx context.Context, req BindRequest) (creds Credentials, created bool, err error) {
	params := orEmpty(req.Parameters)
	var p bindParams
	if err := json.Unmarshal(params, &p); err != nil {
		return Credentials{}, false, opErr(ErrInvalid, "parameters: not a JSON object: %v", err)
	}
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	c, ok := r.lookupInstance(req.InstanceID)
	if !ok {
		return Credentials{}, false, opErr(ErrNotFound, "service instance %s does not exist", req.InstanceID)
	}
	if old, err := r.store.GetBinding(ctx, req.BindingID); err == nil {
		if old.InstanceID == req.InstanceID && old.AppGUID == req.AppGUID && canonicalJSON(old.Parameters) == canonicalJSON(params) {
			return r.credentials(c, old, ""), false, nil
		}
		return Credentials{}, false, opErr(ErrConflict, "service binding %s already exists with different attributes", req.BindingID)
	} else if !errors.Is(err, ErrNotFound) {
		return Credentials{}, false, err
	}

	ctype := p.CredentialType
	if ctype == "" {
		ctype = c.App.DefaultCredentialType()
	}
	if !c.App.AllowsCredentialType(ctype) {
		return Credentials{}, false, opErr(ErrInvalid, "credential-type %q is not allowed for this instance; its oauth2-configuration.credential-types are %q", ctype, c.App.CredentialTypes)
	}
	if ctype != scopes.CredentialSecret {
		return Credentials{}, false, opErr(ErrInvalid, "credential-type %q is not supported by this server yet; use %q", ctype, scopes.CredentialSecret)
	}
	secret, sid, err := newSecret()
	if err != nil {
		return Credentials{}, false, err
	}
	b := Binding{
		ID: req.BindingID, InstanceID: req.InstanceID, CredentialType: ctype, SecretID: sid,
		SecretHash: r.hasher.hash(secret), Parameters: params, AppGUID: req.AppGUID, CreatedAt: r.now(),
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
	r.publish(req.InstanceID, withSecrets(c, func(m map[string]secretEntry) { m[sid] = r.entry(c, b) }), false)
	r.cfg.Log.Info("service binding created", "instance", req.InstanceID, "binding", req.BindingID, "credential_type", ctype)
	return r.credentials(c, b, secret), true, nil
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
		r.publish(instanceID, withSecrets(c, func(m map[string]secretEntry) { delete(m, b.SecretID) }), false)
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
	return r.credentials(c, b, ""), nil
}

func (r *Registry) credentials(c *Client, b Binding, secret string) Credentials {
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
	return cr
}
