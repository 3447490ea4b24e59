package sqlstore

import (
	"context"
	"database/sql"
	"errors"

	"github.com/jackc/pgx/v5"
)

// The SQL is the same for both backends; what differs is the driver
// (database/sql with go-sqlite3, pgx's pool for PostgreSQL) and the few
// things a dialect says differently, which the dialect type holds. These
// small interfaces are what the queries run on, whichever the driver.

// querier runs statements: a connection pool or a transaction.
type querier interface {
	exec(ctx context.Context, q string, args ...any) (rowsAffected int64, err error)
	query(ctx context.Context, q string, args ...any) (rows, error)
	queryRow(ctx context.Context, q string, args ...any) row
}

// rows iterates over a result.
type rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// row is a single-row result; Scan returns errNoRows when there is none.
type row interface{ Scan(dest ...any) error }

// errNoRows is what row.Scan returns for an empty result, whichever the driver.
var errNoRows = errors.New("no rows")

// tx is a transaction of either driver.
type tx interface {
	querier
	commit(ctx context.Context) error
	rollback(ctx context.Context)
}

// database/sql (SQLite).

type sqlQuerier interface {
	ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

type stdQuerier struct{ q sqlQuerier }

func (s stdQuerier) exec(ctx context.Context, q string, args ...any) (int64, error) {
	res, err := s.q.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (s stdQuerier) query(ctx context.Context, q string, args ...any) (rows, error) {
	r, err := s.q.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return stdRows{r}, nil
}

func (s stdQuerier) queryRow(ctx context.Context, q string, args ...any) row {
	return stdRow{s.q.QueryRowContext(ctx, q, args...)}
}

type stdRows struct{ *sql.Rows }

func (r stdRows) Close() { r.Rows.Close() }

type stdRow struct{ r *sql.Row }

func (r stdRow) Scan(dest ...any) error {
	err := r.r.Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return errNoRows
	}
	return err
}

type stdTx struct {
	stdQuerier
	t *sql.Tx
}

func (t stdTx) commit(context.Context) error { return t.t.Commit() }
func (t stdTx) rollback(context.Context)     { t.t.Rollback() }

// pgx (PostgreSQL).

type pgQuerier struct {
	q interface {
		Query(ctx context.Context, q string, args ...any) (pgx.Rows, error)
		QueryRow(ctx context.Context, q string, args ...any) pgx.Row
	}
	execFn func(ctx context.Context, q string, args ...any) (int64, error)
}

func (p pgQuerier) exec(ctx context.Context, q string, args ...any) (int64, error) {
	n, err := p.execFn(ctx, q, args...)
	return n, pgErr(err)
}

func (p pgQuerier) query(ctx context.Context, q string, args ...any) (rows, error) {
	r, err := p.q.Query(ctx, q, args...)
	if err != nil {
		return nil, pgErr(err)
	}
	return pgRows{r}, nil
}

func (p pgQuerier) queryRow(ctx context.Context, q string, args ...any) row {
	return pgRow{p.q.QueryRow(ctx, q, args...)}
}

type pgRows struct{ pgx.Rows }

func (r pgRows) Err() error { return pgErr(r.Rows.Err()) }

type pgRow struct{ r pgx.Row }

func (r pgRow) Scan(dest ...any) error {
	err := r.r.Scan(dest...)
	if errors.Is(err, pgx.ErrNoRows) {
		return errNoRows
	}
	return pgErr(err)
}

type pgTx struct {
	pgQuerier
	t pgx.Tx
}

func (t pgTx) commit(ctx context.Context) error { return pgErr(t.t.Commit(ctx)) }
func (t pgTx) rollback(ctx context.Context)     { t.t.Rollback(context.WithoutCancel(ctx)) }

func newPgTx(t pgx.Tx) pgTx {
	return pgTx{pgQuerier: pgQuerier{q: t, execFn: func(ctx context.Context, q string, args ...any) (int64, error) {
		tag, err := t.Exec(ctx, q, args...)
		return tag.RowsAffected(), err
	}}, t: t}
}
