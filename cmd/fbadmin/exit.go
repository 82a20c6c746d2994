package main

import (
	"context"
	"errors"

	"github.com/fbadmin/fbadmin/internal/errs"
)

// Exit codes, documented in the README.
const (
	exitOK          = 0
	exitError       = 1
	exitUsage       = 2
	exitPartial     = 3
	exitNotFound    = 4
	exitConflict    = 5
	exitInterrupted = 130
)

// partialError reports that a job finished with some items failed.
type partialError struct{ err error }

func (e partialError) Error() string { return e.err.Error() }
func (e partialError) Unwrap() error { return e.err }

func exitCode(ctx context.Context, err error) int {
	var ue usageError
	var pe partialError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		return exitUsage
	case ctx.Err() != nil || errors.Is(err, context.Canceled):
		return exitInterrupted
	case errors.As(err, &pe):
		return exitPartial
	}
	switch errs.KindOf(err) {
	case errs.ErrNotFound:
		return exitNotFound
	case errs.ErrConflict, errs.ErrAlreadyExists:
		return exitConflict
	case errs.ErrInvalid:
		return exitUsage
	}
	return exitError
}
