// Command listen benchmarks the listeners engine against the Firestore
// emulator (scripts/bench.sh listen runs it):
//
//  1. Write-to-sink latency: documents are written one at a time; each is
//     timed from just before the write until the engine's file sink has
//     written its event (Send returned), and, in the same run and process,
//     until a bare SDK Snapshots() listener on the same collection sees
//     it. p50 and p99 of both; p99_vs_bare = engine p99 / bare p99.
//  2. Sustained throughput: writers commit batches of new documents as
//     fast as they can for a while; the engine delivers them to the file
//     sink. delivered_vs_written = events delivered per second (from the
//     first write to the last delivery) / documents written per second
//     (while the writers ran); the backlog (written minus delivered) is
//     sampled every second to show whether lag grows.
//  3. Memory per listener: 500 listeners on 500 collections (one
//     document each) through the engine, and 500 bare Snapshots()
//     iterators, each measured as live heap after GC with the streams open,
//     minus the heap before, divided by 500.
//
// Progress goes to stderr; the last line on stdout is one JSON object with
// the figures.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
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
	dur := flag.Duration("duration", 10*time.Second, "throughput: how long the writers run")
	writers := flag.Int("writers", 4, "throughput: concurrent writers")
	batch := flag.Int("batch", 200, "throughput: documents per committed batch")
	nlisten := flag.Int("listeners", 500, "memory: listeners opened")
	fsync := flag.String("fsync", filesink.FsyncInterval, "file sink fsync policy: always, interval or never")
	flag.Parse()
	if os.Getenv("FIRESTORE_EMULATOR_HOST") == "" {
		os.Setenv("FIRESTORE_EMULATOR_HOST", "127.0.0.1:8080")
	}
	dir, err := os.MkdirTemp("", "fbadmin-bench-listen")
	check(err)
	defer os.RemoveAll(dir)
	run := strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	out := map[string]any{"emulator": os.Getenv("FIRESTORE_EMULATOR_HOST"), "fsync": *fsync}

	lat := latency(filepath.Join(dir, "lat"), "demo-bench-lat-"+run, *n, *gap, *fsync)
	for k, v := range lat {
		out[k] = v
	}
	bareTP := throughput(filepath.Join(dir, "tpbare"), "demo-bench-tpb-"+run, *dur, *writers, *batch, *fsync, true)
	tp := throughput(filepath.Join(dir, "tp"), "demo-bench-tp-"+run, *dur, *writers, *batch, *fsync, false)
	for k, v := range tp {
		out[k] = v
	}
	for _, k := range []string{"writes_per_s", "delivered_per_s", "delivered_vs_written", "lag_p50_ms", "lag_p99_ms", "lag_mean_ms_by_tenth"} {
		out["bare_"+k] = bareTP[k]
	}
	mem := memory(filepath.Join(dir, "mem"), "demo-bench-mem-"+run, *nlisten)
	for k, v := range mem {
		out[k] = v
	}
	b, err := json.Marshal(out)
	check(err)
	fmt.Println(string(b))
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench listen:", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// timedSink wraps the file sink and calls seen for each event once Send
// has returned.
type timedSink struct {
	*filesink.Sink
	seen func(ev listeners.Event, at time.Time)
}

func (s timedSink) Send(ctx context.Context, evs []listeners.Event) error {
	if err := s.Sink.Send(ctx, evs); err != nil {
		return err
	}
	now := time.Now()
	for _, ev := range evs {
		s.seen(ev, now)
	}
	return nil
}

func startEngine(ctx context.Context, dir, project string, fsync string, specs []listeners.Spec, seen func(listeners.Event, time.Time)) (*listeners.Engine, chan error) {
	fs, err := filesink.New(filesink.Options{Path: filepath.Join(dir, "events.ndjson"), Fsync: fsync, MaxSize: 256 << 20})
	check(err)
	e, err := listeners.New(listeners.Options{StateDir: filepath.Join(dir, "state"), Project: project, Logger: quiet,
		Watchdog: -1})
	check(err)
	check(e.AddSink("file", timedSink{fs, seen}))
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
		func(ev listeners.Event, at time.Time) { record(engineAt, &engineN, filepath.Base(ev.Path), at) })
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

func throughput(dir, project string, dur time.Duration, writers, batch int, fsync string, bare bool) map[string]any {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	client, err := firestore.NewClient(ctx, project)
	check(err)
	defer client.Close()

	// For each delivered event: the server's commit time (its update
	// time) and when the sink wrote it.
	type obs struct{ committed, delivered time.Time }
	var mu sync.Mutex
	var seen []obs
	var done chan error
	if bare {
		done = make(chan error, 1)
		ready := make(chan struct{})
		go func() {
			it := client.Collection("tp").Snapshots(ctx)
			defer it.Stop()
			for first := true; ; first = false {
				snap, err := it.Next()
				if err != nil {
					done <- nil
					return
				}
				if first {
					close(ready)
				}
				now := time.Now()
				mu.Lock()
				for _, c := range snap.Changes {
					seen = append(seen, obs{c.Doc.UpdateTime, now})
				}
				mu.Unlock()
			}
		}()
		<-ready
	} else {
		_, done = startEngine(ctx, dir, project, fsync, []listeners.Spec{{Name: "tp", Sinks: []string{"file"},
			Query: func(c *firestore.Client) firestore.Query { return c.Collection("tp").Query }}},
			func(ev listeners.Event, at time.Time) {
				mu.Lock()
				seen = append(seen, obs{ev.UpdateTime, at})
				mu.Unlock()
			})
	}
	delivered := func() int64 {
		mu.Lock()
		defer mu.Unlock()
		return int64(len(seen))
	}

	who := "engine"
	if bare {
		who = "bare"
	}
	logf("throughput (%s): %d writers committing batches of %d new documents for %v", who, writers, batch, dur)
	var written atomic.Int64
	start := time.Now()
	stop := start.Add(dur)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := 0; time.Now().Before(stop); seq++ {
				//lint:ignore SA1019 plain batch commits: the fastest SDK write path, not self-throttled
				b := client.Batch()
				for j := range batch {
					b.Set(client.Collection("tp").Doc(fmt.Sprintf("w%d-%06d-%03d", w, seq, j)), map[string]any{"w": int64(w), "seq": int64(seq), "j": int64(j), "pad": "0123456789abcdef"})
				}
				if _, err := b.Commit(ctx); err != nil {
					check(err)
				}
				written.Add(int64(batch))
			}
		}()
	}
	wg.Wait()
	writersDone := time.Now()
	total := written.Load()
	deadline := time.Now().Add(5 * time.Minute)
	for delivered() < total && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if delivered() < total {
		check(fmt.Errorf("throughput: delivered %d of %d within 5 minutes of the writers' end", delivered(), total))
	}
	cancel()
	<-done

	mu.Lock()
	obsv := slices.Clone(seen)
	mu.Unlock()
	firstC, lastC := obsv[0].committed, obsv[0].committed
	firstD, lastD := obsv[0].delivered, obsv[0].delivered
	lags := make([]time.Duration, len(obsv))
	for i, o := range obsv {
		firstC, lastC = minT(firstC, o.committed), maxT(lastC, o.committed)
		firstD, lastD = minT(firstD, o.delivered), maxT(lastD, o.delivered)
		lags[i] = o.delivered.Sub(o.committed)
	}
	// Lag over time: the mean lag of the events committed in each tenth of
	// the writing window. Growing lag would show as rising values.
	slices.SortFunc(obsv, func(a, b obs) int { return a.committed.Compare(b.committed) })
	var lagByTenth []float64
	for k := range 10 {
		part := obsv[k*len(obsv)/10 : (k+1)*len(obsv)/10]
		var sum time.Duration
		for _, o := range part {
			sum += o.delivered.Sub(o.committed)
		}
		if len(part) > 0 {
			lagByTenth = append(lagByTenth, ms(sum/time.Duration(len(part))))
		}
	}
	writeRate := float64(total) / lastC.Sub(firstC).Seconds()
	deliverRate := float64(total) / lastD.Sub(firstD).Seconds()
	commitRate := float64(total) / writersDone.Sub(start).Seconds()
	r := map[string]any{
		"throughput_docs_written":   total,
		"writes_per_s":              int64(writeRate),
		"delivered_per_s":           int64(deliverRate),
		"delivered_vs_written":      round(deliverRate / writeRate),
		"writer_commits_per_s":      int64(commitRate),
		"lag_p50_ms":                ms(percentile(lags, 0.5)),
		"lag_p99_ms":                ms(percentile(lags, 0.99)),
		"lag_mean_ms_by_tenth":      lagByTenth,
		"last_event_after_commit_s": round(lastD.Sub(lastC).Seconds()),
	}
	logf("throughput (%s): %d docs committed at %.0f/s (server commit times; writers saw %.0f/s as their commits returned); delivered at %.0f/s (ratio %.3f); commit-to-sink lag p50 %.1f ms p99 %.1f ms; mean lag by tenth of the run %v ms",
		who, total, writeRate, commitRate, deliverRate, deliverRate/writeRate, ms(percentile(lags, 0.5)), ms(percentile(lags, 0.99)), lagByTenth)
	return r
}

func minT(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxT(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

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
	_, done := startEngine(ectx, dir, project, filesink.FsyncNever, specs, func(listeners.Event, time.Time) { got.Add(1) })
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
