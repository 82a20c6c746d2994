package repository

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/firestore"
	"github.com/fbadmin/fbadmin/internal/emutest"
	"github.com/fbadmin/fbadmin/internal/stream"
)

type wdoc struct {
	N int `firestore:"n"`
}

// watchAll runs the watch in a goroutine and hands on its snapshots.
func watchAll(t *testing.T, ctx context.Context, q Query[wdoc], opts ...WatchOption) (<-chan *Snapshot[wdoc], <-chan error) {
	t.Helper()
	snaps, done := make(chan *Snapshot[wdoc]), make(chan error, 1)
	go func() {
		for s, err := range q.Watch(ctx, opts...) {
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
	return snaps, done
}

func nextSnap(t *testing.T, ctx context.Context, snaps <-chan *Snapshot[wdoc], done <-chan error, what string) *Snapshot[wdoc] {
	t.Helper()
	select {
	case s := <-snaps:
		return s
	case err := <-done:
		t.Fatalf("%s: watch ended: %v", what, err)
	case <-ctx.Done():
		t.Fatalf("%s: no snapshot in time", what)
	}
	return nil
}

func changeList(s *Snapshot[wdoc]) string {
	out := ""
	for _, c := range s.Changes {
		out += fmt.Sprintf("%s %s %d->%d n=%d; ", c.Kind, c.Doc.ID, c.OldIndex, c.NewIndex, c.Doc.Data.N)
	}
	return out
}

// A stream reopened while documents changed (here: its handler reports
// the snapshot inconsistent after writing behind the stream's back) yields
// one Reopened snapshot with exactly what changed meanwhile.
func TestWatchReopenedStreamYieldsTheDifference(t *testing.T) {
	t.Parallel()
	fs := emutest.NewFirestore(t)
	r := New[wdoc](fs.Client, "w")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i, id := range []string{"a", "b", "c"} {
		if _, err := r.Set(ctx, id, wdoc{N: i + 1}); err != nil {
			t.Fatal(err)
		}
	}
	var faulted atomic.Bool
	fault := func(c *watchConfig) {
		c.fault = func(ctx context.Context, n int) error {
			if n != 1 || faulted.Swap(true) {
				return nil
			}
			// The first live snapshot (the trigger below): change the
			// collection while the stream is being reopened.
			if _, err := r.Delete(ctx, "a"); err != nil {
				return err
			}
			if _, err := r.Set(ctx, "b", wdoc{N: 20}); err != nil {
				return err
			}
			if _, err := r.Set(ctx, "e", wdoc{N: 5}); err != nil {
				return err
			}
			return stream.ErrInconsistent
		}
	}
	snaps, done := watchAll(t, ctx, r.Query().OrderBy("n", firestore.Asc), fault)
	first := nextSnap(t, ctx, snaps, done, "first")
	if got, want := changeList(first), "added a -1->0 n=1; added b -1->1 n=2; added c -1->2 n=3; "; got != want || first.Reopened {
		t.Fatalf("first snapshot: %s (reopened %v), want %s", got, first.Reopened, want)
	}
	if _, err := r.Set(ctx, "d", wdoc{N: 4}); err != nil { // the trigger
		t.Fatal(err)
	}
	s := nextSnap(t, ctx, snaps, done, "after the reopening")
	// Before: a(1) b(2) c(3). After: c(3) d(4) e(5) b(20).
	want := "removed a 0->-1 n=1; added d -1->1 n=4; added e -1->2 n=5; modified b 1->3 n=20; "
	if got := changeList(s); got != want || !s.Reopened || s.Size != 4 {
		t.Fatalf("after the reopening: %s (reopened %v, size %d), want %s (reopened, size 4)", got, s.Reopened, s.Size, want)
	}
	if old := s.Changes[3].Old; old == nil || old.Data.N != 2 {
		t.Errorf("the modified document's Old: %+v, want n=2", old)
	}
	// Live changes go on from the new state.
	if _, err := r.Delete(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	s = nextSnap(t, ctx, snaps, done, "live after the reopening")
	if got := changeList(s); got != "removed c 0->-1 n=3; " || s.Reopened {
		t.Fatalf("live change: %s (reopened %v)", got, s.Reopened)
	}
}

// A silent stream is recycled by the watchdog; reopenings that change
// nothing yield nothing, and changes keep arriving.
func TestWatchWatchdogRecyclesASilentStream(t *testing.T) {
	t.Parallel()
	fs := emutest.NewFirestore(t)
	r := New[wdoc](fs.Client, "w")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := r.Set(ctx, "a", wdoc{N: 1}); err != nil {
		t.Fatal(err)
	}
	var handled atomic.Int64
	count := func(c *watchConfig) {
		c.fault = func(context.Context, int) error { handled.Add(1); return nil }
	}
	snaps, done := watchAll(t, ctx, r.Query(), WithWatchdog(300*time.Millisecond), count)
	nextSnap(t, ctx, snaps, done, "first")
	deadline := time.Now().Add(20 * time.Second)
	for handled.Load() < 3 { // the first snapshot and two of reopened streams
		if time.Now().After(deadline) {
			t.Fatalf("the watchdog did not reopen the silent stream: %d snapshots handled", handled.Load())
		}
		select {
		case s := <-snaps:
			t.Fatalf("a reopening that changed nothing yielded %s", changeList(s))
		case err := <-done:
			t.Fatalf("watch ended: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	if _, err := r.Set(ctx, "b", wdoc{N: 2}); err != nil {
		t.Fatal(err)
	}
	s := nextSnap(t, ctx, snaps, done, "a change after recycling")
	if got := changeList(s); got != "added b -1->1 n=2; " {
		t.Fatalf("after recycling: %s, want the one addition", got)
	}
}
