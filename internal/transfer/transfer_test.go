package transfer

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/firestore"
	"cloud.google.com/go/firestore/apiv1/firestorepb"
	"google.golang.org/genproto/googleapis/type/latlng"

	"github.com/fbadmin/fbadmin/internal/emutest"
	"github.com/fbadmin/fbadmin/internal/errs"
)

type env struct {
	fs *emutest.Firestore
	db *DB
}

func newEnv(t *testing.T) *env {
	t.Helper()
	f := emutest.NewFirestore(t)
	db, err := Open(context.Background(), Config{Project: f.ProjectID, EmulatorHost: f.Host})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &env{fs: f, db: db}
}

func (e *env) set(t *testing.T, data map[string]map[string]any) {
	t.Helper()
	for p, d := range data {
		if _, err := e.fs.Client.Doc(p).Set(context.Background(), d); err != nil {
			t.Fatalf("seed %s: %v", p, err)
		}
	}
}

// tree seeds documents, some under parents that do not exist, and
// collections whose IDs share prefixes.
func (e *env) tree(t *testing.T) []string {
	paths := []string{
		"a/1", "a/2", "a/2/s/x", "a/2/s/x/t/deep", "a/ghost/s/y", // a/ghost does not exist
		"ab/1", "ab/1/a/q", "b/k", "b/k/s/z", "a.b/1", "a.b/1/s/w", "a-b/2",
	}
	data := map[string]map[string]any{}
	for i, p := range paths {
		data[p] = map[string]any{"n": int64(i), "p": p}
	}
	e.set(t, data)
	return paths
}

func exportPaths(t *testing.T, db *DB, o ExportOptions) ([]string, Stats) {
	t.Helper()
	var buf bytes.Buffer
	st, err := Export(context.Background(), db, &buf, o)
	if err != nil {
		t.Fatalf("export %v: %v", o.Paths, err)
	}
	size := int64(buf.Len())
	var got []string
	sc := bufio.NewScanner(&buf)
	for sc.Scan() {
		p, _, err := ParseLine(sc.Bytes())
		if err != nil {
			t.Fatalf("export wrote a line import cannot read: %v: %s", err, sc.Text())
		}
		got = append(got, p)
	}
	slices.Sort(got)
	if int(st.Docs) != len(got) || st.Bytes != size {
		t.Errorf("stats %+v, want %d docs and %d bytes", st, len(got), size)
	}
	return got, st
}

func filter(paths []string, keep func(string) bool) []string {
	var out []string
	for _, p := range paths {
		if keep(p) {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

func TestExportSelections(t *testing.T) {
	e := newEnv(t)
	all := e.tree(t)
	for _, parallel := range []int{1, 3, 8} {
		cases := []struct {
			paths []string
			want  []string
		}{
			{nil, filter(all, func(string) bool { return true })},
			{[]string{"a"}, filter(all, func(p string) bool { return strings.HasPrefix(p, "a/") })},
			{[]string{"ab"}, filter(all, func(p string) bool { return strings.HasPrefix(p, "ab/") })},
			{[]string{"a/2"}, filter(all, func(p string) bool { return underPath(p, "a/2") })},
			{[]string{"a/ghost"}, []string{"a/ghost/s/y"}},
			{[]string{"a/2/s", "b"}, filter(all, func(p string) bool { return underPath(p, "a/2/s") || underPath(p, "b") })},
			{[]string{"a.b"}, filter(all, func(p string) bool { return strings.HasPrefix(p, "a.b/") })},
			{[]string{"a-b"}, []string{"a-b/2"}},
			{[]string{"nothing"}, nil},
		}
		for _, c := range cases {
			got, _ := exportPaths(t, e.db, ExportOptions{Paths: c.paths, Parallel: parallel})
			if !slices.Equal(got, c.want) {
				t.Errorf("parallel %d, export %v: got %v, want %v", parallel, c.paths, got, c.want)
			}
		}
	}
	got, _ := exportPaths(t, e.db, ExportOptions{Group: "s"})
	if want := []string{"a.b/1/s/w", "a/2/s/x", "a/ghost/s/y", "b/k/s/z"}; !slices.Equal(got, want) {
		t.Errorf("export --group s: got %v, want %v", got, want)
	}
	if _, err := Export(context.Background(), e.db, &bytes.Buffer{}, ExportOptions{Paths: []string{"a", "a/1"}}); !errors.Is(err, errs.ErrInvalid) {
		t.Errorf("overlapping paths: got %v, want invalid argument", err)
	}
}

func TestExportReadTime(t *testing.T) {
	e := newEnv(t)
	e.set(t, map[string]map[string]any{"c/1": {"v": int64(1)}})
	time.Sleep(50 * time.Millisecond)
	rt := time.Now()
	time.Sleep(50 * time.Millisecond)
	e.set(t, map[string]map[string]any{"c/1": {"v": int64(2)}, "c/2": {"v": int64(2)}})
	var buf bytes.Buffer
	if _, err := Export(context.Background(), e.db, &buf, ExportOptions{ReadTime: rt}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(buf.String(), "\n"); got != 1 || !strings.Contains(buf.String(), `"v":{"$int":"1"}`) {
		t.Errorf("export at read time: got %q, want only c/1 with v 1", buf.String())
	}
}

func allTypes() map[string]any {
	return map[string]any{
		"null": nil, "bool": true, "int": int64(-9223372036854775808), "double": 1.5, "intdouble": 2.0,
		"str": "héllo", "bytes": []byte{0, 1, 255}, "time": time.Date(2024, 2, 29, 12, 0, 0, 123456000, time.UTC),
		"geo": &latlng.LatLng{Latitude: 48.85, Longitude: 2.35}, "arr": []any{int64(1), "x", map[string]any{"k": false}},
		"map": map[string]any{"$int": "not an int", "nested": map[string]any{"e": map[string]any{}}},
		"vec": firestore.Vector64{1, 2.5},
	}
}

func TestImportRoundTrip(t *testing.T) {
	src := newEnv(t)
	data := allTypes()
	data["ref"] = src.fs.Client.Doc("a/1")
	src.set(t, map[string]map[string]any{"t/all": data, "t/all/sub/x": {"v": int64(7)}, "t/none/sub/y": {"v": int64(8)}})
	file := filepath.Join(t.TempDir(), "dump.ndjson")
	f, _ := os.Create(file)
	if _, err := Export(context.Background(), src.db, f, ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	f.Close()

	dst := newEnv(t)
	st, err := Import(context.Background(), dst.db, file, ImportOptions{Mode: ModeCreate})
	if err != nil || st.Docs != 3 || st.Failed != 0 {
		t.Fatalf("import: %+v, %v; want 3 docs", st, err)
	}
	if _, err := os.Stat(JournalPath(file)); !os.IsNotExist(err) {
		t.Errorf("journal left after a complete import: %v", err)
	}
	got, err := dst.fs.Client.Doc("t/all").Get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// References point to the source project, as exported.
	gd := got.Data()
	if r, ok := gd["ref"].(*firestore.DocumentRef); !ok || r.Path != data["ref"].(*firestore.DocumentRef).Path {
		t.Errorf("ref: got %#v", gd["ref"])
	}
	delete(gd, "ref")
	delete(data, "ref")
	var b1, b2 bytes.Buffer
	fmt.Fprint(&b1, gd)
	fmt.Fprint(&b2, data)
	if b1.String() != b2.String() {
		t.Errorf("round trip changed the document:\n got %v\nwant %v", gd, data)
	}

	// A second create import conflicts on every document.
	var fails atomic.Int64
	st, err = Import(context.Background(), dst.db, file, ImportOptions{Mode: ModeCreate, OnFailure: func(f Failure) {
		fails.Add(1)
		if !errors.Is(f.Err, errs.ErrAlreadyExists) || f.Line == 0 {
			t.Errorf("failure %+v: want already exists with a line number", f)
		}
	}})
	if err != nil || st.Failed != 3 || fails.Load() != 3 {
		t.Errorf("second create: %+v %v, want 3 failures", st, err)
	}
	os.Remove(JournalPath(file))
	st, err = Import(context.Background(), dst.db, file, ImportOptions{Mode: ModeSkipExisting})
	if err != nil || st.Skipped != 3 || st.Docs != 0 {
		t.Errorf("skip-existing: %+v %v, want 3 skipped", st, err)
	}
	st, err = Import(context.Background(), dst.db, file, ImportOptions{Mode: ModeCreate, DryRun: true, OnFailure: func(Failure) {}})
	if err != nil || st.Failed != 3 {
		t.Errorf("dry run create: %+v %v, want 3 would-fail", st, err)
	}
}

func TestImportMerge(t *testing.T) {
	e := newEnv(t)
	e.set(t, map[string]map[string]any{"m/1": {"keep": "x", "m": map[string]any{"a": int64(1), "b": int64(2)}}})
	file := filepath.Join(t.TempDir(), "in.ndjson")
	os.WriteFile(file, []byte(`{"path":"m/1","data":{"m":{"b":3,"c":4},"new":true}}`+"\n"), 0o644)
	if _, err := Import(context.Background(), e.db, file, ImportOptions{Mode: ModeMerge}); err != nil {
		t.Fatal(err)
	}
	got, _ := e.fs.Client.Doc("m/1").Get(context.Background())
	want := map[string]any{"keep": "x", "new": true, "m": map[string]any{"a": int64(1), "b": int64(3), "c": int64(4)}}
	if fmt.Sprint(got.Data()) != fmt.Sprint(want) {
		t.Errorf("merge: got %v, want %v", got.Data(), want)
	}
}

func TestImportBadInput(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	cases := []struct {
		name, content string
		line          int
		want          string
	}{
		{"malformed", `{"path":"c/1","data":{}}` + "\n" + `{"path":"c/2","data":{"x":}}`, 2, "$.data.x"},
		{"not ndjson", "path,data\nc/1,{}\n", 1, "not a JSON object"},
		{"collection path", `{"path":"c","data":{}}`, 1, "collection"},
		{"unknown key", `{"path":"c/1","fields":{}}`, 1, "unknown key"},
		{"bad typed value", "\n\n" + `{"path":"c/1","data":{"n":{"$int":"12x"}}}`, 3, "$.data.n"},
	}
	for _, c := range cases {
		file := filepath.Join(dir, c.name+".ndjson")
		os.WriteFile(file, []byte(c.content), 0o644)
		_, err := Import(context.Background(), e.db, file, ImportOptions{Mode: ModeSet})
		var le *LineError
		if !errors.As(err, &le) || le.Line != c.line || !strings.Contains(err.Error(), c.want) || !errors.Is(err, errs.ErrInvalid) {
			t.Errorf("%s: got %v, want line %d mentioning %q", c.name, err, c.line, c.want)
		}
		if _, err := os.Stat(JournalPath(file)); !os.IsNotExist(err) {
			t.Errorf("%s: journal left behind", c.name)
		}
	}
	docs, _ := e.fs.Client.Collection("c").Documents(context.Background()).GetAll()
	if len(docs) != 0 {
		t.Errorf("a bad file wrote %d documents, want none", len(docs))
	}
}

func writeLines(t *testing.T, file string, n int) {
	t.Helper()
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	for i := range n {
		fmt.Fprintf(w, `{"path":"r/%05d","data":{"i":%d}}`+"\n", i, i)
	}
	w.Flush()
	f.Close()
}

// cancelAfter cancels a context once n documents are reported done.
type cancelAfter struct {
	n      int64
	done   atomic.Int64
	cancel context.CancelFunc
}

func (c *cancelAfter) SetTotal(int64) {}
func (c *cancelAfter) Add(d, _ int64) {
	if c.done.Add(d) >= c.n {
		c.cancel()
	}
}

func TestImportResume(t *testing.T) {
	e := newEnv(t)
	file := filepath.Join(t.TempDir(), "r.ndjson")
	const n = 5000
	writeLines(t, file, n)
	ctx, cancel := context.WithCancel(context.Background())
	st, err := Import(ctx, e.db, file, ImportOptions{Mode: ModeCreate, Concurrency: 2, Progress: &cancelAfter{n: 1500, cancel: cancel}})
	if !IsInterrupted(err) || st.Docs >= n || st.Docs == 0 {
		t.Fatalf("interrupted import: %+v %v, want a context error partway", st, err)
	}
	if _, err := Import(context.Background(), e.db, file, ImportOptions{Mode: ModeCreate}); !errors.Is(err, errs.ErrConflict) {
		t.Errorf("rerun without --resume: got %v, want a conflict naming the journal", err)
	}
	st2, err := Import(context.Background(), e.db, file, ImportOptions{Mode: ModeCreate, Resume: true})
	if err != nil || st2.Failed != 0 || st2.Resumed != st.Docs || st.Docs+st2.Docs+st2.Skipped != n {
		t.Fatalf("resume: %+v %v after %+v, want the rest of %d", st2, err, st, n)
	}
	agg, err := e.fs.Client.Collection("r").NewAggregationQuery().WithCount("n").Get(context.Background())
	if err != nil || agg["n"].(*firestorepb.Value).GetIntegerValue() != n {
		t.Errorf("documents after resume: %v %v, want %d", agg["n"], err, n)
	}
}

func TestImportResumeAfterLostJournalEntries(t *testing.T) {
	// A process killed between a commit and its journal entry leaves
	// documents the journal does not know: a resumed create accepts them
	// when their data is the same.
	e := newEnv(t)
	file := filepath.Join(t.TempDir(), "k.ndjson")
	writeLines(t, file, 1200)
	if _, err := Import(context.Background(), e.db, file, ImportOptions{Mode: ModeCreate, Journal: NoJournal}); err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(file)
	info, _ := os.Stat(file)
	j, err := openJournal(JournalPath(file), journalHeader{Journal: 1, Input: abs, Size: info.Size(), Mode: "create", Database: e.db.Name()}, false)
	if err != nil {
		t.Fatal(err)
	}
	j.record([]lineRange{{1, 100}})
	j.close()
	e.set(t, map[string]map[string]any{"r/00500": {"i": int64(-1)}}) // someone else's write
	st, err := Import(context.Background(), e.db, file, ImportOptions{Mode: ModeCreate, Resume: true, OnFailure: func(f Failure) {
		if f.Path != "r/00500" || f.Line != 501 {
			t.Errorf("unexpected failure %+v", f)
		}
	}})
	if err != nil || st.Resumed != 100 || st.Skipped != 1099 || st.Failed != 1 {
		t.Errorf("resume: %+v %v, want 100 resumed, 1099 skipped as identical, 1 conflict", st, err)
	}
}

func TestDeleteAndCopy(t *testing.T) {
	e := newEnv(t)
	all := e.tree(t)
	ctx := context.Background()

	// Copy a tree, then to another database.
	st, err := Copy(ctx, e.db, e.db, CopyOptions{Src: "a/2", Dst: "copy/2", Recursive: true})
	if err != nil || st.Docs != 3 {
		t.Errorf("copy doc tree: %+v %v, want 3", st, err)
	}
	other, err := Open(ctx, Config{Project: e.fs.ProjectID, Database: "other", EmulatorHost: e.fs.Host})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	defer emutest.ResetFirestore(e.fs.Host, e.fs.ProjectID, "other")
	st, err = Copy(ctx, e.db, other, CopyOptions{Src: "a", Dst: "a", Mode: ModeSet})
	if err != nil || st.Docs != 2 {
		t.Errorf("copy collection without --recursive: %+v %v, want 2", st, err)
	}
	if _, err := Copy(ctx, e.db, e.db, CopyOptions{Src: "a", Dst: "a/2/s"}); !errors.Is(err, errs.ErrInvalid) {
		t.Errorf("copy into itself: %v, want invalid", err)
	}

	var seen []string
	st, err = Delete(ctx, e.db, DeleteOptions{Paths: []string{"a"}, Recursive: true, DryRun: true, OnPath: func(p string) { seen = append(seen, p) }})
	slices.Sort(seen)
	if want := filter(all, func(p string) bool { return strings.HasPrefix(p, "a/") }); err != nil || !slices.Equal(seen, want) {
		t.Errorf("dry run: %v %v, want %v", seen, err, want)
	}
	if _, err := Delete(ctx, e.db, DeleteOptions{Paths: []string{"a"}}); !errors.Is(err, errs.ErrInvalid) {
		t.Errorf("delete collection without recursive: %v, want invalid", err)
	}
	journal := filepath.Join(t.TempDir(), "del.json")
	st, err = Delete(ctx, e.db, DeleteOptions{Paths: []string{"a"}, Recursive: true, Journal: journal})
	if err != nil || st.Docs != 5 {
		t.Errorf("delete a: %+v %v, want 5", st, err)
	}
	got, _ := exportPaths(t, e.db, ExportOptions{})
	want := filter(all, func(p string) bool { return !strings.HasPrefix(p, "a/") })
	want = append(want, "copy/2", "copy/2/s/x", "copy/2/s/x/t/deep")
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("after delete: got %v, want %v", got, want)
	}
	if _, err := os.Stat(journal); !os.IsNotExist(err) {
		t.Errorf("delete journal left after success")
	}
}

func TestDeleteResume(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "d.ndjson")
	writeLines(t, file, 4000)
	if _, err := Import(ctx, e.db, file, ImportOptions{Mode: ModeSet}); err != nil {
		t.Fatal(err)
	}
	journal := filepath.Join(t.TempDir(), "del.json")
	cctx, cancel := context.WithCancel(ctx)
	st, err := Delete(cctx, e.db, DeleteOptions{Paths: []string{"r"}, Recursive: true, Journal: journal, Concurrency: 1, Progress: &cancelAfter{n: 1000, cancel: cancel}})
	if !IsInterrupted(err) || st.Docs == 0 || st.Docs >= 4000 {
		t.Fatalf("interrupted delete: %+v %v", st, err)
	}
	st2, err := Delete(ctx, e.db, DeleteOptions{Paths: []string{"r"}, Recursive: true, Journal: journal, Resume: true})
	if err != nil || st.Docs+st2.Docs != 4000 || st2.Resumed != st.Docs {
		t.Errorf("resumed delete: %+v %v after %+v", st2, err, st)
	}
	if _, err := Delete(ctx, e.db, DeleteOptions{Paths: []string{"r"}, Recursive: true, Journal: journal, Resume: true}); !errors.Is(err, errs.ErrNotFound) {
		t.Errorf("resume with nothing to resume: %v", err)
	}
}

// TestPlanCollectionStaysInside plans the scans of a collection, creates
// collections around it, and runs the scans: they must return the
// collection's tree and nothing else, whatever existed when they were
// planned (a recursive delete once reached into a collection created while
// it ran, because its plan bounded the collection by its neighbours).
func TestPlanCollectionStaysInside(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	inside := []string{"m/!", "m/ x", "m/00", "m/AB", "m/zz", "m/é", "m/00/s/1", "m/ghost/s/2"} // m/ghost does not exist
	data := map[string]map[string]any{}
	for _, p := range inside {
		data[p] = map[string]any{"p": p}
	}
	e.set(t, data)
	for _, parts := range []int{1, 3} {
		scans, err := e.db.planCollection(ctx, "m", time.Time{}, parts)
		if err != nil {
			t.Fatal(err)
		}
		around := map[string]map[string]any{}
		for _, p := range []string{"a/1", "l/9", "m0/1", "m-x/1", "m.x/1", "n/1", "m2/x/m/1"} {
			around[p] = map[string]any{"p": p}
		}
		e.set(t, around)
		var got []string
		var mu sync.Mutex
		err = e.db.runScans(ctx, scans, scanOptions{namesOnly: true}, parts, func(_ int, d *firestorepb.Document) error {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, e.db.rel(d.GetName()))
			return nil
		})
		slices.Sort(got)
		want := slices.Sorted(slices.Values(inside))
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("parts %d: scans of m returned %q (%v), want %q", parts, got, err, want)
		}
	}
}

func TestSplitIDs(t *testing.T) {
	cases := []struct{ a, z string }{
		{"0AbC", "zzzz"}, {"doc00001", "doc20000"}, {"a", "b"}, {"x", "x0"}, {"", "z"},
	}
	for _, c := range cases {
		s := splitIDs(c.a, c.z, 8)
		for i, x := range s {
			if x <= c.a || x >= c.z || (i > 0 && x <= s[i-1]) || strings.Contains(x, "/") {
				t.Errorf("splitIDs(%q, %q) = %q: not strictly between and increasing", c.a, c.z, s)
			}
		}
	}
	if s := splitIDs("0000", "zzzz", 4); len(s) != 3 {
		t.Errorf("splitIDs over a wide range gave %q, want 3 cuts", s)
	}
}

func TestCmpName(t *testing.T) {
	sorted := []string{"a/1", "a/1/s/x", "a/2", "a-b/0", "a.b/0", "ab/0", "b"}
	for i := range sorted {
		for j := range sorted {
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got := cmpName(sorted[i], sorted[j]); got != want {
				t.Errorf("cmpName(%q, %q) = %d, want %d", sorted[i], sorted[j], got, want)
			}
		}
	}
}
