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
	"time"

	"github.com/openxsuaa/xsuaa/keys"
	"github.com/openxsuaa/xsuaa/scopes"
)

// MaxBindings is the number of bindings and service keys an instance may
// have, as in XSUAA.
const MaxBindings = 1000

// Kinds of OpError, for callers that map errors to protocol statuses.
var (
	ErrInvalid  = errors.New("invalid request")
	ErrConflict = errors.New("conflict")
)

// OpError is an error of a registry operation with a message for the caller.
// Kind is ErrInvalid, ErrConflict, ErrNotFound or ErrLimit.
type OpError struct {
	Kind error
	Msg  string
}

func (e *OpError) Error() string { return e.Msg }
func (e *OpError) Unwrap() error { return e.Kind }

func opErr(kind error, format string, args ...any) error {
	return &OpError{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// ErrBadCredentials is returned by Authenticate for any failed authentication.
var ErrBadCredentials = errors.New("bad credentials")

// Endpoints are the public URLs put into credentials.
type Endpoints struct {
	URL       string // token endpoint base for secrets, e.g. https://localhost:8443
	CertURL   string // token endpoint base for certificates
	UAADomain string // e.g. localhost:8443
}

// Client is what the token endpoint knows of one instance's OAuth client. A
// *Client is immutable once published; changes publish a new one.
type Client struct {
	ID           string // "sb-<runtime name>"
	InstanceID   string
	InstanceName string
	Zone         Zone
	App          *scopes.App
	// Authorities are the client_credentials authorities, sorted.
	Authorities []string
	secrets     map[string]secretEntry // by secret id
	// certs and dns index the certificates of x509 bindings: by SHA-256
	// of the leaf DER (service-managed and pinned ones), and by subject
	// and issuer DN (unpinned self-managed ones). Like secrets, they are
	// never changed in place: a change publishes a new Client.
	certs     map[[32]byte]certEntry
	dns       map[dnKey]*dnEntry
	spaceGUID string
	// instSecretID and instSecret are the instance's instance-secret (its
	// uuid part, its hash), instSecretID "" while it has none;
	// instBindings counts its instance-secret bindings. The secret is in
	// secrets, and so authenticates, only while instBindings > 0.
	instSecretID string
	instSecret   secretEntry
	instBindings int
}

type secretEntry struct {
	bindingID string // "" for the instance-secret
	hash      []byte
	revSig    string
}

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

// Config configures a Registry.
type Config struct {
	Store     Store
	MasterKey *keys.MasterKey
	Zone      Zone // the default identity zone
	Endpoints Endpoints
	// VerificationKey returns the PEM public key put into new credentials.
	VerificationKey func() string
	// CA issues the certificates of service-managed x509 bindings. Nil:
	// only self-managed certificates can be bound.
	CA *keys.CA
	// ClientCAs are the CAs trusted for client certificates, both
	// self-managed ones at bind time and every certificate at the token
	// endpoint. Nil: the CA alone (none without a CA).
	ClientCAs *x509.CertPool
	Now       func() time.Time
	Log       *slog.Logger
}

// Registry manages instances and bindings: it validates and stores them,
// and keeps an in-memory index of clients and secret hashes that the token
// endpoint reads without storage access. Every change is written to the
// store first and published to the index before the call returns, so a
// request that starts after an unbind returned can no longer use the
// binding's secret.
type Registry struct {
	cfg    Config
	store  Store
	hasher secretHasher
	revKey []byte
	roots  *x509.CertPool // trusted for client certificates
	vcache verifyCache

	writeMu sync.Mutex // serialises changes so store and index agree

	mu       sync.RWMutex
	clients  map[string]*Client // by client id
	byInst   map[string]*Client // by instance id
	grantsTo map[string][]scopes.Grant
}

// NewRegistry loads every instance and binding from the store into memory.
func NewRegistry(ctx context.Context, cfg Config) (*Registry, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	r := &Registry{
		cfg:      cfg,
		store:    cfg.Store,
		hasher:   secretHasher{key: cfg.MasterKey.Derive("xsuaa client secret hash v1", 32)},
		revKey:   cfg.MasterKey.Derive("xsuaa rev_sig v1", 32),
		clients:  map[string]*Client{},
		byInst:   map[string]*Client{},
		grantsTo: map[string][]scopes.Grant{},
		roots:    cfg.ClientCAs,
	}
	if r.roots == nil {
		r.roots = x509.NewCertPool()
		if cfg.CA != nil {
			r.roots = cfg.CA.Pool()
		}
	}
	insts, err := r.store.ListInstances(ctx)
	if err != nil {
		return nil, err
	}
	bindings, err := r.store.ListBindings(ctx, "")
	if err != nil {
		return nil, err
	}
	var apps []*scopes.App
	for _, in := range insts {
		c, err := r.newClient(in)
		if err != nil {
			return nil, err
		}
		r.clients[c.ID], r.byInst[in.ID] = c, c
		apps = append(apps, c.App)
	}
	for _, b := range bindings {
		c := r.byInst[b.InstanceID]
		switch {
		case c == nil:
		case b.CredentialType == scopes.CredentialX509:
			r.indexCert(c, b)
		case b.CredentialType == scopes.CredentialInstance:
			c.instBindings++
		default:
			c.secrets[b.SecretID] = r.entry(c, b)
		}
	}
	for _, c := range r.byInst {
		if c.instBindings > 0 && c.instSecretID == "" {
			cfg.Log.Warn("service instance has instance-secret bindings but no instance-secret; they cannot authenticate", "instance", c.InstanceID)
		}
		syncInstanceSecret(c)
	}
	r.grantsTo = scopes.IndexGrants(apps)
	for _, c := range r.clients {
		c.Authorities = r.authoritiesOf(c.App)
	}
	return r, nil
}

func (r *Registry) newClient(in Instance) (*Client, error) {
	var app scopes.App
	if err := json.Unmarshal(in.App, &app); err != nil {
		return nil, fmt.Errorf("instance %s: stored app: %w", in.ID, err)
	}
	c := &Client{
		ID: app.ClientID(), InstanceID: in.ID, InstanceName: in.Name, Zone: r.cfg.Zone,
		App: &app, secrets: map[string]secretEntry{}, spaceGUID: in.SpaceGUID,
		certs: map[[32]byte]certEntry{}, dns: map[dnKey]*dnEntry{},
	}
	if in.SealedSecret != nil {
		secret, err := r.openInstanceSecret(in)
		if err != nil {
			return nil, err
		}
		r.setInstanceSecret(c, secret)
	}
	return c, nil
}

func (r *Registry) entry(c *Client, b Binding) secretEntry {
	return secretEntry{bindingID: b.ID, hash: b.SecretHash, revSig: r.revSig(c.ID + "|" + b.ID)}
}

// revSig returns a token's "rev_sig" for a credential named by s.
func (r *Registry) revSig(s string) string {
	m := hmac.New(sha256.New, r.revKey)
	m.Write([]byte(s))
	return hex.EncodeToString(m.Sum(nil)[:4])
}

// Lookup returns the client with the given client id.
func (r *Registry) Lookup(clientID string) (*Client, bool) {
	r.mu.RLock()
	c, ok := r.clients[clientID]
	r.mu.RUnlock()
	return c, ok
}

// Authenticate checks a client secret. It reads memory only: one map
// lookup and one HMAC, compared in constant time.
func (r *Registry) Authenticate(clientID, secret string) (*Credential, error) {
	c, ok := r.Lookup(clientID)
	sum := r.hasher.hash(secret)
	if !ok {
		return nil, ErrBadCredentials
	}
	e, ok := c.secrets[secretID(secret)]
	if !ok || !hmac.Equal(sum, e.hash) {
		return nil, ErrBadCredentials
	}
	return &Credential{Client: c, BindingID: e.bindingID, RevSig: e.revSig}, nil
}

// publish replaces the client of one instance (nil removes it). When the
// instance's app changed (grantsChanged), it also rebuilds the grant index
// and recomputes the authorities of every client the old or new app grants
// to, and of the app itself. Callers hold writeMu.
func (r *Registry) publish(instanceID string, next *Client, grantsChanged bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	affected := map[string]bool{}
	if old := r.byInst[instanceID]; old != nil {
		delete(r.clients, old.ID)
		delete(r.byInst, instanceID)
		affected[old.App.RuntimeName] = true
		for _, g := range old.App.Grants {
			affected[g.To] = true
		}
	}
	if next != nil {
		r.clients[next.ID], r.byInst[instanceID] = next, next
		affected[next.App.RuntimeName] = true
		for _, g := range next.App.Grants {
			affected[g.To] = true
		}
	}
	if !grantsChanged {
		return
	}
	apps := make([]*scopes.App, 0, len(r.byInst))
	for _, c := range r.byInst {
		apps = append(apps, c.App)
	}
	r.grantsTo = scopes.IndexGrants(apps)
	for id, c := range r.byInst {
		if !affected[c.App.RuntimeName] && !affected[c.App.CloneOf] {
			continue
		}
		cp := *c
		cp.Authorities = r.authoritiesOf(c.App)
		r.clients[cp.ID], r.byInst[id] = &cp, &cp
	}
}

// withSecrets returns a copy of c whose secrets map is a copy changed by fn.
func withSecrets(c *Client, fn func(map[string]secretEntry)) *Client {
	cp := *c
	cp.secrets = make(map[string]secretEntry, len(c.secrets)+1)
	for k, v := range c.secrets {
		cp.secrets[k] = v
	}
	fn(cp.secrets)
	return &cp
}

// Now returns the registry's clock reading.
func (r *Registry) now() time.Time { return r.cfg.Now().UTC() }

// canonicalJSON re-encodes a JSON value with sorted keys and no insignificant
// space, so that two equal documents compare equal byte for byte.
func canonicalJSON(b json.RawMessage) string {
	if len(b) == 0 {
		return "null"
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return string(b)
	}
	out, _ := json.Marshal(v)
	return string(out)
}
