package scopes

import "encoding/json"

// Descriptor is the application security descriptor (xs-security.json) as a
// user wrote it: names still contain $XSAPPNAME and the other variables.
// Parse fills it; Resolve turns it into an App with runtime names.
type Descriptor struct {
	XSAppName              string               `json:"xsappname"`
	Description            string               `json:"description,omitempty"`
	TenantMode             string               `json:"tenant-mode,omitempty"`
	Scopes                 []Scope              `json:"scopes,omitempty"`
	Attributes             []Attribute          `json:"attributes,omitempty"`
	RoleTemplates          []RoleTemplate       `json:"role-templates,omitempty"`
	RoleCollections        []RoleCollection     `json:"role-collections,omitempty"`
	Authorities            []string             `json:"authorities,omitempty"`
	ForeignScopeReferences []string             `json:"foreign-scope-references,omitempty"`
	AuthoritiesInheritance *bool                `json:"authorities-inheritance,omitempty"`
	OAuth2Configuration    *OAuth2Configuration `json:"oauth2-configuration,omitempty"`
	XSEnableAsyncService   string               `json:"xsenableasyncservice,omitempty"`
}

// Scope is one entry of "scopes".
type Scope struct {
	Name                   string   `json:"name"`
	Description            string   `json:"description,omitempty"`
	GrantedApps            []string `json:"granted-apps,omitempty"`
	GrantAsAuthorityToApps []string `json:"grant-as-authority-to-apps,omitempty"`
}

// Attribute is one entry of "attributes".
type Attribute struct {
	Name          string `json:"name"`
	Description   string `json:"description,omitempty"`
	ValueType     string `json:"valueType"`
	ValueRequired *bool  `json:"valueRequired,omitempty"`
}

// RoleTemplate is one entry of "role-templates".
type RoleTemplate struct {
	Name                string               `json:"name"`
	Description         string               `json:"description,omitempty"`
	DefaultRoleName     string               `json:"default-role-name,omitempty"`
	ScopeReferences     []string             `json:"scope-references,omitempty"`
	AttributeReferences []AttributeReference `json:"attribute-references,omitempty"`
}

// AttributeReference is an entry of a role template's "attribute-references":
// either a bare attribute name or an object with default values.
type AttributeReference struct {
	Name          string   `json:"name"`
	DefaultValues []string `json:"default-values,omitempty"`
}

// UnmarshalJSON accepts both the string and the object form.
func (a *AttributeReference) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*a = AttributeReference{Name: s}
		return nil
	}
	type plain AttributeReference
	return json.Unmarshal(b, (*plain)(a))
}

// RoleCollection is one entry of "role-collections".
type RoleCollection struct {
	Name                   string   `json:"name"`
	Description            string   `json:"description,omitempty"`
	RoleTemplateReferences []string `json:"role-template-references"`
}

// OAuth2Configuration is the "oauth2-configuration" object.
type OAuth2Configuration struct {
	TokenValidity        *int     `json:"token-validity,omitempty"`
	RefreshTokenValidity *int     `json:"refresh-token-validity,omitempty"`
	RedirectURIs         []string `json:"redirect-uris,omitempty"`
	CredentialTypes      []string `json:"credential-types,omitempty"`
	GrantTypes           []string `json:"grant-types,omitempty"`
	Autoapprove          any      `json:"autoapprove,omitempty"`
	SystemAttributes     []string `json:"system-attributes,omitempty"`
	AllowedProviders     []string `json:"allowedproviders,omitempty"`
}
