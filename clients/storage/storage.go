// Package storage declares what the server persists and the interface
// every backend implements: identity zones, service instances, bindings
// (with their secret hashes, sealed secrets and certificates), and the
// key records of package keys (sealed signing keys and the sealed CA key).
//
// Writes happen in one kind of transaction, Store.Update, which every
// backend serialises across all processes that share the database and
// which stamps what it changed with a new revision. The revisions form the
// change feed (Store.Changes) from which every replica keeps its in-memory
// read model fresh; Store.Revision is the cheap read that tells a replica
// whether it is current.
//
// The backends live in package sqlstore (SQLite and PostgreSQL); the
// conformance suite that both must pass is package storagetest.
package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/openxsuaa/xsuaa/keys"
)

// Errors that callers branch on; backends wrap them with detail.
var (
	ErrNotFound      = errors.New("not found")
	ErrAlreadyExists = errors.New("already exists")
	// ErrLimit is returned by CreateBinding when the instance already has
	// the given number of bindings.
	ErrLimit = errors.New("limit reached")
	// ErrInvalidText is returned for a text value that no backend can
	// keep byte for byte: invalid UTF-8, or a NUL character.
	ErrInvalidText = errors.New("text is not valid UTF-8 or contains NUL")
	// ErrUnavailable wraps every error of reaching the database (as
	// opposed to an answer from it).
	ErrUnavailable = errors.New("database unavailable")
)

// Zone is an identity zone (XSUAA's subaccount tenant). Index is the N of
// the runtime names "<xsappname>!t<N>" of its instances.
type Zone struct {
	ID        string
	Subdomain string
	Index     int
}

// Instance is a service instance created from an xs-security.json, or a
// clone of a broker-plan instance (its id starts with "clone:").
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
	// MAC authenticates the row (set and checked by the store when it
	// has a row key); a row whose MAC fails is treated as absent.
	MAC []byte
}

// User is a user of an identity zone who logs in with a password. The
// tokens issued for the user carry ID as "user_id" and "sub".
type User struct {
	ID     string // a GUID
	ZoneID string
	// Origin is the key of the identity provider the user belongs to
	// ("sap.default" unless set); UserName is unique per zone and origin.
	Origin   string
	UserName string
	Email    string
	// GivenName and FamilyName are the user's names.
	GivenName  string
	FamilyName string
	// Attributes are the user's attributes as an identity provider would
	// assert them: attribute name to values.
	Attributes map[string][]string
	// PasswordHash is the bcrypt hash of the user's password.
	PasswordHash []byte
	// RoleCollections are the names of the role collections of the user's
	// zone assigned to the user, sorted; filled by reads, written by
	// AssignRoleCollection and UnassignRoleCollection only.
	RoleCollections []string
	CreatedAt       time.Time
	UpdatedAt       time.Time
	// MAC authenticates the row, as Binding.MAC.
	MAC []byte
}

// RoleCollection is a named set of roles in a zone: the default roles of
// role templates, each "<app runtime name>.<template name>".
type RoleCollection struct {
	ZoneID      string
	Name        string
	Description string
	Roles       []string
	// Owner is the id of the instance whose descriptor defines the
	// collection (it is made, changed and deleted with the instance), or
	// "" for a collection an operator made.
	Owner string
}

// Subscription subscribes an identity zone to a shared instance
// ("tenant-mode": "shared"): the instance's client authenticates in the
// zone too, with the same credentials, and its tokens there name the zone.
type Subscription struct {
	InstanceID string
	ZoneID     string
	// AppURL is the tenant's application URL as the application's
	// onSubscription callback answered it; "" without callbacks.
	AppURL string
	// Callbacks are the application's callback URLs (the appUrls of SAP's
	// SaaS provisioning service) the subscription was made with, as JSON;
	// nil without callbacks. Unsubscribing calls them again.
	Callbacks json.RawMessage
	CreatedAt time.Time
}

// SubscriptionRef is the Ref of a ChangeSubscription.
func SubscriptionRef(instanceID, zoneID string) string { return instanceID + "/" + zoneID }

// ParseSubscriptionRef splits a SubscriptionRef (zone ids hold no "/").
func ParseSubscriptionRef(ref string) (instanceID, zoneID string) {
	i := strings.LastIndexByte(ref, '/')
	if i < 0 {
		return ref, ""
	}
	return ref[:i], ref[i+1:]
}

// Kinds of Change.
const (
	// ChangeInstance: the instance Ref, or one of its bindings, was
	// created, changed or deleted.
	ChangeInstance = "instance"
	// ChangeZone: the zone Ref was created or changed.
	ChangeZone = "zone"
	// ChangeKeys: key records (signing keys or the CA) were created or
	// deleted; Ref is the use (keys.UseSigning, keys.UseCA).
	ChangeKeys = "keys"
	// ChangeUser: the user Ref (its id), or its role collection
	// assignments, was created, changed or deleted.
	ChangeUser = "user"
	// ChangeRoleCollection: the role collection Ref ("<zone id>/<name>")
	// was created, changed or deleted.
	ChangeRoleCollection = "rolecollection"
	// ChangeSubscription: the subscription Ref (SubscriptionRef) was
	// created or deleted.
	ChangeSubscription = "subscription"
)

// RoleCollectionRef is the Ref of a ChangeRoleCollection.
func RoleCollectionRef(zoneID, name string) string { return zoneID + "/" + name }

// Change names one thing a revision changed.
type Change struct {
	Rev  int64
	Kind string
	Ref  string
}

// Reader reads the stored state. Getters return ErrNotFound (wrapped) for
// a missing record; lists are ordered as documented and never nil-vs-empty
// sensitive.
type Reader interface {
	// Revision returns the revision of the last committed Update that
	// changed something (0 for a new database). It is one indexed read.
	Revision(ctx context.Context) (int64, error)

	GetZone(ctx context.Context, id string) (Zone, error)
	// ListZones lists the zones by index.
	ListZones(ctx context.Context) ([]Zone, error)

	GetInstance(ctx context.Context, id string) (Instance, error)
	// ListInstances lists every instance, oldest first.
	ListInstances(ctx context.Context) ([]Instance, error)
	// FindInstances lists the instances with the given name in a space
	// (for $XSSERVICENAME), oldest first.
	FindInstances(ctx context.Context, spaceGUID, name string) ([]Instance, error)
	// ListClones lists the clones (instances whose id starts with
	// "clone:"), oldest first.
	ListClones(ctx context.Context) ([]Instance, error)

	GetBinding(ctx context.Context, id string) (Binding, error)
	// ListBindings lists the bindings of one instance, or of all when
	// instanceID is "", oldest first.
	ListBindings(ctx context.Context, instanceID string) ([]Binding, error)
	// FindCertBindings lists the x509 bindings whose certificate has the
	// given fingerprint (pinned ones) or, when fingerprint is nil, the
	// unpinned ones with the given subject and issuer DN; of one instance,
	// or of all when instanceID is "".
	FindCertBindings(ctx context.Context, instanceID string, fingerprint []byte, subject, issuer string) ([]Binding, error)

	// ListKeys returns the key records of one use, oldest first.
	ListKeys(ctx context.Context, use string) ([]keys.Record, error)

	GetUser(ctx context.Context, id string) (User, error)
	// FindUser returns the user with a user name and origin in a zone.
	FindUser(ctx context.Context, zoneID, origin, userName string) (User, error)
	// ListUsers lists the users of a zone, or of all when zoneID is "",
	// by zone, origin and user name.
	ListUsers(ctx context.Context, zoneID string) ([]User, error)

	GetRoleCollection(ctx context.Context, zoneID, name string) (RoleCollection, error)
	// ListRoleCollections lists the role collections of a zone, or of all
	// when zoneID is "", by zone and name.
	ListRoleCollections(ctx context.Context, zoneID string) ([]RoleCollection, error)

	GetSubscription(ctx context.Context, instanceID, zoneID string) (Subscription, error)
	// ListSubscriptions lists the subscriptions of an instance, or to all
	// instances when instanceID is ""; of one zone, or of all when zoneID
	// is ""; by instance and zone id.
	ListSubscriptions(ctx context.Context, instanceID, zoneID string) ([]Subscription, error)
}

// Tx is a write transaction: it reads what is committed plus its own
// writes, and its writes become visible to others all at once when the
// function given to Update returns nil.
type Tx interface {
	Reader

	// CreateZone fails with ErrAlreadyExists when the id or index is taken.
	CreateZone(ctx context.Context, z Zone) error
	// RenameZone gives the zone id another subdomain (ErrNotFound if
	// there is none; the caller checks that the subdomain is free).
	RenameZone(ctx context.Context, id, subdomain string) error
	// DeleteZone deletes an empty zone (ErrNotFound if there is none; the
	// caller deletes what the zone holds first, subscriptions included).
	DeleteZone(ctx context.Context, id string) error

	// CreateInstance fails with ErrAlreadyExists when the id, or the
	// runtime name within the zone, is taken, and ErrNotFound when the
	// zone does not exist.
	CreateInstance(ctx context.Context, in Instance) error
	// UpdateInstance writes every field of the instance with in.ID.
	UpdateInstance(ctx context.Context, in Instance) error
	// DeleteInstance deletes an instance, all its bindings and all its
	// subscriptions.
	DeleteInstance(ctx context.Context, id string) error

	// CreateBinding fails with ErrNotFound when the instance does not
	// exist, ErrAlreadyExists when the id is taken, and ErrLimit when the
	// instance already has limit bindings.
	CreateBinding(ctx context.Context, b Binding, limit int) error
	DeleteBinding(ctx context.Context, id string) error
	// AdvanceCertNotBefore sets CertNotBefore of binding id to t if t is
	// later than the stored value; otherwise, and for a missing binding,
	// it changes nothing.
	AdvanceCertNotBefore(ctx context.Context, id string, t time.Time) error

	// CreateKey inserts a key record; ErrAlreadyExists if its id is taken.
	CreateKey(ctx context.Context, r keys.Record) error
	// DeleteKey removes a key record; ErrNotFound if there is none.
	DeleteKey(ctx context.Context, id string) error

	// CreateUser fails with ErrAlreadyExists when the id, or the user name
	// with the origin in the zone, is taken, and ErrNotFound when the zone
	// does not exist. u.RoleCollections is ignored.
	CreateUser(ctx context.Context, u User) error
	// UpdateUser writes every field of the user with u.ID but its zone and
	// role collections; ErrNotFound if there is none.
	UpdateUser(ctx context.Context, u User) error
	// DeleteUser deletes a user and its assignments.
	DeleteUser(ctx context.Context, id string) error

	// CreateRoleCollection fails with ErrAlreadyExists when the name is
	// taken in the zone, and ErrNotFound when the zone does not exist.
	CreateRoleCollection(ctx context.Context, rc RoleCollection) error
	// UpdateRoleCollection writes the description, roles and owner of the
	// collection with rc's zone and name; ErrNotFound if there is none.
	UpdateRoleCollection(ctx context.Context, rc RoleCollection) error
	// DeleteRoleCollection deletes a collection and its assignments.
	DeleteRoleCollection(ctx context.Context, zoneID, name string) error
	// AssignRoleCollection assigns a collection of the user's zone to the
	// user (again: no change); ErrNotFound when either does not exist.
	AssignRoleCollection(ctx context.Context, userID, name string) error
	// UnassignRoleCollection removes the assignment; ErrNotFound when the
	// collection is not assigned to the user.
	UnassignRoleCollection(ctx context.Context, userID, name string) error

	// CreateSubscription fails with ErrAlreadyExists when the zone is
	// subscribed to the instance, and ErrNotFound when either does not
	// exist.
	CreateSubscription(ctx context.Context, s Subscription) error
	// DeleteSubscription: ErrNotFound when there is none.
	DeleteSubscription(ctx context.Context, instanceID, zoneID string) error
}

// AuthCode is an authorization code of the login flows, stored under the
// keyed hash of its value (Signature), used once, within minutes.
type AuthCode struct {
	Signature string
	ZoneID    string
	ClientID  string
	UserID    string
	// Request is what the token endpoint needs of the authorize request,
	// as JSON (redirect URI, scopes, PKCE challenge, login time).
	Request   json.RawMessage
	CreatedAt time.Time
	ExpiresAt time.Time
	Used      bool
}

// RefreshToken is a refresh token, stored under the keyed hash of its
// value; it is not rotated (UAA's default), so it stays until it expires,
// its user's password changes or its user is deleted.
type RefreshToken struct {
	Signature string
	ZoneID    string
	ClientID  string
	UserID    string
	// Request is what a refresh needs of the original grant, as JSON.
	Request   json.RawMessage
	CreatedAt time.Time
	ExpiresAt time.Time
}

// LoginSession is a user's session at the login page, stored under the
// hash of its cookie's value.
type LoginSession struct {
	IDHash    string
	ZoneID    string
	UserID    string
	AuthTime  time.Time
	ExpiresAt time.Time
}

// LoginFailures counts a user's recent failed password logins, for the
// per-user lockout.
type LoginFailures struct {
	UserID      string
	Count       int
	WindowStart time.Time
	// LastDigest and LastAt identify the last failure (a keyed hash of the
	// password tried), so that a client's retries of one attempt count once.
	LastDigest  string
	LastAt      time.Time
	LockedUntil time.Time
}

// ErrUsed is returned by TakeAuthCode for a code that was redeemed before.
var ErrUsed = errors.New("already used")

// Logins holds what the login flows keep between requests. Each method is
// one statement outside Update: none of it enters the change feed, since
// every request reads it from the database itself.
type Logins interface {
	CreateAuthCode(ctx context.Context, c AuthCode) error
	// TakeAuthCode marks the code used and returns it; a code used before
	// is ErrUsed (with the code), an unknown or expired one ErrNotFound.
	// Of concurrent takers exactly one succeeds.
	TakeAuthCode(ctx context.Context, signature string, now time.Time) (AuthCode, error)

	CreateRefreshToken(ctx context.Context, t RefreshToken) error
	// GetRefreshToken returns an unexpired refresh token, else ErrNotFound.
	GetRefreshToken(ctx context.Context, signature string, now time.Time) (RefreshToken, error)
	// DeleteRefreshTokens deletes a user's refresh tokens.
	DeleteRefreshTokens(ctx context.Context, userID string) error

	CreateLoginSession(ctx context.Context, s LoginSession) error
	// GetLoginSession returns an unexpired session, else ErrNotFound.
	GetLoginSession(ctx context.Context, idHash string, now time.Time) (LoginSession, error)
	DeleteLoginSession(ctx context.Context, idHash string) error
	// DeleteLoginSessions deletes a user's sessions.
	DeleteLoginSessions(ctx context.Context, userID string) error

	// GetLoginFailures returns a user's failure record (zero if none).
	GetLoginFailures(ctx context.Context, userID string) (LoginFailures, error)
	// PutLoginFailures writes a user's failure record.
	PutLoginFailures(ctx context.Context, f LoginFailures) error
	DeleteLoginFailures(ctx context.Context, userID string) error

	// PruneLogins deletes expired codes, refresh tokens and sessions.
	PruneLogins(ctx context.Context, now time.Time) error
}

// Store is a backend. All methods are safe for concurrent use, also by
// several processes on one database.
type Store interface {
	Reader
	Logins

	// Update runs fn in a write transaction. Updates are serialised with
	// every other Update on the database, in every process, so fn sees
	// everything committed before it and nothing commits in between its
	// reads and its writes. If fn returns nil and changed something, the
	// transaction commits under the next revision, recording one Change
	// per changed instance, zone or key use; Update returns that revision
	// (or the current one when nothing changed). fn must not keep tx.
	Update(ctx context.Context, fn func(tx Tx) error) (rev int64, err error)

	// Snapshot runs fn on a read-only view of one committed state and
	// returns that state's revision. Changes lists what happened after a
	// revision within the same view.
	Snapshot(ctx context.Context, fn func(r Snap) error) (rev int64, err error)

	// Notifications returns a channel that receives a value soon after
	// another process commits an Update, or nil when the backend cannot
	// tell (then callers poll Revision).
	Notifications() <-chan struct{}

	Close() error
}

// Snap is a consistent read-only view of the store (see Store.Snapshot).
type Snap interface {
	Reader
	// Changes lists the changes of revisions after rev, in revision order.
	// complete is false when the oldest of them have been pruned, so that
	// the list does not tell everything that happened since rev: the
	// caller must then reload everything.
	Changes(ctx context.Context, after int64) (changes []Change, complete bool, err error)
}

// CheckText returns ErrInvalidText (wrapped, naming what) unless s can be
// stored as text by every backend: valid UTF-8 without NUL characters.
func CheckText(what, s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%s: %w", what, ErrInvalidText)
	}
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return fmt.Errorf("%s: %w", what, ErrInvalidText)
		}
	}
	return nil
}

// Keys adapts a Store to the key store of package keys: its UpdateKeys is
// an Update, so key changes are serialised with every other write and
// enter the change feed.
func Keys(s Store) keys.Store { return keyStore{s} }

type keyStore struct{ s Store }

func (k keyStore) ListKeys(ctx context.Context, use string) ([]keys.Record, error) {
	return k.s.ListKeys(ctx, use)
}

func (k keyStore) UpdateKeys(ctx context.Context, fn func(keys.KeyTx) error) error {
	_, err := k.s.Update(ctx, func(tx Tx) error { return fn(tx) })
	return err
}
