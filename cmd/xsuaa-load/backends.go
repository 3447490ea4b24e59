package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/openxsuaa/xsuaa/clients"
	"github.com/openxsuaa/xsuaa/clients/storage"
	"github.com/openxsuaa/xsuaa/clients/storage/sqlstore"
	"github.com/openxsuaa/xsuaa/keys"
	"github.com/openxsuaa/xsuaa/scopes"
)

// loadMasterKey is the master key of the servers the tool starts on
// PostgreSQL and on seeded databases (the seeder hashes and seals with it).
const loadMasterKey = "xsuaa-load-master-key-0123456789abcdef"

// opensslRate runs "openssl speed -seconds s -multi <cores> rsa2048" and
// returns its RSA-2048 signatures per second; 0 if openssl is missing.
func opensslRate(seconds int) float64 {
	bin, err := exec.LookPath("openssl")
	if err != nil {
		return 0
	}
	out, err := exec.Command(bin, "speed", "-seconds", strconv.Itoa(seconds), "-multi", strconv.Itoa(runtime.NumCPU()), "rsa2048").Output()
	if err != nil {
		fmt.Printf("openssl speed: %v\n", err)
		return 0
	}
	// "rsa 2048 bits 0.000098s 0.000006s  10234.5 168345.0"
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) >= 6 && f[0] == "rsa" && f[1] == "2048" && f[2] == "bits" {
			v, err := strconv.ParseFloat(f[len(f)-2], 64)
			if err == nil {
				return v
			}
		}
	}
	return 0
}

// newDatabase creates a database on the PostgreSQL server serverURL names,
// drops it when the tool exits, and returns its URL.
func newDatabase(serverURL string) string {
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, serverURL)
	check(err)
	defer admin.Close(ctx)
	var b [6]byte
	rand.Read(b[:])
	name := "xsuaa_load_" + hex.EncodeToString(b[:])
	_, err = admin.Exec(ctx, "CREATE DATABASE "+name)
	check(err)
	cleanups = append(cleanups, func() {
		if c, err := pgx.Connect(ctx, serverURL); err == nil {
			c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			c.Close(ctx)
		}
	})
	u, err := url.Parse(serverURL)
	check(err)
	u.Path = "/" + name
	return u.String()
}

// startup seeds *startupN instances with one secret binding each straight
// into a new database of the backend, starts a server on it, and reports
// how long the start took, the memory the server holds, and the token
// rate with one of the seeded bindings.
func startup(bin, tmp string, b backend, r rates) []result {
	fmt.Printf("\n== %s: start-up with %d instances ==\n", b.name, *startupN)
	ctx := context.Background()
	dataDir := filepath.Join(tmp, b.name+"-startup")
	var store *sqlstore.Store
	var err error
	env := []string{"XSUAA_MASTER_KEY=" + loadMasterKey}
	if b.name == "postgres" {
		u := newDatabase(*database)
		env = append(env, "XSUAA_DATABASE="+u)
		store, err = sqlstore.OpenPostgres(ctx, u)
	} else {
		check(mkdir(dataDir))
		store, err = sqlstore.OpenSQLite(ctx, filepath.Join(dataDir, "xsuaa.db"))
	}
	check(err)
	t0 := time.Now()
	clientID, secret := seed(ctx, store, *startupN)
	store.Close()
	seeded := time.Since(t0)
	fmt.Printf("seeded %d instances with one binding each in %s\n", *startupN, seeded.Round(time.Millisecond))

	t1 := time.Now()
	s := start(bin, dataDir, env)
	ready := time.Since(t1)
	rss, hwm := procMem(s.cmd.Process.Pid)
	fmt.Printf("ready after %s; RSS %s, HWM %s\n", ready.Round(time.Millisecond), rss, hwm)
	info := result{backend: b.name, name: fmt.Sprintf("start-up with %d instances (one binding each)", *startupN), info: true, rss: rss, hwm: hwm,
		note: fmt.Sprintf("ready %s after exec (seeded in %s)", ready.Round(time.Millisecond), seeded.Round(time.Second))}
	form := "grant_type=client_credentials&client_id=" + urlq(clientID) + "&client_secret=" + urlq(secret)
	tokens := s.scenario(b.name, fmt.Sprintf("secret, keep-alive HTTP, %d seeded instances", *startupN), s.httpURL, nil, form, r)
	s.stop()
	return []result{info, tokens}
}

// seed writes n instances, each with one binding-secret binding, in
// transactions of 1000, as the registry would have written them, and
// returns the client id and secret of the last one.
func seed(ctx context.Context, store storage.Store, n int) (clientID, secret string) {
	mk, err := keys.NewMasterKey([]byte(loadMasterKey))
	check(err)
	hasher := clients.NewSecretHasher(mk)
	zone := storage.Zone{ID: "9f2c4b1e-0000-4000-8000-000000000001", Subdomain: "load", Index: 1}
	_, err = store.Update(ctx, func(tx storage.Tx) error { return tx.CreateZone(ctx, zone) })
	check(err)
	now := time.Now().UTC()
	const batch = 1000
	for first := 0; first < n; first += batch {
		_, err := store.Update(ctx, func(tx storage.Tx) error {
			for i := first; i < min(first+batch, n); i++ {
				id := fmt.Sprintf("seed-%d", i)
				desc := fmt.Sprintf(`{"xsappname":"seed%d","scopes":[{"name":"$XSAPPNAME.Read"}],"authorities":["$XSAPPNAME.Read"]}`, i)
				d, err := scopes.Parse([]byte(desc))
				if err != nil {
					return err
				}
				app, err := scopes.Resolve(d, scopes.Env{Plan: scopes.PlanApplication, ZoneIndex: zone.Index})
				if err != nil {
					return err
				}
				appJSON, _ := json.Marshal(app)
				in := storage.Instance{ID: id, ZoneID: zone.ID, Name: id, ServiceID: serviceID, PlanID: planID, OrgGUID: "org", SpaceGUID: "space",
					Parameters: []byte(desc), Context: []byte("{}"), RuntimeName: app.RuntimeName, App: appJSON, CreatedAt: now, UpdatedAt: now}
				if err := tx.CreateInstance(ctx, in); err != nil {
					return err
				}
				sec, sid, err := clients.NewSecret()
				if err != nil {
					return err
				}
				bid := id + "-b"
				sealed, err := mk.Seal([]byte(sec), []byte(bid))
				if err != nil {
					return err
				}
				if err := tx.CreateBinding(ctx, storage.Binding{ID: bid, InstanceID: id, CredentialType: scopes.CredentialSecret, SecretID: sid,
					SecretHash: hasher.Hash(sec), SealedSecret: sealed, Parameters: []byte("{}"), CreatedAt: now}, 1000); err != nil {
					return err
				}
				clientID, secret = app.ClientID(), sec
			}
			return nil
		})
		check(err)
	}
	return clientID, secret
}

// transactions returns the number of transactions the server's PostgreSQL
// database has committed (each autocommit query is one), or -1 on SQLite.
func (s *server) transactions() int64 {
	if s.dbURL == "" {
		return -1
	}
	ctx := context.Background()
	c, err := pgx.Connect(ctx, s.dbURL)
	check(err)
	defer c.Close(ctx)
	var n int64
	check(c.QueryRow(ctx, "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()").Scan(&n))
	return n
}
