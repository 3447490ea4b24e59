package clients

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/openxsuaa/xsuaa/keys"
)

// Errors that callers of a Store branch on.
var (
	ErrNotFound      = errors.New("not found")
	ErrAlreadyExists = errors.New("already exists")
)

// Zone is an identity zone (XSUAA's subaccount tenant). Index is the N of
// the runtime names "<xsappname>!t<N>" of its instances.
type Zone struct {
	ID        string
	Subdomain string
	Index     int
}

// Instance is a service instance created from an xs-security.json.
type Instance struct {
	ID        string
	ZoneID    string
	Name      string // from the broker request's context.instance_name
	ServiceID string
	PlanID    string
	OrgGUID   string
	SpaceGUID string
	// Parameters is the descriptor exactly as the platform sent it.
	Parameters json.RawMessage
	// Context is the OSB context object as the platform sent it.
	Context json.RawMessage
	// RuntimeName is the resolved "<xsappname>!t<N>", unique in a zone.
	RuntimeName string
	// App is the resolved descriptor, JSON of scopes.App.
	App       json.RawMessage
	CreatedAt time.Time
	UpdatedAt time.Time
	// SealedSecret is the instance-secret shared by the instance's
	// bindings of credential type instance-secret, sealed with the master
	// key (so that it can be returned again); nil until the first such
	// binding is made.
	SealedSecret []byte
}

// Binding is one binding or service key of an instance. Its secret is kept
// as a keyed hash (which authenticates) and sealed with the master key (so
// that fetching the binding returns it again, as XSUAA does); the private
// key of a certificate is not kept at all.
type Binding struct {
	ID             string
	InstanceID     string
	CredentialType string
	// SecretID is the public first part of the secret "<SecretID>$<random>",
	// which finds the binding without a search. An x509 binding has no
	// secret: its SecretID is a random id no secret carries, and its
	// SecretHash is empty.
	SecretID   string
	SecretHash []byte
	// SealedSecret is the secret sealed with the master key (additional
	// data: the binding id); nil for x509 bindings and with hide-secret.
	SealedSecret []byte
	// Parameters are the binding parameters as the platform sent them.
	Parameters json.RawMessage
	AppGUID    string
	CreatedAt  time.Time
	// Name is the binding's or service key's name, from the bind request's
	// context ("binding_name" or "name"); may be empty.
	Name string
	// Context is the OSB context object of the bind request as sent.
	Context json.RawMessage

	// Certificate of an x509 binding; all zero for other credential types.
	// CertFingerprint is the SHA-256 of the leaf certificate's DER.
	CertFingerprint []byte
	// CertSubject and CertIssuer are the leaf's subject and issuer DNs in
	// RFC 4514 form, e.g. "CN=b1,OU=i1,O=xsuaa".
	CertSubject string
	CertIssuer  string
	// CertNotBefore is, for an unpinned certificate, the oldest validity
	// start still accepted; it moves forward as newer certificates with
	// the same DNs are used. For a pinned one it is the leaf's NotBefore.
	CertNotBefore time.Time
	// CertPEM is the certificate (leaf first, then any chain) returned in
	// the binding's credentials; empty with hide-certificate.
	CertPEM string
	// CertPinned is true when only the exact certificate is accepted
	// (always for service-managed certificates), false when any certificate
	// with the same subject and issuer DN is.
	CertPinned bool
}

// CertNotBeforeAdvancer is implemented by stores that can move a binding's
// CertNotBefore forward without rewriting the binding. The Registry uses it,
// when available, to persist what the token path learnt in memory.
type CertNotBeforeAdvancer interface {
	// AdvanceCertNotBefore sets CertNotBefore of binding id to t if t is
	// later than the stored value; otherwise it does nothing. A missing
	// binding is not an error.
	AdvanceCertNotBefore(ctx context.Context, id string, t time.Time) error
}

// Store persists zones, instances, bindings and keys. All methods are safe
// for concurrent use. Getters return ErrNotFound, creators ErrAlreadyExists.
type Store interface {
	keys.Store

	// EnsureZone creates z unless a zone with its id exists, and returns the stored zone.
	EnsureZone(ctx context.Context, z Zone) (Zone, error)
	ListZones(ctx context.Context) ([]Zone, error)

	// CreateInstance fails with ErrAlreadyExists when the id, or the runtime
	// name within the zone, is taken.
	CreateInstance(ctx context.Context, in Instance) error
	GetInstance(ctx context.Context, id string) (Instance, error)
	ListInstances(ctx context.Context) ([]Instance, error)
	// UpdateInstance reads, changes and writes an instance in one
	// transaction. The updater may run more than once.
	UpdateInstance(ctx context.Context, id string, updater func(Instance) (Instance, error)) error
	// UpdateInstanceDeletingBindings is UpdateInstance that also deletes,
	// in the same transaction, the instance's bindings whose credential
	// type is one of those the updater returns, and returns the deleted
	// bindings. Either the instance is updated and all those bindings are
	// gone, or (on any error, or a crash) nothing changed. The updater may
	// run more than once.
	UpdateInstanceDeletingBindings(ctx context.Context, id string, updater func(Instance) (Instance, []string, error)) ([]Binding, error)
	// DeleteInstance deletes an instance and all its bindings.
	DeleteInstance(ctx context.Context, id string) error

	// CreateBinding fails with ErrNotFound when the instance does not exist,
	// ErrAlreadyExists when the id is taken, and ErrLimit when the instance
	// already has limit bindings.
	CreateBinding(ctx context.Context, b Binding, limit int) error
	GetBinding(ctx context.Context, id string) (Binding, error)
	// ListBindings lists the bindings of one instance, or of all when instanceID is "".
	ListBindings(ctx context.Context, instanceID string) ([]Binding, error)
	DeleteBinding(ctx context.Context, id string) error

	Close() error
}

// ErrLimit is returned when an instance has reached its binding limit.
var ErrLimit = errors.New("limit reached")
