package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/api/iterator"

	"github.com/fbadmin/fbadmin/internal/docpath"
	"github.com/fbadmin/fbadmin/internal/errs"
	"github.com/fbadmin/fbadmin/internal/retry"
	"github.com/fbadmin/fbadmin/internal/value"
	"github.com/fbadmin/fbadmin/listeners"
)

// DiffKind is the kind of a [Difference] between a sink and the database.
type DiffKind string

// The kinds of difference.
const (
	// Missing: the query returns the document; the sink does not hold it.
	Missing DiffKind = "missing"
	// Extra: the sink holds a document the query does not return.
	Extra DiffKind = "extra"
	// Stale: the sink holds the document in another version (update
	// time), or in the same version with other data.
	Stale DiffKind = "stale"
)

// Difference is one document on which a sink and the database disagree.
type Difference struct {
	Sink string
	Path string
	Kind DiffKind
	// DatabaseTime is the document's update time at the read time (zero
	// for Extra); SinkTime the update time of the version the sink holds
	// (zero for Missing). A Stale difference with equal times holds other
	// data.
	DatabaseTime, SinkTime time.Time
	// Repaired says that the repair sent an event for it. A sink holding a
	// version, or a removal, newer than the database's cannot be moved back
	// through its Send (the sinks refuse older versions), so that one
	// stays.
	Repaired bool
}

// ReconcileOptions are the optional inputs of [Reconcile].
type ReconcileOptions struct {
	// Sinks restricts the comparison to some of the listener's sinks;
	// empty means those of its sinks that can list what they hold
	// (postgres and file).
	Sinks []string
	// ReadTime is the time the database is read at; zero means one second
	// ago.
	ReadTime time.Time
	// Repair sends, through each sink's Send, the events that make it
	// equal to the database: the document (added, or modified over a
	// stale version) for missing and stale documents, removed for extra
	// ones.
	Repair bool
	// Logger receives progress; nil means one built from the config.
	Logger *slog.Logger
	// Report, when set, is called with each difference as it is found, in
	// path order for each sink.
	Report func(Difference)
}

// ReconcileCounts are one sink's figures.
type ReconcileCounts struct {
	// Documents the query returned at the read time, and Rows the
	// documents the sink holds for the listener.
	Documents, Rows       int
	Missing, Extra, Stale int
	// Repaired counts the differences a repair sent an event for.
	Repaired int
}

// Differences is Missing + Extra + Stale.
func (c ReconcileCounts) Differences() int { return c.Missing + c.Extra + c.Stale }

// ReconcileResult says what [Reconcile] found.
type ReconcileResult struct {
	ReadTime time.Time
	Sinks    map[string]*ReconcileCounts
}

// Unrepaired is the number of differences, over all sinks, left as they
// were.
func (r *ReconcileResult) Unrepaired() int {
	n := 0
	for _, c := range r.Sinks {
		n += c.Differences() - c.Repaired
	}
	return n
}

// Reconcile compares the sinks of one listener with the database at one
// read time, document by document, and with Repair makes them equal.
//
// The listener's query is read once at the read time, ordered by document
// name, and merged with the state of each sink ([listeners.StateReader]),
// read in the same order ([listeners.ComparePaths]), so that neither side
// is held in memory (except what the sink's ReadState holds: the file
// sink replays its files into a map of its documents). A document the
// query returns and a sink lacks is Missing, one a sink holds and the
// query does not return is Extra, and one held in another version
// (update time, or the same update time with other data where the sink
// keeps data) is Stale.
//
// Repair sends events through the sinks' normal Send, as the daemon and
// [Backfill] build them (IDs from path and update time, read_time = the
// read time), so the sinks' ordering rules apply: added or modified with
// the database's version for Missing and Stale, removed at the held
// version for Extra. Checkpoints are not changed: they record what the
// daemon delivered, and the next run sends again what a repair removed or
// overwrote if its checkpoint says so (duplicates with the same IDs). Run
// a repair while the daemon is stopped, as a backfill.
func Reconcile(ctx context.Context, cfg *Config, listener string, opts ReconcileOptions) (*ReconcileResult, error) {
	lc, err := findListener(cfg, "reconcile", listener)
	if err != nil {
		return nil, err
	}
	readable := func(name string) bool {
		k := cfg.sinkConfig(name).Kind()
		return k == "file" || k == "postgres"
	}
	sinks := opts.Sinks
	if len(sinks) == 0 {
		for _, s := range lc.Sinks {
			if readable(s) {
				sinks = append(sinks, s)
			}
		}
		if len(sinks) == 0 {
			return nil, errs.New(errs.ErrInvalid, "reconcile", listener, "none of the listener's sinks (%s) can list what it holds: reconcile works with postgres and file sinks", strings.Join(lc.Sinks, ", "))
		}
	}
	for _, s := range sinks {
		if !slices.Contains(lc.Sinks, s) {
			return nil, errs.New(errs.ErrInvalid, "reconcile", listener, "sink %q is not one of the listener's sinks (%s)", s, strings.Join(lc.Sinks, ", "))
		}
		if !readable(s) {
			return nil, errs.New(errs.ErrInvalid, "reconcile", s, "a %s sink cannot list what it holds: reconcile works with postgres and file sinks", cfg.sinkConfig(s).Kind())
		}
	}
	logger := opts.Logger
	if logger == nil {
		logger = NewLogger(cfg.Log, os.Stderr)
	}
	logger = logger.With("listener", listener)
	rt := opts.ReadTime
	if rt.IsZero() {
		rt = time.Now().Add(-time.Second)
	}
	rt = rt.UTC().Truncate(time.Microsecond)

	// Each sink's state is read by a goroutine of its own into a channel,
	// so that the merge pulls from every sink and from the query in step.
	gctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var targets []*reconcileTarget
	defer func() {
		cancel()
		wg.Wait()
		for _, t := range targets {
			t.sink.Close()
		}
	}()
	res := &ReconcileResult{ReadTime: rt, Sinks: map[string]*ReconcileCounts{}}
	for _, name := range sinks {
		s, err := openSink(ctx, cfg, *cfg.sinkConfig(name), io.Discard, logger)
		if err != nil {
			return nil, errs.Wrap(err, "open sink", name)
		}
		t := &reconcileTarget{name: name, sink: s, ch: make(chan listeners.StateEntry, 256), counts: &ReconcileCounts{}}
		targets = append(targets, t)
		res.Sinks[name] = t.counts
		sr, ok := s.(listeners.StateReader)
		if !ok {
			return nil, errs.New(errs.ErrInvalid, "reconcile", name, "the sink cannot list what it holds")
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(t.ch)
			t.err = sr.ReadState(gctx, listener, func(e listeners.StateEntry) error {
				select {
				case t.ch <- e:
					return nil
				case <-gctx.Done():
					return gctx.Err()
				}
			})
		}()
	}

	client, err := listenerClient(ctx, cfg, lc)
	if err != nil {
		return nil, err
	}
	defer client.Close()

	r := &reconciler{ctx: ctx, listener: listener, readTime: rt, repair: opts.Repair, report: opts.Report, logger: logger,
		batchSize: cfg.Engine.BatchSize, backoffInitial: cfg.Engine.BackoffInitial, backoffMax: cfg.Engine.BackoffMax}
	if r.batchSize <= 0 {
		r.batchSize = 500
	}
	if r.backoffInitial <= 0 {
		r.backoffInitial = 500 * time.Millisecond
	}
	if r.backoffMax <= 0 {
		r.backoffMax = 30 * time.Second
	}
	for _, t := range targets {
		if err := r.advance(t); err != nil {
			return nil, err
		}
	}

	logger.Info("reconcile: comparing the query with the sinks", "read_time", rt.Format(time.RFC3339Nano), "sinks", strings.Join(sinks, ","), "repair", opts.Repair)
	src, err := openDBSource(ctx, client, lc, rt)
	if err != nil {
		return nil, err
	}
	defer src.stop()
	var prev string
	for {
		d, err := src.next()
		if err != nil {
			return nil, err
		}
		if d == nil {
			break
		}
		if prev != "" && listeners.ComparePaths(prev, d.path) >= 0 {
			return nil, fmt.Errorf("reconcile: the database returned %s after %s, out of the order of listeners.ComparePaths (numeric __idN__ document IDs are not supported)", d.path, prev)
		}
		prev = d.path
		for _, t := range targets {
			if err := r.merge(t, d); err != nil {
				return nil, err
			}
		}
	}
	for _, t := range targets {
		for t.head != nil {
			if err := r.extra(t); err != nil {
				return nil, err
			}
		}
		if err := r.flush(t, 1); err != nil {
			return nil, err
		}
		if f, ok := t.sink.(listeners.Flusher); ok && r.repair {
			if err := f.Flush(ctx); err != nil {
				return nil, errs.Wrap(err, "flush sink", t.name)
			}
		}
		c := t.counts
		logger.Info("reconcile: sink compared", "sink", t.name, "documents", c.Documents, "rows", c.Rows,
			"missing", c.Missing, "extra", c.Extra, "stale", c.Stale, "repaired", c.Repaired)
	}
	return res, nil
}

// reconcileTarget is one sink being compared.
type reconcileTarget struct {
	name    string
	sink    listeners.Sink
	ch      chan listeners.StateEntry
	err     error // of ReadState, set before ch is closed
	head    *listeners.StateEntry
	prev    string
	counts  *ReconcileCounts
	pending []listeners.Event
}

// dbDoc is one document of the query, its data encoded when first needed.
type dbDoc struct {
	path string
	ut   time.Time
	// snap is nil until fetch gets it (for queries read in memory).
	snap  *firestore.DocumentSnapshot
	fetch func() (*firestore.DocumentSnapshot, error)
	data  json.RawMessage
	hash  []byte
}

func (d *dbDoc) encoded() (json.RawMessage, error) {
	if d.data == nil {
		if d.snap == nil {
			snap, err := d.fetch()
			if err != nil {
				return nil, errs.Wrap(err, "reconcile: read", d.path)
			}
			d.snap = snap
		}
		b, err := value.EncodeMap(d.snap.Data())
		if err != nil {
			return nil, fmt.Errorf("reconcile: encode %s: %w", d.path, err)
		}
		d.data = b
	}
	return d.data, nil
}

// reconciler merges the query with the sinks' states.
type reconciler struct {
	ctx                        context.Context
	listener                   string
	readTime                   time.Time
	repair                     bool
	report                     func(Difference)
	logger                     *slog.Logger
	batchSize                  int
	backoffInitial, backoffMax time.Duration
}

// advance takes the sink's next entry into t.head (nil at the end).
func (r *reconciler) advance(t *reconcileTarget) error {
	e, ok := <-t.ch
	if !ok {
		t.head = nil
		if t.err != nil {
			return errs.Wrap(t.err, "reconcile: read the state of sink", t.name)
		}
		return nil
	}
	if t.prev != "" && listeners.ComparePaths(t.prev, e.Path) >= 0 {
		return fmt.Errorf("reconcile: sink %s listed %s after %s, out of path order", t.name, e.Path, t.prev)
	}
	t.prev = e.Path
	e.UpdateTime = e.UpdateTime.UTC()
	t.head = &e
	if !e.Removed {
		t.counts.Rows++
	}
	return nil
}

// merge compares one document of the query with sink t, taking the
// sink's entries before it as extra.
func (r *reconciler) merge(t *reconcileTarget, d *dbDoc) error {
	t.counts.Documents++
	for t.head != nil && listeners.ComparePaths(t.head.Path, d.path) < 0 {
		if err := r.extra(t); err != nil {
			return err
		}
	}
	if t.head == nil || t.head.Path != d.path {
		diff := Difference{Sink: t.name, Path: d.path, Kind: Missing, DatabaseTime: d.ut, Repaired: r.repair}
		t.counts.Missing++
		return r.found(t, diff, d, listeners.Added)
	}
	held := *t.head
	if err := r.advance(t); err != nil {
		return err
	}
	// Update times compare to the microsecond, Firestore's precision and
	// PostgreSQL's.
	ht, dt := held.UpdateTime.Truncate(time.Microsecond), d.ut.Truncate(time.Microsecond)
	if held.Removed {
		// A removal of this version or a newer one refuses it.
		diff := Difference{Sink: t.name, Path: d.path, Kind: Missing, DatabaseTime: d.ut, Repaired: r.repair && dt.After(ht)}
		t.counts.Missing++
		return r.found(t, diff, d, listeners.Added)
	}
	same := ht.Equal(dt)
	if same && held.Hash != nil {
		data, err := d.encoded()
		if err != nil {
			return err
		}
		if d.hash == nil {
			d.hash = listeners.DataHash(data)
		}
		same = bytes.Equal(held.Hash, d.hash)
	}
	if same {
		return nil
	}
	// A sink never takes a version older than the one it holds.
	diff := Difference{Sink: t.name, Path: d.path, Kind: Stale, DatabaseTime: d.ut, SinkTime: held.UpdateTime,
		Repaired: r.repair && !ht.After(dt)}
	t.counts.Stale++
	return r.found(t, diff, d, listeners.Modified)
}

// extra takes t.head as a document the query does not return (nothing
// when the sink holds it as removed).
func (r *reconciler) extra(t *reconcileTarget) error {
	held := *t.head
	if err := r.advance(t); err != nil {
		return err
	}
	if held.Removed {
		return nil
	}
	t.counts.Extra++
	return r.found(t, Difference{Sink: t.name, Path: held.Path, Kind: Extra, SinkTime: held.UpdateTime, Repaired: r.repair}, nil, listeners.Removed)
}

// found reports a difference and queues its repair: the database's
// version of d, or, for an extra document, its removal at the version held
// (the removal the daemon would send: same ID).
func (r *reconciler) found(t *reconcileTarget, diff Difference, d *dbDoc, typ listeners.EventType) error {
	if r.report != nil {
		r.report(diff)
	}
	if !diff.Repaired {
		if r.repair {
			r.logger.Warn("reconcile: the sink holds a newer version or removal than the database's at the read time; a repair cannot move it back",
				"sink", t.name, "path", diff.Path, "kind", diff.Kind, "database_update_time", diff.DatabaseTime)
		}
		return nil
	}
	ev := listeners.Event{Type: typ, Listener: r.listener, Path: diff.Path, ReadTime: r.readTime}
	if typ == listeners.Removed {
		ev.UpdateTime = diff.SinkTime
		ev.ID = listeners.EventID(diff.Path, diff.SinkTime, true)
	} else {
		data, err := d.encoded()
		if err != nil {
			return err
		}
		ev.Data, ev.UpdateTime = data, d.ut
		if d.snap != nil {
			ev.CreateTime = d.snap.CreateTime.UTC()
		}
		ev.ID = listeners.EventID(diff.Path, ev.UpdateTime, false)
	}
	t.pending = append(t.pending, ev)
	t.counts.Repaired++
	return r.flush(t, r.batchSize)
}

// flush sends t's pending events once there are at least min of them,
// retrying failed sends with the engine's backoff.
func (r *reconciler) flush(t *reconcileTarget, min int) error {
	if len(t.pending) < max(min, 1) {
		return nil
	}
	for attempt := 0; ; attempt++ {
		err := t.sink.Send(r.ctx, t.pending)
		if err == nil {
			break
		}
		if r.ctx.Err() != nil {
			return r.ctx.Err()
		}
		d := retry.Backoff(r.backoffInitial, r.backoffMax, attempt)
		r.logger.Warn("reconcile: repair send failed; retrying", "sink", t.name, "err", err, "retry_in", d)
		if !retry.Sleep(r.ctx, d) {
			return r.ctx.Err()
		}
	}
	t.pending = nil // a sink may keep the slice it was sent
	return nil
}

// dbSource yields the query's documents at the read time in
// [listeners.ComparePaths] order; next returns nil at the end.
type dbSource struct {
	next func() (*dbDoc, error)
	stop func()
}

// rangeOps are the filters after which Firestore orders by the filtered
// field first: such a query cannot be read in document-name order.
var rangeOps = []string{"<", "<=", ">", ">=", "!=", "not-in"}

// openDBSource reads the listener's query at rt ordered by document name,
// streaming. A query with a range filter (<, >, !=, not-in...) cannot be
// ordered by name alone (Firestore sorts by the filtered field first): it
// is read once in its own order, keeping the path, update time and data
// hash of each document in memory, sorted, and the data of the few
// documents a repair needs is read again at rt.
func openDBSource(ctx context.Context, client *firestore.Client, lc ListenerConfig, rt time.Time) (*dbSource, error) {
	q := lc.query()(client)
	ranged := slices.ContainsFunc(lc.Where, func(w FilterConfig) bool { return slices.Contains(rangeOps, w.Op) })
	readErr := func(err error) error {
		return errs.Wrap(err, "reconcile: read the query at", rt.Format(time.RFC3339Nano))
	}
	if !ranged {
		q = q.OrderBy(firestore.DocumentID, firestore.Asc)
		it := q.WithReadOptions(firestore.ReadTime(rt)).Documents(ctx)
		return &dbSource{stop: it.Stop, next: func() (*dbDoc, error) {
			snap, err := it.Next()
			if errors.Is(err, iterator.Done) {
				return nil, nil
			}
			if err != nil {
				return nil, readErr(err)
			}
			return &dbDoc{path: docpath.Rel(snap.Ref.Path), snap: snap, ut: snap.UpdateTime.UTC()}, nil
		}}, nil
	}
	type held struct {
		path string
		ut   time.Time
		hash []byte
	}
	var all []held
	it := q.WithReadOptions(firestore.ReadTime(rt)).Documents(ctx)
	defer it.Stop()
	for {
		snap, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return nil, readErr(err)
		}
		p := docpath.Rel(snap.Ref.Path)
		data, err := value.EncodeMap(snap.Data())
		if err != nil {
			return nil, fmt.Errorf("reconcile: encode %s: %w", p, err)
		}
		all = append(all, held{path: p, ut: snap.UpdateTime.UTC(), hash: listeners.DataHash(data)})
	}
	slices.SortFunc(all, func(a, b held) int { return listeners.ComparePaths(a.path, b.path) })
	i := 0
	return &dbSource{stop: func() {}, next: func() (*dbDoc, error) {
		if i == len(all) {
			return nil, nil
		}
		h := all[i]
		all[i] = held{} // let it go
		i++
		ref := client.Doc(h.path)
		return &dbDoc{path: h.path, ut: h.ut, hash: h.hash, fetch: func() (*firestore.DocumentSnapshot, error) {
			return ref.WithReadOptions(firestore.ReadTime(rt)).Get(ctx)
		}}, nil
	}}, nil
}
