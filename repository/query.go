package repository

import (
	"context"
	"errors"
	"iter"
	"time"

	"cloud.google.com/go/firestore"
	pb "cloud.google.com/go/firestore/apiv1/firestorepb"
	"google.golang.org/api/iterator"
	"google.golang.org/protobuf/proto"

	"github.com/fbadmin/fbadmin/internal/docpath"
	"github.com/fbadmin/fbadmin/internal/retry"
)

// Query is a typed, immutable Firestore query: each method returns a new
// Query. Build one from [Repository.Query] or [Group], narrow it, and run
// it with [Query.All], [Query.GetAll], [Query.Page], the aggregations or
// [Query.Watch].
//
// Operators of Where are those of the SDK: "==", "!=", "<", "<=", ">",
// ">=", "in", "not-in", "array-contains", "array-contains-any". OR and
// nested AND conditions go through [Query.WhereFilter] with
// [firestore.OrFilter], [firestore.AndFilter] and [firestore.PropertyFilter].
type Query[T any] struct {
	q           firestore.Query
	client      *firestore.Client
	cfg         *config
	target      string // collection path or "group ID" for messages
	limitToLast bool
	limited     bool // Limit was called: live verification does not apply
	readTime    time.Time
	err         error
}

// Group returns a query over every collection of the database whose ID is
// collectionID, wherever it is nested: Group[Comment](client, "comments")
// reads the comments of every post. Results carry each document's full path.
func Group[T any](client *firestore.Client, collectionID string, opts ...Option) Query[T] {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	target := "collection group " + collectionID
	if client == nil {
		return Query[T]{err: invalid("group", target, "nil Firestore client")}
	}
	if err := docpath.CheckID(collectionID); err != nil {
		return Query[T]{err: pathError("group", err)}
	}
	return Query[T]{q: client.CollectionGroup(collectionID).Query, client: client, cfg: &cfg, target: target}
}

// check returns the query's construction error, if any.
func (q Query[T]) check() error {
	if q.err == nil && q.cfg == nil {
		return invalid("query", "", "uninitialized Query (start one with Repository.Query or Group)")
	}
	return q.err
}

// Raw returns the SDK query, for features this package does not wrap.
func (q Query[T]) Raw() firestore.Query { return q.q }

func (q Query[T]) with(fq firestore.Query) Query[T] {
	q.q = fq
	return q
}

// Where filters on a field: path is a dot-separated field path ("a.b"),
// op one of the operators listed on [Query].
func (q Query[T]) Where(path, op string, value any) Query[T] {
	return q.with(q.q.Where(path, op, value))
}

// WherePath is Where with a [firestore.FieldPath], for field names that
// contain dots or other special characters.
func (q Query[T]) WherePath(fp firestore.FieldPath, op string, value any) Query[T] {
	return q.with(q.q.WherePath(fp, op, value))
}

// WhereFilter adds a filter built from [firestore.PropertyFilter],
// [firestore.OrFilter] and [firestore.AndFilter], which nest:
//
//	q.WhereFilter(firestore.OrFilter{Filters: []firestore.EntityFilter{
//		firestore.PropertyFilter{Path: "role", Operator: "==", Value: "admin"},
//		firestore.PropertyFilter{Path: "age", Operator: ">=", Value: 65},
//	}})
//
// Successive filters are ANDed.
func (q Query[T]) WhereFilter(f firestore.EntityFilter) Query[T] {
	return q.with(q.q.WhereEntity(f))
}

// OrderBy sorts by a field ([firestore.DocumentID] sorts by document ID).
func (q Query[T]) OrderBy(path string, dir firestore.Direction) Query[T] {
	return q.with(q.q.OrderBy(path, dir))
}

// OrderByPath is OrderBy with a [firestore.FieldPath].
func (q Query[T]) OrderByPath(fp firestore.FieldPath, dir firestore.Direction) Query[T] {
	return q.with(q.q.OrderByPath(fp, dir))
}

// Limit returns at most n documents, the first ones in order.
func (q Query[T]) Limit(n int) Query[T] {
	q = q.with(q.q.Limit(n))
	q.limitToLast = false
	q.limited = n > 0
	return q
}

// LimitToLast returns the last n documents in order; it needs an OrderBy.
// Such queries are read whole (they cannot stream nor be paged), which is
// fine for the small n they are meant for.
func (q Query[T]) LimitToLast(n int) Query[T] {
	q = q.with(q.q.LimitToLast(n))
	q.limitToLast = true
	return q
}

// Offset skips the first n results. Firestore still reads (and bills) the
// skipped documents: prefer [Query.Page] for pagination.
func (q Query[T]) Offset(n int) Query[T] { return q.with(q.q.Offset(n)) }

// StartAt, StartAfter, EndAt and EndBefore bound the query with cursor
// values, one per OrderBy field in order (a document ID for
// [firestore.DocumentID]), as in the SDK.
func (q Query[T]) StartAt(values ...any) Query[T] { return q.with(q.q.StartAt(values...)) }

// StartAfter: see [Query.StartAt].
func (q Query[T]) StartAfter(values ...any) Query[T] { return q.with(q.q.StartAfter(values...)) }

// EndAt: see [Query.StartAt].
func (q Query[T]) EndAt(values ...any) Query[T] { return q.with(q.q.EndAt(values...)) }

// EndBefore: see [Query.StartAt].
func (q Query[T]) EndBefore(values ...any) Query[T] { return q.with(q.q.EndBefore(values...)) }

// Select reads only the given fields (a projection); the other fields of T
// keep their zero value. Select() with no field reads document IDs only.
// [Query.All] and [Query.Page] also read the fields the query is ordered
// by, which they need to resume after a document.
func (q Query[T]) Select(paths ...string) Query[T] { return q.with(q.q.Select(paths...)) }

// SelectPaths is Select with [firestore.FieldPath] values.
func (q Query[T]) SelectPaths(fps ...firestore.FieldPath) Query[T] {
	return q.with(q.q.SelectPaths(fps...))
}

// AtReadTime reads the data as it was at t (within the database's
// retention window, one hour by default).
func (q Query[T]) AtReadTime(t time.Time) Query[T] {
	q = q.with(*q.q.WithReadOptions(firestore.ReadTime(t)))
	q.readTime = t
	return q
}

// detached returns a copy of a LimitToLast query that shares no state with
// q. The SDK runs such a query by reversing its orderings in place, in a
// slice that copies of the query share: running q itself would change q
// and every query built from it.
func (q Query[T]) detached() (firestore.Query, error) {
	sq, err := structured(q.q)
	if err != nil {
		return q.q, wrap(err, "query", q.target)
	}
	if len(sq.GetOrderBy()) == 0 {
		return q.q, invalid("query", q.target, "LimitToLast needs an OrderBy")
	}
	b, err := q.q.Serialize()
	if err != nil {
		return q.q, wrap(err, "query", q.target)
	}
	fq, err := q.q.Deserialize(b)
	if err != nil {
		return q.q, wrap(err, "query", q.target)
	}
	fq = fq.LimitToLast(int(sq.GetLimit().GetValue()))
	if !q.readTime.IsZero() {
		fq = *fq.WithReadOptions(firestore.ReadTime(q.readTime))
	}
	return fq, nil
}

// GetAll runs the query and returns all its documents.
func (q Query[T]) GetAll(ctx context.Context) ([]*Doc[T], error) {
	if err := q.check(); err != nil {
		return nil, err
	}
	var out []*Doc[T]
	for d, err := range q.All(ctx) {
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// All runs the query as one stream and yields its documents in order, each
// decoded into a fresh T. Use it in a range loop:
//
//	for d, err := range q.All(ctx) {
//		if err != nil {
//			return err
//		}
//		...
//	}
//
// When the stream fails with a transient error (Unavailable, a server-side
// timeout, ...) All restarts the query after the last document it yielded,
// with an exponential back-off, up to [WithStreamRetries] times in a row;
// limits and offsets are adjusted, so no document is yielded twice or
// skipped. A query without OrderBy is in document-ID order, which resuming
// keeps.
//
// A document that does not decode into T yields an ErrInvalid error and
// the iteration goes on if the loop continues. Any other error ends it.
func (q Query[T]) All(ctx context.Context) iter.Seq2[*Doc[T], error] {
	return func(yield func(*Doc[T], error) bool) {
		if err := q.check(); err != nil {
			yield(nil, err)
			return
		}
		if q.limitToLast {
			q.allLimitToLast(ctx, yield)
			return
		}
		q.stream(ctx, yield)
	}
}

func (q Query[T]) allLimitToLast(ctx context.Context, yield func(*Doc[T], error) bool) {
	fq, err := q.detached()
	if err != nil {
		yield(nil, err)
		return
	}
	snaps, err := fq.Documents(ctx).GetAll()
	if err != nil {
		yield(nil, wrap(err, "query", q.target))
		return
	}
	for _, s := range snaps {
		d, err := decode[T](s)
		if !yield(d, err) {
			return
		}
	}
}

func (q Query[T]) stream(ctx context.Context, yield func(*Doc[T], error) bool) {
	base := q.q
	fault := q.cfg.streamFault
	if q.cfg.streamRetries > 0 {
		// Resuming after a document needs its order-by values: a
		// projection must include the order-by fields.
		var err error
		if base, err = withOrderFieldsSelected(base); err != nil {
			yield(nil, wrap(err, "query", q.target))
			return
		}
	}
	var (
		run     = base
		last    *firestore.DocumentSnapshot
		yielded int // documents consumed, over all streams
		retries int // failures since the last document received
	)
	for {
		it := run.Documents(ctx)
		var streamErr error
		for {
			var s *firestore.DocumentSnapshot
			var err error
			if fault != nil {
				err = fault(yielded)
			}
			if err == nil {
				s, err = it.Next()
			}
			if errors.Is(err, iterator.Done) {
				it.Stop()
				return
			}
			if err != nil {
				streamErr = err
				break
			}
			retries = 0
			last = s
			yielded++
			if !yield(decode[T](s)) {
				it.Stop()
				return
			}
		}
		it.Stop()
		if !retry.Transient(streamErr) || retries >= q.cfg.streamRetries || ctx.Err() != nil {
			yield(nil, wrap(streamErr, "query", q.target))
			return
		}
		retries++
		if err := retry.Wait(ctx, retry.Backoff(q.cfg.retryBase, 5*time.Second, retries-1)); err != nil {
			yield(nil, wrap(err, "query", q.target))
			return
		}
		next, done, err := resumeQuery(base, last, yielded)
		if err != nil {
			yield(nil, wrap(err, "query", q.target))
			return
		}
		if done {
			return
		}
		run = next
	}
}

// resumeQuery returns the query that reads what base has not yielded yet,
// after yielded documents, last being the last one; done reports that
// base's limit has been reached.
func resumeQuery(base firestore.Query, last *firestore.DocumentSnapshot, yielded int) (next firestore.Query, done bool, err error) {
	if yielded == 0 {
		return base, false, nil // nothing consumed: run it again as it was
	}
	sq, err := structured(base)
	if err != nil {
		return base, false, err
	}
	next = base
	if sq.GetOffset() > 0 {
		next = next.Offset(0) // the first stream skipped the offset
	}
	if l := sq.GetLimit(); l != nil {
		remaining := int(l.GetValue()) - yielded
		if remaining <= 0 {
			return base, true, nil
		}
		next = next.Limit(remaining)
	}
	return next.StartAfter(last), false, nil
}

// structured returns the query's wire form.
func structured(q firestore.Query) (*pb.StructuredQuery, error) {
	b, err := q.Serialize()
	if err != nil {
		return nil, err
	}
	var req pb.RunQueryRequest
	if err := proto.Unmarshal(b, &req); err != nil {
		return nil, err
	}
	return req.GetStructuredQuery(), nil
}

// sleep waits d or until ctx is done.
