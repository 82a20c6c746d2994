package postgressink

import (
	"context"
	"fmt"
	"hash/fnv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/fbadmin/fbadmin/listeners"
)

// minBulk is the smallest batch applied with COPY: below it, one statement
// per row in one round trip costs less than the extra round trips.
const minBulk = 32

// bulkable reports whether rows can take the COPY path: one table, only
// upserts, none already bound for the dead letter, each path once.
func bulkable(rows []row) bool {
	if len(rows) < minBulk {
		return false
	}
	seen := make(map[string]struct{}, len(rows))
	for _, r := range rows {
		if r.ev.Type == listeners.Removed || r.fault != nil || r.table != rows[0].table {
			return false
		}
		if _, dup := seen[r.ev.Path]; dup {
			return false
		}
		seen[r.ev.Path] = struct{}{}
	}
	return true
}

// stageColumns are the columns COPY fills in the staging table, before the
// typed ones.
var stageColumns = []string{"path", "id", "parent", "data", "create_time", "update_time", "listener", "event_id", "event_type", "read_time"}

// applyBulk applies a batch of upserts with the same rules as one
// [Sink.statement] per row, in one transaction: the rows are copied (COPY,
// binary) into a temporary staging table of the session, then moved into
// the table with one INSERT ... SELECT ... ON CONFLICT that keeps a newer
// version, and in row mode refuses rows a tombstone of the same version or
// a newer one covers and removes older tombstones. The staging table
// empties itself at commit.
func (s *Sink) applyBulk(ctx context.Context, rows []row) error {
	table := rows[0].table
	h := fnv.New32a()
	h.Write([]byte(s.opts.Schema + "." + table))
	stage := fmt.Sprintf("fbadmin_stage_%08x", h.Sum32())
	cols := append([]string(nil), stageColumns...)
	var typedDefs, names, sets strings.Builder
	for _, c := range s.cols {
		n := pgx.Identifier{c.name}.Sanitize()
		fmt.Fprintf(&typedDefs, ", %s %s", n, c.sqlType)
		fmt.Fprintf(&names, ", %s", n)
		fmt.Fprintf(&sets, ", %s = excluded.%s", n, n)
		cols = append(cols, c.name)
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // after Commit it does nothing
	if _, err := tx.Exec(ctx, fmt.Sprintf(`CREATE TEMP TABLE IF NOT EXISTS %s (path text, id text, parent text, data jsonb,
	create_time timestamptz, update_time timestamptz, listener text, event_id text, event_type text, read_time timestamptz%s)
	ON COMMIT DELETE ROWS`, stage, typedDefs.String())); err != nil {
		return err
	}
	src := make([][]any, len(rows))
	for i, r := range rows {
		ev := r.ev
		parent, id := splitPath(ev.Path)
		v := []any{ev.Path, id, parent, string(ev.Data), createTime(ev), ev.UpdateTime, ev.Listener, ev.ID, string(ev.Type), ev.ReadTime}
		src[i] = append(v, r.values...)
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{stage}, cols, pgx.CopyFromRows(src)); err != nil {
		return err
	}
	t := s.ident(table)
	tomb := s.ident(table + "_tombstones")
	insert := fmt.Sprintf(`INSERT INTO %s AS t (path, id, parent, data, create_time, update_time, deleted, listener, event_id, event_type, read_time%s)
SELECT path, id, parent, data, create_time, update_time, false, listener, event_id, event_type, read_time%s FROM %s AS s
/*where*/
`+upsertClause, t, names.String(), names.String(), stage, sets.String())
	var sql string
	if s.opts.Deletes == DeleteMark {
		sql = strings.Replace(insert, "/*where*/\n", "", 1)
	} else {
		sql = fmt.Sprintf("WITH gone AS (DELETE FROM %[1]s AS b USING %[2]s AS s WHERE b.path = s.path AND b.update_time < s.update_time)\n", tomb, stage) +
			strings.Replace(insert, "/*where*/", "WHERE NOT EXISTS (SELECT 1 FROM "+tomb+" AS b WHERE b.path = s.path AND b.update_time >= s.update_time)", 1)
	}
	if _, err := tx.Exec(ctx, sql); err != nil {
		return err
	}
	return tx.Commit(ctx)
}
