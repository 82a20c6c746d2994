package transfer

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fbadmin/fbadmin/internal/errs"
	"github.com/fbadmin/fbadmin/internal/storage"
)

func TestParseShard(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	for _, c := range []struct {
		arg    string
		shards int
		env    func(string) string
		want   Shard
		bad    bool
	}{
		{arg: "", want: Shard{}},
		{arg: "0/4", want: Shard{0, 4}},
		{arg: "3/4", want: Shard{3, 4}},
		{arg: "4/4", bad: true},
		{arg: "-1/4", bad: true},
		{arg: "1/0", bad: true},
		{arg: "1", bad: true},
		{arg: "a/b", bad: true},
		{arg: "0/1001", bad: true},
		{arg: "auto", env: env("CLOUD_RUN_TASK_INDEX", "2", "CLOUD_RUN_TASK_COUNT", "5"), want: Shard{2, 5}},
		{arg: "auto", shards: 3, env: env("JOB_COMPLETION_INDEX", "1"), want: Shard{1, 3}},
		{arg: "auto", env: env("JOB_COMPLETION_INDEX", "1"), bad: true}, // no --shards
		{arg: "auto", shards: 3, env: env("JOB_COMPLETION_INDEX", "3"), bad: true},
		{arg: "auto", env: env(), bad: true},
		{arg: "auto", env: env("CLOUD_RUN_TASK_INDEX", "x", "CLOUD_RUN_TASK_COUNT", "5"), bad: true},
	} {
		if c.env == nil {
			c.env = env()
		}
		got, err := ParseShard(c.arg, c.shards, c.env)
		switch {
		case c.bad && (err == nil || errs.KindOf(err) != errs.ErrInvalid):
			t.Errorf("ParseShard(%q, %d) = %v, %v; want an invalid-input error", c.arg, c.shards, got, err)
		case !c.bad && (err != nil || got != c.want):
			t.Errorf("ParseShard(%q, %d) = %v, %v; want %v", c.arg, c.shards, got, err, c.want)
		}
	}
}

// TestShardedExport exports a three-level tree as 4 shards at one read
// time: together they hold every document of a one-process export exactly
// once, and the largest holds at most 1.25 times the mean.
func TestShardedExport(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	w := e.fs.Client.BulkWriter(ctx)
	for i := range 500 {
		u := e.fs.Client.Collection("users").Doc(fmt.Sprintf("u%04d", i))
		if _, err := w.Set(u, map[string]any{"n": int64(i)}); err != nil {
			t.Fatal(err)
		}
		for j := range 3 {
			if _, err := w.Set(u.Collection("orders").Doc(fmt.Sprintf("o%d", j)), map[string]any{"j": int64(j)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := range 400 {
		if _, err := w.Set(e.fs.Client.Collection("logs").Doc(fmt.Sprintf("l%04d", i)), map[string]any{"i": int64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	w.End()
	time.Sleep(1100 * time.Millisecond)
	rt := time.Now().Add(-500 * time.Millisecond)

	if _, err := Export(ctx, e.db, &discard{}, ExportOptions{Shard: Shard{0, 4}}); errs.KindOf(err) != errs.ErrInvalid {
		t.Errorf("a sharded export without a read time: %v, want an invalid-input error", err)
	}
	whole, _ := exportPaths(t, e.db, ExportOptions{ReadTime: rt})
	if len(whole) != 2400 {
		t.Fatalf("whole export: %d documents, want 2400", len(whole))
	}
	var union []string
	var sizes []int
	for k := range 4 {
		part, _ := exportPaths(t, e.db, ExportOptions{ReadTime: rt, Shard: Shard{k, 4}})
		union = append(union, part...)
		sizes = append(sizes, len(part))
	}
	slices.Sort(union)
	if !slices.Equal(union, whole) {
		t.Fatalf("the 4 shards hold %d documents (%d distinct), the whole export %d", len(union), len(slices.Compact(slices.Clone(union))), len(whole))
	}
	mean := float64(len(whole)) / 4
	if largest := float64(slices.Max(sizes)); largest/mean > 1.25 {
		t.Errorf("shard sizes %v: the largest is %.2f times the mean, want at most 1.25", sizes, largest/mean)
	}
	t.Logf("shard sizes %v", sizes)
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// TestShardedDelete deletes a tree as 3 shards at one read time: each
// deletes a disjoint part, and together they leave nothing behind.
func TestShardedDelete(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	data := map[string]map[string]any{}
	for i := range 120 {
		data[fmt.Sprintf("items/i%03d", i)] = map[string]any{"n": int64(i)}
		if i%4 == 0 {
			data[fmt.Sprintf("items/i%03d/notes/a", i)] = map[string]any{"n": int64(i)}
		}
	}
	data["items/ghost/notes/b"] = map[string]any{"n": int64(-1)} // under a parent that does not exist
	e.set(t, data)
	time.Sleep(1100 * time.Millisecond)
	rt := time.Now().Add(-500 * time.Millisecond)

	if _, err := Delete(ctx, e.db, DeleteOptions{Paths: []string{"items"}, Recursive: true, Shard: Shard{0, 3}, Journal: NoJournal}); errs.KindOf(err) != errs.ErrInvalid {
		t.Errorf("a sharded delete without a read time: %v, want an invalid-input error", err)
	}
	seen := map[string]int{}
	for k := range 3 {
		st, err := Delete(ctx, e.db, DeleteOptions{Paths: []string{"items"}, Recursive: true, Shard: Shard{k, 3}, ReadTime: rt,
			Journal: filepath.Join(t.TempDir(), "journal.json"), OnPath: func(p string) { seen[p]++ }})
		if err != nil {
			t.Fatalf("shard %d: %v", k, err)
		}
		if st.Docs == 0 {
			t.Errorf("shard %d deleted nothing", k)
		}
	}
	if len(seen) != len(data) {
		t.Errorf("the shards deleted %d distinct documents, want %d", len(seen), len(data))
	}
	for p, n := range seen {
		if n != 1 {
			t.Errorf("%s deleted by %d shards", p, n)
		}
	}
	if left, _ := exportPaths(t, e.db, ExportOptions{}); len(left) != 0 {
		t.Errorf("left after the sharded delete: %v", left)
	}
}

// exportData exports paths at readTime and returns each document's data
// (its lossless JSON) by path, with the prefix from taken off its path.
func exportData(t *testing.T, db *DB, from string, readTime time.Time) map[string]string {
	t.Helper()
	var buf bytes.Buffer
	if _, err := Export(context.Background(), db, &buf, ExportOptions{Paths: []string{from}, ReadTime: readTime}); err != nil {
		t.Fatalf("export %s: %v", from, err)
	}
	got := map[string]string{}
	sc := bufio.NewScanner(&buf)
	for sc.Scan() {
		var l struct {
			Path string          `json:"path"`
			Data json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatal(err)
		}
		got[strings.TrimPrefix(l.Path, from)] = string(l.Data)
	}
	return got
}

// TestShardedCopy copies a three-level tree as 3 shards at one read time,
// in create mode (a document copied by two shards would fail the second
// time): together they write every document once, and the copy equals the
// source. A collection copied without its subcollections shards the same.
func TestShardedCopy(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	data := map[string]map[string]any{}
	for i := range 150 {
		data[fmt.Sprintf("items/i%03d", i)] = map[string]any{"n": int64(i)}
		if i%3 == 0 {
			data[fmt.Sprintf("items/i%03d/notes/a", i)] = map[string]any{"n": int64(i), "s": "a"}
			data[fmt.Sprintf("items/i%03d/notes/a/lines/x", i)] = map[string]any{"n": int64(i), "s": "x"}
		}
	}
	data["items/ghost/notes/b"] = map[string]any{"n": int64(-1)} // under a parent that does not exist
	data["itemsx/1"] = map[string]any{"n": int64(-2)}            // a sibling the copy must not reach
	e.set(t, data)
	time.Sleep(1100 * time.Millisecond)
	rt := time.Now().Add(-500 * time.Millisecond)
	e.set(t, map[string]map[string]any{"items/late": {"n": int64(-3)}}) // after the read time: not copied

	if _, err := Copy(ctx, e.db, e.db, CopyOptions{Src: "items", Dst: "copy", Recursive: true, Shard: Shard{0, 3}}); errs.KindOf(err) != errs.ErrInvalid {
		t.Errorf("a sharded copy without a read time: %v, want an invalid-input error", err)
	}
	for _, c := range []struct {
		dst       string
		recursive bool
		want      int
	}{
		{"copy", true, len(data) - 1},
		{"flat", false, 150},
	} {
		var docs int64
		for k := range 3 {
			st, err := Copy(ctx, e.db, e.db, CopyOptions{Src: "items", Dst: c.dst, Recursive: c.recursive, Mode: ModeCreate, ReadTime: rt, Shard: Shard{k, 3}})
			if err != nil || st.Failed > 0 {
				t.Fatalf("copy to %s, shard %d: %+v, %v", c.dst, k, st, err)
			}
			if st.Docs == 0 {
				t.Errorf("copy to %s: shard %d copied nothing", c.dst, k)
			}
			docs += st.Docs
		}
		if docs != int64(c.want) {
			t.Errorf("copy to %s: the shards copied %d documents, want %d", c.dst, docs, c.want)
		}
		src, got := exportData(t, e.db, "items", rt), exportData(t, e.db, c.dst, time.Time{})
		if !c.recursive {
			for p := range src {
				if strings.Count(p, "/") > 1 {
					delete(src, p)
				}
			}
		}
		if len(src) != c.want || !maps.Equal(got, src) {
			t.Errorf("copy to %s: %d documents, want the %d of the source (equal: %v)", c.dst, len(got), len(src), maps.Equal(got, src))
		}
	}
}

// TestShardedImportOfOneFile imports one NDJSON file (plain, gzip, zstd)
// as 3 shards in create mode (a line imported by two shards would fail the
// second time): together they write every document once, and the database
// then equals a whole import of the file. Shard 1 is interrupted and
// finished alone with Resume, from its own journal.
func TestShardedImportOfOneFile(t *testing.T) {
	for _, ext := range []string{".ndjson", ".ndjson.gz", ".ndjson.zst"} {
		t.Run(ext, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			ctx := context.Background()
			file := filepath.Join(t.TempDir(), "tree"+ext)
			w, err := storage.Create(ctx, file)
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]string{}
			for i := range 4500 {
				p := fmt.Sprintf("items/i%04d", i)
				if i%3 == 1 {
					p = fmt.Sprintf("items/i%04d/notes/n%d", i-1, i%7)
				} else if i%3 == 2 {
					p = fmt.Sprintf("items/i%04d/notes/n%d/lines/l", i-2, (i-1)%7)
				}
				data := fmt.Sprintf(`{"i":{"$int":"%d"},"pad":%q}`, i, strings.Repeat("x", i%97))
				fmt.Fprintf(w, `{"path":%q,"data":%s}`+"\n", p, data)
				if i%100 == 0 {
					fmt.Fprintln(w) // blank lines are no documents
				}
				want[strings.TrimPrefix(p, "items")] = data
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}

			var docs int64
			for k := range 3 {
				o := ImportOptions{Mode: ModeCreate, Concurrency: 1, Shard: Shard{k, 3}}
				if k == 1 {
					cctx, cancel := context.WithCancel(ctx)
					o.Progress = &cancelAfter{n: 100, cancel: cancel}
					st, err := Import(cctx, e.db, file, o)
					if !IsInterrupted(err) || st.Docs == 0 {
						t.Fatalf("shard 1, interrupted: %+v %v, want a context error partway", st, err)
					}
					if !fileExists(ShardJournalPath(file, Shard{1, 3})) {
						t.Fatalf("no journal %s of the interrupted shard", ShardJournalPath(file, Shard{1, 3}))
					}
					docs += st.Docs
					o.Progress, o.Resume = nil, true
				}
				st, err := Import(ctx, e.db, file, o)
				if err != nil || st.Failed > 0 || st.Docs == 0 {
					t.Fatalf("shard %d: %+v, %v", k, st, err)
				}
				docs += st.Docs
			}
			if docs != int64(len(want)) {
				t.Errorf("the shards wrote %d documents, want %d", docs, len(want))
			}
			got := exportData(t, e.db, "items", time.Time{})
			if !maps.Equal(got, want) {
				t.Errorf("after the sharded import: %d documents, want the file's %d (equal: %v)", len(got), len(want), maps.Equal(got, want))
			}
			for k := range 3 {
				if p := ShardJournalPath(file, Shard{k, 3}); fileExists(p) {
					t.Errorf("journal %s left after the shard finished", p)
				}
			}
		})
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
