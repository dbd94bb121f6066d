package cli

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// releaseStartupPages unmaps the read-only pages of the talon executable
// from this process, and returns how many bytes of mappings it covered.
//
// Start-up runs the package initialisers of every linked package (the
// model SDKs, gRPC and protobuf under google.golang.org/genai, SQLite,
// the chat SDKs) and walks the pclntab and type data for them; the kernel
// maps each touched page, and with fault-around and large page-cache
// folios a whole neighbourhood with it. Those pages stay in the
// process's resident set though the idle gateway never uses most of them
// again: ~30–45 MB of a ~50 MB idle RSS were clean pages of the binary.
//
// MADV_DONTNEED on a private, never-written file mapping drops only the
// page-table entries: the bytes stay in the page cache, and the next
// access maps them back from it, unchanged. It is what reclaim would do
// to these pages under memory pressure, done at a known point. Writable
// mappings (.data, .bss, copied-on-write pages) are never touched, since
// dropping them would lose their contents.
func releaseStartupPages() int64 {
	exe, err := os.Stat("/proc/self/exe")
	if err != nil {
		return 0
	}
	st, ok := exe.Sys().(*syscall.Stat_t)
	if !ok {
		return 0
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0
	}
	defer f.Close()
	var total int64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// 00400000-01e59000 r-xp 00000000 fe:00 9986093 /path/to/talon
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || len(fields[1]) < 2 || fields[1][1] != '-' {
			continue
		}
		if ino, err := strconv.ParseUint(fields[4], 10, 64); err != nil || ino != st.Ino {
			continue
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		// No huge pages for these mappings: a page-cache folio the size
		// of a huge page (the linker's output, freshly written, is full of
		// them) would otherwise map 2 MB back at the first access.
		unix.Syscall(unix.SYS_MADVISE, uintptr(start), uintptr(end-start), unix.MADV_NOHUGEPAGE)
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, uintptr(start), uintptr(end-start), unix.MADV_DONTNEED); errno == 0 {
			total += int64(end - start)
		}
	}
	return total
}
