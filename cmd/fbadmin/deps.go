package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"cloud.google.com/go/firestore"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"github.com/fbadmin/fbadmin/internal/cliout"
	"github.com/fbadmin/fbadmin/internal/errs"
	"github.com/fbadmin/fbadmin/internal/transfer"
)

// Default emulator hosts, as in emulator/firebase.json.
const (
	defaultFirestoreEmulator = "127.0.0.1:8080"
	defaultAuthEmulator      = "127.0.0.1:9099"
)

// globalOptions are the flags every command takes.
type globalOptions struct {
	Project, Database, Credentials, Output, Tenant string
	As, APIKey                                     string
	Emulator, Verbose, Quiet                       bool
	Timeout                                        time.Duration
}

func readGlobals(c *cli.Context) globalOptions {
	str := func(ctx *cli.Context, n string) string { return ctx.String(n) }
	boolean := func(ctx *cli.Context, n string) bool { return ctx.Bool(n) }
	return globalOptions{
		Project:     flagValue(c, "project", str),
		Database:    flagValue(c, "database", str),
		Credentials: flagValue(c, "credentials", str),
		Output:      flagValue(c, "output", str),
		Tenant:      flagValue(c, "tenant", str),
		As:          flagValue(c, "as", str),
		APIKey:      flagValue(c, "api-key", str),
		Emulator:    flagValue(c, "emulator", boolean),
		Verbose:     flagValue(c, "verbose", boolean),
		Quiet:       flagValue(c, "quiet", boolean),
		Timeout:     flagValue(c, "timeout", func(ctx *cli.Context, n string) time.Duration { return ctx.Duration(n) }),
	}
}

// deps is what commands need from the outside world: streams, terminal
// facts, output format, logger and lazily created clients.
type deps struct {
	g                              globalOptions
	stdin                          io.Reader
	stdout, stderr                 io.Writer
	stdinTTY, stdoutTTY, stderrTTY bool
	format                         cliout.Format
	given                          []string // the global flags given on the command line, as typed again by command
	log                            *slog.Logger
	fs                             *firestore.Client
	db                             *transfer.DB
	as                             *endUser // who Firestore requests are made as (--as), once resolved
	closers                        []func()
}

func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

func newDeps(c *cli.Context) (*deps, error) {
	g := readGlobals(c)
	d := &deps{
		g: g, stdin: os.Stdin, stdout: c.App.Writer, stderr: c.App.ErrWriter,
		stdinTTY: isTerminal(os.Stdin), stdoutTTY: isTerminal(os.Stdout), stderrTTY: isTerminal(os.Stderr),
	}
	f, err := cliout.ParseFormat(g.Output, d.stdoutTTY)
	if err != nil {
		return nil, usageError{err}
	}
	d.format = f
	d.given = givenGlobals(c)
	level := slog.LevelInfo
	switch {
	case g.Verbose:
		level = slog.LevelDebug
	case g.Quiet:
		level = slog.LevelWarn
	}
	d.log = slog.New(slog.NewTextHandler(d.stderr, &slog.HandlerOptions{Level: level, ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}))
	return d, nil
}

// givenGlobals returns the global flags that select what a command works
// on (project, database, emulator, tenant, credentials) and were given on
// the command line (os.Args; not through their environment variables),
// before or after the command, as arguments: what a command prints for
// the user to run needs them to do the same.
func givenGlobals(c *cli.Context) []string {
	var args []string
	for _, name := range []string{"project", "database", "emulator", "tenant", "credentials"} {
		switch {
		case !onCommandLine(name, os.Args[1:]):
		case name == "emulator":
			if flagValue(c, name, func(ctx *cli.Context, n string) bool { return ctx.Bool(n) }) {
				args = append(args, "--emulator")
			}
		default:
			args = append(args, "--"+name, flagValue(c, name, func(ctx *cli.Context, n string) string { return ctx.String(n) }))
		}
	}
	return args
}

// onCommandLine reports whether the flag name (or its alias) is in args.
func onCommandLine(name string, args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		if !isFlagArg(a) {
			continue
		}
		a, _, _ = strings.Cut(strings.TrimLeft(a, "-"), "=")
		if a == name {
			return true
		}
	}
	return false
}

// command renders a command line for the user to run, quoted for a
// shell, with the global flags this one was given: "fbadmin --project
// demo-big fs import big.ndjson --mode create --resume".
func (d *deps) command(args ...string) string {
	return "fbadmin " + cliout.ShellJoin(append(slices.Clone(d.given), args...)...)
}

// withDeps runs a command body with its deps and the global timeout.
func withDeps(c *cli.Context, run func(ctx context.Context, d *deps) error) error {
	d, err := newDeps(c)
	if err != nil {
		return err
	}
	if err := checkAs(c, d.g); err != nil {
		return err
	}
	defer d.close()
	ctx := c.Context
	if d.g.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.g.Timeout)
		defer cancel()
	}
	err = d.asDenied(run(ctx, d))
	// The deadline shows in ctx: RPC errors do not always wrap it.
	if err != nil && d.g.Timeout > 0 && errors.Is(ctx.Err(), context.DeadlineExceeded) && c.Context.Err() == nil {
		return fmt.Errorf("%w (hint: --timeout %s was reached)", err, d.g.Timeout)
	}
	return err
}

func (d *deps) close() {
	for i := len(d.closers) - 1; i >= 0; i-- {
		d.closers[i]()
	}
}

// printer returns a printer of the chosen format on stdout.
func (d *deps) printer() *cliout.Printer { return cliout.NewPrinter(d.stdout, d.format) }

// info logs a line on stderr unless --quiet.
func (d *deps) info(format string, args ...any) {
	if !d.g.Quiet {
		fmt.Fprintf(d.stderr, format+"\n", args...)
	}
}

// jobProgress is the progress display of a long job.
type jobProgress interface {
	SetTotal(docs int64)
	Add(docs, bytes int64)
	Finish()
}

// progress starts a progress display on stderr for a long job.
func (d *deps) progress(label string) jobProgress {
	p := cliout.NewProgress(d.stderr, cliout.ProgressOptions{Label: label, Terminal: d.stderrTTY, Quiet: d.g.Quiet})
	if progressHook != nil {
		return progressHook(p)
	}
	return p
}

// progressHook, when set, wraps the progress display of every job. Only the
// end-to-end tests set it (faultProgress in fault_test.go, installed by
// TestMain), so that they can interrupt a job at a known point: the released
// binary carries no test hook.
var progressHook func(jobProgress) jobProgress

// dialHook, when set, adds options to every gRPC connection to Firestore.
// Only the end-to-end tests set it (FBADMIN_TEST_FAULTS in fault_test.go:
// internal/faults' status-code injector), as progressHook.
var dialHook func() []grpc.DialOption

// project resolves the project ID: the flag or its environment variables,
// else the project of the credentials file.
func (d *deps) project() (string, error) {
	if d.g.Project != "" {
		return d.g.Project, nil
	}
	if !d.emulator() {
		if p := credentialsProject(d.g.Credentials); p != "" {
			return p, nil
		}
	}
	hint := "pass --project ID or set FBADMIN_PROJECT (or GOOGLE_CLOUD_PROJECT)"
	if d.emulator() {
		hint += "; on the emulator any ID works, for example --project demo-fbadmin"
	}
	return "", usagef("no project given (hint: %s)", hint)
}

func credentialsProject(file string) string {
	if file == "" {
		return ""
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return ""
	}
	var v struct {
		ProjectID string `json:"project_id"`
	}
	json.Unmarshal(b, &v)
	return v.ProjectID
}

// emulator reports whether Firestore calls go to the emulator: --emulator,
// or FIRESTORE_EMULATOR_HOST set (the SDK's own convention).
func (d *deps) emulator() bool {
	return d.g.Emulator || os.Getenv("FIRESTORE_EMULATOR_HOST") != ""
}

// firestoreEmulatorHost returns the emulator host, defaulting it (and
// exporting it for the SDK) under --emulator.
func (d *deps) firestoreEmulatorHost() string {
	host := os.Getenv("FIRESTORE_EMULATOR_HOST")
	if host == "" {
		host = defaultFirestoreEmulator
		os.Setenv("FIRESTORE_EMULATOR_HOST", host)
	}
	return strings.TrimPrefix(host, "http://")
}

// checkEmulator fails fast, with a hint, when nothing listens at host.
func checkEmulator(what, host, env string) error {
	conn, err := net.DialTimeout("tcp", host, 2*time.Second)
	if err != nil {
		return errs.New(errs.ErrUnavailable, "connect", what+" emulator "+host,
			"%v (hint: start it with scripts/emulators.sh start, or set %s to where it runs)", unwrapNet(err), env)
	}
	conn.Close()
	return nil
}

func unwrapNet(err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err
	}
	return err
}

// checkCredentials fails fast, with a hint, when production calls would
// have no credentials.
func (d *deps) checkCredentials(ctx context.Context) error {
	if d.g.Credentials != "" {
		if _, err := os.Stat(d.g.Credentials); err != nil {
			return usagef("--credentials: %v (hint: give the path of a service account key JSON file)", err)
		}
		os.Setenv("GOOGLE_APPLICATION_CREDENTIALS", d.g.Credentials)
		return nil
	}
	if hasDefaultCredentials() {
		return nil
	}
	return errs.New(errs.ErrUnauthenticated, "credentials", "",
		"no Google credentials found (hint: pass --credentials FILE, set GOOGLE_APPLICATION_CREDENTIALS, run 'gcloud auth application-default login', or use --emulator for the local emulators)")
}

// hasDefaultCredentials tells, without any network call, whether
// Application Default Credentials can be found: the gcloud well-known file,
// or a Google Cloud runtime (metadata server configured, or a Compute
// Engine machine as its DMI data says).
func hasDefaultCredentials() bool {
	if os.Getenv("GOOGLE_APPLICATION_CREDENTIALS") != "" || os.Getenv("GCE_METADATA_HOST") != "" {
		return true
	}
	dir := os.Getenv("CLOUDSDK_CONFIG")
	if dir == "" {
		if cfg, err := os.UserConfigDir(); err == nil {
			dir = filepath.Join(cfg, "gcloud")
		}
	}
	if dir != "" {
		if _, err := os.Stat(filepath.Join(dir, "application_default_credentials.json")); err == nil {
			return true
		}
	}
	b, _ := os.ReadFile("/sys/class/dmi/id/product_name")
	return strings.Contains(string(b), "Google")
}

// grpcOptions are the dial options of every Firestore connection: request
// logging under --verbose. Only the method, latency and status code are
// logged: never metadata (tokens) nor payloads.
func (d *deps) grpcOptions() []grpc.DialOption {
	var hooked []grpc.DialOption
	if dialHook != nil {
		hooked = dialHook()
	}
	if !d.g.Verbose {
		return hooked
	}
	return append(hooked,
		grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			start := time.Now()
			err := invoker(ctx, method, req, reply, cc, opts...)
			d.log.Debug("rpc", "method", shortMethod(method), "latency", time.Since(start).Round(time.Microsecond), "code", status.Code(err).String())
			return err
		}),
		grpc.WithChainStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
			start := time.Now()
			s, err := streamer(ctx, desc, cc, method, opts...)
			if err != nil {
				d.log.Debug("rpc", "method", shortMethod(method), "latency", time.Since(start).Round(time.Microsecond), "code", status.Code(err).String())
				return nil, err
			}
			return &loggedStream{ClientStream: s, d: d, method: shortMethod(method), start: start}, nil
		}),
	)
}

type loggedStream struct {
	grpc.ClientStream
	d      *deps
	method string
	start  time.Time
	msgs   int
	logged bool
}

func (s *loggedStream) RecvMsg(m any) error {
	err := s.ClientStream.RecvMsg(m)
	if err == nil {
		s.msgs++
		return nil
	}
	if !s.logged {
		s.logged = true
		code := status.Code(err).String()
		if err == io.EOF {
			code = "OK"
		}
		s.d.log.Debug("rpc", "method", s.method, "latency", time.Since(s.start).Round(time.Microsecond), "code", code, "messages", s.msgs)
	}
	return err
}

func shortMethod(m string) string {
	if i := strings.LastIndexByte(m, '/'); i >= 0 {
		return m[i+1:]
	}
	return m
}

// firestore returns the SDK client, creating it on first use.
func (d *deps) firestore(ctx context.Context) (*firestore.Client, error) {
	if d.fs != nil {
		return d.fs, nil
	}
	client, err := d.openFirestore(ctx, d.g.Database)
	if err != nil {
		return nil, err
	}
	d.fs = client
	d.closers = append(d.closers, func() { client.Close() })
	return client, nil
}

// openFirestore opens an SDK client of a database of the project (the
// caller closes it).
func (d *deps) openFirestore(ctx context.Context, database string) (*firestore.Client, error) {
	project, err := d.project()
	if err != nil {
		return nil, err
	}
	var opts []option.ClientOption
	asDial, asClient, err := d.asDialOptions(ctx)
	if err != nil {
		return nil, err
	}
	if d.emulator() {
		host := d.firestoreEmulatorHost()
		if err := checkEmulator("Firestore", host, "FIRESTORE_EMULATOR_HOST"); err != nil {
			return nil, err
		}
		conn, err := transfer.DialEmulator(host, append(d.grpcOptions(), asDial...)...)
		if err != nil {
			return nil, err
		}
		d.closers = append(d.closers, func() { conn.Close() })
		opts = append(opts, option.WithGRPCConn(conn))
	} else {
		if d.g.As == "" {
			if err := d.checkCredentials(ctx); err != nil {
				return nil, err
			}
		}
		for _, o := range append(d.grpcOptions(), asDial...) {
			opts = append(opts, option.WithGRPCDialOption(o))
		}
		opts = append(opts, asClient...)
	}
	client, err := firestore.NewClientWithDatabase(ctx, project, database, opts...)
	if err != nil {
		return nil, errs.New(errs.ErrInvalid, "connect", "firestore", "%v", err)
	}
	return client, nil
}

// transferDB returns the bulk engine's connection, creating it on first use.
func (d *deps) transferDB(ctx context.Context) (*transfer.DB, error) {
	if d.db != nil {
		return d.db, nil
	}
	db, err := d.openDB(ctx, "", "")
	if err != nil {
		return nil, err
	}
	d.db = db
	return db, nil
}

// openDB opens a bulk connection to the given project and database (""
// for the global flags' ones).
func (d *deps) openDB(ctx context.Context, project, database string) (*transfer.DB, error) {
	if project == "" {
		p, err := d.project()
		if err != nil {
			return nil, err
		}
		project = p
	}
	if database == "" {
		database = d.g.Database
	}
	asDial, asClient, err := d.asDialOptions(ctx)
	if err != nil {
		return nil, err
	}
	cfg := transfer.Config{Project: project, Database: database, DialOptions: append(d.grpcOptions(), asDial...), ClientOptions: asClient}
	if d.emulator() {
		cfg.EmulatorHost = d.firestoreEmulatorHost()
		if err := checkEmulator("Firestore", cfg.EmulatorHost, "FIRESTORE_EMULATOR_HOST"); err != nil {
			return nil, err
		}
	} else if d.g.As == "" {
		if err := d.checkCredentials(ctx); err != nil {
			return nil, err
		}
	}
	db, err := transfer.Open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	d.closers = append(d.closers, func() { db.Close() })
	return db, nil
}

// confirm asks before a destructive change: on a terminal it prompts, and
// elsewhere it refuses unless --yes was given.
func (d *deps) confirm(yes bool, prompt string) error {
	if yes {
		return nil
	}
	if !d.stdinTTY || !d.stderrTTY {
		return usagef("%s: not confirmed (hint: stdin is not a terminal; pass --yes to confirm, or --dry-run to see what would change)", prompt)
	}
	fmt.Fprintf(d.stderr, "%s [y/N] ", prompt)
	answer, _ := bufio.NewReader(d.stdin).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(answer)) {
	case "y", "yes":
		return nil
	}
	// Declined: a usage outcome (exit 2), as without a terminal.
	return usagef("%s: not confirmed: nothing was changed", prompt)
}
