//go:build !linux

package cli

// releaseStartupPages is Linux-only; see startmem_linux.go.
func releaseStartupPages() int64 { return 0 }
