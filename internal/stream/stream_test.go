package stream

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/fbadmin/fbadmin/internal/emutest"
)

type recorder struct {
	mu      sync.Mutex
	firsts  [][]string
	reasons []string
	changes int
}

func (r *recorder) handle(_ context.Context, s *Snapshot) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s.First {
		var ids []string
		for _, d := range s.Docs {
			ids = append(ids, d.Ref.ID)
		}
		r.firsts = append(r.firsts, ids)
	} else {
		r.changes += len(s.Changes)
	}
	return nil
}

func (r *recorder) restarted(reason string) {
	r.mu.Lock()
	r.reasons = append(r.reasons, reason)
	r.mu.Unlock()
}

func (r *recorder) snapshot() ([][]string, []string, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]string(nil), r.firsts...), append([]string(nil), r.reasons...), r.changes
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func seed(t *testing.T, c *firestore.Client, n int) firestore.Query {
	t.Helper()
	col := c.Collection("items")
	for i := range n {
		if _, err := col.Doc(fmt.Sprintf("d%02d", i)).Set(context.Background(), map[string]any{"i": int64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	return col.Query
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// TestWatchdogRecyclesSilentStream: a stream that delivers nothing for the
// watchdog interval is reopened, and its consumer gets a new first
// snapshot with every document.
func TestWatchdogRecyclesSilentStream(t *testing.T) {
	f := emutest.NewFirestore(t)
	q := seed(t, f.Client, 3)
	r := &recorder{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Client: f.Client, Query: q, Watchdog: 300 * time.Millisecond, Log: quiet,
			Restarted: r.restarted}, r.handle)
	}()
	waitFor(t, "two first snapshots", func() bool { firsts, _, _ := r.snapshot(); return len(firsts) >= 2 })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v, want nil after cancel", err)
	}
	firsts, reasons, _ := r.snapshot()
	for i, ids := range firsts {
		if len(ids) != 3 {
			t.Errorf("first snapshot %d has %v, want the 3 documents", i, ids)
		}
	}
	if len(reasons) == 0 || reasons[0] != ReasonWatchdog {
		t.Errorf("restart reasons %v, want watchdog first", reasons)
	}
}

// TestFirstSnapshotMissingDocumentsIsReopened: a first snapshot that lacks
// documents (as the emulator's streams sometimes do) is never handed on:
// the stream is reopened until a complete one arrives, under every
// verification mode but never.
func TestFirstSnapshotMissingDocumentsIsReopened(t *testing.T) {
	for _, v := range []Verify{VerifyFirst, VerifyAlways, VerifyAuto} {
		t.Run(string(v), func(t *testing.T) {
			t.Parallel()
			f := emutest.NewFirestore(t)
			q := seed(t, f.Client, 5)
			r := &recorder{}
			var mu sync.Mutex
			lost := 0
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() {
				done <- Run(ctx, Options{Client: f.Client, Query: q, Verify: v, Log: quiet, Restarted: r.restarted,
					Tamper: func(docs []*firestore.DocumentSnapshot) []*firestore.DocumentSnapshot {
						mu.Lock()
						defer mu.Unlock()
						if lost < 2 { // the first two openings lose a document
							lost++
							return docs[1:]
						}
						return docs
					}}, r.handle)
			}()
			waitFor(t, "a first snapshot", func() bool { firsts, _, _ := r.snapshot(); return len(firsts) >= 1 })
			// A live change still arrives on the reopened stream.
			if _, err := f.Client.Collection("items").Doc("new").Set(ctx, map[string]any{"i": int64(9)}); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the change", func() bool { _, _, n := r.snapshot(); return n >= 1 })
			cancel()
			<-done
			firsts, reasons, _ := r.snapshot()
			if len(firsts) != 1 || len(firsts[0]) != 5 {
				t.Fatalf("first snapshots handed on: %v, want one with the 5 documents", firsts)
			}
			if len(reasons) != 2 || reasons[0] != ReasonInconsistent || reasons[1] != ReasonInconsistent {
				t.Fatalf("restart reasons %v, want two inconsistent", reasons)
			}
		})
	}
	t.Run("never", func(t *testing.T) {
		f := emutest.NewFirestore(t)
		q := seed(t, f.Client, 5)
		r := &recorder{}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- Run(ctx, Options{Client: f.Client, Query: q, Verify: VerifyNever, Log: quiet,
				Tamper: func(docs []*firestore.DocumentSnapshot) []*firestore.DocumentSnapshot { return docs[1:] }}, r.handle)
		}()
		waitFor(t, "a first snapshot", func() bool { firsts, _, _ := r.snapshot(); return len(firsts) >= 1 })
		cancel()
		<-done
		if firsts, _, _ := r.snapshot(); len(firsts[0]) != 4 {
			t.Fatalf("with verify never the first snapshot is handed on as is; got %v", firsts[0])
		}
	})
}

// TestPermanentErrorEndsRun: a query the backend refuses ends Run with its
// error when Permanent says so.
func TestPermanentErrorEndsRun(t *testing.T) {
	f := emutest.NewFirestore(t)
	q := f.Client.Collection("items").Where("", "==", 1) // an empty field path
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := Run(ctx, Options{Client: f.Client, Query: q, Log: quiet,
		Permanent: func(error) bool { return true }}, func(context.Context, *Snapshot) error { return nil })
	if err == nil || ctx.Err() != nil {
		t.Fatalf("Run of a refused query = %v (context: %v), want its error at once", err, ctx.Err())
	}
}
