package repository

import (
	"context"
	"iter"
	"log/slog"
	"slices"
	"time"

	"cloud.google.com/go/firestore"
	"github.com/fbadmin/fbadmin/internal/retry"
	"github.com/fbadmin/fbadmin/internal/stream"
)

// ChangeKind says how a document changed between two snapshots of a query.
type ChangeKind int

const (
	// Added: the document entered the query's results (or was there
	// when the watch started).
	Added ChangeKind = iota + 1
	// Modified: the document changed and is still in the results.
	Modified
	// Removed: the document left the results (deleted, or no longer
	// matching).
	Removed
)

func (k ChangeKind) String() string {
	switch k {
	case Added:
		return "added"
	case Modified:
		return "modified"
	case Removed:
		return "removed"
	default:
		return "unknown"
	}
}

// Change is one document's change in a [Snapshot].
type Change[T any] struct {
	Kind ChangeKind
	// Doc is the document after the change; for Removed, the last version
	// that was in the results.
	Doc *Doc[T]
	// Old is the document before a Modified change, nil otherwise.
	Old *Doc[T]
	// OldIndex and NewIndex are the document's positions in the results
	// before and after the change, -1 when it was not (is no longer) there.
	OldIndex, NewIndex int
}

// Snapshot is one state of a watched query: the changes since the
// previous state (for the first one, every document as Added).
type Snapshot[T any] struct {
	// ReadTime is the time at which this state of the results was read.
	ReadTime time.Time
	// Size is the number of documents in the results.
	Size    int
	Changes []Change[T]
	// Reopened marks the first state after the listener was reopened (a
	// failed, silent or inconsistent stream): its Changes are the
	// difference between the last state yielded and the new results, so
	// nothing that happened while no stream was open is missed. Their
	// indices are positions in those two result lists as wholes, in the
	// order removals, additions, modifications.
	Reopened bool
}

// Verify chooses how far a watched query's snapshots are checked against
// the query itself; see the constants.
type Verify = stream.Verify

// The verification modes of [WithVerify].
const (
	// VerifyAuto checks each (re)opened stream's first snapshot by a
	// count at its read time (one aggregation per stream opened), or on
	// the emulator as VerifyAlways does. The default.
	VerifyAuto = stream.VerifyAuto
	// VerifyAlways also checks later snapshots (at most every 5 s) and
	// confirms removals: meant for the emulator, whose streams can drop
	// documents.
	VerifyAlways = stream.VerifyAlways
	// VerifyFirst checks first snapshots only, by count.
	VerifyFirst = stream.VerifyFirst
	// VerifyNever checks nothing.
	VerifyNever = stream.VerifyNever
)

// WatchOption tunes [Query.Watch].
type WatchOption func(*watchConfig)

type watchConfig struct {
	watchdog time.Duration
	verify   Verify
	log      *slog.Logger
	// fault, in tests, runs before each snapshot is yielded; an error
	// it returns is the stream's (stream.ErrInconsistent reopens it).
	fault func(ctx context.Context, n int) error
}

// WithWatchdog reopens a stream that has delivered nothing for d (default
// 30 minutes; 0 or negative: never). Firestore streams can go silent
// without an error after network trouble; the SDK does not notice.
func WithWatchdog(d time.Duration) WatchOption {
	return func(c *watchConfig) { c.watchdog = max(d, 0) }
}

// WithVerify sets how snapshots are checked against the query (default
// VerifyAuto).
func WithVerify(v Verify) WatchOption { return func(c *watchConfig) { c.verify = v } }

// WithWatchLogger receives the watch's warnings (reopened streams);
// default slog.Default().
func WithWatchLogger(l *slog.Logger) WatchOption { return func(c *watchConfig) { c.log = l } }

// Watch listens to the query: it yields a first [Snapshot] with the
// current results, then one each time they change, until the loop stops
// or ctx is done. It ends with an error that wraps ErrCanceled when ctx is
// canceled, or with the error of a query Firestore refuses (ErrInvalid,
// ErrPermission...).
//
// The listener is supervised by the same core as `fbadmin listen` and
// `fbadmin serve`: a stream that fails is reopened with backoff, one silent
// past the watchdog is recycled, and a snapshot that differs from the
// query's result at its read time (see [Verify]) is discarded and the
// stream reopened. After a reopening, the next snapshot (Reopened set)
// carries the difference from the last one yielded.
//
// A document that does not decode into T yields an ErrInvalid error (that
// snapshot is skipped) and watching goes on if the loop continues.
func (q Query[T]) Watch(ctx context.Context, opts ...WatchOption) iter.Seq2[*Snapshot[T], error] {
	return func(yield func(*Snapshot[T], error) bool) {
		if err := q.check(); err != nil {
			yield(nil, err)
			return
		}
		if q.limitToLast {
			yield(nil, invalid("watch", q.target, "LimitToLast queries cannot be watched (reverse the OrderBy and use Limit)"))
			return
		}
		cfg := watchConfig{watchdog: 30 * time.Minute, verify: VerifyAuto, log: slog.Default()}
		for _, o := range opts {
			o(&cfg)
		}
		if !cfg.verify.Valid() {
			yield(nil, invalid("watch", q.target, "unknown verification mode %q (auto, always, first or never)", cfg.verify))
			return
		}
		if q.limited && cfg.verify != VerifyNever {
			// Removals out of a limited window cannot be confirmed by
			// document: check first snapshots by count only.
			cfg.verify = VerifyFirst
		}
		runCtx, stop := context.WithCancel(ctx)
		defer stop()
		w := &watcher[T]{}
		stopped := false
		n := 0
		err := stream.Run(runCtx, stream.Options{
			Client: q.client, Query: q.q, Verify: cfg.verify, Watchdog: cfg.watchdog,
			Log: cfg.log.With("watch", q.target), Permanent: retry.Permanent,
		}, func(sctx context.Context, s *stream.Snapshot) error {
			if cfg.fault != nil {
				if err := cfg.fault(sctx, n); err != nil {
					return err
				}
			}
			n++
			snap, err := w.next(s)
			if snap == nil && err == nil {
				return nil // a reopening that changed nothing
			}
			if !yield(snap, err) {
				stopped = true
				stop()
			}
			return nil
		})
		switch {
		case stopped:
		case ctx.Err() != nil:
			yield(nil, wrap(ctx.Err(), "watch", q.target))
		case err != nil:
			yield(nil, wrap(err, "watch", q.target))
		}
	}
}

// watcher turns the core's snapshots into the repository's, keeping the
// last state yielded (in result order) to diff a reopened stream against.
type watcher[T any] struct {
	started bool
	order   []string                               // paths, in result order
	docs    map[string]*firestore.DocumentSnapshot // by path
}

func (w *watcher[T]) next(s *stream.Snapshot) (*Snapshot[T], error) {
	switch {
	case s.First && !w.started:
		w.started = true
		w.reset(s.Docs)
		snap := &Snapshot[T]{ReadTime: s.ReadTime, Size: s.Size, Changes: make([]Change[T], 0, len(s.Docs))}
		for i, d := range s.Docs {
			doc, err := decode[T](d)
			if err != nil {
				return nil, err
			}
			snap.Changes = append(snap.Changes, Change[T]{Kind: Added, Doc: doc, OldIndex: -1, NewIndex: i})
		}
		return snap, nil
	case s.First:
		return w.reopened(s)
	}
	w.apply(s.Changes)
	return decodeChanges[T](s.ReadTime, s.Size, s.Changes)
}

func (w *watcher[T]) reset(docs []*firestore.DocumentSnapshot) {
	w.order = make([]string, len(docs))
	w.docs = make(map[string]*firestore.DocumentSnapshot, len(docs))
	for i, d := range docs {
		w.order[i] = d.Ref.Path
		w.docs[d.Ref.Path] = d
	}
}

// reopened diffs a reopened stream's first snapshot against the last
// state yielded; nil when they are the same.
func (w *watcher[T]) reopened(s *stream.Snapshot) (*Snapshot[T], error) {
	oldIndex := make(map[string]int, len(w.order))
	for i, p := range w.order {
		oldIndex[p] = i
	}
	newIndex := make(map[string]int, len(s.Docs))
	for i, d := range s.Docs {
		newIndex[d.Ref.Path] = i
	}
	snap := &Snapshot[T]{ReadTime: s.ReadTime, Size: s.Size, Reopened: true}
	var err error
	add := func(kind ChangeKind, d, old *firestore.DocumentSnapshot, oi, ni int) {
		if err != nil {
			return
		}
		c := Change[T]{Kind: kind, OldIndex: oi, NewIndex: ni}
		if c.Doc, err = decode[T](d); err != nil {
			return
		}
		if old != nil {
			c.Old, err = decode[T](old)
		}
		snap.Changes = append(snap.Changes, c)
	}
	for i, p := range w.order {
		if _, ok := newIndex[p]; !ok {
			add(Removed, w.docs[p], nil, i, -1)
		}
	}
	for i, d := range s.Docs {
		if _, ok := oldIndex[d.Ref.Path]; !ok {
			add(Added, d, nil, -1, i)
		}
	}
	for i, d := range s.Docs {
		if oi, ok := oldIndex[d.Ref.Path]; ok && !d.UpdateTime.Equal(w.docs[d.Ref.Path].UpdateTime) {
			add(Modified, d, w.docs[d.Ref.Path], oi, i)
		}
	}
	w.reset(s.Docs)
	if err != nil {
		return nil, err
	}
	if len(snap.Changes) == 0 {
		return nil, nil
	}
	return snap, nil
}

// apply follows a live snapshot's changes, in the SDK's order and index
// semantics (each change applied to the results left by the previous one).
func (w *watcher[T]) apply(changes []firestore.DocumentChange) {
	for _, c := range changes {
		p := c.Doc.Ref.Path
		if c.OldIndex >= 0 && c.OldIndex < len(w.order) && w.order[c.OldIndex] == p {
			w.order = slices.Delete(w.order, c.OldIndex, c.OldIndex+1)
		} else if i := slices.Index(w.order, p); i >= 0 {
			w.order = slices.Delete(w.order, i, i+1)
		}
		delete(w.docs, p)
		if c.Kind == firestore.DocumentRemoved {
			continue
		}
		w.order = slices.Insert(w.order, min(max(c.NewIndex, 0), len(w.order)), p)
		w.docs[p] = c.Doc
	}
}

func decodeChanges[T any](readTime time.Time, size int, changes []firestore.DocumentChange) (*Snapshot[T], error) {
	snap := &Snapshot[T]{ReadTime: readTime, Size: size, Changes: make([]Change[T], 0, len(changes))}
	for _, c := range changes {
		ch := Change[T]{OldIndex: c.OldIndex, NewIndex: c.NewIndex}
		switch c.Kind {
		case firestore.DocumentAdded:
			ch.Kind = Added
		case firestore.DocumentModified:
			ch.Kind = Modified
		case firestore.DocumentRemoved:
			ch.Kind = Removed
		}
		d, err := decode[T](c.Doc)
		if err != nil {
			return nil, err
		}
		ch.Doc = d
		if c.Kind == firestore.DocumentModified && c.OldDoc != nil {
			if ch.Old, err = decode[T](c.OldDoc); err != nil {
				return nil, err
			}
		}
		snap.Changes = append(snap.Changes, ch)
	}
	return snap, nil
}
