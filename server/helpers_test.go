package server

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openxsuaa/xsuaa/clients"
	"github.com/openxsuaa/xsuaa/clients/registry"
	"github.com/openxsuaa/xsuaa/clients/storage"
	"github.com/openxsuaa/xsuaa/clients/storage/sqlstore"
	"github.com/openxsuaa/xsuaa/keys"
	"github.com/openxsuaa/xsuaa/scopes"
)

// fixture is a Server over a real SQLite file, for in-process tests,
// benchmarks and fuzzing. End-to-end tests live in cmd/xsuaa.
type fixture struct {
	srv      *Server
	reg      *registry.Registry
	clientID string
	secret   string
}

func newFixture(tb testing.TB) *fixture {
	tb.Helper()
	return newFixtureWith(tb, nil)
}

// parts are what the fixtures build a Server from: a real SQLite store, a
// master key, a signer and the zone.
type parts struct {
	store  *sqlstore.Store
	mk     *keys.MasterKey
	signer *keys.Signer
	zone   storage.Zone
}

func newParts(tb testing.TB) parts {
	tb.Helper()
	ctx := context.Background()
	store, err := sqlstore.OpenSQLite(ctx, filepath.Join(tb.TempDir(), "xsuaa.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { store.Close() })
	mk, err := keys.NewMasterKey([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		tb.Fatal(err)
	}
	signer, err := keys.LoadSigner(ctx, storage.Keys(store), mk, time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	zone := storage.Zone{ID: "zone-1", Subdomain: "test", Index: 1}
	if _, err := store.Update(ctx, func(tx storage.Tx) error { return tx.CreateZone(ctx, zone) }); err != nil {
		tb.Fatal(err)
	}
	return parts{store: store, mk: mk, signer: signer, zone: zone}
}

// registryConfig is the Registry configuration the fixtures share, with
// an index loaded from the store and trusting clientCAs.
func (p parts) registryConfig(tb testing.TB, clientCAs *x509.CertPool, now func() time.Time) registry.Config {
	tb.Helper()
	idx, err := clients.NewIndex(context.Background(), clients.IndexConfig{Store: p.store, MasterKey: p.mk, ClientCAs: clientCAs, Now: now})
	if err != nil {
		tb.Fatal(err)
	}
	return registry.Config{
		Store: p.store, Index: idx, MasterKey: p.mk, ClientCAs: clientCAs, Now: now,
		Endpoints:       registry.Endpoints{URL: "https://localhost:8443", CertURL: "https://localhost:8443", UAADomain: "localhost:8443"},
		VerificationKey: func() string { return p.signer.Active().PublicPEM() },
	}
}

// serverConfig is the Server configuration the fixtures share.
func (p parts) serverConfig(reg *registry.Registry) Config {
	return Config{Index: reg.Index(), Registry: reg, Signer: p.signer, URL: "https://localhost:8443", BrokerUser: "b", BrokerPassword: "p", AdminUser: "a", AdminPassword: "q",
		Logins: p.store, LoginKey: p.mk.Derive("xsuaa login v1", 32)}
}

// newFixtureWith is newFixture with the server's Config changed by edit.
func newFixtureWith(tb testing.TB, edit func(*Config)) *fixture {
	tb.Helper()
	ctx := context.Background()
	_, reg, srv := newServer(tb, edit)
	_, _, err := reg.CreateInstance(ctx, registry.InstanceRequest{
		ID: "inst-1", Name: "bench", ServiceID: ServiceID, PlanID: PlanApplicationID, Plan: scopes.PlanApplication,
		OrgGUID: "o", SpaceGUID: "s",
		Parameters: json.RawMessage(`{"xsappname":"bench","scopes":[{"name":"$XSAPPNAME.Read"}],"authorities":["$XSAPPNAME.Read"]}`),
	})
	if err != nil {
		tb.Fatal(err)
	}
	creds, _, err := reg.Bind(ctx, registry.BindRequest{InstanceID: "inst-1", BindingID: "bind-1"})
	if err != nil {
		tb.Fatal(err)
	}
	return &fixture{srv: srv, reg: reg, clientID: creds.ClientID, secret: creds.ClientSecret}
}

// newServer builds a Server and its registry on newParts, with the
// server configuration changed by edit (nil: as it is).
func newServer(tb testing.TB, edit func(*Config)) (parts, *registry.Registry, *Server) {
	tb.Helper()
	p := newParts(tb)
	reg := registry.New(p.registryConfig(tb, nil, nil))
	cfg := p.serverConfig(reg)
	if edit != nil {
		edit(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return p, reg, srv
}

// tokenForm is a valid client_secret_post token request body.
func (f *fixture) tokenForm() string {
	return url.Values{"grant_type": {"client_credentials"}, "client_id": {f.clientID}, "client_secret": {f.secret}}.Encode()
}

// serve runs one request through the handler.
func (f *fixture) serve(method, path, body string, hdr map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	f.srv.ServeHTTP(rec, req)
	return rec
}

func TestFixtureIssuesTokens(t *testing.T) {
	f := newFixture(t)
	rec := f.serve("POST", "/oauth/token", f.tokenForm(), map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"access_token"`) {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
}
