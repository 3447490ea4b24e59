package scopes

import (
	"maps"
	"slices"
	"strings"
)

// The role model of user login: an app's descriptor declares attributes
// and role templates (which reference its scopes and attributes); a role
// is a template's instance in an identity zone — this server knows each
// template's default role, named by default-role-name or the template's
// name; role collections group roles of one or more apps and are
// assigned to users. A user's scopes in a token are the scopes of the
// templates of every role in every collection assigned to them.

// AttributeDef is a declared attribute.
type AttributeDef struct {
	Name          string `json:"name"`
	ValueType     string `json:"value_type"`
	ValueRequired bool   `json:"value_required"`
}

// RoleTemplateDef is a role template with its scope references resolved
// to runtime names.
type RoleTemplateDef struct {
	Name            string               `json:"name"`
	DefaultRoleName string               `json:"default_role_name,omitempty"`
	Scopes          []string             `json:"scopes,omitempty"`
	Attributes      []AttributeReference `json:"attributes,omitempty"`
}

// RoleName returns the name of the template's default role.
func (t *RoleTemplateDef) RoleName() string {
	if t.DefaultRoleName != "" {
		return t.DefaultRoleName
	}
	return t.Name
}

// RoleCollectionDef is a role collection a descriptor defines; it is
// created in the instance's zone with the instance.
type RoleCollectionDef struct {
	Name        string    `json:"name"`
	Description string    `json:"description,omitempty"`
	Roles       []RoleRef `json:"roles"`
}

// RoleRef names the default role of a role template of an app, by the
// app's runtime name and the template's name.
type RoleRef struct {
	App      string `json:"app"`
	Template string `json:"template"`
}

// String returns "<app>.<template>", as role-template-references write it.
func (r RoleRef) String() string { return r.App + "." + r.Template }

// ParseRoleRef splits "<app runtime name>.<template>" (a runtime name has
// no dot; a template name may).
func ParseRoleRef(s string) (RoleRef, bool) {
	app, tmpl, ok := strings.Cut(s, ".")
	if !ok || app == "" || tmpl == "" {
		return RoleRef{}, false
	}
	return RoleRef{App: app, Template: tmpl}, true
}

// RoleTemplate returns the app's role template with the given name.
func (a *App) RoleTemplate(name string) (*RoleTemplateDef, bool) {
	for i := range a.RoleTemplates {
		if a.RoleTemplates[i].Name == name {
			return &a.RoleTemplates[i], true
		}
	}
	return nil, false
}

// OpenID is the scope every user token carries (UAA maps it to the
// "openid" audience).
const OpenID = "openid"

// UserClientScopes computes the scopes app's client may carry for users
// (UAA's client "scope"): openid, the app's own scopes, and the scopes
// other apps grant it with granted-apps that it accepts — all of them with
// $ACCEPT_GRANTED_SCOPES, or one by one in foreign-scope-references.
// Plain foreign references such as uaa.user or user_attributes, which no
// app grants, count as they stand. userGrantsTo are the granted-apps
// grants made to the app. The result is sorted.
func UserClientScopes(app *App, userGrantsTo []Grant) []string {
	set := map[string]bool{OpenID: true}
	for _, s := range app.Scopes {
		set[s] = true
	}
	listed := map[string]bool{}
	for _, f := range app.ForeignScopes {
		listed[f] = true
		if !strings.Contains(f, "!") {
			set[f] = true // a plain UAA scope, e.g. uaa.user
		}
	}
	for _, g := range userGrantsTo {
		if app.AcceptGrantedScopes || listed[g.Scope] {
			set[g.Scope] = true
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// UserRole is one role a user holds, with its template as the owning app
// declares it (nil when the app or the template no longer exists).
type UserRole struct {
	Ref      RoleRef
	Template *RoleTemplateDef
}

// UserGrant is what a user token carries of the user's roles.
type UserGrant struct {
	// Scopes are the scopes granted: the user's roles' scopes that the
	// client may carry, plus openid; sorted.
	Scopes []string
	// Attributes are "xs.user.attributes": per attribute name the union of
	// the values of the user's roles, each the template's default values
	// or, without them, the values the user's identity provider asserts.
	Attributes map[string][]string
}

// GrantUser computes a user token's scopes and attributes: the scopes of
// the templates of the user's roles, intersected with the client's user
// scopes (see UserClientScopes); openid always. asserted are the user's
// own attributes.
func GrantUser(clientScopes []string, roles []UserRole, asserted map[string][]string) UserGrant {
	allowed := map[string]bool{}
	for _, s := range clientScopes {
		allowed[s] = true
	}
	scopeSet := map[string]bool{OpenID: true}
	attrs := map[string]map[string]bool{}
	addValues := func(name string, values []string) {
		if attrs[name] == nil {
			attrs[name] = map[string]bool{}
		}
		for _, v := range values {
			attrs[name][v] = true
		}
	}
	for _, r := range roles {
		if r.Template == nil {
			continue
		}
		for _, s := range r.Template.Scopes {
			if allowed[s] {
				scopeSet[s] = true
			}
		}
		for _, a := range r.Template.Attributes {
			if len(a.DefaultValues) > 0 {
				addValues(a.Name, a.DefaultValues)
			} else if vs := asserted[a.Name]; len(vs) > 0 {
				addValues(a.Name, vs)
			}
		}
	}
	g := UserGrant{Scopes: slices.Sorted(maps.Keys(scopeSet)), Attributes: make(map[string][]string, len(attrs))}
	for name, vs := range attrs {
		g.Attributes[name] = slices.Sorted(maps.Keys(vs))
	}
	return g
}
