package repository

import (
	"context"
	"errors"

	"cloud.google.com/go/firestore"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Tx is a repository bound to a Firestore transaction: its reads see one
// consistent state and its writes commit together when the transaction
// function returns nil. Reads must come before writes, as Firestore
// requires.
type Tx[T any] struct {
	r  *Repository[T]
	tx *firestore.Transaction
}

// Transaction runs fn in a Firestore transaction and commits its writes.
// When the transaction is aborted by contention the SDK runs fn again (up
// to 5 attempts by default, see [firestore.MaxAttempts]), so fn must not
// have side effects outside the transaction. An error returned by fn
// aborts the transaction and is returned unchanged; failures of Firestore
// itself are classified (ErrConflict when attempts ran out).
//
// To use several repositories in one transaction, call the client's
// RunTransaction and bind each repository with [Repository.In].
func (r *Repository[T]) Transaction(ctx context.Context, fn func(ctx context.Context, tx *Tx[T]) error, opts ...firestore.TransactionOption) error {
	if err := r.check(); err != nil {
		return err
	}
	var fnErr error
	err := r.client.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		fnErr = fn(ctx, r.In(tx))
		return fnErr
	}, opts...)
	if err == nil {
		return nil
	}
	if fnErr != nil && errors.Is(err, fnErr) {
		return err // fn's own error, untouched
	}
	return wrap(err, "transaction", r.path)
}

// In binds the repository to a transaction started with the client's
// RunTransaction.
func (r *Repository[T]) In(tx *firestore.Transaction) *Tx[T] { return &Tx[T]{r: r, tx: tx} }

// Raw returns the SDK transaction.
func (t *Tx[T]) Raw() *firestore.Transaction { return t.tx }

// Get reads a document in the transaction (ErrNotFound if missing).
func (t *Tx[T]) Get(id string) (*Doc[T], error) {
	ref, err := t.r.ref("get", id)
	if err != nil {
		return nil, err
	}
	s, err := t.tx.Get(ref)
	if err != nil {
		return nil, wrap(err, "get", t.r.docPath(id))
	}
	return decode[T](s)
}

// Exists reports whether a document exists, reading it in the transaction.
func (t *Tx[T]) Exists(id string) (bool, error) {
	ref, err := t.r.ref("exists", id)
	if err != nil {
		return false, err
	}
	_, err = t.tx.Get(ref)
	switch {
	case err == nil:
		return true, nil
	case status.Code(err) == codes.NotFound:
		return false, nil
	default:
		return false, wrap(err, "exists", t.r.docPath(id))
	}
}

// GetAll reads documents by ID in the transaction: one entry per ID, nil
// where the document does not exist.
func (t *Tx[T]) GetAll(ids []string) ([]*Doc[T], error) {
	refs := make([]*firestore.DocumentRef, len(ids))
	for i, id := range ids {
		ref, err := t.r.ref("get all", id)
		if err != nil {
			return nil, err
		}
		refs[i] = ref
	}
	snaps, err := t.tx.GetAll(refs)
	if err != nil {
		return nil, wrap(err, "get all", t.r.path)
	}
	out := make([]*Doc[T], len(snaps))
	for i, s := range snaps {
		if !s.Exists() {
			continue
		}
		if out[i], err = decode[T](s); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Query runs a query in the transaction and returns its documents.
func (t *Tx[T]) Query(q Query[T]) ([]*Doc[T], error) {
	if err := q.check(); err != nil {
		return nil, err
	}
	snaps, err := t.tx.Documents(q.q).GetAll()
	if err != nil {
		return nil, wrap(err, "query", q.target)
	}
	out := make([]*Doc[T], len(snaps))
	for i, s := range snaps {
		if out[i], err = decode[T](s); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Create adds a create of the document to the transaction; the commit
// fails with ErrAlreadyExists if it exists.
func (t *Tx[T]) Create(id string, v T) error {
	ref, err := t.r.ref("create", id)
	if err != nil {
		return err
	}
	return wrap(t.tx.Create(ref, v), "create", t.r.docPath(id))
}

// Set adds a set of the document to the transaction (see [Repository.Set]).
func (t *Tx[T]) Set(id string, v T, opts ...firestore.SetOption) error {
	ref, err := t.r.ref("set", id)
	if err != nil {
		return err
	}
	return wrap(t.tx.Set(ref, v, opts...), "set", t.r.docPath(id))
}

// Update adds an update of the document to the transaction (see
// [Repository.Update]).
func (t *Tx[T]) Update(id string, updates []firestore.Update, preconds ...firestore.Precondition) error {
	ref, err := t.r.ref("update", id)
	if err != nil {
		return err
	}
	return wrap(t.tx.Update(ref, updates, preconds...), "update", t.r.docPath(id))
}

// Delete adds a delete of the document to the transaction.
func (t *Tx[T]) Delete(id string, preconds ...firestore.Precondition) error {
	ref, err := t.r.ref("delete", id)
	if err != nil {
		return err
	}
	return wrap(t.tx.Delete(ref, preconds...), "delete", t.r.docPath(id))
}
