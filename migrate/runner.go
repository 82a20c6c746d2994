package migrate

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"sort"
	"strings"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/api/iterator"

	"github.com/fbadmin/fbadmin/internal/errs"
	"github.com/fbadmin/fbadmin/internal/transfer"
)

// Migration is one migration: a declarative file or a Go function.
type Migration struct {
	ID          string
	Version     int64
	Description string
	// Checksum identifies the migration's content: drift is an applied
	// migration whose checksum changed. Go migrations have the one given
	// to [Register], or none.
	Checksum string
	// Source is the file's path, or "go".
	Source string
	up     *plan
	down   *plan
	fn     Func
}

// HasDown reports whether the migration states an explicit down.
func (m *Migration) HasDown() bool { return m.down != nil }

// Options configures a [Runner]. The zero value gives the defaults.
type Options struct {
	// Collection is the state collection (default _fbadmin_migrations).
	Collection string
	// JournalDir is the directory of the journals (default
	// .fbadmin-journal).
	JournalDir string
	// Holder names this process in the lock (default user@host pid N).
	Holder string
	// LeaseTTL is the lock's lease (default 30 s), renewed every third.
	LeaseTTL time.Duration
	// Wait is how long to wait for a lock held by another (0: refuse at
	// once).
	Wait time.Duration
	// Parallel is the number of batches in flight (default 4, at most 8).
	Parallel int
	// DB, when set, is a bulk connection to the same database, through
	// which the declarative migrations without where filters read their
	// documents: ReadParallel range queries over document names at once
	// (default 8; 1 on the emulator, which scans the whole collection for
	// each query, whatever its range), instead of one query stream.
	DB           *transfer.DB
	ReadParallel int
	// Samples is the number of diffs each report keeps (default 3);
	// AllDiffs keeps them all.
	Samples  int
	AllDiffs bool
	// Progress, when set, is told of each batch's documents.
	Progress func(id string, docs int64)
	// Log, when set, receives lines about waiting and resuming.
	Log func(msg string)

	noRenew bool // tests: a stalled holder
}

// Runner applies, plans and rolls back migrations on one database.
type Runner struct {
	c    *firestore.Client
	o    Options
	root string // projects/P/databases/D/documents
}

// New returns a Runner on c's database.
func New(c *firestore.Client, o Options) *Runner {
	if o.Collection == "" {
		o.Collection = "_fbadmin_migrations"
	}
	if o.JournalDir == "" {
		o.JournalDir = ".fbadmin-journal"
	}
	if o.Holder == "" {
		host, _ := os.Hostname()
		name := os.Getenv("USER")
		if u, err := user.Current(); err == nil && name == "" {
			name = u.Username
		}
		o.Holder = fmt.Sprintf("%s@%s pid %d", name, host, os.Getpid())
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = 30 * time.Second
	}
	if o.Parallel <= 0 {
		o.Parallel = 4
	}
	o.Parallel = min(o.Parallel, maxLanes)
	if o.Samples == 0 {
		o.Samples = 3
	}
	full := c.Collection("x").Path
	return &Runner{c: c, o: o, root: strings.TrimSuffix(full, "/x")}
}

// Status values of a migration.
const (
	StatusPending    = "pending"
	StatusRunning    = "running" // interrupted, or running now: up resumes it
	StatusApplied    = "applied"
	StatusFailed     = "failed" // up resumes it
	StatusRolledBack = "rolled_back"
	StatusDrifted    = "drifted" // applied, and its file changed since
	StatusMissing    = "missing" // applied, and its file is gone
)

// State is a migration's record in the state collection.
type State struct {
	ID         string    `firestore:"id" json:"id"`
	Status     string    `firestore:"status" json:"status"`
	Checksum   string    `firestore:"checksum" json:"checksum,omitempty"`
	Read       int64     `firestore:"read" json:"read"`
	Created    int64     `firestore:"created" json:"created"`
	Changed    int64     `firestore:"changed" json:"changed"`
	Deleted    int64     `firestore:"deleted" json:"deleted"`
	By         string    `firestore:"by" json:"by,omitempty"`
	StartedAt  time.Time `firestore:"started_at" json:"started_at,omitzero"`
	FinishedAt time.Time `firestore:"finished_at" json:"finished_at,omitzero"`
	Journal    string    `firestore:"journal" json:"journal,omitempty"`
	Error      string    `firestore:"error" json:"error,omitempty"`
}

// Entry is one line of [Runner.Status].
type Entry struct {
	ID          string `json:"id"`
	Description string `json:"description,omitempty"`
	// Status is one of the Status constants.
	Status string `json:"status"`
	// FileChecksum is the current file's, when it differs from the
	// recorded one.
	FileChecksum string `json:"file_checksum,omitempty"`
	State        *State `json:"state,omitempty"`
}

func (r *Runner) stateRef(id string) *firestore.DocumentRef {
	return r.c.Collection(r.o.Collection).Doc(id)
}

// states reads every migration's state.
func (r *Runner) states(ctx context.Context) (map[string]*State, error) {
	out := map[string]*State{}
	it := r.c.Collection(r.o.Collection).Documents(ctx)
	defer it.Stop()
	for {
		snap, err := it.Next()
		if err == iterator.Done {
			return out, nil
		}
		if err != nil {
			return nil, errs.Wrap(err, "read state", r.o.Collection)
		}
		if snap.Ref.ID == lockID {
			continue
		}
		var st State
		if err := snap.DataTo(&st); err != nil {
			return nil, errs.New(errs.ErrInvalid, "read state", r.o.Collection+"/"+snap.Ref.ID, "%v", err)
		}
		out[snap.Ref.ID] = &st
	}
}

// Status lists the migrations, known and recorded, with their status.
func (r *Runner) Status(ctx context.Context, ms []*Migration) ([]Entry, error) {
	states, err := r.states(ctx)
	if err != nil {
		return nil, err
	}
	var out []Entry
	seen := map[string]bool{}
	for _, m := range ms {
		seen[m.ID] = true
		e := Entry{ID: m.ID, Description: m.Description, Status: StatusPending, State: states[m.ID]}
		if st := states[m.ID]; st != nil {
			e.Status = st.Status
			if st.Status == StatusRolledBack {
				e.Status = StatusPending
			}
			if st.Status == StatusApplied && m.Checksum != "" && st.Checksum != m.Checksum {
				e.Status, e.FileChecksum = StatusDrifted, m.Checksum
			}
		}
		out = append(out, e)
	}
	for id, st := range states {
		if !seen[id] && st.Status != StatusRolledBack {
			out = append(out, Entry{ID: id, Status: StatusMissing, State: st})
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		vi, _ := ParseID(out[i].ID)
		vj, _ := ParseID(out[j].ID)
		if vi != vj {
			return vi < vj
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// UpOptions are the options of [Runner.Up].
type UpOptions struct {
	// DryRun runs the migrations with their writes captured, not sent.
	DryRun bool
	// To stops after the migration with this ID.
	To string
	// AcceptDrift records the current checksum of these drifted
	// migrations, without running them again.
	AcceptDrift []string
}

// Up applies the pending migrations in order, resuming a failed or
// interrupted one from its journal. It refuses to start while an applied
// migration drifted. With DryRun nothing is written: not the data, the
// state, the lock or a journal.
func (r *Runner) Up(ctx context.Context, ms []*Migration, o UpOptions) ([]*Report, error) {
	var l *lease
	if !o.DryRun {
		var err error
		if l, err = r.acquire(ctx); err != nil {
			return nil, err
		}
		defer l.release(context.WithoutCancel(ctx))
	}
	entries, err := r.Status(ctx, ms)
	if err != nil {
		return nil, err
	}
	byID := map[string]*Entry{}
	var drifted []string
	for i := range entries {
		e := &entries[i]
		byID[e.ID] = e
		if e.Status != StatusDrifted {
			continue
		}
		if contains(o.AcceptDrift, e.ID) && !o.DryRun {
			if _, err := r.stateRef(e.ID).Update(ctx, []firestore.Update{{Path: "checksum", Value: e.FileChecksum}}); err != nil {
				return nil, errs.Wrap(err, "accept drift", e.ID)
			}
			e.Status = StatusApplied
			continue
		}
		drifted = append(drifted, e.ID)
	}
	if len(drifted) > 0 {
		return nil, errs.New(errs.ErrConflict, "up", strings.Join(drifted, ", "),
			"applied, and the file changed since (drifted): nothing was run (hint: restore the file as it was; or run down --to before it then up to apply the new version; or accept the file as it is with up --accept-drift %s)", drifted[0])
	}
	if o.To != "" && byID[o.To] == nil {
		return nil, errs.New(errs.ErrNotFound, "up --to", o.To, "no such migration")
	}
	var reps []*Report
	for _, m := range ms {
		e := byID[m.ID]
		if e.Status == StatusApplied {
			if m.ID == o.To {
				break
			}
			continue
		}
		rep, err := r.apply(ctx, m, e.State, l, o.DryRun)
		if rep != nil {
			reps = append(reps, rep)
		}
		if err != nil {
			return reps, err
		}
		if m.ID == o.To {
			break
		}
	}
	return reps, nil
}

// apply runs one migration, resuming it from its journal when an earlier
// run left one.
func (r *Runner) apply(ctx context.Context, m *Migration, st *State, l *lease, dry bool) (*Report, error) {
	start := time.Now()
	var j *journal
	var done map[string]bool
	var prior Report // counts of the earlier runs, from the journal
	resumable := st != nil && (st.Status == StatusRunning || st.Status == StatusFailed) && st.Journal != "" &&
		(strings.Contains(st.Journal, "://") || fileExists(st.Journal))
	if dry && resumable {
		// A plan of an interrupted migration shows what its resume
		// would do: the documents done are skipped (nothing recorded).
		var err error
		if done, _, err = r.loadDone(ctx, st.Journal, &prior, false); err != nil {
			return nil, err
		}
	}
	if !dry {
		jpath := journalName(r.o.JournalDir, r.project(), r.database(), m.ID, start)
		var last int64
		if resumable {
			var err error
			if done, last, err = r.loadDone(ctx, st.Journal, &prior, true); err != nil {
				return nil, err
			}
			jpath = st.Journal
			r.logf("%s: resuming from %s (%d documents done)", m.ID, jpath, len(done))
		}
		var err error
		if j, err = openJournal(jpath, last); err != nil {
			return nil, err
		}
		defer j.close()
		state := map[string]any{"id": m.ID, "status": StatusRunning, "checksum": m.Checksum, "by": r.o.Holder,
			"started_at": start, "journal": jpath, "error": ""}
		if err := r.writeState(ctx, l, m.ID, state); err != nil {
			return nil, err
		}
	}
	s := r.newSession(ctx, m, dry, l, j, done)
	var err error
	if m.fn != nil {
		err = m.fn(s.gctx, &Tx{s: s})
		if werr := s.wait(); err == nil {
			err = werr
		}
	} else {
		err = s.runPlan(ctx, m.up)
	}
	rep := s.rep
	rep.Elapsed = time.Since(start).Seconds()
	rep.Action = "applied"
	if dry {
		rep.Action = "planned"
	}
	if j != nil {
		rep.Journal = j.path
	}
	if dry {
		return rep, err
	}
	state := map[string]any{"read": rep.Read, "created": prior.Created + rep.Created, "changed": prior.Changed + rep.Changed,
		"deleted": prior.Deleted + rep.Deleted, "finished_at": time.Now()}
	if err != nil {
		state["status"], state["error"] = StatusFailed, err.Error()
		if errors.Is(err, ErrLeaseLost) {
			return rep, err // the state is the new holder's now
		}
	} else {
		state["status"] = StatusApplied
	}
	if serr := r.writeState(context.WithoutCancel(ctx), l, m.ID, state); serr != nil && err == nil {
		err = serr
	}
	if err != nil {
		return rep, errs.Wrap(err, "up", m.ID)
	}
	return rep, nil
}

// writeState merges fields into a migration's state, in a transaction
// that checks the lease: a holder that lost it cannot record anything.
func (r *Runner) writeState(ctx context.Context, l *lease, id string, fields map[string]any) error {
	err := l.update(ctx, r.stateRef(id), fields, map[string]any{"expires": time.Now().Add(r.o.LeaseTTL)})
	return errs.Wrap(err, "write state", id)
}

// DownOptions are the options of [Runner.Down].
type DownOptions struct {
	// Steps is the number of applied migrations to roll back, the latest
	// first (default 1); To rolls back every one after the migration with
	// that ID instead ("0" for all).
	Steps int
	To    string
	// Force overwrites documents changed since the migration wrote them.
	Force bool
	// Explicit runs the files' stated down instead of restoring journals.
	Explicit bool
	DryRun   bool
}

// Down rolls back applied migrations, the latest first: each document the
// migration touched is restored exactly from its journal's before-image
// (those it created are deleted), unless it changed since, which is
// reported (Report.Conflicts) and left alone, unless Force.
func (r *Runner) Down(ctx context.Context, ms []*Migration, o DownOptions) ([]*Report, error) {
	var l *lease
	if !o.DryRun {
		var err error
		if l, err = r.acquire(ctx); err != nil {
			return nil, err
		}
		defer l.release(context.WithoutCancel(ctx))
	}
	entries, err := r.Status(ctx, ms)
	if err != nil {
		return nil, err
	}
	byID := map[string]*Migration{}
	for _, m := range ms {
		byID[m.ID] = m
	}
	var targets []Entry
	for i := len(entries) - 1; i >= 0; i-- {
		e := entries[i]
		if e.State == nil || e.Status == StatusPending {
			continue
		}
		if o.To != "" {
			if e.ID == o.To {
				break
			}
			if v, _ := ParseID(e.ID); o.To == "0" || v > versionOf(o.To) {
				targets = append(targets, e)
			}
			continue
		}
		targets = append(targets, e)
		if len(targets) >= max(o.Steps, 1) {
			break
		}
	}
	var reps []*Report
	var conflicts int
	for _, e := range targets {
		rep, err := r.rollback(ctx, e, byID[e.ID], l, o)
		if rep != nil {
			reps = append(reps, rep)
			conflicts += len(rep.Conflicts)
		}
		if err != nil {
			return reps, err
		}
	}
	if conflicts > 0 {
		return reps, errs.New(errs.ErrConflict, "down", "", "%d documents changed since the migration wrote them were left as they are (hint: see conflicts in -o json; overwrite them with down --force)", conflicts)
	}
	return reps, nil
}

func versionOf(id string) int64 {
	v, _ := ParseID(id)
	return v
}

func (r *Runner) rollback(ctx context.Context, e Entry, m *Migration, l *lease, o DownOptions) (*Report, error) {
	start := time.Now()
	if m == nil {
		m = &Migration{ID: e.ID}
	}
	s := r.newSession(ctx, m, o.DryRun, l, nil, nil)
	var err error
	if o.Explicit {
		if m.down == nil {
			return nil, errs.New(errs.ErrInvalid, "down --explicit", e.ID, "the migration states no down (hint: leave out --explicit to restore it from its journal)")
		}
		err = s.runPlan(ctx, m.down)
	} else {
		err = s.restore(ctx, e.State.Journal, o.Force)
	}
	rep := s.rep
	rep.Action, rep.Elapsed = "rolled back", time.Since(start).Seconds()
	if o.DryRun {
		rep.Action = "planned rollback"
		return rep, err
	}
	if err != nil {
		return rep, errs.Wrap(err, "down", e.ID)
	}
	if len(rep.Conflicts) == 0 {
		err = r.writeState(context.WithoutCancel(ctx), l, e.ID, map[string]any{"status": StatusRolledBack, "finished_at": time.Now(), "by": r.o.Holder})
	}
	return rep, err
}

// restore undoes a journal in s.
func (s *session) restore(ctx context.Context, jpath string, force bool) error {
	changes, lastUT, err := s.r.restoreChanges(ctx, jpath)
	if err != nil {
		return err
	}
	for i := 0; i < len(changes); i += 300 {
		part := changes[i:min(i+300, len(changes))]
		refs := make([]*firestore.DocumentRef, len(part))
		for k, c := range part {
			refs[k] = s.r.c.Doc(c.path)
		}
		snaps, err := s.r.c.GetAll(ctx, refs)
		if err != nil {
			return errs.Wrap(err, "read", part[0].path)
		}
		for k, c := range part {
			s.rep.Read++
			snap := snaps[k]
			if snap.Exists() {
				c.before, c.beforeUT = snap.Data(), snap.UpdateTime
			}
			c.known = true
			want := lastUT[c.path]
			var changed bool
			if c.before == nil {
				// Absent now: as the migration left it when it deleted
				// it, else deleted since.
				changed = want.data != nil && c.after != nil
			} else {
				changed = !want.unchanged(c.before, snap.UpdateTime)
			}
			if changed && !force {
				s.rep.Conflicts = append(s.rep.Conflicts, c.path)
				continue
			}
			if changed && c.before != nil {
				c.force = true
			}
			if err := s.add(c); err != nil {
				return err
			}
		}
	}
	return s.wait()
}

// Plan is Up with DryRun.
func (r *Runner) Plan(ctx context.Context, ms []*Migration) ([]*Report, error) {
	return r.Up(ctx, ms, UpOptions{DryRun: true})
}

// Verify re-runs the plan of every applied migration, with its writes
// captured, and returns the reports of those that would still change
// something; the error is an ErrConflict one when there are any.
func (r *Runner) Verify(ctx context.Context, ms []*Migration) ([]*Report, error) {
	entries, err := r.Status(ctx, ms)
	if err != nil {
		return nil, err
	}
	byID := map[string]Entry{}
	for _, e := range entries {
		byID[e.ID] = e
	}
	var reps []*Report
	var left []string
	for _, m := range ms {
		if byID[m.ID].Status != StatusApplied {
			continue
		}
		rep, err := r.apply(ctx, m, nil, nil, true)
		if err != nil {
			return reps, err
		}
		rep.Action = "verified"
		if rep.Created+rep.Changed+rep.Deleted > 0 {
			rep.Action = "left to change"
			left = append(left, m.ID)
		}
		reps = append(reps, rep)
	}
	if len(left) > 0 {
		return reps, errs.New(errs.ErrConflict, "verify", strings.Join(left, ", "), "documents are left to change (hint: run up again, or see the diffs with verify -o json)")
	}
	return reps, nil
}

func (r *Runner) project() string {
	p := strings.TrimPrefix(r.root, "projects/")
	return p[:strings.IndexByte(p, '/')]
}

func (r *Runner) database() string {
	_, d, _ := strings.Cut(r.root, "/databases/")
	return strings.TrimSuffix(d, "/documents")
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func sortStrings(s []string) { sort.Strings(s) }
