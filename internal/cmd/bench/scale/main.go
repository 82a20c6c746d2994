// Command scale is the benchmark of sharded jobs, run by
// "scripts/bench.sh scale": on the Firestore emulator it seeds a
// three-level tree of -n documents (users, each with orders, each with
// items, plus a flat collection of logs), exports it whole in one process
// and as -shards shard exports at the same read time (the engine's
// transfer.Export with ExportOptions.Shard, as 'fbadmin fs export --shard
// K/N' runs it), and reports whether the union of the shards equals the
// whole export, document for document and value for value
// (shard_union_equal), and the largest shard's document count over the
// mean (shard_balance, target at most 1.25). The shards run one after the
// other here: on one small machine they would only share its CPU. The
// last line of stdout is one JSON object of the figures.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"slices"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/fbadmin/fbadmin/internal/emutest"
	"github.com/fbadmin/fbadmin/internal/transfer"
	"github.com/fbadmin/fbadmin/internal/value"
)

func main() {
	n := flag.Int("n", 20000, "documents in the tree")
	shards := flag.Int("shards", 4, "shard exports")
	flag.Parse()
	ctx := context.Background()
	host := os.Getenv("FIRESTORE_EMULATOR_HOST")
	if host == "" {
		fail(fmt.Errorf("FIRESTORE_EMULATOR_HOST is not set: run through scripts/bench.sh scale, which starts the emulator"))
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	project := "demo-bench-scale-" + hex.EncodeToString(b)
	defer func() {
		if err := emutest.ResetFirestore(host, project, firestore.DefaultDatabaseID); err != nil {
			logf("reset %s: %v", project, err)
		}
	}()

	// The tree: users/U (1), users/U/orders/O (2 each), users/U/orders/O/items/I
	// (2 each): 7 documents a user; logs/L fill the rest. Written by the
	// file engine's import from an NDJSON file.
	db, err := transfer.Open(ctx, transfer.Config{Project: project, EmulatorHost: host})
	check(err)
	defer db.Close()
	f, err := os.CreateTemp("", "fbadmin-bench-scale-*.ndjson")
	check(err)
	defer os.Remove(f.Name())
	bw := bufio.NewWriter(f)
	users, seeded := *n/10, 0
	line := func(path string, data map[string]any) {
		d, err := value.EncodeMap(data)
		check(err)
		l, err := json.Marshal(transfer.Line{Path: path, Data: d})
		check(err)
		bw.Write(append(l, '\n'))
		seeded++
	}
	for u := range users {
		up := fmt.Sprintf("users/u%06d", u)
		line(up, map[string]any{"name": "user " + up, "n": int64(u)})
		for o := range 2 {
			op := fmt.Sprintf("%s/orders/o%d", up, o)
			line(op, map[string]any{"total": float64(u) + 0.5, "at": time.Unix(1700000000+int64(u), 0).UTC()})
			for i := range 2 {
				line(fmt.Sprintf("%s/items/i%d", op, i), map[string]any{"sku": fmt.Sprintf("sku-%d", i), "qty": int64(i + 1)})
			}
		}
	}
	for i := 0; seeded < *n; i++ {
		line(fmt.Sprintf("logs/l%07d", i), map[string]any{"msg": fmt.Sprintf("line %d", i), "bytes": []byte{byte(i), 0, 0xff}})
	}
	check(bw.Flush())
	check(f.Close())
	t0 := time.Now()
	st, err := transfer.Import(ctx, db, f.Name(), transfer.ImportOptions{Journal: transfer.NoJournal})
	check(err)
	if st.Docs != int64(seeded) {
		fail(fmt.Errorf("seeding wrote %d documents, want %d", st.Docs, seeded))
	}
	logf("seeded %d documents (%d users with orders and items, %d logs) in %.1f s", seeded, users, seeded-users*7, time.Since(t0).Seconds())

	time.Sleep(1100 * time.Millisecond)
	rt := time.Now().Add(-500 * time.Millisecond)

	export := func(s transfer.Shard) (map[string]string, time.Duration) {
		var buf bytes.Buffer
		t0 := time.Now()
		_, err := transfer.Export(ctx, db, &buf, transfer.ExportOptions{ReadTime: rt, Shard: s})
		check(err)
		d := time.Since(t0)
		docs := map[string]string{}
		sc := bufio.NewScanner(&buf)
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		for sc.Scan() {
			var l transfer.Line
			check(json.Unmarshal(sc.Bytes(), &l))
			if _, dup := docs[l.Path]; dup {
				fail(fmt.Errorf("shard %s exported %s twice", s, l.Path))
			}
			docs[l.Path] = string(l.Data)
		}
		check(sc.Err())
		return docs, d
	}
	whole, wd := export(transfer.Shard{})
	logf("whole export: %d documents in %.2f s", len(whole), wd.Seconds())
	union := map[string]string{}
	dups := 0
	var sizes []int
	var shardSecs []float64
	for k := range *shards {
		part, d := export(transfer.Shard{K: k, N: *shards})
		logf("shard %d/%d: %d documents in %.2f s", k, *shards, len(part), d.Seconds())
		sizes = append(sizes, len(part))
		shardSecs = append(shardSecs, round(d.Seconds()))
		for p, v := range part {
			if _, ok := union[p]; ok {
				dups++
			}
			union[p] = v
		}
	}
	equal := dups == 0 && len(union) == len(whole)
	missing := 0
	for p, v := range whole {
		if union[p] != v {
			equal = false
			missing++
		}
	}
	mean := float64(len(whole)) / float64(*shards)
	balance := float64(slices.Max(sizes)) / mean
	logf("union of %d shards: %d documents, %d in two shards, %d missing or different: equal %v; balance %.3f", *shards, len(union), dups, missing, equal, balance)
	out := map[string]any{
		"n": seeded, "shards": *shards, "shard_docs": sizes, "shard_export_s": shardSecs, "whole_export_s": round(wd.Seconds()),
		"shard_union_equal": equal, "shard_duplicates": dups, "shard_missing": missing, "shard_balance": round(balance),
	}
	js, err := json.Marshal(out)
	check(err)
	fmt.Println(string(js))
	if !equal {
		os.Exit(1)
	}
}

func round(f float64) float64 { return float64(int64(f*1000+0.5)) / 1000 }

func logf(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }

func check(err error) {
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench scale:", err)
	os.Exit(1)
}
