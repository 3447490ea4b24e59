package registry_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openxsuaa/xsuaa/clients"
	"github.com/openxsuaa/xsuaa/clients/registry"
	"github.com/openxsuaa/xsuaa/keys"
)

// Tests of the credential types instance-secret and binding-secret beside
// x509, hide-secret, removing credential types on update, and OSB 2.17
// binding rotation. They run on x509Env: a Registry with a CA over a real
// SQLite file.

// credDescriptor allows the given credential types, the first the default.
func credDescriptor(xsappname string, types ...string) string {
	ts, _ := json.Marshal(types)
	return fmt.Sprintf(`{"xsappname":%q,"scopes":[{"name":"$XSAPPNAME.Read"}],"authorities":["$XSAPPNAME.Read"],"oauth2-configuration":{"credential-types":%s}}`, xsappname, ts)
}

func (e *x509Env) instanceWith(id, descriptor string) {
	e.t.Helper()
	if _, _, err := e.reg.CreateInstance(context.Background(), credInstanceReq(id, descriptor)); err != nil {
		e.t.Fatalf("CreateInstance(%s): %v", id, err)
	}
}

func credInstanceReq(id, descriptor string) registry.InstanceRequest {
	return registry.InstanceRequest{
		ID: id, Name: id, ServiceID: "s", PlanID: "p", Plan: "application", OrgGUID: "o", SpaceGUID: "s",
		Parameters: json.RawMessage(descriptor),
	}
}

// bindRaw binds with raw JSON parameters ("" for none).
func (e *x509Env) bindRaw(instanceID, bindingID, params string) (registry.Credentials, error) {
	e.t.Helper()
	creds, _, err := e.reg.Bind(context.Background(), registry.BindRequest{InstanceID: instanceID, BindingID: bindingID, AppGUID: "app", Parameters: json.RawMessage(params)})
	return creds, err
}

func (e *x509Env) mustBindRaw(instanceID, bindingID, params string) registry.Credentials {
	e.t.Helper()
	creds, err := e.bindRaw(instanceID, bindingID, params)
	if err != nil {
		e.t.Fatalf("Bind(%s, %s, %s): %v", instanceID, bindingID, params, err)
	}
	return creds
}

// rotate binds newID as the successor of predecessor.
func (e *x509Env) rotate(instanceID, newID, predecessor string) (registry.Credentials, bool, error) {
	e.t.Helper()
	return e.reg.Bind(context.Background(), registry.BindRequest{InstanceID: instanceID, BindingID: newID, PredecessorID: predecessor})
}

// works reports whether secret authenticates clientID at reg.
func works(reg *testRegistry, clientID, secret string) bool {
	_, err := reg.Authenticate(clientID, secret)
	return err == nil
}

func TestInstanceSecret(t *testing.T) {
	ctx := context.Background()
	e := newX509Env(t)
	e.instanceWith("inst-1", credDescriptor("shared", "instance-secret", "binding-secret"))
	const client = "sb-shared!t1"

	one := e.mustBindRaw("inst-1", "b1", "")
	two := e.mustBindRaw("inst-1", "b2", `{"credential-type":"instance-secret"}`)
	own := e.mustBindRaw("inst-1", "own", `{"credential-type":"binding-secret"}`)
	if one.CredentialType != "instance-secret" || two.CredentialType != "instance-secret" || own.CredentialType != "binding-secret" {
		t.Errorf("credential types %q %q %q, want instance-secret twice and binding-secret", one.CredentialType, two.CredentialType, own.CredentialType)
	}
	secret := one.ClientSecret
	if !secretShape.MatchString(secret) || two.ClientSecret != secret || own.ClientSecret == secret {
		t.Fatalf("instance-secret bindings got %q and %q, the binding-secret %q; want one shared secret of the usual shape and another", secret, two.ClientSecret, own.ClientSecret)
	}
	cred, err := e.reg.Authenticate(client, secret)
	if err != nil || cred.RevSig == "" {
		t.Fatalf("Authenticate with the instance-secret = %+v, %v", cred, err)
	}
	if !works(e.reg, client, own.ClientSecret) {
		t.Error("the binding-secret beside it does not authenticate")
	}

	// Returned again: by GET binding and by a repeated bind request.
	if got, err := e.reg.GetBinding(ctx, "inst-1", "b1"); err != nil || got.ClientSecret != secret || got.CredentialType != "instance-secret" {
		t.Errorf("GetBinding(b1) = secret %q type %q, %v; want the instance-secret", got.ClientSecret, got.CredentialType, err)
	}
	if again, created, err := e.reg.Bind(ctx, registry.BindRequest{InstanceID: "inst-1", BindingID: "b2", AppGUID: "app", Parameters: json.RawMessage(`{"credential-type":"instance-secret"}`)}); err != nil || created || again.ClientSecret != secret {
		t.Errorf("repeated Bind(b2) = secret %q created %v, %v; want the instance-secret, false", again.ClientSecret, created, err)
	}
	if got, _ := e.reg.GetBinding(ctx, "inst-1", "own"); got.ClientSecret == "" || got.ClientSecret == secret {
		t.Errorf("GetBinding of a binding-secret binding returns secret %q; want its own", got.ClientSecret)
	}

	// Sealed at rest under the master key, bound to the instance id.
	in, err := e.store.GetInstance(ctx, "inst-1")
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := e.mk.Open(in.SealedSecret, []byte("inst-1")); err != nil || string(pt) != secret {
		t.Errorf("SealedSecret does not open to the secret with the instance id as additional data: %v", err)
	}
	if _, err := e.mk.Open(in.SealedSecret, []byte("inst-2")); err == nil {
		t.Error("SealedSecret opens with another instance's id")
	}
	_, random, _ := strings.Cut(secret, "$")
	for _, p := range []string{e.path, e.path + "-wal"} {
		if b, err := os.ReadFile(p); err == nil && bytes.Contains(b, []byte(random)) {
			t.Errorf("%s holds the instance-secret in clear", filepath.Base(p))
		}
	}

	// One unbind: the other binding keeps the secret alive.
	if err := e.reg.Unbind(ctx, "inst-1", "b1"); err != nil {
		t.Fatal(err)
	}
	if !works(e.reg, client, secret) {
		t.Fatal("the instance-secret stopped working while binding b2 still exists")
	}
	// A restart keeps it.
	if !works(e.newRegistry(), client, secret) {
		t.Error("after a restart the instance-secret does not authenticate")
	}
	// The last unbind stops it at once; the binding-secret goes on.
	if err := e.reg.Unbind(ctx, "inst-1", "b2"); err != nil {
		t.Fatal(err)
	}
	if works(e.reg, client, secret) {
		t.Fatal("the instance-secret still authenticates after its last binding was unbound")
	}
	if works(e.newRegistry(), client, secret) {
		t.Error("after a restart the instance-secret of an instance without instance-secret bindings authenticates")
	}
	if !works(e.reg, client, own.ClientSecret) {
		t.Error("the binding-secret stopped working with the instance-secret")
	}
	// A new binding brings the same secret back: it is the instance's.
	three := e.mustBindRaw("inst-1", "b3", "")
	if three.ClientSecret != secret || !works(e.reg, client, secret) {
		t.Errorf("a binding after the last unbind got %q (works: %v); want the instance's secret %q, working", three.ClientSecret, works(e.reg, client, secret), secret)
	}

	// Another instance has another secret.
	e.instanceWith("inst-2", credDescriptor("other", "instance-secret"))
	other := e.mustBindRaw("inst-2", "c1", "")
	if other.ClientSecret == secret || works(e.reg, "sb-other!t1", secret) || works(e.reg, client, other.ClientSecret) {
		t.Error("two instances share an instance-secret, or one's secret authenticates the other's client")
	}

	// Deleting the instance deletes the secret; a new instance of the same
	// xsappname gets a new one.
	if err := e.reg.DeleteInstance(ctx, "inst-1"); err != nil {
		t.Fatal(err)
	}
	if works(e.reg, client, secret) {
		t.Error("the instance-secret works after its instance was deleted")
	}
	e.instanceWith("inst-1b", credDescriptor("shared", "instance-secret"))
	fresh := e.mustBindRaw("inst-1b", "d1", "")
	if fresh.ClientSecret == secret || works(e.reg, client, secret) || !works(e.reg, client, fresh.ClientSecret) {
		t.Error("a recreated instance reuses the deleted instance's secret")
	}
}

func TestInstanceSecretNotAllowed(t *testing.T) {
	e := newX509Env(t)
	e.instanceWith("inst-1", credDescriptor("plain", "binding-secret"))
	_, err := e.bindRaw("inst-1", "b1", `{"credential-type":"instance-secret"}`)
	wantOpError(t, "instance-secret on an instance that allows only binding-secret", err, registry.ErrInvalid, "credential-type", "instance-secret")
	if in, _ := e.store.GetInstance(context.Background(), "inst-1"); in.SealedSecret != nil {
		t.Error("a rejected binding generated an instance-secret")
	}
}

func TestHideSecret(t *testing.T) {
	ctx := context.Background()
	e := newX509Env(t)
	e.instanceWith("inst-1", credDescriptor("hide", "binding-secret", "instance-secret", "x509"))
	shared := e.mustBindRaw("inst-1", "visible-shared", `{"credential-type":"instance-secret"}`).ClientSecret

	tests := []struct {
		name       string
		params     string
		wantType   string
		wantHidden bool
		wantErr    []string // a 400 naming these
	}{
		{"binding-secret, true", `{"hide-secret":true}`, "binding-secret", true, nil},
		{"binding-secret, quoted true", `{"credential-type":"binding-secret","hide-secret":"true"}`, "binding-secret", true, nil},
		{"binding-secret, false", `{"hide-secret":false}`, "binding-secret", false, nil},
		{"binding-secret, quoted false", `{"hide-secret":"false"}`, "binding-secret", false, nil},
		{"nested under xsuaa", `{"xsuaa":{"hide-secret":true}}`, "binding-secret", true, nil},
		{"instance-secret, true", `{"credential-type":"instance-secret","hide-secret":true}`, "instance-secret", true, nil},
		{"instance-secret, false", `{"credential-type":"instance-secret","hide-secret":"false"}`, "instance-secret", false, nil},
		{"x509", `{"credential-type":"x509","hide-secret":true}`, "", false, []string{"hide-secret", "x509.hide-certificate"}},
		{"x509 nested", `{"xsuaa":{"credential-type":"x509","hide-secret":false}}`, "", false, []string{"xsuaa.hide-secret"}},
		{"not a boolean", `{"hide-secret":"yes"}`, "", false, []string{"hide-secret", "true or false"}},
		{"inside x509", `{"credential-type":"x509","x509":{"hide-secret":true}}`, "", false, []string{"x509", "hide-secret"}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id := fmt.Sprintf("bind-%d", i)
			creds, err := e.bindRaw("inst-1", id, tc.params)
			if tc.wantErr != nil {
				wantOpError(t, "Bind", err, registry.ErrInvalid, tc.wantErr...)
				if _, err := e.store.GetBinding(ctx, id); !errors.Is(err, registry.ErrNotFound) {
					t.Errorf("rejected binding was stored: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := e.reg.GetBinding(ctx, "inst-1", id)
			if err != nil {
				t.Fatal(err)
			}
			if creds.CredentialType != tc.wantType || got.CredentialType != tc.wantType {
				t.Errorf("credential-type %q (GET %q), want %q", creds.CredentialType, got.CredentialType, tc.wantType)
			}
			js, _ := json.Marshal(creds)
			if hidden := !bytes.Contains(js, []byte(`"clientsecret"`)); hidden != tc.wantHidden {
				t.Errorf("bind response %s: clientsecret hidden = %v, want %v", js, hidden, tc.wantHidden)
			}
			if tc.wantHidden && got.ClientSecret != "" {
				t.Errorf("GET binding returns the hidden secret")
			}
			if tc.wantType == "instance-secret" && !tc.wantHidden && (creds.ClientSecret != shared || got.ClientSecret != shared) {
				t.Errorf("instance-secret binding without hide-secret: bind %q GET %q, want the shared secret", creds.ClientSecret, got.ClientSecret)
			}
			// The binding works: a binding-secret's hash is indexed; an
			// instance-secret binding keeps the shared secret alive.
			if b, err := e.store.GetBinding(ctx, id); err != nil || (tc.wantType == "binding-secret" && len(b.SecretHash) == 0) {
				t.Errorf("stored binding %+v, %v", b, err)
			}
		})
	}
	// Only hidden instance-secret bindings are left besides the visible
	// one: unbinding it leaves the shared secret working, unseen.
	if err := e.reg.Unbind(ctx, "inst-1", "visible-shared"); err != nil {
		t.Fatal(err)
	}
	if err := e.reg.Unbind(ctx, "inst-1", "bind-6"); err != nil { // instance-secret, false
		t.Fatal(err)
	}
	if !works(e.reg, "sb-hide!t1", shared) {
		t.Error("the hidden instance-secret binding does not keep the shared secret working")
	}
}

// TestCredentialTypesRemoved: removing a type from credential-types
// deletes the instance's bindings of that type in the update; the others
// keep working, and re-adding the type does not bring the deleted back.
func TestCredentialTypesRemoved(t *testing.T) {
	all := []string{"binding-secret", "instance-secret", "x509"}
	tests := []struct {
		name        string
		next        []string // the updated credential-types
		wantDeleted []string // binding ids deleted by the update
	}{
		{"binding-secret removed", []string{"instance-secret", "x509"}, []string{"secret-1", "secret-2"}},
		{"instance-secret removed", []string{"x509", "binding-secret"}, []string{"shared-1", "shared-2"}},
		{"x509 removed", []string{"binding-secret", "instance-secret"}, []string{"cert-1"}},
		{"two removed", []string{"x509"}, []string{"secret-1", "secret-2", "shared-1", "shared-2"}},
		{"reordered, none removed", []string{"x509", "instance-secret", "binding-secret"}, nil},
		{"credential-types left out: the default binding-secret", nil, []string{"shared-1", "shared-2", "cert-1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			e := newX509Env(t)
			e.instanceWith("inst-1", credDescriptor("types", all...))
			e.instanceWith("inst-2", credDescriptor("bystander", all...))
			const client = "sb-types!t1"
			secrets := map[string]string{}
			for _, b := range []struct{ id, params string }{
				{"secret-1", `{"credential-type":"binding-secret"}`},
				{"secret-2", `{"credential-type":"binding-secret","hide-secret":false}`},
				{"shared-1", `{"credential-type":"instance-secret"}`},
				{"shared-2", `{"credential-type":"instance-secret"}`},
			} {
				secrets[b.id] = e.mustBindRaw("inst-1", b.id, b.params).ClientSecret
			}
			cert := e.mustBindRaw("inst-1", "cert-1", `{"credential-type":"x509","x509":{"validity":1}}`)
			bystander := e.mustBindRaw("inst-2", "other-1", `{"credential-type":"binding-secret"}`).ClientSecret

			certWorks := func(reg *testRegistry) bool {
				_, err := reg.AuthenticateCertificate(client, leafChain(t, cert.Certificate))
				return err == nil
			}
			alive := func(reg *testRegistry, id string) bool {
				if id == "cert-1" {
					return certWorks(reg)
				}
				return works(reg, client, secrets[id])
			}
			deleted := map[string]bool{}
			for _, id := range tc.wantDeleted {
				deleted[id] = true
			}

			desc := `{"xsappname":"types","scopes":[{"name":"$XSAPPNAME.Read"}],"authorities":["$XSAPPNAME.Read"]}`
			if tc.next != nil {
				desc = credDescriptor("types", tc.next...)
			}
			if _, err := e.reg.UpdateInstance(ctx, credInstanceReq("inst-1", desc)); err != nil {
				t.Fatalf("UpdateInstance: %v", err)
			}
			for _, reg := range []*testRegistry{e.reg, e.newRegistry()} {
				for _, id := range []string{"secret-1", "secret-2", "shared-1", "shared-2", "cert-1"} {
					if got := alive(reg, id); got == deleted[id] {
						t.Errorf("after the update, binding %s works = %v, want %v", id, got, !deleted[id])
					}
				}
				if !works(reg, "sb-bystander!t1", bystander) {
					t.Error("another instance's binding stopped working")
				}
			}
			for id := range deleted {
				_, err := e.reg.GetBinding(ctx, "inst-1", id)
				wantOpError(t, "GetBinding of "+id, err, registry.ErrNotFound)
				wantOpError(t, "Unbind of "+id, e.reg.Unbind(ctx, "inst-1", id), registry.ErrNotFound)
			}
			if deleted["shared-1"] {
				if in, _ := e.store.GetInstance(ctx, "inst-1"); in.SealedSecret != nil {
					t.Error("removing instance-secret kept the sealed instance-secret")
				}
			}

			// Add every type again: the deleted credentials stay dead, and a
			// new instance-secret binding gets a new secret.
			if _, err := e.reg.UpdateInstance(ctx, credInstanceReq("inst-1", credDescriptor("types", all...))); err != nil {
				t.Fatal(err)
			}
			for id := range deleted {
				if alive(e.reg, id) {
					t.Errorf("binding %s works again after its type was added back", id)
				}
			}
			fresh := e.mustBindRaw("inst-1", "shared-3", `{"credential-type":"instance-secret"}`).ClientSecret
			if deleted["shared-1"] == (fresh == secrets["shared-1"]) {
				t.Errorf("instance-secret after re-adding the type: new secret = %v, want %v", fresh != secrets["shared-1"], deleted["shared-1"])
			}
		})
	}
}

// TestCredentialTypesRemovedRejectedUpdate: an update that fails deletes no binding.
func TestCredentialTypesRemovedRejectedUpdate(t *testing.T) {
	ctx := context.Background()
	e := newX509Env(t)
	e.instanceWith("inst-1", credDescriptor("keep", "binding-secret", "instance-secret"))
	s1 := e.mustBindRaw("inst-1", "b1", "").ClientSecret
	s2 := e.mustBindRaw("inst-1", "b2", `{"credential-type":"instance-secret"}`).ClientSecret
	for _, desc := range []string{
		credDescriptor("renamed", "x509"), // xsappname cannot change
		`{"xsappname":"keep","oauth2-configuration":{"credential-types":["password"]}}`,
	} {
		_, err := e.reg.UpdateInstance(ctx, credInstanceReq("inst-1", desc))
		wantOpError(t, "UpdateInstance "+desc, err, registry.ErrInvalid)
	}
	if !works(e.reg, "sb-keep!t1", s1) || !works(e.reg, "sb-keep!t1", s2) {
		t.Error("a rejected update invalidated bindings")
	}
	if list, _ := e.store.ListBindings(ctx, "inst-1"); len(list) != 2 {
		t.Errorf("a rejected update left %d bindings, want 2", len(list))
	}
}

// leafChain parses a certificate chain in PEM, leaf first.
func leafChain(t *testing.T, pemText string) []*x509.Certificate {
	t.Helper()
	certs, err := keys.ParseCertificatesPEM([]byte(pemText))
	if err != nil || len(certs) == 0 {
		t.Fatalf("not a PEM certificate chain: %v", err)
	}
	return certs
}

func parseLeaf(t *testing.T, pemText string) *x509.Certificate {
	t.Helper()
	return leafChain(t, pemText)[0]
}

// TestRotation rotates bindings of every rotatable kind: the successor
// has the predecessor's parameters and credential type and fresh
// credentials, and both work until the predecessor is unbound.
func TestRotation(t *testing.T) {
	tests := []struct {
		name, params string
		wantType     string
		sameSecret   bool // instance-secret: the successor shares it
		hidden       bool
	}{
		{"binding-secret", `{"credential-type":"binding-secret"}`, "binding-secret", false, false},
		{"default type", ``, "binding-secret", false, false},
		{"hide-secret", `{"hide-secret":"true"}`, "binding-secret", false, true},
		{"instance-secret", `{"credential-type":"instance-secret"}`, "instance-secret", true, false},
		{"service-managed x509", `{"credential-type":"x509","x509":{"key-length":2048,"validity":2,"validity-type":"DAYS"}}`, "x509", false, false},
		{"service-managed x509 nested", `{"xsuaa":{"credential-type":"x509"}}`, "x509", false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			e := newX509Env(t)
			e.instanceWith("inst-1", credDescriptor("rot", "binding-secret", "instance-secret", "x509"))
			const client = "sb-rot!t1"
			old, _, err := e.reg.Bind(ctx, registry.BindRequest{InstanceID: "inst-1", BindingID: "old", AppGUID: "app-1", Name: "key-a",
				Context: json.RawMessage(`{"platform":"sapcp"}`), Parameters: json.RawMessage(tc.params)})
			if err != nil {
				t.Fatal(err)
			}
			// A hidden secret is unknown to the test as to any client: such
			// bindings are checked through the store.
			e.advance(time.Minute)
			succ, created, err := e.rotate("inst-1", "new", "old")
			if err != nil || !created {
				t.Fatalf("rotate = created %v, %v", created, err)
			}
			if succ.CredentialType != tc.wantType {
				t.Errorf("successor credential-type %q, want %q", succ.CredentialType, tc.wantType)
			}
			oldB, _ := e.store.GetBinding(ctx, "old")
			newB, err := e.store.GetBinding(ctx, "new")
			if err != nil {
				t.Fatal(err)
			}
			if canon(newB.Parameters) != canon(oldB.Parameters) || newB.CredentialType != oldB.CredentialType || newB.AppGUID != "app-1" || newB.Name != "key-a" || string(newB.Context) != `{"platform":"sapcp"}` {
				t.Errorf("successor stored as %+v; want the predecessor's parameters, type, app, name and context", newB)
			}
			alive := func(c registry.Credentials) bool {
				if c.CredentialType == "x509" {
					_, err := e.reg.AuthenticateCertificate(client, leafChain(t, c.Certificate))
					return err == nil
				}
				return works(e.reg, client, c.ClientSecret)
			}
			switch {
			case tc.hidden:
				if succ.ClientSecret != "" || len(newB.SecretHash) == 0 || bytes.Equal(newB.SecretHash, oldB.SecretHash) {
					t.Errorf("hidden successor: secret %q in the credentials, hash %x (predecessor's %x)", succ.ClientSecret, newB.SecretHash, oldB.SecretHash)
				}
			case tc.wantType == "x509":
				if succ.Certificate == old.Certificate || succ.Key == "" || succ.Key == old.Key || succ.Metadata == nil {
					t.Error("successor did not get a fresh certificate and key with metadata")
				}
				if l := parseLeaf(t, succ.Certificate); !strings.Contains(clients.DN(l.RawSubject), "CN=new") {
					t.Errorf("successor certificate subject %s, want CN=new", clients.DN(l.RawSubject))
				}
			case tc.sameSecret != (succ.ClientSecret == old.ClientSecret):
				t.Errorf("successor secret equals the predecessor's: %v, want %v", succ.ClientSecret == old.ClientSecret, tc.sameSecret)
			}
			if !tc.hidden {
				if !alive(old) || !alive(succ) {
					t.Fatalf("after rotation predecessor works %v, successor %v; want both", alive(old), alive(succ))
				}
			}
			// A repeated rotation request is answered with the successor.
			again, created, err := e.rotate("inst-1", "new", "old")
			if err != nil || created || again.ClientID != client {
				t.Errorf("repeated rotation = created %v, %v", created, err)
			}
			if err := e.reg.Unbind(ctx, "inst-1", "old"); err != nil {
				t.Fatal(err)
			}
			if !tc.hidden {
				if alive(old) && !tc.sameSecret {
					t.Error("the predecessor works after it was unbound")
				}
				if !alive(succ) {
					t.Error("the successor stopped working when the predecessor was unbound")
				}
			}
			// The successor can be rotated in turn.
			if _, created, err := e.rotate("inst-1", "newer", "new"); err != nil || !created {
				t.Errorf("rotating the successor = created %v, %v", created, err)
			}
		})
	}
}

func canon(b json.RawMessage) string {
	if len(b) == 0 {
		return "{}"
	}
	var v any
	json.Unmarshal(b, &v)
	out, _ := json.Marshal(v)
	return string(out)
}

func TestRotationErrors(t *testing.T) {
	ctx := context.Background()
	e := newX509Env(t)
	e.instanceWith("inst-1", credDescriptor("roterr", "binding-secret", "x509"))
	e.instanceWith("inst-2", credDescriptor("roterr2", "binding-secret"))
	e.mustBindRaw("inst-1", "plain", "")
	e.mustBindRaw("inst-2", "elsewhere", "")
	_, pinnedPEM := e.ext.leaf(t, "pinned-client", e.now().Add(-time.Hour), e.now().Add(24*time.Hour))
	_, unpinnedPEM := e.ext.leaf(t, "unpinned-client", e.now().Add(-time.Hour), e.now().Add(24*time.Hour))
	e.mustBind("inst-1", "own-pinned", map[string]any{"credential-type": "x509", "x509": map[string]any{"certificate": pinnedPEM}})
	e.mustBind("inst-1", "own-unpinned", map[string]any{"credential-type": "x509", "x509": map[string]any{"certificate": unpinnedPEM, "certificate-pinning": false}})

	tests := []struct {
		name        string
		req         registry.BindRequest
		kind        error
		wantInMsg   []string
		wantCreated bool
	}{
		{"unknown predecessor", registry.BindRequest{InstanceID: "inst-1", BindingID: "n1", PredecessorID: "no-such-binding"},
			registry.ErrInvalid, []string{"predecessor_binding_id", "no-such-binding"}, false},
		{"predecessor of another instance", registry.BindRequest{InstanceID: "inst-1", BindingID: "n2", PredecessorID: "elsewhere"},
			registry.ErrInvalid, []string{"predecessor_binding_id", "elsewhere", "does not exist in service instance inst-1"}, false},
		{"parameters sent", registry.BindRequest{InstanceID: "inst-1", BindingID: "n3", PredecessorID: "plain", Parameters: json.RawMessage(`{"credential-type":"x509"}`)},
			registry.ErrInvalid, []string{"parameters", "predecessor_binding_id"}, false},
		{"the new binding itself", registry.BindRequest{InstanceID: "inst-1", BindingID: "plain", PredecessorID: "plain"},
			registry.ErrInvalid, []string{"predecessor_binding_id", "itself"}, false},
		{"self-managed pinned certificate", registry.BindRequest{InstanceID: "inst-1", BindingID: "n4", PredecessorID: "own-pinned"},
			registry.ErrInvalid, []string{"predecessor_binding_id", "own-pinned", "your own certificate", "new binding"}, false},
		{"self-managed unpinned certificate", registry.BindRequest{InstanceID: "inst-1", BindingID: "n5", PredecessorID: "own-unpinned"},
			registry.ErrInvalid, []string{"predecessor_binding_id", "own-unpinned", "unpinned", "CN=unpinned-client"}, false},
		{"unknown instance", registry.BindRequest{InstanceID: "no-such-instance", BindingID: "n6", PredecessorID: "plain"},
			registry.ErrNotFound, []string{"no-such-instance"}, false},
		{"empty parameters are fine", registry.BindRequest{InstanceID: "inst-1", BindingID: "n7", PredecessorID: "plain", Parameters: json.RawMessage(`{}`)},
			nil, nil, true},
		{"existing id of a different binding", registry.BindRequest{InstanceID: "inst-1", BindingID: "own-pinned", PredecessorID: "plain"},
			registry.ErrConflict, []string{"own-pinned"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, created, err := e.reg.Bind(ctx, tc.req)
			if tc.kind == nil {
				if err != nil || created != tc.wantCreated {
					t.Fatalf("Bind = created %v, %v; want %v, nil", created, err, tc.wantCreated)
				}
				return
			}
			wantOpError(t, "Bind", err, tc.kind, tc.wantInMsg...)
			if tc.req.BindingID != "plain" && tc.req.BindingID != "own-pinned" {
				if _, err := e.store.GetBinding(ctx, tc.req.BindingID); !errors.Is(err, registry.ErrNotFound) {
					t.Errorf("rejected rotation stored binding %s: %v", tc.req.BindingID, err)
				}
			}
		})
	}
}

// TestCertificateMetadata: x509 bindings with a pinned certificate carry
// OSB binding metadata, in the bind response and from GET binding.
func TestCertificateMetadata(t *testing.T) {
	ctx := context.Background()
	e := newX509Env(t)
	now := e.now()
	ownLeaf, ownPEM := e.ext.leaf(t, "own", now.Add(-2*time.Hour).Truncate(time.Second), now.Add(8*time.Hour).Truncate(time.Second))
	tests := []struct {
		name   string
		params any
		want   func(c registry.Credentials) (notBefore, notAfter time.Time) // zero: no metadata
	}{
		{"service-managed", map[string]any{"credential-type": "x509", "x509": map[string]any{"validity": 10, "validity-type": "DAYS"}},
			func(c registry.Credentials) (time.Time, time.Time) {
				l := parseLeaf(t, c.Certificate)
				return l.NotBefore, l.NotAfter
			}},
		{"self-managed pinned", map[string]any{"credential-type": "x509", "x509": map[string]any{"certificate": ownPEM}},
			func(registry.Credentials) (time.Time, time.Time) { return ownLeaf.NotBefore, ownLeaf.NotAfter }},
		{"self-managed pinned, hidden certificate", map[string]any{"credential-type": "x509", "x509": map[string]any{"certificate": strings.ReplaceAll(ownPEM, "\n", `\n`), "hide-certificate": true, "ensure-uniqueness": false}},
			func(registry.Credentials) (time.Time, time.Time) { return ownLeaf.NotBefore, ownLeaf.NotAfter }},
		{"self-managed unpinned", map[string]any{"credential-type": "x509", "x509": map[string]any{"certificate": ownPEM, "certificate-pinning": false}},
			func(registry.Credentials) (time.Time, time.Time) { return time.Time{}, time.Time{} }},
		{"binding-secret", map[string]any{"credential-type": "binding-secret"},
			func(registry.Credentials) (time.Time, time.Time) { return time.Time{}, time.Time{} }},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Each in its own instance: the same certificate twice would clash.
			inst := fmt.Sprintf("inst-m%d", i)
			e.instanceWith(inst, credDescriptor(fmt.Sprintf("meta%d", i), "x509", "binding-secret"))
			id := fmt.Sprintf("b%d", i)
			creds, err := e.bind(inst, id, tc.params)
			if err != nil {
				t.Fatal(err)
			}
			got, err := e.reg.GetBinding(ctx, inst, id)
			if err != nil {
				t.Fatal(err)
			}
			nb, na := tc.want(creds)
			for _, m := range []*registry.BindingMetadata{creds.Metadata, got.Metadata} {
				if na.IsZero() {
					if m != nil {
						t.Errorf("metadata %+v, want none", m)
					}
					continue
				}
				if m == nil {
					t.Fatal("no metadata")
				}
				renew := nb.Add(time.Duration(float64(na.Sub(nb)) * 0.8)).Truncate(time.Second)
				if m.ExpiresAt != na.UTC().Format("2006-01-02T15:04:05.0Z") || m.RenewBefore != renew.UTC().Format("2006-01-02T15:04:05.0Z") {
					t.Errorf("metadata %+v, want expires_at %s and renew_before %s", m, na.UTC(), renew.UTC())
				}
				for _, ts := range []string{m.ExpiresAt, m.RenewBefore} {
					if _, err := time.Parse(time.RFC3339, ts); err != nil {
						t.Errorf("%q is not RFC 3339: %v", ts, err)
					}
				}
			}
		})
	}
}

// TestBindingLimitAllKinds: at 1000 bindings, every kind of new binding
// (secret, instance-secret, hide-secret, certificate, rotation) is refused
// with ErrLimit, and a refused instance-secret binding leaves no working
// secret behind.
func TestBindingLimitAllKinds(t *testing.T) {
	ctx := context.Background()
	e := newX509Env(t)
	e.instanceWith("inst-1", credDescriptor("full", "binding-secret", "instance-secret", "x509"))
	e.mustBindRaw("inst-1", "first", `{"credential-type":"binding-secret"}`)
	// The other 999 straight into the database, in one transaction.
	db, err := sql.Open("sqlite3", "file:"+e.path+"?_busy_timeout=10000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < registry.MaxBindings; i++ {
		if _, err := tx.Exec(`INSERT INTO bindings (id, instance_id, credential_type, secret_id, secret_hash, parameters, app_guid, created_at) VALUES (?, 'inst-1', 'binding-secret', ?, x'00', ?, '', 0)`,
			fmt.Sprintf("filler-%d", i), fmt.Sprintf("filler-secret-%d", i), []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		req  registry.BindRequest
	}{
		{"binding-secret", registry.BindRequest{BindingID: "n1", Parameters: json.RawMessage(`{"credential-type":"binding-secret"}`)}},
		{"instance-secret", registry.BindRequest{BindingID: "n2", Parameters: json.RawMessage(`{"credential-type":"instance-secret"}`)}},
		{"hide-secret", registry.BindRequest{BindingID: "n3", Parameters: json.RawMessage(`{"hide-secret":true}`)}},
		{"x509", registry.BindRequest{BindingID: "n4", Parameters: json.RawMessage(`{"credential-type":"x509"}`)}},
		{"rotation", registry.BindRequest{BindingID: "n5", PredecessorID: "first"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.InstanceID = "inst-1"
			_, _, err := e.reg.Bind(ctx, tc.req)
			wantOpError(t, "Bind at the limit", err, registry.ErrLimit, "1000")
		})
	}
	if list, _ := e.store.ListBindings(ctx, "inst-1"); len(list) != registry.MaxBindings {
		t.Errorf("instance has %d bindings, want %d", len(list), registry.MaxBindings)
	}
	// The refused instance-secret binding may have generated the secret,
	// but it authenticates nothing without a binding.
	if in, _ := e.store.GetInstance(ctx, "inst-1"); in.SealedSecret != nil {
		pt, err := e.mk.Open(in.SealedSecret, []byte("inst-1"))
		if err != nil || works(e.reg, "sb-full!t1", string(pt)) || works(e.newRegistry(), "sb-full!t1", string(pt)) {
			t.Error("a refused instance-secret binding left a working secret")
		}
	}
	// One unbind frees a place.
	if err := e.reg.Unbind(ctx, "inst-1", "filler-1"); err != nil {
		t.Fatal(err)
	}
	if _, created, err := e.reg.Bind(ctx, registry.BindRequest{InstanceID: "inst-1", BindingID: "n6", Parameters: json.RawMessage(`{"credential-type":"instance-secret"}`)}); err != nil || !created {
		t.Errorf("Bind after an unbind = created %v, %v", created, err)
	}
}
