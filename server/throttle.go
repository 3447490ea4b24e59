package server

import (
	"fmt"
	"hash/maphash"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Throttling of failed authentications.
//
// The token endpoint counts failed client authentications (its 401
// invalid_client and unauthorized answers: unknown client, wrong secret,
// bad or missing certificate, no credentials) per client id and source
// address. The limit-th failure within a window blocks that pair until the
// window, which starts at the pair's first failure, has passed: its
// requests then get 429 with Retry-After, before any authentication work.
// So a pair sees at most limit failures per window, and an attacker at one
// address cannot lock the client out at any other address. Successful
// authentications neither count nor reset the count.
//
// The broker API (/v2/*) and the clone API (/sap/rest/broker/*) count
// failed Basic authentications per source address alone, the same way,
// each API on its own.
//
// The source address is the TCP peer's. For a peer that TrustProxies
// marked as a trusted proxy (--trusted-proxy) it is the last entry of
// X-Forwarded-For, the address that proxy saw. IPv6 sources count per /64,
// the block a single host typically controls.
//
// Memory is bounded: at most maxKeys pairs are tracked per API (an entry
// is a 64-bit key hash and a small struct, about 170 bytes with the map's
// overhead: some 17 MB for DefaultAuthFailureKeys). Entries whose window has ended are swept at most once
// per window, while failures happen. When the table is full, a new pair
// replaces the least valuable of a few sampled entries: an expired one,
// else one that is not blocked, else the one whose block ends soonest. The
// counting is exact for one pair; under concurrent failures of one pair
// it may let a failure or two more through.

// Defaults of xsuaa serve's --auth-failure-limit and --auth-failure-window.
const (
	DefaultAuthFailureLimit  = 10
	DefaultAuthFailureWindow = time.Minute
	// DefaultAuthFailureKeys bounds the (client id, source) pairs tracked.
	DefaultAuthFailureKeys = 100_000
)

// evictSample is the number of entries looked at to make room for a new one.
const evictSample = 16

// failureLimiter counts failures per key in fixed windows. A nil
// *failureLimiter is disabled: it never throttles.
type failureLimiter struct {
	limit   int
	window  int64 // nanoseconds
	maxKeys int64
	now     func() time.Time
	seed    maphash.Seed

	size      atomic.Int64 // entries in the map
	lastSweep atomic.Int64 // unix nanoseconds
	entries   sync.Map     // uint64 key hash → *failures
}

// failures is one key's window. blockedUntil is read without the lock by
// check, the path every request takes.
type failures struct {
	blockedUntil atomic.Int64 // unix nanoseconds; 0: not blocked

	mu    sync.Mutex
	start int64 // the window's first failure, unix nanoseconds
	count int
	dead  bool // removed from the map; recorders must look again
}

// newFailureLimiter returns a limiter of limit failures per window over at
// most maxKeys keys, or nil (disabled) when limit or window is not positive.
func newFailureLimiter(limit int, window time.Duration, maxKeys int, now func() time.Time) *failureLimiter {
	if limit <= 0 || window <= 0 {
		return nil
	}
	if maxKeys <= 0 {
		maxKeys = DefaultAuthFailureKeys
	}
	if now == nil {
		now = time.Now
	}
	return &failureLimiter{limit: limit, window: int64(window), maxKeys: int64(maxKeys), now: now, seed: maphash.MakeSeed()}
}

// key hashes a (scope, source) pair under the limiter's random seed, so
// that the table holds no attacker-chosen strings and collisions cannot be
// aimed at.
func (l *failureLimiter) key(scope, source string) uint64 {
	if l == nil {
		return 0
	}
	var h maphash.Hash
	h.SetSeed(l.seed)
	h.WriteString(scope)
	h.WriteByte(0)
	h.WriteString(source)
	return h.Sum64()
}

// check returns how long key is still blocked, 0 if it is not. It takes no
// lock: one atomic load, and one map read when anything is tracked.
func (l *failureLimiter) check(key uint64) time.Duration {
	if l == nil || l.size.Load() == 0 {
		return 0
	}
	v, ok := l.entries.Load(key)
	if !ok {
		return 0
	}
	until := v.(*failures).blockedUntil.Load()
	if until == 0 {
		return 0
	}
	if now := l.now().UnixNano(); now < until {
		return time.Duration(until - now)
	}
	return 0
}

// fail records one failure of key. It reports whether this failure reached
// the limit, and then for how long key is blocked from now.
func (l *failureLimiter) fail(key uint64) (blocked bool, wait time.Duration) {
	if l == nil {
		return false, 0
	}
	now := l.now().UnixNano()
	l.maybeSweep(now)
	for {
		v, ok := l.entries.Load(key)
		if !ok {
			// Make room; a few rounds, since racing recorders may
			// have picked the same victim.
			for i := 0; i < 4 && l.size.Load() >= l.maxKeys; i++ {
				l.evict(now)
			}
			var loaded bool
			if v, loaded = l.entries.LoadOrStore(key, &failures{}); !loaded {
				l.size.Add(1)
			}
		}
		f := v.(*failures)
		f.mu.Lock()
		if f.dead {
			f.mu.Unlock()
			continue
		}
		if f.count == 0 || now >= f.start+l.window {
			f.start, f.count = now, 0
			f.blockedUntil.Store(0)
		}
		f.count++
		if f.count >= l.limit && f.blockedUntil.Load() == 0 {
			until := f.start + l.window
			f.blockedUntil.Store(until)
			f.mu.Unlock()
			return true, time.Duration(until - now)
		}
		f.mu.Unlock()
		return false, 0
	}
}

// expired reports whether f's window has ended; f.mu is held.
func (l *failureLimiter) expired(f *failures, now int64) bool {
	return now >= f.start+l.window
}

// remove deletes key's entry f; f.mu is held.
func (l *failureLimiter) remove(key any, f *failures) {
	f.dead = true
	l.entries.Delete(key)
	l.size.Add(-1)
}

// maybeSweep removes the entries whose window has ended, at most once per
// window (and not more often than once a second).
func (l *failureLimiter) maybeSweep(now int64) {
	every := max(l.window, int64(time.Second))
	last := l.lastSweep.Load()
	if now-last < every || !l.lastSweep.CompareAndSwap(last, now) {
		return
	}
	l.entries.Range(func(k, v any) bool {
		f := v.(*failures)
		f.mu.Lock()
		if !f.dead && l.expired(f, now) {
			l.remove(k, f)
		}
		f.mu.Unlock()
		return true
	})
}

// evict makes room for one entry: among a few entries it removes the
// expired ones, or else the least valuable one (not blocked before
// blocked; among those the oldest window, or the block that ends soonest).
func (l *failureLimiter) evict(now int64) {
	var (
		victimKey any
		victim    *failures
		vBlocked  bool
		vRank     int64
		freed     bool
		seen      int
	)
	l.entries.Range(func(k, v any) bool {
		seen++
		f := v.(*failures)
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.dead {
			return seen < evictSample
		}
		if l.expired(f, now) {
			l.remove(k, f)
			freed = true
			return seen < evictSample
		}
		blocked := f.blockedUntil.Load() != 0
		rank := f.start
		if blocked {
			rank = f.blockedUntil.Load()
		}
		if victim == nil || (vBlocked && !blocked) || (vBlocked == blocked && rank < vRank) {
			victimKey, victim, vBlocked, vRank = k, f, blocked, rank
		}
		return seen < evictSample
	})
	if freed || victim == nil {
		return
	}
	victim.mu.Lock()
	if !victim.dead {
		l.remove(victimKey, victim)
	}
	victim.mu.Unlock()
}

// sourceAddr is the address a request comes from: the last entry of
// X-Forwarded-For when the TCP peer is a trusted proxy (TrustProxies) and
// that entry is an IP address (optionally with a port), else the peer's
// IP address (RemoteAddr without the port).
func sourceAddr(r *http.Request) string {
	if fromTrustedProxy(r) {
		if a, ok := lastForwardedFor(r.Header.Values("X-Forwarded-For")); ok {
			return a
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// lastForwardedFor returns the last hop of X-Forwarded-For header lines.
func lastForwardedFor(values []string) (string, bool) {
	if len(values) == 0 {
		return "", false
	}
	v := values[len(values)-1]
	if i := strings.LastIndexByte(v, ','); i >= 0 {
		v = v[i+1:]
	}
	v = strings.TrimSpace(v)
	if a, err := netip.ParseAddr(v); err == nil {
		return a.Unmap().WithZone("").String(), true
	}
	if ap, err := netip.ParseAddrPort(v); err == nil {
		return ap.Addr().Unmap().WithZone("").String(), true
	}
	return "", false
}

// throttleSource is the part of a source address that failures count
// against: an IPv4 address as it is, an IPv6 address's /64.
func throttleSource(src string) string {
	if strings.IndexByte(src, ':') < 0 {
		return src
	}
	a, err := netip.ParseAddr(src)
	if err != nil {
		return src
	}
	if a = a.Unmap(); a.Is4() {
		return a.String()
	}
	p, _ := a.WithZone("").Prefix(64)
	return p.String()
}

// retryAfterSeconds rounds a wait up to whole seconds, at least 1.
func retryAfterSeconds(wait time.Duration) int {
	return max(1, int((wait+time.Second-1)/time.Second))
}

// seconds spells a number of seconds.
func seconds(n int) string {
	if n == 1 {
		return "1 second"
	}
	return strconv.Itoa(n) + " seconds"
}

// writeTokenThrottled answers a throttled token request: 429, Retry-After
// and an OAuth2 error body.
func writeTokenThrottled(w http.ResponseWriter, clientID, source string, wait time.Duration) {
	n := retryAfterSeconds(wait)
	client := "client " + clip(clientID)
	if clientID == "" {
		client = "requests without a client id"
	}
	w.Header().Set("Retry-After", strconv.Itoa(n))
	writeOAuthError(w, http.StatusTooManyRequests, "too_many_requests",
		fmt.Sprintf("too many failed client authentications for %s from %s; retry after %s", client, source, seconds(n)))
}

// writeBrokerThrottled answers a throttled broker or clone API request:
// 429, Retry-After and an OSB error body.
func writeBrokerThrottled(w http.ResponseWriter, api, source string, wait time.Duration) {
	n := retryAfterSeconds(wait)
	w.Header().Set("Retry-After", strconv.Itoa(n))
	w.Header().Set("Cache-Control", "no-store")
	writeBrokerError(w, http.StatusTooManyRequests, "TooManyRequests",
		fmt.Sprintf("too many failed %s authentications from %s; retry after %s", api, source, seconds(n)))
}
