package repository

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/fbadmin/fbadmin/internal/retry"
	"github.com/fbadmin/fbadmin/internal/write"
)

// ThrottleMode chooses how a [BulkWriter] paces its writes.
type ThrottleMode int

const (
	// ThrottleAuto ramps up (ThrottleRamp) against Firestore and does not
	// throttle (ThrottleOff) against the emulator, that is when
	// FIRESTORE_EMULATOR_HOST is set.
	ThrottleAuto ThrottleMode = iota
	// ThrottleRamp follows Firestore's "500/50/5" guidance for traffic to
	// a new collection: start at 500 writes per second, increase by 50%
	// every 5 minutes.
	ThrottleRamp
	// ThrottleOff writes as fast as the concurrency allows.
	ThrottleOff
)

// Ramp-up defaults: Firestore's 500/50/5 rule (see [retry.RampConfig]),
// capped.
const (
	DefaultInitialRate = retry.DefaultRampStart
	DefaultMaxRate     = 10000.0

	maxBatchSize = write.MaxBatch // Firestore's limit of writes per commit
)

// BulkOptions configures a [BulkWriter]. The zero value gives the defaults.
type BulkOptions struct {
	// Concurrency is the number of batches committed in parallel
	// (default 8).
	Concurrency int
	// BatchSize is the number of writes per commit, 1 to 500 (default 500).
	BatchSize int
	// Throttle chooses the pacing (default ThrottleAuto).
	Throttle ThrottleMode
	// InitialRate is the ramp's first rate in writes per second (default
	// 500), MaxRate the rate it stops growing at (default 10,000).
	InitialRate, MaxRate float64
	// MaxRetries is how many times a batch is retried after a transient
	// failure (Unavailable, ResourceExhausted, Aborted, ...) before its
	// writes are reported as failed (default 5; -1 for none).
	MaxRetries int
	// MaxFailures is how many failures the summary lists (default 1000);
	// all of them are counted. -1 keeps none.
	MaxFailures int
}

func (o *BulkOptions) withDefaults() BulkOptions {
	var v BulkOptions
	if o != nil {
		v = *o
	}
	if v.Concurrency <= 0 {
		v.Concurrency = 8
	}
	if v.BatchSize <= 0 || v.BatchSize > maxBatchSize {
		v.BatchSize = maxBatchSize
	}
	if v.Throttle == ThrottleAuto {
		v.Throttle = ThrottleRamp
		if os.Getenv("FIRESTORE_EMULATOR_HOST") != "" {
			v.Throttle = ThrottleOff
		}
	}
	if v.InitialRate <= 0 {
		v.InitialRate = DefaultInitialRate
	}
	if v.MaxRate <= 0 {
		v.MaxRate = DefaultMaxRate
	}
	v.MaxRate = max(v.MaxRate, v.InitialRate)
	switch {
	case v.MaxRetries == 0:
		v.MaxRetries = 5
	case v.MaxRetries < 0:
		v.MaxRetries = 0
	}
	switch {
	case v.MaxFailures == 0:
		v.MaxFailures = 1000
	case v.MaxFailures < 0:
		v.MaxFailures = 0
	}
	return v
}

// rampConfig maps the options onto the module's one write ramp: Firestore's
// growth of 50% every 5 minutes, from InitialRate up to MaxRate; a batch
// may leave at once at the start.
func (o *BulkOptions) rampConfig() retry.RampConfig {
	return retry.RampConfig{Start: o.InitialRate, Max: o.MaxRate, Burst: o.BatchSize}
}

// Failure is a write that a [BulkWriter] could not apply.
type Failure struct {
	Op   string // "create", "set", "update" or "delete"
	ID   string
	Path string // relative to the database
	Err  error  // classified: errors.Is(f.Err, ErrAlreadyExists), ...
}

// BulkSummary is the outcome of a [BulkWriter]'s writes.
type BulkSummary struct {
	Written int64 // writes applied
	Failed  int64 // writes that failed
	// Failures lists the first failures (BulkOptions.MaxFailures of them).
	Failures []Failure
}

// BulkError is returned by [BulkWriter.Close] when some writes failed. It
// unwraps to the listed failures' errors, so errors.Is(err,
// ErrAlreadyExists) reports whether any write failed that way.
type BulkError struct {
	Collection string
	Summary    BulkSummary
}

func (e *BulkError) Error() string {
	total := e.Summary.Written + e.Summary.Failed
	msg := fmt.Sprintf("bulk write %s: %d of %d writes failed", e.Collection, e.Summary.Failed, total)
	if len(e.Summary.Failures) > 0 {
		msg += " (first: " + e.Summary.Failures[0].Err.Error() + "); see the summary's Failures for each document"
	}
	return msg
}

// Unwrap returns the errors of the listed failures.
func (e *BulkError) Unwrap() []error {
	out := make([]error, len(e.Summary.Failures))
	for i, f := range e.Summary.Failures {
		out[i] = f.Err
	}
	return out
}

type opKind uint8

const (
	opCreate opKind = iota
	opSet
	opUpdate
	opDelete
)

func (k opKind) String() string {
	return [...]string{"create", "set", "update", "delete"}[k]
}

type bulkOp struct {
	kind     opKind
	id       string
	data     any
	setOpts  []firestore.SetOption
	updates  []firestore.Update
	preconds []firestore.Precondition
}

// BulkWriter writes many documents fast: it groups writes in batches of up
// to 500 and commits several batches in parallel, paced by a rate limiter.
// Unlike a transaction, writes are not atomic as a whole, and two writes
// to the same document in one writer are not ordered unless [BulkWriter.Flush]
// separates them.
//
// A failed write does not stop the others. When a batch commit is
// rejected because of some of its documents (an existing document for
// Create, a missing one for Update, a failed precondition, an invalid
// value), the batch is split and retried until each rejected write stands
// alone, so every document gets its own outcome; batches that fail
// transiently are retried whole. [BulkWriter.Close] returns the summary.
// Batches go through the module's one write pipeline, which the CLI's
// import, copy and delete use too.
//
// The methods that enqueue writes block while the writer's queue is full,
// so memory stays bounded however many writes are enqueued. They are safe
// for concurrent use.
type BulkWriter[T any] struct {
	r    *Repository[T]
	opts BulkOptions

	ctx    context.Context // the writer's lifetime, canceled by Close
	cancel context.CancelFunc

	ramp *retry.Ramp // nil: not throttled
	pipe *write.Writer

	mu      sync.Mutex // guards cur and closed
	cur     []bulkOp
	closed  bool
	sending sync.WaitGroup // enqueuers sending a full batch
	batches chan []bulkOp
	workers sync.WaitGroup

	pendMu  sync.Mutex
	pendCnd *sync.Cond
	pending int // batches sent and not finished

	resMu sync.Mutex
	sum   BulkSummary
}

// BulkWriter starts a bulk writer for the repository's collection; opts
// may be nil. Its work is bound to ctx: when ctx is done the writes still
// queued fail with ErrCanceled. Close it to wait for the writes and get the
// summary.
func (r *Repository[T]) BulkWriter(ctx context.Context, opts *BulkOptions) *BulkWriter[T] {
	o := opts.withDefaults()
	w := &BulkWriter[T]{
		r:       r,
		opts:    o,
		cur:     make([]bulkOp, 0, o.BatchSize),
		batches: make(chan []bulkOp, o.Concurrency),
	}
	w.ctx, w.cancel = context.WithCancel(ctx)
	w.pendCnd = sync.NewCond(&w.pendMu)
	if o.Throttle == ThrottleRamp {
		w.ramp = retry.NewRamp(o.rampConfig(), nil)
	}
	retries := o.MaxRetries
	if retries == 0 {
		retries = -1 // none
	}
	w.pipe = write.New(sdkSender[T]{w}, write.Options{
		Ramp:       w.ramp,
		MaxRetries: retries,
		Backoff: func(attempt int) time.Duration {
			d := retry.Backoff(200*time.Millisecond, 5*time.Second, attempt)
			return d + time.Duration(rand.Int64N(int64(d)/2+1)) // more jitter
		},
		Whole: func(err error) bool { return !perDocument(err) || w.ctx.Err() != nil },
	})
	for range o.Concurrency {
		w.workers.Add(1)
		go func() {
			defer w.workers.Done()
			for b := range w.batches {
				w.commit(b)
				w.pendMu.Lock()
				w.pending--
				w.pendCnd.Broadcast()
				w.pendMu.Unlock()
			}
		}()
	}
	return w
}

// Create enqueues the creation of a document; it fails (in the summary)
// with ErrAlreadyExists if the document exists.
func (w *BulkWriter[T]) Create(id string, v T) error {
	return w.enqueue(bulkOp{kind: opCreate, id: id, data: v})
}

// Set enqueues a set of a document, replacing it or, with
// [firestore.MergeAll] or [firestore.Merge], merging into it.
func (w *BulkWriter[T]) Set(id string, v T, opts ...firestore.SetOption) error {
	return w.enqueue(bulkOp{kind: opSet, id: id, data: v, setOpts: opts})
}

// Update enqueues an update of an existing document (see [Repository.Update]).
func (w *BulkWriter[T]) Update(id string, updates []firestore.Update, preconds ...firestore.Precondition) error {
	return w.enqueue(bulkOp{kind: opUpdate, id: id, updates: updates, preconds: preconds})
}

// Delete enqueues the deletion of a document.
func (w *BulkWriter[T]) Delete(id string, preconds ...firestore.Precondition) error {
	return w.enqueue(bulkOp{kind: opDelete, id: id, preconds: preconds})
}

// enqueue adds op to the batch being filled and hands the batch to the
// workers when it is full. It returns an error, and enqueues nothing, when
// the ID is invalid or the writer is closed or canceled.
func (w *BulkWriter[T]) enqueue(op bulkOp) error {
	if _, err := w.r.ref(op.kind.String(), op.id); err != nil {
		return err
	}
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return invalid(op.kind.String(), w.r.docPath(op.id), "bulk writer is closed")
	}
	if err := w.ctx.Err(); err != nil {
		w.mu.Unlock()
		return wrap(err, op.kind.String(), w.r.docPath(op.id))
	}
	w.cur = append(w.cur, op)
	var full []bulkOp
	if len(w.cur) >= w.opts.BatchSize {
		full = w.cur
		w.cur = make([]bulkOp, 0, w.opts.BatchSize)
		w.sending.Add(1)
	}
	w.mu.Unlock()
	if full != nil {
		defer w.sending.Done()
		w.send(full)
	}
	return nil
}

// send hands a batch to the workers, blocking while the queue is full.
func (w *BulkWriter[T]) send(b []bulkOp) {
	w.pendMu.Lock()
	w.pending++
	w.pendMu.Unlock()
	w.batches <- b
}

// seal sends the batch being filled, if any. Called with w.mu held.
func (w *BulkWriter[T]) sealLocked() []bulkOp {
	if len(w.cur) == 0 {
		return nil
	}
	b := w.cur
	w.cur = make([]bulkOp, 0, w.opts.BatchSize)
	return b
}

// Flush commits the writes enqueued so far (and any enqueued while it
// waits) and returns when they are all done, applied or failed.
func (w *BulkWriter[T]) Flush() {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	b := w.sealLocked()
	if b != nil {
		w.sending.Add(1)
	}
	w.mu.Unlock()
	if b != nil {
		w.send(b)
		w.sending.Done()
	}
	w.pendMu.Lock()
	for w.pending > 0 {
		w.pendCnd.Wait()
	}
	w.pendMu.Unlock()
}

// Summary returns the outcome of the writes finished so far.
func (w *BulkWriter[T]) Summary() BulkSummary {
	w.resMu.Lock()
	defer w.resMu.Unlock()
	s := w.sum
	s.Failures = append([]Failure(nil), w.sum.Failures...)
	return s
}

// Close commits the remaining writes, waits for them, stops the writer
// and returns the summary; the error is a [*BulkError] when some writes
// failed. Enqueueing after Close fails. Close may be called more than
// once.
func (w *BulkWriter[T]) Close() (BulkSummary, error) {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		b := w.sealLocked()
		w.mu.Unlock()
		if b != nil {
			w.send(b)
		}
		w.sending.Wait() // no enqueuer is still sending: the channel can close
		close(w.batches)
		w.workers.Wait()
		w.cancel()
	} else {
		w.mu.Unlock()
		w.workers.Wait()
	}
	s := w.Summary()
	if s.Failed > 0 {
		return s, &BulkError{Collection: w.r.path, Summary: s}
	}
	return s, nil
}

// commit writes a batch through the pipeline and records the outcome of
// each write.
func (w *BulkWriter[T]) commit(ops []bulkOp) {
	batch := make([]write.Item, len(ops))
	for i := range ops {
		batch[i].Data = &ops[i]
	}
	res, err := w.pipe.Write(w.ctx, batch)
	if err != nil {
		w.failAll(ops, err)
		return
	}
	var written int64
	for i, r := range res {
		if r.Err != nil {
			w.failAll(ops[i:i+1], r.Err)
			continue
		}
		written++
	}
	w.resMu.Lock()
	w.sum.Written += written
	w.resMu.Unlock()
}

// perDocument reports whether a batch failure may come from some of its
// writes only, so that splitting the batch saves the others.
func perDocument(err error) bool {
	return errors.Is(err, ErrAlreadyExists) || errors.Is(err, ErrNotFound) || errors.Is(err, ErrConflict) ||
		errors.Is(err, ErrInvalid) || errors.Is(err, ErrPermission)
}

// sdkSender is the pipeline's [write.Sender] of a BulkWriter: each item
// carries a typed write (a *bulkOp), and a batch is committed as one SDK
// WriteBatch, so that values are encoded by the SDK's rules, as the
// repository's other writes are.
type sdkSender[T any] struct{ w *BulkWriter[T] }

func (s sdkSender[T]) Commit(ctx context.Context, batch []write.Item) error {
	r := s.w.r
	// Committing batches in parallel is the only way through the SDK to
	// write at the rate the database allows: its BulkWriter paces itself
	// far below that, with no setting to lift it.
	//lint:ignore SA1019 per-batch commits are the only SDK write path that is not self-throttled
	b := r.client.Batch()
	var first *bulkOp
	for _, it := range batch {
		op := it.Data.(*bulkOp)
		if first == nil {
			first = op
		}
		ref := r.coll.Doc(op.id)
		switch op.kind {
		case opCreate:
			b.Create(ref, op.data)
		case opSet:
			b.Set(ref, op.data, op.setOpts...)
		case opUpdate:
			b.Update(ref, op.updates, op.preconds...)
		case opDelete:
			b.Delete(ref, op.preconds...)
		}
	}
	_, err := b.Commit(ctx)
	if err == nil {
		return nil
	}
	target := r.path
	if len(batch) == 1 {
		target = r.docPath(first.id)
	}
	return wrap(err, first.kind.String(), target)
}

// failAll records the failure of each write of ops with err.
func (w *BulkWriter[T]) failAll(ops []bulkOp, err error) {
	if w.ctx.Err() != nil && !errors.Is(err, ErrCanceled) {
		err = wrap(w.ctx.Err(), "bulk write", w.r.path)
	}
	w.resMu.Lock()
	defer w.resMu.Unlock()
	w.sum.Failed += int64(len(ops))
	for _, op := range ops {
		if len(w.sum.Failures) >= w.opts.MaxFailures {
			return
		}
		path := w.r.docPath(op.id)
		w.sum.Failures = append(w.sum.Failures, Failure{
			Op: op.kind.String(), ID: op.id, Path: path,
			Err: wrap(err, op.kind.String(), path),
		})
	}
}
