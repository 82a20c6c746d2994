package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/fbadmin/fbadmin/internal/docpath"
	"github.com/fbadmin/fbadmin/internal/errs"
	"github.com/fbadmin/fbadmin/internal/value"
	"github.com/fbadmin/fbadmin/repository"
)

// Document is a document as the server returns it: Data is in the lossless
// JSON value format (docs/value-format.md).
type Document struct {
	ID         string          `json:"id"`
	Path       string          `json:"path"`
	Data       json.RawMessage `json:"data"`
	CreateTime time.Time       `json:"create_time"`
	UpdateTime time.Time       `json:"update_time"`
}

// Filter is one condition of a query. Value is in the value format.
type Filter struct {
	Field string          `json:"field"`
	Op    string          `json:"op"`
	Value json.RawMessage `json:"value"`
}

// Order is one ordering of a query; Direction is "asc" (default) or "desc".
type Order struct {
	Field     string `json:"field"`
	Direction string `json:"direction,omitempty"`
}

// QuerySpec is a query as clients send it (REST body, WebSocket subscribe
// message, GraphQL arguments).
type QuerySpec struct {
	// Collection is a collection path ("posts", "users/alice/notes"), or,
	// with Group, a collection ID matched at any depth.
	Collection string `json:"collection"`
	Group      bool   `json:"group,omitempty"`
	// Where clauses must all hold; of the Or clauses, at least one.
	Where   []Filter `json:"where,omitempty"`
	Or      []Filter `json:"or,omitempty"`
	OrderBy []Order  `json:"order_by,omitempty"`
	Limit   int      `json:"limit,omitempty"`
	Select  []string `json:"select,omitempty"`
}

// Page is one page of a query's results. Cursors[i] resumes right after
// Documents[i] (GraphQL edge cursors); NextPageToken after the last one.
type Page struct {
	Documents     []Document `json:"documents"`
	Cursors       []string   `json:"-"`
	NextPageToken string     `json:"next_page_token"`
	HasNextPage   bool       `json:"has_next_page"`
}

// Aggregates are a query's count, sums and averages, in the value format
// (integers as {"$int": "..."}; an average over no value is null).
type Aggregates struct {
	Count json.RawMessage            `json:"count,omitempty"`
	Sum   map[string]json.RawMessage `json:"sum,omitempty"`
	Avg   map[string]json.RawMessage `json:"avg,omitempty"`
}

var operators = []string{"==", "!=", "<", "<=", ">", ">=", "in", "not-in", "array-contains", "array-contains-any"}

// Store is the data layer of the server: every read and write of REST and
// GraphQL goes through it, and it enforces the rules. It is safe for
// concurrent use.
type Store struct {
	client      *firestore.Client
	rules       *Rules
	maxPageSize int
	gets        *getBatcher
}

// NewStore returns a Store over client with rules.
func NewStore(client *firestore.Client, rules *Rules, maxPageSize int) *Store {
	if maxPageSize <= 0 {
		maxPageSize = 500
	}
	return &Store{client: client, rules: rules, maxPageSize: maxPageSize, gets: newGetBatcher(client, time.Minute)}
}

type anyMap = map[string]any

// docPath validates a document path and returns its collection path and ID.
func docPath(op, p string) (coll, id string, err error) {
	d, err := docpath.ParseRel(strings.Trim(p, "/"))
	if err != nil {
		return "", "", err
	}
	if !d.IsDocument() {
		return "", "", errs.New(errs.ErrInvalid, op, d.String(), "%q is a collection path; a document path has an even number of segments (collection/id)", d)
	}
	return d.Parent().String(), d.ID(), nil
}

func collPath(op, p string) (string, error) {
	c, err := docpath.ParseRel(strings.Trim(p, "/"))
	if err != nil {
		return "", err
	}
	if c.IsDocument() {
		return "", errs.New(errs.ErrInvalid, op, c.String(), "%q is a document path; a collection path has an odd number of segments", c)
	}
	return c.String(), nil
}

func toDocument(d *repository.Doc[anyMap]) (*Document, error) {
	data, err := value.EncodeMap(d.Data)
	if err != nil {
		return nil, errs.Wrap(err, "encode", d.Path)
	}
	return &Document{ID: d.ID, Path: d.Path, Data: data, CreateTime: d.CreateTime, UpdateTime: d.UpdateTime}, nil
}

// relPath is a reference's path relative to the database.
func relPath(r *firestore.DocumentRef) string { return docpath.Rel(r.Path) }

// decodeData decodes a request body's document data.
func decodeData(op, target string, raw json.RawMessage) (anyMap, error) {
	if len(raw) == 0 {
		return nil, errs.New(errs.ErrInvalid, op, target, "missing document data (send a JSON object in the value format)")
	}
	m, err := value.DecodeMap(raw)
	if err != nil {
		return nil, errs.New(errs.ErrInvalid, op, target, "data: %v", err)
	}
	return m, nil
}

func (s *Store) repo(coll string) *repository.Repository[anyMap] {
	return repository.New[anyMap](s.client, coll)
}

// Get reads one document.
func (s *Store) Get(ctx context.Context, c *Caller, path string) (*Document, error) {
	coll, id, err := docPath("get", path)
	if err != nil {
		return nil, err
	}
	g, err := s.rules.Decide(c, OpGet, coll)
	if err != nil {
		return nil, err
	}
	p := coll + "/" + id
	snap, err := s.gets.get(ctx, s.client.Doc(p))
	if err != nil {
		return nil, errs.Wrap(err, "get", p)
	}
	if !snap.Exists() {
		return nil, notFound("get", p)
	}
	data := snap.Data()
	if !g.ownerOK(c, data) {
		return nil, notFound("get", p) // another user's: as if missing
	}
	enc, err := value.EncodeMap(data)
	if err != nil {
		return nil, errs.Wrap(err, "encode", p)
	}
	return &Document{ID: id, Path: p, Data: enc, CreateTime: snap.CreateTime, UpdateTime: snap.UpdateTime}, nil
}

// notFound is the answer for a document that does not exist, and, under
// an owner rule, for one that is not the caller's: both give the same
// error, so that answers say nothing of other users' documents.
func notFound(op, path string) error {
	return errs.New(errs.ErrNotFound, op, path, "no such document")
}

// txGetOwned reads a document in a transaction under an owner rule: a
// missing document and another user's are the same not-found error.
func txGetOwned(tx *firestore.Transaction, ref *firestore.DocumentRef, g Grant, c *Caller, op, path string) (*firestore.DocumentSnapshot, error) {
	snap, err := tx.Get(ref)
	if status.Code(err) == codes.NotFound {
		return nil, notFound(op, path)
	}
	if err != nil {
		return nil, err
	}
	if !g.ownerOK(c, snap.Data()) {
		return nil, notFound(op, path)
	}
	return snap, nil
}

// Create creates a document in the collection at collection, with the given
// ID or, when id is "", an automatic one. An existing document is
// ErrAlreadyExists.
func (s *Store) Create(ctx context.Context, c *Caller, collection, id string, data json.RawMessage) (*Document, error) {
	coll, err := collPath("create", collection)
	if err != nil {
		return nil, err
	}
	if id != "" {
		if _, _, err := docPath("create", coll+"/"+id); err != nil {
			return nil, err
		}
	}
	g, err := s.rules.Decide(c, OpCreate, coll)
	if err != nil {
		return nil, err
	}
	m, err := decodeData("create", coll, data)
	if err != nil {
		return nil, err
	}
	if !g.ownerOK(c, m) {
		return nil, errs.New(errs.ErrPermission, "create", coll, "the new document must set its %q field to the caller's UID", g.Owner)
	}
	r := s.repo(coll)
	var wr *repository.WriteResult
	if id == "" {
		wr, err = r.Add(ctx, m)
	} else {
		wr, err = r.Create(ctx, id, m)
	}
	if err != nil {
		return nil, err
	}
	return s.readBack(ctx, coll, wr)
}

func (s *Store) readBack(ctx context.Context, coll string, wr *repository.WriteResult) (*Document, error) {
	d, err := s.repo(coll).Get(ctx, wr.ID)
	if err != nil {
		return nil, err
	}
	return toDocument(d)
}

// Set creates or replaces a document. When ifUpdateTime is not zero, the
// document must exist with that update time (ErrConflict otherwise).
// Replacing needs the update operation, creating the create operation.
func (s *Store) Set(ctx context.Context, c *Caller, path string, data json.RawMessage, ifUpdateTime time.Time) (*Document, error) {
	d, _, err := s.SetCreated(ctx, c, path, data, ifUpdateTime)
	return d, err
}

// SetCreated is Set, also reporting whether the document was created
// (rather than replaced).
func (s *Store) SetCreated(ctx context.Context, c *Caller, path string, data json.RawMessage, ifUpdateTime time.Time) (*Document, bool, error) {
	coll, id, err := docPath("set", path)
	if err != nil {
		return nil, false, err
	}
	m, err := decodeData("set", path, data)
	if err != nil {
		return nil, false, err
	}
	r := s.repo(coll)
	ref := r.Ref(id)
	created := false
	err = s.client.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		snap, err := tx.Get(ref)
		exists := err == nil
		created = !exists
		if err != nil && status.Code(err) != codes.NotFound {
			return err
		}
		op := OpCreate
		if exists || !ifUpdateTime.IsZero() { // a conditional write is an update
			op = OpUpdate
		}
		g, err := s.rules.Decide(c, op, coll)
		if err != nil {
			return err
		}
		if !ifUpdateTime.IsZero() && (!exists || !g.ownerOK(c, snap.Data())) {
			return notFound("set", coll+"/"+id) // another user's: as if missing
		}
		if exists && !g.ownerOK(c, snap.Data()) {
			// A create at an ID in use: the same answer as POST with that ID,
			// whoever owns the document.
			return errs.New(errs.ErrAlreadyExists, "set", coll+"/"+id, "the document ID is taken: choose another (or let the server choose one with POST)")
		}
		if !g.ownerOK(c, m) {
			return errs.New(errs.ErrPermission, "set", coll+"/"+id, "the document must set its %q field to the caller's UID", g.Owner)
		}
		if !ifUpdateTime.IsZero() && !snap.UpdateTime.Equal(ifUpdateTime) {
			return staleErr("set", coll+"/"+id, snap.UpdateTime)
		}
		return tx.Set(ref, m)
	}, firestore.MaxAttempts(5))
	if err != nil {
		return nil, false, classify(err, "set", coll+"/"+id)
	}
	d, err := s.readBack(ctx, coll, &repository.WriteResult{ID: id})
	return d, created, err
}

func staleErr(op, path string, current time.Time) error {
	return errs.New(errs.ErrConflict, op, path, "the document changed since the version given (its update time is now %s); read it again", current.UTC().Format(time.RFC3339Nano))
}

// classify keeps errs errors and classifies the rest.
func classify(err error, op, target string) error {
	var e *errs.Error
	if errors.As(err, &e) {
		return err
	}
	return errs.Wrap(err, op, target)
}

// Update merges data into an existing document (ErrNotFound if missing):
// nested maps are merged field by field, other values replaced. When
// ifUpdateTime is not zero, the document must still have that update time.
func (s *Store) Update(ctx context.Context, c *Caller, path string, data json.RawMessage, ifUpdateTime time.Time) (*Document, error) {
	coll, id, err := docPath("update", path)
	if err != nil {
		return nil, err
	}
	g, err := s.rules.Decide(c, OpUpdate, coll)
	if err != nil {
		return nil, err
	}
	m, err := decodeData("update", path, data)
	if err != nil {
		return nil, err
	}
	if len(m) == 0 {
		return nil, errs.New(errs.ErrInvalid, "update", path, "no field to update (send at least one field)")
	}
	if v, ok := lookupField(m, g.Owner); g.Owner != "" && ok && v != c.UID {
		return nil, errs.New(errs.ErrPermission, "update", path, "the %q field may only be set to the caller's UID", g.Owner)
	}
	updates := flatten(nil, m, nil)
	r := s.repo(coll)
	if g.Owner == "" {
		var pre []firestore.Precondition
		if !ifUpdateTime.IsZero() {
			pre = append(pre, firestore.LastUpdateTime(ifUpdateTime))
		}
		if _, err := r.Update(ctx, id, updates, pre...); err != nil {
			return nil, err
		}
		return s.readBack(ctx, coll, &repository.WriteResult{ID: id})
	}
	ref := r.Ref(id)
	err = s.client.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		snap, err := txGetOwned(tx, ref, g, c, "update", path)
		if err != nil {
			return err
		}
		data := snap.Data()
		if !ifUpdateTime.IsZero() && !snap.UpdateTime.Equal(ifUpdateTime) {
			return staleErr("update", path, snap.UpdateTime)
		}
		// Fail closed on any shape: whatever the body does to the owner
		// field or a map above it (replace it by a scalar, an empty map,
		// another UID), the document as it would be after the merge must
		// still be the caller's.
		if !g.ownerOK(c, mergeInto(data, m)) {
			return errs.New(errs.ErrPermission, "update", path, "the update would remove or change the %q field, which must stay the caller's UID", g.Owner)
		}
		return tx.Update(ref, updates)
	}, firestore.MaxAttempts(5))
	if err != nil {
		return nil, classify(err, "update", path)
	}
	return s.readBack(ctx, coll, &repository.WriteResult{ID: id})
}

// mergeInto applies an update body to a document's data as Update does
// (see flatten): non-empty maps merge field by field, creating or
// replacing non-map values on the way; anything else replaces. It
// modifies and returns data.
func mergeInto(data, m anyMap) anyMap {
	if data == nil {
		data = anyMap{}
	}
	for k, v := range m {
		if sub, ok := v.(anyMap); ok && len(sub) > 0 {
			cur, _ := data[k].(anyMap)
			data[k] = mergeInto(cur, sub)
			continue
		}
		data[k] = v
	}
	return data
}

// flatten turns nested maps into field-path updates, so that an update
// merges them instead of replacing them. Empty maps are set as they are.
func flatten(prefix []string, m anyMap, out []firestore.Update) []firestore.Update {
	for k, v := range m {
		fp := append(slices.Clone(prefix), k)
		if sub, ok := v.(anyMap); ok && len(sub) > 0 {
			out = flatten(fp, sub, out)
			continue
		}
		out = append(out, firestore.Update{FieldPath: firestore.FieldPath(fp), Value: v})
	}
	return out
}

// Delete deletes an existing document (ErrNotFound if missing). When
// ifUpdateTime is not zero, the document must still have that update time.
func (s *Store) Delete(ctx context.Context, c *Caller, path string, ifUpdateTime time.Time) error {
	coll, id, err := docPath("delete", path)
	if err != nil {
		return err
	}
	g, err := s.rules.Decide(c, OpDelete, coll)
	if err != nil {
		return err
	}
	r := s.repo(coll)
	if g.Owner == "" {
		pre := firestore.Exists
		if !ifUpdateTime.IsZero() {
			pre = firestore.LastUpdateTime(ifUpdateTime)
		}
		_, err := r.Delete(ctx, id, pre)
		return err
	}
	ref := r.Ref(id)
	err = s.client.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		snap, err := txGetOwned(tx, ref, g, c, "delete", path)
		if err != nil {
			return err
		}
		if !ifUpdateTime.IsZero() && !snap.UpdateTime.Equal(ifUpdateTime) {
			return staleErr("delete", path, snap.UpdateTime)
		}
		return tx.Delete(ref)
	}, firestore.MaxAttempts(5))
	return classify(err, "delete", path)
}

// query checks access to a query and builds it, narrowed to the caller's
// documents when the rule has an owner field.
func (s *Store) query(c *Caller, q QuerySpec) (repository.Query[anyMap], Grant, error) {
	var zero repository.Query[anyMap]
	var g Grant
	var rq repository.Query[anyMap]
	target := q.Collection
	if q.Group {
		if q.Collection == "" || strings.Contains(q.Collection, "/") {
			return zero, g, errs.New(errs.ErrInvalid, "query", q.Collection, "a collection-group query takes a collection ID (no slash)")
		}
		var err error
		if g, err = s.rules.DecideGroup(c, OpList, q.Collection); err != nil {
			return zero, g, err
		}
		rq = repository.Group[anyMap](s.client, q.Collection)
	} else {
		coll, err := collPath("query", q.Collection)
		if err != nil {
			return zero, g, err
		}
		if g, err = s.rules.Decide(c, OpList, coll); err != nil {
			return zero, g, err
		}
		rq = s.repo(coll).Query()
	}
	for _, f := range q.Where {
		v, err := filterValue(target, f)
		if err != nil {
			return zero, g, err
		}
		rq = rq.WherePath(fieldPath(f.Field), f.Op, v)
	}
	if len(q.Or) > 0 {
		var alts []firestore.EntityFilter
		for _, f := range q.Or {
			v, err := filterValue(target, f)
			if err != nil {
				return zero, g, err
			}
			alts = append(alts, firestore.PropertyPathFilter{Path: fieldPath(f.Field), Operator: f.Op, Value: v})
		}
		if len(alts) == 1 {
			rq = rq.WhereFilter(alts[0])
		} else {
			rq = rq.WhereFilter(firestore.OrFilter{Filters: alts})
		}
	}
	if g.Owner != "" {
		rq = rq.WherePath(fieldPath(g.Owner), "==", c.UID)
	}
	for _, o := range q.OrderBy {
		if o.Field == "" {
			return zero, g, errs.New(errs.ErrInvalid, "query", target, "order_by: empty field")
		}
		dir := firestore.Asc
		switch strings.ToLower(o.Direction) {
		case "", "asc":
		case "desc":
			dir = firestore.Desc
		default:
			return zero, g, errs.New(errs.ErrInvalid, "query", target, "order_by %s: direction %q (want asc or desc)", o.Field, o.Direction)
		}
		rq = rq.OrderByPath(fieldPath(o.Field), dir)
	}
	if q.Limit < 0 {
		return zero, g, errs.New(errs.ErrInvalid, "query", target, "limit %d: must not be negative", q.Limit)
	}
	if q.Limit > 0 {
		rq = rq.Limit(q.Limit)
	}
	if len(q.Select) > 0 {
		var fps []firestore.FieldPath
		for _, f := range q.Select {
			if f == "" {
				return zero, g, errs.New(errs.ErrInvalid, "query", target, "select: empty field")
			}
			fps = append(fps, fieldPath(f))
		}
		if g.Owner != "" && !slices.Contains(q.Select, g.Owner) {
			// Under an owner rule every document is checked: the owner
			// field comes along (it is the caller's own UID).
			fps = append(fps, fieldPath(g.Owner))
		}
		rq = rq.SelectPaths(fps...)
	}
	return rq, g, nil
}

func fieldPath(dotted string) firestore.FieldPath {
	return firestore.FieldPath(strings.Split(dotted, "."))
}

func filterValue(target string, f Filter) (any, error) {
	if f.Field == "" {
		return nil, errs.New(errs.ErrInvalid, "query", target, "a filter has no field")
	}
	if !slices.Contains(operators, f.Op) {
		return nil, errs.New(errs.ErrInvalid, "query", target, "filter on %s: unknown operator %q (want one of %s)", f.Field, f.Op, strings.Join(operators, " "))
	}
	if len(f.Value) == 0 {
		return nil, errs.New(errs.ErrInvalid, "query", target, "filter on %s: missing value", f.Field)
	}
	v, err := value.Decode(f.Value)
	if err != nil {
		return nil, errs.New(errs.ErrInvalid, "query", target, "filter on %s: value: %v", f.Field, err)
	}
	switch f.Op {
	case "in", "not-in", "array-contains-any":
		if _, ok := v.([]any); !ok {
			return nil, errs.New(errs.ErrInvalid, "query", target, "filter on %s: %s takes an array value", f.Field, f.Op)
		}
	}
	return v, nil
}

// Query runs one page of a query: pageSize documents (0 means 50, capped
// at the configured maximum) after the page that token ends ("" for the
// first page).
func (s *Store) Query(ctx context.Context, c *Caller, q QuerySpec, pageSize int, token string) (*Page, error) {
	rq, g, err := s.query(c, q)
	if err != nil {
		return nil, err
	}
	switch {
	case pageSize == 0:
		pageSize = 50
	case pageSize < 0:
		return nil, errs.New(errs.ErrInvalid, "query", q.Collection, "page size %d: must be positive", pageSize)
	case pageSize > s.maxPageSize:
		pageSize = s.maxPageSize
	}
	p, err := rq.Page(ctx, pageSize, token)
	if err != nil {
		return nil, err
	}
	out := &Page{Documents: make([]Document, 0, len(p.Docs)), Cursors: p.Cursors, NextPageToken: p.Next, HasNextPage: p.Next != ""}
	for _, d := range p.Docs {
		if !g.ownerOK(c, d.Data) {
			return nil, errs.New(errs.ErrInternal, "query", q.Collection, "the query returned a document of another user")
		}
		doc, err := toDocument(d)
		if err != nil {
			return nil, err
		}
		out.Documents = append(out.Documents, *doc)
	}
	return out, nil
}

// Aggregate counts the query's documents (count) and sums and averages
// the given fields.
func (s *Store) Aggregate(ctx context.Context, c *Caller, q QuerySpec, count bool, sum, avg []string) (*Aggregates, error) {
	rq, _, err := s.query(c, q)
	if err != nil {
		return nil, err
	}
	var aggs []repository.Aggregation
	if count {
		aggs = append(aggs, repository.Count("count"))
	}
	for i, f := range sum {
		aggs = append(aggs, repository.Sum(fmt.Sprintf("sum_%d", i), f))
	}
	for i, f := range avg {
		aggs = append(aggs, repository.Avg(fmt.Sprintf("avg_%d", i), f))
	}
	if len(aggs) == 0 {
		return nil, errs.New(errs.ErrInvalid, "aggregate", q.Collection, "nothing to compute: ask for count, sum or avg")
	}
	res, err := rq.Aggregate(ctx, aggs...)
	if err != nil {
		return nil, err
	}
	out := &Aggregates{}
	if count {
		out.Count = numberJSON(res["count"])
	}
	if len(sum) > 0 {
		out.Sum = map[string]json.RawMessage{}
		for i, f := range sum {
			out.Sum[f] = numberJSON(res[fmt.Sprintf("sum_%d", i)])
		}
	}
	if len(avg) > 0 {
		out.Avg = map[string]json.RawMessage{}
		for i, f := range avg {
			out.Avg[f] = numberJSON(res[fmt.Sprintf("avg_%d", i)])
		}
	}
	return out, nil
}

func numberJSON(n repository.Number) json.RawMessage {
	var v any
	if i, ok := n.Int64(); ok && n.IsInt() {
		v = i
	} else if f, ok := n.Float64(); ok {
		v = f
	}
	b, err := value.Encode(v)
	if err != nil {
		return json.RawMessage("null")
	}
	return b
}
