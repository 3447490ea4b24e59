package storagetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgresEnv names the environment variable with the URL of a PostgreSQL
// server (any database on it) where the tests may create databases, e.g.
// postgres://xsuaa@127.0.0.1:55432/postgres. .ci/run sets it.
const PostgresEnv = "XSUAA_TEST_DATABASE"

// PostgresURL creates a new, empty database on the server PostgresEnv
// names and returns its URL; the database is dropped when the test and
// its cleanups end. Without PostgresEnv the test is skipped — or fails
// when CI is set, since CI must test every backend.
func PostgresURL(t testing.TB) string {
	t.Helper()
	u := PostgresURLOrEmpty(t)
	if u == "" {
		t.Skipf("%s is not set; set it to a PostgreSQL URL to run the PostgreSQL tests", PostgresEnv)
	}
	return u
}

// PostgresURLOrEmpty is PostgresURL for tests that also cover SQLite: it
// returns "" instead of skipping when PostgresEnv is not set (and fails
// in CI).
func PostgresURLOrEmpty(t testing.TB) string {
	t.Helper()
	server := os.Getenv(PostgresEnv)
	if server == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not set: CI must run the PostgreSQL tests (.ci/run starts a server)", PostgresEnv)
		}
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin, err := pgx.Connect(ctx, server)
	if err != nil {
		t.Fatalf("connect to %s: %v", PostgresEnv, err)
	}
	defer admin.Close(ctx)
	var b [6]byte
	rand.Read(b[:])
	name := "xsuaa_test_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec(ctx, `CREATE DATABASE `+name); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		admin, err := pgx.Connect(ctx, server)
		if err != nil {
			t.Errorf("drop database %s: %v", name, err)
			return
		}
		defer admin.Close(ctx)
		if _, err := admin.Exec(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(server)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}
