package postgressink_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fbadmin/fbadmin/internal/pgtest"
	"github.com/fbadmin/fbadmin/internal/value"
	"github.com/fbadmin/fbadmin/listeners"
	"github.com/fbadmin/fbadmin/listeners/postgressink"
	"github.com/fbadmin/fbadmin/listeners/sinktest"
)

var bg = context.Background()

func open(t testing.TB, db *pgtest.DB, opts postgressink.Options) *postgressink.Sink {
	t.Helper()
	opts.DSN = db.DSN
	s, err := postgressink.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// tableEvents reads a table back as events: one per row (a removal for a
// row marked deleted) and one removal per tombstone.
func tableEvents(t testing.TB, pool *pgxpool.Pool, schema, table string) []listeners.Event {
	t.Helper()
	var out []listeners.Event
	q := fmt.Sprintf(`SELECT path, data::text, deleted, listener, event_id, event_type, update_time, read_time FROM %s ORDER BY path`,
		pgx.Identifier{schema, table}.Sanitize())
	rows, err := pool.Query(bg, q)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var ev listeners.Event
		var data *string
		var deleted bool
		if err := rows.Scan(&ev.Path, &data, &deleted, &ev.Listener, &ev.ID, &ev.Type, &ev.UpdateTime, &ev.ReadTime); err != nil {
			t.Fatal(err)
		}
		if deleted {
			ev.Type = listeners.Removed
		} else if data != nil {
			ev.Data = json.RawMessage(*data)
		}
		ev.UpdateTime, ev.ReadTime = ev.UpdateTime.UTC(), ev.ReadTime.UTC()
		out = append(out, ev)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	q = fmt.Sprintf(`SELECT path, listener, event_id, update_time, read_time FROM %s ORDER BY path`,
		pgx.Identifier{schema, table + "_tombstones"}.Sanitize())
	rows, err = pool.Query(bg, q)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		ev := listeners.Event{Type: listeners.Removed}
		if err := rows.Scan(&ev.Path, &ev.Listener, &ev.ID, &ev.UpdateTime, &ev.ReadTime); err != nil {
			t.Fatal(err)
		}
		ev.UpdateTime, ev.ReadTime = ev.UpdateTime.UTC(), ev.ReadTime.UTC()
		out = append(out, ev)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestConformance(t *testing.T) {
	for _, mode := range []string{postgressink.DeleteRow, postgressink.DeleteMark} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			sinktest.Run(t, func(t *testing.T) sinktest.Fixture {
				db := pgtest.New(t)
				s := open(t, db, postgressink.Options{Deletes: mode, Schema: "fs"})
				return sinktest.Fixture{Sink: s, Latest: true, Received: func(t testing.TB, n int) []listeners.Event {
					var all []listeners.Event
					for _, table := range []string{"orders", "l", "big", "e", "c", "z"} {
						if exists(t, db.Pool, "fs", table) {
							all = append(all, tableEvents(t, db.Pool, "fs", table)...)
						}
					}
					return all
				}}
			})
		})
	}
}

func exists(t testing.TB, pool *pgxpool.Pool, schema, table string) bool {
	t.Helper()
	var ok bool
	if err := pool.QueryRow(bg, "SELECT to_regclass($1) IS NOT NULL", pgx.Identifier{schema, table}.Sanitize()).Scan(&ok); err != nil {
		t.Fatal(err)
	}
	return ok
}

// version is the event of document path at version v (update time base+v
// seconds) with data {"v": v}.
func version(path string, v int) listeners.Event {
	base := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	return sinktest.Event("items", path, listeners.Modified, base.Add(time.Duration(v)*time.Second), map[string]any{"v": int64(v)})
}

func removal(path string, v int) listeners.Event {
	ev := version(path, v)
	return sinktest.Removal("items", path, ev.UpdateTime)
}

func send(t testing.TB, s listeners.Sink, evs ...listeners.Event) {
	t.Helper()
	if err := s.Send(bg, evs); err != nil {
		t.Fatalf("Send: %v", err)
	}
}

// state returns path -> "v<N>" for live rows and "deleted@v<N>" for marked
// ones and tombstones.
func state(t testing.TB, pool *pgxpool.Pool, table string) map[string]string {
	t.Helper()
	base := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	out := map[string]string{}
	for _, ev := range tableEvents(t, pool, "public", table) {
		v := int(ev.UpdateTime.Sub(base) / time.Second)
		if ev.Type == listeners.Removed {
			out[ev.Path] = fmt.Sprintf("deleted@v%d", v)
			continue
		}
		doc, err := value.DecodeMap(ev.Data)
		if err != nil {
			t.Fatal(err)
		}
		if doc["v"] != int64(v) {
			t.Fatalf("%s: data %s with update time v%d", ev.Path, ev.Data, v)
		}
		out[ev.Path] = fmt.Sprintf("v%d", v)
	}
	return out
}

func wantState(t testing.TB, got map[string]string, want map[string]string) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("table holds %v, want %v", got, want)
	}
}

func TestRedeliveryIsIdempotent(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{postgressink.DeleteRow, postgressink.DeleteMark} {
		t.Run(mode, func(t *testing.T) {
			db := pgtest.New(t)
			s := open(t, db, postgressink.Options{Deletes: mode})
			batch := []listeners.Event{version("items/a", 1), version("items/b", 2), removal("items/c", 3)}
			for range 3 {
				send(t, s, batch...)
			}
			wantState(t, state(t, db.Pool, "items"), map[string]string{"items/a": "v1", "items/b": "v2", "items/c": "deleted@v3"})
			var created time.Time
			if err := db.Pool.QueryRow(bg, "SELECT create_time FROM items WHERE path = 'items/a'").Scan(&created); err != nil {
				t.Fatal(err)
			}
			if !created.Equal(batch[0].UpdateTime) {
				t.Errorf("create_time %v, want the first version's %v", created, batch[0].UpdateTime)
			}
		})
	}
}

func TestOutOfOrderNeverGoesBack(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	s := open(t, db, postgressink.Options{})
	send(t, s, version("items/a", 1))
	send(t, s, version("items/a", 5))
	for _, v := range []int{3, 1, 4, 5} {
		send(t, s, version("items/a", v))
		wantState(t, state(t, db.Pool, "items"), map[string]string{"items/a": "v5"})
	}
	send(t, s, version("items/a", 6))
	wantState(t, state(t, db.Pool, "items"), map[string]string{"items/a": "v6"})
	var created time.Time
	if err := db.Pool.QueryRow(bg, "SELECT create_time FROM items").Scan(&created); err != nil {
		t.Fatal(err)
	}
	if want := version("items/a", 1).UpdateTime; !created.Equal(want) {
		t.Errorf("create_time %v, want %v", created, want)
	}
}

func TestDeleteThenLateOlderUpsert(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{postgressink.DeleteRow, postgressink.DeleteMark} {
		t.Run(mode, func(t *testing.T) {
			db := pgtest.New(t)
			s := open(t, db, postgressink.Options{Deletes: mode})
			send(t, s, version("items/a", 1), version("items/b", 1))
			send(t, s, version("items/a", 2))
			send(t, s, removal("items/a", 2))
			deleted := map[string]string{"items/a": "deleted@v2", "items/b": "v1"}
			wantState(t, state(t, db.Pool, "items"), deleted)
			// Late deliveries of the deleted version and of older ones are
			// refused, and so is a late removal of an older version.
			for _, ev := range []listeners.Event{version("items/a", 1), version("items/a", 2), removal("items/a", 1)} {
				send(t, s, ev)
				wantState(t, state(t, db.Pool, "items"), deleted)
			}
			// An older removal does not delete a newer version.
			send(t, s, version("items/b", 3))
			send(t, s, removal("items/b", 2))
			wantState(t, state(t, db.Pool, "items"), map[string]string{"items/a": "deleted@v2", "items/b": "v3"})
			// The document created again: a newer version replaces the
			// tombstone, and create_time starts over.
			send(t, s, version("items/a", 7))
			wantState(t, state(t, db.Pool, "items"), map[string]string{"items/a": "v7", "items/b": "v3"})
			var created time.Time
			if err := db.Pool.QueryRow(bg, "SELECT create_time FROM items WHERE path = 'items/a'").Scan(&created); err != nil {
				t.Fatal(err)
			}
			if want := version("items/a", 7).UpdateTime; !created.Equal(want) {
				t.Errorf("create_time of the re-created document %v, want %v", created, want)
			}
			var deletedCol bool
			if err := db.Pool.QueryRow(bg, "SELECT deleted FROM items WHERE path = 'items/a'").Scan(&deletedCol); err != nil || deletedCol {
				t.Errorf("deleted = %v (%v), want false", deletedCol, err)
			}
		})
	}
}

func TestRowShapeAndPlainView(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	s := open(t, db, postgressink.Options{Table: "docs", Schema: "mirror"})
	ts := time.Date(2026, 11, 25, 18, 0, 0, 123456000, time.UTC)
	ev := sinktest.Event("paid-orders", "users/alice/orders/A17", listeners.Added, ts, map[string]any{
		"total": int64(math.MaxInt64), "f": 1.5, "nan": math.NaN(), "negz": math.Copysign(0, -1), "t": ts, "b": []byte{0, 1, 2},
		"m": map[string]any{"$int": "not a typed form"}, "list": []any{int64(1), "two", nil, true},
	})
	send(t, s, ev)
	var id, parent, plain string
	if err := db.Pool.QueryRow(bg, `SELECT p.id, p.parent, p.data::text FROM mirror.docs_plain p`).Scan(&id, &parent, &plain); err != nil {
		t.Fatal(err)
	}
	if id != "A17" || parent != "users/alice/orders" {
		t.Errorf("id %q parent %q, want A17 and users/alice/orders", id, parent)
	}
	want := `{"b": "AAEC", "f": 1.5, "m": {"$int": "not a typed form"}, "t": "2026-11-25T18:00:00.123456Z", "nan": "NaN", "list": [1, "two", null, true], "negz": 0, "total": 9223372036854775807}`
	if plain != want {
		t.Errorf("plain data\n got %s\nwant %s", plain, want)
	}
	// The listener's name is not the table's when table is set; without
	// it, the table is named after the listener.
	s2 := open(t, db, postgressink.Options{})
	send(t, s2, ev)
	if !exists(t, db.Pool, "public", "paid_orders") {
		t.Errorf("no table public.paid_orders for listener paid-orders")
	}
}

func TestTypedColumnsAndDeadLetter(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	s := open(t, db, postgressink.Options{Columns: []postgressink.Column{
		{Field: "total", Name: "total", Type: "bigint"},
		{Field: "qty", Name: "qty", Type: "int4"},
		{Field: "address.city", Name: "city", Type: "text"},
		{Field: "paid_at", Name: "paid_at", Type: "timestamptz"},
		{Field: "price", Name: "price", Type: "numeric(10,2)"},
	}})
	base := time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)
	ev := func(path string, data map[string]any) listeners.Event {
		return sinktest.Event("items", path, listeners.Added, base, data)
	}
	good := ev("items/good", map[string]any{"total": int64(1) << 40, "qty": int64(3), "address": map[string]any{"city": "Lyon"}, "paid_at": base, "price": 12.5})
	sparse := ev("items/sparse", map[string]any{"other": true})
	batch := []listeners.Event{
		good,
		ev("items/str", map[string]any{"total": "forty-two"}),     // a string for a bigint
		ev("items/big", map[string]any{"qty": int64(1) << 40}),    // out of range for integer
		ev("items/nul", map[string]any{"s": "a\x00b"}),            // jsonb cannot hold U+0000
		ev("items/price", map[string]any{"price": 123456789.125}), // too many digits for numeric(10,2)
		sparse,
	}
	send(t, s, batch...)
	var total int64
	var qty int32
	var city string
	var paid time.Time
	var price float64
	if err := db.Pool.QueryRow(bg, "SELECT total, qty, city, paid_at, price::float8 FROM items WHERE path = 'items/good'").Scan(&total, &qty, &city, &paid, &price); err != nil {
		t.Fatal(err)
	}
	if total != 1<<40 || qty != 3 || city != "Lyon" || !paid.Equal(base) || price != 12.5 {
		t.Errorf("typed columns: %d %d %q %v %v", total, qty, city, paid, price)
	}
	var nulls bool
	if err := db.Pool.QueryRow(bg, "SELECT total IS NULL AND qty IS NULL AND city IS NULL FROM items WHERE path = 'items/sparse'").Scan(&nulls); err != nil || !nulls {
		t.Errorf("missing fields: want NULL columns (%v)", err)
	}
	var n int
	if err := db.Pool.QueryRow(bg, "SELECT count(*) FROM items").Scan(&n); err != nil || n != 2 {
		t.Errorf("items holds %d rows (%v), want 2", n, err)
	}
	dead := map[string]string{}
	rows, err := db.Pool.Query(bg, "SELECT path, error FROM items_dead_letter")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var p, e string
		if err := rows.Scan(&p, &e); err != nil {
			t.Fatal(err)
		}
		dead[p] = e
	}
	for path, want := range map[string]string{
		"items/str":   `field total: string "forty-two" does not fit column total bigint`,
		"items/big":   "field qty: integer 1099511627776 (out of range) does not fit column qty integer",
		"items/nul":   "unsupported Unicode escape sequence",
		"items/price": "numeric field overflow",
	} {
		if !strings.Contains(dead[path], want) {
			t.Errorf("dead letter of %s: %q, want it to contain %q", path, dead[path], want)
		}
	}
	if len(dead) != 4 || s.DeadLetters() != 4 {
		t.Errorf("%d dead letters in the table, DeadLetters() = %d, want 4", len(dead), s.DeadLetters())
	}
	// A redelivery changes nothing but the dead letters' failure time.
	send(t, s, batch...)
	if err := db.Pool.QueryRow(bg, "SELECT count(*) FROM items_dead_letter").Scan(&n); err != nil || n != 4 {
		t.Errorf("after a redelivery: %d dead letters (%v), want 4", n, err)
	}
}

func TestBadOptions(t *testing.T) {
	for _, tc := range []struct {
		opts postgressink.Options
		want string
	}{
		{postgressink.Options{}, "no DSN"},
		{postgressink.Options{DSN: "postgres://u@h/db", Deletes: "soft"}, `deletes "soft"`},
		{postgressink.Options{DSN: "postgres://u@h/db", Table: strings.Repeat("t", 60)}, "longer than 51"},
		{postgressink.Options{DSN: "postgres://u@h/db", Columns: []postgressink.Column{{Field: "a", Name: "a", Type: "money"}}}, `type "money"`},
		{postgressink.Options{DSN: "postgres://u@h/db", Columns: []postgressink.Column{{Field: "a", Name: "path", Type: "text"}}}, `column "path" is one of the table's own`},
		{postgressink.Options{DSN: "postgres://u@h/db", Columns: []postgressink.Column{{Field: "a..b", Name: "x", Type: "text"}}}, `field "a..b"`},
		{postgressink.Options{DSN: "postgres://user:hunter2@h:notaport/db"}, "does not parse"},
	} {
		_, err := postgressink.New(tc.opts)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want an error containing %q", tc.opts.Deletes, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error shows the password: %v", err)
		}
	}
}

// TestSecretStaysOut: a failed connection names neither the password nor
// the DSN.
func TestSecretStaysOut(t *testing.T) {
	s, err := postgressink.New(postgressink.Options{DSN: "postgres://fbadmin:hunter2@127.0.0.1:1/db?sslmode=disable&connect_timeout=2"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.Send(bg, []listeners.Event{version("items/a", 1)})
	if err == nil {
		t.Fatal("Send to a closed port succeeded")
	}
	if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "postgres://") {
		t.Errorf("error shows the DSN: %v", err)
	}
}

// TestPostgresRestartUnderLoad stops and starts a cluster of the test's
// own while a sender, retrying as the engine does, keeps writing new
// versions: every document ends in its last version.
func TestPostgresRestartUnderLoad(t *testing.T) {
	t.Parallel()
	c := pgtest.NewCluster(t)
	db := c.NewDB(t)
	s := open(t, db, postgressink.Options{})
	const docs, rounds = 50, 40
	var failed, sent int
	var wg sync.WaitGroup
	var mu sync.Mutex
	stopped := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for r := 1; r <= rounds; r++ {
			batch := make([]listeners.Event, 0, docs)
			for d := range docs {
				batch = append(batch, version(fmt.Sprintf("items/d%02d", d), r))
			}
			for deadline := time.Now().Add(90 * time.Second); ; {
				ctx, cancel := context.WithTimeout(bg, 20*time.Second)
				err := s.Send(ctx, batch)
				cancel()
				if err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Errorf("round %d: Send still fails after 90s: %v", r, err)
					if r < rounds/4 {
						close(stopped)
					}
					return
				}
				mu.Lock()
				failed++
				mu.Unlock()
				time.Sleep(50 * time.Millisecond)
			}
			mu.Lock()
			sent++
			mu.Unlock()
			if r == rounds/4 {
				close(stopped)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	<-stopped
	c.Stop(t)
	time.Sleep(time.Second)
	c.Start(t)
	wg.Wait()
	want := map[string]string{}
	for d := range docs {
		want[fmt.Sprintf("items/d%02d", d)] = fmt.Sprintf("v%d", rounds)
	}
	wantState(t, state(t, db.Pool, "items"), want)
	if failed == 0 {
		t.Errorf("no Send failed while the server was down: the restart was not under load")
	}
	t.Logf("%d batches committed, %d failed sends retried across the restart", sent, failed)
}

func TestCancelledContext(t *testing.T) {
	db := pgtest.New(t)
	s := open(t, db, postgressink.Options{})
	ctx, cancel := context.WithCancel(bg)
	cancel()
	if err := s.Send(ctx, []listeners.Event{version("items/a", 1)}); !errors.Is(err, context.Canceled) {
		t.Errorf("Send with a cancelled context = %v, want context.Canceled", err)
	}
}
