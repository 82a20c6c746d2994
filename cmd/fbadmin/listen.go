package main

import (
	"context"
	"fmt"
	"io"
	"os"

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
			&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Usage: "the YAML config `FILE`", Required: true, EnvVars: []string{"FBADMIN_LISTEN_CONFIG"}},
			&cli.BoolFlag{Name: "check", Usage: "validate the config and exit, connecting to nothing"},
		},
		Action: func(c *cli.Context) error {
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
