package transfer

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	pb "cloud.google.com/go/firestore/apiv1/firestorepb"
	"golang.org/x/sync/errgroup"

	"github.com/fbadmin/fbadmin/internal/errs"
	"github.com/fbadmin/fbadmin/internal/value"
)

// ImportOptions controls Import.
type ImportOptions struct {
	Mode Mode
	// DryRun validates the file and reads which documents exist, and
	// reports what would be written, skipped or refused, writing nothing.
	DryRun bool
	// Concurrency is how many batches of up to 500 documents are in flight
	// (default 16).
	Concurrency int
	// Journal is the journal file recording committed lines; "" means
	// [JournalPath] of the input, [NoJournal] disables it.
	Journal string
	// Resume skips the lines the journal says are done. Without it, an
	// existing journal is an error (an interrupted import is pending).
	Resume bool
	// Progress receives the number of documents (known after validation)
	// and progress.
	Progress Progress
	// OnFailure is called for each document that could not be written
	// (from several goroutines, one at a time).
	OnFailure func(Failure)
}

// NoJournal as ImportOptions.Journal disables the journal.
const NoJournal = "-"

// MaxLineBytes bounds one line of an import file.
const MaxLineBytes = 32 << 20

// LineError is a problem with one line of an input file.
type LineError struct {
	File string
	Line int
	Err  error
}

func (e *LineError) Error() string {
	return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
}

// Unwrap makes a LineError an invalid-argument error, and exposes the cause.
func (e *LineError) Unwrap() []error { return []error{errs.ErrInvalid, e.Err} }

// formatHint follows errors about a line that is not an export line.
const formatHint = `fbadmin reads NDJSON as written by "fbadmin fs export": one {"path": "col/doc", "data": {...}} object per line`

// ParseLine parses one export line: the document's path relative to the
// database root and its fields. Times in the line are informational and
// ignored.
func ParseLine(line []byte) (string, map[string]any, error) {
	m, err := value.DecodeMap(line)
	if err != nil {
		if t := bytes.TrimLeft(line, " \t\r"); len(t) > 0 && t[0] != '{' {
			return "", nil, fmt.Errorf("not a JSON object (%s)", formatHint)
		}
		return "", nil, err
	}
	for k := range m {
		switch k {
		case "path", "data", "create_time", "update_time":
		default:
			return "", nil, fmt.Errorf("unknown key %q (%s)", k, formatHint)
		}
	}
	p, ok := m["path"].(string)
	if !ok {
		return "", nil, fmt.Errorf(`$.path: missing or not a string (%s)`, formatHint)
	}
	if err := CheckPath(p); err != nil {
		return "", nil, fmt.Errorf("$.path: %w", err)
	}
	if !IsDocPath(p) {
		return "", nil, fmt.Errorf("$.path: %q is a collection, want a document path (an even number of segments)", p)
	}
	data, ok := m["data"].(map[string]any)
	if !ok {
		return "", nil, fmt.Errorf(`$.data: missing or not an object of fields (%s)`, formatHint)
	}
	return p, data, nil
}

// lineReader reads lines with their numbers; a last line without a
// newline counts.
type lineReader struct {
	r    *bufio.Reader
	n    int
	long []byte
}

func newLineReader(r io.Reader) *lineReader {
	return &lineReader{r: bufio.NewReaderSize(r, 1<<20)}
}

// next returns the next line (without its newline, valid until the next
// call), its number, and the bytes it took.
func (lr *lineReader) next() ([]byte, int, int, error) {
	lr.long = lr.long[:0]
	for {
		frag, err := lr.r.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			lr.long = append(lr.long, frag...)
			if len(lr.long) > MaxLineBytes {
				lr.n++
				return nil, lr.n, 0, fmt.Errorf("line longer than %d MiB", MaxLineBytes>>20)
			}
			continue
		}
		line := frag
		if len(lr.long) > 0 {
			lr.long = append(lr.long, frag...)
			line = lr.long
		}
		if err == io.EOF && len(line) == 0 {
			return nil, lr.n, 0, io.EOF
		}
		if err != nil && err != io.EOF {
			return nil, lr.n, 0, err
		}
		lr.n++
		size := len(line)
		line = bytes.TrimSuffix(line, []byte("\n"))
		line = bytes.TrimSuffix(line, []byte("\r"))
		return line, lr.n, size, nil
	}
}

func blank(line []byte) bool { return len(bytes.TrimSpace(line)) == 0 }

// Validate checks every line of an import file and returns the number of
// documents in it. The first bad line is returned as a [*LineError].
func Validate(ctx context.Context, file string) (int64, error) {
	f, err := os.Open(file)
	if err != nil {
		return 0, errs.Wrap(err, "open", file)
	}
	defer f.Close()
	return validate(ctx, f, filepath.Base(file), nil)
}

func validate(ctx context.Context, r io.Reader, name string, skip *doneCursor) (int64, error) {
	// Lines are parsed by several workers, in chunks; the first bad line of
	// the file (the smallest number) is the one reported.
	type chunk struct {
		lines [][]byte
		nums  []int
	}
	workers := max(runtime.GOMAXPROCS(0), 1)
	chunks := make(chan chunk, 2*workers)
	var mu sync.Mutex
	var firstBad *LineError
	bad := func(le *LineError) {
		mu.Lock()
		defer mu.Unlock()
		if firstBad == nil || le.Line < firstBad.Line {
			firstBad = le
		}
	}
	var n atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range chunks {
				for k, line := range c.lines {
					if _, _, err := ParseLine(line); err != nil {
						bad(&LineError{File: name, Line: c.nums[k], Err: err})
						break
					}
					n.Add(1)
				}
			}
		}()
	}
	readErr := func() error {
		defer close(chunks)
		lr := newLineReader(r)
		var c chunk
		size := 0
		for {
			line, no, _, err := lr.next()
			if err == io.EOF {
				if len(c.lines) > 0 {
					chunks <- c
				}
				return nil
			}
			if err != nil {
				return &LineError{File: name, Line: no, Err: err}
			}
			if no%4096 == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			if blank(line) || (skip != nil && skip.done(no)) {
				continue
			}
			c.lines = append(c.lines, bytes.Clone(line))
			c.nums = append(c.nums, no)
			size += len(line)
			if len(c.lines) >= 1000 || size >= 1<<20 {
				chunks <- c
				c, size = chunk{}, 0
			}
		}
	}()
	wg.Wait()
	switch {
	case firstBad != nil && (readErr == nil || firstBad.Line < lineOf(readErr)):
		return n.Load(), firstBad
	case readErr != nil:
		return n.Load(), readErr
	}
	return n.Load(), nil
}

func lineOf(err error) int {
	var le *LineError
	if errors.As(err, &le) {
		return le.Line
	}
	return 1 << 62
}

type importBatch struct {
	first, last int
	lines       [][]byte
	nums        []int
	bytes       int64
}

// Import writes the documents of an export file (see [Line]) to db. The
// file is validated first: a bad line stops the import before anything is
// written. Documents are written in batches of up to 500, many batches at
// once; a journal beside the file records the committed lines so that an
// interrupted import (cancelled context, killed process, lost backend) can
// be finished with Resume. On cancellation, batches in flight complete
// and are journaled before Import returns the context's error.
func Import(ctx context.Context, db *DB, file string, o ImportOptions) (Stats, error) {
	start := time.Now()
	var c counters
	prog := orNoProgress(o.Progress)
	if o.Concurrency < 1 {
		o.Concurrency = 16
	}
	info, err := os.Stat(file)
	if err != nil {
		return Stats{}, errs.Wrap(err, "import", file)
	}
	if info.IsDir() {
		return Stats{}, errs.New(errs.ErrInvalid, "import", file, "is a directory, want an NDJSON file")
	}

	var j *journal
	var skip doneCursor
	if !o.DryRun && o.Journal != NoJournal {
		jp := o.Journal
		if jp == "" {
			jp = JournalPath(file)
		}
		abs, _ := filepath.Abs(file)
		j, err = openJournal(jp, journalHeader{Journal: 1, Input: abs, Size: info.Size(), Mode: o.Mode.String(), Database: db.Name()}, o.Resume)
		if err != nil {
			return Stats{}, err
		}
		defer j.close()
		skip.rs = j.done
	}

	f, err := os.Open(file)
	if err != nil {
		return Stats{}, errs.Wrap(err, "import", file)
	}
	defer f.Close()
	vskip := skip
	total, err := validate(ctx, f, filepath.Base(file), &vskip)
	if err != nil {
		if j != nil && len(j.done) == 0 {
			j.remove()
		}
		return c.stats(start), err
	}
	prog.SetTotal(total)
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return Stats{}, err
	}

	w := newWriter(db, o.Mode, &c, prog, nil)
	w.resume = o.Resume
	var failMu sync.Mutex
	w.onFailure = func(fl Failure) {
		failMu.Lock()
		defer failMu.Unlock()
		if o.OnFailure != nil {
			o.OnFailure(fl)
		}
	}

	// Workers finish the batches they hold even when ctx is cancelled, so
	// the journal matches what was written.
	wctx := context.WithoutCancel(ctx)
	stopRead, cancelRead := context.WithCancel(ctx)
	defer cancelRead()
	batches := make(chan *importBatch, o.Concurrency)
	g := new(errgroup.Group)
	var fatalOnce sync.Once
	var fatal error
	var stopped atomic.Bool
	for range o.Concurrency {
		g.Go(func() error {
			for b := range batches {
				if stopped.Load() {
					continue // the job stops: queued batches are left to a resume
				}
				var err error
				if o.DryRun {
					err = dryRunBatch(wctx, db, w, file, b)
				} else {
					err = importBatchOnce(wctx, db, w, j, file, b)
				}
				if err != nil {
					fatalOnce.Do(func() { fatal = err; stopped.Store(true); cancelRead() })
				}
			}
			return nil
		})
	}

	readErr := func() error {
		defer close(batches)
		lr := newLineReader(f)
		var b *importBatch
		send := func() bool {
			if b == nil {
				return true
			}
			select {
			case batches <- b:
				b = nil
				return true
			case <-stopRead.Done():
				return false
			}
		}
		for {
			if stopRead.Err() != nil {
				return nil
			}
			line, no, size, err := lr.next()
			if err == io.EOF {
				send()
				return nil
			}
			if err != nil {
				return &LineError{File: filepath.Base(file), Line: no, Err: err}
			}
			if skip.done(no) {
				c.resumed.Add(1)
				continue
			}
			if blank(line) {
				continue
			}
			if b == nil {
				b = &importBatch{first: no}
			}
			b.lines = append(b.lines, bytes.Clone(line))
			b.nums = append(b.nums, no)
			b.last = no
			b.bytes += int64(size)
			if len(b.lines) >= maxBatchDocs || b.bytes >= maxBatchBytes {
				if !send() {
					return nil
				}
			}
		}
	}()
	g.Wait()
	st := c.stats(start)
	switch {
	case readErr != nil:
		return st, readErr
	case fatal != nil:
		return st, fatal
	case ctx.Err() != nil:
		return st, ctx.Err()
	}
	if j != nil && st.Failed == 0 {
		if err := j.remove(); err != nil {
			return st, fmt.Errorf("remove journal: %w", err)
		}
	}
	return st, nil
}

// parseBatch turns a batch's lines into items; bad lines become failures.
func parseBatch(db *DB, w *writer, file string, b *importBatch, keepData bool) ([]item, []outcome) {
	items := make([]item, 0, len(b.lines))
	var failed []outcome
	for k, line := range b.lines {
		rel, data, err := ParseLine(line)
		var fields map[string]*pb.Value
		if err == nil {
			fields, err = toPBFields(data)
		}
		if err != nil {
			w.fail(&item{seq: b.nums[k]}, &LineError{File: filepath.Base(file), Line: b.nums[k], Err: err})
			failed = append(failed, outFailed)
			b.nums[k] = -b.nums[k] // mark as failed for the journal
			continue
		}
		it := item{seq: b.nums[k], name: db.full(rel), fields: fields}
		if keepData {
			it.data = data
		}
		items = append(items, it)
	}
	return items, failed
}

func importBatchOnce(ctx context.Context, db *DB, w *writer, j *journal, file string, b *importBatch) error {
	items, failed := parseBatch(db, w, file, b, (w.resume && w.mode == ModeCreate) || w.mode == ModeMerge)
	outs, err := w.commit(ctx, items)
	if err != nil {
		return err
	}
	w.tally(append(outs, failed...), b.bytes)
	// Journal every line of the batch's range but the failed ones.
	bad := map[int]bool{}
	for _, n := range b.nums {
		if n < 0 {
			bad[-n] = true
		}
	}
	for k, o := range outs {
		if o == outFailed {
			bad[items[k].seq] = true
		}
	}
	var rs []lineRange
	cur := lineRange{first: b.first, last: b.first - 1}
	for n := b.first; n <= b.last; n++ {
		if bad[n] {
			if cur.last >= cur.first {
				rs = append(rs, cur)
			}
			cur = lineRange{first: n + 1, last: n}
			continue
		}
		cur.last = n
	}
	if cur.last >= cur.first {
		rs = append(rs, cur)
	}
	if err := j.record(rs); err != nil {
		return fmt.Errorf("write journal: %w", err)
	}
	return nil
}

// dryRunBatch reads which of a batch's documents exist and counts what a
// real run would do.
func dryRunBatch(ctx context.Context, db *DB, w *writer, file string, b *importBatch) error {
	items, failed := parseBatch(db, w, file, b, false)
	names := make([]string, len(items))
	for i := range items {
		names[i] = items[i].name
	}
	exists := map[string]bool{}
	if w.mode == ModeCreate || w.mode == ModeSkipExisting {
		err := db.getDocs(ctx, names, time.Time{}, func(d *pb.Document) error {
			exists[d.GetName()] = true
			return nil
		})
		if err != nil {
			return err
		}
	}
	outs := make([]outcome, len(items))
	for i := range items {
		switch {
		case !exists[items[i].name]:
			outs[i] = outWritten
		case w.mode == ModeSkipExisting:
			outs[i] = outSkipped
		default:
			outs[i] = outFailed
			w.fail(&items[i], errs.New(errs.ErrAlreadyExists, "create", db.rel(items[i].name), "document exists"))
		}
	}
	w.tally(append(outs, failed...), b.bytes)
	return nil
}

// IsInterrupted reports whether err means the job was stopped by its
// context (Ctrl-C) and can be resumed.
func IsInterrupted(err error) bool {
	return errors.Is(err, context.Canceled)
}
