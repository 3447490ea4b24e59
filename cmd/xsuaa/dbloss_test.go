package main

import (
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openxsuaa/xsuaa/clients/storage/storagetest"
)

// dbProxy forwards TCP connections to a database and can cut them: by
// refusing (the listener closed, connections reset, as when the database
// host is down) or by black-holing (connections kept open but nothing
// forwarded, as when the network drops packets).
type dbProxy struct {
	t      *testing.T
	addr   string
	target string

	mu        sync.Mutex
	ln        net.Listener
	conns     []net.Conn // client sides
	ups       []net.Conn // database sides
	blackhole bool
}

func newDBProxy(t *testing.T, target string) *dbProxy {
	p := &dbProxy{t: t, target: target}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(func() { p.refuse() })
	return p
}

func (p *dbProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			p.conns = append(p.conns, c)
			hole := p.blackhole
			p.mu.Unlock()
			if hole {
				continue // held open, never answered
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.ups = append(p.ups, up)
			p.mu.Unlock()
			go func() { io.Copy(up, c); up.Close() }()
			go func() {
				io.Copy(c, up)
				p.mu.Lock()
				hole := p.blackhole
				p.mu.Unlock()
				if !hole { // in a black hole the client side stays open, unanswered
					c.Close()
				}
			}()
		}
	}()
}

// refuse closes the listener and every connection.
func (p *dbProxy) refuse() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range append(p.conns, p.ups...) {
		c.Close()
	}
	p.conns, p.ups = nil, nil
}

// holeUp keeps every client connection open but stops forwarding: the
// database side is closed, the client side is neither answered nor reset.
func (p *dbProxy) holeUp() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.blackhole = true
	for _, c := range p.ups {
		c.Close()
	}
	p.ups = nil
}

// restore forwards again, on the same address.
func (p *dbProxy) restore() {
	p.mu.Lock()
	p.blackhole = false
	for _, c := range append(p.conns, p.ups...) {
		c.Close()
	}
	p.conns, p.ups = nil, nil
	running := p.ln != nil
	p.mu.Unlock()
	if running {
		return
	}
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatalf("restore the database proxy on %s: %v", p.addr, err)
	}
	p.serve(ln)
}

// TestDatabaseLost: a replica that loses its database stops issuing
// tokens for credentials it can no longer confirm, within the documented
// bound (2 s, server.DefaultSyncTimeout), whether the database refuses
// connections or the network swallows them; it still publishes its last
// known keys, and it issues tokens again once the database is back.
func TestDatabaseLost(t *testing.T) {
	if postgresE2E() {
		t.Skip("runs in the default pass")
	}
	dbURL := storagetest.PostgresURL(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newDBProxy(t, u.Host)
	u.Host = proxy.addr
	env := []string{"XSUAA_DATABASE=" + u.String() + "?connect_timeout=2", "XSUAA_MASTER_KEY=" + e2eMasterKey,
		"XSUAA_BROKER_USER=" + brokerUser, "XSUAA_BROKER_PASSWORD=" + brokerPass, "XSUAA_ADMIN_USER=" + adminUser, "XSUAA_ADMIN_PASSWORD=" + adminPass}
	s, err := spawnServer(t, t.TempDir(), env)
	if err != nil {
		t.Fatal(err)
	}
	s.provision("lost", "lost", `{"xsappname":"lost"}`)
	_, c := s.bind("lost", "lost-1", nil)
	if code, _ := tokenStatus(t, s.httpURL, c); code != 200 {
		t.Fatalf("token before the database was lost: %d", code)
	}
	const bound = 2*time.Second + 3*time.Second // the sync timeout, and slack for a loaded machine

	for _, tc := range []struct {
		name string
		cut  func()
	}{
		{"refused", proxy.refuse},
		{"black hole", proxy.holeUp},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cut()
			// Several requests, so that one of them meets the background
			// follower's read hanging in the cut connection too.
			var took time.Duration
			for range 3 {
				start := time.Now()
				req, _ := http.NewRequest("POST", s.httpURL+"/oauth/token", strings.NewReader("grant_type=client_credentials"))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth(c.ClientID, c.ClientSecret)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				took = max(took, time.Since(start))
				if resp.StatusCode != 503 || !strings.Contains(string(b), "temporarily_unavailable") || resp.Header.Get("Retry-After") == "" {
					t.Errorf("token without the database: %d %s (Retry-After %q), want 503 temporarily_unavailable", resp.StatusCode, b, resp.Header.Get("Retry-After"))
				}
				if since := time.Since(start); since > bound {
					t.Errorf("the refusal took %v, want at most %v", since, bound)
				}
			}
			if code := healthz(t, s); code != 503 {
				t.Errorf("healthz without the database: %d, want 503", code)
			}
			if kids, err := jwksKids(s.httpURL); err != nil || len(kids) == 0 {
				t.Errorf("token_keys without the database: %v %v, want the last known keys", kids, err)
			}
			proxy.restore()
			deadline := time.Now().Add(20 * time.Second)
			for {
				code, _ := tokenStatus(t, s.httpURL, c)
				if code == 200 {
					if code := healthz(t, s); code != 200 {
						t.Errorf("healthz with the database back: %d, want 200", code)
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no token 20 s after the database came back (last %d); logs:\n%s", code, s.logs)
				}
				time.Sleep(200 * time.Millisecond)
			}
			t.Logf("refused after at most %v; tokens again after the database came back", took)
		})
	}
}

// healthz returns the status of the server's health check.
func healthz(t *testing.T, s *testServer) int {
	t.Helper()
	resp, err := http.Get(s.httpURL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
