// Package keys holds the server's key material: the master key that
// encrypts private keys at rest, the RSA keys that sign access tokens and
// their JWKS, and the local certificate authority that issues the TLS server
// certificate (and, later, client certificates).
//
// Private keys are stored only sealed with AES-256-GCM under a key derived
// from the master key; the master key itself comes from XSUAA_MASTER_KEY or
// from a 0600 file in the data directory.
package keys
