package release

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// cycloneDXSchema compiles the vendored official CycloneDX 1.6 schema.
func cycloneDXSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	for _, name := range []string{"bom-1.6.schema.json", "spdx.schema.json", "jsf-0.82.schema.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", "cyclonedx", name))
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.AddResource("http://cyclonedx.org/schema/"+name, doc); err != nil {
			t.Fatal(err)
		}
	}
	s, err := c.Compile("http://cyclonedx.org/schema/bom-1.6.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func validateSBOM(t *testing.T, s *jsonschema.Schema, b []byte) {
	t.Helper()
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(inst); err != nil {
		t.Fatalf("SBOM does not validate against CycloneDX 1.6: %v", err)
	}
}

func TestSBOMValidatesAgainstCycloneDXSchema(t *testing.T) {
	s := cycloneDXSchema(t)
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		t.Fatal("no build info in the test binary")
	}
	b, err := SBOM(bi, "v1.2.3")
	if err != nil {
		t.Fatal(err)
	}
	validateSBOM(t, s, b)

	// A build with a replaced module and a stamped version.
	synth := &debug.BuildInfo{
		GoVersion: "go1.26.8", Path: "github.com/talonclaw/talon/cmd/talon",
		Main: debug.Module{Path: "github.com/talonclaw/talon", Version: "(devel)"},
		Deps: []*debug.Module{
			{Path: "golang.org/x/net", Version: "v0.61.0", Sum: "h1:" + strings.Repeat("A", 43) + "="},
			{Path: "example.com/old", Version: "v1.0.0", Replace: &debug.Module{Path: "example.com/new", Version: "v1.0.1", Sum: "h1:" + strings.Repeat("B", 43) + "="}},
		},
		Settings: []debug.BuildSetting{{Key: "-ldflags", Value: "-buildid= -X github.com/talonclaw/talon/internal/version.stamped=v9.9.9"}, {Key: "GOOS", Value: "linux"}},
	}
	b, err = SBOM(synth, "v9.9.9")
	if err != nil {
		t.Fatal(err)
	}
	validateSBOM(t, s, b)
	var doc struct {
		Metadata struct {
			Component struct{ Version string }
		}
		Components []struct {
			Name, Version, Purl string
			Hashes              []struct{ Alg, Content string }
			Licenses            []struct{ License struct{ ID string } }
		}
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Metadata.Component.Version != "v9.9.9" {
		t.Errorf("main component version %q, want v9.9.9", doc.Metadata.Component.Version)
	}
	byName := map[string]int{}
	for i, c := range doc.Components {
		byName[c.Name] = i
	}
	net := doc.Components[byName["golang.org/x/net"]]
	if net.Purl != "pkg:golang/golang.org/x/net@v0.61.0?type=module" || len(net.Hashes) != 1 || len(net.Hashes[0].Content) != 64 || len(net.Licenses) != 1 || net.Licenses[0].License.ID != "BSD-3-Clause" {
		t.Errorf("x/net component: %+v", net)
	}
	if _, ok := byName["example.com/new"]; !ok {
		t.Error("the replacement module is missing")
	}
	if _, ok := byName["stdlib"]; !ok {
		t.Error("the standard library is missing")
	}
	// Deterministic.
	again, _ := SBOM(synth, "v9.9.9")
	if !bytes.Equal(b, again) {
		t.Error("two SBOMs of the same build differ")
	}
}

// TestSBOMSchemaIsLive: the schema check rejects a document that breaks it,
// so a passing validation means something.
func TestSBOMSchemaIsLive(t *testing.T) {
	s := cycloneDXSchema(t)
	for _, bad := range []string{
		`{"bomFormat":"CycloneDX","specVersion":"1.6","components":[{"type":"library","name":"x","hashes":[{"alg":"SHA-256","content":"h1:zz"}]}]}`,
		`{"bomFormat":"SPDX","specVersion":"1.6"}`,
		`{"bomFormat":"CycloneDX","specVersion":"1.6","unknown":1}`,
	} {
		inst, _ := jsonschema.UnmarshalJSON(strings.NewReader(bad))
		if err := s.Validate(inst); err == nil {
			t.Errorf("schema accepted %s", bad)
		}
	}
}
