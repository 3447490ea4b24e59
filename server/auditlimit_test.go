package server

import (
	"testing"
	"time"
)

// TestFailureLines: at most 20 failure lines a minute per source, the
// rest counted and said once the source's next minute begins; other
// sources are not affected; at most 1000 a minute from all sources.
func TestFailureLines(t *testing.T) {
	clock := newFakeClock()
	f := newFailureLines(clock.now)
	allowed := 0
	for range 25 {
		if ok, before := f.allow("198.51.100.1"); ok {
			allowed++
		} else if before != 0 {
			t.Fatalf("a summary within the first minute: %d", before)
		}
	}
	if allowed != 20 {
		t.Errorf("%d lines allowed in a minute, want 20", allowed)
	}
	if ok, _ := f.allow("203.0.113.9"); !ok {
		t.Error("another source was held back")
	}
	clock.advance(time.Minute)
	if ok, before := f.allow("198.51.100.1"); !ok || before != 5 {
		t.Errorf("after a minute: ok %v, %d left out before; want true, 5", ok, before)
	}
	// The total bound.
	g := newFailureLines(clock.now)
	total := 0
	for i := range 3000 {
		if ok, _ := g.allow(string(rune('a'+i%2000)) + "x"); ok {
			total++
		}
	}
	if total != 1000 {
		t.Errorf("%d lines from 2000 sources in a minute, want 1000", total)
	}
}
