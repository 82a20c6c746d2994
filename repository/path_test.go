package repository_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/fbadmin/fbadmin/internal/emutest"
	"github.com/fbadmin/fbadmin/repository"
)

// wantInvalid fails unless err is ErrInvalid and mentions each of words.
func wantInvalid(t testing.TB, what string, err error, words ...string) {
	t.Helper()
	if !errors.Is(err, repository.ErrInvalid) {
		t.Errorf("%s: got %v, want ErrInvalid", what, err)
		return
	}
	for _, w := range words {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%s: got %q, want it to mention %q", what, err, w)
		}
	}
}

// TestPathRefusals checks that repositories apply Path's rules to their
// collection paths and document IDs, and refuse before asking the server.
func TestPathRefusals(t *testing.T) {
	t.Parallel()
	fs := emutest.NewFirestore(t)
	ctx := testCtx(t)

	for path, problem := range map[string]string{
		"__x__":                   `"__x__" is reserved`,
		"users/__x__/posts":       `"__x__" is reserved`,
		"users/a/\xff":            "not valid UTF-8",
		"users/./posts":           `"." is not allowed`,
		"users/../posts":          `".." is not allowed`,
		"users//posts":            "empty segment 2",
		"users/a/posts/":          "empty segment 4",
		strings.Repeat("x", 1501): "longer than 1500",
		"projects/p/databases/(default)/documents/users": "resource name",
	} {
		r := repository.New[item](fs.Client, path)
		_, err := r.Get(ctx, "x")
		wantInvalid(t, "New("+path+").Get", err, problem, "new repository")
		_, err = r.Query().GetAll(ctx)
		wantInvalid(t, "New("+path+").Query", err, problem)
	}

	r := repository.New[item](fs.Client, "items")
	for id, problem := range map[string]string{
		"":                        "empty ID",
		"a/b":                     "contains '/'",
		"__x__":                   `"__x__" is reserved`,
		"\xff":                    "not valid UTF-8",
		".":                       `"." is not allowed`,
		"..":                      `".." is not allowed`,
		strings.Repeat("x", 1501): "longer than 1500",
	} {
		_, err := r.Create(ctx, id, item{})
		wantInvalid(t, "Create("+id+")", err, problem, "create ", "items/")
		_, err = r.Get(ctx, id)
		wantInvalid(t, "Get("+id+")", err, problem, "get ", "items/")
		_, err = r.Set(ctx, id, item{})
		wantInvalid(t, "Set("+id+")", err, problem)
		_, err = r.Delete(ctx, id)
		wantInvalid(t, "Delete("+id+")", err, problem)
		_, err = r.GetAll(ctx, []string{"ok", id})
		wantInvalid(t, "GetAll(ok, "+id+")", err, problem)
		err = r.Transaction(ctx, func(_ context.Context, tx *repository.Tx[item]) error { return tx.Set(id, item{}) })
		wantInvalid(t, "Tx.Set("+id+")", err, problem)

		_, err = repository.Sub[item](r, id, "posts").Get(ctx, "p1")
		wantInvalid(t, "Sub(items, "+id+", posts)", err, problem, "sub ", "items/")
		_, err = repository.Sub[item](r, "a", id).Get(ctx, "p1")
		wantInvalid(t, "Sub(items, a, "+id+")", err, problem, "sub ", "items/a/")
		_, err = repository.Group[item](fs.Client, id).GetAll(ctx)
		wantInvalid(t, "Group("+id+")", err, problem, "group")
	}

	// IDs that look odd but that Firestore takes.
	for _, id := range []string{"___", "____", "__x", "x__", ".x", "...", "日本"} {
		if _, err := r.Create(ctx, id, item{Name: id}); err != nil {
			t.Errorf("Create(%q): %v", id, err)
		}
		if d, err := repository.Sub[item](r, id, "posts").Create(ctx, "p", item{}); err != nil || d.Path != "items/"+id+"/posts/p" {
			t.Errorf("Sub(items, %q, posts).Create(p) = %+v, %v", id, d, err)
		}
	}
}

func TestParsePath(t *testing.T) {
	p, err := repository.ParsePath("projects/p/databases/(default)/documents/users/alice/posts/p1")
	if err != nil || p.String() != "users/alice/posts/p1" || !p.IsDocument() || p.Parent().Parent().String() != "users/alice" {
		t.Errorf("ParsePath(name) = %q, %v; want the document users/alice/posts/p1", p, err)
	}
	if _, err := repository.ParseDocumentPath("users"); !errors.Is(err, repository.ErrInvalid) {
		t.Errorf("ParseDocumentPath(users): got %v, want ErrInvalid", err)
	}
	if _, err := repository.ParseCollectionPath("users/__x__/posts"); !errors.Is(err, repository.ErrInvalid) {
		t.Errorf("ParseCollectionPath(users/__x__/posts): got %v, want ErrInvalid", err)
	}
}
