package transfer

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/fbadmin/fbadmin/internal/errs"
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
