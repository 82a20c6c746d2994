package repository_test

import (
	"errors"
	"testing"

	"cloud.google.com/go/firestore"
	"github.com/fbadmin/fbadmin/repository"
)

func TestAggregations(t *testing.T) {
	t.Parallel()
	r, fs := newItems(t)
	seed(t, fs.Client, "items", queryFixture...)
	ctx := testCtx(t)
	if _, err := fs.Client.Collection("items").Doc("f").Set(ctx, map[string]any{"name": "float", "n": 0.5, "group": "f"}); err != nil {
		t.Fatal(err)
	}

	n, err := r.Query().Count(ctx)
	if err != nil || n != 7 {
		t.Errorf("count = %d, %v; want 7", n, err)
	}
	n, err = r.Query().Where("group", "in", []string{"a", "b"}).Count(ctx)
	if err != nil || n != 4 {
		t.Errorf("filtered count = %d, %v; want 4", n, err)
	}

	// Integers sum to an integer.
	s, err := r.Query().Where("group", "==", "b").Sum(ctx, "n")
	if i, ok := s.Int64(); err != nil || !ok || i != 7 || !s.IsInt() {
		t.Errorf("sum = %v, %v; want integer 7", s, err)
	}
	// With a double, the sum is a double.
	s, err = r.Query().Sum(ctx, "n")
	if f, ok := s.Float64(); err != nil || !ok || f != 21.5 || s.IsInt() {
		t.Errorf("sum with a double = %v, %v; want 21.5", s, err)
	}

	a, err := r.Query().Where("group", "==", "a").Avg(ctx, "n")
	if f, ok := a.Float64(); err != nil || !ok || f != 1.5 {
		t.Errorf("avg = %v, %v; want 1.5", a, err)
	}
	a, err = r.Query().Where("group", "==", "none").Avg(ctx, "n")
	if err != nil || !a.IsNull() {
		t.Errorf("avg over nothing = %v, %v; want null", a, err)
	}
	if _, ok := a.Float64(); ok {
		t.Error("Float64 of null reports ok")
	}

	res, err := r.Query().OrderBy("n", firestore.Asc).LimitToLast(3).Aggregate(ctx,
		repository.Count("count"), repository.Sum("total", "n"), repository.Avg("mean", "n"))
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := res["count"].Int64(); c != 3 {
		t.Errorf("combined count = %v, want 3", res["count"])
	}
	if tot, _ := res["total"].Int64(); tot != 15 {
		t.Errorf("combined sum = %v, want 15 (4+5+6)", res["total"])
	}
	if m, _ := res["mean"].Float64(); m != 5 {
		t.Errorf("combined avg = %v, want 5", res["mean"])
	}

	for name, aggs := range map[string][]repository.Aggregation{
		"none":          nil,
		"duplicate":     {repository.Count("x"), repository.Sum("x", "n")},
		"empty alias":   {repository.Count("")},
		"zero value":    {{}},
		"invalid field": {repository.Sum("s", "a..b")},
	} {
		if _, err := r.Query().Aggregate(ctx, aggs...); !errors.Is(err, repository.ErrInvalid) {
			t.Errorf("%s: got %v, want ErrInvalid", name, err)
		}
	}
}
