package migrate

import (
	"context"
	"strings"
	"sync"

	"cloud.google.com/go/firestore"
	"google.golang.org/api/iterator"

	"github.com/fbadmin/fbadmin/internal/errs"
)

// Func is a Go migration. It reads through the Tx (or its Client) and
// writes only through the Tx, whose writes the engine journals, fences
// and, in a dry run, captures.
type Func func(ctx context.Context, tx *Tx) error

// Writer is the seam between a Go migration and the engine: the only way
// a migration writes. The engine's implementation reads each document's
// before-image at commit time, journals it, and commits batches fenced by
// the lock; in a dry run it captures the writes instead.
type Writer interface {
	// Set replaces (or creates) the document at path with data.
	Set(ctx context.Context, path string, data map[string]any) error
	// Update changes fields of an existing document: each key is a dotted
	// field path, and a value of [Unset] removes the field.
	Update(ctx context.Context, path string, fields map[string]any) error
	// Delete deletes the document at path.
	Delete(ctx context.Context, path string) error
}

// Unset is the value that removes a field in [Writer.Update].
var Unset = unsetSentinel{}

type unsetSentinel struct{}

// Tx is what a Go migration works with: the engine's [Writer], reads, and
// whether this is a dry run.
//
// Resume: a migration that stopped part way runs again from the start,
// and every document written by the earlier run is skipped: Documents
// does not return it and writes to it are dropped. So a Go migration
// must write each document at most once, computed from what it read.
type Tx struct {
	s *session
}

var _ Writer = (*Tx)(nil)

// Client returns the Firestore client, for reads. Writes through it
// bypass the journal, the lock and the dry run: use the Tx's methods.
func (tx *Tx) Client() *firestore.Client { return tx.s.r.c }

// DryRun reports whether writes are captured rather than sent.
func (tx *Tx) DryRun() bool { return tx.s.dry }

// Documents runs fn on every document of q not already done by an
// earlier run of this migration, with its path relative to the database
// root and its data.
func (tx *Tx) Documents(ctx context.Context, q firestore.Query, fn func(path string, data map[string]any) error) error {
	it := q.Documents(ctx)
	defer it.Stop()
	for {
		snap, err := it.Next()
		if err == iterator.Done {
			return nil
		}
		if err != nil {
			return errs.Wrap(err, "query", tx.s.m.ID)
		}
		p := tx.s.r.rel(snap.Ref.Path)
		tx.s.mu.Lock()
		tx.s.rep.Read++
		done := tx.s.done[p]
		if done {
			tx.s.rep.Resumed++
		}
		tx.s.mu.Unlock()
		if done {
			continue
		}
		if err := fn(p, snap.Data()); err != nil {
			return err
		}
	}
}

func (tx *Tx) write(path string, mutate func(before map[string]any) (map[string]any, error)) error {
	path = strings.Trim(path, "/")
	if strings.Count(path, "/")%2 == 0 {
		return errs.New(errs.ErrInvalid, "write", path, "not a document path (collection/id)")
	}
	if tx.s.done[path] {
		return nil
	}
	return tx.s.add(&change{path: path, src: path, mutate: mutate})
}

// Set implements [Writer].
func (tx *Tx) Set(_ context.Context, path string, data map[string]any) error {
	data = deepCopyMap(data)
	return tx.write(path, func(map[string]any) (map[string]any, error) { return data, nil })
}

// Update implements [Writer]. Updating a missing document is an error.
func (tx *Tx) Update(_ context.Context, path string, fields map[string]any) error {
	fields = deepCopyMap(fields)
	return tx.write(path, func(before map[string]any) (map[string]any, error) {
		if before == nil {
			return nil, errs.New(errs.ErrNotFound, "update", path, "no such document")
		}
		for f, v := range fields {
			if _, ok := v.(unsetSentinel); ok {
				unsetField(before, f)
			} else {
				setField(before, f, v)
			}
		}
		return before, nil
	})
}

// Delete implements [Writer].
func (tx *Tx) Delete(_ context.Context, path string) error {
	return tx.write(path, func(map[string]any) (map[string]any, error) { return nil, nil })
}

var (
	regMu    sync.Mutex
	registry []*Migration
)

// Register adds a Go migration, run by [Run] in the order of the version
// in its ID (0007_backfill_totals). checksum, when not empty, is recorded
// and compared like a file's: change it to mark the migration drifted.
// Register panics on a bad or repeated ID, as it runs at init.
func Register(id string, fn Func, checksum ...string) {
	v, err := ParseID(id)
	if err != nil {
		panic(err)
	}
	regMu.Lock()
	defer regMu.Unlock()
	for _, m := range registry {
		if m.Version == v {
			panic("migrate: version of " + id + " already registered by " + m.ID)
		}
	}
	m := &Migration{ID: id, Version: v, Source: "go", fn: fn}
	if len(checksum) > 0 {
		m.Checksum = checksum[0]
	}
	registry = append(registry, m)
}

// Registered returns the registered Go migrations in order.
func Registered() []*Migration {
	regMu.Lock()
	defer regMu.Unlock()
	out := append([]*Migration(nil), registry...)
	sortMigrations(out)
	return out
}

// Func returns a Go migration built from fn, for a program that lists its
// migrations rather than registering them.
func NewFunc(id string, fn Func) (*Migration, error) {
	v, err := ParseID(id)
	if err != nil {
		return nil, err
	}
	return &Migration{ID: id, Version: v, Source: "go", fn: fn}, nil
}

// Command is what [Run] does.
type Command string

const (
	CommandUp     Command = "up"
	CommandPlan   Command = "plan"
	CommandDown   Command = "down"
	CommandStatus Command = "status"
	CommandVerify Command = "verify"
)

// RunOptions are the options of [Run].
type RunOptions struct {
	Options
	Command Command // default up
	Up      UpOptions
	Down    DownOptions
}

// Result is what [Run] did: the reports of up, plan, down and verify, the
// entries of status.
type Result struct {
	Reports []*Report
	Entries []Entry
}

// Run runs the registered Go migrations (and any given in extra, such as
// files from [LoadDir]) with the same lock, dry run, journal, resume and
// rollback as the CLI.
func Run(ctx context.Context, c *firestore.Client, o RunOptions, extra ...*Migration) (Result, error) {
	ms := append(Registered(), extra...)
	sortMigrations(ms)
	for i := 1; i < len(ms); i++ {
		if ms[i].Version == ms[i-1].Version {
			return Result{}, errs.New(errs.ErrInvalid, "migrations", ms[i].ID, "same version as %s", ms[i-1].ID)
		}
	}
	r := New(c, o.Options)
	var res Result
	var err error
	switch o.Command {
	case "", CommandUp:
		res.Reports, err = r.Up(ctx, ms, o.Up)
	case CommandPlan:
		res.Reports, err = r.Plan(ctx, ms)
	case CommandDown:
		res.Reports, err = r.Down(ctx, ms, o.Down)
	case CommandStatus:
		res.Entries, err = r.Status(ctx, ms)
	case CommandVerify:
		res.Reports, err = r.Verify(ctx, ms)
	default:
		err = errs.New(errs.ErrInvalid, "migrate", string(o.Command), "unknown command: use up, plan, down, status or verify")
	}
	return res, err
}
