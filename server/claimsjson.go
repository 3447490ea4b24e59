package server

import (
	"encoding/json"
	"slices"
	"strconv"
)

// appendClientClaims appends the JSON of a client_credentials token's
// claims, byte for byte what json.Marshal(c) writes (TestClientClaimsJSON
// and FuzzClientClaimsJSON compare them), without reflection: it is the
// one encoding every client_credentials token needs.
func appendClientClaims(b []byte, c *claims) []byte {
	b = append(b, `{"jti":`...)
	b = appendJSONString(b, c.JTI)
	b = append(b, `,"ext_attr":{"enhancer":`...)
	b = appendJSONString(b, c.ExtAttr.Enhancer)
	b = append(b, `,"subaccountid":`...)
	b = appendJSONString(b, c.ExtAttr.SubaccountID)
	b = append(b, `,"zdn":`...)
	b = appendJSONString(b, c.ExtAttr.ZDN)
	b = append(b, `},"sub":`...)
	b = appendJSONString(b, c.Sub)
	b = append(b, `,"authorities":`...)
	b = appendJSONStrings(b, c.Authorities)
	b = append(b, `,"scope":`...)
	b = appendJSONStrings(b, c.Scope)
	b = append(b, `,"client_id":`...)
	b = appendJSONString(b, c.ClientID)
	b = append(b, `,"cid":`...)
	b = appendJSONString(b, c.CID)
	b = append(b, `,"azp":`...)
	b = appendJSONString(b, c.AZP)
	b = append(b, `,"grant_type":`...)
	b = appendJSONString(b, c.GrantType)
	b = append(b, `,"rev_sig":`...)
	b = appendJSONString(b, c.RevSig)
	b = append(b, `,"iat":`...)
	b = strconv.AppendInt(b, c.IAT, 10)
	b = append(b, `,"exp":`...)
	b = strconv.AppendInt(b, c.Exp, 10)
	b = append(b, `,"iss":`...)
	b = appendJSONString(b, c.Iss)
	b = append(b, `,"zid":`...)
	b = appendJSONString(b, c.ZID)
	if len(c.AZAttr) > 0 {
		b = append(b, `,"az_attr":{`...)
		keys := make([]string, 0, len(c.AZAttr))
		for k := range c.AZAttr {
			keys = append(keys, k)
		}
		slices.Sort(keys) // json.Marshal's order for a map
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, k)
			b = append(b, ':')
			b = appendJSONString(b, c.AZAttr[k])
		}
		b = append(b, '}')
	}
	b = append(b, `,"aud":`...)
	b = appendJSONStrings(b, c.Aud)
	if c.Cnf != nil {
		b = append(b, `,"cnf":{"x5t#S256":`...)
		b = appendJSONString(b, c.Cnf.X5tS256)
		b = append(b, '}')
	}
	return append(b, '}')
}

// appendJSONStrings appends a string slice as json.Marshal writes it
// (null for nil).
func appendJSONStrings(b []byte, v []string) []byte {
	if v == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, s := range v {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, s)
	}
	return append(b, ']')
}

// appendJSONString appends s as a JSON string, as json.Marshal writes it:
// printable ASCII other than '"', '\\' and the HTML characters '<', '>'
// and '&' is copied; a string with anything else (rare in claims) is
// left to json.Marshal.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always marshals
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
