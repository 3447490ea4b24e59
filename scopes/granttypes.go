package scopes

import (
	"fmt"
	"slices"
	"strings"
)

// OAuth grant types, as oauth2-configuration.grant-types and the token
// endpoint's grant_type name them.
const (
	GrantClientCredentials = "client_credentials"
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantPassword          = "password"
	GrantJWTBearer         = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	GrantUserToken         = "user_token"
)

// SupportedGrantTypes are the grants this server implements, in the order
// the discovery document lists them. An instance whose descriptor names
// no grant-types may use all of them, as XSUAA's application plan does.
var SupportedGrantTypes = []string{
	GrantClientCredentials, GrantAuthorizationCode, GrantRefreshToken,
	GrantPassword, GrantJWTBearer, GrantUserToken,
}

// knownUnsupportedGrantTypes are grant types XSUAA descriptors use that
// this server accepts in a descriptor but does not implement: a client
// that asks for them gets unsupported_grant_type.
var knownUnsupportedGrantTypes = []string{
	"urn:ietf:params:oauth:grant-type:saml2-bearer", "implicit", "client_x509",
}

// grantTypeProblem returns what is wrong with a grant-types entry, or "".
func grantTypeProblem(gt string) string {
	if slices.Contains(SupportedGrantTypes, gt) || slices.Contains(knownUnsupportedGrantTypes, gt) {
		return ""
	}
	return fmt.Sprintf("unknown grant type %q; the grant types are %s", gt,
		strings.Join(append(slices.Clone(SupportedGrantTypes), knownUnsupportedGrantTypes...), ", "))
}

// AllowsGrantType reports whether the app's clients may use grant type gt:
// any supported one unless the descriptor lists grant-types.
func (a *App) AllowsGrantType(gt string) bool {
	if a.GrantTypes == nil {
		return slices.Contains(SupportedGrantTypes, gt)
	}
	return slices.Contains(a.GrantTypes, gt)
}
