package registry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openxsuaa/xsuaa/clients"
	"github.com/openxsuaa/xsuaa/clients/registry"
	"github.com/openxsuaa/xsuaa/clients/storage"
	"github.com/openxsuaa/xsuaa/clients/storage/sqlstore"
)

// The binding limit (registry.MaxBindings, 1000): the store's enforcement
// of a limit, sequentially and under concurrency, is covered by the
// conformance suite (clientstest, BindingLimit and ConcurrentBindingLimit);
// TestBindingLimitAllKinds fills an instance to 1000 bindings through the
// database and checks that every kind of bind request is then refused with
// an *OpError of kind ErrLimit.

const (
	testURL             = "https://localhost:8443"
	testUAADomain       = "localhost:8443"
	testVerificationKey = "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAtest\n-----END PUBLIC KEY-----\n"
)

var testZone = storage.Zone{ID: "6f1c2d3e-4a5b-4c6d-8e7f-901a2b3c4d5e", Subdomain: "test", Index: 1}

// registryEnv is a Registry over a real SQLite file.
type registryEnv struct {
	t     *testing.T
	path  string
	store *sqlstore.Store
	reg   *testRegistry
	now   time.Time
}

func newRegistryEnv(t *testing.T) *registryEnv {
	t.Helper()
	e := &registryEnv{t: t, path: filepath.Join(t.TempDir(), "xsuaa.db"), now: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}
	e.store = openSQLite(t, e.path)
	if _, err := createZone(e.store, testZone); err != nil {
		t.Fatal(err)
	}
	e.reg = e.newRegistry()
	return e
}

// newRegistry builds a Registry on the env's current store, as a restarted
// server would.
func (e *registryEnv) newRegistry() *testRegistry {
	e.t.Helper()
	return newTestRegistry(e.t, registry.Config{
		Store:           e.store,
		MasterKey:       testMasterKey(e.t),
		Endpoints:       registry.Endpoints{URL: testURL, CertURL: testURL, UAADomain: testUAADomain},
		VerificationKey: func() string { return testVerificationKey },
		Now:             func() time.Time { return e.now },
	}, nil, testZone.ID)
}

// instanceReq returns a request for an application-plan instance.
func instanceReq(id, descriptor string) registry.InstanceRequest {
	return registry.InstanceRequest{
		ID: id, Name: "name-" + id, ServiceID: "xsuaa-service", PlanID: "application-plan", Plan: "application",
		OrgGUID: "org", SpaceGUID: "space", Parameters: json.RawMessage(descriptor),
		Context: json.RawMessage(`{"platform":"cloudfoundry"}`),
	}
}

func (e *registryEnv) createInstance(id, descriptor string) storage.Instance {
	e.t.Helper()
	in, created, err := e.reg.CreateInstance(context.Background(), instanceReq(id, descriptor))
	if err != nil || !created {
		e.t.Fatalf("CreateInstance(%s) = created %v, %v", id, created, err)
	}
	return in
}

func (e *registryEnv) bind(instanceID, bindingID string) registry.Credentials {
	e.t.Helper()
	creds, created, err := e.reg.Bind(context.Background(), registry.BindRequest{
		InstanceID: instanceID, BindingID: bindingID, AppGUID: "app-" + bindingID,
	})
	if err != nil || !created {
		e.t.Fatalf("Bind(%s, %s) = created %v, %v", instanceID, bindingID, created, err)
	}
	return creds
}

// mustBeOpError fails t unless err is an *OpError of the given kind whose
// message contains every one of wantInMsg.
func mustBeOpError(t *testing.T, what string, err, kind error, wantInMsg ...string) {
	t.Helper()
	var oe *registry.OpError
	switch {
	case err == nil:
		t.Errorf("%s: no error, want %v", what, kind)
		return
	case !errors.As(err, &oe):
		t.Errorf("%s: error %T %v is not an *OpError", what, err, err)
		return
	case !errors.Is(err, kind):
		t.Errorf("%s: error kind %v (%v), want %v", what, oe.Kind, err, kind)
	}
	for _, s := range wantInMsg {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("%s: message %q does not contain %q", what, err.Error(), s)
		}
	}
}

// mustAuthenticate fails t unless secret authenticates clientID.
func (e *registryEnv) mustAuthenticate(reg *testRegistry, clientID, secret string) *clients.Credential {
	e.t.Helper()
	cred, err := reg.Authenticate(clientID, secret)
	if err != nil {
		e.t.Fatalf("Authenticate(%s) = %v", clientID, err)
	}
	if cred.Client.ID != clientID {
		e.t.Errorf("Authenticate(%s) returned client %s", clientID, cred.Client.ID)
	}
	return cred
}

const ordersDescriptor = `{
	"xsappname": "orders",
	"scopes": [{"name": "$XSAPPNAME.Read"}, {"name": "$XSAPPNAME.Write"}],
	"authorities": ["$XSAPPNAME.Read"]
}`

func TestRegistryCreateInstance(t *testing.T) {
	ctx := context.Background()
	e := newRegistryEnv(t)
	in := e.createInstance("inst-orders", ordersDescriptor)
	if in.RuntimeName != "orders!t1" || in.ZoneID != testZone.ID || in.Name != "name-inst-orders" {
		t.Errorf("CreateInstance = %+v", in)
	}
	if !in.CreatedAt.Equal(e.now) {
		t.Errorf("CreatedAt = %v, want the registry's clock %v", in.CreatedAt, e.now)
	}

	c, ok := e.reg.Lookup("sb-orders!t1")
	if !ok {
		t.Fatal("Lookup(sb-orders!t1) found nothing")
	}
	if c.InstanceID != "inst-orders" || c.Zone != testZone || c.App.RuntimeName != "orders!t1" {
		t.Errorf("Lookup = %+v", c)
	}
	if want := []string{"orders!t1.Read", "uaa.resource"}; !slices.Equal(c.Authorities, want) {
		t.Errorf("Authorities = %q, want %q", c.Authorities, want)
	}

	// The same request again is not an error and creates nothing.
	again, created, err := e.reg.CreateInstance(ctx, instanceReq("inst-orders", ordersDescriptor))
	if err != nil || created {
		t.Errorf("identical CreateInstance = created %v, %v; want false, nil", created, err)
	}
	if again.ID != in.ID || again.RuntimeName != in.RuntimeName {
		t.Errorf("identical CreateInstance returned %+v, want the existing instance", again)
	}
	// Insignificant whitespace and key order do not make it different.
	reordered := `{"authorities":["$XSAPPNAME.Read"],"scopes":[{"name":"$XSAPPNAME.Read"},{"name":"$XSAPPNAME.Write"}],"xsappname":"orders"}`
	if _, created, err := e.reg.CreateInstance(ctx, instanceReq("inst-orders", reordered)); err != nil || created {
		t.Errorf("CreateInstance with a reformatted equal descriptor = created %v, %v; want false, nil", created, err)
	}

	different := instanceReq("inst-orders", `{"xsappname":"orders"}`)
	_, _, err = e.reg.CreateInstance(ctx, different)
	mustBeOpError(t, "CreateInstance with a different descriptor", err, registry.ErrConflict, "inst-orders")
	otherPlan := instanceReq("inst-orders", ordersDescriptor)
	otherPlan.SpaceGUID = "another-space"
	_, _, err = e.reg.CreateInstance(ctx, otherPlan)
	mustBeOpError(t, "CreateInstance with a different space", err, registry.ErrConflict)

	_, _, err = e.reg.CreateInstance(ctx, instanceReq("inst-orders-2", `{"xsappname":"orders"}`))
	mustBeOpError(t, "CreateInstance of a taken xsappname", err, registry.ErrConflict, `xsappname "orders" is already in use`)
	if _, err := e.store.GetInstance(ctx, "inst-orders-2"); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("rejected instance was stored: %v", err)
	}
}

func TestRegistryCreateInstanceInvalid(t *testing.T) {
	e := newRegistryEnv(t)
	tests := []struct {
		name       string
		descriptor string
		wantInMsg  []string
	}{
		{"missing", ``, []string{"parameters"}},
		{"null", `null`, []string{"parameters"}},
		{"no xsappname", `{"scopes":[]}`, []string{"xsappname"}},
		{"xsappname not a string", `{"xsappname":5}`, []string{"xsappname"}},
		{"unknown field", `{"xsappname":"orders","scopez":[]}`, []string{"scopez"}},
		{"duplicate scope name", `{"xsappname":"orders","scopes":[{"name":"$XSAPPNAME.Read"},{"name":"$XSAPPNAME.Read"}]}`, []string{"scopes[1].name"}},
		{"not JSON", `{"xsappname":`, []string{"xs-security.json", "JSON"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := e.reg.CreateInstance(context.Background(), instanceReq("inst-bad", tc.descriptor))
			mustBeOpError(t, "CreateInstance", err, registry.ErrInvalid, tc.wantInMsg...)
		})
	}
	if list, err := e.store.ListInstances(context.Background()); err != nil || len(list) != 0 {
		t.Errorf("invalid requests stored instances: %v, %v", list, err)
	}
}

var secretShape = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\$[A-Za-z0-9_-]{43}=$`)

func TestRegistryBindAuthenticate(t *testing.T) {
	ctx := context.Background()
	e := newRegistryEnv(t)
	e.createInstance("inst-orders", ordersDescriptor)
	e.createInstance("inst-billing", `{"xsappname":"billing"}`)

	creds := e.bind("inst-orders", "bind-1")
	secret := creds.ClientSecret
	if !secretShape.MatchString(secret) {
		t.Errorf("secret %q does not have the shape <uuid>$<44 base64url characters>", secret)
	}
	if strings.ContainsAny(secret, "+/% ") {
		t.Errorf("secret %q contains a character that needs encoding", secret)
	}
	cred := e.mustAuthenticate(e.reg, "sb-orders!t1", secret)
	if cred.BindingID != "bind-1" || cred.RevSig == "" {
		t.Errorf("Credential = %+v, want binding bind-1 and a rev_sig", cred)
	}

	want := registry.Credentials{
		ClientID: "sb-orders!t1", ClientSecret: secret, CredentialType: "binding-secret",
		URL: testURL, UAADomain: testUAADomain, XSAppName: "orders!t1",
		IdentityZone: testZone.Subdomain, IdentityZoneID: testZone.ID, TenantID: testZone.ID,
		ZoneID: testZone.ID, SubaccountID: testZone.ID, TenantMode: "dedicated",
		ServiceInstanceID: "inst-orders", APIURL: testURL, SBURL: testURL, VerificationKey: testVerificationKey,
	}
	if creds != want {
		t.Errorf("Bind credentials =\n%+v\nwant\n%+v", creds, want)
	}
	js, err := json.Marshal(creds)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(js, &m); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"clientid": "sb-orders!t1", "clientsecret": secret, "credential-type": "binding-secret", "xsappname": "orders!t1",
		"url": testURL, "uaadomain": testUAADomain, "identityzoneid": testZone.ID, "tenantid": testZone.ID,
		"verificationkey": testVerificationKey,
	} {
		if m[k] != v {
			t.Errorf("credentials JSON %q = %v, want %q", k, m[k], v)
		}
	}

	// An identical request, and fetching the binding, return the same
	// credentials, secret included (it is kept sealed, as XSUAA returns
	// it again for "cf service-key").
	again, created, err := e.reg.Bind(ctx, registry.BindRequest{InstanceID: "inst-orders", BindingID: "bind-1", AppGUID: "app-bind-1"})
	if err != nil || created {
		t.Fatalf("identical Bind = created %v, %v; want false, nil", created, err)
	}
	if again != want {
		t.Errorf("identical Bind credentials =\n%+v\nwant\n%+v", again, want)
	}
	if got, err := e.reg.GetBinding(ctx, "inst-orders", "bind-1"); err != nil || got != want {
		t.Errorf("GetBinding = %+v, %v; want %+v", got, err, want)
	}
	_, _, err = e.reg.Bind(ctx, registry.BindRequest{InstanceID: "inst-orders", BindingID: "bind-1", AppGUID: "another-app"})
	mustBeOpError(t, "Bind with an existing id and different attributes", err, registry.ErrConflict, "bind-1")
	_, _, err = e.reg.Bind(ctx, registry.BindRequest{InstanceID: "no-such-instance", BindingID: "bind-x"})
	mustBeOpError(t, "Bind to an unknown instance", err, registry.ErrNotFound)
	_, _, err = e.reg.Bind(ctx, registry.BindRequest{InstanceID: "inst-orders", BindingID: "bind-x", Parameters: json.RawMessage(`{"credential-type":"x509"}`)})
	mustBeOpError(t, "Bind with a credential type the instance does not allow", err, registry.ErrInvalid, "credential-type")

	billing := e.bind("inst-billing", "bind-billing")
	e.mustAuthenticate(e.reg, "sb-billing!t1", billing.ClientSecret)

	_, secretRandom, _ := strings.Cut(secret, "$")
	sid, _, _ := strings.Cut(secret, "$")
	bad := []struct {
		name, clientID, secret string
	}{
		{"wrong secret", "sb-orders!t1", sid + "$" + strings.Repeat("A", 43) + "="},
		{"secret without its id", "sb-orders!t1", secretRandom},
		{"secret id alone", "sb-orders!t1", sid},
		{"empty secret", "sb-orders!t1", ""},
		{"secret with a trailing byte", "sb-orders!t1", secret + "x"},
		{"unknown client", "sb-unknown!t1", secret},
		{"client id without sb-", "orders!t1", secret},
		{"secret of another instance's binding", "sb-orders!t1", billing.ClientSecret},
		{"this secret for another client", "sb-billing!t1", secret},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			cred, err := e.reg.Authenticate(tc.clientID, tc.secret)
			if !errors.Is(err, clients.ErrBadCredentials) || cred != nil {
				t.Errorf("Authenticate(%q, %q) = %+v, %v; want ErrBadCredentials", tc.clientID, tc.secret, cred, err)
			}
		})
	}
}

func TestRegistryUnbind(t *testing.T) {
	ctx := context.Background()
	e := newRegistryEnv(t)
	e.createInstance("inst-orders", ordersDescriptor)
	one := e.bind("inst-orders", "bind-1").ClientSecret
	two := e.bind("inst-orders", "bind-2").ClientSecret
	c1 := e.mustAuthenticate(e.reg, "sb-orders!t1", one)
	c2 := e.mustAuthenticate(e.reg, "sb-orders!t1", two)
	if c1.RevSig == c2.RevSig {
		t.Errorf("two bindings share the rev_sig %q", c1.RevSig)
	}

	if err := e.reg.Unbind(ctx, "inst-orders", "bind-1"); err != nil {
		t.Fatalf("Unbind: %v", err)
	}
	if _, err := e.reg.Authenticate("sb-orders!t1", one); !errors.Is(err, clients.ErrBadCredentials) {
		t.Errorf("secret of an unbound binding: Authenticate = %v, want ErrBadCredentials", err)
	}
	e.mustAuthenticate(e.reg, "sb-orders!t1", two)

	mustBeOpError(t, "second Unbind", e.reg.Unbind(ctx, "inst-orders", "bind-1"), registry.ErrNotFound)
	mustBeOpError(t, "Unbind through another instance", e.reg.Unbind(ctx, "inst-other", "bind-2"), registry.ErrNotFound)
	e.mustAuthenticate(e.reg, "sb-orders!t1", two)
	_, err := e.reg.GetBinding(ctx, "inst-orders", "bind-1")
	mustBeOpError(t, "GetBinding of an unbound binding", err, registry.ErrNotFound)

	// A restart does not bring the unbound secret back.
	if _, err := e.newRegistry().Authenticate("sb-orders!t1", one); !errors.Is(err, clients.ErrBadCredentials) {
		t.Errorf("after a restart, secret of an unbound binding: Authenticate = %v, want ErrBadCredentials", err)
	}
}

func TestRegistrySecretsAtRest(t *testing.T) {
	ctx := context.Background()
	e := newRegistryEnv(t)
	e.createInstance("inst-orders", ordersDescriptor)
	secret := e.bind("inst-orders", "bind-1").ClientSecret
	sid, random, _ := strings.Cut(secret, "$")

	b, err := e.store.GetBinding(ctx, "bind-1")
	if err != nil {
		t.Fatal(err)
	}
	if b.SecretID != sid {
		t.Errorf("stored SecretID = %q, want the secret's first part %q", b.SecretID, sid)
	}
	if len(b.SecretHash) == 0 || bytes.Equal(b.SecretHash, []byte(secret)) || bytes.Contains(b.SecretHash, []byte(random)) {
		t.Errorf("stored SecretHash %x is empty or the secret itself", b.SecretHash)
	}

	// Neither the secret nor its random part is anywhere on disk: check
	// the database and its write-ahead log while the store is open, and
	// the database again after closing checkpointed the log into it.
	checkFiles := func(when string) {
		t.Helper()
		for _, p := range []string{e.path, e.path + "-wal"} {
			data, err := os.ReadFile(p)
			if errors.Is(err, os.ErrNotExist) && p != e.path {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(data, []byte(random)) {
				t.Errorf("%s: %s contains the client secret in clear", when, filepath.Base(p))
			}
		}
	}
	checkFiles("store open")
	if err := e.store.Close(); err != nil {
		t.Fatal(err)
	}
	checkFiles("store closed")
}

func TestRegistryRestart(t *testing.T) {
	ctx := context.Background()
	e := newRegistryEnv(t)
	e.createInstance("inst-orders", ordersDescriptor)
	e.createInstance("inst-billing", `{"xsappname":"billing","scopes":[{"name":"$XSAPPNAME.Job","grant-as-authority-to-apps":["$XSAPPNAME(application,orders)"]}]}`)
	secret := e.bind("inst-orders", "bind-1").ClientSecret
	before := e.mustAuthenticate(e.reg, "sb-orders!t1", secret)

	// Restart: close the database, open it again, build a new Registry.
	if err := e.store.Close(); err != nil {
		t.Fatal(err)
	}
	e.store = openSQLite(t, e.path)
	reg := e.newRegistry()
	after := e.mustAuthenticate(reg, "sb-orders!t1", secret)
	if after.RevSig != before.RevSig || after.BindingID != before.BindingID {
		t.Errorf("after restart Credential = %+v, want %+v", after, before)
	}
	c, ok := reg.Lookup("sb-orders!t1")
	if !ok {
		t.Fatal("Lookup after restart found nothing")
	}
	if got, want := c.Authorities, before.Client.Authorities; !slices.Equal(got, want) {
		t.Errorf("Authorities after restart = %q, want %q", got, want)
	}
	if got, err := reg.GetBinding(ctx, "inst-orders", "bind-1"); err != nil || got.ClientID != "sb-orders!t1" || got.ClientSecret != secret {
		t.Errorf("GetBinding after restart = %+v, %v; want the same secret back", got, err)
	}
}

func TestRegistryUpdateInstance(t *testing.T) {
	ctx := context.Background()
	e := newRegistryEnv(t)
	e.createInstance("inst-orders", ordersDescriptor)
	secret := e.bind("inst-orders", "bind-1").ClientSecret

	req := instanceReq("inst-orders", `{"xsappname":"sales","scopes":[{"name":"$XSAPPNAME.Read"}]}`)
	_, err := e.reg.UpdateInstance(ctx, req)
	mustBeOpError(t, "UpdateInstance changing the xsappname", err, registry.ErrInvalid, "Cannot change AppId", "orders!t1", "sales!t1")
	if _, ok := e.reg.Lookup("sb-sales!t1"); ok {
		t.Error("rejected update published a client sb-sales!t1")
	}
	if in, err := e.store.GetInstance(ctx, "inst-orders"); err != nil || in.RuntimeName != "orders!t1" {
		t.Errorf("rejected update changed the stored instance: %+v, %v", in, err)
	}

	e.now = e.now.Add(time.Hour)
	updated := `{
		"xsappname": "orders",
		"scopes": [{"name": "$XSAPPNAME.Read"}, {"name": "$XSAPPNAME.Write"}],
		"authorities": ["$XSAPPNAME.Read", "$XSAPPNAME.Write"]
	}`
	in, err := e.reg.UpdateInstance(ctx, instanceReq("inst-orders", updated))
	if err != nil {
		t.Fatalf("UpdateInstance: %v", err)
	}
	if in.ID != "inst-orders" || string(in.Parameters) != updated || !in.UpdatedAt.Equal(e.now) {
		t.Errorf("UpdateInstance = %+v", in)
	}
	c, ok := e.reg.Lookup("sb-orders!t1")
	if !ok {
		t.Fatal("Lookup after update found nothing")
	}
	if want := []string{"orders!t1.Read", "orders!t1.Write", "uaa.resource"}; !slices.Equal(c.Authorities, want) {
		t.Errorf("Authorities after update = %q, want %q", c.Authorities, want)
	}
	// The update keeps the bindings.
	e.mustAuthenticate(e.reg, "sb-orders!t1", secret)
	// And it is stored: a restarted registry sees it.
	if c, _ := e.newRegistry().Lookup("sb-orders!t1"); c == nil || !slices.Contains(c.Authorities, "orders!t1.Write") {
		t.Errorf("after restart, updated client = %+v", c)
	}

	_, err = e.reg.UpdateInstance(ctx, instanceReq("no-such-instance", updated))
	mustBeOpError(t, "UpdateInstance of an unknown instance", err, registry.ErrNotFound)
	otherPlan := instanceReq("inst-orders", updated)
	otherPlan.PlanID = "broker-plan"
	_, err = e.reg.UpdateInstance(ctx, otherPlan)
	mustBeOpError(t, "UpdateInstance changing the plan", err, registry.ErrInvalid, "plan_id")
}

func TestRegistryGrantedAuthorities(t *testing.T) {
	ctx := context.Background()
	e := newRegistryEnv(t)
	e.createInstance("inst-orders", `{"xsappname":"orders","authorities":["$ACCEPT_GRANTED_AUTHORITIES"]}`)
	e.createInstance("inst-billing", `{"xsappname":"billing","scopes":[{"name":"$XSAPPNAME.Job","grant-as-authority-to-apps":["$XSAPPNAME(application,orders)"]}]}`)

	authorities := func() []string {
		t.Helper()
		c, ok := e.reg.Lookup("sb-orders!t1")
		if !ok {
			t.Fatal("Lookup(sb-orders!t1) found nothing")
		}
		return c.Authorities
	}
	if got, want := authorities(), []string{"billing!t1.Job", "uaa.resource"}; !slices.Equal(got, want) {
		t.Errorf("Authorities granted by another instance = %q, want %q", got, want)
	}
	if err := e.reg.DeleteInstance(ctx, "inst-billing"); err != nil {
		t.Fatal(err)
	}
	if got, want := authorities(), []string{"uaa.resource"}; !slices.Equal(got, want) {
		t.Errorf("Authorities after the granting instance was deleted = %q, want %q", got, want)
	}
}

func TestRegistryDeleteInstance(t *testing.T) {
	ctx := context.Background()
	e := newRegistryEnv(t)
	e.createInstance("inst-orders", ordersDescriptor)
	secret := e.bind("inst-orders", "bind-1").ClientSecret

	if err := e.reg.DeleteInstance(ctx, "inst-orders"); err != nil {
		t.Fatalf("DeleteInstance: %v", err)
	}
	if c, ok := e.reg.Lookup("sb-orders!t1"); ok {
		t.Errorf("Lookup after DeleteInstance = %+v", c)
	}
	if _, err := e.reg.Authenticate("sb-orders!t1", secret); !errors.Is(err, clients.ErrBadCredentials) {
		t.Errorf("Authenticate after DeleteInstance = %v, want ErrBadCredentials", err)
	}
	if _, err := e.store.GetBinding(ctx, "bind-1"); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("binding survived DeleteInstance: %v", err)
	}
	_, err := e.reg.GetInstance(ctx, "inst-orders")
	mustBeOpError(t, "GetInstance after DeleteInstance", err, registry.ErrNotFound)
	mustBeOpError(t, "second DeleteInstance", e.reg.DeleteInstance(ctx, "inst-orders"), registry.ErrNotFound)

	// The xsappname is free again, and the old secret does not work for
	// the new instance.
	e.createInstance("inst-orders-2", ordersDescriptor)
	if _, err := e.reg.Authenticate("sb-orders!t1", secret); !errors.Is(err, clients.ErrBadCredentials) {
		t.Errorf("old secret against the recreated client: Authenticate = %v, want ErrBadCredentials", err)
	}
}
