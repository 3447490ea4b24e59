package scopes

import "strings"

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
