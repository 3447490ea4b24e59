package scopes

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"

	xsuaa "github.com/openxsuaa/xsuaa"
)

// want is one expected problem: its exact path and a fragment of its message.
type want struct {
	path, fragment string
}

func TestParseValid(t *testing.T) {
	tests := []struct {
		name  string
		input string // file name in testdata/descriptors, or inline JSON
		check func(t *testing.T, d *Descriptor)
	}{
		{
			name:  "full descriptor",
			input: "full.json",
			check: func(t *testing.T, d *Descriptor) {
				if d.XSAppName != "orders" || d.TenantMode != "dedicated" || len(d.Scopes) != 4 ||
					len(d.Attributes) != 2 || len(d.RoleTemplates) != 3 || len(d.RoleCollections) != 2 {
					t.Errorf("decoded %+v", d)
				}
				refs := d.RoleTemplates[1].AttributeReferences
				wantRefs := []AttributeReference{{Name: "Country"}, {Name: "CostCenter", DefaultValues: []string{"1000", "2000"}}}
				if !reflect.DeepEqual(refs, wantRefs) {
					t.Errorf("attribute-references = %+v, want %+v", refs, wantRefs)
				}
				oc := d.OAuth2Configuration
				if oc == nil || oc.TokenValidity == nil || *oc.TokenValidity != 3600 || oc.Autoapprove != "true" ||
					!slices.Equal(oc.CredentialTypes, []string{"binding-secret", "x509"}) {
					t.Errorf("oauth2-configuration = %+v", oc)
				}
				if d.AuthoritiesInheritance == nil || *d.AuthoritiesInheritance || d.XSEnableAsyncService != "false" {
					t.Errorf("authorities-inheritance = %v, xsenableasyncservice = %q", d.AuthoritiesInheritance, d.XSEnableAsyncService)
				}
			},
		},
		{
			name:  "minimal descriptor",
			input: "minimal.json",
			check: func(t *testing.T, d *Descriptor) {
				if !reflect.DeepEqual(*d, Descriptor{XSAppName: "orders"}) {
					t.Errorf("decoded %+v", d)
				}
			},
		},
		{
			name:  "job scheduler grant",
			input: "jobscheduler.json",
			check: func(t *testing.T, d *Descriptor) {
				if got := d.Scopes[0].GrantAsAuthorityToApps; !slices.Equal(got, []string{"$XSSERVICENAME(my-jobscheduler)"}) {
					t.Errorf("grant-as-authority-to-apps = %q", got)
				}
			},
		},
		{
			name:  "byte order mark",
			input: "\xef\xbb\xbf{\"xsappname\":\"orders\"}",
		},
		{
			name:  "autoapprove as boolean",
			input: `{"xsappname":"a","oauth2-configuration":{"autoapprove":true}}`,
			check: func(t *testing.T, d *Descriptor) {
				if d.OAuth2Configuration.Autoapprove != true {
					t.Errorf("autoapprove = %#v", d.OAuth2Configuration.Autoapprove)
				}
			},
		},
		{
			name:  "limits reached but not exceeded",
			input: descriptorWith(50, `{"name":"A%d","valueType":"s"}`, "attributes"),
		},
		{
			name: "every variable form",
			input: `{"xsappname":"a/b\\c-d_e","scopes":[{"name":"$XSAPPNAME.x","granted-apps":["$XSAPPNAME(broker,other)","plain-app"],` +
				`"grant-as-authority-to-apps":["$XSAPPNAME(application,zone,app)","$XSSERVICENAME(inst)"]}],` +
				`"role-templates":[{"name":"r.t-1_2","scope-references":["$XSSERVICENAME(inst).s","$XSAPPNAME(application, spaced).y"]}],` +
				`"authorities":["$XSAPPNAME(application,zone,app).z","LOCAL_NAME"],"foreign-scope-references":["uaa.user"]}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Parse(input(t, tt.input))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if tt.check != nil {
				tt.check(t, d)
			}
		})
	}
}

func TestParseInvalid(t *testing.T) {
	long := func(n int) string { return strings.Repeat("a", n) }
	tests := []struct {
		name  string
		input string
		want  []want // every problem, in the order Parse reports them
	}{
		// Unknown fields.
		{
			name:  "unknown top-level field",
			input: `{"xsappname":"orders","scopez":[]}`,
			want: []want{{"scopez", `unknown field "scopez"; allowed fields are: xsappname, description, tenant-mode, scopes, attributes, ` +
				`role-templates, role-collections, authorities, foreign-scope-references, authorities-inheritance, oauth2-configuration, xsenableasyncservice`}},
		},
		{
			name:  "plain scope names that claim another's scopes",
			input: `{"xsappname":"orders","scopes":[{"name":"uaa.admin"},{"name":"cloud_controller.admin"},{"name":"Read"},{"name":"uaa.user"}],"authorities":["uaa.admin"]}`,
			want: []want{
				{"scopes[0].name", `a declared scope must be named $XSAPPNAME.<name>: "uaa.admin" has no $XSAPPNAME prefix, and of plain names only uaa.user may be declared`},
				{"scopes[1].name", `"cloud_controller.admin" has no $XSAPPNAME prefix`},
				{"scopes[2].name", `"Read" has no $XSAPPNAME prefix`},
			},
		},
		{
			name:  "unknown nested fields",
			input: `{"xsappname":"orders","scopes":[{"name":"$XSAPPNAME.a","grantedApps":[]}],"role-templates":[{"name":"r","scopeReferences":[]}],"oauth2-configuration":{"foo":1}}`,
			want: []want{
				{"oauth2-configuration.foo", `unknown field "foo"; allowed fields are: token-validity, refresh-token-validity,`},
				{"role-templates[0].scopeReferences", `unknown field "scopeReferences" (did you mean "scope-references"?); allowed fields are: name, description, default-role-name, scope-references, attribute-references`},
				{"scopes[0].grantedApps", `(did you mean "granted-apps"?); allowed fields are: name, description, granted-apps, grant-as-authority-to-apps`},
			},
		},
		{
			name:  "unknown field in attribute reference and role collection",
			input: `{"xsappname":"o","attributes":[{"name":"a","valueType":"s"}],"role-templates":[{"name":"r","attribute-references":[{"name":"a","default-value":["x"]}]}],"role-collections":[{"name":"c","role-template-references":[],"appId":"x"}]}`,
			want: []want{
				{"role-collections[0].appId", `unknown field "appId"; allowed fields are: name, description, role-template-references`},
				{"role-templates[0].attribute-references[0].default-value", `unknown field "default-value"; allowed fields are: name, default-values`},
			},
		},
		{
			name:  "trailing space in key",
			input: `{"xsappname":"orders","oauth2-configuration":{"allowedproviders ":["sap.default"]}}`,
			want:  []want{{`oauth2-configuration["allowedproviders "]`, `unknown field "allowedproviders " (did you mean "allowedproviders"?)`}},
		},
		{
			name:  "keys are case-sensitive",
			input: `{"XSAPPNAME":"orders"}`,
			want: []want{
				{"", `missing required field "xsappname"`},
				{"XSAPPNAME", `unknown field "XSAPPNAME" (did you mean "xsappname"?)`},
			},
		},
		{
			name:  "duplicate key",
			input: `{"xsappname":"orders","scopes":[{"name":"a","name":"b"}]}`,
			want:  []want{{"scopes[0].name", `duplicate field "name"`}},
		},
		// xsappname.
		{
			name:  "missing xsappname",
			input: `{"description":"x"}`,
			want:  []want{{"", `missing required field "xsappname"`}},
		},
		{
			name:  "bad xsappname characters",
			input: `{"xsappname":"orders!t1 x"}`,
			want:  []want{{"xsappname", `may only contain letters, digits and the characters - _ / \ (found "!", " ")`}},
		},
		{
			name:  "xsappname with a dot",
			input: `{"xsappname":"my.app"}`,
			want:  []want{{"xsappname", `(found ".")`}},
		},
		{
			name:  "xsappname too long",
			input: `{"xsappname":"` + long(120) + `"}`,
			want:  []want{{"xsappname", "must be at most 100 characters (is 120)"}},
		},
		{
			name:  "empty xsappname",
			input: `{"xsappname":""}`,
			want:  []want{{"xsappname", "must not be empty"}},
		},
		// Types.
		{
			name: "wrong types",
			input: `{"xsappname":42,"scopes":{},"authorities-inheritance":"false","xsenableasyncservice":false,` +
				`"role-templates":[{"name":"r","attribute-references":[3]}],"oauth2-configuration":{"autoapprove":1,"redirect-uris":"https://x"}}`,
			want: []want{
				{"authorities-inheritance", "must be a boolean, not a string"},
				{"oauth2-configuration.autoapprove", "must be a boolean or a string, not a number"},
				{"oauth2-configuration.redirect-uris", "must be an array, not a string"},
				{"role-templates[0].attribute-references[0]", "must be a string or an object, not a number"},
				{"scopes", "must be an array, not an object"},
				{"xsappname", "must be a string, not a number"},
				{"xsenableasyncservice", "must be a string, not a boolean"},
			},
		},
		{
			name:  "null field",
			input: `{"xsappname":"o","oauth2-configuration":null}`,
			want:  []want{{"oauth2-configuration", "must be an object, not null"}},
		},
		// Ranges and enums.
		{
			name:  "token validity too small",
			input: `{"xsappname":"o","oauth2-configuration":{"token-validity":30}}`,
			want:  []want{{"oauth2-configuration.token-validity", "must be at least 60 (is 30)"}},
		},
		{
			name:  "token validity too large",
			input: `{"xsappname":"o","oauth2-configuration":{"token-validity":86401,"refresh-token-validity":31536001}}`,
			want: []want{
				{"oauth2-configuration.refresh-token-validity", "must be at most 31536000 (is 31536001)"},
				{"oauth2-configuration.token-validity", "must be at most 86400 (is 86401)"},
			},
		},
		{
			name:  "token validity with a fraction",
			input: `{"xsappname":"o","oauth2-configuration":{"token-validity":3600.5}}`,
			want:  []want{{"oauth2-configuration.token-validity", "must be a whole number, not 3600.5"}},
		},
		{
			name:  "token validity written as a float",
			input: `{"xsappname":"o","oauth2-configuration":{"token-validity":3600.0}}`,
			want:  []want{{"oauth2-configuration.token-validity", "must be written as a whole number without a fraction or exponent (is 3600.0)"}},
		},
		{
			name:  "bad credential type",
			input: `{"xsappname":"o","oauth2-configuration":{"credential-types":["binding-secret","password"]}}`,
			want: []want{{"oauth2-configuration.credential-types[1]",
				`must be one of "binding-secret", "instance-secret", "x509" (is "password")`}},
		},
		{
			name:  "repeated credential type",
			input: `{"xsappname":"o","oauth2-configuration":{"credential-types":["x509","binding-secret","x509"]}}`,
			want:  []want{{"oauth2-configuration.credential-types[2]", `duplicate entry "x509" (same as [0])`}},
		},
		{
			name:  "no credential type",
			input: `{"xsappname":"o","oauth2-configuration":{"credential-types":[]}}`,
			want:  []want{{"oauth2-configuration.credential-types", "must not be empty"}},
		},
		{
			name: "enums",
			input: `{"xsappname":"o","tenant-mode":"multi","xsenableasyncservice":"yes","attributes":[{"name":"a","valueType":"number"}],` +
				`"oauth2-configuration":{"system-attributes":["roles"],"autoapprove":"always"}}`,
			want: []want{
				{"attributes[0].valueType", `must be one of "string", "s", "int", "date" (is "number")`},
				{"oauth2-configuration.autoapprove", `must be one of true, false, "true", "false" (is "always")`},
				{"oauth2-configuration.system-attributes[0]", `must be one of "groups", "rolecollections", "ias-corporate-idp-token", "ias-token" (is "roles")`},
				{"tenant-mode", `must be one of "dedicated", "shared", "external" (is "multi")`},
				{"xsenableasyncservice", `must be one of "true", "false" (is "yes")`},
			},
		},
		// Names and lengths.
		{
			name: "names",
			input: `{"xsappname":"o","attributes":[{"name":"` + long(65) + `","valueType":"s"},{"name":"a-b","valueType":"s"}],` +
				`"role-templates":[{"name":"r t","default-role-name":"` + long(256) + `"}],` +
				`"role-collections":[{"name":"` + long(65) + `","description":"` + long(1001) + `","role-template-references":[]}]}`,
			want: []want{
				{"attributes[0].name", "must be at most 64 characters (is 65)"},
				{"attributes[1].name", `may only contain letters, digits and _ (found "-")`},
				{"role-collections[0].description", "must be at most 1000 characters (is 1001)"},
				{"role-collections[0].name", "must be at most 64 characters (is 65)"},
				{"role-templates[0].default-role-name", "must be at most 255 characters (is 256)"},
				{"role-templates[0].name", `may only contain letters, digits and the characters . - _ (found " ")`},
			},
		},
		{
			name:  "scope names",
			input: `{"xsappname":"o","scopes":[{"name":".Read"},{"name":"$XSAPPNAME..Read"},{"name":"$XSAPPNAME.Re ad"},{"name":"$XSAPPNAME"},{"name":""}]}`,
			want: []want{
				{"scopes[0].name", "must be a scope name such as $XSAPPNAME.Read, $XSAPPNAME(application,<app>).Read or uaa.user: dot-separated parts made of letters, digits and the characters - _ / \\ : (must not start with a dot)"},
				{"scopes[1].name", `(is "$XSAPPNAME..Read")`},
				{"scopes[2].name", `(found " ")`},
				{"scopes[3].name", `(is "$XSAPPNAME")`},
				{"scopes[4].name", "must not be empty"},
			},
		},
		{
			name:  "missing required fields",
			input: `{"xsappname":"o","scopes":[{}],"attributes":[{"name":"a"}],"role-templates":[{"attribute-references":[{}]}],"role-collections":[{"name":"c"}]}`,
			want: []want{
				{"attributes[0]", `missing required field "valueType"`},
				{"role-collections[0]", `missing required field "role-template-references"`},
				{"role-templates[0]", `missing required field "name"`},
				{"role-templates[0].attribute-references[0]", `missing required field "name"`},
				{"scopes[0]", `missing required field "name"`},
			},
		},
		{
			name:  "too many attributes",
			input: descriptorWith(51, `{"name":"A%d","valueType":"s"}`, "attributes"),
			want:  []want{{"attributes", "must have at most 50 entries (has 51)"}},
		},
		{
			name:  "too many role collections",
			input: descriptorWith(251, `{"name":"C%d","role-template-references":[]}`, "role-collections"),
			want:  []want{{"role-collections", "must have at most 250 entries (has 251)"}},
		},
		// Semantic checks.
		{
			name: "duplicate names",
			input: `{"xsappname":"o","scopes":[{"name":"$XSAPPNAME.R"},{"name":"$XSAPPNAME.W"},{"name":"$XSAPPNAME.R"}],` +
				`"attributes":[{"name":"A","valueType":"s"},{"name":"A","valueType":"int"}],` +
				`"role-templates":[{"name":"V"},{"name":"V"}],` +
				`"role-collections":[{"name":"C","role-template-references":[]},{"name":"C","role-template-references":[]}]}`,
			want: []want{
				{"attributes[1].name", `duplicate attribute name "A" (also attributes[0].name)`},
				{"role-collections[1].name", `duplicate role collection name "C" (also role-collections[0].name)`},
				{"role-templates[1].name", `duplicate role template name "V" (also role-templates[0].name)`},
				{"scopes[2].name", `duplicate scope name "$XSAPPNAME.R" (also scopes[0].name)`},
			},
		},
		{
			name: "dangling references",
			input: `{"xsappname":"o","scopes":[{"name":"$XSAPPNAME.Read"}],"attributes":[{"name":"Country","valueType":"s"}],` +
				`"role-templates":[{"name":"Viewer","scope-references":["$XSAPPNAME.Read","$XSAPPNAME.Write","$XSAPPNAME(application,b).X"],` +
				`"attribute-references":["Country","Region",{"name":"City"}]}],` +
				`"role-collections":[{"name":"C","role-template-references":["$XSAPPNAME.Viewer","$XSAPPNAME.Editor","$XSSERVICENAME(i).Other"]}],` +
				`"authorities":["$XSAPPNAME.Read","$XSAPPNAME.Admin","$ACCEPT_GRANTED_AUTHORITIES"]}`,
			want: []want{
				{"authorities[1]", `scope "$XSAPPNAME.Admin" is not declared in scopes`},
				{"role-collections[0].role-template-references[1]", `role template "Editor" is not declared in role-templates`},
				{"role-templates[0].attribute-references[1]", `attribute "Region" is not declared in attributes`},
				{"role-templates[0].attribute-references[2]", `attribute "City" is not declared in attributes`},
				{"role-templates[0].scope-references[1]", `scope "$XSAPPNAME.Write" is not declared in scopes`},
			},
		},
		{
			name:  "too many granting scopes",
			input: descriptorWith(251, `{"name":"$XSAPPNAME.S%d","granted-apps":["other"]}`, "scopes"),
			want:  []want{{"scopes", "at most 250 scopes may use granted-apps or grant-as-authority-to-apps (251 do)"}},
		},
		{
			name: "unknown variables",
			input: `{"xsappname":"o","scopes":[{"name":"$XSAPNAME.Read","granted-apps":["$XSAPPNAM(application,b)"]}],` +
				`"role-templates":[{"name":"V","scope-references":["$xsappname.Read"]}],` +
				`"role-collections":[{"name":"C","role-template-references":["$XSSERVICE(x).V"]}],` +
				`"authorities":["$ACCEPT_GRANTED"],"foreign-scope-references":["$ACCEPT_GRANTED_SCOPE"]}`,
			want: []want{
				{"authorities[0]", `unknown variable "$ACCEPT_GRANTED"; the variables are $XSAPPNAME, $XSSERVICENAME, $ACCEPT_GRANTED_AUTHORITIES and $ACCEPT_GRANTED_SCOPES`},
				{"foreign-scope-references[0]", `unknown variable "$ACCEPT_GRANTED_SCOPE"`},
				{"role-collections[0].role-template-references[0]", `unknown variable "$XSSERVICE"`},
				{"role-templates[0].scope-references[0]", `unknown variable "$xsappname"`},
				{"scopes[0].granted-apps[0]", `unknown variable "$XSAPPNAM"`},
				{"scopes[0].name", `unknown variable "$XSAPNAME"`},
			},
		},
		{
			name: "misused variables",
			input: `{"xsappname":"o","scopes":[{"name":"$XSAPPNAME.R","granted-apps":["$XSAPPNAME(applicaton,b)","$XSAPPNAME(application)","$XSSERVICENAME()"],` +
				`"grant-as-authority-to-apps":["$XSAPPNAME(application,a,b,c)","$XSAPPNAME(application,b!t1)"]},{"name":"$XSAPPNAME(application,b).R"}],` +
				`"role-templates":[{"name":"V","scope-references":["$ACCEPT_GRANTED_SCOPES.x"]}],` +
				`"authorities":["$ACCEPT_GRANTED_SCOPES","$XSAPPNAME","$ACCEPT_GRANTED_AUTHORITIES(x)"],` +
				`"foreign-scope-references":["$ACCEPT_GRANTED_AUTHORITIES","$XSSERVICENAME(x)"]}`,
			want: []want{
				{"authorities[0]", "$ACCEPT_GRANTED_SCOPES is only allowed in foreign-scope-references"},
				{"authorities[1]", `must name a scope, such as $XSAPPNAME.<scope>, not "$XSAPPNAME"`},
				{"authorities[2]", `$ACCEPT_GRANTED_AUTHORITIES takes no arguments and no suffix`},
				{"foreign-scope-references[0]", "$ACCEPT_GRANTED_AUTHORITIES is only allowed in authorities"},
				{"foreign-scope-references[1]", `must name a scope, such as $XSAPPNAME.<scope>, not "$XSSERVICENAME(x)"`},
				{"role-templates[0].scope-references[0]", "$ACCEPT_GRANTED_SCOPES is only allowed in foreign-scope-references"},
				{"scopes[0].grant-as-authority-to-apps[0]", "$XSAPPNAME takes two or three arguments: (<plan>,<xsappname>) or (<plan>,<zone>,<xsappname>), not 4"},
				{"scopes[0].grant-as-authority-to-apps[1]", `the zone and xsappname in $XSAPPNAME(...) may only contain letters, digits and the characters - _ / \, and must not be empty, or name a clone by its runtime name <id>!b<N>|<xsappname>!b<N> (found "b!t1")`},
				{"scopes[0].granted-apps[0]", `the plan in $XSAPPNAME(<plan>,...) must be "application" or "broker", not "applicaton"`},
				{"scopes[0].granted-apps[1]", "$XSAPPNAME takes two or three arguments"},
				{"scopes[0].granted-apps[2]", "$XSSERVICENAME takes one argument, the name of a service instance"},
				{"scopes[1].name", `a declared scope must be named $XSAPPNAME.<name>, not "$XSAPPNAME(application,b).R"`},
			},
		},
		{
			name:  "app references that are not apps",
			input: `{"xsappname":"o","scopes":[{"name":"$XSAPPNAME.R","granted-apps":["$XSAPPNAME","$XSAPPNAME(application,b).R","my app"]}]}`,
			want: []want{
				{"scopes[0].granted-apps[0]", `must name an application: $XSAPPNAME(<plan>,<xsappname>), $XSAPPNAME(<plan>,<zone>,<xsappname>), $XSSERVICENAME(<instance>), or a plain xsappname`},
				{"scopes[0].granted-apps[1]", `(is "$XSAPPNAME(application,b).R")`},
				{"scopes[0].granted-apps[2]", `(found " ")`},
			},
		},
		{
			name:  "schema and semantic problems together",
			input: `{"xsappname":"o!","scopes":[{"name":"$XSAPPNAME.R"},{"name":"$XSAPPNAME.R"}],"role-templates":[{"name":"V","scope-references":["$XSAPPNAME.W","$XSAPPNAME"]}]}`,
			want: []want{
				{"role-templates[0].scope-references[0]", `scope "$XSAPPNAME.W" is not declared in scopes`},
				{"role-templates[0].scope-references[1]", `must be a scope name such as $XSAPPNAME.Read`},
				{"scopes[1].name", `duplicate scope name "$XSAPPNAME.R"`},
				{"xsappname", `(found "!")`},
			},
		},
		{
			name:  "semantic checks skipped after a type error",
			input: `{"xsappname":"o","scopes":[{"name":"$XSAPPNAME.R","description":1}],"authorities":["$XSAPPNAME.Nope"]}`,
			want:  []want{{"scopes[0].description", "must be a string, not a number"}},
		},
		// Not a descriptor at all.
		{
			name:  "malformed JSON",
			input: "{\n  \"xsappname\": \"orders\",\n}",
			want:  []want{{"", "malformed JSON at line 3, column 1 (byte 27): invalid character '}' looking for beginning of object key string"}},
		},
		{
			name:  "truncated JSON",
			input: `{"xsappname":`,
			want:  []want{{"", "malformed JSON: unexpected end of input at line 1, column 14 (byte 13)"}},
		},
		{
			name:  "trailing data",
			input: `{"xsappname":"a"} {}`,
			want:  []want{{"", "malformed JSON: unexpected data after the top-level value at line 1, column 19 (byte 18)"}},
		},
		{
			name:  "YAML",
			input: "xsappname: orders\n",
			want:  []want{{"", "malformed JSON at line 1, column 1 (byte 0): invalid character 'x' looking for beginning of value"}},
		},
		{name: "null", input: `null`, want: []want{{"", "the descriptor must be an object, not null"}}},
		{name: "array", input: `[]`, want: []want{{"", "the descriptor must be an object, not an array"}}},
		{name: "string", input: `"orders"`, want: []want{{"", "the descriptor must be an object, not a string"}}},
		{name: "empty input", input: ``, want: []want{{"", "the descriptor is empty; expected a JSON object"}}},
		{name: "only whitespace", input: " \n\t ", want: []want{{"", "the descriptor is empty"}}},
		{
			name:  "too large",
			input: `{"xsappname":"a","description":"` + long(MaxDescriptorSize) + `"}`,
			want:  []want{{"", fmt.Sprintf("the descriptor is %d bytes; at most 1048576 bytes (1 MiB) are allowed", MaxDescriptorSize+34)}},
		},
		{
			name:  "nesting too deep",
			input: `{"xsappname":"a","description":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`,
			want:  []want{{"", "nests deeper than 32 levels"}},
		},
		{
			name:  "deep nesting in an unknown field",
			input: `{"xsappname":"a","x":` + strings.Repeat(`{"a":[`, 4000) + strings.Repeat("]}", 4000) + `}`,
			want:  []want{{"", "nests deeper than 32 levels"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Parse(input(t, tt.input))
			if d != nil {
				t.Errorf("Parse returned a descriptor with an error")
			}
			var verr *ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("Parse error = %v (%T), want *ValidationError", err, err)
			}
			if len(verr.Problems) != len(tt.want) {
				t.Errorf("got %d problems, want %d:\n%s", len(verr.Problems), len(tt.want), dump(verr.Problems))
			}
			for i, w := range tt.want {
				if i >= len(verr.Problems) {
					break
				}
				if p := verr.Problems[i]; p.Path != w.path || !strings.Contains(p.Message, w.fragment) {
					t.Errorf("problem %d = %q: %s\nwant %q containing %s", i, p.Path, p.Message, w.path, w.fragment)
				}
			}
		})
	}
}

func TestValidationErrorError(t *testing.T) {
	tests := []struct {
		name     string
		problems []Problem
		want     string
	}{
		{
			name:     "document and field problems",
			problems: []Problem{{"xsappname", "must not be empty"}, {"", "missing required field \"x\""}},
			want:     `invalid xs-security.json: missing required field "x"; xsappname: must not be empty`,
		},
		{
			name:     "indexes sort numerically",
			problems: []Problem{{"scopes[10].name", "b"}, {"scopes[2].name", "a"}, {"scopes[2].name", "0"}, {"scopes", "c"}},
			want:     "invalid xs-security.json: scopes: c; scopes[2].name: 0; scopes[2].name: a; scopes[10].name: b",
		},
		{
			name:     "long lists are cut",
			problems: manyProblems(13),
			want: "invalid xs-security.json: p[0]: m; p[1]: m; p[2]: m; p[3]: m; p[4]: m; p[5]: m; p[6]: m; p[7]: m; p[8]: m; p[9]: m; " +
				"and 3 more",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := newValidationError(tt.problems...).Error(); got != tt.want {
				t.Errorf("Error() =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestParseErrorMessage(t *testing.T) {
	_, err := Parse([]byte(`{"xsappname":"` + strings.Repeat("x", 120) + `","scopes":[{"name":"$XSAPNAME.R"}]}`))
	want := `invalid xs-security.json: scopes[0].name: unknown variable "$XSAPNAME"; the variables are $XSAPPNAME, $XSSERVICENAME, ` +
		`$ACCEPT_GRANTED_AUTHORITIES and $ACCEPT_GRANTED_SCOPES; xsappname: must be at most 100 characters (is 120)`
	if err == nil || err.Error() != want {
		t.Errorf("Error() =\n%v\nwant\n%s", err, want)
	}
}

func TestScopeLocalName(t *testing.T) {
	tests := []struct {
		name, in, local string
		ok              bool
	}{
		{"own scope", "$XSAPPNAME.Read", "Read", true},
		{"dotted local name", "$XSAPPNAME.orders.read", "orders.read", true},
		{"nothing after the dot", "$XSAPPNAME.", "", false},
		{"bare variable", "$XSAPPNAME", "", false},
		{"other application", "$XSAPPNAME(application,b).Read", "", false},
		{"service instance", "$XSSERVICENAME(x).Read", "", false},
		{"plain name", "uaa.user", "", false},
		{"case matters", "$xsappname.Read", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if local, ok := ScopeLocalName(tt.in); local != tt.local || ok != tt.ok {
				t.Errorf("ScopeLocalName(%q) = %q, %v; want %q, %v", tt.in, local, ok, tt.local, tt.ok)
			}
		})
	}
}

// TestSchemaShape checks rules every part of the schema must follow: the
// draft, strict objects, a description on every property, and an
// explanation for every pattern.
func TestSchemaShape(t *testing.T) {
	var root map[string]any
	if err := json.Unmarshal(xsuaa.SecuritySchema, &root); err != nil {
		t.Fatal(err)
	}
	if got := root["$schema"]; got != "https://json-schema.org/draft/2020-12/schema" {
		t.Errorf("$schema = %v", got)
	}
	var walk func(ptr string, v any)
	walk = func(ptr string, v any) {
		switch v := v.(type) {
		case map[string]any:
			if props, ok := v["properties"].(map[string]any); ok {
				if v["additionalProperties"] != false {
					t.Errorf("%s: additionalProperties is not false", ptr)
				}
				for name, p := range props {
					if _, ok := p.(map[string]any)["description"].(string); !ok {
						t.Errorf("%s/properties/%s: no description", ptr, name)
					}
				}
			}
			if p, ok := v["pattern"].(string); ok {
				if _, ok := patternRuleFor(p); !ok {
					t.Errorf("%s: pattern %s has no explanation in patternRuleFor", ptr, p)
				}
			}
			for k, sub := range v {
				walk(ptr+"/"+k, sub)
			}
		case []any:
			for i, sub := range v {
				walk(fmt.Sprintf("%s/%d", ptr, i), sub)
			}
		}
	}
	walk("", root)
}

// TestSchemaMatchesModel checks that every object of the schema declares
// exactly the JSON fields of its Go type, in the same order.
func TestSchemaMatchesModel(t *testing.T) {
	types := map[string]reflect.Type{
		"":                           reflect.TypeFor[Descriptor](),
		"/$defs/scope":               reflect.TypeFor[Scope](),
		"/$defs/attribute":           reflect.TypeFor[Attribute](),
		"/$defs/roleTemplate":        reflect.TypeFor[RoleTemplate](),
		"/$defs/attributeReference":  reflect.TypeFor[AttributeReference](),
		"/$defs/roleCollection":      reflect.TypeFor[RoleCollection](),
		"/$defs/oauth2Configuration": reflect.TypeFor[OAuth2Configuration](),
	}
	fields := securitySchema().fields
	if len(fields) != len(types) {
		t.Errorf("schema has %d objects with properties, want %d: %v", len(fields), len(types), fields)
	}
	for ptr, typ := range types {
		var names []string
		for f := range typ.Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			names = append(names, name)
		}
		if !slices.Equal(fields[ptr], names) {
			t.Errorf("schema %q declares %v; %v has %v", ptr, fields[ptr], typ, names)
		}
	}
}

// input returns tt.input: the named file in testdata/descriptors, or the
// inline text.
func input(t *testing.T, s string) []byte {
	t.Helper()
	if strings.HasSuffix(s, ".json") && !strings.ContainsAny(s, "{[") {
		b, err := os.ReadFile(filepath.Join("..", "testdata", "descriptors", s))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	return []byte(s)
}

// descriptorWith returns a descriptor whose field holds n entries made
// from format, which takes the entry's index.
func descriptorWith(n int, format, field string) string {
	entries := make([]string, n)
	for i := range entries {
		entries[i] = fmt.Sprintf(format, i)
	}
	return `{"xsappname":"a","` + field + `":[` + strings.Join(entries, ",") + `]}`
}

func manyProblems(n int) []Problem {
	var ps []Problem
	for i := range n {
		ps = append(ps, Problem{Path: fmt.Sprintf("p[%d]", i), Message: "m"})
	}
	return ps
}

func dump(ps []Problem) string {
	var b strings.Builder
	for _, p := range ps {
		fmt.Fprintf(&b, "  %q: %s\n", p.Path, p.Message)
	}
	return b.String()
}

// TestParseAllocationBounded: the worst descriptors within the limits
// (as many invalid values as allowed, as deep as allowed, as large as
// allowed) cost Parse less than MaxParseAlloc; beyond the limits, the
// answer is a 400 before any decoding.
func TestParseAllocationBounded(t *testing.T) {
	fill := func(item string) []byte {
		var b strings.Builder
		b.WriteString(`{"xsappname":"x","scopes":[`)
		for i := 0; b.Len() < MaxDescriptorSize-len(item)-8 && CheckJSON([]byte(b.String()+item+",1]}")) == nil; i++ {
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString(item)
		}
		b.WriteString(`]}`)
		return []byte(b.String())
	}
	for _, tc := range []struct {
		name string
		doc  []byte
		want string
	}{
		{"invalid objects", fill(`{"a":1}`), "must have at most 500 entries"},
		{"invalid references", fill(`"$XSAPPNAME(a,b,c,d).x"`), "must have at most 500 entries"},
		{"nested 30 deep", fill(strings.Repeat(`{"a":`, 29) + "1" + strings.Repeat("}", 29)), "unknown field"},
		{"long strings", fill(`{"name":"$XSAPPNAME.x","description":"` + strings.Repeat("d", 4000) + `"}`), "duplicate scope name"},
		{"too deep", []byte(strings.Repeat(`{"a":`, 50000) + "1" + strings.Repeat("}", 50000)), "nests deeper than 32 levels"},
		{"too many values", []byte(`{"xsappname":"x","scopes":[` + strings.Repeat(`1,`, 20000) + `1]}`), "more than 10000 values"},
	} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		_, err := Parse(tc.doc)
		runtime.ReadMemStats(&after)
		if n := after.TotalAlloc - before.TotalAlloc; n > MaxParseAlloc {
			t.Errorf("%s (%d bytes): Parse allocated %d MB, more than %d MB", tc.name, len(tc.doc), n>>20, MaxParseAlloc>>20)
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want an error with %q", tc.name, err, tc.want)
		}
	}
}
