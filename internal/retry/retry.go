// Package retry holds the waits between retries shared by fbadmin's
// supervised loops: exponential backoff with jitter and a sleep that ends
// with its context.
package retry

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff returns the wait before retry number attempt (from 0): an
// exponential bound, from initial and doubling, capped at max; half of it
// fixed and half random ("equal jitter"), so that many clients retrying
// together spread out while none retries at once.
func Backoff(initial, max time.Duration, attempt int) time.Duration {
	d := initial
	for i := 0; i < attempt && d < max; i++ {
		d *= 2
	}
	d = min(d, max)
	return d/2 + rand.N(d/2+1)
}

// Sleep waits for d and reports true, or reports false as soon as ctx is
// done.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
