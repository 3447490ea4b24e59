package sqlstore

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"

	"github.com/openxsuaa/xsuaa/clients/storage"
)

// Credential rows — bindings (secret hashes, certificates) and users
// (password hashes) — carry a MAC under a key derived from the master
// key, set with SealRows. Write access to the database alone then cannot
// mint a credential: a row inserted or changed without the key fails its
// check, is treated as absent (it authenticates nothing) and is logged.
// Without a key (tests of the storage alone) rows are neither sealed nor
// checked.

// rowMAC computes and checks the MACs; one is shared by a Store and its
// transactions.
type rowMAC struct {
	key    atomic.Pointer[[]byte]
	log    atomic.Pointer[slog.Logger]
	forged atomic.Int64
}

// sum is the HMAC-SHA256 of kind and the fields, each length-prefixed.
func (m *rowMAC) sum(key []byte, kind string, fields ...[]byte) []byte {
	h := hmac.New(sha256.New, key)
	var n [8]byte
	for _, f := range append([][]byte{[]byte(kind)}, fields...) {
		binary.BigEndian.PutUint64(n[:], uint64(len(f)))
		h.Write(n[:])
		h.Write(f)
	}
	return h.Sum(nil)
}

// binding is the MAC of what makes a binding a credential: which client
// it belongs to, its secret hash, its certificate and how it matches.
func (m *rowMAC) binding(key []byte, b storage.Binding) []byte {
	return m.sum(key, "binding", []byte(b.ID), []byte(b.InstanceID), []byte(b.CredentialType), []byte(b.SecretID), b.SecretHash,
		b.CertFingerprint, []byte(b.CertSubject), []byte(b.CertIssuer), []byte(b.CertPEM), []byte(strconv.FormatBool(b.CertPinned)), b.Parameters)
}

// user is the MAC of a user's identity and password hash.
func (m *rowMAC) user(key []byte, u storage.User) []byte {
	attrs, _ := json.Marshal(u.Attributes)
	return m.sum(key, "user", []byte(u.ID), []byte(u.ZoneID), []byte(u.Origin), []byte(u.UserName), u.PasswordHash, attrs)
}

// sealBinding returns b's MAC (nil without a key).
func (m *rowMAC) sealBinding(b storage.Binding) []byte {
	if k := m.key.Load(); k != nil {
		return m.binding(*k, b)
	}
	return nil
}

func (m *rowMAC) sealUser(u storage.User) []byte {
	if k := m.key.Load(); k != nil {
		return m.user(*k, u)
	}
	return nil
}

// bindingOK checks a binding row's MAC, logging a failure.
func (m *rowMAC) bindingOK(b storage.Binding) bool {
	k := m.key.Load()
	if k == nil || hmac.Equal(b.MAC, m.binding(*k, b)) {
		return true
	}
	m.reject("binding", b.ID)
	return false
}

func (m *rowMAC) userOK(u storage.User) bool {
	k := m.key.Load()
	if k == nil || hmac.Equal(u.MAC, m.user(*k, u)) {
		return true
	}
	m.reject("user", u.ID)
	return false
}

func (m *rowMAC) reject(kind, id string) {
	m.forged.Add(1)
	if log := m.log.Load(); log != nil {
		log.Error("a "+kind+" row in the database fails its integrity check (changed or inserted without the master key); it authenticates nothing", kind+"_id", id)
	}
}

// errForgedRow marks a row that failed its check; list skips it.
var errForgedRow = errors.New("row fails its integrity check")

// ForgedRows returns how many rows failed their check so far.
func (s *Store) ForgedRows() int64 { return s.macs.forged.Load() }

// rowMACsSetting names the settings row that records that every row of
// the database carries a MAC.
const rowMACsSetting = "row_macs"

// SealRows sets the key of the credential rows' MACs and logger. The first
// time it runs on a database (the first start of a version with row
// MACs), it seals the rows an older version wrote, once; from then on, a
// row without a valid MAC is refused.
func (s *Store) SealRows(ctx context.Context, key []byte, log *slog.Logger) error {
	if len(key) < 32 {
		return errors.New("sqlstore: the row MAC key must have 32 bytes")
	}
	k := append([]byte(nil), key...)
	s.macs.log.Store(log)
	err := s.sealOlderRows(ctx, k, log)
	if err != nil {
		return fmt.Errorf("sealing credential rows: %w", err)
	}
	s.macs.key.Store(&k)
	return nil
}

// sealOlderRows gives the rows without a MAC one, in one write
// transaction, unless the settings say it was done before.
func (s *Store) sealOlderRows(ctx context.Context, k []byte, log *slog.Logger) error {
	t, err := s.b.beginWrite(ctx)
	if err != nil {
		return err
	}
	defer t.rollback(ctx)
	var v string
	err = t.queryRow(ctx, `SELECT value FROM settings WHERE name = $1`, rowMACsSetting).Scan(&v)
	if err == nil {
		return nil
	}
	if !errors.Is(err, errNoRows) {
		return err
	}
	bs, err := list(ctx, t, scanBindingRows, `SELECT `+bindingCols+` FROM bindings WHERE mac IS NULL`)
	if err != nil {
		return err
	}
	for _, b := range bs {
		if _, err := t.exec(ctx, `UPDATE bindings SET mac = $1 WHERE id = $2`, s.macs.binding(k, b), b.ID); err != nil {
			return err
		}
	}
	us, err := list(ctx, t, func(rs rows) (storage.User, error) { return scanUser(rs) }, `SELECT `+userCols+` FROM users WHERE mac IS NULL`)
	if err != nil {
		return err
	}
	for _, u := range us {
		if _, err := t.exec(ctx, `UPDATE users SET mac = $1 WHERE id = $2`, s.macs.user(k, u), u.ID); err != nil {
			return err
		}
	}
	if _, err := t.exec(ctx, `INSERT INTO settings (name, value) VALUES ($1, $2)`, rowMACsSetting, "1"); err != nil {
		return err
	}
	if err := t.commit(ctx); err != nil {
		return err
	}
	if len(bs)+len(us) > 0 && log != nil {
		log.Info("sealed the credential rows of an older version", "bindings", len(bs), "users", len(us))
	}
	return nil
}
