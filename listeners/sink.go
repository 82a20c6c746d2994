package listeners

import "context"

// Sink receives batches of events. It is the one seam between the engine and
// a destination; each kind of destination is its own package
// (listeners/stdoutsink, listeners/filesink, listeners/webhook,
// listeners/pubsubsink) and passes the shared conformance suite in
// listeners/sinktest.
//
// The contract:
//
//   - Send is called by one goroutine at a time per sink, with batches in
//     delivery order. A batch holds at most one event per (listener, path).
//   - Send returns nil only when every event of the batch is durable as far
//     as the sink promises (written and flushed as its fsync policy says,
//     accepted by the endpoint, published, or stored in the sink's own
//     durable spool). The engine advances checkpoints only then.
//   - On error the engine retries the same batch with backoff, forever, until
//     it succeeds or the daemon stops: a sink never has to retry on its own,
//     and an error never stops the daemon. A batch may thus be sent twice;
//     consumers drop duplicates by [Event.ID].
//   - Send honours ctx: when it is cancelled, Send returns promptly with an
//     error and the batch counts as not delivered.
//   - Close releases the sink's resources after the last Send. It flushes
//     anything buffered.
type Sink interface {
	Send(ctx context.Context, events []Event) error
	Close() error
}

// Flusher is implemented by sinks that buffer acknowledged events (a file
// sink whose fsync policy is "interval"): the engine calls Flush when it
// drains, before writing the final checkpoints.
type Flusher interface {
	Flush(ctx context.Context) error
}

// ConcurrentSender is implemented by sinks whose Send may run from several
// goroutines at once for batches of different documents (a database sink
// with a connection pool). A backfill, which sends each document once,
// keeps up to MaxConcurrentSends batches in flight to such a sink; the
// engine still sends one batch at a time.
type ConcurrentSender interface {
	MaxConcurrentSends() int
}

// Spooler is implemented by sinks that keep undelivered batches in an
// on-disk spool (the webhook sink): SpoolBytes is the spool's current size,
// exported as a metric.
type Spooler interface {
	SpoolBytes() int64
}

// SinkFunc adapts a function to a [Sink] whose Close does nothing.
type SinkFunc func(ctx context.Context, events []Event) error

// Send calls f.
func (f SinkFunc) Send(ctx context.Context, events []Event) error { return f(ctx, events) }

// Close does nothing.
func (f SinkFunc) Close() error { return nil }
