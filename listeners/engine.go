package listeners

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/fbadmin/fbadmin/internal/errs"
)

// Initial chooses what a listener emits on its very first run, when it has
// no checkpoint for a sink yet. Later runs always diff against the
// checkpoint.
type Initial string

const (
	// InitialSnapshot emits every existing document as "added", then the
	// changes.
	InitialSnapshot Initial = "snapshot"
	// InitialChangesOnly records the existing documents as delivered
	// without emitting them, then emits the changes.
	InitialChangesOnly Initial = "changes-only"
)

// Spec describes one listener.
type Spec struct {
	// Name identifies the listener in events, metrics, logs and checkpoint
	// file names: letters, digits, '.', '_' and '-'.
	Name string
	// Project and Database select the Firestore database; empty means the
	// engine's defaults ([Options.Project], [Options.Database]).
	Project, Database string
	// Query builds the listened query on a pooled client: a collection, a
	// collection group, or either with filters.
	Query func(c *firestore.Client) firestore.Query
	// Initial is what the first run emits; empty means InitialSnapshot.
	Initial Initial
	// Sinks names the sinks (added with [Engine.AddSink]) that receive
	// this listener's events. Each (listener, sink) pair has its own
	// checkpoint.
	Sinks []string
}

// Options configure an [Engine]. Zero values take the documented defaults.
type Options struct {
	// StateDir holds the checkpoints: StateDir/LISTENER/SINK.ckpt, and the
	// sinks' journals. Required unless Store is set.
	StateDir string
	// Store, when set, keeps the checkpoints and journals instead of
	// StateDir (see [Store]).
	Store Store
	// Project and Database are the defaults for listeners that name none.
	Project, Database string
	// StreamsPerClient is how many listeners share one Firestore client (one
	// gRPC connection). Default 100.
	StreamsPerClient int
	// NewClient opens a Firestore client; default firestore.NewClientWithDatabase.
	NewClient func(ctx context.Context, project, database string) (*firestore.Client, error)
	// Client, when set, is used by every listener instead of a pool, and is
	// not closed by the engine (Project and Database are then ignored).
	Client *firestore.Client
	// Watchdog recycles a listener whose stream has produced nothing for
	// this long: the stream is reopened and its first snapshot diffed
	// against what was already emitted, so a stalled stream loses nothing
	// and a quiet one emits nothing. Default 30m; negative disables it.
	Watchdog time.Duration
	// BackoffInitial and BackoffMax bound the exponential backoff (with
	// jitter) between restarts of a failed listener and between retries of
	// a failed sink send. Defaults 500ms and 30s.
	BackoffInitial, BackoffMax time.Duration
	// QueueSize bounds each sink's queue, in distinct documents. Default 10000.
	QueueSize int
	// BatchSize is the most events passed to one Sink.Send. Default 500.
	BatchSize int
	// CheckpointInterval is how often acknowledged progress is written to
	// disk. Default 1s.
	CheckpointInterval time.Duration
	// DrainTimeout bounds how long Run waits, once its context is done, for
	// the sinks to take the queued events. Default 30s.
	DrainTimeout time.Duration
	// Verify chooses how snapshots are checked against the query at their
	// read time ([VerifyAuto] by default): a stream found inconsistent is
	// reopened and diffed, so no document is missed or reported removed
	// while it exists.
	Verify Verify
	// Logger receives the engine's logs; default slog.Default().
	Logger *slog.Logger
	// Metrics, when not nil, records the engine's metrics.
	Metrics *Metrics
}

func (o *Options) setDefaults() {
	if o.StreamsPerClient <= 0 {
		o.StreamsPerClient = 100
	}
	if o.Database == "" {
		o.Database = firestore.DefaultDatabaseID
	}
	if o.NewClient == nil {
		o.NewClient = func(ctx context.Context, project, database string) (*firestore.Client, error) {
			return firestore.NewClientWithDatabase(ctx, project, database)
		}
	}
	if o.Watchdog == 0 {
		o.Watchdog = 30 * time.Minute
	}
	if o.BackoffInitial <= 0 {
		o.BackoffInitial = 500 * time.Millisecond
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = 30 * time.Second
	}
	if o.BackoffMax < o.BackoffInitial {
		o.BackoffMax = o.BackoffInitial
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 10000
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 500
	}
	if o.CheckpointInterval <= 0 {
		o.CheckpointInterval = time.Second
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Verify == "" {
		o.Verify = VerifyAuto
	}
}

// ValidName reports whether s can name a listener or a sink: 1 to 128
// ASCII letters, digits, '.', '_' or '-', starting with a letter or digit.
// (A plain loop: the equivalent regexp, with its {0,127} repetition, cost
// every fbadmin command about 1 ms and 120 kB of allocations at start-up.)
func ValidName(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case i > 0 && (c == '.' || c == '_' || c == '-'):
		default:
			return false
		}
	}
	return true
}

// Engine runs listeners and delivers their events to sinks. Add sinks and
// listeners, then call [Engine.Run] once.
type Engine struct {
	opts      Options
	log       *slog.Logger
	sinks     map[string]*sinkRunner
	listeners []*listener
	pool      *clientPool
	abort     chan struct{}
	abortOnce sync.Once
	started   atomic.Bool
}

// New returns an engine with the given options.
func New(opts Options) (*Engine, error) {
	if opts.StateDir == "" && opts.Store == nil {
		return nil, errs.New(errs.ErrInvalid, "listeners", "", "no state directory: set Options.StateDir (state_dir in the config) to where checkpoints are kept")
	}
	opts.setDefaults()
	if !opts.Verify.Valid() {
		return nil, errs.New(errs.ErrInvalid, "listeners", "", "verify %q: use auto, always, first or never", opts.Verify)
	}
	return &Engine{
		opts:  opts,
		log:   opts.Logger,
		sinks: map[string]*sinkRunner{},
		pool:  &clientPool{per: opts.StreamsPerClient, open: opts.NewClient, groups: map[[2]string][]*pooledClient{}},
		abort: make(chan struct{}),
	}, nil
}

// AddSink registers a sink under name. The engine owns it from now on and
// closes it when Run returns.
func (e *Engine) AddSink(name string, s Sink) error {
	if !ValidName(name) {
		return errs.New(errs.ErrInvalid, "add sink", name, "bad sink name: use letters, digits, '.', '_' and '-'")
	}
	if _, dup := e.sinks[name]; dup {
		return errs.New(errs.ErrInvalid, "add sink", name, "a sink with this name already exists")
	}
	r := &sinkRunner{name: name, sink: s, q: newQueue(e.opts.QueueSize), e: e,
		log: e.log.With("sink", name)}
	if m := e.opts.Metrics; m != nil {
		c := m.coalesced.WithLabelValues(name)
		r.q.coalesced = c.Inc
	}
	e.sinks[name] = r
	e.opts.Metrics.addSink(r)
	return nil
}

// AddListener registers a listener.
func (e *Engine) AddListener(spec Spec) error {
	if !ValidName(spec.Name) {
		return errs.New(errs.ErrInvalid, "add listener", spec.Name, "bad listener name: use letters, digits, '.', '_' and '-'")
	}
	for _, l := range e.listeners {
		if l.spec.Name == spec.Name {
			return errs.New(errs.ErrInvalid, "add listener", spec.Name, "a listener with this name already exists")
		}
	}
	if spec.Query == nil {
		return errs.New(errs.ErrInvalid, "add listener", spec.Name, "no query")
	}
	switch spec.Initial {
	case "":
		spec.Initial = InitialSnapshot
	case InitialSnapshot, InitialChangesOnly:
	default:
		return errs.New(errs.ErrInvalid, "add listener", spec.Name, "initial %q: use snapshot or changes-only", spec.Initial)
	}
	if len(spec.Sinks) == 0 {
		return errs.New(errs.ErrInvalid, "add listener", spec.Name, "no sinks")
	}
	if spec.Project == "" {
		spec.Project = e.opts.Project
	}
	if spec.Database == "" {
		spec.Database = e.opts.Database
	}
	if spec.Project == "" && e.opts.Client == nil {
		return errs.New(errs.ErrInvalid, "add listener", spec.Name, "no project: set the listener's or the engine's project")
	}
	l := &listener{e: e, spec: spec, log: e.log.With("listener", spec.Name)}
	for _, name := range spec.Sinks {
		s, ok := e.sinks[name]
		if !ok {
			return errs.New(errs.ErrInvalid, "add listener", spec.Name, "unknown sink %q", name)
		}
		if slices.ContainsFunc(l.routes, func(r *route) bool { return r.sink == s }) {
			return errs.New(errs.ErrInvalid, "add listener", spec.Name, "sink %q listed twice", name)
		}
		r := &route{l: l, sink: s,
			ckptPath: filepath.Join(e.opts.StateDir, spec.Name, name+".ckpt"), ckptName: spec.Name + "/" + name + ".ckpt"}
		l.routes = append(l.routes, r)
		s.routes = append(s.routes, r)
		e.opts.Metrics.addRoute(spec.Name, name)
	}
	e.listeners = append(e.listeners, l)
	return nil
}

// Ready reports nil when every listener has received the first snapshot of
// its current stream, and otherwise an error naming those that have not.
func (e *Engine) Ready() error {
	if !e.started.Load() {
		return errors.New("engine not started")
	}
	var down []string
	for _, l := range e.listeners {
		if !l.live.Load() {
			down = append(down, l.spec.Name)
		}
	}
	if len(down) > 0 {
		return fmt.Errorf("listeners not live yet: %s", strings.Join(down, ", "))
	}
	return nil
}

// Abort makes a running drain give up at once: queued events are dropped
// (they are not checkpointed, so the next run emits them again) and Run
// returns after writing the checkpoints of what was acknowledged.
func (e *Engine) Abort() { e.abortOnce.Do(func() { close(e.abort) }) }

// ErrDrainIncomplete is returned by Run when the sinks did not take every
// queued event before the drain timeout or an abort. Nothing is lost: the
// undelivered events are not checkpointed and the next run emits them.
var ErrDrainIncomplete = errors.New("drain incomplete")

// Run loads the checkpoints, starts every listener and sink, and runs until
// ctx is done. It then drains: the listeners stop taking events, the sinks
// are given up to DrainTimeout to take what is queued, flushed and closed,
// and the checkpoints are written. Run fails early only on a damaged
// checkpoint or a client that cannot be opened; listener and sink errors
// are logged and retried, never returned.
func (e *Engine) Run(ctx context.Context) error {
	if !e.started.CompareAndSwap(false, true) {
		return errors.New("listeners: Engine.Run called twice")
	}
	defer e.pool.closeAll()
	defer e.closeSinks()
	for _, l := range e.listeners {
		for _, r := range l.routes {
			var cp Checkpoint
			var err error
			if e.opts.Store != nil {
				cp, err = loadCheckpointFrom(ctx, e.opts.Store, r.ckptName)
			} else {
				cp, err = LoadCheckpoint(r.ckptPath)
			}
			switch {
			case errors.Is(err, ErrNoCheckpoint):
				r.fresh = true
				r.acked = Checkpoint{}
			case err != nil:
				return errs.Wrap(err, "load checkpoint", l.spec.Name+"/"+r.sink.name)
			default:
				r.acked = cp
			}
			r.known = make(map[string]int64, len(r.acked))
			for p, t := range r.acked {
				r.known[p] = t
			}
		}
		if e.opts.Client != nil {
			l.client = e.opts.Client
			continue
		}
		// The client outlives ctx: the drain still needs it.
		c, err := e.pool.acquire(context.WithoutCancel(ctx), l.spec.Project, l.spec.Database)
		if err != nil {
			return errs.Wrap(err, "open firestore client", l.spec.Project)
		}
		l.client = c
	}

	for _, s := range e.sinks {
		if err := s.openJournal(ctx); err != nil {
			return err
		}
	}

	workCtx, stopWork := context.WithCancel(context.Background())
	defer stopWork()
	var sinkWG sync.WaitGroup
	for _, s := range e.sinks {
		sinkWG.Add(1)
		go func() { defer sinkWG.Done(); s.run(workCtx) }()
	}

	var listenWG sync.WaitGroup
	for _, l := range e.listeners {
		listenWG.Add(1)
		go func() { defer listenWG.Done(); l.supervise(ctx) }()
	}
	e.log.Info("listening", "listeners", len(e.listeners), "sinks", len(e.sinks), "clients", e.pool.count())

	<-ctx.Done()
	e.log.Info("draining: listeners stop, sinks take what is queued", "timeout", e.opts.DrainTimeout)
	listenWG.Wait()
	for _, s := range e.sinks {
		s.q.close()
	}
	sinksDone := make(chan struct{})
	go func() { sinkWG.Wait(); close(sinksDone) }()
	var result error
	timer := time.NewTimer(e.opts.DrainTimeout)
	defer timer.Stop()
	select {
	case <-sinksDone:
	case <-timer.C:
		result = ErrDrainIncomplete
		e.log.Warn("drain timed out; undelivered events will be emitted again on the next run")
	case <-e.abort:
		result = ErrDrainIncomplete
		e.log.Warn("drain aborted; undelivered events will be emitted again on the next run")
	}
	stopWork()
	<-sinksDone
	// Flush what the sinks buffer, for at most 10s, and not at all once
	// aborted.
	fctx, fcancel := context.WithTimeout(context.Background(), 10*time.Second)
	go func() {
		select {
		case <-e.abort:
			fcancel()
		case <-fctx.Done():
		}
	}()
	for _, s := range e.sinks {
		if f, ok := s.sink.(Flusher); ok {
			if err := f.Flush(fctx); err != nil {
				e.log.Warn("flush sink", "sink", s.name, "err", err)
			}
		}
	}
	fcancel()
	if err := e.saveCheckpoints(); err != nil {
		return err
	}
	e.log.Info("drained")
	return result
}

func (e *Engine) closeSinks() {
	for _, s := range e.sinks {
		if err := s.sink.Close(); err != nil {
			e.log.Error("close sink", "sink", s.name, "err", err)
		}
		if err := s.journal.close(); err != nil {
			e.log.Error("close journal", "sink", s.name, "err", err)
		}
	}
}

// saveCheckpoints writes every sink's checkpoints and compacts its journal.
// It runs once the sinks have stopped.
func (e *Engine) saveCheckpoints() error {
	var first error
	for _, s := range e.sinks {
		if err := s.checkpoint(); err != nil && first == nil {
			first = err
		}
	}
	return first
}
