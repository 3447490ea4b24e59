package clients

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openxsuaa/xsuaa/clients/storage"
	"github.com/openxsuaa/xsuaa/keys"
	"github.com/openxsuaa/xsuaa/scopes"
)

// ErrBadCredentials is returned by Authenticate for any failed authentication.
var ErrBadCredentials = errors.New("bad credentials")

// Client is what the token endpoint knows of one instance's OAuth client,
// built from the instance's rows by buildClient. A *Client is immutable
// once in the index (but for the validity starts of unpinned
// certificates, which only move forward, atomically): a change builds a
// new one.
type Client struct {
	ID           string // "sb-<runtime name>"
	InstanceID   string
	InstanceName string
	// Zone is the zone the client was found in: its instance's, or for a
	// shared instance's client a zone subscribed to it (Subscribed), whose
	// tokens name that zone.
	Zone       storage.Zone
	Subscribed bool
	App        *scopes.App
	// Authorities are the client_credentials authorities, sorted. They
	// depend on other apps' grants and, for a clone, on its parent, so the
	// index recomputes them (link) when those change.
	Authorities []string
	// secrets are the secret hashes that authenticate, by secret id: the
	// binding secrets, and the instance-secret while the instance has
	// instance-secret bindings.
	secrets secretSet
	// certs and dns index the certificates of x509 bindings: by SHA-256
	// of the leaf DER (service-managed and pinned ones), and by subject
	// and issuer DN (unpinned self-managed ones); nil while there are none.
	certs map[[32]byte]certEntry
	dns   map[dnKey]*dnEntry
}

type secretEntry struct {
	secretID  string
	bindingID string // "" for the instance-secret
	hash      []byte
	revSig    string
}

// secretSet holds a client's secrets by secret id: in a short slice for
// the usual one or two bindings (a map costs some 600 bytes even for one
// entry, which 100,000 instances feel), in a map beyond smallSet.
type secretSet struct {
	few  []secretEntry
	many map[string]secretEntry
}

const smallSet = 8

func (s *secretSet) add(e secretEntry) {
	if s.many == nil && len(s.few) < smallSet {
		s.few = append(s.few, e)
		return
	}
	if s.many == nil {
		s.many = make(map[string]secretEntry, 2*smallSet)
		for _, f := range s.few {
			s.many[f.secretID] = f
		}
		s.few = nil
	}
	s.many[e.secretID] = e
}

func (s *secretSet) get(id string) (secretEntry, bool) {
	if s.many != nil {
		e, ok := s.many[id]
		return e, ok
	}
	for _, e := range s.few {
		if e.secretID == id {
			return e, true
		}
	}
	return secretEntry{}, false
}

func (s *secretSet) len() int { return len(s.few) + len(s.many) }

// Credential is the result of a successful authentication.
type Credential struct {
	Client    *Client
	BindingID string
	// RevSig is the token's "rev_sig": it changes with the credential.
	RevSig string
	// CertThumbprint is set when a client certificate authenticated: the
	// certificate's "x5t#S256" (RFC 8705), for the token's "cnf" claim.
	CertThumbprint string
}

// IndexConfig configures an Index.
type IndexConfig struct {
	Store     storage.Store
	MasterKey *keys.MasterKey
	// ClientCAs are the CAs trusted for client certificates at the token
	// endpoint (the local CA and any --client-ca). Nil trusts none.
	ClientCAs *x509.CertPool
	// KeysChanged, if set, is called after a catch-up that saw key
	// records change (another replica rotated), e.g. to refresh the
	// signer, before the catch-up returns.
	KeysChanged func(ctx context.Context) error
	// SyncTimeout bounds Sync: how long a request waits to confirm with
	// the database that the index is current before it gives up (and the
	// token endpoint answers 503); default DefaultSyncTimeout.
	SyncTimeout time.Duration
	Now         func() time.Time
	Log         *slog.Logger
}

// DefaultSyncTimeout is IndexConfig.SyncTimeout's default: a replica cut
// off from its database stops issuing tokens within this time.
const DefaultSyncTimeout = 2 * time.Second

// Index is the token path's read model: every instance's client, keyed by
// (zone id, client id), with its secret hashes and certificates. It is
// built from stored rows by one function (buildClient), at start for
// every instance and afterwards for exactly the instances the change feed
// names; the token path reads it without touching storage but for one
// read of the store's revision (Sync), which makes it current first.
type Index struct {
	cfg    IndexConfig
	store  storage.Store
	hasher SecretHasher
	revKey []byte
	vcache verifyCache
	gate   revisionGate // shares the revision reads of concurrent Syncs

	// applied is the store revision the maps reflect; catchUp (under
	// syncMu, one at a time) moves it forward.
	applied atomic.Int64
	syncMu  sync.Mutex

	mu        sync.RWMutex
	zones     map[string]storage.Zone // by id
	zoneSubs  map[string]storage.Zone // by subdomain
	provider  storage.Zone            // the zone with the lowest index
	clients   map[clientKey]*Client
	byInst    map[string]*Client
	byRuntime map[string]*Client
	// clones maps a broker-plan app's runtime name to the instance ids of
	// its clones.
	clones map[string]map[string]bool
	// grants maps a grantee's runtime name to the grants made to it, per
	// granting instance; userGrants the same for granted-apps (user
	// tokens).
	grants     map[string]map[string][]scopes.Grant
	userGrants map[string]map[string][]scopes.Grant
	// users by id, their ids by (zone, origin, user name), and the role
	// collections by (zone, name) (users.go).
	users       map[string]*storage.User
	userNames   map[userKey]string
	collections map[collectionKey]*storage.RoleCollection
	// subscribed maps a shared instance's id to the ids of the zones
	// subscribed to it (subscriptions.go).
	subscribed map[string]map[string]bool
}

type clientKey struct{ zone, id string }

// NewIndex loads every zone, instance and binding from the store.
func NewIndex(ctx context.Context, cfg IndexConfig) (*Index, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.ClientCAs == nil {
		cfg.ClientCAs = x509.NewCertPool()
	}
	if cfg.SyncTimeout <= 0 {
		cfg.SyncTimeout = DefaultSyncTimeout
	}
	x := &Index{
		cfg:    cfg,
		store:  cfg.Store,
		hasher: NewSecretHasher(cfg.MasterKey),
		revKey: cfg.MasterKey.Derive("xsuaa rev_sig v1", 32),
		gate:   revisionGate{timeout: cfg.SyncTimeout},
	}
	x.syncMu.Lock()
	defer x.syncMu.Unlock()
	rev, err := x.reload(ctx)
	if err != nil {
		return nil, err
	}
	x.applied.Store(rev)
	return x, nil
}

// reload replaces the whole index with one snapshot of the store and
// returns the snapshot's revision, which the caller marks applied.
// Callers hold syncMu.
func (x *Index) reload(ctx context.Context) (int64, error) {
	var zones []storage.Zone
	var insts []storage.Instance
	var bindings []storage.Binding
	var users *userRows
	var subs []storage.Subscription
	rev, err := x.store.Snapshot(ctx, func(s storage.Snap) error {
		var err error
		if zones, err = s.ListZones(ctx); err != nil {
			return err
		}
		if subs, err = s.ListSubscriptions(ctx, "", ""); err != nil {
			return err
		}
		if users, err = loadAllUsers(ctx, s); err != nil {
			return err
		}
		if insts, err = s.ListInstances(ctx); err != nil {
			return err
		}
		bindings, err = s.ListBindings(ctx, "")
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("load instances: %w", err)
	}
	byInstance := map[string][]storage.Binding{}
	for _, b := range bindings {
		byInstance[b.InstanceID] = append(byInstance[b.InstanceID], b)
	}
	zoneByID := map[string]storage.Zone{}
	for _, z := range zones {
		zoneByID[z.ID] = z
	}
	x.mu.RLock()
	prev := x.byInst
	x.mu.RUnlock()
	built := make(map[string]*Client, len(insts))
	for _, in := range insts {
		c, err := x.buildClient(zoneByID[in.ZoneID], in, byInstance[in.ID], prev[in.ID])
		if err != nil {
			return 0, err
		}
		built[in.ID] = c
	}
	if z, ok := zoneByID[ProvisioningZoneID]; ok {
		built[ProvisioningInstanceID] = provisioningClient(z)
	}
	x.mu.Lock()
	x.setZones(zoneByID, zones)
	x.subscribed = map[string]map[string]bool{}
	for _, sub := range subs {
		x.subscribe(sub.InstanceID, sub.ZoneID)
	}
	x.clients = make(map[clientKey]*Client, len(built))
	x.byInst = make(map[string]*Client, len(built))
	x.byRuntime = make(map[string]*Client, len(built))
	x.grants = map[string]map[string][]scopes.Grant{}
	x.userGrants = map[string]map[string][]scopes.Grant{}
	x.clones = map[string]map[string]bool{}
	x.applyUsers(users, true)
	affected := map[string]bool{}
	for id, c := range built {
		x.put(id, c, affected)
	}
	x.link(affected)
	x.mu.Unlock()
	return rev, nil
}

func providerZone(zones []storage.Zone) storage.Zone {
	var p storage.Zone
	for _, z := range zones {
		if p.ID == "" || z.Index < p.Index {
			p = z
		}
	}
	return p
}

// buildClient builds the client of one instance from its rows: the
// instance, its zone and its bindings. prev, the instance's client before
// this change (nil if none), lends the validity starts the token path
// learnt for unpinned certificates that the rows may not show yet (their
// write is asynchronous).
func (x *Index) buildClient(zone storage.Zone, in storage.Instance, bindings []storage.Binding, prev *Client) (*Client, error) {
	var app scopes.App
	if err := json.Unmarshal(in.App, &app); err != nil {
		return nil, fmt.Errorf("instance %s: stored app: %w", in.ID, err)
	}
	c := &Client{
		ID: app.ClientID(), InstanceID: in.ID, InstanceName: in.Name, Zone: zone, App: &app,
	}
	instanceSecretBindings := 0
	for _, b := range bindings {
		revSig := x.revSig(c.ID + "|" + b.ID)
		switch b.CredentialType {
		case scopes.CredentialX509:
			if b.CertPinned {
				var fp [32]byte
				copy(fp[:], b.CertFingerprint)
				if c.certs == nil {
					c.certs = map[[32]byte]certEntry{}
				}
				c.certs[fp] = certEntry{bindingID: b.ID, revSig: revSig}
				continue
			}
			d := &dnEntry{bindingID: b.ID, revSig: revSig}
			nb := b.CertNotBefore.UnixMicro()
			if prev != nil {
				if p, ok := prev.dns[dnKey{b.CertSubject, b.CertIssuer}]; ok && p.bindingID == b.ID {
					nb = max(nb, p.notBefore.Load())
				}
			}
			d.notBefore.Store(nb)
			if c.dns == nil {
				c.dns = map[dnKey]*dnEntry{}
			}
			c.dns[dnKey{b.CertSubject, b.CertIssuer}] = d
		case scopes.CredentialInstance:
			instanceSecretBindings++
		default:
			c.secrets.add(secretEntry{secretID: b.SecretID, bindingID: b.ID, hash: b.SecretHash, revSig: revSig})
		}
	}
	// The instance-secret authenticates only while an instance-secret
	// binding exists.
	if instanceSecretBindings > 0 {
		if in.SealedSecret == nil {
			x.cfg.Log.Warn("service instance has instance-secret bindings but no instance-secret; they cannot authenticate", "instance", in.ID)
		} else {
			secret, err := OpenInstanceSecret(x.cfg.MasterKey, in)
			if err != nil {
				return nil, err
			}
			c.secrets.add(secretEntry{secretID: SecretID(secret), hash: x.hasher.Hash(secret), revSig: x.revSig(c.ID + "|instance-secret")})
		}
	}
	return c, nil
}

// put adds (c != nil) or removes (c == nil) the client of an instance and
// records in affected the runtime names whose authorities may change:
// the app's own and every app its grants name, before and after. Callers
// hold mu and call link afterwards.
func (x *Index) put(instanceID string, c *Client, affected map[string]bool) {
	if old := x.byInst[instanceID]; old != nil {
		x.unpublish(old)
		delete(x.byInst, instanceID)
		if x.byRuntime[old.App.RuntimeName] == old {
			delete(x.byRuntime, old.App.RuntimeName)
		}
		affected[old.App.RuntimeName] = true
		if p := old.App.CloneOf; p != "" {
			delete(x.clones[p], instanceID)
			if len(x.clones[p]) == 0 {
				delete(x.clones, p)
			}
		}
		for _, g := range old.App.Grants {
			affected[g.To] = true
			delete(x.grants[g.To], instanceID)
			if len(x.grants[g.To]) == 0 {
				delete(x.grants, g.To)
			}
		}
		for _, g := range old.App.UserGrants {
			delete(x.userGrants[g.To], instanceID)
			if len(x.userGrants[g.To]) == 0 {
				delete(x.userGrants, g.To)
			}
		}
	}
	if c == nil {
		return
	}
	x.publish(c)
	x.byInst[instanceID] = c
	x.byRuntime[c.App.RuntimeName] = c
	affected[c.App.RuntimeName] = true
	if p := c.App.CloneOf; p != "" {
		if x.clones[p] == nil {
			x.clones[p] = map[string]bool{}
		}
		x.clones[p][instanceID] = true
	}
	for _, g := range c.App.Grants {
		affected[g.To] = true
		if x.grants[g.To] == nil {
			x.grants[g.To] = map[string][]scopes.Grant{}
		}
		x.grants[g.To][instanceID] = append(x.grants[g.To][instanceID], g)
	}
	for _, g := range c.App.UserGrants {
		if x.userGrants[g.To] == nil {
			x.userGrants[g.To] = map[string][]scopes.Grant{}
		}
		x.userGrants[g.To][instanceID] = append(x.userGrants[g.To][instanceID], g)
	}
}

// link recomputes the authorities of the clients whose runtime name is in
// affected, and of the clones of those, replacing them with copies.
// Callers hold mu.
func (x *Index) link(affected map[string]bool) {
	targets := map[*Client]bool{}
	for name := range affected {
		if c := x.byRuntime[name]; c != nil {
			targets[c] = true
		}
		// Clones take their authorities from their parent.
		for id := range x.clones[name] {
			targets[x.byInst[id]] = true
		}
	}
	for c := range targets {
		cp := *c
		var granted []scopes.Grant
		for _, gs := range x.grants[c.App.RuntimeName] {
			granted = append(granted, gs...)
		}
		if c.App.CloneOf != "" {
			var parent *scopes.App
			if p := x.byRuntime[c.App.CloneOf]; p != nil {
				parent = p.App
			}
			cp.Authorities = scopes.CloneAuthorities(c.App, parent, granted)
		} else {
			cp.Authorities = scopes.Authorities(c.App, map[string][]scopes.Grant{c.App.RuntimeName: granted})
		}
		x.publish(&cp)
		x.byInst[cp.InstanceID] = &cp
		x.byRuntime[cp.App.RuntimeName] = &cp
	}
}

// revSig returns a token's "rev_sig" for a credential named by s.
func (x *Index) revSig(s string) string {
	m := hmac.New(sha256.New, x.revKey)
	m.Write([]byte(s))
	return hex.EncodeToString(m.Sum(nil)[:4])
}

// Revision returns the store revision the index reflects.
func (x *Index) Revision() int64 { return x.applied.Load() }

// Zone returns the zone with the given id.
func (x *Index) Zone(id string) (storage.Zone, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	z, ok := x.zones[id]
	return z, ok
}

// ZoneBySubdomain returns the zone with the given subdomain.
func (x *Index) ZoneBySubdomain(sub string) (storage.Zone, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	z, ok := x.zoneSubs[sub]
	return z, ok
}

// setZones replaces the zones (x.mu held for writing).
func (x *Index) setZones(byID map[string]storage.Zone, zones []storage.Zone) {
	x.zones, x.provider = byID, providerZone(zones)
	x.zoneSubs = make(map[string]storage.Zone, len(zones))
	for _, z := range zones {
		x.zoneSubs[z.Subdomain] = z
	}
}

// rezone gives the clients of a zone whose subdomain changed (a renamed
// zone, see storage.Tx.RenameZone) the zone as it is now, so that their
// tokens name it (x.mu held for writing, before setZones). A rename is
// rare: every client is looked at.
func (x *Index) rezone(now map[string]storage.Zone) {
	changed := map[string]storage.Zone{}
	for id, z := range now {
		if old, ok := x.zones[id]; ok && old != z {
			changed[id] = z
		}
	}
	if len(changed) == 0 {
		return
	}
	for key, c := range x.clients {
		z, ok := changed[c.Zone.ID]
		if !ok {
			continue
		}
		cp := *c
		cp.Zone = z
		x.clients[key] = &cp
		if !c.Subscribed {
			x.byInst[cp.InstanceID] = &cp
			x.byRuntime[cp.App.RuntimeName] = &cp
		}
	}
}

// ProviderZone returns the installation's own zone (the one with the
// lowest index), where requests that name no zone go.
func (x *Index) ProviderZone() storage.Zone {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.provider
}

// Lookup returns the client with the given client id in a zone.
func (x *Index) Lookup(zoneID, clientID string) (*Client, bool) {
	x.mu.RLock()
	c, ok := x.clients[clientKey{zoneID, clientID}]
	x.mu.RUnlock()
	return c, ok
}

// LookupInstance returns the client of an instance.
func (x *Index) LookupInstance(instanceID string) (*Client, bool) {
	x.mu.RLock()
	c, ok := x.byInst[instanceID]
	x.mu.RUnlock()
	return c, ok
}

// Authenticate checks a client secret in a zone. It reads memory only:
// one map lookup and one HMAC, compared in constant time.
func (x *Index) Authenticate(zoneID, clientID, secret string) (*Credential, error) {
	c, ok := x.Lookup(zoneID, clientID)
	sum := x.hasher.Hash(secret)
	if !ok {
		return nil, ErrBadCredentials
	}
	e, ok := c.secrets.get(SecretID(secret))
	if !ok || !hmac.Equal(sum, e.hash) {
		return nil, ErrBadCredentials
	}
	return &Credential{Client: c, BindingID: e.bindingID, RevSig: e.revSig}, nil
}
