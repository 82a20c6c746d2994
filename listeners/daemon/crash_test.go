package daemon

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fbadmin/fbadmin/internal/emutest"
	"github.com/fbadmin/fbadmin/listeners"
)

var long = flag.Bool("long", false, "run the long version of the randomized fault test")

// crashConfig is a daemon config with a file sink (fsync: always) and a
// webhook sink on one listener of collection "items".
func crashConfig(t *testing.T, project, dir, hookURL, interval string) string {
	return writeConfig(t, dir, fmt.Sprintf(`
project: %s
state_dir: %s
http: {addr: "off"}
log: {format: json}
engine: {checkpoint_interval: %s, backoff_initial: 20ms, backoff_max: 300ms}
sinks:
  - name: archive
    file: {path: %s/events.ndjson, fsync: always}
  - name: hook
    webhook: {url: "%s/in", secret: s3cret, retries: 1, timeout: 2s}
listeners:
  - name: items
    collection: items
    sinks: [archive, hook]
`, project, dir, interval, dir, hookURL))
}

func hasEvent(evs []listeners.Event, path string, typ listeners.EventType) bool {
	for _, ev := range evs {
		if ev.Path == path && ev.Type == typ {
			return true
		}
	}
	return false
}

// checkOneType fails when one event ID was delivered with two types (or
// two paths or two payloads): an ID names one change.
func checkOneType(t testing.TB, sink string, evs []listeners.Event) {
	t.Helper()
	seen := map[string]listeners.Event{}
	for _, ev := range evs {
		if err := ev.Validate(); err != nil {
			t.Fatalf("%s: bad event: %v", sink, err)
		}
		if old, ok := seen[ev.ID]; ok && (old.Type != ev.Type || old.Path != ev.Path || string(old.Data) != string(ev.Data)) {
			var hist []string
			for _, e := range evs {
				if e.Path == ev.Path {
					hist = append(hist, fmt.Sprintf("%s %s %s", e.Type, e.UpdateTime.Format(time.RFC3339Nano), e.ID[:8]))
				}
			}
			t.Fatalf("%s: event id %s delivered as %s %s and as %s %s; the path's events: %s", sink, ev.ID, old.Type, old.Path, ev.Type, ev.Path, strings.Join(hist, ", "))
		}
		seen[ev.ID] = ev
	}
}

// TestKillBeforeCheckpointKeepsRemovals is the reproduction of a lost
// removal: a document first delivered after the last checkpoint save, the
// daemon killed (SIGKILL) before the next one, the document deleted while
// the daemon is down. The restarted daemon must deliver its removal to the
// file and the webhook sink.
func TestKillBeforeCheckpointKeepsRemovals(t *testing.T) {
	for _, tc := range []struct {
		interval string
		delay    time.Duration
	}{
		{"1s", 0},
		{"1s", 300 * time.Millisecond},
		{"30s", 0},
		{"30s", 500 * time.Millisecond},
	} {
		t.Run(fmt.Sprintf("interval_%s_kill_after_%v", tc.interval, tc.delay.Milliseconds()), func(t *testing.T) {
			t.Parallel()
			f := emutest.NewFirestore(t)
			dir := t.TempDir()
			hook := newHook(t, "s3cret")
			config := crashConfig(t, f.ProjectID, dir, hook.srv.URL, tc.interval)
			bg := context.Background()
			col := f.Client.Collection("items")
			if _, err := col.Doc("keep").Set(bg, map[string]any{"n": int64(1)}); err != nil {
				t.Fatal(err)
			}
			d := startDaemon(t, config)
			file := func() []listeners.Event { return fileEvents(t, dir+"/events.ndjson") }
			waitUntil(t, 20*time.Second, "keep delivered", func() bool {
				return hasEvent(file(), "items/keep", listeners.Added) && hasEvent(hook.all(), "items/keep", listeners.Added)
			})
			if tc.interval == "1s" {
				time.Sleep(1200 * time.Millisecond) // a checkpoint save lands here
			}
			if _, err := col.Doc("X").Set(bg, map[string]any{"n": int64(2)}); err != nil {
				t.Fatal(err)
			}
			waitUntil(t, 20*time.Second, "X delivered", func() bool {
				return hasEvent(file(), "items/X", listeners.Added) && hasEvent(hook.all(), "items/X", listeners.Added)
			})
			time.Sleep(tc.delay)
			if err := d.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			d.wait(t, 10*time.Second)
			if _, err := col.Doc("X").Delete(bg); err != nil {
				t.Fatal(err)
			}
			startDaemon(t, config)
			waitUntil(t, 30*time.Second, "the removal of X in both sinks", func() bool {
				return hasEvent(file(), "items/X", listeners.Removed) && hasEvent(hook.all(), "items/X", listeners.Removed)
			})
			want := dbState(t, col.Query)
			for name, evs := range map[string][]listeners.Event{"file": file(), "webhook": hook.all()} {
				if s := sameState(rebuild(evs), want); s != "" {
					t.Errorf("%s sink: %s", name, s)
				}
				checkOneType(t, name, evs)
			}
		})
	}
}

// TestRandomFaults runs writers (creates, updates, deletes, recreates)
// against a collection while the daemon is killed with SIGKILL and
// restarted again and again and the webhook receiver has an outage. Each
// sink's events, replayed in order, must equal the database in the end: 0
// missing, 0 extra, 0 stale, and no event ID delivered with two types.
// -long runs the size of the original fault report (5,000 operations over
// 800 documents, 16 writers, 3 kills) several times.
func TestRandomFaults(t *testing.T) {
	runs, ops, docs, writers, kills := 1, 1200, 200, 8, 2
	if *long {
		runs, ops, docs, writers, kills = 3, 5000, 800, 16, 3
	}
	for run := range runs {
		t.Run(fmt.Sprint("run", run), func(t *testing.T) {
			f := emutest.NewFirestore(t)
			dir := t.TempDir()
			hook := newHook(t, "s3cret")
			config := crashConfig(t, f.ProjectID, dir, hook.srv.URL, "1s")
			col := f.Client.Collection("items")
			bg := context.Background()
			d := startDaemon(t, config)
			procs := []*daemonProc{d}
			startedWith := 0 // events in the file when the running daemon started

			var done atomic.Int64
			var wg sync.WaitGroup
			var werr atomic.Value
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					rng := rand.New(rand.NewPCG(uint64(run), uint64(w)))
					for done.Add(1) <= int64(ops) {
						ref := col.Doc(fmt.Sprintf("d%04d", rng.IntN(docs)))
						del, v := rng.IntN(10) < 3, rng.Int64()
						var err error
						// The emulator under load sometimes answers a write
						// with a spurious Canceled ("call already
						// cancelled"): try again (the database is read back
						// at the end, so a write applied twice is harmless).
						for try := 0; try < 5; try++ {
							if del {
								_, err = ref.Delete(bg)
							} else {
								_, err = ref.Set(bg, map[string]any{"v": v, "w": int64(w)})
							}
							if err == nil {
								break
							}
							time.Sleep(50 * time.Millisecond)
						}
						if err != nil {
							werr.Store(err)
							return
						}
						time.Sleep(time.Duration(rng.IntN(6)) * time.Millisecond)
					}
				}()
			}
			progress := func() int64 { return min(done.Load(), int64(ops)) }
			for k := range kills {
				// Kill at a random point of the run, restart after a pause.
				target := int64(ops) * int64(k+1) / int64(kills+2)
				waitUntil(t, 120*time.Second, "writers' progress", func() bool { return progress() >= target })
				// ...once this daemon has delivered something (for up to
				// 10 s: with the writers done there may be nothing left
				// to deliver), so that the kill lands between deliveries
				// and checkpoints.
				for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
					if len(fileEvents(t, dir+"/events.ndjson")) > startedWith {
						break
					}
				}
				time.Sleep(time.Duration(rand.IntN(300)) * time.Millisecond)
				if err := d.cmd.Process.Signal(syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				d.wait(t, 10*time.Second)
				if k == 0 {
					hook.down.Store(true) // an outage across a restart
					time.AfterFunc(2*time.Second, func() { hook.down.Store(false) })
				}
				time.Sleep(time.Duration(500+rand.IntN(1000)) * time.Millisecond)
				startedWith = len(fileEvents(t, dir+"/events.ndjson"))
				d = startDaemon(t, config)
				procs = append(procs, d)
			}
			wg.Wait()
			if err, _ := werr.Load().(error); err != nil {
				t.Fatal(err)
			}
			want := dbState(t, col.Query)
			file := func() []listeners.Event { return fileEvents(t, dir+"/events.ndjson") }
			converge := func() string {
				var s []string
				if d := sameState(rebuild(file()), want); d != "" {
					s = append(s, "file: "+d)
				}
				if d := sameState(rebuild(hook.all()), want); d != "" {
					s = append(s, "webhook: "+d)
				}
				return strings.Join(s, "; ")
			}
			deadline := time.Now().Add(60 * time.Second)
			for converge() != "" && time.Now().Before(deadline) {
				time.Sleep(100 * time.Millisecond)
			}
			if s := converge(); s != "" {
				t.Fatalf("sinks differ from the database: %s", s)
			}
			fe, he := file(), hook.all()
			checkOneType(t, "file", fe)
			checkOneType(t, "webhook", he)
			var reopens, stale int
			for _, p := range procs {
				reopens += strings.Count(p.stderr.String(), "reopening the stream")
				stale += strings.Count(p.stderr.String(), "older than those already emitted")
			}
			t.Logf("run %d: %d operations over %d documents, %d writers, %d kills; %d documents at the end; file %d events, webhook %d events; 0 missing, 0 extra, 0 stale, one type per id; %d streams found inconsistent and reopened, %d snapshots with stale versions ignored",
				run, ops, docs, writers, kills, len(want), len(fe), len(he), reopens, stale)
		})
	}
}
