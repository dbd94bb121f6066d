package cli

import (
	"context"
	"runtime/debug"
	"time"
)

// startupSettle is how long after the listening line the gateway waits
// before handing back its start-up memory: the goroutines started with it
// (the first audit checkpoint and retention pass, channel connects, the
// cron scheduler's first look) touch code and data the listener did not,
// and pages released before they ran would only be mapped again.
const startupSettle = 2 * time.Second

// releaseStartupMemory returns to the system what start-up used and the
// idle gateway does not: the heap garbage of parsing config, compiling
// schemas and running package initialisers, and the pages of the
// executable mapped while doing so (releaseStartupPages). Without it an
// idle gateway kept ~50 MB resident of which ~40 MB were clean pages of
// the binary and ~3 MB free heap spans the scavenger does not return
// below the 4 MB minimum heap goal. Nothing is lost: the pages are
// re-read from the page cache on their next use, which is what reclaim
// would do to them under memory pressure anyway; this only picks the
// moment, once, a few seconds after start-up.
func releaseStartupMemory(ctx context.Context) {
	t := time.NewTimer(startupSettle)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return
	case <-t.C:
	}
	// One forced collection, ~1 ms on an idle gateway, and the free spans
	// go back to the system now rather than over minutes.
	debug.FreeOSMemory()
	releaseStartupPages()
}
