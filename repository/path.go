package repository

import "github.com/fbadmin/fbadmin/internal/docpath"

// Path is a checked Firestore document or collection path relative to a
// database's root, such as "users/alice/posts/p1". It is parsed once, by
// [ParsePath], [ParseDocumentPath] or [ParseCollectionPath], against
// Firestore's rules: valid UTF-8, non-empty segments, no "." or "..", no
// reserved __x__ IDs, IDs of at most 1500 bytes, names of at most 6 KiB.
// Its methods then cannot fail, except [Path.Child], which checks the ID
// it adds:
//
//   - String returns the relative path, Segments its IDs, ID the last one;
//   - IsDocument and IsCollection tell an even number of segments from an
//     odd one;
//   - Parent goes up one segment (a document's collection, a
//     subcollection's document; the zero Path above a top-level
//     collection), Child down one;
//   - Under reports whether a path is another or lies below it;
//   - FullName returns the resource name in a database,
//     projects/P/databases/D/documents/PATH.
//
// Paths compare with ==. The zero Path stands for the database root.
// [New], [Sub] and every method that takes a document ID apply the same
// rules, and refuse what they refuse with [ErrInvalid].
type Path = docpath.Path

// ParsePath checks a document or collection path, given relative to the
// database root ("users", "users/alice") or as a full resource name
// ("projects/P/databases/D/documents/users/alice"), whose relative part it
// keeps. A refused path is an error of kind [ErrInvalid] that says what is
// wrong with it.
func ParsePath(s string) (Path, error) { return docpath.Parse(s) }

// ParseDocumentPath is [ParsePath] for a path that must name a document
// (an even number of segments).
func ParseDocumentPath(s string) (Path, error) { return docpath.ParseDocument(s) }

// ParseCollectionPath is [ParsePath] for a path that must name a collection
// (an odd number of segments).
func ParseCollectionPath(s string) (Path, error) { return docpath.ParseCollection(s) }
