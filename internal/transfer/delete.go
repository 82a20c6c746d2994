package transfer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	pb "cloud.google.com/go/firestore/apiv1/firestorepb"

	"github.com/fbadmin/fbadmin/internal/errs"
)

// DeleteOptions controls Delete.
type DeleteOptions struct {
	// Paths are documents or collections (relative or full names).
	Paths []string
	// Recursive deletes everything below each path: subcollections at any
	// depth, including those under documents that do not exist. Without
	// it, only the named documents are deleted and collections are refused.
	Recursive bool
	// DryRun lists (through OnPath) and counts what would be deleted.
	DryRun bool
	// OnPath receives each document path that is deleted (or would be, in a
	// dry run), one call at a time, in no particular order across scans.
	OnPath func(rel string)
	// Parallel scans (default as for Export) and Concurrency batches in
	// flight (default 16).
	Parallel, Concurrency int
	// Journal is the state file of a recursive delete ("" for the default
	// under the user's cache directory, [NoJournal] for none). It records
	// the job while it runs and is removed when it completes.
	Journal string
	// Resume continues an interrupted recursive delete: documents already
	// deleted are gone, so the job simply deletes what is left, adding the
	// earlier run's count to the stats.
	Resume    bool
	Progress  Progress
	OnFailure func(Failure)
	// Shard, when set, deletes only this shard's part of the trees (see
	// [Shard]): every shard plans and reads the names at ReadTime, which
	// is then required, and deletes the documents that existed then.
	// Documents created after ReadTime are left; a last unsharded run
	// removes them. Each shard keeps its own journal.
	Shard    Shard
	ReadTime time.Time
	// Flow paces the writes (see [Flow]).
	Flow Flow
}

type deleteState struct {
	Job      string    `json:"fbadmin_delete_job"`
	Database string    `json:"database"`
	Paths    []string  `json:"paths"`
	Started  time.Time `json:"started"`
	Deleted  int64     `json:"deleted"`
}

// DeleteJournalPath returns the default state file of a recursive delete of
// paths (relative, cleaned) in db.
func DeleteJournalPath(db *DB, paths []string) string {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	h := sha256.Sum256([]byte(db.Name() + "\x00" + strings.Join(paths, "\x00")))
	return filepath.Join(dir, "fbadmin", "jobs", "delete-"+hex.EncodeToString(h[:8])+".json")
}

// ErrNothingToResume is returned by Delete with Resume when no interrupted
// job matches.
var ErrNothingToResume = errors.New("no interrupted delete of these paths to resume")

// Delete deletes documents, or whole trees with Recursive. Names are read
// with parallel queries (every document below a path, whatever its
// collection) and deleted in batches of 500, many at once.
func Delete(ctx context.Context, db *DB, o DeleteOptions) (Stats, error) {
	start := time.Now()
	var c counters
	prog := orNoProgress(o.Progress)
	if o.Parallel < 1 {
		o.Parallel = defaultParallel(db)
	}
	var rels []string
	for _, raw := range o.Paths {
		rel, err := db.CleanPath(raw, false)
		if err != nil {
			return Stats{}, err
		}
		if !o.Recursive && !IsDocPath(rel) {
			return Stats{}, errs.New(errs.ErrInvalid, "delete", rel, "is a collection: add --recursive to delete it with all its documents")
		}
		rels = append(rels, rel)
	}
	if o.Recursive {
		if err := checkOverlap(rels); err != nil {
			return Stats{}, err
		}
	}
	if !o.Shard.Whole() && !o.Recursive {
		return Stats{}, errs.New(errs.ErrInvalid, "delete", o.Shard.String(), "sharding is for recursive deletes (--recursive)")
	}
	if err := checkShard("delete", o.Shard, o.ReadTime); err != nil {
		return Stats{}, err
	}
	o.ReadTime = o.ReadTime.Truncate(time.Microsecond)
	if o.Shard.Whole() {
		o.ReadTime = time.Time{} // reads see the latest state
	}

	var state *deleteState
	statePath := o.Journal
	if o.Recursive && !o.DryRun && statePath != NoJournal {
		if statePath == "" {
			key := rels
			if !o.Shard.Whole() {
				key = append(slices.Clone(rels), "shard "+o.Shard.String())
			}
			statePath = DeleteJournalPath(db, key)
		}
		var err error
		state, err = loadDeleteState(statePath, db, rels, o.Resume)
		if err != nil {
			return Stats{}, err
		}
		c.resumed.Store(state.Deleted)
	}

	var docs []string
	var scans []scan
	for _, rel := range rels {
		if IsDocPath(rel) && o.Shard.K == 0 {
			docs = append(docs, db.full(rel)) // single documents are shard 0's
		}
		if !o.Recursive {
			continue
		}
		var s []scan
		var err error
		planner, parts := db.planner(o.Shard), shardParts(o.Shard, o.Parallel)
		if IsDocPath(rel) {
			s, err = planner.planTree(ctx, rel, o.ReadTime, parts)
		} else {
			s, err = planner.planCollection(ctx, rel, o.ReadTime, parts)
		}
		if err != nil {
			return Stats{}, err
		}
		scans = append(scans, o.Shard.pick(s)...)
	}
	if o.Recursive && len(docs) > 0 {
		// A named document that does not exist (a phantom parent of
		// subcollections) is not counted, in a dry run or for real.
		var existing []string
		if err := db.getDocs(ctx, docs, o.ReadTime, func(d *pb.Document) error {
			existing = append(existing, d.GetName())
			return nil
		}); err != nil {
			return Stats{}, err
		}
		docs = existing
	}
	countCtx, stopCount := context.WithCancel(ctx)
	defer stopCount()
	if wantsTotal(o.Progress) {
		go func() {
			n, err := db.countScans(countCtx, scans, o.ReadTime)
			if err == nil {
				prog.SetTotal(n + int64(len(docs)))
			}
		}()
	}

	var pathMu sync.Mutex
	emitPath := func(name string) {
		if o.OnPath != nil {
			pathMu.Lock()
			defer pathMu.Unlock()
			o.OnPath(db.rel(name))
		}
	}
	var err error
	if o.DryRun {
		err = func() error {
			for _, d := range docs {
				emitPath(d)
				c.docs.Add(1)
				prog.Add(1, 0)
			}
			return db.runScans(ctx, scans, scanOptions{namesOnly: true, readTime: o.ReadTime}, o.Parallel, func(_ int, d *pb.Document) error {
				emitPath(d.GetName())
				c.docs.Add(1)
				prog.Add(1, 0)
				return nil
			})
		}()
	} else {
		w := newWriter(db, ModeSet, &c, prog, o.OnFailure, o.Flow, o.Shard)
		p := newPipe(w, o.Concurrency, o.Parallel+1)
		err = p.run(ctx, func(ctx context.Context, emit func(int, item) error) error {
			for _, d := range docs {
				emitPath(d)
				if err := emit(o.Parallel, item{name: d, delete: true}); err != nil {
					return err
				}
			}
			return db.runScans(ctx, scans, scanOptions{namesOnly: true, readTime: o.ReadTime}, o.Parallel, func(slot int, d *pb.Document) error {
				emitPath(d.GetName())
				return emit(slot, item{name: d.GetName(), delete: true})
			})
		})
	}
	st := c.stats(start)
	if state != nil {
		state.Deleted += st.Docs
		if err == nil && st.Failed == 0 {
			os.Remove(statePath)
		} else {
			saveDeleteState(statePath, state)
		}
	}
	return st, err
}

func loadDeleteState(path string, db *DB, rels []string, resume bool) (*deleteState, error) {
	st := &deleteState{Job: "1", Database: db.Name(), Paths: rels, Started: time.Now().UTC()}
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if resume {
			return nil, errs.New(errs.ErrNotFound, "resume delete", strings.Join(rels, " "), "%w (no journal at %s): run it without --resume", ErrNothingToResume, path)
		}
	case err != nil:
		return nil, err
	default:
		var old deleteState
		if json.Unmarshal(b, &old) == nil && old.Database == db.Name() {
			if !resume {
				// A new run of an interrupted job: it is a resume in all but
				// name, so count from zero but keep going.
				break
			}
			st = &old
		}
	}
	if err := saveDeleteState(path, st); err != nil {
		return nil, err
	}
	return st, nil
}

func saveDeleteState(path string, st *deleteState) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	b, _ := json.Marshal(st)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
