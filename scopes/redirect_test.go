package scopes

import (
	"net/url"
	"strings"
	"testing"
)

func TestRedirectURIProblem(t *testing.T) {
	for _, tc := range []struct {
		pattern string
		want    string // a substring of the problem; "" for none
	}{
		{"https://app.example.com/login/callback", ""},
		{"https://*.example.com/**", ""},
		{"https://*.eu10.hana.ondemand.com/**", ""},
		{"http://localhost:5000/**", ""},
		{"http://localhost:*/**", ""},
		{"http://127.0.0.1:5055/**", ""},
		{"http://[::1]:5055/**", ""},
		{"http://app.localhost:5055/**", ""},
		{"https://example.com", ""},
		{"https://example.com?x=1", ""},
		{"http://example.com/**", "only localhost"},
		{"http://10.0.0.1/**", "only localhost"},
		{"ftp://example.com/", "scheme must be https"},
		{"example.com/callback", "not an absolute URL"},
		{"/login/callback", "not an absolute URL"},
		{"https://example.com/#frag", "fragment"},
		{"https://user:pw@example.com/", "user information"},
		{"https://evil.com\\@example.com/", "user information"},
		{"https:///path", "host is missing"},
		{"https://exa*mple.com/", "whole labels"},
		{"https://*/**", "not all of it"},
		{"https://example.*/**", "not all of it"},
		{"https://example.com:99999/", "port must be"},
		{"https://example.com:/", "port after : is missing"},
		{"https://exa mple.com/", "spaces"},
		{"https://example.com/\x00", "control characters"},
		{"https://" + strings.Repeat("a", 2050), "at most 2048"},
		{"https://[::1/", "closed with ]"},
	} {
		got := redirectURIProblem(tc.pattern)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("redirectURIProblem(%q) = %q, want %q", tc.pattern, got, tc.want)
		}
	}
}

func TestMatchRedirectURI(t *testing.T) {
	for _, tc := range []struct {
		patterns []string
		uri      string
		want     bool
	}{
		// Exact and path wildcards.
		{[]string{"https://app.example.com/login/callback"}, "https://app.example.com/login/callback", true},
		{[]string{"https://app.example.com/login/callback"}, "https://app.example.com/login/callback?authType=xsuaa", false},
		{[]string{"https://app.example.com/login/callback"}, "https://app.example.com/login/callbackx", false},
		{[]string{"https://app.example.com/**"}, "https://app.example.com/login/callback?authType=xsuaa", true},
		{[]string{"https://app.example.com/**"}, "https://app.example.com", true},
		{[]string{"https://app.example.com/*/callback"}, "https://app.example.com/login/callback", true},
		{[]string{"https://app.example.com/*/callback"}, "https://app.example.com/a/b/callback", false},
		// Host wildcards: whole labels, one or more, never another domain.
		{[]string{"https://*.example.com/**"}, "https://a.example.com/x", true},
		{[]string{"https://*.example.com/**"}, "https://a.b.example.com/x", true},
		{[]string{"https://*.example.com/**"}, "https://example.com/x", false},
		{[]string{"https://*.example.com/**"}, "https://evilexample.com/x", false},
		{[]string{"https://*.example.com/**"}, "https://a.example.com.evil.com/x", false},
		{[]string{"https://*.example.com/**"}, "https://evil.com/.example.com/", false},
		{[]string{"https://*.example.com/**"}, "https://evil.com?.example.com", false},
		// Ports and schemes.
		{[]string{"https://app.example.com/**"}, "https://app.example.com:443/x", true},
		{[]string{"https://app.example.com/**"}, "https://app.example.com:8443/x", false},
		{[]string{"https://app.example.com/**"}, "http://app.example.com/x", false},
		{[]string{"http://127.0.0.1:5055/**"}, "http://127.0.0.1:5055/login/callback", true},
		{[]string{"http://127.0.0.1:5055/**"}, "http://127.0.0.1:5056/login/callback", false},
		{[]string{"http://127.0.0.1:*/**"}, "http://127.0.0.1:5056/login/callback", true},
		// Localhost is always allowed.
		{nil, "http://localhost:5000/login/callback", true},
		{nil, "https://LOCALHOST/x", true},
		{nil, "http://localhost.evil.com/x", false},
		{nil, "https://app.example.com/x", false},
		// Malformed requests never match.
		{[]string{"https://**"}, "javascript:alert(1)", false},
		{[]string{"https://app.example.com/**"}, "https://app.example.com/x#frag", false},
		{[]string{"https://app.example.com/**"}, "https://user@app.example.com/x", false},
		{[]string{"https://app.example.com/**"}, "//app.example.com/x", false},
		{[]string{"https://app.example.com/**"}, "/x", false},
		{[]string{"https://app.example.com/**"}, "https://app.example.com\\@evil.com/", false},
		{[]string{"https://app.example.com/**"}, "https://app.example.com/\nx", false},
	} {
		if got := MatchRedirectURI(tc.patterns, tc.uri); got != tc.want {
			t.Errorf("MatchRedirectURI(%q, %q) = %v, want %v", tc.patterns, tc.uri, got, tc.want)
		}
	}
}

// FuzzMatchRedirectURI: matching never panics, a matched URI is one a
// browser can be sent to (absolute http(s), no userinfo or fragment), and
// its host is the pattern's host or under it, or localhost.
func FuzzMatchRedirectURI(f *testing.F) {
	for _, seed := range [][2]string{
		{"https://*.example.com/**", "https://a.example.com/x"},
		{"http://127.0.0.1:*/**", "http://127.0.0.1:1/a?b"},
		{"https://app.example.com/*/cb", "https://app.example.com/a/cb"},
		{"https://a.b/**", "https://a.b@evil/"},
		{"https://x/**", "https://x/%2F..%2F"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, pattern, uri string) {
		if redirectURIProblem(pattern) != "" {
			return
		}
		if !MatchRedirectURI([]string{pattern}, uri) {
			return
		}
		u, err := url.Parse(uri)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || strings.Contains(uri, "#") {
			t.Fatalf("%q matched %q, which is not an absolute http(s) URL without userinfo and fragment", pattern, uri)
		}
		host := strings.ToLower(u.Hostname())
		if host == "localhost" {
			return
		}
		_, rest, _ := strings.Cut(pattern, "://")
		phost, _, _ := splitAuthority(strings.SplitN(strings.SplitN(rest, "/", 2)[0], "?", 2)[0])
		phost = strings.ToLower(phost)
		if suffix, wild := strings.CutPrefix(phost, "*."); wild && !strings.Contains(suffix, "*") {
			if !strings.HasSuffix(host, "."+suffix) {
				t.Fatalf("%q matched %q, whose host is not under %q", pattern, uri, suffix)
			}
		} else if !strings.Contains(phost, "*") && host != phost {
			t.Fatalf("%q matched %q on another host", pattern, uri)
		}
	})
}

func TestGrantTypes(t *testing.T) {
	for _, gt := range SupportedGrantTypes {
		if p := grantTypeProblem(gt); p != "" {
			t.Errorf("grantTypeProblem(%q) = %q", gt, p)
		}
	}
	if p := grantTypeProblem("urn:ietf:params:oauth:grant-type:saml2-bearer"); p != "" {
		t.Errorf("saml2-bearer, which XSUAA descriptors use, is refused: %q", p)
	}
	if p := grantTypeProblem("client_credential"); !strings.Contains(p, `unknown grant type "client_credential"`) {
		t.Errorf("a mistyped grant type: %q", p)
	}
	all := &App{}
	only := &App{GrantTypes: []string{GrantClientCredentials}}
	if !all.AllowsGrantType(GrantPassword) || !all.AllowsGrantType(GrantJWTBearer) || all.AllowsGrantType("implicit") {
		t.Error("an app without grant-types must allow every supported grant and nothing else")
	}
	if only.AllowsGrantType(GrantAuthorizationCode) || !only.AllowsGrantType(GrantClientCredentials) {
		t.Error("grant-types must restrict the app's grants")
	}
}

// TestResolveUserLogin: role templates, role collections and the
// oauth2-configuration of user flows resolve to runtime names.
func TestResolveUserLogin(t *testing.T) {
	d, err := Parse([]byte(`{
	  "xsappname": "demo",
	  "scopes": [{"name": "$XSAPPNAME.Display"}, {"name": "$XSAPPNAME.Edit"}, {"name": "uaa.user"}],
	  "attributes": [{"name": "Country", "valueType": "string"}, {"name": "Level", "valueType": "int", "valueRequired": false}],
	  "role-templates": [
	    {"name": "Viewer", "scope-references": ["$XSAPPNAME.Display", "uaa.user"], "attribute-references": ["Country"]},
	    {"name": "Editor", "default-role-name": "Editor Role", "scope-references": ["$XSAPPNAME.Edit"],
	     "attribute-references": [{"name": "Level", "default-values": ["3"]}]}
	  ],
	  "role-collections": [{"name": "Demo_Viewer", "description": "view", "role-template-references": ["$XSAPPNAME.Viewer", "$XSAPPNAME(application,other).Reader"]}],
	  "oauth2-configuration": {"redirect-uris": ["http://127.0.0.1:5055/**"], "refresh-token-validity": 3600,
	    "grant-types": ["authorization_code", "refresh_token"], "system-attributes": [], "allowedproviders": ["sap.default"]}
	}`))
	if err != nil {
		t.Fatal(err)
	}
	app, err := Resolve(d, Env{Plan: PlanApplication, ZoneIndex: 1})
	if err != nil {
		t.Fatal(err)
	}
	viewer, ok := app.RoleTemplate("Viewer")
	if !ok || strings.Join(viewer.Scopes, " ") != "demo!t1.Display uaa.user" || viewer.RoleName() != "Viewer" {
		t.Errorf("Viewer = %+v", viewer)
	}
	if editor, _ := app.RoleTemplate("Editor"); editor.RoleName() != "Editor Role" || editor.Attributes[0].DefaultValues[0] != "3" {
		t.Errorf("Editor = %+v", editor)
	}
	if len(app.RoleCollections) != 1 || len(app.RoleCollections[0].Roles) != 2 ||
		app.RoleCollections[0].Roles[0] != (RoleRef{"demo!t1", "Viewer"}) || app.RoleCollections[0].Roles[1] != (RoleRef{"other!t1", "Reader"}) {
		t.Errorf("role collections = %+v", app.RoleCollections)
	}
	if len(app.Attributes) != 2 || !app.Attributes[0].ValueRequired || app.Attributes[1].ValueRequired {
		t.Errorf("attributes = %+v", app.Attributes)
	}
	if app.RefreshLifetime().Seconds() != 3600 || app.AllowsGrantType(GrantPassword) || !app.AllowsGrantType(GrantRefreshToken) {
		t.Errorf("oauth2-configuration: refresh %v, grant types %v", app.RefreshLifetime(), app.GrantTypes)
	}
	if app.SystemAttributes == nil || len(*app.SystemAttributes) != 0 || app.AllowedProviders == nil || (*app.AllowedProviders)[0] != "sap.default" {
		t.Errorf("system-attributes %v, allowedproviders %v", app.SystemAttributes, app.AllowedProviders)
	}
	if !MatchRedirectURI(app.RedirectURIs, "http://127.0.0.1:5055/login/callback") {
		t.Error("the app's redirect URI does not match approuter's callback")
	}
	if (&App{}).RefreshLifetime() != DefaultRefreshTokenValidity {
		t.Error("the default refresh token lifetime is not XSUAA's")
	}
}

// TestParseRedirectAndGrantProblems: malformed redirect URIs and unknown
// grant types in a descriptor are 400s naming them.
func TestParseRedirectAndGrantProblems(t *testing.T) {
	_, err := Parse([]byte(`{"xsappname":"a","oauth2-configuration":{"redirect-uris":["https://ok.example.com/**","http://app.example.com/**"],"grant-types":["password","magic"]}}`))
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{
		`oauth2-configuration.redirect-uris[1]: malformed redirect URI: "http://app.example.com/**": for URIs that use http:// only localhost`,
		`oauth2-configuration.grant-types[1]: unknown grant type "magic"`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "redirect-uris[0]") || strings.Contains(err.Error(), "grant-types[0]") {
		t.Errorf("a valid entry is reported: %v", err)
	}
}

// TestGrantUser: a user token's scopes are the user's role scopes that the
// client may carry, plus openid; attributes come from template defaults
// or, without them, from the user's asserted values.
func TestGrantUser(t *testing.T) {
	demo := &App{RuntimeName: "demo!t1", Scopes: []string{"demo!t1.Display", "demo!t1.Edit", "uaa.user"},
		ForeignScopes: []string{"other!t1.Read", "user_attributes"}}
	grants := []Grant{{Scope: "other!t1.Read", To: "demo!t1"}, {Scope: "other!t1.Write", To: "demo!t1"}}
	client := UserClientScopes(demo, grants)
	if want := "demo!t1.Display demo!t1.Edit openid other!t1.Read uaa.user user_attributes"; strings.Join(client, " ") != want {
		t.Errorf("UserClientScopes = %v, want %s", client, want)
	}
	accepting := *demo
	accepting.AcceptGrantedScopes = true
	if got := UserClientScopes(&accepting, grants); !strings.Contains(strings.Join(got, " "), "other!t1.Write") {
		t.Errorf("$ACCEPT_GRANTED_SCOPES does not accept every grant: %v", got)
	}
	viewer := &RoleTemplateDef{Name: "Viewer", Scopes: []string{"demo!t1.Display", "uaa.user"},
		Attributes: []AttributeReference{{Name: "Country"}, {Name: "Level", DefaultValues: []string{"3"}}}}
	reader := &RoleTemplateDef{Name: "Reader", Scopes: []string{"other!t1.Read", "other!t1.Admin"}, Attributes: []AttributeReference{{Name: "Country", DefaultValues: []string{"US"}}}}
	g := GrantUser(client, []UserRole{
		{RoleRef{"demo!t1", "Viewer"}, viewer},
		{RoleRef{"other!t1", "Reader"}, reader},
		{RoleRef{"gone!t1", "X"}, nil},
	}, map[string][]string{"Country": {"DE"}, "Unused": {"x"}})
	if want := "demo!t1.Display openid other!t1.Read uaa.user"; strings.Join(g.Scopes, " ") != want {
		t.Errorf("scopes = %v, want %s (other!t1.Admin is not the client's)", g.Scopes, want)
	}
	if strings.Join(g.Attributes["Country"], ",") != "DE,US" || strings.Join(g.Attributes["Level"], ",") != "3" || g.Attributes["Unused"] != nil {
		t.Errorf("attributes = %v", g.Attributes)
	}
	if none := GrantUser(client, nil, nil); strings.Join(none.Scopes, " ") != "openid" || len(none.Attributes) != 0 {
		t.Errorf("a user without roles gets %+v; want openid only (XSUAA does not refuse the login)", none)
	}
}
