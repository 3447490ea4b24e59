package server

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestFailureLimiter(t *testing.T) {
	type step struct {
		at          time.Duration // since the start
		key         string
		fail        bool          // record a failure (else: check)
		wantBlocked bool          // fail: this failure reached the limit
		wantWait    time.Duration // fail: the block's length; check: the wait
	}
	cases := []struct {
		name          string
		limit         int
		window        time.Duration
		steps         []step
		wantNilLimter bool
	}{
		{name: "blocks at the limit until the window ends", limit: 3, window: time.Minute, steps: []step{
			{at: 0, key: "a", fail: true},
			{at: time.Second, key: "a"}, // below the limit: not blocked
			{at: 1 * time.Second, key: "a", fail: true},
			{at: 2 * time.Second, key: "a", fail: true, wantBlocked: true, wantWait: 58 * time.Second},
			{at: 2 * time.Second, key: "a", wantWait: 58 * time.Second},
			{at: 59 * time.Second, key: "a", wantWait: time.Second},
			{at: 60 * time.Second, key: "a"},
			{at: 60 * time.Second, key: "a", fail: true}, // a new window
			{at: 61 * time.Second, key: "a"},
		}},
		{name: "failures of an ended window do not count", limit: 2, window: 10 * time.Second, steps: []step{
			{at: 0, key: "a", fail: true},
			{at: 10 * time.Second, key: "a", fail: true},
			{at: 11 * time.Second, key: "a"},
			{at: 12 * time.Second, key: "a", fail: true, wantBlocked: true, wantWait: 8 * time.Second},
		}},
		{name: "keys are independent", limit: 2, window: time.Minute, steps: []step{
			{at: 0, key: "a", fail: true},
			{at: 0, key: "a", fail: true, wantBlocked: true, wantWait: time.Minute},
			{at: 0, key: "b"},
			{at: 0, key: "b", fail: true},
			{at: 30 * time.Second, key: "a", wantWait: 30 * time.Second},
		}},
		{name: "limit 1 blocks at the first failure", limit: 1, window: time.Second, steps: []step{
			{at: 0, key: "a", fail: true, wantBlocked: true, wantWait: time.Second},
			{at: 500 * time.Millisecond, key: "a", wantWait: 500 * time.Millisecond},
			{at: time.Second, key: "a"},
		}},
		{name: "limit 0 disables", limit: 0, window: time.Minute, wantNilLimter: true, steps: []step{
			{at: 0, key: "a", fail: true},
			{at: 0, key: "a", fail: true},
			{at: 0, key: "a"},
		}},
		{name: "window 0 disables", limit: 1, window: 0, wantNilLimter: true, steps: []step{
			{at: 0, key: "a", fail: true},
			{at: 0, key: "a"},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clock := newFakeClock()
			start := clock.now()
			l := newFailureLimiter(tc.limit, tc.window, 0, clock.now)
			if (l == nil) != tc.wantNilLimter {
				t.Fatalf("limiter is %v, want nil: %v", l, tc.wantNilLimter)
			}
			for i, st := range tc.steps {
				clock.set(start.Add(st.at))
				k := l.key(st.key, "127.0.0.1")
				if st.fail {
					blocked, wait := l.fail(k)
					if blocked != st.wantBlocked || wait != st.wantWait {
						t.Errorf("step %d: fail(%s) at %v = %v, %v; want %v, %v", i, st.key, st.at, blocked, wait, st.wantBlocked, st.wantWait)
					}
				} else if wait := l.check(k); wait != st.wantWait {
					t.Errorf("step %d: check(%s) at %v = %v, want %v", i, st.key, st.at, wait, st.wantWait)
				}
			}
		})
	}
}

// TestFailureLimiterBounded cycles through many keys: the table stays at
// its bound, a blocked key survives the churn, and ended windows are swept.
func TestFailureLimiterBounded(t *testing.T) {
	clock := newFakeClock()
	const maxKeys = 100
	l := newFailureLimiter(3, time.Minute, maxKeys, clock.now)
	victim := l.key("sb-real!t1", "192.0.2.7")
	for range 3 {
		l.fail(victim)
	}
	for i := range 20_000 {
		l.fail(l.key(fmt.Sprintf("sb-junk-%d", i), "192.0.2.7"))
		if n := l.size.Load(); n > maxKeys {
			t.Fatalf("after %d keys the table holds %d entries, more than %d", i+1, n, maxKeys)
		}
	}
	if l.check(victim) == 0 {
		t.Error("the blocked key was evicted by keys that were not blocked")
	}
	clock.advance(time.Minute)
	l.fail(l.key("sb-late", "192.0.2.8"))
	if n := l.size.Load(); n != 1 {
		t.Errorf("after the window the table holds %d entries, want 1 (the new one)", n)
	}
	if l.check(victim) != 0 {
		t.Error("the block outlived its window")
	}
}

// TestFailureLimiterConcurrent hammers one limiter from many goroutines
// (run with -race): every key ends blocked, and the table stays bounded.
func TestFailureLimiterConcurrent(t *testing.T) {
	l := newFailureLimiter(5, time.Minute, 64, nil)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				k := l.key("c", strconv.Itoa(g*10_000+i%50))
				l.check(k)
				l.fail(k)
			}
		}()
	}
	wg.Wait()
	if n := l.size.Load(); n > 64+8 {
		t.Errorf("table holds %d entries, bound 64 (+ one per racing goroutine)", n)
	}
}

func TestSourceAddr(t *testing.T) {
	cases := []struct {
		name    string
		remote  string
		trusted bool
		xff     []string
		want    string
	}{
		{"peer IPv4", "192.0.2.1:40000", false, nil, "192.0.2.1"},
		{"peer IPv6", "[2001:db8::1]:40000", false, nil, "2001:db8::1"},
		{"X-Forwarded-For from an untrusted peer is ignored", "192.0.2.1:1", false, []string{"198.51.100.9"}, "192.0.2.1"},
		{"trusted proxy: last hop", "10.0.0.2:1", true, []string{"203.0.113.5, 198.51.100.9"}, "198.51.100.9"},
		{"trusted proxy: last of several lines", "10.0.0.2:1", true, []string{"203.0.113.5", "198.51.100.9"}, "198.51.100.9"},
		{"trusted proxy: hop with a port", "10.0.0.2:1", true, []string{"198.51.100.9:5555"}, "198.51.100.9"},
		{"trusted proxy: IPv6 hop with a port", "10.0.0.2:1", true, []string{"[2001:db8::7]:5555"}, "2001:db8::7"},
		{"trusted proxy: IPv4-mapped hop", "10.0.0.2:1", true, []string{"::ffff:198.51.100.9"}, "198.51.100.9"},
		{"trusted proxy: garbage hop falls back to the peer", "10.0.0.2:1", true, []string{"unknown"}, "10.0.0.2"},
		{"trusted proxy: no header", "10.0.0.2:1", true, nil, "10.0.0.2"},
		{"RemoteAddr without a port", "192.0.2.1", false, nil, "192.0.2.1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.remote
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if tc.trusted {
				r = r.WithContext(context.WithValue(r.Context(), proxyKey{}, true))
			}
			if got := sourceAddr(r); got != tc.want {
				t.Errorf("sourceAddr = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestThrottleSource(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"127.0.0.1", "127.0.0.1"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"2001:db8:1:2::9", "2001:db8:1:2::/64"},
		{"::ffff:192.0.2.1", "192.0.2.1"},
		{"fe80::1%eth0", "fe80::/64"},
		{"@", "@"},
		{"not:an:address", "not:an:address"},
	} {
		if got := throttleSource(tc.in); got != tc.want {
			t.Errorf("throttleSource(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestRetryAfterSeconds(t *testing.T) {
	for _, tc := range []struct {
		wait time.Duration
		want int
	}{{time.Nanosecond, 1}, {time.Second, 1}, {time.Second + 1, 2}, {59500 * time.Millisecond, 60}, {0, 1}} {
		if got := retryAfterSeconds(tc.wait); got != tc.want {
			t.Errorf("retryAfterSeconds(%v) = %d, want %d", tc.wait, got, tc.want)
		}
	}
}

// request is one request to the in-process server from a given address.
type request struct {
	method, path, body, remote string
	hdr                        map[string]string
}

func (f *fixture) do(rq request) *httptest.ResponseRecorder {
	req := httptest.NewRequest(rq.method, rq.path, strings.NewReader(rq.body))
	req.RemoteAddr = rq.remote
	if req.RemoteAddr == "" {
		req.RemoteAddr = "192.0.2.1:1234"
	}
	for k, v := range rq.hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	f.srv.ServeHTTP(rec, req)
	return rec
}

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

// TestTokenThrottle runs each kind of failed client authentication to the
// limit from one address, then checks the 429, that a valid secret is
// refused there too (the check precedes authentication), that another
// address is unaffected, and that the block ends with its window.
func TestTokenThrottle(t *testing.T) {
	const limit = 3
	clock := newFakeClock()
	f := newFixtureWith(t, func(c *Config) {
		c.AuthFailureLimit, c.AuthFailureWindow, c.Now = limit, time.Minute, clock.now
	})
	form := func(kv ...string) string {
		v := url.Values{"grant_type": {"client_credentials"}}
		for i := 0; i < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v.Encode()
	}
	ctype := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	withBasic := func(user, pass string) map[string]string {
		return map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Authorization": basic(user, pass)}
	}
	// good authenticates as the fixture's client the same way as the
	// failures (same client id, so the same key).
	cases := []struct {
		name     string
		clientID string // in the 429's description
		bad      []request
		good     request
	}{
		{
			name: "wrong secret in the body", clientID: f.clientID,
			bad:  []request{{body: form("client_id", f.clientID, "client_secret", "wrong"), hdr: ctype}},
			good: request{body: f.tokenForm(), hdr: ctype},
		},
		{
			name: "wrong secret in Basic, user sent plain and percent-encoded", clientID: f.clientID,
			bad: []request{
				{body: form(), hdr: withBasic(f.clientID, "wrong")},
				{body: form(), hdr: withBasic(strings.Replace(f.clientID, "!", "%21", 1), "wrong")},
				{body: form(), hdr: withBasic("%73"+f.clientID[1:], "wrong")},
			},
			good: request{body: form(), hdr: withBasic(f.clientID, f.secret)},
		},
		{
			name: "unknown client", clientID: "sb-nobody!t1",
			bad:  []request{{body: form("client_id", "sb-nobody!t1", "client_secret", "x"), hdr: ctype}},
			good: request{body: form("client_id", "sb-nobody!t1", "client_secret", "x"), hdr: ctype},
		},
		{
			name: "no credentials at all", clientID: "",
			bad:  []request{{body: form(), hdr: ctype}},
			good: request{body: form(), hdr: ctype},
		},
		{
			name: "client id without secret or certificate", clientID: f.clientID,
			bad:  []request{{body: form("client_id", f.clientID), hdr: ctype}},
			good: request{body: f.tokenForm(), hdr: ctype},
		},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			attacker := fmt.Sprintf("198.51.100.%d:4000", i+1)
			other := fmt.Sprintf("203.0.113.%d:4000", i+1)
			for n := range limit {
				rq := tc.bad[n%len(tc.bad)]
				rq.method, rq.path, rq.remote = "POST", "/oauth/token", attacker
				if rec := f.do(rq); rec.Code != http.StatusUnauthorized {
					t.Fatalf("failure %d: %d %s, want 401", n+1, rec.Code, rec.Body)
				}
			}
			// Over the limit, another failure is a 429 ...
			bad := tc.bad[0]
			bad.method, bad.path, bad.remote = "POST", "/oauth/token", attacker
			rec := f.do(bad)
			if rec.Code != http.StatusTooManyRequests {
				t.Fatalf("a failure after %d failures: %d %s, want 429", limit, rec.Code, rec.Body)
			}
			if got := rec.Header().Get("Retry-After"); got != "60" {
				t.Errorf("Retry-After %q, want 60", got)
			}
			if got := rec.Header().Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", got)
			}
			var body map[string]string
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("429 body is not JSON: %q", rec.Body)
			}
			who := "client " + tc.clientID
			if tc.clientID == "" {
				who = "requests without a client id"
			}
			want := map[string]string{"error": "too_many_requests", "error_description": "too many failed client authentications for " +
				who + " from " + strings.Split(attacker, ":")[0] + "; retry after 60 seconds"}
			if fmt.Sprint(body) != fmt.Sprint(want) {
				t.Errorf("429 body %v, want %v", body, want)
			}
			// ... but the owner's valid credentials, from the same address,
			// still get their token: a mistyped secret, a neighbour behind
			// the same NAT or an attacker never lock the owner out.
			good := tc.good
			good.method, good.path, good.remote = "POST", "/oauth/token", attacker
			wantGood := http.StatusOK
			if tc.clientID != f.clientID {
				wantGood = http.StatusTooManyRequests // no valid credentials to present
			}
			if rec := f.do(good); rec.Code != wantGood {
				t.Errorf("the good request from the blocked address: %d %s, want %d", rec.Code, rec.Body, wantGood)
			}
			if tc.clientID == f.clientID {
				good.remote = other
				if rec := f.do(good); rec.Code != http.StatusOK {
					t.Errorf("the real client from another address: %d %s, want 200", rec.Code, rec.Body)
				}
			}
			clock.advance(59 * time.Second)
			if rec := f.do(bad); rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "1" {
				t.Errorf("1 s before the end: %d, Retry-After %q; want 429, 1", rec.Code, rec.Header().Get("Retry-After"))
			}
			clock.advance(time.Second)
			if rec := f.do(bad); rec.Code != http.StatusUnauthorized {
				t.Errorf("a failure after the window: %d %s, want 401", rec.Code, rec.Body)
			}
		})
	}
}

// TestTokenThrottleOff: without a limit, failures are never throttled.
func TestTokenThrottleOff(t *testing.T) {
	f := newFixture(t)
	for n := range 50 {
		rec := f.serve("POST", "/oauth/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {f.clientID}, "client_secret": {"x"}}.Encode(),
			map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
		if rec.Code != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d, want 401", n+1, rec.Code)
		}
	}
}

// TestBrokerThrottle: failed Basic authentications at the broker API and
// the clone API count per source address, each API on its own.
func TestBrokerThrottle(t *testing.T) {
	const limit = 2
	clock := newFakeClock()
	f := newFixtureWith(t, func(c *Config) {
		c.AuthFailureLimit, c.AuthFailureWindow, c.Now = limit, 30*time.Second, clock.now
	})
	osb := func(user, pass, remote string) *httptest.ResponseRecorder {
		return f.do(request{method: "GET", path: "/v2/catalog", remote: remote,
			hdr: map[string]string{"Authorization": basic(user, pass), "X-Broker-API-Version": "2.17"}})
	}
	clone := func(user, pass, remote string) *httptest.ResponseRecorder {
		return f.do(request{method: "DELETE", path: "/sap/rest/broker/clones/c1", remote: remote,
			hdr: map[string]string{"Authorization": basic(user, pass)}})
	}
	const attacker, other = "198.51.100.1:1", "203.0.113.1:1"
	cases := []struct {
		name    string
		api     string
		send    func(user, pass, remote string) *httptest.ResponseRecorder
		badUser string
		good    func(remote string) *httptest.ResponseRecorder
		goodAt  int // status of a good request when not throttled
	}{
		{name: "broker API", api: "broker", send: osb, badUser: "b",
			good: func(remote string) *httptest.ResponseRecorder { return osb("b", "p", remote) }, goodAt: 200},
		{name: "clone API", api: "clone", send: clone, badUser: f.clientID,
			// Authenticated, the delete of a clone that does not exist is a 404.
			good: func(remote string) *httptest.ResponseRecorder { return clone(f.clientID, f.secret, remote) }, goodAt: 404},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for n := range limit {
				if rec := tc.send(tc.badUser, "wrong", attacker); rec.Code != http.StatusUnauthorized {
					t.Fatalf("failure %d: %d %s", n+1, rec.Code, rec.Body)
				}
			}
			rec := tc.send(tc.badUser, "wrong", attacker)
			if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "30" {
				t.Fatalf("a failure from the blocked address: %d, Retry-After %q; want 429, 30: %s", rec.Code, rec.Header().Get("Retry-After"), rec.Body)
			}
			var body map[string]string
			json.Unmarshal(rec.Body.Bytes(), &body)
			want := map[string]string{"error": "TooManyRequests", "description": "too many failed " + tc.api + " authentications from 198.51.100.1; retry after 30 seconds"}
			if fmt.Sprint(body) != fmt.Sprint(want) {
				t.Errorf("429 body %v, want %v", body, want)
			}
			// Valid credentials pass from the blocked address too.
			if rec := tc.good(attacker); rec.Code != tc.goodAt {
				t.Errorf("good credentials from the blocked address: %d %s, want %d", rec.Code, rec.Body, tc.goodAt)
			}
			if rec := tc.good(other); rec.Code != tc.goodAt {
				t.Errorf("from another address: %d %s, want %d", rec.Code, rec.Body, tc.goodAt)
			}
			clock.advance(30 * time.Second)
			if rec := tc.send(tc.badUser, "wrong", attacker); rec.Code != http.StatusUnauthorized {
				t.Errorf("a failure after the window: %d %s, want 401", rec.Code, rec.Body)
			}
		})
	}
}

// BenchmarkThrottleCheck is the throttle's cost on the hot path: the key
// hash and the check, with a populated table.
func BenchmarkThrottleCheck(b *testing.B) {
	l := newFailureLimiter(10, time.Minute, 0, nil)
	for i := range 10_000 {
		l.fail(l.key("sb-x-"+strconv.Itoa(i), "192.0.2.1"))
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if l.check(l.key("sb-orders!t1", "127.0.0.1")) != 0 {
				b.Fatal("throttled")
			}
		}
	})
}
