package repository

import (
	"context"
	"fmt"
	"math"

	pb "cloud.google.com/go/firestore/apiv1/firestorepb"
)

// Aggregation is one aggregate computed by [Query.Aggregate]: [Count],
// [Sum] or [Avg], under an alias.
type Aggregation struct {
	alias string
	kind  string // "count", "sum", "avg"
	field string
}

// Count counts the query's documents.
func Count(alias string) Aggregation { return Aggregation{alias: alias, kind: "count"} }

// Sum adds up the numeric values of field (a dot-separated path) over the
// query's documents; documents where it is missing or not a number are
// skipped.
func Sum(alias, field string) Aggregation {
	return Aggregation{alias: alias, kind: "sum", field: field}
}

// Avg averages the numeric values of field over the query's documents;
// it is null when there are none.
func Avg(alias, field string) Aggregation {
	return Aggregation{alias: alias, kind: "avg", field: field}
}

// Number is the value of an aggregate. Firestore returns a count and a sum
// of integers as an integer, a sum involving doubles and an average as a
// double, and an average over no value as null.
type Number struct {
	v any // int64, float64 or nil
}

// Int64 returns the value as an integer: ok is false if it is null or a
// double that is not a whole number within int64's range.
func (n Number) Int64() (v int64, ok bool) {
	switch x := n.v.(type) {
	case int64:
		return x, true
	case float64:
		if x == math.Trunc(x) && x >= math.MinInt64 && x < math.MaxInt64 {
			return int64(x), true
		}
	}
	return 0, false
}

// Float64 returns the value as a double (an integer is converted); ok is
// false if it is null.
func (n Number) Float64() (v float64, ok bool) {
	switch x := n.v.(type) {
	case int64:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

// IsNull reports whether the aggregate has no value (Avg over no number).
func (n Number) IsNull() bool { return n.v == nil }

// IsInt reports whether Firestore returned an integer.
func (n Number) IsInt() bool {
	_, ok := n.v.(int64)
	return ok
}

func (n Number) String() string {
	if n.v == nil {
		return "null"
	}
	return fmt.Sprint(n.v)
}

// Aggregate computes several aggregates over the query in one request and
// returns them by alias.
func (q Query[T]) Aggregate(ctx context.Context, aggs ...Aggregation) (map[string]Number, error) {
	const op = "aggregate"
	if err := q.check(); err != nil {
		return nil, err
	}
	if len(aggs) == 0 {
		return nil, invalid(op, q.target, "no aggregation given (use Count, Sum or Avg)")
	}
	fq := q.q
	if q.limitToLast {
		var err error
		if fq, err = q.detached(); err != nil {
			return nil, err
		}
	}
	aq := fq.NewAggregationQuery()
	seen := map[string]bool{}
	for _, a := range aggs {
		if a.alias == "" || seen[a.alias] {
			return nil, invalid(op, q.target, "aggregation aliases must be non-empty and distinct (got %q twice or empty)", a.alias)
		}
		seen[a.alias] = true
		switch a.kind {
		case "count":
			aq = aq.WithCount(a.alias)
		case "sum":
			aq = aq.WithSum(a.field, a.alias)
		case "avg":
			aq = aq.WithAvg(a.field, a.alias)
		default:
			return nil, invalid(op, q.target, "unknown aggregation (build one with Count, Sum or Avg)")
		}
	}
	res, err := aq.Get(ctx)
	if err != nil {
		return nil, wrap(err, op, q.target)
	}
	out := make(map[string]Number, len(aggs))
	for _, a := range aggs {
		raw, ok := res[a.alias]
		if !ok {
			return nil, errInternal(op, q.target, "aggregation %q missing from the response", a.alias)
		}
		pv, ok := raw.(*pb.Value)
		if !ok {
			return nil, errInternal(op, q.target, "aggregation %q has unexpected type %T", a.alias, raw)
		}
		switch v := pv.GetValueType().(type) {
		case *pb.Value_IntegerValue:
			out[a.alias] = Number{v.IntegerValue}
		case *pb.Value_DoubleValue:
			out[a.alias] = Number{v.DoubleValue}
		case *pb.Value_NullValue:
			out[a.alias] = Number{}
		default:
			return nil, errInternal(op, q.target, "aggregation %q has unexpected value type %T", a.alias, v)
		}
	}
	return out, nil
}

// Count returns the number of documents the query matches, counted by the
// server without reading them.
func (q Query[T]) Count(ctx context.Context) (int64, error) {
	res, err := q.Aggregate(ctx, Count("count"))
	if err != nil {
		return 0, err
	}
	n, _ := res["count"].Int64()
	return n, nil
}

// Sum returns the sum of field over the query's documents.
func (q Query[T]) Sum(ctx context.Context, field string) (Number, error) {
	res, err := q.Aggregate(ctx, Sum("sum", field))
	if err != nil {
		return Number{}, err
	}
	return res["sum"], nil
}

// Avg returns the average of field over the query's documents (null if no
// document has a number there).
func (q Query[T]) Avg(ctx context.Context, field string) (Number, error) {
	res, err := q.Aggregate(ctx, Avg("avg", field))
	if err != nil {
		return Number{}, err
	}
	return res["avg"], nil
}
