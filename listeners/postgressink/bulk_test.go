package postgressink

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fbadmin/fbadmin/internal/pgtest"
	"github.com/fbadmin/fbadmin/internal/value"
	"github.com/fbadmin/fbadmin/listeners"
)

// TestBulkMatchesRowByRow applies the same upserts to two tables holding
// the same rows and tombstones: to one with the COPY path in one batch, to
// the other one statement at a time. The tables must end up identical,
// column for column (creation times and typed columns included), in both
// delete modes: rows the table holds in a newer version, or that a newer
// tombstone covers, keep their state; older ones are replaced.
func TestBulkMatchesRowByRow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.New(t)
	cols := []Column{
		{Field: "total", Name: "total", Type: "bigint"},
		{Field: "price", Name: "price", Type: "numeric(10,2)"},
		{Field: "paid_at", Name: "paid_at", Type: "timestamptz"},
		{Field: "address.city", Name: "city", Type: "text"},
		{Field: "blob", Name: "blob", Type: "bytea"},
		{Field: "ok", Name: "ok", Type: "boolean"},
		{Field: "score", Name: "score", Type: "double precision"},
		{Field: "meta", Name: "meta", Type: "jsonb"},
	}
	base := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	at := func(v int) time.Time { return base.Add(time.Duration(v) * time.Second) }
	event := func(table, path string, v, created int) listeners.Event {
		data, err := value.EncodeMap(map[string]any{"v": int64(v), "total": int64(v) << 40, "price": float64(v) + 0.25,
			"paid_at": at(v).Add(123456 * time.Microsecond), "address": map[string]any{"city": fmt.Sprintf("city %d", v)},
			"blob": []byte{0, byte(v), 0xff}, "ok": v%2 == 0, "score": float64(v) / 3, "meta": map[string]any{"k": []any{int64(v)}}})
		if err != nil {
			t.Fatal(err)
		}
		ev := listeners.Event{Type: listeners.Modified, Listener: table, Path: path, Data: data, UpdateTime: at(v), ReadTime: at(v + 1)}
		if created >= 0 {
			ev.CreateTime = at(created)
		}
		ev.ID = listeners.EventID(path, ev.UpdateTime, false)
		return ev
	}
	removal := func(table, path string, v int) listeners.Event {
		return listeners.Event{ID: listeners.EventID(path, at(v), true), Type: listeners.Removed, Listener: table, Path: path,
			UpdateTime: at(v), ReadTime: at(v + 1)}
	}
	for _, mode := range []string{DeleteRow, DeleteMark} {
		t.Run(mode, func(t *testing.T) {
			s, err := New(Options{DSN: db.DSN, Deletes: mode, Columns: cols})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			rng := rand.New(rand.NewPCG(7, uint64(len(mode))))
			bulkT, rowT := "bulk_"+mode, "rows_"+mode
			// The tables' prior state: 60 documents, some at version 5,
			// some removed at version 5, some never seen.
			var priorB, priorR, batchB, batchR []listeners.Event
			for i := range 60 {
				path := fmt.Sprintf("items/d%02d", i)
				switch i % 3 {
				case 0:
					priorB, priorR = append(priorB, event(bulkT, path, 5, 1)), append(priorR, event(rowT, path, 5, 1))
				case 1:
					priorB, priorR = append(priorB, event(bulkT, path, 5, -1), removal(bulkT, path, 5)),
						append(priorR, event(rowT, path, 5, -1), removal(rowT, path, 5))
				}
				// The batch: each document once, in an older, the same or a
				// newer version, with or without a creation time.
				v := []int{3, 5, 8}[rng.IntN(3)]
				created := []int{-1, 1, 2}[rng.IntN(3)]
				batchB, batchR = append(batchB, event(bulkT, path, v, created)), append(batchR, event(rowT, path, v, created))
			}
			for _, evs := range [][]listeners.Event{priorB, priorR} {
				for _, ev := range evs {
					if err := s.Send(ctx, []listeners.Event{ev}); err != nil {
						t.Fatal(err)
					}
				}
			}
			rows := func(evs []listeners.Event) []row {
				out := make([]row, len(evs))
				for i, ev := range evs {
					out[i] = row{ev: ev, table: s.TableFor(ev.Listener)}
					if out[i].values, out[i].fault = s.typedValues(ev.Data); out[i].fault != nil {
						t.Fatal(out[i].fault)
					}
				}
				return out
			}
			rb := rows(batchB)
			if !bulkable(rb) {
				t.Fatal("the batch does not take the COPY path")
			}
			if err := s.applyBulk(ctx, rb); err != nil {
				t.Fatalf("applyBulk: %v", err)
			}
			for _, r := range rows(batchR) {
				if err := s.apply(ctx, []row{r}, false); err != nil {
					t.Fatalf("apply: %v", err)
				}
			}
			dump := func(table string) []string {
				var out []string
				for _, q := range []string{
					`SELECT path, id, parent, data::text, create_time, update_time, deleted, event_id, event_type, read_time,
						total, price, paid_at, city, blob, ok, score, meta::text FROM %s ORDER BY path`,
					`SELECT path, update_time, event_id FROM %s ORDER BY path`,
				} {
					name := table
					if len(out) > 0 {
						name += "_tombstones"
					}
					rs, err := s.pool.Query(ctx, fmt.Sprintf(q, pgx.Identifier{"public", name}.Sanitize()))
					if err != nil {
						t.Fatal(err)
					}
					for rs.Next() {
						vals, err := rs.Values()
						if err != nil {
							t.Fatal(err)
						}
						out = append(out, fmt.Sprint(vals...))
					}
					if rs.Err() != nil {
						t.Fatal(rs.Err())
					}
					out = append(out, "--")
				}
				return out
			}
			got, want := dump(bulkT), dump(rowT)
			if len(got) != len(want) || len(got) < 40 {
				t.Fatalf("bulk table has %d lines, row-by-row %d", len(got), len(want))
			}
			for i := range got {
				if got[i] != want[i] {
					t.Errorf("line %d:\nbulk: %s\nrows: %s", i, got[i], want[i])
				}
			}
			// Spot checks of the rules themselves.
			var v int64
			var ct time.Time
			err = s.pool.QueryRow(ctx, fmt.Sprintf(`SELECT (data->'v'->>'$int')::bigint, create_time FROM %s WHERE path = 'items/d00'`,
				pgx.Identifier{"public", bulkT}.Sanitize())).Scan(&v, &ct)
			if err != nil {
				t.Fatal(err)
			}
			if want := max(int64(5), int64(batchB[0].UpdateTime.Sub(base)/time.Second)); v != want {
				t.Errorf("items/d00 holds v%d, want v%d (never an older version)", v, want)
			}
			if !ct.Equal(at(1)) {
				t.Errorf("items/d00 create_time %s, want the earliest known, %s", ct, at(1))
			}
		})
	}
}
