package registry

import (
	"context"

	"github.com/openxsuaa/xsuaa/clients"
	"github.com/openxsuaa/xsuaa/clients/storage"
)

// The instance-secret (credential type "instance-secret") is one secret
// shared by all bindings of that type of an instance, as in XSUAA. It is
// generated with the first such binding and kept sealed with the master
// key on the instance's row (storage.Instance.SealedSecret), so that
// every later binding's credentials, and GET binding, can return it. The
// index keeps only its HMAC, indexed by its uuid part like a binding
// secret's.
//
// It authenticates only while at least one instance-secret binding of the
// instance exists: unbinding the last one stops it before Unbind returns.
// A new instance-secret binding after that returns the same secret again
// (it belongs to the instance, not to a binding). Removing
// "instance-secret" from the instance's credential-types deletes those
// bindings and the sealed secret, so a later binding gets a new one;
// deleting the instance deletes it too.

// ensureInstanceSecret returns the secret of the instance *in (read in
// tx), generating it and storing it sealed, in tx, the first time.
func (r *Registry) ensureInstanceSecret(ctx context.Context, tx storage.Tx, in *storage.Instance) (string, error) {
	if in.SealedSecret != nil {
		return clients.OpenInstanceSecret(r.cfg.MasterKey, *in)
	}
	secret, _, err := clients.NewSecret()
	if err != nil {
		return "", err
	}
	if in.SealedSecret, err = clients.SealInstanceSecret(r.cfg.MasterKey, in.ID, secret); err != nil {
		return "", err
	}
	if err := tx.UpdateInstance(ctx, *in); err != nil {
		return "", err
	}
	return secret, nil
}
