// Package filesink is the [listeners.Sink] that appends events to a file as
// NDJSON (one [listeners.Event] per line), rotating it by size.
//
// # Rotation
//
// Before a batch would take the file past MaxSize bytes, the file is synced
// and renamed PATH.1 (PATH.1 becomes PATH.2, and so on; the oldest beyond
// MaxFiles is deleted), and a new PATH is started. A batch is never split
// across two files, so one larger than MaxSize makes a file of its own.
//
// # Fsync policy
//
//   - always: each Send returns after fsync. An acknowledged event survives
//     a power cut. Slowest.
//   - interval (default): the file is synced every FsyncInterval and on
//     rotation, Flush and Close. A process crash loses nothing (the data
//     is in the kernel); a power cut may lose up to FsyncInterval of
//     acknowledged events.
//   - never: the kernel writes back when it likes.
package filesink

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/fbadmin/fbadmin/listeners"
)

// Fsync policies.
const (
	FsyncAlways   = "always"
	FsyncInterval = "interval"
	FsyncNever    = "never"
)

// Options configure a file sink.
type Options struct {
	// Path of the file written; its directory is created if missing.
	Path string
	// MaxSize in bytes before rotation; 0 means 100 MiB, negative never
	// rotates.
	MaxSize int64
	// MaxFiles is how many rotated files are kept; 0 means 10.
	MaxFiles int
	// Fsync is always, interval (the default) or never.
	Fsync string
	// FsyncInterval for the interval policy; 0 means 1s.
	FsyncInterval time.Duration
}

// Sink appends NDJSON to a file.
type Sink struct {
	opts  Options
	mu    sync.Mutex
	f     *os.File
	size  int64
	dirty bool // written since the last sync
	buf   []byte
	err   error // sticky sync error from the background syncer, reported by the next Send

	stop chan struct{}
	done chan struct{}
}

// New opens (appending to) the file and, for the interval policy, starts
// the background syncer.
func New(opts Options) (*Sink, error) {
	if opts.Path == "" {
		return nil, errors.New("file sink: no path")
	}
	if opts.MaxSize == 0 {
		opts.MaxSize = 100 << 20
	}
	if opts.MaxFiles <= 0 {
		opts.MaxFiles = 10
	}
	switch opts.Fsync {
	case "":
		opts.Fsync = FsyncInterval
	case FsyncAlways, FsyncInterval, FsyncNever:
	default:
		return nil, fmt.Errorf("file sink %s: fsync %q: use always, interval or never", opts.Path, opts.Fsync)
	}
	if opts.FsyncInterval <= 0 {
		opts.FsyncInterval = time.Second
	}
	s := &Sink{opts: opts}
	if err := os.MkdirAll(filepath.Dir(opts.Path), 0o755); err != nil {
		return nil, fmt.Errorf("file sink: %w", err)
	}
	if err := s.open(); err != nil {
		return nil, err
	}
	if opts.Fsync == FsyncInterval {
		s.stop, s.done = make(chan struct{}), make(chan struct{})
		go s.syncLoop()
	}
	return s, nil
}

func (s *Sink) open() error {
	f, err := os.OpenFile(s.opts.Path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("file sink: open: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("file sink: %w", err)
	}
	s.f, s.size = f, st.Size()
	return nil
}

func (s *Sink) syncLoop() {
	defer close(s.done)
	t := time.NewTicker(s.opts.FsyncInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.mu.Lock()
			if err := s.syncLocked(); err != nil && s.err == nil {
				s.err = err
			}
			s.mu.Unlock()
		}
	}
}

func (s *Sink) syncLocked() error {
	if !s.dirty || s.f == nil {
		return nil
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("file sink: fsync %s: %w", s.opts.Path, err)
	}
	s.dirty = false
	return nil
}

// Send appends the batch with one write, rotating first if needed.
func (s *Sink) Send(ctx context.Context, events []listeners.Event) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		// A background fsync failed. Batches acknowledged since the last
		// good sync may not be on disk; nothing can make them so after a
		// failed fsync. Fail this batch so that the error is logged and
		// counted, and go on with the next attempt.
		err := s.err
		s.err = nil
		return err
	}
	if s.f == nil {
		return errors.New("file sink: closed")
	}
	buf := s.buf[:0]
	for _, ev := range events {
		var err error
		if buf, err = listeners.AppendNDJSON(buf, ev); err != nil {
			return fmt.Errorf("file sink: encode event %s: %w", ev.ID, err)
		}
	}
	if len(buf) == 0 {
		return nil
	}
	if s.opts.MaxSize > 0 && s.size > 0 && s.size+int64(len(buf)) > s.opts.MaxSize {
		if err := s.rotateLocked(); err != nil {
			return err
		}
	}
	n, err := s.f.Write(buf)
	s.size += int64(n)
	s.dirty = true
	if err != nil {
		return fmt.Errorf("file sink: write %s: %w", s.opts.Path, err)
	}
	if s.opts.Fsync == FsyncAlways {
		if err := s.syncLocked(); err != nil {
			return err
		}
	}
	if cap(buf) <= 4<<20 {
		s.buf = buf
	}
	return nil
}

func (s *Sink) rotateLocked() error {
	if s.opts.Fsync != FsyncNever {
		if err := s.syncLocked(); err != nil {
			return err
		}
	}
	if err := s.f.Close(); err != nil {
		return fmt.Errorf("file sink: close %s: %w", s.opts.Path, err)
	}
	s.f = nil
	name := func(i int) string { return s.opts.Path + "." + strconv.Itoa(i) }
	if err := os.Remove(name(s.opts.MaxFiles)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("file sink: rotate: %w", err)
	}
	for i := s.opts.MaxFiles - 1; i >= 1; i-- {
		if err := os.Rename(name(i), name(i+1)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("file sink: rotate: %w", err)
		}
	}
	if err := os.Rename(s.opts.Path, name(1)); err != nil {
		return fmt.Errorf("file sink: rotate: %w", err)
	}
	if d, err := os.Open(filepath.Dir(s.opts.Path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return s.open()
}

// Flush syncs the file now (for every policy but never).
func (s *Sink) Flush(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opts.Fsync == FsyncNever {
		return nil
	}
	return s.syncLocked()
}

// Close syncs (unless the policy is never) and closes the file.
func (s *Sink) Close() error {
	if s.stop != nil {
		close(s.stop)
		<-s.done
		s.stop = nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return nil
	}
	var err error
	if s.opts.Fsync != FsyncNever {
		err = s.syncLocked()
	}
	if cerr := s.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("file sink: close %s: %w", s.opts.Path, cerr)
	}
	s.f = nil
	return err
}
