package main

import (
	"context"
	"errors"
	"strings"

	"github.com/fbadmin/fbadmin/auth"
	"github.com/fbadmin/fbadmin/internal/errs"
)

// Exit codes, documented in docs/cli.md and the README.
const (
	exitOK          = 0   // success
	exitError       = 1   // any other error (unreachable backend, permission, internal)
	exitUsage       = 2   // bad flags, arguments or input (malformed JSON, bad path, unknown operator)
	exitPartial     = 3   // a bulk job finished with some documents failed
	exitNotFound    = 4   // a document, user or other object does not exist
	exitConflict    = 5   // already exists, or a precondition (update time) failed
	exitDenied      = 6   // denied by security rules (a request made as a user with --as)
	exitMismatch    = 7   // rules check: an outcome differed from the expected one
	exitInterrupted = 130 // stopped by Ctrl-C or SIGTERM; resumable jobs say how to resume
)

// partialError reports that a job finished with some items failed.
type partialError struct{ err error }

func (e partialError) Error() string { return e.err.Error() }
func (e partialError) Unwrap() error { return e.err }

// interruptedError reports a job stopped by a signal, with how to resume.
type interruptedError struct{ msg string }

func (e interruptedError) Error() string { return e.msg }

func exitCode(ctx context.Context, err error) int {
	var ue usageError
	var pe partialError
	var ie interruptedError
	var me mismatchError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		return exitUsage
	case errors.As(err, &ie), ctx.Err() != nil, errors.Is(err, context.Canceled):
		return exitInterrupted
	case errors.As(err, &pe):
		return exitPartial
	case errors.As(err, &me):
		return exitMismatch
	}
	switch errs.KindOf(err) {
	case errs.ErrNotFound:
		return exitNotFound
	case errs.ErrConflict, errs.ErrAlreadyExists:
		return exitConflict
	case errs.ErrDenied:
		return exitDenied
	case errs.ErrInvalid:
		return exitUsage
	}
	return exitError
}

// errorLine renders an error as the one line printed on stderr, with a hint
// by kind when the message has none. A list in the message ("N problems:"
// then "- ..." lines, as config errors have) keeps one item a line.
func errorLine(err error) string {
	var parts []string
	for _, l := range strings.Split(err.Error(), "\n") {
		l = strings.Join(strings.Fields(l), " ")
		switch {
		case l == "":
		case strings.HasPrefix(l, "- ") && len(parts) > 0:
			parts = append(parts, "\n  "+l)
		case len(parts) > 0:
			parts = append(parts, " "+l)
		default:
			parts = append(parts, l)
		}
	}
	msg := strings.Join(parts, "")
	line := "fbadmin: " + msg
	if strings.Contains(msg, "hint:") {
		return line
	}
	var h string
	switch errs.KindOf(err) {
	case errs.ErrUnavailable:
		h = "the backend did not answer: check the network, or that the emulator runs (scripts/emulators.sh start) and --emulator / FIRESTORE_EMULATOR_HOST point at it"
	case errs.ErrUnauthenticated:
		var te *auth.TokenError
		var se *auth.ServiceError
		if errors.As(err, &te) || errors.As(err, &se) {
			break // a refused token or sign-in, not fbadmin's credentials
		}
		h = "the credentials were refused: pass --credentials FILE or set GOOGLE_APPLICATION_CREDENTIALS"
	case errs.ErrPermission:
		h = "the credentials lack the IAM role for this (roles/datastore.user for Firestore data, roles/firebaseauth.admin for Auth)"
	case errs.ErrResourceLimit:
		h = "a quota or rate limit was hit: retry later or lower --concurrency"
	case errs.ErrDenied:
		h = "the security rules refused this for that user; 'fbadmin rules check --as USER OP PATH' tries one operation, 'fbadmin auth whoami' shows the user's claims"
	}
	if h != "" {
		line += " (hint: " + h + ")"
	}
	return line
}

// interrupted reports whether ctx was cancelled by a signal (not by the
// --timeout deadline).
func interrupted(ctx context.Context) bool {
	return errors.Is(ctx.Err(), context.Canceled)
}
