package release

import (
	"fmt"
	"strconv"
	"strings"
)

// semver is a parsed semantic version (MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]),
// with or without the leading "v" Go uses.
type semver struct {
	num [3]uint64
	pre []string
}

// parseVersion parses v ("v1.2.3", "1.2.3-rc.1", "0.1.0-dev"). Go toolchain
// versions ("go1.22.3", "1.22") are accepted too, with missing parts zero.
func parseVersion(v string) (semver, error) {
	s := strings.TrimPrefix(strings.TrimPrefix(v, "go"), "v")
	if i := strings.IndexByte(s, '+'); i >= 0 {
		s = s[:i]
	}
	var out semver
	core := s
	if i := strings.IndexByte(s, '-'); i >= 0 {
		core = s[:i]
		out.pre = strings.Split(s[i+1:], ".")
		for _, p := range out.pre {
			if p == "" {
				return semver{}, fmt.Errorf("version %q: empty pre-release identifier", v)
			}
		}
	}
	parts := strings.Split(core, ".")
	if len(parts) == 0 || len(parts) > 3 {
		return semver{}, fmt.Errorf("version %q is not MAJOR.MINOR.PATCH", v)
	}
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 10, 64)
		if err != nil || (len(p) > 1 && p[0] == '0') {
			return semver{}, fmt.Errorf("version %q is not MAJOR.MINOR.PATCH", v)
		}
		out.num[i] = n
	}
	return out, nil
}

// CompareVersions orders two versions by semantic-version precedence: -1 if
// a < b, 0 if equal, +1 if a > b. Unparseable versions are an error, never
// silently ordered.
func CompareVersions(a, b string) (int, error) {
	va, err := parseVersion(a)
	if err != nil {
		return 0, err
	}
	vb, err := parseVersion(b)
	if err != nil {
		return 0, err
	}
	return va.compare(vb), nil
}

func (a semver) compare(b semver) int {
	for i := range a.num {
		if a.num[i] != b.num[i] {
			return cmp(a.num[i] < b.num[i])
		}
	}
	// A version without pre-release identifiers ranks above one with them.
	switch {
	case len(a.pre) == 0 && len(b.pre) == 0:
		return 0
	case len(a.pre) == 0:
		return 1
	case len(b.pre) == 0:
		return -1
	}
	for i := 0; i < len(a.pre) && i < len(b.pre); i++ {
		x, y := a.pre[i], b.pre[i]
		if x == y {
			continue
		}
		nx, ex := strconv.ParseUint(x, 10, 64)
		ny, ey := strconv.ParseUint(y, 10, 64)
		switch {
		case ex == nil && ey == nil:
			return cmp(nx < ny)
		case ex == nil: // numeric identifiers rank below alphanumeric ones
			return -1
		case ey == nil:
			return 1
		default:
			return cmp(x < y)
		}
	}
	switch {
	case len(a.pre) < len(b.pre):
		return -1
	case len(a.pre) > len(b.pre):
		return 1
	}
	return 0
}

func cmp(less bool) int {
	if less {
		return -1
	}
	return 1
}
