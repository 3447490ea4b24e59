// Package registry is the write side of service instances, bindings,
// clones, users and role collections: it validates what the broker, the clone API and the admin API
// ask for, writes the rows in one store transaction (storage.Store.Update,
// serialised with every other writer on the database, on every replica),
// and then brings this replica's index (package clients) up to the
// revision it wrote. Other replicas' indexes follow the same revision
// before they answer their next token request.
//
// Every check that depends on other rows — an instance that must exist,
// a runtime name or certificate that must be unused, $XSSERVICENAME, a
// grant's target, the binding limit — reads inside that transaction, so
// replicas cannot overtake each other between check and write.
package registry

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"time"

	"github.com/openxsuaa/xsuaa/clients"
	"github.com/openxsuaa/xsuaa/clients/storage"
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
	ErrNotFound = storage.ErrNotFound
	ErrLimit    = storage.ErrLimit
	// ErrCallback: an application's subscription callback failed.
	ErrCallback = errors.New("callback failed")
)

// OpError is an error of a registry operation with a message for the caller.
// Kind is ErrInvalid, ErrConflict, ErrNotFound, ErrLimit or ErrCallback.
type OpError struct {
	Kind error
	Msg  string
}

func (e *OpError) Error() string { return e.Msg }
func (e *OpError) Unwrap() error { return e.Kind }

func opErr(kind error, format string, args ...any) error {
	return &OpError{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// invalidText turns the store's refusal of a text into a 400 naming it.
func invalidText(err error) error {
	if errors.Is(err, storage.ErrInvalidText) {
		return &OpError{Kind: ErrInvalid, Msg: err.Error()}
	}
	return err
}

// Endpoints are the public URLs put into credentials.
type Endpoints struct {
	URL       string // token endpoint base for secrets, e.g. https://localhost:8443
	CertURL   string // token endpoint base for certificates
	UAADomain string // e.g. localhost:8443
}

// inZone returns the endpoints of another zone than the provider's: the
// subdomain put before each URL's host (https://<subdomain>.<host>), as
// XSUAA addresses a subaccount's zone and as clients build tenant URLs.
// The uaadomain stays the bare one: SAP's libraries fetch the keys there,
// with ?zid=. A URL whose host is an IP address stays as it is.
func (ep Endpoints) inZone(subdomain string) Endpoints {
	withSub := func(u string) string {
		p, err := url.Parse(u)
		if err != nil || p.Host == "" || net.ParseIP(p.Hostname()) != nil {
			return u // an IP address has no subdomains: X-Zid addresses the zone
		}
		p.Host = subdomain + "." + p.Host
		return p.String()
	}
	return Endpoints{URL: withSub(ep.URL), CertURL: withSub(ep.CertURL), UAADomain: ep.UAADomain}
}

// Config configures a Registry.
type Config struct {
	Store     storage.Store
	Index     *clients.Index
	MasterKey *keys.MasterKey
	Endpoints Endpoints
	// VerificationKey returns the PEM public key put into new credentials.
	VerificationKey func() string
	// CA issues the certificates of service-managed x509 bindings. Nil:
	// only self-managed certificates can be bound.
	CA *keys.CA
	// ClientCAs are the CAs trusted for self-managed certificates (the
	// same as the index's). Nil trusts none.
	ClientCAs *x509.CertPool
	// CallbackClient calls applications' subscription callbacks; nil:
	// an http.Client with the default transport.
	CallbackClient *http.Client
	Now            func() time.Time
	Log            *slog.Logger
}

// Registry creates, changes and deletes instances, bindings and clones.
type Registry struct {
	cfg    Config
	store  storage.Store
	index  *clients.Index
	hasher clients.SecretHasher
	// keygen bounds the RSA key generations under way (one per core).
	keygen chan struct{}
}

// New returns a Registry.
func New(cfg Config) *Registry {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Registry{cfg: cfg, store: cfg.Store, index: cfg.Index, hasher: clients.NewSecretHasher(cfg.MasterKey),
		keygen: make(chan struct{}, runtime.NumCPU())}
}

// Index returns the read model the registry keeps current.
func (r *Registry) Index() *clients.Index { return r.index }

func (r *Registry) callbackClient() *http.Client {
	if r.cfg.CallbackClient != nil {
		return r.cfg.CallbackClient
	}
	return &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// now returns the registry's clock reading in UTC.
func (r *Registry) now() time.Time { return r.cfg.Now().UTC() }

// update runs fn in one write transaction and then brings this replica's
// index up to the revision it committed. A failure to catch up does not
// fail the (committed) operation: every token request syncs on its own.
func (r *Registry) update(ctx context.Context, fn func(tx storage.Tx) error) error {
	rev, err := r.store.Update(ctx, fn)
	if err != nil {
		return invalidText(err)
	}
	if err := r.index.CatchUp(ctx, rev); err != nil {
		r.cfg.Log.Warn("index not caught up after a write; token requests will catch up", "revision", rev, "error", err)
	}
	return nil
}

// instance reads an instance and its resolved app.
func instance(ctx context.Context, rd storage.Reader, id string) (storage.Instance, *scopes.App, error) {
	in, err := rd.GetInstance(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return in, nil, opErr(ErrNotFound, "service instance %s does not exist", id)
	}
	if err != nil {
		return in, nil, err
	}
	app, err := appOf(in)
	return in, app, err
}

func appOf(in storage.Instance) (*scopes.App, error) {
	var app scopes.App
	if err := json.Unmarshal(in.App, &app); err != nil {
		return nil, fmt.Errorf("instance %s: stored app: %w", in.ID, err)
	}
	return &app, nil
}

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

func orEmpty(b json.RawMessage) json.RawMessage {
	if len(b) == 0 || string(b) == "null" {
		return json.RawMessage("{}")
	}
	return b
}
