package registry

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/openxsuaa/xsuaa/clients"
	"github.com/openxsuaa/xsuaa/clients/storage"
	"github.com/openxsuaa/xsuaa/scopes"
)

// clonePrefix marks the instance and binding ids of clones, which share
// the instances table with service instances but not their id space.
const clonePrefix = "clone:"

// ReservedID reports whether an instance or binding id is in the clones'
// namespace, which only the clone API may create: the broker API refuses
// such ids, so that no one can take a clone's id or read its secret.
func ReservedID(id string) bool { return strings.HasPrefix(id, clonePrefix) }

var cloneIDRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// CloneRequest asks for a clone of a broker-plan instance: the
// per-consumer OAuth client a reuse service creates for each of its own
// service instances.
type CloneRequest struct {
	// Parent is the authenticated credential of the broker-plan app.
	Parent  *clients.Credential
	CloneID string
	// Parameters is the request body (see parseCloneParams).
	Parameters json.RawMessage
}

// cloneParams is a clone request's body:
//
//	{"authorities": ["TASK_GET"],                  // local scope names of the parent; absent: its own authorities
//	 "credential-type": "binding-secret" | "x509", // default binding-secret
//	 "x509": {"key-length": 2048, "validity": 7, "validity-type": "DAYS"},
//	 "context": {"instance_name": "my-jobscheduler", "organization_guid": "…", "space_guid": "…", …}}
//
// "context" is the OSB context of the consumer's service instance, as the
// reuse broker received it: the clone takes that instance's name, org and
// space, so that $XSSERVICENAME(<name>) in the consumer's space names it.
type cloneParams struct {
	Authorities []string
	bind        bindParams
	name        string
	org, space  string
	context     json.RawMessage
}

// cloneFields lists the fields of a clone request, for error messages.
const cloneFields = `"authorities", "credential-type", "x509" and "context"`

// parseCloneParams reads a clone request's body. Unknown and misplaced
// fields are errors, as in the broker API, so that a mistyped field never
// silently changes what the clone gets.
func parseCloneParams(raw json.RawMessage) (cloneParams, error) {
	var p cloneParams
	if err := scopes.CheckJSON(raw); err != nil {
		return p, opErr(ErrInvalid, "body: %v", err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil || top == nil {
		return p, opErr(ErrInvalid, "body: not a JSON object; a clone request takes %s", cloneFields)
	}
	fields := make([]string, 0, len(top))
	for k := range top {
		fields = append(fields, k)
	}
	slices.Sort(fields)
	bind := map[string]json.RawMessage{}
	for _, k := range fields {
		v := top[k]
		switch k {
		case "authorities":
			if string(v) == "null" {
				continue
			}
			if err := json.Unmarshal(v, &p.Authorities); err != nil {
				return p, opErr(ErrInvalid, "authorities: must be an array of scope names of the reuse service, such as [\"TASK_GET\"]")
			}
			if p.Authorities == nil {
				p.Authorities = []string{}
			}
		case "credential-type", "x509":
			bind[k] = v
		case "key-length", "validity", "validity-type":
			return p, opErr(ErrInvalid, "%s: belongs inside the x509 object, as in {\"credential-type\":\"x509\",\"x509\":{%q:…}}", k, k)
		case "context":
			var c map[string]json.RawMessage
			if err := json.Unmarshal(v, &c); err != nil || c == nil {
				return p, opErr(ErrInvalid, "context: must be the OSB context object of the consumer's service instance, such as {\"instance_name\":…,\"organization_guid\":…,\"space_guid\":…}")
			}
			for name, dst := range map[string]*string{"instance_name": &p.name, "organization_guid": &p.org, "space_guid": &p.space} {
				if raw, ok := c[name]; ok {
					if err := json.Unmarshal(raw, dst); err != nil {
						return p, opErr(ErrInvalid, "context.%s: must be a string", name)
					}
				}
			}
			p.context = v
		default:
			return p, opErr(ErrInvalid, "unknown field %q; a clone request takes %s", k, cloneFields)
		}
	}
	b, _ := json.Marshal(bind)
	var err error
	if p.bind, err = parseBindParams(b); err != nil {
		return p, err
	}
	switch p.bind.CredentialType {
	case "", scopes.CredentialSecret:
		if p.bind.X509 != nil {
			return p, opErr(ErrInvalid, "x509: certificate parameters were given, but the clone's credential type is %q; add \"credential-type\": \"x509\"", scopes.CredentialSecret)
		}
	case scopes.CredentialX509:
		if x := p.bind.X509; x != nil && (x.Certificate != nil || x.Pinning != nil || x.EnsureUnique != nil || x.HideCert != nil) {
			return p, opErr(ErrInvalid, "x509: a clone's certificate comes from the server's CA; it takes key-length, validity and validity-type only")
		}
	default:
		return p, opErr(ErrInvalid, "credential-type %q: a clone takes %q or %q", p.bind.CredentialType, scopes.CredentialSecret, scopes.CredentialX509)
	}
	return p, nil
}

// CreateClone creates a clone with its own credential — a client secret,
// or a certificate from the server's CA — and returns its credentials;
// the clone and its binding are written in one transaction. Repeating an
// identical request returns them (a secret is kept sealed, as a binding's;
// a certificate's key only comes with the first answer) and created=false.
func (r *Registry) CreateClone(ctx context.Context, req CloneRequest) (Credentials, bool, error) {
	parent := req.Parent.Client
	if parent.App.Plan != scopes.PlanBroker || parent.App.CloneOf != "" {
		return Credentials{}, false, opErr(ErrInvalid, "only the client of a broker-plan instance can create clones; %s is not one", parent.ID)
	}
	if !cloneIDRe.MatchString(req.CloneID) {
		return Credentials{}, false, opErr(ErrInvalid, "clone id %q: use 1 to 64 of a-z A-Z 0-9 _ -", req.CloneID)
	}
	params := orEmpty(req.Parameters)
	p, err := parseCloneParams(params)
	if err != nil {
		return Credentials{}, false, err
	}
	app, err := scopes.NewClone(parent.App, req.CloneID, parent.Zone.Index, p.Authorities)
	if err != nil {
		return Credentials{}, false, &OpError{Kind: ErrInvalid, Msg: "invalid clone request: " + strings.TrimPrefix(err.Error(), "invalid xs-security.json: ")}
	}
	id := clonePrefix + req.CloneID
	// A certificate's key is made outside the transaction (it takes a
	// while); an identical repeated request then does not use it.
	var plan *certPlan
	if p.bind.CredentialType == scopes.CredentialX509 {
		if plan, err = r.prepareX509(ctx, p.bind, parent.Zone.ID, id, id); err != nil {
			return Credentials{}, false, err
		}
	}
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
			ID: id, ZoneID: parentIn.ZoneID, Name: cmp.Or(p.name, req.CloneID), ServiceID: parentIn.ServiceID, PlanID: parentIn.PlanID,
			OrgGUID: cmp.Or(p.org, parentIn.OrgGUID), SpaceGUID: cmp.Or(p.space, parentIn.SpaceGUID), Parameters: params,
			Context: orEmpty(p.context), RuntimeName: app.RuntimeName, App: appJSON, CreatedAt: now, UpdatedAt: now,
		}
		if err := tx.CreateInstance(ctx, in); err != nil {
			if errors.Is(err, storage.ErrAlreadyExists) {
				return opErr(ErrConflict, "a client named %s already exists", app.ClientID())
			}
			return err
		}
		b := storage.Binding{ID: id, InstanceID: id, CreatedAt: now, Parameters: json.RawMessage(`{"credential-type":"binding-secret"}`)}
		var secret, key string
		if plan != nil {
			b.CredentialType, b.Parameters = scopes.CredentialX509, json.RawMessage(`{"credential-type":"x509"}`)
			b.SecretID, b.SecretHash = uuid.NewString(), []byte{}
			certBinding(&b, plan)
			key = string(plan.issued.KeyPEM)
			// Sealed, so that a retried request gets the key again.
			if b.SealedSecret, err = r.cfg.MasterKey.Seal(plan.issued.KeyPEM, []byte(b.ID)); err != nil {
				return err
			}
		} else {
			var sid string
			if secret, sid, err = clients.NewSecret(); err != nil {
				return err
			}
			b.CredentialType, b.SecretID, b.SecretHash = scopes.CredentialSecret, sid, r.hasher.Hash(secret)
			if b.SealedSecret, err = r.cfg.MasterKey.Seal([]byte(secret), []byte(b.ID)); err != nil {
				return err
			}
		}
		if err := tx.CreateBinding(ctx, b, MaxBindings); err != nil {
			return err
		}
		creds, created = r.credentials(zone, in, app, b, secret, key), true
		return nil
	})
	if err != nil {
		return Credentials{}, false, err
	}
	if created {
		r.cfg.Log.Debug("clone created", "clone", req.CloneID, "client_id", app.ClientID(), "parent", parent.ID, "credential_type", creds.CredentialType)
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
	r.cfg.Log.Debug("clone deleted", "clone", cloneID, "parent", parent.Client.ID)
	return nil
}
