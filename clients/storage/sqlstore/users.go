package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/openxsuaa/xsuaa/clients/storage"
)

// Users, role collections and their assignments (migration 5).

const userCols = `id, zone_id, origin, user_name, email, given_name, family_name, attributes, password_hash, created_at, updated_at, mac`

func userTexts(u storage.User) error {
	if err := checkTexts("user id", u.ID, "zone id", u.ZoneID, "origin", u.Origin, "user name", u.UserName,
		"email", u.Email, "given name", u.GivenName, "family name", u.FamilyName); err != nil {
		return err
	}
	for k, vs := range u.Attributes {
		if err := storage.CheckText("attribute name", k); err != nil {
			return err
		}
		for _, v := range vs {
			if err := storage.CheckText("attribute value", v); err != nil {
				return err
			}
		}
	}
	return nil
}

func userArgs(u storage.User) ([]any, error) {
	attrs, err := json.Marshal(u.Attributes)
	if err != nil {
		return nil, err
	}
	return []any{u.ID, u.ZoneID, u.Origin, u.UserName, u.Email, u.GivenName, u.FamilyName, attrs, nonNil(u.PasswordHash),
		u.CreatedAt.UnixMicro(), u.UpdatedAt.UnixMicro()}, nil
}

func scanUser(s interface{ Scan(...any) error }) (storage.User, error) {
	var u storage.User
	var attrs, hash []byte
	var c, m int64
	if err := s.Scan(&u.ID, &u.ZoneID, &u.Origin, &u.UserName, &u.Email, &u.GivenName, &u.FamilyName, &attrs, &hash, &c, &m, &u.MAC); err != nil {
		return u, err
	}
	if err := json.Unmarshal(attrs, &u.Attributes); err != nil {
		return u, fmt.Errorf("user %s: attributes: %w", u.ID, err)
	}
	u.PasswordHash, u.CreatedAt, u.UpdatedAt = hash, fromMicros(c), fromMicros(m)
	return u, nil
}

// withRoleCollections fills the users' role collections with one query
// per call (all users of the list at once).
func (r reader) withRoleCollections(ctx context.Context, users []storage.User, zoneID string) ([]storage.User, error) {
	if len(users) == 0 {
		return users, nil
	}
	q, args := `SELECT user_id, collection FROM user_role_collections ORDER BY collection`, []any(nil)
	switch {
	case len(users) == 1:
		q, args = `SELECT user_id, collection FROM user_role_collections WHERE user_id = $1 ORDER BY collection`, []any{users[0].ID}
	case zoneID != "":
		q, args = `SELECT user_id, collection FROM user_role_collections WHERE zone_id = $1 ORDER BY collection`, []any{zoneID}
	}
	type pair struct{ user, collection string }
	pairs, err := list(ctx, r.q, func(rs rows) (pair, error) {
		var p pair
		err := rs.Scan(&p.user, &p.collection)
		return p, err
	}, q, args...)
	if err != nil {
		return nil, err
	}
	byUser := map[string][]string{}
	for _, p := range pairs {
		byUser[p.user] = append(byUser[p.user], p.collection)
	}
	for i := range users {
		users[i].RoleCollections = byUser[users[i].ID]
	}
	return users, nil
}

func (r reader) GetUser(ctx context.Context, id string) (storage.User, error) {
	if !storable(id) {
		return storage.User{}, fmt.Errorf("user %q: %w", id, storage.ErrNotFound)
	}
	return r.oneUser(ctx, `SELECT `+userCols+` FROM users WHERE id = $1`, "user "+id, id)
}

func (r reader) FindUser(ctx context.Context, zoneID, origin, userName string) (storage.User, error) {
	if !storable(zoneID, origin, userName) {
		return storage.User{}, fmt.Errorf("user %q: %w", userName, storage.ErrNotFound)
	}
	return r.oneUser(ctx, `SELECT `+userCols+` FROM users WHERE zone_id = $1 AND origin = $2 AND user_name = $3`,
		fmt.Sprintf("user %s (origin %s)", userName, origin), zoneID, origin, userName)
}

func (r reader) oneUser(ctx context.Context, q, what string, args ...any) (storage.User, error) {
	u, err := scanUser(r.q.queryRow(ctx, q, args...))
	if errors.Is(err, errNoRows) || (err == nil && !r.macs.userOK(u)) {
		return storage.User{}, fmt.Errorf("%s: %w", what, storage.ErrNotFound)
	}
	if err != nil {
		return u, err
	}
	us, err := r.withRoleCollections(ctx, []storage.User{u}, "")
	if err != nil {
		return u, err
	}
	return us[0], nil
}

func (r reader) ListUsers(ctx context.Context, zoneID string) ([]storage.User, error) {
	if !storable(zoneID) {
		return nil, nil
	}
	q, args := `SELECT `+userCols+` FROM users ORDER BY zone_id, origin, user_name`, []any(nil)
	if zoneID != "" {
		q, args = `SELECT `+userCols+` FROM users WHERE zone_id = $1 ORDER BY origin, user_name`, []any{zoneID}
	}
	users, err := list(ctx, r.q, func(rs rows) (storage.User, error) {
		u, err := scanUser(rs)
		if err == nil && !r.macs.userOK(u) {
			return u, errForgedRow
		}
		return u, err
	}, q, args...)
	if err != nil {
		return nil, err
	}
	return r.withRoleCollections(ctx, users, zoneID)
}

const roleCollectionCols = `zone_id, name, description, roles, owner`

func scanRoleCollection(s interface{ Scan(...any) error }) (storage.RoleCollection, error) {
	var rc storage.RoleCollection
	var roles []byte
	if err := s.Scan(&rc.ZoneID, &rc.Name, &rc.Description, &roles, &rc.Owner); err != nil {
		return rc, err
	}
	if err := json.Unmarshal(roles, &rc.Roles); err != nil {
		return rc, fmt.Errorf("role collection %s: roles: %w", rc.Name, err)
	}
	return rc, nil
}

func (r reader) GetRoleCollection(ctx context.Context, zoneID, name string) (storage.RoleCollection, error) {
	if !storable(zoneID, name) {
		return storage.RoleCollection{}, fmt.Errorf("role collection %q: %w", name, storage.ErrNotFound)
	}
	rc, err := scanRoleCollection(r.q.queryRow(ctx, `SELECT `+roleCollectionCols+` FROM role_collections WHERE zone_id = $1 AND name = $2`, zoneID, name))
	if errors.Is(err, errNoRows) {
		return rc, fmt.Errorf("role collection %s: %w", name, storage.ErrNotFound)
	}
	return rc, err
}

func (r reader) ListRoleCollections(ctx context.Context, zoneID string) ([]storage.RoleCollection, error) {
	if !storable(zoneID) {
		return nil, nil
	}
	scan := func(rs rows) (storage.RoleCollection, error) { return scanRoleCollection(rs) }
	if zoneID == "" {
		return list(ctx, r.q, scan, `SELECT `+roleCollectionCols+` FROM role_collections ORDER BY zone_id, name`)
	}
	return list(ctx, r.q, scan, `SELECT `+roleCollectionCols+` FROM role_collections WHERE zone_id = $1 ORDER BY name`, zoneID)
}

func (w *writeTx) CreateUser(ctx context.Context, u storage.User) error {
	if err := userTexts(u); err != nil {
		return err
	}
	zone, err := w.exists(ctx, `SELECT 1 FROM zones WHERE id = $1`, u.ZoneID)
	if err != nil {
		return err
	}
	if !zone {
		return fmt.Errorf("zone %s: %w", u.ZoneID, storage.ErrNotFound)
	}
	taken, err := w.exists(ctx, `SELECT 1 FROM users WHERE id = $1 OR (zone_id = $2 AND origin = $3 AND user_name = $4)`, u.ID, u.ZoneID, u.Origin, u.UserName)
	if err != nil {
		return err
	}
	if taken {
		return fmt.Errorf("user %s (origin %s): %w", u.UserName, u.Origin, storage.ErrAlreadyExists)
	}
	args, err := userArgs(u)
	if err != nil {
		return err
	}
	if _, err := w.q.exec(ctx, `INSERT INTO users (`+userCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`, append(args, w.macs.sealUser(u))...); err != nil {
		return err
	}
	w.touch(storage.ChangeUser, u.ID)
	return nil
}

func (w *writeTx) UpdateUser(ctx context.Context, u storage.User) error {
	if err := userTexts(u); err != nil {
		return err
	}
	var zoneID string
	err := w.q.queryRow(ctx, `SELECT zone_id FROM users WHERE id = $1`, u.ID).Scan(&zoneID)
	if errors.Is(err, errNoRows) {
		return fmt.Errorf("user %s: %w", u.ID, storage.ErrNotFound)
	}
	if err != nil {
		return err
	}
	taken, err := w.exists(ctx, `SELECT 1 FROM users WHERE zone_id = $1 AND origin = $2 AND user_name = $3 AND id <> $4`, zoneID, u.Origin, u.UserName, u.ID)
	if err != nil {
		return err
	}
	if taken {
		return fmt.Errorf("user %s (origin %s): %w", u.UserName, u.Origin, storage.ErrAlreadyExists)
	}
	u.ZoneID = zoneID
	args, err := userArgs(u)
	if err != nil {
		return err
	}
	if _, err := w.q.exec(ctx, `UPDATE users SET origin = $1, user_name = $2, email = $3, given_name = $4, family_name = $5,
		attributes = $6, password_hash = $7, created_at = $8, updated_at = $9, mac = $10 WHERE id = $11`, append(args[2:], w.macs.sealUser(u), u.ID)...); err != nil {
		return err
	}
	w.touch(storage.ChangeUser, u.ID)
	return nil
}

func (w *writeTx) DeleteUser(ctx context.Context, id string) error {
	if !storable(id) {
		return fmt.Errorf("user %q: %w", id, storage.ErrNotFound)
	}
	if _, err := w.q.exec(ctx, `DELETE FROM user_role_collections WHERE user_id = $1`, id); err != nil {
		return err
	}
	n, err := w.q.exec(ctx, `DELETE FROM users WHERE id = $1`, id)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("user %s: %w", id, storage.ErrNotFound)
	}
	w.touch(storage.ChangeUser, id)
	return nil
}

func roleCollectionArgs(rc storage.RoleCollection) ([]any, error) {
	if err := checkTexts("zone id", rc.ZoneID, "role collection name", rc.Name, "description", rc.Description, "owner", rc.Owner); err != nil {
		return nil, err
	}
	for _, role := range rc.Roles {
		if err := storage.CheckText("role", role); err != nil {
			return nil, err
		}
	}
	roles := rc.Roles
	if roles == nil {
		roles = []string{}
	}
	b, err := json.Marshal(roles)
	if err != nil {
		return nil, err
	}
	return []any{rc.ZoneID, rc.Name, rc.Description, b, rc.Owner}, nil
}

func (w *writeTx) CreateRoleCollection(ctx context.Context, rc storage.RoleCollection) error {
	args, err := roleCollectionArgs(rc)
	if err != nil {
		return err
	}
	zone, err := w.exists(ctx, `SELECT 1 FROM zones WHERE id = $1`, rc.ZoneID)
	if err != nil {
		return err
	}
	if !zone {
		return fmt.Errorf("zone %s: %w", rc.ZoneID, storage.ErrNotFound)
	}
	taken, err := w.exists(ctx, `SELECT 1 FROM role_collections WHERE zone_id = $1 AND name = $2`, rc.ZoneID, rc.Name)
	if err != nil {
		return err
	}
	if taken {
		return fmt.Errorf("role collection %s: %w", rc.Name, storage.ErrAlreadyExists)
	}
	if _, err := w.q.exec(ctx, `INSERT INTO role_collections (`+roleCollectionCols+`) VALUES ($1, $2, $3, $4, $5)`, args...); err != nil {
		return err
	}
	w.touch(storage.ChangeRoleCollection, storage.RoleCollectionRef(rc.ZoneID, rc.Name))
	return nil
}

func (w *writeTx) UpdateRoleCollection(ctx context.Context, rc storage.RoleCollection) error {
	args, err := roleCollectionArgs(rc)
	if err != nil {
		return err
	}
	n, err := w.q.exec(ctx, `UPDATE role_collections SET description = $1, roles = $2, owner = $3 WHERE zone_id = $4 AND name = $5`,
		args[2], args[3], args[4], rc.ZoneID, rc.Name)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("role collection %s: %w", rc.Name, storage.ErrNotFound)
	}
	w.touch(storage.ChangeRoleCollection, storage.RoleCollectionRef(rc.ZoneID, rc.Name))
	return nil
}

func (w *writeTx) DeleteRoleCollection(ctx context.Context, zoneID, name string) error {
	if !storable(zoneID, name) {
		return fmt.Errorf("role collection %q: %w", name, storage.ErrNotFound)
	}
	assigned, err := list(ctx, w.q, func(rs rows) (string, error) {
		var id string
		err := rs.Scan(&id)
		return id, err
	}, `SELECT user_id FROM user_role_collections WHERE zone_id = $1 AND collection = $2`, zoneID, name)
	if err != nil {
		return err
	}
	if _, err := w.q.exec(ctx, `DELETE FROM user_role_collections WHERE zone_id = $1 AND collection = $2`, zoneID, name); err != nil {
		return err
	}
	n, err := w.q.exec(ctx, `DELETE FROM role_collections WHERE zone_id = $1 AND name = $2`, zoneID, name)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("role collection %s: %w", name, storage.ErrNotFound)
	}
	w.touch(storage.ChangeRoleCollection, storage.RoleCollectionRef(zoneID, name))
	for _, id := range assigned {
		w.touch(storage.ChangeUser, id)
	}
	return nil
}

func (w *writeTx) AssignRoleCollection(ctx context.Context, userID, name string) error {
	if !storable(userID, name) {
		return fmt.Errorf("user %q or role collection %q: %w", userID, name, storage.ErrNotFound)
	}
	var zoneID string
	err := w.q.queryRow(ctx, `SELECT zone_id FROM users WHERE id = $1`, userID).Scan(&zoneID)
	if errors.Is(err, errNoRows) {
		return fmt.Errorf("user %s: %w", userID, storage.ErrNotFound)
	}
	if err != nil {
		return err
	}
	exists, err := w.exists(ctx, `SELECT 1 FROM role_collections WHERE zone_id = $1 AND name = $2`, zoneID, name)
	if err != nil {
		return err
	}
	if !exists {
		return fmt.Errorf("role collection %s: %w", name, storage.ErrNotFound)
	}
	assigned, err := w.exists(ctx, `SELECT 1 FROM user_role_collections WHERE user_id = $1 AND collection = $2`, userID, name)
	if err != nil || assigned {
		return err
	}
	if _, err := w.q.exec(ctx, `INSERT INTO user_role_collections (user_id, zone_id, collection) VALUES ($1, $2, $3)`, userID, zoneID, name); err != nil {
		return err
	}
	w.touch(storage.ChangeUser, userID)
	return nil
}

func (w *writeTx) UnassignRoleCollection(ctx context.Context, userID, name string) error {
	if !storable(userID, name) {
		return fmt.Errorf("role collection %q of user %q: %w", name, userID, storage.ErrNotFound)
	}
	n, err := w.q.exec(ctx, `DELETE FROM user_role_collections WHERE user_id = $1 AND collection = $2`, userID, name)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("role collection %s is not assigned to user %s: %w", name, userID, storage.ErrNotFound)
	}
	w.touch(storage.ChangeUser, userID)
	return nil
}
