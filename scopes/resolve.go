package scopes

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Service plans of the xsuaa service.
const (
	PlanApplication = "application"
	PlanBroker      = "broker"
)

// Defaults and limits of XSUAA that apply at resolution time.
const (
	DefaultTokenValidity = 43200 * time.Second
	MaxScopeNameLen      = 193 // including the runtime application name
	UAAResource          = "uaa.resource"
	// UAAUser is the one plain scope a descriptor may declare: the token
	// exchange needs it in the user's login token.
	UAAUser            = "uaa.user"
	CredentialSecret   = "binding-secret"
	CredentialInstance = "instance-secret"
	CredentialX509     = "x509"
)

// Variables recognised in descriptors.
const (
	varAcceptAuthorities = "$ACCEPT_GRANTED_AUTHORITIES"
	varAcceptScopes      = "$ACCEPT_GRANTED_SCOPES"
	varXSAppName         = "$XSAPPNAME"
)

// App is a descriptor resolved for one service instance: every variable
// replaced by a runtime name. It is what the token path needs of an
// instance, and it is stored next to the raw descriptor.
type App struct {
	XSAppName   string `json:"xsappname"`    // as declared, e.g. "orders"
	RuntimeName string `json:"runtime_name"` // e.g. "orders!t1"
	Plan        string `json:"plan"`
	TenantMode  string `json:"tenant_mode"`
	// Scopes are the runtime names of the app's own scopes.
	Scopes []string `json:"scopes,omitempty"`
	// Authorities are the resolved entries of "authorities" except the
	// $ACCEPT_GRANTED_AUTHORITIES flag: own scopes and explicitly accepted
	// foreign scopes (which count only once their owner grants them).
	Authorities              []string `json:"authorities,omitempty"`
	AcceptGrantedAuthorities bool     `json:"accept_granted_authorities,omitempty"`
	// Grants are this app's scopes granted as authorities to other apps
	// (grant-as-authority-to-apps), for client_credentials tokens.
	Grants []Grant `json:"grants,omitempty"`
	// UserGrants are this app's scopes granted to other apps for user
	// tokens (granted-apps). Stored for the user login flows.
	UserGrants []Grant `json:"user_grants,omitempty"`
	// ForeignScopes are the resolved explicit foreign-scope-references, and
	// AcceptGrantedScopes the $ACCEPT_GRANTED_SCOPES flag (user flows).
	ForeignScopes       []string `json:"foreign_scopes,omitempty"`
	AcceptGrantedScopes bool     `json:"accept_granted_scopes,omitempty"`
	TokenValidity       int      `json:"token_validity"` // seconds
	CredentialTypes     []string `json:"credential_types"`
	// NoAuthoritiesInheritance is "authorities-inheritance": false on a
	// broker-plan app: its clones may then hold only the scopes it lists in
	// its own "authorities", not any of its scopes.
	NoAuthoritiesInheritance bool `json:"no_authorities_inheritance,omitempty"`
	// CloneOf is, for a clone of a broker-plan app (a reuse service's
	// per-consumer client), the runtime name of that app, and
	// RequestedAuthorities the full names of the scopes the clone asked for.
	CloneOf              string   `json:"clone_of,omitempty"`
	RequestedAuthorities []string `json:"requested_authorities,omitempty"`

	// User login (see roles.go and redirect.go): the declared attributes,
	// the role templates with resolved scope names, the role collections
	// the descriptor defines, and oauth2-configuration's redirect-uris,
	// refresh-token-validity (seconds; 0: DefaultRefreshTokenValidity),
	// grant-types (nil: every supported grant), system-attributes and
	// allowedproviders (nil: absent, the defaults).
	Attributes           []AttributeDef      `json:"attributes,omitempty"`
	RoleTemplates        []RoleTemplateDef   `json:"role_templates,omitempty"`
	RoleCollections      []RoleCollectionDef `json:"role_collections,omitempty"`
	RedirectURIs         []string            `json:"redirect_uris,omitempty"`
	RefreshTokenValidity int                 `json:"refresh_token_validity,omitempty"`
	GrantTypes           []string            `json:"grant_types,omitempty"`
	SystemAttributes     *[]string           `json:"system_attributes,omitempty"`
	AllowedProviders     *[]string           `json:"allowed_providers,omitempty"`
}

// DefaultRefreshTokenValidity is XSUAA's refresh token lifetime.
const DefaultRefreshTokenValidity = 604800 * time.Second

// RefreshLifetime returns the refresh token lifetime.
func (a *App) RefreshLifetime() time.Duration {
	if a.RefreshTokenValidity <= 0 {
		return DefaultRefreshTokenValidity
	}
	return time.Duration(a.RefreshTokenValidity) * time.Second
}

// Grant is one scope granted as an authority to another app, named by its
// runtime name.
type Grant struct {
	Scope string `json:"scope"`
	To    string `json:"to"`
}

// ClientID returns the OAuth client id of the app: "sb-" + runtime name.
func (a *App) ClientID() string { return "sb-" + a.RuntimeName }

// Lifetime returns the access token lifetime.
func (a *App) Lifetime() time.Duration { return time.Duration(a.TokenValidity) * time.Second }

// DefaultCredentialType is the type of a binding that names none: the
// first entry of credential-types.
func (a *App) DefaultCredentialType() string { return a.CredentialTypes[0] }

// AllowsCredentialType reports whether bindings may use credential type t.
func (a *App) AllowsCredentialType(t string) bool {
	for _, c := range a.CredentialTypes {
		if c == t {
			return true
		}
	}
	return false
}

// Env is what resolution needs to know about the instance's surroundings.
type Env struct {
	Plan      string // PlanApplication or PlanBroker
	ZoneIndex int    // N in "!t<N>" / "!b<N>", one per identity zone
	// LookupInstance returns the runtime names of the service instances
	// and clones with the given name in the same space, for
	// $XSSERVICENAME(<name>): one resolves, none or several are an
	// error naming it. Nil means no instance can be found.
	LookupInstance func(name string) (runtimeNames []string)
	// LookupZone returns the index of an identity zone named by id or
	// subdomain, for the three-argument $XSAPPNAME(<plan>,<zone>,<app>). A
	// zone it does not know makes the reference dormant: a grant to an app in
	// a zone this server does not host never matches a client.
	LookupZone func(zone string) (index int, ok bool)
}

// RuntimeName returns the runtime application name XSUAA gives to an
// instance: "<xsappname>!t<N>" for the application plan and "!b<N>" for the
// broker plan, N being the identity zone's index.
func RuntimeName(xsappname, plan string, zoneIndex int) string {
	sep := "!t"
	if plan == PlanBroker {
		sep = "!b"
	}
	return xsappname + sep + strconv.Itoa(zoneIndex)
}

// cloneRuntimeNameRe matches the runtime name of a clone,
// "<clone id>!b<N>|<broker xsappname>!b<N>".
var cloneRuntimeNameRe = regexp.MustCompile(`^[A-Za-z0-9_\-/\\]+!b[0-9]+\|[A-Za-z0-9_\-/\\]+!b[0-9]+$`)

// IsCloneRuntimeName reports whether s has the shape of a clone's runtime
// name, which $XSAPPNAME(<plan>,<name>) accepts as a grant target as it
// stands.
func IsCloneRuntimeName(s string) bool { return cloneRuntimeNameRe.MatchString(s) }

var appRefRe = regexp.MustCompile(`^\$XSAPPNAME\(\s*([^,()\s]+)\s*,\s*([^,()\s]+)\s*(?:,\s*([^,()\s]+)\s*)?\)`)
var serviceRefRe = regexp.MustCompile(`^\$XSSERVICENAME\(\s*([^()]+?)\s*\)`)

// Resolve replaces the variables of a valid descriptor (see Parse) and
// returns the App. Errors are *ValidationError naming the offending path.
func Resolve(d *Descriptor, env Env) (*App, error) {
	app := &App{
		XSAppName:     d.XSAppName,
		Plan:          env.Plan,
		TenantMode:    d.TenantMode,
		RuntimeName:   RuntimeName(d.XSAppName, env.Plan, env.ZoneIndex),
		TokenValidity: int(DefaultTokenValidity / time.Second),
	}
	if app.TenantMode == "" {
		app.TenantMode = "dedicated"
	}
	if oc := d.OAuth2Configuration; oc != nil {
		if oc.TokenValidity != nil {
			app.TokenValidity = *oc.TokenValidity
		}
		app.CredentialTypes = append(app.CredentialTypes, oc.CredentialTypes...)
		app.RedirectURIs = oc.RedirectURIs
		if oc.RefreshTokenValidity != nil {
			app.RefreshTokenValidity = *oc.RefreshTokenValidity
		}
		app.GrantTypes = oc.GrantTypes
		if oc.SystemAttributes != nil {
			sa := append([]string{}, oc.SystemAttributes...)
			app.SystemAttributes = &sa
		}
		if oc.AllowedProviders != nil {
			ap := append([]string{}, oc.AllowedProviders...)
			app.AllowedProviders = &ap
		}
	}
	if len(app.CredentialTypes) == 0 {
		app.CredentialTypes = []string{CredentialSecret}
	}
	app.NoAuthoritiesInheritance = d.AuthoritiesInheritance != nil && !*d.AuthoritiesInheritance
	r := resolver{app: app, env: env}
	for i, s := range d.Scopes {
		name := r.name(s.Name, fmt.Sprintf("scopes[%d].name", i))
		if len(name) > MaxScopeNameLen {
			r.fail(fmt.Sprintf("scopes[%d].name", i), fmt.Sprintf("must be at most %d characters once $XSAPPNAME is replaced (%q has %d)", MaxScopeNameLen, name, len(name)))
		}
		app.Scopes = append(app.Scopes, name)
		for j, to := range s.GrantAsAuthorityToApps {
			if target, ok := r.appRef(to, fmt.Sprintf("scopes[%d].grant-as-authority-to-apps[%d]", i, j)); ok {
				app.Grants = append(app.Grants, Grant{Scope: name, To: target})
			}
		}
		for j, to := range s.GrantedApps {
			if target, ok := r.appRef(to, fmt.Sprintf("scopes[%d].granted-apps[%d]", i, j)); ok {
				app.UserGrants = append(app.UserGrants, Grant{Scope: name, To: target})
			}
		}
	}
	for i, f := range d.ForeignScopeReferences {
		if f == varAcceptScopes {
			app.AcceptGrantedScopes = true
			continue
		}
		app.ForeignScopes = append(app.ForeignScopes, r.name(f, fmt.Sprintf("foreign-scope-references[%d]", i)))
	}
	for _, at := range d.Attributes {
		app.Attributes = append(app.Attributes, AttributeDef{Name: at.Name, ValueType: at.ValueType,
			ValueRequired: at.ValueRequired == nil || *at.ValueRequired})
	}
	for i, rt := range d.RoleTemplates {
		t := RoleTemplateDef{Name: rt.Name, DefaultRoleName: rt.DefaultRoleName, Attributes: rt.AttributeReferences}
		for j, ref := range rt.ScopeReferences {
			t.Scopes = append(t.Scopes, r.name(ref, fmt.Sprintf("role-templates[%d].scope-references[%d]", i, j)))
		}
		app.RoleTemplates = append(app.RoleTemplates, t)
	}
	for i, rc := range d.RoleCollections {
		c := RoleCollectionDef{Name: rc.Name, Description: rc.Description}
		for j, ref := range rc.RoleTemplateReferences {
			path := fmt.Sprintf("role-collections[%d].role-template-references[%d]", i, j)
			role, ok := ParseRoleRef(r.name(ref, path))
			if !ok {
				r.fail(path, fmt.Sprintf("%q does not name a role template as <application>.<template>", ref))
				continue
			}
			c.Roles = append(c.Roles, role)
		}
		app.RoleCollections = append(app.RoleCollections, c)
	}
	for i, a := range d.Authorities {
		if a == varAcceptAuthorities {
			app.AcceptGrantedAuthorities = true
			continue
		}
		app.Authorities = append(app.Authorities, r.name(a, fmt.Sprintf("authorities[%d]", i)))
	}
	if len(r.problems) > 0 {
		return nil, &ValidationError{Problems: r.problems}
	}
	return app, nil
}

type resolver struct {
	app      *App
	env      Env
	problems []Problem
}

func (r *resolver) fail(path, msg string) {
	r.problems = append(r.problems, Problem{Path: path, Message: msg})
}

// name resolves a scope-like name: "$XSAPPNAME.x", "$XSAPPNAME(plan,app).x",
// "$XSSERVICENAME(inst).x", or a plain name, which stays as it is.
func (r *resolver) name(s, path string) string {
	switch {
	case s == varXSAppName:
		return r.app.RuntimeName
	case strings.HasPrefix(s, varXSAppName+"."):
		return r.app.RuntimeName + s[len(varXSAppName):]
	case strings.HasPrefix(s, "$"):
		prefix, rest, ok := strings.Cut(s, ").")
		if !ok {
			if target, ok := r.appRef(s, path); ok {
				return target
			}
			return s
		}
		if target, ok := r.appRef(prefix+")", path); ok {
			return target + "." + rest
		}
		return s
	}
	return s
}

// appRef resolves a reference to an application to its runtime name.
func (r *resolver) appRef(s, path string) (string, bool) {
	if s == varXSAppName {
		return r.app.RuntimeName, true
	}
	if m := appRefRe.FindStringSubmatch(s); m != nil && len(m[0]) == len(s) {
		plan, zone, name := m[1], "", m[2]
		if m[3] != "" {
			zone, name = m[2], m[3]
		}
		if plan != PlanApplication && plan != PlanBroker {
			r.fail(path, fmt.Sprintf("unknown plan %q in %s; use application or broker", plan, s))
			return "", false
		}
		if IsCloneRuntimeName(name) && zone == "" {
			// A clone is named by its whole runtime name, which already
			// holds its zone's index.
			return name, true
		}
		idx := r.env.ZoneIndex
		if zone != "" {
			zi, ok := 0, false
			if r.env.LookupZone != nil {
				zi, ok = r.env.LookupZone(zone)
			}
			if !ok {
				// Dormant: "@" never occurs in a runtime name.
				return RuntimeName(name, plan, 0) + "@" + zone, true
			}
			idx = zi
		}
		return RuntimeName(name, plan, idx), true
	}
	if m := serviceRefRe.FindStringSubmatch(s); m != nil && len(m[0]) == len(s) {
		var found []string
		if r.env.LookupInstance != nil {
			found = r.env.LookupInstance(m[1])
		}
		switch len(found) {
		case 1:
			return found[0], true
		case 0:
			r.fail(path, fmt.Sprintf("%s: no service instance named %q exists in this space", s, m[1]))
		default:
			r.fail(path, fmt.Sprintf("%s: %d service instances named %q exist in this space (%s); rename all but one, or name the application with $XSAPPNAME(<plan>,<xsappname>)", s, len(found), m[1], strings.Join(found, ", ")))
		}
		return "", false
	}
	if strings.HasPrefix(s, "$") {
		r.fail(path, fmt.Sprintf("cannot resolve %q", s))
		return "", false
	}
	// A plain xsappname names an application-plan app of the same zone.
	return RuntimeName(s, PlanApplication, r.env.ZoneIndex), true
}

// Authorities computes the authorities of app's client for the
// client_credentials grant: uaa.resource, the own scopes the app lists in
// "authorities", and every scope another app grants it with
// grant-as-authority-to-apps that it accepts, either all of them with
// $ACCEPT_GRANTED_AUTHORITIES or one by one by name. grantsTo maps a runtime
// name to the grants made to it (see IndexGrants). The result is sorted.
func Authorities(app *App, grantsTo map[string][]Grant) []string {
	set := map[string]bool{UAAResource: true}
	own := map[string]bool{}
	for _, s := range app.Scopes {
		own[s] = true
	}
	listed := map[string]bool{}
	for _, a := range app.Authorities {
		listed[a] = true
		// Only the app's own, prefixed scopes are authorities: a plain
		// name (uaa.user, or what an older version let a descriptor
		// declare) never is.
		if own[a] && strings.HasPrefix(a, app.RuntimeName+".") {
			set[a] = true
		}
	}
	for _, g := range grantsTo[app.RuntimeName] {
		if app.AcceptGrantedAuthorities || listed[g.Scope] {
			set[g.Scope] = true
		}
	}
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// IndexGrants maps each grantee's runtime name to the grants made to it by apps.
func IndexGrants(apps []*App) map[string][]Grant {
	idx := map[string][]Grant{}
	for _, a := range apps {
		for _, g := range a.Grants {
			idx[g.To] = append(idx[g.To], g)
		}
	}
	return idx
}

// Audiences derives the "aud" claim from granted scopes as UAA does: the
// client id plus, for each scope, the part before its last dot (scopes
// without a dot, or ending in one, add nothing). The result is sorted with
// the client id last, as in XSUAA's tokens.
func Audiences(clientID string, scopes []string) []string {
	seen := map[string]bool{clientID: true}
	var out []string
	for _, s := range scopes {
		i := strings.LastIndexByte(s, '.')
		if i <= 0 || i == len(s)-1 {
			continue
		}
		if p := s[:i]; !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return append(out, clientID)
}

// NewClone returns the app of a clone of the broker-plan app parent: the
// per-consumer OAuth client that a reuse service creates for each of its
// service instances. Its runtime name is "<cloneID>!b<N>|<parent runtime
// name>", so that the parent's libraries accept its tokens by the "|"
// suffix (trustedclientidsuffix). authorities are local scope names of the
// parent (e.g. "TASK_GET"), as reuse services pass them; nil means the
// scopes the parent lists in its own "authorities". Each must be a scope the
// clone may hold (see CloneAuthorities), else a *ValidationError.
func NewClone(parent *App, cloneID string, zoneIndex int, authorities []string) (*App, error) {
	clone := &App{
		XSAppName:       cloneID,
		RuntimeName:     RuntimeName(cloneID, PlanBroker, zoneIndex) + "|" + parent.RuntimeName,
		Plan:            PlanBroker,
		TenantMode:      parent.TenantMode,
		TokenValidity:   parent.TokenValidity,
		CredentialTypes: parent.CredentialTypes,
		CloneOf:         parent.RuntimeName,
	}
	allowed := cloneAllowed(parent)
	if authorities == nil {
		for _, a := range parent.Authorities {
			if allowed[a] {
				clone.RequestedAuthorities = append(clone.RequestedAuthorities, a)
			}
		}
		return clone, nil
	}
	var problems []Problem
	for i, a := range authorities {
		full := parent.RuntimeName + "." + a
		if !allowed[full] {
			why := "is not a scope of " + parent.RuntimeName
			if parent.NoAuthoritiesInheritance && contains(parent.Scopes, full) {
				why = `is not in the "authorities" of ` + parent.RuntimeName + ", which sets authorities-inheritance to false"
			}
			problems = append(problems, Problem{Path: fmt.Sprintf("authorities[%d]", i), Message: fmt.Sprintf("%q %s", a, why)})
			continue
		}
		clone.RequestedAuthorities = append(clone.RequestedAuthorities, full)
	}
	if len(problems) > 0 {
		return nil, &ValidationError{Problems: problems}
	}
	return clone, nil
}

// CloneAuthorities computes the client_credentials authorities of a clone:
// uaa.resource, the requested scopes its parent still allows, and the
// scopes other apps grant to the clone (grant-as-authority-to-apps naming
// it by $XSSERVICENAME or its runtime name) that its parent accepts, as
// XSUAA lets a clone accept grants through the broker instance's
// authorities: every granted scope with $ACCEPT_GRANTED_AUTHORITIES —
// unless the parent sets authorities-inheritance to false, whose clones
// accept only what it names — or the ones it names explicitly. It is
// evaluated whenever the parent or a grant changes, so narrowing the
// parent narrows its clones' next tokens.
func CloneAuthorities(clone, parent *App, granted []Grant) []string {
	set := map[string]bool{UAAResource: true}
	if parent != nil {
		allowed := cloneAllowed(parent)
		for _, a := range clone.RequestedAuthorities {
			if allowed[a] {
				set[a] = true
			}
		}
		for _, g := range granted {
			if (parent.AcceptGrantedAuthorities && !parent.NoAuthoritiesInheritance) || contains(parent.Authorities, g.Scope) {
				set[g.Scope] = true
			}
		}
	}
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// cloneAllowed is the set of scopes clones of parent may hold: all its
// scopes, or with authorities-inheritance false only those it lists in its
// own "authorities" (an allow-list).
func cloneAllowed(parent *App) map[string]bool {
	allowed := map[string]bool{}
	for _, s := range parent.Scopes {
		if !parent.NoAuthoritiesInheritance || contains(parent.Authorities, s) {
			allowed[s] = true
		}
	}
	return allowed
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
