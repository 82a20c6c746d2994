package transfer

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	pb "cloud.google.com/go/firestore/apiv1/firestorepb"
	"golang.org/x/sync/errgroup"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/fbadmin/fbadmin/internal/docpath"
	"github.com/fbadmin/fbadmin/internal/errs"
	"github.com/fbadmin/fbadmin/internal/value"
)

// Line is one line of an export file.
type Line struct {
	Path       string          `json:"path"`
	Data       json.RawMessage `json:"data"`
	CreateTime *time.Time      `json:"create_time,omitempty"`
	UpdateTime *time.Time      `json:"update_time,omitempty"`
}

// ExportOptions selects what Export writes.
type ExportOptions struct {
	// Paths are collections or documents, relative to the database root or
	// full resource names. Each is exported with everything below it
	// (subcollections at any depth, including those under documents that
	// do not exist themselves). No path means the whole database.
	Paths []string
	// Group, when set, exports the documents of every collection with this
	// ID (a collection group), below Paths[0] if one document path is
	// given; their subcollections are not followed.
	Group string
	// ReadTime, when set, reads a consistent snapshot of that time.
	ReadTime time.Time
	// Parallel is how many queries run at once (default 8 in production, 1
	// on the emulator). The tree is split by collection and by ranges of
	// document IDs.
	Parallel int
	// Progress, if set, receives progress and the total once counted.
	Progress Progress
	// Shard, when set, exports only this shard's part of the documents
	// (see [Shard]); ReadTime is then required. The N shards' exports
	// together hold each document once.
	Shard Shard
}

const chunkSize = 64 << 10

type chunk struct {
	buf  []byte
	docs int64
}

var chunkPool = sync.Pool{New: func() any { b := make([]byte, 0, chunkSize+4096); return &b }}

// Export writes the selected documents to w as NDJSON, one [Line] per
// document. Lines of one query come in name order; queries run in parallel,
// so the file as a whole is not sorted.
func Export(ctx context.Context, db *DB, w io.Writer, o ExportOptions) (Stats, error) {
	start := time.Now()
	prog := orNoProgress(o.Progress)
	if o.Parallel < 1 {
		o.Parallel = defaultParallel(db)
	}
	// Firestore keeps microseconds; a finer read time is rejected.
	o.ReadTime = o.ReadTime.Truncate(time.Microsecond)
	if err := checkShard("export", o.Shard, o.ReadTime); err != nil {
		return Stats{}, err
	}
	po := o
	po.Parallel = shardParts(o.Shard, o.Parallel)
	plan, err := db.planner(o.Shard).planExport(ctx, po)
	if err != nil {
		return Stats{}, err
	}
	plan.scans = o.Shard.pick(plan.scans)
	if o.Shard.K > 0 {
		plan.docs = nil // single documents are shard 0's
	}
	var c counters
	g, gctx := errgroup.WithContext(ctx)

	// Count in the background, for the progress bar's total and ETA.
	countCtx, stopCount := context.WithCancel(gctx)
	defer stopCount()
	if wantsTotal(o.Progress) {
		go func() {
			n, err := db.countScans(countCtx, plan.scans, o.ReadTime)
			if err == nil {
				prog.SetTotal(n + int64(len(plan.docs)))
			}
		}()
	}

	out := make(chan chunk, 2*o.Parallel)
	g.Go(func() error {
		bw := bufio.NewWriterSize(w, 256<<10)
		for ch := range out {
			n, err := bw.Write(ch.buf)
			c.bytes.Add(int64(n))
			c.docs.Add(ch.docs)
			prog.Add(ch.docs, int64(n))
			b := ch.buf[:0]
			chunkPool.Put(&b)
			if err != nil {
				return fmt.Errorf("write export: %w", err)
			}
		}
		return bw.Flush()
	})

	workers := make([]chunk, o.Parallel+1)
	flush := func(w int) bool {
		if workers[w].docs == 0 {
			return true
		}
		select {
		case out <- workers[w]:
		case <-gctx.Done():
			return false
		}
		workers[w] = chunk{}
		return true
	}
	add := func(w int, d *pb.Document) error {
		if workers[w].buf == nil {
			workers[w].buf = *chunkPool.Get().(*[]byte)
		}
		buf, err := db.appendLine(workers[w].buf, d)
		if err != nil {
			return err
		}
		workers[w].buf = buf
		workers[w].docs++
		if len(buf) >= chunkSize && !flush(w) {
			return gctx.Err()
		}
		return nil
	}
	g.Go(func() error {
		defer close(out)
		// Single documents first (worker slot o.Parallel is theirs).
		if len(plan.docs) > 0 {
			if err := db.getDocs(gctx, plan.docs, o.ReadTime, func(d *pb.Document) error { return add(o.Parallel, d) }); err != nil {
				return err
			}
			if !flush(o.Parallel) {
				return gctx.Err()
			}
		}
		err := db.runScans(gctx, plan.scans, scanOptions{readTime: o.ReadTime}, o.Parallel, func(w int, d *pb.Document) error { return add(w, d) })
		if err != nil {
			return err
		}
		for w := range o.Parallel {
			if !flush(w) {
				return gctx.Err()
			}
		}
		return nil
	})
	err = g.Wait()
	st := c.stats(start)
	if err != nil && ctx.Err() != nil {
		return st, ctx.Err()
	}
	return st, err
}

type exportPlan struct {
	docs  []string // full names of single documents to fetch
	scans []scan
}

func (db *DB) planExport(ctx context.Context, o ExportOptions) (exportPlan, error) {
	var p exportPlan
	var rels []string
	for _, raw := range o.Paths {
		rel, err := db.CleanPath(raw, true)
		if err != nil {
			return p, err
		}
		rels = append(rels, rel)
	}
	if err := checkOverlap(rels); err != nil {
		return p, err
	}
	if o.Group != "" {
		if err := docpath.CheckID(o.Group); err != nil || len(rels) > 1 || (len(rels) == 1 && rels[0] != "" && !IsDocPath(rels[0])) {
			return p, errs.New(errs.ErrInvalid, "export", o.Group, "--group takes one collection ID, optionally below one document path")
		}
		parent := ""
		if len(rels) == 1 {
			parent = rels[0]
		}
		scans, err := db.planGroup(ctx, parent, o.Group, o.ReadTime, o.Parallel)
		p.scans = scans
		return p, err
	}
	if len(rels) == 0 {
		rels = []string{""}
	}
	for _, rel := range rels {
		var scans []scan
		var err error
		switch {
		case rel == "":
			scans, err = db.planTree(ctx, "", o.ReadTime, o.Parallel)
		case IsDocPath(rel):
			p.docs = append(p.docs, db.full(rel))
			scans, err = db.planTree(ctx, rel, o.ReadTime, o.Parallel)
		default:
			scans, err = db.planCollection(ctx, rel, o.ReadTime, o.Parallel)
		}
		if err != nil {
			return p, err
		}
		p.scans = append(p.scans, scans...)
	}
	return p, nil
}

// planGroup plans a collection group query, split with PartitionQuery where
// the backend offers it (production; the emulator does not).
func (db *DB) planGroup(ctx context.Context, parentRel, id string, readTime time.Time, parts int) ([]scan, error) {
	whole := scan{parent: db.full(parentRel), collection: id, all: true}
	if db.emulator || parts < 2 {
		return []scan{whole}, nil
	}
	req := &pb.PartitionQueryRequest{
		Parent:         whole.parent,
		QueryType:      &pb.PartitionQueryRequest_StructuredQuery{StructuredQuery: whole.query(scanOptions{}, "")},
		PartitionCount: int64(parts),
	}
	if !readTime.IsZero() {
		req.ConsistencySelector = &pb.PartitionQueryRequest_ReadTime{ReadTime: timestamppb.New(readTime)}
	}
	it := db.api.PartitionQuery(db.ctx(ctx), req)
	var cuts []string
	for {
		cur, err := it.Next()
		if err != nil {
			break // Done, or partitioning unsupported: the cuts so far are still valid
		}
		if vals := cur.GetValues(); len(vals) > 0 && vals[0].GetReferenceValue() != "" {
			cuts = append(cuts, vals[0].GetReferenceValue())
		}
	}
	slices.SortFunc(cuts, cmpName)
	cuts = slices.Compact(cuts)
	return whole.cut(cuts), nil
}

// checkOverlap rejects paths of which one lies inside another: their
// documents would be exported twice.
func checkOverlap(rels []string) error {
	for i, a := range rels {
		for j, b := range rels {
			if i != j && (a == "" || underPath(b, a)) && !(a == b && i > j) {
				return errs.New(errs.ErrInvalid, "export", b, "path lies inside %s, given too: give each tree once", orRoot(a))
			}
		}
	}
	return nil
}

// getDocs fetches single documents; missing ones are left out.
func (db *DB) getDocs(ctx context.Context, names []string, readTime time.Time, fn func(*pb.Document) error) error {
	for len(names) > 0 {
		n := min(len(names), 100)
		req := &pb.BatchGetDocumentsRequest{Database: db.Name(), Documents: names[:n]}
		if !readTime.IsZero() {
			req.ConsistencySelector = &pb.BatchGetDocumentsRequest_ReadTime{ReadTime: timestamppb.New(readTime)}
		}
		var found []*pb.Document
		err := retryCall(ctx, func() error {
			found = found[:0]
			ctx, cancel := context.WithCancel(db.ctx(ctx))
			defer cancel()
			stream, err := db.api.BatchGetDocuments(ctx, req)
			if err != nil {
				return err
			}
			return recvAll(stream, func(resp *pb.BatchGetDocumentsResponse) error {
				if d := resp.GetFound(); d != nil {
					found = append(found, d)
				}
				return nil
			})
		})
		if err != nil {
			return errs.Wrap(err, "get", db.rel(names[0]))
		}
		slices.SortFunc(found, func(a, b *pb.Document) int { return cmpName(a.GetName(), b.GetName()) })
		for _, d := range found {
			if err := fn(d); err != nil {
				return err
			}
		}
		names = names[n:]
	}
	return nil
}

// appendLine appends a document's export line.
func (db *DB) appendLine(buf []byte, d *pb.Document) ([]byte, error) {
	rel := db.rel(d.GetName())
	fields, err := fromPBFields(d.GetFields())
	if err != nil {
		return buf, errs.New(errs.ErrInternal, "export", rel, "%v", err)
	}
	data, err := value.EncodeMap(fields)
	if err != nil {
		return buf, errs.Wrap(err, "export", rel)
	}
	return appendLineParts(buf, rel, data, d.GetCreateTime(), d.GetUpdateTime()), nil
}

func appendLineParts(buf []byte, rel string, data []byte, ct, ut *timestamppb.Timestamp) []byte {
	buf = append(buf, `{"path":`...)
	buf = appendJSONString(buf, rel)
	buf = append(buf, `,"data":`...)
	buf = append(buf, data...)
	if ct != nil {
		buf = append(buf, `,"create_time":"`...)
		buf = ct.AsTime().AppendFormat(buf, time.RFC3339Nano)
		buf = append(buf, '"')
	}
	if ut != nil {
		buf = append(buf, `,"update_time":"`...)
		buf = ut.AsTime().AppendFormat(buf, time.RFC3339Nano)
		buf = append(buf, '"')
	}
	return append(buf, "}\n"...)
}

// appendJSONString appends s as a JSON string (s is valid UTF-8: it is a
// Firestore path).
func appendJSONString(buf []byte, s string) []byte {
	buf = append(buf, '"')
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			buf = append(buf, '\\', c)
			i++
		case c < 0x20:
			buf = append(buf, `\u00`...)
			buf = append(buf, "0123456789abcdef"[c>>4], "0123456789abcdef"[c&0xf])
			i++
		case c < utf8.RuneSelf:
			buf = append(buf, c)
			i++
		default:
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				buf = append(buf, `\ufffd`...)
			} else if r == '\u2028' || r == '\u2029' {
				buf = append(buf, `\u`...)
				buf = strconv.AppendInt(buf, int64(r), 16)
			} else {
				buf = append(buf, s[i:i+size]...)
			}
			i += size
		}
	}
	return append(buf, '"')
}
