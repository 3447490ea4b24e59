package clients

import (
	"context"
	"encoding/json"
	"errors"
	"slices"

	"github.com/openxsuaa/xsuaa/scopes"
)

// InstanceRequest asks to create or update an instance.
type InstanceRequest struct {
	ID        string
	Name      string // empty: the id
	ServiceID string
	PlanID    string
	Plan      string // scopes.PlanApplication or scopes.PlanBroker
	OrgGUID   string
	SpaceGUID string
	// Parameters is the xs-security.json. On update, nil keeps the current one.
	Parameters json.RawMessage
	Context    json.RawMessage
}

// CreateInstance validates the descriptor, resolves it, and stores the
// instance. A repeated request with identical attributes returns the
// existing instance with created=false; different attributes are ErrConflict.
func (r *Registry) CreateInstance(ctx context.Context, req InstanceRequest) (in Instance, created bool, err error) {
	if len(req.Parameters) == 0 || string(req.Parameters) == "null" {
		return Instance{}, false, opErr(ErrInvalid, "parameters: the xs-security.json is missing; pass it as the request's \"parameters\" object")
	}
	desc, err := scopes.Parse(req.Parameters)
	if err != nil {
		return Instance{}, false, &OpError{Kind: ErrInvalid, Msg: err.Error()}
	}
	r.writeMu.Lock()
	defer r.writeMu.Unlock()

	if old, err := r.store.GetInstance(ctx, req.ID); err == nil {
		if old.ServiceID == req.ServiceID && old.PlanID == req.PlanID && old.OrgGUID == req.OrgGUID &&
			old.SpaceGUID == req.SpaceGUID && canonicalJSON(old.Parameters) == canonicalJSON(req.Parameters) {
			return old, false, nil
		}
		return Instance{}, false, opErr(ErrConflict, "service instance %s already exists with different attributes", req.ID)
	} else if !errors.Is(err, ErrNotFound) {
		return Instance{}, false, err
	}

	app, err := scopes.Resolve(desc, r.env(req.Plan, req.SpaceGUID))
	if err != nil {
		return Instance{}, false, &OpError{Kind: ErrInvalid, Msg: "invalid xs-security.json: " + err.Error()}
	}
	if other, ok := r.Lookup(app.ClientID()); ok {
		return Instance{}, false, opErr(ErrConflict, "xsappname %q is already used by service instance %q (%s)", desc.XSAppName, other.InstanceName, other.InstanceID)
	}
	appJSON, err := json.Marshal(app)
	if err != nil {
		return Instance{}, false, err
	}
	now := r.now()
	in = Instance{
		ID: req.ID, ZoneID: r.cfg.Zone.ID, Name: req.Name, ServiceID: req.ServiceID, PlanID: req.PlanID,
		OrgGUID: req.OrgGUID, SpaceGUID: req.SpaceGUID, Parameters: req.Parameters, Context: orEmpty(req.Context),
		RuntimeName: app.RuntimeName, App: appJSON, CreatedAt: now, UpdatedAt: now,
	}
	if in.Name == "" {
		in.Name = in.ID
	}
	if err := r.store.CreateInstance(ctx, in); err != nil {
		if errors.Is(err, ErrAlreadyExists) {
			return Instance{}, false, opErr(ErrConflict, "xsappname %q is already in use", desc.XSAppName)
		}
		return Instance{}, false, err
	}
	c, err := r.newClient(in)
	if err != nil {
		return Instance{}, false, err
	}
	r.publish(in.ID, c, true)
	r.cfg.Log.Info("service instance created", "instance", in.ID, "name", in.Name, "xsappname", app.RuntimeName, "plan", req.Plan)
	return in, true, nil
}

// UpdateInstance applies a new descriptor to an instance. The xsappname
// cannot change, and neither can the plan.
//
// A credential type removed from oauth2-configuration.credential-types
// invalidates the instance's bindings of that type at once: they are
// deleted in the same store transaction as the update, so a crash leaves
// either the old instance with all its bindings or the new one without
// them, and their credentials stop working before UpdateInstance returns.
// Deleted, they cannot come back if the type is added again (unbinding one
// is then 410 Gone, GET binding 404). Removing "instance-secret" also
// deletes the sealed instance-secret, so that a later instance-secret
// binding gets a new one.
func (r *Registry) UpdateInstance(ctx context.Context, req InstanceRequest) (Instance, error) {
	var desc *scopes.Descriptor
	if len(req.Parameters) > 0 && string(req.Parameters) != "null" {
		d, err := scopes.Parse(req.Parameters)
		if err != nil {
			return Instance{}, &OpError{Kind: ErrInvalid, Msg: err.Error()}
		}
		desc = d
	}
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	var updated Instance
	var app *scopes.App
	var removed []string
	deleted, err := r.store.UpdateInstanceDeletingBindings(ctx, req.ID, func(old Instance) (Instance, []string, error) {
		removed = nil
		if req.ServiceID != "" && req.ServiceID != old.ServiceID {
			return old, nil, opErr(ErrInvalid, "service_id %q does not match the instance's service %q", req.ServiceID, old.ServiceID)
		}
		if req.PlanID != "" && req.PlanID != old.PlanID {
			return old, nil, opErr(ErrInvalid, "plan_id: the plan of an xsuaa instance cannot be changed")
		}
		var oldApp scopes.App
		if err := json.Unmarshal(old.App, &oldApp); err != nil {
			return old, nil, err
		}
		if desc == nil {
			updated, app = old, &oldApp
			return old, nil, nil
		}
		a, err := scopes.Resolve(desc, r.env(oldApp.Plan, old.SpaceGUID))
		if err != nil {
			return old, nil, &OpError{Kind: ErrInvalid, Msg: "invalid xs-security.json: " + err.Error()}
		}
		if a.RuntimeName != oldApp.RuntimeName {
			return old, nil, opErr(ErrInvalid, "Error updating application %s (Cannot change AppId with update. Old AppId: %s New AppId: %s)", oldApp.RuntimeName, oldApp.RuntimeName, a.RuntimeName)
		}
		if prev, err := scopes.Parse(old.Parameters); err == nil {
			if err := scopes.CheckUpdate(prev, desc); err != nil {
				return old, nil, &OpError{Kind: ErrInvalid, Msg: "incompatible update of " + oldApp.RuntimeName + ": " + err.Error()}
			}
		}
		appJSON, err := json.Marshal(a)
		if err != nil {
			return old, nil, err
		}
		for _, t := range oldApp.CredentialTypes {
			if !a.AllowsCredentialType(t) && !slices.Contains(removed, t) {
				removed = append(removed, t)
			}
		}
		if slices.Contains(removed, scopes.CredentialInstance) {
			old.SealedSecret = nil
		}
		old.Parameters, old.App, old.UpdatedAt = req.Parameters, appJSON, r.now()
		if len(req.Context) > 0 {
			old.Context = req.Context
		}
		updated, app = old, a
		return old, removed, nil
	})
	if errors.Is(err, ErrNotFound) {
		return Instance{}, opErr(ErrNotFound, "service instance %s does not exist", req.ID)
	}
	if err != nil {
		return Instance{}, err
	}
	if desc != nil {
		cur, _ := r.lookupInstance(req.ID)
		next := withoutBindings(cur, deleted...)
		if slices.Contains(removed, scopes.CredentialInstance) {
			delete(next.secrets, next.instSecretID)
			next.instSecretID, next.instSecret, next.instBindings = "", secretEntry{}, 0
		}
		next.App = app
		r.publish(req.ID, next, true)
		r.cfg.Log.Info("service instance updated", "instance", req.ID, "xsappname", app.RuntimeName)
		for _, b := range deleted {
			r.cfg.Log.Info("service binding deleted", "instance", req.ID, "binding", b.ID, "credential_type", b.CredentialType,
				"reason", "credential type removed from oauth2-configuration.credential-types")
		}
	}
	return updated, nil
}

// DeleteInstance deletes an instance and its bindings; their credentials
// stop working before it returns.
func (r *Registry) DeleteInstance(ctx context.Context, id string) error {
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	// A broker-plan instance takes its clones with it, clones first so that
	// no clone outlives its parent even if this is interrupted.
	if c, ok := r.lookupInstance(id); ok {
		r.mu.RLock()
		clones := r.clonesOf(c.App.RuntimeName)
		r.mu.RUnlock()
		for _, cid := range clones {
			if err := r.store.DeleteInstance(ctx, cid); err != nil && !errors.Is(err, ErrNotFound) {
				return err
			}
			r.publish(cid, nil, true)
		}
	}
	if err := r.store.DeleteInstance(ctx, id); err != nil {
		if errors.Is(err, ErrNotFound) {
			return opErr(ErrNotFound, "service instance %s does not exist", id)
		}
		return err
	}
	r.publish(id, nil, true)
	r.cfg.Log.Info("service instance deleted", "instance", id)
	return nil
}

// GetInstance returns a stored instance.
func (r *Registry) GetInstance(ctx context.Context, id string) (Instance, error) {
	in, err := r.store.GetInstance(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return Instance{}, opErr(ErrNotFound, "service instance %s does not exist", id)
	}
	return in, err
}

func (r *Registry) lookupInstance(id string) (*Client, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	c, ok := r.byInst[id]
	return c, ok
}

// env is the resolution environment of an instance in the default zone.
func (r *Registry) env(plan, spaceGUID string) scopes.Env {
	zone := r.cfg.Zone
	return scopes.Env{
		Plan:      plan,
		ZoneIndex: zone.Index,
		LookupZone: func(name string) (int, bool) {
			if name == zone.ID || name == zone.Subdomain {
				return zone.Index, true
			}
			return 0, false
		},
		LookupInstance: func(name string) (string, bool) {
			r.mu.RLock()
			defer r.mu.RUnlock()
			for _, c := range r.byInst {
				if c.InstanceName == name && c.spaceGUID == spaceGUID {
					return c.App.RuntimeName, true
				}
			}
			return "", false
		},
	}
}

func orEmpty(b json.RawMessage) json.RawMessage {
	if len(b) == 0 || string(b) == "null" {
		return json.RawMessage("{}")
	}
	return b
}
