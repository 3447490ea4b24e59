package keys

import (
	"bytes"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// Benchmarks of the two RS256 signers side by side, RSA-2048, all cores:
//
//	go test ./keys -run '^$' -bench Sign -benchtime 3s
//
// BenchmarkSignGo and BenchmarkSignOpenSSL time one signature (SHA-256 of a
// token-sized signing input plus PKCS#1 v1.5); BenchmarkSignJWS/<backend>
// a whole Signer.Sign (go-jose header, base64, signature). "sigs/s" is the
// rate over all goroutines. BenchmarkSignOpenSSL is skipped in builds
// without OpenSSL (CGO_ENABLED=0 or -tags xsuaa_nossl).

// benchPayload is about the size of an XSUAA client-credentials token's
// signing input.
var benchPayload = bytes.Repeat([]byte("eyJhbGciOiJSUzI1NiJ9"), 45)

func benchSigner(b *testing.B, backend string) {
	priv, der := mustTestKey(b)
	s, ok := backends(b, priv, der)[backend]
	if !ok {
		b.Skipf("this build has no %s signer (CGO_ENABLED=0 or -tags xsuaa_nossl)", backend)
	}
	if err := selfTest(s, &priv.PublicKey); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.SignPayload(benchPayload, jose.RS256); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sigs/s")
}

// BenchmarkSignGo signs with crypto/rsa.
func BenchmarkSignGo(b *testing.B) { benchSigner(b, BackendGo) }

// BenchmarkSignOpenSSL signs with OpenSSL's libcrypto.
func BenchmarkSignOpenSSL(b *testing.B) { benchSigner(b, BackendOpenSSL) }

// BenchmarkSignJWS runs Signer.Sign with each backend this build has.
func BenchmarkSignJWS(b *testing.B) {
	priv, der := mustTestKey(b)
	have := backends(b, priv, der)
	for _, name := range []string{BackendGo, BackendOpenSSL} {
		bs, ok := have[name]
		if !ok {
			continue
		}
		b.Run(name, func(b *testing.B) {
			k := &SigningKey{KID: "bench", Private: priv, signer: bs}
			s := &Signer{}
			s.set.Store(&keySet{active: k, all: []*SigningKey{k}})
			payload := benchPayload[:600]
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := s.Sign(payload, "https://bench.test/token_keys"); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sigs/s")
		})
	}
}
