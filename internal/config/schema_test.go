package config

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(Schema()))
	if err != nil {
		t.Fatalf("schema is not JSON: %v", err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("talon.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("talon.schema.json")
	if err != nil {
		t.Fatalf("schema does not compile: %v", err)
	}
	return sch
}

func TestSchema(t *testing.T) {
	sch := compileSchema(t)
	good := map[string][]byte{
		"example":      mustRead(t, "testdata/example.json5"),
		"default file": DefaultFile(testToken),
		"empty":        []byte("{}"),
		"valid edge":   mustRead(t, "testdata/errors/valid_edge.json5"),
	}
	for name, src := range good {
		tree, err := ParseTree(src)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := sch.Validate(tree); err != nil {
			t.Errorf("%s does not validate against the schema: %v", name, err)
		}
	}
	bad := []string{
		`{gateway: {prot: 1}}`,
		`{gateway: {port: 70000}}`,
		`{gateway: {port: 1.5}}`,
		`{gateway: {bind: "opne"}}`,
		`{gateway: {bind: "custom"}}`,
		`{gateway: {auth: {token: 5}}}`,
		`{channels: {telegram: {dmPolicy: "opne"}}}`,
		`{channels: {signal: {account: "555"}}}`,
		`{models: {providers: {"Bad Id": {}}}}`,
		`{models: {providers: {p: {models: [{name: "no id"}]}}}}`,
		`{tools: {exec: {safeBins: "jq"}}}`,
		`{gateway: {controlUi: {allowedOrigins: ["*"]}}}`,
		`{budgets: {perDayUsd: -1}}`,
		`{logging: null}`,
	}
	for _, src := range bad {
		tree, err := ParseTree([]byte(src))
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if err := sch.Validate(tree); err == nil {
			t.Errorf("schema accepts %s", src)
		}
		if _, err := Validate(tree, nil); err == nil {
			t.Errorf("Validate accepts %s", src)
		}
	}
	s := string(Schema())
	for _, want := range []string{`"writeOnly": true`, `"additionalProperties": false`, `"default": 18789`, `"$schema": "https://json-schema.org/draft/2020-12/schema"`} {
		if !strings.Contains(s, want) {
			t.Errorf("schema lacks %s", want)
		}
	}
	if !bytes.Equal(Schema(), Schema()) {
		t.Error("schema output is not stable")
	}
}

// TestDocs keeps docs/configuration.md equal to Markdown(). Regenerate with
// go test ./internal/config -run TestDocs -update
func TestDocs(t *testing.T) {
	const path = "../../docs/configuration.md"
	want := Markdown()
	if *update {
		if err := os.MkdirAll("../../docs", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (generate it with: go test ./internal/config -run TestDocs -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is out of date with the config types; regenerate it with: go test ./internal/config -run TestDocs -update", path)
	}
	for _, s := range []string{"`gateway.port`", "`channels.telegram.dmPolicy`", "`models.providers.<id>.models[].cost.input`", "$TALON_CONFIG_PATH", "live", "restart"} {
		if !bytes.Contains(want, []byte(s)) {
			t.Errorf("docs lack %s", s)
		}
	}
}
