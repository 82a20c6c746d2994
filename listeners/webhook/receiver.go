package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/fbadmin/fbadmin/listeners"
)

// Receiver is the endpoint side of the webhook sink, for services written
// in Go: it checks each request's signature and timestamp, and remembers
// the batch IDs it accepted for twice the tolerance, so that a replayed or
// retried batch is acknowledged without being applied twice. Its zero
// value is not usable: set Secret.
//
//	rc := &webhook.Receiver{Secret: os.Getenv("FBADMIN_WEBHOOK_SECRET")}
//	http.Handle("/firestore", rc.Handler(func(ctx context.Context, evs []listeners.Event) error {
//		return apply(ctx, evs) // an error answers 500: the sink sends the batch again
//	}))
type Receiver struct {
	// Secret is the shared HMAC key (the sink's secret).
	Secret string
	// Tolerance bounds the distance between a signature's timestamp and
	// the receiver's clock; default DefaultTolerance.
	Tolerance time.Duration
	// MaxBody bounds a request body; default 64 MiB.
	MaxBody int64
	// Now is the clock; default time.Now.
	Now func() time.Time

	mu   sync.Mutex
	seen map[string]time.Time // batch ID -> when it was accepted
}

func (rc *Receiver) now() time.Time {
	if rc.Now != nil {
		return rc.Now()
	}
	return time.Now()
}

func (rc *Receiver) tolerance() time.Duration {
	if rc.Tolerance > 0 {
		return rc.Tolerance
	}
	return DefaultTolerance
}

// Check reads r's body and verifies its signature and timestamp. dup
// reports a batch whose ID was already accepted within twice the
// tolerance: acknowledge it (2xx) without applying it again. A request
// that passes is recorded as accepted only by [Receiver.Done], once it was
// applied.
func (rc *Receiver) Check(r *http.Request) (body []byte, dup bool, err error) {
	max := rc.MaxBody
	if max <= 0 {
		max = 64 << 20
	}
	body, err = io.ReadAll(io.LimitReader(r.Body, max+1))
	if err != nil {
		return nil, false, fmt.Errorf("webhook: read body: %w", err)
	}
	if int64(len(body)) > max {
		return nil, false, fmt.Errorf("webhook: body over %d bytes", max)
	}
	if rc.Secret == "" {
		return nil, false, errors.New("webhook: Receiver.Secret is not set")
	}
	now := rc.now()
	if err := CheckSignature(rc.Secret, body, r.Header.Get(SignatureHeader), now, rc.tolerance()); err != nil {
		return nil, false, err
	}
	id := r.Header.Get(BatchHeader)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.expire(now)
	_, dup = rc.seen[id]
	return body, dup && id != "", nil
}

// Done records the batch of r as applied.
func (rc *Receiver) Done(r *http.Request) {
	id := r.Header.Get(BatchHeader)
	if id == "" {
		return
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.seen == nil {
		rc.seen = map[string]time.Time{}
	}
	rc.seen[id] = rc.now()
}

// expire forgets batch IDs older than twice the tolerance: a replay of
// them fails the timestamp check anyway. rc.mu held.
func (rc *Receiver) expire(now time.Time) {
	keep := 2 * rc.tolerance()
	for id, at := range rc.seen {
		if now.Sub(at) > keep {
			delete(rc.seen, id)
		}
	}
}

// Handler returns a handler that checks each POST and calls apply with the
// events of each new batch, once. It answers 204 when apply succeeds or
// the batch was already applied, 401 for a missing, wrong or stale
// signature, 400 for a body that is not a batch, and 500 when apply fails
// (the sink then sends the batch again).
func (rc *Receiver) Handler(apply func(ctx context.Context, events []listeners.Event) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		body, dup, err := rc.Check(r)
		switch {
		case errors.Is(err, ErrNoSignature), errors.Is(err, ErrBadSignature), errors.Is(err, ErrStale):
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		case err != nil:
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		case dup:
			w.WriteHeader(http.StatusNoContent)
			return
		}
		var batch struct {
			Events []listeners.Event `json:"events"`
		}
		if err := json.Unmarshal(body, &batch); err != nil {
			http.Error(w, "webhook: body is not a batch of events: "+err.Error(), http.StatusBadRequest)
			return
		}
		if err := apply(r.Context(), batch.Events); err != nil {
			http.Error(w, "apply failed", http.StatusInternalServerError)
			return
		}
		rc.Done(r)
		w.WriteHeader(http.StatusNoContent)
	})
}
