package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/fbadmin/fbadmin/auth"
	"github.com/fbadmin/fbadmin/internal/errs"
	"github.com/fbadmin/fbadmin/internal/logconf"
	"github.com/fbadmin/fbadmin/server"
)

func serveCommand() *cli.Command {
	return &cli.Command{
		Name:      "serve",
		Usage:     "run the REST, GraphQL and WebSocket gateway over Firestore, behind Firebase ID tokens",
		UsageText: "fbadmin serve --config FILE [--addr HOST:PORT] [--check]",
		Description: `Serves the project's Firestore data to apps and admin tools:
   REST under /v1 (documents, queries with cursor pagination, aggregations),
   GraphQL at /graphql (queries, mutations, subscriptions over graphql-ws),
   WebSocket change streams at /v1/watch (resumable),
   /healthz, /readyz and Prometheus /metrics.
Every API request needs "Authorization: Bearer <Firebase ID token>"; the config's access
rules decide what each user may do, and deny everything else. The server listens on
127.0.0.1:8088 unless the config or --addr says otherwise. SIGTERM or SIGINT shuts down
gracefully (WebSockets get "going away"). The config format and the API are in docs/serve.md.

Examples:
   fbadmin serve --config serve.yaml --check
   fbadmin --emulator serve --config serve.yaml     # project from $FBADMIN_PROJECT
   fbadmin serve --config /etc/fbadmin/serve.yaml --addr 0.0.0.0:8088`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Usage: "the YAML config `FILE`", Required: true, EnvVars: []string{"FBADMIN_SERVE_CONFIG"}},
			&cli.StringFlag{Name: "addr", Usage: "listen on `HOST:PORT` instead of the config's http.addr"},
			&cli.BoolFlag{Name: "check", Usage: "validate the config, print the effective rules and exit, connecting to nothing"},
		},
		Action: func(c *cli.Context) error {
			cfg, err := server.LoadConfig(c.String("config"))
			if err != nil {
				return err
			}
			if a := c.String("addr"); a != "" {
				if _, _, err := net.SplitHostPort(a); err != nil {
					return usageError{fmt.Errorf("--addr %q is not host:port (for example 127.0.0.1:8088)", a)}
				}
				cfg.HTTP.Addr = a
			}
			if c.Bool("check") {
				_, err := fmt.Fprint(stdout(c), cfg.Describe())
				return err
			}
			// Unsigned emulator tokens only by explicit choice: an emulator
			// variable left in a production environment must not turn
			// token verification off.
			if err := auth.CheckEmulatorChoice(readGlobals(c).Emulator); err != nil {
				return usageError{err}
			}
			return withDeps(c, func(ctx context.Context, d *deps) error {
				return runServe(ctx, d, cfg)
			})
		},
	}
}

func runServe(ctx context.Context, d *deps, cfg *server.Config) error {
	if cfg.Project != "" && d.g.Project == "" {
		d.g.Project = cfg.Project
	}
	if cfg.Database != "" && cfg.Database != "(default)" {
		d.g.Database = cfg.Database
	}
	project, err := d.project()
	if err != nil {
		return err
	}
	cfg.Project = project
	client, err := d.firestore(ctx)
	if err != nil {
		return err
	}
	ac, err := d.auth(ctx)
	if err != nil {
		return err
	}
	if os.Getenv("GOGC") == "" {
		// A request allocates a little in many places (HTTP, gRPC, the
		// SDK); collecting less often buys about a fifth more requests per
		// second for a few tens of MB. GOGC in the environment overrides.
		debug.SetGCPercent(400)
		if os.Getenv("GOMEMLIMIT") == "" {
			// But not five times a large live heap (many live queries):
			// a soft memory limit of twice the live heap, at least
			// 256 MiB, makes the collector behave as GOGC=100 there.
			go boundGC(ctx, 256<<20)
		}
	}
	logger := serveLogger(cfg.Log, d.stderr, d.g.Verbose)
	s, err := server.New(cfg, server.Options{Client: client, Verifier: ac, Emulator: d.emulator() && ac.Emulator(), Logger: logger})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.HTTP.Addr)
	if err != nil {
		return errs.New(errs.ErrUnavailable, "listen", cfg.HTTP.Addr, "%v (is another server on that port? choose one with --addr)", unwrapNet(err))
	}
	return s.Serve(ctx, ln)
}

func serveLogger(c server.LogConfig, w io.Writer, verbose bool) *slog.Logger {
	if verbose {
		c.Level = "debug"
	}
	return logconf.New(c, w)
}

// boundGC keeps the soft memory limit at twice the live heap, and at
// least floor, until ctx ends: GOGC=400 while the heap is small, no more
// than GOGC=100 once it is large, never a limit below the live heap (which
// would make the collector run constantly).
func boundGC(ctx context.Context, floor int64) {
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	last := int64(-1)
	for {
		metrics.Read(sample)
		limit := floor
		if sample[0].Value.Kind() == metrics.KindUint64 {
			limit = max(floor, 2*int64(sample[0].Value.Uint64()))
		}
		if limit != last {
			debug.SetMemoryLimit(limit)
			last = limit
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
