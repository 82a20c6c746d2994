package main

import (
	"context"
	"fmt"
	"io"
	"os"
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

Examples:
   fbadmin listen --config listen.yaml --check
   fbadmin listen --config listen.yaml
   FBADMIN_WEBHOOK_SECRET=... fbadmin listen --config /etc/fbadmin/listen.yaml`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Usage: "the YAML config `FILE` (required)", EnvVars: []string{"FBADMIN_LISTEN_CONFIG"}},
			&cli.BoolFlag{Name: "check", Usage: "validate the config and exit, connecting to nothing"},
		},
		Subcommands: []*cli.Command{listenBackfillCommand()},
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
	readTime         string
}

func listenBackfillCommand() *cli.Command {
	return &cli.Command{
		Name:      "backfill",
		Usage:     "fill a listener's sinks from the database at a read time, so that the daemon continues from there",
		UsageText: "fbadmin listen backfill --config FILE --listener NAME [--sink NAME]... [--read-time TIME]",
		Description: `Reads the listener's query once, as one consistent snapshot at a read time, sends every
document to the listener's sinks (or those named by --sink), and writes their checkpoints as if
the daemon had delivered exactly that state: the next 'fbadmin listen' emits what changed since
the read time and nothing else. Over an existing checkpoint only what differs is sent (removals
included). Run it while the daemon is stopped (both write the checkpoints); an interrupted
backfill writes no checkpoint and can simply be run again (its events carry the same IDs).
Prints a summary: the read time, the documents read, and per sink what was sent and removed.

Examples:
   fbadmin listen backfill --config listen.yaml --listener users
   fbadmin listen backfill --config listen.yaml --listener users --sink warehouse --read-time 2026-12-05T10:00:00Z
   fbadmin listen backfill -c listen.yaml --listener users -o json`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Usage: "the YAML config `FILE`", Required: true, EnvVars: []string{"FBADMIN_LISTEN_CONFIG"}},
			&cli.StringFlag{Name: "listener", Aliases: []string{"l"}, Usage: "the listener `NAME` to backfill", Required: true},
			&cli.StringSliceFlag{Name: "sink", Usage: "only this sink `NAME` of the listener (repeatable; default: all of its sinks)"},
			&cli.StringFlag{Name: "read-time", Usage: "read the database as of `TIME` (RFC 3339, or a duration ago such as 10m; default: one second ago)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("listen backfill takes no arguments (got %q): name the listener with --listener", c.Args().First())
			}
			opts := backfillOptions{config: c.String("config"), listener: c.String("listener"), sinks: c.StringSlice("sink"), readTime: c.String("read-time")}
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
	res, err := daemon.Backfill(ctx, cfg, opts.listener, daemon.BackfillOptions{Sinks: opts.sinks, ReadTime: rt, Logger: logger, Stdout: d.stdout})
	if err != nil {
		return readTimeError(err, opts.readTime)
	}
	return d.printer().One(backfillSummary{Listener: opts.listener, ReadTime: res.ReadTime, Documents: res.Documents, Sent: res.Sent, Removed: res.Removed})
}
