package clients

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3"

	"github.com/openxsuaa/xsuaa/keys"
)

// SQLite is the embedded default Store: one database file, WAL journal,
// foreign keys, full fsync on commit (broker operations are rare; the token
// path never writes).
type SQLite struct {
	db *sql.DB
}

var _ Store = (*SQLite)(nil)

// OpenSQLite opens (creating if needed) the database at path and applies
// pending migrations.
func OpenSQLite(ctx context.Context, path string) (*SQLite, error) {
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?_journal_mode=WAL&_foreign_keys=on&_busy_timeout=10000&_synchronous=FULL&_txlock=immediate"
	db, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return nil, err
	}
	// One connection: SQLite has a single writer anyway, and it keeps
	// transactions from waiting on each other inside the process.
	db.SetMaxOpenConns(1)
	s := &SQLite{db: db}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate %s: %w", path, err)
	}
	return s, nil
}

// migrations are applied in order, each in its own transaction, and
// recorded in the migrations table. Never edit a shipped entry: databases
// that already ran it would not see the change. Append a new one instead.
var migrations = []string{
	`CREATE TABLE zones (
		id        TEXT PRIMARY KEY,
		subdomain TEXT NOT NULL,
		idx       INTEGER NOT NULL UNIQUE
	);
	CREATE TABLE instances (
		id           TEXT PRIMARY KEY,
		zone_id      TEXT NOT NULL REFERENCES zones(id),
		name         TEXT NOT NULL,
		service_id   TEXT NOT NULL,
		plan_id      TEXT NOT NULL,
		org_guid     TEXT NOT NULL,
		space_guid   TEXT NOT NULL,
		parameters   BLOB NOT NULL,
		context      BLOB NOT NULL,
		runtime_name TEXT NOT NULL,
		app          BLOB NOT NULL,
		created_at   INTEGER NOT NULL,
		updated_at   INTEGER NOT NULL,
		UNIQUE (zone_id, runtime_name)
	);
	CREATE TABLE bindings (
		id              TEXT PRIMARY KEY,
		instance_id     TEXT NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
		credential_type TEXT NOT NULL,
		secret_id       TEXT NOT NULL UNIQUE,
		secret_hash     BLOB NOT NULL,
		parameters      BLOB NOT NULL,
		app_guid        TEXT NOT NULL,
		created_at      INTEGER NOT NULL
	);
	CREATE INDEX bindings_instance ON bindings(instance_id);
	CREATE TABLE keys (
		id             TEXT PRIMARY KEY,
		use            TEXT NOT NULL,
		public         BLOB NOT NULL,
		sealed_private BLOB NOT NULL,
		created_at     INTEGER NOT NULL,
		active_from    INTEGER NOT NULL
	);`,
	// 2: certificates of x509 bindings (the private key is never stored).
	`ALTER TABLE bindings ADD COLUMN cert_fingerprint BLOB NOT NULL DEFAULT x'';
	ALTER TABLE bindings ADD COLUMN cert_subject TEXT NOT NULL DEFAULT '';
	ALTER TABLE bindings ADD COLUMN cert_issuer TEXT NOT NULL DEFAULT '';
	ALTER TABLE bindings ADD COLUMN cert_not_before INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE bindings ADD COLUMN cert_pem TEXT NOT NULL DEFAULT '';
	ALTER TABLE bindings ADD COLUMN cert_pinned INTEGER NOT NULL DEFAULT 0;`,
	// 3: binding names and contexts (service keys and the CLI list them by
	// name), sealed binding secrets (returned again, as XSUAA does), the
	// sealed instance-secret of an instance.
	`ALTER TABLE bindings ADD COLUMN name TEXT NOT NULL DEFAULT '';
	ALTER TABLE bindings ADD COLUMN context BLOB NOT NULL DEFAULT x'';
	ALTER TABLE bindings ADD COLUMN sealed_secret BLOB NOT NULL DEFAULT x'';
	ALTER TABLE instances ADD COLUMN sealed_secret BLOB NOT NULL DEFAULT x'';`,
}

func (s *SQLite) migrate(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS migrations (num INTEGER PRIMARY KEY, at INTEGER NOT NULL)`); err != nil {
		return err
	}
	// The count is read inside the (immediate) transaction, so that two
	// processes opening a new file at once do not both run a migration.
	for done := false; !done; {
		err := s.tx(ctx, func(tx *sql.Tx) error {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM migrations`).Scan(&n); err != nil {
				return err
			}
			if n >= len(migrations) {
				done = true
				return nil
			}
			if _, err := tx.ExecContext(ctx, migrations[n]); err != nil {
				return fmt.Errorf("migration %d: %w", n+1, err)
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO migrations (num, at) VALUES (?, ?)`, n+1, time.Now().Unix())
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// Close closes the database.
func (s *SQLite) Close() error { return s.db.Close() }

func (s *SQLite) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

func isUnique(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && se.Code == sqlite3.ErrConstraint &&
		(se.ExtendedCode == sqlite3.ErrConstraintUnique || se.ExtendedCode == sqlite3.ErrConstraintPrimaryKey)
}

func isForeignKey(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && se.ExtendedCode == sqlite3.ErrConstraintForeignKey
}

func ts(t time.Time) int64 { return t.UnixMicro() }

func fromTS(v int64) time.Time { return time.UnixMicro(v).UTC() }

// EnsureZone implements Store.
func (s *SQLite) EnsureZone(ctx context.Context, z Zone) (Zone, error) {
	_, err := s.db.ExecContext(ctx, `INSERT INTO zones (id, subdomain, idx) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING`, z.ID, z.Subdomain, z.Index)
	if err != nil {
		if isUnique(err) {
			return Zone{}, fmt.Errorf("zone index %d: %w", z.Index, ErrAlreadyExists)
		}
		return Zone{}, err
	}
	var out Zone
	err = s.db.QueryRowContext(ctx, `SELECT id, subdomain, idx FROM zones WHERE id = ?`, z.ID).Scan(&out.ID, &out.Subdomain, &out.Index)
	return out, err
}

// ListZones implements Store.
func (s *SQLite) ListZones(ctx context.Context) ([]Zone, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, subdomain, idx FROM zones ORDER BY idx`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Zone
	for rows.Next() {
		var z Zone
		if err := rows.Scan(&z.ID, &z.Subdomain, &z.Index); err != nil {
			return nil, err
		}
		out = append(out, z)
	}
	return out, rows.Err()
}

const instanceCols = `id, zone_id, name, service_id, plan_id, org_guid, space_guid, parameters, context, runtime_name, app, created_at, updated_at, sealed_secret`

type scanner interface{ Scan(...any) error }

func scanInstance(r scanner) (Instance, error) {
	var in Instance
	var c, u int64
	err := r.Scan(&in.ID, &in.ZoneID, &in.Name, &in.ServiceID, &in.PlanID, &in.OrgGUID, &in.SpaceGUID,
		&in.Parameters, &in.Context, &in.RuntimeName, &in.App, &c, &u, &in.SealedSecret)
	if errors.Is(err, sql.ErrNoRows) {
		return in, ErrNotFound
	}
	if len(in.SealedSecret) == 0 {
		in.SealedSecret = nil
	}
	in.CreatedAt, in.UpdatedAt = fromTS(c), fromTS(u)
	return in, err
}

func instanceArgs(in Instance) []any {
	return []any{in.ID, in.ZoneID, in.Name, in.ServiceID, in.PlanID, in.OrgGUID, in.SpaceGUID,
		[]byte(in.Parameters), []byte(in.Context), in.RuntimeName, []byte(in.App), ts(in.CreatedAt), ts(in.UpdatedAt), nonNil(in.SealedSecret)}
}

// CreateInstance implements Store.
func (s *SQLite) CreateInstance(ctx context.Context, in Instance) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO instances (`+instanceCols+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)`, instanceArgs(in)...)
	if isUnique(err) {
		return ErrAlreadyExists
	}
	if isForeignKey(err) {
		return fmt.Errorf("zone %s: %w", in.ZoneID, ErrNotFound)
	}
	return err
}

// GetInstance implements Store.
func (s *SQLite) GetInstance(ctx context.Context, id string) (Instance, error) {
	return scanInstance(s.db.QueryRowContext(ctx, `SELECT `+instanceCols+` FROM instances WHERE id = ?`, id))
}

// ListInstances implements Store.
func (s *SQLite) ListInstances(ctx context.Context) ([]Instance, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+instanceCols+` FROM instances ORDER BY created_at, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Instance
	for rows.Next() {
		in, err := scanInstance(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, in)
	}
	return out, rows.Err()
}

// UpdateInstance implements Store.
func (s *SQLite) UpdateInstance(ctx context.Context, id string, updater func(Instance) (Instance, error)) error {
	_, err := s.UpdateInstanceDeletingBindings(ctx, id, func(in Instance) (Instance, []string, error) {
		in, err := updater(in)
		return in, nil, err
	})
	return err
}

// UpdateInstanceDeletingBindings implements Store.
func (s *SQLite) UpdateInstanceDeletingBindings(ctx context.Context, id string, updater func(Instance) (Instance, []string, error)) ([]Binding, error) {
	var deleted []Binding
	err := s.tx(ctx, func(tx *sql.Tx) error {
		deleted = nil
		old, err := scanInstance(tx.QueryRowContext(ctx, `SELECT `+instanceCols+` FROM instances WHERE id = ?`, id))
		if err != nil {
			return err
		}
		in, types, err := updater(old)
		if err != nil {
			return err
		}
		in.ID = id
		_, err = tx.ExecContext(ctx, `UPDATE instances SET zone_id=?, name=?, service_id=?, plan_id=?, org_guid=?, space_guid=?,
			parameters=?, context=?, runtime_name=?, app=?, created_at=?, updated_at=?, sealed_secret=? WHERE id=?`, append(instanceArgs(in)[1:], id)...)
		if isUnique(err) {
			return ErrAlreadyExists
		}
		if err != nil {
			return err
		}
		for _, t := range types {
			rows, err := tx.QueryContext(ctx, `SELECT `+bindingCols+` FROM bindings WHERE instance_id = ? AND credential_type = ? ORDER BY created_at, id`, id, t)
			if err != nil {
				return err
			}
			for rows.Next() {
				b, err := scanBinding(rows)
				if err != nil {
					rows.Close()
					return err
				}
				deleted = append(deleted, b)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM bindings WHERE instance_id = ? AND credential_type = ?`, id, t); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return deleted, nil
}

// DeleteInstance implements Store.
func (s *SQLite) DeleteInstance(ctx context.Context, id string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM instances WHERE id = ?`, id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

const bindingCols = `id, instance_id, credential_type, secret_id, secret_hash, parameters, app_guid, created_at,
	cert_fingerprint, cert_subject, cert_issuer, cert_not_before, cert_pem, cert_pinned, name, context, sealed_secret`

func scanBinding(r scanner) (Binding, error) {
	var b Binding
	var c, nb int64
	err := r.Scan(&b.ID, &b.InstanceID, &b.CredentialType, &b.SecretID, &b.SecretHash, &b.Parameters, &b.AppGUID, &c,
		&b.CertFingerprint, &b.CertSubject, &b.CertIssuer, &nb, &b.CertPEM, &b.CertPinned, &b.Name, &b.Context, &b.SealedSecret)
	if errors.Is(err, sql.ErrNoRows) {
		return b, ErrNotFound
	}
	b.CreatedAt = fromTS(c)
	if len(b.CertFingerprint) == 0 {
		b.CertFingerprint = nil
	}
	if len(b.Context) == 0 {
		b.Context = nil
	}
	if len(b.SealedSecret) == 0 {
		b.SealedSecret = nil
	}
	if nb != 0 {
		b.CertNotBefore = fromTS(nb)
	}
	return b, err
}

// optionalTS stores the zero time as 0.
func optionalTS(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return ts(t)
}

// nonNil returns b, or an empty slice for nil: NOT NULL BLOB columns.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// CreateBinding implements Store.
func (s *SQLite) CreateBinding(ctx context.Context, b Binding, limit int) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM bindings WHERE instance_id = ?`, b.InstanceID).Scan(&n); err != nil {
			return err
		}
		if n >= limit {
			return ErrLimit
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO bindings (`+bindingCols+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
			b.ID, b.InstanceID, b.CredentialType, b.SecretID, nonNil(b.SecretHash), []byte(b.Parameters), b.AppGUID, ts(b.CreatedAt),
			nonNil(b.CertFingerprint), b.CertSubject, b.CertIssuer, optionalTS(b.CertNotBefore), b.CertPEM, b.CertPinned, b.Name, nonNil(b.Context), nonNil(b.SealedSecret))
		switch {
		case isUnique(err):
			return ErrAlreadyExists
		case isForeignKey(err):
			return fmt.Errorf("instance %s: %w", b.InstanceID, ErrNotFound)
		}
		return err
	})
}

// GetBinding implements Store.
func (s *SQLite) GetBinding(ctx context.Context, id string) (Binding, error) {
	return scanBinding(s.db.QueryRowContext(ctx, `SELECT `+bindingCols+` FROM bindings WHERE id = ?`, id))
}

// ListBindings implements Store.
func (s *SQLite) ListBindings(ctx context.Context, instanceID string) ([]Binding, error) {
	q, args := `SELECT `+bindingCols+` FROM bindings ORDER BY created_at, id`, []any{}
	if instanceID != "" {
		q, args = `SELECT `+bindingCols+` FROM bindings WHERE instance_id = ? ORDER BY created_at, id`, []any{instanceID}
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Binding
	for rows.Next() {
		b, err := scanBinding(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// DeleteBinding implements Store.
func (s *SQLite) DeleteBinding(ctx context.Context, id string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM bindings WHERE id = ?`, id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

var _ CertNotBeforeAdvancer = (*SQLite)(nil)

// AdvanceCertNotBefore implements CertNotBeforeAdvancer.
func (s *SQLite) AdvanceCertNotBefore(ctx context.Context, id string, t time.Time) error {
	_, err := s.db.ExecContext(ctx, `UPDATE bindings SET cert_not_before = ? WHERE id = ? AND cert_not_before < ?`, ts(t), id, ts(t))
	return err
}

// ListKeys implements keys.Store.
func (s *SQLite) ListKeys(ctx context.Context, use string) ([]keys.Record, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, use, public, sealed_private, created_at, active_from FROM keys WHERE use = ? ORDER BY created_at, id`, use)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []keys.Record
	for rows.Next() {
		var r keys.Record
		var c, a int64
		if err := rows.Scan(&r.ID, &r.Use, &r.Public, &r.SealedPrivate, &c, &a); err != nil {
			return nil, err
		}
		r.CreatedAt, r.ActiveFrom = fromTS(c), fromTS(a)
		out = append(out, r)
	}
	return out, rows.Err()
}

// DeleteKey implements keys.Store.
func (s *SQLite) DeleteKey(ctx context.Context, id string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM keys WHERE id = ?`, id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("key %s: %w", id, keys.ErrNotFound)
	}
	return nil
}

// CreateKey implements keys.Store.
func (s *SQLite) CreateKey(ctx context.Context, r keys.Record) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO keys (id, use, public, sealed_private, created_at, active_from) VALUES (?,?,?,?,?,?)`,
		r.ID, r.Use, r.Public, r.SealedPrivate, ts(r.CreatedAt), ts(r.ActiveFrom))
	if isUnique(err) {
		return keys.ErrAlreadyExists
	}
	return err
}
