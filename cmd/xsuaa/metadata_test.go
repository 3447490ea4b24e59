package main

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// TestAuthorizationServerMetadata: a generic OAuth client that knows only
// the server's issuer finds the RFC 8414 metadata at both places the RFC
// allows for an issuer with a path, and gets a token from the token
// endpoint it names with golang.org/x/oauth2's client credentials flow;
// the metadata agrees with the OpenID document.
func TestAuthorizationServerMetadata(t *testing.T) {
	s := startServer(t, "")
	s.provision("meta", "meta", `{"xsappname":"meta","scopes":[{"name":"$XSAPPNAME.Read"}],"authorities":["$XSAPPNAME.Read"]}`)
	_, c := s.bind("meta", "meta-1", nil)
	issuer := s.httpsURL + "/oauth/token"
	fetch := func(path string) map[string]any {
		t.Helper()
		req, _ := http.NewRequest("GET", s.httpsURL+path, nil)
		code, body, h := s.do(req)
		var doc map[string]any
		if code != 200 || json.Unmarshal(body, &doc) != nil || h.Get("Content-Type") == "" {
			t.Fatalf("%s: %d %s", path, code, body)
		}
		return doc
	}
	oidc := fetch("/.well-known/openid-configuration")
	for _, path := range []string{"/.well-known/oauth-authorization-server", "/.well-known/oauth-authorization-server/oauth/token"} {
		doc := fetch(path)
		// RFC 8414 §3.3: the issuer must be the one the client started from.
		if doc["issuer"] != issuer {
			t.Errorf("%s: issuer %v, want %s", path, doc["issuer"], issuer)
		}
		for _, k := range []string{"token_endpoint", "jwks_uri", "grant_types_supported", "token_endpoint_auth_methods_supported", "response_types_supported"} {
			if doc[k] == nil {
				t.Errorf("%s lacks %s", path, k)
			}
			if a, b := mustJSON(doc[k]), mustJSON(oidc[k]); a != b {
				t.Errorf("%s: %s = %s, but the OpenID document says %s", path, k, a, b)
			}
		}
		cc := clientcredentials.Config{ClientID: c.ClientID, ClientSecret: c.ClientSecret, TokenURL: doc["token_endpoint"].(string), AuthStyle: oauth2.AuthStyleInHeader}
		ctx := context.WithValue(context.Background(), oauth2.HTTPClient, s.client)
		tok, err := cc.Token(ctx)
		if err != nil {
			t.Fatalf("token through the metadata's token_endpoint: %v", err)
		}
		if _, claims := s.verify(tok.AccessToken); claims["iss"] != issuer {
			t.Errorf("token iss %v, want the metadata's issuer %s", claims["iss"], issuer)
		}
	}
}
