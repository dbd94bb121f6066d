package skills

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Limits of the SKILL.md format (the Agent Skills specification's, plus a
// bound on the frontmatter so a YAML document cannot be made expensive).
const (
	MaxNameLen          = 64
	MaxDescriptionLen   = 1024
	MaxCompatibilityLen = 500
	MaxFrontmatterBytes = 64 << 10
	MaxSkillMDBytes     = 1 << 20
)

// SkillFile is the name of a skill's main file.
const SkillFile = "SKILL.md"

// ErrNoFrontmatter is returned for a SKILL.md that does not start with a
// "---" line.
var ErrNoFrontmatter = errors.New("SKILL.md has no YAML frontmatter (it must start with a line \"---\")")

// Skill is one parsed SKILL.md.
type Skill struct {
	Name          string
	Description   string
	License       string
	Compatibility string
	// AllowedTools is the spec's experimental allowed-tools list.
	AllowedTools []string
	// Version is metadata.version (the Agent Skills way to version a
	// skill); bundles need one.
	Version string
	// Metadata is the frontmatter's metadata map as parsed.
	Metadata map[string]any
	// OpenClaw is metadata.openclaw (or the legacy metadata.clawdbot).
	OpenClaw *OpenClawMeta
	// Capabilities is metadata.talon.capabilities: what the skill may do.
	// A skill that declares nothing gets nothing.
	Capabilities Capabilities
	// Body is the Markdown after the frontmatter.
	Body string
	// Extra lists top-level frontmatter keys outside the specification
	// (kept for `skills info`; OpenClaw skills carry a few).
	Extra []string
}

// OpenClawMeta is OpenClaw's gating and install metadata.
type OpenClawMeta struct {
	Emoji      string        `json:"emoji,omitempty"`
	Homepage   string        `json:"homepage,omitempty"`
	Always     bool          `json:"always,omitempty"`
	SkillKey   string        `json:"skillKey,omitempty"`
	PrimaryEnv string        `json:"primaryEnv,omitempty"`
	OS         []string      `json:"os,omitempty"`
	Requires   Requires      `json:"requires"`
	Install    []InstallSpec `json:"install,omitempty"`
}

// Requires is what must be present for an OpenClaw skill to be eligible.
type Requires struct {
	Bins    []string `json:"bins,omitempty"`
	AnyBins []string `json:"anyBins,omitempty"`
	Env     []string `json:"env,omitempty"`
	Config  []string `json:"config,omitempty"`
}

// InstallSpec is one of OpenClaw's install recipes. Talon never runs them;
// the scanner reports those that download without a pinned hash.
type InstallSpec struct {
	ID      string   `json:"id,omitempty"`
	Kind    string   `json:"kind"`
	Label   string   `json:"label,omitempty"`
	Formula string   `json:"formula,omitempty"`
	Package string   `json:"package,omitempty"`
	Module  string   `json:"module,omitempty"`
	URL     string   `json:"url,omitempty"`
	SHA256  string   `json:"sha256,omitempty"`
	Bins    []string `json:"bins,omitempty"`
}

var (
	nameRe    = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
	versionRe = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$`)
)

// ValidName reports whether s is a valid skill name: 1–64 lowercase
// letters, digits and single hyphens, not starting or ending with one.
func ValidName(s string) bool { return len(s) <= MaxNameLen && nameRe.MatchString(s) }

// ValidVersion reports whether s can be a skill version (semver-like; no
// spaces, slashes or "@").
func ValidVersion(s string) bool { return versionRe.MatchString(s) }

// SplitFrontmatter separates a SKILL.md into its YAML frontmatter and body.
func SplitFrontmatter(data []byte) (front, body []byte, err error) {
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	if !bytes.HasPrefix(data, []byte("---\n")) && !bytes.HasPrefix(data, []byte("---\r\n")) {
		return nil, nil, ErrNoFrontmatter
	}
	rest := data[bytes.IndexByte(data, '\n')+1:]
	for off := 0; off <= len(rest); {
		nl := bytes.IndexByte(rest[off:], '\n')
		line := rest[off:]
		if nl >= 0 {
			line = rest[off : off+nl]
		}
		if string(bytes.TrimRight(line, "\r \t")) == "---" {
			front = rest[:off]
			if nl < 0 {
				return front, nil, nil
			}
			return front, rest[off+nl+1:], nil
		}
		if nl < 0 {
			break
		}
		off += nl + 1
	}
	return nil, nil, errors.New("SKILL.md frontmatter is not closed (add a line \"---\" after it)")
}

// Parse reads a SKILL.md. It checks the format (YAML, field types, sizes)
// but not the rules that depend on the folder (see Validate).
func Parse(data []byte) (*Skill, error) {
	if len(data) > MaxSkillMDBytes {
		return nil, fmt.Errorf("SKILL.md is %d bytes; the limit is %d", len(data), MaxSkillMDBytes)
	}
	if !utf8.Valid(data) {
		return nil, errors.New("SKILL.md is not valid UTF-8")
	}
	front, body, err := SplitFrontmatter(data)
	if err != nil {
		return nil, err
	}
	if len(front) > MaxFrontmatterBytes {
		return nil, fmt.Errorf("SKILL.md frontmatter is %d bytes; the limit is %d", len(front), MaxFrontmatterBytes)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(front, &doc); err != nil {
		return nil, fmt.Errorf("SKILL.md frontmatter: %v", err)
	}
	if countAliases(&doc) > 0 {
		return nil, errors.New("SKILL.md frontmatter uses YAML aliases; write the values out")
	}
	var raw map[string]any
	if err := doc.Decode(&raw); err != nil {
		return nil, fmt.Errorf("SKILL.md frontmatter: %v", err)
	}
	if raw == nil {
		return nil, errors.New("SKILL.md frontmatter is empty (it needs name and description)")
	}
	s := &Skill{Body: string(body)}
	str := func(key string) (string, error) {
		v, ok := raw[key]
		if !ok || v == nil {
			return "", nil
		}
		t, ok := v.(string)
		if !ok {
			return "", fmt.Errorf("SKILL.md: %s must be a string", key)
		}
		return t, nil
	}
	for _, f := range []struct {
		key string
		dst *string
	}{{"name", &s.Name}, {"description", &s.Description}, {"license", &s.License}, {"compatibility", &s.Compatibility}} {
		if *f.dst, err = str(f.key); err != nil {
			return nil, err
		}
	}
	switch v := raw["allowed-tools"].(type) {
	case nil:
	case string:
		s.AllowedTools = strings.Fields(v)
	case []any:
		for _, x := range v {
			t, ok := x.(string)
			if !ok {
				return nil, errors.New("SKILL.md: allowed-tools must be a string or a list of strings")
			}
			s.AllowedTools = append(s.AllowedTools, t)
		}
	default:
		return nil, errors.New("SKILL.md: allowed-tools must be a string or a list of strings")
	}
	for k := range raw {
		switch k {
		case "name", "description", "license", "compatibility", "metadata", "allowed-tools":
		default:
			s.Extra = append(s.Extra, k)
		}
	}
	sort.Strings(s.Extra)
	if err := s.parseMetadata(raw["metadata"]); err != nil {
		return nil, err
	}
	if v, ok := raw["version"].(string); ok && s.Version == "" {
		s.Version = v // a top-level version, as many ClawHub skills write it
	}
	return s, nil
}

// countAliases counts alias nodes (YAML's "billion laughs" tool).
func countAliases(n *yaml.Node) int {
	c := 0
	if n.Kind == yaml.AliasNode {
		c++
	}
	for _, ch := range n.Content {
		c += countAliases(ch)
	}
	return c
}

func (s *Skill) parseMetadata(v any) error {
	switch m := v.(type) {
	case nil:
		return nil
	case string:
		// OpenClaw skills often write metadata as one line of JSON.
		var parsed map[string]any
		if err := json.Unmarshal([]byte(m), &parsed); err != nil {
			return fmt.Errorf("SKILL.md: metadata is a string but not a JSON object: %v", err)
		}
		v = parsed
	case map[string]any:
	default:
		return errors.New("SKILL.md: metadata must be a mapping")
	}
	s.Metadata = v.(map[string]any)
	if ver, ok := s.Metadata["version"]; ok {
		switch t := ver.(type) {
		case string:
			s.Version = t
		case int, float64:
			s.Version = fmt.Sprint(t)
		default:
			return errors.New("SKILL.md: metadata.version must be a string")
		}
	}
	oc := s.Metadata["openclaw"]
	if oc == nil {
		oc = s.Metadata["clawdbot"]
	}
	if oc != nil {
		// Lenient: OpenClaw's metadata grows fields (user-invocable, an
		// install spec's targetDir/extract/os …) that Talon does not use.
		var m OpenClawMeta
		if err := remarshalLenient(oc, &m); err != nil {
			return fmt.Errorf("SKILL.md: metadata.openclaw: %v", err)
		}
		s.OpenClaw = &m
	}
	if t := s.Metadata["talon"]; t != nil {
		var tm struct {
			Version      string  `json:"version"`
			Capabilities capJSON `json:"capabilities"`
		}
		if err := remarshal(t, &tm); err != nil {
			return fmt.Errorf("SKILL.md: metadata.talon: %v", err)
		}
		c, err := tm.Capabilities.compile()
		if err != nil {
			return fmt.Errorf("SKILL.md: metadata.talon.capabilities: %v", err)
		}
		s.Capabilities = c
		if s.Version == "" {
			s.Version = tm.Version
		}
	}
	return nil
}

// remarshal converts a decoded YAML value into a typed struct through JSON,
// refusing unknown fields.
func remarshal(v any, dst any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return err
	}
	return nil
}

func remarshalLenient(v any, dst any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, dst)
}

// Problem is one thing wrong with a skill folder.
type Problem struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

func (p Problem) String() string { return p.Field + ": " + p.Message }

// Validate checks the Agent Skills rules for a skill in folder dirName
// ("" skips the folder check). It returns every problem at once.
func (s *Skill) Validate(dirName string) []Problem {
	var ps []Problem
	add := func(f, format string, a ...any) { ps = append(ps, Problem{f, fmt.Sprintf(format, a...)}) }
	switch {
	case s.Name == "":
		add("name", "is required")
	case !ValidName(s.Name):
		add("name", "%q must be 1-%d lowercase letters, digits and single hyphens, not starting or ending with a hyphen", s.Name, MaxNameLen)
	case dirName != "" && dirName != s.Name:
		add("name", "%q does not match its folder %q (rename one)", s.Name, dirName)
	}
	switch d := strings.TrimSpace(s.Description); {
	case d == "":
		add("description", "is required (say what the skill does and when to use it)")
	case utf8.RuneCountInString(s.Description) > MaxDescriptionLen:
		add("description", "is %d characters; the limit is %d", utf8.RuneCountInString(s.Description), MaxDescriptionLen)
	}
	if utf8.RuneCountInString(s.Compatibility) > MaxCompatibilityLen {
		add("compatibility", "is longer than %d characters", MaxCompatibilityLen)
	}
	if s.Version != "" && !ValidVersion(s.Version) {
		add("metadata.version", "%q is not a version (letters, digits, '.', '-', '+', '_')", s.Version)
	}
	return ps
}
