package keys

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// MasterKeyFile is the name of the generated master key in the data directory.
const MasterKeyFile = "master.key"

// minMasterKeyLen is the shortest master key accepted from the environment.
const minMasterKeyLen = 32

// MasterKey is the root secret of one installation. It never leaves the
// process: other keys are derived from it with HKDF-SHA256, one per purpose.
type MasterKey struct {
	ikm  []byte
	aead cipher.AEAD
}

// LoadMasterKey returns the master key given in env (the value of
// XSUAA_MASTER_KEY), or else the one in dataDir/master.key, creating that
// file with 32 random bytes and mode 0600 on first use.
func LoadMasterKey(dataDir, env string, log *slog.Logger) (*MasterKey, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if env != "" {
		if len(env) < minMasterKeyLen {
			return nil, fmt.Errorf("XSUAA_MASTER_KEY must be at least %d characters long (32 random bytes, e.g. from 'openssl rand -base64 32')", minMasterKeyLen)
		}
		return NewMasterKey([]byte(env))
	}
	path := filepath.Join(dataDir, MasterKeyFile)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
			log.Warn("master key file is readable by other users; chmod 600 it", "path", path, "mode", fi.Mode().Perm().String())
		}
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(raw) < 32 {
			return nil, fmt.Errorf("%s: not a base64-encoded key of at least 32 bytes", path)
		}
		return NewMasterKey(raw)
	case errors.Is(err, os.ErrNotExist):
		raw := make([]byte, 32)
		if _, err := rand.Read(raw); err != nil {
			return nil, err
		}
		if err := writeFileExclusive(path, []byte(base64.StdEncoding.EncodeToString(raw)+"\n"), 0o600); err != nil {
			if errors.Is(err, os.ErrExist) { // another process won the race
				return LoadMasterKey(dataDir, env, log)
			}
			return nil, fmt.Errorf("create master key: %w", err)
		}
		log.Info("created master key", "path", path)
		return NewMasterKey(raw)
	default:
		return nil, fmt.Errorf("read master key: %w", err)
	}
}

// NewMasterKey builds a master key from input keying material.
func NewMasterKey(ikm []byte) (*MasterKey, error) {
	m := &MasterKey{ikm: append([]byte(nil), ikm...)}
	block, err := aes.NewCipher(m.Derive("xsuaa at-rest encryption v1", 32))
	if err != nil {
		return nil, err
	}
	if m.aead, err = cipher.NewGCM(block); err != nil {
		return nil, err
	}
	return m, nil
}

// Derive returns n bytes derived from the master key for one purpose. Two
// different purposes never share key material.
func (m *MasterKey) Derive(purpose string, n int) []byte {
	k, err := hkdf.Key(sha256.New, m.ikm, nil, purpose, n)
	if err != nil {
		panic(err) // only for n > 255*32, a programming error
	}
	return k
}

// Seal encrypts plaintext with AES-256-GCM. aad binds the ciphertext to its
// context (e.g. a key id), so a sealed value cannot be moved to another record.
func (m *MasterKey) Seal(plaintext, aad []byte) ([]byte, error) {
	nonce := make([]byte, m.aead.NonceSize(), m.aead.NonceSize()+len(plaintext)+m.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return m.aead.Seal(nonce, nonce, plaintext, aad), nil
}

// Open decrypts what Seal produced with the same aad.
func (m *MasterKey) Open(sealed, aad []byte) ([]byte, error) {
	ns := m.aead.NonceSize()
	if len(sealed) < ns+m.aead.Overhead() {
		return nil, errors.New("sealed value too short")
	}
	pt, err := m.aead.Open(nil, sealed[:ns], sealed[ns:], aad)
	if err != nil {
		return nil, errors.New("cannot decrypt: wrong master key or corrupted data")
	}
	return pt, nil
}

// writeFileExclusive creates path with the given mode and content, failing
// if it exists. The content is written and synced to a temporary file first
// and then hard-linked into place, so that no reader (and no crash) ever
// sees a partly written file.
func writeFileExclusive(path string, data []byte, mode os.FileMode) error {
	tmp, err := syncedTemp(path, data, mode)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	return os.Link(tmp, path) // fails with ErrExist if path exists
}

// WriteFileAtomic writes path with the given mode and content through a
// synced temporary file and a rename: readers, and a crash, see the old
// file or the new one, never a part.
func WriteFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := syncedTemp(path, data, mode)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// syncedTemp writes data to a new temporary file beside path, with mode,
// synced to disk, and returns its name.
func syncedTemp(path string, data []byte, mode os.FileMode) (string, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err != nil {
		return "", err
	}
	err = tmp.Chmod(mode)
	if err == nil {
		_, err = tmp.Write(data)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp.Name())
		return "", err
	}
	return tmp.Name(), nil
}
