package transfer

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// A journal whose creator was killed before its header line was whole
// records nothing: it is started over, with or without resume.
func TestJournalTornHeader(t *testing.T) {
	h := journalHeader{Journal: 1, Input: "/in.ndjson", Size: 10, Mode: "create", Database: "projects/p/databases/(default)"}
	for _, torn := range []string{"", `{"fbadmin_import_journal":1,"inpu`} {
		for _, resume := range []bool{false, true} {
			path := filepath.Join(t.TempDir(), "in.ndjson.journal")
			if err := os.WriteFile(path, []byte(torn), 0o644); err != nil {
				t.Fatal(err)
			}
			j, err := openJournal(path, h, resume)
			if err != nil {
				t.Fatalf("torn header %q, resume %v: %v", torn, resume, err)
			}
			if len(j.done) != 0 {
				t.Errorf("torn header %q: done = %v, want none", torn, j.done)
			}
			if err := j.record([]lineRange{{1, 5}}); err != nil {
				t.Fatal(err)
			}
			j.close()
			j2, err := openJournal(path, h, true)
			if err != nil {
				t.Fatal(err)
			}
			if len(j2.done) != 1 || j2.done[0] != (lineRange{1, 5}) {
				t.Errorf("reopened: done = %v, want [1-5]", j2.done)
			}
			j2.close()
		}
	}
}

// Removing a journal that is already gone (another process finished the
// job) is not an error.
func TestJournalRemoveGone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.journal")
	j, err := openJournal(path, journalHeader{Journal: 1}, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := j.remove(); err != nil {
		t.Errorf("remove of a journal already gone: %v", err)
	}
}

// A file that is not a journal is still refused.
func TestJournalNotAJournal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.journal")
	os.WriteFile(path, []byte("hello\n"), 0o644)
	_, err := openJournal(path, journalHeader{Journal: 1}, true)
	if err == nil || !strings.Contains(err.Error(), "not an fbadmin import journal") {
		t.Errorf("got %v, want not an fbadmin import journal", err)
	}
}

// A resume after a kill that tore the journal's last line ends that line
// before appending, so that a torn range never merges with a new one.
func TestJournalTornLastLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.journal")
	h := journalHeader{Journal: 1, Mode: "create"}
	j, err := openJournal(path, h, false)
	if err != nil {
		t.Fatal(err)
	}
	j.record([]lineRange{{1, 500}})
	j.f.WriteString("2") // killed while writing "2001-2500\n"
	j.close()
	j, err = openJournal(path, h, true)
	if err != nil {
		t.Fatal(err)
	}
	j.record([]lineRange{{1001, 1500}})
	j.close()
	j, err = openJournal(path, h, true)
	if err != nil {
		t.Fatal(err)
	}
	defer j.close()
	want := []lineRange{{1, 500}, {1001, 1500}}
	if !slices.Equal(j.done, want) {
		t.Errorf("done = %v, want %v", j.done, want)
	}
}
