// Package write is fbadmin's one pipeline for bulk writes: it commits
// batches of Firestore writes, paced by the module's write ramp
// ([retry.Ramp]), retries what fails transiently, and gives each write its
// own outcome, so that one bad document never holds back the others of
// its batch. The file engine (import, copy, delete) and
// repository.BulkWriter both commit through it.
//
// # Design
//
// A [Writer] does not build requests itself: it hands batches of [Item]s
// to a [Sender], which applies them atomically ([Sender.Commit]) and, when
// it can, one by one with each write's status ([BatchSender.BatchWrite]).
// This is the seam between the two callers, which reach Firestore in two
// ways:
//
//   - The file engine talks to the low-level API and has its writes as
//     protocol buffers, [firestorepb.Write] messages or their encoded bytes
//     (an import encodes each line straight into them). [API] is the
//     Sender for them: Commit and BatchWrite calls of the API client.
//   - repository.BulkWriter holds typed values (a struct T, a
//     []firestore.Update) and only a *firestore.Client, whose encoding of
//     those values and whose connection are the SDK's own: the SDK offers
//     no way to send a Write message built elsewhere, and re-implementing
//     its struct encoding would drift from it. Its Sender commits each
//     batch as an SDK WriteBatch, built from the typed write an Item
//     carries in [Item.Data].
//
// The Writer is the same for both: it commits a batch at once, the fast
// path, and only when the commit is refused because of some of its writes
// (a document that exists, a failed precondition, an invalid value) does
// it isolate them: through BatchWrite when the Sender has it, otherwise by
// splitting the batch until each refused write stands alone. A request
// refused for its size ([TooBig]) is halved until its parts fit; a single
// write too large is that write's failure.
//
// Requests are paced by their writes ([Options].Ramp) and by their
// encoded bytes ([Options].Bytes), see [retry.Pacer].
//
// # Outcomes
//
// [Writer.Write] returns one [Result] per item, or an error when the batch
// failed as a whole: the backend stayed unreachable through every retry
// ([*UnreachableError]), the context ended, or an error that no single
// write causes (no permission, by default). Callers decide what such an
// error means: the file engine stops the job so that it can be resumed,
// the bulk writer fails the batch's writes with it.
package write

import (
	"context"
	"errors"
	"strings"
	"time"

	pb "cloud.google.com/go/firestore/apiv1/firestorepb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/fbadmin/fbadmin/internal/retry"
)

// MaxBatch is Firestore's limit of writes in one request.
const MaxBatch = 500

// Item is one write of a batch.
type Item struct {
	// Name is the document's resource name,
	// projects/P/databases/D/documents/..., for messages.
	Name string
	// Write is the write as a message, or nil when Wire holds it.
	Write *pb.Write
	// Wire is the write encoded (a google.firestore.v1.Write message), or
	// nil.
	Wire []byte
	// Data is the caller's own, for its Sender (a typed write) or for
	// itself (the input line of the write); the Writer does not look at it.
	Data any
}

// Sender applies batches of writes.
type Sender interface {
	// Commit applies the batch atomically: all of its writes or none.
	Commit(ctx context.Context, batch []Item) error
}

// BatchSender is an optional interface of a [Sender]: BatchWrite applies
// the writes of a batch independently and returns each one's outcome (nil
// when written), or an error when the request as a whole failed.
type BatchSender interface {
	BatchWrite(ctx context.Context, batch []Item) ([]error, error)
}

// Options configures a [Writer]. The zero value gives the defaults.
type Options struct {
	// Ramp paces the writes (nil: unthrottled, as on the emulator). Every
	// attempt waits for as many operations as it sends.
	Ramp *retry.Ramp
	// Bytes paces the writes by their encoded size (nil: not paced by
	// size). Every attempt waits for its bytes as well as its operations
	// (see [retry.Pacer]).
	Bytes *retry.Limiter
	// MaxRetries is how many times a request is retried after a transient
	// failure before the batch fails with an [*UnreachableError] (default
	// 8; -1 for none).
	MaxRetries int
	// Backoff gives the wait before retry number attempt, from 0 (default
	// retry.Backoff from 100 ms up to 5 s).
	Backoff func(attempt int) time.Duration
	// Whole reports whether a refused commit failed because of the request
	// as a whole rather than some of its writes, so that isolating the
	// writes is no use and the batch fails with the error. The default
	// takes no permission, no authentication and cancellation as whole;
	// any other refusal is isolated.
	Whole func(err error) bool
}

// Whole is the default of Options.Whole.
func Whole(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	switch status.Code(err) {
	case codes.PermissionDenied, codes.Unauthenticated, codes.Canceled:
		return true
	}
	return false
}

// Writer commits batches through a Sender. It is safe for concurrent use:
// callers commit several batches at once.
type Writer struct {
	s  Sender
	bs BatchSender // s's, when it has one
	o  Options
}

// New returns a Writer committing through s.
func New(s Sender, o Options) *Writer {
	switch {
	case o.MaxRetries == 0:
		o.MaxRetries = 8
	case o.MaxRetries < 0:
		o.MaxRetries = 0
	}
	if o.Backoff == nil {
		o.Backoff = func(attempt int) time.Duration { return retry.Backoff(100*time.Millisecond, 5*time.Second, attempt) }
	}
	if o.Whole == nil {
		o.Whole = Whole
	}
	w := &Writer{s: s, o: o}
	w.bs, _ = s.(BatchSender)
	return w
}

// Result is the outcome of one write.
type Result struct {
	// Err is nil when the write was applied, else why it was not: the
	// Sender's error for it.
	Err error
	// Retried says that the write was sent more than once, so an earlier
	// attempt may have applied it: a create that then finds its document
	// there may have created it itself.
	Retried bool
}

// UnreachableError is the error of a batch whose requests failed
// transiently through every retry: the backend is unreachable, and the
// batch's outcome is unknown.
type UnreachableError struct{ Err error }

func (e *UnreachableError) Error() string { return e.Err.Error() }
func (e *UnreachableError) Unwrap() error { return e.Err }

// Write applies batch (at most [MaxBatch] items) and returns each item's
// result. The error, when not nil, is the whole batch's: see the package
// documentation.
func (w *Writer) Write(ctx context.Context, batch []Item) ([]Result, error) {
	res := make([]Result, len(batch))
	if len(batch) == 0 {
		return res, nil
	}
	retried, err := w.commit(ctx, batch)
	switch {
	case err == nil:
		return res, nil
	case isFatal(err) || w.o.Whole(err):
		return res, err
	case TooBig(err) && len(batch) > 1:
		// Halve the request until it fits; a single write that is too
		// large is its own failure.
		mid := len(batch) / 2
		for _, h := range [][2]int{{0, mid}, {mid, len(batch)}} {
			part, err := w.Write(ctx, batch[h[0]:h[1]])
			copy(res[h[0]:h[1]], part)
			if err != nil {
				return res, err
			}
		}
		return res, nil
	case w.bs != nil:
		idx := make([]int, len(batch))
		for i := range idx {
			idx[i] = i
		}
		return res, w.batchWrite(ctx, batch, idx, res, retried)
	case len(batch) == 1:
		res[0] = Result{Err: err, Retried: retried}
		return res, nil
	}
	w.split(ctx, batch, res)
	return res, nil
}

func isFatal(err error) bool {
	var ue *UnreachableError
	return errors.As(err, &ue) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// TooBig reports whether err refuses a request for its size: Firestore's
// INVALID_ARGUMENT "Request payload size exceeds the limit" or
// "Transaction too big", or gRPC's own refusal of a message larger than
// its maximum (RESOURCE_EXHAUSTED, which is not worth retrying as it is).
// Such a request is split; the error of a single write that is too large
// is that write's failure.
func TooBig(err error) bool {
	if err == nil {
		return false
	}
	msg := strings.ToLower(err.Error())
	switch status.Code(err) {
	case codes.InvalidArgument:
		return strings.Contains(msg, "payload size") || strings.Contains(msg, "transaction too big")
	case codes.ResourceExhausted:
		return strings.Contains(msg, "larger than max")
	}
	return false
}

// size is the encoded size of the writes of batch, for the byte pacing.
func size(batch []Item) int64 {
	var n int64
	for i := range batch {
		if batch[i].Wire != nil {
			n += int64(len(batch[i].Wire))
		} else {
			n += int64(proto.Size(batch[i].Write))
		}
	}
	return n
}

// wait waits before attempt number attempt (from 0) of a request of n
// writes: the backoff after a failure, then the pacing.
func (w *Writer) wait(ctx context.Context, attempt int, batch []Item, last error) error {
	if attempt > 0 {
		if attempt > w.o.MaxRetries {
			return &UnreachableError{last}
		}
		if err := retry.Wait(ctx, w.o.Backoff(attempt-1)); err != nil {
			return err
		}
	}
	var bytes int64
	if w.o.Bytes != nil {
		bytes = size(batch)
	}
	return retry.Pacer{Ops: w.o.Ramp, Bytes: w.o.Bytes}.Wait(ctx, len(batch), bytes)
}

// commit commits batch, retrying transient failures, and reports whether
// an attempt may have applied it without saying so: one that failed
// transiently (the backend may have committed it and the answer been
// lost). A contention abort is not retried when the Sender can write one
// by one, which does not contend; the writes that follow then know that
// the aborted commit may have applied them.
func (w *Writer) commit(ctx context.Context, batch []Item) (bool, error) {
	var last error
	for attempt := 0; ; attempt++ {
		if err := w.wait(ctx, attempt, batch, last); err != nil {
			return attempt > 0, err
		}
		last = w.s.Commit(ctx, batch)
		if last == nil || !retry.Transient(last) || TooBig(last) || (w.bs != nil && status.Code(last) == codes.Aborted) {
			return attempt > 0 || (retry.Transient(last) && !TooBig(last)), last
		}
	}
}

// batchWrite writes the items idx of batch one by one with BatchWrite,
// retrying those that fail transiently, and sets their results.
func (w *Writer) batchWrite(ctx context.Context, batch []Item, idx []int, res []Result, retried bool) error {
	var last error
	sub := make([]Item, 0, len(idx))
	for attempt := 0; len(idx) > 0; attempt++ {
		sub = sub[:0]
		for _, i := range idx {
			sub = append(sub, batch[i])
		}
		if err := w.wait(ctx, attempt, sub, last); err != nil {
			return err
		}
		errs, err := w.bs.BatchWrite(ctx, sub)
		if err != nil {
			last = err
			switch {
			case TooBig(err) && len(idx) > 1:
				// Halve the request until it fits.
				mid := len(idx) / 2
				if err := w.batchWrite(ctx, batch, idx[:mid], res, retried); err != nil {
					return err
				}
				return w.batchWrite(ctx, batch, idx[mid:], res, retried)
			case retry.Transient(err) && !TooBig(err):
				retried = true
				continue
			case w.o.Whole(err) || status.Code(err) == codes.NotFound: // no such database
				return err
			case len(idx) > 1:
				// A request-level refusal (a too large request, one bad
				// write): write one by one to isolate the culprit.
				for _, i := range idx {
					if err := w.batchWrite(ctx, batch, []int{i}, res, retried); err != nil {
						return err
					}
				}
				return nil
			}
			res[idx[0]] = Result{Err: err, Retried: retried}
			return nil
		}
		var again []int
		for k, i := range idx {
			switch e := errs[k]; {
			case e == nil:
				res[i] = Result{Retried: retried}
			case retry.Transient(e):
				last = e
				again = append(again, i)
			default:
				res[i] = Result{Err: e, Retried: retried}
			}
		}
		if len(again) > 0 {
			retried = true
		}
		idx = again
	}
	return nil
}

// split isolates the refused writes of a batch without BatchWrite: it
// commits halves, then single writes, until each refused write stands
// alone.
func (w *Writer) split(ctx context.Context, batch []Item, res []Result) {
	if len(batch) <= 16 {
		for i := range batch {
			w.single(ctx, batch[i:i+1], res[i:i+1])
		}
		return
	}
	mid := len(batch) / 2
	for _, h := range [][2]int{{0, mid}, {mid, len(batch)}} {
		part, pres := batch[h[0]:h[1]], res[h[0]:h[1]]
		retried, err := w.commit(ctx, part)
		switch {
		case err == nil:
			continue
		case isFatal(err) || w.o.Whole(err):
			for i := range pres {
				pres[i] = Result{Err: err, Retried: retried}
			}
		default:
			w.split(ctx, part, pres)
		}
	}
}

func (w *Writer) single(ctx context.Context, one []Item, res []Result) {
	retried, err := w.commit(ctx, one)
	res[0] = Result{Err: err, Retried: retried}
}
