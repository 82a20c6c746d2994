package listeners

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"strings"
	"time"
)

// StateReader is implemented by sinks that can list the documents they
// hold for a listener (the postgres sink, from its table; the file sink,
// from the latest event per path in its files). daemon.Reconcile compares
// that state with the database.
//
// ReadState calls fn once per document the sink holds for listener, and
// once per document it remembers as removed (Removed set), in ascending
// [ComparePaths] order, the order in which Firestore returns documents
// sorted by name, each path once. It stops at fn's first error and returns
// it. A sink that holds nothing for the listener calls fn never and
// returns nil.
type StateReader interface {
	ReadState(ctx context.Context, listener string, fn func(StateEntry) error) error
}

// StateEntry is one document as a sink holds it.
type StateEntry struct {
	// Path relative to the database root: users/alice/orders/A17.
	Path string
	// UpdateTime of the version held; for a removal, of the version
	// removed: the sink refuses that version and older ones.
	UpdateTime time.Time
	// Removed: the sink holds the document as removed (a tombstone), not
	// as present.
	Removed bool
	// Hash is [DataHash] of the data held, or nil when the sink does not
	// keep it: then only versions are compared.
	Hash []byte
}

// ComparePaths orders document paths as Firestore orders document names:
// segment by segment, each segment compared byte-wise (so "a/b/x" sorts
// before "a/b-c/y", unlike plain string order, because a whole segment "b"
// sorts before "b-c"). It returns -1, 0 or +1.
//
// Firestore sorts numeric IDs of the __idN__ form, which only Datastore
// mode creates, before all others; ComparePaths does not.
func ComparePaths(a, b string) int {
	for {
		as, arest, amore := strings.Cut(a, "/")
		bs, brest, bmore := strings.Cut(b, "/")
		if c := strings.Compare(as, bs); c != 0 {
			return c
		}
		switch {
		case !amore && !bmore:
			return 0
		case !amore:
			return -1
		case !bmore:
			return 1
		}
		a, b = arest, brest
	}
}

// DataHash returns a digest of a document's data in the lossless value
// format that does not depend on its JSON spelling (key order, spacing,
// escapes, number formatting), so that data stored as PostgreSQL jsonb and
// data encoded from Firestore compare equal when they hold the same
// values. Data that is not JSON hashes as its bytes.
func DataHash(data json.RawMessage) []byte {
	var v any
	dec := json.NewDecoder(bytes.NewReader(data))
	canonical := []byte(data)
	if err := dec.Decode(&v); err == nil {
		// Numbers decode as float64: the value format writes integers as
		// strings, so every number is a double, and a double survives the
		// round trip exactly.
		if b, err := json.Marshal(v); err == nil {
			canonical = b
		}
	}
	sum := sha256.Sum256(canonical)
	return sum[:16]
}
