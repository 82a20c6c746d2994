package server

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"cloud.google.com/go/firestore"
)

// getBatcher reads single documents for concurrent requests with as few
// RPCs as it can: requests queue up, and up to `workers` goroutines each
// take whatever is queued (up to `max` documents) and read it with one
// BatchGetDocuments call. An idle server reads each document at once (a
// worker starts for it); a busy one reads several per call, which costs
// Firestore and this process much less than one call per request.
type getBatcher struct {
	client  *firestore.Client
	max     int
	workers int
	timeout time.Duration

	calls atomic.Int64 // BatchGetDocuments calls made

	// getAll reads documents: client.GetAll (replaced in tests).
	getAll func(ctx context.Context, refs []*firestore.DocumentRef) ([]*firestore.DocumentSnapshot, error)

	mu     sync.Mutex
	queue  []*getReq
	active int
}

type getReq struct {
	ref  *firestore.DocumentRef
	done chan getRes // buffered: a worker never blocks on a gone caller
}

type getRes struct {
	snap *firestore.DocumentSnapshot
	err  error
}

func newGetBatcher(client *firestore.Client, timeout time.Duration) *getBatcher {
	b := &getBatcher{client: client, max: 100, workers: 4, timeout: timeout}
	b.getAll = func(ctx context.Context, refs []*firestore.DocumentRef) ([]*firestore.DocumentSnapshot, error) {
		return b.client.GetAll(ctx, refs)
	}
	return b
}

// get reads one document; a missing one is a snapshot that does not exist.
func (b *getBatcher) get(ctx context.Context, ref *firestore.DocumentRef) (*firestore.DocumentSnapshot, error) {
	req := &getReq{ref: ref, done: make(chan getRes, 1)}
	b.mu.Lock()
	b.queue = append(b.queue, req)
	if b.active < b.workers {
		b.active++
		go b.work()
	}
	b.mu.Unlock()
	select {
	case r := <-req.done:
		return r.snap, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (b *getBatcher) work() {
	for {
		b.mu.Lock()
		if len(b.queue) == 0 {
			b.active--
			b.mu.Unlock()
			return
		}
		n := min(len(b.queue), b.max)
		batch := make([]*getReq, n)
		copy(batch, b.queue)
		rest := copy(b.queue, b.queue[n:])
		clear(b.queue[rest:])
		b.queue = b.queue[:rest]
		b.mu.Unlock()
		b.read(batch)
	}
}

// read serves one batch; the same document asked twice is read once.
func (b *getBatcher) read(batch []*getReq) {
	index := make(map[string]int, len(batch))
	var refs []*firestore.DocumentRef
	for _, r := range batch {
		if _, ok := index[r.ref.Path]; !ok {
			index[r.ref.Path] = len(refs)
			refs = append(refs, r.ref)
		}
	}
	b.calls.Add(1)
	ctx, cancel := context.WithTimeout(context.Background(), b.timeout)
	snaps, err := b.getAll(ctx, refs)
	cancel()
	if err != nil && len(refs) > 1 {
		// One document's failure must not become every request's: read
		// each alone, so that each request gets its own answer.
		res := b.readEach(refs)
		for _, r := range batch {
			r.done <- res[index[r.ref.Path]]
		}
		return
	}
	for _, r := range batch {
		if err != nil {
			r.done <- getRes{err: err}
			continue
		}
		r.done <- getRes{snap: snaps[index[r.ref.Path]]}
	}
}

// readEach reads the documents one per call, a few at a time.
func (b *getBatcher) readEach(refs []*firestore.DocumentRef) []getRes {
	out := make([]getRes, len(refs))
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i, ref := range refs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			b.calls.Add(1)
			ctx, cancel := context.WithTimeout(context.Background(), b.timeout)
			defer cancel()
			snaps, err := b.getAll(ctx, []*firestore.DocumentRef{ref})
			if err == nil && len(snaps) != 1 {
				err = errors.New("batch get: no snapshot returned")
			}
			if err != nil {
				out[i] = getRes{err: err}
				return
			}
			out[i] = getRes{snap: snaps[0]}
		})
	}
	wg.Wait()
	return out
}
