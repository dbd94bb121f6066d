package release

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"runtime/debug"
	"sort"
	"strings"
)

// SBOM (CycloneDX 1.6 JSON) of a Go binary, made from the build information
// the Go linker embeds (runtime/debug.ReadBuildInfo for the running binary,
// debug/buildinfo.ReadFile for a release artifact of any platform). It is
// deterministic: no timestamp or random serial number, components sorted,
// so two builds of the same commit give the same SBOM.

type cdxBOM struct {
	BOMFormat    string          `json:"bomFormat"`
	SpecVersion  string          `json:"specVersion"`
	Version      int             `json:"version"`
	Metadata     cdxMetadata     `json:"metadata"`
	Components   []cdxComponent  `json:"components"`
	Dependencies []cdxDependency `json:"dependencies"`
}

type cdxMetadata struct {
	Tools      cdxTools      `json:"tools"`
	Component  cdxComponent  `json:"component"`
	Properties []cdxProperty `json:"properties,omitempty"`
}

type cdxTools struct {
	Components []cdxComponent `json:"components"`
}

type cdxComponent struct {
	Type       string        `json:"type"`
	BOMRef     string        `json:"bom-ref,omitempty"`
	Name       string        `json:"name"`
	Version    string        `json:"version,omitempty"`
	Purl       string        `json:"purl,omitempty"`
	Hashes     []cdxHash     `json:"hashes,omitempty"`
	Licenses   []cdxLicense  `json:"licenses,omitempty"`
	Properties []cdxProperty `json:"properties,omitempty"`
}

type cdxHash struct {
	Alg     string `json:"alg"`
	Content string `json:"content"`
}

type cdxLicense struct {
	License cdxLicenseID `json:"license"`
}

type cdxLicenseID struct {
	ID string `json:"id"`
}

type cdxProperty struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type cdxDependency struct {
	Ref       string   `json:"ref"`
	DependsOn []string `json:"dependsOn"`
}

// purl is the package URL of a Go module.
func purl(path, version string) string {
	return "pkg:golang/" + path + "@" + version + "?type=module"
}

// SBOM returns the CycloneDX JSON document for a binary with build info bi.
// version is the release version to record for the main module: a
// -trimpath build's info does not record the -ldflags that stamp it.
func SBOM(bi *debug.BuildInfo, version string) ([]byte, error) {
	if bi == nil {
		return nil, fmt.Errorf("release.SBOM: the binary carries no build information")
	}
	goVersion := strings.TrimPrefix(bi.GoVersion, "go")
	main := cdxComponent{Type: "application", Name: bi.Main.Path, Version: version, Purl: purl(bi.Main.Path, version)}
	main.BOMRef = main.Purl
	for _, s := range bi.Settings {
		switch s.Key {
		case "GOOS", "GOARCH", "CGO_ENABLED", "-trimpath", "-tags", "vcs.revision", "vcs.time", "vcs.modified":
			main.Properties = append(main.Properties, cdxProperty{Name: "go:build:" + s.Key, Value: s.Value})
		}
	}
	if l := moduleLicense(bi.Main.Path); l != "" {
		main.Licenses = []cdxLicense{{cdxLicenseID{l}}}
	}
	bom := cdxBOM{
		BOMFormat: "CycloneDX", SpecVersion: "1.6", Version: 1,
		Metadata: cdxMetadata{
			Tools:     cdxTools{Components: []cdxComponent{{Type: "application", Name: "talon version --sbom", Version: version}}},
			Component: main,
			Properties: []cdxProperty{
				{Name: "go:toolchain", Value: bi.GoVersion},
				{Name: "go:hashes", Value: "module hashes are the go.sum h1: directory hashes (SHA-256), in hex"},
			},
		},
	}
	std := cdxComponent{Type: "library", Name: "stdlib", Version: goVersion, Purl: "pkg:golang/stdlib@" + goVersion, Licenses: []cdxLicense{{cdxLicenseID{"BSD-3-Clause"}}}}
	std.BOMRef = std.Purl
	bom.Components = append(bom.Components, std)
	deps := []string{std.BOMRef}
	for _, d := range bi.Deps {
		m := d
		if d.Replace != nil {
			m = d.Replace
		}
		c := cdxComponent{Type: "library", Name: m.Path, Version: m.Version, Purl: purl(m.Path, m.Version)}
		c.BOMRef = c.Purl
		if h, ok := h1Hex(m.Sum); ok {
			c.Hashes = []cdxHash{{Alg: "SHA-256", Content: h}}
		}
		if l := moduleLicense(m.Path); l != "" {
			c.Licenses = []cdxLicense{{cdxLicenseID{l}}}
		}
		if d.Replace != nil {
			c.Properties = []cdxProperty{{Name: "go:replaces", Value: d.Path + "@" + d.Version}}
		}
		bom.Components = append(bom.Components, c)
		deps = append(deps, c.BOMRef)
	}
	sort.Slice(bom.Components, func(i, j int) bool { return bom.Components[i].BOMRef < bom.Components[j].BOMRef })
	sort.Strings(deps)
	// The build info records which modules are linked in, not who imports
	// whom, so the graph is one level deep: the binary depends on each.
	bom.Dependencies = []cdxDependency{{Ref: main.BOMRef, DependsOn: deps}}
	b, err := json.MarshalIndent(bom, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("release.SBOM: %w", err)
	}
	return append(b, '\n'), nil
}

// h1Hex turns a go.sum "h1:<base64 SHA-256>" into hex.
func h1Hex(sum string) (string, bool) {
	b64, ok := strings.CutPrefix(sum, "h1:")
	if !ok {
		return "", false
	}
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(b) != 32 {
		return "", false
	}
	return hex.EncodeToString(b), true
}
