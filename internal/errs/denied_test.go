package errs

import (
	"errors"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestDenied(t *testing.T) {
	rpc := status.Error(codes.PermissionDenied, "\nfalse for 'get' @ L5")
	wrapped := Wrap(rpc, "get", "users/alice")
	got := Denied(wrapped, "bob", "", "")
	if KindOf(got) != ErrDenied || !errors.Is(got, ErrDenied) {
		t.Fatalf("kind: got %v, want ErrDenied", KindOf(got))
	}
	if status.Code(got) != codes.PermissionDenied {
		t.Errorf("status.Code: got %v, want PermissionDenied", status.Code(got))
	}
	msg := strings.Join(strings.Fields(got.Error()), " ")
	if want := "get users/alice as bob: denied by security rules: false for 'get' @ L5"; msg != want {
		t.Errorf("message: got %q, want %q", msg, want)
	}
	// A bare gRPC error takes the op and target given.
	if msg := Denied(rpc, "bob", "delete", "users/x").Error(); !strings.HasPrefix(msg, "delete users/x as bob: denied by security rules") {
		t.Errorf("bare: got %q", msg)
	}
	// Other kinds pass through.
	nf := Wrap(status.Error(codes.NotFound, "x"), "get", "a/b")
	if Denied(nf, "bob", "", "") != nf {
		t.Error("a not-found error was changed")
	}
	if Denied(nil, "bob", "", "") != nil {
		t.Error("nil became an error")
	}
}
