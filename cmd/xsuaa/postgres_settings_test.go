package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openxsuaa/xsuaa/clients/storage/sqlstore"
	"github.com/openxsuaa/xsuaa/clients/storage/storagetest"
)

// runBinaryEnv runs the built binary with args and env added, and returns
// its exit code and output.
func runBinaryEnv(t *testing.T, env []string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Dir = t.TempDir()
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, string(out)
}

// TestPostgresSettingsRequired: on PostgreSQL a replica refuses to start
// without what every replica must share, saying why, before it touches
// the database; a database URL that is not PostgreSQL's is a usage error.
func TestPostgresSettingsRequired(t *testing.T) {
	const password = "s3cr3t-database-password"
	const db = "XSUAA_DATABASE=postgres://xsuaa:" + password + "@127.0.0.1:1/none"
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		code int
		want string
	}{
		{"a short broker password", []string{"XSUAA_DATABASE=", "XSUAA_BROKER_USER=b", "XSUAA_BROKER_PASSWORD=p4ssw0rd"}, nil, 2, "XSUAA_BROKER_PASSWORD is too weak: it has 8 characters"},
		{"a repetitive broker password", []string{"XSUAA_DATABASE=", "XSUAA_BROKER_USER=b", "XSUAA_BROKER_PASSWORD=abababababababababab"}, nil, 2, "only 2 different characters"},
		{"no admin credentials", []string{db, "XSUAA_MASTER_KEY=" + e2eMasterKey, "XSUAA_BROKER_USER=b", "XSUAA_BROKER_PASSWORD=" + brokerPass, "XSUAA_ADMIN_USER=", "XSUAA_ADMIN_PASSWORD="}, nil, 1, "XSUAA_ADMIN_USER and XSUAA_ADMIN_PASSWORD are not set"},
		{"admin password = broker password", []string{"XSUAA_DATABASE=", "XSUAA_BROKER_USER=b", "XSUAA_BROKER_PASSWORD=" + brokerPass, "XSUAA_ADMIN_USER=a", "XSUAA_ADMIN_PASSWORD=" + brokerPass}, nil, 2, "XSUAA_ADMIN_PASSWORD must differ from XSUAA_BROKER_PASSWORD"},
		{"no master key", []string{db, "XSUAA_MASTER_KEY=", "XSUAA_BROKER_USER=b", "XSUAA_BROKER_PASSWORD=" + brokerPass, "XSUAA_ADMIN_USER=a", "XSUAA_ADMIN_PASSWORD=" + adminPass}, nil, 1, "XSUAA_MASTER_KEY is not set"},
		{"no broker credentials", []string{db, "XSUAA_MASTER_KEY=" + e2eMasterKey, "XSUAA_BROKER_USER=", "XSUAA_BROKER_PASSWORD="}, nil, 1, "XSUAA_BROKER_USER and XSUAA_BROKER_PASSWORD are not set"},
		{"not PostgreSQL", []string{"XSUAA_DATABASE="}, []string{"--database", "mysql://x@127.0.0.1/db"}, 2, "must be a PostgreSQL URL"},
		{"malformed port", []string{"XSUAA_DATABASE=postgres://xsuaa:" + password + "@127.0.0.1:port/none", "XSUAA_MASTER_KEY=" + e2eMasterKey, "XSUAA_BROKER_USER=b", "XSUAA_BROKER_PASSWORD=" + brokerPass, "XSUAA_ADMIN_USER=a", "XSUAA_ADMIN_PASSWORD=" + adminPass}, nil, 1, "database URL: cannot parse"},
		{"malformed password", []string{"XSUAA_DATABASE=postgres://xsuaa:%zz" + password + "@127.0.0.1/none", "XSUAA_MASTER_KEY=" + e2eMasterKey, "XSUAA_BROKER_USER=b", "XSUAA_BROKER_PASSWORD=" + brokerPass, "XSUAA_ADMIN_USER=a", "XSUAA_ADMIN_PASSWORD=" + adminPass}, nil, 1, "database URL: cannot parse"},
		{"unreachable", []string{db, "XSUAA_MASTER_KEY=" + e2eMasterKey, "XSUAA_BROKER_USER=b", "XSUAA_BROKER_PASSWORD=" + brokerPass, "XSUAA_ADMIN_USER=a", "XSUAA_ADMIN_PASSWORD=" + adminPass}, nil, 1, "cannot reach the database 127.0.0.1:1/none"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"serve", "--http", "127.0.0.1:0", "--https", "", "--data-dir", filepath.Join(t.TempDir(), "d")}, tc.args...)
			code, out := runBinaryEnv(t, tc.env, args...)
			if code != tc.code || !strings.Contains(out, tc.want) {
				t.Errorf("exit %d, output %q; want exit %d and %q", code, out, tc.code, tc.want)
			}
			if strings.Contains(out, e2eMasterKey) || strings.Contains(out, password) {
				t.Error("the output shows the master key or the database password")
			}
		})
	}
}

// TestMigrateCommand: xsuaa migrate applies the migrations once and says
// where the schema stands; on SQLite in the data directory, and on
// PostgreSQL.
func TestMigrateCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	for i, want := range []string{fmt.Sprintf("(%d migrations applied now)", sqlstore.SchemaVersion), "(0 migrations applied now)"} {
		code, out := runBinaryEnv(t, []string{"XSUAA_DATABASE="}, "migrate", "--data-dir", dir)
		if code != 0 || !strings.Contains(out, "is at schema version") || !strings.Contains(out, want) {
			t.Errorf("migrate on SQLite, run %d: exit %d, %q; want %q", i+1, code, out, want)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, dbFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("database file: %v, mode %v; want 0600", err, fi)
	}
	if code, out := runBinaryEnv(t, nil, "migrate", "--database", "sqlite:///x"); code != 2 || !strings.Contains(out, "must be a PostgreSQL URL") {
		t.Errorf("migrate with a non-PostgreSQL URL: exit %d, %q; want 2", code, out)
	}
	if postgresE2E() {
		return
	}
	url := storagetest.PostgresURL(t)
	for i, want := range []string{fmt.Sprintf("(%d migrations applied now)", sqlstore.SchemaVersion), "(0 migrations applied now)"} {
		code, out := runBinaryEnv(t, []string{"XSUAA_DATABASE=" + url}, "migrate")
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("migrate on PostgreSQL, run %d: exit %d, %q; want %q", i+1, code, out, want)
		}
	}
}
