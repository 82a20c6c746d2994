package transfer

import (
	"sync/atomic"
	"time"
)

// Progress receives a job's progress. Implementations must be safe for
// concurrent use; the engine calls Add once per chunk of documents, not per
// document.
type Progress interface {
	// SetTotal announces how many documents the job will handle, when that
	// is known (it may come after the first Add).
	SetTotal(docs int64)
	// Add reports documents done (written, exported, deleted, skipped or
	// failed) and the bytes they took in the file, if any.
	Add(docs, bytes int64)
}

// TotalWanter is an optional interface of a Progress: a progress display
// that shows no total (a log line, nothing at all) says so, and the engine
// then skips the count query that finds the total (it costs about as much
// as reading the documents on the emulator).
type TotalWanter interface {
	WantsTotal() bool
}

func wantsTotal(p Progress) bool {
	if p == nil {
		return false
	}
	if tw, ok := p.(TotalWanter); ok {
		return tw.WantsTotal()
	}
	return true
}

// A Stepper is an optional interface of a Progress: it is told when a job
// reaches a step where being stopped matters for resuming it, so that
// tests can kill the job exactly there.
type Stepper interface {
	Step(name string)
}

// The steps of an import that a [Stepper] is told of.
const (
	// StepJournalRemove: every line is written and journaled; the
	// journal is about to be removed.
	StepJournalRemove = "journal-remove"
	// StepJournalRemoved: the journal is gone; Import is about to return.
	StepJournalRemoved = "journal-removed"
)

func step(p Progress, name string) {
	if s, ok := p.(Stepper); ok {
		s.Step(name)
	}
}

type noProgress struct{}

func (noProgress) SetTotal(int64)   {}
func (noProgress) Add(int64, int64) {}

func orNoProgress(p Progress) Progress {
	if p == nil {
		return noProgress{}
	}
	return p
}

// Stats summarises a job.
type Stats struct {
	Docs    int64         `json:"docs"`              // exported, written or deleted
	Skipped int64         `json:"skipped,omitempty"` // already present (skip-existing, resumed create)
	Failed  int64         `json:"failed,omitempty"`  // documents that could not be written or deleted
	Resumed int64         `json:"resumed,omitempty"` // lines a journal said were done before
	Bytes   int64         `json:"bytes"`             // bytes read or written
	Elapsed time.Duration `json:"-"`
	Seconds float64       `json:"seconds"`
}

func (s *Stats) finish(start time.Time) {
	s.Elapsed = time.Since(start)
	s.Seconds = s.Elapsed.Seconds()
}

// counters are the live, concurrently updated form of Stats.
type counters struct {
	docs, skipped, failed, resumed, bytes atomic.Int64
}

func (c *counters) stats(start time.Time) Stats {
	s := Stats{Docs: c.docs.Load(), Skipped: c.skipped.Load(), Failed: c.failed.Load(), Resumed: c.resumed.Load(), Bytes: c.bytes.Load()}
	s.finish(start)
	return s
}

// Failure is one document that could not be written or deleted.
type Failure struct {
	Line int    // line of the input file (import), 0 otherwise
	Path string // document path relative to the database root
	Err  error
}
