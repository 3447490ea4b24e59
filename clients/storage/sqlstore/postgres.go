package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/openxsuaa/xsuaa/clients/storage"
)

const (
	// migrationLock is the key of the session advisory lock under which a
	// process applies migrations ("xsuaa" in ASCII).
	migrationLock int64 = 0x7873756161
	// changesChannel is the LISTEN/NOTIFY channel on which a committing
	// writer announces its revision.
	changesChannel = "xsuaa_changes"
	// listenIdle is how long the listening connection waits for a
	// notification before it checks that it is still alive.
	listenIdle = 30 * time.Second
)

// pgBackend is PostgreSQL through a pgx connection pool. Writers
// serialise on a row lock of the revision row (SELECT … FOR UPDATE), taken
// first in every write transaction, so their checks and writes cannot
// interleave; reads run in read committed, snapshots in repeatable read.
// A dedicated connection LISTENs for other replicas' commits.
type pgBackend struct {
	p     *pgxpool.Pool
	conn  *pgx.ConnConfig
	notes chan struct{}
	stop  context.CancelFunc
	wg    sync.WaitGroup
}

// IsPostgresURL reports whether a database URL selects PostgreSQL.
func IsPostgresURL(u string) bool {
	for _, p := range []string{"postgres://", "postgresql://"} {
		if len(u) >= len(p) && u[:len(p)] == p {
			return true
		}
	}
	return false
}

// OpenPostgres connects to the PostgreSQL database at url (a libpq-style
// postgres:// URL; pool settings such as pool_max_conns go in its query
// string), applies pending migrations under an advisory lock, and starts
// listening for other replicas' changes.
func OpenPostgres(ctx context.Context, url string) (*Store, error) {
	p, cfg, err := connect(ctx, url)
	if err != nil {
		return nil, err
	}
	b := &pgBackend{p: p, conn: cfg.ConnConfig, notes: make(chan struct{}, 1)}
	if _, err := b.migrate(ctx); err != nil {
		p.Close()
		return nil, err
	}
	lctx, stop := context.WithCancel(context.Background())
	b.stop = stop
	b.wg.Add(1)
	go b.listen(lctx)
	return newStore(postgres, b), nil
}

// MigratePostgres applies the pending migrations of the database at url
// and returns how many it applied and the schema version reached.
func MigratePostgres(ctx context.Context, url string) (applied, version int, err error) {
	p, cfg, err := connect(ctx, url)
	if err != nil {
		return 0, 0, err
	}
	defer p.Close()
	b := &pgBackend{p: p, conn: cfg.ConnConfig}
	applied, err = b.migrate(ctx)
	return applied, SchemaVersion, err
}

func connect(ctx context.Context, url string) (*pgxpool.Pool, *pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, nil, fmt.Errorf("database URL: %w", err)
	}
	p, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("database: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := p.Ping(pctx); err != nil {
		p.Close()
		return nil, nil, fmt.Errorf("cannot reach the database %s:%d/%s: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database, err)
	}
	return p, cfg, nil
}

// migrate applies pending migrations while holding a session advisory
// lock, so that replicas starting at once apply each exactly once.
func (b *pgBackend) migrate(ctx context.Context) (int, error) {
	c, err := b.p.Acquire(ctx)
	if err != nil {
		return 0, pgErr(err)
	}
	defer c.Release()
	if _, err := c.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrationLock); err != nil {
		return 0, fmt.Errorf("migration lock: %w", pgErr(err))
	}
	defer c.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLock)
	if _, err := c.Exec(ctx, postgres.ddl(createMigrationsTable)); err != nil {
		return 0, pgErr(err)
	}
	return applyPending(ctx, postgres, func(ctx context.Context) (tx, error) {
		t, err := c.Begin(ctx)
		if err != nil {
			return nil, pgErr(err)
		}
		return newPgTx(t), nil
	})
}

func (b *pgBackend) pool() querier {
	return pgQuerier{q: b.p, execFn: func(ctx context.Context, q string, args ...any) (int64, error) {
		tag, err := b.p.Exec(ctx, q, args...)
		return tag.RowsAffected(), err
	}}
}

func (b *pgBackend) direct() querier { return b.pool() }

// revision reads the head revision; pgx prepares a statement once per
// connection and keeps it (its default statement cache).
func (b *pgBackend) revision(ctx context.Context) (int64, error) {
	return reader{q: b.pool(), d: postgres}.Revision(ctx)
}

func (b *pgBackend) beginWrite(ctx context.Context) (tx, error) {
	t, err := b.p.BeginTx(ctx, pgx.TxOptions{})
	if err != nil {
		return nil, pgErr(err)
	}
	wt := newPgTx(t)
	if _, err := wt.exec(ctx, `SELECT n FROM revision WHERE id = 1 FOR UPDATE`); err != nil {
		wt.rollback(ctx)
		return nil, err
	}
	return wt, nil
}

func (b *pgBackend) beginSnapshot(ctx context.Context) (tx, error) {
	t, err := b.p.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, pgErr(err)
	}
	return newPgTx(t), nil
}

// notify queues a notification that PostgreSQL delivers when, and only
// if, the transaction commits.
func (b *pgBackend) notify(ctx context.Context, t tx, rev int64) error {
	_, err := t.exec(ctx, `SELECT pg_notify($1, $2)`, changesChannel, strconv.FormatInt(rev, 10))
	return err
}

func (b *pgBackend) notifications() <-chan struct{} { return b.notes }

// listen keeps a connection LISTENing on changesChannel and signals
// notes for every notification, reconnecting after errors. After every
// (re)connection it signals once, since commits may have been missed.
func (b *pgBackend) listen(ctx context.Context) {
	defer b.wg.Done()
	for ctx.Err() == nil {
		c, err := pgx.ConnectConfig(ctx, b.conn.Copy())
		if err == nil {
			if _, err = c.Exec(ctx, `LISTEN `+changesChannel); err == nil {
				b.signal()
				for err == nil {
					// A connection the network silently dropped would wait
					// for ever: after a quiet while, ping it.
					wctx, cancel := context.WithTimeout(ctx, listenIdle)
					_, err = c.WaitForNotification(wctx)
					cancel()
					switch {
					case err == nil:
						b.signal()
					case ctx.Err() == nil && pgconn.Timeout(err):
						pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
						err = c.Ping(pctx)
						cancel()
					}
				}
			}
			c.Close(context.Background())
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func (b *pgBackend) signal() {
	select {
	case b.notes <- struct{}{}:
	default:
	}
}

func (b *pgBackend) close() error {
	if b.stop != nil {
		b.stop()
		b.wg.Wait()
	}
	b.p.Close()
	return nil
}

// pgErr marks errors of reaching the database, as opposed to answers from
// it, with storage.ErrUnavailable.
func pgErr(err error) error {
	var pe *pgconn.PgError
	if err == nil || errors.As(err, &pe) || errors.Is(err, pgx.ErrNoRows) || errors.Is(err, context.Canceled) {
		return err
	}
	return fmt.Errorf("%w: %w", storage.ErrUnavailable, err)
}
