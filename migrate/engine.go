package migrate

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/firestore"
	"golang.org/x/sync/errgroup"
	"google.golang.org/api/iterator"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/fbadmin/fbadmin/internal/errs"
	"github.com/fbadmin/fbadmin/internal/transfer"
	"github.com/fbadmin/fbadmin/internal/value"
	"github.com/fbadmin/fbadmin/internal/write"
)

// change is one document write of a migration: the document's before
// state (nil data: absent) and its after state (nil: deleted).
type change struct {
	path   string // relative
	src    string // the unit resume skips
	before map[string]any
	// beforeRaw, when set, is before in the value format, as read.
	beforeRaw json.RawMessage
	beforeUT  time.Time
	after     map[string]any
	// known is false for a change whose before state is read at commit
	// time, mutate then computing the after state from it.
	known  bool
	mutate func(before map[string]any) (map[string]any, error)
	// restore: the precondition is forced off (down --force).
	force bool
}

func (c *change) kind() string {
	switch {
	case c.before == nil && c.after != nil:
		return "create"
	case c.before != nil && c.after == nil:
		return "delete"
	case c.before != nil:
		return "update"
	}
	return ""
}

// Diff is one document's change in a plan or a run.
type Diff struct {
	Path   string      `json:"path"`
	Op     string      `json:"op"` // create, update, delete
	Fields []FieldDiff `json:"fields,omitempty"`
}

// FieldDiff is one top-level field's change; Before or After is absent
// when the field is.
type FieldDiff struct {
	Field  string          `json:"field"`
	Before json.RawMessage `json:"before,omitempty"`
	After  json.RawMessage `json:"after,omitempty"`
}

// Report is the outcome of one migration in a run, a plan or a rollback.
type Report struct {
	ID     string `json:"id"`
	Action string `json:"action"` // applied, planned, verified, rolled back, skipped
	DryRun bool   `json:"dry_run,omitempty"`
	// Read is the number of documents read by the migration's queries;
	// Created, Changed and Deleted the documents written.
	Read    int64 `json:"read"`
	Created int64 `json:"created"`
	Changed int64 `json:"changed"`
	Deleted int64 `json:"deleted"`
	// Resumed is the number of documents done by an earlier run.
	Resumed int64 `json:"resumed,omitempty"`
	// Diffs are samples of the changes (all of them with Options.AllDiffs).
	Diffs []Diff `json:"diffs,omitempty"`
	// Conflicts are the documents down did not restore because they
	// changed since the migration wrote them.
	Conflicts []string `json:"conflicts,omitempty"`
	Journal   string   `json:"journal,omitempty"`
	Elapsed   float64  `json:"elapsed_s"`
}

// session is one run of one migration: up, dry run or rollback.
type session struct {
	r     *Runner
	m     *Migration
	dry   bool
	lease *lease
	j     *journal
	done  map[string]bool // units done by an earlier run
	w     *write.Writer

	mu      sync.Mutex
	rep     *Report
	pending []*change
	g       *errgroup.Group
	gctx    context.Context
}

func (r *Runner) newSession(ctx context.Context, m *Migration, dry bool, l *lease, j *journal, done map[string]bool) *session {
	s := &session{r: r, m: m, dry: dry, lease: l, j: j, done: done, rep: &Report{ID: m.ID, DryRun: dry}}
	if s.done == nil {
		s.done = map[string]bool{}
	}
	var sender write.Sender = captureSender{}
	if !dry {
		sender = &fencedSender{s: s}
	}
	// Any refusal fails the batch as a whole: the run stops, and resumes
	// from its journal.
	s.w = write.New(sender, write.Options{Whole: func(error) bool { return true }})
	s.g, s.gctx = errgroup.WithContext(ctx)
	s.g.SetLimit(r.o.Parallel)
	return s
}

// add queues the changes of one unit (a source document and its copies),
// flushing a batch when full. Units done by an earlier run are skipped.
func (s *session) add(changes ...*change) error {
	if len(changes) == 0 {
		return nil
	}
	if err := s.gctx.Err(); err != nil {
		return s.wait()
	}
	s.addTo(&s.pending, changes)
	return nil
}

// addTo queues changes in *pending, first sending the batch there in the
// background when they would not fit in it. With the session's batches in
// flight at their limit, it waits for one to end: the documents read
// ahead of the writes are at most a batch per reader.
func (s *session) addTo(pending *[]*change, changes []*change) {
	if len(*pending)+len(changes) > write.MaxBatch-1 {
		s.flushFrom(pending)
	}
	*pending = append(*pending, changes...)
}

// flush sends the pending changes as one batch, in the background.
func (s *session) flush() { s.flushFrom(&s.pending) }

func (s *session) flushFrom(pending *[]*change) {
	if len(*pending) == 0 {
		return
	}
	batch := *pending
	*pending = nil
	s.g.Go(func() error { return s.commit(s.gctx, batch) })
}

// wait flushes and waits for every batch.
func (s *session) wait() error {
	s.flush()
	err := s.g.Wait()
	if err != nil && s.lease != nil && s.lease.err() != nil {
		return errs.Wrap(s.lease.err(), "migrate", s.m.ID)
	}
	return err
}

// commit reads the unknown before states of a batch, drops the changes
// that change nothing, journals the before-images and sends the writes.
func (s *session) commit(ctx context.Context, batch []*change) error {
	var refs []*firestore.DocumentRef
	var unknown []*change
	for _, c := range batch {
		if !c.known {
			refs = append(refs, s.r.c.Doc(c.path))
			unknown = append(unknown, c)
		}
	}
	if len(refs) > 0 {
		snaps, err := s.r.c.GetAll(ctx, refs)
		if err != nil {
			return errs.Wrap(err, "read", unknown[0].path)
		}
		for i, c := range unknown {
			if snaps[i].Exists() {
				c.before, c.beforeUT = snaps[i].Data(), snaps[i].UpdateTime
			}
			if c.mutate != nil {
				after, err := c.mutate(deepCopyMap(c.before))
				if err != nil {
					return errs.Wrap(err, "migrate", c.path)
				}
				c.after = after
			}
			c.known = true
		}
	}
	live := batch[:0:0]
	for _, c := range batch {
		if c.before == nil && c.after == nil {
			continue
		}
		if c.before != nil && c.after != nil && value.Equal(c.before, c.after) {
			continue
		}
		live = append(live, c)
	}
	if len(live) > 0 {
		var seq int64
		if s.j != nil {
			seq = s.j.nextSeq()
			if err := s.j.intent(ctx, seq, live); err != nil {
				return err
			}
		}
		items := make([]write.Item, len(live))
		for i, c := range live {
			items[i] = write.Item{Name: c.path, Data: &batchItem{c: c, seq: seq}}
		}
		res, err := s.w.Write(ctx, items)
		if err == nil {
			for _, r := range res {
				if r.Err != nil {
					err = r.Err
					break
				}
			}
		}
		if err != nil {
			return err
		}
		if s.j != nil {
			if err := s.j.ok(ctx, seq, items[0].Data.(*batchItem).ut); err != nil {
				return err
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range live {
		switch c.kind() {
		case "create":
			s.rep.Created++
		case "delete":
			s.rep.Deleted++
		case "update":
			s.rep.Changed++
		}
		if s.r.o.AllDiffs || len(s.rep.Diffs) < s.r.o.Samples {
			s.rep.Diffs = append(s.rep.Diffs, diffOf(c))
		}
	}
	if s.r.o.Progress != nil {
		s.r.o.Progress(s.m.ID, int64(len(batch)))
	}
	return nil
}

type batchItem struct {
	c   *change
	seq int64
	ut  time.Time
}

// captureSender is the dry run's Sender: the writes are captured (counted
// and diffed by the session), never sent.
type captureSender struct{}

func (captureSender) Commit(context.Context, []write.Item) error { return nil }

// fencedSender commits a batch atomically with an update of one lane of
// the lock, preconditioned on its update time, so that the batch is
// refused once another holder took the lease.
type fencedSender struct{ s *session }

func (f *fencedSender) Commit(ctx context.Context, items []write.Item) error {
	l := f.s.lease
	if err := l.err(); err != nil {
		return err
	}
	lane := <-l.lanes
	defer func() { l.lanes <- lane }()
	l.mu.Lock()
	laneUT := l.laneUT[lane]
	l.mu.Unlock()
	seq := items[0].Data.(*batchItem).seq
	r := f.s.r
	//lint:ignore SA1019 an atomic batch with preconditions is what fencing needs; BulkWriter is not atomic
	b := r.c.Batch()
	b.Update(r.laneRef(lane), []firestore.Update{{Path: "seq", Value: seq}, {Path: "token", Value: l.token}}, firestore.LastUpdateTime(laneUT))
	for _, it := range items {
		c := it.Data.(*batchItem).c
		ref := r.c.Doc(c.path)
		switch {
		case c.before == nil:
			b.Create(ref, c.after)
		case c.after == nil && c.force:
			b.Delete(ref)
		case c.after == nil:
			b.Delete(ref, firestore.LastUpdateTime(c.beforeUT))
		case c.force:
			b.Set(ref, c.after)
		default:
			b.Update(ref, updates(c.before, c.after), firestore.LastUpdateTime(c.beforeUT))
		}
	}
	res, err := b.Commit(ctx)
	if err == nil {
		l.mu.Lock()
		l.laneUT[lane] = res[0].UpdateTime
		l.mu.Unlock()
		for _, it := range items {
			it.Data.(*batchItem).ut = res[0].UpdateTime
		}
		return nil
	}
	switch status.Code(err) {
	case codes.FailedPrecondition, codes.NotFound, codes.AlreadyExists:
	default:
		return err
	}
	// Refused: the lease was taken, an earlier attempt of this batch was
	// applied (its answer lost), or a document changed since it was read.
	snap, gerr := r.laneRef(lane).Get(ctx)
	if gerr != nil {
		return gerr
	}
	if t, _ := snap.DataAt("token"); t != l.token {
		l.mu.Lock()
		l.lost = ErrLeaseLost
		l.mu.Unlock()
		return errs.Wrap(ErrLeaseLost, "commit", items[0].Name)
	}
	if sq, _ := snap.DataAt("seq"); sq == seq && !snap.UpdateTime.Equal(laneUT) {
		l.mu.Lock()
		l.laneUT[lane] = snap.UpdateTime
		l.mu.Unlock()
		for _, it := range items {
			it.Data.(*batchItem).ut = snap.UpdateTime
		}
		return nil
	}
	return errs.New(errs.ErrConflict, "commit", items[0].Name,
		"a document of the batch changed since the migration read it (%v) (hint: run up again: it resumes and reads it afresh)", status.Convert(err).Message())
}

// updates is the Update of before into after: each top-level field that
// differs is set, each that is gone deleted.
func updates(before, after map[string]any) []firestore.Update {
	var u []firestore.Update
	for k, v := range after {
		if old, ok := before[k]; !ok || !value.Equal(old, v) {
			u = append(u, firestore.Update{FieldPath: firestore.FieldPath{k}, Value: v})
		}
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			u = append(u, firestore.Update{FieldPath: firestore.FieldPath{k}, Value: firestore.Delete})
		}
	}
	return u
}

func diffOf(c *change) Diff {
	d := Diff{Path: c.path, Op: c.kind()}
	keys := map[string]bool{}
	for k := range c.before {
		keys[k] = true
	}
	for k := range c.after {
		keys[k] = true
	}
	for _, k := range sortedKeys(keys) {
		b, bok := c.before[k]
		a, aok := c.after[k]
		if bok && aok && value.Equal(a, b) {
			continue
		}
		fd := FieldDiff{Field: k}
		if bok {
			fd.Before, _ = value.Encode(b)
		}
		if aok {
			fd.After, _ = value.Encode(a)
		}
		d.Fields = append(d.Fields, fd)
	}
	return d
}

func deepCopyMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	return deepCopy(m).(map[string]any)
}

// rel returns a document's path relative to the database root.
func (r *Runner) rel(full string) string {
	if i := strings.Index(full, "/documents/"); i >= 0 {
		return full[i+len("/documents/"):]
	}
	return full
}

// runPlan runs a declarative plan in s. A plan without where filters is
// read in parallel ranges of document names when the runner has a bulk
// connection (Options.DB); otherwise through one query stream.
func (s *session) runPlan(ctx context.Context, p *plan) error {
	if s.r.o.DB != nil && len(p.where) == 0 {
		return s.runRanged(p)
	}
	it := p.query(s.r.c).Documents(ctx)
	defer it.Stop()
	for {
		snap, err := it.Next()
		if err == iterator.Done {
			break
		}
		if err != nil {
			s.g.Wait()
			return errs.Wrap(err, "query", s.m.ID)
		}
		changes, err := s.unit(p, s.r.rel(snap.Ref.Path), nil, snap.Data, snap.UpdateTime)
		if err != nil {
			s.g.Wait()
			return err
		}
		if err := s.add(changes...); err != nil {
			return err
		}
	}
	return s.wait()
}

// runRanged runs a plan without filters in s, reading its documents with
// internal/transfer.Read: range queries over document names, run in
// parallel (Options.ReadParallel), each of which fills batches of its
// own. Reading, journaling and writing overlap; what is read ahead of the
// writes is bounded by the batches in flight (Options.Parallel) and one
// batch per range being read.
func (s *session) runRanged(p *plan) error {
	readers := s.r.o.ReadParallel
	if readers <= 0 {
		readers = 8
		if s.r.o.DB.Emulator() {
			// The emulator answers each query by scanning the whole
			// collection, whatever its range: one stream reads it once.
			readers = 1
		}
	}
	pending := make([][]*change, readers)
	var mu sync.Mutex
	var unitErr error // the first document the plan failed on
	err := transfer.Read(s.gctx, s.r.o.DB, transfer.ReadOptions{Collection: p.collection, Group: p.group, Parallel: readers},
		func(w int, d transfer.Doc) error {
			changes, err := s.unit(p, d.Path, d.Data, nil, d.UpdateTime)
			if err != nil {
				mu.Lock()
				unitErr = cmp.Or(unitErr, err)
				mu.Unlock()
				return err
			}
			if len(changes) > 0 {
				s.addTo(&pending[w], changes)
			}
			return nil
		})
	if err != nil {
		// A batch that failed ends the read (its context is the
		// batches'): then its error says what happened.
		werr := s.g.Wait()
		switch {
		case s.lease != nil && s.lease.err() != nil:
			return errs.Wrap(s.lease.err(), "migrate", s.m.ID)
		case unitErr != nil:
			return unitErr
		case werr != nil:
			return werr
		}
		return errs.Wrap(err, "query", s.m.ID)
	}
	for w := range pending {
		s.flushFrom(&pending[w])
	}
	return s.wait()
}

// unit applies the plan to one document read at path, with its data and
// update time, and returns the changes of its unit: nil for a document to
// leave alone (fbadmin's own state, or done by an earlier run). The data
// is given in the value format (raw, kept as the journal's before-image)
// or, when raw is nil, by data.
func (s *session) unit(p *plan, path string, raw json.RawMessage, data func() map[string]any, ut time.Time) ([]*change, error) {
	if strings.HasPrefix(path, s.r.o.Collection+"/") {
		return nil, nil // fbadmin's own state, for a collection group of the same ID
	}
	s.mu.Lock()
	s.rep.Read++
	done := s.done[path]
	if done {
		s.rep.Resumed++
	}
	s.mu.Unlock()
	if done {
		return nil, nil
	}
	var before map[string]any
	if raw != nil {
		var err error
		if before, err = value.DecodeMap(raw); err != nil {
			return nil, errs.Wrap(err, "read", path)
		}
	} else {
		before = data()
	}
	out, err := p.apply(path, s.r.root, before)
	if err != nil {
		return nil, err
	}
	src := &change{path: path, src: path, before: before, beforeRaw: raw, beforeUT: ut, after: out.data, known: true}
	changes := make([]*change, 0, len(out.copies)+1)
	for _, cp := range out.copies {
		changes = append(changes, &change{path: cp.path, src: path, after: cp.data})
	}
	// Copies first: a move never deletes its source before the copy is
	// in the same atomic batch anyway, but the journal reads naturally.
	return append(changes, src), nil
}

// loadDone reads a journal left by an interrupted run: the units it
// completed, and the last batch number. With record, the outcomes it
// looks up are appended to the journal. A batch without its outcome is
// looked up: applied when its first document no longer is as the journal
// says it was before.
func (r *Runner) loadDone(ctx context.Context, path string, prior *Report, record bool) (map[string]bool, int64, error) {
	batches, err := readJournal(ctx, path)
	if err != nil {
		return nil, 0, err
	}
	done := map[string]bool{}
	var last int64
	for _, b := range batches {
		last = max(last, b.seq)
		applied := b.committed
		if !applied && len(b.changes) > 0 {
			applied, err = r.batchApplied(ctx, b)
			if err != nil {
				return nil, 0, err
			}
			if applied && record {
				// Record the outcome, for down.
				snap, err := r.c.Doc(b.changes[0].Path).Get(ctx)
				if err != nil && status.Code(err) != codes.NotFound {
					return nil, 0, err
				}
				if snap != nil && snap.Exists() {
					b.ut = snap.UpdateTime
				}
				j, err := openJournal(path, 0)
				if err != nil {
					return nil, 0, err
				}
				if !b.ut.IsZero() {
					err = j.ok(ctx, b.seq, b.ut)
				}
				j.close()
				if err != nil {
					return nil, 0, err
				}
			}
		}
		if applied {
			for _, c := range b.changes {
				switch c.Op {
				case "create":
					prior.Created++
				case "update":
					prior.Changed++
				case "delete":
					prior.Deleted++
				}
				if c.Src != "" {
					done[c.Src] = true
				} else {
					done[c.Path] = true
				}
			}
		}
	}
	return done, last, nil
}

// batchApplied tells whether a journaled batch whose outcome was not
// recorded was applied: its first document is no longer in its before
// state.
func (r *Runner) batchApplied(ctx context.Context, b *jBatch) (bool, error) {
	c := b.changes[0]
	snap, err := r.c.Doc(c.Path).Get(ctx)
	if err != nil && status.Code(err) != codes.NotFound {
		return false, errs.Wrap(err, "read", c.Path)
	}
	exists := snap != nil && snap.Exists()
	if c.BeforeUT == nil { // absent before
		return exists, nil
	}
	return !exists || !snap.UpdateTime.Equal(*c.BeforeUT), nil
}

// restoreChanges builds the changes that undo a journal: for each
// document, its first before-image, preconditioned on the update time the
// migration left it with.
func (r *Runner) restoreChanges(ctx context.Context, path string) ([]*change, map[string]left, error) {
	batches, err := readJournal(ctx, path)
	if err != nil {
		return nil, nil, err
	}
	first := map[string]*jChange{}
	lastUT := map[string]left{}
	var order []string
	for _, b := range batches {
		if !b.committed {
			applied, err := r.batchApplied(ctx, b)
			if err != nil {
				return nil, nil, err
			}
			if !applied {
				continue
			}
		}
		for i := range b.changes {
			c := &b.changes[i]
			if _, ok := first[c.Path]; !ok {
				first[c.Path] = c
				order = append(order, c.Path)
			}
			if c.Op == "delete" {
				lastUT[c.Path] = left{} // absent since
			} else {
				lastUT[c.Path] = left{ut: b.ut, data: c.After} // ut zero when not recorded
			}
		}
	}
	var out []*change
	for i := len(order) - 1; i >= 0; i-- {
		p := order[i]
		c := first[p]
		ch := &change{path: p, src: p}
		if string(c.Before) != "null" {
			m, err := value.DecodeMap(c.Before)
			if err != nil {
				return nil, nil, errs.New(errs.ErrInvalid, "journal", path, "before-image of %s: %v", p, err)
			}
			ch.after = m
		}
		out = append(out, ch)
	}
	return out, lastUT, nil
}

// left is how a migration left a document: its update time and data.
type left struct {
	ut   time.Time
	data []byte // value format; nil: deleted
}

// unchanged reports whether a document read now, with data and update
// time ut, is as the migration left it: same update time, or same data
// (a later migration's down restored it so).
func (l left) unchanged(data map[string]any, ut time.Time) bool {
	if !l.ut.IsZero() && ut.Equal(l.ut) {
		return true
	}
	if l.data == nil {
		return false
	}
	m, err := value.DecodeMap(l.data)
	return err == nil && value.Equal(m, data)
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sortStrings(out)
	return out
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func (r *Runner) logf(format string, args ...any) {
	if r.o.Log != nil {
		r.o.Log(fmt.Sprintf(format, args...))
	}
}
