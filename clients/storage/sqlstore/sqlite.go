package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"time"

	"github.com/mattn/go-sqlite3" // registers "sqlite3"
)

// sqliteBackend keeps two connection pools on one file: a single writer
// connection whose transactions start with BEGIN IMMEDIATE (SQLite's
// database-wide write lock, which also serialises writers in other
// processes), and a few read-only connections that, thanks to the WAL
// journal, read while a write is in progress.
type sqliteBackend struct {
	w, r *sql.DB
	// head is revisionSQL prepared on the read pool (database/sql
	// prepares it once per connection and keeps it).
	head *sql.Stmt
}

// OpenSQLite opens (creating if needed, with mode 0600) the SQLite
// database at path and applies pending migrations. Full fsync on commit:
// writes are rare broker operations, and the token path never writes.
func OpenSQLite(ctx context.Context, path string) (*Store, error) {
	s, _, err := openSQLite(ctx, path)
	return s, err
}

func openSQLite(ctx context.Context, path string) (*Store, int, error) {
	// SQLite would create the file with the umask's mode; it holds secret
	// hashes and sealed keys, so create it 0600 first.
	if f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600); err == nil {
		f.Close()
	} else {
		return nil, 0, err
	}
	file := "file:" + (&url.URL{Path: path}).EscapedPath()
	w, err := sql.Open("sqlite3", file+"?_journal_mode=WAL&_foreign_keys=on&_busy_timeout=10000&_synchronous=FULL&_txlock=immediate")
	if err != nil {
		return nil, 0, err
	}
	// One writer connection: SQLite has a single writer anyway, and it
	// keeps transactions of this process from waiting on each other's
	// busy timeouts.
	w.SetMaxOpenConns(1)
	b := &sqliteBackend{w: w}
	applied, err := b.migrate(ctx)
	// The writer's first connection switches a new file to WAL, which
	// needs the file to itself: a process opening it at the same moment
	// gets SQLITE_BUSY at once, without the busy timeout. Try again, for
	// as long as the busy timeout would have waited.
	for deadline := time.Now().Add(10 * time.Second); isBusy(err) && time.Now().Before(deadline) && ctx.Err() == nil; {
		time.Sleep(time.Duration(5+rand.IntN(20)) * time.Millisecond)
		applied, err = b.migrate(ctx)
	}
	if err != nil {
		w.Close()
		return nil, 0, fmt.Errorf("migrate %s: %w", path, err)
	}
	if b.r, err = sql.Open("sqlite3", file+"?_foreign_keys=on&_busy_timeout=10000&_query_only=true"); err != nil {
		w.Close()
		return nil, 0, err
	}
	b.r.SetMaxOpenConns(8)
	b.r.SetMaxIdleConns(8)
	if b.head, err = b.r.PrepareContext(ctx, revisionSQL); err != nil {
		b.close()
		return nil, 0, err
	}
	return newStore(sqlite, b), applied, nil
}

// migrate applies pending migrations and returns how many it applied.
func (b *sqliteBackend) migrate(ctx context.Context) (int, error) {
	// Inside BEGIN IMMEDIATE, not as a statement of its own: a lone
	// statement reads first and then upgrades to a write, and in WAL mode
	// an upgrade after another process created the table fails at once
	// with "database is locked" instead of waiting (two processes
	// starting on a new file).
	t, err := b.beginWrite(ctx)
	if err != nil {
		return 0, err
	}
	if _, err := t.exec(ctx, createMigrationsTable); err != nil {
		t.rollback(ctx)
		return 0, err
	}
	if err := t.commit(ctx); err != nil {
		return 0, err
	}
	return applyPending(ctx, sqlite, b.beginWrite)
}

// MigrateSQLite applies the pending migrations of the SQLite database at
// path (creating it) and returns how many it applied and the schema
// version reached.
func MigrateSQLite(ctx context.Context, path string) (applied, version int, err error) {
	s, applied, err := openSQLite(ctx, path)
	if err != nil {
		return 0, 0, err
	}
	defer s.Close()
	return applied, SchemaVersion, nil
}

func (b *sqliteBackend) pool() querier { return stdQuerier{b.r} }

// direct writes through the writer connection (the read pool is
// query-only); a statement waits for other processes' writes up to the
// busy timeout.
func (b *sqliteBackend) direct() querier { return stdQuerier{b.w} }

func (b *sqliteBackend) beginWrite(ctx context.Context) (tx, error) {
	t, err := b.w.BeginTx(ctx, nil) // BEGIN IMMEDIATE (_txlock)
	if err != nil {
		return nil, err
	}
	return stdTx{stdQuerier{t}, t}, nil
}

func (b *sqliteBackend) beginSnapshot(ctx context.Context) (tx, error) {
	// A deferred transaction on a WAL database reads one snapshot, taken
	// at its first read.
	t, err := b.r.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	return stdTx{stdQuerier{t}, t}, nil
}

// notify has nothing to do: other processes on the same file see the new
// revision when they next read it.
func (b *sqliteBackend) notify(context.Context, tx, int64) error { return nil }

func (b *sqliteBackend) notifications() <-chan struct{} { return nil }

func (b *sqliteBackend) revision(ctx context.Context) (int64, error) {
	var n int64
	err := b.head.QueryRowContext(ctx).Scan(&n)
	return n, err
}

func (b *sqliteBackend) close() error {
	var err error
	if b.head != nil {
		b.head.Close()
	}
	if b.r != nil {
		err = b.r.Close()
	}
	return errors.Join(err, b.w.Close())
}

// isBusy reports whether err is SQLite's "database is locked" (SQLITE_BUSY
// or SQLITE_LOCKED).
func isBusy(err error) bool {
	var e sqlite3.Error
	return errors.As(err, &e) && (e.Code == sqlite3.ErrBusy || e.Code == sqlite3.ErrLocked)
}
