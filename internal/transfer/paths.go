package transfer

import (
	"strings"

	"github.com/fbadmin/fbadmin/internal/docpath"
	"github.com/fbadmin/fbadmin/internal/errs"
)

// CleanPath checks a document or collection path given relative to the
// database root ("users", "users/alice/posts/p1") or as a full resource
// name of db, and returns it relative to the root. The empty path (the whole
// database) is allowed only when allowRoot is set. The rules are
// docpath's.
func (db *DB) CleanPath(p string, allowRoot bool) (string, error) {
	p = strings.Trim(p, "/")
	if project, database, rel, ok := docpath.SplitName(p); ok && docpath.Root(project, database) == db.Root() {
		p = strings.Trim(rel, "/")
	} else if strings.HasPrefix(p, "projects/") && strings.Contains(p, "/databases/") {
		return "", errs.New(errs.ErrInvalid, "path", p, "resource name of another database than %s", db.Name())
	}
	if p == "" {
		if allowRoot {
			return "", nil
		}
		return "", errs.New(errs.ErrInvalid, "path", "", "empty path: give a collection such as users or a document such as users/alice")
	}
	rel, err := docpath.ParseRel(p)
	if err != nil {
		return "", err
	}
	return rel.String(), nil
}

// CheckPath validates a path relative to the database root by docpath's
// rules.
func CheckPath(p string) error {
	_, err := docpath.ParseRel(p)
	return err
}

// IsDocPath reports whether a relative path, checked or read from
// Firestore, names a document (an even number of segments) rather than a
// collection.
func IsDocPath(p string) bool { return docpath.FromFirestore(p).IsDocument() }

// splitParent splits a relative collection path, checked or read from
// Firestore, into its parent document path ("" for a top-level collection)
// and its ID.
func splitParent(coll string) (parent, id string) {
	p := docpath.FromFirestore(coll)
	return p.Parent().String(), p.ID()
}

// underPath reports whether relative path p is prefix itself or lies below
// it.
func underPath(p, prefix string) bool {
	return docpath.FromFirestore(p).Under(docpath.FromFirestore(prefix))
}
