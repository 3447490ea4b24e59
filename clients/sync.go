package clients

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/openxsuaa/xsuaa/clients/storage"
)

// How the index stays fresh across replicas.
//
// Every write (any replica's) commits under a new store revision and
// records which instances it changed (storage.Store.Update). The index
// remembers the revision it reflects. Sync reads the store's current
// revision — one indexed read of one row, shared with the Syncs that
// arrive while it is in flight, but always a read that starts after Sync
// was called (revisionGate) — and, when the index is behind, catches up
// before returning: it reads, in one snapshot, the changes since its
// revision and the rows of exactly the instances they name, rebuilds those
// clients (buildClient) and relinks the authorities they affect.
//
// The token path calls Sync first. So a token request that starts after
// a write was acknowledged — on any replica — learns a revision at least
// as new as that write's (the write committed before its acknowledgement,
// and the read starts after the request did), and is answered from an
// index that reflects it: an unbind, an instance delete, a credential-type removal
// or a grant change is in force for every request that starts after it
// returned, and a new binding authenticates everywhere at once. When the
// store cannot be read, Sync fails and the token path answers 503 instead
// of trusting what it may no longer confirm; the bound is the time the
// read takes to fail (the caller's deadline).
//
// Follow keeps the index fresh between requests (PostgreSQL's
// notifications, and polling as the safety net), so that the token path
// rarely has to catch up itself.

// ErrUnavailable is returned by Sync when the store cannot be read.
var ErrUnavailable = errors.New("the database cannot be reached")

// Sync makes the index reflect every change committed before it was
// called (see above), within the sync timeout.
func (x *Index) Sync(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, x.cfg.SyncTimeout)
	defer cancel()
	head, err := x.gate.read(ctx, x.store.Revision)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if err := x.CatchUp(ctx, head); err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return nil
}

// revisionGate shares reads of the store's revision among concurrent
// callers without weakening what each of them learns: a caller is
// answered by the first read that starts after it called, so the revision
// it gets is at least that of every write acknowledged before it called.
// At most one read is in flight; callers that arrive meanwhile share the
// next one. Under load this turns one database round trip per token
// request into one per batch of requests that arrived during the previous
// round trip.
type revisionGate struct {
	// timeout bounds one shared read; each caller also stops waiting when
	// its own context ends.
	timeout time.Duration

	mu      sync.Mutex
	pending *revisionRead // gathers callers for the next read; nil if none
	busy    bool          // a read is in flight
}

type revisionRead struct {
	done chan struct{}
	rev  int64
	err  error
}

func (g *revisionGate) read(ctx context.Context, fetch func(context.Context) (int64, error)) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	g.mu.Lock()
	if g.pending == nil {
		g.pending = &revisionRead{done: make(chan struct{})}
	}
	r := g.pending
	lead := !g.busy
	if lead {
		g.busy, g.pending = true, nil
	}
	g.mu.Unlock()
	if lead {
		// In a goroutine of its own: the leader, too, stops waiting when
		// its context ends, while the read goes on for the others.
		go g.run(r, fetch)
	}
	select {
	case <-r.done:
		return r.rev, r.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// run performs read r and then the next gathered read, if any, so that
// no caller waits for more than its own round and the one in flight when
// it arrived.
func (g *revisionGate) run(r *revisionRead, fetch func(context.Context) (int64, error)) {
	for r != nil {
		ctx, cancel := context.WithTimeout(context.Background(), g.timeout)
		r.rev, r.err = fetch(ctx)
		cancel()
		close(r.done)
		g.mu.Lock()
		r, g.pending = g.pending, nil
		if r == nil {
			g.busy = false
		}
		g.mu.Unlock()
	}
}

// CatchUp makes the index reflect at least revision rev, the one a write
// of this process returned; it reads the store only when the index is
// behind.
func (x *Index) CatchUp(ctx context.Context, rev int64) error {
	if x.applied.Load() >= rev {
		return nil
	}
	x.syncMu.Lock()
	defer x.syncMu.Unlock()
	if x.applied.Load() >= rev {
		return nil
	}
	return x.catchUp(ctx)
}

// instanceRows are the stored rows of one changed instance.
type instanceRows struct {
	in       storage.Instance
	gone     bool
	bindings []storage.Binding
}

// catchUp applies the changes since the applied revision. Callers hold
// syncMu.
func (x *Index) catchUp(ctx context.Context) error {
	from := x.applied.Load()
	var complete, keysChanged bool
	var zones []storage.Zone
	changed := map[string]*instanceRows{}
	subs := map[string]bool{} // changed subscriptions by ref: exists now?
	var users *userRows
	rev, err := x.store.Snapshot(ctx, func(s storage.Snap) error {
		changes, ok, err := s.Changes(ctx, from)
		if err != nil || !ok {
			return err
		}
		complete = true
		if users, err = loadChangedUsers(ctx, s, changes); err != nil {
			return err
		}
		zonesChanged := false
		for _, c := range changes {
			switch c.Kind {
			case storage.ChangeInstance:
				changed[c.Ref] = nil
			case storage.ChangeZone:
				zonesChanged = true
			case storage.ChangeKeys:
				keysChanged = true
			case storage.ChangeSubscription:
				subs[c.Ref] = false
			}
		}
		for ref := range subs {
			instanceID, zoneID := storage.ParseSubscriptionRef(ref)
			_, err := s.GetSubscription(ctx, instanceID, zoneID)
			if err != nil && !errors.Is(err, storage.ErrNotFound) {
				return err
			}
			subs[ref] = err == nil
		}
		if zonesChanged {
			if zones, err = s.ListZones(ctx); err != nil {
				return err
			}
		}
		for id := range changed {
			rows := &instanceRows{}
			rows.in, err = s.GetInstance(ctx, id)
			if errors.Is(err, storage.ErrNotFound) {
				rows.gone, err = true, nil
			} else if err == nil {
				rows.bindings, err = s.ListBindings(ctx, id)
			}
			if err != nil {
				return err
			}
			changed[id] = rows
		}
		return nil
	})
	if err != nil {
		return err
	}
	if !complete {
		// Too far behind for the feed (or the database was replaced):
		// start over from a snapshot.
		x.cfg.Log.Info("reloading every instance: the change feed no longer covers this replica's revision", "revision", from)
		rev, err := x.reload(ctx)
		if err != nil {
			return err
		}
		if err := x.keysChanged(ctx); err != nil {
			return err
		}
		x.applied.Store(rev)
		return nil
	}

	x.mu.RLock()
	zoneByID := x.zones
	x.mu.RUnlock()
	if zones != nil {
		zoneByID = map[string]storage.Zone{}
		for _, z := range zones {
			zoneByID[z.ID] = z
		}
	}
	built := map[string]*Client{}
	for id, rows := range changed {
		if rows.gone {
			built[id] = nil
			continue
		}
		prev, _ := x.LookupInstance(id)
		c, err := x.buildClient(zoneByID[rows.in.ZoneID], rows.in, rows.bindings, prev)
		if err != nil {
			return err
		}
		built[id] = c
	}
	if z, ok := zoneByID[ProvisioningZoneID]; ok && zones != nil {
		if c, _ := x.LookupInstance(ProvisioningInstanceID); c == nil {
			built[ProvisioningInstanceID] = provisioningClient(z)
		}
	}
	x.mu.Lock()
	if zones != nil {
		x.rezone(zoneByID)
		x.setZones(zoneByID, zones)
	}
	affected := map[string]bool{}
	for id, c := range built {
		x.put(id, c, affected)
	}
	x.link(affected)
	for ref, present := range subs {
		x.applySubscription(ref, present)
	}
	x.applyUsers(users, false)
	x.mu.Unlock()
	// The signer follows before the revision is marked applied: a request
	// that finds the index current must find the keys current too.
	if keysChanged {
		if err := x.keysChanged(ctx); err != nil {
			return err
		}
	}
	x.applied.Store(rev)
	return nil
}

func (x *Index) keysChanged(ctx context.Context) error {
	if x.cfg.KeysChanged == nil {
		return nil
	}
	return x.cfg.KeysChanged(ctx)
}

// Follow keeps the index fresh until ctx is done: it syncs whenever the
// store notifies a commit of another process, and at least every poll.
func (x *Index) Follow(ctx context.Context, poll time.Duration, log *slog.Logger) {
	t := time.NewTicker(poll)
	defer t.Stop()
	notes := x.store.Notifications()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-notes:
		case <-t.C:
		}
		sctx, cancel := context.WithTimeout(ctx, poll+10*time.Second)
		err := x.Sync(sctx)
		cancel()
		switch {
		case err != nil && !failing && ctx.Err() == nil:
			log.Error("cannot follow the database's changes; token requests get 503 until it is back", "error", err)
			failing = true
		case err == nil && failing:
			log.Info("following the database's changes again", "revision", x.Revision())
			failing = false
		}
	}
}
