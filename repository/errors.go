package repository

import (
	"context"
	"errors"
	"strings"

	"github.com/fbadmin/fbadmin/internal/errs"
	"google.golang.org/grpc/status"
)

// Error kinds. Every error returned by this package that comes from
// Firestore, or from invalid input, is an [*Error] that unwraps to one of
// these sentinels and to its cause (often a gRPC status error), so that both
// errors.Is(err, ErrNotFound) and errors.As(err, &grpcStatusErr) work. They
// are the sentinels of fbadmin's whole error model: the same values are used
// by the other packages of the module.
var (
	// ErrNotFound: the document does not exist (Get, Update, Delete with
	// an existence precondition).
	ErrNotFound = errs.ErrNotFound
	// ErrAlreadyExists: Create on a document that exists.
	ErrAlreadyExists = errs.ErrAlreadyExists
	// ErrConflict: a precondition failed (a stale update time: another
	// writer got there first) or a transaction was aborted by contention.
	ErrConflict = errs.ErrConflict
	// ErrInvalid: an invalid argument, rejected by Firestore or by this
	// package (a bad path, a value that cannot be encoded, a page token from
	// another query).
	ErrInvalid = errs.ErrInvalid
	// ErrUnauthenticated: missing or expired credentials.
	ErrUnauthenticated = errs.ErrUnauthenticated
	// ErrPermission: the caller may not do this (security rules, IAM).
	ErrPermission = errs.ErrPermission
	// ErrUnavailable: Firestore could not be reached or timed out; the
	// operation may be retried.
	ErrUnavailable = errs.ErrUnavailable
	// ErrCanceled: the context was canceled.
	ErrCanceled = errs.ErrCanceled
	// ErrResourceLimit: a quota or rate limit was hit.
	ErrResourceLimit = errs.ErrResourceLimit
	// ErrInternal: anything else.
	ErrInternal = errs.ErrInternal
)

// Error is the type of classified errors. Kind is one of the sentinels, Op
// the operation ("get", "update", ...), Target the document or collection
// path relative to the database, Cause the underlying error.
type Error = errs.Error

// wrap classifies an error of the Firestore SDK. Errors that the SDK detects
// on the client side before any RPC (an invalid path, an unsupported Go
// type, MergeAll with a struct) carry no gRPC code; they all start with
// "firestore: " and are misuse, so they are classified as ErrInvalid rather
// than ErrInternal.
func wrap(err error, op, target string) error {
	if err == nil {
		return nil
	}
	var e *errs.Error
	if errors.As(err, &e) {
		return errs.Wrap(err, op, target)
	}
	if _, ok := status.FromError(err); !ok &&
		!errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) &&
		strings.HasPrefix(err.Error(), "firestore: ") {
		return &errs.Error{Kind: ErrInvalid, Op: op, Target: target, Cause: err}
	}
	return errs.Wrap(err, op, target)
}

// invalid returns an ErrInvalid error raised by this package.
func invalid(op, target, format string, args ...any) error {
	return errs.New(ErrInvalid, op, target, format, args...)
}

// errInternal returns an ErrInternal error raised by this package.
func errInternal(op, target, format string, args ...any) error {
	return errs.New(ErrInternal, op, target, format, args...)
}
