package mcp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"cloud.google.com/go/firestore"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"google.golang.org/api/iterator"

	"github.com/fbadmin/fbadmin/internal/docpath"
	"github.com/fbadmin/fbadmin/internal/errs"
	"github.com/fbadmin/fbadmin/internal/value"
	"github.com/fbadmin/fbadmin/repository"
	"github.com/fbadmin/fbadmin/server"
)

type anyMap = map[string]any

// Document is a document as the tools return it.
type Document struct {
	Path       string          `json:"path" jsonschema:"the document's path relative to the database, such as users/alice"`
	ID         string          `json:"id"`
	Data       json.RawMessage `json:"data" jsonschema:"the document's fields as a JSON object in the value format"`
	CreateTime *time.Time      `json:"create_time,omitempty"`
	UpdateTime *time.Time      `json:"update_time,omitempty" jsonschema:"pass it as if_update_time to write only if the document did not change since"`
}

func toDocument(d *repository.Doc[anyMap]) (Document, int, error) {
	data, err := value.EncodeMap(d.Data)
	if err != nil {
		return Document{}, 0, errs.Wrap(err, "encode", d.Path)
	}
	doc := Document{Path: d.Path, ID: d.ID, Data: data}
	if !d.CreateTime.IsZero() {
		ct, ut := d.CreateTime.UTC(), d.UpdateTime.UTC()
		doc.CreateTime, doc.UpdateTime = &ct, &ut
	}
	return doc, len(data), nil
}

func (s *Server) repo(coll string) *repository.Repository[anyMap] {
	return repository.New[anyMap](s.o.Firestore, coll)
}

// docPath parses a document path argument (arg names it in errors).
func docPath(arg, p string) (docpath.Path, error) {
	d, err := docpath.Parse(strings.Trim(p, "/"))
	if err != nil {
		return d, errs.New(errs.ErrInvalid, "arguments", arg, "%v", err)
	}
	if !d.IsDocument() {
		return d, errs.New(errs.ErrInvalid, "arguments", arg, "%q is a collection path: give a document path such as %s/ID (an even number of segments)", d, d)
	}
	return d, nil
}

// collPath parses a collection path argument.
func collPath(arg, p string) (docpath.Path, error) {
	c, err := docpath.Parse(strings.Trim(p, "/"))
	if err != nil {
		return c, errs.New(errs.ErrInvalid, "arguments", arg, "%v", err)
	}
	if c.IsDocument() {
		return c, errs.New(errs.ErrInvalid, "arguments", arg, "%q is a document path: give a collection path (an odd number of segments)", c)
	}
	return c, nil
}

// decodeValue reads one value in the value format; arg is its JSON path
// in the arguments ("$.where[0].value"), which errors name.
func decodeValue(arg string, raw json.RawMessage) (any, error) {
	v, err := value.Decode(raw)
	if err != nil {
		return nil, valueError(arg, err)
	}
	return v, nil
}

// valueError renames a value error's path from the value's root to the
// arguments' root: "$.age" of data becomes "$.data.age".
func valueError(arg string, err error) error {
	var pe *value.PathError
	if errors.As(err, &pe) {
		return errs.New(errs.ErrInvalid, "arguments", "", "%s%s: %s (hint: values are in fbadmin's value format, such as {\"$int\":\"42\"} or {\"$timestamp\":\"2024-01-02T03:04:05Z\"})",
			arg, strings.TrimPrefix(pe.Path, "$"), pe.Msg)
	}
	return errs.New(errs.ErrInvalid, "arguments", "", "%s: %v", arg, err)
}

// decodeFields reads a document's fields.
func decodeFields(arg string, raw json.RawMessage) (anyMap, error) {
	if len(raw) == 0 {
		return nil, errs.New(errs.ErrInvalid, "arguments", "", "%s: missing (give the fields as a JSON object)", arg)
	}
	m, err := value.DecodeMap(raw)
	if err != nil {
		return nil, valueError(arg, err)
	}
	return m, nil
}

func fieldPath(f string) firestore.FieldPath {
	if f == "__name__" || f == "id()" {
		return firestore.FieldPath{firestore.DocumentID}
	}
	return firestore.FieldPath(strings.Split(f, "."))
}

// ---- get

type getInput struct {
	Paths []string `json:"paths" jsonschema:"document paths such as users/alice; one or many (at most the per-call document cap)"`
}

type getOutput struct {
	Documents []Document `json:"documents"`
	Missing   []string   `json:"missing,omitempty" jsonschema:"the paths that hold no document"`
}

func (s *Server) get(ctx context.Context, c *call, in *getInput) (getOutput, error) {
	out := getOutput{Documents: []Document{}}
	if len(in.Paths) == 0 {
		return out, errs.New(errs.ErrInvalid, "arguments", "", "$.paths: give at least one document path")
	}
	if len(in.Paths) > s.o.MaxDocs {
		return out, capError("get", len(in.Paths), s.o.MaxDocs)
	}
	c.target = targetOf(in.Paths)
	type item struct {
		p docpath.Path
		g server.Grant
	}
	items := make([]item, len(in.Paths))
	for i, arg := range in.Paths {
		p, err := docPath(fmt.Sprintf("$.paths[%d]", i), arg)
		if err != nil {
			return out, err
		}
		g, err := s.access(c, server.OpGet, p.Parent().String(), false)
		if err != nil {
			return out, err
		}
		items[i] = item{p, g}
	}
	var docs []*repository.Doc[anyMap]
	if len(items) == 1 {
		d, err := s.repo(items[0].p.Parent().String()).Get(ctx, items[0].p.ID())
		if err != nil && !errors.Is(err, repository.ErrNotFound) {
			return out, err
		}
		docs = []*repository.Doc[anyMap]{d}
	} else {
		// One request per collection, in the order asked.
		byColl := map[string][]int{}
		var colls []string
		for i, it := range items {
			k := it.p.Parent().String()
			if _, ok := byColl[k]; !ok {
				colls = append(colls, k)
			}
			byColl[k] = append(byColl[k], i)
		}
		docs = make([]*repository.Doc[anyMap], len(items))
		for _, coll := range colls {
			idx := byColl[coll]
			ids := make([]string, len(idx))
			for j, i := range idx {
				ids[j] = items[i].p.ID()
			}
			got, err := s.repo(coll).GetAll(ctx, ids)
			if err != nil {
				return out, err
			}
			for j, i := range idx {
				docs[i] = got[j]
			}
		}
	}
	var size int64
	for i, d := range docs {
		if d == nil || !owns(items[i].g, c, d.Data) {
			out.Missing = append(out.Missing, items[i].p.String())
			continue
		}
		doc, n, err := toDocument(d)
		if err != nil {
			return out, err
		}
		if size += int64(n); size > s.o.MaxBytes {
			return out, errs.New(errs.ErrResourceLimit, "get", c.target, "the documents exceed the per-call cap of %d bytes of data (hint: read fewer at a time)", s.o.MaxBytes)
		}
		out.Documents = append(out.Documents, doc)
	}
	c.docs = len(out.Documents)
	return out, nil
}

func capError(op string, n, max int) error {
	return errs.New(errs.ErrResourceLimit, op, "", "%d documents asked, over the per-call cap of %d (hint: split the work into several calls, or page with page_size and page_token)", n, max)
}

func targetOf(paths []string) string {
	if len(paths) > 3 {
		return strings.Join(paths[:3], ",") + fmt.Sprintf(",...(%d)", len(paths))
	}
	return strings.Join(paths, ",")
}

// ---- list collections

type listCollectionsInput struct {
	Parent string `json:"parent,omitempty" jsonschema:"a document path to list its subcollections; empty for the top-level collections"`
}

type collectionInfo struct {
	ID   string `json:"id"`
	Path string `json:"path"`
}

type listCollectionsOutput struct {
	Collections []collectionInfo `json:"collections"`
}

func (s *Server) listCollections(ctx context.Context, c *call, in *listCollectionsInput) (listCollectionsOutput, error) {
	out := listCollectionsOutput{Collections: []collectionInfo{}}
	parent := ""
	if in.Parent != "" {
		p, err := docPath("$.parent", in.Parent)
		if err != nil {
			return out, err
		}
		parent = p.String()
	}
	c.target = parent
	ids, err := s.o.DB.CollectionIDs(ctx, parent)
	if err != nil {
		return out, err
	}
	for _, id := range ids {
		p := id
		if parent != "" {
			p = parent + "/" + id
		}
		// Only what the caller may list shows.
		if _, err := s.access(c, server.OpList, p, false); err != nil {
			continue
		}
		out.Collections = append(out.Collections, collectionInfo{ID: id, Path: p})
	}
	return out, nil
}

// ---- list documents

type listDocumentsInput struct {
	Collection string `json:"collection" jsonschema:"a collection path such as users or users/alice/posts"`
	PageSize   int    `json:"page_size,omitempty" jsonschema:"documents per page (default 50; at most the per-call document cap)"`
	PageToken  string `json:"page_token,omitempty" jsonschema:"the next_page_token of the previous page"`
}

type pageOutput struct {
	Documents     []Document `json:"documents"`
	NextPageToken string     `json:"next_page_token,omitempty" jsonschema:"pass it as page_token for the next page; absent on the last page"`
}

func (s *Server) listDocuments(ctx context.Context, c *call, in *listDocumentsInput) (pageOutput, error) {
	q := &queryInput{queryFilters: queryFilters{Collection: in.Collection}, PageSize: in.PageSize, PageToken: in.PageToken}
	if q.PageSize == 0 {
		q.PageSize = 50
	}
	return s.query(ctx, c, q)
}

// ---- query

// Filter is one condition of a query.
type Filter struct {
	Field string          `json:"field" jsonschema:"a field path (a.b for field b of map a); __name__ for the document ID"`
	Op    string          `json:"op" jsonschema:"the operator"`
	Value json.RawMessage `json:"value" jsonschema:"the value in the value format; an array for in, not-in and array-contains-any; a document path or reference for __name__"`
}

// Order is one sort key of a query.
type Order struct {
	Field     string `json:"field" jsonschema:"a field path; __name__ for the document ID"`
	Direction string `json:"direction,omitempty" jsonschema:"asc (default) or desc"`
}

type queryFilters struct {
	Collection string   `json:"collection" jsonschema:"a collection path such as users, or with group a collection ID matched at any depth"`
	Group      bool     `json:"group,omitempty" jsonschema:"query every collection with this ID (a collection group)"`
	Where      []Filter `json:"where,omitempty" jsonschema:"conditions that must all hold"`
	Or         []Filter `json:"or,omitempty" jsonschema:"alternatives of which at least one must hold (ANDed with where)"`
}

type queryInput struct {
	queryFilters
	OrderBy     []Order           `json:"order_by,omitempty"`
	StartAt     []json.RawMessage `json:"start_at,omitempty" jsonschema:"cursor: start at these order_by values (value format, one per order_by field)"`
	StartAfter  []json.RawMessage `json:"start_after,omitempty" jsonschema:"cursor: start after these order_by values"`
	EndAt       []json.RawMessage `json:"end_at,omitempty" jsonschema:"cursor: end at these order_by values"`
	EndBefore   []json.RawMessage `json:"end_before,omitempty" jsonschema:"cursor: end before these order_by values"`
	Select      []string          `json:"select,omitempty" jsonschema:"return only these fields"`
	Limit       int               `json:"limit,omitempty" jsonschema:"at most this many documents in all (at most the per-call document cap)"`
	LimitToLast int               `json:"limit_to_last,omitempty" jsonschema:"the last N documents of the order (needs order_by; not with paging)"`
	Offset      int               `json:"offset,omitempty" jsonschema:"skip this many documents first"`
	PageSize    int               `json:"page_size,omitempty" jsonschema:"return one page of this many documents and a next_page_token (default: 100 when no limit is given)"`
	PageToken   string            `json:"page_token,omitempty" jsonschema:"the next_page_token of the previous page of the same query"`
}

var operators = []string{"==", "!=", "<", "<=", ">", ">=", "in", "not-in", "array-contains", "array-contains-any"}

// build checks access to the query's collection and builds it, narrowed
// to the caller's own documents under an owner rule.
func (s *Server) build(c *call, in *queryFilters) (repository.Query[anyMap], error) {
	var q repository.Query[anyMap]
	var g server.Grant
	var err error
	if in.Group {
		if err := docpath.CheckID(in.Collection); err != nil {
			return q, errs.New(errs.ErrInvalid, "arguments", "", "$.collection: with group, a collection ID such as comments: %v", err)
		}
		if g, err = s.access(c, server.OpList, in.Collection, true); err != nil {
			return q, err
		}
		q = repository.Group[anyMap](s.o.Firestore, in.Collection)
	} else {
		p, err := collPath("$.collection", in.Collection)
		if err != nil {
			return q, err
		}
		if g, err = s.access(c, server.OpList, p.String(), false); err != nil {
			return q, err
		}
		q = s.repo(p.String()).Query()
	}
	c.target = in.Collection
	for i, f := range in.Where {
		pf, err := filterOf(fmt.Sprintf("$.where[%d]", i), f)
		if err != nil {
			return q, err
		}
		q = q.WhereFilter(pf)
	}
	if len(in.Or) > 0 {
		var alts []firestore.EntityFilter
		for i, f := range in.Or {
			pf, err := filterOf(fmt.Sprintf("$.or[%d]", i), f)
			if err != nil {
				return q, err
			}
			alts = append(alts, pf)
		}
		if len(alts) == 1 {
			q = q.WhereFilter(alts[0])
		} else {
			q = q.WhereFilter(firestore.OrFilter{Filters: alts})
		}
	}
	if g.Owner != "" {
		q = q.WherePath(fieldPath(g.Owner), "==", c.caller.UID)
	}
	return q, nil
}

func filterOf(arg string, f Filter) (firestore.EntityFilter, error) {
	if f.Field == "" {
		return nil, errs.New(errs.ErrInvalid, "arguments", "", "%s.field: empty field", arg)
	}
	if !slices.Contains(operators, f.Op) {
		return nil, errs.New(errs.ErrInvalid, "arguments", "", "%s.op: unknown operator %q (use one of %s)", arg, f.Op, strings.Join(operators, " "))
	}
	if len(f.Value) == 0 {
		return nil, errs.New(errs.ErrInvalid, "arguments", "", "%s.value: missing", arg)
	}
	v, err := decodeValue(arg+".value", f.Value)
	if err != nil {
		return nil, err
	}
	switch f.Op {
	case "in", "not-in", "array-contains-any":
		arr, ok := v.([]any)
		if !ok || len(arr) == 0 || len(arr) > 30 {
			return nil, errs.New(errs.ErrInvalid, "arguments", "", "%s.value: %s takes an array of 1 to 30 values", arg, f.Op)
		}
	}
	return firestore.PropertyPathFilter{Path: fieldPath(f.Field), Operator: f.Op, Value: v}, nil
}

func cursorValues(arg string, raws []json.RawMessage) ([]any, error) {
	vs := make([]any, len(raws))
	for i, r := range raws {
		v, err := decodeValue(fmt.Sprintf("%s[%d]", arg, i), r)
		if err != nil {
			return nil, err
		}
		vs[i] = v
	}
	return vs, nil
}

func (s *Server) query(ctx context.Context, c *call, in *queryInput) (pageOutput, error) {
	out := pageOutput{Documents: []Document{}}
	q, err := s.build(c, &in.queryFilters)
	if err != nil {
		return out, err
	}
	for i, o := range in.OrderBy {
		if o.Field == "" {
			return out, errs.New(errs.ErrInvalid, "arguments", "", "$.order_by[%d].field: empty field", i)
		}
		dir := firestore.Asc
		switch strings.ToLower(o.Direction) {
		case "", "asc":
		case "desc":
			dir = firestore.Desc
		default:
			return out, errs.New(errs.ErrInvalid, "arguments", "", "$.order_by[%d].direction: %q (want asc or desc)", i, o.Direction)
		}
		q = q.OrderByPath(fieldPath(o.Field), dir)
	}
	cursors := []struct {
		arg  string
		raws []json.RawMessage
	}{
		{"$.start_at", in.StartAt}, {"$.start_after", in.StartAfter},
		{"$.end_at", in.EndAt}, {"$.end_before", in.EndBefore},
	}
	for _, cur := range cursors {
		if len(cur.raws) == 0 {
			continue
		}
		if len(in.OrderBy) == 0 {
			return out, errs.New(errs.ErrInvalid, "arguments", "", "%s needs order_by (cursor values follow the sort fields)", cur.arg)
		}
		vs, err := cursorValues(cur.arg, cur.raws)
		if err != nil {
			return out, err
		}
		switch cur.arg {
		case "$.start_at":
			q = q.StartAt(vs...)
		case "$.start_after":
			q = q.StartAfter(vs...)
		case "$.end_at":
			q = q.EndAt(vs...)
		case "$.end_before":
			q = q.EndBefore(vs...)
		}
	}
	if len(in.Select) > 0 {
		fps := make([]firestore.FieldPath, len(in.Select))
		for i, f := range in.Select {
			if f == "" {
				return out, errs.New(errs.ErrInvalid, "arguments", "", "$.select[%d]: empty field", i)
			}
			fps[i] = fieldPath(f)
		}
		q = q.SelectPaths(fps...)
	}
	switch {
	case in.Limit < 0 || in.LimitToLast < 0 || in.Offset < 0 || in.PageSize < 0:
		return out, errs.New(errs.ErrInvalid, "arguments", "", "limit, limit_to_last, offset and page_size must not be negative")
	case in.Limit > s.o.MaxDocs:
		return out, capError("query", in.Limit, s.o.MaxDocs)
	case in.LimitToLast > s.o.MaxDocs:
		return out, capError("query", in.LimitToLast, s.o.MaxDocs)
	case in.PageSize > s.o.MaxDocs:
		return out, capError("query", in.PageSize, s.o.MaxDocs)
	case in.LimitToLast > 0 && (in.Limit > 0 || in.PageSize > 0 || in.PageToken != ""):
		return out, errs.New(errs.ErrInvalid, "arguments", "", "limit_to_last goes without limit, page_size and page_token")
	case in.LimitToLast > 0 && len(in.OrderBy) == 0:
		return out, errs.New(errs.ErrInvalid, "arguments", "", "limit_to_last needs order_by")
	case in.PageToken != "" && in.PageSize == 0 && in.Limit == 0:
		in.PageSize = min(100, s.o.MaxDocs)
	}
	hasCursor := len(in.StartAt)+len(in.StartAfter)+len(in.EndAt)+len(in.EndBefore) > 0
	if hasCursor && (in.PageSize > 0 || in.PageToken != "") {
		return out, errs.New(errs.ErrInvalid, "arguments", "", "cursors (start_at, start_after, end_at, end_before) go without page_size and page_token: page by passing the last document's order_by values as start_after")
	}
	if hasCursor && in.Limit == 0 && in.LimitToLast == 0 {
		in.Limit = min(100, s.o.MaxDocs)
	}
	if in.Offset > 0 {
		q = q.Offset(in.Offset)
	}
	var docs []*repository.Doc[anyMap]
	switch {
	case in.LimitToLast > 0:
		docs, err = q.LimitToLast(in.LimitToLast).GetAll(ctx)
	case in.PageSize > 0 || in.Limit == 0:
		size := in.PageSize
		if size == 0 {
			size = min(100, s.o.MaxDocs)
		}
		if in.Limit > 0 {
			q = q.Limit(in.Limit)
		}
		var p *repository.Page[anyMap]
		p, err = q.Page(ctx, size, in.PageToken)
		if p != nil {
			docs, out.NextPageToken = p.Docs, p.Next
		}
	default:
		docs, err = q.Limit(in.Limit).GetAll(ctx)
	}
	if err != nil {
		return out, err
	}
	var size int64
	for _, d := range docs {
		doc, n, err := toDocument(d)
		if err != nil {
			return out, err
		}
		size += int64(n)
		if size > s.o.MaxBytes {
			return out, errs.New(errs.ErrResourceLimit, "query", in.Collection, "the documents exceed the per-call cap of %d bytes of data (hint: ask for fewer with limit or page_size, or fewer fields with select)", s.o.MaxBytes)
		}
		out.Documents = append(out.Documents, doc)
	}
	c.docs = len(out.Documents)
	return out, nil
}

// ---- aggregate

type aggregateInput struct {
	queryFilters
	Count bool     `json:"count,omitempty" jsonschema:"count the matching documents (the default when neither sum nor avg is given)"`
	Sum   []string `json:"sum,omitempty" jsonschema:"fields to sum"`
	Avg   []string `json:"avg,omitempty" jsonschema:"fields to average"`
}

type aggregateOutput struct {
	Count json.RawMessage            `json:"count,omitempty" jsonschema:"the count, in the value format"`
	Sum   map[string]json.RawMessage `json:"sum,omitempty" jsonschema:"field -> sum in the value format ({\"$int\":...} or {\"$double\":...})"`
	Avg   map[string]json.RawMessage `json:"avg,omitempty" jsonschema:"field -> average in the value format (null when no document has the field)"`
}

func (s *Server) aggregate(ctx context.Context, c *call, in *aggregateInput) (aggregateOutput, error) {
	var out aggregateOutput
	q, err := s.build(c, &in.queryFilters)
	if err != nil {
		return out, err
	}
	count := in.Count || (len(in.Sum) == 0 && len(in.Avg) == 0)
	var aggs []repository.Aggregation
	if count {
		aggs = append(aggs, repository.Count("count"))
	}
	for i, f := range in.Sum {
		aggs = append(aggs, repository.Sum(fmt.Sprintf("sum_%d", i), f))
	}
	for i, f := range in.Avg {
		aggs = append(aggs, repository.Avg(fmt.Sprintf("avg_%d", i), f))
	}
	res, err := q.Aggregate(ctx, aggs...)
	if err != nil {
		return out, err
	}
	if count {
		out.Count = numberValue(res["count"])
	}
	if len(in.Sum) > 0 {
		out.Sum = map[string]json.RawMessage{}
		for i, f := range in.Sum {
			out.Sum[f] = numberValue(res[fmt.Sprintf("sum_%d", i)])
		}
	}
	if len(in.Avg) > 0 {
		out.Avg = map[string]json.RawMessage{}
		for i, f := range in.Avg {
			out.Avg[f] = numberValue(res[fmt.Sprintf("avg_%d", i)])
		}
	}
	return out, nil
}

func numberValue(n repository.Number) json.RawMessage {
	var v any
	if i, ok := n.Int64(); ok && n.IsInt() {
		v = i
	} else if f, ok := n.Float64(); ok && !n.IsNull() {
		v = f
	}
	b, err := value.Encode(v)
	if err != nil {
		return json.RawMessage("null")
	}
	return b
}

func (s *Server) addFirestoreReadTools() {
	ro := &sdk.ToolAnnotations{ReadOnlyHint: true, IdempotentHint: true}
	addTool(s, &sdk.Tool{Name: "firestore_get", Annotations: ro,
		Description: "Read one or many Firestore documents by path. Returns each document's fields in the value format (exact types) with its create and update times; paths that hold no document are listed in missing."}, s.get)
	addTool(s, &sdk.Tool{Name: "firestore_list_collections", Annotations: ro,
		Description: "List the top-level collections, or the subcollections of a document (which need not exist itself)."}, s.listCollections)
	addTool(s, &sdk.Tool{Name: "firestore_list_documents", Annotations: ro,
		Description: "List the documents of a collection in document-ID order, one page at a time: pass next_page_token back as page_token for the next page."}, s.listDocuments)
	addTool(s, &sdk.Tool{Name: "firestore_query", Annotations: ro,
		Description: "Query a collection or a collection group (group: true). where conditions all hold; of the or conditions at least one. Operators: == != < <= > >= in not-in array-contains array-contains-any. Values are in the value format, so timestamps ({\"$timestamp\":\"2024-01-01T00:00:00Z\"}), references ({\"$ref\":\"projects/P/databases/(default)/documents/users/a\"}) and int64 ({\"$int\":\"9007199254740993\"}) filter exactly. order_by, cursors (start_at, start_after, end_at, end_before: one value per order_by field), select, limit, limit_to_last, offset. Without limit, returns a page of up to 100 documents and a next_page_token."}, s.query)
	addTool(s, &sdk.Tool{Name: "firestore_explain", Annotations: ro,
		Description: "Explain a query (the filters and order of firestore_query): the indexes Firestore's plan uses and, with analyze, the execution statistics (results, billable reads, time). Production only: the emulator does not explain queries."}, s.explain)
	addTool(s, &sdk.Tool{Name: "firestore_aggregate", Annotations: ro,
		Description: "Count the documents of a query and sum or average fields, on the server (no document is downloaded). Takes the filters of firestore_query. Results are in the value format: {\"$int\":\"42\"} or {\"$double\":1.5}."}, s.aggregate)
}

// ---- explain

type explainInput struct {
	queryFilters
	OrderBy []Order `json:"order_by,omitempty"`
	Limit   int     `json:"limit,omitempty"`
	Analyze bool    `json:"analyze,omitempty" jsonschema:"also run the query and report its execution statistics (results, billable reads, time); the documents are not returned"`
}

type explainOutput struct {
	IndexesUsed     []map[string]any `json:"indexes_used" jsonschema:"the indexes the plan uses, such as {\"query_scope\":\"Collection\",\"properties\":\"(age ASC, __name__ ASC)\"}"`
	ResultsReturned *int64           `json:"results_returned,omitempty"`
	ReadOperations  *int64           `json:"read_operations,omitempty" jsonschema:"billable read operations"`
	ExecutionMillis *float64         `json:"execution_ms,omitempty"`
	DebugStats      map[string]any   `json:"debug_stats,omitempty"`
}

func (s *Server) explain(ctx context.Context, c *call, in *explainInput) (explainOutput, error) {
	out := explainOutput{IndexesUsed: []map[string]any{}}
	q, err := s.build(c, &in.queryFilters)
	if err != nil {
		return out, err
	}
	for i, o := range in.OrderBy {
		dir := firestore.Asc
		switch strings.ToLower(o.Direction) {
		case "", "asc":
		case "desc":
			dir = firestore.Desc
		default:
			return out, errs.New(errs.ErrInvalid, "arguments", "", "$.order_by[%d].direction: %q (want asc or desc)", i, o.Direction)
		}
		q = q.OrderByPath(fieldPath(o.Field), dir)
	}
	if in.Limit < 0 || in.Limit > s.o.MaxDocs {
		return out, capError("explain", in.Limit, s.o.MaxDocs)
	}
	if in.Limit > 0 {
		q = q.Limit(in.Limit)
	}
	it := q.Raw().WithRunOptions(firestore.ExplainOptions{Analyze: in.Analyze}).Documents(ctx)
	defer it.Stop()
	for {
		_, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return out, errs.Wrap(err, "explain", in.Collection)
		}
	}
	m, err := it.ExplainMetrics()
	if err != nil {
		return out, errs.Wrap(err, "explain", in.Collection)
	}
	if m == nil || m.PlanSummary == nil {
		hint := ""
		if s.o.DB.Emulator() {
			hint = " (the Firestore emulator does not explain queries: run against production)"
		}
		return out, errs.New(errs.ErrInvalid, "explain", in.Collection, "the backend returned no query plan%s", hint)
	}
	for _, ix := range m.PlanSummary.IndexesUsed {
		if ix != nil {
			out.IndexesUsed = append(out.IndexesUsed, *ix)
		}
	}
	if st := m.ExecutionStats; st != nil {
		out.ResultsReturned, out.ReadOperations = &st.ResultsReturned, &st.ReadOperations
		if st.ExecutionDuration != nil {
			ms := float64(st.ExecutionDuration.Microseconds()) / 1000
			out.ExecutionMillis = &ms
		}
		if st.DebugStats != nil {
			out.DebugStats = *st.DebugStats
		}
	}
	return out, nil
}
