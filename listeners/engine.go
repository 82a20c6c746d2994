package listeners

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/fbadmin/fbadmin/internal/errs"
	"github.com/fbadmin/fbadmin/internal/retry"
	"github.com/fbadmin/fbadmin/internal/stream"
	"github.com/fbadmin/fbadmin/internal/value"
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
	// StateDir holds the checkpoints: StateDir/LISTENER/SINK.ckpt. Required.
	StateDir string
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
	if opts.StateDir == "" {
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
			ckptPath: filepath.Join(e.opts.StateDir, spec.Name, name+".ckpt")}
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
			cp, err := LoadCheckpoint(r.ckptPath)
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
		if err := s.openJournal(); err != nil {
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

// route is one (listener, sink) pair: what was emitted to the sink's queue
// and what the sink acknowledged.
type route struct {
	l        *listener
	sink     *sinkRunner
	ckptPath string
	fresh    bool // no checkpoint existed when Run started

	// known is the state emitted so far: path -> update time. Only the
	// listener's goroutine touches it.
	known map[string]int64
	// unsure holds, per path, the last event of a previous run that the
	// sink's journal shows was passed to the sink without an
	// acknowledgement being checkpointed: the sink may or may not hold it.
	// The first snapshot sends each one again (with its ID and type) or
	// the change that supersedes it. Only the listener's goroutine touches
	// it.
	unsure map[string]journalEntry

	mu    sync.Mutex
	acked Checkpoint
	dirty bool
	// carry is unsure as the journal must keep it until each path's next
	// acknowledgement: compacting the journal carries these entries over.
	carry map[string]journalEntry

	saveMu sync.Mutex // one save at a time, so an older state never replaces a newer one
}

func (r *route) ack(ev Event) {
	r.mu.Lock()
	if ev.Type == Removed {
		delete(r.acked, ev.Path)
	} else {
		r.acked[ev.Path] = ev.UpdateTime.UnixNano()
	}
	delete(r.carry, ev.Path)
	r.dirty = true
	r.mu.Unlock()
}

func (r *route) save() error {
	r.saveMu.Lock()
	defer r.saveMu.Unlock()
	r.mu.Lock()
	if !r.dirty {
		r.mu.Unlock()
		return nil
	}
	data := encodeCheckpoint(r.acked)
	r.dirty = false
	r.mu.Unlock()
	if err := writeFileAtomic(r.ckptPath, data); err != nil {
		r.mu.Lock()
		r.dirty = true
		r.mu.Unlock()
		return err
	}
	return nil
}

// sinkRunner owns one sink, its queue, its journal and the goroutine that
// feeds it.
type sinkRunner struct {
	name   string
	sink   Sink
	q      *queue
	e      *Engine
	log    *slog.Logger
	routes []*route

	// The fields below belong to the goroutine that runs the sink (and,
	// once it has stopped, to the drain).
	journal *journal
	// inflight is the batch journaled but not yet acknowledged.
	inflight []journalEntry
	lastSave time.Time
}

// openJournal opens the sink's journal and hands each route the entries of
// the previous run that no checkpoint covers.
func (s *sinkRunner) openJournal() error {
	j, entries, err := openJournal(journalFile(s.e.opts.StateDir, s.name))
	if err != nil {
		return errs.Wrap(err, "open journal", s.name)
	}
	s.journal = j
	s.lastSave = time.Now()
	byListener := make(map[string]*route, len(s.routes))
	for _, r := range s.routes {
		byListener[r.l.spec.Name] = r
	}
	for _, e := range entries {
		r := byListener[e.listener]
		if r == nil {
			continue // a listener no longer configured
		}
		if r.unsure == nil {
			r.unsure = map[string]journalEntry{}
		}
		r.unsure[e.path] = e
	}
	n := 0
	for _, r := range s.routes {
		n += len(r.unsure)
		r.carry = maps.Clone(r.unsure)
		for p, e := range r.unsure {
			if e.typ == Removed {
				delete(r.known, p)
			} else {
				r.known[p] = e.ut
			}
		}
	}
	if n > 0 {
		s.log.Info("journal: events of the previous run whose delivery is unconfirmed are checked against the first snapshot", "documents", n)
	}
	return nil
}

// checkpoint saves the checkpoints of the sink's routes and then compacts
// its journal down to what they do not cover.
func (s *sinkRunner) checkpoint() error {
	var keep []journalEntry
	for _, r := range s.routes {
		if err := r.save(); err != nil {
			return err // the journal stays whole
		}
		r.mu.Lock()
		for _, e := range r.carry {
			keep = append(keep, e)
		}
		r.mu.Unlock()
	}
	keep = append(keep, s.inflight...)
	if err := s.journal.reset(keep); err != nil {
		return err
	}
	s.lastSave = time.Now()
	return nil
}

func (s *sinkRunner) run(ctx context.Context) {
	m := s.e.opts.Metrics
	interval := s.e.opts.CheckpointInterval
	events := make([]Event, 0, s.e.opts.BatchSize)
	var entries []journalEntry
	for {
		batch, idle := s.q.take(ctx, s.e.opts.BatchSize, max(interval-time.Since(s.lastSave), time.Millisecond))
		if idle {
			if err := s.checkpoint(); err != nil {
				s.log.Error("write checkpoints", "err", err)
			}
			continue
		}
		if batch == nil {
			return
		}
		events, entries = events[:0], entries[:0]
		for _, b := range batch {
			events = append(events, b.ev)
			entries = append(entries, journalEntry{listener: b.ev.Listener, path: b.ev.Path, ut: b.ev.UpdateTime.UnixNano(), typ: b.ev.Type})
		}
		// The journal learns of the batch, durably, before the sink does.
		s.inflight = entries
		journaled := false
		for attempt := 0; ; attempt++ {
			var err error
			if !journaled {
				err = s.journal.append(entries)
				journaled = err == nil
			}
			if err == nil {
				err = s.sink.Send(ctx, events)
			}
			if err == nil {
				if attempt > 0 {
					s.log.Info("sink recovered", "attempts", attempt+1)
				}
				break
			}
			if ctx.Err() != nil {
				return
			}
			if m != nil {
				m.retries.WithLabelValues(s.name).Inc()
			}
			d := Backoff(s.e.opts.BackoffInitial, s.e.opts.BackoffMax, attempt)
			s.log.Warn("sink send failed; retrying", "events", len(events), "attempt", attempt+1, "retry_in", d.Round(time.Millisecond), "err", err)
			if !SleepContext(ctx, d) {
				return
			}
		}
		now := time.Now()
		for _, b := range batch {
			b.route.ack(b.ev)
		}
		s.inflight = nil
		if now.Sub(s.lastSave) >= interval {
			if err := s.checkpoint(); err != nil {
				s.log.Error("write checkpoints", "err", err)
			}
		}
		if m != nil {
			counts := map[string]int{}
			lags := map[string]float64{}
			h := m.delivery.WithLabelValues(s.name)
			for _, b := range batch {
				counts[b.ev.Listener]++
				lag := now.Sub(b.ev.ReadTime).Seconds()
				lags[b.ev.Listener] = lag
				h.Observe(lag)
			}
			for l, n := range counts {
				m.delivered.WithLabelValues(l, s.name).Add(float64(n))
				m.lag.WithLabelValues(l, s.name).Set(lags[l])
			}
		}
	}
}

// Backoff returns the wait before retry number attempt (from 0): an
// exponential bound capped at max, half of it fixed and half random. Sinks
// use it for their own retries.
func Backoff(initial, max time.Duration, attempt int) time.Duration {
	return retry.Backoff(initial, max, attempt)
}

// SleepContext waits for d and reports true, or reports false as soon as ctx
// is done.
func SleepContext(ctx context.Context, d time.Duration) bool { return retry.Sleep(ctx, d) }

// listener runs one query's stream under the supervision of the shared
// change-stream core (internal/stream).
type listener struct {
	e      *Engine
	spec   Spec
	log    *slog.Logger
	routes []*route
	client *firestore.Client
	live   atomic.Bool
	// stale counts the stale versions a snapshot reported (see emit).
	// Only the listener's goroutine touches it.
	stale int
}

// supervise runs the stream until ctx is done.
func (l *listener) supervise(ctx context.Context) {
	m := l.e.opts.Metrics
	wd := l.e.opts.Watchdog
	if wd < 0 {
		wd = 0
	}
	_ = stream.Run(ctx, stream.Options{
		Client: l.client, Query: l.spec.Query(l.client), Verify: l.e.opts.Verify, Watchdog: wd,
		BackoffInitial: l.e.opts.BackoffInitial, BackoffMax: l.e.opts.BackoffMax, Log: l.log,
		Restarted: func(reason string) {
			if m != nil {
				m.restarts.WithLabelValues(l.spec.Name, reason).Inc()
			}
		},
		Live: l.setLive,
	}, func(ctx context.Context, s *stream.Snapshot) error {
		var err error
		if s.First {
			err = l.emitFirst(ctx, s)
		} else {
			err = l.emitChanges(ctx, s)
		}
		if l.stale > 0 {
			l.log.Warn("stream reported versions older than those already emitted; ignored them", "documents", l.stale)
			l.stale = 0
		}
		return err
	})
}

func (l *listener) setLive(v bool) {
	l.live.Store(v)
	if m := l.e.opts.Metrics; m != nil {
		g := 0.0
		if v {
			g = 1
		}
		m.live.WithLabelValues(l.spec.Name).Set(g)
	}
}

// change is one document's new state in a snapshot: doc is nil when it is
// gone.
type change struct {
	path string
	doc  *firestore.DocumentSnapshot
	ut   int64
}

func (l *listener) emitFirst(ctx context.Context, snap *stream.Snapshot) error {
	docs := snap.Docs
	changes := make([]change, 0, len(docs))
	present := make(map[string]struct{}, len(docs))
	for _, d := range docs {
		p := stream.RelPath(d.Ref.Path)
		present[p] = struct{}{}
		changes = append(changes, change{path: p, doc: d, ut: d.UpdateTime.UnixNano()})
	}
	if m := l.e.opts.Metrics; m != nil {
		m.eventsIn.WithLabelValues(l.spec.Name).Add(float64(len(docs)))
	}
	enc := newEncoder(l, snap.ReadTime)
	for _, r := range l.routes {
		if r.fresh && l.spec.Initial == InitialChangesOnly {
			// Baseline: the existing documents count as delivered. It is
			// written now, so that a crash before the next checkpoint does
			// not take a later baseline and miss the changes in between.
			for _, c := range changes {
				r.known[c.path] = c.ut
			}
			r.mu.Lock()
			for _, c := range changes {
				r.acked[c.path] = c.ut
			}
			r.dirty = true
			r.mu.Unlock()
			r.fresh = false
			if err := r.save(); err != nil {
				return err
			}
			continue
		}
		if r.fresh {
			// The checkpoint must exist even if nothing is ever acked, so
			// that the next run diffs instead of starting afresh.
			r.mu.Lock()
			r.dirty = true
			r.mu.Unlock()
			r.fresh = false
		}
		for _, c := range changes {
			if u, ok := r.unsure[c.path]; ok && u.typ != Removed && u.ut == c.ut {
				// The sink may not have received this version: send it
				// again, as the same event (same ID, same type).
				data, err := enc.data(c)
				if err != nil {
					return err
				}
				ev := Event{ID: EventID(c.path, c.doc.UpdateTime, false), Type: u.typ, Listener: l.spec.Name, Path: c.path,
					Data: data, UpdateTime: c.doc.UpdateTime.UTC(), ReadTime: enc.readTime}
				if err := l.queue(ctx, r, ev); err != nil {
					return err
				}
				continue
			}
			if err := l.emit(ctx, r, enc, c); err != nil {
				return err
			}
		}
		var gone []string
		for p := range r.known {
			if _, ok := present[p]; !ok {
				gone = append(gone, p)
			}
		}
		slices.Sort(gone)
		for _, p := range gone {
			if err := l.emit(ctx, r, enc, change{path: p}); err != nil {
				return err
			}
		}
		// A removal the sink may not have received, of a document still
		// gone: send it again.
		var unsent []journalEntry
		for p, u := range r.unsure {
			if _, ok := present[p]; !ok && u.typ == Removed {
				unsent = append(unsent, u)
			}
		}
		slices.SortFunc(unsent, func(a, b journalEntry) int { return strings.Compare(a.path, b.path) })
		for _, u := range unsent {
			if err := l.queue(ctx, r, removal(l.spec.Name, u.path, u.ut, enc.readTime)); err != nil {
				return err
			}
		}
		r.unsure = nil
	}
	return nil
}

func (l *listener) emitChanges(ctx context.Context, snap *stream.Snapshot) error {
	if len(snap.Changes) == 0 {
		return nil
	}
	changes := make([]change, 0, len(snap.Changes))
	for _, dc := range snap.Changes {
		c := change{path: stream.RelPath(dc.Doc.Ref.Path)}
		if dc.Kind != firestore.DocumentRemoved {
			c.doc, c.ut = dc.Doc, dc.Doc.UpdateTime.UnixNano()
		}
		changes = append(changes, c)
	}
	if m := l.e.opts.Metrics; m != nil {
		m.eventsIn.WithLabelValues(l.spec.Name).Add(float64(len(changes)))
	}
	enc := newEncoder(l, snap.ReadTime)
	for _, r := range l.routes {
		for _, c := range changes {
			if err := l.emit(ctx, r, enc, c); err != nil {
				return err
			}
		}
	}
	return nil
}

// removal is the event of the removal of the document at path whose last
// version had update time ut (Unix ns).
func removal(listener, path string, ut int64, readTime time.Time) Event {
	t := time.Unix(0, ut).UTC()
	return Event{ID: EventID(path, t, true), Type: Removed, Listener: listener, Path: path, UpdateTime: t, ReadTime: readTime}
}

// emit queues the event that brings route r from its known state to c, if
// any.
func (l *listener) emit(ctx context.Context, r *route, enc *encoder, c change) error {
	old, had := r.known[c.path]
	var ev Event
	switch {
	case c.doc == nil && !had:
		return nil
	case c.doc == nil:
		ev = removal(l.spec.Name, c.path, old, enc.readTime)
	case had && c.ut == old:
		return nil
	case had && c.ut < old:
		// An older version than the one emitted: a stream can report a
		// version older than one another stream already reported (seen on
		// the emulator, just after a stream was reopened). Update times of
		// a path only grow, so it is stale; emitting it would take the
		// sink back in time and deliver the newer version's ID a second
		// time, as "modified".
		l.stale++
		return nil
	default:
		data, err := enc.data(c)
		if err != nil {
			return err
		}
		ev = Event{Type: Added, Listener: l.spec.Name, Path: c.path, Data: data, UpdateTime: c.doc.UpdateTime.UTC(), ReadTime: enc.readTime}
		if had {
			ev.Type = Modified
		}
		ev.ID = EventID(c.path, ev.UpdateTime, false)
	}
	return l.queue(ctx, r, ev)
}

// queue pushes ev to r's sink and records it as known.
func (l *listener) queue(ctx context.Context, r *route, ev Event) error {
	if err := r.sink.q.push(ctx, r, ev); err != nil {
		return err
	}
	if l.log.Enabled(ctx, slog.LevelDebug) {
		l.log.Debug("queued", "sink", r.sink.name, "type", ev.Type, "path", ev.Path, "update_time", ev.UpdateTime, "id", ev.ID)
	}
	if ev.Type == Removed {
		delete(r.known, ev.Path)
	} else {
		r.known[ev.Path] = ev.UpdateTime.UnixNano()
	}
	if m := l.e.opts.Metrics; m != nil {
		m.queued.WithLabelValues(l.spec.Name, r.sink.name).Inc()
	}
	return nil
}

// encoder encodes each document of a snapshot at most once, however many
// routes need it.
type encoder struct {
	l        *listener
	readTime time.Time
	cache    map[string][]byte
}

func newEncoder(l *listener, readTime time.Time) *encoder {
	return &encoder{l: l, readTime: readTime.UTC()}
}

func (e *encoder) data(c change) ([]byte, error) {
	if b, ok := e.cache[c.path]; ok {
		return b, nil
	}
	b, err := value.EncodeMap(c.doc.Data())
	if err != nil {
		return nil, errs.Wrap(err, "encode document", c.path)
	}
	if len(e.l.routes) > 1 {
		if e.cache == nil {
			e.cache = map[string][]byte{}
		}
		e.cache[c.path] = b
	}
	return b, nil
}

// clientPool shares Firestore clients among listeners, per streams per
// client.
type clientPool struct {
	mu     sync.Mutex
	per    int
	open   func(ctx context.Context, project, database string) (*firestore.Client, error)
	groups map[[2]string][]*pooledClient
}

type pooledClient struct {
	c *firestore.Client
	n int
}

func (p *clientPool) acquire(ctx context.Context, project, database string) (*firestore.Client, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := [2]string{project, database}
	for _, pc := range p.groups[k] {
		if pc.n < p.per {
			pc.n++
			return pc.c, nil
		}
	}
	c, err := p.open(ctx, project, database)
	if err != nil {
		return nil, err
	}
	p.groups[k] = append(p.groups[k], &pooledClient{c: c, n: 1})
	return c, nil
}

func (p *clientPool) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, g := range p.groups {
		n += len(g)
	}
	return n
}

func (p *clientPool) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, g := range p.groups {
		for _, pc := range g {
			pc.c.Close()
		}
	}
	p.groups = map[[2]string][]*pooledClient{}
}
