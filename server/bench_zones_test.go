package server

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"testing"

	"github.com/openxsuaa/xsuaa/clients/registry"
	"github.com/openxsuaa/xsuaa/clients/storage"
	"github.com/openxsuaa/xsuaa/scopes"
)

// BenchmarkTokenZones runs whole token requests (client_secret_post, in
// process) for a client of one zone among 1 and 10,000 zones, the zone
// named by X-Zid as SAP's libraries send it. Compare the two: a zone
// should cost a map entry, not token rate. It also reports the index's
// heap per zone (bytes/zone), measured around the sync that loads them.
func BenchmarkTokenZones(b *testing.B) {
	for _, n := range []int{1, 10000} {
		b.Run(fmt.Sprintf("zones=%d", n), func(b *testing.B) {
			ctx := context.Background()
			p, reg, srv := newServer(b, nil)
			perZone := benchZones(b, p.store, reg, n)
			zid := benchZoneID(n - 1)
			if _, _, err := reg.CreateInstance(ctx, registry.InstanceRequest{
				ID: "inst-z", ZoneID: zid, Name: "bench", ServiceID: ServiceID, PlanID: PlanApplicationID, Plan: scopes.PlanApplication,
				OrgGUID: "o", SpaceGUID: "s",
				Parameters: json.RawMessage(`{"xsappname":"bench","scopes":[{"name":"$XSAPPNAME.Read"}],"authorities":["$XSAPPNAME.Read"]}`),
			}); err != nil {
				b.Fatal(err)
			}
			creds, _, err := reg.Bind(ctx, registry.BindRequest{InstanceID: "inst-z", BindingID: "bind-z"})
			if err != nil {
				b.Fatal(err)
			}
			f := &fixture{srv: srv, reg: reg, clientID: creds.ClientID, secret: creds.ClientSecret}
			runTokenRequests(b, f, f.tokenForm(), map[string]string{"Content-Type": "application/x-www-form-urlencoded", "X-Zid": zid})
			if n >= 1000 { // with one zone the figure is noise
				b.ReportMetric(perZone, "bytes/zone")
			}
		})
	}
}

// BenchmarkTokenSubscriptions runs whole token requests (as
// BenchmarkTokenZones) for a tenant-mode shared client: in its own zone
// with no other zone, and in one of 10,000 zones that all subscribed to
// it, the zone named by X-Zid. A subscription should cost a map entry and
// a small copy of the client, not token rate; it reports the index's heap
// per subscription, measured around the sync that loads them.
func BenchmarkTokenSubscriptions(b *testing.B) {
	for _, n := range []int{0, 10000} {
		b.Run(fmt.Sprintf("subscriptions=%d", n), func(b *testing.B) {
			ctx := context.Background()
			p, reg, srv := newServer(b, nil)
			provider := reg.Index().ProviderZone()
			if _, _, err := reg.CreateInstance(ctx, registry.InstanceRequest{
				ID: "inst-shared", ZoneID: provider.ID, Name: "saas", ServiceID: ServiceID, PlanID: PlanApplicationID, Plan: scopes.PlanApplication,
				OrgGUID: "o", SpaceGUID: "s",
				Parameters: json.RawMessage(`{"xsappname":"saas","tenant-mode":"shared","scopes":[{"name":"$XSAPPNAME.Read"}],"authorities":["$XSAPPNAME.Read"],
					"role-templates":[{"name":"Reader","scope-references":["$XSAPPNAME.Read"]}]}`),
			}); err != nil {
				b.Fatal(err)
			}
			creds, _, err := reg.Bind(ctx, registry.BindRequest{InstanceID: "inst-shared", BindingID: "bind-shared"})
			if err != nil {
				b.Fatal(err)
			}
			zid, perSub := provider.ID, 0.0
			if n > 0 {
				benchZones(b, p.store, reg, n)
				perSub = benchRows(b, p.store, reg, n, func(ctx context.Context, tx storage.Tx, i int) error {
					return tx.CreateSubscription(ctx, storage.Subscription{InstanceID: "inst-shared", ZoneID: benchZoneID(i)})
				})
				zid = benchZoneID(n - 1)
			}
			f := &fixture{srv: srv, reg: reg, clientID: creds.ClientID, secret: creds.ClientSecret}
			runTokenRequests(b, f, f.tokenForm(), map[string]string{"Content-Type": "application/x-www-form-urlencoded", "X-Zid": zid})
			if n > 0 {
				b.ReportMetric(perSub, "bytes/subscription")
			}
		})
	}
}

// benchZoneID is the id of the i-th zone benchZones makes.
func benchZoneID(i int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", i) }

// benchZones creates n zones (tenant-0 …) with benchRows and returns the
// index's heap per zone.
func benchZones(b *testing.B, store storage.Store, reg *registry.Registry, n int) float64 {
	return benchRows(b, store, reg, n, func(ctx context.Context, tx storage.Tx, i int) error {
		return tx.CreateZone(ctx, storage.Zone{ID: benchZoneID(i), Subdomain: fmt.Sprintf("tenant-%d", i), Index: 10 + i})
	})
}

// benchRows writes n rows with create (i = 0 … n-1) in one write, syncs
// the registry's index and returns the index's heap per row, measured
// around both.
func benchRows(b *testing.B, store storage.Store, reg *registry.Registry, n int, create func(ctx context.Context, tx storage.Tx, i int) error) float64 {
	b.Helper()
	ctx := context.Background()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	if _, err := store.Update(ctx, func(tx storage.Tx) error {
		for i := range n {
			if err := create(ctx, tx, i); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	if err := reg.Index().Sync(ctx); err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	return float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(n)
}
