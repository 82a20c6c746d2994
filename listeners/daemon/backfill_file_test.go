package daemon

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fbadmin/fbadmin/internal/emutest"
	"github.com/fbadmin/fbadmin/internal/errs"
	"github.com/fbadmin/fbadmin/internal/pgtest"
	"github.com/fbadmin/fbadmin/internal/storage"
	"github.com/fbadmin/fbadmin/internal/transfer"
)

// TestBackfillFromExport fills a postgres sink from a compressed NDJSON
// export instead of the database: only the documents of the listener's
// collection are sent (not those of its subcollections or of another
// collection), with Firestore's creation and update times. Changes made
// after the export then reach the table through the live daemon.
func TestBackfillFromExport(t *testing.T) {
	f := emutest.NewFirestore(t)
	db := pgtest.New(t)
	t.Setenv("FBADMIN_TEST_PG_DSN", db.DSN) // not parallel: the daemon reads it
	dir := t.TempDir()
	path := writeConfig(t, dir, fmt.Sprintf(`
project: %s
state_dir: %s
http: {addr: "off"}
log: {format: json}
engine: {checkpoint_interval: 200ms, batch_size: 9}
sinks:
  - name: warehouse
    postgres: {dsn_env: FBADMIN_TEST_PG_DSN}
listeners:
  - name: items
    collection: items
    sinks: [warehouse]
  - name: cheap
    collection: items
    where: [{field: n, op: "<", value: 3}]
    sinks: [warehouse]
`, f.ProjectID, dir))
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	bg := context.Background()
	col := f.Client.Collection("items")
	for i := range 40 {
		if _, err := col.Doc(fmt.Sprintf("d%02d", i)).Set(bg, map[string]any{"n": int64(i), "name": fmt.Sprintf("item %d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	// Not the listener's: a subcollection's document and another collection's.
	if _, err := col.Doc("d00").Collection("notes").Doc("n1").Set(bg, map[string]any{"n": int64(1)}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Client.Collection("other").Doc("o1").Set(bg, map[string]any{"n": int64(1)}); err != nil {
		t.Fatal(err)
	}

	// The export, through the storage layer, gzip-compressed.
	tdb, err := transfer.Open(bg, transfer.Config{Project: f.ProjectID, EmulatorHost: f.Host})
	if err != nil {
		t.Fatal(err)
	}
	defer tdb.Close()
	export := filepath.Join(dir, "backup.ndjson.gz")
	w, err := storage.Create(bg, export)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := transfer.Export(bg, tdb, w, transfer.ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	if _, err := Backfill(bg, cfg, "cheap", BackfillOptions{From: export, Logger: quiet}); errs.KindOf(err) != errs.ErrInvalid ||
		!strings.Contains(err.Error(), "where filters") {
		t.Errorf("backfill of a filtered listener from an export: %v, want an invalid-input error about its filters", err)
	}
	if _, err := Backfill(bg, cfg, "items", BackfillOptions{From: export, ReadTime: time.Now(), Logger: quiet}); errs.KindOf(err) != errs.ErrInvalid {
		t.Errorf("backfill with both --from and a read time: %v, want an invalid-input error", err)
	}
	if _, err := Backfill(bg, cfg, "items", BackfillOptions{From: filepath.Join(dir, "missing.ndjson"), Logger: quiet}); errs.KindOf(err) != errs.ErrNotFound {
		t.Errorf("backfill from a missing file: %v, want not found", err)
	}

	// Changed after the export: the backfill must not see it, the daemon must.
	if _, err := col.Doc("d01").Set(bg, map[string]any{"n": int64(101)}); err != nil {
		t.Fatal(err)
	}
	if _, err := col.Doc("d02").Delete(bg); err != nil {
		t.Fatal(err)
	}
	res, err := Backfill(bg, cfg, "items", BackfillOptions{From: export, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if res.Documents != 40 || res.Sent["warehouse"] != 40 {
		t.Fatalf("backfill from the export: %d documents, sent %v; want 40", res.Documents, res.Sent)
	}
	got, _ := pgState(t, db.Pool, "items")
	if len(got) != 40 || got["items/d02"] == nil || strings.Contains(string(got["items/d01"]), "101") {
		t.Fatalf("table after the backfill holds %d rows (d01 %s, d02 %s), want the export's 40", len(got), got["items/d01"], got["items/d02"])
	}
	// Creation and update times are Firestore's, as the export holds them.
	snap, err := col.Doc("d05").Get(bg)
	if err != nil {
		t.Fatal(err)
	}
	var ct, ut time.Time
	if err := db.Pool.QueryRow(bg, "SELECT create_time, update_time FROM items WHERE path = 'items/d05'").Scan(&ct, &ut); err != nil {
		t.Fatal(err)
	}
	if !ct.Equal(snap.CreateTime) || !ut.Equal(snap.UpdateTime) {
		t.Errorf("items/d05: create_time %v, update_time %v; want Firestore's %v and %v", ct, ut, snap.CreateTime, snap.UpdateTime)
	}

	// The daemon continues from the export: it sends d01's change and
	// d02's removal, and the table ends equal to the database.
	d := startDaemon(t, path)
	want := dbState(t, col.Query)
	waitUntil(t, 30*time.Second, "the table equal to the database", func() bool {
		got, _ := pgState(t, db.Pool, "items")
		return sameState(got, want) == ""
	})
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := d.wait(t, 30*time.Second); code != 0 {
		t.Errorf("SIGTERM: exit code %d, want 0", code)
	}
}
