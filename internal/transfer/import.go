package transfer

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	pb "cloud.google.com/go/firestore/apiv1/firestorepb"
	"golang.org/x/sync/errgroup"

	"github.com/fbadmin/fbadmin/internal/errs"
	"github.com/fbadmin/fbadmin/internal/storage"
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
	// Expect, when set (a part of a split export), is checked during
	// validation: the stored size and CRC-32C of the input, and its
	// number of documents (unless a resume skips lines).
	Expect *storage.Part
	// Shard, when set, imports only this shard's lines of the file, so
	// that N processes share one file (see [Shard]): of an uncompressed
	// file, the lines that start in the shard's N-th of its bytes,
	// [K*size/N, (K+1)*size/N); of a compressed one (its size before
	// compression is unknown until its end), every N-th line from line
	// K+1. Each shard reads the whole file, so that line numbers stay the
	// file's in errors and in its journal, and keeps its own journal
	// ([ShardJournalPath]). Not with Expect: a split export is sharded by
	// its parts.
	Shard Shard
	// Flow paces the writes (see [Flow]).
	Flow Flow
}

// lineShard selects a shard's lines of one file: those starting in the
// byte range [lo, hi), or, when byLine, every N-th line from line K+1.
type lineShard struct {
	s      Shard
	byLine bool
	lo, hi int64
}

func newLineShard(s Shard, name string, size int64) lineShard {
	if s.Whole() {
		return lineShard{}
	}
	if storage.CompressionOf(name) != storage.None || size < 0 {
		return lineShard{s: s, byLine: true}
	}
	return lineShard{s: s, lo: int64(s.K) * size / int64(s.N), hi: int64(s.K+1) * size / int64(s.N)}
}

// keep reports whether line no, starting at byte off of the (decompressed)
// input, is the shard's.
func (ls lineShard) keep(no int, off int64) bool {
	switch {
	case ls.s.Whole():
		return true
	case ls.byLine:
		return (no-1)%ls.s.N == ls.s.K
	}
	return off >= ls.lo && off < ls.hi
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
		return "", nil, lineDecodeError(line, err)
	}
	data, isMap := m["data"].(map[string]any)
	p, err := checkLine(m, func(v any) (string, bool) { s, ok := v.(string); return s, ok }, isMap)
	if err != nil {
		return "", nil, err
	}
	return p, data, nil
}

// parseLineProto is [ParseLine] with the fields as Firestore protocol
// buffer values, the form the import writes, decoded directly.
func parseLineProto(line []byte) (string, map[string]*pb.Value, error) {
	return parseLineKeep(line, 0)
}

// checkLineProto validates a line exactly as parseLineProto does, at a fraction
// of the cost: the document's fields are checked, not built.
func checkLineProto(line []byte) error {
	_, _, err := parseLineKeep(line, 2)
	return err
}

// parseLineKeep is parseLineProto building only the values nested less
// than keep deep (all of them with keep 0).
func parseLineKeep(line []byte, keep int) (string, map[string]*pb.Value, error) {
	var v *pb.Value
	var err error
	if keep > 0 {
		v, err = value.CheckProto(line, keep)
	} else {
		v, err = value.DecodeProto(line)
	}
	if err != nil {
		return "", nil, lineDecodeError(line, err)
	}
	m := v.GetMapValue().GetFields()
	data := m["data"]
	if v.GetMapValue() == nil || isVector(v) || data.GetMapValue() == nil || isVector(data) {
		// Not an object of keys, or data that is not an object of fields, or
		// one that reads as a vector: ParseLine gives the exact answer.
		p, data, err := ParseLine(line)
		if err != nil {
			return "", nil, err
		}
		fields, err := toPBFields(data)
		return p, fields, err
	}
	p, err := checkLine(m, func(v *pb.Value) (string, bool) {
		s, ok := v.GetValueType().(*pb.Value_StringValue)
		if !ok {
			return "", false
		}
		return s.StringValue, true
	}, true)
	if err != nil {
		return "", nil, err
	}
	return p, data.GetMapValue().GetFields(), nil
}

func isVector(v *pb.Value) bool {
	_, ok := vectorFromPB(v.GetMapValue().GetFields())
	return ok
}

func lineDecodeError(line []byte, err error) error {
	if t := bytes.TrimLeft(line, " \t\r"); len(t) > 0 && t[0] != '{' {
		return fmt.Errorf("not a JSON object (%s)", formatHint)
	}
	return err
}

// checkLine checks the keys of a decoded line and returns its path;
// dataOK says whether its data is an object of fields.
func checkLine[V any](m map[string]V, str func(V) (string, bool), dataOK bool) (string, error) {
	unknown, found := "", false
	for k := range m {
		switch k {
		case "path", "data", "create_time", "update_time":
		default:
			if !found || k < unknown { // the same key every time
				unknown, found = k, true
			}
		}
	}
	if found {
		return "", fmt.Errorf("unknown key %q (%s)", unknown, formatHint)
	}
	pv, ok := m["path"]
	p, isStr := str(pv)
	if !ok || !isStr {
		return "", fmt.Errorf(`$.path: missing or not a string (%s)`, formatHint)
	}
	if err := CheckPath(p); err != nil {
		return "", fmt.Errorf("$.path: %w", err)
	}
	if !IsDocPath(p) {
		return "", fmt.Errorf("$.path: %q is a collection, want a document path (an even number of segments)", p)
	}
	if !dataOK {
		return "", fmt.Errorf(`$.data: missing or not an object of fields (%s)`, formatHint)
	}
	return p, nil
}

// lineReader reads lines with their numbers; a last line without a
// newline counts.
type lineReader struct {
	r     *bufio.Reader
	n     int
	long  []byte
	start int64 // where the line last returned starts
	pos   int64 // where the next one starts
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
		lr.start, lr.pos = lr.pos, lr.pos+int64(size)
		line = bytes.TrimSuffix(line, []byte("\n"))
		line = bytes.TrimSuffix(line, []byte("\r"))
		return line, lr.n, size, nil
	}
}

func blank(line []byte) bool { return len(bytes.TrimSpace(line)) == 0 }

// Validate checks every line of an import file (a path or URL, see
// internal/storage) and returns the number of documents in it. The first
// bad line is returned as a [*LineError].
func Validate(ctx context.Context, file string) (int64, error) {
	r, err := storage.Open(ctx, file)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	return validate(ctx, r, r.Location().Base(), nil, lineShard{})
}

func validate(ctx context.Context, r io.Reader, name string, skip *doneCursor, part lineShard) (int64, error) {
	// Lines are parsed by several workers, in chunks; the first bad line of
	// the file (the smallest number) is the one reported.
	// Chunks go back to the reader through free to be refilled, so the
	// pass runs in a few buffers.
	type chunk = *importBatch
	workers := max(runtime.GOMAXPROCS(0), 1)
	chunks := make(chan chunk, 2*workers)
	free := make(chan chunk, 3*workers+1)
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
					if err := checkLineProto(line); err != nil {
						bad(&LineError{File: name, Line: c.nums[k], Err: err})
						break
					}
					n.Add(1)
				}
				c.lines, c.nums, c.buf = c.lines[:0], c.nums[:0], c.buf[:0]
				select {
				case free <- c:
				default:
				}
			}
		}()
	}
	readErr := func() error {
		defer close(chunks)
		lr := newLineReader(r)
		next := func() chunk {
			select {
			case c := <-free:
				return c
			default:
				return new(importBatch)
			}
		}
		c := next()
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
				return readError(name, no, err)
			}
			if no%4096 == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			if blank(line) || !part.keep(no, lr.start) || (skip != nil && skip.done(no)) {
				continue
			}
			c.add(line)
			c.nums = append(c.nums, no)
			size += len(line)
			if len(c.lines) >= 1000 || size >= 1<<20 {
				chunks <- c
				c, size = next(), 0
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

// readError is an error reading the input after line no: a read or
// decompression error of the input as a whole (already classified,
// naming the input) is returned as it is; a bad line is a [LineError].
func readError(name string, no int, err error) error {
	var e *errs.Error
	if errors.As(err, &e) {
		return err
	}
	return &LineError{File: name, Line: no, Err: err}
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
	buf         []byte // holds the lines, a few allocations a batch
}

// add copies a line into the batch.
func (b *importBatch) add(line []byte) {
	if len(b.buf)+len(line) > cap(b.buf) {
		b.buf = make([]byte, 0, max(256<<10, len(line)))
	}
	start := len(b.buf)
	b.buf = append(b.buf, line...)
	b.lines = append(b.lines, b.buf[start:len(b.buf):len(b.buf)])
}

// Import writes the documents of an export file (see [Line]) to db. The
// file is a local path or a URL that internal/storage opens (gs://, s3://,
// file://; .gz and .zst are decompressed). It is validated first: a bad
// line stops the import before anything is written. Documents are written
// in batches of up to 500, many batches at once; a journal (see
// [JournalPath]) records the committed lines so that an interrupted import
// (cancelled context, killed process, lost backend) can be finished with
// Resume; the journal of an object records its generation or ETag, and a
// resume refuses an object that changed. On cancellation, batches in flight complete
// and are journaled before Import returns the context's error.
func Import(ctx context.Context, db *DB, file string, o ImportOptions) (Stats, error) {
	start := time.Now()
	var c counters
	prog := orNoProgress(o.Progress)
	if o.Concurrency < 1 {
		o.Concurrency = 16
	}
	loc, err := storage.Parse(file)
	if err != nil {
		return Stats{}, err
	}
	if loc.Kind == storage.Stdio {
		return Stats{}, errs.New(errs.ErrInvalid, "import", "-", "stdin cannot be read twice: copy it to a file first")
	}
	if loc.IsPrefix() {
		return Stats{}, errs.New(errs.ErrInvalid, "import", file, "is a directory or prefix, want an NDJSON file")
	}
	// The first read validates; the import reads the input again. An
	// object is read at one version both times (see storage.Open).
	f, err := loc.Open(ctx)
	if err != nil {
		return Stats{}, err
	}
	info := f.Info()
	name := loc.Base()
	if !o.Shard.Whole() && o.Expect != nil {
		f.Close()
		return Stats{}, errs.New(errs.ErrInvalid, "import", file, "a part of a split export is imported whole: shard the export by its parts")
	}
	part := newLineShard(o.Shard, loc.Name(), info.Size)

	var j *journal
	var skip doneCursor
	if !o.DryRun && o.Journal != NoJournal {
		jp := o.Journal
		if jp == "" {
			jp = ShardJournalPath(file, o.Shard)
		}
		h := journalHeader{Journal: 1, Input: loc.Canonical(), Size: info.Size, Version: info.Version, Mode: o.Mode.String(), Database: db.Name()}
		if !o.Shard.Whole() {
			h.Shard = o.Shard.String()
		}
		j, err = openJournal(jp, h, o.Resume)
		if err != nil {
			f.Close()
			return Stats{}, err
		}
		defer j.close()
		skip.rs = j.done
	}

	vskip := skip
	total, err := validate(ctx, f, name, &vskip, part)
	if err == nil && o.Expect != nil {
		err = checkPart(loc, f, total, len(skip.rs) == 0, *o.Expect)
	}
	f.Close()
	if err != nil {
		if j != nil && len(j.done) == 0 {
			j.remove()
		}
		return c.stats(start), err
	}
	prog.SetTotal(total)
	if f, err = loc.Open(ctx); err != nil {
		return Stats{}, err
	}
	defer f.Close()
	if now := f.Info(); now.Version != info.Version || now.Size != info.Size {
		return Stats{}, errs.New(errs.ErrConflict, "import", loc.String(), "the input changed while it was validated (%s, now %s): run the import again", describe(info), describe(now))
	}

	w := newWriter(db, o.Mode, &c, prog, nil, o.Flow, o.Shard)
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
					err = dryRunBatch(wctx, db, w, name, b)
				} else {
					err = importBatchOnce(wctx, db, w, j, name, b)
				}
				if err != nil {
					fatalOnce.Do(func() { fatal = err; stopped.Store(true); cancelRead() })
				}
			}
			return nil
		})
	}

	// complete: every line went to the workers, which write them all
	// (a cancellation that comes later does not stop the job).
	complete := false
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
			line, no, size, err := lr.next()
			if err == io.EOF {
				complete = send()
				return nil
			}
			if stopRead.Err() != nil {
				return nil
			}
			if err != nil {
				return readError(name, no, err)
			}
			if !part.keep(no, lr.start) {
				continue // another shard's
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
			b.add(line)
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
	case !complete && ctx.Err() != nil:
		return st, ctx.Err()
	}
	// Every line was attempted: the job is over, failures or not (they
	// were reported, and a rerun in another mode handles them), so its
	// journal goes. A process killed before the removal leaves a journal
	// whose every line is done: a resume then writes nothing and removes it.
	if j != nil {
		step(o.Progress, StepJournalRemove)
		if err := j.remove(); err != nil {
			return st, fmt.Errorf("remove journal: %w", err)
		}
		step(o.Progress, StepJournalRemoved)
	}
	return st, nil
}

// parseBatch turns a batch's lines into items; bad lines become failures.
// Each write is encoded straight from its line into one buffer for the
// batch (see appendWireWrite); a line the fast path does not take is
// parsed into messages.
func parseBatch(db *DB, w *writer, file string, b *importBatch) ([]item, []outcome) {
	items := make([]item, 0, len(b.lines))
	var failed []outcome
	buf := make([]byte, 0, b.bytes+b.bytes/4+int64(len(b.lines))*int64(len(db.Root())+8))
	for k, line := range b.lines {
		start := len(buf)
		var rel string
		var err error
		if buf, rel, err = appendWireWrite(buf, db, w.mode, line); err == nil {
			items = append(items, item{seq: b.nums[k], name: db.full(rel), wire: buf[start:len(buf):len(buf)]})
			continue
		}
		rel, fields, err := parseLineProto(line)
		if err != nil {
			w.fail(&item{seq: b.nums[k]}, &LineError{File: file, Line: b.nums[k], Err: err})
			failed = append(failed, outFailed)
			b.nums[k] = -b.nums[k] // mark as failed for the journal
			continue
		}
		items = append(items, item{seq: b.nums[k], name: db.full(rel), fields: fields})
	}
	return items, failed
}

func importBatchOnce(ctx context.Context, db *DB, w *writer, j *journal, file string, b *importBatch) error {
	items, failed := parseBatch(db, w, file, b)
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
	items, failed := parseBatch(db, w, file, b)
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

// checkPart compares what the validation read with a manifest's part.
func checkPart(loc storage.Location, r *storage.Reader, docs int64, whole bool, p storage.Part) error {
	if got := storage.CRC32C(r.CRC32C()); r.StoredBytes() != p.Bytes || got != p.CRC32C {
		return errs.New(errs.ErrInvalid, "check", loc.String(), "does not match the manifest: %d bytes, CRC-32C %s; the manifest says %d bytes, %s "+
			"(the part was changed or damaged after the export: export again, or restore the object)", r.StoredBytes(), got, p.Bytes, p.CRC32C)
	}
	if whole && docs != p.Docs {
		return errs.New(errs.ErrInvalid, "check", loc.String(), "holds %d documents; the manifest says %d", docs, p.Docs)
	}
	return nil
}

// describe names an input's version for messages.
func describe(in storage.Info) string {
	if in.Version != "" {
		return in.Version
	}
	return fmt.Sprintf("%d bytes", in.Size)
}

// IsInterrupted reports whether err means the job was stopped by its
// context (Ctrl-C) and can be resumed.
func IsInterrupted(err error) bool {
	return errors.Is(err, context.Canceled)
}
