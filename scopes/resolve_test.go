package scopes

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

func mustParse(t *testing.T, s string) *Descriptor {
	t.Helper()
	d, err := Parse([]byte(s))
	if err != nil {
		t.Fatalf("Parse(%s): %v", s, err)
	}
	return d
}

func TestRuntimeName(t *testing.T) {
	for _, tc := range []struct{ app, plan, want string }{
		{"orders", PlanApplication, "orders!t7"},
		{"workflow", PlanBroker, "workflow!b7"},
	} {
		if got := RuntimeName(tc.app, tc.plan, 7); got != tc.want {
			t.Errorf("RuntimeName(%q, %q) = %q, want %q", tc.app, tc.plan, got, tc.want)
		}
	}
}

func TestResolve(t *testing.T) {
	env := Env{
		Plan: PlanApplication, ZoneIndex: 1,
		LookupInstance: func(name string) []string {
			return map[string][]string{"my-jobscheduler": {"jobscheduler!b1"}, "twice": {"a!t1", "b!t1"}}[name]
		},
		LookupZone: func(z string) (int, bool) { return 1, z == "zone-1" },
	}
	cases := []struct {
		name string
		desc string
		env  func(Env) Env
		want func(*testing.T, *App)
	}{
		{"defaults", `{"xsappname":"orders"}`, nil, func(t *testing.T, a *App) {
			if a.RuntimeName != "orders!t1" || a.ClientID() != "sb-orders!t1" || a.TokenValidity != 43200 ||
				a.TenantMode != "dedicated" || !reflect.DeepEqual(a.CredentialTypes, []string{CredentialSecret}) {
				t.Errorf("%+v", a)
			}
		}},
		{"broker plan", `{"xsappname":"workflow","scopes":[{"name":"$XSAPPNAME.TASK_GET"}]}`, func(e Env) Env { e.Plan = PlanBroker; return e }, func(t *testing.T, a *App) {
			if a.RuntimeName != "workflow!b1" || a.Scopes[0] != "workflow!b1.TASK_GET" {
				t.Errorf("%+v", a)
			}
		}},
		{"own authorities and oauth2 configuration", `{"xsappname":"a","scopes":[{"name":"$XSAPPNAME.R"}],"authorities":["$XSAPPNAME.R","$ACCEPT_GRANTED_AUTHORITIES","$XSAPPNAME(application,b).W"],
			"oauth2-configuration":{"token-validity":600,"credential-types":["x509","binding-secret"]}}`, nil, func(t *testing.T, a *App) {
			if !reflect.DeepEqual(a.Authorities, []string{"a!t1.R", "b!t1.W"}) || !a.AcceptGrantedAuthorities || a.TokenValidity != 600 || a.DefaultCredentialType() != CredentialX509 {
				t.Errorf("%+v", a)
			}
		}},
		{"grants in every reference form", `{"xsappname":"owner","scopes":[{"name":"$XSAPPNAME.JOBSCHEDULER","grant-as-authority-to-apps":[
			"$XSSERVICENAME(my-jobscheduler)","$XSAPPNAME(application,billing)","$XSAPPNAME(broker,zone-1,reuse)","$XSAPPNAME(application,sap-provisioning,tenant-onboarding)","plainapp",
			"$XSAPPNAME(application,consumer-1!b1|jobscheduler!b1)"]}]}`, nil,
			func(t *testing.T, a *App) {
				var to []string
				for _, g := range a.Grants {
					if g.Scope != "owner!t1.JOBSCHEDULER" {
						t.Errorf("grant scope %q", g.Scope)
					}
					to = append(to, g.To)
				}
				want := []string{"jobscheduler!b1", "billing!t1", "reuse!b1", "tenant-onboarding!t0@sap-provisioning", "plainapp!t1", "consumer-1!b1|jobscheduler!b1"}
				if !reflect.DeepEqual(to, want) {
					t.Errorf("grant targets %q, want %q", to, want)
				}
			}},
		{"user grants and foreign scopes", `{"xsappname":"a","scopes":[{"name":"$XSAPPNAME.W","granted-apps":["$XSAPPNAME(application,portal)"]}],"foreign-scope-references":["$ACCEPT_GRANTED_SCOPES","$XSAPPNAME(application,b).R","uaa.user"]}`, nil,
			func(t *testing.T, a *App) {
				if !reflect.DeepEqual(a.UserGrants, []Grant{{Scope: "a!t1.W", To: "portal!t1"}}) || !a.AcceptGrantedScopes || !reflect.DeepEqual(a.ForeignScopes, []string{"b!t1.R", "uaa.user"}) {
					t.Errorf("%+v", a)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := env
			if tc.env != nil {
				e = tc.env(e)
			}
			a, err := Resolve(mustParse(t, tc.desc), e)
			if err != nil {
				t.Fatal(err)
			}
			tc.want(t, a)
		})
	}
}

func TestResolveErrors(t *testing.T) {
	for _, tc := range []struct{ name, desc, path, msg string }{
		{"unknown service instance", `{"xsappname":"a","scopes":[{"name":"$XSAPPNAME.x","grant-as-authority-to-apps":["$XSSERVICENAME(nope)"]}]}`, "scopes[0].grant-as-authority-to-apps[0]", `no service instance named "nope"`},
		{"ambiguous service instance", `{"xsappname":"a","scopes":[{"name":"$XSAPPNAME.x","grant-as-authority-to-apps":["$XSSERVICENAME(twice)"]}]}`, "scopes[0].grant-as-authority-to-apps[0]", `2 service instances named "twice" exist in this space (a!t1, b!t1)`},
		{"scope name too long", `{"xsappname":"` + strings.Repeat("a", 100) + `","scopes":[{"name":"$XSAPPNAME.` + strings.Repeat("b", 90) + `"}]}`, "scopes[0].name", "at most 193 characters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Resolve(mustParse(t, tc.desc), Env{Plan: PlanApplication, ZoneIndex: 1, LookupInstance: func(name string) []string {
				return map[string][]string{"twice": {"a!t1", "b!t1"}}[name]
			}})
			ve, ok := err.(*ValidationError)
			if !ok || len(ve.Problems) != 1 || ve.Problems[0].Path != tc.path || !strings.Contains(ve.Problems[0].Message, tc.msg) {
				t.Fatalf("got %v, want %s: ...%s", err, tc.path, tc.msg)
			}
		})
	}
}

// TestAuthorities covers acceptance: grants count only when accepted, all
// at once with $ACCEPT_GRANTED_AUTHORITIES or one by one by name.
func TestAuthorities(t *testing.T) {
	env := Env{Plan: PlanApplication, ZoneIndex: 1}
	resolve := func(s string) *App {
		a, err := Resolve(mustParse(t, s), env)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	owner := resolve(`{"xsappname":"owner","scopes":[{"name":"$XSAPPNAME.A","grant-as-authority-to-apps":["$XSAPPNAME(application,blanket)","$XSAPPNAME(application,explicit)","$XSAPPNAME(application,none)"]},
		{"name":"$XSAPPNAME.B","grant-as-authority-to-apps":["$XSAPPNAME(application,blanket)","$XSAPPNAME(application,explicit)"]},{"name":"$XSAPPNAME.Own"}],"authorities":["$XSAPPNAME.Own"]}`)
	blanket := resolve(`{"xsappname":"blanket","authorities":["$ACCEPT_GRANTED_AUTHORITIES"]}`)
	explicit := resolve(`{"xsappname":"explicit","authorities":["$XSAPPNAME(application,owner).B","$XSAPPNAME(application,owner).Own"]}`)
	none := resolve(`{"xsappname":"none"}`)
	idx := IndexGrants([]*App{owner, blanket, explicit, none})
	for _, tc := range []struct {
		app  *App
		want []string
	}{
		{owner, []string{"owner!t1.Own", "uaa.resource"}},
		{blanket, []string{"owner!t1.A", "owner!t1.B", "uaa.resource"}},
		{explicit, []string{"owner!t1.B", "uaa.resource"}}, // Own is not granted, so listing it gives nothing
		{none, []string{"uaa.resource"}},
	} {
		if got := Authorities(tc.app, idx); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.app.RuntimeName, got, tc.want)
		}
	}
	if got := Audiences("sb-blanket!t1", []string{"owner!t1.A", "uaa.resource", "x.y.z", "nodot", "trailing."}); !reflect.DeepEqual(got, []string{"owner!t1", "uaa", "x.y", "sb-blanket!t1"}) {
		t.Errorf("Audiences = %q", got)
	}
}

func TestCheckUpdate(t *testing.T) {
	base := `{"xsappname":"a","attributes":[{"name":"Country","valueType":"string","valueRequired":false}],
		"role-templates":[{"name":"V","attribute-references":[{"name":"Country","default-values":["DE"]}]}]}`
	for _, tc := range []struct{ name, next, path string }{
		{"compatible: add a scope", `{"xsappname":"a","scopes":[{"name":"$XSAPPNAME.New"}],"attributes":[{"name":"Country","valueType":"s","valueRequired":false}],"role-templates":[{"name":"V"}]}`, ""},
		{"xsappname", `{"xsappname":"b"}`, "xsappname"},
		{"valueType", `{"xsappname":"a","attributes":[{"name":"Country","valueType":"int","valueRequired":false}]}`, "attributes[0].valueType"},
		{"valueRequired false to true", `{"xsappname":"a","attributes":[{"name":"Country","valueType":"string"}]}`, "attributes[0].valueRequired"},
		{"new attribute reference", `{"xsappname":"a","attributes":[{"name":"Country","valueType":"string","valueRequired":false},{"name":"City","valueType":"string"}],
			"role-templates":[{"name":"V","attribute-references":[{"name":"Country","default-values":["DE"]},"City"]}]}`, "role-templates[0].attribute-references[1]"},
		{"changed default values", `{"xsappname":"a","attributes":[{"name":"Country","valueType":"string","valueRequired":false}],"role-templates":[{"name":"V","attribute-references":[{"name":"Country","default-values":["FR"]}]}]}`, "role-templates[0].attribute-references[0].default-values"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckUpdate(mustParse(t, base), mustParse(t, tc.next))
			if tc.path == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			ve, ok := err.(*ValidationError)
			if !ok || ve.Problems[0].Path != tc.path {
				t.Fatalf("got %v, want a problem at %s", err, tc.path)
			}
		})
	}
}

// TestClones covers clones of broker-plan apps and authorities-inheritance.
func TestClones(t *testing.T) {
	resolve := func(s string) *App {
		a, err := Resolve(mustParse(t, s), Env{Plan: PlanBroker, ZoneIndex: 1})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	inheriting := resolve(`{"xsappname":"wf","scopes":[{"name":"$XSAPPNAME.TASK_GET"},{"name":"$XSAPPNAME.INTERNAL"}],"authorities":["$XSAPPNAME.TASK_GET"]}`)
	strict := resolve(`{"xsappname":"wf","authorities-inheritance":false,"scopes":[{"name":"$XSAPPNAME.TASK_GET"},{"name":"$XSAPPNAME.INTERNAL"}],"authorities":["$XSAPPNAME.TASK_GET"]}`)

	c, err := NewClone(inheriting, "c1", 1, []string{"TASK_GET", "INTERNAL"})
	if err != nil {
		t.Fatal(err)
	}
	if c.RuntimeName != "c1!b1|wf!b1" || c.ClientID() != "sb-c1!b1|wf!b1" {
		t.Errorf("clone names %q %q", c.RuntimeName, c.ClientID())
	}
	if got := CloneAuthorities(c, inheriting, nil); !reflect.DeepEqual(got, []string{"uaa.resource", "wf!b1.INTERNAL", "wf!b1.TASK_GET"}) {
		t.Errorf("inheriting clone: %q", got)
	}
	// The parent switching inheritance off narrows the existing clone.
	if got := CloneAuthorities(c, strict, nil); !reflect.DeepEqual(got, []string{"uaa.resource", "wf!b1.TASK_GET"}) {
		t.Errorf("after inheritance off: %q", got)
	}
	if _, err := NewClone(strict, "c2", 1, []string{"INTERNAL"}); err == nil || !strings.Contains(err.Error(), "authorities-inheritance") {
		t.Errorf("internal scope with inheritance off: %v", err)
	}
	if _, err := NewClone(inheriting, "c3", 1, []string{"NOPE"}); err == nil || !strings.Contains(err.Error(), "authorities[0]") {
		t.Errorf("unknown scope: %v", err)
	}
	d, _ := NewClone(strict, "c4", 1, nil)
	if got := CloneAuthorities(d, strict, nil); !reflect.DeepEqual(got, []string{"uaa.resource", "wf!b1.TASK_GET"}) {
		t.Errorf("default clone authorities: %q", got)
	}

	// Grants made to the clone count as its parent accepts them.
	granted := []Grant{{Scope: "app!t1.JOB", To: c.RuntimeName}, {Scope: "other!t1.X", To: c.RuntimeName}}
	blanket := resolve(`{"xsappname":"wf","scopes":[{"name":"$XSAPPNAME.TASK_GET"}],"authorities":["$ACCEPT_GRANTED_AUTHORITIES"]}`)
	explicit := resolve(`{"xsappname":"wf","scopes":[{"name":"$XSAPPNAME.TASK_GET"}],"authorities":["$XSAPPNAME(application,app).JOB"]}`)
	blanketStrict := resolve(`{"xsappname":"wf","authorities-inheritance":false,"scopes":[{"name":"$XSAPPNAME.TASK_GET"}],"authorities":["$ACCEPT_GRANTED_AUTHORITIES","$XSAPPNAME(application,app).JOB"]}`)
	for _, tc := range []struct {
		name   string
		parent *App
		want   []string
	}{
		{"parent accepts every grant", blanket, []string{"app!t1.JOB", "other!t1.X", "uaa.resource"}},
		{"parent names one", explicit, []string{"app!t1.JOB", "uaa.resource"}},
		{"inheritance off: only the named one", blanketStrict, []string{"app!t1.JOB", "uaa.resource"}},
		{"parent accepts none", strict, []string{"uaa.resource"}},
	} {
		e, _ := NewClone(tc.parent, "c5", 1, []string{})
		if got := CloneAuthorities(e, tc.parent, granted); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestAuthoritiesOnlyPrefixed: a client's authorities are its own,
// prefixed scopes; a plain name in a stored app (uaa.user, or what an
// older version let a descriptor declare) never becomes one.
func TestAuthoritiesOnlyPrefixed(t *testing.T) {
	app := &App{RuntimeName: "orders!t1", Scopes: []string{"orders!t1.Read", "uaa.admin", "uaa.user"},
		Authorities: []string{"orders!t1.Read", "uaa.admin", "uaa.user"}}
	if got := Authorities(app, nil); !slices.Equal(got, []string{"orders!t1.Read", "uaa.resource"}) {
		t.Errorf("Authorities = %v", got)
	}
}
