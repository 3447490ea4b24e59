package registry

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"strings"

	"github.com/openxsuaa/xsuaa/clients"
	"github.com/openxsuaa/xsuaa/clients/storage"
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
	Parent  *clients.Credential
	CloneID string
	// Parameters is the request body, e.g. {"authorities":["TASK_GET"]}.
	Parameters json.RawMessage
}

type cloneParams struct {
	Authorities []string `json:"authorities"`
}

// CreateClone creates a clone with its own client secret and returns its
// credentials; the clone and its binding are written in one transaction.
// Repeating an identical request returns them (the secret is kept sealed,
// as a binding's) and created=false.
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
	var creds Credentials
	created := false
	err = r.update(ctx, func(tx storage.Tx) error {
		created = false
		if old, err := tx.GetInstance(ctx, id); err == nil {
			oldApp, err := appOf(old)
			if err != nil {
				return err
			}
			if oldApp.CloneOf != parent.App.RuntimeName || canonicalJSON(old.Parameters) != canonicalJSON(params) {
				return opErr(ErrConflict, "clone %s already exists with different attributes", req.CloneID)
			}
			b, err := tx.GetBinding(ctx, id)
			if err != nil {
				return err
			}
			creds, err = r.storedCredentials(ctx, tx, b)
			return err
		} else if !errors.Is(err, storage.ErrNotFound) {
			return err
		}
		parentIn, _, err := instance(ctx, tx, parent.InstanceID)
		if err != nil {
			return err
		}
		zone, err := tx.GetZone(ctx, parentIn.ZoneID)
		if err != nil {
			return err
		}
		appJSON, err := json.Marshal(app)
		if err != nil {
			return err
		}
		now := r.now()
		in := storage.Instance{
			ID: id, ZoneID: parentIn.ZoneID, Name: req.CloneID, ServiceID: parentIn.ServiceID, PlanID: parentIn.PlanID,
			OrgGUID: parentIn.OrgGUID, SpaceGUID: parentIn.SpaceGUID, Parameters: params, Context: json.RawMessage("{}"),
			RuntimeName: app.RuntimeName, App: appJSON, CreatedAt: now, UpdatedAt: now,
		}
		if err := tx.CreateInstance(ctx, in); err != nil {
			if errors.Is(err, storage.ErrAlreadyExists) {
				return opErr(ErrConflict, "a client named %s already exists", app.ClientID())
			}
			return err
		}
		secret, sid, err := clients.NewSecret()
		if err != nil {
			return err
		}
		b := storage.Binding{ID: id, InstanceID: id, CredentialType: scopes.CredentialSecret, SecretID: sid,
			SecretHash: r.hasher.Hash(secret), Parameters: json.RawMessage(`{"credential-type":"binding-secret"}`), CreatedAt: now}
		if b.SealedSecret, err = r.cfg.MasterKey.Seal([]byte(secret), []byte(b.ID)); err != nil {
			return err
		}
		if err := tx.CreateBinding(ctx, b, MaxBindings); err != nil {
			return err
		}
		creds, created = r.credentials(zone, in, app, b, secret, ""), true
		return nil
	})
	if err != nil {
		return Credentials{}, false, err
	}
	if created {
		r.cfg.Log.Info("clone created", "clone", req.CloneID, "client_id", app.ClientID(), "parent", parent.ID)
	}
	return creds, created, nil
}

// DeleteClone deletes a clone of the authenticated broker-plan app; its
// credential stops working before it returns.
func (r *Registry) DeleteClone(ctx context.Context, parent *clients.Credential, cloneID string) error {
	id := clonePrefix + cloneID
	err := r.update(ctx, func(tx storage.Tx) error {
		in, app, err := instance(ctx, tx, id)
		if err != nil || app.CloneOf != parent.Client.App.RuntimeName || in.ZoneID != parent.Client.Zone.ID {
			return opErr(ErrNotFound, "clone %s of %s does not exist", cloneID, parent.Client.ID)
		}
		return tx.DeleteInstance(ctx, id)
	})
	if err != nil {
		return err
	}
	r.cfg.Log.Info("clone deleted", "clone", cloneID, "parent", parent.Client.ID)
	return nil
}
