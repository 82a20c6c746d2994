package migrate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/genproto/googleapis/type/latlng"

	"github.com/fbadmin/fbadmin/internal/emutest"
	"github.com/fbadmin/fbadmin/internal/errs"
	"github.com/fbadmin/fbadmin/internal/storage/storagetest"
	"github.com/fbadmin/fbadmin/internal/transfer"
	"github.com/fbadmin/fbadmin/internal/value"
)

func TestParseFileRefusesBadFiles(t *testing.T) {
	cases := []struct {
		name, src string
		want      []string
	}{
		{"unknown key", "collection: users\noperations:\n  - set: {a: 1}\n    iff_missing: true\n", []string{"0001_x.yaml", "line 4", "iff_missing"}},
		{"wrong type", "collection: users\noperations:\n  - unset: notalist\n", []string{"0001_x.yaml", "line 3", "unset"}},
		{"bad CEL", "collection: users\noperations:\n  - transform: {field: a, expr: \"doc.a +\"}\n", []string{"0001_x.yaml", "line 3", "operations[0].transform.expr", "CEL"}},
		{"CEL type error", "collection: users\noperations:\n  - set: {a: 1}\n    when: \"1 + 2\"\n", []string{"line 4", "operations[0].when", "bool"}},
		{"no target", "operations:\n  - delete: true\n", []string{"collection", "required"}},
		{"two ops in one", "collection: users\noperations:\n  - delete: true\n    unset: [a]\n", []string{"line 3", "operations[0]", "several"}},
		{"bad filter", "collection: users\nwhere:\n  - {field: a, op: \"=~\", value: 1}\noperations:\n  - delete: true\n", []string{"line 3", "where[0].op"}},
		{"bad template", "collection: users\noperations:\n  - copy: {to: archive, id: \"{id\"}\n", []string{"line 3", "copy.id"}},
		{"document as collection", "collection: users/alice\noperations:\n  - delete: true\n", []string{"line 1", "collection"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseFile("migrations/0001_x.yaml", []byte(c.src))
			if err == nil {
				t.Fatal("got no error")
			}
			if !errors.Is(err, errs.ErrInvalid) {
				t.Errorf("got kind %v, want ErrInvalid", errs.KindOf(err))
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
	if _, err := ParseFile("migrations/x.yaml", []byte("collection: users\noperations:\n  - delete: true\n")); err == nil || !strings.Contains(err.Error(), "version number") {
		t.Errorf("file name without version: got %v", err)
	}
}

// env is a test's database: its client and bulk connection.
type testEnv struct {
	f  *emutest.Firestore
	c  *firestore.Client
	db *transfer.DB
}

func newEnv(t *testing.T) *testEnv {
	t.Helper()
	f := emutest.NewFirestore(t)
	db, err := transfer.Open(context.Background(), transfer.Config{Project: f.ProjectID, EmulatorHost: f.Host})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &testEnv{f: f, c: f.Client, db: db}
}

// export returns the database's documents (less fbadmin's state) as
// sorted lines of path and data, without the times.
func (e *testEnv) export(t *testing.T) string {
	t.Helper()
	var buf bytes.Buffer
	if _, err := transfer.Export(context.Background(), e.db, &buf, transfer.ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if l == "" {
			continue
		}
		var v struct {
			Path string          `json:"path"`
			Data json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(v.Path, "_fbadmin_migrations/") {
			continue
		}
		lines = append(lines, v.Path+" "+string(v.Data))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func (e *testEnv) get(t *testing.T, path string) map[string]any {
	t.Helper()
	s, err := e.c.Doc(path).Get(context.Background())
	if err != nil {
		if isNotFoundErr(err) {
			return nil
		}
		t.Fatal(err)
	}
	return s.Data()
}

func isNotFoundErr(err error) bool { return errs.KindOf(err) == errs.ErrNotFound }

func mustParse(t *testing.T, name, src string) *Migration {
	t.Helper()
	m, err := ParseFile(name, []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func testRunner(e *testEnv, t *testing.T, o Options) *Runner {
	if o.JournalDir == "" {
		o.JournalDir = t.TempDir()
	}
	return New(e.c, o)
}

var ts = time.Date(2024, 1, 2, 3, 4, 5, 123456000, time.UTC)

func seedTypes(t *testing.T, e *testEnv) {
	t.Helper()
	ctx := context.Background()
	data := map[string]any{
		"i": int64(41), "big": int64(math.MaxInt64), "d": 1.5, "s": "ada", "b": true, "n": nil,
		"t": ts, "by": []byte{0, 1, 2}, "g": &latlng.LatLng{Latitude: 48.85, Longitude: 2.35},
		"r": e.c.Doc("users/bob"), "l": []any{int64(1), "x"}, "m": map[string]any{"k": int64(2)},
		"name": "Ada", "legacy": "x", "price": 2.5, "qty": int64(4),
	}
	if _, err := e.c.Doc("users/ada").Set(ctx, data); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.Doc("users/bob").Set(ctx, map[string]any{"name": "Bob", "plan": "pro", "qty": int64(1), "price": 1.0, "old": true}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.Doc("other/x").Set(ctx, map[string]any{"keep": int64(1)}); err != nil {
		t.Fatal(err)
	}
}

// readMode is one way up reads: through one query stream, or through
// range queries (Options.DB), several at once as in production.
type readMode struct {
	name   string
	ranged bool
}

var readModes = []readMode{{"stream", false}, {"ranged", true}}

// runner returns a runner on e that reads and writes the mode's way.
func (md readMode) runner(e *testEnv, t *testing.T, o Options) *Runner {
	if md.ranged {
		o.DB = e.db
		o.ReadParallel = 4
	}
	return testRunner(e, t, o)
}

func TestOperationsAndCELOnEveryType(t *testing.T) {
	for _, md := range readModes {
		t.Run(md.name, func(t *testing.T) { testOperationsAndCEL(t, md) })
	}
}

func testOperationsAndCEL(t *testing.T, md readMode) {
	e := newEnv(t)
	seedTypes(t, e)
	before := e.export(t)
	m := mustParse(t, "0001_ops.yaml", `
description: every operation
collection: users
operations:
  - set: {plan: free, "limits.max": 10, since: {$timestamp: "2025-01-01T00:00:00Z"}}
    if_missing: true
  - unset: [legacy]
  - rename: {from: name, to: displayName}
  - transform: {field: total, expr: "doc.price * double(doc.qty)"}
  - transform: {field: i2, expr: "doc.i + 1"}
    when: "has(doc.i)"
  - transform: {field: big_is_max, expr: "doc.big == 9223372036854775807"}
    when: "has(doc.big)"
  - transform: {field: t2, expr: "doc.t + duration('1h')"}
    when: "has(doc.t)"
  - transform: {field: t_year, expr: "doc.t.getFullYear()"}
    when: "has(doc.t)"
  - transform: {field: by2, expr: "doc.by + b'\\x03'"}
    when: "has(doc.by)"
  - transform: {field: lat, expr: "doc.g.latitude"}
    when: "has(doc.g)"
  - transform: {field: g2, expr: "geopoint(doc.g.longitude, doc.g.latitude)"}
    when: "has(doc.g)"
  - transform: {field: rpath, expr: "doc.r.path()"}
    when: "has(doc.r)"
  - transform: {field: r2, expr: "ref('users/' + doc.r.id() + '2')"}
    when: "has(doc.r)"
  - transform: {field: l2, expr: "doc.l + [true]"}
    when: "has(doc.l)"
  - transform: {field: mk, expr: "doc.m.k * 2"}
    when: "has(doc.m)"
  - transform: {field: n_is_null, expr: "doc.n == null"}
    when: "has(doc.n)"
  - transform: {field: sid, expr: "id + ':' + path"}
  - transform: {field: low, expr: "doc.s.upperAscii()"}
    when: "has(doc.s)"
  - copy: {to: archive, id: "{id}-{plan}"}
  - delete: true
    when: "has(doc.old) && doc.old"
`)
	r := md.runner(e, t, Options{})
	ctx := context.Background()
	reps, err := r.Up(ctx, []*Migration{m}, UpOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rep := reps[0]
	if rep.Read != 2 || rep.Changed != 1 || rep.Deleted != 1 || rep.Created != 2 {
		t.Errorf("got read %d changed %d deleted %d created %d, want 2 1 1 2", rep.Read, rep.Changed, rep.Deleted, rep.Created)
	}
	ada := e.get(t, "users/ada")
	want := map[string]any{
		"plan": "free", "limits": map[string]any{"max": int64(10)}, "since": time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
		"displayName": "Ada", "total": 10.0, "i2": int64(42), "big_is_max": true, "t2": ts.Add(time.Hour), "t_year": int64(2024),
		"by2": []byte{0, 1, 2, 3}, "lat": 48.85, "g2": &latlng.LatLng{Latitude: 2.35, Longitude: 48.85},
		"rpath": "users/bob", "r2": e.c.Doc("users/bob2"), "l2": []any{int64(1), "x", true}, "mk": int64(4), "n_is_null": true,
		"sid": "ada:users/ada", "low": "ADA",
		// untouched
		"i": int64(41), "big": int64(math.MaxInt64), "d": 1.5, "s": "ada", "b": true, "n": nil, "t": ts, "by": []byte{0, 1, 2},
		"g": &latlng.LatLng{Latitude: 48.85, Longitude: 2.35}, "r": e.c.Doc("users/bob"), "l": []any{int64(1), "x"},
		"m": map[string]any{"k": int64(2)}, "price": 2.5, "qty": int64(4),
	}
	for k, w := range want {
		if !value.Equal(ada[k], w) {
			t.Errorf("users/ada %s: got %s, want %s", k, describe(ada[k]), describe(w))
		}
	}
	for k := range ada {
		if _, ok := want[k]; !ok {
			t.Errorf("users/ada has unexpected field %s = %s", k, describe(ada[k]))
		}
	}
	if got := e.get(t, "users/bob"); got != nil {
		t.Errorf("users/bob: got %v, want deleted (when: doc.old)", got)
	}
	if got := e.get(t, "archive/ada-free"); got == nil || got["displayName"] != "Ada" {
		t.Errorf("archive/ada-free: got %v", got)
	}
	if got := e.get(t, "archive/bob-pro"); got == nil || got["displayName"] != "Bob" {
		t.Errorf("archive/bob-pro: got %v", got)
	}
	// Down gives back the database exactly as it was.
	if _, err := r.Down(ctx, []*Migration{m}, DownOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := e.export(t); got != before {
		t.Errorf("after up and down:\n%s\nwant:\n%s", got, before)
	}
	st, err := r.Status(ctx, []*Migration{m})
	if err != nil || st[0].Status != StatusPending || st[0].State.Status != StatusRolledBack {
		t.Errorf("status after down: %+v %v", st, err)
	}
}

func TestMove(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for i := range 5 {
		e.c.Doc(fmt.Sprintf("old/d%d", i)).Set(ctx, map[string]any{"n": int64(i)})
	}
	before := e.export(t)
	m := mustParse(t, "0001_move.yaml", "collection: old\nwhere:\n  - {field: n, op: \">=\", value: 2}\noperations:\n  - move: {to: new}\n")
	r := testRunner(e, t, Options{})
	reps, err := r.Up(ctx, []*Migration{m}, UpOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if reps[0].Created != 3 || reps[0].Deleted != 3 {
		t.Errorf("got %+v", reps[0])
	}
	if e.get(t, "old/d3") != nil || e.get(t, "new/d3")["n"] != int64(3) || e.get(t, "old/d1") == nil {
		t.Errorf("move did not move d2..d4 only")
	}
	if _, err := r.Verify(ctx, []*Migration{m}); err != nil {
		t.Errorf("verify after up: %v", err)
	}
	if _, err := r.Down(ctx, []*Migration{m}, DownOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := e.export(t); got != before {
		t.Errorf("after down:\n%s\nwant:\n%s", got, before)
	}
}

func seedN(t *testing.T, e *testEnv, coll string, n int) {
	t.Helper()
	ctx := context.Background()
	for i := 0; i < n; i += 500 {
		//lint:ignore SA1019 seeding
		b := e.c.Batch()
		for k := i; k < min(i+500, n); k++ {
			b.Set(e.c.Doc(fmt.Sprintf("%s/d%05d", coll, k)), map[string]any{"n": int64(k), "name": fmt.Sprint("u", k)})
		}
		if _, err := b.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

const counterMig = "collection: items\noperations:\n  - transform: {field: n, expr: \"doc.n + 1000000\"}\n  - rename: {from: name, to: title}\n"

func TestDryRunWritesNothing(t *testing.T) {
	for _, md := range readModes {
		t.Run(md.name, func(t *testing.T) { testDryRunWritesNothing(t, md) })
	}
}

func testDryRunWritesNothing(t *testing.T, md readMode) {
	e := newEnv(t)
	seedN(t, e, "items", 1200)
	before := e.export(t)
	m := mustParse(t, "0001_c.yaml", counterMig)
	r := md.runner(e, t, Options{})
	reps, err := r.Plan(context.Background(), []*Migration{m})
	if err != nil {
		t.Fatal(err)
	}
	if reps[0].Read != 1200 || reps[0].Changed != 1200 || len(reps[0].Diffs) != 3 {
		t.Errorf("got read %d changed %d diffs %d, want 1200 1200 3", reps[0].Read, reps[0].Changed, len(reps[0].Diffs))
	}
	d := reps[0].Diffs[0]
	if d.Op != "update" || len(d.Fields) != 3 {
		t.Errorf("diff: %+v", d)
	}
	if got := e.export(t); got != before {
		t.Error("a dry run changed the database")
	}
	st, _ := r.states(context.Background())
	if len(st) != 0 {
		t.Errorf("a dry run wrote state: %v", st)
	}
}

func TestResumeAfterInterruption(t *testing.T) {
	for _, md := range readModes {
		t.Run(md.name, func(t *testing.T) { testResumeAfterInterruption(t, md) })
	}
}

func testResumeAfterInterruption(t *testing.T, md readMode) {
	e := newEnv(t)
	seedN(t, e, "items", 2000)
	m := mustParse(t, "0001_c.yaml", counterMig)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	var batches int
	var mu sync.Mutex
	r := md.runner(e, t, Options{JournalDir: dir, Parallel: 1, Progress: func(string, int64) {
		mu.Lock()
		defer mu.Unlock()
		if batches++; batches == 2 {
			cancel()
		}
	}})
	_, err := r.Up(ctx, []*Migration{m}, UpOptions{})
	if err == nil {
		t.Fatal("the interrupted run did not fail")
	}
	st, _ := r.Status(context.Background(), []*Migration{m})
	if st[0].Status != StatusFailed {
		t.Fatalf("status after interruption: %s", st[0].Status)
	}
	r2 := md.runner(e, t, Options{JournalDir: dir})
	plan, err := r2.Plan(context.Background(), []*Migration{m})
	if err != nil {
		t.Fatal(err)
	}
	if p := plan[0]; p.Resumed == 0 || p.Resumed+p.Changed != 2000 {
		t.Errorf("plan of the interrupted migration: %d done, %d to change, want them to add up to 2000", p.Resumed, p.Changed)
	}
	reps, err := r2.Up(context.Background(), []*Migration{m}, UpOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if reps[0].Resumed == 0 {
		t.Errorf("nothing was resumed: %+v", reps[0])
	}
	for i := range 2000 {
		d := e.get(t, fmt.Sprintf("items/d%05d", i))
		if d["n"] != int64(i+1000000) || d["title"] != fmt.Sprint("u", i) || d["name"] != nil {
			t.Fatalf("items/d%05d: got %v (applied twice or skipped)", i, d)
		}
	}
}

func TestConcurrentUp(t *testing.T) {
	e := newEnv(t)
	seedN(t, e, "items", 3000)
	m := mustParse(t, "0001_c.yaml", counterMig)
	var wg sync.WaitGroup
	results := make([]error, 2)
	reps := make([][]*Report, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := New(e.c, Options{JournalDir: t.TempDir(), Holder: fmt.Sprint("runner", i)})
			reps[i], results[i] = r.Up(context.Background(), []*Migration{m}, UpOptions{})
		}()
	}
	wg.Wait()
	var applied int
	for i, err := range results {
		var held *LockHeldError
		switch {
		case err == nil:
			if len(reps[i]) == 1 {
				applied++
			}
		case errors.As(err, &held):
			if !strings.Contains(err.Error(), "runner") {
				t.Errorf("the refusal does not name the holder: %v", err)
			}
		default:
			t.Errorf("runner %d: %v", i, err)
		}
	}
	if applied != 1 {
		t.Errorf("%d runs applied the migration, want 1", applied)
	}
	for i := range 3000 {
		if d := e.get(t, fmt.Sprintf("items/d%05d", i)); d["n"] != int64(i+1000000) {
			t.Fatalf("items/d%05d: n = %v", i, d["n"])
		}
	}
	// With --wait, a second up waits for the lock and finds nothing to do.
	r1 := New(e.c, Options{JournalDir: t.TempDir(), Holder: "holder"})
	l, err := r1.acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	go func() { time.Sleep(1500 * time.Millisecond); l.release(context.Background()) }()
	r2 := New(e.c, Options{JournalDir: t.TempDir(), Wait: 20 * time.Second})
	start := time.Now()
	got, err := r2.Up(context.Background(), []*Migration{m}, UpOptions{})
	if err != nil || len(got) != 0 {
		t.Errorf("waiting up: %v, %d reports", err, len(got))
	}
	if time.Since(start) < time.Second {
		t.Errorf("the second up did not wait for the lock")
	}
}

func TestStaleHolderCannotWrite(t *testing.T) {
	for _, md := range readModes {
		t.Run(md.name, func(t *testing.T) { testStaleHolderCannotWrite(t, md) })
	}
}

func testStaleHolderCannotWrite(t *testing.T, md readMode) {
	e := newEnv(t)
	seedN(t, e, "items", 10)
	before := e.export(t)
	ctx := context.Background()
	stale := md.runner(e, t, Options{JournalDir: t.TempDir(), Holder: "stale", LeaseTTL: time.Second, noRenew: true})
	l, err := stale.acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1200 * time.Millisecond) // the lease expires: the holder stalled
	taker := New(e.c, Options{JournalDir: t.TempDir(), Holder: "taker"})
	l2, err := taker.acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if l2.token != l.token+1 {
		t.Errorf("fencing token: got %d, want %d", l2.token, l.token+1)
	}
	// The stalled holder wakes up and writes a batch.
	m := mustParse(t, "0001_c.yaml", counterMig)
	j, _ := openJournal(t.TempDir()+"/j", 0)
	s := stale.newSession(ctx, m, false, l, j, nil)
	err = s.runPlan(ctx, m.up)
	if !errors.Is(err, ErrLeaseLost) {
		t.Errorf("late write: got %v, want ErrLeaseLost", err)
	}
	if got := e.export(t); got != before {
		t.Error("the stale holder's write landed")
	}
	l2.release(ctx)
}

func TestDrift(t *testing.T) {
	e := newEnv(t)
	seedN(t, e, "items", 5)
	ctx := context.Background()
	m := mustParse(t, "0001_c.yaml", counterMig)
	r := testRunner(e, t, Options{})
	if _, err := r.Up(ctx, []*Migration{m}, UpOptions{}); err != nil {
		t.Fatal(err)
	}
	changed := mustParse(t, "0001_c.yaml", counterMig+"  - unset: [x]\n")
	m2 := mustParse(t, "0002_d.yaml", "collection: items\noperations:\n  - set: {z: 1}\n")
	st, err := r.Status(ctx, []*Migration{changed, m2})
	if err != nil || st[0].Status != StatusDrifted || st[1].Status != StatusPending {
		t.Fatalf("status: %+v %v", st, err)
	}
	_, err = r.Up(ctx, []*Migration{changed, m2}, UpOptions{})
	if !errors.Is(err, errs.ErrConflict) || !strings.Contains(err.Error(), "drifted") {
		t.Errorf("up with drift: got %v", err)
	}
	if e.get(t, "items/d00000")["z"] != nil {
		t.Error("up ran a migration despite the drift")
	}
	if _, err := r.Up(ctx, []*Migration{changed, m2}, UpOptions{AcceptDrift: []string{"0001_c"}}); err != nil {
		t.Fatal(err)
	}
	if e.get(t, "items/d00000")["z"] != int64(1) || e.get(t, "items/d00000")["n"] != int64(1000000) {
		t.Errorf("after accepting the drift: %v", e.get(t, "items/d00000"))
	}
}

func TestDownReportsChangedDocuments(t *testing.T) {
	e := newEnv(t)
	seedN(t, e, "items", 5)
	ctx := context.Background()
	m := mustParse(t, "0001_c.yaml", counterMig)
	r := testRunner(e, t, Options{})
	if _, err := r.Up(ctx, []*Migration{m}, UpOptions{}); err != nil {
		t.Fatal(err)
	}
	e.c.Doc("items/d00002").Update(ctx, []firestore.Update{{Path: "n", Value: int64(7)}})
	reps, err := r.Down(ctx, []*Migration{m}, DownOptions{})
	if !errors.Is(err, errs.ErrConflict) || len(reps) != 1 || len(reps[0].Conflicts) != 1 || reps[0].Conflicts[0] != "items/d00002" {
		t.Fatalf("down: %v %+v", err, reps)
	}
	if e.get(t, "items/d00002")["n"] != int64(7) || e.get(t, "items/d00001")["n"] != int64(1) {
		t.Errorf("down overwrote a changed document or did not restore the others")
	}
	if _, err := r.Down(ctx, []*Migration{m}, DownOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	if d := e.get(t, "items/d00002"); d["n"] != int64(2) || d["name"] != "u2" {
		t.Errorf("down --force: %v", d)
	}
}

func TestGoMigration(t *testing.T) {
	e := newEnv(t)
	seedN(t, e, "items", 700)
	before := e.export(t)
	ctx := context.Background()
	m, err := NewFunc("0001_go", func(ctx context.Context, tx *Tx) error {
		return tx.Documents(ctx, tx.Client().Collection("items").Query, func(path string, data map[string]any) error {
			n := data["n"].(int64)
			if n%2 == 0 {
				return tx.Update(ctx, path, map[string]any{"half": n / 2, "name": Unset})
			}
			if n == 1 {
				return tx.Delete(ctx, path)
			}
			if n == 3 {
				return tx.Set(ctx, "made/"+strings.TrimPrefix(path, "items/"), map[string]any{"from": path})
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	r := testRunner(e, t, Options{})
	plan, err := r.Plan(ctx, []*Migration{m})
	if err != nil {
		t.Fatal(err)
	}
	if p := plan[0]; p.Read != 700 || p.Changed != 350 || p.Deleted != 1 || p.Created != 1 {
		t.Errorf("plan: %+v", p)
	}
	if e.export(t) != before {
		t.Fatal("the plan of a Go migration wrote")
	}
	if _, err := r.Up(ctx, []*Migration{m}, UpOptions{}); err != nil {
		t.Fatal(err)
	}
	if d := e.get(t, "items/d00004"); d["half"] != int64(2) || d["name"] != nil {
		t.Errorf("items/d00004: %v", d)
	}
	if e.get(t, "items/d00001") != nil || e.get(t, "made/d00003") == nil {
		t.Error("delete or set of the Go migration missing")
	}
	if _, err := r.Down(ctx, []*Migration{m}, DownOptions{}); err != nil {
		t.Fatal(err)
	}
	if e.export(t) != before {
		t.Error("down of a Go migration did not restore the database")
	}
}

func TestLoadDirAndNewFile(t *testing.T) {
	dir := t.TempDir()
	p1, err := NewFile(dir, "Add plan")
	if err != nil || !strings.HasSuffix(p1, "0001_add_plan.yaml") {
		t.Fatalf("new: %s %v", p1, err)
	}
	p2, err := NewFile(dir, "rename name")
	if err != nil || !strings.HasSuffix(p2, "0002_rename_name.yaml") {
		t.Fatalf("new: %s %v", p2, err)
	}
	ms, err := LoadDir(dir)
	if err != nil {
		t.Fatalf("the template does not load: %v", err)
	}
	if len(ms) != 2 || ms[0].ID != "0001_add_plan" || ms[1].Version != 2 {
		t.Errorf("got %v", ms)
	}
}

func TestJournalInCloudStorage(t *testing.T) {
	storagetest.StartGCS(t, "journals")
	e := newEnv(t)
	seedN(t, e, "items", 1500)
	before := e.export(t)
	m := mustParse(t, "0001_c.yaml", counterMig)
	ctx, cancel := context.WithCancel(context.Background())
	var batches int
	var mu sync.Mutex
	r := New(e.c, Options{JournalDir: "gs://journals/migrations", Parallel: 1, Progress: func(string, int64) {
		mu.Lock()
		defer mu.Unlock()
		if batches++; batches == 1 {
			cancel()
		}
	}})
	if _, err := r.Up(ctx, []*Migration{m}, UpOptions{}); err == nil {
		t.Fatal("the interrupted run did not fail")
	}
	st, _ := r.Status(context.Background(), []*Migration{m})
	if !strings.HasPrefix(st[0].State.Journal, "gs://journals/migrations/") {
		t.Fatalf("journal: %q", st[0].State.Journal)
	}
	reps, err := New(e.c, Options{JournalDir: "gs://journals/migrations"}).Up(context.Background(), []*Migration{m}, UpOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if reps[0].Resumed == 0 || reps[0].Journal != st[0].State.Journal {
		t.Errorf("not resumed from the remote journal: %+v", reps[0])
	}
	for i := range 1500 {
		if d := e.get(t, fmt.Sprintf("items/d%05d", i)); d["n"] != int64(i+1000000) {
			t.Fatalf("items/d%05d: n = %v", i, d["n"])
		}
	}
	if _, err := r.Down(context.Background(), []*Migration{m}, DownOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := e.export(t); got != before {
		t.Error("down from a remote journal did not restore the database")
	}
}
