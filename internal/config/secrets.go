package config

import (
	"cmp"
	"reflect"
	"slices"
	"strconv"

	"github.com/talonclaw/talon/internal/secret"
)

// SecretKeys lists the key path of every secret.Secret field of the config
// types, found by walking the types (structs, embedded structs, optional
// sections, maps and lists): "*" stands for a map key or a list index, as
// in "channels.telegram.accounts.*.botToken". Nothing is listed by hand,
// so a Secret field added anywhere is in it.
func SecretKeys() []string {
	var out []string
	walkSecretTypes(reflect.TypeFor[Config](), "", &out)
	return out
}

func walkSecretTypes(t reflect.Type, path string, out *[]string) {
	switch kindOf(t) {
	case kSecret:
		*out = append(*out, path)
	case kStruct:
		for _, f := range fieldsOf(t) {
			walkSecretTypes(f.typ, joinKey(path, f.name), out)
		}
	case kPtrStruct:
		walkSecretTypes(t.Elem(), path, out)
	case kMap, kSlice:
		walkSecretTypes(t.Elem(), joinKey(path, "*"), out)
	}
}

// Secrets returns every non-empty secret.Secret in c by its key path
// ("models.providers.openai.apiKey", "channels.slack.accounts.work.appToken"),
// found by walking the value as SecretKeys walks the types. Values that
// came from ${VAR} or ${secret:NAME} are here as substituted. Paths are in
// declaration order, map keys sorted.
func (c *Config) Secrets() []NamedSecret {
	var out []NamedSecret
	if c != nil {
		walkSecretValues(reflectValue(c), "", &out)
	}
	return out
}

// NamedSecret is one secret of a Config and its key path.
type NamedSecret struct {
	Key   string
	Value secret.Secret
}

func walkSecretValues(v reflect.Value, path string, out *[]NamedSecret) {
	switch kindOf(v.Type()) {
	case kSecret:
		if s := v.Interface().(secret.Secret); !s.IsZero() {
			*out = append(*out, NamedSecret{Key: path, Value: s})
		}
	case kStruct:
		for _, f := range fieldsOf(v.Type()) {
			walkSecretValues(v.FieldByIndex(f.index), joinKey(path, f.name), out)
		}
	case kPtrStruct:
		if !v.IsNil() {
			walkSecretValues(v.Elem(), path, out)
		}
	case kMap:
		keys := v.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int { return cmp.Compare(a.String(), b.String()) })
		for _, k := range keys {
			walkSecretValues(v.MapIndex(k), joinKey(path, k.String()), out)
		}
	case kSlice:
		for i := range v.Len() {
			walkSecretValues(v.Index(i), joinKey(path, strconv.Itoa(i)), out)
		}
	}
}

func joinKey(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}
