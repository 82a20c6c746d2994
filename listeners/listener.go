package listeners

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/fbadmin/fbadmin/internal/docpath"
	"github.com/fbadmin/fbadmin/internal/errs"
	"github.com/fbadmin/fbadmin/internal/stream"
	"github.com/fbadmin/fbadmin/internal/value"
)

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
		p := docpath.Rel(d.Ref.Path)
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
					Data: data, CreateTime: c.doc.CreateTime.UTC(), UpdateTime: c.doc.UpdateTime.UTC(), ReadTime: enc.readTime}
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
		c := change{path: docpath.Rel(dc.Doc.Ref.Path)}
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
		ev = Event{Type: Added, Listener: l.spec.Name, Path: c.path, Data: data, CreateTime: c.doc.CreateTime.UTC(),
			UpdateTime: c.doc.UpdateTime.UTC(), ReadTime: enc.readTime}
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
