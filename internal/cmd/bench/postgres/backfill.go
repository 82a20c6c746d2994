package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/api/iterator"

	"github.com/fbadmin/fbadmin/internal/transfer"
	"github.com/fbadmin/fbadmin/listeners/daemon"
)

// rowColumns are the columns of the sink's table, as COPY moves them.
const rowColumns = "path, id, parent, data, create_time, update_time, deleted, listener, event_id, event_type, read_time"

// backfill fills the postgres sink from the n seeded documents with
// daemon.Backfill, then measures the emulator reading the same query alone
// and PostgreSQL copying the same rows from a CSV file.
func backfill(ctx context.Context, cfg *daemon.Config, db *database, dir string, n int) map[string]any {
	// The default read time is one second ago: let it cover the seeding.
	time.Sleep(1100 * time.Millisecond)
	logf("backfill: %d documents into the postgres sink (daemon.Backfill)", n)
	t0 := time.Now()
	res, err := daemon.Backfill(ctx, cfg, "items", daemon.BackfillOptions{Logger: quiet})
	check(err)
	bd := time.Since(t0)
	if res.Documents != n || res.Sent["pg"] != n {
		check(fmt.Errorf("backfill read %d documents and sent %d, want %d", res.Documents, res.Sent["pg"], n))
	}
	if rows := db.count(ctx, "items"); rows != n {
		check(fmt.Errorf("backfill: the table holds %d rows, want %d", rows, n))
	}
	logf("backfill: %d documents in %.1f s (%.0f/s)", n, bd.Seconds(), float64(n)/bd.Seconds())
	r := map[string]any{"backfill_s": round(bd.Seconds()), "backfill_docs_per_s": rate(n, bd)}

	// The emulator alone: the same query at the same read time, no sink.
	client, err := firestore.NewClient(ctx, cfg.Project)
	check(err)
	defer client.Close()
	t0 = time.Now()
	it := client.Collection("items").WithReadOptions(firestore.ReadTime(res.ReadTime)).Documents(ctx)
	k := 0
	for {
		snap, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		check(err)
		_ = snap.Data()
		k++
	}
	it.Stop()
	rd := time.Since(t0)
	if k != n {
		check(fmt.Errorf("emulator read: %d documents, want %d", k, n))
	}
	logf("emulator alone: read the %d documents at the read time in %.1f s (%.0f/s)", n, rd.Seconds(), float64(n)/rd.Seconds())
	r["emulator_read_s"] = round(rd.Seconds())
	r["emulator_read_docs_per_s"] = rate(n, rd)

	// PostgreSQL's ceiling: the same rows, from a CSV file, with COPY into
	// an equivalent empty table.
	csvPath := filepath.Join(dir, "items.csv")
	defer os.Remove(csvPath)
	c := db.connect(ctx)
	defer c.Close(ctx)
	f, err := os.Create(csvPath)
	check(err)
	w := bufio.NewWriterSize(f, 1<<20)
	_, err = c.PgConn().CopyTo(ctx, w, "COPY (SELECT "+rowColumns+" FROM items) TO STDOUT WITH (FORMAT csv)")
	check(err)
	check(w.Flush())
	check(f.Close())
	st, err := os.Stat(csvPath)
	check(err)
	_, err = c.Exec(ctx, "CREATE TABLE items_copy (LIKE items INCLUDING ALL)")
	check(err)
	f, err = os.Open(csvPath)
	check(err)
	defer f.Close()
	logf("copy: %d rows (%.1f MB of CSV) with COPY items_copy FROM STDIN", n, float64(st.Size())/1e6)
	t0 = time.Now()
	tag, err := c.PgConn().CopyFrom(ctx, bufio.NewReaderSize(f, 1<<20), "COPY items_copy ("+rowColumns+") FROM STDIN WITH (FORMAT csv)")
	check(err)
	cd := time.Since(t0)
	if tag.RowsAffected() != int64(n) {
		check(fmt.Errorf("copy: %d rows, want %d", tag.RowsAffected(), n))
	}
	_, err = c.Exec(ctx, "DROP TABLE items_copy")
	check(err)
	logf("copy: %d rows in %.2f s (%.0f/s)", n, cd.Seconds(), float64(n)/cd.Seconds())
	r["copy_s"] = round(cd.Seconds())
	r["copy_docs_per_s"] = rate(n, cd)
	r["copy_csv_mb"] = round(float64(st.Size()) / 1e6)
	r["backfill_vs_copy"] = round(cd.Seconds() / bd.Seconds())
	// The most a backfill from this emulator could reach.
	r["emulator_read_vs_copy"] = round(cd.Seconds() / rd.Seconds())
	// How close the backfill comes to the emulator's own read rate.
	r["backfill_vs_emulator_read"] = round(rd.Seconds() / bd.Seconds())
	maps(r, backfillFromExport(ctx, cfg, db, dir, n, cd))
	return r
}

// backfillFromExport exports the seeded documents to an NDJSON file with
// the file engine, then backfills a second listener on the same collection
// (a table of its own) from that file: no Firestore reads.
func backfillFromExport(ctx context.Context, cfg *daemon.Config, db *database, dir string, n int, copyTime time.Duration) map[string]any {
	file := filepath.Join(dir, "items-export.ndjson")
	defer os.Remove(file)
	tdb, err := transfer.Open(ctx, transfer.Config{Project: cfg.Project, EmulatorHost: os.Getenv("FIRESTORE_EMULATOR_HOST")})
	check(err)
	defer tdb.Close()
	f, err := os.Create(file)
	check(err)
	t0 := time.Now()
	st, err := transfer.Export(ctx, tdb, f, transfer.ExportOptions{Paths: []string{"items"}})
	check(err)
	check(f.Close())
	ed := time.Since(t0)
	if st.Docs != int64(n) {
		check(fmt.Errorf("export: %d documents, want %d", st.Docs, n))
	}
	logf("export: %d documents to NDJSON in %.1f s (%.0f/s)", n, ed.Seconds(), float64(n)/ed.Seconds())

	ecfg := config(cfg.Project, dir, "off", `
  - name: items_export
    collection: items
    sinks: [pg]`)
	logf("backfill from the export: %d documents into the postgres sink (daemon.Backfill --from)", n)
	t0 = time.Now()
	res, err := daemon.Backfill(ctx, ecfg, "items_export", daemon.BackfillOptions{From: file, Logger: quiet})
	check(err)
	bd := time.Since(t0)
	if res.Documents != n || res.Sent["pg"] != n {
		check(fmt.Errorf("backfill from the export read %d documents and sent %d, want %d", res.Documents, res.Sent["pg"], n))
	}
	if rows := db.count(ctx, "items_export"); rows != n {
		check(fmt.Errorf("backfill from the export: the table holds %d rows, want %d", rows, n))
	}
	logf("backfill from the export: %d documents in %.1f s (%.0f/s)", n, bd.Seconds(), float64(n)/bd.Seconds())
	return map[string]any{
		"export_docs_per_s":               rate(n, ed),
		"backfill_from_export_s":          round(bd.Seconds()),
		"backfill_from_export_docs_per_s": rate(n, bd),
		"backfill_from_export_vs_copy":    round(copyTime.Seconds() / bd.Seconds()),
	}
}

// reconcile compares the sink's table with the n documents, then changes
// 300 rows behind the sink's back and counts what Reconcile finds and what
// a repair leaves.
func reconcile(ctx context.Context, cfg *daemon.Config, db *database, n int) map[string]any {
	run := func(what string, repair bool) (*daemon.ReconcileCounts, time.Duration) {
		t0 := time.Now()
		res, err := daemon.Reconcile(ctx, cfg, "items", daemon.ReconcileOptions{Sinks: []string{"pg"}, Repair: repair, Logger: quiet})
		check(err)
		d := time.Since(t0)
		c := res.Sinks["pg"]
		logf("reconcile (%s): %d documents, %d rows: %d missing, %d extra, %d stale, %d repaired in %.1f s",
			what, c.Documents, c.Rows, c.Missing, c.Extra, c.Stale, c.Repaired, d.Seconds())
		return c, d
	}
	clean, d := run("after the backfill", false)
	if clean.Differences() != 0 || clean.Documents != n {
		check(fmt.Errorf("reconcile after the backfill: %d documents, %d differences; want %d and none", clean.Documents, clean.Differences(), n))
	}
	r := map[string]any{"reconcile_s": round(d.Seconds()), "reconcile_docs_per_s": rate(n, d)}

	// Behind the sink's back, 300 rows spread over the table (by a hash of
	// the path): 100 deleted (missing), 100 with other data at the same
	// update time (stale, found by the data hash only), and 100 copies of
	// other rows under paths the query does not return (extra).
	c := db.connect(ctx)
	defer c.Close(ctx)
	tx, err := c.Begin(ctx)
	check(err)
	for _, sql := range []string{
		`CREATE TEMP TABLE picked ON COMMIT DROP AS SELECT path, row_number() OVER (ORDER BY md5(path)) AS k
			FROM items ORDER BY md5(path) LIMIT 300`,
		`DELETE FROM items WHERE path IN (SELECT path FROM picked WHERE k <= 100)`,
		`UPDATE items SET data = jsonb_set(data, '{name}', '"altered behind the sink''s back"')
			WHERE path IN (SELECT path FROM picked WHERE k > 100 AND k <= 200)`,
		`INSERT INTO items (` + rowColumns + `)
			SELECT path || 'x', id || 'x', parent, data, create_time, update_time, deleted, listener, event_id || 'x', event_type, read_time
			FROM items WHERE path IN (SELECT path FROM picked WHERE k > 200)`,
	} {
		tag, err := tx.Exec(ctx, sql)
		check(err)
		if tag.Delete() || tag.Update() || tag.Insert() {
			if tag.RowsAffected() != 100 {
				check(fmt.Errorf("%s changed %d rows, want 100", tag, tag.RowsAffected()))
			}
		}
	}
	check(tx.Commit(ctx))
	logf("reconcile: 100 rows deleted, 100 altered and 100 added with SQL")

	found, d := run("after 300 changes", false)
	r["reconcile_changed_s"] = round(d.Seconds())
	r["reconcile_found"] = found.Differences()
	r["reconcile_missing"] = found.Missing
	r["reconcile_extra"] = found.Extra
	r["reconcile_stale"] = found.Stale
	repaired, d := run("with repair", true)
	r["reconcile_repair_s"] = round(d.Seconds())
	r["reconcile_repaired"] = repaired.Repaired
	left, _ := run("after the repair", false)
	r["reconcile_left_after_repair"] = left.Differences()
	return r
}
