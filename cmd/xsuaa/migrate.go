package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"

	"github.com/openxsuaa/xsuaa/clients/storage/sqlstore"
)

// migrate applies the pending database migrations and exits, for
// operators who run them as a step of their own before starting (or
// upgrading) replicas. xsuaa serve applies them at start as well, under
// the same lock, so both ways are safe with several replicas.
func migrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("xsuaa migrate", flag.ContinueOnError)
	database := fs.String("database", getenv("XSUAA_DATABASE"), "PostgreSQL `URL`; default $XSUAA_DATABASE, or SQLite in --data-dir when both are empty")
	dataDir := fs.String("data-dir", "./xsuaa-data", "directory of the SQLite database (without --database)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: xsuaa migrate [--database URL | --data-dir DIR]\n\nApplies the pending migrations of the database (forward only, each once, under a lock that\nconcurrent replicas share) and prints the schema version.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("migrate takes no arguments, got %q", fs.Args())}
	}
	var applied, version int
	var err error
	where := *database
	switch {
	case *database != "" && !sqlstore.IsPostgresURL(*database):
		return usageError{"--database / XSUAA_DATABASE must be a PostgreSQL URL (postgres://user:password@host:port/database)"}
	case *database != "":
		where = "the PostgreSQL database"
		applied, version, err = sqlstore.MigratePostgres(ctx, *database)
	default:
		if err := prepareDataDir(*dataDir, slog.New(slog.NewTextHandler(stderr, nil))); err != nil {
			return err
		}
		where = filepath.Join(*dataDir, dbFile)
		applied, version, err = sqlstore.MigrateSQLite(ctx, where)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s is at schema version %d (%d migrations applied now)\n", where, version, applied)
	return nil
}
