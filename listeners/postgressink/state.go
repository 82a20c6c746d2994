package postgressink

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/fbadmin/fbadmin/listeners"
)

var _ listeners.StateReader = (*Sink)(nil)

// ReadState calls fn for each row of the listener's table written by
// listener, and for each of its tombstones (row mode) whose path has no
// row, in [listeners.ComparePaths] order: sorted by the path's segments,
// each compared byte-wise (COLLATE "C"), as Firestore sorts document
// names. Deleted rows (mark mode) and tombstones come as Removed. Rows are
// streamed, not loaded. Like Send, it creates the tables when missing.
func (s *Sink) ReadState(ctx context.Context, listener string, fn func(listeners.StateEntry) error) error {
	table := s.TableFor(listener)
	if err := CheckName("table", table, MaxTableName); err != nil {
		return err
	}
	// The tables are created (or brought up to date) first, as the first
	// Send would: a Send during the read then needs no DDL, whose locks
	// would wait for this read's own.
	if err := s.ensureTables(ctx, []row{{table: table}}); err != nil {
		return err
	}
	sql := fmt.Sprintf(`SELECT path, update_time, data, deleted FROM (
	SELECT path, update_time, CASE WHEN deleted THEN NULL ELSE data::text END AS data, deleted FROM %[1]s WHERE listener = $1
	UNION ALL
	SELECT b.path, b.update_time, NULL, true FROM %[2]s b
		WHERE b.listener = $1 AND NOT EXISTS (SELECT 1 FROM %[1]s t WHERE t.path = b.path)
) u ORDER BY string_to_array(path, '/') COLLATE "C"`, s.ident(table), s.ident(table+"_tombstones"))
	rows, err := s.pool.Query(ctx, sql, listener)
	if err != nil {
		if undefinedTable(err) {
			return nil
		}
		return fmt.Errorf("postgres sink: read %s: %w", s.ident(table), err)
	}
	defer rows.Close()
	for rows.Next() {
		var path string
		var ut time.Time
		var data *string
		var deleted bool
		if err := rows.Scan(&path, &ut, &data, &deleted); err != nil {
			return fmt.Errorf("postgres sink: read %s: %w", s.ident(table), err)
		}
		e := listeners.StateEntry{Path: path, UpdateTime: ut.UTC(), Removed: deleted}
		if data != nil {
			e.Hash = listeners.DataHash([]byte(*data))
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil && !undefinedTable(err) {
		return fmt.Errorf("postgres sink: read %s: %w", s.ident(table), err)
	}
	return nil
}

// undefinedTable reports whether err is PostgreSQL's undefined_table or
// invalid_schema_name: the sink has not written there yet.
func undefinedTable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "42P01" || pe.Code == "3F000")
}
