package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openxsuaa/xsuaa/keys/keystest"
)

// malformedRow is one malformed request and the answer it must get.
type malformedRow struct {
	name   string
	method string
	path   string // with query; under the HTTP listener
	// header: the broker's credentials, version and JSON content type
	// are set for /v2/ paths, a form content type otherwise; a value
	// here replaces them, "" removes one.
	header map[string]string
	body   any // string, []byte, an io.Reader (sent chunked) or a JSON value
	// proxied rows come from 127.0.0.1, the trusted proxy; all others
	// from a fresh loopback address. certHeader is the proxy's
	// --client-cert-header (the rows go to a server of that format).
	proxied    bool
	certHeader string
	want       int
	desc       string // part of the error description
	// gone is a broker path that must answer 404 afterwards: nothing was
	// half-written.
	gone  string
	check func(t *testing.T) // more checks, afterwards
}

// TestMalformedInput sends malformed broker bodies, token requests,
// headers, certificates and descriptors to a real server (started with
// --trusted-proxy 127.0.0.1/32) and checks each answer: the expected 4xx,
// the protocol's JSON error shape ({"error","description"} for the
// broker, {"error","error_description"} for OAuth) with a description
// naming the problem, and nothing half-written. Rows that fail client
// authentication come from distinct source addresses or use distinct
// client ids, so that throttling of failed authentications does not
// answer for them.
func TestMalformedInput(t *testing.T) {
	dir := t.TempDir()
	ext := keystest.NewCA(t, "Malformed Client CA")
	caFile := filepath.Join(dir, "client-ca.pem")
	if err := os.WriteFile(caFile, []byte(ext.PEM()), 0o644); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, "", "--trusted-proxy", "127.0.0.1/32", "--client-ca", caFile, "--client-cert-header", "envoy")
	// A server for each of the other forwarded certificate formats.
	byFormat := map[string]*testServer{"envoy": s}
	for _, f := range []string{"gorouter", "rfc9440"} {
		byFormat[f] = startServer(t, "", "--trusted-proxy", "127.0.0.1/32", "--client-cert-header", f)
	}
	s.provision("mf", "mf-app", fmt.Sprintf(x5Descriptor, "mfapp"))
	_, good := s.bind("mf", "mf-secret", map[string]any{"credential-type": "binding-secret"})
	updDesc := `{"xsappname":"mfupd","scopes":[{"name":"$XSAPPNAME.Read"}]}`
	s.provision("mf-upd", "mf-upd-app", updDesc)

	// Certificate material.
	now := time.Now()
	leaf, leafPEM := ext.Issue(t, "mf-client", now.Add(-time.Hour), now.Add(time.Hour))
	keyPEMText := keystest.KeyPEM(t, leaf)
	csrKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csrDER, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "csr"}}, csrKey)
	if err != nil {
		t.Fatal(err)
	}
	csrPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csrDER}))
	garbageDER := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("not DER at all, just bytes")}))
	leafB64 := base64.StdEncoding.EncodeToString(leaf.Leaf.Raw)

	inst := func(id string) string { return "/v2/service_instances/" + id }
	bindPath := func(id string) string { return "/v2/service_instances/mf/service_bindings/" + id }
	provision := func(desc any) map[string]any {
		return map[string]any{"service_id": serviceID, "plan_id": planAppID, "organization_guid": "org", "space_guid": "space", "parameters": desc}
	}
	provisionRaw := func(extra string) string {
		return `{"service_id":"` + serviceID + `","plan_id":"` + planAppID + `","organization_guid":"org","space_guid":"space"` + extra + `}`
	}
	bindBody := func(params any) map[string]any {
		return map[string]any{"service_id": serviceID, "plan_id": planAppID, "parameters": params}
	}
	x509Bind := func(cert any) map[string]any {
		return bindBody(map[string]any{"credential-type": "x509", "x509": map[string]any{"certificate": cert}})
	}
	tokenForm := func(kv ...string) string {
		v := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Add(kv[i], kv[i+1])
		}
		return v.Encode()
	}
	basic := func(s string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(s)) }
	// certRow is a token request from the trusted proxy with a forwarded
	// certificate header and a client id of its own.
	certRow := func(name string, hdr map[string]string, desc string) malformedRow {
		id := "sb-mf-" + strings.NewReplacer(" ", "-", ",", "").Replace(name) + "!t1"
		format, _, _ := strings.Cut(name, " ")
		if format == "rfc" {
			format = "rfc9440"
		}
		return malformedRow{name: "forwarded certificate: " + name, method: "POST", path: "/oauth/token", header: hdr, proxied: true, certHeader: format,
			body: tokenForm("grant_type", "client_credentials", "client_id", id), want: 401, desc: desc}
	}
	deep := strings.Repeat("[", 20000) + strings.Repeat("]", 20000)
	deepObject := strings.Repeat(`{"a":`, 5000) + "1" + strings.Repeat("}", 5000)
	bigPad := strings.Repeat("a", 100<<10)

	rows := []malformedRow{
		// Broker bodies.
		{name: "provision: trailing comma", method: "PUT", path: inst("mf-b1"), body: provisionRaw(`,"parameters":{"xsappname":"mfb1"},`), want: 400, desc: "malformed JSON body", gone: inst("mf-b1")},
		{name: "provision: data after the object", method: "PUT", path: inst("mf-b2"), body: provisionRaw(`,"parameters":{"xsappname":"mfb2"}`) + ` {}`, want: 400, desc: "unexpected data after the JSON object", gone: inst("mf-b2")},
		{name: "provision: organization_guid is a number", method: "PUT", path: inst("mf-b3"), body: `{"service_id":"` + serviceID + `","plan_id":"` + planAppID + `","organization_guid":7,"space_guid":"s","parameters":{"xsappname":"mfb3"}}`, want: 400, desc: `"organization_guid" must be a string`, gone: inst("mf-b3")},
		{name: "provision: context is an array", method: "PUT", path: inst("mf-b4"), body: provisionRaw(`,"context":[1],"parameters":{"xsappname":"mfb4"}`), want: 400, desc: "context must be a JSON object", gone: inst("mf-b4")},
		{name: "provision: parameters is a string", method: "PUT", path: inst("mf-b5"), body: provision("xsappname"), want: 400, desc: "the descriptor must be an object, not a string", gone: inst("mf-b5")},
		{name: "provision: parameters is an array", method: "PUT", path: inst("mf-b6"), body: provision([]any{map[string]any{"xsappname": "mfb6"}}), want: 400, desc: "the descriptor must be an object, not an array", gone: inst("mf-b6")},
		{name: "provision: body over 2 MiB", method: "PUT", path: inst("mf-b7"), body: provisionRaw(`,"parameters":{"xsappname":"mfb7","description":"` + strings.Repeat("a", 2<<20) + `"}`), want: 413, desc: "larger than 2097152 bytes", gone: inst("mf-b7")},
		{name: "provision: parameters nested 20000 deep", method: "PUT", path: inst("mf-b8"), body: provisionRaw(`,"parameters":{"xsappname":"mfb8","x":` + deep + `}`), want: 400, desc: "nests deeper than 32 levels", gone: inst("mf-b8")},
		{name: "provision: descriptor field nested 5000 deep", method: "PUT", path: inst("mf-b9"), body: provisionRaw(`,"parameters":{"xsappname":"mfb9","scopes":[{"name":"$XSAPPNAME.a","description":` + deepObject + `}]}`), want: 400, desc: "nests deeper than 32 levels", gone: inst("mf-b9")},
		{name: "provision: bad UTF-8 in a string", method: "PUT", path: inst("mf-b10"), body: provisionRaw(`,"parameters":{"xsappname":"mfb10","description":"caf` + "\xe9" + `"}`), want: 400, desc: "not valid UTF-8", gone: inst("mf-b10")},
		{name: "provision: bad UTF-8 outside strings", method: "PUT", path: inst("mf-b11"), body: provisionRaw(`,"parameters":{"xsappname":"mfb11"}` + "\xff"), want: 400, desc: "not valid UTF-8", gone: inst("mf-b11")},
		{name: "provision: instance id is not UTF-8", method: "PUT", path: inst("%FF%FE"), body: provision(map[string]any{"xsappname": "mfb12"}), want: 400, desc: "instance_id",
			check: func(t *testing.T) { // the xsappname is still free
				if code, body := s.broker("PUT", inst("mf-b12"), provision(map[string]any{"xsappname": "mfb12"})); code != 201 {
					t.Errorf("instance id is not UTF-8: the xsappname of the rejected provision is not free: %d %v", code, body)
				}
			}},
		{name: "bind: binding id with a line feed", method: "PUT", path: bindPath("mf%0Aevil"), body: bindBody(nil), want: 400, desc: "binding_id"},
		{name: "bind: parameters is an array", method: "PUT", path: bindPath("mf-p1"), body: bindBody([]any{1}), want: 400, desc: "parameters: not a JSON object", gone: bindPath("mf-p1")},
		{name: "bind: parameters is a number", method: "PUT", path: bindPath("mf-p2"), body: bindBody(42), want: 400, desc: "parameters: not a JSON object", gone: bindPath("mf-p2")},
		{name: "bind: x509 is a string", method: "PUT", path: bindPath("mf-p3"), body: bindBody(map[string]any{"credential-type": "x509", "x509": "yes"}), want: 400, desc: "x509: must be an object", gone: bindPath("mf-p3")},
		{name: "bind: xsuaa nested twice", method: "PUT", path: bindPath("mf-p4"), body: bindBody(map[string]any{"xsuaa": map[string]any{"xsuaa": map[string]any{}}}), want: 400, desc: "nested twice", gone: bindPath("mf-p4")},
		{name: "bind: credential-type is a number", method: "PUT", path: bindPath("mf-p5"), body: bindBody(map[string]any{"credential-type": 509}), want: 400, desc: "credential-type: must be a string", gone: bindPath("mf-p5")},
		{name: "bind: bind_resource is a string", method: "PUT", path: bindPath("mf-p6"), body: map[string]any{"service_id": serviceID, "plan_id": planAppID, "bind_resource": "app"}, want: 400, desc: `"bind_resource" must be an object`, gone: bindPath("mf-p6")},
		{name: "bind: key-length is a float", method: "PUT", path: bindPath("mf-p7"), body: bindBody(map[string]any{"credential-type": "x509", "x509": map[string]any{"key-length": 2048.5}}), want: 400, desc: "x509.key-length: must be a whole number", gone: bindPath("mf-p7")},

		// Token requests.
		{name: "token: a multipart body", method: "POST", path: "/oauth/token", header: map[string]string{"Content-Type": "multipart/form-data; boundary=x"},
			body: "--x\r\nContent-Disposition: form-data; name=\"grant_type\"\r\n\r\nclient_credentials\r\n--x\r\nContent-Disposition: form-data; name=\"grant_type\"\r\n\r\npassword\r\n--x--\r\n",
			want: 415, desc: "must be application/x-www-form-urlencoded"},
		{name: "token: a JSON body", method: "POST", path: "/oauth/token", header: map[string]string{"Content-Type": "application/json"},
			body: `{"grant_type":"client_credentials"}`, want: 415, desc: `not "application/json"`},
		{name: "token: a body without a content type", method: "POST", path: "/oauth/token", header: map[string]string{"Content-Type": ""},
			body: "grant_type=client_credentials", want: 415, desc: "must be application/x-www-form-urlencoded"},
		{name: "token: client_secret in the URL", method: "POST", path: "/oauth/token?client_secret=" + url.QueryEscape(good.ClientSecret),
			body: tokenForm("grant_type", "client_credentials", "client_id", good.ClientID), want: 400, desc: "client_secret must not be sent in the URL"},
		{name: "token: password in the URL", method: "POST", path: "/oauth/token?password=pw",
			body: tokenForm("grant_type", "password", "client_id", good.ClientID, "client_secret", good.ClientSecret, "username", "u"), want: 400, desc: "password must not be sent in the URL"},
		{name: "token: refresh_token in the URL", method: "POST", path: "/oauth/token?refresh_token=x-r&grant_type=refresh_token",
			body: tokenForm("client_id", good.ClientID, "client_secret", good.ClientSecret), want: 400, desc: "refresh_token must not be sent in the URL"},
		{name: "token: semicolon separator", method: "POST", path: "/oauth/token", body: "grant_type=client_credentials;client_id=x", want: 400, desc: "semicolon"},
		{name: "token: bad percent-encoding in the query", method: "POST", path: "/oauth/token?client_id=%G0", body: "grant_type=client_credentials", want: 400, desc: "malformed request"},
		{name: "token: grant_type twice", method: "POST", path: "/oauth/token", body: tokenForm("grant_type", "client_credentials", "grant_type", "password", "client_id", good.ClientID, "client_secret", good.ClientSecret), want: 400, desc: `"grant_type" is included more than once`},
		{name: "token: client_id twice", method: "POST", path: "/oauth/token", body: tokenForm("grant_type", "client_credentials", "client_id", good.ClientID, "client_id", "sb-other!t1", "client_secret", good.ClientSecret), want: 400, desc: `"client_id" is included more than once`},
		{name: "token: client_secret twice in the query", method: "POST", path: "/oauth/token?client_secret=a&client_secret=b", body: tokenForm("grant_type", "client_credentials", "client_id", good.ClientID), want: 400, desc: `"client_secret" is included more than once`},
		{name: "token: body over 64 KiB, chunked", method: "POST", path: "/oauth/token", body: io.MultiReader(strings.NewReader("grant_type=client_credentials&pad="), strings.NewReader(bigPad)), want: 413, desc: "larger than 64 KiB"},
		{name: "token: empty body", method: "POST", path: "/oauth/token", body: "", want: 400, desc: "Missing grant type"},
		{name: "token: empty grant_type", method: "POST", path: "/oauth/token", body: tokenForm("grant_type", "", "client_id", good.ClientID, "client_secret", good.ClientSecret), want: 400, desc: "Missing grant type"},
		{name: "token: Basic with bad base64", method: "POST", path: "/oauth/token", header: map[string]string{"Authorization": "Basic !!!not-base64!!!"}, body: tokenForm("grant_type", "client_credentials"), want: 401, desc: "not the base64 of client_id:client_secret"},
		{name: "token: Basic without a colon", method: "POST", path: "/oauth/token", header: map[string]string{"Authorization": basic("sb-mf-nocolon")}, body: tokenForm("grant_type", "client_credentials"), want: 401, desc: "not the base64 of client_id:client_secret"},
		{name: "token: Basic without credentials", method: "POST", path: "/oauth/token", header: map[string]string{"Authorization": "Basic"}, body: tokenForm("grant_type", "client_credentials"), want: 401, desc: "holds no credentials"},
		{name: "token: Bearer instead of Basic", method: "POST", path: "/oauth/token", header: map[string]string{"Authorization": "Bearer abc"}, body: tokenForm("grant_type", "client_credentials", "client_id", good.ClientID, "client_secret", good.ClientSecret), want: 401, desc: `scheme "Bearer" is not supported`},
		{name: "token: client_id with NUL", method: "POST", path: "/oauth/token", body: tokenForm("grant_type", "client_credentials", "client_id", "sb-mf\x00!t1", "client_secret", "x"), want: 400, desc: "client_id contains the control character U+0000"},
		{name: "token: client_id with an escape", method: "POST", path: "/oauth/token", body: tokenForm("grant_type", "client_credentials", "client_id", "sb-\x1b[31mmf!t1", "client_secret", "x"), want: 400, desc: "client_id contains the control character U+001B"},
		{name: "token: client_id not UTF-8", method: "POST", path: "/oauth/token", body: "grant_type=client_credentials&client_secret=x&client_id=sb-%FF!t1", want: 400, desc: "client_id is not valid UTF-8"},
		{name: "token: Basic client id with a line feed", method: "POST", path: "/oauth/token", header: map[string]string{"Authorization": basic("sb-mf\n!t1:secret")}, body: tokenForm("grant_type", "client_credentials"), want: 400, desc: "Basic credentials contains the control character U+000A"},

		// Headers.
		{name: "token: header block over 64 KiB", method: "POST", path: "/oauth/token", header: map[string]string{"X-Pad": bigPad}, body: tokenForm("grant_type", "client_credentials"), want: 431, desc: "more than the 65536 this server accepts"},
		{name: "broker: header block over 64 KiB", method: "PUT", path: inst("mf-h1"), header: map[string]string{"X-Pad": bigPad}, body: provision(map[string]any{"xsappname": "mfh1"}), want: 431, desc: "more than the 65536 this server accepts", gone: inst("mf-h1")},
		{name: "broker: X-Broker-API-Version is not a version", method: "GET", path: "/v2/catalog", header: map[string]string{"X-Broker-API-Version": "latest"}, want: 412, desc: `"latest" is not supported`},
		{name: "broker: X-Broker-API-Version 2.x", method: "PUT", path: inst("mf-h2"), header: map[string]string{"X-Broker-API-Version": "2.x"}, body: provision(map[string]any{"xsappname": "mfh2"}), want: 412, desc: `"2.x" is not supported`, gone: inst("mf-h2")},
		{name: "broker: X-Broker-API-Version 2.17.1", method: "GET", path: "/v2/catalog", header: map[string]string{"X-Broker-API-Version": "2.17.1"}, want: 412, desc: `"2.17.1" is not supported`},
		{name: "broker: Authorization with bad base64", method: "PUT", path: inst("mf-h3"), header: map[string]string{"Authorization": "Basic %%%"}, body: provision(map[string]any{"xsappname": "mfh3"}), want: 401, desc: "Basic credentials", gone: inst("mf-h3")},
		{name: "broker: Bearer instead of Basic", method: "GET", path: "/v2/catalog", header: map[string]string{"Authorization": "Bearer x"}, want: 401, desc: "Basic credentials"},

		// Certificates in the x509.certificate bind parameter.
		{name: "bind certificate: garbage", method: "PUT", path: bindPath("mf-c1"), body: x509Bind("hello"), want: 400, desc: "x509.certificate: not a PEM certificate", gone: bindPath("mf-c1")},
		{name: "bind certificate: truncated PEM", method: "PUT", path: bindPath("mf-c2"), body: x509Bind(leafPEM[:len(leafPEM)/2]), want: 400, desc: "x509.certificate: not a PEM certificate", gone: bindPath("mf-c2")},
		{name: "bind certificate: PEM of a private key", method: "PUT", path: bindPath("mf-c3"), body: x509Bind(keyPEMText), want: 400, desc: `"PRIVATE KEY", not a CERTIFICATE`, gone: bindPath("mf-c3")},
		{name: "bind certificate: PEM of a CSR", method: "PUT", path: bindPath("mf-c4"), body: x509Bind(csrPEM), want: 400, desc: `"CERTIFICATE REQUEST", not a CERTIFICATE`, gone: bindPath("mf-c4")},
		{name: "bind certificate: CERTIFICATE block that is not DER", method: "PUT", path: bindPath("mf-c5"), body: x509Bind(garbageDER), want: 400, desc: "x509.certificate: not a PEM certificate: certificate 1", gone: bindPath("mf-c5")},
		{name: "bind certificate: data after the PEM", method: "PUT", path: bindPath("mf-c6"), body: x509Bind(leafPEM + "trailing"), want: 400, desc: "unexpected data after PEM certificate 1", gone: bindPath("mf-c6")},
		{name: "bind certificate: a number", method: "PUT", path: bindPath("mf-c7"), body: x509Bind(12345), want: 400, desc: "x509.certificate: must be a string", gone: bindPath("mf-c7")},
		{name: "bind certificate: the CA's own", method: "PUT", path: bindPath("mf-c8"), body: x509Bind(ext.PEM()), want: 400, desc: "is a CA certificate", gone: bindPath("mf-c8")},
		{name: "bind certificate: empty", method: "PUT", path: bindPath("mf-c9"), body: x509Bind("  "), want: 400, desc: "x509.certificate: is empty", gone: bindPath("mf-c9")},

		// Forwarded certificate headers from the trusted proxy.
		certRow("envoy Cert garbage", map[string]string{"X-Forwarded-Client-Cert": `Hash=00;Cert="garbage"`}, "X-Forwarded-Client-Cert Cert: neither PEM nor base64 DER"),
		certRow("envoy unterminated quote", map[string]string{"X-Forwarded-Client-Cert": `Cert="-----BEGIN`}, "unterminated quoted value"),
		certRow("envoy pair without value", map[string]string{"X-Forwarded-Client-Cert": `Hash;Cert`}, "is not key=value"),
		certRow("envoy private key", map[string]string{"X-Forwarded-Client-Cert": `Cert="` + url.PathEscape(keyPEMText) + `"`}, `PEM block "PRIVATE KEY" is not a CERTIFICATE`),
		certRow("envoy chain of 9", map[string]string{"X-Forwarded-Client-Cert": `Chain="` + url.PathEscape(strings.Repeat(leafPEM, 9)) + `"`}, "more than 8 certificates"),
		certRow("gorouter bad base64", map[string]string{"X-Forwarded-Client-Cert": "@@@@"}, "not the base64 DER of a certificate"),
		certRow("gorouter base64 of garbage", map[string]string{"X-Forwarded-Client-Cert": base64.StdEncoding.EncodeToString([]byte("garbage DER"))}, "X-Forwarded-Client-Cert: x509:"),
		certRow("gorouter truncated", map[string]string{"X-Forwarded-Client-Cert": leafB64[:len(leafB64)/2]}, "X-Forwarded-Client-Cert"),
		certRow("rfc 9440 no colons", map[string]string{"Client-Cert": leafB64}, "Client-Cert: not a structured-field byte sequence"),
		certRow("rfc 9440 bad base64", map[string]string{"Client-Cert": ":!!!:"}, "Client-Cert: bad base64"),
		certRow("rfc 9440 unclosed", map[string]string{"Client-Cert": ":" + leafB64}, "lacks its closing ':'"),
		certRow("rfc 9440 bad chain item", map[string]string{"Client-Cert": ":" + leafB64 + ":", "Client-Cert-Chain": ":" + leafB64 + ":, :AAAA:"}, "Client-Cert-Chain item 2"),

		// Descriptors.
		{name: "descriptor: scopes is an object", method: "PUT", path: inst("mf-d1"), body: provision(map[string]any{"xsappname": "mfd1", "scopes": map[string]any{"name": "x"}}), want: 400, desc: "scopes", gone: inst("mf-d1")},
		{name: "descriptor: duplicate scope", method: "PUT", path: inst("mf-d2"), body: provision(map[string]any{"xsappname": "mfd2", "scopes": []any{map[string]any{"name": "$XSAPPNAME.A"}, map[string]any{"name": "$XSAPPNAME.A"}}}), want: 400, desc: "duplicate", gone: inst("mf-d2")},
		{name: "descriptor: role template with an unknown scope", method: "PUT", path: inst("mf-d3"), body: provision(map[string]any{"xsappname": "mfd3", "role-templates": []any{map[string]any{"name": "R", "scope-references": []any{"$XSAPPNAME.Nope"}}}}), want: 400, desc: "Nope", gone: inst("mf-d3")},
		{name: "descriptor: xsappname too long", method: "PUT", path: inst("mf-d4"), body: provision(map[string]any{"xsappname": strings.Repeat("x", 200)}), want: 400, desc: "xsappname", gone: inst("mf-d4")},
		{name: "descriptor: unknown tenant-mode", method: "PUT", path: inst("mf-d5"), body: provision(map[string]any{"xsappname": "mfd5", "tenant-mode": "multi"}), want: 400, desc: "tenant-mode", gone: inst("mf-d5")},
		{name: "descriptor: unknown $XSSERVICENAME", method: "PUT", path: inst("mf-d6"), body: provision(map[string]any{"xsappname": "mfd6", "scopes": []any{map[string]any{"name": "$XSAPPNAME.A", "grant-as-authority-to-apps": []any{"$XSSERVICENAME(no-such-instance)"}}}}), want: 400, desc: "no-such-instance", gone: inst("mf-d6")},
		{name: "descriptor: token-validity is a string", method: "PUT", path: inst("mf-d7"), body: provision(map[string]any{"xsappname": "mfd7", "oauth2-configuration": map[string]any{"token-validity": "3600"}}), want: 400, desc: "token-validity", gone: inst("mf-d7")},
		{name: "descriptor: unknown credential type", method: "PUT", path: inst("mf-d8"), body: provision(map[string]any{"xsappname": "mfd8", "oauth2-configuration": map[string]any{"credential-types": []any{"magic"}}}), want: 400, desc: "credential-types", gone: inst("mf-d8")},
		{name: "descriptor: over 1 MiB", method: "PUT", path: inst("mf-d9"), body: provision(map[string]any{"xsappname": "mfd9", "description": strings.Repeat("d", 1<<20)}), want: 400, desc: "at most 1048576 bytes", gone: inst("mf-d9")},
		{name: "descriptor: no xsappname", method: "PUT", path: inst("mf-d10"), body: provision(map[string]any{"scopes": []any{}}), want: 400, desc: "xsappname", gone: inst("mf-d10")},
		{name: "descriptor: duplicate key", method: "PUT", path: inst("mf-d11"), body: provisionRaw(`,"parameters":{"xsappname":"mfd11","xsappname":"mfd11b"}`), want: 400, desc: `duplicate field "xsappname"`, gone: inst("mf-d11")},
		{name: "descriptor: bad update leaves the instance as it was", method: "PATCH", path: inst("mf-upd"), body: map[string]any{"service_id": serviceID, "parameters": map[string]any{"xsappname": "mfupd", "scopes": []any{map[string]any{"name": "$XSAPPNAME.Read", "description": 5}}}}, want: 400, desc: "scopes[0].description",
			check: func(t *testing.T) {
				code, body := s.broker("GET", inst("mf-upd"), nil)
				var want any
				json.Unmarshal([]byte(updDesc), &want)
				if got, _ := json.Marshal(body["parameters"]); code != 200 || !jsonEqual(body["parameters"], want) {
					t.Errorf("bad update: afterwards %d, parameters %s, want %s", code, got, updDesc)
				}
			}},
	}

	for _, row := range rows {
		target := s
		if row.certHeader != "" {
			target = byFormat[row.certHeader]
		}
		code, resp, hdr := sendMalformed(t, target, row)
		descKey := "error_description"
		if strings.HasPrefix(row.path, "/v2/") {
			descKey = "description"
		}
		errCode, _ := resp["error"].(string)
		desc, _ := resp[descKey].(string)
		if code != row.want || errCode == "" || desc == "" || !strings.Contains(desc, row.desc) {
			got := fmt.Sprint(resp)
			t.Errorf("%s: %d %s; want %d with error and %s containing %q", row.name, code, got[:min(len(got), 300)], row.want, descKey, row.desc)
		}
		if ct := hdr.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("%s: Content-Type %q", row.name, ct)
		}
		if row.gone != "" {
			if code, body := s.broker("GET", row.gone, nil); code != 404 {
				t.Errorf("%s: after the rejected request, GET %s = %d %v; want 404", row.name, row.gone, code, body)
			}
		}
		if row.check != nil {
			row.check(t)
		}
	}
	t.Logf("%d malformed requests sent", len(rows))

	// The server is still healthy, and the good credentials still work.
	s.secretToken(good)
}

// sendMalformed sends one row's request and returns the status, the JSON
// body (the test fails if it is not a JSON object) and the headers.
func sendMalformed(t *testing.T, s *testServer, row malformedRow) (int, map[string]any, http.Header) {
	t.Helper()
	var rd io.Reader
	var length int64 // -1: chunked
	switch b := row.body.(type) {
	case nil:
	case string:
		rd, length = strings.NewReader(b), int64(len(b))
	case []byte:
		rd, length = bytes.NewReader(b), int64(len(b))
	case io.Reader:
		rd, length = b, -1
	default:
		j, _ := json.Marshal(b)
		rd, length = bytes.NewReader(j), int64(len(j))
	}
	req, err := http.NewRequest(row.method, s.httpURL+row.path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = length
	if strings.HasPrefix(row.path, "/v2/") {
		req.SetBasicAuth(brokerUser, brokerPass)
		req.Header.Set("X-Broker-API-Version", "2.17")
		req.Header.Set("Content-Type", "application/json")
	} else {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range row.header {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header[http.CanonicalHeaderKey(k)] = []string{v}
		}
	}
	var src net.IP
	if !row.proxied {
		src = nextSourceAddr()
	}
	c := s.clientFrom(src, nil)
	defer c.CloseIdleConnections()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", row.method, row.path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s %s: %d, body is not a JSON object: %.300q", row.method, row.path, resp.StatusCode, b)
	}
	return resp.StatusCode, m, resp.Header
}
