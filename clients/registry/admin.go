package registry

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/openxsuaa/xsuaa/clients/storage"
	"github.com/openxsuaa/xsuaa/scopes"
)

// InstanceSummary is an instance as the admin API lists it.
type InstanceSummary struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Plan      string `json:"plan"`
	XSAppName string `json:"xsappname"` // the runtime name, e.g. "orders!t1"
	ClientID  string `json:"clientid"`
	SpaceGUID string `json:"space_guid"`
	// CloneOf is the broker-plan app a clone belongs to.
	CloneOf   string    `json:"clone_of,omitempty"`
	Bindings  int       `json:"bindings"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// BindingSummary is a binding or service key as the admin API lists it:
// no secret, no key.
type BindingSummary struct {
	ID             string    `json:"id"`
	Name           string    `json:"name,omitempty"`
	CredentialType string    `json:"credential_type"`
	AppGUID        string    `json:"app_guid,omitempty"`
	CreatedAt      time.Time `json:"created_at"`
	// CertSubject is the subject DN of an x509 binding's certificate.
	CertSubject string `json:"certificate_subject,omitempty"`
}

// InstanceDetail is one instance with what its client may do and its
// bindings.
type InstanceDetail struct {
	InstanceSummary
	// Scopes are the app's own scopes; Authorities what a
	// client_credentials token of it carries now (own authorities plus
	// accepted grants); Grants its scopes granted to other apps.
	Scopes          []string         `json:"scopes"`
	Authorities     []string         `json:"authorities"`
	Grants          []scopes.Grant   `json:"grants,omitempty"`
	TokenValidity   int              `json:"token_validity"`
	CredentialTypes []string         `json:"credential_types"`
	TenantMode      string           `json:"tenant_mode"`
	Descriptor      json.RawMessage  `json:"descriptor"`
	BindingList     []BindingSummary `json:"binding_list"`
}

// ListInstances lists every instance, oldest first.
func (r *Registry) ListInstances(ctx context.Context) ([]InstanceSummary, error) {
	ins, err := r.store.ListInstances(ctx)
	if err != nil {
		return nil, err
	}
	bs, err := r.store.ListBindings(ctx, "")
	if err != nil {
		return nil, err
	}
	count := map[string]int{}
	for _, b := range bs {
		count[b.InstanceID]++
	}
	out := make([]InstanceSummary, 0, len(ins))
	for _, in := range ins {
		s, err := summary(in)
		if err != nil {
			return nil, err
		}
		s.Bindings = count[in.ID]
		out = append(out, s)
	}
	return out, nil
}

// DescribeInstance returns one instance with its bindings.
func (r *Registry) DescribeInstance(ctx context.Context, id string) (InstanceDetail, error) {
	in, err := r.store.GetInstance(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return InstanceDetail{}, opErr(ErrNotFound, "service instance %s does not exist", id)
	}
	if err != nil {
		return InstanceDetail{}, err
	}
	s, err := summary(in)
	if err != nil {
		return InstanceDetail{}, err
	}
	var app scopes.App
	if err := json.Unmarshal(in.App, &app); err != nil {
		return InstanceDetail{}, err
	}
	bs, err := r.store.ListBindings(ctx, id)
	if err != nil {
		return InstanceDetail{}, err
	}
	d := InstanceDetail{
		InstanceSummary: s, Scopes: nonNilStrings(app.Scopes), Grants: app.Grants,
		TokenValidity: app.TokenValidity, CredentialTypes: app.CredentialTypes, TenantMode: app.TenantMode,
		Descriptor: in.Parameters, BindingList: []BindingSummary{},
	}
	// The authorities depend on other instances' grants: the index has
	// them, once it is current.
	if err := r.index.Sync(ctx); err != nil {
		return InstanceDetail{}, err
	}
	if c, ok := r.index.LookupInstance(id); ok {
		d.Authorities = slices.Clone(c.Authorities)
	}
	d.Authorities = nonNilStrings(d.Authorities)
	d.Bindings = len(bs)
	for _, b := range bs {
		d.BindingList = append(d.BindingList, BindingSummary{
			ID: b.ID, Name: b.Name, CredentialType: b.CredentialType, AppGUID: b.AppGUID,
			CreatedAt: b.CreatedAt, CertSubject: b.CertSubject,
		})
	}
	return d, nil
}

func summary(in storage.Instance) (InstanceSummary, error) {
	var app scopes.App
	if err := json.Unmarshal(in.App, &app); err != nil {
		return InstanceSummary{}, err
	}
	return InstanceSummary{
		ID: in.ID, Name: in.Name, Plan: app.Plan, XSAppName: app.RuntimeName, ClientID: app.ClientID(),
		SpaceGUID: in.SpaceGUID, CloneOf: app.CloneOf, CreatedAt: in.CreatedAt, UpdatedAt: in.UpdatedAt,
	}, nil
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
