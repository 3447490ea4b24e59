package server

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// BenchmarkTokenMTLSLoopback compares client authentications over one
// real TLS listener on 127.0.0.1, configured as xsuaa serve's HTTPS
// listener: a client secret in the body, and the binding's client
// certificate (tls_client_auth), both on keep-alive connections; and the
// certificate with a new TLS connection per token, to show what keep-alive
// saves. Compare with BenchmarkRSA2048Sign, the one signature per token.
//
//	go test ./server -run '^$' -bench TokenMTLSLoopback -benchmem
func BenchmarkTokenMTLSLoopback(b *testing.B) {
	m := newMTLSFixture(b)
	ts := m.tlsServer(b, m.srv)
	secretForm := m.tokenForm()
	certForm := url.Values{"grant_type": {"client_credentials"}, "client_id": {m.clientID}}.Encode()
	noKeepAlive := m.client(m.cert)
	noKeepAlive.Transport.(*http.Transport).DisableKeepAlives = true
	cases := []struct {
		name   string
		client *http.Client
		body   string
	}{
		{"secret", m.client(), secretForm},
		{"mtls", m.client(m.cert), certForm},
		{"mtls-new-connection", noKeepAlive, certForm},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := tc.client.Post(ts.URL+"/oauth/token", "application/x-www-form-urlencoded", strings.NewReader(tc.body))
					if err != nil {
						b.Fatal(err)
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						b.Fatalf("status %d", resp.StatusCode)
					}
				}
			})
		})
	}
}
