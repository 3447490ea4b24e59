package server

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Headers in which TLS-terminating proxies forward the client certificate.
const (
	// headerXFCC is Envoy's and Istio's x-forwarded-client-cert
	// (Cert="<URL-encoded PEM>" in the first element), and also Cloud
	// Foundry gorouter's, whose value is the bare base64 of the DER.
	headerXFCC = "X-Forwarded-Client-Cert"
	// headerClientCert and headerClientCertChain are RFC 9440's:
	// ":<base64 DER>:" structured-field byte sequences.
	headerClientCert      = "Client-Cert"
	headerClientCertChain = "Client-Cert-Chain"
)

// maxForwardedChain bounds the certificates read from a forwarded chain.
const maxForwardedChain = 8

// parseClientCertHeader parses RFC 9440's Client-Cert value and, if not
// empty, its Client-Cert-Chain list: the leaf followed by intermediates.
func parseClientCertHeader(cert, chain string) ([]*x509.Certificate, error) {
	leafDER, err := sfBinary(strings.TrimSpace(cert))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", headerClientCert, err)
	}
	leaf, err := x509.ParseCertificate(leafDER)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", headerClientCert, err)
	}
	out := []*x509.Certificate{leaf}
	if strings.TrimSpace(chain) == "" {
		return out, nil
	}
	for i, item := range strings.Split(chain, ",") {
		if i+1 >= maxForwardedChain {
			return nil, fmt.Errorf("%s: more than %d certificates", headerClientCertChain, maxForwardedChain-1)
		}
		der, err := sfBinary(strings.TrimSpace(item))
		if err != nil {
			return nil, fmt.Errorf("%s item %d: %w", headerClientCertChain, i+1, err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("%s item %d: %w", headerClientCertChain, i+1, err)
		}
		out = append(out, c)
	}
	return out, nil
}

// sfBinary decodes an RFC 8941 byte sequence, ":<base64>:". Parameters
// after the closing colon (";k=v") are ignored.
func sfBinary(v string) ([]byte, error) {
	if len(v) < 2 || v[0] != ':' {
		return nil, errors.New("not a structured-field byte sequence (:<base64>:)")
	}
	end := strings.IndexByte(v[1:], ':')
	if end < 0 {
		return nil, errors.New("byte sequence lacks its closing ':'")
	}
	if rest := strings.TrimSpace(v[end+2:]); rest != "" && rest[0] != ';' {
		return nil, errors.New("unexpected data after the byte sequence")
	}
	b, err := base64.StdEncoding.DecodeString(v[1 : end+1])
	if err != nil {
		return nil, fmt.Errorf("bad base64: %w", err)
	}
	return b, nil
}

// CertHeader names the one header format in which the trusted proxy
// forwards a client's certificate (--client-cert-header). Real proxies
// sanitize only the header they set themselves, so every other
// certificate header is ignored, even from a trusted peer.
type CertHeader string

const (
	// CertHeaderNone: no forwarded certificate is trusted.
	CertHeaderNone CertHeader = ""
	// CertHeaderEnvoy: X-Forwarded-Client-Cert as Envoy and Istio set it,
	// comma-separated elements, one per proxy hop, of ';'-separated
	// key=value pairs. The last element is the one the nearest proxy (the
	// trusted one) appended; its Cert (URL-encoded PEM of the leaf) or
	// else the first certificate of its Chain is used, the rest of Chain
	// become intermediates. Hash, By, Subject, URI and DNS are ignored.
	CertHeaderEnvoy CertHeader = "envoy"
	// CertHeaderGorouter: X-Forwarded-Client-Cert as Cloud Foundry's
	// gorouter sets it (forwarded_client_cert: sanitize_set): the bare
	// base64 of the leaf's DER.
	CertHeaderGorouter CertHeader = "gorouter"
	// CertHeaderRFC9440: RFC 9440's Client-Cert and Client-Cert-Chain
	// (nginx, HAProxy, Apache with the right configuration).
	CertHeaderRFC9440 CertHeader = "rfc9440"
)

// CertHeaders lists the formats --client-cert-header accepts.
var CertHeaders = []CertHeader{CertHeaderEnvoy, CertHeaderGorouter, CertHeaderRFC9440}

// parseXFCC parses an X-Forwarded-Client-Cert value in the given format
// (CertHeaderEnvoy or CertHeaderGorouter).
func parseXFCC(v string, format CertHeader) ([]*x509.Certificate, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil, errors.New(headerXFCC + ": empty")
	}
	if format == CertHeaderGorouter {
		der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(v), ""))
		if err != nil {
			return nil, fmt.Errorf("%s: not the base64 DER of a certificate that gorouter sets: %w", headerXFCC, err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", headerXFCC, err)
		}
		return []*x509.Certificate{c}, nil
	}
	elem, err := xfccLastElement(v)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", headerXFCC, err)
	}
	var certPEM, chainPEM string
	for _, kv := range elem {
		switch strings.ToLower(kv[0]) {
		case "cert":
			certPEM = kv[1]
		case "chain":
			chainPEM = kv[1]
		}
	}
	if certPEM == "" && chainPEM == "" {
		return nil, fmt.Errorf("%s: the last element (the nearest proxy's) has no Cert or Chain (configure the proxy to forward the certificate, e.g. Envoy's set_current_client_cert_details: {cert: true})", headerXFCC)
	}
	var out []*x509.Certificate
	if certPEM != "" {
		certs, err := pemCerts(certPEM, 1)
		if err != nil {
			return nil, fmt.Errorf("%s Cert: %w", headerXFCC, err)
		}
		out = certs
	}
	if chainPEM != "" {
		chain, err := pemCerts(chainPEM, maxForwardedChain)
		if err != nil {
			return nil, fmt.Errorf("%s Chain: %w", headerXFCC, err)
		}
		if out == nil {
			out = chain
		} else {
			for _, c := range chain {
				if !c.Equal(out[0]) {
					out = append(out, c)
				}
			}
		}
	}
	if len(out) > maxForwardedChain {
		out = out[:maxForwardedChain]
	}
	return out, nil
}

// maxXFCCElements bounds the elements (proxy hops) of an Envoy value.
const maxXFCCElements = 16

// xfccLastElement returns the key/value pairs of the last element of an
// Envoy XFCC value.
func xfccLastElement(v string) ([][2]string, error) {
	var last [][2]string
	for n := 0; ; n++ {
		if n == maxXFCCElements {
			return nil, fmt.Errorf("more than %d elements", maxXFCCElements)
		}
		pairs, rest, err := xfccElement(v)
		if err != nil {
			return nil, fmt.Errorf("element %d: %w", n+1, err)
		}
		last = pairs
		if rest == "" {
			return last, nil
		}
		v = rest
	}
}

// xfccElement splits the first element of an Envoy XFCC value into
// key/value pairs, honouring double quotes (inside which ',', ';' and '='
// are literal and '\' escapes the next character), and returns what
// follows its ',' ("" if it is the last).
func xfccElement(v string) (pairs [][2]string, rest string, err error) {
	var key, val strings.Builder
	inKey, quoted, wasQuoted := true, false, false
	flush := func() error {
		k := strings.TrimSpace(key.String())
		value := val.String()
		if !wasQuoted {
			value = strings.TrimSpace(value)
		}
		if k == "" && value == "" && inKey {
			return nil
		}
		if inKey || k == "" {
			return fmt.Errorf("pair %d is not key=value", len(pairs)+1)
		}
		pairs = append(pairs, [2]string{k, value})
		key.Reset()
		val.Reset()
		inKey, wasQuoted = true, false
		return nil
	}
	for i := 0; i < len(v); i++ {
		ch := v[i]
		switch {
		case quoted && ch == '\\' && i+1 < len(v):
			i++
			val.WriteByte(v[i])
		case quoted && ch == '"':
			quoted = false
		case quoted:
			val.WriteByte(ch)
		case ch == '"' && !inKey && strings.TrimSpace(val.String()) == "":
			val.Reset()
			quoted, wasQuoted = true, true
		case ch == '=' && inKey:
			inKey = false
		case ch == ';':
			if err := flush(); err != nil {
				return nil, "", err
			}
		case ch == ',':
			if err := flush(); err != nil {
				return nil, "", err
			}
			if rest = v[i+1:]; strings.TrimSpace(rest) == "" {
				return nil, "", errors.New("an empty element after ','")
			}
			return pairs, rest, nil
		case inKey:
			key.WriteByte(ch)
		case wasQuoted:
			if ch != ' ' && ch != '\t' {
				return nil, "", fmt.Errorf("unexpected %q after a quoted value", ch)
			}
		default:
			val.WriteByte(ch)
		}
	}
	if quoted {
		return nil, "", errors.New("unterminated quoted value")
	}
	if err := flush(); err != nil {
		return nil, "", err
	}
	return pairs, "", nil
}

// pemCerts URL-decodes (without turning '+' into a space, which base64
// uses) and parses up to max PEM certificates. A value without PEM armour
// is taken as the base64 of one DER certificate, as some proxies send it.
func pemCerts(enc string, max int) ([]*x509.Certificate, error) {
	dec, err := url.PathUnescape(enc)
	if err != nil {
		return nil, fmt.Errorf("bad URL encoding: %w", err)
	}
	if !strings.Contains(dec, "-----BEGIN") {
		der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(dec), ""))
		if err != nil {
			return nil, errors.New("neither PEM nor base64 DER")
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, err
		}
		return []*x509.Certificate{c}, nil
	}
	// Form encoding turns the spaces of the armour into '+'.
	dec = strings.NewReplacer("BEGIN+CERTIFICATE", "BEGIN CERTIFICATE", "END+CERTIFICATE", "END CERTIFICATE").Replace(dec)
	var out []*x509.Certificate
	rest := []byte(dec)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("PEM block %q is not a CERTIFICATE", b.Type)
		}
		if len(out) == max {
			return nil, fmt.Errorf("more than %d certificates", max)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM certificate")
	}
	return out, nil
}
