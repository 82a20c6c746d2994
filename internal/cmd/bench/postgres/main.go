// Command postgres benchmarks the PostgreSQL sink of `fbadmin listen`
// against the Firestore emulator and a PostgreSQL server
// (scripts/bench.sh postgres runs it, starting scripts/postgres.sh's
// cluster when it is not running):
//
//  1. Backfill: N documents (-n) are seeded into a collection with the
//     repository's BulkWriter, then daemon.Backfill fills a postgres sink
//     from them (backfill_docs_per_s). The rows it wrote are exported to a
//     CSV file and loaded into an equivalent empty table (same columns,
//     same primary key) with PostgreSQL's own COPY ... FROM STDIN: the
//     database's ceiling (copy_docs_per_s). backfill_vs_copy is the ratio.
//     emulator_read_docs_per_s is the emulator's own rate for the same
//     query read at a read time, with no sink: the other bound
//     (emulator_read_vs_copy, the most a backfill from it could reach).
//  2. Reconcile: daemon.Reconcile compares the table with the N documents
//     (reconcile_docs_per_s); then 100 rows are deleted, 100 altered in
//     place (their data, not their update time) and 100 added with SQL
//     behind the sink's back, and reconcile_found is how many of the 300
//     differences Reconcile reports. A Reconcile with Repair follows, and
//     reconcile_left_after_repair is what a last Reconcile still finds.
//  3. Delivery: daemon.Run with two listeners on the same collection, one
//     delivering to a file sink and one to a postgres sink, while writers
//     (BulkWriter) create documents as fast as the emulator takes them for
//     -duration. Each sink's delivered events (the daemon's
//     fbadmin_listen_events_delivered_total, scraped from /metrics at the
//     writers' start and end) over that window give its events per
//     second; delivered_vs_file_sink is postgres's over the file sink's.
//
// The benchmark works in a database of its own on the server of
// FBADMIN_POSTGRES_DSN (default scripts/postgres.sh's, 127.0.0.1:54329),
// dropped at the end, and in emulator projects of its own, reset at the
// end. Progress goes to stderr; the last line on stdout is one JSON object
// with the figures.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"

	"cloud.google.com/go/firestore"
	"github.com/jackc/pgx/v5"

	"github.com/fbadmin/fbadmin/internal/emutest"
	"github.com/fbadmin/fbadmin/internal/pgtest"
	"github.com/fbadmin/fbadmin/listeners/daemon"
	"github.com/fbadmin/fbadmin/repository"
)

// dsnEnv is the variable the sinks' config names: it holds the DSN of the
// benchmark's own database.
const dsnEnv = "FBADMIN_BENCH_POSTGRES_DSN"

func main() {
	n := flag.Int("n", 200000, "documents seeded, backfilled, copied and reconciled")
	conc := flag.Int("concurrency", 8, "seeding: batches committed in parallel")
	dur := flag.Duration("duration", 10*time.Second, "delivery: how long the writers run")
	writers := flag.Int("writers", 4, "delivery: batches committed in parallel by the writers")
	batch := flag.Int("batch", 200, "delivery: documents per committed batch")
	flag.Parse()
	if *n < 1000 {
		check(fmt.Errorf("-n %d: use at least 1000 (the reconcile section changes 300 rows)", *n))
	}
	defer cleanup()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		logf("interrupted; cleaning up")
		cleanup()
		os.Exit(130)
	}()

	host := os.Getenv("FIRESTORE_EMULATOR_HOST")
	if host == "" {
		host = "127.0.0.1:8080"
		os.Setenv("FIRESTORE_EMULATOR_HOST", host)
	}
	dir, err := os.MkdirTemp("", "fbadmin-bench-postgres")
	check(err)
	atExit(func() { os.RemoveAll(dir) })
	id := randomHex(4)
	db := newDatabase("bench_pg_" + id)
	check(os.Setenv(dsnEnv, db.dsn))

	out := map[string]any{"n": *n, "emulator": host, "postgres": pgtest.Redact(db.dsn), "cpus": runtime.NumCPU()}
	project := "demo-bench-pg-" + id
	atExit(func() {
		if err := emutest.ResetFirestore(host, project, firestore.DefaultDatabaseID); err != nil {
			logf("reset the emulator project %s: %v", project, err)
		}
	})
	ctx := context.Background()
	cfg := config(project, dir, "off", `
  - name: items
    collection: items
    sinks: [pg]`)

	maps(out, seed(ctx, project, *n, *conc))
	maps(out, backfill(ctx, cfg, db, dir, *n))
	maps(out, reconcile(ctx, cfg, db, *n))
	// The seeded documents are not needed any more: free the emulator.
	check(emutest.ResetFirestore(host, project, firestore.DefaultDatabaseID))

	liveProject := "demo-bench-pglive-" + id
	atExit(func() {
		if err := emutest.ResetFirestore(host, liveProject, firestore.DefaultDatabaseID); err != nil {
			logf("reset the emulator project %s: %v", liveProject, err)
		}
	})
	maps(out, delivery(ctx, liveProject, dir, db, deliveryConfig{dur: *dur, writers: *writers, batch: *batch}))

	b, err := json.Marshal(out)
	check(err)
	fmt.Println(string(b))
}

// config is the daemon config of the benchmark: a postgres sink (pg) on
// the benchmark's database and a file sink (file), and the listeners
// given as YAML list items.
func config(project, dir, httpAddr, listenersYAML string) *daemon.Config {
	src := fmt.Sprintf(`project: %s
state_dir: %s
log: {level: warn}
http: {addr: %q}
sinks:
  - name: pg
    postgres: {dsn_env: %s}
  - name: file
    file: {path: %s}
listeners:%s
`, project, strconv.Quote(dir+"/state-"+project), httpAddr, dsnEnv, strconv.Quote(dir+"/"+project+".ndjson"), listenersYAML)
	cfg, err := daemon.ParseConfig("bench.yaml", []byte(src))
	check(err)
	return cfg
}

// benchDoc is what every seeded and written document holds: a few fields
// of the common types, about 250 bytes of JSON in the sink's format.
func benchDoc(i int) map[string]any {
	return map[string]any{
		"name":    "document " + strconv.Itoa(i),
		"n":       int64(i),
		"score":   float64(i) / 7,
		"ok":      i%2 == 0,
		"at":      time.Unix(1700000000+int64(i), 123456000).UTC(),
		"tags":    []any{"alpha", "beta", strconv.Itoa(i % 100)},
		"address": map[string]any{"city": "City " + strconv.Itoa(i%1000), "zip": fmt.Sprintf("%05d", i%100000)},
	}
}

// seed writes n documents to the collection items through the
// repository's BulkWriter.
func seed(ctx context.Context, project string, n, conc int) map[string]any {
	client, err := firestore.NewClient(ctx, project)
	check(err)
	defer client.Close()
	logf("seeding %d documents into %s/items (BulkWriter, concurrency %d)", n, project, conc)
	t0 := time.Now()
	w := repository.New[map[string]any](client, "items").BulkWriter(ctx, &repository.BulkOptions{Concurrency: conc})
	for i := range n {
		if err := w.Set(fmt.Sprintf("d%07d", i), benchDoc(i)); err != nil {
			_, _ = w.Close()
			check(err)
		}
	}
	sum, err := w.Close()
	check(err)
	d := time.Since(t0)
	if sum.Written != int64(n) {
		check(fmt.Errorf("seeding wrote %d documents, want %d", sum.Written, n))
	}
	logf("seeded %d documents in %.1f s (%.0f/s)", n, d.Seconds(), float64(n)/d.Seconds())
	return map[string]any{"seed_s": round(d.Seconds()), "seed_docs_per_s": rate(n, d)}
}

// quiet passes on the daemon's warnings only.
var quiet = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

var (
	exitMu    sync.Mutex
	exitFuncs []func()
)

// atExit registers f to run when the benchmark ends, also on a failure.
func atExit(f func()) {
	exitMu.Lock()
	defer exitMu.Unlock()
	exitFuncs = append(exitFuncs, f)
}

func cleanup() {
	exitMu.Lock()
	defer exitMu.Unlock()
	for i := len(exitFuncs) - 1; i >= 0; i-- {
		exitFuncs[i]()
	}
	exitFuncs = nil
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench postgres:", err)
		cleanup()
		os.Exit(1)
	}
}

func logf(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }

func maps(dst, src map[string]any) {
	for k, v := range src {
		dst[k] = v
	}
}

func rate(n int, d time.Duration) float64 { return float64(int64(float64(n) / d.Seconds())) }

func round(f float64) float64 { return float64(int64(f*1000+0.5)) / 1000 }

func randomHex(n int) string {
	b := make([]byte, n)
	_, err := rand.Read(b)
	check(err)
	return hex.EncodeToString(b)
}

// database is the benchmark's own PostgreSQL database.
type database struct {
	name string
	dsn  string
}

// newDatabase creates the database on the server of FBADMIN_POSTGRES_DSN
// (or scripts/postgres.sh's default) and registers its drop.
func newDatabase(name string) *database {
	server := os.Getenv(pgtest.EnvDSN)
	if server == "" {
		server = pgtest.DefaultDSN
	}
	if err := admin(server, "CREATE DATABASE "+name); err != nil {
		check(fmt.Errorf("PostgreSQL at %s: %w (run through scripts/bench.sh postgres, which starts scripts/postgres.sh's cluster, or set %s)",
			pgtest.Redact(server), err, pgtest.EnvDSN))
	}
	atExit(func() {
		if err := admin(server, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			logf("drop the database %s: %v", name, err)
		}
	})
	u, err := url.Parse(server)
	if err != nil || u.Scheme == "" {
		check(fmt.Errorf("%s: want a URL DSN (postgres://USER@HOST:PORT/DB?...)", pgtest.EnvDSN))
	}
	u.Path = "/" + name
	logf("PostgreSQL database %s on %s", name, pgtest.Redact(server))
	return &database{name: name, dsn: u.String()}
}

// admin runs one statement on the server's maintenance database.
func admin(dsn, sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	_, err = c.Exec(ctx, sql)
	return err
}

// connect opens a connection on the benchmark's database.
func (db *database) connect(ctx context.Context) *pgx.Conn {
	c, err := pgx.Connect(ctx, db.dsn)
	check(err)
	return c
}

// count returns the rows of a table.
func (db *database) count(ctx context.Context, table string) int {
	c := db.connect(ctx)
	defer c.Close(ctx)
	var k int
	check(c.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{table}.Sanitize()).Scan(&k))
	return k
}
