package retry

import (
	"context"
	"math"
	"sync"

	"golang.org/x/time/rate"
)

// Limiter is a steady rate limiter of units (bytes, typically) on a
// [Clock]: perSecond units a second, with a burst of one second's worth.
// A nil *Limiter does not limit. It is safe for concurrent use.
type Limiter struct {
	clock Clock
	mu    sync.Mutex
	lim   *rate.Limiter
}

// NewLimiter returns a Limiter of perSecond units a second (which must be
// positive); clock nil means the real clock.
func NewLimiter(perSecond float64, clock Clock) *Limiter {
	if clock == nil {
		clock = realClock{}
	}
	burst := max(int(math.Min(perSecond, 1<<30)), 1)
	return &Limiter{clock: clock, lim: rate.NewLimiter(rate.Limit(perSecond), burst)}
}

// Rate returns the rate in units a second; +Inf for a nil Limiter.
func (l *Limiter) Rate() float64 {
	if l == nil {
		return math.Inf(1)
	}
	return float64(l.lim.Limit())
}

// Wait blocks until n units may go, or returns ctx's error. More units
// than the burst are taken in pieces, so that a large request waits for
// all of them. A nil Limiter does not wait.
func (l *Limiter) Wait(ctx context.Context, n int64) error {
	if err := ctx.Err(); err != nil || l == nil {
		return err
	}
	for n > 0 {
		l.mu.Lock()
		now := l.clock.Now()
		k := int(min(n, int64(l.lim.Burst())))
		res := l.lim.ReserveN(now, k)
		l.mu.Unlock()
		if !res.OK() { // cannot happen: k is within the burst
			return nil
		}
		if d := res.DelayFrom(now); d > 0 {
			if err := l.clock.Wait(ctx, d); err != nil {
				res.CancelAt(l.clock.Now())
				return err
			}
		}
		n -= int64(k)
	}
	return nil
}

// Pacer paces requests by their operations (documents) and by their size
// in bytes: a request waits for its operations on Ops and then for its
// bytes on Bytes. The two limiters refill in the same time, so a request
// waits for the slower of the two budgets, not their sum: small documents
// are held back by the rate of operations, large ones by the rate of
// bytes. A nil field does not limit; the zero Pacer does not wait.
type Pacer struct {
	Ops   *Ramp
	Bytes *Limiter
}

// Wait blocks until a request of ops operations and size bytes may go, or
// returns ctx's error.
func (p Pacer) Wait(ctx context.Context, ops int, size int64) error {
	if err := p.Ops.Wait(ctx, ops); err != nil {
		return err
	}
	return p.Bytes.Wait(ctx, size)
}
