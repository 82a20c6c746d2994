package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fbadmin/fbadmin/internal/emutest"
	"github.com/fbadmin/fbadmin/internal/pgtest"
	"github.com/fbadmin/fbadmin/listeners"
)

func TestComparePaths(t *testing.T) {
	want := []string{"a/b/items/x", "a/b/items/x/c/d", "a/b-c/items/y", "a/bb/items/z", "b"}
	got := slices.Clone(want)
	slices.Reverse(got)
	slices.SortFunc(got, listeners.ComparePaths)
	if !slices.Equal(got, want) {
		t.Errorf("sorted: %q, want %q", got, want)
	}
	if h1, h2 := listeners.DataHash([]byte(`{"b": 1.0, "a": "\u00e9"}`)), listeners.DataHash([]byte(`{"a":"é","b":1}`)); !bytes.Equal(h1, h2) {
		t.Errorf("DataHash differs for the same value spelled differently")
	}
}

// TestReconcile backfills a file sink and a postgres sink, changes both
// behind the sinks' backs (rows deleted, made older, altered and added),
// and checks that Reconcile finds exactly those differences, that a
// repair fixes them through the sinks, and that a second reconcile finds
// none. The listener is a collection group, so that paths of several
// parents are merged in Firestore's order (groups/b/... before
// groups/b-c/...).
func TestReconcile(t *testing.T) {
	f := emutest.NewFirestore(t)
	db := pgtest.New(t)
	t.Setenv("FBADMIN_TEST_PG_DSN", db.DSN)
	dir := t.TempDir()
	path := writeConfig(t, dir, fmt.Sprintf(`
project: %s
state_dir: %s
http: {addr: "off"}
engine: {batch_size: 3}
sinks:
  - name: archive
    file: {path: %s/events.ndjson, fsync: always}
  - name: warehouse
    postgres: {dsn_env: FBADMIN_TEST_PG_DSN, columns: [{field: n, column: n, type: bigint}]}
  - {name: console, stdout: {}}
listeners:
  - name: items
    collection_group: items
    sinks: [archive, warehouse, console]
  - name: some
    collection: items
    where: [{field: n, op: ">=", value: 3}]
    sinks: [archive]
`, f.ProjectID, dir, dir))
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	bg := context.Background()
	var docs []string
	for i := range 12 {
		docs = append(docs, fmt.Sprintf("items/d%02d", i))
	}
	docs = append(docs, "groups/b/items/x1", "groups/b/items/x2", "groups/b-c/items/y1", "groups/bb/items/z1")
	for i, p := range docs {
		if _, err := f.Client.Doc(p).Set(bg, map[string]any{"n": int64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	if _, err := Backfill(bg, cfg, "items", BackfillOptions{ReadTime: time.Now(), Logger: quiet, Stdout: io.Discard}); err != nil {
		t.Fatal(err)
	}

	type found map[string][]string // sink -> "kind path", in report order
	reconcile := func(repair bool) (*ReconcileResult, found) {
		t.Helper()
		got := found{}
		res, err := Reconcile(bg, cfg, "items", ReconcileOptions{ReadTime: time.Now(), Repair: repair, Logger: quiet,
			Report: func(d Difference) {
				got[d.Sink] = append(got[d.Sink], string(d.Kind)+" "+d.Path)
				if d.Repaired != repair {
					t.Errorf("%s %s %s: repaired %v, want %v", d.Sink, d.Kind, d.Path, d.Repaired, repair)
				}
			}})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Sinks) != 2 || res.Sinks["console"] != nil {
			t.Errorf("compared sinks %v, want archive and warehouse (stdout cannot be read)", res.Sinks)
		}
		return res, got
	}
	res, got := reconcile(false)
	for name, c := range res.Sinks {
		if c.Documents != len(docs) || c.Rows != len(docs) || c.Differences() != 0 {
			t.Errorf("after the backfill, sink %s: %+v (%v), want %d documents and rows, no differences", name, *c, got[name], len(docs))
		}
	}

	// Behind the table's back: a row deleted, one made older, one altered
	// in place (same update time), and two added.
	for _, sql := range []string{
		`DELETE FROM items WHERE path = 'items/d01'`,
		`UPDATE items SET update_time = update_time - interval '1 second' WHERE path = 'items/d02'`,
		`UPDATE items SET data = '{"n":{"$int":"999"}}' WHERE path = 'groups/b-c/items/y1'`,
		`INSERT INTO items (path, id, parent, data, create_time, update_time, listener, event_id, event_type, read_time)
		 VALUES ('groups/b/items/x0', 'x0', 'groups/b/items', '{}', now(), now(), 'items', 'e', 'added', now()),
		        ('items/zz', 'zz', 'items', '{}', now(), now(), 'items', 'e', 'added', now())`,
	} {
		if _, err := db.Pool.Exec(bg, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	// Behind the file's back: a line deleted, a line's update time made
	// older, a line's data changed, and two documents added.
	file := dir + "/events.ndjson"
	var lines []string
	for _, ev := range fileEvents(t, file) {
		switch ev.Path {
		case "items/d03":
			continue
		case "items/d05":
			ev.UpdateTime = ev.UpdateTime.Add(-time.Second)
		case "groups/b/items/x2":
			ev.Data = json.RawMessage(`{"n":{"$int":"-1"}}`)
		}
		b, err := listeners.AppendNDJSON(nil, ev)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, strings.TrimSuffix(string(b), "\n"))
	}
	now := time.Now().UTC()
	for _, ev := range []listeners.Event{
		{Type: listeners.Added, Path: "groups/bb/items/z0", Data: json.RawMessage(`{}`), UpdateTime: now},
		{Type: listeners.Added, Path: "items/d99", Data: json.RawMessage(`{}`), UpdateTime: now},
	} {
		ev.Listener, ev.ReadTime, ev.ID = "items", now, listeners.EventID(ev.Path, ev.UpdateTime, ev.Type == listeners.Removed)
		b, _ := listeners.AppendNDJSON(nil, ev)
		lines = append(lines, strings.TrimSuffix(string(b), "\n"))
	}
	if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	want := found{
		"warehouse": {"extra groups/b/items/x0", "stale groups/b-c/items/y1", "missing items/d01", "stale items/d02", "extra items/zz"},
		"archive":   {"stale groups/b/items/x2", "extra groups/bb/items/z0", "missing items/d03", "stale items/d05", "extra items/d99"},
	}
	for _, repair := range []bool{false, true} {
		res, got = reconcile(repair)
		for name, w := range want {
			c := res.Sinks[name]
			if !slices.Equal(got[name], w) {
				t.Errorf("repair=%v: sink %s: differences %q, want %q", repair, name, got[name], w)
			}
			wantRepaired := 0
			if repair {
				wantRepaired = 5
			}
			if c.Documents != len(docs) || c.Rows != len(docs)+1 || c.Missing != 1 || c.Extra != 2 || c.Stale != 2 || c.Repaired != wantRepaired {
				t.Errorf("repair=%v: sink %s: %+v, want %d documents, %d rows, 1 missing, 2 extra, 2 stale, %d repaired",
					repair, name, *c, len(docs), len(docs)+1, wantRepaired)
			}
		}
		if u := res.Unrepaired(); u != 10-2*wantRepairedTotal(repair) {
			t.Errorf("repair=%v: %d unrepaired", repair, u)
		}
	}
	res, got = reconcile(false)
	for name, c := range res.Sinks {
		if c.Documents != len(docs) || c.Rows != len(docs) || c.Differences() != 0 {
			t.Errorf("after the repair, sink %s: %+v %q, want no differences", name, *c, got[name])
		}
	}
	// The repaired table holds the database's data.
	if s := sameState(must(pgState(t, db.Pool, "items")), dbState(t, f.Client.CollectionGroup("items").Query)); s != "" {
		t.Errorf("table after the repair: %s", s)
	}

	// Versions and removals newer than the database's: reported, but no
	// repair can move a sink back.
	for _, sql := range []string{
		`UPDATE items SET update_time = update_time + interval '1 hour' WHERE path = 'items/d06'`,
		`WITH gone AS (DELETE FROM items WHERE path = 'items/d07' RETURNING path)
		 INSERT INTO items_tombstones (path, update_time, listener, event_id, read_time) SELECT path, now() + interval '1 hour', 'items', 'e', now() FROM gone`,
	} {
		if _, err := db.Pool.Exec(bg, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	late := time.Now().Add(time.Hour).UTC()
	ev := listeners.Event{ID: listeners.EventID("items/d08", late, true), Type: listeners.Removed, Listener: "items", Path: "items/d08", UpdateTime: late, ReadTime: late}
	b, _ := listeners.AppendNDJSON(nil, ev)
	if err := os.WriteFile(file, append(must(os.ReadFile(file)), b...), 0o644); err != nil {
		t.Fatal(err)
	}
	var ahead []string
	res, err = Reconcile(bg, cfg, "items", ReconcileOptions{ReadTime: time.Now(), Repair: true, Logger: quiet, Report: func(d Difference) {
		ahead = append(ahead, fmt.Sprintf("%s %s %s repaired=%v", d.Sink, d.Kind, d.Path, d.Repaired))
	}})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(ahead)
	if w := []string{"archive missing items/d08 repaired=false", "warehouse missing items/d07 repaired=false", "warehouse stale items/d06 repaired=false"}; !slices.Equal(ahead, w) || res.Unrepaired() != 3 {
		t.Errorf("sinks ahead of the database: %q, %d unrepaired; want %q, 3", ahead, res.Unrepaired(), w)
	}

	// A range filter: Firestore cannot order such a query by name alone,
	// so it is read in memory and sorted; a repair reads the documents
	// it sends again at the read time.
	for _, repair := range []bool{true, false} {
		res, err = Reconcile(bg, cfg, "some", ReconcileOptions{ReadTime: time.Now(), Logger: quiet, Repair: repair})
		if err != nil {
			t.Fatalf("listener with a range filter: %v", err)
		}
		want := ReconcileCounts{Documents: 9, Missing: 9, Repaired: 9} // the file holds only listener items
		if !repair {
			want = ReconcileCounts{Documents: 9, Rows: 9}
		}
		if c := res.Sinks["archive"]; *c != want {
			t.Errorf("listener with a range filter, repair=%v: %+v, want %+v", repair, *c, want)
		}
	}

	// Bad input.
	if _, err := Reconcile(bg, cfg, "nope", ReconcileOptions{Logger: quiet}); err == nil || !strings.Contains(err.Error(), "no such listener") {
		t.Errorf("unknown listener: %v", err)
	}
	if _, err := Reconcile(bg, cfg, "items", ReconcileOptions{Sinks: []string{"console"}, Logger: quiet}); err == nil || !strings.Contains(err.Error(), "cannot list what it holds") {
		t.Errorf("stdout sink: %v", err)
	}
}

func wantRepairedTotal(repair bool) int {
	if repair {
		return 5
	}
	return 0
}

func must[A, B any](a A, _ B) A { return a }
