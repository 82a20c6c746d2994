package transfer

import (
	"context"
	"errors"
	"fmt"
	"time"

	pb "cloud.google.com/go/firestore/apiv1/firestorepb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/fbadmin/fbadmin/internal/errs"
	"github.com/fbadmin/fbadmin/internal/value"
	"github.com/fbadmin/fbadmin/internal/write"
)

// Mode says how imported documents meet existing ones.
type Mode int

const (
	// ModeCreate writes documents that do not exist yet; an existing one is
	// a failure (a conflict).
	ModeCreate Mode = iota
	// ModeSet replaces documents, creating them if needed.
	ModeSet
	// ModeMerge merges the fields into existing documents (nested maps
	// merge too), creating them if needed.
	ModeMerge
	// ModeSkipExisting writes documents that do not exist yet and leaves
	// existing ones alone.
	ModeSkipExisting
)

var modeNames = []string{"create", "set", "merge", "skip-existing"}

func (m Mode) String() string {
	if int(m) < len(modeNames) {
		return modeNames[m]
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// ParseMode parses "create", "set", "merge" or "skip-existing".
func ParseMode(s string) (Mode, error) {
	for i, n := range modeNames {
		if s == n {
			return Mode(i), nil
		}
	}
	return 0, errs.New(errs.ErrInvalid, "mode", s, "unknown mode: use create, set, merge or skip-existing")
}

// Batch limits: Firestore takes at most 500 writes and 10 MiB per request.
const (
	maxBatchDocs  = write.MaxBatch
	maxBatchBytes = 4 << 20
)

// item is one document to write or delete.
type item struct {
	seq    int // line number of the input (import), or 0
	name   string
	fields map[string]*pb.Value
	wire   []byte // the encoded Write, instead of fields (see appendWireWrite)
	delete bool
}

// write returns the item for the write pipeline: its encoded write as it
// is, or the message of its write in mode.
func (it *item) write(mode Mode) write.Item {
	if it.wire != nil {
		return write.Item{Name: it.name, Wire: it.wire}
	}
	if it.delete {
		return write.Item{Name: it.name, Write: &pb.Write{Operation: &pb.Write_Delete{Delete: it.name}}}
	}
	w := &pb.Write{Operation: &pb.Write_Update{Update: &pb.Document{Name: it.name, Fields: it.fields}}}
	switch mode {
	case ModeCreate, ModeSkipExisting:
		w.CurrentDocument = &pb.Precondition{ConditionType: &pb.Precondition_Exists{Exists: false}}
	case ModeMerge:
		w.UpdateMask = &pb.DocumentMask{FieldPaths: leafPaths(it.fields, "", nil)}
	}
	return write.Item{Name: it.name, Write: w}
}

// writer commits a job's batches through the module's write pipeline
// ([write.Writer] over the low-level API): an atomic commit first, then,
// when some documents are refused, the non-atomic BatchWrite call, which
// reports each document's outcome, so one bad document never holds back
// the other 499. Transient failures are retried; writes are paced by the
// job's [Flow]: by default Firestore's 500/50/5 ramp-up ([retry.Ramp]) in
// production and unthrottled on the emulator. The writer turns the pipeline's results
// into the job's outcomes: skipped existing documents, failures reported
// by line and path.
type writer struct {
	db        *DB
	mode      Mode
	resume    bool
	c         *counters
	prog      Progress
	onFailure func(Failure)
	w         *write.Writer
}

// newWriter returns the writer of one shard s of a job, paced by flow.
func newWriter(db *DB, mode Mode, c *counters, prog Progress, onFailure func(Failure), flow Flow, s Shard) *writer {
	ramp, bytes := flow.pacing(db.emulator, s)
	return &writer{
		db: db, mode: mode, c: c, prog: orNoProgress(prog), onFailure: onFailure,
		w: write.New(&write.API{Client: db.api, Database: db.Name()},
			write.Options{Ramp: ramp, Bytes: bytes, MaxRetries: maxRetries, Backoff: backoff}),
	}
}

// outcome of one item.
type outcome int

const (
	outWritten outcome = iota
	outSkipped
	outFailed
)

// commit writes items and returns each one's outcome. It returns an error
// only when the job cannot go on: the backend stayed unreachable through
// every retry (the job should stop and be resumed later), no permission.
// In create mode, a document found already there after a retry (an
// earlier attempt may have written it), or in a resumed job, counts as
// done when it holds the same data.
func (w *writer) commit(ctx context.Context, items []item) ([]outcome, error) {
	outs := make([]outcome, len(items))
	if len(items) == 0 {
		return outs, nil
	}
	batch := make([]write.Item, len(items))
	for i := range items {
		batch[i] = items[i].write(w.mode)
	}
	res, err := w.w.Write(ctx, batch)
	if err != nil {
		return outs, w.itemErr(&items[0], err)
	}
	var exists []int
	for i, r := range res {
		alreadyExists := status.Code(r.Err) == codes.AlreadyExists
		switch {
		case r.Err == nil:
			outs[i] = outWritten
		case alreadyExists && w.mode == ModeSkipExisting:
			outs[i] = outSkipped
		case alreadyExists && (w.resume || r.Retried):
			exists = append(exists, i)
		default:
			w.fail(&items[i], w.itemErr(&items[i], r.Err))
			outs[i] = outFailed
		}
	}
	if len(exists) > 0 {
		if err := w.compareExisting(ctx, items, exists, outs); err != nil {
			return outs, err
		}
	}
	return outs, nil
}

// itemErr words an error of the pipeline, which names its operation and
// path, or is a bare status of a BatchWrite answer, which then gets the
// item's operation and path.
func (w *writer) itemErr(it *item, err error) error {
	var e *errs.Error
	if errors.As(err, &e) {
		return err
	}
	return errs.Wrap(err, w.op(it), w.db.rel(it.name))
}

// compareExisting settles documents a resumed create found already there:
// written by the interrupted run (same data: skipped) or by someone else
// (different data: a conflict).
func (w *writer) compareExisting(ctx context.Context, items []item, idx []int, outs []outcome) error {
	names := make([]string, len(idx))
	byName := make(map[string]int, len(idx))
	for k, i := range idx {
		names[k] = items[i].name
		byName[items[i].name] = i
	}
	seen := map[string]bool{}
	err := w.db.getDocs(ctx, names, time.Time{}, func(d *pb.Document) error {
		i := byName[d.GetName()]
		seen[d.GetName()] = true
		got, err := fromPBFields(d.GetFields())
		var want map[string]any
		if err == nil {
			fields := items[i].fields
			if items[i].wire != nil {
				fields, err = wireFields(items[i].wire)
			}
			if err == nil {
				want, err = fromPBFields(fields)
			}
		}
		if err == nil && value.Equal(got, want) {
			outs[i] = outSkipped
			return nil
		}
		w.fail(&items[i], errs.New(errs.ErrAlreadyExists, "create", w.db.rel(items[i].name), "document exists with other data"))
		outs[i] = outFailed
		return nil
	})
	if err != nil {
		return err
	}
	for _, i := range idx {
		if !seen[items[i].name] { // deleted meanwhile: report, a rerun writes it
			w.fail(&items[i], errs.New(errs.ErrConflict, "create", w.db.rel(items[i].name), "document existed, then vanished"))
			outs[i] = outFailed
		}
	}
	return nil
}

// op names a write in messages: create, set, merge or delete.
func (w *writer) op(it *item) string {
	if it.delete {
		return "delete"
	}
	if w.mode == ModeSkipExisting {
		return "create"
	}
	return w.mode.String()
}

func (w *writer) fail(it *item, err error) {
	if w.onFailure != nil {
		f := Failure{Line: it.seq, Err: err}
		if it.name != "" {
			f.Path = w.db.rel(it.name)
		}
		w.onFailure(f)
	}
}

// tally adds outcomes to the counters and progress.
func (w *writer) tally(outs []outcome, bytes int64) {
	var n, s, f int64
	for _, o := range outs {
		switch o {
		case outWritten:
			n++
		case outSkipped:
			s++
		case outFailed:
			f++
		}
	}
	w.c.docs.Add(n)
	w.c.skipped.Add(s)
	w.c.failed.Add(f)
	w.c.bytes.Add(bytes)
	w.prog.Add(n+s+f, bytes)
}
