// Package xsuaa is the root of an open-source server compatible with SAP
// BTP's Authorization and Trust Management service (XSUAA). It holds the
// artefacts shared by the whole module, such as the JSON schema of the
// application security descriptor (xs-security.json).
package xsuaa

import _ "embed"

// SecuritySchema is the JSON Schema (draft 2020-12) of the application
// security descriptor, xs-security.json, as published in
// xs-security.schema.json at the root of this module. Package scopes
// validates descriptors against it; treat it as read-only.
//
//go:embed xs-security.schema.json
var SecuritySchema []byte
