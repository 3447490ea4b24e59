package registry_test

import (
	"context"
	"crypto/x509"
	"testing"
	"time"

	"github.com/openxsuaa/xsuaa/clients"
	"github.com/openxsuaa/xsuaa/clients/registry"
	"github.com/openxsuaa/xsuaa/clients/storage"
	"github.com/openxsuaa/xsuaa/clients/storage/sqlstore"
	"github.com/openxsuaa/xsuaa/keys"
)

// testRegistry is a Registry with the index it writes to, and the token
// path's view of that index in one zone: every authentication syncs first,
// as the token endpoint does.
type testRegistry struct {
	*registry.Registry
	zone string
}

// newTestRegistry builds an index from cfg.Store (as a starting server
// does) and a Registry on it.
func newTestRegistry(t testing.TB, cfg registry.Config, clientCAs *x509.CertPool, zone string) *testRegistry {
	t.Helper()
	idx, err := clients.NewIndex(context.Background(), clients.IndexConfig{
		Store: cfg.Store, MasterKey: cfg.MasterKey, ClientCAs: clientCAs, Now: cfg.Now,
	})
	if err != nil {
		t.Fatalf("NewIndex: %v", err)
	}
	cfg.Index, cfg.ClientCAs = idx, clientCAs
	return &testRegistry{Registry: registry.New(cfg), zone: zone}
}

func (r *testRegistry) Authenticate(clientID, secret string) (*clients.Credential, error) {
	if err := r.Index().Sync(context.Background()); err != nil {
		return nil, err
	}
	return r.Index().Authenticate(r.zone, clientID, secret)
}

func (r *testRegistry) AuthenticateCertificate(clientID string, chain []*x509.Certificate) (*clients.Credential, error) {
	if err := r.Index().Sync(context.Background()); err != nil {
		return nil, err
	}
	return r.Index().AuthenticateCertificate(r.zone, clientID, chain)
}

func (r *testRegistry) Lookup(clientID string) (*clients.Client, bool) {
	if err := r.Index().Sync(context.Background()); err != nil {
		return nil, false
	}
	return r.Index().Lookup(r.zone, clientID)
}

// createZone stores a zone.
func createZone(s storage.Store, z storage.Zone) (storage.Zone, error) {
	ctx := context.Background()
	_, err := s.Update(ctx, func(tx storage.Tx) error { return tx.CreateZone(ctx, z) })
	return z, err
}

// testMasterKey returns a master key from a fixed 32-byte key.
func testMasterKey(t testing.TB) *keys.MasterKey {
	t.Helper()
	mk, err := keys.NewMasterKey([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	return mk
}

var _ = time.Now

// openSQLite opens a store on a file and closes it when the test ends.
func openSQLite(t testing.TB, path string) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.OpenSQLite(context.Background(), path)
	if err != nil {
		t.Fatalf("OpenSQLite(%s): %v", path, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
