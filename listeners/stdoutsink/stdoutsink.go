// Package stdoutsink is the [listeners.Sink] that writes events to standard
// output (or any writer) as NDJSON: one JSON object per line, in the format
// of [listeners.Event].
//
// # Delivery
//
// Send returns once the batch has been written to the writer. Writing to a
// pipe or a terminal is as durable as this sink gets: events that the
// reader has not consumed when the process dies are lost to that reader,
// although the checkpoint says they were delivered. Use the file, webhook
// or Pub/Sub sink where that matters.
package stdoutsink

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/fbadmin/fbadmin/listeners"
)

// Sink writes NDJSON lines to a writer.
type Sink struct {
	mu  sync.Mutex
	w   io.Writer
	buf []byte
}

// New returns a sink writing to w; a nil w means os.Stdout.
func New(w io.Writer) *Sink {
	if w == nil {
		w = os.Stdout
	}
	return &Sink{w: w}
}

// Send writes one line per event with a single Write call.
func (s *Sink) Send(ctx context.Context, events []listeners.Event) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	buf := s.buf[:0]
	for _, ev := range events {
		var err error
		if buf, err = listeners.AppendNDJSON(buf, ev); err != nil {
			return fmt.Errorf("stdout sink: encode event %s: %w", ev.ID, err)
		}
	}
	if len(buf) > 0 {
		if _, err := s.w.Write(buf); err != nil {
			return fmt.Errorf("stdout sink: write: %w", err)
		}
	}
	if cap(buf) <= 1<<20 {
		s.buf = buf
	}
	return nil
}

// Close does nothing: the writer belongs to the caller.
func (s *Sink) Close() error { return nil }
