package daemon

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/fbadmin/fbadmin/internal/errs"
	"github.com/fbadmin/fbadmin/listeners"
)

// haRunner runs the listeners of one replica: those whose lease it holds,
// each in an engine of its own whose checkpoints and journals are in the
// shared Firestore store, fenced by the lease's token. See docs/listen.md,
// "Running N replicas".
type haRunner struct {
	cfg     *Config
	log     *slog.Logger
	metrics *listeners.Metrics
	ls      *leases
	client  *firestore.Client
	state   *firestore.CollectionRef
	sinks   map[string]*sharedSink
	// margin: a listener whose lease was last renewed (or taken) at T
	// stops sending at T + ttl - margin, before another replica may take
	// the lease at T + ttl.
	margin time.Duration

	mu   sync.Mutex
	held map[string]*heldListener
}

// heldListener is a listener this replica holds the lease of, and its engine.
type heldListener struct {
	name       string
	token      int64
	validUntil atomic.Int64 // Unix ns, local clock: stop sending after it
	eng        *listeners.Engine
	cancel     context.CancelFunc
	done       chan struct{}
	err        error // of the engine's Run, once done
	leaving    bool  // draining, to release the lease (rebalance or shutdown)
	lost       bool  // the lease is gone: aborted
}

func (h *heldListener) valid() bool { return time.Now().UnixNano() < h.validUntil.Load() }

func (h *heldListener) isDone() bool {
	select {
	case <-h.done:
		return true
	default:
		return false
	}
}

// sharedSink is one sink of the replica, shared by its listeners' engines:
// Send is serialized (one goroutine at a time, as the Sink contract
// promises), Close is the replica's.
type sharedSink struct {
	mu sync.Mutex
	s  listeners.Sink
}

// fencedSink is a listener's view of a shared sink: it refuses to send once
// the listener's lease may have expired (its last renewal is older than
// the TTL minus the margin), so a replica that cannot renew stops
// delivering before another one takes over.
type fencedSink struct {
	sh *sharedSink
	h  *heldListener
}

func (f *fencedSink) Send(ctx context.Context, evs []listeners.Event) error {
	if !f.h.valid() {
		return errs.New(errs.ErrConflict, "send", f.h.name, "the lease (token %d) was not renewed in time: not sending for this listener", f.h.token)
	}
	f.sh.mu.Lock()
	defer f.sh.mu.Unlock()
	return f.sh.s.Send(ctx, evs)
}

func (f *fencedSink) Flush(ctx context.Context) error {
	fl, ok := f.sh.s.(listeners.Flusher)
	if !ok {
		return nil
	}
	f.sh.mu.Lock()
	defer f.sh.mu.Unlock()
	return fl.Flush(ctx)
}

func (f *fencedSink) Close() error { return nil }

// replicaPath puts the replica ID in a file sink's path, before its
// extension: events.ndjson becomes events.REPLICA.ndjson. Each replica
// writes its own files.
func replicaPath(path, replica string) string {
	ext := filepath.Ext(path)
	if ext == "" || strings.ContainsRune(ext, '/') {
		return path + "." + replica
	}
	return strings.TrimSuffix(path, ext) + "." + replica + ext
}

func (r *haRunner) ready() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var down []string
	for _, h := range r.held {
		if h.leaving || h.lost {
			continue
		}
		if err := h.eng.Ready(); err != nil {
			down = append(down, h.name)
		}
	}
	if len(down) > 0 {
		slices.Sort(down)
		return fmt.Errorf("listeners not live yet: %s", strings.Join(down, ", "))
	}
	return nil
}

// active counts the held listeners that are neither leaving nor lost.
func (r *haRunner) active() []*heldListener {
	var out []*heldListener
	for _, h := range r.held {
		if !h.leaving && !h.lost {
			out = append(out, h)
		}
	}
	return out
}

// run holds leases until ctx is done, then drains its engines, releases
// its leases and returns. abort cuts the drains short.
func (r *haRunner) run(ctx context.Context, abort <-chan struct{}) error {
	ttl := r.cfg.HA.TTL
	renewEvery := ttl / 3
	scanEvery := min(time.Second, renewEvery)
	started := time.Now()
	bg := context.Background()

	// The guard stops a listener whose lease may have expired, whatever
	// the main loop is waiting for.
	guardDone := make(chan struct{})
	var guardWG sync.WaitGroup
	guardWG.Add(1)
	go func() {
		defer guardWG.Done()
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-guardDone:
				return
			case <-t.C:
			}
			r.mu.Lock()
			for _, h := range r.held {
				if !h.lost && !h.valid() {
					r.log.Warn("lease not renewed in time: stopping the listener before another replica takes it", "listener", h.name, "token", h.token)
					r.lose(h)
				}
			}
			r.mu.Unlock()
		}
	}()
	defer func() { close(guardDone); guardWG.Wait() }()

	// The renewer extends the held leases and the heartbeat every ttl/3,
	// whatever the main loop is waiting for (an acquisition, a release).
	renewDone := make(chan struct{})
	var renewWG sync.WaitGroup
	renewWG.Add(1)
	go func() {
		defer renewWG.Done()
		t := time.NewTicker(renewEvery)
		defer t.Stop()
		for {
			// The heartbeat first: it then expires before the leases, and
			// the others, counting live replicas, take a dead one's leases
			// as soon as they expire.
			r.mu.Lock()
			n := len(r.held)
			r.mu.Unlock()
			hctx, cancel := context.WithTimeout(bg, renewEvery)
			if err := r.ls.heartbeat(hctx, started, n); err != nil {
				r.log.Warn("replica heartbeat", "err", err)
			}
			cancel()
			r.renewAll(bg, renewEvery)
			select {
			case <-renewDone:
				return
			case <-t.C:
			}
		}
	}()
	stopRenewer := sync.OnceFunc(func() { close(renewDone); renewWG.Wait() })
	defer stopRenewer()

	stopping, aborted := false, false
	for {
		if !stopping && ctx.Err() != nil {
			stopping = true
			r.log.Info("draining the held listeners, then releasing their leases")
			r.mu.Lock()
			for _, h := range r.held {
				if !h.leaving && !h.lost {
					h.leaving = true
					h.cancel()
				}
			}
			r.mu.Unlock()
		}
		r.reap(bg)
		if stopping {
			r.mu.Lock()
			n := len(r.held)
			r.mu.Unlock()
			if n == 0 {
				break
			}
		} else {
			r.balance(bg, renewEvery)
		}
		var abortC <-chan struct{}
		if !aborted {
			abortC = abort
		}
		var done <-chan struct{}
		if !stopping {
			done = ctx.Done()
		}
		select {
		case <-done:
		case <-abortC:
			aborted = true
			r.log.Warn("aborting the drain")
			r.mu.Lock()
			for _, h := range r.held {
				h.eng.Abort()
			}
			r.mu.Unlock()
		case <-time.After(scanEvery):
		}
	}
	stopRenewer()
	lctx, cancel := context.WithTimeout(bg, 5*time.Second)
	_ = r.ls.leave(lctx)
	cancel()
	if aborted {
		return ErrAborted
	}
	return nil
}

// lose stops a listener whose lease is gone, at once (r.mu held): what it
// sent unacknowledged stays in the shared journal for the next holder.
func (r *haRunner) lose(h *heldListener) {
	h.lost = true
	h.validUntil.Store(0)
	h.cancel()
	h.eng.Abort()
}

func (r *haRunner) renewAll(bg context.Context, timeout time.Duration) {
	r.mu.Lock()
	hs := make([]*heldListener, 0, len(r.held))
	for _, h := range r.held {
		if !h.lost {
			hs = append(hs, h)
		}
	}
	r.mu.Unlock()
	var wg sync.WaitGroup
	for _, h := range hs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			before := time.Now()
			ctx, cancel := context.WithTimeout(bg, timeout)
			err := r.ls.renew(ctx, h.name, h.token)
			cancel()
			switch {
			case err == nil:
				r.mu.Lock()
				if !h.lost { // a listener stopped meanwhile stays stopped
					h.validUntil.Store(before.Add(r.cfg.HA.TTL - r.margin).UnixNano())
				}
				r.mu.Unlock()
			case errors.Is(err, errLeaseLost):
				r.log.Warn("lease taken by another replica: stopping the listener", "listener", h.name, "token", h.token)
				r.mu.Lock()
				if !h.lost {
					r.lose(h)
				}
				r.mu.Unlock()
			default:
				r.log.Warn("lease renewal failed; retrying", "listener", h.name, "err", err,
					"stop_in", time.Until(time.Unix(0, h.validUntil.Load())).Round(time.Millisecond))
			}
		}()
	}
	wg.Wait()
}

// reap handles engines that ended: a lease left on purpose is released,
// a lost one forgotten, and one whose engine failed on its own released
// so that a replica can try again.
func (r *haRunner) reap(bg context.Context) {
	r.mu.Lock()
	var ended []*heldListener
	for _, h := range r.held {
		if h.isDone() {
			ended = append(ended, h)
		}
	}
	r.mu.Unlock()
	for _, h := range ended {
		if h.err != nil && !h.lost {
			r.log.Error("listener stopped", "listener", h.name, "err", h.err)
		}
		if !h.lost {
			ctx, cancel := context.WithTimeout(bg, 5*time.Second)
			if err := r.ls.release(ctx, h.name, h.token); err != nil {
				r.log.Warn("release lease (it expires after the TTL instead)", "listener", h.name, "err", err)
			} else {
				r.log.Info("released lease", "listener", h.name, "token", h.token)
			}
			cancel()
		}
		r.mu.Lock()
		delete(r.held, h.name)
		r.mu.Unlock()
	}
}

// balance takes free or expired leases up to this replica's share,
// ceil(listeners / live replicas), and leaves the ones beyond it.
func (r *haRunner) balance(bg context.Context, timeout time.Duration) {
	ctx, cancel := context.WithTimeout(bg, timeout)
	live, err := r.ls.live(ctx)
	cancel()
	if err != nil {
		r.log.Warn("count replicas", "err", err)
		return
	}
	n := len(r.cfg.Listeners)
	target := (n + live - 1) / live
	r.mu.Lock()
	act := r.active()
	if len(act) > target {
		// Leave the ones beyond the share: drained, then released.
		slices.SortFunc(act, func(a, b *heldListener) int { return cmp.Compare(b.name, a.name) })
		for _, h := range act[:len(act)-target] {
			r.log.Info("leaving a listener to another replica", "listener", h.name, "replicas", live, "share", target)
			h.leaving = true
			h.cancel()
		}
	}
	want := target - len(act)
	busy := make(map[string]bool, len(r.held))
	for name := range r.held {
		busy[name] = true
	}
	r.mu.Unlock()
	if want <= 0 {
		return
	}
	ctx, cancel = context.WithTimeout(bg, timeout)
	all, err := r.ls.all(ctx)
	cancel()
	if err != nil {
		r.log.Warn("list leases", "err", err)
		return
	}
	now := time.Now()
	var free []string
	for _, lc := range r.cfg.Listeners {
		if busy[lc.Name] {
			continue
		}
		if d, ok := all[lc.Name]; ok && d.Holder != "" && d.Holder != r.ls.id && now.Before(d.Expires) {
			continue
		}
		free = append(free, lc.Name)
	}
	// Each replica tries the free leases in its own order, so that
	// replicas starting together rarely contend for the same ones.
	rank := func(s string) uint64 {
		h := fnv.New64a()
		h.Write([]byte(r.ls.id + "\x00" + s))
		return h.Sum64()
	}
	slices.SortFunc(free, func(a, b string) int { return cmp.Compare(rank(a), rank(b)) })
	// Up to the share, all at once: a failover takes every lease of the
	// dead replica in one round. Those lost to a quicker replica are
	// made up for at the next round.
	var wg sync.WaitGroup
	for _, name := range free[:min(want, len(free))] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(bg, timeout)
			defer cancel()
			before := time.Now()
			token, err := r.ls.acquire(ctx, name)
			if errors.Is(err, errLeaseBusy) {
				return
			}
			if err != nil {
				r.log.Warn("acquire lease", "listener", name, "err", err)
				return
			}
			if err := r.start(name, token, before); err != nil {
				r.log.Error("start listener", "listener", name, "err", err)
				_ = r.ls.release(ctx, name, token)
				return
			}
			r.log.Info("acquired lease", "listener", name, "token", token)
		}()
	}
	wg.Wait()
}

// start runs the listener's engine under the lease taken at before with
// token.
func (r *haRunner) start(name string, token int64, before time.Time) error {
	var lc ListenerConfig
	for _, l := range r.cfg.Listeners {
		if l.Name == name {
			lc = l
		}
	}
	h := &heldListener{name: name, token: token, done: make(chan struct{})}
	h.validUntil.Store(before.Add(r.cfg.HA.TTL - r.margin).UnixNano())
	store := &fsStore{client: r.client, col: r.state, listener: name, holder: r.ls.id, token: token}
	var names []string
	for _, s := range lc.Sinks {
		names = append(names, name+"/"+s+".ckpt", ".journal/"+s+".wal")
	}
	e := r.cfg.Engine
	eng, err := listeners.New(listeners.Options{
		Store: store, Project: r.cfg.Project, Database: r.cfg.Database,
		StreamsPerClient: e.StreamsPerClient, Watchdog: e.Watchdog, BackoffInitial: e.BackoffInitial,
		BackoffMax: e.BackoffMax, QueueSize: e.QueueSize, BatchSize: e.BatchSize,
		CheckpointInterval: e.CheckpointInterval, DrainTimeout: e.DrainTimeout, Verify: listeners.Verify(e.Verify),
		Logger: r.log.With("listener", name, "token", token), Metrics: r.metrics,
	})
	if err != nil {
		return err
	}
	for _, s := range lc.Sinks {
		if err := eng.AddSink(s, &fencedSink{sh: r.sinks[s], h: h}); err != nil {
			return err
		}
	}
	if err := eng.AddListener(listeners.Spec{Name: lc.Name, Project: lc.Project, Database: lc.Database,
		Query: lc.query(), Initial: listeners.Initial(lc.Initial), Sinks: lc.Sinks}); err != nil {
		return err
	}
	h.eng = eng
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	r.mu.Lock()
	r.held[name] = h
	r.mu.Unlock()
	go func() {
		defer close(h.done)
		// Fence off the previous holder before reading what it wrote.
		cctx, cancel := context.WithTimeout(ctx, r.cfg.HA.TTL/2)
		err := store.claim(cctx, names)
		cancel()
		if err != nil {
			h.err = fmt.Errorf("claim the listener's checkpoints: %w", err)
			return
		}
		h.err = eng.Run(ctx)
		if errors.Is(h.err, listeners.ErrDrainIncomplete) {
			h.err = nil
		}
	}()
	return nil
}

// runHA is [Run] for a config with an ha section.
func runHA(ctx context.Context, cfg *Config, opts Options, logger *slog.Logger, serve func(ready func() error) (stop func(), err error), metrics *listeners.Metrics) error {
	hc := cfg.HA
	logger = logger.With("replica", hc.ReplicaID)
	client, err := firestore.NewClientWithDatabase(context.WithoutCancel(ctx), hc.Project, hc.Database)
	if err != nil {
		return errs.Wrap(err, "open firestore client", hc.Project)
	}
	defer client.Close()
	r := &haRunner{
		cfg: cfg, log: logger, metrics: metrics, client: client,
		ls: &leases{client: client, col: client.Collection(hc.LeaseCollection), reps: client.Collection(hc.LeaseCollection + "_replicas"),
			id: hc.ReplicaID, ttl: hc.TTL},
		state:  client.Collection(strings.TrimPrefix(hc.Checkpoints, "firestore:")),
		sinks:  map[string]*sharedSink{},
		margin: max(hc.TTL/5, time.Second),
		held:   map[string]*heldListener{},
	}
	defer func() {
		for name, s := range r.sinks {
			if err := s.s.Close(); err != nil {
				logger.Error("close sink", "sink", name, "err", err)
			}
		}
	}()
	for _, sc := range cfg.Sinks {
		if sc.File != nil {
			f := *sc.File
			f.Path = replicaPath(f.Path, hc.ReplicaID)
			sc.File = &f
		}
		s, err := openSink(ctx, cfg, sc, opts.Stdout, logger)
		if err != nil {
			return errs.Wrap(err, "open sink", sc.Name)
		}
		r.sinks[sc.Name] = &sharedSink{s: s}
	}
	stop, err := serve(r.ready)
	if err != nil {
		return err
	}
	defer stop()
	logger.Info("starting as a replica", "listeners", len(cfg.Listeners), "sinks", len(cfg.Sinks), "project", cfg.Project,
		"leases", hc.LeaseCollection, "checkpoints", hc.Checkpoints, "ttl", hc.TTL)
	return r.run(ctx, opts.Abort)
}
