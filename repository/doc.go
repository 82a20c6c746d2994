// Package repository gives typed access to Firestore collections.
//
// A [Repository] is a concrete generic type over a *firestore.Client and one
// collection. Its documents are Go values of type T, encoded and decoded by
// the Firestore SDK's rules, so `firestore:"name,omitempty"` and
// `firestore:"t,serverTimestamp"` tags work as usual:
//
//	type User struct {
//		Name  string    `firestore:"name"`
//		Email string    `firestore:"email,omitempty"`
//		Seen  time.Time `firestore:"seen,serverTimestamp"`
//	}
//
//	users := repository.New[User](client, "users")
//	d, err := users.Get(ctx, "alice")
//	// d.ID == "alice", d.Path == "users/alice", d.UpdateTime, d.Data.Name ...
//
// # Documents
//
// Reads return a [Doc]: the document's ID, path, reference, create, update and
// read times, and its data decoded into a fresh T (the SDK's structs have no
// field for the ID; a Doc carries it beside the value). [Repository.Get],
// [Repository.GetAll] (batched) and [Repository.Exists] read;
// [Repository.Create] (fails if the document exists), [Repository.Add]
// (automatic ID), [Repository.Set] (replace, or merge with
// [firestore.MergeAll] or [firestore.Merge]), [Repository.Update] and
// [Repository.Delete] write.
//
// Update takes field paths and values, where a value may be a transform:
// [firestore.ServerTimestamp], [firestore.Increment], [firestore.ArrayUnion],
// [firestore.ArrayRemove], or [firestore.Delete] to remove the field.
//
// # Optimistic concurrency
//
// Pass the update time of the version you read as a precondition: the write
// applies only if nobody changed the document since, and otherwise fails with
// [ErrConflict].
//
//	_, err := users.Update(ctx, d.ID, updates, firestore.LastUpdateTime(d.UpdateTime))
//	if errors.Is(err, repository.ErrConflict) {
//		// read again and retry
//	}
//
// For several documents, use a transaction ([Repository.Transaction]).
//
// # Queries
//
// [Repository.Query] starts a [Query] over the collection, [Group] over every
// collection with a given ID (a collection-group query), and [Sub] gives the
// repository of a document's subcollection. Queries have every Firestore
// operator ("==", "!=", "<", "<=", ">", ">=", "in", "not-in",
// "array-contains", "array-contains-any"), OR and AND filters
// ([Query.WhereFilter]), OrderBy, Limit, LimitToLast, cursors (StartAt,
// StartAfter, EndAt, EndBefore), Select and read times.
//
// A query runs as:
//   - [Query.All], an iterator over one stream of results for range loops,
//     which resumes after the last document when the stream fails
//     transiently;
//   - [Query.GetAll], all results in a slice;
//   - [Query.Page], pages with an opaque next-page token that stays valid
//     across processes and is rejected by any other query;
//   - [Query.Count], [Query.Sum], [Query.Avg] and [Query.Aggregate], computed
//     by the server;
//   - [Query.Watch], typed snapshots of changes (added, modified, removed)
//     with their read time, supervised by the change-stream core that
//     `fbadmin listen` and `fbadmin serve` use: reopened with backoff after
//     errors, recycled when silent ([WithWatchdog]), checked against the
//     query ([WithVerify]); after a reopening the next snapshot carries
//     what changed meanwhile.
//
// # Transactions
//
// [Repository.Transaction] runs a function with a [Tx], whose typed reads and
// writes commit together; the SDK retries the function when contention
// aborts the transaction. [Repository.In] binds several repositories to one
// transaction started with the client's RunTransaction.
//
// # Bulk writes
//
// A [BulkWriter] writes large numbers of documents: batches of up to 500
// writes committed in parallel. Against Firestore it follows the "500/50/5"
// ramp-up: [BulkOptions].InitialRate writes per second (500), +50% every 5
// minutes, up to MaxRate (10,000); against the emulator (when
// FIRESTORE_EMULATOR_HOST is set) it does not throttle ([ThrottleAuto]). A
// failed write does not stop the others: the summary lists each failed
// document with its error. fbadmin's import, copy and delete commands pace
// and retry their writes with the same pipeline.
//
// # Paths
//
// Collection paths and document IDs follow Firestore's rules, checked before
// any request: valid UTF-8, no empty segment, no "." or "..", no reserved
// __x__ ID, IDs of at most 1500 bytes. [New], [Sub], [Group] and every method
// that takes an ID refuse others with [ErrInvalid]. A [Path], from
// [ParsePath], [ParseDocumentPath] or [ParseCollectionPath], is a path
// checked once by the same rules, with the navigation that library users
// otherwise write by hand: its kind, parent, ID, children, and full
// resource name.
//
// # Errors
//
// Every error from Firestore is classified once into one of the sentinels
// [ErrNotFound], [ErrAlreadyExists], [ErrConflict], [ErrInvalid],
// [ErrUnauthenticated], [ErrPermission], [ErrUnavailable], [ErrCanceled],
// [ErrResourceLimit] or [ErrInternal], carried by an [*Error] that names the
// operation and the document and unwraps to both the sentinel and the gRPC
// status error, so errors.Is and errors.As both work (see the examples). The
// sentinels are shared with the rest of fbadmin.
package repository
