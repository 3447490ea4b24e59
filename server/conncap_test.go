package server

import (
	"net"
	"net/http"
	"testing"
)

// closeRecorder is a net.Conn that records its Close.
type closeRecorder struct {
	net.Conn
	closed bool
}

func (c *closeRecorder) Close() error { c.closed = true; return nil }

// TestConnCap: at the bound, a new connection closes the one that has
// waited longest without a request; busy connections are never closed;
// when all others are busy, the new one is.
func TestConnCap(t *testing.T) {
	c := NewConnCap(3)
	a, b, d, e, f := &closeRecorder{}, &closeRecorder{}, &closeRecorder{}, &closeRecorder{}, &closeRecorder{}
	c.Track(a, http.StateNew)
	c.Track(b, http.StateNew)
	c.Track(a, http.StateActive) // a is busy
	c.Track(d, http.StateNew)
	c.Track(b, http.StateActive)
	c.Track(b, http.StateIdle) // b is idle again, after d arrived
	c.Track(e, http.StateNew)  // over the bound: d has waited longest
	if a.closed || b.closed || !d.closed || e.closed {
		t.Fatalf("closed: a %v b %v d %v e %v; want only d", a.closed, b.closed, d.closed, e.closed)
	}
	c.Track(d, http.StateClosed)
	c.Track(b, http.StateActive)
	c.Track(e, http.StateActive) // a, b, e busy
	c.Track(f, http.StateNew)
	if !f.closed || a.closed || b.closed || e.closed {
		t.Errorf("with every other connection busy, the new one must go: f %v", f.closed)
	}
	c.Track(f, http.StateClosed)
	if open, evicted := c.Stats(); open != 3 || evicted != 2 {
		t.Errorf("Stats = %d open, %d evicted; want 3, 2", open, evicted)
	}
}
