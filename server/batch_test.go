package server

import (
	"fmt"
	"sync"
	"testing"
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
