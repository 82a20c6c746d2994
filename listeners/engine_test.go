package listeners_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/firestore"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/fbadmin/fbadmin/listeners"
)

func TestInitialSnapshotThenChanges(t *testing.T) {
	f, dir := newFS(t)
	ctx := context.Background()
	col := f.Client.Collection("items")
	for i := range 5 {
		if _, err := col.Doc(fmt.Sprintf("d%d", i)).Set(ctx, map[string]any{"n": int64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	sink := &memSink{}
	r := start(t, engineConfig{project: f.ProjectID, stateDir: dir, query: collection("items"), sinks: map[string]listeners.Sink{"mem": sink}})
	waitFor(t, 10*time.Second, "5 added events", func() bool { return len(sink.all()) == 5 })
	for _, ev := range sink.all() {
		if ev.Type != listeners.Added || ev.Listener != "l" || !strings.HasPrefix(ev.Path, "items/d") {
			t.Fatalf("initial event %+v, want added items/d*", ev)
		}
	}
	if _, err := col.Doc("d0").Set(ctx, map[string]any{"n": int64(100)}); err != nil {
		t.Fatal(err)
	}
	if _, err := col.Doc("d1").Delete(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := col.Doc("d9").Set(ctx, map[string]any{"n": int64(9)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "3 more events", func() bool { return len(sink.all()) == 8 })
	types := map[string]listeners.EventType{}
	for _, ev := range sink.all()[5:] {
		types[ev.Path] = ev.Type
	}
	want := map[string]listeners.EventType{"items/d0": listeners.Modified, "items/d1": listeners.Removed, "items/d9": listeners.Added}
	for p, typ := range want {
		if types[p] != typ {
			t.Errorf("%s: got %q, want %q (all: %v)", p, types[p], typ, types)
		}
	}
	r.stop(t)
	if d := diffStates(state(sink.all()), dbState(t, col.Query)); d != "" {
		t.Fatalf("rebuilt state differs from the database: %s", d)
	}
	checkIDs(t, sink.all())
}

func TestChangesOnlySkipsExisting(t *testing.T) {
	f, dir := newFS(t)
	ctx := context.Background()
	col := f.Client.Collection("items")
	for i := range 3 {
		if _, err := col.Doc(fmt.Sprintf("old%d", i)).Set(ctx, map[string]any{"n": int64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	sink := &memSink{}
	r := start(t, engineConfig{project: f.ProjectID, stateDir: dir, initial: listeners.InitialChangesOnly,
		query: collection("items"), sinks: map[string]listeners.Sink{"mem": sink}})
	if _, err := col.Doc("new").Set(ctx, map[string]any{"n": int64(7)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "1 event", func() bool { return len(sink.all()) >= 1 })
	r.stop(t)
	evs := sink.all()
	if len(evs) != 1 || evs[0].Path != "items/new" || evs[0].Type != listeners.Added {
		t.Fatalf("got %+v, want only the addition of items/new", evs)
	}

	// Restarted, the listener does not re-emit the old documents either,
	// but does emit what changed while it was down.
	if _, err := col.Doc("old0").Delete(ctx); err != nil {
		t.Fatal(err)
	}
	sink2 := &memSink{}
	r = start(t, engineConfig{project: f.ProjectID, stateDir: dir, initial: listeners.InitialChangesOnly,
		query: collection("items"), sinks: map[string]listeners.Sink{"mem": sink2}})
	waitFor(t, 10*time.Second, "1 event", func() bool { return len(sink2.all()) >= 1 })
	time.Sleep(200 * time.Millisecond)
	r.stop(t)
	evs = sink2.all()
	if len(evs) != 1 || evs[0].Path != "items/old0" || evs[0].Type != listeners.Removed {
		t.Fatalf("after restart got %+v, want only the removal of items/old0", evs)
	}
}

// TestRestartEmitsExactlyTheMissedChanges stops the engine, changes the
// database, and restarts: the new run emits the changes made while it was
// down (deletes included) and nothing for unchanged documents.
func TestRestartEmitsExactlyTheMissedChanges(t *testing.T) {
	f, dir := newFS(t)
	ctx := context.Background()
	col := f.Client.Collection("items")
	for i := range 10 {
		if _, err := col.Doc(fmt.Sprintf("d%d", i)).Set(ctx, map[string]any{"n": int64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	sink := &memSink{}
	r := start(t, engineConfig{project: f.ProjectID, stateDir: dir, query: collection("items"), sinks: map[string]listeners.Sink{"mem": sink}})
	waitFor(t, 10*time.Second, "10 events", func() bool { return len(sink.all()) == 10 })
	r.stop(t)

	if _, err := col.Doc("d0").Set(ctx, map[string]any{"n": int64(1000)}); err != nil {
		t.Fatal(err)
	}
	if _, err := col.Doc("d1").Delete(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := col.Doc("d2").Delete(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := col.Doc("d2").Set(ctx, map[string]any{"n": "recreated"}); err != nil {
		t.Fatal(err)
	}
	if _, err := col.Doc("new").Set(ctx, map[string]any{"n": int64(-1)}); err != nil {
		t.Fatal(err)
	}

	sink2 := &memSink{}
	r = start(t, engineConfig{project: f.ProjectID, stateDir: dir, query: collection("items"), sinks: map[string]listeners.Sink{"mem": sink2}})
	waitFor(t, 10*time.Second, "4 events", func() bool { return len(sink2.all()) >= 4 })
	time.Sleep(300 * time.Millisecond) // anything extra would show up now
	r.stop(t)
	got := map[string]listeners.EventType{}
	for _, ev := range sink2.all() {
		if _, dup := got[ev.Path]; dup {
			t.Fatalf("two events for %s: %+v", ev.Path, sink2.all())
		}
		got[ev.Path] = ev.Type
	}
	want := map[string]listeners.EventType{"items/d0": listeners.Modified, "items/d1": listeners.Removed,
		"items/d2": listeners.Modified, "items/new": listeners.Added}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after restart got %v, want %v", got, want)
	}
	all := append(sink.all(), sink2.all()...)
	if d := diffStates(state(all), dbState(t, col.Query)); d != "" {
		t.Fatalf("rebuilt state differs from the database: %s", d)
	}
	checkIDs(t, all)
}

// TestChurn runs random creates, updates and deletes across several
// collections (listened to as one collection group), with two sinks, one
// of them failing now and then and slow: the state rebuilt from each sink's
// events equals the database.
func TestChurn(t *testing.T) {
	f, dir := newFS(t)
	ctx := context.Background()
	fast := &memSink{}
	flaky := &memSink{delay: 5 * time.Millisecond, fail: func(n int) error {
		if n%4 == 0 {
			return errInjected
		}
		return nil
	}}
	reg := prometheus.NewRegistry()
	m := listeners.NewMetrics(reg)
	q := func(c *firestore.Client) firestore.Query { return c.CollectionGroup("things").Query }
	r := start(t, engineConfig{project: f.ProjectID, stateDir: dir, query: q, metrics: m,
		sinks: map[string]listeners.Sink{"fast": fast, "flaky": flaky},
		opts:  func(o *listeners.Options) { o.QueueSize = 20; o.BatchSize = 7 }})

	rng := rand.New(rand.NewPCG(1, 2))
	paths := []string{}
	for i := range 3 {
		for j := range 15 {
			paths = append(paths, fmt.Sprintf("shard%d/p/things/t%02d", i, j))
		}
	}
	const ops = 400
	for i := range ops {
		p := paths[rng.IntN(len(paths))]
		ref := f.Client.Doc(p)
		var err error
		switch rng.IntN(5) {
		case 0:
			_, err = ref.Delete(ctx)
		case 1:
			_, err = ref.Set(ctx, map[string]any{"i": int64(i), "tag": "merge"}, firestore.MergeAll)
		default:
			_, err = ref.Set(ctx, map[string]any{"i": int64(i), "v": rng.Float64(), "s": fmt.Sprint(rng.Int())})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	want := dbState(t, f.Client.CollectionGroup("things").Query)
	for name, s := range map[string]*memSink{"fast": fast, "flaky": flaky} {
		waitFor(t, 30*time.Second, name+" to converge", func() bool { return diffStates(state(s.all()), want) == "" })
		checkIDs(t, s.all())
	}
	r.stop(t)
	retries := metricValue(t, reg, "fbadmin_listen_sink_retries_total", "flaky")
	if retries == 0 {
		t.Errorf("flaky sink: retries metric is 0, want > 0")
	}
	in := metricValue(t, reg, "fbadmin_listen_events_in_total", "l")
	delivered := metricValue(t, reg, "fbadmin_listen_events_delivered_total", "l", "flaky")
	t.Logf("events in %v, delivered to flaky %v (coalesced %v), to fast %d, retries %v",
		in, delivered, metricValue(t, reg, "fbadmin_listen_events_coalesced_total", "flaky"), len(fast.all()), retries)
	if delivered == 0 || delivered != float64(len(flaky.all())) {
		t.Errorf("delivered metric %v, want %d", delivered, len(flaky.all()))
	}
}

// TestCoalescesWhenSinkFallsBehind updates one document many times while
// its sink is stuck: the sink then gets far fewer events, ending on the
// last version.
func TestCoalescesWhenSinkFallsBehind(t *testing.T) {
	f, dir := newFS(t)
	ctx := context.Background()
	var blocked atomic.Bool
	blocked.Store(true)
	gate := make(chan struct{})
	sink := &memSink{fail: func(n int) error {
		if blocked.Load() {
			<-gate
		}
		return nil
	}}
	col := f.Client.Collection("hot")
	if _, err := col.Doc("x").Set(ctx, map[string]any{"n": int64(-1)}); err != nil {
		t.Fatal(err)
	}
	r := start(t, engineConfig{project: f.ProjectID, stateDir: dir, query: collection("hot"), sinks: map[string]listeners.Sink{"mem": sink}})
	const n = 50
	for i := range n {
		if _, err := col.Doc("x").Set(ctx, map[string]any{"n": int64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(300 * time.Millisecond)
	blocked.Store(false)
	close(gate)
	want := dbState(t, col.Query)
	waitFor(t, 10*time.Second, "convergence", func() bool { return diffStates(state(sink.all()), want) == "" })
	r.stop(t)
	if got := len(sink.all()); got > 5 {
		t.Errorf("sink got %d events for %d updates while stuck, want them coalesced to a few", got, n+1)
	}
	checkIDs(t, sink.all())
}

// TestWatchdogRecyclesSilentListener sets a tiny watchdog: the stream is
// reopened again and again, re-diffed against what was emitted, and emits
// no duplicates.
func TestWatchdogRecyclesSilentListener(t *testing.T) {
	f, dir := newFS(t)
	ctx := context.Background()
	col := f.Client.Collection("quiet")
	if _, err := col.Doc("a").Set(ctx, map[string]any{"n": int64(1)}); err != nil {
		t.Fatal(err)
	}
	sink := &memSink{}
	reg := prometheus.NewRegistry()
	m := listeners.NewMetrics(reg)
	r := start(t, engineConfig{project: f.ProjectID, stateDir: dir, query: collection("quiet"), metrics: m,
		sinks: map[string]listeners.Sink{"mem": sink}, opts: func(o *listeners.Options) { o.Watchdog = 200 * time.Millisecond }})
	recycles := func() float64 { return metricValue(t, reg, "fbadmin_listen_restarts_total", "l", "watchdog") }
	waitFor(t, 10*time.Second, "3 watchdog recycles", func() bool { return recycles() >= 3 })
	if _, err := col.Doc("b").Set(ctx, map[string]any{"n": int64(2)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "2 events", func() bool { return len(sink.all()) >= 2 })
	time.Sleep(500 * time.Millisecond)
	r.stop(t)
	if got := len(sink.all()); got != 2 {
		t.Fatalf("got %d events across watchdog recycles, want 2: %+v", got, sink.all())
	}
}

// TestSinkFailureNeverStopsTheEngine fails every send for a while: the
// engine keeps retrying, keeps the checkpoint where it was, and delivers
// everything once the sink recovers.
func TestSinkFailureNeverStopsTheEngine(t *testing.T) {
	f, dir := newFS(t)
	ctx := context.Background()
	var failing atomic.Bool
	failing.Store(true)
	sink := &memSink{fail: func(int) error {
		if failing.Load() {
			return errInjected
		}
		return nil
	}}
	col := f.Client.Collection("items")
	r := start(t, engineConfig{project: f.ProjectID, stateDir: dir, query: collection("items"), sinks: map[string]listeners.Sink{"mem": sink}})
	for i := range 5 {
		if _, err := col.Doc(fmt.Sprint(i)).Set(ctx, map[string]any{"n": int64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(time.Second)
	if n := len(sink.all()); n != 0 {
		t.Fatalf("failing sink recorded %d events", n)
	}
	// Nothing acknowledged, nothing checkpointed (the file may not exist
	// yet: checkpoints are written by the sink's goroutine between sends).
	cp, err := listeners.LoadCheckpoint(dir + "/l/mem.ckpt")
	if (err != nil && !errors.Is(err, listeners.ErrNoCheckpoint)) || len(cp) != 0 {
		t.Fatalf("checkpoint while the sink fails = %v, %v; want none or empty", cp, err)
	}
	failing.Store(false)
	want := dbState(t, col.Query)
	waitFor(t, 10*time.Second, "delivery after recovery", func() bool { return diffStates(state(sink.all()), want) == "" })
	r.stop(t)
	cp, err = listeners.LoadCheckpoint(dir + "/l/mem.ckpt")
	if err != nil || len(cp) != 5 {
		t.Fatalf("checkpoint after recovery = %v, %v; want 5 documents", cp, err)
	}
}

// TestDrainTimeoutKeepsUndelivered stops the engine while its sink is down:
// Run reports the incomplete drain, and the next run delivers the events.
func TestDrainTimeoutKeepsUndelivered(t *testing.T) {
	f, dir := newFS(t)
	ctx := context.Background()
	col := f.Client.Collection("items")
	if _, err := col.Doc("a").Set(ctx, map[string]any{"n": int64(1)}); err != nil {
		t.Fatal(err)
	}
	down := &memSink{fail: func(int) error { return errInjected }}
	r := start(t, engineConfig{project: f.ProjectID, stateDir: dir, query: collection("items"),
		sinks: map[string]listeners.Sink{"mem": down}, opts: func(o *listeners.Options) { o.DrainTimeout = 300 * time.Millisecond }})
	time.Sleep(300 * time.Millisecond)
	r.cancel()
	if err := <-r.done; err == nil || !strings.Contains(err.Error(), "drain incomplete") {
		t.Fatalf("Run = %v, want a drain incomplete error", err)
	}
	up := &memSink{}
	r = start(t, engineConfig{project: f.ProjectID, stateDir: dir, query: collection("items"), sinks: map[string]listeners.Sink{"mem": up}})
	waitFor(t, 10*time.Second, "redelivery", func() bool { return len(up.all()) == 1 })
	r.stop(t)
}

func TestBadSpecs(t *testing.T) {
	e, err := listeners.New(listeners.Options{StateDir: t.TempDir(), Project: "p"})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.AddSink("s", &memSink{}); err != nil {
		t.Fatal(err)
	}
	q := collection("c")
	for _, tc := range []struct {
		spec listeners.Spec
		want string
	}{
		{listeners.Spec{Name: "bad name", Query: q, Sinks: []string{"s"}}, "bad listener name"},
		{listeners.Spec{Name: "a", Sinks: []string{"s"}}, "no query"},
		{listeners.Spec{Name: "a", Query: q}, "no sinks"},
		{listeners.Spec{Name: "a", Query: q, Sinks: []string{"nope"}}, `unknown sink "nope"`},
		{listeners.Spec{Name: "a", Query: q, Sinks: []string{"s"}, Initial: "all"}, `initial "all"`},
	} {
		err := e.AddListener(tc.spec)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("AddListener(%+v) = %v, want an error containing %q", tc.spec, err, tc.want)
		}
	}
	if _, err := listeners.New(listeners.Options{}); err == nil || !strings.Contains(err.Error(), "state directory") {
		t.Errorf("New without a state directory = %v, want an error naming it", err)
	}
}

// TestCrashBeforeCheckpointRedelivers simulates a crash between a sink's
// acknowledgement and the next checkpoint write, by putting back an older
// checkpoint: the restarted engine delivers the changes since that
// checkpoint again, each with the ID it had the first time, and nothing
// else.
func TestCrashBeforeCheckpointRedelivers(t *testing.T) {
	f, dir := newFS(t)
	ctx := context.Background()
	col := f.Client.Collection("items")
	for i := range 5 {
		if _, err := col.Doc(fmt.Sprintf("d%d", i)).Set(ctx, map[string]any{"n": int64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	sink := &memSink{}
	r := start(t, engineConfig{project: f.ProjectID, stateDir: dir, query: collection("items"), sinks: map[string]listeners.Sink{"mem": sink}})
	waitFor(t, 10*time.Second, "5 events", func() bool { return len(sink.all()) == 5 })
	ckpt := dir + "/l/mem.ckpt"
	waitFor(t, 10*time.Second, "a checkpoint of 5 documents", func() bool {
		cp, err := listeners.LoadCheckpoint(ckpt)
		return err == nil && len(cp) == 5
	})
	old, err := os.ReadFile(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := col.Doc("d0").Set(ctx, map[string]any{"n": int64(100)}); err != nil {
		t.Fatal(err)
	}
	if _, err := col.Doc("d1").Delete(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "2 more events", func() bool { return len(sink.all()) == 7 })
	r.stop(t)
	if err := os.WriteFile(ckpt, old, 0o644); err != nil { // the "crash"
		t.Fatal(err)
	}

	sink2 := &memSink{}
	r = start(t, engineConfig{project: f.ProjectID, stateDir: dir, query: collection("items"), sinks: map[string]listeners.Sink{"mem": sink2}})
	waitFor(t, 10*time.Second, "redelivery", func() bool { return len(sink2.all()) >= 2 })
	time.Sleep(300 * time.Millisecond)
	r.stop(t)
	first := sink.all()[5:]
	again := sink2.all()
	if len(again) != 2 {
		t.Fatalf("redelivered %d events, want the 2 since the checkpoint: %+v", len(again), again)
	}
	ids := map[string]bool{first[0].ID: true, first[1].ID: true}
	for _, ev := range again {
		if !ids[ev.ID] {
			t.Errorf("redelivered %s %s with id %s, not one of the first delivery's %v", ev.Type, ev.Path, ev.ID, ids)
		}
	}
	checkIDs(t, append(sink.all(), again...))
}
