package server

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"

	"github.com/fbadmin/fbadmin/internal/errs"
)

// Names of the budgets, as the limit label of
// fbadmin_serve_limit_refusals_total.
const (
	limitSocketsPerAddress      = "sockets_per_address"
	limitSocketsPerUser         = "sockets_per_user"
	limitSubscriptionsPerSocket = "subscriptions_per_socket"
	limitSubscriptionsPerUser   = "subscriptions_per_user"
	limitLiveQueries            = "live_queries"
	limitQueryDocuments         = "live_query_documents"
	limitDocumentsPerRequest    = "documents_per_request"
	limitCost                   = "graphql_cost"
	limitMessageSize            = "message_size"
	limitDocumentsPerUser       = "live_documents_per_user"
	limitDocumentsHeld          = "live_documents_held"
)

// counts caps how many of something each key holds at once (sockets per
// client address, sockets per user, ...). A negative max means no cap.
type counts struct {
	mu  sync.Mutex
	max int
	m   map[string]int
}

func newCounts(max int) *counts { return &counts{max: max, m: map[string]int{}} }

// acquire takes one for key, or returns false when key holds max already.
// Call the release function once when done.
func (c *counts) acquire(key string) (release func(), ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.max >= 0 && c.m[key] >= c.max {
		return nil, false
	}
	c.m[key]++
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			if c.m[key]--; c.m[key] <= 0 {
				delete(c.m, key)
			}
			c.mu.Unlock()
		})
	}, true
}

// turns lets each key run one thing at a time (a user's change-stream
// setups): others of the same key wait their turn, in no set order.
type turns struct {
	mu sync.Mutex
	m  map[string]*turn
}

type turn struct {
	ch      chan struct{} // holds a token while someone has the turn
	waiting int           // holders and waiters, to drop idle keys
}

func newTurns() *turns { return &turns{m: map[string]*turn{}} }

// take waits for key's turn, or for ctx. Call the release function once
// when done.
func (t *turns) take(ctx context.Context, key string) (release func(), err error) {
	t.mu.Lock()
	tn := t.m[key]
	if tn == nil {
		tn = &turn{ch: make(chan struct{}, 1)}
		t.m[key] = tn
	}
	tn.waiting++
	t.mu.Unlock()
	leave := func() {
		t.mu.Lock()
		if tn.waiting--; tn.waiting == 0 {
			delete(t.m, key)
		}
		t.mu.Unlock()
	}
	select {
	case tn.ch <- struct{}{}:
	case <-ctx.Done():
		leave()
		return nil, ctx.Err()
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			<-tn.ch
			leave()
		})
	}, nil
}

// clientAddr is the IP address of a request's client (without the port).
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// limitError is a refusal by a budget: GraphQL answers it with the code
// LIMIT_EXCEEDED; its kind decides the HTTP status and close code.
type limitError struct {
	limit string
	err   error
}

func (e *limitError) Error() string { return e.err.Error() }
func (e *limitError) Unwrap() error { return e.err }

// overLimit returns a refusal by the budget limit, of the given kind, and
// counts it.
func (h *Hub) overLimit(limit string, kind error, target, format string, args ...any) error {
	if h.metrics != nil {
		h.metrics.refused.WithLabelValues(limit).Inc()
	}
	return &limitError{limit: limit, err: errs.New(kind, "watch", target, format, args...)}
}

// isLimit reports whether err is a budget's refusal.
func isLimit(err error) bool {
	var le *limitError
	return errors.As(err, &le)
}

// weights caps a sum per key (documents of a user's live queries). A
// negative max means no cap.
type weights struct {
	mu  sync.Mutex
	max int64
	m   map[string]int64
}

func newWeights(max int) *weights { return &weights{max: int64(max), m: map[string]int64{}} }

// used is key's current sum.
func (w *weights) used(key string) int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.m[key]
}

// acquire adds n for key, or returns false (and the current sum) when the
// sum would pass max. Call the release function once when done.
func (w *weights) acquire(key string, n int64) (release func(), used int64, ok bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.max >= 0 && w.m[key]+n > w.max {
		return nil, w.m[key], false
	}
	w.m[key] += n
	var once sync.Once
	return func() {
		once.Do(func() {
			w.mu.Lock()
			if w.m[key] -= n; w.m[key] <= 0 {
				delete(w.m, key)
			}
			w.mu.Unlock()
		})
	}, 0, true
}
