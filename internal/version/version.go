// Package version reports which talon this is.
package version

import (
	"runtime"
	"runtime/debug"
)

// Version is the release version of this source tree.
const Version = "0.1.0-dev"

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
	in := Info{Version: Version, Go: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				in.Commit = s.Value[:12]
			}
		}
	}
	return in
}
