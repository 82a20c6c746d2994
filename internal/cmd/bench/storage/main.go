// Command storage benchmarks fbadmin's exports and imports through object
// storage (scripts/bench.sh storage runs it against the emulator suite).
//
// The program is a list of sections, each a function that returns named
// figures; every section registered (with [register], from any file of
// this package) runs in turn, and the last line on stdout is one JSON
// object holding all their figures. -only NAME,... runs some of them.
//
// Section "storage" (this file): N documents (-n, default 20,000) are
// imported into an emulator project of its own; then the same export
// (transfer.Export, the engine of 'fbadmin fs export') runs -rounds times
// to each destination, in turn: a local file, an object in a fake Cloud
// Storage server (fsouza/fake-gcs-server, in this process, reached through
// STORAGE_EMULATOR_HOST as a user's fbadmin would), and an object in a fake
// S3 server (gofakes3, in this process), after one untimed export to the
// file and to Cloud Storage. The file and Cloud Storage exports of a round
// run back to back, in alternating order. Each destination's median rate
// gives file_export_docs_per_s, gcs_export_docs_per_s,
// s3_export_docs_per_s; gcs_export_vs_file is the median of the rounds'
// Cloud Storage rate over the local file's (target at least 0.8),
// s3_export_vs_file likewise.
// gzip_export_docs_per_s and zstd_export_docs_per_s are exports to
// compressed Cloud Storage objects. Then the file and the Cloud Storage
// object are imported into a fresh project each (-rounds/2 times,
// alternating): gcs_import_vs_file is the median of the rounds' ratios.
//
// Progress goes to stderr.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/fbadmin/fbadmin/internal/emutest"
	"github.com/fbadmin/fbadmin/internal/storage"
	"github.com/fbadmin/fbadmin/internal/storage/storagetest"
	"github.com/fbadmin/fbadmin/internal/transfer"
)

// benchEnv is what every section gets.
type benchEnv struct {
	// Host is the Firestore emulator (FIRESTORE_EMULATOR_HOST).
	Host string
	// Work is a temporary directory, removed at the end.
	Work string
}

type section struct {
	name string
	run  func(ctx context.Context, e *benchEnv) (map[string]any, error)
}

var sections []section

// register adds a section of figures; sections run in the order of
// registration (files' init functions run in file name order).
func register(name string, run func(ctx context.Context, e *benchEnv) (map[string]any, error)) {
	sections = append(sections, section{name, run})
}

var (
	flagN      = flag.Int("n", 20000, "documents exported and imported by the storage section")
	flagRounds = flag.Int("rounds", 5, "runs of each measure in the storage section (the median counts)")
	flagOnly   = flag.String("only", "", "comma-separated sections to run (default all)")
)

func init() { register("storage", storageFigures) }

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench storage: "+format+"\n", args...)
}

func main() {
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	e := &benchEnv{Host: os.Getenv("FIRESTORE_EMULATOR_HOST")}
	if e.Host == "" {
		fmt.Fprintln(os.Stderr, "bench storage: FIRESTORE_EMULATOR_HOST is not set (run it through scripts/bench.sh storage)")
		os.Exit(2)
	}
	var err error
	if e.Work, err = os.MkdirTemp("", "fbadmin-bench-storage-"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer os.RemoveAll(e.Work)
	// A section that fails is named in the result ("NAME_error") and
	// the exit status, and the others' figures are still printed.
	out := map[string]any{}
	failed := false
	for _, s := range sections {
		if *flagOnly != "" && !slices.Contains(strings.Split(*flagOnly, ","), s.name) {
			continue
		}
		logf("section %s", s.name)
		figs, err := s.run(ctx, e)
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench storage: section %s: %v\n", s.name, err)
			out[s.name+"_error"] = err.Error()
			failed = true
			continue
		}
		for k, v := range figs {
			out[k] = v
		}
	}
	b, _ := json.Marshal(out)
	fmt.Println(string(b))
	if failed {
		os.RemoveAll(e.Work)
		os.Exit(1)
	}
}

func newProject() string {
	var b [4]byte
	rand.Read(b[:])
	return "demo-bench-storage-" + hex.EncodeToString(b[:])
}

func openDB(ctx context.Context, host, project string) (*transfer.DB, error) {
	return transfer.Open(ctx, transfer.Config{Project: project, EmulatorHost: host})
}

func medianOf(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func r2(f float64) float64 { return float64(int64(f*100+0.5)) / 100 }

// exportTo exports the database to arg and returns documents per second.
func exportTo(ctx context.Context, db *transfer.DB, arg string, n int) (float64, error) {
	start := time.Now()
	w, err := storage.Create(ctx, arg)
	if err != nil {
		return 0, err
	}
	st, err := transfer.Export(ctx, db, w, transfer.ExportOptions{})
	if err != nil {
		w.Abort()
		return 0, err
	}
	if err := w.Close(); err != nil {
		return 0, err
	}
	if st.Docs != int64(n) {
		return 0, fmt.Errorf("export to %s: %d documents, want %d", arg, st.Docs, n)
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// importFrom imports arg into a fresh project and returns documents per
// second.
func importFrom(ctx context.Context, host, arg string, n int) (float64, error) {
	project := newProject()
	defer emutest.ResetFirestore(host, project, "(default)")
	db, err := openDB(ctx, host, project)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	start := time.Now()
	st, err := transfer.Import(ctx, db, arg, transfer.ImportOptions{Mode: transfer.ModeCreate, Journal: transfer.NoJournal})
	if err != nil {
		return 0, err
	}
	if st.Docs != int64(n) {
		return 0, fmt.Errorf("import of %s: %d documents, want %d", arg, st.Docs, n)
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

func storageFigures(ctx context.Context, e *benchEnv) (map[string]any, error) {
	n, rounds := *flagN, max(*flagRounds, 1)
	gcs, err := storagetest.NewGCS("bench")
	if err != nil {
		return nil, err
	}
	defer gcs.Close()
	os.Setenv("STORAGE_EMULATOR_HOST", gcs.Host)
	s3, err := storagetest.NewS3("bench")
	if err != nil {
		return nil, err
	}
	defer s3.Close()
	for k, v := range s3.Env() {
		os.Setenv(k, v)
	}

	// Seed: n documents of a few small fields.
	project := newProject()
	defer emutest.ResetFirestore(e.Host, project, "(default)")
	seed := filepath.Join(e.Work, "seed.ndjson")
	f, err := os.Create(seed)
	if err != nil {
		return nil, err
	}
	for i := range n {
		fmt.Fprintf(f, `{"path":"items/%06d","data":{"n":{"$int":"%d"},"name":"item %d","price":%d.5,"tags":["a","b"],"ok":true}}`+"\n", i, i, i, i%1000)
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	db, err := openDB(ctx, e.Host, project)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	logf("seeding %d documents into %s", n, project)
	if _, err := transfer.Import(ctx, db, seed, transfer.ImportOptions{Mode: transfer.ModeCreate, Journal: transfer.NoJournal}); err != nil {
		return nil, err
	}

	file := filepath.Join(e.Work, "export.ndjson")
	gcsObj := "gs://bench/export.ndjson"
	// Warm-up, untimed: the emulator's JIT and the clients' connections.
	if _, err := exportTo(ctx, db, file, n); err != nil {
		return nil, err
	}
	if _, err := exportTo(ctx, db, gcsObj, n); err != nil {
		return nil, err
	}
	// Each round exports to the file and to Cloud Storage back to back,
	// in alternating order (the machine's speed drifts), then to the
	// other destinations; a ratio is the median of the rounds' own ratios.
	dests := []struct{ name, arg string }{
		{"s3", s3.URL("bench", "export.ndjson")},
		{"gzip", "gs://bench/export.ndjson.gz"},
		{"zstd", "gs://bench/export.ndjson.zst"},
	}
	rates := map[string][]float64{}
	var gcsRatio, s3Ratio []float64
	for r := range rounds {
		pair := []struct{ name, arg string }{{"file", file}, {"gcs", gcsObj}}
		if r%2 == 1 {
			pair[0], pair[1] = pair[1], pair[0]
		}
		for _, d := range append(pair, dests...) {
			rate, err := exportTo(ctx, db, d.arg, n)
			if err != nil {
				return nil, err
			}
			rates[d.name] = append(rates[d.name], rate)
			logf("round %d: export to %s: %.0f docs/s", r+1, d.name, rate)
		}
		gcsRatio = append(gcsRatio, rates["gcs"][r]/rates["file"][r])
		s3Ratio = append(s3Ratio, rates["s3"][r]/rates["file"][r])
	}
	med := map[string]float64{}
	for k, v := range rates {
		med[k] = medianOf(v)
	}
	out := map[string]any{
		"storage_docs":           n,
		"storage_rounds":         rounds,
		"file_export_docs_per_s": r2(med["file"]),
		"gcs_export_docs_per_s":  r2(med["gcs"]),
		"s3_export_docs_per_s":   r2(med["s3"]),
		"gzip_export_docs_per_s": r2(med["gzip"]),
		"zstd_export_docs_per_s": r2(med["zstd"]),
		"gcs_export_vs_file":     r2(medianOf(gcsRatio)),
		"s3_export_vs_file":      r2(medianOf(s3Ratio)),
	}

	// Imports: fewer rounds (each writes n documents into a fresh
	// project), alternating too.
	var fileImp, gcsImp, impRatio []float64
	for r := range max(rounds/2, 1) {
		var a, b float64
		var err error
		if r%2 == 0 {
			if a, err = importFrom(ctx, e.Host, file, n); err == nil {
				b, err = importFrom(ctx, e.Host, gcsObj, n)
			}
		} else {
			if b, err = importFrom(ctx, e.Host, gcsObj, n); err == nil {
				a, err = importFrom(ctx, e.Host, file, n)
			}
		}
		if err != nil {
			return nil, err
		}
		fileImp, gcsImp, impRatio = append(fileImp, a), append(gcsImp, b), append(impRatio, b/a)
		logf("round %d: import from file %.0f docs/s, from gcs %.0f docs/s", r+1, a, b)
	}
	out["file_import_docs_per_s"] = r2(medianOf(fileImp))
	out["gcs_import_docs_per_s"] = r2(medianOf(gcsImp))
	out["gcs_import_vs_file"] = r2(medianOf(impRatio))
	return out, nil
}
