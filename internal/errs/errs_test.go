package errs

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestWrapClassifiesGRPCCodes(t *testing.T) {
	tests := []struct {
		code codes.Code
		want error
	}{
		{codes.NotFound, ErrNotFound},
		{codes.AlreadyExists, ErrAlreadyExists},
		{codes.FailedPrecondition, ErrConflict},
		{codes.Aborted, ErrConflict},
		{codes.InvalidArgument, ErrInvalid},
		{codes.Unauthenticated, ErrUnauthenticated},
		{codes.PermissionDenied, ErrPermission},
		{codes.Unavailable, ErrUnavailable},
		{codes.DeadlineExceeded, ErrUnavailable},
		{codes.Canceled, ErrCanceled},
		{codes.ResourceExhausted, ErrResourceLimit},
		{codes.Internal, ErrInternal},
	}
	for _, tt := range tests {
		cause := status.Error(tt.code, "boom")
		err := Wrap(cause, "get", "users/alice")
		if !errors.Is(err, tt.want) {
			t.Errorf("Wrap(%v): errors.Is(err, %v) = false; err = %v", tt.code, tt.want, err)
		}
		var st interface{ GRPCStatus() *status.Status }
		if !errors.As(err, &st) || st.GRPCStatus().Code() != tt.code {
			t.Errorf("Wrap(%v): errors.As to the gRPC status failed", tt.code)
		}
		if got := status.Code(err); got != tt.code {
			t.Errorf("status.Code(Wrap(%v)) = %v", tt.code, got)
		}
		if KindOf(err) != tt.want {
			t.Errorf("KindOf(Wrap(%v)) = %v, want %v", tt.code, KindOf(err), tt.want)
		}
	}
}

func TestWrapMessageAndIdempotence(t *testing.T) {
	err := Wrap(status.Error(codes.NotFound, "no document"), "get", "users/alice")
	if got, want := err.Error(), "get users/alice: not found: no document"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if again := Wrap(err, "get", "users/alice"); again != err {
		t.Errorf("wrapping twice with the same op should return the same error")
	}
	outer := Wrap(fmt.Errorf("batch: %w", err), "import", "line 3")
	if !errors.Is(outer, ErrNotFound) {
		t.Errorf("re-wrapped error lost its kind: %v", outer)
	}
	if got, want := outer.Error(), "import line 3: batch: get users/alice: not found: no document"; got != want {
		t.Errorf("re-wrapped Error() = %q, want %q", got, want)
	}
	copyErr := Wrap(New(ErrNotFound, "get", "users/a", ""), "copy", "users")
	if got, want := copyErr.Error(), "copy users: get users/a: not found"; got != want {
		t.Errorf("re-wrapped Error() = %q, want %q (the inner operation kept, the kind said once)", got, want)
	}
	if Wrap(nil, "x", "y") != nil {
		t.Errorf("Wrap(nil) != nil")
	}
}

func TestKindOfContextErrors(t *testing.T) {
	if KindOf(context.Canceled) != ErrCanceled {
		t.Errorf("context.Canceled should be ErrCanceled")
	}
	if KindOf(fmt.Errorf("x: %w", context.DeadlineExceeded)) != ErrUnavailable {
		t.Errorf("deadline should be ErrUnavailable")
	}
	if KindOf(fmt.Errorf("x: %w", ErrPermission)) != ErrPermission {
		t.Errorf("wrapped sentinel should keep its kind")
	}
}

func TestNew(t *testing.T) {
	err := New(ErrInvalid, "parse", "line 7", "unknown operator %q", "=~")
	if !errors.Is(err, ErrInvalid) || status.Code(err) != codes.InvalidArgument {
		t.Errorf("New: kind or code lost: %v", err)
	}
	if got, want := err.Error(), `parse line 7: invalid argument: unknown operator "=~"`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}
