package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/openxsuaa/xsuaa/clients"
	"github.com/openxsuaa/xsuaa/clients/registry"
	"github.com/openxsuaa/xsuaa/clients/storage"
	"github.com/openxsuaa/xsuaa/clients/storage/sqlstore"
	"github.com/openxsuaa/xsuaa/keys"
	"github.com/openxsuaa/xsuaa/server"
)

// Files in the data directory.
const (
	dbFile          = "xsuaa.db"
	caFile          = "ca.pem"
	brokerCredsFile = "broker-credentials.json"
	adminCredsFile  = "admin-credentials.json"
)

type serveConfig struct {
	dataDir string
	// database is --database or $XSUAA_DATABASE: a postgres:// URL, or
	// "" for SQLite in the data directory.
	database  string
	httpAddr  string
	httpsAddr string
	publicURL string
	tlsCert   string
	tlsKey    string
	logFormat string
	logLevel  string
	// clientCAs are --client-ca files: CAs trusted for client certificates
	// besides the local CA.
	clientCAs stringList
	// trustedProxies are --trusted-proxy prefixes: peers whose forwarded
	// client certificate headers are read.
	trustedProxies stringList
	// authFailureLimit failed authentications per authFailureWindow block
	// a (client id, source address) pair, or a source address at the
	// broker API; 0 disables throttling.
	authFailureLimit  int
	authFailureWindow time.Duration
	maxConnections    int
	clientCertHeader  string
	// auditLog is where audit events go: "stderr", "off" or a file.
	auditLog string
	// accessLog is where the access log goes: "off", "stderr" or a file.
	accessLog string
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var c serveConfig
	fs := flag.NewFlagSet("xsuaa serve", flag.ContinueOnError)
	fs.StringVar(&c.dataDir, "data-dir", "./xsuaa-data", "directory for the SQLite database, the master key and ca.pem (with --database: only ca.pem)")
	fs.StringVar(&c.database, "database", getenv("XSUAA_DATABASE"), "PostgreSQL `URL` (postgres://user:password@host:port/db?pool_max_conns=8) shared by several replicas; default $XSUAA_DATABASE, or SQLite in --data-dir when both are empty")
	fs.StringVar(&c.httpAddr, "http", "127.0.0.1:8080", "plain HTTP listen address (empty: none)")
	fs.StringVar(&c.httpsAddr, "https", "127.0.0.1:8443", "HTTPS listen address (empty: none); it requests, but does not require, client certificates")
	fs.StringVar(&c.publicURL, "public-url", "", "base URL put into credentials and tokens (default https://localhost:<https port>)")
	fs.StringVar(&c.tlsCert, "tls-cert", "", "PEM certificate (chain) for HTTPS instead of one from the local CA")
	fs.StringVar(&c.tlsKey, "tls-key", "", "PEM private key for --tls-cert")
	fs.StringVar(&c.logFormat, "log-format", "json", "log format: json or text")
	fs.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.Var(&c.clientCAs, "client-ca", "PEM `file` of CA certificates trusted for client certificates (self-managed x509 bindings), besides the local CA; repeatable")
	fs.Var(&c.trustedProxies, "trusted-proxy", "`CIDR` or address of a TLS-terminating proxy whose X-Forwarded-For (last entry) is the source address for throttling and the audit log, and whose forwarded client certificate (in the one --client-cert-header format) is trusted; repeatable")
	fs.StringVar(&c.clientCertHeader, "client-cert-header", "", "the one header in which the --trusted-proxy forwards client certificates: envoy (X-Forwarded-Client-Cert, Envoy/Istio key=value form, the last element counts), gorouter (X-Forwarded-Client-Cert, base64 DER) or rfc9440 (Client-Cert, Client-Cert-Chain); every other certificate header is ignored. Empty: no forwarded certificate is trusted")
	fs.IntVar(&c.maxConnections, "max-connections", server.DefaultMaxConnections, "connections the server holds at most, both listeners together; at the bound a new connection closes the one that has waited longest without a request (idle keep-alive connections go first), so idle connections never keep a client out")
	fs.IntVar(&c.authFailureLimit, "auth-failure-limit", server.DefaultAuthFailureLimit, "failed client authentications per (client id, source address) at /oauth/token, and per source address at the broker and clone APIs, after which further requests get 429 until --auth-failure-window has passed since the first of them; 0 disables")
	fs.DurationVar(&c.authFailureWindow, "auth-failure-window", server.DefaultAuthFailureWindow, "window in which --auth-failure-limit failures are counted; 0 disables throttling")
	fs.StringVar(&c.accessLog, "access-log", "off", "where the access log goes (one line per request: method, path, status, duration, source, and the client id or broker user when it names a known one): off, stderr (in the --log-format), or a file `path` (JSON lines, created with mode 0600)")
	fs.StringVar(&c.auditLog, "audit-log", "stderr", "where audit events (JSON lines: broker and clone API changes, failed and throttled authentications) go: stderr, off, or a file `path` (appended to, created with mode 0600)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: xsuaa serve [flags]\n\nRuns the server. Environment: XSUAA_BROKER_USER and XSUAA_BROKER_PASSWORD (broker API credentials;\ngenerated once into <data-dir>/broker-credentials.json when unset), XSUAA_MASTER_KEY (encrypts keys at rest;\n<data-dir>/master.key when unset), XSUAA_DATABASE (as --database).\n\nWith --database (PostgreSQL), several replicas share one database: XSUAA_MASTER_KEY and the broker\ncredentials must then be set, the same for every replica.\n\nFailed authentications are throttled: after --auth-failure-limit failures within --auth-failure-window\nfor one client id and source address at /oauth/token (or one source address at the broker and clone\nAPIs), that pair gets 429 with Retry-After until the window is over.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("serve takes no arguments, got %q", fs.Args())}
	}
	if (c.tlsCert == "") != (c.tlsKey == "") {
		return usageError{"--tls-cert and --tls-key go together"}
	}
	if c.httpAddr == "" && c.httpsAddr == "" {
		return usageError{"at least one of --http and --https is needed"}
	}
	if c.authFailureLimit < 0 || c.authFailureWindow < 0 {
		return usageError{"--auth-failure-limit and --auth-failure-window must not be negative (0 disables throttling)"}
	}
	log, err := newLogger(stderr, c.logFormat, c.logLevel)
	if err != nil {
		return usageError{err.Error()}
	}
	audit, closeAudit, err := openAuditLog("--audit-log", c.auditLog, stderr, log)
	if err != nil {
		return err
	}
	defer closeAudit()
	access, closeAccess, err := openAuditLog("--access-log", c.accessLog, stderr, log)
	if err != nil {
		return err
	}
	defer closeAccess()
	proxies, err := parseProxies(c.trustedProxies)
	if err != nil {
		return usageError{err.Error()}
	}
	certHeader := server.CertHeader(c.clientCertHeader)
	switch {
	case certHeader != server.CertHeaderNone && !slices.Contains(server.CertHeaders, certHeader):
		return usageError{fmt.Sprintf("--client-cert-header %q: the formats are envoy, gorouter and rfc9440", c.clientCertHeader)}
	case certHeader != server.CertHeaderNone && len(proxies) == 0:
		return usageError{"--client-cert-header needs --trusted-proxy: only the proxy's forwarded certificates are read"}
	}
	extraCAs, err := loadClientCAs(c.clientCAs)
	if err != nil {
		return usageError{err.Error()}
	}

	// Bind the listeners first: a port that is taken fails the start
	// before anything is created (master key, broker credentials,
	// database), and the public URL names the real HTTPS port.
	var httpLn, httpsLn net.Listener
	if c.httpAddr != "" {
		if httpLn, err = net.Listen("tcp", c.httpAddr); err != nil {
			return fmt.Errorf("--http: %w", err)
		}
		defer httpLn.Close()
	}
	if c.httpsAddr != "" {
		if httpsLn, err = net.Listen("tcp", c.httpsAddr); err != nil {
			return fmt.Errorf("--https: %w", err)
		}
		defer httpsLn.Close()
	}
	public, err := publicURL(c.publicURL, httpLn, httpsLn)
	if err != nil {
		return usageError{err.Error()}
	}

	if err := prepareDataDir(c.dataDir, log); err != nil {
		return err
	}
	shared := c.database != ""
	if shared && !sqlstore.IsPostgresURL(c.database) {
		return usageError{"--database / XSUAA_DATABASE must be a PostgreSQL URL (postgres://user:password@host:port/database); leave it empty for SQLite in --data-dir"}
	}
	if shared && getenv("XSUAA_MASTER_KEY") == "" {
		return errors.New("XSUAA_MASTER_KEY is not set: with a PostgreSQL database every replica must use the same master key (it seals the signing keys, the CA key and the stored secrets); generate one with 'openssl rand -base64 32' and give it to every replica")
	}
	if shared && (getenv("XSUAA_BROKER_USER") == "" || getenv("XSUAA_BROKER_PASSWORD") == "") {
		return errors.New("XSUAA_BROKER_USER and XSUAA_BROKER_PASSWORD are not set: with a PostgreSQL database every replica must accept the same broker credentials")
	}
	if shared && (getenv("XSUAA_ADMIN_USER") == "" || getenv("XSUAA_ADMIN_PASSWORD") == "") {
		return errors.New("XSUAA_ADMIN_USER and XSUAA_ADMIN_PASSWORD are not set: with a PostgreSQL database every replica must accept the same admin credentials")
	}
	mk, err := keys.LoadMasterKey(c.dataDir, getenv("XSUAA_MASTER_KEY"), log)
	if err != nil {
		return err
	}
	store, err := openStore(ctx, c)
	if err != nil {
		return err
	}
	defer store.Close()
	// Credential rows carry a MAC under a key from the master key: write
	// access to the database alone cannot mint a credential.
	if err := store.SealRows(ctx, mk.Derive("xsuaa row mac v1", 32), log); err != nil {
		return err
	}
	user, pass, err := brokerAPI.load(c.dataDir, getenv, stdout, log)
	if err != nil {
		return err
	}
	adminUser, adminPass, err := adminAPI.load(c.dataDir, getenv, stdout, log)
	if err != nil {
		return err
	}
	if adminPass == pass {
		return usageError{"XSUAA_ADMIN_PASSWORD must differ from XSUAA_BROKER_PASSWORD: the admin API (users, role collections, keys) is not the platform's"}
	}

	now := time.Now
	slog.SetDefault(log) // keys logs a fallback to the Go signer through it
	keyStore := storage.Keys(store)
	signer, err := keys.LoadSigner(ctx, keyStore, mk, now())
	if err != nil {
		return err
	}
	defer signer.Close()
	procs := schedulerProcs(signer.Backend(), getenv("GOMAXPROCS"))
	// Activate rotated keys on time and drop retired ones once their
	// tokens have expired (keys another replica rotated arrive through
	// the index's change feed, KeysChanged below).
	bgCtx, stopBackground := context.WithCancel(ctx)
	defer stopBackground() // before signer.Close (deferred calls run last-in first-out)
	go signer.Run(bgCtx, now, time.Minute, log)
	ca, err := keys.LoadCA(ctx, keyStore, mk, now)
	if err != nil {
		return err
	}
	if err := keys.WriteFileAtomic(filepath.Join(c.dataDir, caFile), ca.CertPEM(), 0o644); err != nil {
		return err
	}
	if err := ensureZones(ctx, store, public); err != nil {
		return err
	}
	clientPool := ca.Pool()
	for _, c := range extraCAs {
		clientPool.AddCert(c)
	}
	index, err := clients.NewIndex(ctx, clients.IndexConfig{
		Store: store, MasterKey: mk, ClientCAs: clientPool, Log: log,
		KeysChanged: func(ctx context.Context) error {
			_, err := signer.Refresh(ctx, now())
			return err
		},
	})
	if err != nil {
		return err
	}
	// Loading every instance made a lot of short-lived garbage (rows,
	// decoded JSON); give it back now rather than hold it as RSS.
	debug.FreeOSMemory()
	// Follow the other replicas' changes between requests (every token
	// request also confirms the index is current before it answers).
	go index.Follow(bgCtx, time.Second, log)
	// Expired authorization codes, refresh tokens and login sessions are
	// deleted every few minutes (every replica may do it; the deletes are
	// idempotent), so the login tables do not grow with every login.
	go pruneLogins(bgCtx, store, 5*time.Minute, log)
	reg := registry.New(registry.Config{
		Store: store, Index: index, MasterKey: mk,
		Endpoints:       registry.Endpoints{URL: public.String(), CertURL: public.String(), UAADomain: public.Host},
		VerificationKey: func() string { return signer.Active().PublicPEM() },
		CA:              ca,
		ClientCAs:       clientPool,
		Log:             log,
	})
	// Instances created by a version before user login gain the login
	// settings of their stored xs-security.json (once; see UpgradeApps).
	if n, err := reg.UpgradeApps(bgCtx); err != nil {
		log.Warn("resolving the login settings of older instances failed; they keep what they have", "error", err)
	} else if n > 0 {
		log.Info("resolved the login settings of instances created by an older version", "instances", n)
	}
	zone := index.ProviderZone()
	srv, err := server.New(server.Config{
		Index: index, Registry: reg, Signer: signer, URL: public.String(),
		BrokerUser: user, BrokerPassword: pass, AdminUser: adminUser, AdminPassword: adminPass, Log: log,
		ClientCertHeader: certHeader, Audit: audit, Access: access,
		AuthFailureLimit: c.authFailureLimit, AuthFailureWindow: c.authFailureWindow,
		Logins: store, LoginKey: mk.Derive("xsuaa login v1", 32),
	})
	if err != nil {
		return err
	}

	handler := server.TrustProxies(srv, proxies)
	conns := server.NewConnCap(c.maxConnections)
	errc := make(chan error, 2)
	var servers []*http.Server
	start := func(ln net.Listener, scheme string, tlsCfg *tls.Config) {
		hs := &http.Server{
			Handler:           handler,
			TLSConfig:         tlsCfg,
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       idleTimeout,
			ConnState:         conns.Track,
			// The server answers 431 in JSON above server.MaxHeaderBytes;
			// net/http's own, plain-text 431 is only the backstop.
			MaxHeaderBytes: 4 * server.MaxHeaderBytes,
			ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		}
		servers = append(servers, hs)
		if tlsCfg != nil {
			ln = tls.NewListener(ln, tlsCfg)
		}
		log.Info("listening", "scheme", scheme, "addr", ln.Addr().String())
		go func() { errc <- hs.Serve(ln) }()
	}
	if httpsLn != nil {
		cert, err := serverCertificate(c, ca, public)
		if err != nil {
			return err
		}
		tlsCfg := &tls.Config{
			Certificates: []tls.Certificate{cert},
			MinVersion:   tls.VersionTLS12,
			// TLS 1.2 offers only AEAD suites with forward secrecy (no
			// CBC, no RSA key exchange); TLS 1.3's are all of that kind.
			CipherSuites: tls12Suites,
			// Ask for a client certificate, advertising the trusted CAs,
			// but neither require nor verify it in the handshake: HTTPS
			// stays usable without one, a certificate from another CA does
			// not break secret authentication, and an expired or unknown
			// certificate gets an OAuth 401 naming the problem instead of
			// a TLS alert. The token endpoint verifies the chain against
			// the same pool (clients.Registry.AuthenticateCertificate);
			// the handshake has proved possession of the key.
			ClientAuth: tls.RequestClientCert,
			ClientCAs:  clientPool,
			NextProtos: []string{"h2", "http/1.1"},
		}
		if c.tlsCert == "" {
			// Tenant hosts get a leaf of their own from the local CA.
			tlsCfg.GetCertificate = (&tenantCertificates{ca: ca, index: index, publicHost: strings.ToLower(public.Hostname()), fallback: &cert}).GetCertificate
		}
		start(httpsLn, "https", tlsCfg)
	}
	if httpLn != nil {
		start(httpLn, "http", nil)
	}
	build := readBuildInfo()
	log.Info("xsuaa started", "version", build.Version, "commit", build.Commit, "go", build.Go, "url", public.String(), "zone", zone.ID, "database", store.Dialect(), "revision", index.Revision(), "data_dir", c.dataDir,
		"ca", filepath.Join(c.dataDir, caFile), "signing_key", signer.Active().KID, "signer", signer.Backend(), "gomaxprocs", procs,
		"client_cas", len(extraCAs)+1, "trusted_proxies", c.trustedProxies.String(), "client_cert_header", c.clientCertHeader,
		"auth_failure_limit", c.authFailureLimit, "auth_failure_window", c.authFailureWindow.String(), "audit_log", c.auditLog, "access_log", c.accessLog)

	// XSUAA_CPU_PROFILE=FILE writes a CPU profile (runtime/pprof) of the
	// whole run, for the benchmarks' profiles (BENCHMARKS.md).
	if path := getenv("XSUAA_CPU_PROFILE"); path != "" {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
		if err != nil {
			return fmt.Errorf("XSUAA_CPU_PROFILE: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return fmt.Errorf("XSUAA_CPU_PROFILE: %w", err)
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, hs := range servers {
		hs.Shutdown(sctx)
	}
	return nil
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format must be json or text, not %q", format)
}

// openAuditLog opens an --audit-log or --access-log destination: the server log's stream
// and format on stderr, none for "off", or JSON lines in a file opened for
// appending (created with mode 0600; an existing file that others can
// read is used, with a warning). The returned function closes the file.
func openAuditLog(flagName, dest string, stderr io.Writer, log *slog.Logger) (*slog.Logger, func() error, error) {
	nop := func() error { return nil }
	switch dest {
	case "off":
		return nil, nop, nil
	case "stderr", "":
		// In the server log's own format (--log-format): one stream, one
		// format. The audit events are Info records whatever --log-level.
		return slog.New(levelFloor{log.Handler(), slog.LevelInfo}), nop, nil
	}
	f, err := os.OpenFile(dest, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", flagName, err)
	}
	if fi, err := f.Stat(); err == nil && fi.Mode().Perm()&0o077 != 0 {
		log.Warn("the log file is readable by others", "flag", flagName, "file", dest, "mode", fi.Mode().Perm().String())
	}
	return slog.New(slog.NewJSONHandler(f, nil)), f.Close, nil
}

// levelFloor is a handler that lets records of at least min through even
// when the wrapped handler's level is higher (audit events are Info
// records on a server logging at warn).
type levelFloor struct {
	slog.Handler
	min slog.Level
}

func (h levelFloor) Enabled(_ context.Context, l slog.Level) bool { return l >= h.min }
func (h levelFloor) WithAttrs(as []slog.Attr) slog.Handler {
	return levelFloor{h.Handler.WithAttrs(as), h.min}
}
func (h levelFloor) WithGroup(name string) slog.Handler {
	return levelFloor{h.Handler.WithGroup(name), h.min}
}

// publicURL is --public-url, or https://localhost:<port> of the HTTPS
// listener (http://localhost:<port> when there is none).
func publicURL(flagValue string, httpLn, httpsLn net.Listener) (*url.URL, error) {
	if flagValue != "" {
		u, err := url.Parse(strings.TrimSuffix(flagValue, "/"))
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Path != "" || u.RawQuery != "" {
			return nil, fmt.Errorf("--public-url must be an absolute http(s) URL without a path, like https://auth.example.com, not %q", flagValue)
		}
		return u, nil
	}
	scheme, ln := "https", httpsLn
	if ln == nil {
		scheme, ln = "http", httpLn
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return &url.URL{Scheme: scheme, Host: net.JoinHostPort("localhost", port)}, nil
}

// parseProxies reads the --trusted-proxy values.
func parseProxies(values []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, v := range values {
		p, err := server.ParsePrefix(v)
		if err != nil {
			return nil, fmt.Errorf("--trusted-proxy %q: not a CIDR prefix or IP address", v)
		}
		out = append(out, p)
	}
	return out, nil
}

// loadClientCAs reads the --client-ca files: each must hold at least one
// CA certificate as PEM.
func loadClientCAs(files []string) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("--client-ca: %w", err)
		}
		certs, err := keys.ParseCertificatesPEM(b)
		if err != nil {
			return nil, fmt.Errorf("--client-ca %s: %w", f, err)
		}
		for _, c := range certs {
			if !c.IsCA {
				return nil, fmt.Errorf("--client-ca %s: %q is not a CA certificate (basic constraints CA:TRUE)", f, c.Subject)
			}
		}
		out = append(out, certs...)
	}
	return out, nil
}

// openStore opens the PostgreSQL database c.database names, or the SQLite
// file in the data directory.
func openStore(ctx context.Context, c serveConfig) (*sqlstore.Store, error) {
	if c.database != "" {
		return sqlstore.OpenPostgres(ctx, c.database)
	}
	return sqlstore.OpenSQLite(ctx, filepath.Join(c.dataDir, dbFile))
}

// ensureZones creates the installation's identity zone (index 1, a fresh
// id) on the first start, and the SaaS provisioning service's zone
// (clients.ProvisioningZoneID) when it is missing; with several replicas
// starting at once, one of them does each. The provider zone's subdomain
// is the public host's first label, or "provider" for a host of one
// label (localhost) or an IP address: clients build the zone's tenant
// URL as https://<identityzone>.<uaadomain>, which must not be
// localhost.localhost.
func ensureZones(ctx context.Context, store storage.Store, public *url.URL) error {
	sub := public.Hostname()
	if i := strings.IndexByte(sub, '.'); i > 0 && net.ParseIP(sub) == nil {
		sub = sub[:i]
	} else {
		sub = "provider"
	}
	_, err := store.Update(ctx, func(tx storage.Tx) error {
		zones, err := tx.ListZones(ctx)
		if err != nil {
			return err
		}
		if len(zones) == 0 {
			if err := tx.CreateZone(ctx, storage.Zone{ID: uuid.NewString(), Subdomain: sub, Index: 1}); err != nil {
				return err
			}
			zones = append(zones, storage.Zone{Subdomain: sub, Index: 1})
		}
		// An older version named a localhost installation's provider
		// zone "localhost"; it becomes "provider" (its URLs stay the
		// bare host's; only identityzone changes).
		provider, index, taken, haveProvisioning := zones[0], 0, map[string]bool{}, false
		for _, z := range zones {
			if z.Index < provider.Index {
				provider = z
			}
			index = max(index, z.Index)
			taken[z.Subdomain] = true
			haveProvisioning = haveProvisioning || z.ID == clients.ProvisioningZoneID
		}
		if provider.Subdomain == "localhost" && sub == "provider" && !taken[sub] {
			if err := tx.RenameZone(ctx, provider.ID, sub); err != nil {
				return err
			}
		}
		// A zone an operator named sap-provisioning before it was built
		// in keeps the name; subscriptions with callbacks then say that
		// the provisioning zone is missing.
		if haveProvisioning || taken[clients.ProvisioningZoneID] {
			return nil
		}
		return tx.CreateZone(ctx, storage.Zone{ID: clients.ProvisioningZoneID, Subdomain: clients.ProvisioningZoneID, Index: index + 1})
	})
	return err
}

// serverCertificate returns the operator's certificate, or one issued by
// the local CA for localhost, the loopback addresses and the public host.
func serverCertificate(c serveConfig, ca *keys.CA, public *url.URL) (tls.Certificate, error) {
	if c.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(c.tlsCert, c.tlsKey)
		if err != nil {
			return tls.Certificate{}, fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
		return cert, nil
	}
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	if h := public.Hostname(); h != "localhost" && h != "127.0.0.1" && h != "::1" {
		hosts = append([]string{h}, hosts...)
	}
	return ca.IssueServerCertificate(hosts)
}

// pruneLogins deletes expired login rows every interval until ctx ends.
func pruneLogins(ctx context.Context, logins storage.Logins, interval time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if err := logins.PruneLogins(ctx, now.UTC()); err != nil && ctx.Err() == nil {
				log.Warn("deleting expired codes, refresh tokens and login sessions failed; retrying later", "error", err)
			}
		}
	}
}

// idleTimeout is how long a keep-alive connection may wait for its next
// request.
const idleTimeout = 60 * time.Second

// tls12Suites are the TLS 1.2 cipher suites the HTTPS listener offers:
// ECDHE key exchange and AEAD ciphers only.
var tls12Suites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// weakPassword says why an operator's broker password is too weak to
// stand on its own, or returns "": at least 16 characters, at least 10 of
// them different.
func weakPassword(p string) string {
	if n := utf8.RuneCountInString(p); n < 16 {
		return fmt.Sprintf("it has %d characters, at least 16 are needed", n)
	}
	distinct := map[rune]bool{}
	for _, r := range p {
		distinct[r] = true
	}
	if len(distinct) < 10 {
		return fmt.Sprintf("it uses only %d different characters, at least 10 are needed", len(distinct))
	}
	return ""
}

// apiCredentials names one API's Basic credentials: the environment
// variables that set them and the data directory file that holds
// generated ones.
type apiCredentials struct {
	api, userEnv, passwordEnv, file, defaultUser string
}

var (
	brokerAPI = apiCredentials{"service broker", "XSUAA_BROKER_USER", "XSUAA_BROKER_PASSWORD", brokerCredsFile, "broker"}
	// The admin API (users, role collections, key rotation, listing)
	// has credentials of its own: those are not a platform's rights.
	adminAPI = apiCredentials{"admin", "XSUAA_ADMIN_USER", "XSUAA_ADMIN_PASSWORD", adminCredsFile, "admin"}
)

// load returns the API's credentials from the environment, or from the
// data directory, generating them there once.
func (a apiCredentials) load(dataDir string, getenv func(string) string, stdout io.Writer, log *slog.Logger) (user, pass string, err error) {
	user, pass = getenv(a.userEnv), getenv(a.passwordEnv)
	if user != "" || pass != "" {
		if user == "" || pass == "" {
			return "", "", usageError{"set both " + a.userEnv + " and " + a.passwordEnv + ", or neither"}
		}
		if why := weakPassword(pass); why != "" {
			return "", "", usageError{a.passwordEnv + " is too weak: " + why + " (for example: openssl rand -base64 24). Valid " + a.api + " credentials are never throttled, so the password alone must make guessing pointless"}
		}
		return user, pass, nil
	}
	path := filepath.Join(dataDir, a.file)
	var creds struct {
		User     string `json:"user"`
		Password string `json:"password"`
	}
	b, err := os.ReadFile(path)
	if err == nil {
		if err := json.Unmarshal(b, &creds); err != nil || creds.User == "" || creds.Password == "" {
			return "", "", fmt.Errorf("%s: expected {\"user\":…,\"password\":…}", path)
		}
		log.Info(a.api+" credentials loaded", "file", path, "user", creds.User)
		return creds.User, creds.Password, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", "", err
	}
	raw := make([]byte, 24)
	rand.Read(raw)
	creds.User, creds.Password = a.defaultUser, base64.RawURLEncoding.EncodeToString(raw)
	b, _ = json.MarshalIndent(creds, "", "  ")
	if err := keys.WriteFileAtomic(path, append(b, '\n'), 0o600); err != nil {
		return "", "", err
	}
	fmt.Fprintf(stdout, "Generated %s credentials (kept in %s):\n  user:     %s\n  password: %s\n", a.api, path, creds.User, creds.Password)
	return creds.User, creds.Password, nil
}

// schedulerProcs sets how many goroutines run Go code at once
// (GOMAXPROCS) and returns it. With the OpenSSL signer every token's
// signature runs in C, about a quarter of a millisecond: its goroutine
// keeps its P until the scheduler's monitor takes the P away, and a
// signature that returns to find no free P puts its thread to sleep
// while its core goes idle. With as many Ps as cores, 10–13 % of a
// 2-core machine stayed idle under token load (BENCHMARKS.md); twice as
// many leave Ps for the HTTP work while signatures are in C (4–6 %
// idle). The Go signer computes in Go and keeps the default, and so does
// an explicit GOMAXPROCS.
func schedulerProcs(signerBackend, env string) int {
	if signerBackend == keys.BackendOpenSSL && env == "" {
		runtime.GOMAXPROCS(2 * defaultProcs)
	}
	return runtime.GOMAXPROCS(0)
}

// defaultProcs is the runtime's GOMAXPROCS at start: the cores this
// process may use (its CPU limit, if lower).
var defaultProcs = runtime.GOMAXPROCS(0)
