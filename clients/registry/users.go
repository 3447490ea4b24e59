package registry

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"golang.org/x/crypto/bcrypt"

	"github.com/openxsuaa/xsuaa/clients/storage"
	"github.com/openxsuaa/xsuaa/scopes"
)

// Users log in with a password (the login flows); role collections give
// them the scopes of their roles. Both live in an identity zone. An
// instance's descriptor role-collections are made, changed and deleted
// with the instance (syncRoleCollections); operators make their own.

// DefaultOrigin is the identity provider origin of users created without one.
const DefaultOrigin = "sap.default"

// PasswordHashCost is the bcrypt cost of stored passwords (UAA's default).
const PasswordHashCost = 10

// Limits of user and role collection fields.
const (
	minPasswordLen   = 8
	maxPasswordLen   = 72 // bcrypt's limit, in bytes
	maxNameLen       = 255
	maxAttributes    = 50
	maxAttrValues    = 100
	maxCollectionLen = 64 // XSUAA's limit on role collection names
	maxDescription   = 1000
)

var (
	originRe    = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
	attributeRe = regexp.MustCompile(`^[A-Za-z0-9_]{1,64}$`)
)

// UserSpec describes a user to create.
type UserSpec struct {
	ZoneID     string              `json:"-"` // "": the provider zone
	Name       string              `json:"name"`
	Password   string              `json:"password"`
	Email      string              `json:"email,omitempty"`
	GivenName  string              `json:"given_name,omitempty"`
	FamilyName string              `json:"family_name,omitempty"`
	Origin     string              `json:"origin,omitempty"` // "": DefaultOrigin
	Attributes map[string][]string `json:"attributes,omitempty"`
}

// UserSummary is a user as the admin API shows it: no password hash.
type UserSummary struct {
	ID              string              `json:"id"`
	Name            string              `json:"name"`
	Origin          string              `json:"origin"`
	Email           string              `json:"email,omitempty"`
	GivenName       string              `json:"given_name,omitempty"`
	FamilyName      string              `json:"family_name,omitempty"`
	Attributes      map[string][]string `json:"attributes,omitempty"`
	RoleCollections []string            `json:"role_collections"`
}

func summarize(u storage.User) UserSummary {
	rc := u.RoleCollections
	if rc == nil {
		rc = []string{}
	}
	return UserSummary{ID: u.ID, Name: u.UserName, Origin: u.Origin, Email: u.Email, GivenName: u.GivenName,
		FamilyName: u.FamilyName, Attributes: u.Attributes, RoleCollections: rc}
}

func (r *Registry) zone(zoneID string) string {
	if zoneID == "" {
		return r.index.ProviderZone().ID
	}
	return zoneID
}

// textProblem says what is wrong with a name-like field, or "".
func textProblem(what, s string, max int) string {
	switch {
	case s == "":
		return what + " is missing"
	case !utf8.ValidString(s):
		return what + " is not valid UTF-8"
	case utf8.RuneCountInString(s) > max:
		return fmt.Sprintf("%s must be at most %d characters", what, max)
	case strings.ContainsFunc(s, unicode.IsControl):
		return what + " must not contain control characters"
	case strings.TrimSpace(s) != s:
		return what + " must not start or end with spaces"
	}
	return ""
}

func passwordProblem(p string) string {
	switch {
	case len(p) < minPasswordLen:
		return fmt.Sprintf("the password must have at least %d characters", minPasswordLen)
	case len(p) > maxPasswordLen:
		return fmt.Sprintf("the password must be at most %d bytes (bcrypt's limit)", maxPasswordLen)
	case !utf8.ValidString(p) || strings.ContainsRune(p, 0):
		return "the password must be UTF-8 text without NUL characters"
	}
	return ""
}

// checkUser validates a spec and fills its defaults.
func checkUser(spec *UserSpec) error {
	if spec.Origin == "" {
		spec.Origin = DefaultOrigin
	}
	var problems []string
	for _, p := range []string{
		textProblem("the user name", spec.Name, maxNameLen),
		passwordProblem(spec.Password),
	} {
		if p != "" {
			problems = append(problems, p)
		}
	}
	if !originRe.MatchString(spec.Origin) {
		problems = append(problems, fmt.Sprintf("the origin %q must be 1 to 64 letters, digits, '.', '_' or '-' (no '/')", spec.Origin))
	}
	for what, v := range map[string]string{"the e-mail address": spec.Email, "the given name": spec.GivenName, "the family name": spec.FamilyName} {
		if v == "" {
			continue
		}
		if p := textProblem(what, v, maxNameLen); p != "" {
			problems = append(problems, p)
		}
	}
	if spec.Email != "" && !strings.Contains(spec.Email, "@") {
		problems = append(problems, fmt.Sprintf("the e-mail address %q has no @", spec.Email))
	}
	if len(spec.Attributes) > maxAttributes {
		problems = append(problems, fmt.Sprintf("a user may have at most %d attributes", maxAttributes))
	}
	for _, k := range slices.Sorted(maps.Keys(spec.Attributes)) {
		vs := spec.Attributes[k]
		if !attributeRe.MatchString(k) {
			problems = append(problems, fmt.Sprintf("attribute name %q must be 1 to 64 letters, digits or '_'", k))
		}
		if len(vs) == 0 || len(vs) > maxAttrValues {
			problems = append(problems, fmt.Sprintf("attribute %s must have 1 to %d values", k, maxAttrValues))
		}
		for _, v := range vs {
			if p := textProblem("a value of attribute "+k, v, maxNameLen); p != "" {
				problems = append(problems, p)
			}
		}
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		return opErr(ErrInvalid, "%s", strings.Join(problems, "; "))
	}
	return nil
}

// CreateUser creates a user with a bcrypt hash of its password.
func (r *Registry) CreateUser(ctx context.Context, spec UserSpec) (UserSummary, error) {
	if err := checkUser(&spec); err != nil {
		return UserSummary{}, err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(spec.Password), PasswordHashCost)
	if err != nil {
		return UserSummary{}, err
	}
	now := r.now()
	u := storage.User{ID: uuid.NewString(), ZoneID: r.zone(spec.ZoneID), Origin: spec.Origin, UserName: spec.Name,
		Email: spec.Email, GivenName: spec.GivenName, FamilyName: spec.FamilyName, Attributes: spec.Attributes,
		PasswordHash: hash, CreatedAt: now, UpdatedAt: now}
	if u.Attributes == nil {
		u.Attributes = map[string][]string{}
	}
	err = r.update(ctx, func(tx storage.Tx) error {
		err := tx.CreateUser(ctx, u)
		if errors.Is(err, storage.ErrAlreadyExists) {
			return opErr(ErrConflict, "user %s (origin %s) already exists", spec.Name, spec.Origin)
		}
		return err
	})
	if err != nil {
		return UserSummary{}, err
	}
	r.cfg.Log.Debug("user created", "user", u.ID, "zone", u.ZoneID, "origin", u.Origin)
	return summarize(u), nil
}

// findUser reads a user by name and origin ("" is DefaultOrigin).
func findUser(ctx context.Context, rd storage.Reader, zoneID, origin, name string) (storage.User, error) {
	if origin == "" {
		origin = DefaultOrigin
	}
	u, err := rd.FindUser(ctx, zoneID, origin, name)
	if errors.Is(err, storage.ErrNotFound) {
		return u, opErr(ErrNotFound, "user %s (origin %s) not found", name, origin)
	}
	return u, err
}

// SetPassword replaces a user's password.
func (r *Registry) SetPassword(ctx context.Context, zoneID, origin, name, password string) error {
	if p := passwordProblem(password); p != "" {
		return opErr(ErrInvalid, "%s", p)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), PasswordHashCost)
	if err != nil {
		return err
	}
	var userID string
	err = r.update(ctx, func(tx storage.Tx) error {
		u, err := findUser(ctx, tx, r.zone(zoneID), origin, name)
		if err != nil {
			return err
		}
		u.PasswordHash, u.UpdatedAt = hash, r.now()
		userID = u.ID
		return tx.UpdateUser(ctx, u)
	})
	if err != nil {
		return err
	}
	// A new password ends what the old one started: the user's refresh
	// tokens and login sessions, and a lockout.
	return errors.Join(r.store.DeleteRefreshTokens(ctx, userID), r.store.DeleteLoginSessions(ctx, userID), r.store.DeleteLoginFailures(ctx, userID))
}

// DeleteUser deletes a user, its role collection assignments, refresh
// tokens and login sessions.
func (r *Registry) DeleteUser(ctx context.Context, zoneID, origin, name string) error {
	var userID string
	err := r.update(ctx, func(tx storage.Tx) error {
		u, err := findUser(ctx, tx, r.zone(zoneID), origin, name)
		if err != nil {
			return err
		}
		userID = u.ID
		return tx.DeleteUser(ctx, u.ID)
	})
	if err != nil {
		return err
	}
	return errors.Join(r.store.DeleteRefreshTokens(ctx, userID), r.store.DeleteLoginSessions(ctx, userID), r.store.DeleteLoginFailures(ctx, userID))
}

// ListUsers lists a zone's users.
func (r *Registry) ListUsers(ctx context.Context, zoneID string) ([]UserSummary, error) {
	users, err := r.store.ListUsers(ctx, r.zone(zoneID))
	if err != nil {
		return nil, err
	}
	out := make([]UserSummary, 0, len(users))
	for _, u := range users {
		out = append(out, summarize(u))
	}
	return out, nil
}

// RoleCollectionSpec describes a role collection an operator makes: its
// roles are "<application>.<role template>", the application named by its
// runtime name (bookshop!t1) or its xsappname (bookshop).
type RoleCollectionSpec struct {
	ZoneID      string   `json:"-"`
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	Roles       []string `json:"roles"`
}

// CreateRoleCollection creates an operator's role collection; every role
// must be a role template of an instance in the zone.
func (r *Registry) CreateRoleCollection(ctx context.Context, spec RoleCollectionSpec) (storage.RoleCollection, error) {
	var problems []string
	if p := textProblem("the role collection name", spec.Name, maxCollectionLen); p != "" {
		problems = append(problems, p)
	}
	if utf8.RuneCountInString(spec.Description) > maxDescription || strings.ContainsFunc(spec.Description, unicode.IsControl) {
		problems = append(problems, fmt.Sprintf("the description must be at most %d characters without control characters", maxDescription))
	}
	if len(problems) > 0 {
		return storage.RoleCollection{}, opErr(ErrInvalid, "%s", strings.Join(problems, "; "))
	}
	rc := storage.RoleCollection{ZoneID: r.zone(spec.ZoneID), Name: spec.Name, Description: spec.Description, Roles: []string{}}
	err := r.update(ctx, func(tx storage.Tx) error {
		zone, err := tx.GetZone(ctx, rc.ZoneID)
		if err != nil {
			return err
		}
		apps, err := zoneApps(ctx, tx, zone.ID)
		if err != nil {
			return err
		}
		for _, role := range spec.Roles {
			ref, err := resolveRole(role, zone, apps)
			if err != nil {
				return err
			}
			if !slices.Contains(rc.Roles, ref.String()) {
				rc.Roles = append(rc.Roles, ref.String())
			}
		}
		err = tx.CreateRoleCollection(ctx, rc)
		if errors.Is(err, storage.ErrAlreadyExists) {
			return opErr(ErrConflict, "role collection %s already exists", spec.Name)
		}
		return err
	})
	return rc, err
}

// zoneApps returns the resolved apps of a zone's instances by runtime name.
func zoneApps(ctx context.Context, rd storage.Reader, zoneID string) (map[string]*scopes.App, error) {
	ins, err := rd.ListInstances(ctx)
	if err != nil {
		return nil, err
	}
	apps := map[string]*scopes.App{}
	for _, in := range ins {
		if in.ZoneID != zoneID {
			continue
		}
		app, err := appOf(in)
		if err != nil {
			return nil, err
		}
		apps[app.RuntimeName] = app
	}
	return apps, nil
}

// resolveRole turns "<application>.<template>" into a role of an app of
// the zone.
func resolveRole(role string, zone storage.Zone, apps map[string]*scopes.App) (scopes.RoleRef, error) {
	ref, ok := scopes.ParseRoleRef(role)
	if !ok {
		return ref, opErr(ErrInvalid, "role %q must be <application>.<role template>, e.g. bookshop!t1.Viewer or bookshop.Viewer", role)
	}
	app := apps[ref.App]
	if app == nil {
		for _, plan := range []string{scopes.PlanApplication, scopes.PlanBroker} {
			if a := apps[scopes.RuntimeName(ref.App, plan, zone.Index)]; a != nil {
				app = a
				break
			}
		}
	}
	if app == nil {
		return ref, opErr(ErrInvalid, "role %q: no application %s in this subaccount", role, ref.App)
	}
	ref.App = app.RuntimeName
	if _, ok := app.RoleTemplate(ref.Template); !ok {
		names := make([]string, 0, len(app.RoleTemplates))
		for _, t := range app.RoleTemplates {
			names = append(names, t.Name)
		}
		have := "none"
		if len(names) > 0 {
			have = strings.Join(names, ", ")
		}
		return ref, opErr(ErrInvalid, "role %q: application %s has no role template %q (it has %s)", role, app.RuntimeName, ref.Template, have)
	}
	return ref, nil
}

// DeleteRoleCollection deletes an operator's role collection and its
// assignments; one an instance's descriptor defines goes with the
// instance or its descriptor.
func (r *Registry) DeleteRoleCollection(ctx context.Context, zoneID, name string) error {
	return r.update(ctx, func(tx storage.Tx) error {
		rc, err := tx.GetRoleCollection(ctx, r.zone(zoneID), name)
		if errors.Is(err, storage.ErrNotFound) {
			return opErr(ErrNotFound, "role collection %s not found", name)
		}
		if err != nil {
			return err
		}
		if rc.Owner != "" {
			return opErr(ErrInvalid, "role collection %s is defined by the xs-security.json of service instance %s; remove it there", name, rc.Owner)
		}
		return tx.DeleteRoleCollection(ctx, rc.ZoneID, name)
	})
}

// ListRoleCollections lists a zone's role collections.
func (r *Registry) ListRoleCollections(ctx context.Context, zoneID string) ([]storage.RoleCollection, error) {
	return r.store.ListRoleCollections(ctx, r.zone(zoneID))
}

// AssignRoleCollection assigns a role collection to a user of its zone.
func (r *Registry) AssignRoleCollection(ctx context.Context, zoneID, collection, origin, userName string) error {
	return r.assignment(ctx, zoneID, collection, origin, userName, true)
}

// UnassignRoleCollection takes a role collection from a user.
func (r *Registry) UnassignRoleCollection(ctx context.Context, zoneID, collection, origin, userName string) error {
	return r.assignment(ctx, zoneID, collection, origin, userName, false)
}

func (r *Registry) assignment(ctx context.Context, zoneID, collection, origin, userName string, assign bool) error {
	return r.update(ctx, func(tx storage.Tx) error {
		u, err := findUser(ctx, tx, r.zone(zoneID), origin, userName)
		if err != nil {
			return err
		}
		if _, err := tx.GetRoleCollection(ctx, u.ZoneID, collection); errors.Is(err, storage.ErrNotFound) {
			return opErr(ErrNotFound, "role collection %s not found", collection)
		} else if err != nil {
			return err
		}
		if assign {
			return tx.AssignRoleCollection(ctx, u.ID, collection)
		}
		err = tx.UnassignRoleCollection(ctx, u.ID, collection)
		if errors.Is(err, storage.ErrNotFound) {
			return opErr(ErrNotFound, "role collection %s is not assigned to user %s", collection, userName)
		}
		return err
	})
}

// syncRoleCollections makes the zone's role collections that an
// instance's descriptor defines what the descriptor says (defs; nil when
// the instance is deleted), inside the instance's transaction: new ones
// are created, changed ones keep their assignments, ones it no longer
// defines are deleted. A name an operator or another instance already
// uses is a conflict.
func syncRoleCollections(ctx context.Context, tx storage.Tx, zoneID, instanceID string, defs []scopes.RoleCollectionDef) error {
	existing, err := tx.ListRoleCollections(ctx, zoneID)
	if err != nil {
		return err
	}
	byName := map[string]storage.RoleCollection{}
	for _, rc := range existing {
		byName[rc.Name] = rc
	}
	wanted := map[string]bool{}
	for _, d := range defs {
		wanted[d.Name] = true
		rc := storage.RoleCollection{ZoneID: zoneID, Name: d.Name, Description: d.Description, Roles: []string{}, Owner: instanceID}
		for _, role := range d.Roles {
			rc.Roles = append(rc.Roles, role.String())
		}
		old, ok := byName[d.Name]
		switch {
		case !ok:
			err = tx.CreateRoleCollection(ctx, rc)
		case old.Owner != instanceID:
			return opErr(ErrConflict, "role-collections: a role collection named %q already exists in this subaccount", d.Name)
		default:
			err = tx.UpdateRoleCollection(ctx, rc)
		}
		if err != nil {
			return err
		}
	}
	for _, rc := range existing {
		if rc.Owner == instanceID && !wanted[rc.Name] {
			if err := tx.DeleteRoleCollection(ctx, zoneID, rc.Name); err != nil {
				return err
			}
		}
	}
	return nil
}
