package sqlstore

import (
	"context"
	"fmt"
	"regexp"
	"time"
)

// migrations are applied in order, each in its own transaction, and
// recorded in the migrations table. They are written once, in SQLite's
// words; dialect.ddl translates them for PostgreSQL. Never edit a shipped
// entry: databases that already ran it would not see the change. Append a
// new one instead, and keep each one compatible with the code of the
// release before it (expand first, contract a release later), so that
// replicas of two releases can share a database during a rolling upgrade.
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
	// 4: the change feed. revision holds one row, the number of the last
	// committed change; every write transaction locks it first (which
	// serialises writers across replicas) and, when it changed something,
	// increments it and records what it changed in changes. Indexes for
	// the lookups the write side makes inside its transactions.
	`CREATE TABLE revision (
		id INTEGER PRIMARY KEY,
		n  INTEGER NOT NULL
	);
	INSERT INTO revision (id, n) VALUES (1, 0);
	CREATE TABLE changes (
		rev  INTEGER NOT NULL,
		kind TEXT NOT NULL,
		ref  TEXT NOT NULL,
		at   INTEGER NOT NULL,
		PRIMARY KEY (rev, kind, ref)
	);
	CREATE INDEX instances_space_name ON instances(space_guid, name);
	CREATE INDEX bindings_cert_fingerprint ON bindings(cert_fingerprint);
	CREATE INDEX bindings_cert_dn ON bindings(cert_subject, cert_issuer);`,
	// 5: users and role collections of the user login flows. Roles and
	// attributes are JSON; assignments a table of their own, so that
	// deleting a collection deletes them.
	`CREATE TABLE users (
		id            TEXT PRIMARY KEY,
		zone_id       TEXT NOT NULL REFERENCES zones(id),
		origin        TEXT NOT NULL,
		user_name     TEXT NOT NULL,
		email         TEXT NOT NULL,
		given_name    TEXT NOT NULL,
		family_name   TEXT NOT NULL,
		attributes    BLOB NOT NULL,
		password_hash BLOB NOT NULL,
		created_at    INTEGER NOT NULL,
		updated_at    INTEGER NOT NULL,
		UNIQUE (zone_id, origin, user_name)
	);
	CREATE TABLE role_collections (
		zone_id     TEXT NOT NULL REFERENCES zones(id),
		name        TEXT NOT NULL,
		description TEXT NOT NULL,
		roles       BLOB NOT NULL,
		owner       TEXT NOT NULL,
		PRIMARY KEY (zone_id, name)
	);
	CREATE TABLE user_role_collections (
		user_id    TEXT NOT NULL,
		zone_id    TEXT NOT NULL,
		collection TEXT NOT NULL,
		PRIMARY KEY (user_id, collection)
	);
	CREATE INDEX user_role_collections_collection ON user_role_collections(zone_id, collection);`,
	// 6: what the login flows keep between requests, outside the change
	// feed: codes, refresh tokens and sessions under keyed hashes of their
	// values, and the failed-login counters of the per-user lockout.
	`CREATE TABLE auth_codes (
		signature  TEXT PRIMARY KEY,
		zone_id    TEXT NOT NULL,
		client_id  TEXT NOT NULL,
		user_id    TEXT NOT NULL,
		request    BLOB NOT NULL,
		created_at INTEGER NOT NULL,
		expires_at INTEGER NOT NULL,
		used       INTEGER NOT NULL
	);
	CREATE TABLE refresh_tokens (
		signature  TEXT PRIMARY KEY,
		zone_id    TEXT NOT NULL,
		client_id  TEXT NOT NULL,
		user_id    TEXT NOT NULL,
		request    BLOB NOT NULL,
		created_at INTEGER NOT NULL,
		expires_at INTEGER NOT NULL
	);
	CREATE INDEX refresh_tokens_user ON refresh_tokens(user_id);
	CREATE TABLE login_sessions (
		id_hash    TEXT PRIMARY KEY,
		zone_id    TEXT NOT NULL,
		user_id    TEXT NOT NULL,
		auth_time  INTEGER NOT NULL,
		expires_at INTEGER NOT NULL
	);
	CREATE INDEX login_sessions_user ON login_sessions(user_id);
	CREATE TABLE login_failures (
		user_id      TEXT PRIMARY KEY,
		count        INTEGER NOT NULL,
		window_start INTEGER NOT NULL,
		last_digest  TEXT NOT NULL,
		last_at      INTEGER NOT NULL,
		locked_until INTEGER NOT NULL
	);`,
	// 7: row MACs of the credential rows (rowmac.go), and settings.
	`ALTER TABLE bindings ADD COLUMN mac BLOB;
	ALTER TABLE users ADD COLUMN mac BLOB;
	CREATE TABLE settings (
		name  TEXT PRIMARY KEY,
		value TEXT NOT NULL
	);`,
	// 8: subscriptions of zones to shared instances.
	`CREATE TABLE subscriptions (
		instance_id TEXT NOT NULL REFERENCES instances(id),
		zone_id     TEXT NOT NULL REFERENCES zones(id),
		app_url     TEXT NOT NULL,
		callbacks   BLOB NOT NULL,
		created_at  INTEGER NOT NULL,
		PRIMARY KEY (instance_id, zone_id)
	);
	CREATE INDEX subscriptions_zone ON subscriptions(zone_id);`,
}

// SchemaVersion is the number of migrations this build knows.
var SchemaVersion = len(migrations)

var (
	ddlInteger  = regexp.MustCompile(`\bINTEGER\b`)
	ddlBlob     = regexp.MustCompile(`\bBLOB\b`)
	ddlEmptyHex = regexp.MustCompile(`x''`)
)

// ddl translates a migration from SQLite's words to the dialect's.
// Timestamps are INTEGER microseconds in both, so INTEGER becomes BIGINT.
func (d dialect) ddl(s string) string {
	if d != postgres {
		return s
	}
	s = ddlInteger.ReplaceAllString(s, "BIGINT")
	s = ddlBlob.ReplaceAllString(s, "BYTEA")
	return ddlEmptyHex.ReplaceAllString(s, `'\x'::bytea`)
}

const createMigrationsTable = `CREATE TABLE IF NOT EXISTS migrations (num INTEGER PRIMARY KEY, at INTEGER NOT NULL)`

// applyPending applies the migrations the database lacks. Each runs in
// its own write transaction (begin), which re-reads the count: with the
// caller's lock (PostgreSQL's advisory lock) or the write lock of the
// transaction itself (SQLite's BEGIN IMMEDIATE), two processes starting at
// once apply each migration exactly once. It returns how many it applied.
func applyPending(ctx context.Context, d dialect, begin func(context.Context) (tx, error)) (int, error) {
	applied := 0
	for {
		t, err := begin(ctx)
		if err != nil {
			return applied, err
		}
		var n int
		if err := t.queryRow(ctx, `SELECT COUNT(*) FROM migrations`).Scan(&n); err != nil {
			t.rollback(ctx)
			return applied, err
		}
		if n > len(migrations) {
			t.rollback(ctx)
			return applied, fmt.Errorf("the database has %d migrations, this build knows only %d: it was written by a newer release", n, len(migrations))
		}
		if n == len(migrations) {
			t.rollback(ctx)
			return applied, nil
		}
		if _, err := t.exec(ctx, d.ddl(migrations[n])); err != nil {
			t.rollback(ctx)
			return applied, fmt.Errorf("migration %d: %w", n+1, err)
		}
		if _, err := t.exec(ctx, `INSERT INTO migrations (num, at) VALUES ($1, $2)`, n+1, time.Now().Unix()); err != nil {
			t.rollback(ctx)
			return applied, err
		}
		if err := t.commit(ctx); err != nil {
			return applied, fmt.Errorf("migration %d: %w", n+1, err)
		}
		applied++
	}
}
