package repository_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"cloud.google.com/go/firestore"
	"github.com/fbadmin/fbadmin/repository"
)

func TestWatch(t *testing.T) {
	t.Parallel()
	r, fs := newItems(t)
	seed(t, fs.Client, "items", queryFixture...) // i00, i01 in group a
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	snaps := make(chan *repository.Snapshot[item])
	done := make(chan error, 1)
	go func() {
		for s, err := range r.Query().Where("group", "==", "a").OrderBy("n", firestore.Asc).Watch(ctx) {
			if err != nil {
				done <- err
				return
			}
			select {
			case snaps <- s:
			case <-ctx.Done():
			}
		}
		done <- nil
	}()
	next := func(what string) *repository.Snapshot[item] {
		t.Helper()
		select {
		case s := <-snaps:
			if s.ReadTime.IsZero() {
				t.Errorf("%s: snapshot without read time", what)
			}
			return s
		case err := <-done:
			t.Fatalf("%s: watch ended: %v", what, err)
		case <-ctx.Done():
			t.Fatalf("%s: no snapshot in time", what)
		}
		return nil
	}
	type change struct {
		kind     repository.ChangeKind
		id       string
		old, new int
	}
	check := func(what string, s *repository.Snapshot[item], size int, want ...change) {
		t.Helper()
		if s.Size != size {
			t.Errorf("%s: size %d, want %d", what, s.Size, size)
		}
		var got []change
		for _, c := range s.Changes {
			got = append(got, change{c.Kind, c.Doc.ID, c.OldIndex, c.NewIndex})
		}
		if len(got) != len(want) {
			t.Fatalf("%s: changes %v, want %v", what, got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("%s: change %d = %v, want %v", what, i, got[i], want[i])
			}
		}
	}

	first := next("initial")
	check("initial", first, 2, change{repository.Added, "i00", -1, 0}, change{repository.Added, "i01", -1, 1})
	if first.Changes[1].Doc.Data.Name != "bee" {
		t.Errorf("initial data: %+v", first.Changes[1].Doc.Data)
	}

	if _, err := r.Create(ctx, "new", item{Name: "new", N: 0, Group: "a"}); err != nil {
		t.Fatal(err)
	}
	check("create", next("create"), 3, change{repository.Added, "new", -1, 0})

	if _, err := r.Update(ctx, "i00", []firestore.Update{{Path: "name", Value: "ant2"}}); err != nil {
		t.Fatal(err)
	}
	s := next("update")
	check("update", s, 3, change{repository.Modified, "i00", 1, 1})
	if s.Changes[0].Doc.Data.Name != "ant2" || s.Changes[0].Old == nil || s.Changes[0].Old.Data.Name != "ant" {
		t.Errorf("modified change: new %+v old %+v", s.Changes[0].Doc, s.Changes[0].Old)
	}
	if !s.ReadTime.After(first.ReadTime) {
		t.Errorf("read time did not advance: %v then %v", first.ReadTime, s.ReadTime)
	}

	// Leaving the results is a removal, as is a delete.
	if _, err := r.Update(ctx, "i01", []firestore.Update{{Path: "group", Value: "z"}}); err != nil {
		t.Fatal(err)
	}
	check("leave", next("leave"), 2, change{repository.Removed, "i01", 2, -1})
	if _, err := r.Delete(ctx, "new"); err != nil {
		t.Fatal(err)
	}
	s = next("delete")
	check("delete", s, 1, change{repository.Removed, "new", 0, -1})
	if s.Changes[0].Doc.Data.Name != "new" {
		t.Errorf("removed change carries %+v, want the last version", s.Changes[0].Doc.Data)
	}

	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, repository.ErrCanceled) {
			t.Errorf("watch ended with %v, want ErrCanceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("watch did not end after cancel")
	}
	if repository.Added.String() != "added" || repository.Removed.String() != "removed" || repository.Modified.String() != "modified" {
		t.Error("change kind names")
	}
}
