package listeners_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/firestore"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/fbadmin/fbadmin/internal/emutest"
	"github.com/fbadmin/fbadmin/internal/value"
	"github.com/fbadmin/fbadmin/listeners"
)

// memSink records every batch it acknowledges. fail, when set, decides
// whether a Send fails (before anything is recorded).
type memSink struct {
	mu     sync.Mutex
	events []listeners.Event
	sends  int
	fail   func(n int) error
	delay  time.Duration
}

func (m *memSink) Send(ctx context.Context, evs []listeners.Event) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	m.sends++
	n, fail, delay := m.sends, m.fail, m.delay
	m.mu.Unlock()
	if delay > 0 {
		time.Sleep(delay)
	}
	if fail != nil {
		if err := fail(n); err != nil {
			return err
		}
	}
	m.mu.Lock()
	m.events = append(m.events, evs...)
	m.mu.Unlock()
	return nil
}

func (m *memSink) Close() error { return nil }

func (m *memSink) all() []listeners.Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.events)
}

// state rebuilds documents from events, in order: path -> encoded data.
func state(evs []listeners.Event) map[string][]byte {
	st := map[string][]byte{}
	for _, ev := range evs {
		if ev.Type == listeners.Removed {
			delete(st, ev.Path)
		} else {
			st[ev.Path] = ev.Data
		}
	}
	return st
}

// dbState reads every document of q: path -> encoded data.
func dbState(t testing.TB, q firestore.Query) map[string][]byte {
	t.Helper()
	docs, err := q.Documents(context.Background()).GetAll()
	if err != nil {
		t.Fatalf("read database: %v", err)
	}
	st := map[string][]byte{}
	for _, d := range docs {
		b, err := value.EncodeMap(d.Data())
		if err != nil {
			t.Fatal(err)
		}
		st[relPath(d.Ref.Path)] = b
	}
	return st
}

func relPath(name string) string {
	const marker = "/documents/"
	for i := 0; i+len(marker) <= len(name); i++ {
		if name[i:i+len(marker)] == marker {
			return name[i+len(marker):]
		}
	}
	return name
}

// diffStates describes how got differs from want, or returns "".
func diffStates(got, want map[string][]byte) string {
	var out []string
	for p, w := range want {
		g, ok := got[p]
		if !ok {
			out = append(out, "missing "+p)
			continue
		}
		gv, err1 := value.DecodeMap(g)
		wv, err2 := value.DecodeMap(w)
		if err1 != nil || err2 != nil || !value.Equal(gv, wv) {
			out = append(out, fmt.Sprintf("%s: got %s, want %s", p, g, w))
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			out = append(out, "extra "+p)
		}
	}
	slices.Sort(out)
	if len(out) > 10 {
		out = append(out[:10], fmt.Sprintf("... and %d more", len(out)-10))
	}
	if len(out) == 0 {
		return ""
	}
	return fmt.Sprint(out)
}

// checkIDs fails if two events share an ID but differ, or if an ID does not
// match its event.
func checkIDs(t testing.TB, evs []listeners.Event) (dups int) {
	t.Helper()
	seen := map[string]listeners.Event{}
	for _, ev := range evs {
		if err := ev.Validate(); err != nil {
			t.Fatalf("bad event: %v", err)
		}
		if old, ok := seen[ev.ID]; ok {
			dups++
			if old.Path != ev.Path || old.Type != ev.Type && !(isUpsert(old.Type) && isUpsert(ev.Type)) || string(old.Data) != string(ev.Data) {
				t.Fatalf("events with one id %s differ:\n%+v\n%+v", ev.ID, old, ev)
			}
		}
		seen[ev.ID] = ev
	}
	return dups
}

func isUpsert(t listeners.EventType) bool { return t == listeners.Added || t == listeners.Modified }

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// running is an engine started in the background.
type running struct {
	e        *listeners.Engine
	cancel   context.CancelFunc
	done     chan error
	finished chan struct{}
}

func (r *running) stop(t testing.TB) {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			t.Fatalf("engine Run = %v, want nil after a drain", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("engine did not stop within 60s")
	}
}

type engineConfig struct {
	project  string
	stateDir string
	initial  listeners.Initial
	query    func(*firestore.Client) firestore.Query
	sinks    map[string]listeners.Sink
	opts     func(*listeners.Options)
	metrics  *listeners.Metrics
	newClien func(ctx context.Context, project, database string) (*firestore.Client, error)
}

// start builds an engine with one listener "l" on cfg.query and starts it.
func start(t *testing.T, cfg engineConfig) *running {
	t.Helper()
	o := listeners.Options{StateDir: cfg.stateDir, Project: cfg.project, CheckpointInterval: 50 * time.Millisecond,
		BackoffInitial: 50 * time.Millisecond, BackoffMax: time.Second, Metrics: cfg.metrics, NewClient: cfg.newClien,
		Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))}
	if cfg.opts != nil {
		cfg.opts(&o)
	}
	e, err := listeners.New(o)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for name, s := range cfg.sinks {
		if err := e.AddSink(name, s); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	slices.Sort(names)
	if err := e.AddListener(listeners.Spec{Name: "l", Query: cfg.query, Initial: cfg.initial, Sinks: names}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{e: e, cancel: cancel, done: make(chan error, 1), finished: make(chan struct{})}
	go func() { r.done <- e.Run(ctx); close(r.finished) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.finished:
		case <-time.After(60 * time.Second):
		}
	})
	waitFor(t, 30*time.Second, "the listener to go live", func() bool { return e.Ready() == nil })
	return r
}

func collection(name string) func(*firestore.Client) firestore.Query {
	return func(c *firestore.Client) firestore.Query { return c.Collection(name).Query }
}

func newFS(t *testing.T) (*emutest.Firestore, string) {
	t.Helper()
	f := emutest.NewFirestore(t)
	return f, filepath.Join(t.TempDir(), "state")
}

var errInjected = errors.New("injected failure")

// metricValue returns the value of the counter or gauge name whose label
// values are labels (in the metric's label order), 0 when absent.
func metricValue(t testing.TB, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			lp := m.GetLabel()
			if len(lp) != len(labels) {
				continue
			}
			// Gathered labels are sorted by name; compare as sets.
			have := map[string]bool{}
			for _, l := range lp {
				have[l.GetValue()] = true
			}
			for _, v := range labels {
				if !have[v] {
					continue next
				}
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}
