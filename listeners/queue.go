package listeners

import (
	"context"
	"sync"
	"time"
)

// queueKey identifies a document within the queue of one sink.
type queueKey struct {
	listener string
	path     string
}

// queued is an event waiting for its sink, with the route that acknowledges
// it.
type queued struct {
	ev    Event
	route *route
}

// queue is a sink's bounded FIFO of pending events that coalesces changes
// to the same document: while an event for a document waits, a newer one
// for that document replaces it in place, so per-document order holds and a
// sink that falls behind sees fewer, newer events instead of a growing
// backlog. The bound counts distinct documents; push blocks when it is
// reached.
type queue struct {
	mu      sync.Mutex
	limit   int
	items   []*queued // FIFO; nil holes are never left: items are only taken from the front
	head    int
	pending map[queueKey]*queued
	closed  bool
	wake    chan struct{} // closed and replaced on every change
	// coalesced counts events merged into a pending one.
	coalesced func()
}

func newQueue(limit int) *queue {
	return &queue{limit: limit, pending: make(map[queueKey]*queued), wake: make(chan struct{})}
}

func (q *queue) signal() {
	close(q.wake)
	q.wake = make(chan struct{})
}

// coalesce merges ev into the pending event p for the same document.
func coalesce(p *queued, ev Event) {
	typ := ev.Type
	if p.ev.Type == Added && ev.Type == Modified {
		// The sink never saw the document: it is still an addition.
		typ = Added
	}
	p.ev = ev
	p.ev.Type = typ
}

// push adds ev for route r, waiting while the queue is full. It fails only
// when ctx is done.
func (q *queue) push(ctx context.Context, r *route, ev Event) error {
	k := queueKey{ev.Listener, ev.Path}
	q.mu.Lock()
	for {
		if p, ok := q.pending[k]; ok {
			coalesce(p, ev)
			q.mu.Unlock()
			if q.coalesced != nil {
				q.coalesced()
			}
			return nil
		}
		if len(q.pending) < q.limit {
			break
		}
		wake := q.wake
		q.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		}
		q.mu.Lock()
	}
	e := &queued{ev: ev, route: r}
	q.pending[k] = e
	q.items = append(q.items, e)
	q.signal()
	q.mu.Unlock()
	return nil
}

// take removes up to max events from the front, waiting for at least one
// for up to wait (forever when wait is 0). It returns nil when the queue is
// closed and empty or when ctx is done, and idle true when wait passed with
// nothing to take.
func (q *queue) take(ctx context.Context, max int, wait time.Duration) (_ []*queued, idle bool) {
	var timeout <-chan time.Time
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		timeout = t.C
	}
	q.mu.Lock()
	for len(q.items)-q.head == 0 {
		if q.closed {
			q.mu.Unlock()
			return nil, false
		}
		wake := q.wake
		q.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return nil, false
		case <-timeout:
			return nil, true
		}
		q.mu.Lock()
	}
	n := min(max, len(q.items)-q.head)
	out := make([]*queued, n)
	copy(out, q.items[q.head:q.head+n])
	for i := q.head; i < q.head+n; i++ {
		q.items[i] = nil
	}
	q.head += n
	if q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
	} else if q.head > 1024 && q.head*2 > len(q.items) {
		q.items = append(q.items[:0], q.items[q.head:]...)
		q.head = 0
	}
	for _, e := range out {
		delete(q.pending, queueKey{e.ev.Listener, e.ev.Path})
	}
	q.signal()
	q.mu.Unlock()
	return out, false
}

// len returns the number of pending events.
func (q *queue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.pending)
}

// close makes take return nil once the queue is empty.
func (q *queue) close() {
	q.mu.Lock()
	q.closed = true
	q.signal()
	q.mu.Unlock()
}
