// Package clients holds service instances, their bindings and the
// credentials bindings carry, the storage behind them (SQLite by default,
// behind the small Store interface), and the in-memory Registry that the
// token endpoint authenticates clients against without touching storage.
package clients
