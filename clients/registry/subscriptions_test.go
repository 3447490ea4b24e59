package registry_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openxsuaa/xsuaa/clients/registry"
	"github.com/openxsuaa/xsuaa/clients/storage"
)

// failingWrites is a store whose writes fail while fail is set, as when
// the database goes away between an application's callback and the
// write that records it.
type failingWrites struct {
	storage.Store
	fail atomic.Bool
}

var errDatabaseGone = errors.New("the database went away")

func (s *failingWrites) Update(ctx context.Context, fn func(storage.Tx) error) (int64, error) {
	if s.fail.Load() {
		return 0, errDatabaseGone
	}
	return s.Store.Update(ctx, fn)
}

// TestSubscriptionCallbacksUndone: when the write that records a
// subscription fails after the application's PUT, the application gets a
// DELETE; when the write that ends one fails after its DELETE, it gets a
// PUT again; so the application and the store agree either way.
func TestSubscriptionCallbacksUndone(t *testing.T) {
	ctx := context.Background()
	e := newRegistryEnv(t)
	e.createInstance("inst-saas", `{"xsappname":"saas","tenant-mode":"shared"}`)
	store := &failingWrites{Store: e.store}
	reg := newTestRegistry(t, registry.Config{Store: store, MasterKey: testMasterKey(t),
		Endpoints: registry.Endpoints{URL: testURL, CertURL: testURL, UAADomain: testUAADomain},
		Now:       func() time.Time { return e.now }}, nil, testZone.ID)
	if _, err := reg.CreateZone(ctx, "t1", ""); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var calls []string
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls = append(calls, r.Method)
		mu.Unlock()
		io.WriteString(w, "https://t1.saas.example")
	}))
	defer app.Close()
	took := func() string {
		mu.Lock()
		defer mu.Unlock()
		out := strings.Join(calls, " ")
		calls = nil
		return out
	}
	token := func(context.Context) (string, error) { return "provisioning-token", nil }
	req := registry.SubscribeRequest{InstanceID: "inst-saas", Zone: "t1", Callbacks: &registry.Callbacks{OnSubscription: app.URL + "/cb/{tenantId}"}}

	store.fail.Store(true)
	if _, err := reg.Subscribe(ctx, req, token); !errors.Is(err, errDatabaseGone) {
		t.Fatalf("Subscribe with the database gone: %v", err)
	}
	if got := took(); got != "PUT DELETE" {
		t.Errorf("the application's calls when the subscription could not be written: %q, want PUT then DELETE", got)
	}
	store.fail.Store(false)
	if _, err := reg.Subscribe(ctx, req, token); err != nil {
		t.Fatal(err)
	}
	took()

	store.fail.Store(true)
	if err := reg.Unsubscribe(ctx, "inst-saas", "t1", token); !errors.Is(err, errDatabaseGone) {
		t.Fatalf("Unsubscribe with the database gone: %v", err)
	}
	if got := took(); got != "DELETE PUT" {
		t.Errorf("the application's calls when the unsubscription could not be written: %q, want DELETE then PUT", got)
	}
	store.fail.Store(false)
	if subs, err := reg.ListSubscriptions(ctx, "inst-saas"); err != nil || len(subs) != 1 {
		t.Errorf("the subscription after a failed unsubscribe: %+v, %v", subs, err)
	}
	if err := reg.Unsubscribe(ctx, "inst-saas", "t1", token); err != nil {
		t.Fatal(err)
	}
	if got := took(); got != "DELETE" {
		t.Errorf("the application's calls of an unsubscribe: %q", got)
	}
}
