package repository_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/firestore"
	"github.com/fbadmin/fbadmin/repository"
)

func TestBulkWriterWritesAll(t *testing.T) {
	t.Parallel()
	r, _ := newItems(t)
	ctx := testCtx(t)
	w := r.BulkWriter(ctx, &repository.BulkOptions{Concurrency: 4})
	const n = 2345
	// Several goroutines enqueue at once.
	var wg sync.WaitGroup
	for g := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < n; i += 3 {
				if err := w.Set(fmt.Sprintf("d%05d", i), item{Name: "x", N: int64(i)}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	sum, err := w.Close()
	if err != nil || sum.Written != n || sum.Failed != 0 {
		t.Fatalf("close: %+v, %v; want %d written", sum, err, n)
	}
	if c, err := r.Query().Count(ctx); err != nil || c != n {
		t.Errorf("count after bulk write = %d, %v; want %d", c, err, n)
	}
	d, err := r.Get(ctx, "d01234")
	if err != nil || d.Data.N != 1234 {
		t.Errorf("a written document: %v %+v", err, d)
	}
	if err := w.Set("late", item{}); !errors.Is(err, repository.ErrInvalid) {
		t.Errorf("write after close: got %v, want ErrInvalid", err)
	}
	if _, err := w.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
}

func TestBulkWriterPerDocumentFailures(t *testing.T) {
	t.Parallel()
	r, _ := newItems(t)
	ctx := testCtx(t)
	existing := []int{0, 137, 250, 251, 777, 999}
	for _, i := range existing {
		if _, err := r.Create(ctx, fmt.Sprintf("d%04d", i), item{Name: "old"}); err != nil {
			t.Fatal(err)
		}
	}
	w := r.BulkWriter(ctx, nil)
	const n = 1000
	for i := range n {
		if err := w.Create(fmt.Sprintf("d%04d", i), item{Name: "new", N: int64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	// Updates and deletes: one update of a missing document fails.
	if err := w.Update("missing", []firestore.Update{{Path: "n", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	if s := w.Summary(); s.Written != n-int64(len(existing)) || s.Failed != int64(len(existing))+1 {
		t.Errorf("summary after flush: written %d failed %d", s.Written, s.Failed)
	}
	for i := range 10 {
		if err := w.Update(fmt.Sprintf("d%04d", i), []firestore.Update{{Path: "n", Value: firestore.Increment(1000)}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Delete("d0500"); err != nil {
		t.Fatal(err)
	}
	sum, err := w.Close()

	var be *repository.BulkError
	if !errors.As(err, &be) || !errors.Is(err, repository.ErrAlreadyExists) || !errors.Is(err, repository.ErrNotFound) {
		t.Fatalf("close error %v: want a *BulkError matching ErrAlreadyExists and ErrNotFound", err)
	}
	wantWritten := int64(n - len(existing) + 10 + 1)
	if sum.Written != wantWritten || sum.Failed != int64(len(existing))+1 || len(sum.Failures) != len(existing)+1 {
		t.Errorf("summary: written %d (want %d), failed %d (want %d), %d listed",
			sum.Written, wantWritten, sum.Failed, len(existing)+1, len(sum.Failures))
	}
	var failed []string
	for _, f := range sum.Failures {
		failed = append(failed, f.ID)
		wantKind := repository.ErrAlreadyExists
		if f.ID == "missing" {
			wantKind = repository.ErrNotFound
		}
		if !errors.Is(f.Err, wantKind) || f.Path != "items/"+f.ID {
			t.Errorf("failure %+v: want %v on items/%s", f, wantKind, f.ID)
		}
		var re *repository.Error
		if !errors.As(f.Err, &re) || re.Target != f.Path {
			t.Errorf("failure error %v does not name %s", f.Err, f.Path)
		}
	}
	slices.Sort(failed)
	var want []string
	for _, i := range existing {
		want = append(want, fmt.Sprintf("d%04d", i))
	}
	want = append(want, "missing")
	if !slices.Equal(failed, want) {
		t.Errorf("failed IDs %v, want %v", failed, want)
	}

	// The existing documents were left alone, the others written.
	d, _ := r.Get(ctx, "d0250")
	if d.Data.Name != "old" {
		t.Errorf("existing document overwritten: %+v", d.Data)
	}
	d, _ = r.Get(ctx, "d0001")
	if d.Data.Name != "new" || d.Data.N != 1001 {
		t.Errorf("created then updated document: %+v", d.Data)
	}
	if ok, _ := r.Exists(ctx, "d0500"); ok {
		t.Error("deleted document still exists")
	}
}

func TestBulkWriterInvalidValueAndCap(t *testing.T) {
	t.Parallel()
	fs := newFS(t)
	ctx := testCtx(t)
	r := repository.New[map[string]any](fs.Client, "m")
	w := r.BulkWriter(ctx, &repository.BulkOptions{MaxFailures: 2, BatchSize: 50})
	for i := range 200 {
		v := map[string]any{"i": int64(i)}
		if i%40 == 7 {
			v["bad"] = make(chan int) // cannot be encoded
		}
		if err := w.Set(fmt.Sprintf("d%03d", i), v); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Set("", map[string]any{}); !errors.Is(err, repository.ErrInvalid) {
		t.Errorf("empty ID: got %v, want ErrInvalid at once", err)
	}
	sum, err := w.Close()
	if !errors.Is(err, repository.ErrInvalid) || sum.Written != 195 || sum.Failed != 5 || len(sum.Failures) != 2 {
		t.Errorf("summary %+v, err %v: want 195 written, 5 failed, 2 listed", sum, err)
	}
	bad := []string{"d007", "d047", "d087", "d127", "d167"}
	for _, f := range sum.Failures {
		if !slices.Contains(bad, f.ID) || !errors.Is(f.Err, repository.ErrInvalid) {
			t.Errorf("failure %+v: want ErrInvalid on one of %v", f, bad)
		}
	}
}

// TestBulkWriterThrottleAndBackPressure: with a slow rate, enqueueing blocks
// once the queue is full, and the writes are paced.
func TestBulkWriterThrottleAndBackPressure(t *testing.T) {
	t.Parallel()
	r, _ := newItems(t)
	ctx := testCtx(t)
	// 4 writes per second, burst 4; one batch of one write at a time, a
	// queue of one batch.
	w := r.BulkWriter(ctx, &repository.BulkOptions{
		Throttle: repository.ThrottleRamp, InitialRate: 4, BatchSize: 1, Concurrency: 1,
	})
	start := time.Now()
	const n = 10
	for i := range n {
		if err := w.Create(fmt.Sprintf("t%d", i), item{N: int64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	enqueued := time.Since(start)
	sum, err := w.Close()
	total := time.Since(start)
	if err != nil || sum.Written != n {
		t.Fatalf("close: %+v %v", sum, err)
	}
	// 4 writes at once, then 6 more at 4/s: at least 1.5 s in all. The
	// last two writes (one in the queue, one being written) are enqueued
	// before that.
	if total < 1400*time.Millisecond {
		t.Errorf("%d writes at 4/s took %v, want at least 1.5s", n, total)
	}
	if enqueued < 800*time.Millisecond {
		t.Errorf("enqueueing %d writes took %v: the caller was not held back by the full queue", n, enqueued)
	}
}

func TestBulkWriterCanceled(t *testing.T) {
	t.Parallel()
	r, _ := newItems(t)
	ctx, cancel := context.WithCancel(testCtx(t))
	w := r.BulkWriter(ctx, &repository.BulkOptions{Throttle: repository.ThrottleRamp, InitialRate: 10, BatchSize: 10, Concurrency: 1})
	for i := range 10 {
		if err := w.Set(fmt.Sprintf("c%d", i), item{}); err != nil {
			t.Fatal(err)
		}
	}
	// The first batch goes through, the next ones wait for the limiter.
	w.Flush()
	for i := 10; i < 30; i++ {
		_ = w.Set(fmt.Sprintf("c%d", i), item{})
	}
	cancel()
	sum, err := w.Close()
	if sum.Written < 10 || sum.Written+sum.Failed != 30 || !errors.Is(err, repository.ErrCanceled) {
		t.Errorf("after cancel: %+v, %v; want the first 10 written and the rest failed as canceled", sum, err)
	}
	if err := w.Set("after", item{}); err == nil {
		t.Error("enqueue after cancel succeeded")
	}
}
