package clients

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestRevisionGate: every caller is answered by a read that started after
// it called (so it can never learn a revision older than a write
// acknowledged before its request), reads never overlap, and concurrent
// callers share reads.
func TestRevisionGate(t *testing.T) {
	g := revisionGate{timeout: 5 * time.Second}
	var inFlight, reads, maxInFlight atomic.Int64
	var mu sync.Mutex
	starts := map[int64]time.Time{} // read number -> when it started
	fetch := func(ctx context.Context) (int64, error) {
		n := reads.Add(1)
		mu.Lock()
		starts[n] = time.Now()
		mu.Unlock()
		if f := inFlight.Add(1); f > maxInFlight.Load() {
			maxInFlight.Store(f)
		}
		time.Sleep(200 * time.Microsecond) // a round trip
		inFlight.Add(-1)
		return n, nil
	}
	const callers, calls = 16, 200
	var wg sync.WaitGroup
	var late atomic.Int64
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range calls {
				called := time.Now()
				n, err := g.read(context.Background(), fetch)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				started := starts[n]
				mu.Unlock()
				if started.Before(called) {
					late.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if n := late.Load(); n > 0 {
		t.Errorf("%d calls were answered by a read that started before they called", n)
	}
	if m := maxInFlight.Load(); m != 1 {
		t.Errorf("%d reads in flight at once, want 1", m)
	}
	t.Logf("%d calls shared %d reads", callers*calls, reads.Load())
	if reads.Load() >= callers*calls {
		t.Errorf("no read was shared: %d reads for %d calls", reads.Load(), callers*calls)
	}

	// A caller whose context ends stops waiting; the others are served.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := g.read(ctx, fetch); err == nil {
		t.Error("read with a cancelled context succeeded")
	}
}
