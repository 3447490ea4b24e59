// Package clients is the token path's read model: the Index of every
// service instance's OAuth client, keyed by (zone, client id), with the
// secret hashes and certificates of its bindings, and client
// authentication against it (a secret, or a certificate chain); and the
// users and role collections of every zone, from which it computes what a
// user token carries (users.go).
//
// The index is built from stored rows by one function, at start and then
// for exactly the instances the store's change feed names (sync.go), so
// every replica on one database serves the same clients. Persistence is
// package storage; the write side that validates broker requests and
// writes rows is package registry.
package clients
