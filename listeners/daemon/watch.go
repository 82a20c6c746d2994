package daemon

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"

	"cloud.google.com/go/firestore"

	"github.com/fbadmin/fbadmin/internal/errs"
	"github.com/fbadmin/fbadmin/listeners"
	"github.com/fbadmin/fbadmin/listeners/stdoutsink"
)

// WatchOptions configure [Watch].
type WatchOptions struct {
	// Name of the listener in the events; default "watch".
	Name string
	// Initial is what the first run emits; default snapshot.
	Initial listeners.Initial
	// StateDir keeps the checkpoint, so that a later Watch with the same
	// directory and name resumes where this one stopped. Empty means a
	// temporary directory removed at the end: every run starts afresh.
	StateDir string
	// Logger receives the engine's logs; nil discards them.
	Logger *slog.Logger
}

// Watch runs the engine with one listener on query and the stdout sink
// writing NDJSON events to out, until ctx is done; it then drains and
// returns nil. It is `fbadmin fs watch`. The client is not closed.
func Watch(ctx context.Context, client *firestore.Client, query func(*firestore.Client) firestore.Query, out io.Writer, opts WatchOptions) error {
	if opts.Name == "" {
		opts.Name = "watch"
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.StateDir == "" {
		dir, err := os.MkdirTemp("", "fbadmin-watch-")
		if err != nil {
			return errs.Wrap(err, "watch", "temporary state directory")
		}
		defer os.RemoveAll(dir)
		opts.StateDir = dir
	}
	eng, err := listeners.New(listeners.Options{StateDir: opts.StateDir, Client: client, Logger: opts.Logger,
		BatchSize: 100})
	if err != nil {
		return err
	}
	if err := eng.AddSink("stdout", stdoutsink.New(out)); err != nil {
		return err
	}
	if err := eng.AddListener(listeners.Spec{Name: opts.Name, Query: query, Initial: opts.Initial, Sinks: []string{"stdout"}}); err != nil {
		return err
	}
	err = eng.Run(ctx)
	if errors.Is(err, listeners.ErrDrainIncomplete) {
		return nil
	}
	return err
}
