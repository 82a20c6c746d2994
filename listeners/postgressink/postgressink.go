// Package postgressink is the [listeners.Sink] that keeps a PostgreSQL table
// in step with the documents a listener follows: one row per document,
// keyed by its path, in its latest version.
//
// # Tables
//
// Each listener writes to its own table, named after it ('-' and '.'
// become '_', letters are lowercased; [Options.Table] names one table for
// every listener instead), in [Options.Schema]. The sink creates the schema,
// the tables and the view below when it first writes to them:
//
//	path        text PRIMARY KEY   document path: users/alice/orders/A17
//	id          text               document ID: A17
//	parent      text               parent collection path: users/alice/orders
//	data        jsonb              the document in fbadmin's lossless value format (internal/value)
//	create_time timestamptz        when Firestore created the document (for events without it: the update time of the first version received)
//	update_time timestamptz        update time of the version held
//	deleted     boolean            mark mode: the document was deleted (data keeps its last version)
//	listener, event_id, event_type text, read_time timestamptz: the event that wrote the row
//	...         the typed columns of [Options.Columns]
//
// TABLE_plain is a view of the same rows with data in plain JSON (see
// [PlainFunction]): integers and doubles as JSON numbers, timestamps,
// bytes (base64) and references as strings, geopoints as
// {"latitude":..,"longitude":..}. TABLE_dead_letter holds the events that
// could not be applied, with the reason; TABLE_tombstones (row mode) holds
// the path and update time of each deleted document.
//
// # Guarantees
//
// Each Send is one transaction, and Send returns nil only after COMMIT:
// the engine advances its checkpoints only then. Applying is idempotent and
// ordered by update time, so redelivered and out-of-order events never move
// a row backwards: an upsert replaces a row only with a version at least as
// new (the same version again changes nothing that matters), and a removal
// of version T deletes (row mode) or marks (mark mode) a row only if it
// holds T or older. In mark mode the marked row keeps T, so a late upsert
// of T or older is refused. In row mode the row is deleted and a tombstone
// (path, T) refuses it instead; a newer version (a re-created document)
// removes the tombstone. Tombstones are never purged by the sink: a table
// written by one daemon may drop those older than a day, since the engine
// only re-sends what its journal holds.
//
// # Typed columns and the dead letter
//
// [Options.Columns] copies fields of the document into columns of their
// own (text, bigint, integer, smallint, double precision, real, numeric,
// boolean, timestamptz, date, bytea, jsonb), for indexes and plain SQL. A
// value that does not fit its column (a string for a bigint, an integer out
// of range for an integer column), or a row PostgreSQL refuses (a string
// holding U+0000, which jsonb cannot store), sends that one event to
// TABLE_dead_letter with the error, and the rest of the batch commits. Each
// dead letter is logged and counted ([Sink.DeadLetters]). A dead-lettered
// version is not applied: the row keeps its previous version until a newer
// one arrives.
package postgressink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fbadmin/fbadmin/listeners"
)

// Delete modes.
const (
	DeleteRow  = "row"
	DeleteMark = "mark"
)

// Options configure a PostgreSQL sink.
type Options struct {
	// DSN is the connection string (URL or key=value). It is a secret: it
	// appears in no log line and no error message.
	DSN string
	// Schema of the tables; default public.
	Schema string
	// Table, when set, receives every listener's documents; by default each
	// listener has a table named after it.
	Table string
	// Deletes is row (default: delete the row, keep a tombstone) or mark
	// (keep the row with deleted = true).
	Deletes string
	// Columns are typed copies of document fields.
	Columns []Column
	// Logger receives dead letters and table creations; nil discards.
	Logger *slog.Logger
	// MaxConns bounds the connection pool; 0 means 4.
	MaxConns int32
}

// Column copies one document field into a column of its own.
type Column struct {
	// Field is a dotted field path: total, address.city.
	Field string
	// Name of the column.
	Name string
	// Type is its SQL type; see [Types].
	Type string
}

// Sink writes events to PostgreSQL tables.
type Sink struct {
	opts   Options
	pool   *pgxpool.Pool
	log    *slog.Logger
	cols   []column
	mu     sync.Mutex
	ready  map[string]bool // tables created (or found) by this sink
	dead   atomic.Int64
	closed atomic.Bool
}

// MaxTableName leaves room for the longest suffix, _dead_letter, within
// PostgreSQL's 63-byte identifiers.
const MaxTableName = 63 - len("_dead_letter")

// New checks the options and prepares a connection pool. It does not
// connect: a server that is down at start makes the first sends fail and be
// retried, like any other outage.
func New(opts Options) (*Sink, error) {
	if opts.DSN == "" {
		return nil, errors.New("postgres sink: no DSN")
	}
	if opts.Schema == "" {
		opts.Schema = "public"
	}
	switch opts.Deletes {
	case "":
		opts.Deletes = DeleteRow
	case DeleteRow, DeleteMark:
	default:
		return nil, fmt.Errorf("postgres sink: deletes %q: use row or mark", opts.Deletes)
	}
	if err := CheckName("schema", opts.Schema, 63); err != nil {
		return nil, err
	}
	if opts.Table != "" {
		if err := CheckName("table", opts.Table, MaxTableName); err != nil {
			return nil, err
		}
	}
	cols, err := parseColumns(opts.Columns)
	if err != nil {
		return nil, err
	}
	cfg, err := pgxpool.ParseConfig(opts.DSN)
	if err != nil {
		// pgx's message may quote parts of the DSN: keep it out.
		return nil, errors.New("postgres sink: the DSN does not parse (want postgres://USER@HOST:PORT/DATABASE?sslmode=... or key=value pairs)")
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = 4
	}
	cfg.MaxConns = opts.MaxConns
	cfg.ConnConfig.ConnectTimeout = 10 * time.Second
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, errors.New("postgres sink: cannot set up the connection pool")
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Sink{opts: opts, pool: pool, log: log, cols: cols, ready: map[string]bool{}}, nil
}

// CheckName reports whether name is usable as a schema, table or column
// name of at most max bytes.
func CheckName(what, name string, max int) error {
	switch {
	case name == "":
		return fmt.Errorf("postgres sink: empty %s name", what)
	case len(name) > max:
		return fmt.Errorf("postgres sink: %s name %q is %d bytes, longer than %d", what, name, len(name), max)
	case strings.ContainsRune(name, 0):
		return fmt.Errorf("postgres sink: %s name %q holds a NUL", what, name)
	}
	return nil
}

// TableFor returns the table that receives the events of listener.
func (s *Sink) TableFor(listener string) string {
	if s.opts.Table != "" {
		return s.opts.Table
	}
	return TableName(listener)
}

// TableName is the default table of a listener: its name lowercased, with
// '-' and '.' turned into '_', so that it needs no quotes in SQL.
func TableName(listener string) string {
	return strings.NewReplacer("-", "_", ".", "_").Replace(strings.ToLower(listener))
}

// MaxConcurrentSends is the size of the connection pool: batches of
// different documents may be sent from that many goroutines at once
// ([listeners.ConcurrentSender]).
func (s *Sink) MaxConcurrentSends() int { return int(s.opts.MaxConns) }

// DeadLetters returns how many events this sink has sent to a dead-letter
// table since it was opened.
func (s *Sink) DeadLetters() int64 { return s.dead.Load() }

// Send applies the batch in one transaction and returns after COMMIT.
func (s *Sink) Send(ctx context.Context, events []listeners.Event) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed.Load() {
		return errors.New("postgres sink: closed")
	}
	if len(events) == 0 {
		return nil
	}
	rows := make([]row, 0, len(events))
	for _, ev := range events {
		r := row{ev: ev, table: s.TableFor(ev.Listener)}
		if err := CheckName("table", r.table, MaxTableName); err != nil {
			return fmt.Errorf("%w (listener %q; set table: in the sink's config)", err, ev.Listener)
		}
		if ev.Type != listeners.Removed {
			r.values, r.fault = s.typedValues(ev.Data)
		}
		rows = append(rows, r)
	}
	if err := s.ensureTables(ctx, rows); err != nil {
		return err
	}
	// The fast paths: a large batch of upserts is copied into a staging
	// table and moved with one statement; other batches send every
	// statement in one round trip. A row PostgreSQL refuses aborts the
	// transaction; the batch is then applied again one row at a time, each
	// under a savepoint.
	var err error
	if bulkable(rows) {
		if err = s.applyBulk(ctx, rows); err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("postgres sink: %w", err)
		}
		s.log.Debug("bulk apply failed; applying the batch row by row", "rows", len(rows), "err", err.Error())
	}
	err = s.apply(ctx, rows, false)
	if rowFault(err) {
		err = s.apply(ctx, rows, true)
	}
	if err != nil {
		return fmt.Errorf("postgres sink: %w", err)
	}
	for _, r := range rows {
		if r.fault != nil {
			s.dead.Add(1)
			s.log.Warn("event sent to the dead-letter table", "table", r.table+"_dead_letter", "listener", r.ev.Listener,
				"path", r.ev.Path, "event_id", r.ev.ID, "err", r.fault.Error())
		}
	}
	return nil
}

// row is one event on its way to a table.
type row struct {
	ev     listeners.Event
	table  string
	values []any // typed columns, in Options.Columns order
	fault  error // why the event goes to the dead letter instead
}

// rowFault reports whether err is PostgreSQL refusing one row's values
// (classes 22, data exception, and 23, integrity constraint violation),
// rather than the connection or the server failing.
func rowFault(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (strings.HasPrefix(pe.Code, "22") || strings.HasPrefix(pe.Code, "23"))
}

// apply writes the rows in one transaction. With savepoints, each row runs
// under its own, and a row PostgreSQL refuses is rolled back to it and sent
// to the dead letter (its fault set) instead.
func (s *Sink) apply(ctx context.Context, rows []row, savepoints bool) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // after Commit it does nothing
	if !savepoints {
		b := &pgx.Batch{}
		for _, r := range rows {
			var sql string
			var args []any
			if r.fault != nil {
				sql, args = s.deadLetter(r)
			} else {
				sql, args = s.statement(r)
			}
			b.Queue(sql, args...)
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		return tx.Commit(ctx)
	}
	for i := range rows {
		r := &rows[i]
		if r.fault == nil {
			if _, err := tx.Exec(ctx, "SAVEPOINT fbadmin_row"); err != nil {
				return err
			}
			sql, args := s.statement(*r)
			_, err := tx.Exec(ctx, sql, args...)
			switch {
			case err == nil:
				if _, err := tx.Exec(ctx, "RELEASE SAVEPOINT fbadmin_row"); err != nil {
					return err
				}
				continue
			case !rowFault(err):
				return err
			}
			if _, rerr := tx.Exec(ctx, "ROLLBACK TO SAVEPOINT fbadmin_row"); rerr != nil {
				return rerr
			}
			r.fault = err
		}
		sql, args := s.deadLetter(*r)
		if _, err := tx.Exec(ctx, sql, args...); err != nil {
			return err
		}
	}
	return tx.Commit(ctx)
}

// Close closes the connection pool. Every acknowledged batch is already
// committed.
func (s *Sink) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.pool.Close()
	return nil
}

// splitPath splits a document path into its parent collection and ID.
func splitPath(path string) (parent, id string) {
	i := strings.LastIndexByte(path, '/')
	if i < 0 {
		return "", path
	}
	return path[:i], path[i+1:]
}
