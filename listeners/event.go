package listeners

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// EventType is the kind of change an [Event] reports.
type EventType string

// The three kinds of document change.
const (
	Added    EventType = "added"
	Modified EventType = "modified"
	Removed  EventType = "removed"
)

// Event is one document change, as delivered to every [Sink] and written as
// one JSON object per line by the NDJSON sinks:
//
//	{"id":"4f0c…","type":"modified","listener":"orders","path":"orders/A17",
//	 "data":{"total":{"$int":"42"}},"create_time":"2026-11-20T09:12:44.000301Z",
//	 "update_time":"2026-11-25T18:00:00.123456Z","read_time":"2026-11-25T18:00:00.130001Z"}
//
// Data is the document in the lossless value format of internal/value and is
// absent for removals. CreateTime is when Firestore created the document
// (absent for removals, and in events written before it was added). For a removal, UpdateTime is the update time of the
// last version of the document the listener saw (Firestore does not report
// when a document was deleted; ReadTime bounds it from above).
type Event struct {
	// ID is derived from Path, UpdateTime and, for removals, the word
	// "removed" (see [EventID]): redelivering the same change always carries
	// the same ID, so consumers can drop duplicates.
	ID       string    `json:"id"`
	Type     EventType `json:"type"`
	Listener string    `json:"listener"`
	// Path is the document path relative to the database root, such as
	// "users/alice/orders/A17".
	Path string          `json:"path"`
	Data json.RawMessage `json:"data,omitempty"`
	// CreateTime is the document's creation time in Firestore; zero for
	// removals.
	CreateTime time.Time `json:"create_time,omitzero"`
	UpdateTime time.Time `json:"update_time"`
	ReadTime   time.Time `json:"read_time"`
}

// EventID returns the ID of the change of the document at path to the
// version written at updateTime; removal IDs differ from the ID of the last
// version's own event. It is the first 16 bytes, in hex, of
// SHA-256(path + "\n" + updateTime in RFC 3339 with nanoseconds, UTC), with
// "\nremoved" appended to the input for removals.
func EventID(path string, updateTime time.Time, removed bool) string {
	h := sha256.New()
	h.Write([]byte(path))
	h.Write([]byte{'\n'})
	h.Write([]byte(updateTime.UTC().Format(time.RFC3339Nano)))
	if removed {
		h.Write([]byte("\nremoved"))
	}
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0])[:16])
}

// Validate reports whether e is well formed: a known type, a path, an ID
// matching [EventID], and data present exactly when the type is not removed.
// Sinks need not call it; the conformance suite does.
func (e Event) Validate() error {
	switch e.Type {
	case Added, Modified:
		if len(e.Data) == 0 {
			return fmt.Errorf("event %s: %s event for %s has no data", e.ID, e.Type, e.Path)
		}
	case Removed:
		if len(e.Data) != 0 {
			return fmt.Errorf("event %s: removed event for %s carries data", e.ID, e.Path)
		}
	default:
		return fmt.Errorf("event %s: unknown type %q", e.ID, e.Type)
	}
	if e.Path == "" {
		return fmt.Errorf("event %s: empty path", e.ID)
	}
	if want := EventID(e.Path, e.UpdateTime, e.Type == Removed); e.ID != want {
		return fmt.Errorf("event for %s: id %q, want %q", e.Path, e.ID, want)
	}
	return nil
}
