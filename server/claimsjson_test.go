package server

import (
	"bytes"
	"encoding/json"
	"testing"
)

// clientClaimsCases are claims with what JSON must escape, a nil and an
// empty slice, az_attr and cnf.
var clientClaimsCases = []*claims{
	{JTI: "0123456789abcdef0123456789abcdef", ExtAttr: extAttr{Enhancer: "XSUAA", SubaccountID: "zone-1", ZDN: "provider"},
		Sub: "sb-orders!t1", Authorities: []string{"orders!t1.Read", "uaa.resource"}, Scope: []string{"orders!t1.Read", "uaa.resource"},
		ClientID: "sb-orders!t1", CID: "sb-orders!t1", AZP: "sb-orders!t1", GrantType: "client_credentials", RevSig: "a7035f17",
		IAT: 1796164445, Exp: 1796165345, Iss: "https://provider.localhost:8443/oauth/token", ZID: "zone-1",
		Aud: []string{"orders!t1", "uaa", "sb-orders!t1"}},
	{JTI: "j", Sub: "sb-x", Authorities: nil, Scope: []string{}, Aud: []string{"sb-x"}, IAT: -1, Exp: 0,
		AZAttr: map[string]string{"z": "last", "a": "<b>&\"quoted\"\\", "m": "ünïcödé \u2028 \x01 \xff"},
		Cnf:    &confirmation{X5tS256: "abc_-DEF"}},
	{JTI: `"`, ExtAttr: extAttr{Enhancer: "<script>", SubaccountID: "\t", ZDN: "é"}, Sub: "a\u2029b", Iss: "&", ZID: "\x7f",
		Authorities: []string{"", "x\ny"}, Scope: nil, Aud: nil, AZAttr: map[string]string{}},
}

// TestClientClaimsJSON checks that appendClientClaims writes exactly what
// json.Marshal writes.
func TestClientClaimsJSON(t *testing.T) {
	for i, c := range clientClaimsCases {
		want, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendClientClaims([]byte("prefix"), c); !bytes.Equal(got, append([]byte("prefix"), want...)) {
			t.Errorf("case %d:\n got %s\nwant prefix%s", i, got, want)
		}
	}
}

// FuzzClientClaimsJSON compares appendClientClaims with json.Marshal on
// arbitrary strings.
func FuzzClientClaimsJSON(f *testing.F) {
	f.Add("0123456789abcdef", "sb-orders!t1", "orders!t1.Read", "key", "<v>&", "thumb", int64(1796164445))
	f.Add("\"", "\\", "\x00", "\u2028", "\xff\xfe", "", int64(-1))
	f.Fuzz(func(t *testing.T, jti, id, scope, k, v, thumb string, iat int64) {
		c := &claims{JTI: jti, ExtAttr: extAttr{Enhancer: "XSUAA", SubaccountID: k, ZDN: v}, Sub: id,
			Authorities: []string{scope, v}, Scope: []string{scope}, ClientID: id, CID: id, AZP: id, GrantType: "client_credentials",
			RevSig: thumb, IAT: iat, Exp: iat + 1, Iss: v, ZID: k, AZAttr: map[string]string{k: v, v: k}, Aud: []string{id}}
		if thumb != "" {
			c.Cnf = &confirmation{X5tS256: thumb}
		}
		want, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendClientClaims(nil, c); !bytes.Equal(got, want) {
			t.Fatalf("\n got %s\nwant %s", got, want)
		}
	})
}
