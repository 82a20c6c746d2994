package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"

	fbauth "firebase.google.com/go/v4/auth"
	"firebase.google.com/go/v4/errorutils"

	"github.com/fbadmin/fbadmin/internal/errs"
)

// The error kinds of fbadmin (re-exported from the common error model), so
// that errors.Is(err, auth.ErrNotFound) works for user operations.
var (
	ErrNotFound        = errs.ErrNotFound
	ErrAlreadyExists   = errs.ErrAlreadyExists
	ErrConflict        = errs.ErrConflict
	ErrInvalid         = errs.ErrInvalid
	ErrUnauthenticated = errs.ErrUnauthenticated
	ErrPermission      = errs.ErrPermission
	ErrUnavailable     = errs.ErrUnavailable
	ErrCanceled        = errs.ErrCanceled
	ErrResourceLimit   = errs.ErrResourceLimit
	ErrInternal        = errs.ErrInternal
)

// Reasons for a failed token verification or refresh. A [TokenError]
// unwraps to exactly one of them (and to [ErrUnauthenticated]).
var (
	ErrTokenExpired     = errors.New("token expired")
	ErrTokenNotYetValid = errors.New("token not yet valid")
	ErrTokenAudience    = errors.New("token has the wrong audience")
	ErrTokenIssuer      = errors.New("token has the wrong issuer")
	ErrTokenSignature   = errors.New("token signature not valid")
	ErrTokenMalformed   = errors.New("token malformed")
	ErrTokenRevoked     = errors.New("token revoked")
	ErrTokenTenant      = errors.New("token belongs to another tenant")
	ErrTokenUnknownUser = errors.New("token's user does not exist")
	ErrUserDisabled     = errors.New("user disabled")
	// ErrInvalidCredentials is the reason of a failed password sign-in
	// (unknown email or wrong password; the service does not say which).
	ErrInvalidCredentials = errors.New("invalid email or password")
)

// TokenError is a failed token verification, sign-in or refresh. Reason is
// one of the ErrToken* sentinels, [ErrUserDisabled] or
// [ErrInvalidCredentials]; errors.Is(err, auth.ErrTokenExpired) and
// errors.As(err, &tokenErr) both work. The message never contains the token.
type TokenError struct {
	Op     string // what was attempted: "verify ID token", "refresh token", ...
	Reason error  // the sentinel
	Detail string // a safe explanation (claim names and values, never the token)
	Cause  error  // the Admin SDK's or the service's error, if any
}

func (e *TokenError) Error() string {
	msg := e.Op + ": " + e.Reason.Error()
	if e.Detail != "" {
		msg += " (" + e.Detail + ")"
	}
	return msg
}

// Unwrap returns the reason, ErrUnauthenticated and the cause.
func (e *TokenError) Unwrap() []error {
	out := []error{e.Reason, errs.ErrUnauthenticated}
	if e.Cause != nil {
		out = append(out, e.Cause)
	}
	return out
}

func tokenErr(op string, reason error, detail string, cause error) *TokenError {
	return &TokenError{Op: op, Reason: reason, Detail: detail, Cause: cause}
}

// wrapErr classifies an Admin SDK error into the errs model, keeping the SDK
// error as the cause (so [SDKError] and errorutils predicates still work).
func wrapErr(err error, op, target string) error {
	if err == nil {
		return nil
	}
	var te *TokenError
	if errors.As(err, &te) {
		return err
	}
	var e *errs.Error
	if errors.As(err, &e) {
		return errs.Wrap(err, op, target)
	}
	if status, msg, ok := rawHTTPError(err); ok {
		// The SDK did not recognise the response and kept its raw body as
		// the message: say what the service said, once.
		if status == http.StatusNotImplemented {
			return &errs.Error{Kind: errs.ErrInternal, Op: op, Target: target, Cause: &notSupportedError{detail: msg, cause: err}}
		}
		return &errs.Error{Kind: sdkKind(err), Op: op, Target: target, Cause: &serviceMessage{msg: msg, cause: err}}
	}
	return &errs.Error{Kind: sdkKind(err), Op: op, Target: target, Cause: err}
}

// ErrNotSupported is the reason of a call the Auth emulator does not
// implement (it answers 501 Not Implemented): user search with a filter, a
// limit, an offset or a sort other than by UID, among others. Errors that
// unwrap to it also unwrap to the Admin SDK's error.
var ErrNotSupported = errors.New("not supported by the Auth emulator")

type notSupportedError struct {
	detail string // the emulator's message ("limit is not implemented.")
	cause  error
}

func (e *notSupportedError) Error() string {
	if e.detail == "" {
		return ErrNotSupported.Error()
	}
	return ErrNotSupported.Error() + " (" + strings.TrimSuffix(e.detail, ".") + ")"
}

func (e *notSupportedError) Unwrap() []error { return []error{ErrNotSupported, e.cause} }

// serviceMessage is an SDK error whose message was a raw HTTP body,
// reduced to the message in that body.
type serviceMessage struct {
	msg   string
	cause error
}

func (e *serviceMessage) Error() string { return e.msg }
func (e *serviceMessage) Unwrap() error { return e.cause }

// rawHTTPPrefix starts the message of an Admin SDK error for a response it
// did not recognise; the status code and the raw body follow.
const rawHTTPPrefix = "unexpected http response with status: "

// rawHTTPError reports whether err is such an error, with the status and
// the message of its body (a Google API error's error.message, else the
// body itself, else the status text).
func rawHTTPError(err error) (status int, msg string, ok bool) {
	rest, found := strings.CutPrefix(err.Error(), rawHTTPPrefix)
	if !found {
		return 0, "", false
	}
	code, body, _ := strings.Cut(rest, "\n")
	status, convErr := strconv.Atoi(strings.TrimSpace(code))
	if convErr != nil {
		return 0, "", false
	}
	var e struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	switch body = strings.TrimSpace(body); {
	case json.Unmarshal([]byte(body), &e) == nil && e.Error.Message != "":
		msg = e.Error.Message
	case body != "" && !strings.HasPrefix(body, "<"): // not an HTML page
		msg = body
	default:
		msg = fmt.Sprintf("HTTP %d %s", status, http.StatusText(status))
	}
	return status, msg, true
}

func sdkKind(err error) error {
	switch {
	case errors.Is(err, context.Canceled):
		return errs.ErrCanceled
	case errors.Is(err, context.DeadlineExceeded):
		return errs.ErrUnavailable
	case errorutils.IsNotFound(err):
		return errs.ErrNotFound
	case errorutils.IsAlreadyExists(err):
		return errs.ErrAlreadyExists
	case errorutils.IsInvalidArgument(err), errorutils.IsOutOfRange(err):
		return errs.ErrInvalid
	case errorutils.IsUnauthenticated(err):
		return errs.ErrUnauthenticated
	case errorutils.IsPermissionDenied(err):
		return errs.ErrPermission
	case errorutils.IsUnavailable(err), errorutils.IsDeadlineExceeded(err):
		return errs.ErrUnavailable
	case errorutils.IsResourceExhausted(err):
		return errs.ErrResourceLimit
	case errorutils.IsCancelled(err):
		return errs.ErrCanceled
	case errorutils.IsFailedPrecondition(err), errorutils.IsAborted(err), errorutils.IsConflict(err):
		return errs.ErrConflict
	case errorutils.IsUnknown(err) && errorutils.HTTPResponse(err) == nil:
		// The SDK reports transport failures (no HTTP response) as UNKNOWN.
		return errs.ErrUnavailable
	case errorutils.IsUnknown(err), errorutils.IsInternal(err), errorutils.IsDataLoss(err):
		return errs.ErrInternal
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return errs.ErrUnavailable
	}
	// The SDK checks arguments locally and returns plain errors for them
	// ("malformed email string", "uid must be non-empty ...").
	return errs.ErrInvalid
}

// SDKError returns the Admin SDK error inside err, if any, so that the
// SDK's predicates (auth.IsEmailAlreadyExists, errorutils.IsNotFound, ...)
// can be applied to it. It returns nil when err holds no SDK error.
func SDKError(err error) error {
	var found error
	walk(err, func(e error) bool {
		if errorutils.HTTPResponse(e) != nil || isFirebaseError(e) {
			found = e
			return true
		}
		return false
	})
	return found
}

func isFirebaseError(err error) bool {
	return err != nil && strings.HasSuffix(typeName(err), "internal.FirebaseError")
}

// walk visits err and everything it wraps, depth first, until visit returns true.
func walk(err error, visit func(error) bool) bool {
	if err == nil {
		return false
	}
	if visit(err) {
		return true
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		return walk(u.Unwrap(), visit)
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			if walk(e, visit) {
				return true
			}
		}
	}
	return false
}

func sdkIs(err error, pred func(error) bool) bool {
	return walk(err, pred)
}

// IsEmailAlreadyExists reports whether err says that another user has the email.
func IsEmailAlreadyExists(err error) bool { return sdkIs(err, fbauth.IsEmailAlreadyExists) }

// IsUIDAlreadyExists reports whether err says that the UID is taken.
func IsUIDAlreadyExists(err error) bool { return sdkIs(err, fbauth.IsUIDAlreadyExists) }

// IsPhoneNumberAlreadyExists reports whether err says that the phone number is taken.
func IsPhoneNumberAlreadyExists(err error) bool { return sdkIs(err, fbauth.IsPhoneNumberAlreadyExists) }

// IsUserNotFound reports whether err says that the user does not exist.
func IsUserNotFound(err error) bool { return sdkIs(err, fbauth.IsUserNotFound) }

// IsTenantNotFound reports whether err says that the tenant does not exist.
func IsTenantNotFound(err error) bool { return sdkIs(err, fbauth.IsTenantNotFound) }

func typeName(v any) string { return fmt.Sprintf("%T", v) }
