package server

import (
	"sync"
	"time"
)

// failureLines bounds the audit lines of failed authentications, so that
// a flood of bad requests (fresh client ids, guessed passwords) cannot
// grow the audit log by megabytes a minute: per source address at most
// perSource lines a minute, and at most total lines a minute from all
// sources together. What is left out is counted and said in one line
// (event auth.failed.suppressed) with that source's next failure after its
// minute has passed. Successful operations are never held back.
type failureLines struct {
	perSource, total int
	window           time.Duration
	now              func() time.Time

	mu          sync.Mutex
	sources     map[string]*lineWindow
	globalStart time.Time
	globalCount int
}

type lineWindow struct {
	start      time.Time
	count      int
	suppressed int
}

// Defaults of failureLines; maxLineSources bounds its table.
const (
	failureLinesPerSource = 20
	failureLinesTotal     = 1000
	maxLineSources        = 10000
)

func newFailureLines(now func() time.Time) *failureLines {
	if now == nil {
		now = time.Now
	}
	return &failureLines{perSource: failureLinesPerSource, total: failureLinesTotal, window: time.Minute, now: now,
		sources: map[string]*lineWindow{}}
}

// allow reports whether a failure line from source may be written, and
// how many of that source's lines were left out in its previous minute
// (to be said first; 0: none).
func (f *failureLines) allow(source string) (ok bool, suppressedBefore int) {
	now := f.now()
	f.mu.Lock()
	defer f.mu.Unlock()
	if now.Sub(f.globalStart) >= f.window {
		f.globalStart, f.globalCount = now, 0
	}
	w := f.sources[source]
	if w == nil || now.Sub(w.start) >= f.window {
		if w != nil {
			suppressedBefore = w.suppressed
		}
		if w == nil && len(f.sources) >= maxLineSources {
			f.prune(now)
		}
		w = &lineWindow{start: now}
		f.sources[source] = w
	}
	if w.count >= f.perSource || f.globalCount >= f.total {
		w.suppressed++
		return false, suppressedBefore
	}
	w.count++
	f.globalCount++
	return true, suppressedBefore
}

// prune drops ended windows; if none has ended, the table starts over
// (a count of left-out lines may then go unsaid).
func (f *failureLines) prune(now time.Time) {
	for k, w := range f.sources {
		if now.Sub(w.start) >= f.window {
			delete(f.sources, k)
		}
	}
	if len(f.sources) >= maxLineSources {
		f.sources = map[string]*lineWindow{}
	}
}
