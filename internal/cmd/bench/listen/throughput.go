package main

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/fbadmin/fbadmin/listeners"
)

// tpConfig is the throughput section's settings.
type tpConfig struct {
	dur        time.Duration // how long the writers run beside the listeners
	ceilingDur time.Duration // how long the writers run alone (emulator ceiling); 0 skips it
	writers    int
	batch      int
	fsync      string
	emuPID     int    // the emulator's JVM when it is ours, for its CPU share; 0 otherwise
	cpuProfile string // CPU profile of the run with the listeners, if set
	// engineFirst opens the engine's listener before the bare one.
	engineFirst bool
}

// A workload is what the writers do. An append workload creates new
// documents, so the listened collection grows all along; a steady one
// overwrites a fixed set of docs documents, created before the listeners
// open, so the collection keeps its size.
type workload struct {
	name string
	docs int // 0: append
}

// version identifies one written version of a document: its ID and its
// update time (the server's commit time) in Unix nanoseconds.
type version struct {
	id string
	ut int64
}

// writeLog records, for every version the writers committed, when their
// commit call returned.
type writeLog struct {
	mu   sync.Mutex
	acks map[version]time.Time
	last map[string]int64 // newest update time written per document
}

func newWriteLog() *writeLog {
	return &writeLog{acks: map[version]time.Time{}, last: map[string]int64{}}
}

func (w *writeLog) add(ids []string, res []*firestore.WriteResult, at time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i, r := range res {
		ut := r.UpdateTime.UnixNano()
		w.acks[version{ids[i], ut}] = at
		w.last[ids[i]] = max(w.last[ids[i]], ut)
	}
}

// observer records what one listener delivered: each version and when.
type observer struct {
	mu     sync.Mutex
	at     map[version]time.Time
	newest map[string]int64
	dups   int
}

func newObserver() *observer {
	return &observer{at: map[version]time.Time{}, newest: map[string]int64{}}
}

func (o *observer) see(id string, ut time.Time, at time.Time) {
	v := version{id, ut.UnixNano()}
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, dup := o.at[v]; dup {
		o.dups++
		return
	}
	o.at[v] = at
	o.newest[id] = max(o.newest[id], v.ut)
}

// caughtUp reports whether the newest written version of every document
// (or a later one) has been delivered.
func (o *observer) caughtUp(last map[string]int64) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	for id, ut := range last {
		if o.newest[id] < ut {
			return false
		}
	}
	return true
}

func (o *observer) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.at)
}

// docID is the document the writer w writes as item j of its batch number
// seq: a new one for an append workload, one of docs in turn for a steady
// one (no document twice in a batch, as long as batch <= docs).
func (wl workload) docID(w, writers, seq, batch, j int) string {
	if wl.docs == 0 {
		return fmt.Sprintf("w%d-%06d-%03d", w, seq, j)
	}
	return fmt.Sprintf("s%06d", ((seq*writers+w)*batch+j)%wl.docs)
}

func docData(w, seq, j int) map[string]any {
	return map[string]any{"w": int64(w), "seq": int64(seq), "j": int64(j), "pad": "0123456789abcdef"}
}

// prefill creates the steady workload's documents.
func prefill(ctx context.Context, client *firestore.Client, wl workload) {
	if wl.docs == 0 {
		return
	}
	col := client.Collection("tp")
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for from := g * 500; from < wl.docs; from += 4 * 500 {
				//lint:ignore SA1019 plain batch commits: the fastest SDK write path, not self-throttled
				b := client.Batch()
				for i := from; i < min(from+500, wl.docs); i++ {
					b.Set(col.Doc(fmt.Sprintf("s%06d", i)), docData(-1, 0, i))
				}
				_, err := b.Commit(ctx)
				check(err)
			}
		}()
	}
	wg.Wait()
}

// runWriters commits batches as fast as the emulator takes them for dur,
// from cfg.writers goroutines, and returns the writers' start and end.
func runWriters(ctx context.Context, client *firestore.Client, wl workload, cfg tpConfig, dur time.Duration, log *writeLog) (time.Time, time.Time) {
	col := client.Collection("tp")
	start := time.Now()
	stop := start.Add(dur)
	var wg sync.WaitGroup
	for w := range cfg.writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ids := make([]string, cfg.batch)
			for seq := 0; time.Now().Before(stop); seq++ {
				//lint:ignore SA1019 plain batch commits: the fastest SDK write path, not self-throttled
				b := client.Batch()
				for j := range cfg.batch {
					ids[j] = wl.docID(w, cfg.writers, seq, cfg.batch, j)
					b.Set(col.Doc(ids[j]), docData(w, seq, j))
				}
				res, err := b.Commit(ctx)
				check(err)
				log.add(ids, res, time.Now())
			}
		}()
	}
	wg.Wait()
	return start, time.Now()
}

// ceiling measures what the emulator takes from the same writers with no
// listener open: the writers' own rate, unhindered by listen work.
func ceiling(project string, wl workload, cfg tpConfig) map[string]any {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	client, err := firestore.NewClient(ctx, project)
	check(err)
	defer client.Close()
	prefill(ctx, client, wl)
	logf("throughput/%s: emulator ceiling: %d writers, batches of %d, no listener, for %v", wl.name, cfg.writers, cfg.batch, cfg.ceilingDur)
	log := newWriteLog()
	cpu := startCPU(cfg.emuPID)
	start, end := runWriters(ctx, client, wl, cfg, cfg.ceilingDur, log)
	usage := cpu.stop()
	first, last := commitSpan(log)
	r := map[string]any{
		"writes_per_s":         int64(float64(len(log.acks)) / last.Sub(first).Seconds()),
		"writer_commits_per_s": int64(float64(len(log.acks)) / end.Sub(start).Seconds()),
	}
	maps(r, usage)
	logf("throughput/%s: emulator ceiling: %d writes at %d/s (server commit times) with no listener; cpu %v",
		wl.name, len(log.acks), r["writes_per_s"], usage)
	return r
}

func commitSpan(log *writeLog) (time.Time, time.Time) {
	var first, last int64
	for v := range log.acks {
		if first == 0 || v.ut < first {
			first = v.ut
		}
		last = max(last, v.ut)
	}
	return time.Unix(0, first), time.Unix(0, last)
}

func maps(dst, src map[string]any) {
	for k, v := range src {
		dst[k] = v
	}
}

// throughput runs the writers at full speed while a bare SDK listener and
// the engine (file sink) listen to the same collection, then waits until
// both have delivered the newest version of every document.
func throughput(dir, project string, wl workload, cfg tpConfig) map[string]any {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	client, err := firestore.NewClient(ctx, project)
	check(err)
	defer client.Close()
	prefill(ctx, client, wl)

	// Both listeners see the same writes, each on a connection of its own.
	// -engine-first swaps the order they open in, in case the emulator
	// favours one of its streams.
	bare, eng := newObserver(), newObserver()
	bareTap, engTap := newTap(), newTap()
	var sinkBusy atomic.Int64
	var bareDone chan struct{}
	var engineDone chan error
	var engineConns []func() // the engine closes its clients, not their connections
	openBare := func() { bareDone = startBare(ctx, project, bare, bareTap) }
	openEngine := func() {
		_, engineDone = startEngine(ctx, dir, project, cfg.fsync, []listeners.Spec{{Name: "tp", Sinks: []string{"file"},
			Initial: listeners.InitialChangesOnly,
			Query:   func(c *firestore.Client) firestore.Query { return c.Collection("tp").Query }}},
			func(ev listeners.Event, at time.Time) { eng.see(filepath.Base(ev.Path), ev.UpdateTime, at) },
			engineHooks{sendBusy: &sinkBusy, newClient: func(ctx context.Context, project, _ string) (*firestore.Client, error) {
				c, closeConn, err := tappedClient(ctx, project, engTap)
				if err == nil {
					engineConns = append(engineConns, closeConn)
				}
				return c, err
			}})
	}
	if cfg.engineFirst {
		openEngine()
		openBare()
	} else {
		openBare()
		openEngine()
	}

	if cfg.cpuProfile != "" {
		f, err := os.Create(cfg.cpuProfile)
		check(err)
		check(pprof.StartCPUProfile(f))
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	what := "new documents (the collection grows)"
	if wl.docs > 0 {
		what = fmt.Sprintf("overwrites of %d documents (the collection keeps its size)", wl.docs)
	}
	logf("throughput/%s: %d writers committing batches of %d %s for %v; the engine and a bare listener listen",
		wl.name, cfg.writers, cfg.batch, what, cfg.dur)
	log := newWriteLog()
	cpu := startCPU(cfg.emuPID)
	busy0 := [3]int64{engTap.busy.Load(), bareTap.busy.Load(), sinkBusy.Load()}
	docMsgs0 := [2]int64{engTap.docMessages.Load(), bareTap.docMessages.Load()}
	start, end := runWriters(ctx, client, wl, cfg, cfg.dur, log)
	usage := cpu.stop()
	deadline := time.Now().Add(5 * time.Minute)
	for !(bare.caughtUp(log.last) && eng.caughtUp(log.last)) {
		if time.Now().After(deadline) {
			check(fmt.Errorf("throughput/%s: 5 minutes after the writers' end, the engine has delivered %d and the bare listener %d of %d versions written",
				wl.name, eng.count(), bare.count(), len(log.acks)))
		}
		time.Sleep(10 * time.Millisecond)
	}
	busy := [3]int64{engTap.busy.Load() - busy0[0], bareTap.busy.Load() - busy0[1], sinkBusy.Load() - busy0[2]}
	docMsgs := [2]int64{engTap.docMessages.Load() - docMsgs0[0], bareTap.docMessages.Load() - docMsgs0[1]}
	caught := time.Now()
	cancel()
	<-engineDone
	<-bareDone
	for _, c := range engineConns {
		c()
	}

	first, last := commitSpan(log)
	writeRate := float64(len(log.acks)) / last.Sub(first).Seconds()
	r := map[string]any{
		"docs_written":         len(log.acks),
		"writes_per_s":         int64(writeRate),
		"writer_commits_per_s": int64(float64(len(log.acks)) / end.Sub(start).Seconds()),
	}
	maps(r, usage)
	// The emulator's own commit latency: from the commit time it stamps
	// on a version until the writer's commit call returns.
	r["writer_ack_after_commit_ms_by_tenth"] = byTenth(log, func(v version) (time.Duration, bool) {
		return log.acks[v].Sub(time.Unix(0, v.ut)), true
	})
	maps(r, delivery("", eng, engTap, log, writeRate))
	maps(r, delivery("bare_", bare, bareTap, log, writeRate))
	r["delivered_vs_bare"] = round(r["delivered_per_s"].(float64) / r["bare_delivered_per_s"].(float64))
	// Capacity used: the share of the run (writers' start to both caught
	// up) the listener goroutine spent not waiting on the emulator, and the
	// sink spent in Send.
	wall := float64(caught.Sub(start))
	r["listener_busy_pct"] = round(100 * float64(busy[0]) / wall)
	r["bare_listener_busy_pct"] = round(100 * float64(busy[1]) / wall)
	r["sink_busy_pct"] = round(100 * float64(busy[2]) / wall)
	// What the emulator sends: documents on each Listen stream per version
	// written (1 if it sent changes only).
	r["stream_docs_per_change"] = round(float64(docMsgs[0]) / float64(len(log.acks)))
	r["bare_stream_docs_per_change"] = round(float64(docMsgs[1]) / float64(len(log.acks)))

	logf("throughput/%s: %d versions committed at %d/s (server commit times; the writers saw %d/s); cpu %v",
		wl.name, len(log.acks), r["writes_per_s"], r["writer_commits_per_s"], usage)
	logf("throughput/%s: the emulator's commit latency (commit time to the writer's ack), by tenth of the run: %v ms",
		wl.name, r["writer_ack_after_commit_ms_by_tenth"])
	for _, who := range []string{"", "bare_"} {
		name := "engine"
		if who != "" {
			name = "bare"
		}
		logf("throughput/%s: %-6s delivered %d at %.0f/s (ratio %.3f, %d superseded before delivery); lag from commit time by tenth %v ms (slope %v ms/s); from the writer's ack %v ms; last event %.3f s after the last ack",
			wl.name, name, r[who+"delivered"], r[who+"delivered_per_s"], r[who+"delivered_vs_written"], r[who+"superseded"],
			r[who+"lag_mean_ms_by_tenth"], r[who+"lag_slope_ms_per_s"], r[who+"after_ack_mean_ms_by_tenth"], r[who+"last_event_after_last_ack_s"])
		logf("throughput/%s: %-6s in-process delay (snapshot complete on its stream to delivered) p50 %v ms p99 %v ms, mean by tenth %v ms (slope %v ms/s); listener goroutine busy %.1f%% of the run",
			wl.name, name, r[who+"in_process_ms_p50"], r[who+"in_process_ms_p99"], r[who+"in_process_ms_by_tenth"], r[who+"in_process_slope_ms_per_s"], r[who+"listener_busy_pct"])
	}
	logf("throughput/%s: engine delivered/s vs bare %.3f; the file sink spent %.1f%% of the run in Send; the emulator sent %.1f (engine) and %.1f (bare) documents per change on the Listen streams",
		wl.name, r["delivered_vs_bare"], r["sink_busy_pct"], r["stream_docs_per_change"], r["bare_stream_docs_per_change"])
	return r
}

// startBare opens a bare SDK listener on the collection, on a client
// (connection, watched by t) of its own, and returns once it has its first
// snapshot (the documents already there, not recorded). The channel is
// closed when the listener ends, after ctx is done.
func startBare(ctx context.Context, project string, o *observer, t *tap) chan struct{} {
	client, closeClient, err := tappedClient(ctx, project, t)
	check(err)
	ready := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer closeClient()
		it := client.Collection("tp").Snapshots(ctx)
		defer it.Stop()
		for first := true; ; first = false {
			snap, err := it.Next()
			if err != nil {
				if first {
					check(fmt.Errorf("bare listener: %w", err))
				}
				return
			}
			if first {
				close(ready)
				continue
			}
			now := time.Now()
			for _, c := range snap.Changes {
				if c.Kind != firestore.DocumentRemoved {
					o.see(c.Doc.Ref.ID, c.Doc.UpdateTime, now)
				}
			}
		}
	}()
	<-ready
	return done
}

// delivery computes one listener's figures, under keys starting with
// prefix.
func delivery(prefix string, o *observer, t *tap, log *writeLog, writeRate float64) map[string]any {
	var firstD, lastD time.Time
	var lags []time.Duration
	for v, at := range o.at {
		if firstD.IsZero() || at.Before(firstD) {
			firstD = at
		}
		if at.After(lastD) {
			lastD = at
		}
		lags = append(lags, at.Sub(time.Unix(0, v.ut)))
	}
	var lastAck time.Time
	superseded := 0
	for v, at := range log.acks {
		if at.After(lastAck) {
			lastAck = at
		}
		if _, ok := o.at[v]; !ok {
			superseded++
		}
	}
	// In-process delay: from the snapshot holding a version being complete
	// on the listener's own stream to its delivery.
	var inProc []time.Duration
	for v, at := range o.at {
		if c, ok := t.at(v); ok {
			inProc = append(inProc, at.Sub(c))
		}
	}
	deliverRate := float64(len(o.at)) / lastD.Sub(firstD).Seconds()
	lag := func(v version) (time.Duration, bool) {
		at, ok := o.at[v]
		return at.Sub(time.Unix(0, v.ut)), ok
	}
	r := map[string]any{}
	if len(inProc) > 0 {
		r[prefix+"in_process_ms_p50"] = ms(percentile(inProc, 0.5))
		r[prefix+"in_process_ms_p99"] = ms(percentile(inProc, 0.99))
		inProcess := func(v version) (time.Duration, bool) {
			at, ok1 := o.at[v]
			c, ok2 := t.at(v)
			return at.Sub(c), ok1 && ok2
		}
		r[prefix+"in_process_ms_by_tenth"] = byTenth(log, inProcess)
		r[prefix+"in_process_slope_ms_per_s"] = slope(log, inProcess)
	}
	maps(r, map[string]any{
		prefix + "delivered":            len(o.at),
		prefix + "superseded":           superseded,
		prefix + "duplicates":           o.dups,
		prefix + "delivered_per_s":      float64(int64(deliverRate)),
		prefix + "delivered_vs_written": round(deliverRate / writeRate),
		prefix + "lag_p50_ms":           ms(percentile(lags, 0.5)),
		prefix + "lag_p99_ms":           ms(percentile(lags, 0.99)),
		prefix + "lag_mean_ms_by_tenth": byTenth(log, lag),
		prefix + "lag_slope_ms_per_s":   slope(log, lag),
		prefix + "after_ack_mean_ms_by_tenth": byTenth(log, func(v version) (time.Duration, bool) {
			at, ok := o.at[v]
			return at.Sub(log.acks[v]), ok
		}),
		prefix + "last_event_after_last_ack_s": round(lastD.Sub(lastAck).Seconds()),
	})
	return r
}

// slope fits a straight line through f against the commit time of the
// versions (least squares) and returns its slope in milliseconds of lag
// per second of run: about 0 for a flat lag, positive for a growing one.
func slope(log *writeLog, f func(version) (time.Duration, bool)) float64 {
	var n, sx, sy, sxx, sxy float64
	var t0 int64
	for v := range log.acks {
		if t0 == 0 || v.ut < t0 {
			t0 = v.ut
		}
	}
	for v := range log.acks {
		d, ok := f(v)
		if !ok {
			continue
		}
		x := float64(v.ut-t0) / 1e9
		y := float64(d) / 1e6
		n++
		sx += x
		sy += y
		sxx += x * x
		sxy += x * y
	}
	den := n*sxx - sx*sx
	if n < 2 || den == 0 {
		return 0
	}
	return round((n*sxy - sx*sy) / den)
}

// byTenth splits the written versions, in commit order, into ten equal
// parts and returns the mean of f over each part (versions for which f
// reports false are left out), in milliseconds. A value that rises from
// tenth to tenth is a lag that grows.
func byTenth(log *writeLog, f func(version) (time.Duration, bool)) []float64 {
	vs := make([]version, 0, len(log.acks))
	for v := range log.acks {
		vs = append(vs, v)
	}
	slices.SortFunc(vs, func(a, b version) int {
		if c := cmp.Compare(a.ut, b.ut); c != 0 {
			return c
		}
		return cmp.Compare(a.id, b.id)
	})
	out := make([]float64, 0, 10)
	for k := range 10 {
		var sum time.Duration
		n := 0
		for _, v := range vs[k*len(vs)/10 : (k+1)*len(vs)/10] {
			if d, ok := f(v); ok {
				sum += d
				n++
			}
		}
		if n > 0 {
			out = append(out, ms(sum/time.Duration(n)))
		}
	}
	return out
}

// cpuMeter measures CPU use over a window from /proc: the whole machine's
// busy share, this process's, and the emulator JVM's when its PID is known.
// Shares are in percent of one core (200 is both cores of a 2-core
// machine busy).
type cpuMeter struct {
	emuPID          int
	t0              time.Time
	machine, self   float64
	emu             float64
	machineOK, emOK bool
}

func startCPU(emuPID int) *cpuMeter {
	m := &cpuMeter{emuPID: emuPID, t0: time.Now()}
	m.machine, m.machineOK = machineBusySeconds()
	m.self, _ = procCPUSeconds(os.Getpid())
	if emuPID > 0 {
		m.emu, m.emOK = procCPUSeconds(emuPID)
	}
	return m
}

func (m *cpuMeter) stop() map[string]any {
	el := time.Since(m.t0).Seconds()
	r := map[string]any{}
	if b, ok := machineBusySeconds(); ok && m.machineOK {
		r["cpu_machine_busy_pct"] = float64(int64(100 * (b - m.machine) / el))
	}
	if s, ok := procCPUSeconds(os.Getpid()); ok {
		r["cpu_bench_process_pct"] = float64(int64(100 * (s - m.self) / el))
	}
	if m.emOK {
		if e, ok := procCPUSeconds(m.emuPID); ok {
			r["cpu_emulator_pct"] = float64(int64(100 * (e - m.emu) / el))
		}
	}
	return r
}

// clockTicks is USER_HZ, 100 on every Linux platform Go supports.
const clockTicks = 100

// procCPUSeconds returns the user and system CPU time of a process.
func procCPUSeconds(pid int) (float64, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	// Fields after the command name, which is in parentheses and may hold
	// spaces: state is field 3, utime 14 and stime 15.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, false
	}
	u, err1 := strconv.ParseFloat(f[11], 64)
	s, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return (u + s) / clockTicks, true
}

// machineBusySeconds returns the CPU time all cores spent not idle.
func machineBusySeconds() (float64, bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, false
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return 0, false
	}
	var busy float64
	for i, x := range f[1:] {
		v, err := strconv.ParseFloat(x, 64)
		if err != nil {
			return 0, false
		}
		if i == 3 || i == 4 || i >= 7 { // idle, iowait, steal; guest time is already in user
			continue
		}
		busy += v
	}
	return busy / clockTicks, true
}
