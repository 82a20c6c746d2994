package daemon

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
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
  - name: seeded
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

	// A managed export, written by the emulator itself: its documents
	// carry no versions, so they are backfilled at the Unix epoch.
	managedDir := filepath.Join(dir, "managed")
	if err := os.MkdirAll(managedDir, 0o755); err != nil {
		t.Fatal(err)
	}
	body := fmt.Sprintf(`{"database":"projects/%s/databases/(default)","export_directory":%q}`, f.ProjectID, managedDir)
	resp, err := http.Post("http://"+f.Host+"/emulator/v1/projects/"+f.ProjectID+":export", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("emulator export: %s", resp.Status)
	}
	exports, _ := filepath.Glob(filepath.Join(managedDir, "firestore_export_*"))
	if len(exports) != 1 {
		t.Fatalf("emulator export wrote %v, want one firestore_export_* directory", exports)
	}
	res, err = Backfill(bg, cfg, "seeded", BackfillOptions{From: exports[0], Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if res.Documents != 39 {
		t.Fatalf("backfill from the managed export: %d documents, want the 39 of items now", res.Documents)
	}
	_, versions := pgState(t, db.Pool, "seeded")
	if len(versions) != 39 || !versions["items/d01"].Equal(UnknownVersion) {
		t.Fatalf("seeded table: %d rows, d01 at %v; want 39 at the Unix epoch", len(versions), versions["items/d01"])
	}

	// The daemon continues from the exports: it sends d01's change and
	// d02's removal to the first table, every document's real version to
	// the second, and both end equal to the database.
	d := startDaemon(t, path)
	want := dbState(t, col.Query)
	waitUntil(t, 30*time.Second, "the tables equal to the database", func() bool {
		got, _ := pgState(t, db.Pool, "items")
		seeded, versions := pgState(t, db.Pool, "seeded")
		for _, v := range versions {
			if v.Equal(UnknownVersion) {
				return false
			}
		}
		return sameState(got, want) == "" && sameState(seeded, want) == ""
	})
	var epochRows, ctMismatch int
	if err := db.Pool.QueryRow(bg, `SELECT count(*) FILTER (WHERE update_time = 'epoch'), count(*) FILTER (WHERE create_time <> (SELECT i.create_time FROM items i WHERE i.path = s.path))
		FROM seeded s`).Scan(&epochRows, &ctMismatch); err != nil {
		t.Fatal(err)
	}
	if epochRows != 0 || ctMismatch != 0 {
		t.Errorf("seeded table after the daemon's first snapshot: %d rows still at the epoch, %d creation times differing from Firestore's", epochRows, ctMismatch)
	}
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := d.wait(t, 30*time.Second); code != 0 {
		t.Errorf("SIGTERM: exit code %d, want 0", code)
	}
}
