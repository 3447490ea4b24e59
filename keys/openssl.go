//go:build cgo && !xsuaa_nossl

// This file is the project's whole binding to OpenSSL's libcrypto (3.x): it
// loads an RSA private key once and signs SHA-256 digests with PKCS#1 v1.5
// padding, about 2.7 times as fast as crypto/rsa. No maintained Go wrapper
// of libcrypto is available to this project, so this small in-tree binding
// is used instead and kept small enough to review at once. Its rules:
//
//   - Three C helpers below, plus EVP_PKEY_get_size, EVP_PKEY_free,
//     EVP_PKEY_CTX_free and ERR_error_string_n called directly.
//   - Every buffer crosses with an explicit length; C writes only within it.
//   - C never retains a Go pointer: Go memory is passed only for the length
//     of a call (the helpers are declared noescape and nocallback), and Go
//     holds only C pointers, which it frees itself.
//   - OpenSSL's error queue is per thread and a goroutine may change thread
//     between calls, so a helper that fails reads the error code and clears
//     the queue before returning; Go turns the code into an error.
//   - One EVP_PKEY per signing key, from its PKCS#8 DER at load; signing
//     contexts (EVP_PKEY_CTX, one per concurrent signature, reused) are
//     bound to it; all are freed by close (key retired, Signer.Close) or, as
//     a safety net, by a runtime cleanup. OpenSSL 3 allows concurrent
//     signing with one EVP_PKEY through separate contexts.
//
// Builds without cgo, or with -tags xsuaa_nossl, leave this file out and
// sign with crypto/rsa (openssl_nossl.go). Building it needs libcrypto's
// headers (Debian: libssl-dev); running it needs libcrypto.so.3 (libssl3).

package keys

/*
#cgo LDFLAGS: -lcrypto
#cgo noescape xs_load_rsa
#cgo nocallback xs_load_rsa
#cgo noescape xs_new_ctx
#cgo nocallback xs_new_ctx
#cgo noescape xs_sign
#cgo nocallback xs_sign

#include <openssl/opensslv.h>
#if OPENSSL_VERSION_NUMBER < 0x30000000L
#error "the OpenSSL token signer needs OpenSSL 3; build with -tags xsuaa_nossl to sign with Go's crypto/rsa"
#endif
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

// xs_error returns the newest code on this thread's error queue and clears it.
static unsigned long xs_error(void) {
	unsigned long e = ERR_peek_last_error();
	ERR_clear_error();
	return e;
}

// xs_load_rsa decodes the DER private key der[0:der_len] (PKCS#8) into *out.
// Returns 1; 0 on an OpenSSL error (code in *err); -1 if the key is not RSA;
// -2 if bytes follow the key.
static int xs_load_rsa(const unsigned char *der, long der_len, EVP_PKEY **out, unsigned long *err) {
	const unsigned char *p = der;
	EVP_PKEY *k;

	*out = NULL;
	*err = 0;
	ERR_clear_error();
	k = d2i_AutoPrivateKey(NULL, &p, der_len);
	if (k == NULL) {
		*err = xs_error();
		return 0;
	}
	if (p != der + der_len) {
		EVP_PKEY_free(k);
		return -2;
	}
	if (EVP_PKEY_get_base_id(k) != EVP_PKEY_RSA) {
		EVP_PKEY_free(k);
		return -1;
	}
	*out = k;
	return 1;
}

// xs_new_ctx makes *out a context that signs SHA-256 digests with k,
// PKCS#1 v1.5 padding. Returns 1, or 0 with the OpenSSL error in *err.
static int xs_new_ctx(EVP_PKEY *k, EVP_PKEY_CTX **out, unsigned long *err) {
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, k, NULL);

	*out = NULL;
	*err = 0;
	if (c == NULL) {
		*err = xs_error();
		return 0;
	}
	if (EVP_PKEY_sign_init(c) != 1 ||
	    EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PADDING) != 1 ||
	    EVP_PKEY_CTX_set_signature_md(c, EVP_sha256()) != 1) {
		*err = xs_error();
		EVP_PKEY_CTX_free(c);
		return 0;
	}
	*out = c;
	return 1;
}

// xs_sign signs digest[0:digest_len] with c into sig[0:sig_cap] and stores
// the signature's length in *sig_len. Returns 1, or 0 with the error in *err.
// A context may sign any number of times, one signature at a time.
static int xs_sign(EVP_PKEY_CTX *c, const unsigned char *digest, size_t digest_len,
                   unsigned char *sig, size_t sig_cap, size_t *sig_len, unsigned long *err) {
	size_t n = sig_cap;

	*sig_len = 0;
	*err = 0;
	if (EVP_PKEY_sign(c, sig, &n, digest, digest_len) != 1) {
		*err = xs_error();
		return 0;
	}
	*sig_len = n;
	return 1;
}
*/
import "C"

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"unsafe"

	jose "github.com/go-jose/go-jose/v4"
)

// maxIdleCtxs bounds the signing contexts kept per key between signatures;
// more concurrent signatures make short-lived extra contexts.
const maxIdleCtxs = 64

// sslKey is one RSA private key in libcrypto. It holds no Go pointers that C
// sees, and nothing of it is reachable from C.
type sslKey struct {
	mu   sync.RWMutex         // held for reading while signing, for writing by free
	pkey *C.EVP_PKEY          // nil once freed
	ctxs chan *C.EVP_PKEY_CTX // idle signing contexts bound to pkey
	size int                  // signature length in bytes (the modulus size)
}

// opensslSigner is the rsaSigner backed by an sslKey.
type opensslSigner struct {
	key     *sslKey
	pub     *jose.JSONWebKey
	cleanup runtime.Cleanup
}

// newOpenSSLSigner loads the PKCS#8 DER private key pkcs8 (OpenSSL copies
// it) into libcrypto; pub is the matching public key with its kid.
func newOpenSSLSigner(pkcs8 []byte, pub *jose.JSONWebKey) (rsaSigner, error) {
	if len(pkcs8) == 0 {
		return nil, errors.New("openssl: empty private key")
	}
	var (
		pkey *C.EVP_PKEY
		code C.ulong
	)
	switch rc := C.xs_load_rsa((*C.uchar)(unsafe.Pointer(&pkcs8[0])), C.long(len(pkcs8)), &pkey, &code); rc {
	case 1:
	case -1:
		return nil, errors.New("openssl: the private key is not an RSA key")
	case -2:
		return nil, errors.New("openssl: trailing data after the private key")
	default:
		return nil, sslError("decode private key", code)
	}
	k := &sslKey{pkey: pkey, size: int(C.EVP_PKEY_get_size(pkey)), ctxs: make(chan *C.EVP_PKEY_CTX, maxIdleCtxs)}
	if k.size <= 0 {
		k.free()
		return nil, errors.New("openssl: cannot tell the key's signature size")
	}
	s := &opensslSigner{key: k, pub: pub}
	s.cleanup = runtime.AddCleanup(s, (*sslKey).free, k) // in case close is never called
	return s, nil
}

func (s *opensslSigner) Public() *jose.JSONWebKey        { return s.pub }
func (s *opensslSigner) Algs() []jose.SignatureAlgorithm { return rs256 }
func (s *opensslSigner) backend() string                 { return BackendOpenSSL }

func (s *opensslSigner) close() {
	s.cleanup.Stop()
	s.key.free()
}

func (s *opensslSigner) SignPayload(payload []byte, alg jose.SignatureAlgorithm) ([]byte, error) {
	if alg != jose.RS256 {
		return nil, jose.ErrUnsupportedAlgorithm
	}
	digest := sha256.Sum256(payload)
	sig, err := s.key.sign(&digest)
	runtime.KeepAlive(s) // no cleanup while signing (free would wait anyway)
	return sig, err
}

// sign returns the PKCS#1 v1.5 signature of a SHA-256 digest.
func (k *sslKey) sign(digest *[sha256.Size]byte) ([]byte, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.pkey == nil {
		return nil, errSignerClosed
	}
	var (
		ctx  *C.EVP_PKEY_CTX
		code C.ulong
	)
	select {
	case ctx = <-k.ctxs:
	default:
		if C.xs_new_ctx(k.pkey, &ctx, &code) != 1 {
			return nil, sslError("set up RSA signing", code)
		}
	}
	sig := make([]byte, k.size)
	var n C.size_t
	if C.xs_sign(ctx, (*C.uchar)(unsafe.Pointer(&digest[0])), C.size_t(len(digest)),
		(*C.uchar)(unsafe.Pointer(&sig[0])), C.size_t(len(sig)), &n, &code) != 1 {
		C.EVP_PKEY_CTX_free(ctx) // its state is unknown: do not reuse it
		return nil, sslError("sign", code)
	}
	select {
	case k.ctxs <- ctx:
	default:
		C.EVP_PKEY_CTX_free(ctx)
	}
	if int(n) != len(sig) {
		return nil, fmt.Errorf("openssl: signature of %d bytes, want %d", int(n), len(sig))
	}
	return sig, nil
}

// free releases the contexts and the key; signing afterwards fails.
// It waits for signatures in progress and is idempotent.
func (k *sslKey) free() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.pkey == nil {
		return
	}
	for drained := false; !drained; {
		select {
		case c := <-k.ctxs:
			C.EVP_PKEY_CTX_free(c)
		default:
			drained = true
		}
	}
	C.EVP_PKEY_free(k.pkey)
	k.pkey = nil
}

// sslError turns an OpenSSL error code into a Go error.
func sslError(op string, code C.ulong) error {
	if code == 0 {
		return fmt.Errorf("openssl: %s failed", op)
	}
	buf := make([]byte, 256)
	C.ERR_error_string_n(code, (*C.char)(unsafe.Pointer(&buf[0])), C.size_t(len(buf)))
	if i := bytes.IndexByte(buf, 0); i >= 0 {
		buf = buf[:i]
	}
	return fmt.Errorf("openssl: %s: %s", op, buf)
}
