package clients_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"

	"github.com/openxsuaa/xsuaa/clients"
	"github.com/openxsuaa/xsuaa/clients/registry"
	"github.com/openxsuaa/xsuaa/clients/storage"
	"github.com/openxsuaa/xsuaa/clients/storage/sqlstore"
	"github.com/openxsuaa/xsuaa/clients/storage/storagetest"
	"github.com/openxsuaa/xsuaa/keys"
)

// replica is one process's view of a shared database: its own store
// (connection pool), index and registry.
type replica struct {
	store storage.Store
	index *clients.Index
	reg   *registry.Registry
}

var masterKey = func() *keys.MasterKey {
	mk, err := keys.NewMasterKey([]byte("index-test-master-key-0123456789"))
	if err != nil {
		panic(err)
	}
	return mk
}()

func newReplica(tb testing.TB, store storage.Store) *replica {
	tb.Helper()
	ctx := context.Background()
	if _, err := store.Update(ctx, func(tx storage.Tx) error {
		zs, err := tx.ListZones(ctx)
		if err != nil || len(zs) > 0 {
			return err
		}
		return tx.CreateZone(ctx, storage.Zone{ID: "zone-1", Subdomain: "one", Index: 1})
	}); err != nil {
		tb.Fatal(err)
	}
	idx, err := clients.NewIndex(ctx, clients.IndexConfig{Store: store, MasterKey: masterKey})
	if err != nil {
		tb.Fatal(err)
	}
	reg := registry.New(registry.Config{Store: store, Index: idx, MasterKey: masterKey,
		Endpoints: registry.Endpoints{URL: "https://auth.example.com", UAADomain: "auth.example.com"}})
	return &replica{store: store, index: idx, reg: reg}
}

func openSQLite(tb testing.TB, path string) storage.Store {
	tb.Helper()
	s, err := sqlstore.OpenSQLite(context.Background(), path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func openPostgres(tb testing.TB, url string) storage.Store {
	tb.Helper()
	s, err := sqlstore.OpenPostgres(context.Background(), url)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// backends returns, per backend, a function that opens another store on
// one shared database.
func backends(tb testing.TB) map[string]func() storage.Store {
	path := filepath.Join(tb.TempDir(), "xsuaa.db")
	out := map[string]func() storage.Store{"sqlite": func() storage.Store { return openSQLite(tb, path) }}
	if url := storagetest.PostgresURLOrEmpty(tb); url != "" {
		out["postgres"] = func() storage.Store { return openPostgres(tb, url) }
	}
	return out
}

func provisionAndBind(tb testing.TB, r *replica, instance, binding string) registry.Credentials {
	tb.Helper()
	ctx := context.Background()
	if _, _, err := r.reg.CreateInstance(ctx, registry.InstanceRequest{
		ID: instance, Name: instance, ServiceID: "s", PlanID: "p", Plan: "application", OrgGUID: "o", SpaceGUID: "sp",
		Parameters: json.RawMessage(`{"xsappname":"` + instance + `","scopes":[{"name":"$XSAPPNAME.Read"}],"authorities":["$XSAPPNAME.Read"]}`),
	}); err != nil {
		tb.Fatal(err)
	}
	creds, _, err := r.reg.Bind(ctx, registry.BindRequest{InstanceID: instance, BindingID: binding})
	if err != nil {
		tb.Fatal(err)
	}
	return creds
}

// TestIndexFollowsAnotherReplica: what one replica writes, another's
// index reflects after one Sync, and only then; exactly the changed
// instance is rebuilt.
func TestIndexFollowsAnotherReplica(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			a, b := newReplica(t, open()), newReplica(t, open())
			other := provisionAndBind(t, a, "other", "other-1")
			creds := provisionAndBind(t, a, "shop", "shop-1")
			if err := b.index.Sync(ctx); err != nil {
				t.Fatal(err)
			}
			before, _ := b.index.LookupInstance("other")
			if _, err := b.index.Authenticate("zone-1", creds.ClientID, creds.ClientSecret); err != nil {
				t.Fatalf("replica b after Sync: %v", err)
			}
			if err := a.reg.Unbind(ctx, "shop", "shop-1"); err != nil {
				t.Fatal(err)
			}
			// Without a sync b still holds the old state ...
			if _, err := b.index.Authenticate("zone-1", creds.ClientID, creds.ClientSecret); err != nil {
				t.Fatalf("replica b before Sync: %v (the test needs b to be behind)", err)
			}
			// ... one Sync, and it is current.
			if err := b.index.Sync(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := b.index.Authenticate("zone-1", creds.ClientID, creds.ClientSecret); !errors.Is(err, clients.ErrBadCredentials) {
				t.Errorf("replica b after the unbind and a Sync: %v, want ErrBadCredentials", err)
			}
			if b.index.Revision() != a.index.Revision() {
				t.Errorf("revisions after Sync: a %d, b %d", a.index.Revision(), b.index.Revision())
			}
			after, _ := b.index.LookupInstance("other")
			if before != after {
				t.Error("an instance nobody changed was rebuilt")
			}
			if _, err := b.index.Authenticate("zone-1", other.ClientID, other.ClientSecret); err != nil {
				t.Errorf("the unchanged instance: %v", err)
			}
		})
	}
}

// incompleteFeed is a store whose change feed says it no longer covers
// what a replica asks for, as after a replica was stopped for long.
type incompleteFeed struct{ storage.Store }

func (s incompleteFeed) Snapshot(ctx context.Context, fn func(storage.Snap) error) (int64, error) {
	return s.Store.Snapshot(ctx, func(sn storage.Snap) error { return fn(incompleteSnap{sn}) })
}

type incompleteSnap struct{ storage.Snap }

func (s incompleteSnap) Changes(ctx context.Context, after int64) ([]storage.Change, bool, error) {
	return nil, false, nil
}

// TestIndexReloadsWhenFeedIsIncomplete: a replica too far behind for the
// change feed reloads everything, and keys too.
func TestIndexReloadsWhenFeedIsIncomplete(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "xsuaa.db")
	a := newReplica(t, openSQLite(t, path))
	keysChanged := 0
	idx, err := clients.NewIndex(ctx, clients.IndexConfig{Store: incompleteFeed{openSQLite(t, path)}, MasterKey: masterKey,
		KeysChanged: func(context.Context) error { keysChanged++; return nil }})
	if err != nil {
		t.Fatal(err)
	}
	creds := provisionAndBind(t, a, "shop", "shop-1")
	if err := idx.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := idx.Authenticate("zone-1", creds.ClientID, creds.ClientSecret); err != nil {
		t.Errorf("after a reload: %v", err)
	}
	if keysChanged != 1 || idx.Revision() != a.index.Revision() {
		t.Errorf("reload: keys refreshed %d times, revision %d (want 1 and %d)", keysChanged, idx.Revision(), a.index.Revision())
	}
}

// BenchmarkSync is the per-request cost of confirming that the index is
// current (one read of the store's revision), on each backend.
func BenchmarkSync(b *testing.B) {
	for name, open := range backends(b) {
		b.Run(name, func(b *testing.B) {
			r := newReplica(b, open())
			provisionAndBind(b, r, "shop", "shop-1")
			ctx := context.Background()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := r.index.Sync(ctx); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// TestSubscriptionsAndRenamesAcrossReplicas: a subscription written by
// one replica makes the shared client authenticate in the zone at
// another after one Sync, as a copy naming that zone; its end removes
// it there; a zone renamed through one replica is named anew by the other
// replica's clients of that zone, their subscribed copies included.
func TestSubscriptionsAndRenamesAcrossReplicas(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			a, b := newReplica(t, open()), newReplica(t, open())
			if _, err := a.reg.CreateZone(ctx, "two", "6b9a7b2c-1f0e-4e1c-9d3a-2b5e8f7c4a10"); err != nil {
				t.Fatal(err)
			}
			const two = "6b9a7b2c-1f0e-4e1c-9d3a-2b5e8f7c4a10"
			if _, _, err := a.reg.CreateInstance(ctx, registry.InstanceRequest{
				ID: "saas", Name: "saas", ServiceID: "s", PlanID: "p", Plan: "application", OrgGUID: "o", SpaceGUID: "sp",
				Parameters: json.RawMessage(`{"xsappname":"saas","tenant-mode":"shared"}`),
			}); err != nil {
				t.Fatal(err)
			}
			creds, _, err := a.reg.Bind(ctx, registry.BindRequest{InstanceID: "saas", BindingID: "k"})
			if err != nil {
				t.Fatal(err)
			}
			auth := func(r *replica, zone string) (*clients.Credential, error) {
				t.Helper()
				if err := r.index.Sync(ctx); err != nil {
					t.Fatal(err)
				}
				return r.index.Authenticate(zone, creds.ClientID, creds.ClientSecret)
			}
			if _, err := auth(b, two); !errors.Is(err, clients.ErrBadCredentials) {
				t.Fatalf("before the subscription, in zone two: %v", err)
			}
			if _, err := a.reg.Subscribe(ctx, registry.SubscribeRequest{InstanceID: "saas", Zone: "two"}, nil); err != nil {
				t.Fatal(err)
			}
			cred, err := auth(b, two)
			if err != nil || cred.Client.Zone.ID != two || cred.Client.Zone.Subdomain != "two" || !cred.Client.Subscribed {
				t.Fatalf("after the subscription, in zone two at replica b: %+v, %v", cred, err)
			}
			// Renamed through a (as a start after an upgrade does): b's
			// clients of both zones name them anew.
			if _, err := a.store.Update(ctx, func(tx storage.Tx) error {
				if err := tx.RenameZone(ctx, two, "deux"); err != nil {
					return err
				}
				return tx.RenameZone(ctx, "zone-1", "uno")
			}); err != nil {
				t.Fatal(err)
			}
			if cred, err := auth(b, two); err != nil || cred.Client.Zone.Subdomain != "deux" {
				t.Errorf("the subscribed copy after the rename: %+v, %v", cred, err)
			}
			if cred, err := auth(b, "zone-1"); err != nil || cred.Client.Zone.Subdomain != "uno" {
				t.Errorf("the client in its own zone after the rename: %+v, %v", cred, err)
			}
			if c, _ := b.index.LookupInstance("saas"); c.Zone.Subdomain != "uno" {
				t.Errorf("the instance's client after the rename: zone %+v", c.Zone)
			}
			if err := a.reg.Unsubscribe(ctx, "saas", "deux", nil); err != nil {
				t.Fatal(err)
			}
			if _, err := auth(b, two); !errors.Is(err, clients.ErrBadCredentials) {
				t.Errorf("after the unsubscription, in zone two at replica b: %v", err)
			}
		})
	}
}
