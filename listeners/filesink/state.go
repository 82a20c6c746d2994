package filesink

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/fbadmin/fbadmin/listeners"
)

var _ listeners.StateReader = (*Sink)(nil)

// ReadState replays the events of listener in the sink's files, the oldest
// rotated file first, and calls fn for each document they leave present or
// removed (Removed set), in [listeners.ComparePaths] order. Replaying follows the rules of the
// postgres sink: an event replaces what a path holds when its update time
// is newer, or the same and it is a removal or what is held is not (so a
// removal of version T removes T, and a stale event changes nothing).
//
// The files are read once, keeping a path, an update time and a data hash
// per document in memory (about 100 bytes each, plus the path): the state
// of a file sink is bounded by its documents, not streamed. Events rotated
// out of the files kept (max_files) are gone, and so are their documents
// from the state. A last line cut short by a power cut is ignored; any
// other line that is not an event is an error naming the file and line.
func (s *Sink) ReadState(ctx context.Context, listener string, fn func(listeners.StateEntry) error) error {
	s.mu.Lock()
	held, err := s.replay(ctx, listener)
	s.mu.Unlock()
	if err != nil {
		return err
	}
	paths := make([]string, 0, len(held))
	for p := range held {
		paths = append(paths, p)
	}
	slices.SortFunc(paths, listeners.ComparePaths)
	for _, p := range paths {
		if err := ctx.Err(); err != nil {
			return err
		}
		h := held[p]
		e := listeners.StateEntry{Path: p, UpdateTime: time.Unix(0, h.ut).UTC(), Removed: h.removed}
		if h.hashed {
			e.Hash = h.hash[:]
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

// heldDoc is a document's state in the files.
type heldDoc struct {
	ut      int64
	removed bool
	hashed  bool
	hash    [16]byte
}

// files returns the sink's files, the oldest first.
func (s *Sink) files() []string {
	var out []string
	for i := s.opts.MaxFiles; i >= 1; i-- {
		name := s.opts.Path + "." + strconv.Itoa(i)
		if _, err := os.Stat(name); err == nil {
			out = append(out, name)
		}
	}
	return append(out, s.opts.Path)
}

func (s *Sink) replay(ctx context.Context, listener string) (map[string]*heldDoc, error) {
	held := map[string]*heldDoc{}
	for _, name := range s.files() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		f, err := os.Open(name)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("file sink: read state: %w", err)
		}
		err = replayFile(f, listener, held)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("file sink: read state: %s:%w", name, err)
		}
	}
	return held, nil
}

func replayFile(r io.Reader, listener string, held map[string]*heldDoc) error {
	br := bufio.NewReaderSize(r, 1<<20)
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			return nil // a last line without its newline was cut short: never acknowledged
		}
		if err != nil {
			return fmt.Errorf(" %w", err)
		}
		var ev struct {
			Type       listeners.EventType `json:"type"`
			Listener   string              `json:"listener"`
			Path       string              `json:"path"`
			Data       json.RawMessage     `json:"data"`
			UpdateTime time.Time           `json:"update_time"`
		}
		if err := json.Unmarshal(line, &ev); err != nil || ev.Path == "" {
			if err == nil {
				err = errors.New("no path")
			}
			return fmt.Errorf("%d: not an event: %v", n, err)
		}
		if ev.Listener != listener {
			continue
		}
		ut, removed := ev.UpdateTime.UnixNano(), ev.Type == listeners.Removed
		h := held[ev.Path]
		if h == nil {
			h = &heldDoc{}
			held[ev.Path] = h
		} else if ut < h.ut || (ut == h.ut && !removed && h.removed) {
			continue // older than what is held, or a version already removed
		}
		*h = heldDoc{ut: ut, removed: removed}
		if !removed && len(ev.Data) > 0 {
			h.hashed = true
			copy(h.hash[:], listeners.DataHash(ev.Data))
		}
	}
}
