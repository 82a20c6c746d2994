package transfer

import (
	"context"
	"strings"
	"time"

	pb "cloud.google.com/go/firestore/apiv1/firestorepb"

	"github.com/fbadmin/fbadmin/internal/errs"
)

// CopyOptions controls Copy.
type CopyOptions struct {
	// Src and Dst are both documents or both collections.
	Src, Dst string
	// Recursive copies subcollections at any depth too.
	Recursive bool
	// Mode says how copied documents meet existing ones (default ModeCreate;
	// ModeSet to overwrite).
	Mode Mode
	// ReadTime, when set, copies a snapshot of the source at that time.
	ReadTime time.Time
	// Shard, when set, copies only this shard's part of the source (see
	// [Shard]); ReadTime is then required. The N shards' copies together
	// write each document once. A single document (copied without
	// Recursive) is shard 0's.
	Shard                 Shard
	Parallel, Concurrency int
	Progress              Progress
	OnFailure             func(Failure)
	// Flow paces the writes (see [Flow]).
	Flow Flow
}

// Copy copies a document or a collection, optionally with everything below
// it, to another path of the same or another database. Field values are
// copied as they are (references keep pointing where they pointed).
func Copy(ctx context.Context, src, dst *DB, o CopyOptions) (Stats, error) {
	start := time.Now()
	var c counters
	prog := orNoProgress(o.Progress)
	if o.Parallel < 1 {
		o.Parallel = defaultParallel(src)
	}
	// Firestore keeps microseconds; a finer read time is rejected.
	o.ReadTime = o.ReadTime.Truncate(time.Microsecond)
	from, err := src.CleanPath(o.Src, false)
	if err != nil {
		return Stats{}, err
	}
	to, err := dst.CleanPath(o.Dst, false)
	if err != nil {
		return Stats{}, err
	}
	if IsDocPath(from) != IsDocPath(to) {
		return Stats{}, errs.New(errs.ErrInvalid, "copy", from, "source and destination must both be documents or both be collections (%s is not)", to)
	}
	if src.Name() == dst.Name() && (underPath(to, from) || underPath(from, to)) {
		return Stats{}, errs.New(errs.ErrInvalid, "copy", from, "destination %s overlaps the source", to)
	}

	if err := checkShard("copy", o.Shard, o.ReadTime); err != nil {
		return Stats{}, err
	}

	var docs []string
	var scans []scan
	planner, parts := src.planner(o.Shard), shardParts(o.Shard, o.Parallel)
	switch {
	case IsDocPath(from):
		if o.Shard.K == 0 {
			docs = []string{src.full(from)} // single documents are shard 0's
		}
		if o.Recursive {
			scans, err = planner.planTree(ctx, from, o.ReadTime, parts)
		}
	case o.Recursive:
		scans, err = planner.planCollection(ctx, from, o.ReadTime, parts)
	case !o.Shard.Whole():
		scans, err = planner.planOwnDocs(ctx, from, o.ReadTime, parts)
	default:
		parent, id := splitParent(from)
		scans = []scan{{parent: src.full(parent), collection: id}}
	}
	if err != nil {
		return Stats{}, err
	}
	scans = o.Shard.pick(scans)
	countCtx, stopCount := context.WithCancel(ctx)
	defer stopCount()
	if wantsTotal(o.Progress) {
		go func() {
			n, err := src.countScans(countCtx, scans, o.ReadTime)
			if err == nil {
				prog.SetTotal(n + int64(len(docs)))
			}
		}()
	}

	srcPrefix, dstPrefix := src.full(from), dst.full(to)
	rename := func(d *pb.Document) item {
		return item{name: dstPrefix + strings.TrimPrefix(d.GetName(), srcPrefix), fields: d.GetFields()}
	}
	w := newWriter(dst, o.Mode, &c, prog, o.OnFailure, o.Flow, o.Shard)
	p := newPipe(w, o.Concurrency, o.Parallel+1)
	err = p.run(ctx, func(ctx context.Context, emit func(int, item) error) error {
		if len(docs) > 0 {
			if err := src.getDocs(ctx, docs, o.ReadTime, func(d *pb.Document) error { return emit(o.Parallel, rename(d)) }); err != nil {
				return err
			}
		}
		return src.runScans(ctx, scans, scanOptions{readTime: o.ReadTime}, o.Parallel, func(slot int, d *pb.Document) error {
			return emit(slot, rename(d))
		})
	})
	return c.stats(start), err
}
