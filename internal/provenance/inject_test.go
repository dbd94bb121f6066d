package provenance

import (
	"os"
	"strings"
	"testing"
)

func lines(t testing.TB, path string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}

// TestInjectionDetectorPrecisionRecall measures the detector on the
// labelled corpus in testdata/injection and holds it to floors; the
// figures are printed with -v.
func TestInjectionDetectorPrecisionRecall(t *testing.T) {
	mal, ben := lines(t, "testdata/injection/malicious.txt"), lines(t, "testdata/injection/benign.txt")
	tp, fp := 0, 0
	for _, l := range mal {
		if len(DetectInjection(l)) > 0 {
			tp++
		} else {
			t.Logf("missed: %s", l)
		}
	}
	for _, l := range ben {
		if a := DetectInjection(l); len(a) > 0 {
			fp++
			t.Logf("false positive (%s): %s", a[0].Pattern, l)
		}
	}
	recall := float64(tp) / float64(len(mal))
	precision := float64(tp) / float64(tp+fp)
	fpr := float64(fp) / float64(len(ben))
	t.Logf("injection detector: recall %.2f (%d/%d), precision %.2f, false-positive rate %.2f (%d/%d)", recall, tp, len(mal), precision, fpr, fp, len(ben))
	if recall < 0.9 || fpr > 0.1 {
		t.Fatalf("recall %.2f (want ≥ 0.90), false-positive rate %.2f (want ≤ 0.10)", recall, fpr)
	}
}

func BenchmarkDetectInjection(b *testing.B) {
	text := strings.Repeat("An ordinary paragraph of fetched text that talks about systems, instructions and tokens in passing. ", 500)
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		DetectInjection(text)
	}
}
