package main

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"syscall"
	"time"

	"github.com/openxsuaa/xsuaa/clients/storage"
	"github.com/openxsuaa/xsuaa/clients/storage/sqlstore"
	"github.com/openxsuaa/xsuaa/keys"
)

// The floor is the least a server must do for a client_credentials token
// on this stack: net/http (and crypto/tls) read the request, the form is
// parsed, the secret is checked with one HMAC-SHA256, the claims are
// appended to a buffer with a fresh jti, iat and exp, keys.Signer signs
// them with the same OpenSSL signer xsuaa uses, and a JSON answer of the
// same shape is written. Nothing else: no routing, no client index, no
// fosite, no throttle, no audit, no revision read. Run under the same load
// as xsuaa, it measures how close to "the signature and the HTTP stack"
// the real server is (the "× floor" column).
//
// The tool runs it as a child process of itself (xsuaa-load --serve-floor
// DIR), so that it competes for the cores exactly as xsuaa does.

// floorClientID and floorSecret are the floor's only credentials.
const (
	floorClientID = "sb-floor!t1"
	floorSecret   = "floor-secret-0123456789abcdef"
)

// serveFloor runs the floor server with its key and CA in dir until
// SIGTERM. It logs the same "listening" and "xsuaa started" JSON lines as
// xsuaa and writes dir/ca.pem, so start drives it as it drives xsuaa.
func serveFloor(dir string) error {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	// The scheduler setting xsuaa serve uses with the OpenSSL signer
	// (schedulerProcs in cmd/xsuaa), so that the floor differs from xsuaa
	// in the work per token only.
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(2 * runtime.GOMAXPROCS(0))
	}
	f, cert, err := newFloor(context.Background(), dir)
	if err != nil {
		return err
	}
	defer f.close()
	errc := make(chan error, 2)
	var servers []*http.Server
	for _, scheme := range []string{"http", "https"} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		hs := &http.Server{Handler: f, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
			WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}
		if scheme == "https" {
			ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
		}
		servers = append(servers, hs)
		log.Info("listening", "scheme", scheme, "addr", ln.Addr().String())
		go func() { errc <- hs.Serve(ln) }()
	}
	// XSUAA_CPU_PROFILE=FILE profiles the floor as it profiles xsuaa.
	if path := os.Getenv("XSUAA_CPU_PROFILE"); path != "" {
		pf, err := os.Create(path + ".floor")
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(pf); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	log.Info("xsuaa started", "floor", true)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	select {
	case <-sig:
	case err := <-errc:
		return err
	}
	for _, hs := range servers {
		hs.Close()
	}
	return nil
}

// floor is the floor's handler.
type floor struct {
	store     *sqlstore.Store
	signer    *keys.Signer
	macKey    []byte
	secretMAC []byte
}

// newFloor makes the floor's signing key and CA in a new SQLite store in
// dir (as xsuaa makes its own), writes dir/ca.pem and returns the handler
// and its HTTPS certificate.
func newFloor(ctx context.Context, dir string) (*floor, tls.Certificate, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, tls.Certificate{}, err
	}
	store, err := sqlstore.OpenSQLite(ctx, filepath.Join(dir, "floor.db"))
	if err != nil {
		return nil, tls.Certificate{}, err
	}
	f := &floor{store: store, macKey: make([]byte, 32)}
	fail := func(err error) (*floor, tls.Certificate, error) {
		f.close()
		return nil, tls.Certificate{}, err
	}
	ikm := make([]byte, 32)
	rand.Read(ikm)
	rand.Read(f.macKey)
	f.secretMAC = floorMAC(f.macKey, floorSecret)
	mk, err := keys.NewMasterKey(ikm)
	if err != nil {
		return fail(err)
	}
	if f.signer, err = keys.LoadSigner(ctx, storage.Keys(store), mk, time.Now()); err != nil {
		return fail(err)
	}
	ca, err := keys.LoadCA(ctx, storage.Keys(store), mk, time.Now)
	if err != nil {
		return fail(err)
	}
	cert, err := ca.IssueServerCertificate([]string{"localhost", "127.0.0.1"})
	if err != nil {
		return fail(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw}), 0o600); err != nil {
		return fail(err)
	}
	return f, cert, nil
}

func (f *floor) close() {
	if f.signer != nil {
		f.signer.Close()
	}
	f.store.Close()
}

func floorMAC(key []byte, secret string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(secret))
	return m.Sum(nil)
}

func (f *floor) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/oauth/token" {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	if r.PostForm.Get("grant_type") != "client_credentials" || r.PostForm.Get("client_id") != floorClientID ||
		!hmac.Equal(floorMAC(f.macKey, r.PostForm.Get("client_secret")), f.secretMAC) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"error":"invalid_client"}`))
		return
	}
	var jtiRaw [16]byte
	rand.Read(jtiRaw[:])
	jti := hex.EncodeToString(jtiRaw[:])
	now := time.Now().Unix()
	// The claims of an xsuaa client_credentials token of about the same
	// size, with this request's jti, iat and exp.
	p := make([]byte, 0, 1024)
	p = append(p, `{"jti":"`...)
	p = append(p, jti...)
	p = append(p, `","ext_attr":{"enhancer":"XSUAA","subaccountid":"0f4b2e7a-2d1c-4b8e-9a6f-3c5d7e9f1a2b","zdn":"provider"},"sub":"sb-floor!t1","authorities":["floor!t1.Read","uaa.resource"],"scope":["floor!t1.Read","uaa.resource"],"client_id":"sb-floor!t1","cid":"sb-floor!t1","azp":"sb-floor!t1","grant_type":"client_credentials","rev_sig":"8c4f2a1e","iat":`...)
	p = strconv.AppendInt(p, now, 10)
	p = append(p, `,"exp":`...)
	p = strconv.AppendInt(p, now+43200, 10)
	p = append(p, `,"iss":"http://provider.localhost:8080/oauth/token","zid":"0f4b2e7a-2d1c-4b8e-9a6f-3c5d7e9f1a2b","aud":["floor!t1","uaa","sb-floor!t1"]}`...)
	token, err := f.signer.Sign(p, "http://provider.localhost:8080/token_keys")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	out := make([]byte, 0, len(token)+160)
	out = append(out, `{"access_token":"`...)
	out = append(out, token...)
	out = append(out, `","token_type":"bearer","expires_in":43199,"scope":"floor!t1.Read uaa.resource","jti":"`...)
	out = append(out, jti...)
	out = append(out, `"}`...)
	h := w.Header()
	h.Set("Content-Type", "application/json;charset=UTF-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	w.Write(out)
}

// floorForm is the form of a token request the floor accepts.
func floorForm() string {
	return "grant_type=client_credentials&client_id=" + urlq(floorClientID) + "&client_secret=" + urlq(floorSecret)
}

// runFloor measures the floor under the HTTP and HTTPS scenarios of the
// secret, with the same load as xsuaa's.
func runFloor(tmp string, r rates, backendName string) []result {
	exe, err := os.Executable()
	check(err)
	dir := filepath.Join(tmp, "floor-"+backendName)
	fmt.Printf("\n== floor, before %s (net/http, the form, one HMAC, the claims, keys.Signer, the answer: nothing else) ==\n", backendName)
	s := startCmd(exe, []string{"--serve-floor", dir}, dir, nil)
	defer s.stop()
	form := floorForm()
	rows := []result{
		s.scenario("floor", "secret, keep-alive HTTP", s.httpURL, nil, form, r),
		s.scenario("floor", "secret, keep-alive HTTPS", s.httpsURL, nil, form, r),
	}
	for i := range rows {
		rows[i].floorFor = backendName
	}
	return rows
}
