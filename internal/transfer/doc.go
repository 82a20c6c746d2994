// Package transfer is fbadmin's bulk data engine: export, import, copy and
// recursive delete of Firestore document trees, streaming, parallel and
// resumable. The CLI's fs export, import, copy and delete --recursive are
// thin layers over it.
//
// # Reading trees
//
// A tree is read with queries over "every document below a parent,
// whatever its collection" (all-descendants queries without a collection
// ID), which the SDK cannot build, so the engine talks to the low-level
// API through a [DB]. Such queries return the documents of subcollections
// at any depth, including those under documents that do not exist
// themselves. Reads run in parallel: one range per top-level collection,
// each cut into ranges of document IDs (exact quantiles of a listing for
// small collections; in production, the space between the first and last
// IDs of larger ones), with subtrees following their documents. Each
// range is one query stream ordered by name, restarted after its last
// document when it fails.
//
// # The export format
//
// [Export] writes NDJSON, one [Line] per document:
//
//	{"path":"users/alice","data":{"age":{"$int":"30"}},"create_time":"...","update_time":"..."}
//
// with the fields in the lossless format of internal/value. [ParseLine]
// reads one back.
//
// # Writing
//
// [Import], [Copy] and [Delete] write through the module's one write
// pipeline (internal/write): batches of up to 500 documents (and 4 MiB),
// many in flight, each committed at once and, when some of its documents
// are refused, again with BatchWrite, the non-atomic batch call that
// reports each document's outcome. Writes are paced by the job's [Flow]:
// by default unthrottled on the emulator and following Firestore's
// 500/50/5 ramp-up in production (internal/retry's Ramp), optionally
// capped in documents and in bytes a second, caps that the N shards of a
// job share. [Mode] chooses create, set, merge or skip-existing. Transient
// failures are retried, a batch refused for its size is halved; a
// document refused for good is a [Failure] and the job goes on.
//
// # Resuming
//
// An import first validates the whole file (a bad line is a [*LineError]
// naming it, and nothing is written), then records the committed line
// ranges in a journal beside the input ([JournalPath]). Cancelled, killed or
// cut off from the backend, it is finished by a rerun with
// [ImportOptions].Resume: journaled lines are skipped, and documents a
// killed run committed without journaling are recognised as identical
// (create mode) or simply rewritten with the same data (set, merge). A
// recursive [Delete] keeps a small state file and is resumed the same way:
// what was deleted is gone, the rerun deletes the rest.
//
// # Sharding
//
// N processes share one job with a [Shard] (see [ParseShard] for the
// Kubernetes and Cloud Run variables). [Export], [Copy] and [Delete] plan
// the same ranges in every shard, at a read time they all share, and each
// takes a contiguous block of them, subtrees following their documents.
// [Import] of one file keeps the shard's lines: those starting in its
// N-th of the file's bytes, or every N-th line of a compressed file; each
// shard has its own journal ([ShardJournalPath]).
//
// # Memory
//
// Every stage is bounded: export chunks of 64 KiB per reader, import
// batches per committer, so memory does not grow with the number of
// documents.
package transfer
