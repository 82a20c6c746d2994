package filesink_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fbadmin/fbadmin/listeners"
	"github.com/fbadmin/fbadmin/listeners/filesink"
)

func stateEvent(listener, path string, typ listeners.EventType, ut time.Time, data string) listeners.Event {
	ev := listeners.Event{ID: listeners.EventID(path, ut, typ == listeners.Removed), Type: typ, Listener: listener, Path: path,
		UpdateTime: ut, ReadTime: ut}
	if data != "" {
		ev.Data = json.RawMessage(data)
	}
	return ev
}

func readState(t testing.TB, s listeners.StateReader, listener string) []string {
	t.Helper()
	var got []string
	err := s.ReadState(context.Background(), listener, func(e listeners.StateEntry) error {
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

// TestReadState replays events across rotated files: newer versions win,
// an older one changes nothing, a removal stays as removed, other
// listeners' events are left out, and paths come in Firestore's order.
func TestReadState(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.ndjson")
	s, err := filesink.New(filesink.Options{Path: path, MaxSize: 300, Fsync: filesink.FsyncNever})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	t1 := time.Date(2026, 12, 5, 10, 0, 0, 123456000, time.UTC)
	t2, t3 := t1.Add(time.Second), t1.Add(2*time.Second)
	for _, ev := range []listeners.Event{
		stateEvent("l", "a/b/items/x", listeners.Added, t1, `{"n":1}`),
		stateEvent("l", "a/b-c/items/y", listeners.Added, t1, `{"n":2}`),
		stateEvent("l", "a/b/items/x/c/d", listeners.Added, t1, `{"n":3}`),
		stateEvent("other", "z/z", listeners.Added, t1, `{"n":4}`),
		stateEvent("l", "a/b/items/x", listeners.Modified, t2, `{"n":5}`),
		stateEvent("l", "a/b-c/items/y", listeners.Removed, t1, ""),
		stateEvent("l", "a/bb", listeners.Added, t3, `{"n":6}`),
		stateEvent("l", "a/bb", listeners.Modified, t2, `{"n":7}`), // older: ignored
	} {
		if err := s.Send(context.Background(), []listeners.Event{ev}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(path + ".1"); err != nil {
		t.Fatalf("no rotation: %v", err)
	}
	want := []string{
		"a/b/items/x present " + t2.Format(time.RFC3339Nano),
		"a/b/items/x/c/d present " + t1.Format(time.RFC3339Nano),
		"a/b-c/items/y removed " + t1.Format(time.RFC3339Nano),
		"a/bb present " + t3.Format(time.RFC3339Nano),
	}
	if got := readState(t, s, "l"); !slices.Equal(got, want) {
		t.Errorf("state:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	var hash []byte
	_ = s.ReadState(context.Background(), "l", func(e listeners.StateEntry) error {
		if e.Path == "a/bb" {
			hash = e.Hash
		}
		return nil
	})
	if !bytes.Equal(hash, listeners.DataHash([]byte(`{"n":6}`))) {
		t.Errorf("a/bb's hash is not that of the version held")
	}
	if got := readState(t, s, "nobody"); len(got) != 0 {
		t.Errorf("state of a listener without events: %q", got)
	}

	// A last line cut short is ignored; a broken line elsewhere is an error.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"id":"x","type":"added","listener":"l","path":"a/cut`)
	f.Close()
	if got := readState(t, s, "l"); !slices.Equal(got, want) {
		t.Errorf("state with a cut last line: %q", got)
	}
	if err := os.WriteFile(path, []byte("not json\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err = s.ReadState(context.Background(), "l", func(listeners.StateEntry) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "events.ndjson:1: not an event") {
		t.Errorf("broken line: %v, want an error naming the file and line", err)
	}
}
