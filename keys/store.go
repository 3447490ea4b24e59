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
	// ErrAlreadyExists is returned by Store.CreateKey for a duplicate id.
	ErrAlreadyExists = errors.New("key already exists")
	// ErrNotFound is returned by Store.DeleteKey for an unknown id.
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
// use; the SQLite store in package clients implements it.
type Store interface {
	// ListKeys returns the records of one use, oldest first.
	ListKeys(ctx context.Context, use string) ([]Record, error)
	// CreateKey inserts a record; ErrAlreadyExists if its id is taken.
	CreateKey(ctx context.Context, r Record) error
	// DeleteKey removes a record; ErrNotFound if there is none with id.
	DeleteKey(ctx context.Context, id string) error
}
