package repository

import (
	"context"
	"errors"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/api/iterator"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/fbadmin/fbadmin/internal/docpath"
	"github.com/fbadmin/fbadmin/internal/errs"
)

// getAllChunk is how many documents one BatchGetDocuments call asks for.
const getAllChunk = 500

// Doc is one document read from Firestore: its identity and metadata beside
// its typed value. Data is always decoded into a fresh T, so fields absent
// from the stored document keep their zero value.
type Doc[T any] struct {
	// ID is the document's ID, the last element of its path.
	ID string
	// Path is the document's path relative to the database, such as
	// "users/alice" or "users/alice/posts/p1". Name returns the full
	// resource name.
	Path string
	// Ref is the SDK's reference to the document.
	Ref *firestore.DocumentRef
	// CreateTime and UpdateTime are the server's times of the document's
	// creation and last change. Pass UpdateTime to [firestore.LastUpdateTime]
	// for an optimistic-concurrency update.
	CreateTime time.Time
	UpdateTime time.Time
	// ReadTime is when the document was read.
	ReadTime time.Time
	// Data is the document's content decoded with the SDK's rules
	// (firestore struct tags apply).
	Data T
}

// Name returns the document's full resource name,
// "projects/P/databases/D/documents/PATH".
func (d *Doc[T]) Name() string {
	if d == nil || d.Ref == nil {
		return ""
	}
	return d.Ref.Path
}

// WriteResult describes a successful write.
type WriteResult struct {
	// ID and Path (relative to the database) of the written document.
	ID   string
	Path string
	// UpdateTime is the document's new update time (for a delete, the time
	// of the delete).
	UpdateTime time.Time
}

// Option configures a [Repository].
type Option func(*config)

type config struct {
	streamRetries int
	// streamFault, when set, is called before each document that All
	// receives, with the number of documents yielded so far; an error it
	// returns is treated as a failure of the stream. Tests use it to
	// exercise resumption.
	streamFault func(yielded int) error
	// retryBase is the first back-off delay of All's resumption.
	retryBase time.Duration
}

func defaultConfig() config {
	return config{streamRetries: 5, retryBase: 100 * time.Millisecond}
}

// WithStreamRetries sets how many times in a row [Query.All] restarts a
// failed stream before giving up (default 5). The count starts again each
// time the restarted stream delivers a document. Zero disables resumption.
func WithStreamRetries(n int) Option {
	return func(c *config) {
		if n >= 0 {
			c.streamRetries = n
		}
	}
}

// Repository gives typed access to one Firestore collection. Its values
// are documents decoded into T with the SDK's rules: T is usually a struct
// with `firestore:"name"` tags, or map[string]any.
//
// A Repository is safe for concurrent use. Methods that do I/O take a
// context first.
type Repository[T any] struct {
	client *firestore.Client
	coll   *firestore.CollectionRef
	path   string // collection path relative to the database: loc's String
	loc    docpath.Path
	cfg    *config
	err    error // a construction error, returned by every method
}

// New returns a repository over the collection at collectionPath, relative
// to the client's database: "users", or "users/alice/posts" for a
// subcollection. The path and the document IDs the methods take follow the
// rules of [Path]; an invalid path (or a full resource name) is reported by
// every method as ErrInvalid, an invalid ID by the method given it.
func New[T any](client *firestore.Client, collectionPath string, opts ...Option) *Repository[T] {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	return newRepo[T](client, collectionPath, &cfg)
}

func newRepo[T any](client *firestore.Client, collectionPath string, cfg *config) *Repository[T] {
	r := &Repository[T]{client: client, path: collectionPath, cfg: cfg}
	if client == nil {
		r.err = invalid("new repository", collectionPath, "nil Firestore client")
		return r
	}
	p, err := docpath.ParseRel(collectionPath)
	_, _, _, isName := docpath.SplitName(collectionPath)
	switch {
	case isName:
		r.err = invalid("new repository", collectionPath, "a resource name: give the collection's path relative to the database, such as \"users\"")
	case err != nil:
		r.err = pathError("new repository", err)
	case !p.IsCollection():
		r.err = invalid("new repository", collectionPath,
			"not a collection path (want an odd number of segments, such as \"users\" or \"users/alice/posts\")")
	default:
		r.loc = p
		r.coll = client.Collection(collectionPath)
		if r.coll == nil {
			r.err = invalid("new repository", collectionPath, "not a collection path")
		}
	}
	return r
}

// pathError gives a refusal of package docpath the operation op.
func pathError(op string, err error) error {
	var e *errs.Error
	if errors.As(err, &e) {
		return &errs.Error{Kind: e.Kind, Op: op, Target: e.Target, Cause: e.Cause}
	}
	return err
}

// Sub returns a repository of type U over the subcollection collectionID of
// the document parentID in parent, such as the "comments" of one post:
//
//	comments := repository.Sub[Comment](posts, "p1", "comments")
//
// The new repository has parent's options, then opts.
func Sub[U, T any](parent *Repository[T], parentID, collectionID string, opts ...Option) *Repository[U] {
	if err := parent.check(); err != nil {
		cfg := defaultConfig()
		return &Repository[U]{err: err, cfg: &cfg}
	}
	cfg := *parent.cfg
	for _, o := range opts {
		o(&cfg)
	}
	path := parent.path + "/" + parentID + "/" + collectionID
	doc, err := parent.loc.Child(parentID)
	if err != nil {
		return &Repository[U]{client: parent.client, path: path, cfg: &cfg, err: pathError("sub", err)}
	}
	sub, err := doc.Child(collectionID)
	if err != nil {
		return &Repository[U]{client: parent.client, path: path, cfg: &cfg, err: pathError("sub", err)}
	}
	return newRepo[U](parent.client, sub.String(), &cfg)
}

// Path returns the collection's path relative to the database.
func (r *Repository[T]) Path() string { return r.path }

// Client returns the Firestore client the repository uses.
func (r *Repository[T]) Client() *firestore.Client { return r.client }

// Collection returns the SDK's reference to the collection, for features
// this package does not wrap. It is nil if the repository's path is invalid.
func (r *Repository[T]) Collection() *firestore.CollectionRef { return r.coll }

// Ref returns the SDK's reference to the document id of the collection.
func (r *Repository[T]) Ref(id string) *firestore.DocumentRef {
	if r.coll == nil {
		return nil
	}
	return r.coll.Doc(id)
}

// docPath returns the relative path of a document of the collection.
func (r *Repository[T]) docPath(id string) string { return r.path + "/" + id }

// ref validates id and returns its reference.
func (r *Repository[T]) ref(op, id string) (*firestore.DocumentRef, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	if _, err := r.loc.Child(id); err != nil {
		return nil, pathError(op, err)
	}
	return r.coll.Doc(id), nil
}

// check returns the repository's construction error, if any.
func (r *Repository[T]) check() error {
	switch {
	case r == nil || r.coll == nil && r.err == nil:
		return invalid("repository", "", "uninitialized Repository (create one with repository.New)")
	default:
		return r.err
	}
}

// Get reads one document. A missing document is ErrNotFound.
func (r *Repository[T]) Get(ctx context.Context, id string) (*Doc[T], error) {
	ref, err := r.ref("get", id)
	if err != nil {
		return nil, err
	}
	snap, err := ref.Get(ctx)
	if err != nil {
		return nil, wrap(err, "get", r.docPath(id))
	}
	return decode[T](snap)
}

// GetAll reads documents by ID, in batches of up to 500 per request. The
// result has one entry per ID, in order: nil where the document does not
// exist.
func (r *Repository[T]) GetAll(ctx context.Context, ids []string) ([]*Doc[T], error) {
	refs := make([]*firestore.DocumentRef, len(ids))
	for i, id := range ids {
		ref, err := r.ref("get all", id)
		if err != nil {
			return nil, err
		}
		refs[i] = ref
	}
	out := make([]*Doc[T], 0, len(ids))
	for start := 0; start < len(refs); start += getAllChunk {
		chunk := refs[start:min(start+getAllChunk, len(refs))]
		snaps, err := r.client.GetAll(ctx, chunk)
		if err != nil {
			return nil, wrap(err, "get all", r.path)
		}
		for _, s := range snaps {
			if !s.Exists() {
				out = append(out, nil)
				continue
			}
			d, err := decode[T](s)
			if err != nil {
				return nil, err
			}
			out = append(out, d)
		}
	}
	return out, nil
}

// Exists reports whether the document exists.
func (r *Repository[T]) Exists(ctx context.Context, id string) (bool, error) {
	ref, err := r.ref("exists", id)
	if err != nil {
		return false, err
	}
	_, err = ref.Get(ctx)
	switch {
	case err == nil:
		return true, nil
	case status.Code(err) == codes.NotFound:
		return false, nil
	default:
		return false, wrap(err, "exists", r.docPath(id))
	}
}

// Create writes a new document; it fails with ErrAlreadyExists if the
// document exists.
func (r *Repository[T]) Create(ctx context.Context, id string, v T) (*WriteResult, error) {
	ref, err := r.ref("create", id)
	if err != nil {
		return nil, err
	}
	wr, err := ref.Create(ctx, v)
	if err != nil {
		return nil, wrap(err, "create", r.docPath(id))
	}
	return r.result(ref, wr), nil
}

// Add writes a new document under an automatic ID and returns it.
func (r *Repository[T]) Add(ctx context.Context, v T) (*WriteResult, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	ref, wr, err := r.coll.Add(ctx, v)
	if err != nil {
		return nil, wrap(err, "add", r.path)
	}
	return r.result(ref, wr), nil
}

// Set writes the document, creating it or replacing it whole. With
// [firestore.MergeAll] (T must then be a map) or [firestore.Merge] it
// changes only the given fields and keeps the others.
func (r *Repository[T]) Set(ctx context.Context, id string, v T, opts ...firestore.SetOption) (*WriteResult, error) {
	ref, err := r.ref("set", id)
	if err != nil {
		return nil, err
	}
	wr, err := ref.Set(ctx, v, opts...)
	if err != nil {
		return nil, wrap(err, "set", r.docPath(id))
	}
	return r.result(ref, wr), nil
}

// Update changes fields of an existing document (ErrNotFound if it does
// not exist). An update's Value may be a plain value or a transform:
// [firestore.ServerTimestamp], [firestore.Increment], [firestore.ArrayUnion],
// [firestore.ArrayRemove], or [firestore.Delete] to remove the field.
//
// With the precondition [firestore.LastUpdateTime](d.UpdateTime) the update
// applies only if the document has not changed since it was read as d;
// otherwise it fails with ErrConflict (optimistic concurrency).
func (r *Repository[T]) Update(ctx context.Context, id string, updates []firestore.Update, preconds ...firestore.Precondition) (*WriteResult, error) {
	ref, err := r.ref("update", id)
	if err != nil {
		return nil, err
	}
	wr, err := ref.Update(ctx, updates, preconds...)
	if err != nil {
		return nil, wrap(err, "update", r.docPath(id))
	}
	return r.result(ref, wr), nil
}

// Delete removes the document. Deleting a missing document succeeds,
// unless a precondition says otherwise: [firestore.Exists] makes it fail
// with ErrNotFound, [firestore.LastUpdateTime] with ErrConflict when the
// document changed.
func (r *Repository[T]) Delete(ctx context.Context, id string, preconds ...firestore.Precondition) (*WriteResult, error) {
	ref, err := r.ref("delete", id)
	if err != nil {
		return nil, err
	}
	wr, err := ref.Delete(ctx, preconds...)
	if err != nil {
		return nil, wrap(err, "delete", r.docPath(id))
	}
	return r.result(ref, wr), nil
}

// Collections lists the IDs of the subcollections of the document id. The
// document itself need not exist.
func (r *Repository[T]) Collections(ctx context.Context, id string) ([]string, error) {
	ref, err := r.ref("list collections", id)
	if err != nil {
		return nil, err
	}
	it := ref.Collections(ctx)
	var ids []string
	for {
		c, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return ids, nil
		}
		if err != nil {
			return nil, wrap(err, "list collections", r.docPath(id))
		}
		ids = append(ids, c.ID)
	}
}

// Query returns a query over the whole collection, to be narrowed with
// Where, OrderBy, Limit and the like.
func (r *Repository[T]) Query() Query[T] {
	if err := r.check(); err != nil {
		return Query[T]{err: err}
	}
	return Query[T]{q: r.coll.Query, client: r.client, cfg: r.cfg, target: r.path}
}

func (r *Repository[T]) result(ref *firestore.DocumentRef, wr *firestore.WriteResult) *WriteResult {
	res := &WriteResult{ID: ref.ID, Path: docpath.Rel(ref.Path)}
	if wr != nil {
		res.UpdateTime = wr.UpdateTime
	}
	return res
}

// decode turns a snapshot into a Doc with a fresh T.
func decode[T any](s *firestore.DocumentSnapshot) (*Doc[T], error) {
	d := &Doc[T]{
		ID:         s.Ref.ID,
		Path:       docpath.Rel(s.Ref.Path),
		Ref:        s.Ref,
		CreateTime: s.CreateTime,
		UpdateTime: s.UpdateTime,
		ReadTime:   s.ReadTime,
	}
	if err := s.DataTo(&d.Data); err != nil {
		return nil, invalid("decode", d.Path, "cannot decode into %T: %v (check the type's firestore tags)", d.Data, err)
	}
	return d, nil
}
