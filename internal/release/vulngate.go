package release

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// Reachable is one vulnerability govulncheck found the code to call.
type Reachable struct {
	ID    string
	Fixed string
	// Where is the first frame of one call trace: the project's own
	// function that reaches the vulnerable symbol.
	Where string
}

// ReachableVulns reads `govulncheck -format json` output and returns the
// vulnerabilities whose vulnerable symbols the code calls (findings with a
// function in their trace), not those only imported or required.
func ReachableVulns(r io.Reader) ([]Reachable, error) {
	dec := json.NewDecoder(bufio.NewReader(r))
	byID := map[string]Reachable{}
	for {
		var msg struct {
			Finding *struct {
				OSV          string `json:"osv"`
				FixedVersion string `json:"fixed_version"`
				Trace        []struct {
					Module   string `json:"module"`
					Package  string `json:"package"`
					Function string `json:"function"`
					Receiver string `json:"receiver"`
				} `json:"trace"`
			} `json:"finding"`
		}
		err := dec.Decode(&msg)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("release.ReachableVulns: %w", err)
		}
		f := msg.Finding
		if f == nil || len(f.Trace) == 0 || f.Trace[0].Function == "" {
			continue
		}
		if _, ok := byID[f.OSV]; ok {
			continue
		}
		last := f.Trace[len(f.Trace)-1]
		where := last.Package + "." + last.Function
		if last.Receiver != "" {
			where = last.Package + "." + strings.TrimPrefix(last.Receiver, "*") + "." + last.Function
		}
		byID[f.OSV] = Reachable{ID: f.OSV, Fixed: f.FixedVersion, Where: where}
	}
	out := make([]Reachable, 0, len(byID))
	for _, v := range byID {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Acceptance is a reviewed, dated exception: a reachable vulnerability the
// project knowingly ships until Until (e.g. one fixed only by a newer Go
// toolchain than the build machines have).
type Acceptance struct {
	ID     string
	Until  time.Time
	Reason string
}

// ParseAcceptances reads lines "GO-YYYY-NNNN YYYY-MM-DD reason…"; blank
// lines and # comments are skipped. Every line needs all three parts.
func ParseAcceptances(r io.Reader) ([]Acceptance, error) {
	var out []Acceptance
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 3 || !strings.HasPrefix(f[0], "GO-") {
			return nil, fmt.Errorf("line %d: want \"GO-YYYY-NNNN YYYY-MM-DD reason\"", n)
		}
		until, err := time.Parse("2006-01-02", f[1])
		if err != nil {
			return nil, fmt.Errorf("line %d: %q is not a date (YYYY-MM-DD)", n, f[1])
		}
		out = append(out, Acceptance{ID: f[0], Until: until, Reason: strings.Join(f[2:], " ")})
	}
	return out, sc.Err()
}

// Gate splits reachable vulnerabilities into those accepted at now (listed
// and not past their date) and those that fail the build.
func Gate(found []Reachable, accepted []Acceptance, now time.Time) (ok []Reachable, failing []Reachable) {
	until := map[string]time.Time{}
	for _, a := range accepted {
		until[a.ID] = a.Until
	}
	for _, v := range found {
		if u, listed := until[v.ID]; listed && now.Before(u.Add(24*time.Hour)) {
			ok = append(ok, v)
		} else {
			failing = append(failing, v)
		}
	}
	return ok, failing
}
