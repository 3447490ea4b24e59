package registry_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/openxsuaa/xsuaa/clients"
	"github.com/openxsuaa/xsuaa/clients/storage"
	"github.com/openxsuaa/xsuaa/scopes"

	"golang.org/x/crypto/bcrypt"

	"github.com/openxsuaa/xsuaa/clients/registry"
)

const demoDescriptor = `{"xsappname":"demo",
  "scopes":[{"name":"$XSAPPNAME.Display"},{"name":"$XSAPPNAME.Edit"}],
  "role-templates":[{"name":"Viewer","scope-references":["$XSAPPNAME.Display"]},{"name":"Editor","scope-references":["$XSAPPNAME.Edit"]}],
  "role-collections":[{"name":"Demo_Viewer","description":"view","role-template-references":["$XSAPPNAME.Viewer"]}]}`

// TestUsers: users are created with a bcrypt hash, validated with messages
// that name the problem, unique per origin, and deleted with their
// assignments.
func TestUsers(t *testing.T) {
	ctx := context.Background()
	e := newRegistryEnv(t)
	alice, err := e.reg.CreateUser(ctx, registry.UserSpec{Name: "alice", Password: "alice-pw", Email: "alice@example.com",
		GivenName: "Alice", FamilyName: "Example", Attributes: map[string][]string{"Country": {"DE"}}})
	if err != nil || alice.Origin != registry.DefaultOrigin || alice.ID == "" {
		t.Fatalf("CreateUser = %+v, %v", alice, err)
	}
	stored, err := e.store.FindUser(ctx, testZone.ID, registry.DefaultOrigin, "alice")
	if err != nil || bcrypt.CompareHashAndPassword(stored.PasswordHash, []byte("alice-pw")) != nil || strings.Contains(string(stored.PasswordHash), "alice-pw") {
		t.Fatalf("stored user %+v, %v: the password must be kept as a bcrypt hash only", stored, err)
	}
	if cost, _ := bcrypt.Cost(stored.PasswordHash); cost != registry.PasswordHashCost {
		t.Errorf("bcrypt cost %d, want %d", cost, registry.PasswordHashCost)
	}
	for _, tc := range []struct {
		spec registry.UserSpec
		kind error
		want string
	}{
		{registry.UserSpec{Name: "alice", Password: "another-pw"}, registry.ErrConflict, "user alice (origin sap.default) already exists"},
		{registry.UserSpec{Name: "bob", Password: "short"}, registry.ErrInvalid, "at least 8 characters"},
		{registry.UserSpec{Name: "bob", Password: strings.Repeat("x", 73)}, registry.ErrInvalid, "at most 72 bytes"},
		{registry.UserSpec{Name: "", Password: "bob-password"}, registry.ErrInvalid, "the user name is missing"},
		{registry.UserSpec{Name: "bo\x1bb", Password: "bob-password"}, registry.ErrInvalid, "control characters"},
		{registry.UserSpec{Name: " bob", Password: "bob-password"}, registry.ErrInvalid, "start or end with spaces"},
		{registry.UserSpec{Name: "bob", Password: "bob-password", Origin: "a/b"}, registry.ErrInvalid, "no '/'"},
		{registry.UserSpec{Name: "bob", Password: "bob-password", Email: "bob"}, registry.ErrInvalid, "has no @"},
		{registry.UserSpec{Name: "bob", Password: "bob-password", Attributes: map[string][]string{"bad name": {"x"}}}, registry.ErrInvalid, `attribute name "bad name"`},
		{registry.UserSpec{Name: "bob", Password: "bob-password", Attributes: map[string][]string{"Country": {}}}, registry.ErrInvalid, "1 to 100 values"},
	} {
		_, err := e.reg.CreateUser(ctx, tc.spec)
		mustBeOpError(t, "CreateUser "+tc.spec.Name, err, tc.kind, tc.want)
	}
	// Another origin is another user.
	if _, err := e.reg.CreateUser(ctx, registry.UserSpec{Name: "alice", Password: "ldap-pw-1", Origin: "ldap"}); err != nil {
		t.Fatal(err)
	}
	if err := e.reg.SetPassword(ctx, "", "", "alice", "new-alice-pw"); err != nil {
		t.Fatal(err)
	}
	stored, _ = e.store.FindUser(ctx, testZone.ID, registry.DefaultOrigin, "alice")
	if bcrypt.CompareHashAndPassword(stored.PasswordHash, []byte("new-alice-pw")) != nil {
		t.Error("SetPassword did not change the password")
	}
	mustBeOpError(t, "SetPassword of nobody", e.reg.SetPassword(ctx, "", "", "nobody", "whatever-pw"), registry.ErrNotFound, "user nobody (origin sap.default) not found")
	mustBeOpError(t, "SetPassword too short", e.reg.SetPassword(ctx, "", "", "alice", "x"), registry.ErrInvalid, "at least 8")
	users, err := e.reg.ListUsers(ctx, "")
	if err != nil || len(users) != 2 || users[0].Origin != "ldap" || users[1].Email != "alice@example.com" {
		t.Errorf("ListUsers = %+v, %v", users, err)
	}
	if err := e.reg.DeleteUser(ctx, "", "ldap", "alice"); err != nil {
		t.Fatal(err)
	}
	mustBeOpError(t, "DeleteUser again", e.reg.DeleteUser(ctx, "", "ldap", "alice"), registry.ErrNotFound, "not found")
}

// TestRoleCollections: descriptor role collections come and go with their
// instance; operators make their own from role templates of the zone's
// apps and assign them to users.
func TestRoleCollections(t *testing.T) {
	ctx := context.Background()
	e := newRegistryEnv(t)
	e.createInstance("inst-demo", demoDescriptor)
	rc, err := e.store.GetRoleCollection(ctx, testZone.ID, "Demo_Viewer")
	if err != nil || rc.Owner != "inst-demo" || !slices.Equal(rc.Roles, []string{"demo!t1.Viewer"}) || rc.Description != "view" {
		t.Fatalf("descriptor role collection = %+v, %v", rc, err)
	}
	if _, err := e.reg.CreateUser(ctx, registry.UserSpec{Name: "alice", Password: "alice-pw"}); err != nil {
		t.Fatal(err)
	}
	if err := e.reg.AssignRoleCollection(ctx, "", "Demo_Viewer", "", "alice"); err != nil {
		t.Fatal(err)
	}
	// Operators' collections: roles by runtime name or xsappname.
	admins, err := e.reg.CreateRoleCollection(ctx, registry.RoleCollectionSpec{Name: "Demo_Admin", Roles: []string{"demo.Editor", "demo!t1.Viewer", "demo.Editor"}})
	if err != nil || !slices.Equal(admins.Roles, []string{"demo!t1.Editor", "demo!t1.Viewer"}) {
		t.Fatalf("CreateRoleCollection = %+v, %v", admins, err)
	}
	for _, tc := range []struct {
		spec registry.RoleCollectionSpec
		kind error
		want string
	}{
		{registry.RoleCollectionSpec{Name: "Demo_Admin", Roles: []string{"demo.Editor"}}, registry.ErrConflict, "already exists"},
		{registry.RoleCollectionSpec{Name: "X", Roles: []string{"demo.Nope"}}, registry.ErrInvalid, `application demo!t1 has no role template "Nope" (it has Viewer, Editor)`},
		{registry.RoleCollectionSpec{Name: "X", Roles: []string{"nosuch.Viewer"}}, registry.ErrInvalid, "no application nosuch in this subaccount"},
		{registry.RoleCollectionSpec{Name: "X", Roles: []string{"Viewer"}}, registry.ErrInvalid, "must be <application>.<role template>"},
		{registry.RoleCollectionSpec{Name: strings.Repeat("n", 65)}, registry.ErrInvalid, "at most 64 characters"},
	} {
		_, err := e.reg.CreateRoleCollection(ctx, tc.spec)
		mustBeOpError(t, "CreateRoleCollection "+tc.spec.Name, err, tc.kind, tc.want)
	}
	if err := e.reg.AssignRoleCollection(ctx, "", "Demo_Admin", "", "alice"); err != nil {
		t.Fatal(err)
	}
	mustBeOpError(t, "assign unknown", e.reg.AssignRoleCollection(ctx, "", "Nope", "", "alice"), registry.ErrNotFound, "role collection Nope not found")
	mustBeOpError(t, "assign to nobody", e.reg.AssignRoleCollection(ctx, "", "Demo_Admin", "", "bob"), registry.ErrNotFound, "user bob")
	mustBeOpError(t, "delete a descriptor's collection", e.reg.DeleteRoleCollection(ctx, "", "Demo_Viewer"), registry.ErrInvalid, "defined by the xs-security.json of service instance inst-demo")
	users, _ := e.reg.ListUsers(ctx, "")
	if len(users) != 1 || !slices.Equal(users[0].RoleCollections, []string{"Demo_Admin", "Demo_Viewer"}) {
		t.Errorf("alice's role collections = %+v", users)
	}
	if err := e.reg.UnassignRoleCollection(ctx, "", "Demo_Admin", "", "alice"); err != nil {
		t.Fatal(err)
	}
	mustBeOpError(t, "unassign again", e.reg.UnassignRoleCollection(ctx, "", "Demo_Admin", "", "alice"), registry.ErrNotFound, "is not assigned to user alice")
	if err := e.reg.DeleteRoleCollection(ctx, "", "Demo_Admin"); err != nil {
		t.Fatal(err)
	}

	// A second instance may not take the name; an update renames the
	// collection (the old one goes, with its assignments) and keeps an
	// unchanged one's assignments; deleting the instance deletes its
	// collections.
	_, _, err = e.reg.CreateInstance(ctx, instanceReq("inst-other", `{"xsappname":"other","role-collections":[{"name":"Demo_Viewer","role-template-references":[]}]}`))
	mustBeOpError(t, "a taken collection name", err, registry.ErrConflict, `a role collection named "Demo_Viewer" already exists`)
	if _, err := e.store.GetInstance(ctx, "inst-other"); err == nil {
		t.Error("the instance was created although its role collection was refused")
	}
	req := instanceReq("inst-demo", strings.Replace(demoDescriptor, `"role-collections":[`,
		`"role-collections":[{"name":"Demo_Editor","role-template-references":["$XSAPPNAME.Editor"]},`, 1))
	if _, err := e.reg.UpdateInstance(ctx, req); err != nil {
		t.Fatal(err)
	}
	if users, _ := e.reg.ListUsers(ctx, ""); !slices.Equal(users[0].RoleCollections, []string{"Demo_Viewer"}) {
		t.Errorf("after an update that keeps Demo_Viewer: %v", users[0].RoleCollections)
	}
	if err := e.reg.DeleteInstance(ctx, "inst-demo"); err != nil {
		t.Fatal(err)
	}
	if list, _ := e.reg.ListRoleCollections(ctx, ""); len(list) != 0 {
		t.Errorf("role collections after the instance's delete: %+v", list)
	}
	if users, _ := e.reg.ListUsers(ctx, ""); len(users[0].RoleCollections) != 0 {
		t.Errorf("alice keeps collections of a deleted instance: %v", users[0].RoleCollections)
	}
}

// TestIndexUserGrant: the index knows users and role collections from the
// start and from the change feed (another replica's writes), and computes
// a user token's scopes, attributes and role collections for a client.
func TestIndexUserGrant(t *testing.T) {
	ctx := context.Background()
	e := newRegistryEnv(t)
	e.createInstance("inst-demo", `{"xsappname":"demo",
	  "scopes":[{"name":"$XSAPPNAME.Display"},{"name":"$XSAPPNAME.Edit"},{"name":"uaa.user"}],
	  "attributes":[{"name":"Country","valueType":"string"}],
	  "role-templates":[{"name":"Viewer","scope-references":["$XSAPPNAME.Display","uaa.user"],"attribute-references":["Country"]},
	                    {"name":"Editor","scope-references":["$XSAPPNAME.Edit"]}],
	  "role-collections":[{"name":"Demo_Viewer","role-template-references":["$XSAPPNAME.Viewer"]}]}`)
	e.createInstance("inst-portal", `{"xsappname":"portal","scopes":[{"name":"$XSAPPNAME.Use"}]}`)
	if _, err := e.reg.CreateUser(ctx, registry.UserSpec{Name: "alice", Password: "alice-pw", Attributes: map[string][]string{"Country": {"DE"}}}); err != nil {
		t.Fatal(err)
	}
	if err := e.reg.AssignRoleCollection(ctx, "", "Demo_Viewer", "", "alice"); err != nil {
		t.Fatal(err)
	}
	// Another replica on the same database, started now, and one that
	// follows the first one's later writes.
	other := e.newRegistry()
	idx := other.Index()
	grant := func(clientID string) (scopes string, attrs map[string][]string, collections []string) {
		t.Helper()
		if err := idx.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		u, ok := idx.FindUser(testZone.ID, registry.DefaultOrigin, "alice")
		if !ok {
			t.Fatal("alice is not in the index")
		}
		c, ok := idx.Lookup(testZone.ID, clientID)
		if !ok {
			t.Fatalf("client %s is not in the index", clientID)
		}
		g, rcs := idx.GrantUser(c, u)
		return strings.Join(g.Scopes, " "), g.Attributes, rcs
	}
	sc, attrs, rcs := grant("sb-demo!t1")
	if sc != "demo!t1.Display openid uaa.user" || strings.Join(attrs["Country"], ",") != "DE" || !slices.Equal(rcs, []string{"Demo_Viewer"}) {
		t.Errorf("demo's token for alice: scopes %q, attributes %v, role collections %v", sc, attrs, rcs)
	}
	// Another client gets none of demo's scopes: openid only.
	if sc, _, _ := grant("sb-portal!t1"); sc != "openid" {
		t.Errorf("portal's token for alice: scopes %q, want openid", sc)
	}
	// Written through the first replica, seen by the other at its next sync.
	if _, err := e.reg.CreateRoleCollection(ctx, registry.RoleCollectionSpec{Name: "Demo_Editor", Roles: []string{"demo.Editor"}}); err != nil {
		t.Fatal(err)
	}
	if err := e.reg.AssignRoleCollection(ctx, "", "Demo_Editor", "", "alice"); err != nil {
		t.Fatal(err)
	}
	if sc, _, rcs := grant("sb-demo!t1"); sc != "demo!t1.Display demo!t1.Edit openid uaa.user" || len(rcs) != 2 {
		t.Errorf("after assigning Demo_Editor: scopes %q, role collections %v", sc, rcs)
	}
	if err := e.reg.DeleteRoleCollection(ctx, "", "Demo_Editor"); err != nil {
		t.Fatal(err)
	}
	if sc, _, _ := grant("sb-demo!t1"); strings.Contains(sc, "Edit") {
		t.Errorf("after deleting Demo_Editor: scopes %q", sc)
	}
	if err := e.reg.DeleteUser(ctx, "", "", "alice"); err != nil {
		t.Fatal(err)
	}
	if err := idx.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := idx.FindUser(testZone.ID, registry.DefaultOrigin, "alice"); ok {
		t.Error("a deleted user is still in the other replica's index")
	}
}

// TestUpgradeApps: an instance whose stored app an older version resolved
// (without the login settings) gains them from its stored descriptor once:
// its role collection exists and its redirect URIs count; nothing else
// of it changes, and a second run has nothing to do.
func TestUpgradeApps(t *testing.T) {
	ctx := context.Background()
	e := newRegistryEnv(t)
	e.createInstance("inst-demo", demoDescriptor)
	e.createInstance("inst-plain", `{"xsappname":"plain","scopes":[{"name":"$XSAPPNAME.Read"}]}`)
	// What an older version stored: the app without the login fields, and
	// no role collection.
	if _, err := e.store.Update(ctx, func(tx storage.Tx) error {
		in, err := tx.GetInstance(ctx, "inst-demo")
		if err != nil {
			return err
		}
		var app map[string]any
		json.Unmarshal(in.App, &app)
		for _, k := range []string{"attributes", "role_templates", "role_collections", "redirect_uris"} {
			delete(app, k)
		}
		in.App, _ = json.Marshal(app)
		if err := tx.UpdateInstance(ctx, in); err != nil {
			return err
		}
		return tx.DeleteRoleCollection(ctx, in.ZoneID, "Demo_Viewer")
	}); err != nil {
		t.Fatal(err)
	}
	before, _ := e.store.GetInstance(ctx, "inst-demo")
	n, err := e.reg.UpgradeApps(ctx)
	if err != nil || n != 1 {
		t.Fatalf("UpgradeApps = %d, %v; want the one old instance", n, err)
	}
	after, _ := e.store.GetInstance(ctx, "inst-demo")
	var app scopes.App
	json.Unmarshal(after.App, &app)
	if len(app.RoleTemplates) != 2 || len(app.RoleCollections) != 1 || app.RuntimeName != "demo!t1" {
		t.Errorf("upgraded app: %+v", app)
	}
	if rc, err := e.store.GetRoleCollection(ctx, testZone.ID, "Demo_Viewer"); err != nil || rc.Owner != "inst-demo" {
		t.Errorf("the descriptor's role collection after the upgrade: %+v, %v", rc, err)
	}
	var was, now map[string]any
	json.Unmarshal(before.App, &was)
	json.Unmarshal(after.App, &now)
	for k, v := range was {
		if fmt.Sprint(now[k]) != fmt.Sprint(v) {
			t.Errorf("the upgrade changed %s: %v -> %v", k, v, now[k])
		}
	}
	if n, err := e.reg.UpgradeApps(ctx); err != nil || n != 0 {
		t.Errorf("a second UpgradeApps = %d, %v; want nothing to do", n, err)
	}
}

// TestUpgradeProvisioningGrants: an instance created before the SaaS
// provisioning zone existed holds its grant to
// $XSAPPNAME(application,sap-provisioning,tenant-onboarding) unresolved;
// once the zone exists, UpgradeApps resolves it (once), and the built-in
// provisioning client then carries the granted scope.
func TestUpgradeProvisioningGrants(t *testing.T) {
	ctx := context.Background()
	e := newRegistryEnv(t)
	e.createInstance("inst-saas", `{"xsappname":"saas","tenant-mode":"shared","scopes":[{"name":"$XSAPPNAME.Callback",
		"grant-as-authority-to-apps":["$XSAPPNAME(application,sap-provisioning,tenant-onboarding)"]}]}`)
	if _, err := createZone(e.store, storage.Zone{ID: clients.ProvisioningZoneID, Subdomain: clients.ProvisioningZoneID, Index: 2}); err != nil {
		t.Fatal(err)
	}
	if err := e.reg.Index().Sync(ctx); err != nil {
		t.Fatal(err)
	}
	prov, ok := e.reg.Index().ProvisioningClient()
	if !ok || slices.Contains(prov.Authorities, "saas!t1.Callback") {
		t.Fatalf("before the upgrade: provisioning client %v (found %v)", prov, ok)
	}
	if n, err := e.reg.UpgradeApps(ctx); err != nil || n != 1 {
		t.Fatalf("UpgradeApps = %d, %v; want the one instance with the unresolved grant", n, err)
	}
	if prov, _ := e.reg.Index().ProvisioningClient(); !slices.Contains(prov.Authorities, "saas!t1.Callback") || prov.ID != "sb-tenant-onboarding!t2" {
		t.Errorf("after the upgrade: the provisioning client %s has %q", prov.ID, prov.Authorities)
	}
	if n, err := e.reg.UpgradeApps(ctx); err != nil || n != 0 {
		t.Errorf("a second UpgradeApps = %d, %v; want nothing to do", n, err)
	}
}
