// Package stream is fbadmin's change-stream core: one supervised Firestore
// snapshot listener, reopened with backoff after errors, recycled by a
// watchdog when silent, and checked against the query itself so that its
// consumers never see a snapshot that misses documents. The listeners
// engine (fbadmin listen, fs watch) and the server's change hub (WebSocket
// and GraphQL subscriptions) run their listeners on it; each keeps its own
// record of what it emitted and diffs a reopened stream's first snapshot
// against it.
package stream

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/api/iterator"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/fbadmin/fbadmin/internal/docpath"
	"github.com/fbadmin/fbadmin/internal/retry"
)

// Verify chooses how far snapshots are checked against the query.
//
// Why: on the gcloud Firestore emulator, a listen stream under concurrent
// writes can send a document change just before a RESET of its target and
// then leave that document out of the state it sends after the RESET. The
// Go SDK follows the protocol (a RESET discards what came before it), so
// its snapshot lacks a document that exists: a first snapshot misses it, a
// live stream reports it removed, and the stream never reports the
// document's later deletion.
type Verify string

const (
	// VerifyAuto checks every first snapshot by a count at its read
	// time (one aggregation per stream opened) or, when
	// FIRESTORE_EMULATOR_HOST is set, as VerifyAlways does. The default.
	VerifyAuto Verify = "auto"
	// VerifyAlways compares first and live snapshots with the query's
	// documents at their read time (live ones at most every 5 s) and
	// confirms removals before they are handed on. It reads the query's
	// documents about every 5 s while they change: meant for the
	// emulator.
	VerifyAlways Verify = "always"
	// VerifyFirst checks first snapshots only, by count.
	VerifyFirst Verify = "first"
	// VerifyNever checks nothing.
	VerifyNever Verify = "never"
)

// Valid reports whether v is one of the modes ("" counts as auto).
func (v Verify) Valid() bool {
	switch v {
	case "", VerifyAuto, VerifyAlways, VerifyFirst, VerifyNever:
		return true
	}
	return false
}

func (v Verify) live() bool {
	switch v {
	case VerifyAlways:
		return true
	case VerifyAuto, "":
		return os.Getenv("FIRESTORE_EMULATOR_HOST") != ""
	}
	return false
}

func (v Verify) first() bool { return v != VerifyNever }

func (s *stream) checkFirst() bool { return !s.off.Load() && s.o.Verify.first() }

func (s *stream) checkLive() bool { return !s.off.Load() && s.o.Verify.live() }

// Restart reasons, as passed to [Options.Restarted].
const (
	ReasonError        = "error"
	ReasonWatchdog     = "watchdog"
	ReasonInconsistent = "inconsistent"
)

// Options configure [Run].
type Options struct {
	// Client reads the verification queries.
	Client *firestore.Client
	// Query is the listened query. It must have no limit.
	Query firestore.Query
	// Verify: see [Verify]; "" means VerifyAuto.
	Verify Verify
	// Watchdog recycles a stream that has delivered nothing for this
	// long; 0 or negative: never.
	Watchdog time.Duration
	// BackoffInitial and BackoffMax bound the waits between reopenings
	// after errors; defaults 500ms and 30s.
	BackoffInitial, BackoffMax time.Duration
	// Log receives warnings and errors; default slog.Default().
	Log *slog.Logger
	// Restarted, when set, is called before each reopening with its
	// reason (ReasonError, ReasonWatchdog, ReasonInconsistent).
	Restarted func(reason string)
	// Live, when set, is called with true once a stream's first snapshot
	// was handled, and with false when that stream ends.
	Live func(bool)
	// Permanent, when set and true for the error of a stream that never
	// produced a first snapshot, ends Run with that error (a query the
	// backend refuses does not get better).
	Permanent func(error) bool

	// Tamper, in tests only, alters a first snapshot's documents before
	// they are verified: dropping some reproduces the emulator streams'
	// lost documents (this package is internal; tests of the packages
	// built on it set it through their own unexported hooks).
	Tamper func(docs []*firestore.DocumentSnapshot) []*firestore.DocumentSnapshot
}

// Snapshot is one verified state of the query.
type Snapshot struct {
	// First marks the first snapshot of a (re)opened stream: Docs holds
	// the whole result, which the consumer diffs against what it emitted.
	First bool
	Docs  []*firestore.DocumentSnapshot
	// Changes holds the changes of a later snapshot, in the SDK's order
	// (removals, additions, modifications).
	Changes []firestore.DocumentChange
	// ReadTime is when Firestore read this state; Size is the result's
	// size.
	ReadTime time.Time
	Size     int
}

// ErrInconsistent ends a stream whose snapshot is not the query's result at
// the snapshot's read time. A handler may return it too (wrapped or not) to
// have the stream reopened at once.
var ErrInconsistent = errors.New("snapshot differs from the query's result at its read time")

// errRecycled ends a stream the watchdog found silent.
var errRecycled = errors.New("stream silent past the watchdog interval")

// verifyInterval is the least time between two checks of live snapshots.
const verifyInterval = 5 * time.Second

// Run listens until ctx is done, handing each verified snapshot to handle.
// A stream that fails, or whose handler fails, is reopened: after a
// watchdog recycle at once, after an inconsistent snapshot at once the
// first two times and then with a short backoff, after other errors with
// exponential backoff. Run returns nil when ctx is done, or the error
// [Options.Permanent] accepted.
func Run(ctx context.Context, o Options, handle func(ctx context.Context, s *Snapshot) error) error {
	if o.BackoffInitial <= 0 {
		o.BackoffInitial = 500 * time.Millisecond
	}
	if o.BackoffMax < o.BackoffInitial {
		o.BackoffMax = max(30*time.Second, o.BackoffInitial)
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	s := &stream{o: o}
	attempt, inconsistent := 0, 0
	for {
		gotFirst, err := s.run(ctx, handle)
		if o.Live != nil {
			o.Live(false)
		}
		if ctx.Err() != nil {
			return nil
		}
		if gotFirst {
			attempt, inconsistent = 0, 0
		}
		reason := ReasonError
		switch {
		case errors.Is(err, errRecycled):
			reason = ReasonWatchdog
		case errors.Is(err, ErrInconsistent):
			reason = ReasonInconsistent
		case !gotFirst && o.Permanent != nil && o.Permanent(err):
			return err
		}
		if o.Restarted != nil {
			o.Restarted(reason)
		}
		var wait time.Duration
		switch reason {
		case ReasonWatchdog:
			o.Log.Warn("stream silent past the watchdog interval; reopening it", "watchdog", o.Watchdog)
		case ReasonInconsistent:
			inconsistent++
			if inconsistent > 2 {
				wait = retry.Backoff(50*time.Millisecond, 2*time.Second, inconsistent-3)
			}
		default:
			wait = retry.Backoff(o.BackoffInitial, o.BackoffMax, attempt)
			attempt++
			o.Log.Error("stream failed; reopening it", "retry_in", wait.Round(time.Millisecond), "attempt", attempt, "err", err)
		}
		if wait > 0 && !retry.Sleep(ctx, wait) {
			return nil
		}
	}
}

type stream struct {
	o Options
	// off is set when the backend refused a verification query: the
	// stream goes on unverified.
	off atomic.Bool
	// waitingSince is when the current Next call began (Unix ns), 0 when
	// the stream is not waiting on Firestore.
	waitingSince atomic.Int64
}

// run opens one stream and hands on its snapshots until it fails or ctx is
// done. It reports whether a verified first snapshot was handled.
func (s *stream) run(ctx context.Context, handle func(context.Context, *Snapshot) error) (bool, error) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var recycled, inconsistent atomic.Bool
	if wd := s.o.Watchdog; wd > 0 {
		done := make(chan struct{})
		defer close(done)
		go func() {
			t := time.NewTicker(max(wd/8, 10*time.Millisecond))
			defer t.Stop()
			for {
				select {
				case <-done:
					return
				case <-t.C:
					since := s.waitingSince.Load()
					if since != 0 && time.Since(time.Unix(0, since)) > wd {
						recycled.Store(true)
						cancel()
						return
					}
				}
			}
		}()
	}
	// The live checker starts with the first change, so that idle
	// streams cost no goroutine.
	var checks chan *firestore.QuerySnapshot
	live := s.o.Verify.live()
	it := s.o.Query.Snapshots(sctx)
	defer it.Stop()
	first := true
	for {
		s.waitingSince.Store(time.Now().UnixNano())
		qs, err := it.Next()
		s.waitingSince.Store(0)
		if err != nil {
			switch {
			case ctx.Err() != nil:
				return !first, nil
			case recycled.Load():
				return !first, errRecycled
			case inconsistent.Load():
				return !first, ErrInconsistent
			case errors.Is(err, iterator.Done):
				return !first, errors.New("stream ended")
			}
			return !first, err
		}
		snap := &Snapshot{First: first, ReadTime: qs.ReadTime, Size: qs.Size}
		if first {
			err = s.first(sctx, qs, snap)
		} else {
			err = s.changes(sctx, qs, snap)
		}
		if err == nil {
			err = handle(sctx, snap)
		}
		if err != nil {
			switch {
			case ctx.Err() != nil:
				return !first, nil
			case inconsistent.Load():
				return !first, ErrInconsistent
			}
			return !first, err
		}
		if first {
			// Checked already, and its Documents iterator is spent.
			first = false
			if s.o.Live != nil {
				s.o.Live(true)
			}
			continue
		}
		if live && checks == nil && len(qs.Changes) > 0 {
			checks = make(chan *firestore.QuerySnapshot, 1)
			go s.verifyLive(sctx, checks, func() { inconsistent.Store(true); cancel() })
		}
		if checks != nil && len(qs.Changes) > 0 {
			// The snapshot's Documents iterator is unused by handlers of
			// later snapshots: the checker reads the snapshot's documents
			// from it.
			select {
			case checks <- qs:
			default:
				select { // replace the older check still waiting
				case <-checks:
				default:
				}
				checks <- qs
			}
		}
	}
}

// first reads a first snapshot's documents and checks them against the
// query: on the emulator (live checks on) by the documents' paths and
// versions, elsewhere by a count at its read time.
func (s *stream) first(ctx context.Context, qs *firestore.QuerySnapshot, snap *Snapshot) error {
	docs, err := qs.Documents.GetAll()
	if err != nil {
		return err
	}
	if s.o.Tamper != nil {
		docs = s.o.Tamper(docs)
	}
	snap.Docs = docs
	if s.checkLive() {
		missing, err := s.missingAt(ctx, qs.ReadTime, docs)
		if err != nil {
			return s.unverifiable(err)
		}
		if missing > 0 {
			s.o.Log.Warn("first snapshot lacks documents the query returned before it; reopening the stream",
				"snapshot_documents", len(docs), "missing", missing)
			return ErrInconsistent
		}
		return nil
	}
	if !s.checkFirst() {
		return nil
	}
	n, err := s.countAt(ctx, qs.ReadTime)
	if err != nil {
		return s.unverifiable(err)
	}
	if n != int64(len(docs)) {
		s.o.Log.Warn("first snapshot differs from the query at its read time; reopening the stream",
			"snapshot_documents", len(docs), "query_documents", n)
		return ErrInconsistent
	}
	return nil
}

// changes takes a later snapshot's changes, confirming its removals when
// live snapshots are verified.
func (s *stream) changes(ctx context.Context, qs *firestore.QuerySnapshot, snap *Snapshot) error {
	snap.Changes = qs.Changes
	if !s.checkLive() {
		return nil
	}
	removed := map[string]time.Time{}
	var paths []string
	for _, c := range qs.Changes {
		if c.Kind == firestore.DocumentRemoved {
			p := RelPath(c.Doc.Ref.Path)
			removed[p] = c.Doc.UpdateTime
			paths = append(paths, p)
		}
	}
	if len(paths) == 0 {
		return nil
	}
	at, err := s.matchingAt(ctx, qs.ReadTime, paths)
	if err != nil {
		return s.unverifiable(err)
	}
	// The emulator's read times can run ahead of a snapshot's content, so
	// a document the query returns at the read time may have been
	// removed and written again since: only the very version reported
	// removed, still there, proves the removal false.
	still := 0
	for p, ut := range at {
		if ut.Equal(removed[p]) {
			still++
		}
	}
	if still > 0 {
		s.o.Log.Warn("snapshot reports documents removed that the query still returns at its read time; reopening the stream",
			"documents", still)
		return ErrInconsistent
	}
	return nil
}

// unverifiable turns the error of a verification query into the stream's
// error, unless the backend refused the query itself (the emulator's
// listen accepts filters its queries refuse, such as values over 1,500
// bytes): verification is then turned off for this stream, with a
// warning, rather than failing a stream that works.
func (s *stream) unverifiable(err error) error {
	switch status.Code(err) {
	case codes.InvalidArgument, codes.FailedPrecondition, codes.Unimplemented:
		if !s.off.Swap(true) {
			s.o.Log.Warn("the backend refuses the query that verifies this stream's snapshots; it goes on unverified", "err", err)
		}
		return nil
	}
	return err
}

// RelPath strips "projects/P/databases/D/documents/" from a document name
// (it is [docpath.Rel]).
func RelPath(name string) string { return docpath.Rel(name) }

// atReadTime runs f in a read-only transaction reading at t.
func (s *stream) atReadTime(ctx context.Context, t time.Time, f func(tx *firestore.Transaction) error) error {
	return s.o.Client.RunTransaction(ctx, func(_ context.Context, tx *firestore.Transaction) error {
		return f(tx)
	}, firestore.ReadOnly, firestore.TransactionReadTime(t.Truncate(time.Microsecond)))
}

// countAt counts the query's documents at read time t.
func (s *stream) countAt(ctx context.Context, t time.Time) (int64, error) {
	var n int64
	err := s.atReadTime(ctx, t, func(tx *firestore.Transaction) error {
		q := s.o.Query
		res, err := q.NewAggregationQuery().WithCount("n").Transaction(tx).Get(ctx)
		if err != nil {
			return err
		}
		n, err = countValue(res["n"])
		return err
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

func countValue(v any) (int64, error) {
	type intValue interface{ GetIntegerValue() int64 }
	switch c := v.(type) {
	case int64:
		return c, nil
	case intValue:
		return c.GetIntegerValue(), nil
	}
	return 0, errors.New("count aggregation returned no integer")
}

// matchingAt returns those of paths the query returns at read time t,
// with their update times.
func (s *stream) matchingAt(ctx context.Context, t time.Time, paths []string) (map[string]time.Time, error) {
	out := map[string]time.Time{}
	err := s.atReadTime(ctx, t, func(tx *firestore.Transaction) error {
		clear(out)
		// 30 is the most values a Firestore "in" filter takes.
		for start := 0; start < len(paths); start += 30 {
			chunk := paths[start:min(start+30, len(paths))]
			refs := make([]*firestore.DocumentRef, len(chunk))
			for i, p := range chunk {
				refs[i] = s.o.Client.Doc(p)
			}
			docs, err := tx.Documents(s.o.Query.Where(firestore.DocumentID, "in", refs)).GetAll()
			if err != nil {
				return err
			}
			for _, d := range docs {
				out[RelPath(d.Ref.Path)] = d.UpdateTime
			}
		}
		return nil
	})
	return out, err
}

// missingAt counts the documents the query returns at read time t, in a
// version no newer than the newest of docs, that docs lacks. The emulator's
// read times can run ahead of a snapshot's content (under load, by
// seconds), so the query at t may also return documents written after the
// state docs reflects; but that state is at least as new as docs' newest
// version, so a document whose version at t is no newer than that was in
// it, and is missing only if the stream lost it.
func (s *stream) missingAt(ctx context.Context, t time.Time, docs []*firestore.DocumentSnapshot) (int, error) {
	var newest time.Time
	have := make(map[string]struct{}, len(docs))
	for _, d := range docs {
		have[d.Ref.Path] = struct{}{}
		if d.UpdateTime.After(newest) {
			newest = d.UpdateTime
		}
	}
	missing := 0
	err := s.atReadTime(ctx, t, func(tx *firestore.Transaction) error {
		missing = 0
		it := tx.Documents(s.o.Query)
		defer it.Stop()
		for {
			d, err := it.Next()
			if errors.Is(err, iterator.Done) {
				return nil
			}
			if err != nil {
				return err
			}
			if _, ok := have[d.Ref.Path]; !ok && !d.UpdateTime.After(newest) {
				missing++
			}
		}
	})
	return missing, err
}

// verifyLive checks the latest snapshot sent on checks against the query
// at its read time (see missingAt), at most once per verifyInterval (or
// ten times as long as the last check took), until ctx is done. On a
// mismatch it calls fail and returns.
func (s *stream) verifyLive(ctx context.Context, checks <-chan *firestore.QuerySnapshot, fail func()) {
	var last time.Time
	gap := verifyInterval
	for {
		var qs *firestore.QuerySnapshot
		select {
		case <-ctx.Done():
			return
		case qs = <-checks:
		}
		if wait := gap - time.Since(last); wait > 0 {
			if !retry.Sleep(ctx, wait) {
				return
			}
			select { // a newer snapshot supersedes this one
			case qs = <-checks:
			default:
			}
		}
		if s.off.Load() {
			return
		}
		last = time.Now()
		docs, err := qs.Documents.GetAll()
		var missing int
		if err == nil {
			missing, err = s.missingAt(ctx, qs.ReadTime, docs)
		}
		gap = max(verifyInterval, 10*time.Since(last))
		if err != nil {
			if err = s.unverifiable(err); err != nil && ctx.Err() == nil {
				s.o.Log.Warn("could not verify a snapshot", "err", err)
			}
			continue
		}
		if missing > 0 {
			s.o.Log.Warn("snapshot lacks documents the query returned before it; reopening the stream",
				"snapshot_documents", len(docs), "missing", missing)
			fail()
			return
		}
	}
}
