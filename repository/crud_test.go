package repository_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/firestore"
	"github.com/fbadmin/fbadmin/internal/emutest"
	"github.com/fbadmin/fbadmin/repository"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestCreateGetExists(t *testing.T) {
	t.Parallel()
	r, fs := newItems(t)
	ctx := testCtx(t)

	wr, err := r.Create(ctx, "a", item{Name: "alpha", N: 1, Tags: []string{"x"}})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if wr.ID != "a" || wr.Path != "items/a" || wr.UpdateTime.IsZero() {
		t.Errorf("create result = %+v, want ID a, path items/a and an update time", wr)
	}
	_, err = r.Create(ctx, "a", item{Name: "again"})
	if !errors.Is(err, repository.ErrAlreadyExists) {
		t.Errorf("second create: got %v, want ErrAlreadyExists", err)
	}

	d, err := r.Get(ctx, "a")
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if d.ID != "a" || d.Path != "items/a" || d.Ref.ID != "a" {
		t.Errorf("got ID %q path %q, want a, items/a", d.ID, d.Path)
	}
	wantName := fmt.Sprintf("projects/%s/databases/(default)/documents/items/a", fs.ProjectID)
	if d.Name() != wantName {
		t.Errorf("Name() = %q, want %q", d.Name(), wantName)
	}
	if d.CreateTime.IsZero() || !d.UpdateTime.Equal(wr.UpdateTime) || d.ReadTime.IsZero() {
		t.Errorf("times: create %v update %v (want %v) read %v", d.CreateTime, d.UpdateTime, wr.UpdateTime, d.ReadTime)
	}
	if d.Data.Name != "alpha" || d.Data.N != 1 || !slices.Equal(d.Data.Tags, []string{"x"}) {
		t.Errorf("data = %+v", d.Data)
	}
	if d.Data.Name != "alpha" {
		t.Errorf("the stored document was changed by the failed create: %+v", d.Data)
	}

	_, err = r.Get(ctx, "missing")
	if !errors.Is(err, repository.ErrNotFound) {
		t.Errorf("get missing: got %v, want ErrNotFound", err)
	}
	if err != nil && !strings.Contains(err.Error(), "items/missing") {
		t.Errorf("error %q does not name the document", err)
	}

	for id, want := range map[string]bool{"a": true, "missing": false} {
		got, err := r.Exists(ctx, id)
		if err != nil || got != want {
			t.Errorf("Exists(%s) = %v, %v; want %v", id, got, err, want)
		}
	}
}

func TestAddSetMerge(t *testing.T) {
	t.Parallel()
	r, _ := newItems(t)
	ctx := testCtx(t)

	wr, err := r.Add(ctx, item{Name: "auto", N: 7})
	if err != nil {
		t.Fatalf("add: %v", err)
	}
	if len(wr.ID) != 20 || wr.Path != "items/"+wr.ID {
		t.Errorf("add result %+v: want a 20-character automatic ID", wr)
	}
	if d, err := r.Get(ctx, wr.ID); err != nil || d.Data.Name != "auto" {
		t.Fatalf("get added: %v, %+v", err, d)
	}

	// Set replaces the whole document.
	if _, err := r.Set(ctx, wr.ID, item{Name: "replaced", Tags: []string{"t"}}); err != nil {
		t.Fatal(err)
	}
	d, _ := r.Get(ctx, wr.ID)
	if d.Data.Name != "replaced" || d.Data.N != 0 || !slices.Equal(d.Data.Tags, []string{"t"}) {
		t.Errorf("after set: %+v, want n reset to 0", d.Data)
	}

	// Merge on named fields keeps the others.
	if _, err := r.Set(ctx, wr.ID, item{N: 42}, firestore.Merge([]string{"n"})); err != nil {
		t.Fatal(err)
	}
	d, _ = r.Get(ctx, wr.ID)
	if d.Data.Name != "replaced" || d.Data.N != 42 {
		t.Errorf("after merge: %+v, want name kept and n 42", d.Data)
	}

	// MergeAll needs map data: with a struct it is a usage error.
	_, err = r.Set(ctx, wr.ID, item{N: 1}, firestore.MergeAll)
	if !errors.Is(err, repository.ErrInvalid) {
		t.Errorf("MergeAll with a struct: got %v, want ErrInvalid", err)
	}

	// With map documents, MergeAll works.
	m := repository.New[map[string]any](r.Client(), "maps")
	if _, err := m.Set(ctx, "x", map[string]any{"a": int64(1), "b": "keep"}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Set(ctx, "x", map[string]any{"a": int64(2)}, firestore.MergeAll); err != nil {
		t.Fatal(err)
	}
	md, err := m.Get(ctx, "x")
	if err != nil || md.Data["a"] != int64(2) || md.Data["b"] != "keep" {
		t.Errorf("map merge: %v %v", md, err)
	}
}

func TestUpdateTransforms(t *testing.T) {
	t.Parallel()
	r, _ := newItems(t)
	ctx := testCtx(t)
	type stamped struct {
		N    int64          `firestore:"n"`
		Tags []string       `firestore:"tags"`
		Gone string         `firestore:"gone,omitempty"`
		At   time.Time      `firestore:"at"`
		More map[string]any `firestore:"more,omitempty"`
	}
	s := repository.New[stamped](r.Client(), "stamped")
	if _, err := s.Create(ctx, "d", stamped{N: 1, Tags: []string{"a", "b"}, Gone: "x"}); err != nil {
		t.Fatal(err)
	}
	before := time.Now().Add(-time.Minute)
	_, err := s.Update(ctx, "d", []firestore.Update{
		{Path: "n", Value: firestore.Increment(5)},
		{Path: "tags", Value: firestore.ArrayUnion("c", "a")},
		{Path: "gone", Value: firestore.Delete},
		{Path: "at", Value: firestore.ServerTimestamp},
		{Path: "more.deep", Value: "v"},
	})
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	d, err := s.Get(ctx, "d")
	if err != nil {
		t.Fatal(err)
	}
	if d.Data.N != 6 || !slices.Equal(d.Data.Tags, []string{"a", "b", "c"}) || d.Data.Gone != "" ||
		d.Data.At.Before(before) || d.Data.More["deep"] != "v" {
		t.Errorf("after transforms: %+v", d.Data)
	}
	if _, err := s.Update(ctx, "d", []firestore.Update{{Path: "tags", Value: firestore.ArrayRemove("b")}}); err != nil {
		t.Fatal(err)
	}
	d, _ = s.Get(ctx, "d")
	if !slices.Equal(d.Data.Tags, []string{"a", "c"}) {
		t.Errorf("after array remove: %v", d.Data.Tags)
	}

	_, err = s.Update(ctx, "missing", []firestore.Update{{Path: "n", Value: 1}})
	if !errors.Is(err, repository.ErrNotFound) {
		t.Errorf("update missing: got %v, want ErrNotFound", err)
	}
}

func TestServerTimestampTag(t *testing.T) {
	t.Parallel()
	fs := emutest.NewFirestore(t)
	ctx := testCtx(t)
	type withStamp struct {
		Name    string    `firestore:"name"`
		Created time.Time `firestore:"created,serverTimestamp"`
		Note    string    `firestore:"note,omitempty"`
	}
	r := repository.New[withStamp](fs.Client, "stamps")
	if _, err := r.Create(ctx, "s", withStamp{Name: "n"}); err != nil {
		t.Fatal(err)
	}
	d, err := r.Get(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	if d.Data.Created.IsZero() {
		t.Errorf("serverTimestamp field not set: %+v", d.Data)
	}
	raw, _ := d.Ref.Get(ctx)
	if _, ok := raw.Data()["note"]; ok {
		t.Errorf("omitempty field written: %v", raw.Data())
	}
}

func TestDeleteAndPreconditions(t *testing.T) {
	t.Parallel()
	r, _ := newItems(t)
	ctx := testCtx(t)
	if _, err := r.Create(ctx, "d", item{Name: "x"}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Delete(ctx, "d"); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if ok, _ := r.Exists(ctx, "d"); ok {
		t.Error("document still exists after delete")
	}
	if _, err := r.Delete(ctx, "d"); err != nil {
		t.Errorf("delete of a missing document: %v, want success", err)
	}
	_, err := r.Delete(ctx, "d", firestore.Exists)
	if !errors.Is(err, repository.ErrNotFound) {
		t.Errorf("delete missing with Exists: got %v, want ErrNotFound", err)
	}
}

func TestStaleUpdateConflict(t *testing.T) {
	t.Parallel()
	r, _ := newItems(t)
	ctx := testCtx(t)
	if _, err := r.Create(ctx, "c", item{Name: "v1", N: 1}); err != nil {
		t.Fatal(err)
	}
	read, err := r.Get(ctx, "c")
	if err != nil {
		t.Fatal(err)
	}
	// Another writer changes the document after we read it.
	if _, err := r.Update(ctx, "c", []firestore.Update{{Path: "n", Value: 2}}); err != nil {
		t.Fatal(err)
	}
	_, err = r.Update(ctx, "c", []firestore.Update{{Path: "name", Value: "v2"}}, firestore.LastUpdateTime(read.UpdateTime))
	if !errors.Is(err, repository.ErrConflict) {
		t.Fatalf("stale update: got %v, want ErrConflict", err)
	}
	var st interface{ GRPCStatus() *status.Status }
	if !errors.As(err, &st) || st.GRPCStatus().Code() != codes.FailedPrecondition {
		t.Errorf("stale update: errors.As to a gRPC status failed or wrong code: %v", err)
	}
	var re *repository.Error
	if !errors.As(err, &re) || re.Op != "update" || re.Target != "items/c" || re.Kind != repository.ErrConflict {
		t.Errorf("classified error = %+v", re)
	}
	if status.Code(err) != codes.FailedPrecondition {
		t.Errorf("status.Code = %v", status.Code(err))
	}
	// The stale write did not apply; a fresh precondition does.
	cur, _ := r.Get(ctx, "c")
	if cur.Data.Name != "v1" {
		t.Errorf("stale update applied: %+v", cur.Data)
	}
	if _, err := r.Update(ctx, "c", []firestore.Update{{Path: "name", Value: "v2"}}, firestore.LastUpdateTime(cur.UpdateTime)); err != nil {
		t.Errorf("fresh update: %v", err)
	}
	// Same for delete.
	_, err = r.Delete(ctx, "c", firestore.LastUpdateTime(read.UpdateTime))
	if !errors.Is(err, repository.ErrConflict) {
		t.Errorf("stale delete: got %v, want ErrConflict", err)
	}
}

func TestGetAllBatchedAndFresh(t *testing.T) {
	t.Parallel()
	r, fs := newItems(t)
	ctx := testCtx(t)
	const n = 1100 // more than two requests of 500
	//lint:ignore SA1019 test data setup through plain batches
	b := fs.Client.Batch()
	var want []string
	for i := range n {
		id := fmt.Sprintf("d%04d", i)
		it := item{Name: id, N: int64(i)}
		if i%2 == 0 {
			it.Tags = []string{"even"}
		}
		b.Set(fs.Client.Collection("items").Doc(id), it)
		if (i+1)%500 == 0 || i == n-1 {
			if _, err := b.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			//lint:ignore SA1019 test data setup through plain batches
			b = fs.Client.Batch()
		}
		want = append(want, id)
	}
	// Ask in reverse order with missing IDs among them.
	var ask []string
	for i := n - 1; i >= 0; i-- {
		ask = append(ask, want[i])
		if i%300 == 0 {
			ask = append(ask, fmt.Sprintf("missing%d", i))
		}
	}
	docs, err := r.GetAll(ctx, ask)
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != len(ask) {
		t.Fatalf("got %d results for %d IDs", len(docs), len(ask))
	}
	for i, d := range docs {
		if strings.HasPrefix(ask[i], "missing") {
			if d != nil {
				t.Errorf("result %d for missing %s = %+v, want nil", i, ask[i], d)
			}
			continue
		}
		if d == nil || d.ID != ask[i] || d.Data.Name != ask[i] {
			t.Fatalf("result %d = %+v, want %s", i, d, ask[i])
		}
		// Each document decodes into a fresh value: odd ones have no tags.
		var num int
		fmt.Sscanf(d.ID, "d%d", &num)
		if (num%2 == 0) != (len(d.Data.Tags) == 1) {
			t.Fatalf("%s: tags %v leaked from another document", d.ID, d.Data.Tags)
		}
	}
}

func TestInvalidInput(t *testing.T) {
	t.Parallel()
	fs := emutest.NewFirestore(t)
	ctx := testCtx(t)
	for _, path := range []string{"", "a/b", "/a", "a//b/c", "a/"} {
		r := repository.New[item](fs.Client, path)
		if _, err := r.Get(ctx, "x"); !errors.Is(err, repository.ErrInvalid) {
			t.Errorf("New(%q).Get: got %v, want ErrInvalid", path, err)
		}
		if _, err := r.Query().GetAll(ctx); !errors.Is(err, repository.ErrInvalid) {
			t.Errorf("New(%q).Query: got %v, want ErrInvalid", path, err)
		}
	}
	// Zero values report an error instead of panicking.
	var zr repository.Repository[item]
	if _, err := zr.Get(ctx, "x"); !errors.Is(err, repository.ErrInvalid) {
		t.Errorf("zero Repository: got %v, want ErrInvalid", err)
	}
	var zq repository.Query[item]
	if _, err := zq.Count(ctx); !errors.Is(err, repository.ErrInvalid) {
		t.Errorf("zero Query: got %v, want ErrInvalid", err)
	}
	if _, err := repository.New[item](nil, "items").Get(ctx, "x"); !errors.Is(err, repository.ErrInvalid) {
		t.Errorf("nil client: got %v, want ErrInvalid", err)
	}

	r := repository.New[item](fs.Client, "items")
	for _, id := range []string{"", "a/b"} {
		if _, err := r.Create(ctx, id, item{}); !errors.Is(err, repository.ErrInvalid) {
			t.Errorf("Create(%q): got %v, want ErrInvalid", id, err)
		}
	}
	// Rejected by the server: reserved IDs.
	if _, err := r.Create(ctx, "__x__", item{}); !errors.Is(err, repository.ErrInvalid) {
		t.Errorf("Create(__x__): got %v, want ErrInvalid", err)
	}
	// A document whose data does not fit T.
	if _, err := fs.Client.Collection("items").Doc("bad").Set(ctx, map[string]any{"n": "not a number"}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Get(ctx, "bad"); !errors.Is(err, repository.ErrInvalid) || !strings.Contains(err.Error(), "items/bad") {
		t.Errorf("decode error: got %v, want ErrInvalid naming items/bad", err)
	}
}

func TestSubcollectionsAndGroups(t *testing.T) {
	t.Parallel()
	fs := emutest.NewFirestore(t)
	ctx := testCtx(t)
	type post struct {
		Title string `firestore:"title"`
	}
	type comment struct {
		Text  string `firestore:"text"`
		Score int64  `firestore:"score"`
	}
	posts := repository.New[post](fs.Client, "posts")
	if _, err := posts.Create(ctx, "p1", post{Title: "one"}); err != nil {
		t.Fatal(err)
	}
	c1 := repository.Sub[comment](posts, "p1", "comments")
	c2 := repository.Sub[comment](posts, "p2", "comments") // parent document need not exist
	if c1.Path() != "posts/p1/comments" {
		t.Errorf("Sub path = %q", c1.Path())
	}
	for i, c := range []*repository.Repository[comment]{c1, c2} {
		for j := range 2 {
			id := fmt.Sprintf("c%d%d", i+1, j)
			if _, err := c.Create(ctx, id, comment{Text: id, Score: int64(10*i + j)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Another collection named "comments" at the top level.
	top := repository.New[comment](fs.Client, "comments")
	if _, err := top.Create(ctx, "t0", comment{Text: "top", Score: 5}); err != nil {
		t.Fatal(err)
	}

	d, err := c1.Get(ctx, "c10")
	if err != nil || d.Path != "posts/p1/comments/c10" {
		t.Fatalf("sub get: %v, %+v", err, d)
	}
	for _, id := range []string{"p1", "p2"} {
		cols, err := posts.Collections(ctx, id)
		if err != nil || !slices.Equal(cols, []string{"comments"}) {
			t.Errorf("Collections(%s) = %v, %v", id, cols, err)
		}
	}

	all, err := repository.Group[comment](fs.Client, "comments").OrderBy("score", firestore.Asc).GetAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, d := range all {
		paths = append(paths, d.Path)
	}
	want := []string{"posts/p1/comments/c10", "posts/p1/comments/c11", "comments/t0", "posts/p2/comments/c20", "posts/p2/comments/c21"}
	if !slices.Equal(paths, want) {
		t.Errorf("group query paths = %v, want %v", paths, want)
	}
	n, err := repository.Group[comment](fs.Client, "comments").Where("score", ">=", 10).Count(ctx)
	if err != nil || n != 2 {
		t.Errorf("group count = %d, %v; want 2", n, err)
	}
	if _, err := repository.Group[comment](fs.Client, "a/b").GetAll(ctx); !errors.Is(err, repository.ErrInvalid) {
		t.Errorf("group with a path: got %v, want ErrInvalid", err)
	}
}
