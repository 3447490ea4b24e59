package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
	_ "github.com/mattn/go-sqlite3"

	"github.com/openxsuaa/xsuaa/keys/keystest"
)

// Crash durability: the broker acknowledges an operation only after it is
// committed (SQLite WAL, synchronous=FULL), so a SIGKILL at any moment
// loses nothing that was acknowledged, and leaves every operation that was
// in flight either wholly done or wholly undone.

// sourceAddrs hands out loopback source addresses (127.0.1.1, 127.0.1.2,
// …) for requests that are meant to fail client authentication, so that
// per-client-and-address throttling of failed authentications never
// answers 429 to them, or to the successful requests the tests make from
// 127.0.0.1.
var sourceAddrs atomic.Uint32

func nextSourceAddr() net.IP {
	n := sourceAddrs.Add(1) - 1
	return net.IPv4(127, byte(1+n/250%250), byte(1+n%250), 1).To4()
}

// clientFrom returns an HTTP client that trusts the server's CA, presents
// cert (if not nil) and connects from src (if not nil).
func (s *testServer) clientFrom(src net.IP, cert *tls.Certificate) *http.Client {
	cfg := &tls.Config{RootCAs: s.caPool()}
	if cert != nil {
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	d := &net.Dialer{Timeout: 10 * time.Second}
	if src != nil {
		d.LocalAddr = &net.TCPAddr{IP: src}
	}
	return &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg, DialContext: d.DialContext, DisableKeepAlives: true}}
}

// tryBroker sends an OSB request without failing the test: a transport
// error (the server was killed) comes back as err.
func tryBroker(c *http.Client, base, method, path string, body any) (int, map[string]any, error) {
	var rd io.Reader
	if body != nil {
		j, _ := json.Marshal(body)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, base+path, rd)
	req.SetBasicAuth(brokerUser, brokerPass)
	req.Header.Set("X-Broker-API-Version", "2.17")
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return resp.StatusCode, nil, fmt.Errorf("status %d, body is not a JSON object: %q", resp.StatusCode, b)
	}
	return resp.StatusCode, m, nil
}

// Kinds of bindings in the burst.
const (
	durSecret     = "secret"       // binding-secret
	durSelfX509   = "x509-self"    // self-managed certificate from the test's CA, pinned
	durManagedCrt = "x509-managed" // issued by the server's CA (RSA key generation)
)

// durInstance is an instance the burst created or used.
type durInstance struct {
	id, xsappname string
	body          map[string]any
	status        int // of the provision: 0 while in flight or lost at the kill
	refused       bool
}

func (in *durInstance) clientID() string { return "sb-" + in.xsappname + "!t1" }

// durBinding is one binding's history: its bind request and response, and
// the unbind, if one was sent.
type durBinding struct {
	inst *durInstance
	id   string
	kind string
	body map[string]any
	// cert is the self-managed certificate (known before the request) or,
	// once the bind is acknowledged, the service-managed one.
	cert    *tls.Certificate
	certPEM string
	keyPEM  string // a service-managed certificate's key, once acknowledged
	secret  string

	bindStatus   int  // 0: in flight at the kill
	unbindSent   bool // an unbind was sent
	unbindStatus int  // 0: in flight at the kill (when unbindSent)
	// refused: the last request found the server already dead
	// (connection refused), so it never reached it.
	refused bool

	// After the round's restart the binding is settled: it exists with
	// a known credential (present), it is gone, or it exists with a
	// credential the test never saw (an unacknowledged secret bind that
	// committed), which only GET can check.
	present, credUnknown bool
}

func (b *durBinding) path() string {
	return "/v2/service_instances/" + b.inst.id + "/service_bindings/" + b.id
}

// tokenStatus requests a client_credentials token with the binding's
// credential: the secret over plain HTTP, the certificate over HTTPS.
// Requests expected to fail come from a fresh source address.
func (b *durBinding) tokenStatus(t *testing.T, s *testServer, wantOK bool) (int, map[string]any) {
	t.Helper()
	var src net.IP
	if !wantOK {
		src = nextSourceAddr()
	}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {b.inst.clientID()}}
	base := s.httpsURL
	var cert *tls.Certificate
	if b.kind == durSecret {
		form.Set("client_secret", b.secret)
		base = s.httpURL
	} else {
		cert = b.cert
	}
	c := s.clientFrom(src, cert)
	defer c.CloseIdleConnections()
	req, _ := http.NewRequest("POST", base+"/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("token for %s: %v", b.id, err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("token for %s: %d, body is not JSON: %v", b.id, resp.StatusCode, err)
	}
	return resp.StatusCode, m
}

// durLedger records every operation of every round.
type durLedger struct {
	mu        sync.Mutex
	instances []*durInstance
	bindings  []*durBinding
}

// TestDurabilityCrash runs bursts of concurrent provisions, binds and
// unbinds (secrets, self-managed and service-managed certificates) over
// the OSB API, kills the server with SIGKILL in the middle of each burst,
// restarts it on the same data directory and checks that every
// acknowledged operation survived, that every operation in flight at the
// kill is wholly present or wholly absent, that retrying it is
// idempotent, and that the SQLite file passes PRAGMA integrity_check. Each
// round kills at a different point and re-checks all earlier rounds.
func TestDurabilityCrash(t *testing.T) {
	dir := t.TempDir()
	ext := keystest.NewCA(t, "Durability Client CA")
	caFile := filepath.Join(dir, "client-ca.pem")
	if err := os.WriteFile(caFile, []byte(ext.PEM()), 0o644); err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(dir, "data")
	const workers = 8
	killAfter := []int{20, 90, 45, 150, 60} // acknowledged operations in the round before the kill
	ledger := &durLedger{}

	for round, after := range killAfter {
		s := startServer(t, dataDir, "--client-ca", caFile)
		if round > 0 {
			t.Logf("after the kill of round %d: %v", round-1, settleAndVerify(t, s, ledger, round-1))
		}

		// Two shared instances per round, acknowledged before the burst.
		var shared []*durInstance
		for _, kind := range []string{"sec", "x5"} {
			in := newDurInstance(fmt.Sprintf("r%d-%s", round, kind))
			code, body := s.broker("PUT", "/v2/service_instances/"+in.id, in.body)
			if code != 201 {
				t.Fatalf("provision %s: %d %v", in.id, code, body)
			}
			in.status = code
			ledger.instances = append(ledger.instances, in)
			shared = append(shared, in)
		}

		var acked, started atomic.Int32
		var killed atomic.Bool
		killNow := make(chan struct{})
		var once sync.Once
		ack := func() {
			if int(acked.Add(1)) == after {
				once.Do(func() { close(killNow) })
			}
		}
		killDone := make(chan struct{})
		go func() {
			select {
			case <-killNow:
			case <-time.After(20 * time.Second):
			}
			// A little jitter, so that the kill lands at different
			// points of the requests in flight (parsing, commit, fsync,
			// response).
			time.Sleep(time.Duration(rand.IntN(2000)) * time.Microsecond)
			killed.Store(true)
			s.cmd.Process.Signal(syscall.SIGKILL)
			<-s.done
			close(killDone)
		}()

		var wg sync.WaitGroup
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				durWorker(t, s, ledger, ext, round, w, shared, &killed, &started, ack)
			}(w)
		}
		<-killDone
		wg.Wait()
		if int(acked.Load()) < after {
			t.Fatalf("round %d: only %d operations were acknowledged before the 20 s limit, want %d; logs:\n%s", round, acked.Load(), after, s.logs)
		}
		t.Logf("round %d: SIGKILL after %d acknowledged operations (%d started)", round, acked.Load(), started.Load())

		// The crashed database is consistent as it lies on disk.
		checkDatabase(t, dataDir, ledger, round)
	}

	s := startServer(t, dataDir, "--client-ca", caFile)
	t.Logf("after the kill of round %d: %v", len(killAfter)-1, settleAndVerify(t, s, ledger, len(killAfter)-1))
	s.stop()
	checkDatabase(t, dataDir, ledger, -1)

	kinds := map[string]int{}
	present := 0
	for _, b := range ledger.bindings {
		kinds[b.kind]++
		if b.present || b.credUnknown {
			present++
		}
	}
	t.Logf("in all: %d instances, %d bindings %v, %d of them present at the end", len(ledger.instances), len(ledger.bindings), kinds, present)
}

func newDurInstance(id string) *durInstance {
	in := &durInstance{id: id, xsappname: "dur-" + id}
	in.body = map[string]any{
		"service_id": serviceID, "plan_id": planAppID, "organization_guid": "org-dur", "space_guid": "space-dur",
		"context": map[string]any{"instance_name": id},
		"parameters": map[string]any{
			"xsappname": in.xsappname, "scopes": []any{map[string]any{"name": "$XSAPPNAME.Read"}}, "authorities": []any{"$XSAPPNAME.Read"},
			"oauth2-configuration": map[string]any{"credential-types": []any{"binding-secret", "x509"}},
		},
	}
	return in
}

// durWorker runs one goroutine's share of the burst until the kill: it
// provisions instances of its own, binds (mostly secrets, some
// certificates) on them and on the shared ones, and unbinds its own
// acknowledged bindings. Every request and its answer go into the ledger.
func durWorker(t *testing.T, s *testServer, ledger *durLedger, ext *keystest.CA, round, w int, shared []*durInstance,
	killed *atomic.Bool, started *atomic.Int32, ack func()) {
	rng := rand.New(rand.NewPCG(uint64(round), uint64(w)))
	c := &http.Client{Timeout: 20 * time.Second}
	defer c.CloseIdleConnections()
	instances := append([]*durInstance(nil), shared...)
	var mine []*durBinding // bound and not unbound
	nInst, nBind, nManaged := 0, 0, 0
	for !killed.Load() {
		started.Add(1)
		switch p := rng.IntN(100); {
		case p < 8 && nInst < 2:
			in := newDurInstance(fmt.Sprintf("r%d-w%d-i%d", round, w, nInst))
			nInst++
			ledger.mu.Lock()
			ledger.instances = append(ledger.instances, in)
			ledger.mu.Unlock()
			code, body, err := tryBroker(c, s.httpURL, "PUT", "/v2/service_instances/"+in.id, in.body)
			if err != nil {
				in.refused = errors.Is(err, syscall.ECONNREFUSED)
				return
			}
			if code != 201 {
				t.Errorf("provision %s: %d %v", in.id, code, body)
				return
			}
			in.status = code
			instances = append(instances, in)
			ack()
		case p < 35 && len(mine) > 0:
			i := rng.IntN(len(mine))
			b := mine[i]
			mine = append(mine[:i], mine[i+1:]...)
			b.unbindSent = true
			code, body, err := tryBroker(c, s.httpURL, "DELETE", b.path()+"?service_id="+serviceID+"&plan_id="+planAppID, nil)
			if err != nil {
				b.refused = errors.Is(err, syscall.ECONNREFUSED)
				return
			}
			if code != 200 {
				t.Errorf("unbind %s: %d %v", b.id, code, body)
				return
			}
			b.unbindStatus = code
			ack()
		default:
			b := &durBinding{inst: instances[rng.IntN(len(instances))], id: fmt.Sprintf("r%d-w%d-b%d", round, w, nBind), kind: durSecret}
			nBind++
			params := map[string]any{"credential-type": "binding-secret"}
			switch q := rng.IntN(100); {
			case q < 3 && nManaged == 0:
				b.kind = durManagedCrt
				nManaged++
				params = map[string]any{"credential-type": "x509", "x509": map[string]any{"validity": 1}}
			case q < 20:
				b.kind = durSelfX509
				now := time.Now()
				cert, certPEM := ext.Issue(t, b.id, now.Add(-time.Hour), now.Add(24*time.Hour))
				b.cert, b.certPEM = &cert, certPEM
				params = map[string]any{"credential-type": "x509", "x509": map[string]any{"certificate": certPEM}}
			}
			b.body = map[string]any{"service_id": serviceID, "plan_id": planAppID, "bind_resource": map[string]any{"app_guid": "app-" + b.id}, "parameters": params}
			ledger.mu.Lock()
			ledger.bindings = append(ledger.bindings, b)
			ledger.mu.Unlock()
			code, body, err := tryBroker(c, s.httpURL, "PUT", b.path(), b.body)
			if err != nil {
				b.refused = errors.Is(err, syscall.ECONNREFUSED)
				return
			}
			if code != 201 {
				t.Errorf("bind %s: %d %v", b.id, code, body)
				return
			}
			creds, _ := body["credentials"].(map[string]any)
			if err := b.takeCredentials(creds); err != nil {
				t.Errorf("bind %s: %v", b.id, err)
				return
			}
			b.bindStatus = code
			mine = append(mine, b)
			ack()
		}
	}
}

// takeCredentials reads the secret or the service-managed certificate
// from a 201 response.
func (b *durBinding) takeCredentials(creds map[string]any) error {
	if creds["clientid"] != b.inst.clientID() {
		return fmt.Errorf("clientid %v, want %s", creds["clientid"], b.inst.clientID())
	}
	switch b.kind {
	case durSecret:
		b.secret, _ = creds["clientsecret"].(string)
		if b.secret == "" {
			return fmt.Errorf("201 without a client secret: %v", creds)
		}
	case durManagedCrt:
		certPEM, _ := creds["certificate"].(string)
		key, _ := creds["key"].(string)
		cert, err := tls.X509KeyPair([]byte(certPEM), []byte(key))
		if err != nil {
			return fmt.Errorf("certificate and key: %v", err)
		}
		b.cert, b.certPEM, b.keyPEM = &cert, certPEM, key
	case durSelfX509:
		if creds["certificate"] != b.certPEM {
			return fmt.Errorf("certificate in the credentials is not the one bound")
		}
	}
	return nil
}

// checkBindingGET checks GET binding: 404 when absent, else 200 with
// credentials consistent with the bind request (a secret binding's own
// secret, a service-managed certificate's own key, nothing else).
func checkBindingGET(t *testing.T, s *testServer, b *durBinding) (exists bool) {
	t.Helper()
	code, body := s.broker("GET", b.path(), nil)
	switch code {
	case 404:
		return false
	case 200:
	default:
		t.Fatalf("GET %s: %d %v", b.id, code, body)
	}
	creds, _ := body["credentials"].(map[string]any)
	wantType := "binding-secret"
	if b.kind != durSecret {
		wantType = "x509"
	}
	// A secret binding's secret is kept sealed and returned again: the
	// acknowledged one, or (bind in flight) some secret; never a key.
	secretOK := creds["clientsecret"] == nil
	if b.kind == durSecret {
		got, _ := creds["clientsecret"].(string)
		secretOK = got != "" && (b.secret == "" || got == b.secret)
	}
	// A service-managed certificate's key is kept sealed and returned
	// again: the acknowledged one, or (bind in flight) one that fits the
	// certificate.
	keyOK := creds["key"] == nil
	if b.kind == durManagedCrt {
		key, _ := creds["key"].(string)
		certPEM, _ := creds["certificate"].(string)
		_, err := tls.X509KeyPair([]byte(certPEM), []byte(key))
		keyOK = err == nil && (b.keyPEM == "" || key == b.keyPEM)
	}
	if creds["clientid"] != b.inst.clientID() || creds["credential-type"] != wantType || creds["serviceInstanceId"] != b.inst.id ||
		!secretOK || !keyOK {
		t.Errorf("GET %s: inconsistent credentials %v", b.id, creds)
	}
	if b.certPEM != "" && creds["certificate"] != b.certPEM {
		t.Errorf("GET %s: certificate differs from the bound one", b.id)
	}
	return true
}

// settleAndVerify runs after the restart that follows round's kill. It
// first resolves the operations of that round: acknowledged ones must have
// survived; in-flight ones must be wholly present or wholly absent, and
// are retried (the same PUT, or DELETE) to check idempotency. Then it
// checks the settled state of every round so far.
func settleAndVerify(t *testing.T, s *testServer, ledger *durLedger, round int) (st durStats) {
	t.Helper()
	prefix := fmt.Sprintf("r%d-", round)
	for _, in := range ledger.instances {
		if !strings.HasPrefix(in.id, prefix) {
			continue
		}
		code, body := s.broker("GET", "/v2/service_instances/"+in.id, nil)
		if in.status == 0 {
			st.count(in.refused, code == 200, &st.provisions, &st.provisionsDone)
			if in.refused && code != 404 {
				t.Errorf("instance %s: the provision was refused (server dead), but GET is %d", in.id, code)
			}
		}
		switch {
		case in.status != 0 && code != 200:
			t.Errorf("acknowledged instance %s: GET %d %v", in.id, code, body)
		case in.status == 0 && code != 200 && code != 404:
			t.Errorf("instance %s in flight at the kill: GET %d %v, want 200 or 404", in.id, code, body)
		case in.status == 0:
			// Retry: 200 if it was committed, 201 if not.
			want := map[int]int{200: 200, 404: 201}[code]
			if rc, rb := s.broker("PUT", "/v2/service_instances/"+in.id, in.body); rc != want {
				t.Errorf("instance %s (GET %d): retried provision %d %v, want %d", in.id, code, rc, rb, want)
			}
			in.status = want
		}
	}
	for _, b := range ledger.bindings {
		if !strings.HasPrefix(b.id, prefix) {
			continue
		}
		exists := checkBindingGET(t, s, b)
		switch {
		case b.bindStatus == 0:
			st.count(b.refused, exists, &st.binds, &st.bindsDone)
		case b.unbindSent && b.unbindStatus == 0:
			st.count(b.refused, !exists, &st.unbinds, &st.unbindsDone)
		}
		if b.refused && exists == (b.bindStatus == 0) {
			t.Errorf("binding %s: the last request was refused (server dead), but it took effect (exists=%v)", b.id, exists)
		}
		switch {
		case b.bindStatus != 0 && !b.unbindSent:
			// Acknowledged bind: the credential works.
			if !exists {
				t.Errorf("acknowledged binding %s (%s) is gone after the crash", b.id, b.kind)
			}
			b.present = true
		case b.bindStatus != 0 && b.unbindStatus != 0:
			// Acknowledged unbind.
			if exists {
				t.Errorf("binding %s exists after its acknowledged unbind", b.id)
			}
			b.present = false
		case b.bindStatus != 0:
			// Unbind in flight: the binding and its credential are both
			// there, or both gone.
			if exists {
				if code, body := b.tokenStatus(t, s, true); code != 200 {
					t.Errorf("binding %s (unbind in flight) exists, but its credential gets %d %v", b.id, code, body)
				}
			}
			want := map[bool]int{true: 200, false: 410}[exists]
			if rc, rb := s.broker("DELETE", b.path()+"?service_id="+serviceID+"&plan_id="+planAppID, nil); rc != want {
				t.Errorf("binding %s (GET exists=%v): retried unbind %d %v, want %d", b.id, exists, rc, rb, want)
			}
			b.present = false
		default:
			// Bind in flight: wholly present or wholly absent. A
			// self-managed certificate is known to the test either way.
			if b.kind == durSelfX509 {
				code, body := b.tokenStatus(t, s, exists)
				if (exists && code != 200) || (!exists && code != 401) {
					t.Errorf("binding %s (bind in flight, exists=%v): its certificate gets %d %v", b.id, exists, code, body)
				}
			}
			code, body := s.broker("PUT", b.path(), b.body)
			creds, _ := body["credentials"].(map[string]any)
			switch {
			case exists && code == 200:
				// Idempotent: the existing binding, with its sealed
				// secret for a secret binding, or its sealed key for a
				// service-managed certificate: the credential of a bind
				// whose answer was lost is whole again.
				sec, _ := creds["clientsecret"].(string)
				key, _ := creds["key"].(string)
				if creds["clientid"] != b.inst.clientID() || (b.kind == durManagedCrt) != (key != "") || (b.kind == durSecret) != (sec != "") {
					t.Errorf("binding %s: retried bind 200 with %v", b.id, creds)
				}
				if b.kind == durManagedCrt {
					if err := b.takeCredentials(creds); err != nil {
						t.Errorf("binding %s: retried bind: %v", b.id, err)
					}
				}
				b.secret = sec
				b.present = true
				b.credUnknown = false
			case !exists && code == 201:
				if err := b.takeCredentials(creds); err != nil {
					t.Errorf("binding %s: retried bind: %v", b.id, err)
				}
				b.present = true
			default:
				t.Errorf("binding %s (GET exists=%v): retried bind %d %v, want %d", b.id, exists, code, body, map[bool]int{true: 200, false: 201}[exists])
			}
			b.bindStatus = code
		}
	}

	// Every round so far, settled: instances exist, present credentials
	// work, removed ones get 401.
	for _, in := range ledger.instances {
		if code, body := s.broker("GET", "/v2/service_instances/"+in.id, nil); code != 200 {
			t.Errorf("instance %s: GET %d %v", in.id, code, body)
		}
	}
	var gone []*durBinding
	for _, b := range ledger.bindings {
		if !inRounds(b.id, round) {
			continue
		}
		exists := checkBindingGET(t, s, b)
		if exists != (b.present || b.credUnknown) {
			t.Errorf("binding %s: exists=%v, want %v", b.id, exists, b.present || b.credUnknown)
		}
		switch {
		case b.present:
			if code, body := b.tokenStatus(t, s, true); code != 200 {
				t.Errorf("binding %s (%s): token %d %v, want 200", b.id, b.kind, code, body)
			}
		case !b.credUnknown && (b.cert != nil || b.secret != ""):
			gone = append(gone, b)
		}
	}
	// Failed authentications after the successful ones.
	for _, b := range gone {
		if code, body := b.tokenStatus(t, s, false); code != 401 {
			t.Errorf("binding %s (%s) was unbound, but its credential gets %d %v, want 401", b.id, b.kind, code, body)
		}
	}
	return st
}

// durStats counts the operations of a round that had no answer when the
// server was killed: sent (and whether they turned out done), or refused
// because the server was already dead.
type durStats struct {
	provisions, provisionsDone, binds, bindsDone, unbinds, unbindsDone, refused int
}

func (st *durStats) count(refused, done bool, n, nDone *int) {
	if refused {
		st.refused++
		return
	}
	*n++
	if done {
		*nDone++
	}
}

func (st durStats) String() string {
	return fmt.Sprintf("in flight: %d provisions (%d committed), %d binds (%d committed), %d unbinds (%d committed); %d refused by the dead server",
		st.provisions, st.provisionsDone, st.binds, st.bindsDone, st.unbinds, st.unbindsDone, st.refused)
}

// inRounds reports whether a binding id belongs to rounds 0..round.
func inRounds(id string, round int) bool {
	var r int
	if _, err := fmt.Sscanf(id, "r%d-", &r); err != nil {
		return false
	}
	return r <= round
}

// checkDatabase opens the stopped (or killed) server's database and, on
// SQLite, runs PRAGMA integrity_check and foreign_key_check. After a kill
// (round >= 0) it also checks the rows against the acknowledged operations
// of that round: every acknowledged bind without an unbind is there, no
// acknowledged unbind is.
func checkDatabase(t *testing.T, dataDir string, ledger *durLedger, round int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var db *sql.DB
	var err error
	if postgresE2E() {
		u, _ := e2eDatabases.Load(dataDir)
		db, err = sql.Open("pgx", u.(string))
	} else {
		db, err = sql.Open("sqlite3", "file:"+(&url.URL{Path: filepath.Join(dataDir, dbFile)}).EscapedPath()+"?mode=ro")
	}
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if postgresE2E() {
		checkRows(ctx, t, db, ledger, round)
		return
	}
	var res string
	if err := db.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&res); err != nil || res != "ok" {
		t.Fatalf("PRAGMA integrity_check: %q, %v", res, err)
	}
	rows, err := db.QueryContext(ctx, "PRAGMA foreign_key_check")
	if err != nil {
		t.Fatal(err)
	}
	if rows.Next() {
		t.Errorf("PRAGMA foreign_key_check reports rows that reference missing ones")
	}
	rows.Close()
	checkRows(ctx, t, db, ledger, round)
}

// checkRows checks the stored bindings against the acknowledged
// operations of a round.
func checkRows(ctx context.Context, t *testing.T, db *sql.DB, ledger *durLedger, round int) {
	t.Helper()
	if round < 0 {
		return
	}
	ids := map[string]bool{}
	rows, err := db.QueryContext(ctx, "SELECT id FROM bindings")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		rows.Scan(&id)
		ids[id] = true
	}
	rows.Close()
	prefix := fmt.Sprintf("r%d-", round)
	for _, b := range ledger.bindings {
		if !strings.HasPrefix(b.id, prefix) || b.bindStatus == 0 {
			continue
		}
		switch {
		case !b.unbindSent && !ids[b.id]:
			t.Errorf("database after the kill: acknowledged binding %s has no row", b.id)
		case b.unbindSent && b.unbindStatus != 0 && ids[b.id]:
			t.Errorf("database after the kill: binding %s has a row after its acknowledged unbind", b.id)
		}
	}
}
