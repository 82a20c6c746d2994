package transfer

import (
	"context"
	"fmt"
	"time"

	pb "cloud.google.com/go/firestore/apiv1/firestorepb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/fbadmin/fbadmin/internal/errs"
	"github.com/fbadmin/fbadmin/internal/retry"
	"github.com/fbadmin/fbadmin/internal/value"
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
	maxBatchDocs  = 500
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

func (it *item) write(mode Mode) (*pb.Write, error) {
	if it.wire != nil {
		w := new(pb.Write)
		return w, proto.Unmarshal(it.wire, w)
	}
	if it.delete {
		return &pb.Write{Operation: &pb.Write_Delete{Delete: it.name}}, nil
	}
	w := &pb.Write{Operation: &pb.Write_Update{Update: &pb.Document{Name: it.name, Fields: it.fields}}}
	switch mode {
	case ModeCreate, ModeSkipExisting:
		w.CurrentDocument = &pb.Precondition{ConditionType: &pb.Precondition_Exists{Exists: false}}
	case ModeMerge:
		w.UpdateMask = &pb.DocumentMask{FieldPaths: leafPaths(it.fields, "", nil)}
	}
	return w, nil
}

// writer commits batches with the non-atomic BatchWrite call, which reports
// each document's outcome, so one bad document never holds back the other
// 499. Transient failures are retried; writes are throttled in production
// with Firestore's 500/50/5 ramp-up (start at 500 writes/s, grow by half
// every 5 minutes) and unthrottled on the emulator.
type writer struct {
	db        *DB
	mode      Mode
	resume    bool
	c         *counters
	prog      Progress
	onFailure func(Failure)
	limiter   *retry.Ramp // nil on the emulator
}

func newWriter(db *DB, mode Mode, c *counters, prog Progress, onFailure func(Failure)) *writer {
	w := &writer{db: db, mode: mode, c: c, prog: orNoProgress(prog), onFailure: onFailure}
	if !db.emulator {
		w.limiter = retry.NewRamp(retry.RampConfig{Burst: maxBatchDocs}, nil)
	}
	return w
}

// outcome of one item.
type outcome int

const (
	outWritten outcome = iota
	outSkipped
	outFailed
)

// errBackend means the backend stayed unreachable through every retry: the
// job should stop and be resumed later.
type errBackend struct{ err error }

func (e errBackend) Error() string { return e.err.Error() }
func (e errBackend) Unwrap() error { return e.err }

// commit writes items and returns each one's outcome. The fast path is one
// atomic Commit of the whole batch (on the emulator about twice as fast as
// BatchWrite); when it is refused for good (a document exists, a bad
// value), nothing of the batch was written, and the batch goes again
// through BatchWrite, which reports each document's outcome. It returns an
// error only when the job cannot go on (backend unreachable, permission
// denied).
func (w *writer) commit(ctx context.Context, items []item) ([]outcome, error) {
	outs := make([]outcome, len(items))
	writes, raw, err := requestWrites(items, w.mode)
	if err != nil {
		return w.commitEach(ctx, items, false)
	}
	var lastErr error
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if attempt > maxRetries {
				return outs, errBackend{lastErr}
			}
			if err := sleep(ctx, backoff(attempt-1)); err != nil {
				return outs, err
			}
		}
		if err := w.limiter.Wait(ctx, len(items)); err != nil {
			return outs, err
		}
		_, err := w.db.api.Commit(w.db.ctx(ctx), withRaw(&pb.CommitRequest{Database: w.db.Name(), Writes: writes}, raw))
		if err == nil {
			return outs, nil // all outWritten
		}
		lastErr = errs.Wrap(err, "commit", w.db.rel(items[0].name))
		switch {
		case transient(err) && status.Code(err) != codes.Aborted:
			continue
		case status.Code(err) == codes.PermissionDenied, status.Code(err) == codes.Unauthenticated, status.Code(err) == codes.Canceled:
			return outs, lastErr
		}
		// After a failed attempt, the batch may have been committed
		// without the answer reaching us: documents then "already exist".
		return w.commitEach(ctx, items, attempt > 0)
	}
}

// commitEach writes items with BatchWrite, which reports each document's
// outcome, and returns them. It returns an error only when the job cannot
// go on (backend unreachable, permission denied). With retried (an earlier
// attempt may have written the items), or in a resumed job, a create that
// finds its document already there with the same data counts as done.
func (w *writer) commitEach(ctx context.Context, items []item, retried bool) ([]outcome, error) {
	outs := make([]outcome, len(items))
	pending := make([]int, len(items))
	for i := range items {
		pending[i] = i
	}
	var lastErr error
	for attempt := 0; len(pending) > 0; attempt++ {
		if attempt > 0 {
			if attempt > maxRetries {
				return outs, errBackend{lastErr}
			}
			if err := sleep(ctx, backoff(attempt-1)); err != nil {
				return outs, err
			}
		}
		if err := w.limiter.Wait(ctx, len(pending)); err != nil {
			return outs, err
		}
		writes := make([]*pb.Write, 0, len(pending))
		var sendable []int
		for _, i := range pending {
			wr, err := items[i].write(w.mode)
			if err != nil {
				w.fail(&items[i], errs.New(errs.ErrInvalid, "write", w.db.rel(items[i].name), "%v", err))
				outs[i] = outFailed
				continue
			}
			writes = append(writes, wr)
			sendable = append(sendable, i)
		}
		if len(writes) == 0 {
			break
		}
		resp, err := w.db.api.BatchWrite(w.db.ctx(ctx), &pb.BatchWriteRequest{Database: w.db.Name(), Writes: writes})
		if err != nil {
			lastErr = errs.Wrap(err, "batch write", w.db.rel(items[sendable[0]].name))
			if transient(err) {
				pending = sendable
				retried = true
				continue
			}
			switch status.Code(err) {
			case codes.PermissionDenied, codes.Unauthenticated, codes.Canceled, codes.NotFound:
				return outs, lastErr
			}
			if len(sendable) > 1 {
				// A request-level rejection (a too large request, one bad
				// document): write one by one to isolate the culprit.
				for _, i := range sendable {
					o, err := w.commitEach(ctx, items[i:i+1], retried)
					if err != nil {
						return outs, err
					}
					outs[i] = o[0]
				}
				return outs, nil
			}
			w.fail(&items[sendable[0]], lastErr)
			outs[sendable[0]] = outFailed
			break
		}
		pending = pending[:0]
		var exists []int
		for k, st := range resp.GetStatus() {
			i := sendable[k]
			code := codes.Code(st.GetCode())
			switch {
			case code == codes.OK:
				outs[i] = outWritten
			case code == codes.AlreadyExists && w.mode == ModeSkipExisting:
				outs[i] = outSkipped
			case code == codes.AlreadyExists && (w.resume || retried):
				exists = append(exists, i)
			case code == codes.Unavailable || code == codes.Aborted || code == codes.ResourceExhausted || code == codes.Internal || code == codes.DeadlineExceeded:
				lastErr = errs.Wrap(status.ErrorProto(st), w.op(&items[i]), w.db.rel(items[i].name))
				pending = append(pending, i)
				retried = true
			default:
				w.fail(&items[i], errs.Wrap(status.ErrorProto(st), w.op(&items[i]), w.db.rel(items[i].name)))
				outs[i] = outFailed
			}
		}
		if len(exists) > 0 {
			if err := w.compareExisting(ctx, items, exists, outs); err != nil {
				return outs, err
			}
		}
	}
	return outs, nil
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
