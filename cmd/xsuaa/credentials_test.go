package main

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// End-to-end tests of the credential types instance-secret and
// binding-secret, hide-secret, removing credential types on update, and
// OSB 2.17 binding rotation, against the real binary.

// credTypesDescriptor is an app whose bindings may use the given types.
func credTypesDescriptor(xsappname string, types ...string) string {
	ts, _ := json.Marshal(types)
	return fmt.Sprintf(`{"xsappname":%q,"scopes":[{"name":"$XSAPPNAME.Read"}],"authorities":["$XSAPPNAME.Read"],"oauth2-configuration":{"credential-types":%s}}`, xsappname, ts)
}

// tokenStatus is the status of a client_credentials request with a secret.
func (s *testServer) tokenStatus(clientID, secret string) int {
	s.t.Helper()
	code, _, _ := s.token(s.httpsURL, url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {secret}}, nil)
	return code
}

// getBinding fetches a binding (GET …/service_bindings/:id).
func (s *testServer) getBinding(instance, binding string) (int, map[string]any) {
	s.t.Helper()
	return s.broker("GET", "/v2/service_instances/"+instance+"/service_bindings/"+binding, nil)
}

// credentialsOf returns the credentials object of a bind or GET binding response.
func credentialsOf(body map[string]any) map[string]any {
	c, _ := body["credentials"].(map[string]any)
	return c
}

// noSecretOnDisk fails t if any file of the data directory, or the
// server's output, holds the random part of one of the secrets.
func noSecretOnDisk(t *testing.T, s *testServer, secrets ...string) {
	t.Helper()
	var files []string
	filepath.WalkDir(s.dataDir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, path)
		}
		return err
	})
	sawWAL := false
	for _, path := range files {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		sawWAL = sawWAL || strings.HasSuffix(path, "-wal")
		for _, secret := range secrets {
			_, rnd, _ := strings.Cut(secret, "$")
			if bytes.Contains(b, []byte(rnd)) {
				t.Errorf("%s holds a client secret in clear", path)
			}
		}
	}
	for _, secret := range secrets {
		if strings.Contains(s.logs.String(), secret) || strings.Contains(s.stdout.String(), secret) {
			t.Error("a client secret appears in the server's output")
		}
	}
	t.Logf("checked %d files (WAL among them: %v)", len(files), sawWAL)
}

// TestCredentialInstanceSecret: two bindings share the instance-secret,
// GET binding returns it, it survives one unbind and a restart, and dies
// with the last unbind; a later binding brings the same secret back. It is
// never on disk in clear.
func TestCredentialInstanceSecret(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir)
	s.provision("inst-shared", "shared-xsuaa", credTypesDescriptor("shared", "instance-secret", "binding-secret"))
	raw1, c1 := s.bind("inst-shared", "b1", nil)
	_, c2 := s.bind("inst-shared", "b2", map[string]any{"credential-type": "instance-secret"})
	_, own := s.bind("inst-shared", "own", map[string]any{"credential-type": "binding-secret"})
	if !strings.Contains(string(raw1), `"credential-type":"instance-secret"`) {
		t.Errorf("credentials of an instance-secret binding: %s", raw1)
	}
	secret := c1.ClientSecret
	if secret == "" || c2.ClientSecret != secret || own.ClientSecret == secret {
		t.Fatalf("instance-secret bindings got %q and %q, the binding-secret %q", secret, c2.ClientSecret, own.ClientSecret)
	}
	s.secretToken(c1)
	if code, body := s.getBinding("inst-shared", "b1"); code != 200 || credentialsOf(body)["clientsecret"] != secret {
		t.Errorf("GET binding b1: %d, clientsecret %v; want the instance-secret", code, credentialsOf(body)["clientsecret"])
	}
	if code, body := s.getBinding("inst-shared", "own"); code != 200 || credentialsOf(body)["clientsecret"] != own.ClientSecret {
		t.Errorf("GET binding of a binding-secret binding: %d %v; want its own secret", code, body)
	}
	noSecretOnDisk(t, s, secret, own.ClientSecret) // database and WAL while running

	s.unbind("inst-shared", "b1")
	if code := s.tokenStatus(c1.ClientID, secret); code != 200 {
		t.Fatalf("instance-secret after one of two unbinds: %d, want 200", code)
	}
	s.stop()
	noSecretOnDisk(t, s, secret, own.ClientSecret) // after the checkpoint at shutdown

	s = startServer(t, dir)
	if code := s.tokenStatus(c1.ClientID, secret); code != 200 {
		t.Fatalf("instance-secret after a restart: %d, want 200", code)
	}
	if code, body := s.getBinding("inst-shared", "b2"); code != 200 || credentialsOf(body)["clientsecret"] != secret {
		t.Errorf("GET binding b2 after a restart: %d %v", code, body)
	}
	s.unbind("inst-shared", "b2")
	if code := s.tokenStatus(c1.ClientID, secret); code != 401 {
		t.Fatalf("instance-secret after its last binding was unbound: %d, want 401", code)
	}
	s.secretToken(own)
	_, c3 := s.bind("inst-shared", "b3", nil)
	if c3.ClientSecret != secret || s.tokenStatus(c3.ClientID, secret) != 200 {
		t.Errorf("a binding after the last unbind got %q; want the instance's secret, working", c3.ClientSecret)
	}
	s.stop()
	noSecretOnDisk(t, s, secret, own.ClientSecret)
}

// TestCredentialHideSecret: with hide-secret the binding works but its
// credentials leave clientsecret out; with x509 it is a 400.
func TestCredentialHideSecret(t *testing.T) {
	s := startServer(t, "")
	s.provision("inst-hide", "hide-xsuaa", credTypesDescriptor("hide", "binding-secret", "instance-secret", "x509"))
	_, visible := s.bind("inst-hide", "visible", map[string]any{"credential-type": "instance-secret"})
	tests := []struct {
		name    string
		params  map[string]any
		wantErr string // 400 naming this; "" for success
	}{
		{"binding-secret", map[string]any{"hide-secret": true}, ""},
		{"quoted true", map[string]any{"credential-type": "binding-secret", "hide-secret": "true"}, ""},
		{"instance-secret", map[string]any{"credential-type": "instance-secret", "hide-secret": true}, ""},
		{"x509", map[string]any{"credential-type": "x509", "hide-secret": true}, "hide-secret"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id := fmt.Sprintf("hidden-%d", i)
			code, body := s.bindStatus("inst-hide", id, tc.params)
			if tc.wantErr != "" {
				if desc, _ := body["description"].(string); code != 400 || body["error"] != "BadRequest" || !strings.Contains(desc, tc.wantErr) {
					t.Errorf("bind: %d %v; want 400 naming %s", code, body, tc.wantErr)
				}
				return
			}
			if code != 201 {
				t.Fatalf("bind: %d %v", code, body)
			}
			if _, ok := credentialsOf(body)["clientsecret"]; ok || credentialsOf(body)["clientid"] != "sb-hide!t1" {
				t.Errorf("bind response credentials %v; want a clientid and no clientsecret", credentialsOf(body))
			}
			code, body = s.getBinding("inst-hide", id)
			if _, ok := credentialsOf(body)["clientsecret"]; code != 200 || ok {
				t.Errorf("GET binding: %d %v; want no clientsecret", code, body)
			}
		})
	}
	// The hidden instance-secret binding keeps the shared secret working
	// after the visible one is gone.
	s.unbind("inst-hide", "visible")
	if code := s.tokenStatus(visible.ClientID, visible.ClientSecret); code != 200 {
		t.Errorf("shared secret with only a hidden instance-secret binding left: %d, want 200", code)
	}
}

// TestCredentialTypesUpdate: removing a type from credential-types
// invalidates that type's bindings before the update returns; the others
// keep working, and adding the type back does not revive them.
func TestCredentialTypesUpdate(t *testing.T) {
	s := startServer(t, "")
	s.provision("inst-types", "types-xsuaa", credTypesDescriptor("types", "binding-secret", "instance-secret", "x509"))
	_, sec := s.bind("inst-types", "secret-1", map[string]any{"credential-type": "binding-secret"})
	_, shared := s.bind("inst-types", "shared-1", map[string]any{"credential-type": "instance-secret"})
	_, managed := s.bindX509("inst-types", "cert-1", map[string]any{"credential-type": "x509", "x509": map[string]any{"validity": 1}})
	cert, err := tls.X509KeyPair([]byte(managed.Certificate), []byte(managed.Key))
	if err != nil {
		t.Fatal(err)
	}
	withCert := s.mtlsClient(&cert)
	s.secretToken(sec)
	s.secretToken(shared) // keep-alive connections that must not keep the binding alive

	s.update("inst-types", credTypesDescriptor("types", "x509", "instance-secret"))
	if code := s.tokenStatus(sec.ClientID, sec.ClientSecret); code != 401 {
		t.Errorf("binding-secret after binding-secret was removed: %d, want 401", code)
	}
	if code := s.tokenStatus(shared.ClientID, shared.ClientSecret); code != 200 {
		t.Errorf("instance-secret after binding-secret was removed: %d, want 200", code)
	}
	code, body := certToken(t, withCert, managed.CertURL, managed.ClientID, nil)
	s.wantCertBound(code, body, managed.ClientID, cert.Leaf)
	if code, body := s.getBinding("inst-types", "secret-1"); code != 404 {
		t.Errorf("GET binding of a deleted binding: %d %v, want 404", code, body)
	}
	if code, _ := s.broker("DELETE", "/v2/service_instances/inst-types/service_bindings/secret-1?service_id="+serviceID+"&plan_id="+planAppID, nil); code != 410 {
		t.Errorf("unbind of a binding deleted by the update: %d, want 410", code)
	}
	if code, body := s.bindStatus("inst-types", "secret-2", map[string]any{"credential-type": "binding-secret"}); code != 400 {
		t.Errorf("new binding of a removed type: %d %v, want 400", code, body)
	}

	// Adding binding-secret back does not revive the deleted binding;
	// removing instance-secret and x509 deletes those.
	s.update("inst-types", credTypesDescriptor("types", "binding-secret"))
	for name, c := range map[string]credentials{"binding-secret": sec, "instance-secret": shared} {
		if code := s.tokenStatus(c.ClientID, c.ClientSecret); code != 401 {
			t.Errorf("%s after its type was removed: %d, want 401", name, code)
		}
	}
	code, body = certToken(t, withCert, managed.CertURL, managed.ClientID, nil)
	want401(t, "certificate after x509 was removed", code, body, "invalid_client", "not a credential")
	_, fresh := s.bind("inst-types", "secret-3", nil)
	s.secretToken(fresh)

	// And a restart does not bring anything back.
	s.stop()
	s2 := startServer(t, s.dataDir)
	for name, c := range map[string]credentials{"binding-secret": sec, "instance-secret": shared} {
		if code := s2.tokenStatus(c.ClientID, c.ClientSecret); code != 401 {
			t.Errorf("after a restart, %s of a removed type: %d, want 401", name, code)
		}
	}
	s2.secretToken(fresh)
}

// TestCredentialRotation: OSB 2.17 binding rotation with
// predecessor_binding_id, of a secret and a service-managed certificate:
// both credentials work until the predecessor is unbound.
func TestCredentialRotation(t *testing.T) {
	s := startServer(t, "")
	code, cat := s.broker("GET", "/v2/catalog", nil)
	if code != 200 {
		t.Fatalf("catalog: %d", code)
	}
	for _, svc := range cat["services"].([]any) {
		for _, p := range svc.(map[string]any)["plans"].([]any) {
			if p.(map[string]any)["binding_rotatable"] != true {
				t.Errorf("plan %v is not binding_rotatable", p.(map[string]any)["name"])
			}
		}
	}
	s.provision("inst-rot", "rot-xsuaa", credTypesDescriptor("rot", "binding-secret", "x509"))
	s.provision("inst-other", "other-xsuaa", credTypesDescriptor("other", "binding-secret"))
	s.bind("inst-other", "other-1", nil)

	rotate := func(newID string, body map[string]any) (int, map[string]any) {
		t.Helper()
		return s.broker("PUT", "/v2/service_instances/inst-rot/service_bindings/"+newID, body)
	}

	t.Run("binding-secret", func(t *testing.T) {
		_, old := s.bind("inst-rot", "sec-old", map[string]any{"credential-type": "binding-secret"})
		// The body of OSB's rotation request: nothing but the predecessor.
		code, body := rotate("sec-new", map[string]any{"predecessor_binding_id": "sec-old"})
		if code != 201 {
			t.Fatalf("rotation: %d %v", code, body)
		}
		creds := credentialsOf(body)
		succ := credentials{ClientID: fmt.Sprint(creds["clientid"]), ClientSecret: fmt.Sprint(creds["clientsecret"])}
		if creds["credential-type"] != "binding-secret" || succ.ClientSecret == old.ClientSecret || succ.ClientID != old.ClientID {
			t.Fatalf("successor credentials %v; want a new binding-secret of the same client", creds)
		}
		if _, ok := body["metadata"]; ok {
			t.Errorf("a secret binding has metadata: %v", body["metadata"])
		}
		s.secretToken(old)
		s.secretToken(succ)
		// The platform may repeat the request: 200 with the same binding.
		if code, body := rotate("sec-new", map[string]any{"service_id": serviceID, "plan_id": planAppID, "predecessor_binding_id": "sec-old"}); code != 200 || credentialsOf(body)["clientid"] != old.ClientID {
			t.Errorf("repeated rotation: %d %v, want 200", code, body)
		}
		s.unbind("inst-rot", "sec-old")
		if code := s.tokenStatus(old.ClientID, old.ClientSecret); code != 401 {
			t.Errorf("predecessor after its unbind: %d, want 401", code)
		}
		s.secretToken(succ)
	})

	t.Run("service-managed certificate", func(t *testing.T) {
		raw, old := s.bindX509("inst-rot", "cert-old", map[string]any{"credential-type": "x509", "x509": map[string]any{"validity": 2}})
		oldCert, err := tls.X509KeyPair([]byte(old.Certificate), []byte(old.Key))
		if err != nil {
			t.Fatalf("%v: %s", err, raw)
		}
		code, body := rotate("cert-new", map[string]any{"predecessor_binding_id": "cert-old"})
		if code != 201 {
			t.Fatalf("rotation: %d %v", code, body)
		}
		creds := credentialsOf(body)
		newCert, err := tls.X509KeyPair([]byte(fmt.Sprint(creds["certificate"])), []byte(fmt.Sprint(creds["key"])))
		if err != nil || creds["credential-type"] != "x509" {
			t.Fatalf("successor credentials %v: %v", creds, err)
		}
		if newCert.Leaf.Subject.CommonName != "cert-new" || bytes.Equal(newCert.Leaf.Raw, oldCert.Leaf.Raw) {
			t.Errorf("successor certificate CN %q; want a new certificate for cert-new", newCert.Leaf.Subject.CommonName)
		}
		// Two days of validity, as the predecessor's parameters say, and
		// metadata saying so.
		if d := newCert.Leaf.NotAfter.Sub(newCert.Leaf.NotBefore); d < 47*time.Hour || d > 49*time.Hour {
			t.Errorf("successor valid for %v, want the predecessor's 2 days", d)
		}
		meta, _ := body["metadata"].(map[string]any)
		expires, err1 := time.Parse(time.RFC3339, fmt.Sprint(meta["expires_at"]))
		renew, err2 := time.Parse(time.RFC3339, fmt.Sprint(meta["renew_before"]))
		if err1 != nil || err2 != nil || !expires.Equal(newCert.Leaf.NotAfter) || !renew.Before(expires) || !renew.After(newCert.Leaf.NotBefore) {
			t.Errorf("metadata %v; want expires_at = NotAfter %s and renew_before between NotBefore and it", meta, newCert.Leaf.NotAfter)
		}
		if code, got := s.getBinding("inst-rot", "cert-new"); code != 200 || !jsonEqual(got["metadata"], meta) {
			t.Errorf("GET binding metadata %v, want %v", got["metadata"], meta)
		}
		for name, c := range map[string]tls.Certificate{"predecessor": oldCert, "successor": newCert} {
			code, body := certToken(t, s.mtlsClient(&c), old.CertURL, old.ClientID, nil)
			if code != 200 {
				t.Errorf("%s certificate: %d %v", name, code, body)
			}
		}
		s.unbind("inst-rot", "cert-old")
		code, body = certToken(t, s.mtlsClient(&oldCert), old.CertURL, old.ClientID, nil)
		want401(t, "predecessor certificate after its unbind", code, body, "invalid_client", "not a credential")
		code, body = certToken(t, s.mtlsClient(&newCert), old.CertURL, old.ClientID, nil)
		s.wantCertBound(code, body, old.ClientID, newCert.Leaf)
	})

	t.Run("errors", func(t *testing.T) {
		s.bind("inst-rot", "base", nil)
		tests := []struct {
			name     string
			body     map[string]any
			wantCode int
			wantDesc string
		}{
			{"unknown predecessor", map[string]any{"predecessor_binding_id": "no-such-binding"}, 400, "predecessor_binding_id: service binding no-such-binding does not exist"},
			{"predecessor of another instance", map[string]any{"predecessor_binding_id": "other-1"}, 400, "other-1 does not exist in service instance"},
			{"parameters", map[string]any{"predecessor_binding_id": "base", "parameters": map[string]any{"credential-type": "x509"}}, 400, "parameters"},
			{"foreign service_id", map[string]any{"predecessor_binding_id": "base", "service_id": "not-this-service"}, 400, "service_id"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				code, body := rotate("err-new", tc.body)
				if desc, _ := body["description"].(string); code != tc.wantCode || !strings.Contains(desc, tc.wantDesc) {
					t.Errorf("%d %v; want %d with a description containing %q", code, body, tc.wantCode, tc.wantDesc)
				}
			})
		}
		if code, _ := s.getBinding("inst-rot", "err-new"); code != 404 {
			t.Errorf("a rejected rotation created the binding: GET %d", code)
		}
	})
}
