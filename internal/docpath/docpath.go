// Package docpath is fbadmin's one Firestore path type: a document or
// collection path, parsed and checked once against Firestore's rules and
// then passed around as a [Path] whose methods cannot fail.
//
// # Syntax
//
// A path is relative to a database's root, "users" (a collection) or
// "users/alice/posts/p1" (a document): an odd number of segments names a
// collection, an even number a document. [Parse] also takes a full
// resource name, "projects/P/databases/D/documents/users/alice", and keeps
// the relative part; [ParseRel] takes relative paths only. A relative path
// that starts like a resource name is taken as one by Parse: use ParseRel
// where paths are relative by definition, such as the "path" of an export
// record.
//
// # Rules
//
// A path is valid UTF-8, at most [MaxBytes] long and at most [MaxSegments]
// segments deep. Each segment is non-empty (no leading, trailing or double
// slash), at most [MaxSegmentBytes] long, not "." or "..", and not of the
// form __x__, which Firestore reserves. Refusals are errors of kind
// errs.ErrInvalid that say what was wrong and where.
//
// The zero [Path] is the database root: neither a document nor a
// collection. Parse returns it only with an error; [Path.Parent] of a
// top-level collection returns it. Paths that Firestore itself returned,
// which it has checked by its own rules, become Paths with
// [FromFirestore].
package docpath

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/fbadmin/fbadmin/internal/errs"
)

// Firestore's limits on paths.
const (
	// MaxSegmentBytes is the longest document or collection ID.
	MaxSegmentBytes = 1500
	// MaxBytes is the longest path. Firestore limits document names to
	// 6 KiB; the check applies to the relative path, so a name that
	// passes can still be refused by the server for its prefix.
	MaxBytes = 6 << 10
	// MaxSegments is the deepest path: 100 levels of collection and
	// document (Firestore's subcollection depth limit).
	MaxSegments = 200
)

// Path is a checked document or collection path relative to a database's
// root. Paths compare with ==. The zero Path is the database root.
type Path struct {
	s string // "a/b/c"; "" for the root
	n int    // number of segments
}

// Parse checks a path given relative to the database root or as a full
// resource name, projects/P/databases/D/documents/..., of any database.
func Parse(s string) (Path, error) {
	if _, _, rel, ok := SplitName(s); ok {
		if rel == "" {
			return Path{}, bad(s, "a database root: give a collection or a document below it")
		}
		s = rel
	}
	return ParseRel(s)
}

// ParseRel checks a path relative to the database root. Unlike [Parse], it
// takes a string that looks like a resource name literally.
func ParseRel(s string) (Path, error) {
	switch {
	case s == "":
		return Path{}, bad(s, "empty path: give a collection such as users or a document such as users/alice")
	case !utf8.ValidString(s):
		return Path{}, bad(s, "not valid UTF-8")
	case len(s) > MaxBytes:
		return Path{}, bad(s, "%d bytes long, longer than %d (Firestore's limit on document names is 6 KiB)", len(s), MaxBytes)
	}
	n := strings.Count(s, "/") + 1
	if n > MaxSegments {
		return Path{}, bad(s, "%d segments, more than %d (Firestore nests at most 100 levels)", n, MaxSegments)
	}
	rest := s
	for i := 1; ; i++ {
		seg, after, more := strings.Cut(rest, "/")
		if msg := segmentProblem(seg, fmt.Sprintf("segment %d", i)); msg != "" {
			return Path{}, bad(s, "%s", msg)
		}
		if !more {
			break
		}
		rest = after
	}
	return Path{s: s, n: n}, nil
}

// FromFirestore returns the Path of a relative path that Firestore
// returned, a document name less its prefix ([Rel]) or IDs it listed,
// without checking it. Firestore enforces its rules on what it stores, and
// what it returns may hold IDs that Parse refuses from users, such as the
// __idN__ form of numeric IDs from Datastore. FromFirestore("") is the
// root. Use it for nothing else: paths from users go through [Parse].
func FromFirestore(rel string) Path {
	if rel == "" {
		return Path{}
	}
	return Path{s: rel, n: strings.Count(rel, "/") + 1}
}

// ParseDocument is [Parse] for a path that must name a document.
func ParseDocument(s string) (Path, error) {
	p, err := Parse(s)
	if err == nil && !p.IsDocument() {
		err = bad(s, "a collection path: a document path has an even number of segments (collection/id)")
	}
	return p, err
}

// ParseCollection is [Parse] for a path that must name a collection.
func ParseCollection(s string) (Path, error) {
	p, err := Parse(s)
	if err == nil && !p.IsCollection() {
		err = bad(s, "a document path: a collection path has an odd number of segments (users, users/alice/posts)")
	}
	return p, err
}

// CheckID checks a single document or collection ID, such as a collection
// group's ID.
func CheckID(id string) error {
	if msg := idProblem(id); msg != "" {
		return bad(id, "%s", msg)
	}
	return nil
}

// idProblem returns what is wrong with an ID, or "".
func idProblem(id string) string {
	switch {
	case id == "":
		return "empty ID"
	case !utf8.ValidString(id):
		return "ID not valid UTF-8"
	case strings.Contains(id, "/"):
		return fmt.Sprintf("ID %q contains '/': an ID is one path segment", id)
	}
	return segmentProblem(id, "ID")
}

// segmentProblem returns what is wrong with one segment of a path, or "";
// name is how messages call it ("segment 2", "ID").
func segmentProblem(seg, name string) string {
	kind, _, _ := strings.Cut(name, " ")
	switch {
	case seg == "":
		return "empty " + name + " (a leading, trailing or double slash)"
	case seg == "." || seg == "..":
		return fmt.Sprintf("%s %q is not allowed", kind, seg)
	case len(seg) > 4 && strings.HasPrefix(seg, "__") && strings.HasSuffix(seg, "__"):
		return fmt.Sprintf("%s %q is reserved (IDs of the form __x__ are Firestore's)", kind, shorten(seg))
	case len(seg) > MaxSegmentBytes:
		return fmt.Sprintf("%s is %d bytes long, longer than %d", name, len(seg), MaxSegmentBytes)
	}
	return ""
}

// bad returns the error of a refused path.
func bad(s, format string, args ...any) error {
	return errs.New(errs.ErrInvalid, "path", display(s), format, args...)
}

// display is s made fit for an error message: quoted when it is not
// valid UTF-8, shortened when it is long.
func display(s string) string {
	if !utf8.ValidString(s) {
		return fmt.Sprintf("%q", shorten(s))
	}
	return shorten(s)
}

// shorten cuts s after about 100 bytes, on a rune boundary.
func shorten(s string) string {
	const max = 100
	if len(s) <= max {
		return s
	}
	i := max
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return fmt.Sprintf("%s... (%d bytes)", s[:i], len(s))
}

// String returns the path relative to the database root, "" for the root.
func (p Path) String() string { return p.s }

// IsZero reports whether p is the database root, the zero Path.
func (p Path) IsZero() bool { return p.n == 0 }

// IsDocument reports whether p names a document.
func (p Path) IsDocument() bool { return p.n > 0 && p.n%2 == 0 }

// IsCollection reports whether p names a collection.
func (p Path) IsCollection() bool { return p.n%2 == 1 }

// Len returns the number of segments.
func (p Path) Len() int { return p.n }

// Segments returns the IDs that make up p, from the top; nil for the root.
func (p Path) Segments() []string {
	if p.n == 0 {
		return nil
	}
	return strings.Split(p.s, "/")
}

// ID returns the last segment: the document's or collection's ID.
func (p Path) ID() string { return p.s[strings.LastIndexByte(p.s, '/')+1:] }

// Parent returns the path one segment up: a document's collection, a
// subcollection's document, and for a top-level collection (or the root)
// the root.
func (p Path) Parent() Path {
	i := strings.LastIndexByte(p.s, '/')
	if i < 0 {
		return Path{}
	}
	return Path{s: p.s[:i], n: p.n - 1}
}

// Child returns the path one segment down, checking id: a document of a
// collection, a subcollection of a document, or a top-level collection of
// the root.
func (p Path) Child(id string) (Path, error) {
	s := id
	if p.n > 0 {
		s = p.s + "/" + id
	}
	if msg := idProblem(id); msg != "" {
		return Path{}, bad(s, "%s", msg)
	}
	switch {
	case len(s) > MaxBytes:
		return Path{}, bad(s, "%d bytes long, longer than %d (Firestore's limit on document names is 6 KiB)", len(s), MaxBytes)
	case p.n+1 > MaxSegments:
		return Path{}, bad(s, "%d segments, more than %d (Firestore nests at most 100 levels)", p.n+1, MaxSegments)
	}
	return Path{s: s, n: p.n + 1}, nil
}

// Under reports whether p is prefix or lies below it. Every path is under
// the root.
func (p Path) Under(prefix Path) bool {
	return prefix.n == 0 || p.s == prefix.s || strings.HasPrefix(p.s, prefix.s+"/")
}

// FullName returns p's resource name in a database:
// projects/P/databases/D/documents/PATH, or Root(project, database) for
// the root.
func (p Path) FullName(project, database string) string {
	return p.Name(Root(project, database))
}

// Name returns p below root, a database's documents root as [Root]
// returns it.
func (p Path) Name(root string) string {
	if p.n == 0 {
		return root
	}
	return root + "/" + p.s
}

// Root returns the resource name under which a database's documents live,
// projects/P/databases/D/documents.
func Root(project, database string) string {
	return "projects/" + project + "/databases/" + database + "/documents"
}

// SplitName splits a resource name projects/P/databases/D/documents[/REL]
// into its project, database and relative path; ok is false when name is
// not one. REL is returned as it is, unchecked.
func SplitName(name string) (project, database, rel string, ok bool) {
	rest, ok := strings.CutPrefix(name, "projects/")
	if !ok {
		return "", "", "", false
	}
	project, rest, ok = strings.Cut(rest, "/")
	if !ok || project == "" {
		return "", "", "", false
	}
	rest, ok = strings.CutPrefix(rest, "databases/")
	if !ok {
		return "", "", "", false
	}
	database, rest, ok = strings.Cut(rest, "/")
	if !ok || database == "" {
		return "", "", "", false
	}
	if rest == "documents" {
		return project, database, "", true
	}
	rel, ok = strings.CutPrefix(rest, "documents/")
	if !ok {
		return "", "", "", false
	}
	return project, database, rel, true
}

// Rel returns a document or collection name's path relative to its
// database: "projects/p/databases/d/documents/a/b" gives "a/b". Any other
// string is returned as it is, so Rel of a relative path is that path.
func Rel(name string) string {
	if _, _, rel, ok := SplitName(name); ok {
		return rel
	}
	return name
}
