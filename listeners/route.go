package listeners

import (
	"context"
	"sync"
)

// route is one (listener, sink) pair: what was emitted to the sink's queue
// and what the sink acknowledged.
type route struct {
	l        *listener
	sink     *sinkRunner
	ckptPath string
	ckptName string // under Options.Store, when set
	fresh    bool   // no checkpoint existed when Run started

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
	var err error
	if st := r.l.e.opts.Store; st != nil {
		err = st.Write(context.Background(), r.ckptName, data)
	} else {
		err = writeFileAtomic(r.ckptPath, data)
	}
	if err != nil {
		r.mu.Lock()
		r.dirty = true
		r.mu.Unlock()
		return err
	}
	return nil
}
