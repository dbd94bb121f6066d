package skills

import (
	"strconv"
	"strings"
)

// CompareVersions orders two skill versions the semver way: dot-separated
// numeric parts compared as numbers (others as text), and a pre-release
// ("1.0.0-rc.1") before its release. Build metadata (+…) is ignored.
func CompareVersions(a, b string) int {
	a, _, _ = strings.Cut(a, "+")
	b, _, _ = strings.Cut(b, "+")
	ac, apre, aHas := strings.Cut(a, "-")
	bc, bpre, bHas := strings.Cut(b, "-")
	if c := compareParts(ac, bc); c != 0 {
		return c
	}
	switch {
	case aHas && !bHas:
		return -1
	case !aHas && bHas:
		return 1
	}
	return compareParts(apre, bpre)
}

func compareParts(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < max(len(as), len(bs)); i++ {
		var x, y string
		if i < len(as) {
			x = as[i]
		}
		if i < len(bs) {
			y = bs[i]
		}
		xn, xerr := strconv.ParseUint(x, 10, 64)
		yn, yerr := strconv.ParseUint(y, 10, 64)
		switch {
		case xerr == nil && yerr == nil:
			if xn != yn {
				if xn < yn {
					return -1
				}
				return 1
			}
		case x != y:
			if x == "" {
				return -1
			}
			if y == "" {
				return 1
			}
			return strings.Compare(x, y)
		}
	}
	return 0
}
