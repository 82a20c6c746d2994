package transfer

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/fbadmin/fbadmin/internal/errs"
)

// CleanPath checks a document or collection path given relative to the
// database root ("users", "users/alice/posts/p1") or as a full resource
// name of db, and returns it relative to the root. The empty path (the whole
// database) is allowed only when allowRoot is set.
func (db *DB) CleanPath(p string, allowRoot bool) (string, error) {
	p = strings.TrimPrefix(p, db.Root())
	p = strings.Trim(p, "/")
	if p == "" {
		if allowRoot {
			return "", nil
		}
		return "", errs.New(errs.ErrInvalid, "path", "", "empty path: give a collection such as users or a document such as users/alice")
	}
	if strings.HasPrefix(p, "projects/") && strings.Contains(p, "/databases/") {
		return "", errs.New(errs.ErrInvalid, "path", p, "resource name of another database than %s", db.Name())
	}
	if err := CheckPath(p); err != nil {
		return "", err
	}
	return p, nil
}

// CheckPath validates a relative path: non-empty segments of valid UTF-8,
// no "." or "..", no reserved __x__ IDs.
func CheckPath(p string) error {
	if p == "" {
		return errs.New(errs.ErrInvalid, "path", p, "empty path")
	}
	if !utf8.ValidString(p) {
		return errs.New(errs.ErrInvalid, "path", fmt.Sprintf("%q", p), "not valid UTF-8")
	}
	for i, seg := range strings.Split(p, "/") {
		switch {
		case seg == "":
			return errs.New(errs.ErrInvalid, "path", p, "empty segment %d (double or trailing slash)", i+1)
		case seg == "." || seg == "..":
			return errs.New(errs.ErrInvalid, "path", p, "segment %q is not allowed", seg)
		case len(seg) > 4 && strings.HasPrefix(seg, "__") && strings.HasSuffix(seg, "__"):
			return errs.New(errs.ErrInvalid, "path", p, "segment %q is reserved (IDs of the form __x__ are Firestore's)", seg)
		case len(seg) > 1500:
			return errs.New(errs.ErrInvalid, "path", p, "segment %d is longer than 1500 bytes", i+1)
		}
	}
	return nil
}

// IsDocPath reports whether a relative path names a document (an even
// number of segments) rather than a collection.
func IsDocPath(p string) bool {
	return p != "" && strings.Count(p, "/")%2 == 1
}

// splitParent splits a relative collection path into its parent document
// path ("" for a top-level collection) and its ID.
func splitParent(coll string) (parent, id string) {
	i := strings.LastIndexByte(coll, '/')
	if i < 0 {
		return "", coll
	}
	return coll[:i], coll[i+1:]
}

// underPath reports whether relative path p is prefix itself or lies below it.
func underPath(p, prefix string) bool {
	return p == prefix || strings.HasPrefix(p, prefix+"/")
}
