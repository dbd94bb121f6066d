package skills

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkVerify100Files is what every load costs for one installed skill
// of 100 files (about 2 KiB each): read the signed manifest, check the
// publisher signature and the lockfile, hash every file. Target < 5 ms.
func BenchmarkVerify100Files(b *testing.B) {
	files := map[string]string{}
	for i := range 99 {
		files[fmt.Sprintf("ref/doc-%03d.md", i)] = strings.Repeat(fmt.Sprintf("line %d of a reference document\n", i), 64)
	}
	m := NewManager(b.TempDir())
	bd := packed(b, b.TempDir(), "big-skill", skillMD("big-skill", "1.0.0", ""), files, mustKey(b))
	if _, err := m.Install(bd, InstallOptions{Source: "bundle"}); err != nil {
		b.Fatal(err)
	}
	lock, _ := m.ReadLock()
	e := lock.Skills["big-skill"]
	if len(bd.Meta.Files) != 100 {
		b.Fatalf("%d files", len(bd.Meta.Files))
	}
	for b.Loop() {
		if _, err := m.Verify(e); err != nil {
			b.Fatal(err)
		}
	}
}
