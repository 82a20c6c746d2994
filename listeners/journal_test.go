package listeners

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestJournalAppendReopenCompact(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".journal", "hook.wal")
	j, got, err := openJournal(path)
	if err != nil || len(got) != 0 {
		t.Fatalf("new journal: %v, %v", got, err)
	}
	b1 := []journalEntry{{"orders", "orders/a", 10, Added}, {"orders", "orders/b", 11, Modified}}
	b2 := []journalEntry{{"users", "users/u/x", 12, Removed}}
	for _, b := range [][]journalEntry{b1, b2} {
		if err := j.append(b); err != nil {
			t.Fatal(err)
		}
	}
	j.close()
	// A crash in the middle of a third record leaves a torn tail.
	raw, _ := os.ReadFile(path)
	torn := appendRecord(nil, []journalEntry{{"orders", "orders/c", 13, Added}})
	if err := os.WriteFile(path, append(raw, torn[:len(torn)-3]...), 0o644); err != nil {
		t.Fatal(err)
	}
	j, got, err = openJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := append(append([]journalEntry{}, b1...), b2...); !reflect.DeepEqual(got, want) {
		t.Fatalf("reopened journal = %v, want %v (the torn record dropped)", got, want)
	}
	// The torn tail was cut, so a new record is readable after it.
	b3 := []journalEntry{{"orders", "orders/d", 14, Added}}
	if err := j.append(b3); err != nil {
		t.Fatal(err)
	}
	if entries, n := decodeJournal(mustRead(t, path)); len(entries) != 4 || n != len(mustRead(t, path)) {
		t.Fatalf("after repair and append: %d entries, %d of %d bytes intact", len(entries), n, len(mustRead(t, path)))
	}
	// Compaction keeps what it is given, and nothing else.
	keep := []journalEntry{{"orders", "orders/b", 11, Modified}}
	if err := j.reset(keep); err != nil {
		t.Fatal(err)
	}
	if err := j.append(b2); err != nil {
		t.Fatal(err)
	}
	j.close()
	j, got, err = openJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := append(append([]journalEntry{}, keep...), b2...); !reflect.DeepEqual(got, want) {
		t.Fatalf("after compaction = %v, want %v", got, want)
	}
	if err := j.reset(nil); err != nil {
		t.Fatal(err)
	}
	j.close()
	if b := mustRead(t, path); len(b) != 0 {
		t.Fatalf("emptied journal holds %d bytes", len(b))
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzDecodeJournal: any bytes decode without panicking, the intact prefix
// re-encodes to the same entries, and flipping a byte of a record never
// yields a different entry (the checksum catches it).
func FuzzDecodeJournal(f *testing.F) {
	f.Add(appendRecord(nil, []journalEntry{{"l", "a/b", 1, Added}, {"l", "a/c", -5, Removed}}))
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		entries, n := decodeJournal(b)
		if n < 0 || n > len(b) {
			t.Fatalf("intact prefix %d of %d bytes", n, len(b))
		}
		again, m := decodeJournal(b[:n])
		if m != n || !reflect.DeepEqual(again, entries) {
			t.Fatalf("prefix decodes differently: %v vs %v", again, entries)
		}
		if len(entries) > 0 {
			re := appendRecord(nil, entries)
			if got, _ := decodeJournal(re); !reflect.DeepEqual(got, entries) {
				t.Fatalf("round trip: %v vs %v", got, entries)
			}
		}
	})
}
