package retry

import (
	"github.com/fbadmin/fbadmin/internal/errs"
)

// Permanent reports whether err will not go away by retrying the same
// request: the request is invalid, refused (permission, unauthenticated),
// conflicts with the data's state (a failed precondition, such as a
// missing index) or names something missing. A stream that fails this way
// before its first result is given up rather than reopened.
func Permanent(err error) bool {
	if err == nil || Transient(err) {
		return false
	}
	switch errs.KindOf(err) {
	case errs.ErrInvalid, errs.ErrPermission, errs.ErrUnauthenticated, errs.ErrConflict, errs.ErrNotFound:
		return true
	}
	return false
}
