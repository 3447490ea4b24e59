// Command xsuaa-load is a load generator for the xsuaa server.
//
// It starts an xsuaa binary on loopback ports in a temporary data directory
// (SQLite) and, with --database, once more on a new PostgreSQL database,
// provisions an instance and bindings through the Open Service Broker API,
// measures binding creation latency and broker throughput, and then hammers
// POST /oauth/token (client_credentials) with keep-alive connections in
// several scenarios:
//
//   - secret over HTTP (form body)
//   - secret over HTTPS
//   - client certificate over mTLS (with --x509, if the server supports it)
//   - secret over HTTP again, after --extra further instances were created
//
// For each scenario it prints tokens/s, p50 and p99 latency, the number of
// non-200 answers and the server's RSS (VmRSS and VmHWM from /proc), and
// relates the token rate to the raw OpenSSL RSA-2048 signing rate of the
// machine ("openssl speed -multi <cores> rsa2048", measured in the same
// run; one token is one signature) and, secondarily, to the in-process Go
// RSA-2048 signing rate. With --startup N it also seeds N instances with
// one binding each straight into each backend and measures how long a
// server takes to start on them and how much memory it holds. It ends
// with markdown tables.
//
// Usage:
//
//	go run ./cmd/xsuaa-load [--bin PATH] [--duration 10s] [--conns 32] [--extra 10000] [--x509] [--database URL] [--startup 100000] [--client raw|net/http]
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/crypto/bcrypt"
)

const (
	brokerUser = "broker"
	brokerPass = "load-broker-password"
	adminUser  = "admin"
	adminPass  = "load-admin-password"
	serviceID  = "3a9c5a2e-6f0b-4c5e-9b7d-0e1f2a3b4c5d"
	planID     = "7c1d2e3f-4a5b-4c6d-8e7f-901a2b3c4d5e"
)

var (
	binFlag       = flag.String("bin", "", "path to an xsuaa binary; empty: go build ./cmd/xsuaa into the temp dir (run from the repo root)")
	duration      = flag.Duration("duration", 10*time.Second, "how long each token scenario runs")
	conns         = flag.Int("conns", 32, "keep-alive connections (one goroutine and one http.Transport each)")
	extra         = flag.Int("extra", 10000, "extra instances (one binding each) created before the last scenario; 0 skips it")
	x509Flag      = flag.Bool("x509", false, "also run the mTLS scenario with an x509 binding")
	bindCount     = flag.Int("bindings", 200, "secret bindings whose creation is timed")
	database      = flag.String("database", "", "PostgreSQL `URL` of a server where the tool may create a database: run everything on PostgreSQL too, after SQLite")
	startupN      = flag.Int("startup", 0, "seed this many instances (one binding each) into each backend and measure start-up time and memory; 0 skips it")
	sslTime       = flag.Int("openssl-seconds", 5, "how long 'openssl speed' measures the RSA-2048 signing rate")
	clientFlag    = flag.String("client", "raw", "the load generator's HTTP client: raw (a minimal HTTP/1.1 keep-alive client, the least CPU on the shared cores) or net/http")
	usersFlag     = flag.Bool("users", false, "also run the user grants: password (against the bcrypt rate), refresh_token and jwt-bearer (against client_credentials)")
	floorFlag     = flag.Bool("floor", true, "also measure the floor: a server that does nothing but net/http, the form, one HMAC, the claims, the signature and the answer (see floor.go); xsuaa's rows get their ratio to it")
	serveFloorDir = flag.String("serve-floor", "", "run the floor server with its key in `DIR` (the tool starts itself so for --floor)")
)

// server is the running xsuaa child process.
type server struct {
	dbURL     string // PostgreSQL: the database, for its transaction count
	cmd       *exec.Cmd
	httpURL   string // http://127.0.0.1:port
	httpsURL  string // https://127.0.0.1:port (ServerName "localhost")
	caPool    *x509.CertPool
	done      chan struct{}
	brokerCli *http.Client
}

// result is one row of the final table.
type result struct {
	backend       string
	name          string
	info          bool // not a token scenario: only the note (and memory) count
	tps, p50, p99 float64
	errs          int64
	rss, hwm      string
	note          string
	cpu           string // where the CPU went (scenario)
	floorFor      string // for a floor row, the backend whose rows follow it
}

func main() {
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "Usage: xsuaa-load [flags]\n\nStarts xsuaa on loopback ports and measures its token endpoint.\n\nFlags:\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *serveFloorDir != "" {
		if err := serveFloor(*serveFloorDir); err != nil {
			fmt.Fprintln(os.Stderr, "floor:", err)
			os.Exit(1)
		}
		return
	}
	tmp, err := os.MkdirTemp("", "xsuaa-load")
	check(err)
	cleanups = append(cleanups, func() { os.RemoveAll(tmp) })
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() { <-sig; fatalf("interrupted") }()
	bin := *binFlag
	if bin == "" {
		bin = filepath.Join(tmp, "xsuaa")
		fmt.Println("building ./cmd/xsuaa ...")
		if out, err := exec.Command("go", "build", "-o", bin, "./cmd/xsuaa").CombinedOutput(); err != nil {
			fatalf("go build: %v\n%s", err, out)
		}
	}
	began := time.Now()
	rates := measureRates(tmp)
	var all []result
	for _, b := range backendsToRun(tmp) {
		if *floorFlag {
			// Right before each backend's rows: the machine's speed
			// drifts over a run.
			all = append(all, runFloor(tmp, rates, b.name)...)
		}
		fmt.Printf("\n== %s ==\n", b.name)
		s := start(bin, b.dataDir, b.env)
		s.dbURL = b.dbURL
		all = append(all, run(s, b.name, rates)...)
		s.stop()
		if *startupN > 0 {
			all = append(all, startup(bin, tmp, b, rates)...)
		}
	}
	printTable(all, rates)
	fmt.Printf("\nthe run took %s\n", time.Since(began).Round(time.Second))
	cleanup()
}

// cleanups run, last first, on exit: stop the server, remove the temp dir.
var (
	cleanups    []func()
	cleanupOnce sync.Once
)

func cleanup() {
	cleanupOnce.Do(func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	})
}

// rates are the machine's signing rates, the yardsticks of token rates.
type rates struct {
	openssl float64 // raw OpenSSL RSA-2048 signatures/s on all cores; 0 if openssl is missing
	golang  float64 // in-process Go crypto/rsa signatures/s on all cores
	// signer is keys.Signer's rate in this process on all cores: whole
	// JWS signatures of a token-sized payload with the signer xsuaa
	// uses, no HTTP. Between it and openssl is the binding; between it
	// and the floor, the HTTP stack and the machine's scheduling.
	signer float64
}

func measureRates(tmp string) rates {
	var r rates
	t0 := readMachineTicks()
	r.openssl = opensslRate(*sslTime)
	if r.openssl > 0 {
		idle, steal := idleAndSteal(t0, readMachineTicks())
		fmt.Printf("OpenSSL RSA-2048 sign rate (openssl speed -multi %d): %.0f/s (the machine %.0f%% idle, %.0f%% stolen meanwhile)\n", runtime.NumCPU(), r.openssl, idle, steal)
	} else {
		fmt.Println("OpenSSL RSA-2048 sign rate: openssl not found; ratios to it are left out")
	}
	r.golang = rsaRate(3 * time.Second)
	fmt.Printf("Go RSA-2048 PKCS#1v1.5 SHA-256 sign rate: %.0f/s on %d cores\n", r.golang, runtime.GOMAXPROCS(0))
	r.signer = signerRate(tmp, 3*time.Second)
	if r.openssl > 0 {
		fmt.Printf("keys.Signer in-process rate (whole JWS, no HTTP): %.0f/s on %d cores (%.2f× OpenSSL)\n", r.signer, runtime.NumCPU(), r.signer/r.openssl)
	}
	return r
}

// signerRate signs token-sized payloads with a keys.Signer made as the
// floor makes its own, on one goroutine per core for d, and returns
// signatures per second.
func signerRate(tmp string, d time.Duration) float64 {
	f, _, err := newFloor(context.Background(), filepath.Join(tmp, "signer-rate"))
	check(err)
	defer f.close()
	payload := bytes.Repeat([]byte(`{"scope":"floor!t1.Read"}`), 36) // ~900 bytes, a client token's claims
	var n atomic.Int64
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	t0 := time.Now()
	for range runtime.NumCPU() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				if _, err := f.signer.Sign(payload, "https://localhost/token_keys"); err == nil {
					n.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return float64(n.Load()) / time.Since(t0).Seconds()
}

// backend is one storage backend the tool runs the server on.
type backend struct {
	name    string
	dataDir string
	env     []string
	dbURL   string // PostgreSQL only
}

// backendsToRun is SQLite in a temp dir and, with --database, a new
// PostgreSQL database on that server (dropped at the end).
func backendsToRun(tmp string) []backend {
	out := []backend{{name: "sqlite", dataDir: filepath.Join(tmp, "sqlite")}}
	if *database != "" {
		u := newDatabase(*database)
		out = append(out, backend{name: "postgres", dataDir: filepath.Join(tmp, "postgres"), dbURL: u,
			env: []string{"XSUAA_DATABASE=" + u, "XSUAA_MASTER_KEY=" + loadMasterKey}})
	}
	return out
}

func run(s *server, backendName string, r rates) []result {
	var rows []result
	// Binding creation latency, on an instance of its own.
	s.provision("bind-lat", `{"xsappname":"bindlat"}`)
	lat := make([]float64, 0, *bindCount)
	for i := 0; i < *bindCount; i++ {
		t0 := time.Now()
		s.bind("bind-lat", fmt.Sprintf("bind-lat-%d", i), nil)
		lat = append(lat, ms(time.Since(t0)))
	}
	sort.Float64s(lat)
	bindP50 := pct(lat, 50)
	fmt.Printf("binding creation: %d bindings, p50 %.2f ms, p99 %.2f ms\n", len(lat), bindP50, pct(lat, 99))
	s.broker("DELETE", "/v2/service_instances/bind-lat?service_id="+serviceID+"&plan_id="+planID, "")

	// The instance under load.
	s.provision("load", `{"xsappname":"load","authorities":["$XSAPPNAME.Read"],"scopes":[{"name":"$XSAPPNAME.Read"}],"oauth2-configuration":{"credential-types":["binding-secret","x509"]}}`)
	creds := s.bind("load", "secret", nil)
	form := "grant_type=client_credentials&client_id=" + urlq(creds["clientid"]) + "&client_secret=" + urlq(creds["clientsecret"])

	rows = append(rows, s.scenario(backendName, "secret, keep-alive HTTP", s.httpURL, nil, form, r))
	rows = append(rows, s.scenario(backendName, "secret, keep-alive HTTPS", s.httpsURL, nil, form, r))

	if *usersFlag {
		rows = append(rows, s.userScenarios(backendName, r, rows[0].tps)...)
	}

	if *x509Flag {
		code, body := s.broker("PUT", "/v2/service_instances/load/service_bindings/cert",
			`{"service_id":"`+serviceID+`","plan_id":"`+planID+`","parameters":{"credential-type":"x509"}}`)
		var xc struct{ Credentials map[string]any }
		json.Unmarshal(body, &xc)
		cert, cerr := tls.X509KeyPair([]byte(str(xc.Credentials["certificate"])), []byte(str(xc.Credentials["key"])))
		if code == 400 || code >= 300 || cerr != nil {
			fmt.Printf("mTLS: not available (bind %d: %s %v)\n", code, strings.TrimSpace(string(body)), cerr)
			rows = append(rows, result{backend: backendName, name: "certificate, keep-alive mTLS", note: "not available"})
		} else {
			f := "grant_type=client_credentials&client_id=" + urlq(str(xc.Credentials["clientid"]))
			rows = append(rows, s.scenario(backendName, "certificate, keep-alive mTLS", s.httpsURL, &cert, f, r))
		}
	}

	if *extra > 0 {
		t0 := time.Now()
		var next atomic.Int64
		var wg sync.WaitGroup
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := next.Add(1)
					if i > int64(*extra) {
						return
					}
					id := fmt.Sprintf("extra-%d", i)
					s.provision(id, fmt.Sprintf(`{"xsappname":"extra%d"}`, i))
					s.bind(id, id+"-b", nil)
				}
			}()
		}
		wg.Wait()
		took := time.Since(t0)
		opsRate := 2 * float64(*extra) / took.Seconds()
		fmt.Printf("created %d extra instances with one binding each in %s (%.0f broker operations/s, 8 workers)\n", *extra, took.Round(time.Millisecond), opsRate)
		rows = append(rows, result{backend: backendName, name: fmt.Sprintf("broker: %d provisions + %d binds, 8 workers", *extra, *extra),
			note: fmt.Sprintf("%.0f operations/s; sequential binding creation p50 %.2f ms, p99 %.2f ms", opsRate, bindP50, pct(lat, 99)), info: true})
		rows = append(rows, s.scenario(backendName, fmt.Sprintf("secret, keep-alive HTTP, +%d instances", *extra), s.httpURL, nil, form, r))
		rows[len(rows)-1].note = fmt.Sprintf("%.1f%% of the first HTTP run", 100*rows[len(rows)-1].tps/rows[0].tps)
	}
	return rows
}

// printTable prints every result, with the ratios to the signing rates,
// for PostgreSQL to the same scenario on SQLite, and for xsuaa to the
// same scenario on the floor.
func printTable(rows []result, r rates) {
	sqlite, floor := map[string]float64{}, map[string]float64{}
	for _, row := range rows {
		switch row.backend {
		case "sqlite":
			sqlite[row.name] = row.tps
		case "floor":
			floor[row.floorFor+" "+row.name] = row.tps
		}
	}
	fmt.Printf("\n| backend | scenario | tokens/s | × OpenSSL sign rate | × Go sign rate | × SQLite | p50 ms | p99 ms | errors | RSS | HWM | note |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	fmt.Printf("| | OpenSSL RSA-2048 sign (openssl speed -multi %d) | %.0f | 1.00× | | | | | | | | |\n", runtime.NumCPU(), r.openssl)
	fmt.Printf("| | Go RSA-2048 sign, in-process, %d cores | %.0f | | 1.00× | | | | | | | |\n", runtime.GOMAXPROCS(0), r.golang)
	if r.signer > 0 && r.openssl > 0 {
		fmt.Printf("| | keys.Signer (OpenSSL through cgo), in-process, whole JWS, %d cores | %.0f | %.2f× | %.2f× | | | | | | | |\n", runtime.NumCPU(), r.signer, r.signer/r.openssl, r.signer/r.golang)
	}
	for _, row := range rows {
		switch {
		case row.note == "not available":
			fmt.Printf("| %s | %s | – | – | – | – | – | – | – | – | – | not available |\n", row.backend, row.name)
			continue
		case row.info:
			fmt.Printf("| %s | %s | | | | | | | | %s | %s | %s |\n", row.backend, row.name, row.rss, row.hwm, row.note)
			continue
		}
		vsSQLite := ""
		if base := sqlite[row.name]; row.backend != "sqlite" && row.backend != "floor" && base > 0 {
			vsSQLite = fmt.Sprintf("%.2f×", row.tps/base)
		}
		vsSSL := ""
		if r.openssl > 0 {
			vsSSL = fmt.Sprintf("%.2f×", row.tps/r.openssl)
		}
		note := row.note
		if row.backend == "floor" {
			note = strings.TrimSuffix("measured right before the "+row.floorFor+" rows; "+note, "; ")
		}
		if base := floor[row.backend+" "+row.name]; row.backend != "floor" && base > 0 {
			note = strings.TrimSuffix(fmt.Sprintf("%.2f× the floor; ", row.tps/base)+note, "; ")
		}
		if row.cpu != "" {
			note = strings.TrimPrefix(note+"; "+row.cpu, "; ")
		}
		fmt.Printf("| %s | %s | %.0f | %s | %.2f× | %s | %.2f | %.2f | %d | %s | %s | %s |\n", row.backend, row.name, row.tps, vsSSL, row.tps/r.golang, vsSQLite,
			row.p50, row.p99, row.errs, row.rss, row.hwm, note)
	}
}

// scenario runs --conns goroutines, each with its own single-connection
// transport, posting form to base+/oauth/token for --duration.
func (s *server) scenario(backendName, name, base string, cert *tls.Certificate, form string, rt rates) result {
	ctx, cancel := context.WithTimeout(context.Background(), *duration)
	defer cancel()
	var mu sync.Mutex
	var all []float64
	var errs atomic.Int64
	var wg sync.WaitGroup
	xacts := s.transactions()
	serverCPU0, selfCPU0, machine0 := procCPU(s.cmd.Process.Pid), selfCPU(), readMachineTicks()
	start := time.Now()
	for g := 0; g < *conns; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tc := &tls.Config{RootCAs: s.caPool, ServerName: "localhost"}
			if cert != nil {
				tc.Certificates = []tls.Certificate{*cert}
			}
			local := make([]float64, 0, 4096)
			var send func() (int, error)
			if *clientFlag == "net/http" {
				tr := &http.Transport{TLSClientConfig: tc, MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1, ForceAttemptHTTP2: false}
				defer tr.CloseIdleConnections()
				cli := &http.Client{Transport: tr, Timeout: 10 * time.Second}
				send = func() (int, error) {
					req, _ := http.NewRequest("POST", base+"/oauth/token", strings.NewReader(form))
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					resp, err := cli.Do(req)
					if err != nil {
						return 0, err
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					return resp.StatusCode, nil
				}
			} else {
				rc, err := newRawClient(base+"/oauth/token", form, tc)
				check(err)
				defer rc.close()
				send = rc.do
			}
			for ctx.Err() == nil {
				t0 := time.Now()
				code, err := send()
				if err != nil || code != 200 {
					errs.Add(1)
					continue
				}
				local = append(local, ms(time.Since(t0)))
			}
			mu.Lock()
			all = append(all, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	el := time.Since(start).Seconds()
	serverCPU, selfCPUUsed := procCPU(s.cmd.Process.Pid)-serverCPU0, selfCPU()-selfCPU0
	idle, steal := idleAndSteal(machine0, readMachineTicks())
	rss, hwm := procMem(s.cmd.Process.Pid)
	sort.Float64s(all)
	r := result{backend: backendName, name: name, tps: float64(len(all)) / el, p50: pct(all, 50), p99: pct(all, 99), errs: errs.Load(), rss: rss, hwm: hwm}
	if xacts >= 0 && len(all) > 0 {
		// PostgreSQL publishes its counters within a second.
		time.Sleep(1500 * time.Millisecond)
		per := float64(s.transactions()-xacts) / float64(len(all))
		r.note = fmt.Sprintf("%.3f database round trips per token", per)
		fmt.Printf("  %.0f database transactions for %d tokens: %.3f per token\n", per*float64(len(all)), len(all), per)
	}
	vs := ""
	if rt.openssl > 0 {
		vs = fmt.Sprintf("%.2f× OpenSSL, ", r.tps/rt.openssl)
	}
	fmt.Printf("%-45s %7.0f tokens/s (%s%.2f× Go sign rate)  p50 %.2f ms  p99 %.2f ms  errors %d  RSS %s  HWM %s\n",
		name, r.tps, vs, r.tps/rt.golang, r.p50, r.p99, r.errs, rss, hwm)
	// Where the machine's CPU went: the server's per token, against the
	// CPU one OpenSSL signature takes on this machine, and the load
	// generator's own share (it runs on the same cores).
	if n := float64(len(all)); n > 0 && serverCPU > 0 {
		total := float64(runtime.NumCPU()) * el
		line := fmt.Sprintf("  CPU: server %.0f µs/token", serverCPU/n*1e6)
		if rt.openssl > 0 {
			sig := float64(runtime.NumCPU()) / rt.openssl
			line += fmt.Sprintf(" (%.2f× an OpenSSL signature's %.0f µs)", serverCPU/n/sig, sig*1e6)
		}
		line += fmt.Sprintf(", load generator %.0f%% and server %.0f%% of %d cores; the machine %.0f%% idle, %.0f%% stolen by the hypervisor",
			100*selfCPUUsed/total, 100*serverCPU/total, runtime.NumCPU(), idle, steal)
		fmt.Println(line)
		r.cpu = fmt.Sprintf("server %.0f µs/token; generator %.0f%%, idle %.0f%%, stolen %.0f%% of the CPU", serverCPU/n*1e6, 100*selfCPUUsed/total, idle, steal)
	}
	return r
}

// rsaRate signs SHA-256 digests with an RSA-2048 key on GOMAXPROCS
// goroutines for d and returns signatures per second.
func rsaRate(d time.Duration) float64 {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	check(err)
	sum := sha256.Sum256([]byte("xsuaa-load"))
	var n atomic.Int64
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for i := 0; i < runtime.GOMAXPROCS(0); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				if _, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, sum[:]); err == nil {
					n.Add(1)
				}
			}
		}()
	}
	t0 := time.Now()
	wg.Wait()
	return float64(n.Load()) / time.Since(t0).Seconds()
}

// start launches xsuaa serve with env added and waits for its "xsuaa
// started" log line.
func start(bin, dataDir string, env []string) *server {
	return startCmd(bin, []string{"serve", "--data-dir", dataDir, "--http", "127.0.0.1:0", "--https", "127.0.0.1:0"}, dataDir, env)
}

// startCmd runs bin with args and env added, waits for its "xsuaa started"
// log line and reads the CA of its HTTPS certificate from dataDir/ca.pem.
func startCmd(bin string, args []string, dataDir string, env []string) *server {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(append(os.Environ(), "XSUAA_BROKER_USER="+brokerUser, "XSUAA_BROKER_PASSWORD="+brokerPass,
		"XSUAA_ADMIN_USER="+adminUser, "XSUAA_ADMIN_PASSWORD="+adminPass), env...)
	pr, pw := io.Pipe()
	cmd.Stderr, cmd.Stdout = pw, io.Discard
	check(cmd.Start())
	s := &server{cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); pw.Close(); close(s.done) }()
	cleanups = append(cleanups, s.stop)
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sent := false
		for sc.Scan() {
			var l struct{ Msg, Scheme, Addr, URL string }
			if json.Unmarshal(sc.Bytes(), &l) != nil {
				continue
			}
			switch {
			case l.Msg == "listening" && l.Scheme == "http":
				s.httpURL = "http://" + l.Addr
			case l.Msg == "listening" && l.Scheme == "https":
				s.httpsURL = "https://" + l.Addr
			case l.Msg == "xsuaa started" && !sent:
				sent = true
				ready <- true
			}
		}
		if !sent {
			ready <- false
		}
	}()
	select {
	case ok := <-ready:
		if !ok {
			fatalf("xsuaa exited before it was ready")
		}
	case <-time.After(30 * time.Second):
		fatalf("xsuaa not ready after 30s")
	}
	for _, u := range []string{s.httpURL, s.httpsURL} {
		h, _, _ := net.SplitHostPort(strings.SplitN(u, "//", 2)[1])
		if ip := net.ParseIP(h); ip == nil || !ip.IsLoopback() {
			s.stop()
			fatalf("refusing non-loopback address %q", u)
		}
	}
	pem, err := os.ReadFile(filepath.Join(dataDir, "ca.pem"))
	check(err)
	s.caPool = x509.NewCertPool()
	s.caPool.AppendCertsFromPEM(pem)
	s.brokerCli = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	fmt.Printf("xsuaa pid %d: %s %s\n", cmd.Process.Pid, s.httpURL, s.httpsURL)
	return s
}

// stop sends SIGTERM and waits up to 20s before killing the server.
func (s *server) stop() {
	select {
	case <-s.done:
		return
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
}

// broker sends an authenticated OSB request (or, under /admin/, an admin
// API request) over plain HTTP.
func (s *server) broker(method, path, body string) (int, []byte) {
	req, _ := http.NewRequest(method, s.httpURL+path, strings.NewReader(body))
	if strings.HasPrefix(path, "/admin/") {
		req.SetBasicAuth(adminUser, adminPass)
	} else {
		req.SetBasicAuth(brokerUser, brokerPass)
	}
	req.Header.Set("X-Broker-API-Version", "2.17")
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.brokerCli.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// provision creates an instance with the application plan from descriptor.
func (s *server) provision(id, descriptor string) {
	code, b := s.broker("PUT", "/v2/service_instances/"+id, `{"service_id":"`+serviceID+`","plan_id":"`+planID+
		`","organization_guid":"org","space_guid":"space","context":{"instance_name":"`+id+`"},"parameters":`+descriptor+`}`)
	if code != 201 && code != 200 {
		fatalf("provision %s: %d %s", id, code, b)
	}
}

// bind creates a binding and returns its credentials.
func (s *server) bind(inst, id string, params map[string]any) map[string]string {
	req := map[string]any{"service_id": serviceID, "plan_id": planID}
	if params != nil {
		req["parameters"] = params
	}
	j, _ := json.Marshal(req)
	code, b := s.broker("PUT", "/v2/service_instances/"+inst+"/service_bindings/"+id, string(j))
	if code != 201 && code != 200 {
		fatalf("bind %s/%s: %d %s", inst, id, code, b)
	}
	var r struct{ Credentials map[string]any }
	json.Unmarshal(b, &r)
	out := map[string]string{}
	for k, v := range r.Credentials {
		out[k] = str(v)
	}
	return out
}

// procMem reads VmRSS and VmHWM of pid.
func procMem(pid int) (rss, hwm string) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "?", "?"
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		var kb float64
		fmt.Sscan(f[1], &kb)
		switch f[0] {
		case "VmRSS:":
			rss = fmt.Sprintf("%.1f MiB", kb/1024)
		case "VmHWM:":
			hwm = fmt.Sprintf("%.1f MiB", kb/1024)
		}
	}
	return
}

func pct(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p / 100)
	return sorted[i]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func str(v any) string { s, _ := v.(string); return s }

func urlq(s string) string { return url.QueryEscape(s) }

func check(err error) {
	if err != nil {
		fatalf("%v", err)
	}
}

func fatalf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "xsuaa-load: "+format+"\n", a...)
	cleanup()
	os.Exit(1)
}

func mkdir(dir string) error { return os.MkdirAll(dir, 0o700) }

// userScenarios measures the user grants on an app whose role collection
// gives a user its scope and uaa.user: the password grant (one bcrypt
// comparison and one signature per token) against the machine's bcrypt
// rate, the refresh_token and jwt-bearer grants against clientCC, the
// client_credentials rate of the same run.
func (s *server) userScenarios(backendName string, r rates, clientCC float64) []result {
	s.provision("users", `{"xsappname":"users","scopes":[{"name":"$XSAPPNAME.Read"},{"name":"uaa.user"}],`+
		`"role-templates":[{"name":"Reader","scope-references":["$XSAPPNAME.Read","uaa.user"]}],`+
		`"role-collections":[{"name":"Users_Reader","role-template-references":["$XSAPPNAME.Reader"]}]}`)
	creds := s.bind("users", "users-key", nil)
	for _, call := range [][3]string{
		{"POST", "/admin/users", `{"name":"load-user","password":"load-user-pw"}`},
		{"PUT", "/admin/role-collections/Users_Reader/users/load-user", ``},
	} {
		if code, b := s.broker(call[0], call[1], call[2]); code >= 300 {
			fatalf("%s %s: %d %s", call[0], call[1], code, b)
		}
	}
	client := "&client_id=" + urlq(creds["clientid"]) + "&client_secret=" + urlq(creds["clientsecret"])
	password := "grant_type=password&username=load-user&password=load-user-pw" + client
	resp, err := http.Post(s.httpURL+"/oauth/token", "application/x-www-form-urlencoded", strings.NewReader(password))
	if err != nil {
		fatalf("password grant: %v", err)
	}
	var tok struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err := json.Unmarshal(b, &tok); err != nil || tok.RefreshToken == "" {
		fatalf("password grant: %d %s", resp.StatusCode, b)
	}
	hashRate := bcryptRate(3 * time.Second)
	fmt.Printf("bcrypt (cost 10) comparison rate: %.1f/s on %d cores\n", hashRate, runtime.GOMAXPROCS(0))
	var rows []result
	pw := s.scenario(backendName, "password grant, keep-alive HTTP", s.httpURL, nil, password, r)
	pw.note = fmt.Sprintf("%.2f× the bcrypt rate (%.1f/s)", pw.tps/hashRate, hashRate)
	rows = append(rows, pw)
	refresh := s.scenario(backendName, "refresh_token grant, keep-alive HTTP", s.httpURL, nil,
		"grant_type=refresh_token&refresh_token="+urlq(tok.RefreshToken)+client, r)
	refresh.note = fmt.Sprintf("%.2f× client_credentials", refresh.tps/clientCC)
	rows = append(rows, refresh)
	exchange := s.scenario(backendName, "jwt-bearer grant, keep-alive HTTP", s.httpURL, nil,
		"grant_type="+urlq("urn:ietf:params:oauth:grant-type:jwt-bearer")+"&assertion="+urlq(tok.AccessToken)+client, r)
	exchange.note = fmt.Sprintf("%.2f× client_credentials", exchange.tps/clientCC)
	return append(rows, exchange)
}

// bcryptRate measures bcrypt (cost 10) password comparisons per second on
// all cores, the floor of a password grant's cost.
func bcryptRate(d time.Duration) float64 {
	hash, _ := bcrypt.GenerateFromPassword([]byte("load-user-pw"), 10)
	var n atomic.Int64
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				bcrypt.CompareHashAndPassword(hash, []byte("load-user-pw"))
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	return float64(n.Load()) / d.Seconds()
}

// procCPU returns the user and system CPU seconds process pid has used
// (/proc/<pid>/stat fields 14 and 15, in clock ticks of 1/100 s); 0 when
// it cannot be read.
func procCPU(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces; fields count from after it.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / 100
}

// selfCPU returns the CPU seconds this process has used.
func selfCPU() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// machineTicks are the machine's CPU time counters (/proc/stat's "cpu"
// line, in clock ticks): all of them, the idle ones (idle and iowait)
// and the stolen ones (a virtual machine's CPU time the hypervisor gave
// to others).
type machineTicks struct{ total, idle, steal float64 }

func readMachineTicks() machineTicks {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return machineTicks{}
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return machineTicks{}
	}
	var t machineTicks
	for i, v := range f[1:9] { // user nice system idle iowait irq softirq steal
		n, _ := strconv.ParseFloat(v, 64)
		t.total += n
		switch i {
		case 3, 4:
			t.idle += n
		case 7:
			t.steal += n
		}
	}
	return t
}

// idleAndSteal returns the shares of the machine's CPU time that were
// idle and stolen between a and b, in percent.
func idleAndSteal(a, b machineTicks) (idle, steal float64) {
	d := b.total - a.total
	if d <= 0 {
		return 0, 0
	}
	return 100 * (b.idle - a.idle) / d, 100 * (b.steal - a.steal) / d
}
