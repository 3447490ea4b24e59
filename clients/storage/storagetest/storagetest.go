// Package storagetest is the conformance suite that every storage.Store
// backend must pass: SQLite and PostgreSQL (package sqlstore). It pins the
// contract documented in package storage — which errors each method
// returns, what is kept byte for byte, ordering, cascades, the revision
// and change feed — and what several replicas sharing one database rely
// on: the binding limit under concurrent binds from several connection
// pools, exactly one winner when several replicas create a key at once,
// migrations started by several processes at once applied once, an
// unbind visible at once from another pool, and no secret or private key
// in clear in any column.
//
// A backend's test is a few lines:
//
//	func TestSQLiteConformance(t *testing.T) {
//		storagetest.RunTests(t, func(t *testing.T) storagetest.Database {
//			path := filepath.Join(t.TempDir(), "xsuaa.db")
//			return storagetest.Database{Open: …open path…, Values: …}
//		})
//	}
package storagetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/openxsuaa/xsuaa/clients/storage"
	"github.com/openxsuaa/xsuaa/keys"
)

// Database is one new, empty database of a backend.
type Database struct {
	// Open opens a Store on the database with a connection pool of its
	// own, as a replica does, applying pending migrations. Stores are
	// closed when the test ends.
	Open func(t *testing.T) storage.Store
	// Values returns every value of every column of every table, each
	// as its text or its bytes (integers in decimal), keyed by
	// "table.column".
	Values func(t *testing.T) map[string][]string
}

// subTest is one named check.
type subTest struct {
	name string
	run  func(t *testing.T, db Database)
}

// onStore runs a check on one store of a new database.
func onStore(run func(*testing.T, storage.Store)) func(*testing.T, Database) {
	return func(t *testing.T, db Database) { run(t, db.Open(t)) }
}

// RunTests runs the conformance suite. newDatabase must return a new,
// empty database for each call.
func RunTests(t *testing.T, newDatabase func(t *testing.T) Database) {
	tests := []subTest{
		{"Zones", onStore(testZones)},
		{"InstanceCRUD", onStore(testInstanceCRUD)},
		{"InstanceUniqueness", onStore(testInstanceUniqueness)},
		{"InstanceUpdate", onStore(testInstanceUpdate)},
		{"InstanceUpdateDeletingBindings", onStore(testInstanceUpdateDeletingBindings)},
		{"InstanceRoundTrip", onStore(testInstanceRoundTrip)},
		{"FindInstances", onStore(testFindInstances)},
		{"BindingCRUD", onStore(testBindingCRUD)},
		{"BindingUniqueness", onStore(testBindingUniqueness)},
		{"BindingLimit", onStore(testBindingLimit)},
		{"BindingRoundTrip", onStore(testBindingRoundTrip)},
		{"X509BindingRoundTrip", onStore(testX509BindingRoundTrip)},
		{"FindCertBindings", onStore(testFindCertBindings)},
		{"AdvanceCertNotBefore", onStore(testAdvanceCertNotBefore)},
		{"DeleteInstanceCascades", onStore(testDeleteInstanceCascades)},
		{"Keys", onStore(testKeys)},
		{"KeyRoundTrip", onStore(testKeyRoundTrip)},
		{"DeleteKey", onStore(testDeleteKey)},
		{"Users", onStore(testUsers)},
		{"RoleCollections", onStore(testRoleCollections)},
		{"Subscriptions", onStore(testSubscriptions)},
		{"AuthCodes", testAuthCodes},
		{"RefreshTokensAndSessions", testRefreshTokensAndSessions},
		{"ConcurrentRefreshTokens", testConcurrentRefreshTokens},
		{"LoginFailures", testLoginFailures},
		{"InvalidText", onStore(testInvalidText)},
		{"UpdateRollsBack", onStore(testUpdateRollsBack)},
		{"Revisions", onStore(testRevisions)},
		{"Snapshot", onStore(testSnapshot)},
		{"CancelledContext", onStore(testCancelledContext)},
		{"ConcurrentBindingLimit", testConcurrentBindingLimit},
		{"ConcurrentCreateInstance", testConcurrentCreateInstance},
		{"ConcurrentUpdatesLoseNothing", testConcurrentUpdates},
		{"ConcurrentKeyCreationOneWinner", testConcurrentKeyCreation},
		{"ConcurrentMigrations", testConcurrentMigrations},
		{"UnbindVisibleFromAnotherPool", testUnbindVisibleFromAnotherPool},
		{"Notifications", testNotifications},
		{"NoSecretsInClear", testNoSecretsInClear},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, newDatabase(t))
		})
	}
}

// The write helpers run one write in an Update of its own.

func write(s storage.Store, fn func(ctx context.Context, tx storage.Tx) error) error {
	ctx := context.Background()
	_, err := s.Update(ctx, func(tx storage.Tx) error { return fn(ctx, tx) })
	return err
}

func createZone(s storage.Store, z storage.Zone) error {
	return write(s, func(ctx context.Context, tx storage.Tx) error { return tx.CreateZone(ctx, z) })
}

func createInstanceErr(s storage.Store, in storage.Instance) error {
	return write(s, func(ctx context.Context, tx storage.Tx) error { return tx.CreateInstance(ctx, in) })
}

func createBinding(s storage.Store, b storage.Binding, limit int) error {
	return write(s, func(ctx context.Context, tx storage.Tx) error { return tx.CreateBinding(ctx, b, limit) })
}

func deleteBinding(s storage.Store, id string) error {
	return write(s, func(ctx context.Context, tx storage.Tx) error { return tx.DeleteBinding(ctx, id) })
}

func deleteInstance(s storage.Store, id string) error {
	return write(s, func(ctx context.Context, tx storage.Tx) error { return tx.DeleteInstance(ctx, id) })
}

func createKey(s storage.Store, r keys.Record) error {
	return write(s, func(ctx context.Context, tx storage.Tx) error { return tx.CreateKey(ctx, r) })
}

func deleteKey(s storage.Store, id string) error {
	return write(s, func(ctx context.Context, tx storage.Tx) error { return tx.DeleteKey(ctx, id) })
}

func advanceCertNotBefore(s storage.Store, id string, at time.Time) error {
	return write(s, func(ctx context.Context, tx storage.Tx) error { return tx.AdvanceCertNotBefore(ctx, id, at) })
}

// updateInstance is a read-modify-write of one instance in one Update;
// the id cannot change.
func updateInstance(s storage.Store, id string, fn func(storage.Instance) (storage.Instance, error)) error {
	return write(s, func(ctx context.Context, tx storage.Tx) error {
		in, err := tx.GetInstance(ctx, id)
		if err != nil {
			return err
		}
		if in, err = fn(in); err != nil {
			return err
		}
		in.ID = id
		return tx.UpdateInstance(ctx, in)
	})
}

// updateInstanceDeletingBindings updates an instance and deletes, in the
// same Update, its bindings of the credential types fn returns — what
// the broker does when credential types are removed — and returns them.
func updateInstanceDeletingBindings(s storage.Store, id string, fn func(storage.Instance) (storage.Instance, []string, error)) ([]storage.Binding, error) {
	var deleted []storage.Binding
	err := write(s, func(ctx context.Context, tx storage.Tx) error {
		deleted = nil
		in, err := tx.GetInstance(ctx, id)
		if err != nil {
			return err
		}
		in, types, err := fn(in)
		if err != nil {
			return err
		}
		in.ID = id
		if err := tx.UpdateInstance(ctx, in); err != nil {
			return err
		}
		bs, err := tx.ListBindings(ctx, id)
		if err != nil {
			return err
		}
		for _, b := range bs {
			for _, ty := range types {
				if b.CredentialType == ty {
					if err := tx.DeleteBinding(ctx, b.ID); err != nil {
						return err
					}
					deleted = append(deleted, b)
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return deleted, nil
}

var errBoom = errors.New("boom")

func fmtRev(r int64) string { return fmt.Sprint(r) }
