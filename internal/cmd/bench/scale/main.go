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
// other here: on one small machine they would only share its CPU. Then
// it imports the tree into fresh projects through a clean connection and
// through ones that fail 5% of calls with each transient status code
// (internal/faults): fault_lost and fault_conflicts sum the documents lost
// and those with other content (target 0 and 0), and
// import_under_faults_vs_clean is the import rate under faults over the
// clean one (the mean over the codes; target at least 0.7). The last line
// of stdout is one JSON object of the figures. rates.go measures one
// shard's import and delete rates and a whole delete's, for the README's
// projection (shard_import_docs_per_s, shard_delete_docs_per_s,
// delete_docs_per_s). Last, failover.go's
// replicas of `fbadmin listen` are killed (failover_s, failover_lost,
// lease_ttl_s); FBADMIN_BENCH_ONLY=failover runs only that part.
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
	"strings"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/grpc/codes"

	"github.com/fbadmin/fbadmin/internal/emutest"
	"github.com/fbadmin/fbadmin/internal/faults"
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
	if os.Getenv("FBADMIN_BENCH_ONLY") == "failover" {
		js, err := json.Marshal(failoverFigures(ctx, host))
		check(err)
		fmt.Println(string(js))
		return
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
	for k, v := range faultFigures(ctx, host, f.Name(), seeded) {
		out[k] = v
	}
	for k, v := range rateFigures(ctx, host, f.Name(), seeded, *shards) {
		out[k] = v
	}
	for k, v := range failoverFigures(ctx, host) {
		out[k] = v
	}
	js, err := json.Marshal(out)
	check(err)
	fmt.Println(string(js))
	if !equal {
		os.Exit(1)
	}
}

// faultFigures imports the seed file into fresh projects: once through a
// clean connection, and once per transient status code through one that
// fails 5% of calls (half after the server served them) and breaks query
// streams. It counts the documents lost and those whose content differs
// (conflicts) after each, and the import rate under faults over the clean
// one (the mean over the codes).
func faultFigures(ctx context.Context, host, file string, n int) map[string]any {
	run := func(inj *faults.Injector) (time.Duration, int, int) {
		b := make([]byte, 4)
		_, _ = rand.Read(b)
		project := "demo-bench-faults-" + hex.EncodeToString(b)
		defer emutest.ResetFirestore(host, project, firestore.DefaultDatabaseID) //nolint:errcheck // best effort
		cfg := transfer.Config{Project: project, EmulatorHost: host}
		if inj != nil {
			cfg.DialOptions = inj.DialOptions()
		}
		db, err := transfer.Open(ctx, cfg)
		check(err)
		defer db.Close()
		t0 := time.Now()
		_, err = transfer.Import(ctx, db, file, transfer.ImportOptions{Journal: file + "." + project + ".journal"})
		check(err)
		d := time.Since(t0)
		os.Remove(file + "." + project + ".journal")
		clean, err := transfer.Open(ctx, transfer.Config{Project: project, EmulatorHost: host})
		check(err)
		defer clean.Close()
		var buf bytes.Buffer
		_, err = transfer.Export(ctx, clean, &buf, transfer.ExportOptions{})
		check(err)
		got := map[string]string{}
		sc := bufio.NewScanner(&buf)
		for sc.Scan() {
			var l transfer.Line
			check(json.Unmarshal(sc.Bytes(), &l))
			got[l.Path] = string(l.Data)
		}
		src, err := os.ReadFile(file)
		check(err)
		lost, conflicts := 0, 0
		for _, line := range bytes.Split(bytes.TrimSpace(src), []byte("\n")) {
			var l transfer.Line
			check(json.Unmarshal(line, &l))
			g, ok := got[l.Path]
			switch {
			case !ok:
				lost++
			case g != string(l.Data):
				conflicts++
			}
		}
		return d, lost, conflicts
	}
	run(nil) // warm-up: the emulator's first import of a run is slower
	cleanD, lost, conflicts := run(nil)
	logf("faults: clean import of %d documents in %.2f s (%d lost, %d conflicts)", n, cleanD.Seconds(), lost, conflicts)
	out := map[string]any{"import_clean_s": round(cleanD.Seconds())}
	var ratios float64
	codesRun := []codes.Code{codes.ResourceExhausted, codes.Unavailable, codes.Aborted, codes.DeadlineExceeded}
	for i, code := range codesRun {
		inj := faults.New(faults.Config{Code: code, Rate: 0.05, Seed: uint64(i + 1)})
		d, l, c := run(inj)
		injected, after := inj.Injected()
		logf("faults: %s at 5%%: import in %.2f s, %d faults injected (%d after served), %d lost, %d conflicts", code, d.Seconds(), injected, after, l, c)
		lost += l
		conflicts += c
		ratios += cleanD.Seconds() / d.Seconds()
		out["import_under_"+strings.ToLower(code.String())+"_s"] = round(d.Seconds())
	}
	out["fault_lost"] = lost
	out["fault_conflicts"] = conflicts
	out["import_under_faults_vs_clean"] = round(ratios / float64(len(codesRun)))
	return out
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
