package transfer

import (
	"context"
	"testing"
	"time"

	"github.com/fbadmin/fbadmin/internal/emutest"
	"github.com/fbadmin/fbadmin/internal/faults"
)

// TestUnderNetworkFaults runs import, export, copy and recursive delete of
// a 20,000-document three-level tree through Toxiproxy (in process)
// between the engine and the emulator, under each class of network faults:
// latency, a bandwidth limit, connection resets and stalls. Each job must
// end with exactly the right state, as under status-code faults
// (TestUnderFaults). The classes run in parallel, each in its own project
// through its own proxy: a few minutes in all on a loaded two-core machine,
// most of it the emulator's writes (80,000 a class) slowed by the faults.
func TestUnderNetworkFaults(t *testing.T) {
	if testing.Short() && !emutest.InCI() { // under CI=true it always runs
		t.Skip("minutes of 20,000-document jobs under network faults; skipped with -short")
	}
	src, want := faultTree(t, 1250, 3, 4)
	if len(want) != 20000 {
		t.Fatalf("the tree has %d documents, want 20000", len(want))
	}
	for _, class := range faults.NetworkFaults {
		t.Run(string(class), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			e := newEnv(t)
			proxy, err := faults.NewProxy(e.fs.Host, class)
			if err != nil {
				t.Fatal(err)
			}
			defer proxy.Close()
			faulty, err := Open(ctx, Config{Project: e.fs.ProjectID, EmulatorHost: proxy.Addr()})
			if err != nil {
				t.Fatal(err)
			}
			defer faulty.Close()
			start := time.Now()
			jobsUnderFaults(t, e, faulty, src, want)
			// A pulse strikes after 2 s, then every 10 s (resets) or 12 s
			// (stalls): a quick machine finishes in under half a minute,
			// a loaded one sees many more.
			if (class == faults.Stalls || class == faults.Resets) && proxy.Toxics() < 1 {
				t.Errorf("no stall or reset struck during the jobs (%v): the test proves nothing", time.Since(start))
			}
			t.Logf("%s: the four jobs took %v (%d toxics added)", class, time.Since(start).Round(time.Millisecond), proxy.Toxics())
		})
	}
}
