package listeners

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
)

// Store keeps an engine's checkpoints and journals somewhere other than
// files under [Options.StateDir]: a store that several processes share
// lets one of them take over a listener, with its state, from another that
// died (`fbadmin listen` with replicas keeps them in Firestore documents,
// each write fenced by the listener's lease).
//
// Names are slash-separated and relative: "LISTENER/SINK.ckpt" for a
// checkpoint, ".journal/SINK.wal" for a sink's journal. The engine calls
// Read when it starts, Append before each batch it passes to a sink (the
// journal), and Write for checkpoints and to compact a journal. An error
// from Write or Append is retried as a failed file write is; a store that
// refuses writes once the process has lost the right to make them (a
// fencing token that moved on) makes the engine's sends wait until it is
// stopped.
type Store interface {
	// Read returns the content stored under name, or an error wrapping
	// fs.ErrNotExist when there is none.
	Read(ctx context.Context, name string) ([]byte, error)
	// Write replaces the content of name, atomically: a reader sees the
	// old content or the new one.
	Write(ctx context.Context, name string, data []byte) error
	// Append adds data after the content of name (creating it), durably,
	// before it returns.
	Append(ctx context.Context, name string, data []byte) error
}

// loadCheckpointFrom reads a checkpoint through a store.
func loadCheckpointFrom(ctx context.Context, st Store, name string) (Checkpoint, error) {
	b, err := st.Read(ctx, name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNoCheckpoint
	}
	if err != nil {
		return nil, fmt.Errorf("read checkpoint %s: %w", name, err)
	}
	cp, err := decodeCheckpoint(b)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s is damaged (%v): remove it to start this listener afresh", name, err)
	}
	return cp, nil
}

// openStoreJournal opens the journal kept under name in st.
func openStoreJournal(ctx context.Context, st Store, name string) (*journal, []journalEntry, error) {
	b, err := st.Read(ctx, name)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("read journal %s: %w", name, err)
	}
	entries, _ := decodeJournal(b)
	// appended: the first compaction rewrites what the previous holder left.
	return &journal{path: name, store: st, appended: len(b) > 0}, entries, nil
}
