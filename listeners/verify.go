package listeners

import (
	"context"
	"errors"
	"os"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/fbadmin/fbadmin/internal/errs"
)

// Verify chooses how far the engine checks a stream's snapshots against
// the query itself.
//
// Why: on the gcloud Firestore emulator, a listen stream under concurrent
// writes can send a document change just before a RESET of its target and
// then leave that document out of the state it sends after the RESET. The
// Go SDK follows the protocol (a RESET discards what came before it), so
// its snapshot lacks a document that exists: a first snapshot misses it, a
// live stream reports it removed, and the stream never reports the
// document's later deletion. See docs/listen.md, "Verified streams".
type Verify string

const (
	// VerifyAuto checks every first snapshot (one count aggregation per
	// stream opened) and, when FIRESTORE_EMULATOR_HOST is set, live
	// snapshots too, as VerifyAlways does. The default.
	VerifyAuto Verify = "auto"
	// VerifyAlways also checks live snapshots: removals are confirmed
	// against the query at the snapshot's read time before they are
	// emitted, and the size of the latest snapshot is compared with a
	// count at its read time at most once a second.
	VerifyAlways Verify = "always"
	// VerifyFirst checks first snapshots only.
	VerifyFirst Verify = "first"
	// VerifyNever checks nothing.
	VerifyNever Verify = "never"
)

// errInconsistent ends a stream whose snapshot is not the query's result at
// the snapshot's read time. The stream is reopened at once and its first
// snapshot diffed against what was emitted, so nothing is lost.
var errInconsistent = errors.New("snapshot differs from the query's result at its read time")

// verifyInterval is the least time between two live-snapshot counts.
const verifyInterval = time.Second

func (v Verify) live() bool {
	switch v {
	case VerifyAlways:
		return true
	case VerifyAuto:
		return os.Getenv("FIRESTORE_EMULATOR_HOST") != ""
	}
	return false
}

func (v Verify) first() bool { return v != VerifyNever }

// atReadTime runs f in a read-only transaction reading at t.
func (l *listener) atReadTime(ctx context.Context, t time.Time, f func(tx *firestore.Transaction) error) error {
	return l.client.RunTransaction(ctx, func(_ context.Context, tx *firestore.Transaction) error {
		return f(tx)
	}, firestore.ReadOnly, firestore.TransactionReadTime(t.Truncate(time.Microsecond)))
}

// countAt counts the query's documents at read time t.
func (l *listener) countAt(ctx context.Context, t time.Time) (int64, error) {
	var n int64
	err := l.atReadTime(ctx, t, func(tx *firestore.Transaction) error {
		q := l.spec.Query(l.client)
		res, err := q.NewAggregationQuery().WithCount("n").Transaction(tx).Get(ctx)
		if err != nil {
			return err
		}
		n, err = countValue(res["n"])
		return err
	})
	if err != nil {
		return 0, errs.Wrap(err, "verify snapshot", l.spec.Name)
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

// matchingAt reports which of paths the query returns at read time t: a
// document that a snapshot reports removed but that is still in the
// query's result was not removed.
func (l *listener) matchingAt(ctx context.Context, t time.Time, paths []string) (map[string]bool, error) {
	out := map[string]bool{}
	err := l.atReadTime(ctx, t, func(tx *firestore.Transaction) error {
		clear(out)
		// 30 is the most values a Firestore "in" filter takes.
		for start := 0; start < len(paths); start += 30 {
			chunk := paths[start:min(start+30, len(paths))]
			refs := make([]*firestore.DocumentRef, len(chunk))
			for i, p := range chunk {
				refs[i] = l.client.Doc(p)
			}
			docs, err := tx.Documents(l.spec.Query(l.client).Where(firestore.DocumentID, "in", refs)).GetAll()
			if err != nil {
				return err
			}
			for _, d := range docs {
				out[relPath(d.Ref.Path)] = true
			}
		}
		return nil
	})
	if err != nil {
		return nil, errs.Wrap(err, "confirm removals", l.spec.Name)
	}
	return out, nil
}

// sizeCheck is the size of a live snapshot, to be compared with a count at
// its read time.
type sizeCheck struct {
	readTime time.Time
	size     int
}

// verifyLive compares the latest snapshot sizes sent on checks with counts
// at their read times, at most once per verifyInterval, until ctx is done.
// On a mismatch it calls fail and returns.
func (l *listener) verifyLive(ctx context.Context, checks <-chan sizeCheck, fail func()) {
	var last time.Time
	for {
		var c sizeCheck
		select {
		case <-ctx.Done():
			return
		case c = <-checks:
		}
		if wait := verifyInterval - time.Since(last); wait > 0 {
			if !SleepContext(ctx, wait) {
				return
			}
			// A newer snapshot supersedes this one.
			select {
			case c = <-checks:
			default:
			}
		}
		last = time.Now()
		n, err := l.countAt(ctx, c.readTime)
		if err != nil {
			if ctx.Err() == nil {
				l.log.Warn("could not verify a snapshot", "err", err)
			}
			continue
		}
		if n != int64(c.size) {
			l.log.Warn("snapshot differs from the query at its read time; reopening the stream",
				"snapshot_documents", c.size, "query_documents", n)
			fail()
			return
		}
	}
}
