//go:build !cgo || xsuaa_nossl

package keys

// wantBackend is the backend a sound key gets in this build.
const wantBackend = BackendGo
