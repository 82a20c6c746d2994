// Command listen benchmarks the listeners engine against the Firestore
// emulator (scripts/bench.sh listen runs it):
//
//  1. Write-to-sink latency: documents are written one at a time; each is
//     timed from just before the write until the engine's file sink has
//     written its event (Send returned), and, in the same run and process,
//     until a bare SDK Snapshots() listener on the same collection sees
//     it. p50 and p99 of both; p99_vs_bare = engine p99 / bare p99.
//  2. Sustained throughput: writers commit batches as fast as the emulator
//     takes them for a while (-duration), and the engine (file sink) and a
//     bare SDK listener, each on a gRPC connection of its own, listen to
//     the same collection at the same time, so both see the very same
//     writes. Two workloads: "append" creates new documents, so the
//     listened collection grows all along (keys without prefix), and
//     "steady" overwrites a fixed set of -steady-docs documents (keys
//     prefixed steady_). Per listener (the bare one's keys prefixed bare_):
//     - delivered_vs_written: events delivered per second (first to last
//     delivery) / versions written per second (first to last server commit
//     time). With a constant lag both windows have the same length and the
//     ratio is 1; a lag that grows during the run makes it smaller.
//     delivered_vs_bare is the engine's delivered per second over the bare
//     listener's.
//     - lag_*: from each version's commit time to its delivery; mean per
//     tenth of the run in commit order, and the least-squares slope in ms
//     per second of run (about 0: flat; positive: growing).
//     after_ack_mean_ms_by_tenth measures from the moment the writer's
//     commit call returned instead (negative: delivered before the writer
//     heard back), and writer_ack_after_commit_ms_by_tenth is the
//     emulator's own commit latency.
//     - in_process_*: the listener's own share, measured inside its gRPC
//     connection: from the message that made the snapshot holding a
//     version complete on its stream to the delivery (the engine: its file
//     sink's Send returned; the bare listener: Next returned).
//     listener_busy_pct is the share of the run its listener goroutine
//     spent decoding and handling the stream instead of waiting for the
//     emulator, sink_busy_pct the share the file sink spent in Send, and
//     stream_docs_per_change the documents the emulator sent on the stream
//     per version written (1 would be changes only).
//     Before each workload the writers run alone (-ceiling-duration):
//     emulator_writes_per_s is the rate the emulator takes the same writes
//     at with no listener open.
//  3. Memory per listener: 500 listeners on 500 collections (one
//     document each) through the engine, and 500 bare Snapshots()
//     iterators, each measured as live heap after GC with the streams open,
//     minus the heap before, divided by 500.
//
// With -own-emulator the benchmark starts a gcloud Firestore emulator of its
// own on a free port (stopped at the end) instead of using
// FIRESTORE_EMULATOR_HOST, so that other tests on a shared emulator neither
// disturb its figures nor are slowed by it, and it reports the emulator
// JVM's CPU share.
//
// Progress goes to stderr; the last line on stdout is one JSON object with
// the figures.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/fbadmin/fbadmin/listeners"
	"github.com/fbadmin/fbadmin/listeners/filesink"
)

func main() {
	n := flag.Int("n", 300, "latency: documents written one at a time")
	gap := flag.Duration("gap", 15*time.Millisecond, "latency: pause between two writes")
	dur := flag.Duration("duration", 10*time.Second, "throughput: how long the writers run beside the listeners, per workload")
	ceilingDur := flag.Duration("ceiling-duration", 5*time.Second, "throughput: how long the writers run alone first, per workload (0 skips it)")
	writers := flag.Int("writers", 4, "throughput: concurrent writers")
	batch := flag.Int("batch", 200, "throughput: documents per committed batch")
	workloads := flag.String("workloads", "append,steady", "throughput: workloads to run, comma-separated: append (new documents) and steady (overwrites)")
	steadyDocs := flag.Int("steady-docs", 2000, "throughput: documents the steady workload overwrites")
	nlisten := flag.Int("listeners", 500, "memory: listeners opened")
	fsync := flag.String("fsync", filesink.FsyncInterval, "file sink fsync policy: always, interval or never")
	own := flag.Bool("own-emulator", false, "start a Firestore emulator of its own (gcloud) on a free port instead of using FIRESTORE_EMULATOR_HOST")
	sections := flag.String("run", "latency,throughput,memory", "sections to run, comma-separated")
	engineFirst := flag.Bool("engine-first", false, "throughput: open the engine's listener before the bare one (in case the emulator favours one of its streams)")
	cpuProfile := flag.String("cpuprofile", "", "throughput: write a CPU profile of the append workload's run with the listeners to this file")
	flag.Parse()
	run := map[string]bool{}
	for _, s := range strings.Split(*sections, ",") {
		switch s = strings.TrimSpace(s); s {
		case "latency", "throughput", "memory":
			run[s] = true
		default:
			check(fmt.Errorf("-run: unknown section %q: use latency, throughput and memory", s))
		}
	}
	dir, err := os.MkdirTemp("", "fbadmin-bench-listen")
	check(err)
	atExit(func() { os.RemoveAll(dir) })
	defer cleanup()
	emuPID := 0
	if *own {
		e, err := startOwnEmulator(dir)
		check(err)
		atExit(e.stop)
		os.Setenv("FIRESTORE_EMULATOR_HOST", e.host)
		emuPID = e.jvmPID()
	} else if os.Getenv("FIRESTORE_EMULATOR_HOST") == "" {
		os.Setenv("FIRESTORE_EMULATOR_HOST", "127.0.0.1:8080")
	}
	id := strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	out := map[string]any{"emulator": os.Getenv("FIRESTORE_EMULATOR_HOST"), "own_emulator": *own, "fsync": *fsync,
		"cpus": runtime.NumCPU()}

	if run["latency"] {
		maps(out, latency(filepath.Join(dir, "lat"), "demo-bench-lat-"+id, *n, *gap, *fsync))
	}
	if run["throughput"] {
		cfg := tpConfig{dur: *dur, ceilingDur: *ceilingDur, writers: *writers, batch: *batch, fsync: *fsync, emuPID: emuPID,
			engineFirst: *engineFirst}
		out["throughput_writers"], out["throughput_batch"], out["throughput_duration_s"] = *writers, *batch, dur.Seconds()
		var wls []workload
		for _, w := range strings.Split(*workloads, ",") {
			switch w = strings.TrimSpace(w); w {
			case "append":
				wls = append(wls, workload{name: w})
			case "steady":
				if *steadyDocs < *batch {
					check(fmt.Errorf("-steady-docs %d is below -batch %d: a batch would write a document twice", *steadyDocs, *batch))
				}
				wls = append(wls, workload{name: w, docs: *steadyDocs})
				out["steady_docs"] = *steadyDocs
			default:
				check(fmt.Errorf("-workloads: unknown workload %q: use append and steady", w))
			}
		}
		for i, wl := range wls {
			prefix := ""
			if wl.docs > 0 {
				prefix = "steady_"
			}
			if cfg.ceilingDur > 0 {
				for k, v := range ceiling(fmt.Sprintf("demo-bench-tpc%d-%s", i, id), wl, cfg) {
					out[prefix+"emulator_"+k] = v
				}
			}
			c := cfg
			if wl.docs == 0 {
				c.cpuProfile = *cpuProfile
			}
			for k, v := range throughput(filepath.Join(dir, "tp-"+wl.name), fmt.Sprintf("demo-bench-tp%d-%s", i, id), wl, c) {
				out[prefix+k] = v
			}
		}
	}
	if run["memory"] {
		maps(out, memory(filepath.Join(dir, "mem"), "demo-bench-mem-"+id, *nlisten))
	}
	b, err := json.Marshal(out)
	check(err)
	fmt.Println(string(b))
}

var exitFuncs []func()

// atExit registers f to run when the benchmark ends, also on a failure.
func atExit(f func()) { exitFuncs = append(exitFuncs, f) }

func cleanup() {
	for i := len(exitFuncs) - 1; i >= 0; i-- {
		exitFuncs[i]()
	}
	exitFuncs = nil
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench listen:", err)
		cleanup()
		os.Exit(1)
	}
}

func logf(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }

// quiet passes on the engine's warnings (stream reopens, sink retries) only.
var quiet = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

// timedSink wraps the file sink and calls seen for each event once Send
// has returned.
type timedSink struct {
	*filesink.Sink
	seen func(ev listeners.Event, at time.Time)
	busy *atomic.Int64 // adds up the time spent in Send (ns), if not nil
}

func (s timedSink) Send(ctx context.Context, evs []listeners.Event) error {
	t0 := time.Now()
	if err := s.Sink.Send(ctx, evs); err != nil {
		return err
	}
	now := time.Now()
	if s.busy != nil {
		s.busy.Add(int64(now.Sub(t0)))
	}
	for _, ev := range evs {
		s.seen(ev, now)
	}
	return nil
}

// engineHooks are optional instruments of an engine under test.
type engineHooks struct {
	newClient func(ctx context.Context, project, database string) (*firestore.Client, error)
	sendBusy  *atomic.Int64 // time the file sink spends in Send
}

func startEngine(ctx context.Context, dir, project string, fsync string, specs []listeners.Spec, seen func(listeners.Event, time.Time), hooks engineHooks) (*listeners.Engine, chan error) {
	fs, err := filesink.New(filesink.Options{Path: filepath.Join(dir, "events.ndjson"), Fsync: fsync, MaxSize: 256 << 20})
	check(err)
	e, err := listeners.New(listeners.Options{StateDir: filepath.Join(dir, "state"), Project: project, Logger: quiet,
		Watchdog: -1, NewClient: hooks.newClient})
	check(err)
	check(e.AddSink("file", timedSink{fs, seen, hooks.sendBusy}))
	for _, s := range specs {
		check(e.AddListener(s))
	}
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	deadline := time.Now().Add(5 * time.Minute)
	for e.Ready() != nil {
		if time.Now().After(deadline) {
			check(fmt.Errorf("listeners not live after 5 minutes: %v", e.Ready()))
		}
		time.Sleep(20 * time.Millisecond)
	}
	return e, done
}

func percentile(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(float64(len(s)-1) * p)
	return s[i]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func latency(dir, project string, n int, gap time.Duration, fsync string) map[string]any {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	client, err := firestore.NewClient(ctx, project)
	check(err)
	defer client.Close()
	col := client.Collection("lat")

	var mu sync.Mutex
	written := make([]time.Time, n)
	engineAt := make([]time.Time, n)
	bareAt := make([]time.Time, n)
	var engineN, bareN atomic.Int64
	record := func(at []time.Time, counter *atomic.Int64, id string, t time.Time) {
		i, err := strconv.Atoi(id)
		if err != nil || i < 0 || i >= n {
			return
		}
		mu.Lock()
		if at[i].IsZero() {
			at[i] = t
			counter.Add(1)
		}
		mu.Unlock()
	}

	// The bare listener: the SDK's own iterator, nothing else.
	bareClient, err := firestore.NewClient(ctx, project)
	check(err)
	defer bareClient.Close()
	bareReady := make(chan struct{})
	go func() {
		it := bareClient.Collection("lat").Snapshots(ctx)
		defer it.Stop()
		first := true
		for {
			snap, err := it.Next()
			if err != nil {
				return
			}
			now := time.Now()
			if first {
				close(bareReady)
				first = false
			}
			for _, c := range snap.Changes {
				if c.Kind != firestore.DocumentRemoved {
					record(bareAt, &bareN, c.Doc.Ref.ID, now)
				}
			}
		}
	}()
	_, done := startEngine(ctx, dir, project, fsync, []listeners.Spec{{Name: "lat", Sinks: []string{"file"},
		Query: func(c *firestore.Client) firestore.Query { return c.Collection("lat").Query }}},
		func(ev listeners.Event, at time.Time) { record(engineAt, &engineN, filepath.Base(ev.Path), at) }, engineHooks{})
	<-bareReady

	logf("latency: writing %d documents one at a time, %v apart", n, gap)
	for i := range n {
		t0 := time.Now()
		written[i] = t0
		_, err := col.Doc(strconv.Itoa(i)).Set(ctx, map[string]any{"i": int64(i), "at": t0})
		check(err)
		time.Sleep(gap)
	}
	deadline := time.Now().Add(time.Minute)
	for (engineN.Load() < int64(n) || bareN.Load() < int64(n)) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if engineN.Load() < int64(n) || bareN.Load() < int64(n) {
		check(fmt.Errorf("latency: engine saw %d and bare listener %d of %d writes", engineN.Load(), bareN.Load(), n))
	}
	cancel()
	<-done
	var eng, bare []time.Duration
	for i := range n {
		eng = append(eng, engineAt[i].Sub(written[i]))
		bare = append(bare, bareAt[i].Sub(written[i]))
	}
	r := map[string]any{
		"latency_writes":         n,
		"engine_p50_ms":          ms(percentile(eng, 0.50)),
		"engine_p99_ms":          ms(percentile(eng, 0.99)),
		"bare_p50_ms":            ms(percentile(bare, 0.50)),
		"bare_p99_ms":            ms(percentile(bare, 0.99)),
		"p99_vs_bare":            round(float64(percentile(eng, 0.99)) / float64(percentile(bare, 0.99))),
		"p50_vs_bare":            round(float64(percentile(eng, 0.50)) / float64(percentile(bare, 0.50))),
		"latency_target_p99_max": 1.5,
	}
	logf("latency: engine+file sink p50 %.2f ms p99 %.2f ms; bare Snapshots() p50 %.2f ms p99 %.2f ms; p99 ratio %.2f",
		r["engine_p50_ms"], r["engine_p99_ms"], r["bare_p50_ms"], r["bare_p99_ms"], r["p99_vs_bare"])
	return r
}

func round(f float64) float64 { return float64(int64(f*1000+0.5)) / 1000 }

func heap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func memory(dir, project string, n int) map[string]any {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	client, err := firestore.NewClient(ctx, project)
	check(err)
	defer client.Close()
	logf("memory: creating %d collections", n)
	//lint:ignore SA1019 test data through plain batches
	b := client.Batch()
	for i := range n {
		b.Set(client.Collection(fmt.Sprintf("m%04d", i)).Doc("d"), map[string]any{"i": int64(i)})
		if (i+1)%400 == 0 || i == n-1 {
			_, err := b.Commit(ctx)
			check(err)
			//lint:ignore SA1019 test data through plain batches
			b = client.Batch()
		}
	}

	// Engine: n listeners, pooled clients.
	before := heap()
	g0 := runtime.NumGoroutine()
	specs := make([]listeners.Spec, n)
	for i := range n {
		name := fmt.Sprintf("m%04d", i)
		specs[i] = listeners.Spec{Name: name, Sinks: []string{"file"},
			Query: func(c *firestore.Client) firestore.Query { return c.Collection(name).Query }}
	}
	var got atomic.Int64
	ectx, ecancel := context.WithCancel(ctx)
	t0 := time.Now()
	_, done := startEngine(ectx, dir, project, filesink.FsyncNever, specs, func(listeners.Event, time.Time) { got.Add(1) }, engineHooks{})
	liveIn := time.Since(t0)
	for got.Load() < int64(n) {
		time.Sleep(10 * time.Millisecond)
	}
	engineHeap := heap() - before
	engineGoroutines := runtime.NumGoroutine() - g0
	ecancel()
	<-done
	logf("memory: engine with %d listeners live in %v: heap +%d KiB (%.1f KiB per listener), %d goroutines",
		n, liveIn.Round(time.Millisecond), engineHeap>>10, float64(engineHeap)/float64(n)/1024, engineGoroutines)

	// Bare: n Snapshots() iterators on one client.
	time.Sleep(500 * time.Millisecond)
	before = heap()
	g0 = runtime.NumGoroutine()
	bctx, bcancel := context.WithCancel(ctx)
	bare, err := firestore.NewClient(bctx, project)
	check(err)
	var ready sync.WaitGroup
	var bwg sync.WaitGroup
	for i := range n {
		ready.Add(1)
		bwg.Add(1)
		go func() {
			defer bwg.Done()
			it := bare.Collection(fmt.Sprintf("m%04d", i)).Snapshots(bctx)
			defer it.Stop()
			first := true
			for {
				if _, err := it.Next(); err != nil {
					if first {
						ready.Done()
					}
					return
				}
				if first {
					ready.Done()
					first = false
				}
			}
		}()
	}
	ready.Wait()
	bareHeap := heap() - before
	bareGoroutines := runtime.NumGoroutine() - g0
	bcancel()
	bwg.Wait()
	bare.Close()
	logf("memory: %d bare Snapshots() iterators: heap +%d KiB (%.1f KiB per listener), %d goroutines",
		n, bareHeap>>10, float64(bareHeap)/float64(n)/1024, bareGoroutines)
	return map[string]any{
		"memory_listeners":               n,
		"engine_heap_per_listener_kib":   round(float64(engineHeap) / float64(n) / 1024),
		"bare_heap_per_listener_kib":     round(float64(bareHeap) / float64(n) / 1024),
		"engine_goroutines_per_listener": round(float64(engineGoroutines) / float64(n)),
		"engine_all_live_s":              round(liveIn.Seconds()),
		"memory_vs_bare":                 round(float64(engineHeap) / float64(bareHeap)),
	}
}
