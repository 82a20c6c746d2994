package transfer

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"time"

	pb "cloud.google.com/go/firestore/apiv1/firestorepb"
	"golang.org/x/sync/errgroup"
	"google.golang.org/api/iterator"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/fbadmin/fbadmin/internal/errs"
	"github.com/fbadmin/fbadmin/internal/retry"
)

// A scan is one query over a slice of the document tree: the documents below
// parent (a document or the root) in collection (or in every collection
// when collection is empty), at any depth when all is set, whose names lie
// in [lo, hi). Documents come back ordered by name, so a broken stream can
// resume after the last name it delivered.
type scan struct {
	parent     string // full resource name
	collection string
	all        bool
	lo, hi     string // full document names; "" is unbounded
}

// scanName names s in errors as the user wrote paths: the collection it
// reads, else the collection its range starts in, else the document below
// which it reads, else the database.
func (db *DB) scanName(s scan) string {
	parent := db.rel(s.parent)
	if s.parent == db.Root() {
		parent = ""
	}
	switch {
	case s.collection != "":
		return joinPath(parent, s.collection)
	case s.lo != "" && s.lo != db.Root():
		coll, _ := splitParent(db.rel(s.lo))
		return coll
	case parent != "":
		return parent
	}
	return "the database"
}

// cut splits s at increasing names cuts (strictly inside its range) into
// consecutive scans that cover it.
func (s scan) cut(cuts []string) []scan {
	var scans []scan
	lo := s.lo
	for _, c := range cuts {
		part := s
		part.lo, part.hi = lo, c
		scans = append(scans, part)
		lo = c
	}
	s.lo = lo
	return append(scans, s)
}

type scanOptions struct {
	readTime  time.Time
	namesOnly bool
}

const nameField = "__name__"

func refValue(name string) *pb.Value {
	return &pb.Value{ValueType: &pb.Value_ReferenceValue{ReferenceValue: name}}
}

func nameFilter(op pb.StructuredQuery_FieldFilter_Operator, name string) *pb.StructuredQuery_Filter {
	return &pb.StructuredQuery_Filter{FilterType: &pb.StructuredQuery_Filter_FieldFilter{FieldFilter: &pb.StructuredQuery_FieldFilter{
		Field: &pb.StructuredQuery_FieldReference{FieldPath: nameField}, Op: op, Value: refValue(name),
	}}}
}

func (s scan) query(o scanOptions, after string) *pb.StructuredQuery {
	q := &pb.StructuredQuery{
		From:    []*pb.StructuredQuery_CollectionSelector{{CollectionId: s.collection, AllDescendants: s.all}},
		OrderBy: []*pb.StructuredQuery_Order{{Field: &pb.StructuredQuery_FieldReference{FieldPath: nameField}, Direction: pb.StructuredQuery_ASCENDING}},
	}
	var filters []*pb.StructuredQuery_Filter
	if s.lo != "" {
		filters = append(filters, nameFilter(pb.StructuredQuery_FieldFilter_GREATER_THAN_OR_EQUAL, s.lo))
	}
	if s.hi != "" {
		filters = append(filters, nameFilter(pb.StructuredQuery_FieldFilter_LESS_THAN, s.hi))
	}
	switch len(filters) {
	case 1:
		q.Where = filters[0]
	case 2:
		q.Where = &pb.StructuredQuery_Filter{FilterType: &pb.StructuredQuery_Filter_CompositeFilter{CompositeFilter: &pb.StructuredQuery_CompositeFilter{
			Op: pb.StructuredQuery_CompositeFilter_AND, Filters: filters,
		}}}
	}
	if after != "" {
		q.StartAt = &pb.Cursor{Values: []*pb.Value{refValue(after)}, Before: false}
	}
	if o.namesOnly {
		q.Select = &pb.StructuredQuery_Projection{Fields: []*pb.StructuredQuery_FieldReference{{FieldPath: nameField}}}
	}
	return q
}

// run streams the scan's documents to fn, restarting after the last
// delivered name when the stream fails with a transient error. Restarts
// that make no progress count against maxRetries.
func (db *DB) run(ctx context.Context, s scan, o scanOptions, fn func(*pb.Document) error) error {
	last := ""
	for attempt := 0; ; attempt++ {
		before := last
		err := db.runOnce(ctx, s, o, last, func(d *pb.Document) error {
			last = d.GetName()
			return fn(d)
		})
		if err == nil {
			return nil
		}
		if last != before {
			attempt = 0 // the stream delivered documents before it broke
		}
		if errors.Is(err, errStop) || ctx.Err() != nil || !transient(err) || attempt >= maxRetries {
			return err
		}
		if err := sleep(ctx, backoff(attempt)); err != nil {
			return err
		}
	}
}

// errStop is returned by a callback to end a scan early without error.
var errStop = errors.New("stop scan")

type callbackErr struct{ err error }

func (e callbackErr) Error() string { return e.err.Error() }
func (e callbackErr) Unwrap() error { return e.err }

func (db *DB) runOnce(ctx context.Context, s scan, o scanOptions, after string, fn func(*pb.Document) error) error {
	ctx, cancel := context.WithCancel(db.ctx(ctx))
	defer cancel()
	req := &pb.RunQueryRequest{Parent: s.parent, QueryType: &pb.RunQueryRequest_StructuredQuery{StructuredQuery: s.query(o, after)}}
	if !o.readTime.IsZero() {
		req.ConsistencySelector = &pb.RunQueryRequest_ReadTime{ReadTime: timestamppb.New(o.readTime)}
	}
	stream, err := db.api.RunQuery(ctx, req)
	if err != nil {
		return errs.Wrap(err, "query", db.scanName(s))
	}
	err = recvAll(stream, func(resp *pb.RunQueryResponse) error {
		if d := resp.GetDocument(); d != nil {
			if err := fn(d); err != nil {
				if errors.Is(err, errStop) {
					return errStop
				}
				return callbackErr{err}
			}
		}
		if resp.GetDone() {
			return errStop
		}
		return nil
	})
	var ce callbackErr
	switch {
	case errors.As(err, &ce):
		return err
	case err == nil, errors.Is(err, errStop):
		return nil
	}
	return errs.Wrap(err, "query", db.scanName(s))
}

// recvAll reads a server stream to its end (io.EOF), handing each response
// to fn; it returns the first error of the stream or of fn.
func recvAll[R any](stream interface{ Recv() (R, error) }, fn func(R) error) error {
	for {
		resp, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := fn(resp); err != nil {
			return err
		}
	}
}

// transient reports whether an RPC error is worth retrying; an error of
// the job's own callbacks never is.
func transient(err error) bool {
	var ce callbackErr
	return !errors.As(err, &ce) && retry.Transient(err)
}

// maxRetries bounds the retries of one call (a batch commit, a query that
// delivers nothing): with backoff, about 16 seconds of an unreachable
// backend stop a job, which then says how to resume it.
const maxRetries = 8

// retryCall calls fn until it succeeds, fails for good, or has been
// retried maxRetries times.
func retryCall(ctx context.Context, fn func() error) error {
	for attempt := 0; ; attempt++ {
		err := fn()
		if err == nil || ctx.Err() != nil || !transient(err) || attempt >= maxRetries {
			return err
		}
		if err := sleep(ctx, backoff(attempt)); err != nil {
			return err
		}
	}
}

func backoff(attempt int) time.Duration {
	return retry.Backoff(100*time.Millisecond, 5*time.Second, attempt)
}

func sleep(ctx context.Context, d time.Duration) error { return retry.Wait(ctx, d) }

// collectionIDs lists the collections directly under a document (or the
// root for ""), sorted.
func (db *DB) collectionIDs(ctx context.Context, parentRel string, readTime time.Time) ([]string, error) {
	req := &pb.ListCollectionIdsRequest{Parent: db.full(parentRel), PageSize: 1000}
	if !readTime.IsZero() {
		req.ConsistencySelector = &pb.ListCollectionIdsRequest_ReadTime{ReadTime: timestamppb.New(readTime)}
	}
	var ids []string
	err := retryCall(ctx, func() error {
		ids = ids[:0]
		it := db.api.ListCollectionIds(db.ctx(ctx), req)
		for {
			id, err := it.Next()
			if err == iterator.Done {
				return nil
			}
			if err != nil {
				return err
			}
			ids = append(ids, id)
		}
	})
	if err != nil {
		return nil, errs.Wrap(err, "list collections", orRoot(parentRel))
	}
	slices.Sort(ids)
	return ids, nil
}

// CollectionIDs lists the collections directly under a document, or the
// top-level collections for "".
func (db *DB) CollectionIDs(ctx context.Context, docPath string) ([]string, error) {
	return db.collectionIDs(ctx, docPath, time.Time{})
}

func orRoot(p string) string {
	if p == "" {
		return "(root)"
	}
	return p
}

// lastDoc returns the last existing document name of a collection (not
// supported by the emulator).
func (db *DB) lastDoc(ctx context.Context, collRel string, readTime time.Time) (string, bool, error) {
	parent, id := splitParent(collRel)
	q := &pb.StructuredQuery{
		From:    []*pb.StructuredQuery_CollectionSelector{{CollectionId: id}},
		OrderBy: []*pb.StructuredQuery_Order{{Field: &pb.StructuredQuery_FieldReference{FieldPath: nameField}, Direction: pb.StructuredQuery_DESCENDING}},
		Select:  &pb.StructuredQuery_Projection{Fields: []*pb.StructuredQuery_FieldReference{{FieldPath: nameField}}},
		Limit:   wrapperspb.Int32(1),
	}
	name, err := db.firstName(ctx, db.full(parent), q, readTime, collRel)
	return name, name != "", err
}

// planTree splits "every document below parentRel" (the whole database for
// "") into scans.
func (db *DB) planTree(ctx context.Context, parentRel string, readTime time.Time, parts int) ([]scan, error) {
	ids, err := db.collectionIDs(ctx, parentRel, readTime)
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	return db.planRange(ctx, parentRel, ids, "", "", readTime, parts)
}

// planCollection splits "the documents of collRel and everything below
// them" into scans of every document below the collection's parent, within
// the bounds of [collectionBounds]. Bounds that depend on no other
// collection matter: a job must never reach into a sibling collection,
// not even one created while it runs.
func (db *DB) planCollection(ctx context.Context, collRel string, readTime time.Time, parts int) ([]scan, error) {
	parent, id := splitParent(collRel)
	cuts, err := db.cuts(ctx, parent, []string{id}, readTime, parts)
	if err != nil {
		return nil, err
	}
	lo, hi := db.collectionBounds(collRel)
	var scans []scan
	for _, c := range cuts { // names of the collection's own documents, increasing
		scans = append(scans, scan{parent: db.full(parent), all: true, lo: lo, hi: c})
		lo = c
	}
	return append(scans, scan{parent: db.full(parent), all: true, lo: lo, hi: hi}), nil
}

// minID is the smallest document ID in Firestore's order of names:
// numeric IDs (from Datastore, written __idN__) come before strings.
const minID = "__id-9223372036854775808__"

// collectionBounds returns the names between which ([lo, hi)) lie exactly
// the documents of a collection and everything below them: from the
// collection's smallest possible document name to the smallest possible
// one of the next possible collection ID (the ID followed by a zero byte).
// Only Firestore compares these bounds (cmpName orders numeric IDs as
// strings).
func (db *DB) collectionBounds(collRel string) (lo, hi string) {
	c := db.full(collRel)
	return c + "/" + minID, c + "\x00/" + minID
}

func joinPath(parent, id string) string {
	if parent == "" {
		return id
	}
	return parent + "/" + id
}

// planRange cuts the documents below parentRel whose names lie in [lo, hi)
// ("" unbounded) into up to parts scans, at names sampled from the
// collections ids directly under parentRel.
func (db *DB) planRange(ctx context.Context, parentRel string, ids []string, lo, hi string, readTime time.Time, parts int) ([]scan, error) {
	parent := db.full(parentRel)
	cuts, err := db.cuts(ctx, parentRel, ids, readTime, parts)
	if err != nil {
		return nil, err
	}
	var scans []scan
	for _, c := range cuts {
		if (lo != "" && cmpName(c, lo) <= 0) || (hi != "" && cmpName(c, hi) >= 0) {
			continue
		}
		scans = append(scans, scan{parent: parent, all: true, lo: lo, hi: c})
		lo = c
	}
	return append(scans, scan{parent: parent, all: true, lo: lo, hi: hi}), nil
}

// splitSample is how many document names of a collection are read to
// place cuts, and maxSampled how many collections are sampled.
const (
	splitSample = 300
	maxSampled  = 64
)

// cuts returns up to parts-1 increasing document names that cut the
// documents below parentRel into ranges of about equal numbers of
// top-level documents (each document's subtree follows it). Names are
// sampled from each collection with one names-only query: a collection of
// at most splitSample documents contributes all its names; a larger one
// its first name and, in production, names spread between its first and
// last IDs (a descending name query gives the last; the emulator has no
// descending name scans).
func (db *DB) cuts(ctx context.Context, parentRel string, ids []string, readTime time.Time, parts int) ([]string, error) {
	if parts < 2 || len(ids) == 0 {
		return nil, nil
	}
	ids = ids[:min(len(ids), maxSampled)]
	samples := make([][]string, len(ids))
	weights := make([]float64, len(ids)) // documents each sample stands for
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i, id := range ids {
		weights[i] = 1
		g.Go(func() error {
			coll := joinPath(parentRel, id)
			names, err := db.sampleNames(gctx, coll, readTime, splitSample+1)
			if err == nil && len(names) < 2 {
				// Perhaps documents that do not exist but hold subtrees.
				names, err = db.listNames(gctx, coll, readTime, splitSample+1)
			}
			if err == nil && len(names) > splitSample && db.emulator && db.evenCuts {
				// No last name to spread between here: read the names,
				// keeping an even sample.
				if names, _, err = db.evenNames(gctx, coll, readTime, splitSample); err != nil {
					return err
				}
			}
			if err != nil || len(names) <= splitSample || db.emulator {
				samples[i] = names[:min(len(names), splitSample)]
				return err
			}
			last, ok, err := db.lastDoc(gctx, coll, readTime)
			if err != nil || !ok {
				samples[i] = names[:1]
				return nil // no descending scans here: no cuts inside
			}
			collName := db.full(coll) + "/"
			spread := []string{names[0]}
			for _, s := range splitIDs(strings.TrimPrefix(names[0], collName), strings.TrimPrefix(last, collName), parts) {
				spread = append(spread, collName+s)
			}
			samples[i] = spread
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if db.evenCuts {
		// Each sample stands for its share of its collection's whole
		// tree (subcollections included), so that ranges of different
		// collections weigh what they hold.
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(8)
		for i, id := range ids {
			if len(samples[i]) == 0 {
				continue
			}
			g.Go(func() error {
				lo, hi := db.collectionBounds(joinPath(parentRel, id))
				tree, err := db.count(gctx, scan{parent: db.full(parentRel), all: true, lo: lo, hi: hi}, readTime)
				weights[i] = float64(tree) / float64(len(samples[i]))
				return err
			})
		}
		if err := g.Wait(); err != nil {
			return nil, err
		}
	}
	type cand struct {
		name string
		w    float64
	}
	var cands []cand
	var total float64
	for i, s := range samples {
		for _, n := range s {
			cands = append(cands, cand{n, weights[i]})
			total += weights[i]
		}
	}
	slices.SortFunc(cands, func(a, b cand) int { return cmpName(a.name, b.name) })
	if len(cands) < 2 {
		return nil, nil
	}
	// Cut where the documents before a name reach j/parts of the total.
	var out []string
	var before float64
	j := 1
	for _, c := range cands {
		for j < parts && before >= total*float64(j)/float64(parts) {
			if cmpName(c.name, cands[0].name) > 0 && (len(out) == 0 || cmpName(c.name, out[len(out)-1]) > 0) {
				out = append(out, c.name)
			}
			j++
		}
		before += c.w
	}
	return out, nil
}

// cmpName orders document names as Firestore does: segment by segment, so
// that "a/x" comes before "a-b/x" ("a" is a prefix of "a-b") although "-"
// sorts before "/" byte-wise.
func cmpName(a, b string) int {
	for {
		i, j := strings.IndexByte(a, '/'), strings.IndexByte(b, '/')
		sa, sb := a, b
		if i >= 0 {
			sa = a[:i]
		}
		if j >= 0 {
			sb = b[:j]
		}
		if c := strings.Compare(sa, sb); c != 0 {
			return c
		}
		switch {
		case i < 0 && j < 0:
			return 0
		case i < 0:
			return -1
		case j < 0:
			return 1
		}
		a, b = a[i+1:], b[j+1:]
	}
}

// listNames returns the first n document names of a collection, counting
// documents that do not exist themselves but have subcollections (slower
// than sampleNames on the emulator, which then scans the subtrees).
func (db *DB) listNames(ctx context.Context, collRel string, readTime time.Time, n int) ([]string, error) {
	parent, id := splitParent(collRel)
	req := &pb.ListDocumentsRequest{Parent: db.full(parent), CollectionId: id, PageSize: int32(n), ShowMissing: true, Mask: &pb.DocumentMask{}}
	if !readTime.IsZero() {
		req.ConsistencySelector = &pb.ListDocumentsRequest_ReadTime{ReadTime: timestamppb.New(readTime)}
	}
	var names []string
	err := retryCall(ctx, func() error {
		names = names[:0]
		it := db.api.ListDocuments(db.ctx(ctx), req)
		for len(names) < n {
			d, err := it.Next()
			if err == iterator.Done {
				break
			}
			if err != nil {
				return err
			}
			names = append(names, d.GetName())
		}
		return nil
	})
	if err != nil {
		return nil, errs.Wrap(err, "list documents", collRel)
	}
	return names, nil
}

// sampleNames returns the first n existing document names of a collection.
func (db *DB) sampleNames(ctx context.Context, collRel string, readTime time.Time, n int) ([]string, error) {
	parent, id := splitParent(collRel)
	s := scan{parent: db.full(parent), collection: id}
	q := s.query(scanOptions{namesOnly: true}, "")
	q.Limit = wrapperspb.Int32(int32(n))
	req := &pb.RunQueryRequest{Parent: s.parent, QueryType: &pb.RunQueryRequest_StructuredQuery{StructuredQuery: q}}
	if !readTime.IsZero() {
		req.ConsistencySelector = &pb.RunQueryRequest_ReadTime{ReadTime: timestamppb.New(readTime)}
	}
	var names []string
	err := retryCall(ctx, func() error {
		names = names[:0]
		return db.query(ctx, req, func(d *pb.Document) { names = append(names, d.GetName()) })
	})
	if err != nil {
		return nil, errs.Wrap(err, "query", collRel)
	}
	return names, nil
}

// query runs a query to its end, passing each document to fn.
func (db *DB) query(ctx context.Context, req *pb.RunQueryRequest, fn func(*pb.Document)) error {
	ctx, cancel := context.WithCancel(db.ctx(ctx))
	defer cancel()
	stream, err := db.api.RunQuery(ctx, req)
	if err != nil {
		return err
	}
	return recvAll(stream, func(resp *pb.RunQueryResponse) error {
		if d := resp.GetDocument(); d != nil {
			fn(d)
		}
		return nil
	})
}

func (db *DB) firstName(ctx context.Context, parent string, q *pb.StructuredQuery, readTime time.Time, what string) (string, error) {
	req := &pb.RunQueryRequest{Parent: parent, QueryType: &pb.RunQueryRequest_StructuredQuery{StructuredQuery: q}}
	if !readTime.IsZero() {
		req.ConsistencySelector = &pb.RunQueryRequest_ReadTime{ReadTime: timestamppb.New(readTime)}
	}
	name := ""
	err := retryCall(ctx, func() error {
		name = ""
		return db.query(ctx, req, func(d *pb.Document) {
			if name == "" {
				name = d.GetName()
			}
		})
	})
	if err != nil {
		return "", errs.Wrap(err, "query", what)
	}
	return name, nil
}

// splitIDs returns up to parts-1 document IDs strictly between first and
// last, in increasing order, spread evenly over the byte strings between
// them. IDs are made of printable ASCII other than "/", so they are valid
// IDs and compare the same way in Go and in Firestore.
func splitIDs(first, last string, parts int) []string {
	if parts < 2 || last == "" || first >= last {
		return nil
	}
	const digits = 3
	const lowest, highest = 0x21, 0x7e // printable ASCII
	const base = highest - lowest + 1
	prefix := 0
	for prefix < len(first) && prefix < len(last) && first[prefix] == last[prefix] {
		prefix++
	}
	num := func(s string) int {
		n := 0
		for i := 0; i < digits; i++ {
			c := lowest
			if prefix+i < len(s) {
				c = min(max(int(s[prefix+i]), lowest), highest)
			}
			n = n*base + (c - lowest)
		}
		return n
	}
	a, z := num(first), num(last)
	if z-a < 2 {
		return nil
	}
	var out []string
	for j := 1; j < parts; j++ {
		n := a + (z-a)*j/parts
		buf := []byte(last[:prefix])
		var tail [digits]byte
		for i := digits - 1; i >= 0; i-- {
			tail[i] = byte(lowest + n%base)
			n /= base
		}
		buf = append(buf, tail[:]...)
		for len(buf) > prefix+1 && buf[len(buf)-1] == lowest {
			buf = buf[:len(buf)-1]
		}
		for i := prefix; i < len(buf); i++ {
			if buf[i] == '/' {
				buf[i] = '0'
			}
		}
		s := string(buf)
		if s <= first || s >= last || (len(out) > 0 && s <= out[len(out)-1]) {
			continue
		}
		out = append(out, s)
	}
	return out
}

// defaultParallel is how many scans run at once unless told: 8 in
// production, where the backend scales out; 1 on the emulator, which
// answers every query by scanning the whole collection, whatever its
// range: on 100,000 documents one stream read 27k to 44k docs/s, two
// ranges 17k to 30k, four about 19k.
func defaultParallel(db *DB) int {
	if db.emulator {
		return 1
	}
	return 8
}

// runScans runs scans with up to workers at a time; fn is called from the
// scan's goroutine, so calls for one scan are ordered and calls for
// different scans are concurrent.
func (db *DB) runScans(ctx context.Context, scans []scan, o scanOptions, workers int, fn func(worker int, d *pb.Document) error) error {
	if workers < 1 {
		workers = 1
	}
	g, gctx := errgroup.WithContext(ctx)
	next := make(chan scan)
	for w := range min(workers, len(scans)) {
		g.Go(func() error {
			for s := range next {
				if err := db.run(gctx, s, o, func(d *pb.Document) error { return fn(w, d) }); err != nil {
					return err
				}
			}
			return nil
		})
	}
	g.Go(func() error {
		defer close(next)
		for _, s := range scans {
			select {
			case next <- s:
			case <-gctx.Done():
				return nil
			}
		}
		return nil
	})
	return g.Wait()
}

// count runs a count aggregation over a scan (for progress totals).
func (db *DB) count(ctx context.Context, s scan, readTime time.Time) (int64, error) {
	q := s.query(scanOptions{}, "")
	q.OrderBy = nil
	req := &pb.RunAggregationQueryRequest{
		Parent: s.parent,
		QueryType: &pb.RunAggregationQueryRequest_StructuredAggregationQuery{StructuredAggregationQuery: &pb.StructuredAggregationQuery{
			QueryType:    &pb.StructuredAggregationQuery_StructuredQuery{StructuredQuery: q},
			Aggregations: []*pb.StructuredAggregationQuery_Aggregation{{Alias: "n", Operator: &pb.StructuredAggregationQuery_Aggregation_Count_{Count: &pb.StructuredAggregationQuery_Aggregation_Count{}}}},
		}},
	}
	if !readTime.IsZero() {
		req.ConsistencySelector = &pb.RunAggregationQueryRequest_ReadTime{ReadTime: timestamppb.New(readTime)}
	}
	var n int64
	err := retryCall(ctx, func() error {
		ctx, cancel := context.WithCancel(db.ctx(ctx))
		defer cancel()
		stream, err := db.api.RunAggregationQuery(ctx, req)
		if err != nil {
			return err
		}
		return recvAll(stream, func(resp *pb.RunAggregationQueryResponse) error {
			if r := resp.GetResult(); r != nil {
				n = r.GetAggregateFields()["n"].GetIntegerValue()
			}
			return nil
		})
	})
	if err != nil {
		return 0, errs.Wrap(err, "count", db.scanName(s))
	}
	return n, nil
}

// countScans sums count over consecutive scans of one plan, merging them
// into as few aggregations as possible.
func (db *DB) countScans(ctx context.Context, scans []scan, readTime time.Time) (int64, error) {
	var total int64
	for i := 0; i < len(scans); {
		whole := scans[i]
		j := i + 1
		for j < len(scans) && scans[j].parent == whole.parent && scans[j].collection == whole.collection &&
			scans[j].all == whole.all && scans[j].lo == whole.hi && whole.hi != "" {
			whole.hi = scans[j].hi
			j++
		}
		n, err := db.count(ctx, whole, readTime)
		if err != nil {
			return 0, err
		}
		total += n
		i = j
	}
	return total, nil
}
