package sqlstore_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/openxsuaa/xsuaa/clients/storage"
	"github.com/openxsuaa/xsuaa/clients/storage/sqlstore"
)

// TestRowMACs: credential rows carry a MAC once SealRows set the key.
// Rows an older version wrote are sealed once, at the first SealRows; a
// binding or user row changed or inserted with write access to the
// database alone (no master key) is then refused — read as absent — and
// counted, and a later SealRows does not bless it.
func TestRowMACs(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "xsuaa.db")
	s, err := sqlstore.OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.UnixMicro(time.Now().UnixMicro()).UTC()
	binding := func(id string) storage.Binding {
		return storage.Binding{ID: id, InstanceID: "inst-1", CredentialType: "binding-secret", SecretID: "sid-" + id,
			SecretHash: []byte("hash of " + id), Parameters: json.RawMessage(`{}`), CreatedAt: now}
	}
	user := func(id string) storage.User {
		return storage.User{ID: id, ZoneID: "zone-1", Origin: "sap.default", UserName: "name-" + id,
			PasswordHash: []byte("$2a$10$hash" + id), CreatedAt: now, UpdatedAt: now}
	}
	write := func(fn func(tx storage.Tx) error) {
		t.Helper()
		if _, err := s.Update(ctx, fn); err != nil {
			t.Fatal(err)
		}
	}
	// What an older version wrote, without a key.
	write(func(tx storage.Tx) error {
		if err := tx.CreateZone(ctx, storage.Zone{ID: "zone-1", Subdomain: "one", Index: 1}); err != nil {
			return err
		}
		if err := tx.CreateInstance(ctx, storage.Instance{ID: "inst-1", ZoneID: "zone-1", Name: "n", ServiceID: "s", PlanID: "p",
			OrgGUID: "o", SpaceGUID: "sp", Parameters: json.RawMessage(`{}`), Context: json.RawMessage(`{}`), RuntimeName: "app!t1",
			App: json.RawMessage(`{}`), CreatedAt: now, UpdatedAt: now}); err != nil {
			return err
		}
		if err := tx.CreateBinding(ctx, binding("b-old"), 100); err != nil {
			return err
		}
		return tx.CreateUser(ctx, user("u-old"))
	})
	key := bytes.Repeat([]byte{7}, 32)
	if err := s.SealRows(ctx, key, nil); err != nil {
		t.Fatal(err)
	}
	write(func(tx storage.Tx) error {
		if err := tx.CreateBinding(ctx, binding("b-new"), 100); err != nil {
			return err
		}
		return tx.CreateUser(ctx, user("u-new"))
	})
	for _, id := range []string{"b-old", "b-new"} {
		if _, err := s.GetBinding(ctx, id); err != nil {
			t.Errorf("binding %s after sealing: %v", id, err)
		}
	}
	if _, err := s.GetUser(ctx, "u-old"); err != nil {
		t.Errorf("user u-old after sealing: %v", err)
	}

	// Write access to the database, without the master key.
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, stmt := range []string{
		`UPDATE bindings SET secret_hash = X'0102' WHERE id = 'b-old'`,
		`INSERT INTO bindings (id, instance_id, credential_type, secret_id, secret_hash, parameters, app_guid, created_at, cert_fingerprint,
			cert_subject, cert_issuer, cert_not_before, cert_pem, cert_pinned, name, context, sealed_secret)
			SELECT 'b-forged', instance_id, credential_type, 'sid-forged', secret_hash, parameters, app_guid, created_at, cert_fingerprint,
			cert_subject, cert_issuer, cert_not_before, cert_pem, cert_pinned, name, context, sealed_secret FROM bindings WHERE id = 'b-new'`,
		`UPDATE users SET password_hash = X'2432' WHERE id = 'u-new'`,
	} {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	check := func(when string) {
		t.Helper()
		for _, id := range []string{"b-old", "b-forged"} {
			if _, err := s.GetBinding(ctx, id); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("%s: the tampered binding %s: %v; want not found", when, id, err)
			}
		}
		bs, err := s.ListBindings(ctx, "")
		if err != nil || len(bs) != 1 || bs[0].ID != "b-new" {
			t.Errorf("%s: ListBindings = %d bindings, %v; want only b-new", when, len(bs), err)
		}
		if _, err := s.GetUser(ctx, "u-new"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("%s: the user with a changed password hash: %v; want not found", when, err)
		}
		if us, err := s.ListUsers(ctx, "zone-1"); err != nil || len(us) != 1 || us[0].ID != "u-old" {
			t.Errorf("%s: ListUsers = %d users, %v; want only u-old", when, len(us), err)
		}
	}
	check("after tampering")
	if s.ForgedRows() == 0 {
		t.Error("no forged rows counted")
	}
	// A later start does not seal what was tampered with.
	if err := s.SealRows(ctx, key, nil); err != nil {
		t.Fatal(err)
	}
	check("after another SealRows")
}
