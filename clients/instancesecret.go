package clients

import (
	"context"
	"fmt"
)

// The instance-secret (credential type "instance-secret") is one client
// secret shared by every instance-secret binding of an instance, for the
// instance's lifetime (XSUAA's legacy type; it cannot be rotated). It has
// the shape of a binding secret, "<uuid>$<base64url of 32 random bytes>",
// and is generated at the instance's first instance-secret binding.
//
// At rest it is sealed with the master key (AES-256-GCM, the instance id as
// additional data, so a sealed secret cannot be moved to another instance)
// in Instance.SealedSecret, so that every later binding's credentials, and
// GET binding, can return it. In memory the Registry keeps only its HMAC,
// indexed by its uuid part like a binding secret's.
//
// It authenticates only while at least one instance-secret binding of the
// instance exists: unbinding the last one stops it before Unbind returns.
// A new instance-secret binding after that returns the same secret again
// (it belongs to the instance, not to a binding). Removing
// "instance-secret" from the instance's credential-types deletes those
// bindings and the sealed secret, so a later binding gets a new one;
// deleting the instance deletes it too.

// sealInstanceSecret seals an instance's secret for storage.
func (r *Registry) sealInstanceSecret(instanceID, secret string) ([]byte, error) {
	return r.cfg.MasterKey.Seal([]byte(secret), []byte(instanceID))
}

// openInstanceSecret returns the instance's secret in clear.
func (r *Registry) openInstanceSecret(in Instance) (string, error) {
	pt, err := r.cfg.MasterKey.Open(in.SealedSecret, []byte(in.ID))
	if err != nil {
		return "", fmt.Errorf("service instance %s: sealed instance-secret: %w", in.ID, err)
	}
	return string(pt), nil
}

// setInstanceSecret records the id and hash of an instance's secret on c,
// a client being built or a copy about to be published. It does not make
// the secret authenticate; syncInstanceSecret does.
func (r *Registry) setInstanceSecret(c *Client, secret string) {
	c.instSecretID = secretID(secret)
	c.instSecret = secretEntry{hash: r.hasher.hash(secret), revSig: r.revSig(c.ID + "|" + "instance-secret")}
}

// syncInstanceSecret puts the instance-secret into c.secrets while c has
// instance-secret bindings, and takes it out when it has none. c.secrets
// must be c's own copy (withSecrets).
func syncInstanceSecret(c *Client) {
	if c.instSecretID == "" {
		return
	}
	if c.instBindings > 0 {
		c.secrets[c.instSecretID] = c.instSecret
	} else {
		delete(c.secrets, c.instSecretID)
	}
}

// ensureInstanceSecret returns the instance's secret, generating it and
// storing it sealed the first time. Callers hold writeMu.
func (r *Registry) ensureInstanceSecret(ctx context.Context, instanceID string) (string, error) {
	in, err := r.store.GetInstance(ctx, instanceID)
	if err != nil {
		return "", err
	}
	if in.SealedSecret != nil {
		return r.openInstanceSecret(in)
	}
	var secret string
	var generated bool
	err = r.store.UpdateInstance(ctx, instanceID, func(in Instance) (Instance, error) {
		generated = false
		if in.SealedSecret != nil {
			s, err := r.openInstanceSecret(in)
			secret = s
			return in, err
		}
		s, _, err := newSecret()
		if err != nil {
			return in, err
		}
		if in.SealedSecret, err = r.sealInstanceSecret(in.ID, s); err != nil {
			return in, err
		}
		secret, generated = s, true
		return in, nil
	})
	if err != nil {
		return "", err
	}
	if generated {
		r.cfg.Log.Info("instance-secret generated", "instance", instanceID)
	}
	return secret, nil
}

// storedInstanceSecret reads and opens the secret of an instance.
func (r *Registry) storedInstanceSecret(ctx context.Context, instanceID string) (string, error) {
	in, err := r.store.GetInstance(ctx, instanceID)
	if err != nil {
		return "", err
	}
	if in.SealedSecret == nil {
		return "", fmt.Errorf("service instance %s has instance-secret bindings but no instance-secret", instanceID)
	}
	return r.openInstanceSecret(in)
}
