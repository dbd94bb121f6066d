package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// Paths address values in a tree: dot-separated segments, where a segment is
// an object key (struct field or map key, e.g.
// "models.providers.local.baseUrl") or, inside an array, a decimal index
// ("tools.exec.allowlist.0"). Keys that contain a dot cannot be addressed.

func splitPath(path string) ([]string, error) {
	if path == "" {
		return nil, fmt.Errorf("empty path")
	}
	segs := strings.Split(path, ".")
	for _, s := range segs {
		if s == "" {
			return nil, fmt.Errorf("bad path %q: empty segment", path)
		}
	}
	return segs, nil
}

// index parses an array index segment.
func index(seg string) (int, bool) {
	if seg == "" || (len(seg) > 1 && seg[0] == '0') {
		return 0, false
	}
	for i := 0; i < len(seg); i++ {
		if seg[i] < '0' || seg[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(seg)
	return n, err == nil
}

// GetPath returns the value at path. The empty path is the whole tree.
func GetPath(tree map[string]any, path string) (any, bool) {
	if path == "" {
		return tree, tree != nil
	}
	segs, err := splitPath(path)
	if err != nil {
		return nil, false
	}
	var cur any = tree
	for _, s := range segs {
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[s]
			if !ok {
				return nil, false
			}
			cur = v
		case []any:
			i, ok := index(s)
			if !ok || i >= len(c) {
				return nil, false
			}
			cur = c[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

// SetPath sets the value at path, creating missing intermediate values: an
// array where the config types have a list there, else an object. In an
// array, an index equal to the length appends. It does not validate: run
// Validate on the result.
func SetPath(tree map[string]any, path string, value any) error {
	if tree == nil {
		return fmt.Errorf("config.SetPath: nil tree")
	}
	segs, err := splitPath(path)
	if err != nil {
		return fmt.Errorf("config.SetPath: %w", err)
	}
	if _, err := set(tree, reflect.TypeFor[Config](), segs, value, ""); err != nil {
		return fmt.Errorf("config.SetPath: %w", err)
	}
	return nil
}

// set stores value at segs below cur, whose config type is t (nil when
// unknown), and returns cur, which is a new slice when an array grew.
func set(cur any, t reflect.Type, segs []string, value any, at string) (any, error) {
	s := segs[0]
	here := joinPath(at, s)
	last := len(segs) == 1
	var ct reflect.Type
	if t != nil {
		if _, typ, ok := childType(t, s); ok {
			ct = typ
		}
	}
	switch c := cur.(type) {
	case map[string]any:
		if last {
			c[s] = value
			return c, nil
		}
		child, err := set(orNew(c[s], ct), ct, segs[1:], value, here)
		if err != nil {
			return nil, err
		}
		c[s] = child
		return c, nil
	case []any:
		i, ok := index(s)
		if !ok || i > len(c) {
			return nil, fmt.Errorf("%s: no index %s in an array of %d (use 0..%d; %d appends)", here, s, len(c), max(len(c)-1, 0), len(c))
		}
		if i == len(c) {
			c = append(c, nil)
		}
		if last {
			c[i] = value
			return c, nil
		}
		child, err := set(orNew(c[i], ct), ct, segs[1:], value, here)
		if err != nil {
			return nil, err
		}
		c[i] = child
		return c, nil
	}
	return nil, fmt.Errorf("%s is %s, not an object or array", at, kindName(cur))
}

// orNew returns v, or a new empty container for type t when v is absent.
func orNew(v any, t reflect.Type) any {
	if v != nil {
		return v
	}
	if t != nil && t.Kind() == reflect.Slice {
		return []any{}
	}
	return map[string]any{}
}

// UnsetPath removes the value at path: a key from its object, or an
// element from its array (later elements move down). It returns an error
// wrapping ErrNotFound when there is nothing at path.
func UnsetPath(tree map[string]any, path string) error {
	segs, err := splitPath(path)
	if err != nil {
		return fmt.Errorf("config.UnsetPath: %w", err)
	}
	if tree == nil {
		return fmt.Errorf("config.UnsetPath: %s: %w", path, ErrNotFound)
	}
	if _, err := unset(tree, segs); err != nil {
		return fmt.Errorf("config.UnsetPath: %s: %w", path, err)
	}
	return nil
}

func unset(cur any, segs []string) (any, error) {
	s := segs[0]
	last := len(segs) == 1
	switch c := cur.(type) {
	case map[string]any:
		child, ok := c[s]
		if !ok {
			return nil, ErrNotFound
		}
		if last {
			delete(c, s)
			return c, nil
		}
		child, err := unset(child, segs[1:])
		if err != nil {
			return nil, err
		}
		c[s] = child
		return c, nil
	case []any:
		i, ok := index(s)
		if !ok || i >= len(c) {
			return nil, ErrNotFound
		}
		if last {
			return append(c[:i:i], c[i+1:]...), nil
		}
		child, err := unset(c[i], segs[1:])
		if err != nil {
			return nil, err
		}
		c[i] = child
		return c, nil
	}
	return nil, ErrNotFound
}

func kindName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case float64:
		return "a number"
	case bool:
		return "a boolean"
	}
	return fmt.Sprintf("a %T", v)
}

// ParseValue reads a value given on the command line: a JSON5 literal if
// it is one (number, true, false, null, array, object, quoted string),
// otherwise the text itself as a string, so `talon config set gateway.bind
// lan` needs no quotes.
func ParseValue(s string) any {
	if tooDeep([]byte(s)) >= 0 {
		return s
	}
	v, err := unmarshalJSON5([]byte(s))
	if err != nil {
		return s
	}
	return v
}

// MergePatch applies an RFC 7386 JSON merge patch to a deep copy of tree
// and returns the copy: null deletes a key, an object merges into an
// object, anything else replaces. tree is not modified.
func MergePatch(tree map[string]any, patch map[string]any) map[string]any {
	out := deepCopy(tree).(map[string]any)
	if out == nil {
		out = map[string]any{}
	}
	for k, pv := range patch {
		if pv == nil {
			delete(out, k)
			continue
		}
		if pm, ok := pv.(map[string]any); ok {
			tm, _ := out[k].(map[string]any)
			out[k] = MergePatch(tm, pm)
			continue
		}
		out[k] = deepCopy(pv)
	}
	return out
}

// deepCopy copies the objects and arrays of a tree.
func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		if x == nil {
			return map[string]any(nil)
		}
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = deepCopy(e)
		}
		return out
	case []any:
		if x == nil {
			return []any(nil)
		}
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = deepCopy(e)
		}
		return out
	}
	return v
}
