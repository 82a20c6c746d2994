package repository_test

import (
	"errors"
	"testing"
	"time"

	"cloud.google.com/go/firestore"
	"github.com/fbadmin/fbadmin/repository"
)

// queryFixture: six items, IDs i00..i05.
var queryFixture = []item{
	{Name: "ant", N: 1, Group: "a", Tags: []string{"red"}},
	{Name: "bee", N: 2, Group: "a", Tags: []string{"red", "blue"}},
	{Name: "cat", N: 3, Group: "b", Tags: []string{"blue"}},
	{Name: "dog", N: 4, Group: "b"},
	{Name: "eel", N: 5, Group: "c", Tags: []string{"green"}},
	{Name: "fox", N: 6}, // no group
}

func TestWhereOperators(t *testing.T) {
	t.Parallel()
	r, fs := newItems(t)
	seed(t, fs.Client, "items", queryFixture...)
	ctx := testCtx(t)
	q := r.Query()
	cases := []struct {
		name string
		q    repository.Query[item]
		want []string
	}{
		{"==", q.Where("group", "==", "a"), []string{"i00", "i01"}},
		{"!=", q.Where("group", "!=", "a"), []string{"i02", "i03", "i04"}}, // missing fields never match
		{"<", q.Where("n", "<", 3), []string{"i00", "i01"}},
		{"<=", q.Where("n", "<=", 3), []string{"i00", "i01", "i02"}},
		{">", q.Where("n", ">", 4), []string{"i04", "i05"}},
		{">=", q.Where("n", ">=", 4), []string{"i03", "i04", "i05"}},
		{"in", q.Where("name", "in", []string{"cat", "fox", "yak"}), []string{"i02", "i05"}},
		{"not-in", q.Where("group", "not-in", []string{"a", "b"}), []string{"i04"}},
		{"array-contains", q.Where("tags", "array-contains", "blue"), []string{"i01", "i02"}},
		{"array-contains-any", q.Where("tags", "array-contains-any", []string{"green", "red"}), []string{"i00", "i01", "i04"}},
		{"path", q.WherePath(firestore.FieldPath{"name"}, "==", "eel"), []string{"i04"}},
		{"and", q.Where("group", "==", "b").Where("n", ">", 3), []string{"i03"}},
	}
	for _, c := range cases {
		docs, err := c.q.GetAll(ctx)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		wantIDs(t, c.name, ids(docs), c.want)
	}
}

func TestCompositeFilters(t *testing.T) {
	t.Parallel()
	r, fs := newItems(t)
	seed(t, fs.Client, "items", queryFixture...)
	ctx := testCtx(t)
	or := firestore.OrFilter{Filters: []firestore.EntityFilter{
		firestore.PropertyFilter{Path: "group", Operator: "==", Value: "c"},
		firestore.AndFilter{Filters: []firestore.EntityFilter{
			firestore.PropertyFilter{Path: "group", Operator: "==", Value: "a"},
			firestore.PropertyFilter{Path: "n", Operator: ">", Value: 1},
		}},
		firestore.PropertyFilter{Path: "name", Operator: "==", Value: "fox"},
	}}
	docs, err := r.Query().WhereFilter(or).GetAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantIDs(t, "or(and)", ids(docs), []string{"i01", "i04", "i05"})

	and := firestore.AndFilter{Filters: []firestore.EntityFilter{
		firestore.PropertyFilter{Path: "n", Operator: ">=", Value: 2},
		firestore.OrFilter{Filters: []firestore.EntityFilter{
			firestore.PropertyFilter{Path: "tags", Operator: "array-contains", Value: "blue"},
			firestore.PropertyFilter{Path: "group", Operator: "==", Value: "c"},
		}},
	}}
	docs, err = r.Query().WhereFilter(and).OrderBy("n", firestore.Desc).GetAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantIDs(t, "and(or)", ids(docs), []string{"i04", "i02", "i01"})
}

func TestOrderLimitCursorsSelect(t *testing.T) {
	t.Parallel()
	r, fs := newItems(t)
	seed(t, fs.Client, "items", queryFixture...)
	ctx := testCtx(t)
	q := r.Query().OrderBy("n", firestore.Desc)
	cases := []struct {
		name string
		q    repository.Query[item]
		want []string
	}{
		{"order desc", q, []string{"i05", "i04", "i03", "i02", "i01", "i00"}},
		{"order by ID", r.Query().OrderBy(firestore.DocumentID, firestore.Asc).Limit(2), []string{"i00", "i01"}},
		{"limit", q.Limit(2), []string{"i05", "i04"}},
		{"limit to last", q.LimitToLast(2), []string{"i01", "i00"}},
		{"limit after limit to last", q.LimitToLast(2).Limit(1), []string{"i05"}},
		{"offset", q.Offset(4), []string{"i01", "i00"}},
		{"start at", q.StartAt(4), []string{"i03", "i02", "i01", "i00"}},
		{"start after", q.StartAfter(4), []string{"i02", "i01", "i00"}},
		{"end at", q.EndAt(4), []string{"i05", "i04", "i03"}},
		{"end before", q.EndBefore(4), []string{"i05", "i04"}},
		{"range", q.StartAfter(5).EndAt(2), []string{"i03", "i02", "i01"}},
		{"ID cursor", r.Query().OrderBy(firestore.DocumentID, firestore.Asc).StartAfter("i03"), []string{"i04", "i05"}},
		{"two orders", r.Query().Where("group", ">", "").OrderBy("group", firestore.Asc).OrderBy("n", firestore.Desc),
			[]string{"i01", "i00", "i03", "i02", "i04"}},
	}
	for _, c := range cases {
		docs, err := c.q.GetAll(ctx)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		wantIDs(t, c.name, ids(docs), c.want)
	}

	// Select reads only some fields; the others are zero.
	docs, err := r.Query().Select("name").Where("group", "==", "a").GetAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 2 || docs[0].Data.Name != "ant" || docs[0].Data.N != 0 || docs[0].Data.Tags != nil || docs[1].ID != "i01" {
		t.Errorf("select: %v %+v", ids(docs), docs)
	}
	// The fields the query is ordered by are read too (to resume from a
	// document), the others stay zero.
	docs, err = r.Query().Select("name").OrderBy("n", firestore.Desc).Limit(2).GetAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 2 || docs[0].Data.Name != "fox" || docs[0].Data.N != 6 || docs[1].Data.Group != "" || docs[1].ID != "i04" {
		t.Errorf("select with order: %v %+v", ids(docs), docs)
	}
	// Select() reads IDs only.
	docs, err = r.Query().Select().GetAll(ctx)
	if err != nil || len(docs) != 6 || docs[0].Data.Name != "" || docs[0].ID != "i00" {
		t.Errorf("select IDs: %v %+v", err, docs)
	}

	// LimitToLast needs an order.
	if _, err := r.Query().LimitToLast(1).GetAll(ctx); !errors.Is(err, repository.ErrInvalid) {
		t.Errorf("LimitToLast without OrderBy: got %v, want ErrInvalid", err)
	}
}

func TestAtReadTime(t *testing.T) {
	t.Parallel()
	r, _ := newItems(t)
	ctx := testCtx(t)
	wr, err := r.Create(ctx, "a", item{Name: "old"})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond)
	if _, err := r.Set(ctx, "a", item{Name: "new"}); err != nil {
		t.Fatal(err)
	}
	docs, err := r.Query().AtReadTime(wr.UpdateTime).GetAll(ctx)
	if err != nil || len(docs) != 1 || docs[0].Data.Name != "old" {
		t.Errorf("read at the first update time: %v %+v, want the old value", err, docs)
	}
}

func TestAllIterator(t *testing.T) {
	t.Parallel()
	r, fs := newItems(t)
	seed(t, fs.Client, "items", queryFixture...)
	ctx := testCtx(t)
	var got []string
	for d, err := range r.Query().OrderBy("n", firestore.Asc).All(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, d.ID)
		if len(got) == 3 {
			break // stopping early is fine
		}
	}
	wantIDs(t, "break after 3", got, []string{"i00", "i01", "i02"})

	// A document that does not decode yields an error; the loop may go on.
	if _, err := fs.Client.Collection("items").Doc("i03").Set(ctx, map[string]any{"name": 12, "n": 4}); err != nil {
		t.Fatal(err)
	}
	got = nil
	var bad []error
	for d, err := range r.Query().All(ctx) {
		if err != nil {
			bad = append(bad, err)
			continue
		}
		got = append(got, d.ID)
	}
	wantIDs(t, "with a bad document", got, []string{"i00", "i01", "i02", "i04", "i05"})
	if len(bad) != 1 || !errors.Is(bad[0], repository.ErrInvalid) {
		t.Errorf("decode errors = %v, want one ErrInvalid", bad)
	}
	if _, err := r.Query().GetAll(ctx); !errors.Is(err, repository.ErrInvalid) {
		t.Errorf("GetAll with a bad document: got %v, want ErrInvalid", err)
	}
}
