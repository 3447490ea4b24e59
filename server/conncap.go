package server

import (
	"container/list"
	"net"
	"net/http"
	"sync"
)

// ConnCap bounds the connections an http.Server holds (set its ConnState
// to ConnCap.Track). Idle keep-alive connections cost a file descriptor
// and memory each; without a bound, a client that opens many and leaves
// them idle exhausts the server for everyone. At the bound, a new
// connection makes room by closing the connection that has waited
// longest without a request in progress (idle, or accepted but not yet
// sending); only when every connection is busy is the new one closed.
// So a flood of idle connections never keeps a real client out.
type ConnCap struct {
	max int

	mu   sync.Mutex
	open int
	// waiting holds the connections without a request in progress, the
	// one waiting longest first; at finds a connection's element.
	waiting list.List
	at      map[net.Conn]*list.Element
	evicted int
}

// DefaultMaxConnections is the default bound of ConnCap.
const DefaultMaxConnections = 4096

// NewConnCap returns a bound of max connections (at least 1).
func NewConnCap(max int) *ConnCap {
	if max < 1 {
		max = 1
	}
	return &ConnCap{max: max, at: map[net.Conn]*list.Element{}}
}

// Track is an http.Server's ConnState hook.
func (c *ConnCap) Track(conn net.Conn, state http.ConnState) {
	c.mu.Lock()
	var victim net.Conn
	switch state {
	case http.StateNew:
		c.open++
		c.wait(conn)
		if c.open > c.max {
			victim = conn // unless another one waits: every other is busy
			if front := c.waiting.Front(); front != nil && front.Value.(net.Conn) != conn {
				victim = front.Value.(net.Conn)
			}
			c.stopWaiting(victim)
			c.evicted++
		}
	case http.StateIdle:
		c.wait(conn)
	case http.StateActive:
		c.stopWaiting(conn)
	case http.StateHijacked, http.StateClosed:
		c.stopWaiting(conn)
		c.open--
	}
	c.mu.Unlock()
	if victim != nil {
		victim.Close() // its StateClosed follows and counts it out
	}
}

// wait puts conn at the end of the waiting line.
func (c *ConnCap) wait(conn net.Conn) {
	c.stopWaiting(conn)
	c.at[conn] = c.waiting.PushBack(conn)
}

func (c *ConnCap) stopWaiting(conn net.Conn) {
	if e, ok := c.at[conn]; ok {
		c.waiting.Remove(e)
		delete(c.at, conn)
	}
}

// Stats returns the open connections and how many were closed to make
// room so far.
func (c *ConnCap) Stats() (open, evicted int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.open, c.evicted
}
