package listeners

import (
	"context"
	"log/slog"
	"maps"
	"time"

	"github.com/fbadmin/fbadmin/internal/errs"
	"github.com/fbadmin/fbadmin/internal/retry"
)

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
func (s *sinkRunner) openJournal(ctx context.Context) error {
	var (
		j       *journal
		entries []journalEntry
		err     error
	)
	if st := s.e.opts.Store; st != nil {
		j, entries, err = openStoreJournal(ctx, st, ".journal/"+s.name+".wal")
	} else {
		j, entries, err = openJournal(journalFile(s.e.opts.StateDir, s.name))
	}
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
			if !retry.Sleep(ctx, d) {
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
