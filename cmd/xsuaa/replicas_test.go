package main

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/openxsuaa/xsuaa/clients/storage/sqlstore"
	"github.com/openxsuaa/xsuaa/clients/storage/storagetest"
	"github.com/openxsuaa/xsuaa/keys/keystest"
)

// replicaSet is several xsuaa replicas on one PostgreSQL database behind
// a real load balancer: nginx from Debian, round robin over the replicas'
// plain HTTP listeners, terminating TLS for the public URL that every
// replica puts into credentials and tokens.
type replicaSet struct {
	t        *testing.T
	dbURL    string
	env      []string
	public   string // https://localhost:<port>: nginx, TLS
	lbHTTP   string // http://127.0.0.1:<port>: nginx, plain HTTP
	lbCAFile string // the CA of nginx's certificate
	dirs     []string
	replicas []*testServer
	nginx    *exec.Cmd
}

// needNginx returns the nginx binary; without one the test skips, or
// fails in CI, which installs Debian's nginx.
func needNginx(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"nginx", "/usr/sbin/nginx"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("nginx is not installed: CI must run the replica tests behind a real load balancer (.ci/run installs Debian's nginx)")
	}
	t.Skip("nginx is not installed; install it (Debian: apt-get install nginx) to run the replica tests")
	return ""
}

// freePort returns a loopback port that is free now, for a process the
// test starts later. It is taken below Linux's ephemeral range
// (32768-60999), from which every listener on port 0 and every outgoing
// connection draws, so that none of those can take it in the meantime
// (CI once saw nginx lose its port that way).
func freePort(t *testing.T) int {
	t.Helper()
	for range 100 {
		port := 20000 + rand.IntN(32768-20000)
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			ln.Close()
			return port
		}
	}
	t.Fatal("no free loopback port between 20000 and 32767")
	return 0
}

// startReplicaSet starts n replicas on a new database at once (a cold
// start of the whole set) and nginx in front of them.
func startReplicaSet(t *testing.T, n int) *replicaSet {
	t.Helper()
	if postgresE2E() {
		t.Skip("the replica tests run in the default pass")
	}
	nginx := needNginx(t)
	rs := &replicaSet{t: t, dbURL: storagetest.PostgresURL(t)}
	tlsPort, httpPort := freePort(t), freePort(t)
	rs.public = fmt.Sprintf("https://localhost:%d", tlsPort)
	rs.lbHTTP = fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	rs.env = []string{"XSUAA_DATABASE=" + rs.dbURL, "XSUAA_MASTER_KEY=" + e2eMasterKey,
		"XSUAA_BROKER_USER=" + brokerUser, "XSUAA_BROKER_PASSWORD=" + brokerPass, "XSUAA_ADMIN_USER=" + adminUser, "XSUAA_ADMIN_PASSWORD=" + adminPass}

	rs.replicas = make([]*testServer, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		rs.dirs = append(rs.dirs, t.TempDir())
		wg.Add(1)
		go func() {
			defer wg.Done()
			rs.replicas[i], errs[i] = spawnServer(t, rs.dirs[i], rs.env, rs.args()...)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d: %v", i, err)
		}
	}

	dir := t.TempDir()
	ca := keystest.NewCA(t, "Load Balancer CA")
	cert, certPEM := ca.IssueServer(t, "localhost", time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour), "localhost")
	rs.lbCAFile = filepath.Join(dir, "lb-ca.pem")
	for name, content := range map[string]string{"lb-ca.pem": ca.PEM(), "lb.pem": certPEM, "lb.key": keystest.KeyPEM(t, cert)} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var upstreams strings.Builder
	for _, r := range rs.replicas {
		fmt.Fprintf(&upstreams, "    server %s;\n", strings.TrimPrefix(r.httpURL, "http://"))
	}
	conf := nginxPreamble(dir, 1024) + fmt.Sprintf(`
  upstream xsuaa {
%[2]s    keepalive 32;
  }
  server {
    listen 127.0.0.1:%[3]d;
    listen 127.0.0.1:%[4]d ssl;
    ssl_certificate %[1]s/lb.pem;
    ssl_certificate_key %[1]s/lb.key;
    location / {
      proxy_pass http://xsuaa;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      add_header X-Upstream $upstream_addr always;
    }
  }
}
`, dir, upstreams.String(), httpPort, tlsPort)
	confFile := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	rs.nginx = exec.Command(nginx, "-c", confFile, "-p", dir, "-e", filepath.Join(dir, "error.log"))
	out := &lockedBuffer{}
	rs.nginx.Stdout, rs.nginx.Stderr = out, out
	if err := rs.nginx.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rs.nginx.Process.Kill(); rs.nginx.Wait() })
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(rs.lbHTTP + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			errLog, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("nginx not ready: %v\n%s\n%s", err, out, errLog)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return rs
}

// nginxPreamble is the start of an nginx.conf for a test: one process in
// the foreground, every file under dir, the http block opened (the
// caller adds its servers and closes it).
func nginxPreamble(dir string, connections int) string {
	return fmt.Sprintf(`master_process off;
daemon off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections %[2]d; }
http {
  access_log off;
  client_body_temp_path %[1]s/body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;`, dir, connections)
}

// args are the replicas' flags: the load balancer's public URL, and
// nginx as the trusted proxy whose X-Forwarded-For names the client (for
// the per-replica failure throttle and the audit log).
func (rs *replicaSet) args() []string {
	return []string{"--public-url", rs.public, "--trusted-proxy", "127.0.0.1"}
}

// restart starts replica i again on its data directory.
func (rs *replicaSet) restart(i int) {
	rs.t.Helper()
	s, err := spawnServer(rs.t, rs.dirs[i], rs.env, rs.args()...)
	if err != nil {
		rs.t.Fatalf("restart replica %d: %v", i, err)
	}
	rs.replicas[i] = s
}

// query runs a query on the replicas' database and returns its one
// column as strings.
func (rs *replicaSet) query(q string) []string {
	rs.t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, rs.dbURL)
	if err != nil {
		rs.t.Fatal(err)
	}
	defer c.Close(ctx)
	rows, err := c.Query(ctx, q)
	if err != nil {
		rs.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		v, err := rows.Values()
		if err != nil {
			rs.t.Fatal(err)
		}
		out = append(out, fmt.Sprint(v[0]))
	}
	return out
}

// tokenStatus requests a token with a client secret (Basic) from base.
func tokenStatus(t *testing.T, base string, c credentials) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/oauth/token", strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(c.ClientID, c.ClientSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("token from %s: %v", base, err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body.AccessToken
}

// kidOf returns the kid of a JWT's header.
func kidOf(token string) string {
	h, _, _ := strings.Cut(token, ".")
	b, _ := base64.RawURLEncoding.DecodeString(h)
	var hdr struct {
		Kid string `json:"kid"`
	}
	json.Unmarshal(b, &hdr)
	return hdr.Kid
}

// jwksKids fetches base/token_keys and returns its kids.
func jwksKids(base string) ([]string, error) {
	resp, err := http.Get(base + "/token_keys")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil || resp.StatusCode != 200 {
		return nil, fmt.Errorf("token_keys: %d %v", resp.StatusCode, err)
	}
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.Kid)
	}
	return kids, nil
}

// TestReplicas runs three replicas on one PostgreSQL database behind
// nginx and checks what users of several replicas rely on.
func TestReplicas(t *testing.T) {
	rs := startReplicaSet(t, 3)
	r0, r1, r2 := rs.replicas[0], rs.replicas[1], rs.replicas[2]

	t.Run("LoginAcrossReplicas", func(t *testing.T) {
		// The login session, the code and the refresh token live in the
		// database: a user logs in at replica 1, the code is redeemed at
		// replica 2, the refresh token at replica 0, and a logout at
		// replica 2 ends the session at replica 1 at once.
		r0.ok("create-service", "login-xsuaa", "-c", demoLoginDescriptor)
		var demo credentials
		r0.okJSON(&demo, "create-service-key", "login-xsuaa", "k")
		r0.ok("create-user", "alice", "--password", "alice-pw-1")
		r0.ok("assign-role-collection", "Demo_Viewer", "alice")
		b := newBrowserAt(t, r1, r1.httpURL)
		authorize := r1.httpURL + "/oauth/authorize?" + url.Values{"response_type": {"code"}, "client_id": {demo.ClientID}, "redirect_uri": {appCallback}}.Encode()
		code, _ := callbackParams(t, b.login(b.get(authorize), "alice", "alice-pw-1"))
		status, body, _ := r2.token(r2.httpURL, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {appCallback},
			"client_id": {demo.ClientID}, "client_secret": {demo.ClientSecret}}, nil)
		if status != 200 || body["scope"] != "demo!t1.Display openid" {
			t.Fatalf("code from replica 1 redeemed at replica 2: %d %v", status, body)
		}
		if status, body, _ := r0.token(r0.httpURL, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {body["refresh_token"].(string)}},
			[]string{demo.ClientID, demo.ClientSecret}); status != 200 {
			t.Errorf("refresh token from replica 2 at replica 0: %d %v", status, body)
		}
		if status, body, _ := r0.token(r0.httpURL, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {appCallback},
			"client_id": {demo.ClientID}, "client_secret": {demo.ClientSecret}}, nil); status != 400 {
			t.Errorf("the same code again at replica 0: %d %v", status, body)
		}
		// The session cookie is for host 127.0.0.1, so it reaches every
		// replica's plain HTTP listener.
		callbackParams(t, newBrowserAtJar(b, r2.httpURL).get(strings.Replace(authorize, r1.httpURL, r2.httpURL, 1)))
		newBrowserAtJar(b, r2.httpURL).get(r2.httpURL + "/logout.do")
		loginForm(t, b.get(authorize))
	})

	t.Run("ColdStartMigratesOnce", func(t *testing.T) {
		nums := rs.query(`SELECT num FROM migrations ORDER BY num`)
		var want []string
		for i := 1; i <= sqlstore.SchemaVersion; i++ {
			want = append(want, fmt.Sprint(i))
		}
		if !slices.Equal(nums, want) {
			t.Errorf("migrations after three replicas started at once: %q, want %q (each once)", nums, want)
		}
		if got := rs.query(`SELECT use FROM keys ORDER BY use`); !slices.Equal(got, []string{"ca", "jwt-signing"}) {
			t.Errorf("key records after a cold start of three replicas: %q, want one CA and one signing key", got)
		}
		if got := rs.query(`SELECT subdomain FROM zones ORDER BY idx`); !slices.Equal(got, []string{"provider", "sap-provisioning"}) {
			t.Errorf("zones after a cold start of three replicas: %q, want the provider's and the provisioning zone, once each", got)
		}
		var first []byte
		var firstKids []string
		for i, r := range rs.replicas {
			ca, err := os.ReadFile(filepath.Join(r.dataDir, "ca.pem"))
			if err != nil {
				t.Fatal(err)
			}
			kids, err := jwksKids(r.httpURL)
			if err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				first, firstKids = ca, kids
			} else if string(ca) != string(first) || !slices.Equal(kids, firstKids) {
				t.Errorf("replica %d has another CA or key set than replica 0 (kids %q vs %q)", i, kids, firstKids)
			}
		}
	})

	t.Run("BindingVisibleAcrossReplicas", func(t *testing.T) {
		r0.provision("across", "across", `{"xsappname":"across","scopes":[{"name":"$XSAPPNAME.Read"}],"authorities":["$XSAPPNAME.Read"]}`)
		for i := range 10 {
			id := fmt.Sprintf("across-%d", i)
			// Bound through one replica, used through the others at once.
			_, c := rs.replicas[i%3].bind("across", id, nil)
			for _, r := range []*testServer{rs.replicas[(i+1)%3], rs.replicas[(i+2)%3]} {
				if code, _ := tokenStatus(t, r.httpURL, c); code != 200 {
					t.Fatalf("binding %s made through one replica: %d from another, right after the bind returned", id, code)
				}
			}
			// Unbound through a third, refused by the others at once.
			rs.replicas[(i+2)%3].unbind("across", id)
			for _, r := range []*testServer{rs.replicas[i%3], rs.replicas[(i+1)%3]} {
				if code, _ := tokenStatus(t, r.httpURL, c); code != 401 {
					t.Fatalf("binding %s unbound through one replica: %d from another, right after the unbind returned", id, code)
				}
			}
		}
	})

	t.Run("SubscriptionsAcrossReplicas", func(t *testing.T) {
		// A zone subscribed through one replica: the shared client works
		// in it at the others at once; unsubscribed through a third, it is
		// refused at the others at once.
		var z struct{ ID string }
		r0.okJSON(&z, "create-zone", "rt1")
		r0.ok("create-service", "rshop", "-c", shopDescriptor)
		var c credentials
		r0.okJSON(&c, "create-service-key", "rshop", "k")
		inZone := func(r *testServer) int {
			t.Helper()
			code, _, _ := r.tokenIn(r.httpURL, z.ID, url.Values{"grant_type": {"client_credentials"}}, []string{c.ClientID, c.ClientSecret})
			return code
		}
		for i := range 5 {
			rs.replicas[i%3].ok("subscribe", "rshop", "--zone", "rt1")
			for _, r := range []*testServer{rs.replicas[(i+1)%3], rs.replicas[(i+2)%3]} {
				if code := inZone(r); code != 200 {
					t.Fatalf("round %d: subscribed through one replica: %d from another, right after subscribe returned", i, code)
				}
			}
			rs.replicas[(i+2)%3].ok("unsubscribe", "rshop", "--zone", "rt1")
			for _, r := range []*testServer{rs.replicas[i%3], rs.replicas[(i+1)%3]} {
				if code := inZone(r); code != 401 {
					t.Fatalf("round %d: unsubscribed through one replica: %d from another, right after unsubscribe returned", i, code)
				}
			}
		}
	})

	t.Run("GrantsAndClonesAcrossReplicas", func(t *testing.T) {
		// A reuse service on the broker plan, created through replica 0 ...
		if code, body := r0.provisionPlan("js", "my-jobscheduler", planBrokerID, "space-1", `{"xsappname":"jobscheduler","authorities":["$ACCEPT_GRANTED_AUTHORITIES"]}`); code != 201 {
			t.Fatal(code, body)
		}
		_, js := r0.bind("js", "js-b", nil)
		// ... named by $XSSERVICENAME in an app created through replica 1
		// right after: the name resolves inside replica 1's write.
		granting := `{"xsappname":"granter","scopes":[{"name":"$XSAPPNAME.JOB","grant-as-authority-to-apps":["$XSSERVICENAME(my-jobscheduler)"]}]}`
		if code, body := r1.provisionPlan("granter", "granter", planAppID, "space-1", granting); code != 201 {
			t.Fatalf("$XSSERVICENAME of an instance created through another replica: %d %v", code, body)
		}
		if got := scopesFrom(t, r2.httpURL, js); !slices.Contains(got, "granter!t1.JOB") {
			t.Errorf("the grant made through replica 1, token from replica 2 at once: scopes %q", got)
		}
		// The grant withdrawn through replica 2: replica 0's next token lacks it.
		r2.update("granter", `{"xsappname":"granter","scopes":[{"name":"$XSAPPNAME.JOB"}]}`)
		if got := scopesFrom(t, r0.httpURL, js); slices.Contains(got, "granter!t1.JOB") {
			t.Errorf("the grant withdrawn through replica 2, token from replica 0 at once: scopes %q", got)
		}

		// A clone made through replica 1 works through replica 2 at once;
		// deleted through replica 0, replica 1 refuses it at once.
		if code, body := cloneAt(t, r1.httpURL, "PUT", "consumer-1", js); code != 201 {
			t.Fatalf("clone: %d %v", code, body)
		} else {
			raw, _ := json.Marshal(body["credentials"])
			var c credentials
			json.Unmarshal(raw, &c)
			if code, _ := tokenStatus(t, r2.httpURL, c); code != 200 {
				t.Errorf("clone made through replica 1: token %d from replica 2", code)
			}
			if code, body := cloneAt(t, r0.httpURL, "DELETE", "consumer-1", js); code != 200 {
				t.Fatalf("delete clone: %d %v", code, body)
			}
			if code, _ := tokenStatus(t, r1.httpURL, c); code != 401 {
				t.Errorf("clone deleted through replica 0: token %d from replica 1, want 401", code)
			}
		}
	})

	t.Run("UnbindUnderHammer", func(t *testing.T) {
		const conns, before, after = 6, 60, 60
		r0.provision("hammer", "hammer", `{"xsappname":"hammer"}`)
		_, a := r0.bind("hammer", "hammer-a", nil)
		_, b := r1.bind("hammer", "hammer-b", nil)
		form := url.Values{"grant_type": {"client_credentials"}}
		var hs []*hammerer
		for i := range conns {
			hs = append(hs, newHammerer(fmt.Sprintf("A%d", i), r0, rs.lbHTTP, nil, form, []string{a.ClientID, a.ClientSecret}))
		}
		hb := newHammerer("B", r0, rs.lbHTTP, nil, form, []string{b.ClientID, b.ClientSecret})
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for _, h := range append(hs, hb) {
			wg.Add(1)
			go func() { defer wg.Done(); h.run(stop) }()
		}
		halted := false
		halt := func() {
			if !halted {
				halted = true
				close(stop)
				wg.Wait()
			}
		}
		defer halt()
		waitFor(t, "answered 200", append(hs, hb), before, func(r hammerResult) bool { return r.code == 200 })
		r2.unbind("hammer", "hammer-a")
		unbound := time.Now()
		startedAfter := func(r hammerResult) bool { return r.start.After(unbound) }
		waitFor(t, "started after the unbind returned", append(hs, hb), after, startedAfter)
		halt()

		perReplica := map[string]int{}
		late, afterN := 0, 0
		for _, h := range hs {
			for _, r := range h.results {
				if !startedAfter(r) {
					continue
				}
				afterN++
				perReplica[r.upstream]++
				switch {
				case r.code == 200:
					late++
					t.Errorf("%s: a request started %v after the unbind returned got a token from %s", h.name, r.start.Sub(unbound), r.upstream)
				case r.code == 401 || r.code == 429:
				default:
					t.Errorf("%s: %d %s from %s after the unbind, want 401", h.name, r.code, r.errCode, r.upstream)
				}
			}
		}
		for _, r := range hb.results {
			if r.code != 200 {
				t.Errorf("B: %d from %s at %v relative to the unbind, want 200 throughout", r.code, r.upstream, r.start.Sub(unbound))
			}
		}
		if len(perReplica) != 3 {
			t.Errorf("requests after the unbind reached %v; want all three replicas", perReplica)
		}
		t.Logf("%d requests for the unbound binding started after the unbind returned, spread over %v: %d tokens", afterN, perReplica, late)
	})

	t.Run("RotationPublishedBeforeUse", func(t *testing.T) {
		r0.provision("rot", "rot", `{"xsappname":"rot"}`)
		_, c := r0.bind("rot", "rot-k", nil)
		old := kidOf(secretTokenFrom(t, rs.lbHTTP, c))
		type tokenSeen struct {
			kid      string
			received time.Time
			started  time.Time
		}
		type jwksSeen struct {
			replica int
			kids    []string
			started time.Time
		}
		var mu sync.Mutex
		var tokens []tokenSeen
		var sets []jwksSeen
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var failures atomic.Int32
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					start := time.Now()
					code, tok := tokenStatus(t, rs.lbHTTP, c)
					if code != 200 {
						failures.Add(1)
						continue
					}
					mu.Lock()
					tokens = append(tokens, tokenSeen{kidOf(tok), time.Now(), start})
					mu.Unlock()
				}
			}()
		}
		for i, r := range rs.replicas {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					start := time.Now()
					kids, err := jwksKids(r.httpURL)
					if err != nil {
						failures.Add(1)
						continue
					}
					mu.Lock()
					sets = append(sets, jwksSeen{i, kids, start})
					mu.Unlock()
				}
			}()
		}
		time.Sleep(300 * time.Millisecond)
		// Rotated through replica 1 with no activation delay: the hardest case.
		var rotated struct {
			KID string `json:"kid"`
		}
		code, body := adminPost(t, r1.httpURL+"/admin/keys/rotate", `{"activate_after":"0s"}`, &rotated)
		rotateReturned := time.Now()
		if code != 201 || rotated.KID == "" || rotated.KID == old {
			t.Fatalf("rotate: %d %s", code, body)
		}
		time.Sleep(time.Second)
		close(stop)
		wg.Wait()

		if n := failures.Load(); n > 0 {
			t.Errorf("%d token or key set requests failed during the rotation", n)
		}
		var firstUse time.Time
		used := 0
		for _, tk := range tokens {
			if tk.kid == rotated.KID {
				used++
				if firstUse.IsZero() || tk.received.Before(firstUse) {
					firstUse = tk.received
				}
			} else if tk.started.After(rotateReturned) {
				t.Errorf("a token requested %v after the rotation returned is signed with %s, not the new key %s", tk.started.Sub(rotateReturned), tk.kid, rotated.KID)
			}
		}
		if used == 0 {
			t.Fatalf("no token was signed with the new key %s", rotated.KID)
		}
		checked := map[int]int{}
		for _, s := range sets {
			if s.started.After(firstUse) || s.started.After(rotateReturned) {
				checked[s.replica]++
				if !slices.Contains(s.kids, rotated.KID) {
					t.Errorf("replica %d published %q, without the new key %s, in a key set requested after the key was in use (or its rotation had returned)", s.replica, s.kids, rotated.KID)
				}
			}
		}
		if len(checked) != 3 {
			t.Errorf("key sets checked per replica: %v, want all three", checked)
		}
		t.Logf("%d tokens with the new key (first received %v after the rotation returned); key sets checked after it: %v", used, firstUse.Sub(rotateReturned), checked)
	})

	t.Run("KillDuringBinds", func(t *testing.T) {
		r0.provision("burst", "burst", `{"xsappname":"burst"}`)
		const workers, perWorker, killAt = 6, 15, 25
		type result struct {
			id       string
			replica  int
			code     int
			creds    credentials
			acked    bool
			attempts int
		}
		results := make([][]result, workers)
		var acked atomic.Int32
		killNow := make(chan struct{})
		var once sync.Once
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				client := &http.Client{Timeout: 20 * time.Second}
				for i := range perWorker {
					id := fmt.Sprintf("w%d-%d", w, i)
					ri := (w + i) % 3
					body := fmt.Sprintf(`{"service_id":%q,"plan_id":%q}`, serviceID, planAppID)
					req, _ := http.NewRequest("PUT", rs.replicas[ri].httpURL+"/v2/service_instances/burst/service_bindings/"+id, strings.NewReader(body))
					req.SetBasicAuth(brokerUser, brokerPass)
					req.Header.Set("X-Broker-API-Version", "2.17")
					req.Header.Set("Content-Type", "application/json")
					res := result{id: id, replica: ri}
					resp, err := client.Do(req)
					if err == nil {
						var m struct {
							Credentials credentials `json:"credentials"`
						}
						json.NewDecoder(resp.Body).Decode(&m)
						resp.Body.Close()
						res.code, res.creds = resp.StatusCode, m.Credentials
						res.acked = resp.StatusCode == 201
					}
					if res.acked && int(acked.Add(1)) == killAt {
						once.Do(func() { close(killNow) })
					}
					results[w] = append(results[w], res)
				}
			}()
		}
		select {
		case <-killNow:
		case <-time.After(60 * time.Second):
			t.Fatal("burst did not reach the kill point")
		}
		r1.cmd.Process.Signal(os.Kill)
		<-r1.done
		wg.Wait()

		var ackedN, lost, inFlight int
		for _, rsw := range results {
			for _, res := range rsw {
				if !res.acked {
					inFlight++
					// Wholly present or wholly absent: a retry through a
					// live replica is idempotent either way.
					code, _ := r0.bindStatus("burst", res.id, nil)
					if code != 201 && code != 200 {
						t.Errorf("retrying unacknowledged bind %s: %d", res.id, code)
					}
					continue
				}
				ackedN++
				if code, _ := r0.getBinding("burst", res.id); code != 200 {
					lost++
					t.Errorf("acknowledged bind %s (through replica %d) is gone after the kill: GET %d", res.id, res.replica, code)
				}
				if code, _ := tokenStatus(t, r2.httpURL, res.creds); code != 200 {
					t.Errorf("acknowledged bind %s (through replica %d): token %d from a live replica", res.id, res.replica, code)
				}
			}
		}
		// The killed replica comes back and serves what it missed.
		rs.restart(1)
		for _, rsw := range results {
			for _, res := range rsw {
				if res.acked {
					if code, _ := tokenStatus(t, rs.replicas[1].httpURL, res.creds); code != 200 {
						t.Errorf("bind %s: token %d from the restarted replica", res.id, code)
					}
				}
			}
		}
		t.Logf("%d binds acknowledged (%d lost), %d in flight at the kill (retried)", ackedN, lost, inFlight)
	})

	t.Run("XssecValidatesEveryReplica", func(t *testing.T) {
		node, modules, ok := needNode(t)
		if !ok {
			t.Skip("node and npm are needed to run @sap/xssec; set XSUAA_REQUIRE_NODE=1 to make this fatal")
		}
		r0.provision("xssec-repl", "xssec-repl", `{"xsappname":"xssec-repl","scopes":[{"name":"$XSAPPNAME.Read"}],"authorities":["$XSAPPNAME.Read"]}`)
		raw, c := r0.bind("xssec-repl", "xssec-repl-k", nil)
		if c.URL != rs.public {
			t.Fatalf("credentials url %q, want the load balancer's %q", c.URL, rs.public)
		}
		var tokens []string
		for _, r := range rs.replicas {
			code, tok := tokenStatus(t, r.httpURL, c)
			if code != 200 {
				t.Fatalf("token from %s: %d", r.httpURL, code)
			}
			tokens = append(tokens, tok)
		}
		runNodeScriptCA(t, r0, node, modules, "xssec/replicas.js", rs.lbCAFile,
			writeJSONFile(t, map[string]any{"credentials": raw, "tokens": tokens}))
	})
}

// cloneAt calls the clone API of the replica at base (plain HTTP).
func cloneAt(t *testing.T, base, method, id string, c credentials) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, base+"/sap/rest/broker/clones/"+id, nil)
	req.SetBasicAuth(c.ClientID, c.ClientSecret)
	return sendJSON(t, http.DefaultClient, req)
}

// scopesFrom fetches a token with Basic credentials from base and returns
// its scope claim (read, not verified: other tests verify signatures).
func scopesFrom(t *testing.T, base string, c credentials) []string {
	t.Helper()
	tok := secretTokenFrom(t, base, c)
	parts := strings.Split(tok, ".")
	b, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var claims struct {
		Scope []string `json:"scope"`
	}
	if err := json.Unmarshal(b, &claims); err != nil {
		t.Fatal(err)
	}
	return claims.Scope
}

// secretTokenFrom fetches a token with Basic credentials from base.
func secretTokenFrom(t *testing.T, base string, c credentials) string {
	t.Helper()
	code, tok := tokenStatus(t, base, c)
	if code != 200 {
		t.Fatalf("token from %s: %d", base, code)
	}
	return tok
}

// adminPost posts to the admin API with the broker credentials and
// decodes the answer into v.
func adminPost(t *testing.T, u, body string, v any) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", u, strings.NewReader(body))
	req.SetBasicAuth(adminUser, adminPass)
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{}}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf strings.Builder
	dec := json.NewDecoder(resp.Body)
	var raw json.RawMessage
	dec.Decode(&raw)
	buf.Write(raw)
	json.Unmarshal(raw, v)
	return resp.StatusCode, buf.String()
}
