package storagetest

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/openxsuaa/xsuaa/clients/storage"
)

func newUser(id, zoneID, name string) storage.User {
	now := time.UnixMicro(time.Now().UnixMicro()).UTC()
	return storage.User{ID: id, ZoneID: zoneID, Origin: "sap.default", UserName: name, Email: name + "@example.com",
		GivenName: "Given " + name, FamilyName: "Family", Attributes: map[string][]string{"Country": {"DE", "FR"}},
		PasswordHash: []byte("$2a$10$not-a-real-hash-" + name), CreatedAt: now, UpdatedAt: now}
}

// update runs fn in one Update.
func update(t *testing.T, s storage.Store, fn func(ctx context.Context, tx storage.Tx) error) error {
	t.Helper()
	_, err := s.Update(context.Background(), func(tx storage.Tx) error { return fn(context.Background(), tx) })
	return err
}

// testUsers: users round-trip, are unique per zone, origin and user name,
// and updates and deletes find them by id.
func testUsers(t *testing.T, s storage.Store) {
	ctx := context.Background()
	z := ensureZone(t, s, "zone-1", 1)
	z2 := ensureZone(t, s, "zone-2", 2)
	alice := newUser("u-alice", z.ID, "alice")
	mustNot(t, "CreateUser", update(t, s, func(ctx context.Context, tx storage.Tx) error { return tx.CreateUser(ctx, alice) }))
	got, err := s.GetUser(ctx, alice.ID)
	mustNot(t, "GetUser", err)
	if !reflect.DeepEqual(got, alice) {
		t.Errorf("GetUser = %+v, want %+v", got, alice)
	}
	if found, err := s.FindUser(ctx, z.ID, "sap.default", "alice"); err != nil || found.ID != alice.ID {
		t.Errorf("FindUser = %+v, %v", found, err)
	}
	for _, tc := range []struct {
		name string
		u    storage.User
		want error
	}{
		{"the same id", newUser("u-alice", z2.ID, "other"), storage.ErrAlreadyExists},
		{"the same name and origin in the zone", newUser("u-alice-2", z.ID, "alice"), storage.ErrAlreadyExists},
		{"an unknown zone", newUser("u-x", "no-such-zone", "x"), storage.ErrNotFound},
	} {
		err := update(t, s, func(ctx context.Context, tx storage.Tx) error { return tx.CreateUser(ctx, tc.u) })
		if !errors.Is(err, tc.want) {
			t.Errorf("CreateUser with %s = %v, want %v", tc.name, err, tc.want)
		}
	}
	// The same name in another origin or zone is another user.
	ldap := newUser("u-alice-ldap", z.ID, "alice")
	ldap.Origin = "ldap"
	other := newUser("u-alice-z2", z2.ID, "alice")
	mustNot(t, "CreateUser", update(t, s, func(ctx context.Context, tx storage.Tx) error {
		if err := tx.CreateUser(ctx, ldap); err != nil {
			return err
		}
		return tx.CreateUser(ctx, other)
	}))
	if list, err := s.ListUsers(ctx, z.ID); err != nil || len(list) != 2 || list[0].Origin != "ldap" || list[1].ID != alice.ID {
		t.Errorf("ListUsers(zone-1) = %+v, %v; want alice of ldap, then of sap.default", list, err)
	}
	if list, err := s.ListUsers(ctx, ""); err != nil || len(list) != 3 {
		t.Errorf("ListUsers(all) = %d users, %v; want 3", len(list), err)
	}
	// Update: a new password hash and attributes; a rename onto a taken
	// name is refused.
	changed := alice
	changed.PasswordHash, changed.Attributes, changed.Email = []byte("$2a$10$another"), map[string][]string{"Level": {"3"}}, "a@example.org"
	changed.ZoneID = z2.ID // ignored: a user stays in its zone
	mustNot(t, "UpdateUser", update(t, s, func(ctx context.Context, tx storage.Tx) error { return tx.UpdateUser(ctx, changed) }))
	got, _ = s.GetUser(ctx, alice.ID)
	if string(got.PasswordHash) != "$2a$10$another" || got.Email != "a@example.org" || got.ZoneID != z.ID || !reflect.DeepEqual(got.Attributes, changed.Attributes) {
		t.Errorf("after UpdateUser: %+v", got)
	}
	clash := got
	clash.Origin = "ldap"
	if err := update(t, s, func(ctx context.Context, tx storage.Tx) error { return tx.UpdateUser(ctx, clash) }); !errors.Is(err, storage.ErrAlreadyExists) {
		t.Errorf("UpdateUser onto a taken name = %v", err)
	}
	if err := update(t, s, func(ctx context.Context, tx storage.Tx) error {
		return tx.UpdateUser(ctx, newUser("nobody", z.ID, "n"))
	}); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("UpdateUser of an unknown user = %v", err)
	}
	mustNot(t, "DeleteUser", update(t, s, func(ctx context.Context, tx storage.Tx) error { return tx.DeleteUser(ctx, alice.ID) }))
	if _, err := s.GetUser(ctx, alice.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("GetUser after DeleteUser = %v", err)
	}
	if err := update(t, s, func(ctx context.Context, tx storage.Tx) error { return tx.DeleteUser(ctx, alice.ID) }); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("DeleteUser again = %v", err)
	}
	if _, err := s.FindUser(ctx, z.ID, "sap.default", "bad\x00name"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("FindUser with a NUL = %v", err)
	}
	bad := newUser("u-bad", z.ID, "bad")
	bad.Attributes = map[string][]string{"k": {"\xff"}}
	if err := update(t, s, func(ctx context.Context, tx storage.Tx) error { return tx.CreateUser(ctx, bad) }); !errors.Is(err, storage.ErrInvalidText) {
		t.Errorf("CreateUser with an attribute value that is not UTF-8 = %v", err)
	}
}

// testRoleCollections: collections round-trip per zone; assignments
// belong to the user's zone, are listed with the user, and go with the
// collection or the user; every change is in the change feed.
func testRoleCollections(t *testing.T, s storage.Store) {
	ctx := context.Background()
	z := ensureZone(t, s, "zone-1", 1)
	z2 := ensureZone(t, s, "zone-2", 2)
	viewer := storage.RoleCollection{ZoneID: z.ID, Name: "Demo_Viewer", Description: "view", Roles: []string{"demo!t1.Viewer", "other!t1.Reader"}, Owner: "inst-1"}
	admin := storage.RoleCollection{ZoneID: z.ID, Name: "Admins", Roles: []string{}}
	alice, bob := newUser("u-alice", z.ID, "alice"), newUser("u-bob", z.ID, "bob")
	carol := newUser("u-carol", z2.ID, "carol")
	mustNot(t, "create", update(t, s, func(ctx context.Context, tx storage.Tx) error {
		for _, rc := range []storage.RoleCollection{viewer, admin} {
			if err := tx.CreateRoleCollection(ctx, rc); err != nil {
				return err
			}
		}
		for _, u := range []storage.User{alice, bob, carol} {
			if err := tx.CreateUser(ctx, u); err != nil {
				return err
			}
		}
		return nil
	}))
	if got, err := s.GetRoleCollection(ctx, z.ID, "Demo_Viewer"); err != nil || !reflect.DeepEqual(got, viewer) {
		t.Errorf("GetRoleCollection = %+v, %v; want %+v", got, err, viewer)
	}
	if _, err := s.GetRoleCollection(ctx, z2.ID, "Demo_Viewer"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("a collection of zone-1 found in zone-2: %v", err)
	}
	if err := update(t, s, func(ctx context.Context, tx storage.Tx) error { return tx.CreateRoleCollection(ctx, viewer) }); !errors.Is(err, storage.ErrAlreadyExists) {
		t.Errorf("CreateRoleCollection twice = %v", err)
	}
	in2 := viewer
	in2.ZoneID = z2.ID
	mustNot(t, "the same name in zone-2", update(t, s, func(ctx context.Context, tx storage.Tx) error { return tx.CreateRoleCollection(ctx, in2) }))
	if list, err := s.ListRoleCollections(ctx, z.ID); err != nil || len(list) != 2 || list[0].Name != "Admins" {
		t.Errorf("ListRoleCollections(zone-1) = %+v, %v", list, err)
	}

	rev0, _ := s.Revision(ctx)
	mustNot(t, "assign", update(t, s, func(ctx context.Context, tx storage.Tx) error {
		for _, a := range [][2]string{{alice.ID, "Demo_Viewer"}, {alice.ID, "Admins"}, {bob.ID, "Demo_Viewer"}, {alice.ID, "Admins"}} {
			if err := tx.AssignRoleCollection(ctx, a[0], a[1]); err != nil {
				return err
			}
		}
		return nil
	}))
	for _, tc := range []struct {
		name, user, collection string
	}{
		{"an unknown collection", alice.ID, "Nope"},
		{"an unknown user", "no-such-user", "Admins"},
		{"a collection of another zone", carol.ID, "Admins"},
	} {
		if err := update(t, s, func(ctx context.Context, tx storage.Tx) error {
			return tx.AssignRoleCollection(ctx, tc.user, tc.collection)
		}); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("AssignRoleCollection of %s = %v", tc.name, err)
		}
	}
	if u, _ := s.GetUser(ctx, alice.ID); !slices.Equal(u.RoleCollections, []string{"Admins", "Demo_Viewer"}) {
		t.Errorf("alice's role collections = %v", u.RoleCollections)
	}
	if users, _ := s.ListUsers(ctx, z.ID); len(users) != 2 || !slices.Equal(users[1].RoleCollections, []string{"Demo_Viewer"}) {
		t.Errorf("ListUsers with role collections = %+v", users)
	}
	if err := update(t, s, func(ctx context.Context, tx storage.Tx) error {
		return tx.UnassignRoleCollection(ctx, bob.ID, "Admins")
	}); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("UnassignRoleCollection of a collection not assigned = %v", err)
	}
	mustNot(t, "unassign", update(t, s, func(ctx context.Context, tx storage.Tx) error {
		return tx.UnassignRoleCollection(ctx, alice.ID, "Admins")
	}))
	// Updating a collection keeps its assignments; deleting it removes them.
	viewer.Roles, viewer.Owner = []string{"demo!t1.Viewer"}, ""
	mustNot(t, "UpdateRoleCollection", update(t, s, func(ctx context.Context, tx storage.Tx) error { return tx.UpdateRoleCollection(ctx, viewer) }))
	if got, _ := s.GetRoleCollection(ctx, z.ID, "Demo_Viewer"); !reflect.DeepEqual(got, viewer) {
		t.Errorf("after UpdateRoleCollection: %+v", got)
	}
	mustNot(t, "DeleteRoleCollection", update(t, s, func(ctx context.Context, tx storage.Tx) error {
		return tx.DeleteRoleCollection(ctx, z.ID, "Demo_Viewer")
	}))
	for _, id := range []string{alice.ID, bob.ID} {
		if u, _ := s.GetUser(ctx, id); len(u.RoleCollections) != 0 {
			t.Errorf("user %s keeps the deleted collection: %v", id, u.RoleCollections)
		}
	}
	// A collection made again under the old name is not assigned to anyone.
	mustNot(t, "recreate", update(t, s, func(ctx context.Context, tx storage.Tx) error { return tx.CreateRoleCollection(ctx, viewer) }))
	if u, _ := s.GetUser(ctx, bob.ID); len(u.RoleCollections) != 0 {
		t.Errorf("a re-created collection is assigned again: %v", u.RoleCollections)
	}
	if err := update(t, s, func(ctx context.Context, tx storage.Tx) error { return tx.DeleteRoleCollection(ctx, z.ID, "Nope") }); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("DeleteRoleCollection of an unknown collection = %v", err)
	}
	// Deleting a user removes its assignments.
	mustNot(t, "assign carol", update(t, s, func(ctx context.Context, tx storage.Tx) error {
		return tx.AssignRoleCollection(ctx, carol.ID, "Demo_Viewer")
	}))
	mustNot(t, "DeleteUser", update(t, s, func(ctx context.Context, tx storage.Tx) error { return tx.DeleteUser(ctx, carol.ID) }))
	mustNot(t, "DeleteRoleCollection", update(t, s, func(ctx context.Context, tx storage.Tx) error {
		return tx.DeleteRoleCollection(ctx, z2.ID, "Demo_Viewer")
	}))

	// The change feed names users and collections.
	var changes []storage.Change
	_, err := s.Snapshot(ctx, func(r storage.Snap) error {
		var err error
		changes, _, err = r.Changes(ctx, rev0)
		return err
	})
	mustNot(t, "Changes", err)
	seen := map[storage.Change]bool{}
	for _, c := range changes {
		seen[storage.Change{Kind: c.Kind, Ref: c.Ref}] = true
	}
	for _, want := range []storage.Change{
		{Kind: storage.ChangeUser, Ref: alice.ID},
		{Kind: storage.ChangeUser, Ref: bob.ID}, // by the collection's delete
		{Kind: storage.ChangeUser, Ref: carol.ID},
		{Kind: storage.ChangeRoleCollection, Ref: storage.RoleCollectionRef(z.ID, "Demo_Viewer")},
		{Kind: storage.ChangeRoleCollection, Ref: storage.RoleCollectionRef(z2.ID, "Demo_Viewer")},
	} {
		if !seen[want] {
			t.Errorf("the change feed lacks %+v: %+v", want, changes)
		}
	}
}
