package clients_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/openxsuaa/xsuaa/clients"
	"github.com/openxsuaa/xsuaa/clients/clientstest"
)

// openSQLite opens a store on a file in a fresh temporary directory and
// closes it when the test ends.
func openSQLite(t *testing.T, path string) *clients.SQLite {
	t.Helper()
	s, err := clients.OpenSQLite(context.Background(), path)
	if err != nil {
		t.Fatalf("OpenSQLite(%s): %v", path, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestSQLiteConformance(t *testing.T) {
	clientstest.RunTests(t, func(t *testing.T) clients.Store {
		return openSQLite(t, filepath.Join(t.TempDir(), "xsuaa.db"))
	})
}

// migrationRows returns the rows of the migrations table as num -> at.
func migrationRows(t *testing.T, path string) map[int]int64 {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT num, at FROM migrations`)
	if err != nil {
		t.Fatalf("read migrations table: %v", err)
	}
	defer rows.Close()
	out := map[int]int64{}
	for rows.Next() {
		var num int
		var at int64
		if err := rows.Scan(&num, &at); err != nil {
			t.Fatal(err)
		}
		out[num] = at
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSQLiteReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "xsuaa.db")

	s, err := clients.OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	zone := clients.Zone{ID: "zone-1", Subdomain: "one", Index: 1}
	if _, err := s.EnsureZone(ctx, zone); err != nil {
		t.Fatal(err)
	}
	in := clients.Instance{ID: "inst-a", ZoneID: zone.ID, Name: "a", Parameters: []byte(`{"xsappname":"a"}`),
		Context: []byte(`{}`), RuntimeName: "a!t1", App: []byte(`{}`)}
	if err := s.CreateInstance(ctx, in); err != nil {
		t.Fatal(err)
	}
	b := clients.Binding{ID: "bind-1", InstanceID: in.ID, CredentialType: "binding-secret", SecretID: "sid",
		SecretHash: []byte{1, 2, 3}, Parameters: []byte(`{}`)}
	if err := s.CreateBinding(ctx, b, 10); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	first := migrationRows(t, path)
	if len(first) == 0 {
		t.Fatal("no migration recorded")
	}
	// Migrations are numbered 1..n without gaps.
	for i := 1; i <= len(first); i++ {
		if _, ok := first[i]; !ok {
			t.Errorf("migrations table %v lacks migration %d", first, i)
		}
	}

	// Opening again applies nothing: the shipped migrations use plain
	// CREATE TABLE, so re-running one would fail the open, and the table
	// keeps exactly the same rows.
	s = openSQLite(t, path)
	if second := migrationRows(t, path); len(second) != len(first) {
		t.Errorf("after reopening, migrations table has %d rows, want %d", len(second), len(first))
	} else {
		for num, at := range first {
			if second[num] != at {
				t.Errorf("migration %d re-recorded: at %d, was %d", num, second[num], at)
			}
		}
	}

	if zones, err := s.ListZones(ctx); err != nil || len(zones) != 1 || zones[0] != zone {
		t.Errorf("ListZones after reopening = %+v, %v; want [%+v]", zones, err, zone)
	}
	if got, err := s.GetInstance(ctx, in.ID); err != nil || got.RuntimeName != in.RuntimeName {
		t.Errorf("GetInstance after reopening = %+v, %v", got, err)
	}
	if got, err := s.GetBinding(ctx, b.ID); err != nil || got.SecretID != b.SecretID || string(got.SecretHash) != string(b.SecretHash) {
		t.Errorf("GetBinding after reopening = %+v, %v", got, err)
	}
}
