package transfer

import (
	"context"
	"sync"
	"sync/atomic"

	pb "cloud.google.com/go/firestore/apiv1/firestorepb"
	"golang.org/x/sync/errgroup"
)

// pipe runs a job that reads documents with parallel scans and writes (or
// deletes) them in batches: produce emits items from up to `slots`
// goroutines, each identified by its slot; full batches go to conc
// committers. Committers finish the batches they hold when ctx is
// cancelled.
type pipe struct {
	w       *writer
	conc    int
	slots   int
	batches chan []item
	cur     [][]item
	bytes   []int
}

func newPipe(w *writer, conc, slots int) *pipe {
	return &pipe{w: w, conc: max(conc, 1), slots: slots, batches: make(chan []item, max(conc, 1)),
		cur: make([][]item, slots), bytes: make([]int, slots)}
}

func (p *pipe) run(ctx context.Context, produce func(ctx context.Context, emit func(slot int, it item) error) error) error {
	wctx := context.WithoutCancel(ctx)
	readCtx, cancelRead := context.WithCancel(ctx)
	defer cancelRead()
	var fatalOnce sync.Once
	var fatal error
	var stopped atomic.Bool
	var cg errgroup.Group
	for range p.conc {
		cg.Go(func() error {
			for b := range p.batches {
				if stopped.Load() {
					continue // the job stops: leave queued batches alone
				}
				outs, err := p.w.commit(wctx, b)
				if err != nil {
					// The outcomes of a batch that failed this way are not
					// all known: count none; a resume sees to the batch.
					fatalOnce.Do(func() { fatal = err; stopped.Store(true); cancelRead() })
					continue
				}
				p.w.tally(outs, 0)
			}
			return nil
		})
	}
	send := func(slot int) error {
		if len(p.cur[slot]) == 0 {
			return nil
		}
		select {
		case p.batches <- p.cur[slot]:
		case <-readCtx.Done():
			return readCtx.Err()
		}
		p.cur[slot], p.bytes[slot] = nil, 0
		return nil
	}
	err := produce(readCtx, func(slot int, it item) error {
		p.cur[slot] = append(p.cur[slot], it)
		p.bytes[slot] += itemSize(&it)
		if len(p.cur[slot]) >= maxBatchDocs || p.bytes[slot] >= maxBatchBytes {
			return send(slot)
		}
		return nil
	})
	if err == nil {
		for s := range p.slots {
			if err = send(s); err != nil {
				break
			}
		}
	}
	close(p.batches)
	cg.Wait()
	switch {
	case fatal != nil:
		return fatal
	case err != nil && ctx.Err() != nil:
		return ctx.Err()
	}
	// err == nil: every item went to the committers, which wrote them
	// all, even when ctx was cancelled meanwhile: the job is done.
	return err
}

// itemSize estimates a write's size in a request.
func itemSize(it *item) int {
	n := len(it.name) + 16
	for k, v := range it.fields {
		n += len(k) + valueSize(v)
	}
	return n
}

func valueSize(v *pb.Value) int {
	switch x := v.GetValueType().(type) {
	case *pb.Value_StringValue:
		return len(x.StringValue) + 2
	case *pb.Value_BytesValue:
		return len(x.BytesValue) + 2
	case *pb.Value_ReferenceValue:
		return len(x.ReferenceValue) + 2
	case *pb.Value_ArrayValue:
		n := 2
		for _, e := range x.ArrayValue.GetValues() {
			n += valueSize(e)
		}
		return n
	case *pb.Value_MapValue:
		n := 2
		for k, e := range x.MapValue.GetFields() {
			n += len(k) + valueSize(e)
		}
		return n
	}
	return 10
}
