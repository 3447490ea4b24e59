package clients

import (
	"context"
	"errors"
	"strings"

	"github.com/openxsuaa/xsuaa/clients/storage"
	"github.com/openxsuaa/xsuaa/scopes"
)

// The index also holds the users and role collections of every zone, for
// the login flows: built from their rows at start and kept current from
// the change feed like the clients (ChangeUser, ChangeRoleCollection), so
// that a user's scopes in a token reflect every assignment acknowledged
// before the request started, on any replica.

type userKey struct{ zone, origin, name string }

type collectionKey struct{ zone, name string }

// userRows is what a snapshot read of users and collections found: all
// of them (reload) or the changed ones (catchUp; nil values are deleted).
type userRows struct {
	users       map[string]*storage.User
	collections map[collectionKey]*storage.RoleCollection
}

// loadAllUsers reads every user and role collection.
func loadAllUsers(ctx context.Context, s storage.Reader) (*userRows, error) {
	users, err := s.ListUsers(ctx, "")
	if err != nil {
		return nil, err
	}
	rcs, err := s.ListRoleCollections(ctx, "")
	if err != nil {
		return nil, err
	}
	rows := &userRows{users: make(map[string]*storage.User, len(users)), collections: make(map[collectionKey]*storage.RoleCollection, len(rcs))}
	for i := range users {
		rows.users[users[i].ID] = &users[i]
	}
	for i := range rcs {
		rows.collections[collectionKey{rcs[i].ZoneID, rcs[i].Name}] = &rcs[i]
	}
	return rows, nil
}

// loadChangedUsers reads the users and collections the changes name.
func loadChangedUsers(ctx context.Context, s storage.Reader, changes []storage.Change) (*userRows, error) {
	rows := &userRows{users: map[string]*storage.User{}, collections: map[collectionKey]*storage.RoleCollection{}}
	for _, c := range changes {
		switch c.Kind {
		case storage.ChangeUser:
			if _, seen := rows.users[c.Ref]; seen {
				continue
			}
			u, err := s.GetUser(ctx, c.Ref)
			switch {
			case errors.Is(err, storage.ErrNotFound):
				rows.users[c.Ref] = nil
			case err != nil:
				return nil, err
			default:
				rows.users[c.Ref] = &u
			}
		case storage.ChangeRoleCollection:
			zone, name, _ := strings.Cut(c.Ref, "/")
			k := collectionKey{zone, name}
			if _, seen := rows.collections[k]; seen {
				continue
			}
			rc, err := s.GetRoleCollection(ctx, zone, name)
			switch {
			case errors.Is(err, storage.ErrNotFound):
				rows.collections[k] = nil
			case err != nil:
				return nil, err
			default:
				rows.collections[k] = &rc
			}
		}
	}
	return rows, nil
}

// applyUsers puts the rows into the index (replacing everything when all
// is set). Callers hold mu.
func (x *Index) applyUsers(rows *userRows, all bool) {
	if all || x.users == nil {
		x.users = map[string]*storage.User{}
		x.userNames = map[userKey]string{}
		x.collections = map[collectionKey]*storage.RoleCollection{}
	}
	for id, u := range rows.users {
		if old := x.users[id]; old != nil {
			delete(x.userNames, userKey{old.ZoneID, old.Origin, old.UserName})
			delete(x.users, id)
		}
		if u != nil {
			x.users[id] = u
			x.userNames[userKey{u.ZoneID, u.Origin, u.UserName}] = id
		}
	}
	for k, rc := range rows.collections {
		if rc == nil {
			delete(x.collections, k)
		} else {
			x.collections[k] = rc
		}
	}
}

// FindUser returns the user with a user name and origin in a zone.
func (x *Index) FindUser(zoneID, origin, name string) (*storage.User, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	u := x.users[x.userNames[userKey{zoneID, origin, name}]]
	return u, u != nil
}

// User returns the user with the given id.
func (x *Index) User(id string) (*storage.User, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	u := x.users[id]
	return u, u != nil
}

// UserClientScopes returns the scopes client c may carry for users (see
// scopes.UserClientScopes).
func (x *Index) UserClientScopes(c *Client) []string {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.userClientScopes(c)
}

func (x *Index) userClientScopes(c *Client) []string {
	var granted []scopes.Grant
	for _, gs := range x.userGrants[c.App.RuntimeName] {
		granted = append(granted, gs...)
	}
	return scopes.UserClientScopes(c.App, granted)
}

// GrantUser computes what a token for user u issued to client c carries:
// the scopes of u's roles that c may carry for users (plus openid), the
// attributes of those roles, and the names of u's role collections.
func (x *Index) GrantUser(c *Client, u *storage.User) (scopes.UserGrant, []string) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	var roles []scopes.UserRole
	for _, name := range u.RoleCollections {
		rc := x.collections[collectionKey{u.ZoneID, name}]
		if rc == nil {
			continue
		}
		for _, r := range rc.Roles {
			ref, ok := scopes.ParseRoleRef(r)
			if !ok {
				continue
			}
			role := scopes.UserRole{Ref: ref}
			// The role's app must be one of the user's zone: its own or
			// a shared one the zone subscribed to.
			if owner := x.byRuntime[ref.App]; owner != nil && x.clients[clientKey{u.ZoneID, owner.ID}] != nil {
				role.Template, _ = owner.App.RoleTemplate(ref.Template)
			}
			roles = append(roles, role)
		}
	}
	return scopes.GrantUser(x.userClientScopes(c), roles, u.Attributes), u.RoleCollections
}
