// Package version reports which talon this is.
package version

import (
	"runtime"
	"runtime/debug"
)

// Version is the release version of this source tree, reported by builds
// that were not stamped with one.
const Version = "0.1.0-dev"

// stamped is the release version set at link time by `make release` (and by
// tests that build a talon of a given version):
//
//	-ldflags "-X github.com/talonclaw/talon/internal/version.stamped=v1.2.3"
//
// Nothing assigns it at run time.
var stamped string

// Current is this binary's version: the stamped release version, else
// Version.
func Current() string {
	if stamped != "" {
		return stamped
	}
	return Version
}

// Info describes the running binary.
type Info struct {
	Version string `json:"version"`
	Commit  string `json:"commit,omitempty"`
	Go      string `json:"go"`
	OS      string `json:"os"`
	Arch    string `json:"arch"`
}

// Get returns the version of the running binary, with the VCS revision when
// the build recorded one.
func Get() Info {
	in := Info{Version: Current(), Go: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				in.Commit = s.Value[:12]
			}
		}
	}
	return in
}
