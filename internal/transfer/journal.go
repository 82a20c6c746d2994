package transfer

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"

	"crypto/sha256"
	"encoding/hex"
	"path/filepath"

	"github.com/fbadmin/fbadmin/internal/errs"
	"github.com/fbadmin/fbadmin/internal/storage"
)

// An import journal records which lines of an input file are done, so that
// an interrupted import can be resumed. It lives beside a local input
// (FILE.journal), or in JournalDir for an object, and holds a header line, then one "FIRST-LAST" range of
// line numbers per committed batch. Appends are small single writes, so a
// killed process leaves at most a torn last line, which is ignored.
type journal struct {
	path string
	mu   sync.Mutex
	f    *os.File
	done []lineRange // sorted, merged; read on resume
	torn bool        // its last line lacks its newline (a killed run)
}

type lineRange struct{ first, last int }

type journalHeader struct {
	Journal  int    `json:"fbadmin_import_journal"`
	Input    string `json:"input"`
	Size     int64  `json:"size"`
	Version  string `json:"version,omitempty"` // an object's generation or ETag
	Mode     string `json:"mode"`
	Database string `json:"database"`
	Shard    string `json:"shard,omitempty"` // K/N of a sharded import of one file
}

// JournalPath returns where the journal of an import of input lives:
// beside a local file (FILE.journal); for an object (gs://, s3://), in
// [JournalDir], named by a hash of its URL and its base name.
func JournalPath(input string) string {
	l, err := storage.Parse(input)
	if err != nil || !l.Remote() {
		if err == nil && l.Kind == storage.Local {
			return l.Path + ".journal"
		}
		return input + ".journal"
	}
	sum := sha256.Sum256([]byte(l.Canonical()))
	return filepath.Join(JournalDir(), hex.EncodeToString(sum[:8])+"-"+safeName(l.Base())+".journal")
}

// ShardJournalPath returns where the journal of shard s of an import of
// input lives: [JournalPath] with the shard in its name
// (FILE.00001-of-00004.journal), so that every shard has its own.
func ShardJournalPath(input string, s Shard) string {
	p := JournalPath(input)
	if s.Whole() {
		return p
	}
	return strings.TrimSuffix(p, ".journal") + fmt.Sprintf(".%05d-of-%05d.journal", s.K, s.N)
}

// JournalDir is where the journals of imports from objects live:
// $XDG_STATE_HOME/fbadmin/journals, else ~/.local/state/fbadmin/journals
// (the user's cache directory where there is no home).
func JournalDir() string {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "fbadmin", "journals")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "state", "fbadmin", "journals")
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "fbadmin", "journals")
	}
	return filepath.Join(os.TempDir(), "fbadmin-journals")
}

// safeName keeps the letters, digits and ._- of a name, for a file name.
func safeName(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			b[i] = '_'
		}
	}
	if len(b) > 64 {
		b = b[:64]
	}
	return string(b)
}

// ErrJournalPending is the error of an import that finds the journal of an
// interrupted one without Resume.
var ErrJournalPending = errors.New("journal of an interrupted import exists")

// pendingJournal is an [ErrJournalPending] naming the journal.
type pendingJournal string

func (p pendingJournal) Error() string {
	return fmt.Sprintf("journal %s of an interrupted import exists: rerun with --resume to finish it, or delete the journal to start over", string(p))
}

func (p pendingJournal) Is(target error) bool { return target == ErrJournalPending }

// JournalMode returns the mode of the import whose journal is at path.
func JournalMode(path string) (Mode, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	line, err := bufio.NewReader(f).ReadBytes('\n')
	if err != nil {
		return 0, err
	}
	var h journalHeader
	if err := json.Unmarshal(line, &h); err != nil {
		return 0, err
	}
	return ParseMode(h.Mode)
}

// openJournal opens (resume) or creates the journal for an import. A
// journal without a whole header line (a process killed as it created it,
// before anything was written) records nothing: it is started over.
func openJournal(path string, h journalHeader, resume bool) (*journal, error) {
	j := &journal{path: path}
	_, statErr := os.Stat(path)
	exists := statErr == nil
	if exists && headerTorn(path) {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("journal: %w", err)
		}
		exists, statErr = false, fs.ErrNotExist
	}
	switch {
	case exists && !resume:
		return nil, errs.New(errs.ErrConflict, "import", h.Input, "%w", pendingJournal(path))
	case exists:
		if err := j.load(h); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("open journal: %w", err)
		}
		j.f = f
		if j.torn {
			// End the torn line a killed run left, so that it stays
			// apart from the ranges this run appends.
			if _, err := f.WriteString("\n"); err != nil {
				f.Close()
				return nil, fmt.Errorf("write journal: %w", err)
			}
		}
		return j, nil
	case statErr != nil && !errors.Is(statErr, fs.ErrNotExist):
		return nil, fmt.Errorf("journal: %w", statErr)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("create journal: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create journal: %w", err)
	}
	hdr, _ := json.Marshal(h)
	if _, err := f.Write(append(hdr, '\n')); err != nil {
		f.Close()
		return nil, fmt.Errorf("write journal: %w", err)
	}
	j.f = f
	return j, nil
}

// headerTorn reports whether the journal at path lacks a whole first line
// (it is empty, or its creator was killed while writing the header).
func headerTorn(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	b := make([]byte, 4096)
	n, _ := io.ReadFull(f, b)
	return !bytes.Contains(b[:n], []byte("\n")) && n < len(b)
}

func (j *journal) load(want journalHeader) error {
	f, err := os.Open(j.path)
	if err != nil {
		return fmt.Errorf("open journal: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	if !sc.Scan() {
		return errs.New(errs.ErrInvalid, "journal", j.path, "empty journal: delete it to start over")
	}
	var h journalHeader
	if err := json.Unmarshal(sc.Bytes(), &h); err != nil || h.Journal != 1 {
		return errs.New(errs.ErrInvalid, "journal", j.path, "not an fbadmin import journal: delete it to start over")
	}
	switch {
	case h.Version != want.Version && want.Version != "":
		return errs.New(errs.ErrConflict, "journal", j.path, "%s changed since the interrupted import started (%s, now %s): "+
			"resuming would mix two versions; delete the journal to import the new version from the start", want.Input, orUnknown(h.Version), want.Version)
	case h.Size != want.Size:
		return errs.New(errs.ErrConflict, "journal", j.path, "the input changed since the interrupted import (size %d, now %d): delete the journal to start over", h.Size, want.Size)
	case h.Database != want.Database:
		return errs.New(errs.ErrConflict, "journal", j.path, "the interrupted import went to %s, not %s", h.Database, want.Database)
	case h.Shard != want.Shard:
		return errs.New(errs.ErrConflict, "journal", j.path, "the interrupted import was shard %s, not %s: resume each shard with its own --shard", orWhole(h.Shard), orWhole(want.Shard))
	case h.Mode != want.Mode:
		return errs.New(errs.ErrConflict, "journal", j.path, "the interrupted import used --mode %s: resume with the same mode", h.Mode)
	}
	if st, err := f.Stat(); err == nil && st.Size() > 0 {
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, st.Size()-1); err == nil {
			j.torn = last[0] != '\n'
		}
	}
	for sc.Scan() {
		a, b, ok := strings.Cut(sc.Text(), "-")
		first, err1 := strconv.Atoi(a)
		last, err2 := strconv.Atoi(b)
		if !ok || err1 != nil || err2 != nil || first < 1 || last < first {
			continue // a torn last line
		}
		j.done = append(j.done, lineRange{first, last})
	}
	j.done = mergeRanges(j.done)
	return sc.Err()
}

func orWhole(s string) string {
	if s == "" {
		return "whole"
	}
	return s
}

func orUnknown(v string) string {
	if v == "" {
		return "version unknown"
	}
	return v
}

func mergeRanges(rs []lineRange) []lineRange {
	slices.SortFunc(rs, func(a, b lineRange) int { return a.first - b.first })
	out := rs[:0]
	for _, r := range rs {
		if n := len(out); n > 0 && r.first <= out[n-1].last+1 {
			out[n-1].last = max(out[n-1].last, r.last)
			continue
		}
		out = append(out, r)
	}
	return out
}

// record appends done ranges.
func (j *journal) record(rs []lineRange) error {
	if j == nil || len(rs) == 0 {
		return nil
	}
	var b strings.Builder
	for _, r := range rs {
		fmt.Fprintf(&b, "%d-%d\n", r.first, r.last)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	_, err := j.f.WriteString(b.String())
	return err
}

func (j *journal) close() error {
	if j == nil || j.f == nil {
		return nil
	}
	return j.f.Close()
}

// remove deletes the journal after a complete import; one already gone
// is removed.
func (j *journal) remove() error {
	if j == nil {
		return nil
	}
	j.close()
	if err := os.Remove(j.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// doneCursor answers "is line n done?" for increasing n.
type doneCursor struct {
	rs []lineRange
	i  int
}

func (c *doneCursor) done(n int) bool {
	for c.i < len(c.rs) && c.rs[c.i].last < n {
		c.i++
	}
	return c.i < len(c.rs) && c.rs[c.i].first <= n
}
