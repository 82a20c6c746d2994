package daemon

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"syscall"
	"testing"
	"time"

	"github.com/fbadmin/fbadmin/internal/emutest"
	"github.com/fbadmin/fbadmin/internal/pgtest"
	"github.com/fbadmin/fbadmin/listeners"
)

// TestBackfillThenLive fills a file sink and a postgres sink from the
// database at a read time, changes the database, and starts the daemon:
// the live listener sends only what changed after the read time, and both
// sinks end equal to the database.
func TestBackfillThenLive(t *testing.T) {
	f := emutest.NewFirestore(t)
	db := pgtest.New(t)
	t.Setenv("FBADMIN_TEST_PG_DSN", db.DSN) // not parallel: the daemon reads it
	dir := t.TempDir()
	path := writeConfig(t, dir, fmt.Sprintf(`
project: %s
state_dir: %s
http: {addr: "off"}
log: {format: json}
engine: {checkpoint_interval: 200ms, batch_size: 7}
sinks:
  - name: archive
    file: {path: %s/events.ndjson, fsync: always}
  - name: warehouse
    postgres: {dsn_env: FBADMIN_TEST_PG_DSN}
listeners:
  - name: items
    collection: items
    sinks: [archive, warehouse]
`, f.ProjectID, dir, dir))
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	bg := context.Background()
	col := f.Client.Collection("items")
	for i := range 30 {
		if _, err := col.Doc(fmt.Sprintf("d%02d", i)).Set(bg, map[string]any{"n": int64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	// Written after the read time: the backfill must not see it.
	rt := time.Now()
	time.Sleep(50 * time.Millisecond)
	if _, err := col.Doc("late").Set(bg, map[string]any{"n": int64(-1)}); err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	res, err := Backfill(bg, cfg, "items", BackfillOptions{ReadTime: rt, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if res.Documents != 30 || res.Sent["archive"] != 30 || res.Sent["warehouse"] != 30 {
		t.Fatalf("backfill: %d documents, sent %v, want 30 each", res.Documents, res.Sent)
	}
	file := func() []listeners.Event { return fileEvents(t, dir+"/events.ndjson") }
	if n := len(file()); n != 30 {
		t.Fatalf("file holds %d events after the backfill, want 30", n)
	}
	for _, ev := range file() {
		if ev.Type != listeners.Added || !ev.ReadTime.Equal(rt.UTC().Truncate(time.Microsecond)) {
			t.Fatalf("backfilled event %s %s read at %v, want added at the read time %v", ev.Type, ev.Path, ev.ReadTime, rt)
		}
	}
	if _, err := Backfill(bg, cfg, "nope", BackfillOptions{Logger: quiet}); err == nil {
		t.Errorf("Backfill of an unknown listener succeeded")
	}

	// Changes while the daemon is down.
	for i := range 3 {
		if _, err := col.Doc(fmt.Sprintf("d%02d", i)).Set(bg, map[string]any{"n": int64(100 + i)}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 3; i < 5; i++ {
		if _, err := col.Doc(fmt.Sprintf("d%02d", i)).Delete(bg); err != nil {
			t.Fatal(err)
		}
	}
	// 3 modified, 2 removed, and "late" added: 6 events.
	d := startDaemon(t, path)
	waitUntil(t, 30*time.Second, "the live listener's 6 events", func() bool { return len(file()) >= 36 })
	want := dbState(t, col.Query)
	waitUntil(t, 30*time.Second, "the table equal to the database", func() bool {
		got, _ := pgState(t, db.Pool, "items")
		return sameState(got, want) == ""
	})
	time.Sleep(time.Second) // nothing else may come
	evs := file()
	if len(evs) != 36 {
		t.Errorf("file holds %d events, want 30 backfilled + 6 live", len(evs))
	}
	if s := sameState(rebuild(evs), want); s != "" {
		t.Errorf("file differs from the database: %s", s)
	}
	checkOneType(t, "file", evs)
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := d.wait(t, 30*time.Second); code != 0 {
		t.Errorf("SIGTERM: exit code %d, want 0", code)
	}

	// A second backfill over the checkpoints: it sends only what differs
	// (one change, one removal), and the table still equals the database.
	if _, err := col.Doc("d05").Delete(bg); err != nil {
		t.Fatal(err)
	}
	if _, err := col.Doc("d06").Set(bg, map[string]any{"n": int64(600)}); err != nil {
		t.Fatal(err)
	}
	res, err = Backfill(bg, cfg, "items", BackfillOptions{ReadTime: time.Now(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if res.Sent["archive"] != 1 || res.Removed["archive"] != 1 || res.Sent["warehouse"] != 1 || res.Removed["warehouse"] != 1 {
		t.Errorf("second backfill sent %v and removed %v, want 1 and 1 per sink", res.Sent, res.Removed)
	}
	want = dbState(t, col.Query)
	if got, _ := pgState(t, db.Pool, "items"); sameState(got, want) != "" {
		t.Errorf("table after the second backfill: %s", sameState(got, want))
	}
	if s := sameState(rebuild(file()), want); s != "" {
		t.Errorf("file after the second backfill: %s", s)
	}
}
