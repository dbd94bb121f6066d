//go:build !unix

package gateway

// openFileLimit is unknown here; the configured caps apply unchanged.
func openFileLimit() uint64 { return 0 }
