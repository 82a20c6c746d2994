// Command migrate benchmarks `fbadmin migrate` (package migrate) on the
// Firestore emulator: a migration that sets a default field on N
// documents (50,000 by default) and renames another, against the raw
// bulk-write ceiling that scripts/bench.sh cli measures (WriteBatch of
// 500, 16 goroutines, data built in memory), measured in the same round
// on the same emulator, on a fresh project. The migration's rate counts
// what it does for each document: read it (range queries through a bulk
// connection, migrate.Options.DB, as fbadmin migrate does), journal its
// before-image to a file (synced before each batch is sent), write it
// fenced by the lock.
//
// Each round also times the bare floor of any migration that reads what it
// changes: the same change written as plain SDK code, with nothing of
// fbadmin (one query, batches of 499 updates preconditioned on each
// document's update time, 8 in flight; no lock, journal or resume).
// bare_vs_raw is what the emulator allows such a migration against the raw
// ceiling, and up_vs_bare what fbadmin's lock, journal and fencing cost.
//
// It runs -rounds rounds (the three in a rotating order), each on fresh
// projects, after -warmup untimed rounds; the ratios are the medians of the
// rounds' ratios. rollback_equal is true when a full export after up and
// down (internal/transfer.Export, paths and data) equals the export before
// up, in every round.
//
// fireway runs -fireway-rounds times, each paired with an fbadmin up on
// another fresh project, the two in alternating order; up_vs_fireway is
// the median of the pairs' ratios.
//
// The last line of stdout is one JSON object.
//
//	scripts/bench.sh migrate [-n 50000] [-rounds 3] [-warmup 2] [-fireway-rounds 3]
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
	"google.golang.org/api/iterator"

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
	warmup := flag.Int("warmup", 2, "untimed rounds first, of -n documents each")
	rounds := flag.Int("rounds", 3, "measured rounds (the median ratio is reported)")
	parallel := flag.Int("parallel", 8, "batches in flight for the migration")
	fwRounds := flag.Int("fireway-rounds", 3, "fireway runs, each paired with an fbadmin up (the median ratio is reported)")
	fw := flag.String("fireway", "internal/cmd/bench/migrate/fireway", "the folder where fireway is installed (npm ci there); skipped when it has no node_modules")
	flag.Parse()
	host := os.Getenv("FIRESTORE_EMULATOR_HOST")
	if host == "" {
		logf("FIRESTORE_EMULATOR_HOST is not set (run through scripts/bench.sh migrate)")
		os.Exit(2)
	}
	res, err := run(host, *n, *rounds, *warmup, *parallel)
	if err != nil {
		logf("%v", err)
		os.Exit(1)
	}
	if err := vsFireway(context.Background(), host, *fw, *n, *parallel, *fwRounds, res); err != nil {
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
	raw, up, down, bare float64 // docs/s
	equal               bool
}

// bareMigration runs the benchmark's migration as plain SDK code, the
// floor of any migration that reads what it changes: one query, batches of
// 499 updates (title from name, name deleted, plan "free" where missing),
// each preconditioned on the document's update time as read, 8 in flight.
func bareMigration(ctx context.Context, c *firestore.Client) (int, error) {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	send := func(snaps []*firestore.DocumentSnapshot) {
		g.Go(func() error {
			//lint:ignore SA1019 plain batched commits are the floor measured here
			wb := c.Batch()
			for _, s := range snaps {
				d := s.Data()
				u := []firestore.Update{{Path: "title", Value: d["name"]}, {Path: "name", Value: firestore.Delete}}
				if _, ok := d["plan"]; !ok {
					u = append(u, firestore.Update{Path: "plan", Value: "free"})
				}
				wb.Update(s.Ref, u, firestore.LastUpdateTime(s.UpdateTime))
			}
			_, err := wb.Commit(gctx)
			return err
		})
	}
	it := c.Collection("users").Documents(gctx)
	defer it.Stop()
	var buf []*firestore.DocumentSnapshot
	k := 0
	for {
		s, err := it.Next()
		if err == iterator.Done {
			break
		}
		if err != nil {
			g.Wait()
			return k, err
		}
		k++
		if buf = append(buf, s); len(buf) == 499 {
			send(buf)
			buf = nil
		}
	}
	if len(buf) > 0 {
		send(buf)
	}
	return k, g.Wait()
}

func oneRound(ctx context.Context, host string, n, parallel, order int, check bool) (round, error) {
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
	mig := func() (err error) {
		r.up, r.down, r.equal, err = upDown(ctx, host, m, n, parallel, check)
		return err
	}
	bare := func() error {
		p := project("bare")
		defer emutest.ResetFirestore(host, p, "(default)")
		c, err := firestore.NewClient(ctx, p)
		if err != nil {
			return err
		}
		defer c.Close()
		if _, err := seed(ctx, c, n); err != nil {
			return err
		}
		start := time.Now()
		k, err := bareMigration(ctx, c)
		if err != nil {
			return err
		}
		if k != n {
			return fmt.Errorf("the bare migration read %d documents, want %d", k, n)
		}
		r.bare = float64(n) / time.Since(start).Seconds()
		return nil
	}
	steps := []func() error{raw, mig, bare}
	order %= len(steps)
	steps = append(steps[order:], steps[:order]...)
	for _, s := range steps {
		if err := s(); err != nil {
			return r, err
		}
	}
	return r, nil
}

// vsFireway times fireway (npm, pinned in FOLDER/package-lock.json) on the
// same migration, written as FOLDER/migrations/v0.0.1__defaults.js, rounds
// times, each paired with an fbadmin up on another fresh project (fireway
// first in odd pairs): up_vs_fireway is the median of the pairs' ratios.
func vsFireway(ctx context.Context, host, folder string, n, parallel, rounds int, res map[string]any) error {
	bin := filepath.Join(folder, "node_modules", ".bin", "fireway")
	if _, err := os.Stat(bin); err != nil {
		logf("fireway is not installed (cd %s && npm ci): up_vs_fireway not measured", folder)
		return nil
	}
	m, err := migrate.ParseFile("0001_defaults.yaml", []byte(migrationYAML))
	if err != nil {
		return err
	}
	var fws, ups, ratios []float64
	for i := range rounds {
		var fwRate, upRate float64
		fw := func() (err error) { fwRate, err = fireway(ctx, host, folder, n); return err }
		up := func() (err error) {
			upRate, _, _, err = upDown(ctx, host, m, n, parallel, false)
			return err
		}
		steps := []func() error{fw, up}
		if i%2 == 1 {
			steps = []func() error{up, fw}
		}
		for _, s := range steps {
			if err := s(); err != nil {
				return err
			}
		}
		logf("fireway pair %d: fireway %.0f docs/s (node process start included), fbadmin up %.0f docs/s (ratio %.2f)", i+1, fwRate, upRate, upRate/fwRate)
		fws, ups, ratios = append(fws, fwRate), append(ups, upRate), append(ratios, upRate/fwRate)
	}
	res["fireway_docs_per_s"] = round2(median(fws))
	res["up_paired_with_fireway_docs_per_s"] = round2(median(ups))
	res["up_vs_fireway"] = round2(median(ratios))
	res["up_vs_fireway_pairs"] = roundAll(ratios)
	return nil
}

// fireway runs fireway's migrate on a fresh project of n documents and
// returns its rate, node's start included, as a user waits for it.
func fireway(ctx context.Context, host, folder string, n int) (float64, error) {
	p := project("fw")
	defer emutest.ResetFirestore(host, p, "(default)")
	c, err := firestore.NewClient(ctx, p)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	if _, err := seed(ctx, c, n); err != nil {
		return 0, err
	}
	cmd := exec.CommandContext(ctx, "node_modules/.bin/fireway", "migrate", "--path", "migrations", "--projectId", p)
	cmd.Dir = folder
	cmd.Env = append(os.Environ(), "FIRESTORE_EMULATOR_HOST="+host, "GCLOUD_PROJECT="+p)
	cmd.Stderr = os.Stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("fireway migrate: %w", err)
	}
	rate := float64(n) / time.Since(start).Seconds()
	snap, err := c.Doc("users/u000001").Get(ctx)
	if err != nil {
		return 0, err
	}
	if d := snap.Data(); d["title"] != "user 1" || d["plan"] != "free" {
		return 0, fmt.Errorf("fireway's migration did not apply: %v", d)
	}
	return rate, nil
}

func roundAll(xs []float64) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = round2(x)
	}
	return out
}

// upDown runs up then down of m on a fresh project of n documents and
// returns their rates; with check, equal tells whether a full export after
// down equals the one before up.
func upDown(ctx context.Context, host string, m *migrate.Migration, n, parallel int, check bool) (up, down float64, equal bool, err error) {
	p := project("up")
	defer emutest.ResetFirestore(host, p, "(default)")
	c, err := firestore.NewClient(ctx, p)
	if err != nil {
		return 0, 0, false, err
	}
	defer c.Close()
	if _, err := seed(ctx, c, n); err != nil {
		return 0, 0, false, err
	}
	db, err := transfer.Open(ctx, transfer.Config{Project: p, EmulatorHost: host})
	if err != nil {
		return 0, 0, false, err
	}
	defer db.Close()
	var before string
	if check {
		if before, err = export(ctx, db); err != nil {
			return 0, 0, false, err
		}
	}
	dir, err := os.MkdirTemp("", "bench-migrate-journal")
	if err != nil {
		return 0, 0, false, err
	}
	defer os.RemoveAll(dir)
	runner := migrate.New(c, migrate.Options{JournalDir: dir, Parallel: parallel, DB: db})
	start := time.Now()
	reps, err := runner.Up(ctx, []*migrate.Migration{m}, migrate.UpOptions{})
	if err != nil {
		return 0, 0, false, err
	}
	el := time.Since(start)
	if reps[0].Changed != int64(n) {
		return 0, 0, false, fmt.Errorf("up changed %d documents, want %d", reps[0].Changed, n)
	}
	up = float64(n) / el.Seconds()
	start = time.Now()
	if _, err := runner.Down(ctx, []*migrate.Migration{m}, migrate.DownOptions{}); err != nil {
		return 0, 0, false, err
	}
	down = float64(n) / time.Since(start).Seconds()
	if check {
		after, err := export(ctx, db)
		if err != nil {
			return 0, 0, false, err
		}
		equal = after == before && strings.Count(before, "\n")+1 == n
	}
	return up, down, equal, nil
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

func run(host string, n, rounds, warmup, parallel int) (map[string]any, error) {
	ctx := context.Background()
	for i := range warmup {
		// The emulator's JVM takes a few hundred thousand writes and reads
		// to warm up: the first rounds ran at a third of the later ones.
		logf("warm-up round %d of %d (%d documents, untimed)", i+1, warmup, n)
		if _, err := oneRound(ctx, host, n, parallel, i, false); err != nil {
			return nil, err
		}
	}
	var ratios, bareRatios, upBare, raws, ups, downs, bares []float64
	equal := true
	for i := range rounds {
		r, err := oneRound(ctx, host, n, parallel, i, true)
		if err != nil {
			return nil, err
		}
		logf("round %d: raw %.0f docs/s, up %.0f docs/s (ratio %.2f), bare %.0f docs/s (bare/raw %.2f, up/bare %.2f), down %.0f docs/s, rollback equal %v",
			i+1, r.raw, r.up, r.up/r.raw, r.bare, r.bare/r.raw, r.up/r.bare, r.down, r.equal)
		ratios, bareRatios, upBare = append(ratios, r.up/r.raw), append(bareRatios, r.bare/r.raw), append(upBare, r.up/r.bare)
		raws, ups, downs, bares = append(raws, r.raw), append(ups, r.up), append(downs, r.down), append(bares, r.bare)
		equal = equal && r.equal
	}
	return map[string]any{
		"docs":                 n,
		"rounds":               rounds,
		"warmup_rounds":        warmup,
		"parallel":             parallel,
		"raw_write_docs_per_s": round2(median(raws)),
		"up_docs_per_s":        round2(median(ups)),
		"down_docs_per_s":      round2(median(downs)),
		"bare_docs_per_s":      round2(median(bares)),
		"up_vs_raw":            round2(median(ratios)),
		"up_vs_raw_rounds":     roundAll(ratios),
		"bare_vs_raw":          round2(median(bareRatios)),
		"bare_vs_raw_rounds":   roundAll(bareRatios),
		"up_vs_bare":           round2(median(upBare)),
		"rollback_equal":       equal,
	}, nil
}
