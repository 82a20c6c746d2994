// Package retry is fbadmin's one retry toolkit: the classification of
// errors worth retrying, exponential backoff with jitter, and waits that
// end with their context. Every retry loop of the module uses it.
package retry

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
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

// Wait waits for d, or returns ctx's error as soon as ctx is done.
func Wait(ctx context.Context, d time.Duration) error {
	if !Sleep(ctx, d) {
		return ctx.Err()
	}
	return nil
}

// Transient reports whether err is worth retrying: the service was
// unavailable, overloaded, timed out on its side, aborted the request or
// failed internally (gRPC Unavailable, ResourceExhausted, Aborted,
// Internal, DeadlineExceeded), or one attempt ran out of its own time
// (context.DeadlineExceeded). A cancelled context is not; callers check
// their own context before they retry. This is the one classifier of the
// module's retry loops.
func Transient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.ResourceExhausted, codes.Aborted, codes.Internal, codes.DeadlineExceeded:
		return true
	}
	return errors.Is(err, context.DeadlineExceeded)
}
