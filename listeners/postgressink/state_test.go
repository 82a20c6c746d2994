package postgressink_test

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fbadmin/fbadmin/internal/pgtest"
	"github.com/fbadmin/fbadmin/listeners"
	"github.com/fbadmin/fbadmin/listeners/postgressink"
)

func stateEvent(listener, path string, typ listeners.EventType, ut time.Time, data string) listeners.Event {
	ev := listeners.Event{ID: listeners.EventID(path, ut, typ == listeners.Removed), Type: typ, Listener: listener, Path: path,
		UpdateTime: ut, ReadTime: ut}
	if data != "" {
		ev.Data = json.RawMessage(data)
	}
	return ev
}

// TestReadState lists a table in Firestore's path order (segment by
// segment: a/b/... before a/b-c/...), with the data's hash, removals
// (tombstones in row mode, marked rows in mark mode) as removed, and
// nothing of other listeners sharing the table.
func TestReadState(t *testing.T) {
	db := pgtest.New(t)
	t1 := time.Date(2026, 12, 5, 10, 0, 0, 123456000, time.UTC)
	t2, t3 := t1.Add(time.Second), t1.Add(2*time.Second)
	evs := []listeners.Event{
		stateEvent("l", "a/b/items/x", listeners.Added, t1, `{"n":1}`),
		stateEvent("l", "a/b-c/items/y", listeners.Added, t1, `{"n":2}`),
		stateEvent("l", "a/b/items/x/c/d", listeners.Added, t1, `{"n":3}`),
		stateEvent("other", "z/z", listeners.Added, t1, `{"n":4}`),
		stateEvent("l", "a/bb", listeners.Added, t3, `{"n":6}`),
	}
	later := []listeners.Event{
		stateEvent("l", "a/b/items/x", listeners.Modified, t2, `{"n":5}`),
		stateEvent("l", "a/b-c/items/y", listeners.Removed, t1, ""),
		stateEvent("l", "a/bb", listeners.Modified, t2, `{"n":7}`), // older: refused
	}
	want := []string{
		"a/b/items/x present " + t2.Format(time.RFC3339Nano),
		"a/b/items/x/c/d present " + t1.Format(time.RFC3339Nano),
		"a/b-c/items/y removed " + t1.Format(time.RFC3339Nano),
		"a/bb present " + t3.Format(time.RFC3339Nano),
	}
	for _, mode := range []string{postgressink.DeleteRow, postgressink.DeleteMark} {
		s := open(t, db, postgressink.Options{Table: "docs_" + mode, Deletes: mode})
		if got := readState(t, s, "l"); len(got) != 0 {
			t.Errorf("%s: state before the table exists: %q", mode, got)
		}
		if err := s.Send(bg, evs); err != nil {
			t.Fatal(err)
		}
		if err := s.Send(bg, later); err != nil {
			t.Fatal(err)
		}
		if got := readState(t, s, "l"); !slices.Equal(got, want) {
			t.Errorf("%s: state:\n%s\nwant:\n%s", mode, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		var hash []byte
		_ = s.ReadState(bg, "l", func(e listeners.StateEntry) error {
			if e.Path == "a/b/items/x" {
				hash = e.Hash
			}
			return nil
		})
		if !bytes.Equal(hash, listeners.DataHash([]byte(`{"n":5}`))) {
			t.Errorf("%s: a/b/items/x's hash is not that of the version held", mode)
		}
	}
}

func readState(t testing.TB, s listeners.StateReader, listener string) []string {
	t.Helper()
	var got []string
	err := s.ReadState(bg, listener, func(e listeners.StateEntry) error {
		kind := "present"
		if e.Removed {
			kind = "removed"
		}
		got = append(got, e.Path+" "+kind+" "+e.UpdateTime.Format(time.RFC3339Nano))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}
