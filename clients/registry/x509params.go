package registry

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/openxsuaa/xsuaa/scopes"
)

// bindParams are the binding parameters this server understands. They
// come either at the top level, {"credential-type":"x509","x509":{…}}, or
// nested under "xsuaa" as reuse services that delegate to XSUAA send them.
type bindParams struct {
	CredentialType string
	X509           *x509Params
	// HideSecret is "hide-secret": leave clientsecret out of the
	// credentials (binding-secret and instance-secret only).
	HideSecret *bool
	// prefix is "" or "xsuaa.", for error messages that name the path.
	prefix string
}

// x509Params are the "x509" binding parameters; nil pointers are absent
// ones. The first three apply to certificates the server generates, the
// other four to self-managed ones.
type x509Params struct {
	KeyLength    *int
	Validity     *int
	ValidityType *string
	Certificate  *string
	Pinning      *bool
	EnsureUnique *bool
	HideCert     *bool
}

// x509Keys lists the keys of the x509 object, for error messages.
const x509Keys = "key-length, validity, validity-type (service-managed); certificate, certificate-pinning, ensure-uniqueness, hide-certificate (self-managed)"

// parseBindParams reads binding parameters. Unknown top-level keys are
// ignored as before; misplaced x509 keys and unknown keys inside "x509" are
// errors, so that a wrongly nested payload never silently becomes a secret
// binding.
func parseBindParams(raw json.RawMessage) (bindParams, error) {
	var p bindParams
	if err := scopes.CheckJSON(raw); err != nil {
		return p, opErr(ErrInvalid, "parameters: %v", err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil || top == nil {
		return p, opErr(ErrInvalid, "parameters: not a JSON object")
	}
	if inner, ok := top["xsuaa"]; ok {
		if len(top) > 1 {
			return p, opErr(ErrInvalid, "parameters: give the binding parameters either at the top level or nested under \"xsuaa\", not both")
		}
		top = nil
		if err := json.Unmarshal(inner, &top); err != nil || top == nil {
			return p, opErr(ErrInvalid, "parameters.xsuaa: not a JSON object")
		}
		p.prefix = "xsuaa."
	}
	for k, v := range top {
		switch k {
		case "credential-type":
			if err := json.Unmarshal(v, &p.CredentialType); err != nil {
				return p, opErr(ErrInvalid, "%scredential-type: must be a string such as \"x509\" or \"binding-secret\"", p.prefix)
			}
		case "hide-secret":
			b, err := boolParam(v)
			if err != nil {
				return p, opErr(ErrInvalid, "%shide-secret: %v", p.prefix, err)
			}
			p.HideSecret = b
		case "x509":
			x, err := parseX509Params(v, p.prefix)
			if err != nil {
				return p, err
			}
			p.X509 = x
		case "key-length", "validity", "validity-type", "certificate", "certificate-pinning", "ensure-uniqueness", "hide-certificate":
			return p, opErr(ErrInvalid, "%s%s: belongs inside the x509 object, as in {\"credential-type\":\"x509\",\"x509\":{%q:…}}", p.prefix, k, k)
		case "xsuaa":
			return p, opErr(ErrInvalid, "%sxsuaa: nested twice", p.prefix)
		}
	}
	return p, nil
}

func parseX509Params(v json.RawMessage, prefix string) (*x509Params, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(v, &m); err != nil || m == nil {
		return nil, opErr(ErrInvalid, "%sx509: must be an object with %s", prefix, x509Keys)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var x x509Params
	for _, k := range keys {
		var err error
		raw := m[k]
		switch k {
		case "key-length":
			x.KeyLength, err = intParam(raw)
		case "validity":
			x.Validity, err = intParam(raw)
		case "validity-type":
			x.ValidityType, err = stringParam(raw)
		case "certificate":
			x.Certificate, err = stringParam(raw)
		case "certificate-pinning":
			x.Pinning, err = boolParam(raw)
		case "ensure-uniqueness":
			x.EnsureUnique, err = boolParam(raw)
		case "hide-certificate":
			x.HideCert, err = boolParam(raw)
		default:
			return nil, opErr(ErrInvalid, "%sx509: unknown parameter %q; the known ones are %s", prefix, k, x509Keys)
		}
		if err != nil {
			return nil, opErr(ErrInvalid, "%sx509.%s: %v", prefix, k, err)
		}
	}
	return &x, nil
}

// intParam reads a JSON integer, also accepted as a string of digits
// ("2048"), which is how command-line tools often pass parameters.
func intParam(b json.RawMessage) (*int, error) {
	s := string(bytes.TrimSpace(b))
	if uq, err := strconv.Unquote(s); err == nil {
		s = strings.TrimSpace(uq)
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return nil, fmt.Errorf("must be a whole number, not %s", b)
	}
	return &n, nil
}

// boolParam reads a JSON boolean, also accepted as "true" or "false"
// (XSUAA's own examples quote them: "hide-secret": "true").
func boolParam(b json.RawMessage) (*bool, error) {
	var v bool
	switch string(bytes.TrimSpace(b)) {
	case "true", `"true"`:
		v = true
	case "false", `"false"`:
	default:
		return nil, fmt.Errorf("must be true or false, not %s", b)
	}
	return &v, nil
}

func stringParam(b json.RawMessage) (*string, error) {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("must be a string, not %s", b)
	}
	return &s, nil
}
