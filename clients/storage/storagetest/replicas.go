package storagetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/openxsuaa/xsuaa/clients/storage"
	"github.com/openxsuaa/xsuaa/keys"
)

// pools is the number of stores (connection pools, as replicas have) the
// concurrency checks open on one database.
const pools = 3

func openPools(t *testing.T, db Database) []storage.Store {
	t.Helper()
	out := make([]storage.Store, pools)
	for i := range out {
		out[i] = db.Open(t)
	}
	return out
}

// race runs fn(i) for i in [0,n) in goroutines released at once and
// returns their errors.
func race(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = fn(i)
		}()
	}
	close(start)
	wg.Wait()
	return errs
}

func testConcurrentBindingLimit(t *testing.T, db Database) {
	ss := openPools(t, db)
	ctx := context.Background()
	z := ensureZone(t, ss[0], "zone-1", 1)
	createInstance(t, ss[0], newInstance("inst-a", z.ID, "a!t1"))
	const workers, limit = 12, 5
	errs := race(workers, func(i int) error {
		return createBinding(ss[i%pools], newBinding(fmt.Sprintf("bind-%d", i), "inst-a"), limit)
	})
	ok, limited := 0, 0
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, storage.ErrLimit):
			limited++
		default:
			t.Errorf("CreateBinding %d: %v, want nil or ErrLimit", i, err)
		}
	}
	if ok != limit || limited != workers-limit {
		t.Errorf("%d concurrent CreateBinding from %d pools with limit %d: %d succeeded and %d hit the limit; want %d and %d",
			workers, pools, limit, ok, limited, limit, workers-limit)
	}
	list, err := ss[1].ListBindings(ctx, "inst-a")
	mustNot(t, "ListBindings", err)
	if len(list) != limit {
		t.Errorf("instance has %d bindings, want %d", len(list), limit)
	}
}

func testConcurrentCreateInstance(t *testing.T, db Database) {
	ss := openPools(t, db)
	z := ensureZone(t, ss[0], "zone-1", 1)
	const workers = 9
	errs := race(workers, func(i int) error {
		// Same runtime name, different ids: only one may win.
		return createInstanceErr(ss[i%pools], newInstance(fmt.Sprintf("inst-%d", i), z.ID, "a!t1"))
	})
	ok := 0
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, storage.ErrAlreadyExists):
		default:
			t.Errorf("CreateInstance %d: %v, want nil or ErrAlreadyExists", i, err)
		}
	}
	if ok != 1 {
		t.Errorf("%d of %d concurrent CreateInstance with one runtime name succeeded, want 1", ok, workers)
	}
}

// testConcurrentUpdates: read-modify-write Updates from several pools
// lose no update (each increments a counter kept in an instance's name).
func testConcurrentUpdates(t *testing.T, db Database) {
	ss := openPools(t, db)
	ctx := context.Background()
	z := ensureZone(t, ss[0], "zone-1", 1)
	in := newInstance("inst-a", z.ID, "a!t1")
	in.Name = "0"
	createInstance(t, ss[0], in)
	const workers = 16
	errs := race(workers, func(i int) error {
		return updateInstance(ss[i%pools], "inst-a", func(in storage.Instance) (storage.Instance, error) {
			var n int
			if _, err := fmt.Sscan(in.Name, &n); err != nil {
				return in, err
			}
			in.Name = fmt.Sprint(n + 1)
			return in, nil
		})
	})
	for i, err := range errs {
		if err != nil {
			t.Errorf("update %d: %v", i, err)
		}
	}
	got, err := ss[2].GetInstance(ctx, "inst-a")
	mustNot(t, "GetInstance", err)
	if got.Name != fmt.Sprint(workers) {
		t.Errorf("counter after %d concurrent increments = %s, want %d", workers, got.Name, workers)
	}
}

// testConcurrentKeyCreation: replicas starting at once each try "create
// the first signing key unless one exists" through keys.Store: exactly
// one key results, and every replica loads that one.
func testConcurrentKeyCreation(t *testing.T, db Database) {
	ss := openPools(t, db)
	ctx := context.Background()
	mk, err := keys.NewMasterKey([]byte("conformance-master-key-0123456789"))
	mustNot(t, "NewMasterKey", err)
	const workers = 6
	kids := make([]string, workers)
	cas := make([]string, workers)
	now := time.Now()
	errs := race(workers, func(i int) error {
		ks := storage.Keys(ss[i%pools])
		signer, err := keys.LoadSigner(ctx, ks, mk, now)
		if err != nil {
			return err
		}
		defer signer.Close()
		kids[i] = signer.Active().KID
		ca, err := keys.LoadCA(ctx, ks, mk, time.Now)
		if err != nil {
			return err
		}
		cas[i] = string(ca.CertPEM())
		return nil
	})
	for i, err := range errs {
		mustNot(t, fmt.Sprintf("replica %d loading keys", i), err)
	}
	recs, err := ss[0].ListKeys(ctx, keys.UseSigning)
	mustNot(t, "ListKeys", err)
	if len(recs) != 1 {
		t.Fatalf("%d replicas starting at once stored %d signing keys, want 1", workers, len(recs))
	}
	for i := range workers {
		if kids[i] != recs[0].ID || cas[i] != cas[0] {
			t.Errorf("replica %d signs with %s (CA same as replica 0: %v), want %s", i, kids[i], cas[i] == cas[0], recs[0].ID)
		}
	}
	if cs, _ := ss[1].ListKeys(ctx, keys.UseCA); len(cs) != 1 {
		t.Errorf("%d CA records, want 1", len(cs))
	}
}

// testConcurrentMigrations: processes opening a new database at once all
// succeed, and each migration is applied and recorded once.
func testConcurrentMigrations(t *testing.T, db Database) {
	const workers = 4
	stores := make([]storage.Store, workers)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := db.Open(t) // fails the test on error
			mu.Lock()
			stores[i] = s
			mu.Unlock()
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	nums := db.Values(t)["migrations.num"]
	slices.Sort(nums)
	if len(nums) == 0 || len(slices.Compact(slices.Clone(nums))) != len(nums) {
		t.Errorf("migrations recorded after %d concurrent opens: %q, want each number once", workers, nums)
	}
	// Every store works on the one schema.
	z := ensureZone(t, stores[0], "zone-1", 1)
	createInstance(t, stores[1], newInstance("inst-a", z.ID, "a!t1"))
	if _, err := stores[workers-1].GetInstance(context.Background(), "inst-a"); err != nil {
		t.Errorf("GetInstance through another store: %v", err)
	}
}

// testUnbindVisibleFromAnotherPool: once DeleteBinding's Update has
// returned, another pool (another replica) neither finds the binding nor
// reads an older revision — with no waiting in between.
func testUnbindVisibleFromAnotherPool(t *testing.T, db Database) {
	ss := openPools(t, db)
	a, b := ss[0], ss[1]
	ctx := context.Background()
	z := ensureZone(t, a, "zone-1", 1)
	createInstance(t, a, newInstance("inst-a", z.ID, "a!t1"))
	for i := range 20 {
		id := fmt.Sprintf("bind-%d", i)
		mustNot(t, "CreateBinding", createBinding(a, newBinding(id, "inst-a"), 100))
		if _, err := b.GetBinding(ctx, id); err != nil {
			t.Fatalf("binding %s not visible from another pool right after it was created: %v", id, err)
		}
		var rev int64
		rev, err := a.Update(ctx, func(tx storage.Tx) error { return tx.DeleteBinding(ctx, id) })
		mustNot(t, "DeleteBinding", err)
		if _, err := b.GetBinding(ctx, id); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("binding %s still visible from another pool right after the unbind returned: %v", id, err)
		}
		if got, err := b.Revision(ctx); err != nil || got < rev {
			t.Fatalf("another pool reads revision %d (%v) right after the unbind committed revision %d", got, err, rev)
		}
		_, err = b.Snapshot(ctx, func(sn storage.Snap) error {
			cs, _, err := sn.Changes(ctx, rev-1)
			if err == nil && !slices.Contains(cs, storage.Change{Rev: rev, Kind: storage.ChangeInstance, Ref: "inst-a"}) {
				t.Errorf("change feed from another pool lacks the unbind: %+v", cs)
			}
			return err
		})
		mustNot(t, "Snapshot", err)
	}
}

// testNotifications: a backend that notifies (Notifications not nil)
// tells a store of a commit made through another one.
func testNotifications(t *testing.T, db Database) {
	ss := openPools(t, db)
	ch := ss[1].Notifications()
	if ch == nil {
		t.Skip("backend does not notify; replicas poll Revision")
	}
	// Drain what connecting signalled.
	deadline := time.After(2 * time.Second)
drain:
	for {
		select {
		case <-ch:
		case <-deadline:
			break drain
		}
	}
	ensureZone(t, ss[0], "zone-1", 1)
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Error("no notification within 10 s of a commit through another store")
	}
}
