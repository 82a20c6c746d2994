// Package listeners is fbadmin's change-stream engine: it follows Firestore
// queries and delivers every document change to sinks, at least once, with
// a checkpoint per listener and sink so that a restarted process emits
// exactly the changes it missed.
//
// # Engine
//
// An [Engine] runs listeners (a [Spec] each: a collection, a collection
// group or a filtered query, built on a pooled client) under a supervisor:
// a stream that fails is reopened with exponential backoff and jitter, and
// one silent past [Options.Watchdog] is recycled. Listeners on the same
// database share clients, [Options.StreamsPerClient] (100) per client, so
// one gRPC connection carries about 100 streams.
//
// # Events
//
// Each document change becomes one [Event] (added, modified or removed)
// with the document path, its data in the lossless value format of
// internal/value, its update time and an ID derived from path and update
// time ([EventID]), so that consumers can drop duplicates.
//
// # Sinks
//
// A [Sink] takes batches of events and acknowledges them by returning nil.
// Each sink kind is its own package: listeners/stdoutsink,
// listeners/filesink, listeners/webhook and listeners/pubsubsink; all pass
// the conformance suite in listeners/sinktest. Each sink has a bounded
// queue that coalesces repeated changes to a document while the sink is
// behind, keeping per-document order; a failed send is retried with
// backoff, forever.
//
// # Checkpoints and delivery
//
// A [Checkpoint] per (listener, sink) holds the update time of every
// document the sink acknowledged; it advances only after the
// acknowledgement and is written atomically every
// [Options.CheckpointInterval] and when the engine drains. On start the
// first snapshot is diffed against it: new and newer documents are emitted,
// documents that are gone are emitted as removed, unchanged ones emit
// nothing. [Initial] chooses what a listener's very first run emits. The
// guarantee, precisely stated, is in docs/listen.md.
//
// Checkpoints and journals are files under [Options.StateDir] unless
// [Options.Store] names a [Store]: `fbadmin listen` with replicas keeps them
// in Firestore documents fenced by the listener's lease, so that they move
// with it from a replica that died to the one that takes over.
//
// # Metrics
//
// [NewMetrics] registers Prometheus metrics (events in, delivered, lag,
// retries, queue depth, spool size, restarts) that the engine updates.
package listeners
