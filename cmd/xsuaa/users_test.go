package main

import (
	"slices"
	"strings"
	"testing"
)

const demoLoginDescriptor = `{"xsappname":"demo",
 "scopes":[{"name":"$XSAPPNAME.Display"},{"name":"$XSAPPNAME.Edit"}],
 "attributes":[{"name":"Country","valueType":"string"}],
 "role-templates":[{"name":"Viewer","scope-references":["$XSAPPNAME.Display"],"attribute-references":["Country"]},
                   {"name":"Editor","scope-references":["$XSAPPNAME.Edit"]}],
 "role-collections":[{"name":"Demo_Viewer","role-template-references":["$XSAPPNAME.Viewer"]}],
 "oauth2-configuration":{"redirect-uris":["http://127.0.0.1:5055/**"]}}`

// TestCLIUsers: users and role collections through the CLI and the admin
// API on the real server: the descriptor's role collection exists with
// its instance; an operator's collection is made from role templates;
// assignments show with the user; every mistake is one line naming it;
// passwords never reach the logs.
func TestCLIUsers(t *testing.T) {
	s := startServer(t, "")
	s.ok("create-service", "demo-xsuaa", "-c", demoLoginDescriptor)
	if out := s.ok("role-collections"); !strings.Contains(out, "Demo_Viewer") || !strings.Contains(out, "demo!t1.Viewer") || !strings.Contains(out, "xs-security.json of") {
		t.Errorf("role-collections:\n%s", out)
	}
	out := s.ok("create-user", "alice", "--password", "alice-pw-1", "--email", "alice@example.com", "--given-name", "Alice",
		"--family-name", "Example", "--attribute", "Country=DE", "--attribute", "Country=FR")
	if !strings.Contains(out, "Created user alice (origin sap.default, id ") {
		t.Errorf("create-user: %q", out)
	}
	s.ok("create-role-collection", "Demo_Admin", "--role", "demo.Editor", "--role", "demo!t1.Viewer", "--description", "all of demo")
	s.ok("assign-role-collection", "Demo_Viewer", "alice")
	s.ok("assign-role-collection", "Demo_Admin", "alice")
	var users []struct {
		Name            string
		Origin          string
		Email           string
		Attributes      map[string][]string
		RoleCollections []string `json:"role_collections"`
	}
	s.okJSON(&users, "users")
	if len(users) != 1 || users[0].Email != "alice@example.com" || !slices.Equal(users[0].Attributes["Country"], []string{"DE", "FR"}) ||
		!slices.Equal(users[0].RoleCollections, []string{"Demo_Admin", "Demo_Viewer"}) {
		t.Errorf("users --json = %+v", users)
	}
	if out := s.ok("users"); !strings.Contains(out, "alice") || !strings.Contains(out, "Demo_Admin, Demo_Viewer") {
		t.Errorf("users:\n%s", out)
	}
	for _, tc := range []struct {
		args []string
		code int
		want []string
	}{
		{[]string{"create-user", "alice", "--password", "another-pw"}, 1, []string{"user alice (origin sap.default) already exists"}},
		{[]string{"create-user", "bob", "--password", "short"}, 1, []string{"the password must have at least 8 characters"}},
		{[]string{"create-user", "bob"}, 2, []string{"create-user needs --password"}},
		{[]string{"create-user", "bob", "--password", "bob-password", "--attribute", "nokey"}, 2, []string{"--attribute takes KEY=VALUE"}},
		{[]string{"create-user", "bob", "--password", "bob-password", "--origin", "a/b"}, 1, []string{"no '/'"}},
		{[]string{"create-role-collection", "X", "--role", "demo.Nope"}, 1, []string{`application demo!t1 has no role template "Nope" (it has Viewer, Editor)`}},
		{[]string{"create-role-collection", "X", "--role", "nosuch.Viewer"}, 1, []string{"no application nosuch"}},
		{[]string{"assign-role-collection", "Nope", "alice"}, 1, []string{"role collection Nope not found"}},
		{[]string{"assign-role-collection", "Demo_Admin", "bob"}, 1, []string{"user bob (origin sap.default) not found"}},
		{[]string{"delete-role-collection", "Demo_Viewer"}, 1, []string{"defined by the xs-security.json of service instance"}},
		{[]string{"set-password", "alice", "--password", "x"}, 1, []string{"at least 8 characters"}},
		{[]string{"unassign-role-collection", "Demo_Admin"}, 2, []string{"takes 2 arguments, got 1"}},
	} {
		s.fails(tc.code, tc.want, tc.args...)
	}
	s.ok("set-password", "alice", "--password", "alice-pw-2")
	s.ok("unassign-role-collection", "Demo_Admin", "alice")
	s.ok("delete-role-collection", "Demo_Admin")
	if out := s.ok("role-collections"); strings.Contains(out, "Demo_Admin") {
		t.Errorf("a deleted role collection is listed:\n%s", out)
	}
	// The instance takes its role collection with it.
	s.ok("delete-service", "demo-xsuaa")
	if out := s.ok("role-collections"); strings.Contains(out, "Demo_Viewer") {
		t.Errorf("the deleted instance's role collection is listed:\n%s", out)
	}
	s.ok("delete-user", "alice")
	if out := s.ok("users"); !strings.Contains(out, "No users.") {
		t.Errorf("users after delete-user:\n%s", out)
	}
	logs := s.logs.String()
	for _, secret := range []string{"alice-pw-1", "alice-pw-2", "another-pw", "bob-password"} {
		if strings.Contains(logs, secret) {
			t.Errorf("password %q is in the server's logs", secret)
		}
	}
	for _, event := range []string{`"event":"user.created"`, `"event":"user.password.set"`, `"event":"rolecollection.assigned"`, `"event":"user.deleted"`} {
		if !strings.Contains(logs, event) {
			t.Errorf("the audit log lacks %s", event)
		}
	}
}
