// Package migrate applies versioned data migrations to a Firestore
// database, with a lock, a dry run enforced in the write path, a journal
// of before-images, resume and exact rollback.
//
// # Migrations
//
// A migration has an ID made of a version and a name, 0007_add_plan,
// and migrations apply in the order of their versions. Declarative
// migrations are YAML files ([ParseFile], [LoadDir]): a target
// (collection or collection_group, where filters) and operations (set,
// unset, rename, transform with CEL, copy, move, delete). Go migrations
// are functions given to [Register] and run by [Run], writing through a
// [Tx], the engine's [Writer].
//
// # Engine
//
// A [Runner] keeps each migration's state (checksum, status, counts, who,
// when, journal) in a collection, _fbadmin_migrations by default, and
// takes a lease there before it writes (see lock.go): each batch is
// committed atomically with a write to a lane of the lock that checks the
// lane's update time, so a holder whose lease was taken writes nothing
// more. Before a batch is sent, the before-image of each of its
// documents (or its absence) is appended to the journal and synced, and
// every write carries a precondition on the update time that image was
// read at. The writes go through internal/write's pipeline; in a dry run
// its Sender captures them instead of sending them, so a plan runs the
// same code as an apply.
//
// [Runner.Down] restores every document from the journal's first
// before-image, with a precondition on the update time the migration
// left it with; a document changed since is reported, not overwritten,
// unless forced. A run that stopped part way resumes from its journal:
// the documents (units) whose batch committed are skipped, and a batch
// whose outcome is unknown is looked up in the database.
package migrate
