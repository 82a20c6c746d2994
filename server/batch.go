package server

import (
	"context"
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
	return &getBatcher{client: client, max: 100, workers: 4, timeout: timeout}
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
	snaps, err := b.client.GetAll(ctx, refs)
	cancel()
	for _, r := range batch {
		if err != nil {
			r.done <- getRes{err: err}
			continue
		}
		r.done <- getRes{snap: snaps[index[r.ref.Path]]}
	}
}
