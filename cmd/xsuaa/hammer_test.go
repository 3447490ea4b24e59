package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// hammerResult is one token request of a hammering goroutine.
type hammerResult struct {
	start, end time.Time
	code       int
	errCode    string // the OAuth "error" of a failure
	reused     bool   // sent on a connection that had served a request before
	upstream   string // the replica a load balancer sent it to (its X-Upstream header)
}

// hammerer sends one credential's token request in a loop over its own
// keep-alive connection (its own Transport, MaxConnsPerHost 1), from its
// own source address, and records every request.
type hammerer struct {
	name   string
	client *http.Client
	url    string
	form   string
	basic  []string

	mu      sync.Mutex
	results []hammerResult
	err     error
}

func newHammerer(name string, s *testServer, base string, cert *tls.Certificate, form url.Values, basic []string) *hammerer {
	cfg := &tls.Config{RootCAs: s.caPool()}
	if cert != nil {
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	d := &net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: nextSourceAddr()}}
	tr := &http.Transport{TLSClientConfig: cfg, DialContext: d.DialContext, MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1, IdleConnTimeout: time.Minute}
	return &hammerer{name: name, client: &http.Client{Timeout: 20 * time.Second, Transport: tr}, url: base + "/oauth/token", form: form.Encode(), basic: basic}
}

// run sends requests back to back until stop is closed.
func (h *hammerer) run(stop <-chan struct{}) {
	defer h.client.CloseIdleConnections()
	for {
		select {
		case <-stop:
			return
		default:
		}
		var r hammerResult
		ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { r.reused = i.Reused }})
		req, _ := http.NewRequestWithContext(ctx, "POST", h.url, strings.NewReader(h.form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if h.basic != nil {
			req.SetBasicAuth(h.basic[0], h.basic[1])
		}
		r.start = time.Now()
		resp, err := h.client.Do(req)
		if err == nil {
			var b []byte
			b, err = io.ReadAll(resp.Body)
			resp.Body.Close()
			r.end, r.code, r.upstream = time.Now(), resp.StatusCode, resp.Header.Get("X-Upstream")
			var m map[string]any
			if err == nil && json.Unmarshal(b, &m) != nil {
				err = fmt.Errorf("status %d, body is not JSON: %q", resp.StatusCode, b)
			}
			r.errCode, _ = m["error"].(string)
		}
		h.mu.Lock()
		if err != nil {
			h.err = err
			h.mu.Unlock()
			return
		}
		h.results = append(h.results, r)
		h.mu.Unlock()
	}
}

// count returns how many recorded requests satisfy ok.
func (h *hammerer) count(ok func(hammerResult) bool) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, r := range h.results {
		if ok(r) {
			n++
		}
	}
	return n
}

func (h *hammerer) failed() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.err
}

// waitFor polls until every hammerer has at least n requests satisfying
// ok, failing the test after a generous limit or on a transport error.
func waitFor(t *testing.T, what string, hs []*hammerer, n int, ok func(hammerResult) bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		done := true
		for _, h := range hs {
			if err := h.failed(); err != nil {
				t.Fatalf("%s: %v", h.name, err)
			}
			if h.count(ok) < n {
				done = false
			}
		}
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %d requests %s on each connection", n, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestUnbindUnderHammer: six goroutines, each on its own keep-alive
// connection, request tokens with binding A's credential as fast as they
// can, while another goroutine does the same with binding B of the same
// instance. A is unbound in the middle. No request for A that started
// after the unbind response arrived gets a token; each connection's first
// such request is a 401 on the connection that got tokens before; B never
// notices. Once with a client secret (Basic, plain HTTP) and once with
// X.509 certificates (mutual TLS on the HTTPS listener).
func TestUnbindUnderHammer(t *testing.T) {
	const conns, before, after = 6, 50, 50
	type credential struct {
		base  string
		cert  *tls.Certificate
		form  url.Values
		basic []string
	}
	secretCred := func(s *testServer, instance, binding string) credential {
		_, c := s.bind(instance, binding, map[string]any{"credential-type": "binding-secret"})
		return credential{base: s.httpURL, form: url.Values{"grant_type": {"client_credentials"}}, basic: []string{c.ClientID, c.ClientSecret}}
	}
	certCred := func(s *testServer, instance, binding string) credential {
		_, c := s.bindX509(instance, binding, map[string]any{"credential-type": "x509", "x509": map[string]any{"validity": 1}})
		cert, err := tls.X509KeyPair([]byte(c.Certificate), []byte(c.Key))
		if err != nil {
			s.t.Fatal(err)
		}
		return credential{base: c.CertURL, cert: &cert, form: url.Values{"grant_type": {"client_credentials"}, "client_id": {c.ClientID}}}
	}
	for _, tc := range []struct {
		name string
		cred func(s *testServer, instance, binding string) credential
	}{
		{"secret", secretCred},
		{"x509", certCred},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, "")
			inst := "hammer-" + tc.name
			s.provision(inst, inst, fmt.Sprintf(x5Descriptor, inst))
			a, b := tc.cred(s, inst, "a"), tc.cred(s, inst, "b")

			var hs []*hammerer
			for i := 0; i < conns; i++ {
				hs = append(hs, newHammerer(fmt.Sprintf("A%d", i), s, a.base, a.cert, a.form, a.basic))
			}
			hb := newHammerer("B", s, b.base, b.cert, b.form, b.basic)
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for _, h := range append(hs, hb) {
				wg.Add(1)
				go func() { defer wg.Done(); h.run(stop) }()
			}
			stopped := false
			halt := func() {
				if !stopped {
					stopped = true
					close(stop)
					wg.Wait()
				}
			}
			defer halt()

			waitFor(t, "answered 200", append(hs, hb), before, func(r hammerResult) bool { return r.code == 200 })
			unbindStart := time.Now()
			s.unbind(inst, "a")
			unbound := time.Now() // the unbind's response has been read
			startedAfter := func(r hammerResult) bool { return r.start.After(unbound) }
			waitFor(t, "started after the unbind returned", append(hs, hb), after, startedAfter)
			halt()

			var beforeOK, raced, afterN, after401, after429, bN int
			for _, h := range hs {
				firstAfter := true
				for _, r := range h.results {
					switch {
					case !r.start.After(unbound):
						if r.end.Before(unbindStart) {
							if r.code != 200 {
								t.Errorf("%s: %d before the unbind was sent", h.name, r.code)
							}
							beforeOK++
						} else if r.code != 200 && r.code != 401 {
							t.Errorf("%s: %d for a request that overlapped the unbind", h.name, r.code)
						} else {
							raced++
						}
					default:
						afterN++
						switch {
						case r.code == 200:
							t.Errorf("%s: a request started %v after the unbind returned got a token", h.name, r.start.Sub(unbound))
						case r.code == 401 && r.errCode == "invalid_client":
							after401++
						case r.code == 429 && !firstAfter: // throttled failed authentications
							after429++
						default:
							t.Errorf("%s: %d %s after the unbind, want 401 invalid_client", h.name, r.code, r.errCode)
						}
						if firstAfter && !r.reused {
							t.Errorf("%s: the first request after the unbind opened a new connection; it must reuse the one that got tokens", h.name)
						}
						firstAfter = false
					}
				}
			}
			for _, r := range hb.results {
				if r.code != 200 {
					t.Errorf("B: %d at %v relative to the unbind, want 200 throughout", r.code, r.start.Sub(unbound))
				}
				if startedAfter(r) {
					bN++
				}
			}
			if after401 < conns {
				t.Errorf("%d requests for A answered 401 after the unbind, want at least one per connection", after401)
			}
			t.Logf("A: %d tokens before the unbind, %d requests overlapping it, %d started after it returned (%d answered 401, %d 429, 0 tokens); B: %d tokens, %d after the unbind",
				beforeOK, raced, afterN, after401, after429, len(hb.results), bN)
		})
	}
}
