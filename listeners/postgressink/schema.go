package postgressink

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fbadmin/fbadmin/listeners"
)

// ident quotes one identifier of the sink's schema: "schema"."name".
func (s *Sink) ident(name string) string {
	return pgx.Identifier{s.opts.Schema, name}.Sanitize()
}

// ddlLock serializes the sinks (of this process or another) creating
// tables, so that two CREATE ... IF NOT EXISTS never race.
const ddlLock = "SELECT pg_advisory_xact_lock(hashtext('fbadmin.postgressink.ddl'))"

// ensureTables creates, once per sink, the schema, tables, function and
// view of each table the rows go to.
func (s *Sink) ensureTables(ctx context.Context, rows []row) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range rows {
		if s.ready[r.table] {
			continue
		}
		if err := s.createTable(ctx, r.table); err != nil {
			return fmt.Errorf("postgres sink: create table %s: %w", s.ident(r.table), err)
		}
		s.ready[r.table] = true
		s.log.Debug("table ready", "table", s.ident(r.table))
	}
	return nil
}

func (s *Sink) createTable(ctx context.Context, table string) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // after Commit it does nothing
	t := s.ident(table)
	var typed strings.Builder
	for _, c := range s.cols {
		fmt.Fprintf(&typed, ",\n\t%s %s", pgx.Identifier{c.name}.Sanitize(), c.sqlType)
	}
	stmts := []string{
		ddlLock,
		"CREATE SCHEMA IF NOT EXISTS " + pgx.Identifier{s.opts.Schema}.Sanitize(),
		fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s (
	path text PRIMARY KEY,
	id text NOT NULL,
	parent text NOT NULL,
	data jsonb,
	create_time timestamptz NOT NULL,
	update_time timestamptz NOT NULL,
	deleted boolean NOT NULL DEFAULT false,
	listener text NOT NULL,
	event_id text NOT NULL,
	event_type text NOT NULL,
	read_time timestamptz NOT NULL%s
)`, t, typed.String()),
	}
	// Typed columns added to the config after the table was created.
	for _, c := range s.cols {
		stmts = append(stmts, fmt.Sprintf("ALTER TABLE %s ADD COLUMN IF NOT EXISTS %s %s", t, pgx.Identifier{c.name}.Sanitize(), c.sqlType))
	}
	stmts = append(stmts,
		fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s (
	path text PRIMARY KEY,
	update_time timestamptz NOT NULL,
	listener text NOT NULL,
	event_id text NOT NULL,
	read_time timestamptz NOT NULL
)`, s.ident(table+"_tombstones")),
		fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s (
	event_id text PRIMARY KEY,
	path text NOT NULL,
	listener text NOT NULL,
	event_type text NOT NULL,
	update_time timestamptz NOT NULL,
	read_time timestamptz NOT NULL,
	data text,
	error text NOT NULL,
	failed_at timestamptz NOT NULL DEFAULT now()
)`, s.ident(table+"_dead_letter")),
		PlainFunction(s.opts.Schema),
		fmt.Sprintf(`CREATE OR REPLACE VIEW %s AS
	SELECT path, id, parent, %s(data) AS data, create_time, update_time, deleted FROM %s`,
			s.ident(table+"_plain"), s.ident("fbadmin_plain"), t),
	)
	for _, sql := range stmts {
		if _, err := tx.Exec(ctx, sql); err != nil {
			return err
		}
	}
	return tx.Commit(ctx)
}

// PlainFunction returns the CREATE OR REPLACE FUNCTION statement of
// SCHEMA.fbadmin_plain(jsonb), which turns a value in fbadmin's lossless
// format into plain JSON, as the TABLE_plain views show it:
//
//	{"$int":"42"}                 42 (a JSON number: readers that parse numbers as doubles round beyond 2^53)
//	{"$double":1.5}               1.5; "NaN", "Infinity", "-Infinity" stay strings; "-0" is 0
//	{"$timestamp":"..."}          "2026-11-25T18:00:00.123456Z"
//	{"$bytes":"AAEC"}             "AAEC" (base64)
//	{"$ref":"projects/..."}       "projects/P/databases/(default)/documents/users/alice"
//	{"$geopoint":{...}}           {"latitude":48.85,"longitude":2.35}
//	{"$vector":[1,2.5]}           [1,2.5]
//	{"$map":{...}}                the inner map
//
// Maps and arrays are converted member by member; null, booleans and
// strings stay as they are.
func PlainFunction(schema string) string {
	f := pgx.Identifier{schema, "fbadmin_plain"}.Sanitize()
	return `CREATE OR REPLACE FUNCTION ` + f + `(v jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $fbadmin$
DECLARE
	k text;
BEGIN
	CASE jsonb_typeof(v)
	WHEN 'array' THEN
		RETURN coalesce((SELECT jsonb_agg(` + f + `(e) ORDER BY i) FROM jsonb_array_elements(v) WITH ORDINALITY AS a(e, i)), '[]'::jsonb);
	WHEN 'object' THEN
		IF (SELECT count(*) FROM jsonb_object_keys(v)) = 1 THEN
			SELECT key INTO k FROM jsonb_object_keys(v) AS key;
			CASE k
			WHEN '$int' THEN
				RETURN to_jsonb((v->>k)::numeric);
			WHEN '$double' THEN
				IF v->>k = '-0' THEN
					RETURN '0'::jsonb;
				END IF;
				RETURN v->k;
			WHEN '$timestamp', '$bytes', '$ref', '$geopoint', '$vector' THEN
				RETURN v->k;
			WHEN '$map' THEN
				RETURN (SELECT coalesce(jsonb_object_agg(m.key, ` + f + `(m.value)), '{}'::jsonb) FROM jsonb_each(v->k) AS m);
			ELSE
				NULL;
			END CASE;
		END IF;
		RETURN (SELECT coalesce(jsonb_object_agg(m.key, ` + f + `(m.value)), '{}'::jsonb) FROM jsonb_each(v) AS m);
	ELSE
		RETURN v;
	END CASE;
END
$fbadmin$`
}

// statement returns the SQL and arguments that apply one event.
func (s *Sink) statement(r row) (string, []any) {
	ev := r.ev
	parent, id := splitPath(ev.Path)
	t := s.ident(r.table)
	tomb := s.ident(r.table + "_tombstones")
	if ev.Type == listeners.Removed {
		if s.opts.Deletes == DeleteMark {
			return fmt.Sprintf(`INSERT INTO %s AS t (path, id, parent, data, create_time, update_time, deleted, listener, event_id, event_type, read_time)
VALUES ($1::text, $2::text, $3::text, NULL, $4::timestamptz, $4::timestamptz, true, $5::text, $6::text, 'removed', $7::timestamptz)
ON CONFLICT (path) DO UPDATE SET update_time = excluded.update_time, deleted = true, listener = excluded.listener,
	event_id = excluded.event_id, event_type = excluded.event_type, read_time = excluded.read_time
WHERE t.update_time <= excluded.update_time`, t),
				[]any{ev.Path, id, parent, ev.UpdateTime, ev.Listener, ev.ID, ev.ReadTime}
		}
		// Row mode: delete the row if it holds this version or an older
		// one, and keep a tombstone unless the table holds a newer
		// version. The CTE and the NOT EXISTS see the same snapshot and
		// disjoint rows.
		return fmt.Sprintf(`WITH gone AS (DELETE FROM %[1]s WHERE path = $1::text AND update_time <= $2::timestamptz)
INSERT INTO %[2]s AS b (path, update_time, listener, event_id, read_time)
SELECT $1::text, $2::timestamptz, $3::text, $4::text, $5::timestamptz
WHERE NOT EXISTS (SELECT 1 FROM %[1]s WHERE path = $1::text AND update_time > $2::timestamptz)
ON CONFLICT (path) DO UPDATE SET update_time = excluded.update_time, listener = excluded.listener,
	event_id = excluded.event_id, read_time = excluded.read_time
WHERE b.update_time <= excluded.update_time`, t, tomb),
			[]any{ev.Path, ev.UpdateTime, ev.Listener, ev.ID, ev.ReadTime}
	}
	args := []any{ev.Path, id, parent, string(ev.Data), ev.UpdateTime, ev.Listener, ev.ID, string(ev.Type), ev.ReadTime, createTime(ev)}
	var names, params, sets strings.Builder
	for i, c := range s.cols {
		n := pgx.Identifier{c.name}.Sanitize()
		fmt.Fprintf(&names, ", %s", n)
		fmt.Fprintf(&params, ", $%d::%s", len(args)+1, c.sqlType)
		fmt.Fprintf(&sets, ", %s = excluded.%s", n, n)
		args = append(args, r.values[i])
	}
	insert := fmt.Sprintf(`INSERT INTO %s AS t (path, id, parent, data, create_time, update_time, deleted, listener, event_id, event_type, read_time%s)
SELECT $1::text, $2::text, $3::text, $4::jsonb, $10::timestamptz, $5::timestamptz, false, $6::text, $7::text, $8::text, $9::timestamptz%s
/*where*/
`+upsertClause, t, names.String(), params.String(), sets.String())
	if s.opts.Deletes == DeleteMark {
		return strings.Replace(insert, "/*where*/\n", "", 1), args
	}
	// Row mode: a tombstone of this version or a newer one refuses the
	// upsert; a newer version removes older tombstones (the document was
	// created again).
	return fmt.Sprintf(`WITH gone AS (DELETE FROM %s WHERE path = $1::text AND update_time < $5::timestamptz)
`, tomb) + strings.Replace(insert, "/*where*/", "WHERE NOT EXISTS (SELECT 1 FROM "+tomb+" WHERE path = $1::text AND update_time >= $5::timestamptz)", 1), args
}

// upsertClause replaces a row only with a version at least as new; the
// same version does not undo its own removal (mark mode). The creation
// time is the document's in Firestore; events written before events
// carried it give the update time of the first version received instead,
// which a later event's real creation time (earlier) replaces. A document
// created again after a removal (mark mode), or held in an unknown version
// (update time at the Unix epoch: backfilled from a managed export), takes
// the new event's creation time.
// The %s is the typed columns' assignments.
const upsertClause = `ON CONFLICT (path) DO UPDATE SET id = excluded.id, parent = excluded.parent, data = excluded.data,
	create_time = CASE WHEN t.deleted OR t.update_time = 'epoch' THEN excluded.create_time ELSE LEAST(t.create_time, excluded.create_time) END,
	update_time = excluded.update_time, deleted = false, listener = excluded.listener, event_id = excluded.event_id,
	event_type = excluded.event_type, read_time = excluded.read_time%s
WHERE t.update_time < excluded.update_time OR (t.update_time = excluded.update_time AND NOT t.deleted)`

// createTime is the creation time an upsert of ev stores: the document's,
// or, for an event that does not carry it, its update time.
func createTime(ev listeners.Event) time.Time {
	if ev.CreateTime.IsZero() {
		return ev.UpdateTime
	}
	return ev.CreateTime
}

// deadLetter returns the SQL and arguments that record a failed event.
func (s *Sink) deadLetter(r row) (string, []any) {
	ev := r.ev
	var data any
	if len(ev.Data) > 0 {
		data = string(ev.Data)
	}
	return fmt.Sprintf(`INSERT INTO %s (event_id, path, listener, event_type, update_time, read_time, data, error)
VALUES ($1::text, $2::text, $3::text, $4::text, $5::timestamptz, $6::timestamptz, $7::text, $8::text)
ON CONFLICT (event_id) DO UPDATE SET error = excluded.error, failed_at = now()`, s.ident(r.table+"_dead_letter")),
		[]any{ev.ID, ev.Path, ev.Listener, string(ev.Type), ev.UpdateTime, ev.ReadTime, data, r.fault.Error()}
}
