package registry

import (
	"context"
	"encoding/json"
	"errors"
	"slices"

	"github.com/openxsuaa/xsuaa/clients/storage"
	"github.com/openxsuaa/xsuaa/scopes"
)

// InstanceRequest asks to create or update an instance.
type InstanceRequest struct {
	ID string
	// ZoneID or ZoneSubdomain names the identity zone the instance lives
	// in; both "" is the provider zone. A zone that does not exist is an
	// ErrInvalid.
	ZoneID        string
	ZoneSubdomain string
	Name          string // empty: the id
	ServiceID     string
	PlanID        string
	Plan          string // scopes.PlanApplication or scopes.PlanBroker
	OrgGUID       string
	SpaceGUID     string
	// Parameters is the xs-security.json. On update, nil keeps the current one.
	Parameters json.RawMessage
	Context    json.RawMessage
}

// CreateInstance validates the descriptor, resolves it, and stores the
// instance. A repeated request with identical attributes returns the
// existing instance with created=false; different attributes are ErrConflict.
func (r *Registry) CreateInstance(ctx context.Context, req InstanceRequest) (in storage.Instance, created bool, err error) {
	if len(req.Parameters) == 0 || string(req.Parameters) == "null" {
		return in, false, opErr(ErrInvalid, "parameters: the xs-security.json is missing; pass it as the request's \"parameters\" object")
	}
	desc, err := scopes.Parse(req.Parameters)
	if err != nil {
		return in, false, &OpError{Kind: ErrInvalid, Msg: err.Error()}
	}
	zoneID := req.ZoneID
	if zoneID == "" {
		zoneID = r.index.ProviderZone().ID
	}
	var app *scopes.App
	err = r.update(ctx, func(tx storage.Tx) error {
		created = false
		if old, err := tx.GetInstance(ctx, req.ID); err == nil {
			if old.ServiceID == req.ServiceID && old.PlanID == req.PlanID && old.OrgGUID == req.OrgGUID &&
				old.SpaceGUID == req.SpaceGUID && canonicalJSON(old.Parameters) == canonicalJSON(req.Parameters) {
				in = old
				return nil
			}
			return opErr(ErrConflict, "service instance %s already exists with different attributes", req.ID)
		} else if !errors.Is(err, storage.ErrNotFound) {
			return err
		}
		zone, err := instanceZone(ctx, tx, zoneID, req.ZoneSubdomain)
		if err != nil {
			return err
		}
		env, lookupErr := r.env(ctx, tx, req.Plan, zone, req.SpaceGUID)
		if app, err = scopes.Resolve(desc, env); err != nil {
			return &OpError{Kind: ErrInvalid, Msg: err.Error()} // scopes.ValidationError names the descriptor
		}
		if *lookupErr != nil {
			return *lookupErr
		}
		appJSON, err := json.Marshal(app)
		if err != nil {
			return err
		}
		now := r.now()
		in = storage.Instance{
			ID: req.ID, ZoneID: zone.ID, Name: req.Name, ServiceID: req.ServiceID, PlanID: req.PlanID,
			OrgGUID: req.OrgGUID, SpaceGUID: req.SpaceGUID, Parameters: req.Parameters, Context: orEmpty(req.Context),
			RuntimeName: app.RuntimeName, App: appJSON, CreatedAt: now, UpdatedAt: now,
		}
		if in.Name == "" {
			in.Name = in.ID
		}
		if err := tx.CreateInstance(ctx, in); err != nil {
			if errors.Is(err, storage.ErrAlreadyExists) {
				return opErr(ErrConflict, "xsappname %q is already in use", desc.XSAppName)
			}
			return err
		}
		created = true
		return syncRoleCollections(ctx, tx, zone.ID, in.ID, app.RoleCollections)
	})
	if err != nil {
		return storage.Instance{}, false, err
	}
	if created {
		r.cfg.Log.Debug("service instance created", "instance", in.ID, "name", in.Name, "xsappname", app.RuntimeName, "plan", req.Plan)
	}
	return in, created, nil
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
func (r *Registry) UpdateInstance(ctx context.Context, req InstanceRequest) (storage.Instance, error) {
	var desc *scopes.Descriptor
	if len(req.Parameters) > 0 && string(req.Parameters) != "null" {
		d, err := scopes.Parse(req.Parameters)
		if err != nil {
			return storage.Instance{}, &OpError{Kind: ErrInvalid, Msg: err.Error()}
		}
		desc = d
	}
	var updated storage.Instance
	var app *scopes.App
	var deleted []storage.Binding
	err := r.update(ctx, func(tx storage.Tx) error {
		deleted = nil
		old, oldApp, err := instance(ctx, tx, req.ID)
		if err != nil {
			return err
		}
		if req.ServiceID != "" && req.ServiceID != old.ServiceID {
			return opErr(ErrInvalid, "service_id %q does not match the instance's service %q", req.ServiceID, old.ServiceID)
		}
		if req.PlanID != "" && req.PlanID != old.PlanID {
			return opErr(ErrInvalid, "plan_id: the plan of an xsuaa instance cannot be changed")
		}
		updated, app = old, oldApp
		if desc == nil {
			return nil
		}
		zone, err := tx.GetZone(ctx, old.ZoneID)
		if err != nil {
			return err
		}
		env, lookupErr := r.env(ctx, tx, oldApp.Plan, zone, old.SpaceGUID)
		a, err := scopes.Resolve(desc, env)
		if err != nil {
			return &OpError{Kind: ErrInvalid, Msg: err.Error()} // scopes.ValidationError names the descriptor
		}
		if *lookupErr != nil {
			return *lookupErr
		}
		if a.RuntimeName != oldApp.RuntimeName {
			return opErr(ErrInvalid, "Error updating application %s (Cannot change AppId with update. Old AppId: %s New AppId: %s)", oldApp.RuntimeName, oldApp.RuntimeName, a.RuntimeName)
		}
		if prev, err := scopes.Parse(old.Parameters); err == nil {
			if err := scopes.CheckUpdate(prev, desc); err != nil {
				return &OpError{Kind: ErrInvalid, Msg: "incompatible update of " + oldApp.RuntimeName + ": " + err.Error()}
			}
		}
		appJSON, err := json.Marshal(a)
		if err != nil {
			return err
		}
		var removed []string
		for _, t := range oldApp.CredentialTypes {
			if !a.AllowsCredentialType(t) && !slices.Contains(removed, t) {
				removed = append(removed, t)
			}
		}
		if len(removed) > 0 {
			bs, err := tx.ListBindings(ctx, old.ID)
			if err != nil {
				return err
			}
			for _, b := range bs {
				if slices.Contains(removed, b.CredentialType) {
					if err := tx.DeleteBinding(ctx, b.ID); err != nil {
						return err
					}
					deleted = append(deleted, b)
				}
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
		subs, err := tx.ListSubscriptions(ctx, old.ID, "")
		if err != nil {
			return err
		}
		if len(subs) > 0 && a.TenantMode != "shared" {
			return opErr(ErrInvalid, "tenant-mode: %s has %d subscribed zone(s) and must stay shared; unsubscribe them first", oldApp.RuntimeName, len(subs))
		}
		if err := tx.UpdateInstance(ctx, old); err != nil {
			return err
		}
		if err := syncSubscribedRoleCollections(ctx, tx, old.ID, a.RoleCollections); err != nil {
			return err
		}
		return syncRoleCollections(ctx, tx, old.ZoneID, old.ID, a.RoleCollections)
	})
	if err != nil {
		return storage.Instance{}, err
	}
	if desc != nil {
		r.cfg.Log.Debug("service instance updated", "instance", req.ID, "xsappname", app.RuntimeName)
		for _, b := range deleted {
			r.cfg.Log.Info("service binding deleted", "instance", req.ID, "binding", b.ID, "credential_type", b.CredentialType,
				"reason", "credential type removed from oauth2-configuration.credential-types")
		}
	}
	return updated, nil
}

// DeleteInstance deletes an instance and its bindings, and a broker-plan
// instance's clones; their credentials stop working before it returns.
func (r *Registry) DeleteInstance(ctx context.Context, id string) error {
	err := r.update(ctx, func(tx storage.Tx) error {
		in, app, err := instance(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := syncRoleCollections(ctx, tx, in.ZoneID, id, nil); err != nil {
			return err
		}
		// Its subscriptions go with it (without callbacks), and the role
		// collections copied into the subscribed zones.
		if err := syncSubscribedRoleCollections(ctx, tx, id, nil); err != nil {
			return err
		}
		clones, err := tx.ListClones(ctx)
		if err != nil {
			return err
		}
		for _, c := range clones {
			if ca, err := appOf(c); err == nil && ca.CloneOf == app.RuntimeName {
				if err := tx.DeleteInstance(ctx, c.ID); err != nil {
					return err
				}
			}
		}
		return tx.DeleteInstance(ctx, id)
	})
	if err != nil {
		return err
	}
	r.cfg.Log.Debug("service instance deleted", "instance", id)
	return nil
}

// GetInstance returns a stored instance.
func (r *Registry) GetInstance(ctx context.Context, id string) (storage.Instance, error) {
	in, _, err := instance(ctx, r.store, id)
	return in, err
}

// instanceZone reads the zone a new instance is created in: the one
// with the subdomain when one is given, else the one with the id.
func instanceZone(ctx context.Context, tx storage.Tx, id, subdomain string) (storage.Zone, error) {
	if subdomain == "" {
		z, err := tx.GetZone(ctx, id)
		if errors.Is(err, storage.ErrNotFound) {
			return z, opErr(ErrInvalid, "identity zone %s does not exist; create it with xsuaa create-zone", id)
		}
		return z, err
	}
	z, found, err := zoneBySubdomain(ctx, tx, subdomain)
	if err != nil || found {
		return z, err
	}
	return z, opErr(ErrInvalid, "there is no identity zone with the subdomain %q; create it with xsuaa create-zone", subdomain)
}

// env is the resolution environment of an instance in a zone, reading
// inside the write transaction. A store error met by a lookup is put into
// *err, which callers check after resolving.
func (r *Registry) env(ctx context.Context, tx storage.Tx, plan string, zone storage.Zone, spaceGUID string) (scopes.Env, *error) {
	var lookupErr error
	return scopes.Env{
		Plan:      plan,
		ZoneIndex: zone.Index,
		LookupZone: func(name string) (int, bool) {
			zones, err := tx.ListZones(ctx)
			if err != nil {
				lookupErr = err
				return 0, false
			}
			for _, z := range zones {
				if name == z.ID || name == z.Subdomain {
					return z.Index, true
				}
			}
			return 0, false
		},
		LookupInstance: func(name string) []string {
			ins, err := tx.FindInstances(ctx, spaceGUID, name)
			if err != nil {
				lookupErr = err
				return nil
			}
			var found []string
			for _, in := range ins {
				if in.ZoneID == zone.ID {
					found = append(found, in.RuntimeName)
				}
			}
			return found
		},
	}, &lookupErr
}
