package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/openxsuaa/xsuaa/clients/storage"
	"github.com/openxsuaa/xsuaa/clients/storage/sqlstore"
	"github.com/openxsuaa/xsuaa/clients/storage/storagetest"
)

func TestSQLiteConformance(t *testing.T) {
	storagetest.RunTests(t, func(t *testing.T) storagetest.Database {
		path := filepath.Join(t.TempDir(), "xsuaa.db")
		return storagetest.Database{
			Open: func(t *testing.T) storage.Store {
				s, err := sqlstore.OpenSQLite(context.Background(), path)
				if err != nil {
					t.Fatalf("OpenSQLite: %v", err)
				}
				t.Cleanup(func() { s.Close() })
				return s
			},
			Values: func(t *testing.T) map[string][]string { return sqliteValues(t, path) },
		}
	})
}

func TestPostgresConformance(t *testing.T) {
	storagetest.RunTests(t, func(t *testing.T) storagetest.Database {
		url := storagetest.PostgresURL(t)
		return storagetest.Database{
			Open: func(t *testing.T) storage.Store {
				s, err := sqlstore.OpenPostgres(context.Background(), url)
				if err != nil {
					t.Fatalf("OpenPostgres: %v", err)
				}
				t.Cleanup(func() { s.Close() })
				return s
			},
			Values: func(t *testing.T) map[string][]string { return postgresValues(t, url) },
		}
	})
}

// str renders a column value as the suite wants it.
func str(v any) string {
	switch v := v.(type) {
	case []byte:
		return string(v)
	case string:
		return v
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

func sqliteValues(t *testing.T, path string) map[string][]string {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var tables []string
	rs, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'table'`)
	if err != nil {
		t.Fatal(err)
	}
	for rs.Next() {
		var n string
		rs.Scan(&n)
		tables = append(tables, n)
	}
	rs.Close()
	out := map[string][]string{}
	for _, table := range tables {
		rs, err := db.Query(`SELECT * FROM ` + table)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rs.Columns()
		for rs.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rs.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for i, c := range cols {
				out[table+"."+c] = append(out[table+"."+c], str(vals[i]))
			}
		}
		rs.Close()
	}
	return out
}

func postgresValues(t *testing.T, url string) map[string][]string {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var tables []string
	rs, err := c.Query(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = 'public'`)
	if err != nil {
		t.Fatal(err)
	}
	for rs.Next() {
		var n string
		rs.Scan(&n)
		tables = append(tables, n)
	}
	rs.Close()
	out := map[string][]string{}
	for _, table := range tables {
		rs, err := c.Query(ctx, `SELECT * FROM `+table)
		if err != nil {
			t.Fatal(err)
		}
		fields := rs.FieldDescriptions()
		for rs.Next() {
			vals, err := rs.Values()
			if err != nil {
				t.Fatal(err)
			}
			for i, f := range fields {
				out[table+"."+f.Name] = append(out[table+"."+f.Name], str(vals[i]))
			}
		}
		rs.Close()
	}
	return out
}
