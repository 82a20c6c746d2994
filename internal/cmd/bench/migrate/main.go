// Command migrate benchmarks `fbadmin migrate` (package migrate) on the
// Firestore emulator: a migration that sets a default field on N
// documents (50,000 by default) and renames another, against the raw
// bulk-write ceiling that scripts/bench.sh cli measures (WriteBatch of
// 500, 16 goroutines, data built in memory), measured in the same round
// on the same emulator, on a fresh project. The migration's rate counts
// what it does for each document: read it (range queries through a bulk
// connection, migrate.Options.DB, as fbadmin migrate does), journal its
// before-image to a file (synced before each batch is sent), write it
// fenced by the lock. On the emulator the runner reads and writes by turns
// (see migrate's session.turns).
//
// It runs -rounds interleaved rounds (raw first on odd rounds), each on
// fresh projects, after an untimed warm-up; up_vs_raw is the median of the
// rounds' ratios. rollback_equal is true when a full export after up and
// down (internal/transfer.Export, paths and data) equals the export before
// up, in every round.
//
// The last line of stdout is one JSON object.
//
//	scripts/bench.sh migrate [-n 50000] [-rounds 3]
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"cloud.google.com/go/firestore"
	"golang.org/x/sync/errgroup"

	"github.com/fbadmin/fbadmin/internal/emutest"
	"github.com/fbadmin/fbadmin/internal/transfer"
	"github.com/fbadmin/fbadmin/migrate"
)

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench migrate: "+format+"\n", args...)
}

const migrationYAML = `description: a default plan, and name renamed to title
collection: users
operations:
  - set: {plan: free}
    if_missing: true
  - rename: {from: name, to: title}
`

func main() {
	n := flag.Int("n", 50000, "documents")
	rounds := flag.Int("rounds", 3, "measured rounds (the median ratio is reported)")
	parallel := flag.Int("parallel", 8, "batches in flight for the migration")
	fw := flag.String("fireway", "internal/cmd/bench/migrate/fireway", "the folder where fireway is installed (npm ci there); skipped when it has no node_modules")
	flag.Parse()
	host := os.Getenv("FIRESTORE_EMULATOR_HOST")
	if host == "" {
		logf("FIRESTORE_EMULATOR_HOST is not set (run through scripts/bench.sh migrate)")
		os.Exit(2)
	}
	res, err := run(host, *n, *rounds, *parallel)
	if err != nil {
		logf("%v", err)
		os.Exit(1)
	}
	if err := vsFireway(context.Background(), host, *fw, *n, *parallel, res); err != nil {
		logf("fireway: %v", err)
		os.Exit(1)
	}
	b, _ := json.Marshal(res)
	fmt.Println(string(b))
}

func project(tag string) string {
	var r [4]byte
	rand.Read(r[:])
	return "demo-bench-mig-" + tag + "-" + hex.EncodeToString(r[:])
}

func docData(i int) map[string]any {
	d := map[string]any{"name": fmt.Sprint("user ", i), "n": int64(i), "active": i%3 == 0, "tags": []any{"a", "b"}}
	if i%10 == 0 {
		d["plan"] = "pro" // already set: left as it is
	}
	return d
}

// seed writes n documents with the raw ceiling's path and returns its rate.
func seed(ctx context.Context, c *firestore.Client, n int) (float64, error) {
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for lo := 0; lo < n; lo += 500 {
		hi := min(lo+500, n)
		g.Go(func() error {
			//lint:ignore SA1019 the raw ceiling is plain batched commits of 500, as scripts/bench.sh cli defines it
			wb := c.Batch()
			for i := lo; i < hi; i++ {
				wb.Set(c.Doc(fmt.Sprintf("users/u%06d", i)), docData(i))
			}
			_, err := wb.Commit(gctx)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return 0, err
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

func export(ctx context.Context, db *transfer.DB) (string, error) {
	var buf bytes.Buffer
	if _, err := transfer.Export(ctx, db, &buf, transfer.ExportOptions{Paths: []string{"users"}}); err != nil {
		return "", err
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var v struct {
			Path string          `json:"path"`
			Data json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			return "", err
		}
		lines = append(lines, v.Path+" "+string(v.Data))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n"), nil
}

type round struct {
	raw, up, down float64 // docs/s
	equal         bool
}

func oneRound(ctx context.Context, host string, n, parallel int, rawFirst, check bool) (round, error) {
	var r round
	m, err := migrate.ParseFile("0001_defaults.yaml", []byte(migrationYAML))
	if err != nil {
		return r, err
	}
	raw := func() error {
		p := project("raw")
		defer emutest.ResetFirestore(host, p, "(default)")
		c, err := firestore.NewClient(ctx, p)
		if err != nil {
			return err
		}
		defer c.Close()
		r.raw, err = seed(ctx, c, n)
		return err
	}
	mig := func() error {
		p := project("up")
		defer emutest.ResetFirestore(host, p, "(default)")
		c, err := firestore.NewClient(ctx, p)
		if err != nil {
			return err
		}
		defer c.Close()
		if _, err := seed(ctx, c, n); err != nil {
			return err
		}
		db, err := transfer.Open(ctx, transfer.Config{Project: p, EmulatorHost: host})
		if err != nil {
			return err
		}
		defer db.Close()
		var before string
		if check {
			if before, err = export(ctx, db); err != nil {
				return err
			}
		}
		dir, err := os.MkdirTemp("", "bench-migrate-journal")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		runner := migrate.New(c, migrate.Options{JournalDir: dir, Parallel: parallel, DB: db})
		start := time.Now()
		reps, err := runner.Up(ctx, []*migrate.Migration{m}, migrate.UpOptions{})
		if err != nil {
			return err
		}
		el := time.Since(start)
		if reps[0].Changed != int64(n) {
			return fmt.Errorf("up changed %d documents, want %d", reps[0].Changed, n)
		}
		r.up = float64(n) / el.Seconds()
		start = time.Now()
		if _, err := runner.Down(ctx, []*migrate.Migration{m}, migrate.DownOptions{}); err != nil {
			return err
		}
		r.down = float64(n) / time.Since(start).Seconds()
		if check {
			after, err := export(ctx, db)
			if err != nil {
				return err
			}
			r.equal = after == before && strings.Count(before, "\n")+1 == n
		}
		return nil
	}
	steps := []func() error{raw, mig}
	if !rawFirst {
		steps = []func() error{mig, raw}
	}
	for _, s := range steps {
		if err := s(); err != nil {
			return r, err
		}
	}
	return r, nil
}

// vsFireway times fireway (npm, pinned in FOLDER/package-lock.json) on the
// same migration, written as FOLDER/migrations/v0.0.1__defaults.js, and an
// fbadmin up right after it on another fresh project: up_vs_fireway is the
// ratio of their rates.
func vsFireway(ctx context.Context, host, folder string, n, parallel int, res map[string]any) error {
	bin := filepath.Join(folder, "node_modules", ".bin", "fireway")
	if _, err := os.Stat(bin); err != nil {
		logf("fireway is not installed (cd %s && npm ci): up_vs_fireway not measured", folder)
		return nil
	}
	p := project("fw")
	defer emutest.ResetFirestore(host, p, "(default)")
	c, err := firestore.NewClient(ctx, p)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := seed(ctx, c, n); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "node_modules/.bin/fireway", "migrate", "--path", "migrations", "--projectId", p)
	cmd.Dir = folder
	cmd.Env = append(os.Environ(), "FIRESTORE_EMULATOR_HOST="+host, "GCLOUD_PROJECT="+p)
	cmd.Stderr = os.Stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("fireway migrate: %w", err)
	}
	fwRate := float64(n) / time.Since(start).Seconds()
	snap, err := c.Doc("users/u000001").Get(ctx)
	if err != nil {
		return err
	}
	if d := snap.Data(); d["title"] != "user 1" || d["plan"] != "free" {
		return fmt.Errorf("fireway's migration did not apply: %v", d)
	}
	r, err := oneRound(ctx, host, n, parallel, false, false)
	if err != nil {
		return err
	}
	logf("fireway %.0f docs/s (node process start included), fbadmin up %.0f docs/s right after", fwRate, r.up)
	res["fireway_docs_per_s"] = round2(fwRate)
	res["up_after_fireway_docs_per_s"] = round2(r.up)
	res["up_vs_fireway"] = round2(r.up / fwRate)
	return nil
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func round2(f float64) float64 { return float64(int64(f*100+0.5)) / 100 }

func run(host string, n, rounds, parallel int) (map[string]any, error) {
	ctx := context.Background()
	logf("warm-up round (%d documents, untimed)", min(n, 10000))
	if _, err := oneRound(ctx, host, min(n, 10000), parallel, true, false); err != nil {
		return nil, err
	}
	var ratios, raws, ups, downs []float64
	equal := true
	for i := range rounds {
		r, err := oneRound(ctx, host, n, parallel, i%2 == 0, true)
		if err != nil {
			return nil, err
		}
		logf("round %d: raw %.0f docs/s, up %.0f docs/s (ratio %.2f), down %.0f docs/s, rollback equal %v", i+1, r.raw, r.up, r.up/r.raw, r.down, r.equal)
		ratios = append(ratios, r.up/r.raw)
		raws, ups, downs = append(raws, r.raw), append(ups, r.up), append(downs, r.down)
		equal = equal && r.equal
	}
	return map[string]any{
		"docs":                 n,
		"rounds":               rounds,
		"parallel":             parallel,
		"raw_write_docs_per_s": round2(median(raws)),
		"up_docs_per_s":        round2(median(ups)),
		"down_docs_per_s":      round2(median(downs)),
		"up_vs_raw":            round2(median(ratios)),
		"up_vs_raw_rounds":     ratios,
		"rollback_equal":       equal,
	}, nil
}
