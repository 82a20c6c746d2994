package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/fbadmin/fbadmin/listeners/daemon"
)

type listenOptions struct {
	config  string
	check   bool
	verbose bool
}

func listenCommand() *cli.Command {
	return &cli.Command{
		Name:      "listen",
		Usage:     "run the change-stream daemon: deliver Firestore changes to files, webhooks, Pub/Sub or stdout",
		UsageText: "fbadmin listen --config FILE [--check]",
		Description: `Follows the queries of the config file and delivers every document change to its sinks,
at least once, with a checkpoint per listener and sink so that a restart emits exactly
what was missed. SIGTERM or SIGINT drains and exits 0; a second signal aborts (exit 130).
Health, readiness and Prometheus metrics are served on 127.0.0.1:9464 by default.
The config format, the event format and the delivery guarantee are in docs/listen.md.
With an 'ha' section, several 'fbadmin listen' processes share the listeners through leases in
Firestore and take over those of a replica that dies (docs/listen.md, "Running N replicas").

Subcommands: 'listen backfill' fills a listener's sinks from the database at a read time;
'listen reconcile' compares them with the database and, with --repair, fixes them.

Examples:
   fbadmin listen --config listen.yaml --check
   fbadmin listen --config listen.yaml
   FBADMIN_WEBHOOK_SECRET=... fbadmin listen --config /etc/fbadmin/listen.yaml`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Usage: "the YAML config `FILE` (required)", EnvVars: []string{"FBADMIN_LISTEN_CONFIG"}},
			&cli.BoolFlag{Name: "check", Usage: "validate the config and exit, connecting to nothing"},
		},
		Subcommands: []*cli.Command{listenBackfillCommand(), listenReconcileCommand()},
		Action: func(c *cli.Context) error {
			if c.String("config") == "" {
				return usagef("listen needs --config FILE (or FBADMIN_LISTEN_CONFIG); see docs/listen.md for a sample")
			}
			return runListen(c.Context, listenOptions{config: c.String("config"), check: c.Bool("check"), verbose: c.Bool("verbose")}, stdout(c), c.App.ErrWriter)
		},
	}
}

// runListen validates the config, and unless opts.check, runs the daemon
// until a signal drains it (a second one aborts the drain). Events of stdout sinks go to out, logs to logw.
func runListen(ctx context.Context, opts listenOptions, out, logw io.Writer) error {
	cfg, err := daemon.LoadConfig(opts.config)
	if err != nil {
		return err
	}
	if opts.check {
		_, err := fmt.Fprintln(out, cfg.Summary())
		return err
	}
	if opts.verbose {
		cfg.Log.Level = "debug"
	}
	if logw == nil {
		logw = os.Stderr
	}
	abortable.Store(true)
	defer abortable.Store(false)
	return daemon.Run(ctx, cfg, daemon.Options{Logger: daemon.NewLogger(cfg.Log, logw), Stdout: out, Abort: secondSignal})
}

type backfillOptions struct {
	config, listener string
	sinks            []string
	readTime, from   string
}

func listenBackfillCommand() *cli.Command {
	return &cli.Command{
		Name:      "backfill",
		Usage:     "fill a listener's sinks from the database at a read time, so that the daemon continues from there",
		UsageText: "fbadmin listen backfill --config FILE --listener NAME [--sink NAME]... [--read-time TIME | --from EXPORT]",
		Description: `Reads the listener's query once, as one consistent snapshot at a read time, sends every
document to the listener's sinks (or those named by --sink), and writes their checkpoints as if
the daemon had delivered exactly that state: the next 'fbadmin listen' emits what changed since
the read time and nothing else. Over an existing checkpoint only what differs is sent (removals
included). Run it while the daemon is stopped (both write the checkpoints); an interrupted
backfill writes no checkpoint and can simply be run again (its events carry the same IDs, and
sinks that keep versions, such as postgres, change nothing for a version they hold).
The query is read in parallel ranges of document IDs (listeners without where filters), while
up to as many batches as a database sink has connections are written at once.
With --from, the documents come from an NDJSON export made by 'fbadmin fs export' (a file,
gs:// or s3:// object, .gz/.zst, or a split export's manifest or prefix) and cost no Firestore
reads; only the documents of the listener's collection (or collection group) are sent, and
listeners with where filters are refused. The daemon then sends what changed since the export.
Progress goes to stderr every 10 s. Prints a summary: the read time, the documents read, and
per sink what was sent and removed.

Examples:
   fbadmin listen backfill --config listen.yaml --listener users
   fbadmin listen backfill --config listen.yaml --listener users --sink warehouse --read-time 2026-12-05T10:00:00Z
   fbadmin listen backfill -c listen.yaml --listener users -o json
   fbadmin listen backfill -c listen.yaml --listener users --from gs://backups/2026-12-05/`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Usage: "the YAML config `FILE`", Required: true, EnvVars: []string{"FBADMIN_LISTEN_CONFIG"}},
			&cli.StringFlag{Name: "listener", Aliases: []string{"l"}, Usage: "the listener `NAME` to backfill", Required: true},
			&cli.StringSliceFlag{Name: "sink", Usage: "only this sink `NAME` of the listener (repeatable; default: all of its sinks)"},
			&cli.StringFlag{Name: "read-time", Usage: "read the database as of `TIME` (RFC 3339, or a duration ago such as 10m; default: one second ago)"},
			&cli.StringFlag{Name: "from", Usage: "read the documents from the NDJSON export `EXPORT` (file, URL, or split export) instead of the database"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("listen backfill takes no arguments (got %q): name the listener with --listener", c.Args().First())
			}
			opts := backfillOptions{config: c.String("config"), listener: c.String("listener"), sinks: c.StringSlice("sink"), readTime: c.String("read-time"), from: c.String("from")}
			if opts.from != "" && opts.readTime != "" {
				return usagef("--read-time and --from exclude each other: an export holds one state already")
			}
			return withDeps(c, func(ctx context.Context, d *deps) error { return runBackfill(ctx, opts, d) })
		},
	}
}

// backfillSummary is what `listen backfill` prints.
type backfillSummary struct {
	Listener  string         `json:"listener"`
	ReadTime  time.Time      `json:"read_time"`
	Documents int            `json:"documents"`
	Sent      map[string]int `json:"sent"`
	Removed   map[string]int `json:"removed"`
}

func runBackfill(ctx context.Context, opts backfillOptions, d *deps) error {
	cfg, err := daemon.LoadConfig(opts.config)
	if err != nil {
		return err
	}
	rt, err := parseReadTime(opts.readTime)
	if err != nil {
		return err
	}
	logger := daemon.NewLogger(cfg.Log, d.stderr)
	res, err := daemon.Backfill(ctx, cfg, opts.listener, daemon.BackfillOptions{Sinks: opts.sinks, ReadTime: rt, From: opts.from, Logger: logger, Stdout: d.stdout})
	if err != nil {
		return readTimeError(err, opts.readTime)
	}
	return d.printer().One(backfillSummary{Listener: opts.listener, ReadTime: res.ReadTime, Documents: res.Documents, Sent: res.Sent, Removed: res.Removed})
}

type reconcileOptions struct {
	config, listener string
	sinks            []string
	readTime         string
	repair           bool
}

func listenReconcileCommand() *cli.Command {
	return &cli.Command{
		Name:      "reconcile",
		Usage:     "compare a listener's sinks with the database at a read time, and with --repair make them equal",
		UsageText: "fbadmin listen reconcile --config FILE --listener NAME [--sink NAME]... [--read-time TIME] [--repair]",
		Description: `Reads the listener's query at a read time in document-name order and, alongside, what each
of its postgres and file sinks holds (or those named by --sink) in the same order, and prints
each document on which they differ: missing (the query returns it, the sink lacks it), extra
(the sink holds it, the query does not return it) or stale (another update time, or other
data), with both update times. A summary per sink goes to stderr. Exit 3 when differences
were found and not repaired; 0 when there were none, or --repair fixed them all.

--repair sends, through each sink as the daemon would, the document for a missing or stale
one and a removal for an extra one; a sink holding a version newer than the database's is
reported but cannot be moved back. Repair while the daemon is stopped; checkpoints are kept.

Examples:
   fbadmin listen reconcile --config listen.yaml --listener users -o ndjson
   fbadmin listen reconcile --config listen.yaml --listener users --sink warehouse --repair
   fbadmin listen reconcile -c listen.yaml --listener users --read-time 2026-12-05T10:00:00Z -o table`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Usage: "the YAML config `FILE`", Required: true, EnvVars: []string{"FBADMIN_LISTEN_CONFIG"}},
			&cli.StringFlag{Name: "listener", Aliases: []string{"l"}, Usage: "the listener `NAME` to compare", Required: true},
			&cli.StringSliceFlag{Name: "sink", Usage: "only this sink `NAME` of the listener (repeatable; default: its postgres and file sinks)"},
			&cli.StringFlag{Name: "read-time", Usage: "read the database as of `TIME` (RFC 3339, or a duration ago such as 10m; default: one second ago)"},
			&cli.BoolFlag{Name: "repair", Usage: "send the events that make the sinks equal to the database"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("listen reconcile takes no arguments (got %q): name the listener with --listener", c.Args().First())
			}
			opts := reconcileOptions{config: c.String("config"), listener: c.String("listener"), sinks: c.StringSlice("sink"),
				readTime: c.String("read-time"), repair: c.Bool("repair")}
			return withDeps(c, func(ctx context.Context, d *deps) error { return runReconcile(ctx, opts, d) })
		},
	}
}

// reconcileDiff is one line of `listen reconcile`'s output.
type reconcileDiff struct {
	Sink               string     `json:"sink"`
	Path               string     `json:"path"`
	Kind               string     `json:"kind"`
	DatabaseUpdateTime *time.Time `json:"database_update_time"`
	SinkUpdateTime     *time.Time `json:"sink_update_time"`
	Repaired           bool       `json:"repaired"`
}

func runReconcile(ctx context.Context, opts reconcileOptions, d *deps) error {
	cfg, err := daemon.LoadConfig(opts.config)
	if err != nil {
		return err
	}
	rt, err := parseReadTime(opts.readTime)
	if err != nil {
		return err
	}
	logger := daemon.NewLogger(cfg.Log, d.stderr)
	pr := d.printer()
	pr.Empty = "no differences"
	var perr error
	res, err := daemon.Reconcile(ctx, cfg, opts.listener, daemon.ReconcileOptions{Sinks: opts.sinks, ReadTime: rt, Repair: opts.repair, Logger: logger,
		Report: func(df daemon.Difference) {
			out := reconcileDiff{Sink: df.Sink, Path: df.Path, Kind: string(df.Kind), Repaired: df.Repaired}
			if !df.DatabaseTime.IsZero() {
				out.DatabaseUpdateTime = &df.DatabaseTime
			}
			if !df.SinkTime.IsZero() {
				out.SinkUpdateTime = &df.SinkTime
			}
			if err := pr.Item(out); err != nil && perr == nil {
				perr = err
			}
		}})
	if err != nil {
		return readTimeError(err, opts.readTime)
	}
	if err := pr.Close(); err != nil {
		return err
	}
	if perr != nil {
		return perr
	}
	names := make([]string, 0, len(res.Sinks))
	for name := range res.Sinks {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		c := res.Sinks[name]
		fmt.Fprintf(d.stderr, "reconcile %s at %s: sink %s: %d documents in the database, %d in the sink: %d missing, %d extra, %d stale",
			opts.listener, res.ReadTime.Format(time.RFC3339Nano), name, c.Documents, c.Rows, c.Missing, c.Extra, c.Stale)
		if opts.repair {
			fmt.Fprintf(d.stderr, ", %d repaired", c.Repaired)
		}
		fmt.Fprintln(d.stderr)
	}
	if n := res.Unrepaired(); n > 0 {
		hint := "run again with --repair to fix them through the sinks"
		if opts.repair {
			hint = "what is left the sinks refuse: they hold a newer version or removal than the database's at the read time; reconcile at a later --read-time, or fix those rows by hand"
		}
		return partialError{fmt.Errorf("listen reconcile %s: %d difference(s) between the sinks and the database (hint: %s)", opts.listener, n, hint)}
	}
	return nil
}
