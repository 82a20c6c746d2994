package retry

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestBackoffSchedule(t *testing.T) {
	for attempt, bound := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
		bound *= time.Millisecond
		for range 200 {
			d := Backoff(100*time.Millisecond, time.Second, attempt)
			if d < bound/2 || d > bound {
				t.Fatalf("attempt %d: %v outside [%v, %v]", attempt, d, bound/2, bound)
			}
		}
	}
}

func TestSleep(t *testing.T) {
	if !Sleep(context.Background(), time.Millisecond) {
		t.Fatal("Sleep without cancellation reported false")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	if Sleep(ctx, time.Hour) {
		t.Fatal("Sleep on a done context reported true")
	}
	if time.Since(start) > time.Second {
		t.Fatal("Sleep on a done context waited")
	}
}

func TestTransient(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{status.Error(codes.Unavailable, "x"), true},
		{status.Error(codes.ResourceExhausted, "x"), true},
		{status.Error(codes.Aborted, "x"), true},
		{status.Error(codes.Internal, "x"), true},
		{status.Error(codes.DeadlineExceeded, "x"), true},
		{fmt.Errorf("commit: %w", status.Error(codes.Unavailable, "x")), true},
		{context.DeadlineExceeded, true}, // one attempt's own timeout
		{context.Canceled, false},
		{status.Error(codes.Canceled, "x"), false},
		{status.Error(codes.InvalidArgument, "x"), false},
		{status.Error(codes.NotFound, "x"), false},
		{status.Error(codes.AlreadyExists, "x"), false},
		{status.Error(codes.PermissionDenied, "x"), false},
		{status.Error(codes.Unauthenticated, "x"), false},
		{status.Error(codes.FailedPrecondition, "x"), false},
		{errors.New("plain"), false},
	} {
		if got := Transient(tc.err); got != tc.want {
			t.Errorf("Transient(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestPermanent(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{status.Error(codes.InvalidArgument, "bad filter"), true},
		{status.Error(codes.PermissionDenied, "rules"), true},
		{status.Error(codes.Unauthenticated, "token"), true},
		{status.Error(codes.FailedPrecondition, "needs an index"), true},
		{status.Error(codes.NotFound, "no database"), true},
		{status.Error(codes.Aborted, "contention"), false},
		{status.Error(codes.Unavailable, "down"), false},
		{status.Error(codes.Internal, "oops"), false},
		{context.Canceled, false},
		{context.DeadlineExceeded, false},
		{errors.New("connection reset"), false},
	} {
		if got := Permanent(tc.err); got != tc.want {
			t.Errorf("Permanent(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
