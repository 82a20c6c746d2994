// Package daemon runs the listeners engine as a long-lived service, the
// library behind `fbadmin listen --config FILE`: a YAML config, health and
// readiness probes, Prometheus metrics, structured logs and a graceful
// drain on SIGTERM or SIGINT.
//
// # Config
//
// [LoadConfig] reads the file, applies the defaults, expands ${VAR} and
// ${VAR:-default} in string values from the environment, and validates
// everything it can without connecting: unknown keys, bad values and
// references to undefined sinks are errors naming the line and the key.
// [Check] does the same and returns a summary, for `--check`. The format is
// documented, with a sample, in docs/listen.md.
//
// # Running
//
// [Run] builds the sinks and the engine, serves /healthz, /readyz and
// /metrics (on 127.0.0.1:9464 unless http.addr says otherwise), and runs
// until its context is done. It then drains: the listeners stop taking
// events, the sinks get up to engine.drain_timeout to take what is queued
// and are flushed, the checkpoints are written, and Run returns nil.
// Closing [Options.Abort] during the drain makes Run return [ErrAborted] at
// once; the checkpoints still hold only what the sinks acknowledged, so
// nothing is lost, and the next run emits the rest again.
//
// The package handles no signals: its caller owns them. `fbadmin listen`
// cancels the context at the first SIGTERM or SIGINT and closes Abort at
// the second.
//
// # Wiring
//
//	cfg, err := daemon.LoadConfig(path)
//	if err != nil { ... }
//	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
//	defer stop()
//	err = daemon.Run(ctx, cfg, daemon.Options{})
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/fbadmin/fbadmin/internal/errs"
	"github.com/fbadmin/fbadmin/internal/logconf"
	"github.com/fbadmin/fbadmin/listeners"
	"github.com/fbadmin/fbadmin/listeners/filesink"
	"github.com/fbadmin/fbadmin/listeners/postgressink"
	"github.com/fbadmin/fbadmin/listeners/pubsubsink"
	"github.com/fbadmin/fbadmin/listeners/stdoutsink"
	"github.com/fbadmin/fbadmin/listeners/webhook"
)

// ErrAborted is returned by Run when [Options.Abort] cut the drain short
// (in `fbadmin listen`, a second signal).
var ErrAborted = errors.New("listen: aborted before the drain finished")

// NewLogger returns the slog logger the config asks for, writing to w.
func NewLogger(c LogConfig, w io.Writer) *slog.Logger { return logconf.New(c, w) }

// Options are the optional inputs of [Run].
type Options struct {
	// Logger receives the daemon's logs; nil means one built from the
	// config's log section, on stderr.
	Logger *slog.Logger
	// Stdout receives the stdout sinks' events; nil means os.Stdout.
	Stdout io.Writer
	// Abort, when closed while Run drains, cuts the drain short: Run then
	// returns ErrAborted. Nil: the drain always runs to its end (or to
	// engine.drain_timeout).
	Abort <-chan struct{}
	// Ready, when not nil, is called with the address of the HTTP server
	// once it listens (useful with http.addr: 127.0.0.1:0).
	Ready func(httpAddr string)
}

// Run runs the daemon until ctx is done, then drains; see the package
// documentation.
func Run(ctx context.Context, cfg *Config, opts Options) error {
	logger := opts.Logger
	if logger == nil {
		logger = NewLogger(cfg.Log, os.Stderr)
	}
	if opts.Stdout == nil {
		opts.Stdout = os.Stdout
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := listeners.NewMetrics(reg)

	// serve starts the health and metrics server (unless http.addr is
	// off) and returns how to stop it.
	serve := func(ready func() error) (func(), error) {
		if cfg.HTTP.Addr == "off" {
			if opts.Ready != nil {
				opts.Ready("")
			}
			return func() {}, nil
		}
		ln, err := net.Listen("tcp", cfg.HTTP.Addr)
		if err != nil {
			return nil, errs.New(errs.ErrUnavailable, "listen", cfg.HTTP.Addr, "health and metrics server: %v (change http.addr, or set it to off)", err)
		}
		srv := &http.Server{Handler: handler(ready, reg), ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				logger.Error("health and metrics server stopped", "err", err)
			}
		}()
		logger.Info("serving /healthz, /readyz and /metrics", "addr", ln.Addr().String())
		if opts.Ready != nil {
			opts.Ready(ln.Addr().String())
		}
		return func() {
			sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = srv.Shutdown(sctx)
			cancel()
		}, nil
	}
	if cfg.HA != nil {
		return runHA(ctx, cfg, opts, logger, serve, metrics)
	}

	e := cfg.Engine
	eng, err := listeners.New(listeners.Options{
		StateDir: filepath.Join(cfg.StateDir, "checkpoints"), Project: cfg.Project, Database: cfg.Database,
		StreamsPerClient: e.StreamsPerClient, Watchdog: e.Watchdog, BackoffInitial: e.BackoffInitial,
		BackoffMax: e.BackoffMax, QueueSize: e.QueueSize, BatchSize: e.BatchSize,
		CheckpointInterval: e.CheckpointInterval, DrainTimeout: e.DrainTimeout, Verify: listeners.Verify(e.Verify),
		Logger: logger, Metrics: metrics,
	})
	if err != nil {
		return err
	}
	// The engine closes the sinks when its Run returns; until then, a
	// failure closes the ones opened so far.
	var opened []listeners.Sink
	closeAll := func() {
		for _, s := range opened {
			s.Close()
		}
	}
	for _, sc := range cfg.Sinks {
		s, err := openSink(ctx, cfg, sc, opts.Stdout, logger)
		if err != nil {
			closeAll()
			return errs.Wrap(err, "open sink", sc.Name)
		}
		opened = append(opened, s)
		if pg, ok := s.(*postgressink.Sink); ok {
			reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "fbadmin_listen_dead_letters_total",
				Help: "Events a sink stored in its dead-letter table instead of applying them.", ConstLabels: prometheus.Labels{"sink": sc.Name}},
				func() float64 { return float64(pg.DeadLetters()) }))
		}
		if err := eng.AddSink(sc.Name, s); err != nil {
			closeAll()
			return err
		}
	}
	for _, lc := range cfg.Listeners {
		if err := eng.AddListener(listeners.Spec{Name: lc.Name, Project: lc.Project, Database: lc.Database,
			Query: lc.query(), Initial: listeners.Initial(lc.Initial), Sinks: lc.Sinks}); err != nil {
			closeAll()
			return err
		}
	}

	stopServer, err := serve(eng.Ready)
	if err != nil {
		closeAll()
		return err
	}

	var aborted atomic.Bool
	done := make(chan struct{})
	if opts.Abort != nil {
		go func() {
			select {
			case <-done:
				return
			case <-ctx.Done():
			}
			logger.Info("draining (stop again to abort)")
			select {
			case <-done:
			case <-opts.Abort:
				logger.Warn("aborting the drain")
				aborted.Store(true)
				eng.Abort()
			}
		}()
	}
	logger.Info("starting", "listeners", len(cfg.Listeners), "sinks", len(cfg.Sinks), "project", cfg.Project, "state_dir", cfg.StateDir)
	err = eng.Run(ctx)
	close(done)
	stopServer()
	switch {
	case aborted.Load():
		return ErrAborted
	case errors.Is(err, listeners.ErrDrainIncomplete):
		logger.Warn("stopped before every queued event was delivered; the next run delivers them (checkpoints hold only acknowledged events)")
		return nil
	}
	return err
}

func openSink(ctx context.Context, cfg *Config, sc SinkConfig, stdout io.Writer, logger *slog.Logger) (listeners.Sink, error) {
	switch sc.Kind() {
	case "stdout":
		return stdoutsink.New(stdout), nil
	case "file":
		f := sc.File
		return filesink.New(filesink.Options{Path: f.Path, MaxSize: int64(f.MaxSize), MaxFiles: f.MaxFiles,
			Fsync: f.Fsync, FsyncInterval: f.FsyncInterval})
	case "webhook":
		w := sc.Webhook
		spool := w.SpoolDir
		if spool == "" {
			spool = filepath.Join(cfg.StateDir, "spool", sc.Name)
		}
		return webhook.New(webhook.Options{URL: w.URL, Secret: w.Secret, Headers: w.Headers, Timeout: w.Timeout,
			Retries: w.Retries, SpoolDir: spool, MaxSpoolBytes: int64(w.MaxSpool), BackoffMax: cfg.Engine.BackoffMax,
			Logger: logger.With("sink", sc.Name)})
	case "pubsub":
		p := sc.PubSub
		project := p.Project
		if project == "" {
			project = cfg.Project
		}
		// The sink must keep publishing while the daemon drains, after ctx
		// is done.
		return pubsubsink.New(context.WithoutCancel(ctx), pubsubsink.Options{Project: project, Topic: p.Topic})
	case "postgres":
		p := sc.Postgres
		dsn := os.Getenv(p.dsnEnv())
		if dsn == "" {
			return nil, fmt.Errorf("environment variable %s is not set: it holds the postgres sink's DSN", p.dsnEnv())
		}
		return postgressink.New(postgressink.Options{DSN: dsn, Schema: p.Schema, Table: p.Table, Deletes: p.Deletes,
			Columns: p.columns(), Logger: logger.With("sink", sc.Name)})
	}
	return nil, fmt.Errorf("sink %q has no kind", sc.Name)
}

// handler serves the probes and the metrics.
func handler(ready func() error, reg *prometheus.Registry) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		// Liveness: the process answers. Listener and sink failures are
		// retried inside, so restarting the process would not help them.
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := ready(); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	return mux
}
