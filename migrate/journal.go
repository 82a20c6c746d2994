package migrate

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/fbadmin/fbadmin/internal/errs"
	"github.com/fbadmin/fbadmin/internal/storage"
	"github.com/fbadmin/fbadmin/internal/value"
)

// The journal is an NDJSON file, appended to and synced before each batch
// is sent. Its lines:
//
//	{"batch":N,"changes":[{"path":P,"op":O,"src":S,"before":{...}|null,"before_ut":T,"after":{...}}...]}
//	{"ok":N,"ut":T}
//
// A batch line holds the before-image of each document the batch writes
// (null: the document did not exist), with its update time; src is the
// document whose processing caused the change (for a copy, the source),
// the unit that resume skips. The ok line, written after the commit, holds
// the commit's time, every written document's update time. A batch line
// without its ok line is a batch whose outcome is unknown (the process
// died): resume and down read its documents to decide.

type jChange struct {
	Path     string          `json:"path"`
	Op       string          `json:"op"` // create, update, delete
	Src      string          `json:"src,omitempty"`
	Before   json.RawMessage `json:"before"`
	BeforeUT *time.Time      `json:"before_ut,omitempty"`
	// After is the document as the change left it (absent: deleted), so
	// that down knows a document rolled back to it by a later migration's
	// down as unchanged.
	After json.RawMessage `json:"after,omitempty"`
}

type jLine struct {
	Batch   int64      `json:"batch,omitempty"`
	Changes []jChange  `json:"changes,omitempty"`
	OK      int64      `json:"ok,omitempty"`
	UT      *time.Time `json:"ut,omitempty"`
}

// journal appends to a journal file. A remote journal (gs://, s3://, a
// prefix) is one object per line instead, NNNNNNNNNNNN.batch.ndjson and
// NNNNNNNNNNNN.ok.ndjson: an object cannot be appended to, and an upload
// is durable once closed, before the batch is sent.
type journal struct {
	path    string
	remote  *storage.Location
	mu      sync.Mutex
	f       *os.File
	seq     int64
	written int64 // lines written to f

	syncMu sync.Mutex // one sync at a time
	synced int64      // lines on disk (written before the last sync began)
}

// remoteJournal returns the prefix of a journal given by URL.
func remoteJournal(path string) (*storage.Location, error) {
	if !strings.Contains(path, "://") {
		return nil, nil
	}
	loc, err := storage.Parse(path)
	if err != nil {
		return nil, err
	}
	if !loc.Remote() {
		return nil, nil
	}
	if !loc.IsPrefix() {
		loc.Key += "/"
	}
	return &loc, nil
}

// openJournal opens (creating) the journal at path for appending; seq is
// the last batch number already in it.
func openJournal(path string, seq int64) (*journal, error) {
	remote, err := remoteJournal(path)
	if err != nil {
		return nil, err
	}
	if remote != nil {
		return &journal{path: path, remote: remote, seq: seq}, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, errs.Wrap(err, "journal", path)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, errs.Wrap(err, "journal", path)
	}
	return &journal{path: path, f: f, seq: seq}, nil
}

func (j *journal) nextSeq() int64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.seq++
	return j.seq
}

// intent appends a batch's before-images and syncs the file: nothing is
// sent before its before-images are on disk.
func (j *journal) intent(ctx context.Context, seq int64, changes []*change) error {
	l := jLine{Batch: seq}
	for _, c := range changes {
		jc := jChange{Path: c.path, Op: c.kind(), Before: json.RawMessage("null")}
		if c.src != c.path {
			jc.Src = c.src
		}
		if c.before != nil {
			b := c.beforeRaw
			if b == nil {
				var err error
				if b, err = value.EncodeMap(c.before); err != nil {
					return errs.Wrap(err, "journal", c.path)
				}
			}
			jc.Before = b
			ut := c.beforeUT
			jc.BeforeUT = &ut
		}
		if c.after != nil {
			b, err := value.EncodeMap(c.after)
			if err != nil {
				return errs.Wrap(err, "journal", c.path)
			}
			jc.After = b
		}
		l.Changes = append(l.Changes, jc)
	}
	return j.append(ctx, l, true)
}

func (j *journal) ok(ctx context.Context, seq int64, ut time.Time) error {
	return j.append(ctx, jLine{OK: seq, UT: &ut}, false)
}

func (j *journal) append(ctx context.Context, l jLine, sync bool) error {
	b, err := json.Marshal(l)
	if err != nil {
		return err
	}
	if j.remote != nil {
		name := fmt.Sprintf("%012d.batch.ndjson", l.Batch)
		if l.OK > 0 {
			name = fmt.Sprintf("%012d.ok.ndjson", l.OK)
		}
		w, err := j.remote.Join(name).Create(ctx)
		if err != nil {
			return err
		}
		if _, err := w.Write(append(b, '\n')); err != nil {
			w.Abort()
			return err
		}
		return w.Close()
	}
	j.mu.Lock()
	_, err = j.f.Write(append(b, '\n'))
	j.written++
	n := j.written
	j.mu.Unlock()
	if err != nil {
		return errs.Wrap(err, "journal", j.path)
	}
	if !sync {
		return nil
	}
	// Group commit: one sync covers every line written before it
	// started, so batches journaled at once share it, and a line that a
	// sync started since covers is on disk already.
	j.syncMu.Lock()
	defer j.syncMu.Unlock()
	if j.synced >= n {
		return nil
	}
	j.mu.Lock()
	upTo := j.written
	j.mu.Unlock()
	if err := j.f.Sync(); err != nil {
		return errs.Wrap(err, "journal", j.path)
	}
	j.synced = upTo
	return nil
}

func (j *journal) close() error {
	if j.f == nil {
		return nil
	}
	return j.f.Close()
}

// jBatch is one batch read back from a journal.
type jBatch struct {
	seq       int64
	changes   []jChange
	committed bool
	ut        time.Time
}

// readJournal reads a journal's batches in order. A torn last line (the
// process died while writing it) is ignored: its batch was not sent.
func readJournal(ctx context.Context, path string) ([]*jBatch, error) {
	remote, err := remoteJournal(path)
	if err != nil {
		return nil, err
	}
	if remote != nil {
		infos, err := remote.List(ctx)
		if err != nil {
			return nil, err
		}
		if len(infos) == 0 {
			return nil, errs.New(errs.ErrNotFound, "journal", path, "no journal objects under this prefix: the before-images are gone (hint: run down --explicit when the file states a down)")
		}
		var all bytes.Buffer
		for _, in := range infos {
			r, err := remote.Join(in.Name).Open(ctx)
			if err != nil {
				return nil, err
			}
			_, err = io.Copy(&all, r)
			r.Close()
			if err != nil {
				return nil, errs.Wrap(err, "journal", path)
			}
		}
		return parseJournal(path, &all)
	}
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, errs.New(errs.ErrNotFound, "journal", path, "no such file: the before-images are gone (hint: run down --explicit when the file states a down, or restore from a backup)")
		}
		return nil, errs.Wrap(err, "journal", path)
	}
	defer f.Close()
	return parseJournal(path, f)
}

func parseJournal(path string, in io.Reader) ([]*jBatch, error) {
	r := bufio.NewReaderSize(in, 1<<20)
	var out []*jBatch
	bySeq := map[int64]*jBatch{}
	for n := 1; ; n++ {
		line, err := r.ReadBytes('\n')
		if err == io.EOF {
			break // a line without its newline was never finished
		}
		if err != nil {
			return nil, errs.Wrap(err, "journal", path)
		}
		var l jLine
		if err := json.Unmarshal(line, &l); err != nil {
			return nil, errs.New(errs.ErrInvalid, "journal", path, "line %d: %v", n, err)
		}
		switch {
		case l.Batch > 0:
			b := &jBatch{seq: l.Batch, changes: l.Changes}
			bySeq[l.Batch] = b
			out = append(out, b)
		case l.OK > 0:
			if b := bySeq[l.OK]; b != nil && l.UT != nil {
				b.committed, b.ut = true, *l.UT
			}
		default:
			return nil, errs.New(errs.ErrInvalid, "journal", path, "line %d: neither a batch nor its outcome", n)
		}
	}
	return out, nil
}

// journalName is the journal file of one run of a migration.
func journalName(dir, project, database, id string, t time.Time) string {
	if remote, err := remoteJournal(dir); err == nil && remote != nil {
		return remote.Join(fmt.Sprintf("%s.%s.%s.%s/", sanitize(project), sanitize(database), id, t.UTC().Format("20060102T150405.000000000Z"))).String()
	}
	return filepath.Join(dir, fmt.Sprintf("%s.%s.%s.%s.ndjson", sanitize(project), sanitize(database), id, t.UTC().Format("20060102T150405.000000000Z")))
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == '(' || r == ')' || r == ' ' {
			return '_'
		}
		return r
	}, s)
}
