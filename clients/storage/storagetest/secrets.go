package storagetest

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/openxsuaa/xsuaa/clients"
	"github.com/openxsuaa/xsuaa/clients/registry"
	"github.com/openxsuaa/xsuaa/clients/storage"
	"github.com/openxsuaa/xsuaa/keys"
)

// testNoSecretsInClear writes what holds secrets through the real write
// side — a binding secret, an instance-secret, a certificate binding
// (whose private key goes to the caller only), the signing key and the CA
// — and then reads every value of every column of the database: none may
// hold a secret, a private key (as PEM, as DER, or a private exponent) or
// the master key in clear.
func testNoSecretsInClear(t *testing.T, db Database) {
	s := db.Open(t)
	ctx := context.Background()
	rawMaster := []byte("no-secrets-in-clear-master-key-0123456789")
	mk, err := keys.NewMasterKey(rawMaster)
	mustNot(t, "NewMasterKey", err)
	ks := storage.Keys(s)
	signer, err := keys.LoadSigner(ctx, ks, mk, time.Now())
	mustNot(t, "LoadSigner", err)
	defer signer.Close()
	ca, err := keys.LoadCA(ctx, ks, mk, time.Now)
	mustNot(t, "LoadCA", err)
	mustNot(t, "CreateZone", createZone(s, storage.Zone{ID: "zone-1", Subdomain: "one", Index: 1}))
	idx, err := clients.NewIndex(ctx, clients.IndexConfig{Store: s, MasterKey: mk, ClientCAs: ca.Pool()})
	mustNot(t, "NewIndex", err)
	reg := registry.New(registry.Config{Store: s, Index: idx, MasterKey: mk, CA: ca, ClientCAs: ca.Pool(),
		Endpoints: registry.Endpoints{URL: "https://auth.example.com", UAADomain: "auth.example.com"}})
	_, _, err = reg.CreateInstance(ctx, registry.InstanceRequest{ID: "inst-1", Name: "secrets", ServiceID: "s", PlanID: "p", Plan: "application",
		OrgGUID: "o", SpaceGUID: "sp", Parameters: json.RawMessage(`{"xsappname":"secrets","oauth2-configuration":{"credential-types":["binding-secret","instance-secret","x509"]}}`)})
	mustNot(t, "CreateInstance", err)
	var secrets []string
	var privateDER [][]byte
	for _, p := range []string{`{"credential-type":"binding-secret"}`, `{"credential-type":"instance-secret"}`, `{"credential-type":"x509"}`} {
		creds, _, err := reg.Bind(ctx, registry.BindRequest{InstanceID: "inst-1", BindingID: "b-" + strings.Trim(p[19:], `"}`), Parameters: json.RawMessage(p)})
		mustNot(t, "Bind "+p, err)
		if creds.ClientSecret != "" {
			_, random, _ := strings.Cut(creds.ClientSecret, "$")
			secrets = append(secrets, creds.ClientSecret, random)
		}
		if creds.Key != "" {
			blk, _ := pem.Decode([]byte(creds.Key))
			if blk == nil {
				t.Fatalf("the x509 binding's key is not PEM: %q", creds.Key)
			}
			privateDER = append(privateDER, blk.Bytes)
			secrets = append(secrets, base64.StdEncoding.EncodeToString(blk.Bytes)[:40])
		}
	}
	if len(secrets) != 5 || len(privateDER) != 1 {
		t.Fatalf("expected two secrets and a private key from the bindings, got %d secrets and %d keys", len(secrets), len(privateDER))
	}
	signing := signer.Active().Private
	if der, err := x509.MarshalPKCS8PrivateKey(signing); err == nil {
		privateDER = append(privateDER, der)
	}
	exponents := [][]byte{signing.D.Bytes(), signing.Primes[0].Bytes()}

	vals := db.Values(t)
	scanned := 0
	for col, vs := range vals {
		for _, v := range vs {
			scanned++
			b := []byte(v)
			for _, sec := range secrets {
				if strings.Contains(v, sec) {
					t.Errorf("%s holds a secret in clear", col)
				}
			}
			if bytes.Contains(b, rawMaster) {
				t.Errorf("%s holds the master key", col)
			}
			if strings.Contains(v, "PRIVATE KEY") {
				t.Errorf("%s holds a PEM private key", col)
			}
			for _, der := range privateDER {
				if bytes.Contains(b, der) {
					t.Errorf("%s holds a private key (DER) in clear", col)
				}
			}
			for _, e := range exponents {
				if bytes.Contains(b, e) {
					t.Errorf("%s holds the signing key's private exponent or a prime", col)
				}
			}
			if _, err := x509.ParsePKCS8PrivateKey(b); err == nil {
				t.Errorf("%s is a private key", col)
			}
			if _, err := x509.ParseECPrivateKey(b); err == nil {
				t.Errorf("%s is a private key", col)
			}
		}
	}
	if scanned == 0 || len(vals["bindings.sealed_secret"]) == 0 || len(vals["keys.sealed_private"]) < 2 {
		t.Fatalf("Values returned %d values; want every column, sealed secrets and keys among them (columns: %d)", scanned, len(vals))
	}
}
