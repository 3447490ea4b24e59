package clients

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"strings"

	"github.com/openxsuaa/xsuaa/scopes"
)

// clonePrefix marks the instance and binding ids of clones, which share
// the instances table with service instances but not their id space.
const clonePrefix = "clone:"

var cloneIDRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// CloneRequest asks for a clone of a broker-plan instance: the
// per-consumer OAuth client a reuse service creates for each of its own
// service instances.
type CloneRequest struct {
	// Parent is the authenticated credential of the broker-plan app.
	Parent  *Credential
	CloneID string
	// Parameters is the request body, e.g. {"authorities":["TASK_GET"]}.
	Parameters json.RawMessage
}

type cloneParams struct {
	Authorities []string `json:"authorities"`
}

// CreateClone creates a clone with its own client secret and returns its
// credentials. Repeating an identical request returns them without the
// secret and created=false.
func (r *Registry) CreateClone(ctx context.Context, req CloneRequest) (Credentials, bool, error) {
	parent := req.Parent.Client
	if parent.App.Plan != scopes.PlanBroker || parent.App.CloneOf != "" {
		return Credentials{}, false, opErr(ErrInvalid, "only the client of a broker-plan instance can create clones; %s is not one", parent.ID)
	}
	if !cloneIDRe.MatchString(req.CloneID) {
		return Credentials{}, false, opErr(ErrInvalid, "clone id %q: use 1 to 64 of a-z A-Z 0-9 _ -", req.CloneID)
	}
	params := orEmpty(req.Parameters)
	var p cloneParams
	if err := json.Unmarshal(params, &p); err != nil {
		return Credentials{}, false, opErr(ErrInvalid, "body: not a JSON object with an optional \"authorities\" array: %v", err)
	}
	app, err := scopes.NewClone(parent.App, req.CloneID, parent.Zone.Index, p.Authorities)
	if err != nil {
		return Credentials{}, false, &OpError{Kind: ErrInvalid, Msg: "invalid clone request: " + strings.TrimPrefix(err.Error(), "invalid xs-security.json: ")}
	}
	id := clonePrefix + req.CloneID
	in, created, err := r.createCloneInstance(ctx, parent, id, app, params)
	if err != nil || !created {
		if err == nil {
			creds, gerr := r.GetBinding(ctx, id, id)
			return creds, false, gerr
		}
		return Credentials{}, false, err
	}
	creds, _, err := r.Bind(ctx, BindRequest{InstanceID: in.ID, BindingID: id, Parameters: json.RawMessage(`{"credential-type":"binding-secret"}`)})
	if err != nil {
		r.DeleteInstance(ctx, in.ID) // no clone without a credential
		return Credentials{}, false, err
	}
	return creds, true, nil
}

func (r *Registry) createCloneInstance(ctx context.Context, parent *Client, id string, app *scopes.App, params json.RawMessage) (Instance, bool, error) {
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	if old, err := r.store.GetInstance(ctx, id); err == nil {
		var oldApp scopes.App
		json.Unmarshal(old.App, &oldApp)
		if oldApp.CloneOf == parent.App.RuntimeName && canonicalJSON(old.Parameters) == canonicalJSON(params) {
			return old, false, nil
		}
		return Instance{}, false, opErr(ErrConflict, "clone %s already exists with different attributes", strings.TrimPrefix(id, clonePrefix))
	} else if !errors.Is(err, ErrNotFound) {
		return Instance{}, false, err
	}
	parentIn, err := r.store.GetInstance(ctx, parent.InstanceID)
	if err != nil {
		return Instance{}, false, err
	}
	appJSON, err := json.Marshal(app)
	if err != nil {
		return Instance{}, false, err
	}
	now := r.now()
	in := Instance{
		ID: id, ZoneID: parentIn.ZoneID, Name: strings.TrimPrefix(id, clonePrefix), ServiceID: parentIn.ServiceID, PlanID: parentIn.PlanID,
		OrgGUID: parentIn.OrgGUID, SpaceGUID: parentIn.SpaceGUID, Parameters: params, Context: json.RawMessage("{}"),
		RuntimeName: app.RuntimeName, App: appJSON, CreatedAt: now, UpdatedAt: now,
	}
	if err := r.store.CreateInstance(ctx, in); err != nil {
		if errors.Is(err, ErrAlreadyExists) {
			return Instance{}, false, opErr(ErrConflict, "a client named %s already exists", app.ClientID())
		}
		return Instance{}, false, err
	}
	c, err := r.newClient(in)
	if err != nil {
		return Instance{}, false, err
	}
	r.publish(in.ID, c, true)
	r.cfg.Log.Info("clone created", "clone", in.Name, "client_id", app.ClientID(), "parent", parent.ID)
	return in, true, nil
}

// DeleteClone deletes a clone of the authenticated broker-plan app; its
// credential stops working before it returns.
func (r *Registry) DeleteClone(ctx context.Context, parent *Credential, cloneID string) error {
	id := clonePrefix + cloneID
	c, ok := r.lookupInstance(id)
	if !ok || c.App.CloneOf != parent.Client.App.RuntimeName {
		return opErr(ErrNotFound, "clone %s of %s does not exist", cloneID, parent.Client.ID)
	}
	return r.DeleteInstance(ctx, id)
}

// clonesOf returns the instance ids of the clones of the app with the
// given runtime name. Callers hold mu (read) or writeMu.
func (r *Registry) clonesOf(runtimeName string) []string {
	var ids []string
	for id, c := range r.byInst {
		if c.App.CloneOf == runtimeName {
			ids = append(ids, id)
		}
	}
	return ids
}

// authoritiesOf computes the client_credentials authorities of an app: a
// clone's from its parent, any other's from the grants made to it. Callers
// hold mu.
func (r *Registry) authoritiesOf(app *scopes.App) []string {
	if app.CloneOf != "" {
		var parent *scopes.App
		if p, ok := r.clients["sb-"+app.CloneOf]; ok {
			parent = p.App
		}
		return scopes.CloneAuthorities(app, parent)
	}
	return scopes.Authorities(app, r.grantsTo)
}
