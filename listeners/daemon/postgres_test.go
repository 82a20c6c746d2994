package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fbadmin/fbadmin/internal/emutest"
	"github.com/fbadmin/fbadmin/internal/pgtest"
)

func TestPostgresConfig(t *testing.T) {
	t.Setenv("FBADMIN_TEST_PG_DSN", "postgres://fbadmin@127.0.0.1:1/x")
	base := `
project: demo-x
state_dir: /tmp/x
sinks:
  - name: pg
    postgres:
%s
listeners:
  - name: %s
    collection: items
    sinks: [pg]
`
	good := `      dsn_env: FBADMIN_TEST_PG_DSN
      schema: mirror
      deletes: mark
      columns:
        - {field: total, column: total, type: bigint}
        - {field: address.city, column: city, type: text}`
	cfg, err := ParseConfig("c.yaml", fmt.Appendf(nil, base, good, "paid-orders"))
	if err != nil {
		t.Fatalf("valid config: %v", err)
	}
	if k := cfg.Sinks[0].Kind(); k != "postgres" {
		t.Errorf("Kind() = %q, want postgres", k)
	}
	if s := cfg.Summary(); !strings.Contains(s, "1 postgres") || strings.Contains(s, "127.0.0.1") {
		t.Errorf("Summary() = %q, want 1 postgres and no DSN", s)
	}
	for _, tc := range []struct {
		body, listener, want string
	}{
		{`      dsn_env: FBADMIN_TEST_PG_UNSET_VARIABLE`, "l", "environment variable FBADMIN_TEST_PG_UNSET_VARIABLE is not set"},
		{`      dsn_env: FBADMIN_TEST_PG_DSN
      deletes: soft`, "l", `postgres.deletes: "soft": use row or mark`},
		{`      dsn_env: FBADMIN_TEST_PG_DSN
      columns: [{field: total, column: total, type: money}]`, "l", `type "money"`},
		{`      dsn_env: FBADMIN_TEST_PG_DSN
      tabel: x`, "l", `unknown field "tabel"`},
		{`      dsn_env: FBADMIN_TEST_PG_DSN`, strings.Repeat("n", 60), "names its table after the listener"},
	} {
		_, err := ParseConfig("c.yaml", fmt.Appendf(nil, base, tc.body, tc.listener))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("config with\n%s\n= %v, want an error containing %q", tc.body, err, tc.want)
		}
	}
}

// pgState returns the live rows of a table: path -> data, and path ->
// update time.
func pgState(t testing.TB, pool *pgxpool.Pool, table string) (map[string]json.RawMessage, map[string]time.Time) {
	t.Helper()
	rows, err := pool.Query(context.Background(), "SELECT path, data::text, update_time FROM "+table+" WHERE NOT deleted")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	data, times := map[string]json.RawMessage{}, map[string]time.Time{}
	for rows.Next() {
		var p, d string
		var ut time.Time
		if err := rows.Scan(&p, &d, &ut); err != nil {
			t.Fatal(err)
		}
		data[p], times[p] = json.RawMessage(d), ut
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return data, times
}

// TestPostgresSinkSurvivesKill runs writers (creates, updates, deletes)
// while the daemon, delivering to a postgres sink in small batches, is
// killed with SIGKILL twice and restarted: in the end the table holds
// every document of the collection, each in its latest version (data and
// update time), and nothing else.
func TestPostgresSinkSurvivesKill(t *testing.T) {
	f := emutest.NewFirestore(t)
	db := pgtest.New(t)
	// Not parallel: the daemon finds the DSN in its environment.
	t.Setenv("FBADMIN_TEST_PG_DSN", db.DSN)
	dir := t.TempDir()
	config := writeConfig(t, dir, fmt.Sprintf(`
project: %s
state_dir: %s
http: {addr: "off"}
log: {format: json}
engine: {checkpoint_interval: 1s, batch_size: 20, backoff_initial: 20ms, backoff_max: 300ms}
sinks:
  - name: warehouse
    postgres: {dsn_env: FBADMIN_TEST_PG_DSN, deletes: row, columns: [{field: v, column: v, type: bigint}]}
listeners:
  - name: items
    collection: items
    sinks: [warehouse]
`, f.ProjectID, dir))
	col := f.Client.Collection("items")
	bg := context.Background()
	const ops, docs, writers, kills = 600, 120, 6, 2
	d := startDaemon(t, config)
	var done atomic.Int64
	var wg sync.WaitGroup
	var werr atomic.Value
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(7, uint64(w)))
			for done.Add(1) <= ops {
				ref := col.Doc(fmt.Sprintf("d%03d", rng.IntN(docs)))
				del, v := rng.IntN(10) < 3, rng.Int64N(1<<40)
				var err error
				for try := 0; try < 5; try++ { // the emulator under load: see TestRandomFaults
					if del {
						_, err = ref.Delete(bg)
					} else {
						_, err = ref.Set(bg, map[string]any{"v": v, "w": int64(w)})
					}
					if err == nil {
						break
					}
					time.Sleep(50 * time.Millisecond)
				}
				if err != nil {
					werr.Store(err)
					return
				}
				time.Sleep(time.Duration(rng.IntN(8)) * time.Millisecond)
			}
		}()
	}
	rowsNow := func() int {
		var n int
		_ = db.Pool.QueryRow(bg, "SELECT count(*) FROM items").Scan(&n)
		return n
	}
	for k := range kills {
		target := int64(ops) * int64(k+1) / int64(kills+2)
		waitUntil(t, 120*time.Second, "writers' progress", func() bool { return done.Load() >= target })
		waitUntil(t, 30*time.Second, "rows in the table", func() bool { return rowsNow() > 0 })
		time.Sleep(time.Duration(rand.IntN(200)) * time.Millisecond)
		if err := d.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		d.wait(t, 10*time.Second)
		time.Sleep(time.Duration(300+rand.IntN(700)) * time.Millisecond)
		d = startDaemon(t, config)
	}
	wg.Wait()
	if err, _ := werr.Load().(error); err != nil {
		t.Fatal(err)
	}
	snaps, err := col.Documents(bg).GetAll()
	if err != nil {
		t.Fatal(err)
	}
	want := dbState(t, col.Query)
	converge := func() string {
		got, times := pgState(t, db.Pool, "items")
		if s := sameState(got, want); s != "" {
			return s
		}
		var stale []string
		for _, s := range snaps {
			p := "items/" + s.Ref.ID
			if !times[p].Equal(s.UpdateTime.Truncate(time.Microsecond)) {
				stale = append(stale, fmt.Sprintf("%s: update_time %v, want %v", p, times[p], s.UpdateTime))
			}
		}
		return strings.Join(stale, "; ")
	}
	deadline := time.Now().Add(60 * time.Second)
	for converge() != "" && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	if s := converge(); s != "" {
		t.Fatalf("table differs from the database: %s", s)
	}
	var typed int
	if err := db.Pool.QueryRow(bg, "SELECT count(*) FROM items WHERE v = (data->'v'->>'$int')::bigint").Scan(&typed); err != nil || typed != len(want) {
		t.Errorf("typed column v matches data in %d rows (%v), want %d", typed, err, len(want))
	}
	var dead int
	if err := db.Pool.QueryRow(bg, "SELECT count(*) FROM items_dead_letter").Scan(&dead); err != nil || dead != 0 {
		t.Errorf("%d dead letters (%v), want 0", dead, err)
	}
	t.Logf("%d operations over %d documents, %d writers, %d kills; %d documents at the end, all in their latest version", ops, docs, writers, kills, len(want))
}
