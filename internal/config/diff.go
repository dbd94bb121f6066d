package config

import (
	"reflect"
	"slices"
)

// Diff returns the key paths whose values differ between old and new,
// split by their reload tag: live changes apply to a running gateway,
// restart changes need a restart. A path is as deep as the change: a leaf
// ("gateway.port"), a map entry or optional section that appeared or
// disappeared ("models.providers.local", "channels.telegram"), or a whole
// list ("tools.exec.allowlist"). A nil side counts as Default(). Both lists
// are sorted.
func Diff(old, new *Config) (live, restart []string) {
	if old == nil {
		old = Default()
	}
	if new == nil {
		new = Default()
	}
	add := func(path string, isLive bool) {
		if isLive {
			live = append(live, path)
		} else {
			restart = append(restart, path)
		}
	}
	a, b := reflectValue(old), reflectValue(new)
	diffValue("", a, b, field{kind: kStruct, typ: a.Type()}, false, add)
	slices.Sort(live)
	slices.Sort(restart)
	return live, restart
}

func diffValue(path string, a, b reflect.Value, f field, live bool, add func(string, bool)) {
	switch f.kind {
	case kStruct:
		for _, sf := range fieldsOf(f.typ) {
			diffValue(joinPath(path, sf.name), a.FieldByIndex(sf.index), b.FieldByIndex(sf.index), sf, live || sf.live, add)
		}
	case kPtrStruct:
		if a.IsNil() || b.IsNil() {
			if a.IsNil() != b.IsNil() {
				add(path, live)
			}
			return
		}
		diffValue(path, a.Elem(), b.Elem(), elemField(f.typ.Elem()), live, add)
	case kMap:
		keys := map[string]bool{}
		for _, m := range []reflect.Value{a, b} {
			for _, k := range m.MapKeys() {
				keys[k.String()] = true
			}
		}
		ef := elemField(f.typ.Elem())
		for _, k := range sortedKeys(keys) {
			kv := reflect.ValueOf(k)
			va, vb := a.MapIndex(kv), b.MapIndex(kv)
			p := joinPath(path, k)
			if !va.IsValid() || !vb.IsValid() {
				add(p, live)
				continue
			}
			diffValue(p, va, vb, ef, live, add)
		}
	case kSlice:
		if a.Len() == 0 && b.Len() == 0 {
			return
		}
		if !reflect.DeepEqual(a.Interface(), b.Interface()) {
			add(path, live)
		}
	default:
		if !reflect.DeepEqual(a.Interface(), b.Interface()) {
			add(path, live)
		}
	}
}
