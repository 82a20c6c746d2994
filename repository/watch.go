package repository

import (
	"context"
	"errors"
	"iter"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/api/iterator"
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
}

// Watch listens to the query: it yields a first [Snapshot] with the
// current results, then one each time they change, until the loop stops
// or ctx is done. It ends with an error that wraps ErrCanceled when ctx is
// canceled, or with the error that broke the listener. The SDK reconnects
// on its own after transient network failures.
//
// A document that does not decode into T yields an ErrInvalid error (that
// snapshot is skipped) and watching goes on if the loop continues.
func (q Query[T]) Watch(ctx context.Context) iter.Seq2[*Snapshot[T], error] {
	return func(yield func(*Snapshot[T], error) bool) {
		if err := q.check(); err != nil {
			yield(nil, err)
			return
		}
		if q.limitToLast {
			yield(nil, invalid("watch", q.target, "LimitToLast queries cannot be watched (reverse the OrderBy and use Limit)"))
			return
		}
		it := q.q.Snapshots(ctx)
		defer it.Stop()
		for {
			qs, err := it.Next()
			if err != nil {
				if errors.Is(err, iterator.Done) && ctx.Err() == nil {
					return
				}
				if ctx.Err() != nil {
					err = ctx.Err()
				}
				yield(nil, wrap(err, "watch", q.target))
				return
			}
			snap, err := decodeSnapshot[T](qs)
			if !yield(snap, err) {
				return
			}
		}
	}
}

func decodeSnapshot[T any](qs *firestore.QuerySnapshot) (*Snapshot[T], error) {
	snap := &Snapshot[T]{ReadTime: qs.ReadTime, Size: qs.Size, Changes: make([]Change[T], 0, len(qs.Changes))}
	for _, c := range qs.Changes {
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
