package repository_test

import (
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"cloud.google.com/go/firestore"
	"github.com/fbadmin/fbadmin/internal/emutest"
	"github.com/fbadmin/fbadmin/repository"
	"google.golang.org/genproto/googleapis/type/latlng"
)

// pageAll reads every page of the query built by mk, building a new
// repository for each page, with a new client if newClient, as another
// process would.
func pageAll[T any](t *testing.T, fs *emutest.Firestore, newClient bool, mk func(c *firestore.Client) repository.Query[T], size int) (got []string, pages int) {
	t.Helper()
	ctx := testCtx(t)
	token := ""
	for {
		c := fs.Client
		if newClient {
			c = fs.NewClient(t, "")
		}
		p, err := mk(c).Page(ctx, size, token)
		if err != nil {
			t.Fatalf("page %d: %v", pages, err)
		}
		pages++
		if len(p.Docs) > size {
			t.Fatalf("page %d has %d documents, more than %d", pages, len(p.Docs), size)
		}
		got = append(got, ids(p.Docs)...)
		if len(p.Cursors) != len(p.Docs) {
			t.Fatalf("page %d: %d cursors for %d documents", pages, len(p.Cursors), len(p.Docs))
		}
		if p.Next != "" && p.Cursors[len(p.Cursors)-1] != p.Next {
			t.Fatalf("page %d: the last edge cursor is not the next-page token", pages)
		}
		if len(p.Docs) > 1 {
			// Resuming after the first edge gives the rest of this page.
			rest, err := mk(c).Page(ctx, len(p.Docs)-1, p.Cursors[0])
			if err != nil {
				t.Fatalf("page %d: resume after the first edge: %v", pages, err)
			}
			if !slices.Equal(ids(rest.Docs), ids(p.Docs[1:])) {
				t.Fatalf("page %d: after the first edge got %v, want %v", pages, ids(rest.Docs), ids(p.Docs[1:]))
			}
		}
		if p.Next == "" {
			return got, pages
		}
		if pages > 1000 {
			t.Fatal("pagination does not end")
		}
		token = p.Next
	}
}

func TestPageAcrossInstances(t *testing.T) {
	t.Parallel()
	fs := emutest.NewFirestore(t)
	var items []item
	for i := range 25 {
		items = append(items, item{Name: fmt.Sprintf("n%02d", i), N: int64(i % 4), Group: []string{"a", "b"}[i%2]})
	}
	all := seed(t, fs.Client, "items", items...)

	cases := []struct {
		name string
		mk   func(r *repository.Repository[item]) repository.Query[item]
		want func() []string
		size int
	}{
		{"no order", func(r *repository.Repository[item]) repository.Query[item] { return r.Query() },
			func() []string { return all }, 7},
		{"order with ties, desc", func(r *repository.Repository[item]) repository.Query[item] {
			return r.Query().OrderBy("n", firestore.Desc)
		}, func() []string {
			// n desc, then ID desc (Firestore's implicit tie-break).
			out := slices.Clone(all)
			slices.SortFunc(out, func(a, b string) int {
				na, nb := items[idx(a)].N, items[idx(b)].N
				if na != nb {
					return int(nb - na)
				}
				return -cmpStr(a, b)
			})
			return out
		}, 4},
		{"inequality, implicit order", func(r *repository.Repository[item]) repository.Query[item] {
			return r.Query().Where("n", ">", 1)
		}, func() []string {
			var out []string
			for _, n := range []int64{2, 3} {
				for i, it := range items {
					if it.N == n {
						out = append(out, all[i])
					}
				}
			}
			return out
		}, 3},
		{"IDs only, inequality on the ID", func(r *repository.Repository[item]) repository.Query[item] {
			return r.Query().Select().Where(firestore.DocumentID, ">=", r.Ref("i10"))
		}, func() []string { return all[10:] }, 6},
		{"limit and offset", func(r *repository.Repository[item]) repository.Query[item] {
			return r.Query().Where("group", "==", "a").Offset(2).Limit(8)
		}, func() []string {
			var out []string
			for i, it := range items {
				if it.Group == "a" {
					out = append(out, all[i])
				}
			}
			return out[2:10]
		}, 3},
		{"select without the order field", func(r *repository.Repository[item]) repository.Query[item] {
			return r.Query().Select("name").OrderBy("n", firestore.Asc).OrderBy("name", firestore.Desc)
		}, func() []string {
			out := slices.Clone(all)
			slices.SortFunc(out, func(a, b string) int {
				na, nb := items[idx(a)].N, items[idx(b)].N
				if na != nb {
					return int(na - nb)
				}
				return -cmpStr(items[idx(a)].Name, items[idx(b)].Name)
			})
			return out
		}, 5},
	}
	for _, c := range cases {
		got, pages := pageAll(t, fs, true, func(cl *firestore.Client) repository.Query[item] {
			return c.mk(repository.New[item](cl, "items"))
		}, c.size)
		want := c.want()
		wantIDs(t, c.name, got, want)
		if wantPages := (len(want) + c.size - 1) / c.size; pages != max(wantPages, 1) {
			t.Errorf("%s: %d pages, want %d", c.name, pages, wantPages)
		}
	}
}

func idx(id string) int {
	var i int
	fmt.Sscanf(id, "i%d", &i)
	return i
}

func cmpStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// TestPageEveryValueType pages one document at a time through a field that
// holds every Firestore type, so each token's cursor carries a different
// type: any loss in the token would skip or repeat documents.
func TestPageEveryValueType(t *testing.T) {
	t.Parallel()
	fs := emutest.NewFirestore(t)
	ctx := testCtx(t)
	ts := time.Date(2024, 1, 2, 3, 4, 5, 123456000, time.UTC)
	values := []any{
		nil, false, true,
		math.NaN(), math.Inf(-1), int64(math.MinInt64), -1.5, math.Copysign(0, -1), int64(0), int64(1), 1.0000000000000002,
		int64(math.MaxInt64), math.Inf(1),
		ts, ts.Add(time.Microsecond),
		"", "a", "a\x00b", "é",
		[]byte{}, []byte{0, 1}, []byte{0, 1, 0},
		fs.Client.Doc("x/a"), fs.Client.Doc("x/a/y/b"),
		&latlng.LatLng{Latitude: -10, Longitude: 5}, &latlng.LatLng{Latitude: 48.85, Longitude: 2.35},
		[]any{int64(1), "x"}, []any{int64(1), "y", []byte{2}},
		map[string]any{"k": int64(1)}, map[string]any{"k": int64(1), "l": map[string]any{"m": nil}},
		firestore.Vector64{1, 2.5},
	}
	// Two documents per value (a tie) to exercise the document-name part.
	coll := fs.Client.Collection("vals")
	for i, v := range values {
		for j := range 2 {
			if _, err := coll.Doc(fmt.Sprintf("v%02d%d", i, j)).Set(ctx, map[string]any{"v": v, "i": int64(i)}); err != nil {
				t.Fatalf("value %d (%T): %v", i, v, err)
			}
		}
	}
	for _, dir := range []firestore.Direction{firestore.Asc, firestore.Desc} {
		mk := func(c *firestore.Client) repository.Query[map[string]any] {
			return repository.New[map[string]any](c, "vals").Query().OrderBy("v", dir)
		}
		want, err := mk(fs.Client).GetAll(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(want) != 2*len(values) {
			t.Fatalf("query returned %d documents, want %d", len(want), 2*len(values))
		}
		got, _ := pageAll(t, fs, false, mk, 1)
		wantIDs(t, fmt.Sprintf("one per page, direction %v", dir), got, ids(want))
	}
}

func TestPageTokenChecks(t *testing.T) {
	t.Parallel()
	r, fs := newItems(t)
	seed(t, fs.Client, "items", queryFixture...)
	ctx := testCtx(t)
	q := r.Query().OrderBy("n", firestore.Asc)
	p, err := q.Page(ctx, 2, "")
	if err != nil || p.Next == "" {
		t.Fatalf("first page: %v, %+v", err, p)
	}
	other := repository.New[item](fs.Client, "other")
	invalid := map[string]func() error{
		"other filter": func() error { _, err := q.Where("n", ">", 0).Page(ctx, 2, p.Next); return err },
		"other order":  func() error { _, err := r.Query().OrderBy("n", firestore.Desc).Page(ctx, 2, p.Next); return err },
		"other collection": func() error {
			_, err := other.Query().OrderBy("n", firestore.Asc).Page(ctx, 2, p.Next)
			return err
		},
		"other project": func() error {
			fs2 := emutest.NewFirestore(t)
			_, err := repository.New[item](fs2.Client, "items").Query().OrderBy("n", firestore.Asc).Page(ctx, 2, p.Next)
			return err
		},
		"garbage":   func() error { _, err := q.Page(ctx, 2, "not a token!"); return err },
		"not json":  func() error { _, err := q.Page(ctx, 2, base64.RawURLEncoding.EncodeToString([]byte("{x"))); return err },
		"zero size": func() error { _, err := q.Page(ctx, 0, ""); return err },
		"truncated": func() error { _, err := q.Page(ctx, 2, p.Next[:len(p.Next)-6]); return err },
		"limit to last": func() error {
			_, err := q.LimitToLast(2).Page(ctx, 2, "")
			return err
		},
	}
	for name, f := range invalid {
		if err := f(); !errors.Is(err, repository.ErrInvalid) {
			t.Errorf("%s: got %v, want ErrInvalid", name, err)
		}
	}
	// The page size may change between pages.
	p2, err := q.Page(ctx, 10, p.Next)
	if err != nil || p2.Next != "" {
		t.Fatalf("second page: %v %+v", err, p2)
	}
	wantIDs(t, "second page", ids(p2.Docs), []string{"i02", "i03", "i04", "i05"})
	// An exact multiple ends with an empty token, not an empty page.
	p3, err := q.Page(ctx, 6, "")
	if err != nil || p3.Next != "" || len(p3.Docs) != 6 {
		t.Errorf("page of exactly all documents: %v, %d documents, next %q", err, len(p3.Docs), p3.Next)
	}
}

// TestPageQuotedFieldPath orders by a field whose name needs quoting on
// the wire ("x.y" with a dot, inside a map).
func TestPageQuotedFieldPath(t *testing.T) {
	t.Parallel()
	fs := emutest.NewFirestore(t)
	ctx := testCtx(t)
	var want []string
	for i := range 7 {
		id := fmt.Sprintf("q%d", i)
		v := map[string]any{"m": map[string]any{"x.y": int64(10 - i)}}
		if _, err := fs.Client.Collection("q").Doc(id).Set(ctx, v); err != nil {
			t.Fatal(err)
		}
		want = append([]string{id}, want...)
	}
	got, _ := pageAll(t, fs, false, func(c *firestore.Client) repository.Query[map[string]any] {
		return repository.New[map[string]any](c, "q").Query().OrderByPath(firestore.FieldPath{"m", "x.y"}, firestore.Asc)
	}, 2)
	wantIDs(t, "quoted path", got, want)
}
