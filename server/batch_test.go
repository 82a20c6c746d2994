package server

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/firestore"
)

// TestGetBatcher reads documents from many goroutines at once: each gets
// its own document (or "missing"), duplicates included, with fewer RPCs
// than requests.
func TestGetBatcher(t *testing.T) {
	t.Parallel()
	e := newSrvEnv(t, openRules)
	const n = 60
	for i := range n {
		if _, err := e.fs.Client.Doc(fmt.Sprintf("b/%02d", i)).Set(t.Context(), map[string]any{"i": i}); err != nil {
			t.Fatal(err)
		}
	}
	b := e.srv.store.gets
	before := b.calls.Load()
	var wg sync.WaitGroup
	const reqs = 400
	errs := make(chan error, reqs)
	for r := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			i := r % (n + 5) // some missing
			snap, err := b.get(t.Context(), e.fs.Client.Doc(fmt.Sprintf("b/%02d", i)))
			switch {
			case err != nil:
				errs <- err
			case i >= n && snap.Exists():
				errs <- fmt.Errorf("b/%02d exists", i)
			case i < n && (!snap.Exists() || snap.Data()["i"] != int64(i)):
				errs <- fmt.Errorf("b/%02d: %v", i, snap.Data())
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	calls := b.calls.Load() - before
	if calls >= reqs {
		t.Fatalf("%d RPCs for %d concurrent reads: no batching", calls, reqs)
	}
	t.Logf("%d reads in %d RPCs", reqs, calls)
}

// TestGetBatcherIsolatesFailures (issue 12, finding 11): when the batched
// read fails because of one document, the other requests of the batch
// still get their own documents, and only that one request fails.
func TestGetBatcherIsolatesFailures(t *testing.T) {
	t.Parallel()
	e := newSrvEnv(t, openRules)
	for i := range 10 {
		if _, err := e.fs.Client.Doc(fmt.Sprintf("iso/%d", i)).Set(t.Context(), map[string]any{"i": i}); err != nil {
			t.Fatal(err)
		}
	}
	b := newGetBatcher(e.fs.Client, time.Minute)
	b.workers = 1
	poison := e.fs.Client.Doc("iso/poison")
	gate := make(chan struct{})
	var batched atomic.Int64
	real := b.getAll
	b.getAll = func(ctx context.Context, refs []*firestore.DocumentRef) ([]*firestore.DocumentSnapshot, error) {
		<-gate // let every request queue up behind the first call
		if len(refs) > 1 {
			batched.Add(1)
		}
		for _, r := range refs {
			if r.Path == poison.Path {
				return nil, errors.New("poisoned read")
			}
		}
		return real(ctx, refs)
	}
	var wg sync.WaitGroup
	results := make([]error, 11)
	for i := range 11 {
		ref := poison
		if i < 10 {
			ref = e.fs.Client.Doc(fmt.Sprintf("iso/%d", i))
		}
		wg.Go(func() {
			snap, err := b.get(t.Context(), ref)
			if err == nil && (!snap.Exists() || snap.Data()["i"] != int64(i)) {
				err = fmt.Errorf("%s: %v", ref.Path, snap.Data())
			}
			results[i] = err
		})
		if i == 0 {
			time.Sleep(50 * time.Millisecond) // the first is in flight: the rest batch up
		}
	}
	time.Sleep(100 * time.Millisecond)
	close(gate)
	wg.Wait()
	if batched.Load() == 0 {
		t.Fatal("the reads were never batched: the test proves nothing")
	}
	for i, err := range results[:10] {
		if err != nil {
			t.Errorf("iso/%d failed with its batch: %v", i, err)
		}
	}
	if results[10] == nil || !strings.Contains(results[10].Error(), "poisoned") {
		t.Errorf("the poisoned read: %v, want its own error", results[10])
	}
}
