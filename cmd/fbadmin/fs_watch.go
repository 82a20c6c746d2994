package main

import (
	"context"
	"log/slog"

	"cloud.google.com/go/firestore"
	"github.com/urfave/cli/v2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/fbadmin/fbadmin/internal/errs"
	"github.com/fbadmin/fbadmin/listeners"
	"github.com/fbadmin/fbadmin/listeners/daemon"
)

type watchOptions struct {
	queryBase
	ChangesOnly bool
	StateDir    string
	Name        string
}

func fsWatchCommand() *cli.Command {
	return &cli.Command{
		Name:      "watch",
		Usage:     "print change events of a collection, query or document as NDJSON until interrupted",
		ArgsUsage: "PATH_OR_QUERY",
		Flags: append(queryFilterFlags(),
			&cli.BoolFlag{Name: "changes-only", Usage: "do not print the documents that exist at the start, only later changes"},
			&cli.StringFlag{Name: "state-dir", Usage: "keep a checkpoint in `DIR`: a later watch with the same DIR prints only what changed meanwhile"},
			&cli.StringFlag{Name: "name", Value: "watch", Usage: "listener name in the events (and the checkpoint)"},
		),
		Description: `Runs the change-stream engine of 'fbadmin listen' with one listener and the
stdout sink: one JSON object per change,
   {"id":"...","type":"added|modified|removed","listener":"watch","path":"users/alice",
    "data":{...lossless...},"update_time":"...","read_time":"..."}
PATH_OR_QUERY is a collection (with optional --where/--or filters), a collection
ID with --group, or a document. Ctrl-C stops it cleanly (exit 0).

Examples:
   fbadmin fs watch users
   fbadmin fs watch users --where 'age >= 18' --changes-only
   fbadmin fs watch comments --group --where 'flagged == true'
   fbadmin fs watch users/alice
   fbadmin fs watch orders --state-dir ~/.fbadmin/watch-orders | jq -c 'select(.type=="added")'`,
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef("watch needs one collection, collection ID (--group) or document path")
			}
			opts := watchOptions{queryBase: queryBaseFrom(c), ChangesOnly: c.Bool("changes-only"), StateDir: c.String("state-dir"), Name: c.String("name")}
			return withDeps(c, func(ctx context.Context, d *deps) error { return runWatch(ctx, opts, d) })
		},
	}
}

func runWatch(ctx context.Context, opts watchOptions, d *deps) error {
	if !listeners.ValidName(opts.Name) {
		return usagef("--name %q: use letters, digits, '.', '_' and '-'", opts.Name)
	}
	client, err := d.firestore(ctx)
	if err != nil {
		return err
	}
	base := opts.queryBase
	var docID string
	if !base.Group {
		if coll, id, err := splitDocPath(base.Collection); err == nil {
			base.Collection, docID = coll, id
		}
	}
	q, err := base.build(client)
	if err != nil {
		return err
	}
	fq := q.Raw()
	if docID != "" {
		fq = fq.WherePath(firestore.FieldPath{firestore.DocumentID}, "==", client.Collection(base.Collection).Doc(docID))
	}
	initial := listeners.InitialSnapshot
	if opts.ChangesOnly {
		initial = listeners.InitialChangesOnly
	}
	logger := d.log
	if !d.g.Verbose {
		logger = slog.New(slog.NewTextHandler(d.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	what := base.Collection
	switch {
	case docID != "":
		what += "/" + docID
	case base.Group:
		what = "the collection group " + what
	}
	if d.as != nil {
		// The watch engine retries a stream that fails, as a daemon
		// must; a query the rules refuse would be retried forever. Ask
		// once, as the user, before watching.
		it := fq.Limit(1).Documents(ctx)
		_, err := it.Next()
		it.Stop()
		if status.Code(err) == codes.PermissionDenied {
			return errs.Wrap(err, "watch", what)
		}
	}
	d.info("watching %s (Ctrl-C to stop)", what)
	return daemon.Watch(ctx, client, func(*firestore.Client) firestore.Query { return fq }, d.stdout, daemon.WatchOptions{
		Name: opts.Name, Initial: initial, StateDir: opts.StateDir, Logger: logger,
	})
}
