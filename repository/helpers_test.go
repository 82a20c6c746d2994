package repository_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"cloud.google.com/go/firestore"
	"github.com/fbadmin/fbadmin/internal/emutest"
	"github.com/fbadmin/fbadmin/repository"
)

// item is the document type of most tests.
type item struct {
	Name  string   `firestore:"name"`
	N     int64    `firestore:"n"`
	Group string   `firestore:"group,omitempty"`
	Tags  []string `firestore:"tags,omitempty"`
}

// testCtx returns a context that ends with the test or after a minute.
func testCtx(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// newItems returns a repository over a fresh project's "items" collection.
func newItems(t testing.TB) (*repository.Repository[item], *emutest.Firestore) {
	t.Helper()
	fs := emutest.NewFirestore(t)
	return repository.New[item](fs.Client, "items"), fs
}

// seed writes items with IDs i00, i01, ... through the raw SDK.
func seed(t testing.TB, c *firestore.Client, coll string, items ...item) []string {
	t.Helper()
	ctx := testCtx(t)
	ids := make([]string, len(items))
	for i, it := range items {
		ids[i] = fmt.Sprintf("i%02d", i)
		if _, err := c.Collection(coll).Doc(ids[i]).Set(ctx, it); err != nil {
			t.Fatalf("seed %s: %v", ids[i], err)
		}
	}
	return ids
}

func ids[T any](docs []*repository.Doc[T]) []string {
	out := make([]string, len(docs))
	for i, d := range docs {
		out[i] = d.ID
	}
	return out
}

func wantIDs(t testing.TB, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
		t.Errorf("%s: got IDs %v, want %v", what, got, want)
	}
}

func newFS(t testing.TB) *emutest.Firestore {
	t.Helper()
	return emutest.NewFirestore(t)
}
