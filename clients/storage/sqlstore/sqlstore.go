// Package sqlstore is the SQL backend of package storage, for two
// databases: SQLite (embedded, one file, the zero-set-up default) and
// PostgreSQL (several replicas). The SQL is written once, with $n
// placeholders numbered in order of first appearance (go-sqlite3 binds
// them by that order, PostgreSQL by number, so the two agree); timestamps
// are integer microseconds and booleans integers in both, so the same
// statements scan the same Go values. What differs — drivers, how a
// writer takes the write lock, how migrations are serialised, unique and
// foreign-key errors, notifications — is in sqlite.go and postgres.go.
package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/openxsuaa/xsuaa/clients/storage"
	"github.com/openxsuaa/xsuaa/keys"
)

// dialect names the database a Store talks to.
type dialect int

const (
	sqlite dialect = iota + 1
	postgres
)

func (d dialect) String() string {
	if d == postgres {
		return "postgres"
	}
	return "sqlite"
}

// backend is what a dialect provides.
type backend interface {
	// pool runs autocommit statements (reads, outside transactions).
	pool() querier
	// direct runs autocommit writes outside the change feed (the login
	// flows' codes, sessions, refresh tokens and failure counters).
	direct() querier
	// beginWrite starts a transaction that holds the database's write
	// lock until it ends: every other beginWrite, in any process, waits.
	beginWrite(ctx context.Context) (tx, error)
	// beginSnapshot starts a read-only transaction on one committed state.
	beginSnapshot(ctx context.Context) (tx, error)
	// notify tells the other processes, from inside the committing write
	// transaction, that revision rev is being committed.
	notify(ctx context.Context, t tx, rev int64) error
	notifications() <-chan struct{}
	// revision reads the head revision outside a transaction: the
	// token path's one read (per batch of concurrent requests), so it
	// must not parse its SQL each time.
	revision(ctx context.Context) (int64, error)
	close() error
}

// keepChanges is how many revisions the change feed keeps. A replica
// that falls further behind (it was stopped, or cut off from the
// database) reloads everything instead of following the feed.
const keepChanges = 10000

// Store is a storage.Store on SQLite or PostgreSQL.
type Store struct {
	reader
	d   dialect
	b   backend
	now func() time.Time
	// refreshTokens group-commits refresh token rows (batch.go).
	refreshTokens *refreshInserts
	// macs seals and checks the credential rows (rowmac.go).
	macs *rowMAC
}

var _ storage.Store = (*Store)(nil)

func newStore(d dialect, b backend) *Store {
	macs := &rowMAC{}
	s := &Store{reader: reader{q: b.pool(), d: d, macs: macs}, d: d, b: b, now: time.Now, macs: macs}
	s.refreshTokens = &refreshInserts{exec: func(ctx context.Context, sql string, args ...any) error {
		_, err := b.direct().exec(ctx, sql, args...)
		return err
	}}
	return s
}

// Dialect returns "sqlite" or "postgres".
func (s *Store) Dialect() string { return s.d.String() }

// Revision implements storage.Reader with the backend's prepared read of
// the head revision.
func (s *Store) Revision(ctx context.Context) (int64, error) { return s.b.revision(ctx) }

// revisionSQL reads the head revision.
const revisionSQL = `SELECT n FROM revision WHERE id = 1`

// Close closes the database connections.
func (s *Store) Close() error { return s.b.close() }

// Notifications implements storage.Store.
func (s *Store) Notifications() <-chan struct{} { return s.b.notifications() }

// Update implements storage.Store.
func (s *Store) Update(ctx context.Context, fn func(storage.Tx) error) (int64, error) {
	t, err := s.b.beginWrite(ctx)
	if err != nil {
		return 0, fmt.Errorf("begin write transaction: %w", err)
	}
	w := &writeTx{reader: reader{q: t, d: s.d, macs: s.macs}, changed: map[storage.Change]bool{}}
	head, err := w.Revision(ctx)
	if err != nil {
		t.rollback(ctx)
		return 0, err
	}
	if err := fn(w); err != nil {
		t.rollback(ctx)
		return 0, err
	}
	if len(w.changed) == 0 {
		t.rollback(ctx)
		return head, nil
	}
	rev := head + 1
	if _, err := t.exec(ctx, `UPDATE revision SET n = $1 WHERE id = 1`, rev); err != nil {
		t.rollback(ctx)
		return 0, err
	}
	at := s.now().UnixMicro()
	for c := range w.changed {
		if _, err := t.exec(ctx, `INSERT INTO changes (rev, kind, ref, at) VALUES ($1, $2, $3, $4)`, rev, c.Kind, c.Ref, at); err != nil {
			t.rollback(ctx)
			return 0, err
		}
	}
	if rev%100 == 0 {
		if _, err := t.exec(ctx, `DELETE FROM changes WHERE rev <= $1`, rev-keepChanges); err != nil {
			t.rollback(ctx)
			return 0, err
		}
	}
	if err := s.b.notify(ctx, t, rev); err != nil {
		t.rollback(ctx)
		return 0, err
	}
	if err := t.commit(ctx); err != nil {
		return 0, fmt.Errorf("commit: %w", err)
	}
	return rev, nil
}

// Snapshot implements storage.Store.
func (s *Store) Snapshot(ctx context.Context, fn func(storage.Snap) error) (int64, error) {
	t, err := s.b.beginSnapshot(ctx)
	if err != nil {
		return 0, fmt.Errorf("begin snapshot: %w", err)
	}
	defer t.rollback(ctx)
	sn := snap{reader{q: t, d: s.d, macs: s.macs}}
	rev, err := sn.Revision(ctx)
	if err != nil {
		return 0, err
	}
	if err := fn(sn); err != nil {
		return 0, err
	}
	return rev, nil
}

// snap is a storage.Snap.
type snap struct{ reader }

func (s snap) Changes(ctx context.Context, after int64) ([]storage.Change, bool, error) {
	head, err := s.Revision(ctx)
	if err != nil {
		return nil, false, err
	}
	if head <= after {
		return nil, true, nil
	}
	rs, err := s.q.query(ctx, `SELECT rev, kind, ref FROM changes WHERE rev > $1 ORDER BY rev, kind, ref`, after)
	if err != nil {
		return nil, false, err
	}
	defer rs.Close()
	var out []storage.Change
	for rs.Next() {
		var c storage.Change
		if err := rs.Scan(&c.Rev, &c.Kind, &c.Ref); err != nil {
			return nil, false, err
		}
		out = append(out, c)
	}
	if err := rs.Err(); err != nil {
		return nil, false, err
	}
	// Revisions are consecutive and each records at least one change, and
	// pruning removes the oldest: the list is complete when it starts
	// right after the caller's revision.
	complete := len(out) > 0 && out[0].Rev == after+1
	return out, complete, nil
}

// writeTx is a storage.Tx: the write methods, and the set of what they
// changed, which Update turns into the revision's changes.
type writeTx struct {
	reader
	changed map[storage.Change]bool
}

var _ storage.Tx = (*writeTx)(nil)

func (w *writeTx) touch(kind, ref string) { w.changed[storage.Change{Kind: kind, Ref: ref}] = true }

// exists reports whether a query returns a row.
func (w *writeTx) exists(ctx context.Context, q string, args ...any) (bool, error) {
	var one int
	err := w.q.queryRow(ctx, q, args...).Scan(&one)
	if errors.Is(err, errNoRows) {
		return false, nil
	}
	return err == nil, err
}

// storable reports whether every value can be stored as text (see
// storage.CheckText). A lookup by a value that cannot be stored finds
// nothing, on either backend, without asking the database (PostgreSQL
// would answer an error, SQLite nothing).
func storable(values ...string) bool {
	for _, v := range values {
		if storage.CheckText("", v) != nil {
			return false
		}
	}
	return true
}

func checkTexts(fields ...string) error {
	for i := 0; i+1 < len(fields); i += 2 {
		if err := storage.CheckText(fields[i], fields[i+1]); err != nil {
			return err
		}
	}
	return nil
}

// The write methods check uniqueness and references with a query before
// they write: writers are serialised, so the check cannot be overtaken,
// and a transaction never runs into a constraint error (after which
// PostgreSQL would refuse its further statements, and SQLite not).

func (w *writeTx) CreateZone(ctx context.Context, z storage.Zone) error {
	if err := checkTexts("zone id", z.ID, "zone subdomain", z.Subdomain); err != nil {
		return err
	}
	taken, err := w.exists(ctx, `SELECT 1 FROM zones WHERE id = $1 OR idx = $2`, z.ID, z.Index)
	if err != nil {
		return err
	}
	if taken {
		return fmt.Errorf("zone %s (index %d): %w", z.ID, z.Index, storage.ErrAlreadyExists)
	}
	if _, err := w.q.exec(ctx, `INSERT INTO zones (id, subdomain, idx) VALUES ($1, $2, $3)`, z.ID, z.Subdomain, z.Index); err != nil {
		return err
	}
	w.touch(storage.ChangeZone, z.ID)
	return nil
}

func (w *writeTx) RenameZone(ctx context.Context, id, subdomain string) error {
	if err := checkTexts("zone id", id, "zone subdomain", subdomain); err != nil {
		return err
	}
	n, err := w.q.exec(ctx, `UPDATE zones SET subdomain = $1 WHERE id = $2`, subdomain, id)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("zone %s: %w", id, storage.ErrNotFound)
	}
	w.touch(storage.ChangeZone, id)
	return nil
}

func (w *writeTx) DeleteZone(ctx context.Context, id string) error {
	if !storable(id) {
		return fmt.Errorf("zone %q: %w", id, storage.ErrNotFound)
	}
	n, err := w.q.exec(ctx, `DELETE FROM zones WHERE id = $1`, id)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("zone %s: %w", id, storage.ErrNotFound)
	}
	w.touch(storage.ChangeZone, id)
	return nil
}

func instanceTexts(in storage.Instance) error {
	return checkTexts("instance id", in.ID, "zone id", in.ZoneID, "instance name", in.Name, "service_id", in.ServiceID,
		"plan_id", in.PlanID, "organization_guid", in.OrgGUID, "space_guid", in.SpaceGUID, "runtime name", in.RuntimeName)
}

func (w *writeTx) CreateInstance(ctx context.Context, in storage.Instance) error {
	if err := instanceTexts(in); err != nil {
		return err
	}
	zone, err := w.exists(ctx, `SELECT 1 FROM zones WHERE id = $1`, in.ZoneID)
	if err != nil {
		return err
	}
	if !zone {
		return fmt.Errorf("zone %s: %w", in.ZoneID, storage.ErrNotFound)
	}
	taken, err := w.exists(ctx, `SELECT 1 FROM instances WHERE id = $1 OR (zone_id = $2 AND runtime_name = $3)`, in.ID, in.ZoneID, in.RuntimeName)
	if err != nil {
		return err
	}
	if taken {
		return fmt.Errorf("instance %s or runtime name %s: %w", in.ID, in.RuntimeName, storage.ErrAlreadyExists)
	}
	if _, err := w.q.exec(ctx, `INSERT INTO instances (`+instanceCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`, instanceArgs(in)...); err != nil {
		return err
	}
	w.touch(storage.ChangeInstance, in.ID)
	return nil
}

func (w *writeTx) UpdateInstance(ctx context.Context, in storage.Instance) error {
	if err := instanceTexts(in); err != nil {
		return err
	}
	taken, err := w.exists(ctx, `SELECT 1 FROM instances WHERE zone_id = $1 AND runtime_name = $2 AND id <> $3`, in.ZoneID, in.RuntimeName, in.ID)
	if err != nil {
		return err
	}
	if taken {
		return fmt.Errorf("runtime name %s: %w", in.RuntimeName, storage.ErrAlreadyExists)
	}
	n, err := w.q.exec(ctx, `UPDATE instances SET zone_id = $1, name = $2, service_id = $3, plan_id = $4, org_guid = $5, space_guid = $6,
		parameters = $7, context = $8, runtime_name = $9, app = $10, created_at = $11, updated_at = $12, sealed_secret = $13 WHERE id = $14`,
		append(instanceArgs(in)[1:], in.ID)...)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("instance %s: %w", in.ID, storage.ErrNotFound)
	}
	w.touch(storage.ChangeInstance, in.ID)
	return nil
}

func (w *writeTx) DeleteInstance(ctx context.Context, id string) error {
	if !storable(id) {
		return fmt.Errorf("instance %q: %w", id, storage.ErrNotFound)
	}
	if _, err := w.q.exec(ctx, `DELETE FROM bindings WHERE instance_id = $1`, id); err != nil {
		return err
	}
	subs, err := w.ListSubscriptions(ctx, id, "")
	if err != nil {
		return err
	}
	if _, err := w.q.exec(ctx, `DELETE FROM subscriptions WHERE instance_id = $1`, id); err != nil {
		return err
	}
	for _, s := range subs {
		w.touch(storage.ChangeSubscription, storage.SubscriptionRef(s.InstanceID, s.ZoneID))
	}
	n, err := w.q.exec(ctx, `DELETE FROM instances WHERE id = $1`, id)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("instance %s: %w", id, storage.ErrNotFound)
	}
	w.touch(storage.ChangeInstance, id)
	return nil
}

func (w *writeTx) CreateBinding(ctx context.Context, b storage.Binding, limit int) error {
	if err := checkTexts("binding id", b.ID, "instance id", b.InstanceID, "credential type", b.CredentialType, "secret id", b.SecretID,
		"app_guid", b.AppGUID, "binding name", b.Name, "certificate subject", b.CertSubject, "certificate issuer", b.CertIssuer, "certificate", b.CertPEM); err != nil {
		return err
	}
	inst, err := w.exists(ctx, `SELECT 1 FROM instances WHERE id = $1`, b.InstanceID)
	if err != nil {
		return err
	}
	if !inst {
		return fmt.Errorf("instance %s: %w", b.InstanceID, storage.ErrNotFound)
	}
	taken, err := w.exists(ctx, `SELECT 1 FROM bindings WHERE id = $1 OR secret_id = $2`, b.ID, b.SecretID)
	if err != nil {
		return err
	}
	if taken {
		return fmt.Errorf("binding %s: %w", b.ID, storage.ErrAlreadyExists)
	}
	var count int
	if err := w.q.queryRow(ctx, `SELECT COUNT(*) FROM bindings WHERE instance_id = $1`, b.InstanceID).Scan(&count); err != nil {
		return err
	}
	if count >= limit {
		return fmt.Errorf("instance %s has %d bindings: %w", b.InstanceID, count, storage.ErrLimit)
	}
	b.SecretHash, b.Parameters = nonNil(b.SecretHash), nonNil(b.Parameters)
	_, err = w.q.exec(ctx, `INSERT INTO bindings (`+bindingCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`,
		b.ID, b.InstanceID, b.CredentialType, b.SecretID, b.SecretHash, b.Parameters, b.AppGUID, b.CreatedAt.UnixMicro(),
		nonNil(b.CertFingerprint), b.CertSubject, b.CertIssuer, optionalTS(b.CertNotBefore), b.CertPEM, boolInt(b.CertPinned), b.Name, nonNil(b.Context), nonNil(b.SealedSecret),
		w.macs.sealBinding(b))
	if err != nil {
		return err
	}
	w.touch(storage.ChangeInstance, b.InstanceID)
	return nil
}

func (w *writeTx) DeleteBinding(ctx context.Context, id string) error {
	if !storable(id) {
		return fmt.Errorf("binding %q: %w", id, storage.ErrNotFound)
	}
	var instanceID string
	err := w.q.queryRow(ctx, `SELECT instance_id FROM bindings WHERE id = $1`, id).Scan(&instanceID)
	if errors.Is(err, errNoRows) {
		return fmt.Errorf("binding %s: %w", id, storage.ErrNotFound)
	}
	if err != nil {
		return err
	}
	if _, err := w.q.exec(ctx, `DELETE FROM bindings WHERE id = $1`, id); err != nil {
		return err
	}
	w.touch(storage.ChangeInstance, instanceID)
	return nil
}

func (w *writeTx) AdvanceCertNotBefore(ctx context.Context, id string, t time.Time) error {
	if !storable(id) {
		return nil
	}
	var instanceID string
	err := w.q.queryRow(ctx, `SELECT instance_id FROM bindings WHERE id = $1`, id).Scan(&instanceID)
	if errors.Is(err, errNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	n, err := w.q.exec(ctx, `UPDATE bindings SET cert_not_before = $1 WHERE id = $2 AND cert_not_before < $1`, t.UnixMicro(), id)
	if err != nil {
		return err
	}
	if n > 0 {
		w.touch(storage.ChangeInstance, instanceID)
	}
	return nil
}

func (w *writeTx) CreateKey(ctx context.Context, r keys.Record) error {
	if err := checkTexts("key id", r.ID, "key use", r.Use); err != nil {
		return err
	}
	taken, err := w.exists(ctx, `SELECT 1 FROM keys WHERE id = $1`, r.ID)
	if err != nil {
		return err
	}
	if taken {
		return fmt.Errorf("key %s: %w (%w)", r.ID, storage.ErrAlreadyExists, keys.ErrAlreadyExists)
	}
	if _, err := w.q.exec(ctx, `INSERT INTO keys (id, use, public, sealed_private, created_at, active_from) VALUES ($1, $2, $3, $4, $5, $6)`,
		r.ID, r.Use, nonNil(r.Public), nonNil(r.SealedPrivate), r.CreatedAt.UnixMicro(), r.ActiveFrom.UnixMicro()); err != nil {
		return err
	}
	w.touch(storage.ChangeKeys, r.Use)
	return nil
}

func (w *writeTx) DeleteKey(ctx context.Context, id string) error {
	if !storable(id) {
		return fmt.Errorf("key %q: %w (%w)", id, storage.ErrNotFound, keys.ErrNotFound)
	}
	var use string
	err := w.q.queryRow(ctx, `SELECT use FROM keys WHERE id = $1`, id).Scan(&use)
	if errors.Is(err, errNoRows) {
		return fmt.Errorf("key %s: %w (%w)", id, storage.ErrNotFound, keys.ErrNotFound)
	}
	if err != nil {
		return err
	}
	if _, err := w.q.exec(ctx, `DELETE FROM keys WHERE id = $1`, id); err != nil {
		return err
	}
	w.touch(storage.ChangeKeys, use)
	return nil
}

// reader implements storage.Reader on a pool or a transaction.
type reader struct {
	q    querier
	d    dialect
	macs *rowMAC
}

func (r reader) Revision(ctx context.Context) (int64, error) {
	var n int64
	err := r.q.queryRow(ctx, revisionSQL).Scan(&n)
	return n, err
}

func (r reader) GetZone(ctx context.Context, id string) (storage.Zone, error) {
	if !storable(id) {
		return storage.Zone{}, fmt.Errorf("zone %q: %w", id, storage.ErrNotFound)
	}
	var z storage.Zone
	err := r.q.queryRow(ctx, `SELECT id, subdomain, idx FROM zones WHERE id = $1`, id).Scan(&z.ID, &z.Subdomain, &z.Index)
	if errors.Is(err, errNoRows) {
		return z, fmt.Errorf("zone %s: %w", id, storage.ErrNotFound)
	}
	return z, err
}

func (r reader) ListZones(ctx context.Context) ([]storage.Zone, error) {
	return list(ctx, r.q, func(rs rows) (storage.Zone, error) {
		var z storage.Zone
		err := rs.Scan(&z.ID, &z.Subdomain, &z.Index)
		return z, err
	}, `SELECT id, subdomain, idx FROM zones ORDER BY idx`)
}

const instanceCols = `id, zone_id, name, service_id, plan_id, org_guid, space_guid, parameters, context, runtime_name, app, created_at, updated_at, sealed_secret`

func scanInstance(s interface{ Scan(...any) error }) (storage.Instance, error) {
	var in storage.Instance
	var params, ctxJSON, app, sealed []byte
	var c, u int64
	err := s.Scan(&in.ID, &in.ZoneID, &in.Name, &in.ServiceID, &in.PlanID, &in.OrgGUID, &in.SpaceGUID,
		&params, &ctxJSON, &in.RuntimeName, &app, &c, &u, &sealed)
	if err != nil {
		return in, err
	}
	in.Parameters, in.Context, in.App = params, ctxJSON, app
	if len(sealed) > 0 {
		in.SealedSecret = sealed
	}
	in.CreatedAt, in.UpdatedAt = fromMicros(c), fromMicros(u)
	return in, nil
}

func instanceArgs(in storage.Instance) []any {
	return []any{in.ID, in.ZoneID, in.Name, in.ServiceID, in.PlanID, in.OrgGUID, in.SpaceGUID,
		nonNil(in.Parameters), nonNil(in.Context), in.RuntimeName, nonNil(in.App), in.CreatedAt.UnixMicro(), in.UpdatedAt.UnixMicro(), nonNil(in.SealedSecret)}
}

func (r reader) GetInstance(ctx context.Context, id string) (storage.Instance, error) {
	if !storable(id) {
		return storage.Instance{}, fmt.Errorf("instance %q: %w", id, storage.ErrNotFound)
	}
	in, err := scanInstance(r.q.queryRow(ctx, `SELECT `+instanceCols+` FROM instances WHERE id = $1`, id))
	if errors.Is(err, errNoRows) {
		return in, fmt.Errorf("instance %s: %w", id, storage.ErrNotFound)
	}
	return in, err
}

func (r reader) ListInstances(ctx context.Context) ([]storage.Instance, error) {
	return list(ctx, r.q, scanInstanceRows, `SELECT `+instanceCols+` FROM instances ORDER BY created_at, id`)
}

func (r reader) FindInstances(ctx context.Context, spaceGUID, name string) ([]storage.Instance, error) {
	if !storable(spaceGUID, name) {
		return nil, nil
	}
	return list(ctx, r.q, scanInstanceRows, `SELECT `+instanceCols+` FROM instances WHERE space_guid = $1 AND name = $2 ORDER BY created_at, id`, spaceGUID, name)
}

func (r reader) ListClones(ctx context.Context) ([]storage.Instance, error) {
	return list(ctx, r.q, scanInstanceRows, `SELECT `+instanceCols+` FROM instances WHERE id LIKE 'clone:%' ORDER BY created_at, id`)
}

func scanInstanceRows(rs rows) (storage.Instance, error) { return scanInstance(rs) }

const bindingCols = `id, instance_id, credential_type, secret_id, secret_hash, parameters, app_guid, created_at,
	cert_fingerprint, cert_subject, cert_issuer, cert_not_before, cert_pem, cert_pinned, name, context, sealed_secret, mac`

func scanBinding(s interface{ Scan(...any) error }) (storage.Binding, error) {
	var b storage.Binding
	var hash, params, fp, ctxJSON, sealed []byte
	var c, nb, pinned int64
	err := s.Scan(&b.ID, &b.InstanceID, &b.CredentialType, &b.SecretID, &hash, &params, &b.AppGUID, &c,
		&fp, &b.CertSubject, &b.CertIssuer, &nb, &b.CertPEM, &pinned, &b.Name, &ctxJSON, &sealed, &b.MAC)
	if err != nil {
		return b, err
	}
	b.SecretHash, b.Parameters, b.CreatedAt, b.CertPinned = hash, params, fromMicros(c), pinned != 0
	if b.SecretHash == nil {
		b.SecretHash = []byte{}
	}
	if len(fp) > 0 {
		b.CertFingerprint = fp
	}
	if len(ctxJSON) > 0 {
		b.Context = ctxJSON
	}
	if len(sealed) > 0 {
		b.SealedSecret = sealed
	}
	if nb != 0 {
		b.CertNotBefore = fromMicros(nb)
	}
	return b, nil
}

func (r reader) GetBinding(ctx context.Context, id string) (storage.Binding, error) {
	if !storable(id) {
		return storage.Binding{}, fmt.Errorf("binding %q: %w", id, storage.ErrNotFound)
	}
	b, err := scanBinding(r.q.queryRow(ctx, `SELECT `+bindingCols+` FROM bindings WHERE id = $1`, id))
	if errors.Is(err, errNoRows) || (err == nil && !r.macs.bindingOK(b)) {
		return storage.Binding{}, fmt.Errorf("binding %s: %w", id, storage.ErrNotFound)
	}
	return b, err
}

func (r reader) ListBindings(ctx context.Context, instanceID string) ([]storage.Binding, error) {
	if !storable(instanceID) {
		return nil, nil
	}
	if instanceID == "" {
		return list(ctx, r.q, r.scanBindingRows, `SELECT `+bindingCols+` FROM bindings ORDER BY created_at, id`)
	}
	return list(ctx, r.q, r.scanBindingRows, `SELECT `+bindingCols+` FROM bindings WHERE instance_id = $1 ORDER BY created_at, id`, instanceID)
}

func (r reader) FindCertBindings(ctx context.Context, instanceID string, fingerprint []byte, subject, issuer string) ([]storage.Binding, error) {
	if !storable(instanceID, subject, issuer) {
		return nil, nil
	}
	q, args := `SELECT `+bindingCols+` FROM bindings WHERE cert_subject = $1 AND cert_issuer = $2 AND cert_pinned = 0`, []any{subject, issuer}
	if fingerprint != nil {
		q, args = `SELECT `+bindingCols+` FROM bindings WHERE cert_fingerprint = $1 AND cert_pinned <> 0`, []any{fingerprint}
	}
	if instanceID != "" {
		q += fmt.Sprintf(" AND instance_id = $%d", len(args)+1)
		args = append(args, instanceID)
	}
	return list(ctx, r.q, r.scanBindingRows, q+` ORDER BY created_at, id`, args...)
}

func scanBindingRows(rs rows) (storage.Binding, error) { return scanBinding(rs) }

// scanBindingRows scans a binding and checks its MAC (errForgedRow).
func (r reader) scanBindingRows(rs rows) (storage.Binding, error) {
	b, err := scanBinding(rs)
	if err == nil && !r.macs.bindingOK(b) {
		return b, errForgedRow
	}
	return b, err
}

func (r reader) ListKeys(ctx context.Context, use string) ([]keys.Record, error) {
	if !storable(use) {
		return nil, nil
	}
	return list(ctx, r.q, func(rs rows) (keys.Record, error) {
		var k keys.Record
		var c, a int64
		err := rs.Scan(&k.ID, &k.Use, &k.Public, &k.SealedPrivate, &c, &a)
		k.CreatedAt, k.ActiveFrom = fromMicros(c), fromMicros(a)
		return k, err
	}, `SELECT id, use, public, sealed_private, created_at, active_from FROM keys WHERE use = $1 ORDER BY created_at, id`, use)
}

// list runs a query and scans every row with scan.
func list[T any](ctx context.Context, q querier, scan func(rows) (T, error), query string, args ...any) ([]T, error) {
	rs, err := q.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var out []T
	for rs.Next() {
		v, err := scan(rs)
		if errors.Is(err, errForgedRow) {
			continue // logged by the check
		}
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rs.Err()
}

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

// optionalTS stores the zero time as 0.
func optionalTS(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// nonNil returns b, or an empty slice for nil: NOT NULL binary columns.
func nonNil[T ~[]byte](b T) []byte {
	if b == nil {
		return []byte{}
	}
	return []byte(b)
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
