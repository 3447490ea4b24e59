// Package scopes holds the xs-security.json model, its validation, and the
// resolution of XSUAA variables and grants into runtime scope names.
package scopes
