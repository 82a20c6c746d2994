// Package errs is fbadmin's single error model: a small set of sentinel
// kinds and an [Error] type that unwraps to both its kind and its cause (a
// gRPC status error, a Firebase error, a network error), so that callers can
// use errors.Is against the sentinels and errors.As against the cause.
//
// Public packages re-export the sentinels (repository.ErrNotFound is
// errs.ErrNotFound), so one errors.Is check works across the module.
package errs

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Sentinel kinds. Every error returned by fbadmin's library packages that has
// a kind unwraps to exactly one of these.
var (
	ErrNotFound        = errors.New("not found")
	ErrAlreadyExists   = errors.New("already exists")
	ErrConflict        = errors.New("conflict") // stale precondition, aborted transaction
	ErrInvalid         = errors.New("invalid argument")
	ErrUnauthenticated = errors.New("unauthenticated")
	ErrPermission      = errors.New("permission denied")
	ErrUnavailable     = errors.New("unavailable")
	ErrCanceled        = errors.New("canceled")
	ErrResourceLimit   = errors.New("resource exhausted")
	ErrInternal        = errors.New("internal error")
	// ErrDenied is a request made as an end user (fbadmin --as) that
	// Firestore's security rules refused; see [Denied].
	ErrDenied = errors.New("denied by security rules")
)

// Error is a classified error. Kind is one of the sentinels above; Cause is
// the underlying error (often a gRPC status error). Op names the operation
// and Target what it acted on (a document path, a UID), both optional.
type Error struct {
	Kind   error
	Op     string
	Target string
	Cause  error
}

func (e *Error) Error() string {
	msg := ""
	if e.Op != "" {
		msg = e.Op
		if e.Target != "" {
			msg += " " + e.Target
		}
		msg += ": "
	}
	var inner *Error
	if errors.As(e.Cause, &inner) {
		// Re-wrapped: the inner error already says its kind and
		// operation ("copy users: get users/a: not found").
		return msg + e.Cause.Error()
	}
	cause := ""
	if e.Cause != nil {
		if st, ok := status.FromError(e.Cause); ok {
			cause = st.Message()
		} else {
			cause = e.Cause.Error()
		}
		cause = userTerms(cause)
	}
	switch {
	case cause == "":
		return msg + e.Kind.Error()
	case e.Kind == ErrInternal:
		return msg + cause
	default:
		return msg + e.Kind.Error() + ": " + cause
	}
}

// Unwrap returns both the kind and the cause, so errors.Is(err, ErrNotFound)
// and errors.As(err, &grpcStatusErr) both work.
func (e *Error) Unwrap() []error {
	if e.Cause == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Cause}
}

// GRPCStatus exposes the cause's gRPC status, so status.Code(err) works on a
// classified error.
func (e *Error) GRPCStatus() *status.Status {
	var se interface{ GRPCStatus() *status.Status }
	if errors.As(e.Cause, &se) {
		return se.GRPCStatus()
	}
	return status.New(CodeOf(e.Kind), e.Error())
}

// New returns a classified error of kind with a formatted message as cause.
func New(kind error, op, target, format string, args ...any) error {
	return &Error{Kind: kind, Op: op, Target: target, Cause: fmt.Errorf(format, args...)}
}

// Wrap classifies err (by its gRPC code, or context errors) and attaches op
// and target. It returns nil for a nil err and leaves an already classified
// error's kind alone.
func Wrap(err error, op, target string) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		if op == "" || (e.Op == op && e.Target == target) {
			return err
		}
		return &Error{Kind: e.Kind, Op: op, Target: target, Cause: err}
	}
	return &Error{Kind: KindOf(err), Op: op, Target: target, Cause: err}
}

// KindOf returns the sentinel kind of err: its own if already classified,
// otherwise derived from its gRPC code or context error.
func KindOf(err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	for _, k := range []error{ErrNotFound, ErrAlreadyExists, ErrConflict, ErrInvalid, ErrUnauthenticated,
		ErrDenied, ErrPermission, ErrUnavailable, ErrCanceled, ErrResourceLimit} {
		if errors.Is(err, k) {
			return k
		}
	}
	switch {
	case errors.Is(err, context.Canceled):
		return ErrCanceled
	case errors.Is(err, context.DeadlineExceeded):
		return ErrUnavailable
	}
	return kindOfCode(status.Code(err))
}

func kindOfCode(c codes.Code) error {
	switch c {
	case codes.NotFound:
		return ErrNotFound
	case codes.AlreadyExists:
		return ErrAlreadyExists
	case codes.FailedPrecondition, codes.Aborted:
		return ErrConflict
	case codes.InvalidArgument, codes.OutOfRange:
		return ErrInvalid
	case codes.Unauthenticated:
		return ErrUnauthenticated
	case codes.PermissionDenied:
		return ErrPermission
	case codes.Unavailable, codes.DeadlineExceeded:
		return ErrUnavailable
	case codes.Canceled:
		return ErrCanceled
	case codes.ResourceExhausted:
		return ErrResourceLimit
	default:
		return ErrInternal
	}
}

// CodeOf maps a kind back to a gRPC code.
func CodeOf(kind error) codes.Code {
	switch kind {
	case ErrNotFound:
		return codes.NotFound
	case ErrAlreadyExists:
		return codes.AlreadyExists
	case ErrConflict:
		return codes.FailedPrecondition
	case ErrInvalid:
		return codes.InvalidArgument
	case ErrUnauthenticated:
		return codes.Unauthenticated
	case ErrPermission, ErrDenied:
		return codes.PermissionDenied
	case ErrUnavailable:
		return codes.Unavailable
	case ErrCanceled:
		return codes.Canceled
	case ErrResourceLimit:
		return codes.ResourceExhausted
	default:
		return codes.Internal
	}
}

// Denied reclassifies a permission-denied error of a request made as the
// end user as (a session name or UID) as [ErrDenied]: security rules, not
// IAM, refused it. The message names the operation and the path the inner
// error names ("get users/alice as bob: denied by security rules: false
// for 'get' @ L5"); op and target are used when it names none. Other errors
// are returned unchanged.
func Denied(err error, as, op, target string) error {
	if err == nil || KindOf(err) != ErrPermission {
		return err
	}
	var inner *Error
	cause := err
	if errors.As(err, &inner) {
		for {
			var deeper *Error
			if !errors.As(inner.Cause, &deeper) {
				break
			}
			if inner.Op == "" {
				inner = deeper
				continue
			}
			break
		}
		if inner.Op != "" {
			op, target = inner.Op, inner.Target
		}
		cause = inner.Cause
		if cause == nil {
			cause = inner
		}
	}
	if as != "" {
		target = strings.TrimSpace(target + " as " + as)
	}
	return &Error{Kind: ErrDenied, Op: op, Target: target, Cause: cause}
}
