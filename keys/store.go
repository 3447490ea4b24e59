package keys

import (
	"context"
	"errors"
	"time"
)

// Uses of a stored key.
const (
	UseSigning = "jwt-signing" // RSA key that signs access tokens
	UseCA      = "ca"          // the local certificate authority
)

// Errors of a Store.
var (
	// ErrAlreadyExists is returned by KeyTx.CreateKey for a duplicate id.
	ErrAlreadyExists = errors.New("key already exists")
	// ErrNotFound is returned by KeyTx.DeleteKey for an unknown id.
	ErrNotFound = errors.New("key not found")
)

// Record is one stored key. The private half is sealed with the master key
// (AES-256-GCM, the record id as additional data); Public is the DER of the
// public key (SPKI) or, for a CA, of its certificate.
type Record struct {
	ID            string
	Use           string
	Public        []byte
	SealedPrivate []byte
	CreatedAt     time.Time
	// ActiveFrom is when a signing key may start signing. Publishing it in
	// the JWKS before then lets clients cache it ahead of its first use.
	ActiveFrom time.Time
}

// Store persists key records. Implementations must be safe for concurrent
// use, also by several processes (replicas) sharing one database; package
// storage adapts its stores to it (storage.Keys).
type Store interface {
	// ListKeys returns the committed records of one use, oldest first.
	ListKeys(ctx context.Context, use string) ([]Record, error)
	// UpdateKeys runs fn in one write transaction that is serialised with
	// every other write to the store, in every process: what fn reads
	// through tx cannot change before what it writes commits. So "create
	// a key unless one exists" has exactly one winner however many
	// replicas try at once. Nothing fn writes is visible unless it
	// returns nil.
	UpdateKeys(ctx context.Context, fn func(tx KeyTx) error) error
}

// KeyTx reads and writes key records inside Store.UpdateKeys.
type KeyTx interface {
	// ListKeys returns the records of one use, oldest first.
	ListKeys(ctx context.Context, use string) ([]Record, error)
	// CreateKey inserts a record; ErrAlreadyExists if its id is taken.
	CreateKey(ctx context.Context, r Record) error
	// DeleteKey removes a record; ErrNotFound if there is none with id.
	DeleteKey(ctx context.Context, id string) error
}
