// Command repository measures the repository package's bulk writer and
// streaming read against the plainest paths of the Firestore SDK, on the
// Firestore emulator.
//
// It writes N documents of five small fields through (a) raw WriteBatch
// commits of 500 from -concurrency goroutines and (b) a
// repository.BulkWriter with the same concurrency, then reads N documents
// through (c) one raw query stream decoding each document with DataTo and
// (d) repository's Query.All. Each round runs every path twice, in the
// order A B B A, each run with its own collection, so that warm-up and the
// database's growth weigh on both sides alike; the figures are the median
// docs/s of each path over all rounds (-rounds, default 3).
//
// Usage (normally through scripts/bench.sh repository):
//
//	FIRESTORE_EMULATOR_HOST=127.0.0.1:8080 go run ./internal/cmd/bench/repository [-n 20000] [-concurrency 8] [-rounds 3]
//
// stdout carries readable lines, then, as its last line, one JSON object
// with the figures; write_vs_raw and read_vs_raw are the repository's
// docs/s divided by the raw SDK's.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"os/signal"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"cloud.google.com/go/firestore"
	"github.com/fbadmin/fbadmin/internal/emutest"
	"github.com/fbadmin/fbadmin/repository"
	"google.golang.org/api/iterator"
)

// benchDoc is the document written and read: five small fields.
type benchDoc struct {
	Name   string  `firestore:"name"`
	Email  string  `firestore:"email"`
	Age    int64   `firestore:"age"`
	Score  float64 `firestore:"score"`
	Active bool    `firestore:"active"`
}

func makeDoc(i int) benchDoc {
	return benchDoc{
		Name:   fmt.Sprintf("user %d", i),
		Email:  fmt.Sprintf("user%d@example.com", i),
		Age:    int64(18 + i%70),
		Score:  float64(i%1000) / 10,
		Active: i%3 != 0,
	}
}

func docID(i int) string { return fmt.Sprintf("d%07d", i) }

type result struct {
	N                 int     `json:"n"`
	Concurrency       int     `json:"concurrency"`
	Rounds            int     `json:"rounds"`
	Statistic         string  `json:"statistic"`
	RawWriteDocsPerS  float64 `json:"raw_write_docs_per_s"`
	RepoWriteDocsPerS float64 `json:"repo_write_docs_per_s"`
	RawReadDocsPerS   float64 `json:"raw_read_docs_per_s"`
	RepoReadDocsPerS  float64 `json:"repo_read_docs_per_s"`
	WriteVsRaw        float64 `json:"write_vs_raw"`
	ReadVsRaw         float64 `json:"read_vs_raw"`
	// The same ratios by total time over all runs (aggregate docs/s).
	WriteVsRawTotal float64 `json:"write_vs_raw_total"`
	ReadVsRawTotal  float64 `json:"read_vs_raw_total"`
}

func main() {
	n := flag.Int("n", 20000, "documents written and read by each path")
	conc := flag.Int("concurrency", 8, "parallel batch commits, for the raw writes and the bulk writer alike")
	rounds := flag.Int("rounds", 5, "rounds; each runs every path twice, in the order raw, repository, repository, raw")
	flag.Parse()
	if *n < 1 || *conc < 1 || *rounds < 1 {
		fmt.Fprintln(os.Stderr, "repository bench: -n, -concurrency and -rounds must be at least 1")
		os.Exit(2)
	}
	host := os.Getenv("FIRESTORE_EMULATOR_HOST")
	if host == "" {
		fmt.Fprintln(os.Stderr, "repository bench: FIRESTORE_EMULATOR_HOST is not set; this benchmark runs only against the emulator "+
			"(run it with scripts/bench.sh repository, which starts the emulators)")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, host, *n, *conc, *rounds); err != nil {
		fmt.Fprintln(os.Stderr, "repository bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, host string, n, conc, rounds int) error {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return err
	}
	project := "demo-bench-" + hex.EncodeToString(b[:])
	client, err := firestore.NewClient(ctx, project)
	if err != nil {
		return fmt.Errorf("firestore client: %w", err)
	}
	defer client.Close()
	defer func() {
		if err := emutest.ResetFirestore(host, project, "(default)"); err != nil {
			fmt.Fprintln(os.Stderr, "repository bench: cleaning up project", project+":", err)
		}
	}()
	fmt.Printf("repository bench: %d documents per run, concurrency %d, %d rounds, emulator %s, project %s\n",
		n, conc, rounds, host, project)

	// Warm up both paths (connections, the emulator's JIT); not measured.
	warm := n // a full-size pass: the emulator JVM needs it to reach a steady state
	if _, err := rawWrite(ctx, client, "warm_raw", warm, conc); err != nil {
		return err
	}
	if _, err := repoWrite(ctx, client, "warm_repo", warm, conc); err != nil {
		return err
	}
	if _, err := rawRead(ctx, client, "warm_raw", warm); err != nil {
		return err
	}
	if _, err := repoRead(ctx, client, "warm_repo", warm); err != nil {
		return err
	}

	// rates holds each run's docs/s, by path.
	const (
		rawW = iota
		repoW
		rawR
		repoR
		paths
	)
	var rates [paths][]float64
	var total [paths]time.Duration
	for r := 1; r <= rounds; r++ {
		coll := func(kind string, i int) string { return fmt.Sprintf("r%d_%s%d", r, kind, i) }
		steps := []struct {
			name string
			path int
			f    func() (time.Duration, error)
		}{
			{"raw write (WriteBatch x500)", rawW, func() (time.Duration, error) { return rawWrite(ctx, client, coll("raw", 1), n, conc) }},
			{"repo write (BulkWriter)", repoW, func() (time.Duration, error) { return repoWrite(ctx, client, coll("repo", 1), n, conc) }},
			{"repo write (BulkWriter)", repoW, func() (time.Duration, error) { return repoWrite(ctx, client, coll("repo", 2), n, conc) }},
			{"raw write (WriteBatch x500)", rawW, func() (time.Duration, error) { return rawWrite(ctx, client, coll("raw", 2), n, conc) }},
			{"raw read (Documents + DataTo)", rawR, func() (time.Duration, error) { return rawRead(ctx, client, coll("raw", 1), n) }},
			{"repo read (Query.All)", repoR, func() (time.Duration, error) { return repoRead(ctx, client, coll("repo", 1), n) }},
			{"repo read (Query.All)", repoR, func() (time.Duration, error) { return repoRead(ctx, client, coll("repo", 2), n) }},
			{"raw read (Documents + DataTo)", rawR, func() (time.Duration, error) { return rawRead(ctx, client, coll("raw", 2), n) }},
		}
		fmt.Printf("round %d of %d\n", r, rounds)
		for _, s := range steps {
			c0 := cpuTime()
			d, err := s.f()
			if err != nil {
				return fmt.Errorf("round %d, %s: %w", r, s.name, err)
			}
			cpu := cpuTime() - c0
			rate := float64(n) / d.Seconds()
			rates[s.path] = append(rates[s.path], rate)
			total[s.path] += d
			fmt.Printf("  %-30s %7d docs in %7.3fs %9.0f docs/s (client CPU %.3fs)\n", s.name, n, d.Seconds(), rate, cpu.Seconds())
		}
		// Free the emulator's memory between rounds.
		if err := emutest.ResetFirestore(host, project, "(default)"); err != nil {
			fmt.Fprintf(os.Stderr, "repository bench: clearing round %d: %v\n", r, err)
		}
	}

	// The figures are medians over the runs of each path: on a shared
	// machine a run now and then is slowed down by other processes, and a
	// median is not swayed by such outliers as a total time is.
	res := result{
		N: n, Concurrency: conc, Rounds: rounds, Statistic: "median",
		RawWriteDocsPerS: round(median(rates[rawW]), 1), RepoWriteDocsPerS: round(median(rates[repoW]), 1),
		RawReadDocsPerS: round(median(rates[rawR]), 1), RepoReadDocsPerS: round(median(rates[repoR]), 1),
	}
	res.WriteVsRaw = round(median(rates[repoW])/median(rates[rawW]), 3)
	res.ReadVsRaw = round(median(rates[repoR])/median(rates[rawR]), 3)
	res.WriteVsRawTotal = round(total[rawW].Seconds()/total[repoW].Seconds(), 3)
	res.ReadVsRawTotal = round(total[rawR].Seconds()/total[repoR].Seconds(), 3)
	fmt.Printf("write: raw %.0f docs/s, repository %.0f docs/s (medians of %d runs): ratio %.3f (by total time %.3f)\n",
		res.RawWriteDocsPerS, res.RepoWriteDocsPerS, 2*rounds, res.WriteVsRaw, total[rawW].Seconds()/total[repoW].Seconds())
	fmt.Printf("read:  raw %.0f docs/s, repository %.0f docs/s (medians of %d runs): ratio %.3f (by total time %.3f)\n",
		res.RawReadDocsPerS, res.RepoReadDocsPerS, 2*rounds, res.ReadVsRaw, total[rawR].Seconds()/total[repoR].Seconds())
	out, err := json.Marshal(res)
	if err != nil {
		return err
	}
	fmt.Println(string(out))
	return nil
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return math.NaN()
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// cpuTime returns the CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func round(x float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(x*p) / p
}

// rawWrite writes n documents with WriteBatch commits of 500 from conc
// goroutines: the fastest plain SDK path.
func rawWrite(ctx context.Context, client *firestore.Client, coll string, n, conc int) (time.Duration, error) {
	const batch = 500
	col := client.Collection(coll)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, conc)
	start := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				first := int(next.Add(batch)) - batch
				if first >= n {
					return
				}
				//lint:ignore SA1019 the raw baseline is plain batch commits, the fastest SDK path
				b := client.Batch()
				for i := first; i < min(first+batch, n); i++ {
					b.Set(col.Doc(docID(i)), makeDoc(i))
				}
				if _, err := b.Commit(ctx); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	d := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		return 0, err
	}
	return d, nil
}

// repoWrite writes n documents through the repository's bulk writer.
func repoWrite(ctx context.Context, client *firestore.Client, coll string, n, conc int) (time.Duration, error) {
	r := repository.New[benchDoc](client, coll)
	start := time.Now()
	w := r.BulkWriter(ctx, &repository.BulkOptions{Concurrency: conc})
	for i := range n {
		if err := w.Set(docID(i), makeDoc(i)); err != nil {
			w.Close()
			return 0, err
		}
	}
	sum, err := w.Close()
	d := time.Since(start)
	if err != nil {
		return 0, err
	}
	if sum.Written != int64(n) {
		return 0, fmt.Errorf("bulk writer wrote %d documents, want %d", sum.Written, n)
	}
	return d, nil
}

// rawRead reads the collection as one query stream, decoding each
// document into a fresh struct.
func rawRead(ctx context.Context, client *firestore.Client, coll string, n int) (time.Duration, error) {
	start := time.Now()
	it := client.Collection(coll).Documents(ctx)
	defer it.Stop()
	count := 0
	for {
		s, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return 0, err
		}
		var d benchDoc
		if err := s.DataTo(&d); err != nil {
			return 0, err
		}
		count++
	}
	dur := time.Since(start)
	if count != n {
		return 0, fmt.Errorf("read %d documents, want %d", count, n)
	}
	return dur, nil
}

// repoRead reads the collection through the repository's iterator.
func repoRead(ctx context.Context, client *firestore.Client, coll string, n int) (time.Duration, error) {
	r := repository.New[benchDoc](client, coll)
	start := time.Now()
	count := 0
	for d, err := range r.Query().All(ctx) {
		if err != nil {
			return 0, err
		}
		if d.ID == "" {
			return 0, errors.New("document without ID")
		}
		count++
	}
	dur := time.Since(start)
	if count != n {
		return 0, fmt.Errorf("read %d documents, want %d", count, n)
	}
	return dur, nil
}
