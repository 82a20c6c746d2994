package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"cloud.google.com/go/firestore"
	"golang.org/x/sync/errgroup"
	"google.golang.org/api/iterator"

	"github.com/fbadmin/fbadmin/internal/docpath"
	"github.com/fbadmin/fbadmin/internal/errs"
	"github.com/fbadmin/fbadmin/internal/retry"
	"github.com/fbadmin/fbadmin/internal/transfer"
	"github.com/fbadmin/fbadmin/internal/value"
	"github.com/fbadmin/fbadmin/listeners"
)

// BackfillOptions are the optional inputs of [Backfill].
type BackfillOptions struct {
	// Sinks restricts the backfill to some of the listener's sinks; empty
	// means all of them.
	Sinks []string
	// ReadTime is the time the database is read at; zero means one second
	// ago (a read time must not be in the future of the server's clock).
	ReadTime time.Time
	// From, when set, backfills from an NDJSON export instead of the
	// database: a file, an object (gs://, s3://) or a split export's
	// manifest or prefix, as internal/storage reads them. It costs no
	// Firestore reads. Only the documents of the listener's collection or
	// collection group are sent; a listener with filters is refused.
	// ReadTime must then be zero: the events' read time is the manifest's,
	// or the time of the backfill.
	From string
	// Logger receives progress; nil means one built from the config.
	Logger *slog.Logger
	// Stdout receives the events of stdout sinks; nil means os.Stdout.
	Stdout io.Writer
}

// BackfillResult says what [Backfill] did.
type BackfillResult struct {
	ReadTime time.Time
	// Documents the query returned at ReadTime.
	Documents int
	// Sent and Removed count, per sink, the documents sent and the removals
	// sent for documents its checkpoint held that are gone.
	Sent, Removed map[string]int
}

// Backfill fills the sinks of one listener from the database as it was at
// one read time, then writes their checkpoints as if the listener had
// delivered exactly that state. The next run of the daemon diffs its first
// snapshot against those checkpoints, so the live listener continues from
// the read time: it emits what changed since, and nothing else.
//
// The query is read once, at the read time, as one consistent snapshot,
// in a stream (not held in memory beyond one batch and the checkpoint).
// Documents a sink's existing checkpoint already holds in the same version
// are not sent again; documents it holds that the query no longer returns
// are sent as removed. Run it while the daemon is stopped: both write the
// same checkpoint files. A backfill cut short writes no checkpoint, and
// can simply be run again (its events carry the same IDs).
func Backfill(ctx context.Context, cfg *Config, listener string, opts BackfillOptions) (*BackfillResult, error) {
	lc, err := findListener(cfg, "backfill", listener)
	if err != nil {
		return nil, err
	}
	if cfg.HA != nil {
		return nil, errs.New(errs.ErrInvalid, "backfill", listener, "a backfill writes the checkpoints of the local state directory, and with an ha section they live in Firestore: not supported yet (backfill with a copy of the config without ha, into a single daemon)")
	}
	sinks := opts.Sinks
	if len(sinks) == 0 {
		sinks = lc.Sinks
	}
	for _, s := range sinks {
		if !slices.Contains(lc.Sinks, s) {
			return nil, errs.New(errs.ErrInvalid, "backfill", listener, "sink %q is not one of the listener's sinks (%s)", s, strings.Join(lc.Sinks, ", "))
		}
	}
	logger := opts.Logger
	if logger == nil {
		logger = NewLogger(cfg.Log, os.Stderr)
	}
	logger = logger.With("listener", listener)
	if opts.Stdout == nil {
		opts.Stdout = os.Stdout
	}
	rt := opts.ReadTime
	if opts.From != "" {
		if !rt.IsZero() {
			return nil, errs.New(errs.ErrInvalid, "backfill", listener, "a read time and an export to read from exclude each other: an export holds one state already")
		}
		if err := checkFromFile(lc, opts.From); err != nil {
			return nil, err
		}
		if rt, err = exportReadTime(ctx, opts.From); err != nil {
			return nil, err
		}
	}
	if rt.IsZero() {
		rt = time.Now().Add(-time.Second)
	}
	rt = rt.UTC().Truncate(time.Microsecond)

	type target struct {
		name  string
		sink  listeners.Sink
		ckpt  string
		old   listeners.Checkpoint
		next  listeners.Checkpoint
		sends *errgroup.Group // batches in flight to the sink
	}
	var targets []*target
	defer func() {
		for _, t := range targets {
			t.sink.Close()
		}
	}()
	// Sends run under sctx, which a failed send cancels (stopping the read);
	// the read's group cancels gctx when it ends, sends in flight go on.
	sctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	g, gctx := errgroup.WithContext(sctx)
	for _, name := range sinks {
		sc := *cfg.sinkConfig(name)
		path := filepath.Join(cfg.StateDir, "checkpoints", listener, name+".ckpt")
		old, err := listeners.LoadCheckpoint(path)
		switch {
		case errors.Is(err, listeners.ErrNoCheckpoint):
			old = listeners.Checkpoint{}
		case err != nil:
			return nil, err
		}
		s, err := openSink(ctx, cfg, sc, opts.Stdout, logger)
		if err != nil {
			return nil, errs.Wrap(err, "open sink", name)
		}
		t := &target{name: name, sink: s, ckpt: path, old: old, next: listeners.Checkpoint{}, sends: &errgroup.Group{}}
		inFlight := 1
		if c, ok := s.(listeners.ConcurrentSender); ok {
			inFlight = max(1, c.MaxConcurrentSends())
		}
		t.sends.SetLimit(inFlight)
		targets = append(targets, t)
	}

	batchSize := cfg.Engine.BatchSize
	if batchSize <= 0 {
		batchSize = 500
	}
	backoffInitial, backoffMax := cfg.Engine.BackoffInitial, cfg.Engine.BackoffMax
	if backoffInitial <= 0 {
		backoffInitial = 500 * time.Millisecond
	}
	if backoffMax <= 0 {
		backoffMax = 30 * time.Second
	}
	send := func(t *target, evs []listeners.Event) error {
		for attempt := 0; ; attempt++ {
			err := t.sink.Send(sctx, evs)
			if err == nil {
				return nil
			}
			if sctx.Err() != nil {
				return context.Cause(sctx)
			}
			d := retry.Backoff(backoffInitial, backoffMax, attempt)
			logger.Warn("backfill: send failed; retrying", "sink", t.name, "err", err, "retry_in", d)
			if !retry.Sleep(sctx, d) {
				return context.Cause(sctx)
			}
		}
	}
	// dispatch hands a batch to the sink's senders; it blocks while the
	// sink has as many batches in flight as it takes.
	dispatch := func(t *target, evs []listeners.Event) {
		if len(evs) == 0 {
			return
		}
		t.sends.Go(func() error {
			err := send(t, evs)
			if err != nil {
				stop(err) // stops the read and the other sends
			}
			return err
		})
	}

	res := &BackfillResult{ReadTime: rt, Sent: map[string]int{}, Removed: map[string]int{}}
	if opts.From != "" {
		logger.Info("backfill: reading the export", "from", opts.From, "sinks", strings.Join(sinks, ","))
	} else {
		logger.Info("backfill: reading the query", "read_time", rt.Format(time.RFC3339Nano), "sinks", strings.Join(sinks, ","))
	}

	// Readers fill batches of documents; one goroutine turns each batch
	// into the events of every sink (against its checkpoint) and hands
	// them to the sinks' senders, so reading, converting and sending
	// overlap.
	batches := make(chan []transfer.Doc, 4)
	var read atomic.Int64
	g.Go(func() error {
		defer close(batches)
		emit := func(b []transfer.Doc) error {
			read.Add(int64(len(b)))
			select {
			case batches <- b:
				return nil
			case <-gctx.Done():
				return gctx.Err()
			}
		}
		if opts.From != "" {
			return readExport(gctx, lc, opts.From, batchSize, emit)
		}
		return readQuery(gctx, cfg, lc, rt, batchSize, emit)
	})
	g.Go(func() error {
		tick := time.NewTicker(10 * time.Second)
		defer tick.Stop()
		start := time.Now()
		for {
			select {
			case <-tick.C:
				n := read.Load()
				logger.Info("backfill: progress", "documents", n, "per_s", int(float64(n)/time.Since(start).Seconds()))
			case <-gctx.Done():
				return nil
			case b, ok := <-batches:
				if !ok {
					return nil
				}
				res.Documents += len(b)
				for _, t := range targets {
					evs := make([]listeners.Event, 0, len(b))
					for _, d := range b {
						ut := d.UpdateTime.UTC()
						t.next[d.Path] = ut.UnixNano()
						old, had := t.old[d.Path]
						if had && old == ut.UnixNano() {
							continue // the sink has this version
						}
						typ := listeners.Added
						if had {
							typ = listeners.Modified
						}
						evs = append(evs, listeners.Event{ID: listeners.EventID(d.Path, ut, false), Type: typ, Listener: listener,
							Path: d.Path, Data: d.Data, CreateTime: d.CreateTime.UTC(), UpdateTime: ut, ReadTime: rt})
					}
					res.Sent[t.name] += len(evs)
					dispatch(t, evs)
				}
			}
		}
	})
	err = g.Wait()
	for _, t := range targets {
		if serr := t.sends.Wait(); err == nil {
			err = serr
		}
	}
	if cause := context.Cause(sctx); cause != nil && ctx.Err() == nil {
		err = cause // a send failed for good
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	for _, t := range targets {
		var pending []listeners.Event
		for path, old := range t.old {
			if _, ok := t.next[path]; ok {
				continue
			}
			ut := time.Unix(0, old).UTC()
			pending = append(pending, listeners.Event{ID: listeners.EventID(path, ut, true), Type: listeners.Removed,
				Listener: listener, Path: path, UpdateTime: ut, ReadTime: rt})
			res.Removed[t.name]++
			if len(pending) >= batchSize {
				if err := send(t, pending); err != nil {
					return nil, err
				}
				pending = nil // a sink may keep the slice it was sent
			}
		}
		if len(pending) > 0 {
			if err := send(t, pending); err != nil {
				return nil, err
			}
		}
		if f, ok := t.sink.(listeners.Flusher); ok {
			if err := f.Flush(ctx); err != nil {
				return nil, errs.Wrap(err, "flush sink", t.name)
			}
		}
		if err := os.MkdirAll(filepath.Dir(t.ckpt), 0o755); err != nil {
			return nil, err
		}
		if err := listeners.SaveCheckpoint(t.ckpt, t.next); err != nil {
			return nil, err
		}
		logger.Info("backfill: sink filled; the live listener continues from the read time", "sink", t.name,
			"documents", len(t.next), "sent", res.Sent[t.name], "removed", res.Removed[t.name])
	}
	return res, nil
}

// readQuery reads the listener's query at rt and sends its documents in
// batches of up to size. A listener without filters is read with
// internal/transfer's parallel range queries over the low-level API; one
// with filters with the SDK's query, in one stream.
func readQuery(ctx context.Context, cfg *Config, lc ListenerConfig, rt time.Time, size int, emit func([]transfer.Doc) error) error {
	project, database := lc.Project, lc.Database
	if project == "" {
		project = cfg.Project
	}
	if database == "" {
		database = cfg.Database
	}
	if len(lc.Where) == 0 {
		db, err := transfer.Open(ctx, transfer.Config{Project: project, Database: database, EmulatorHost: os.Getenv("FIRESTORE_EMULATOR_HOST")})
		if err != nil {
			return err
		}
		defer db.Close()
		// Two ranges on the emulator (transfer's default there is one):
		// emit blocks while a batch is delivered, and the other range
		// reads meanwhile.
		par := 0
		if db.Emulator() {
			par = 2
		}
		var mu sync.Mutex
		bufs := map[int][]transfer.Doc{}
		err = transfer.Read(ctx, db, transfer.ReadOptions{Collection: lc.Collection, Group: lc.CollectionGroup, ReadTime: rt, Parallel: par},
			func(w int, d transfer.Doc) error {
				mu.Lock()
				b := append(bufs[w], d)
				if len(b) < size {
					bufs[w] = b
					mu.Unlock()
					return nil
				}
				bufs[w] = nil
				mu.Unlock()
				return emit(b)
			})
		if err != nil {
			return errs.Wrap(err, "backfill: read the query at", rt.Format(time.RFC3339Nano))
		}
		for _, b := range bufs {
			if len(b) > 0 {
				if err := emit(b); err != nil {
					return err
				}
			}
		}
		return nil
	}
	client, err := listenerClient(ctx, cfg, lc)
	if err != nil {
		return err
	}
	defer client.Close()
	q := lc.query()(client)
	it := q.WithReadOptions(firestore.ReadTime(rt)).Documents(ctx)
	defer it.Stop()
	var b []transfer.Doc
	for {
		snap, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return errs.Wrap(err, "backfill: read the query at", rt.Format(time.RFC3339Nano))
		}
		path := docpath.Rel(snap.Ref.Path)
		data, err := value.EncodeMap(snap.Data())
		if err != nil {
			return fmt.Errorf("backfill: encode %s: %w", path, err)
		}
		b = append(b, transfer.Doc{Path: path, Data: data, CreateTime: snap.CreateTime, UpdateTime: snap.UpdateTime})
		if len(b) == size {
			if err := emit(b); err != nil {
				return err
			}
			b = nil
		}
	}
	if len(b) > 0 {
		return emit(b)
	}
	return nil
}

// listenerClient opens a Firestore client on the listener's project and
// database (the config's when the listener names none).
func listenerClient(ctx context.Context, cfg *Config, lc ListenerConfig) (*firestore.Client, error) {
	project, database := lc.Project, lc.Database
	if project == "" {
		project = cfg.Project
	}
	if database == "" {
		database = cfg.Database
	}
	client, err := firestore.NewClientWithDatabase(ctx, project, database)
	if err != nil {
		return nil, errs.Wrap(err, "open firestore client", project)
	}
	return client, nil
}

// findListener returns the listener named name, or a not-found error that
// lists the defined ones.
func findListener(cfg *Config, op, name string) (ListenerConfig, error) {
	i := slices.IndexFunc(cfg.Listeners, func(l ListenerConfig) bool { return l.Name == name })
	if i < 0 {
		var names []string
		for _, l := range cfg.Listeners {
			names = append(names, l.Name)
		}
		return ListenerConfig{}, errs.New(errs.ErrNotFound, op, name, "no such listener (defined: %s)", strings.Join(names, ", "))
	}
	return cfg.Listeners[i], nil
}
