package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"

	"cloud.google.com/go/firestore"
	"github.com/urfave/cli/v2"

	"github.com/fbadmin/fbadmin/auth"
	"github.com/fbadmin/fbadmin/console"
	"github.com/fbadmin/fbadmin/internal/backup"
	"github.com/fbadmin/fbadmin/internal/errs"
	"github.com/fbadmin/fbadmin/internal/transfer"
)

type consoleOptions struct {
	Addr     string
	Token    string
	IDTokens bool
	ReadOnly bool
	PageSize int
}

func consoleCommand() *cli.Command {
	return &cli.Command{
		Name:      "console",
		Usage:     "start the web console: browse, query, edit, import, export and delete Firestore data, manage Auth users",
		UsageText: "fbadmin [--emulator] [--project ID] console [--addr HOST:PORT] [--token TOKEN | --id-tokens] [--read-only]",
		Description: `Starts a local web application on 127.0.0.1:8089 (loopback only unless --addr says
otherwise) over the project's Firestore database and Auth users, in production or on the
emulators (--emulator). Every asset is inside the binary: nothing to install or build.

Pages: the collection tree (subcollections, collection groups, phantom parents), a paged
collection view with a query builder whose URL can be shared, counts and a live mode, a
typed document editor that saves with update-time preconditions, recursive deletes with
a dry-run count and a typed confirmation, NDJSON export and import, Auth users (search,
claims, disable/enable, revoke, reset links) and tenants. docs/console.md has the rest.

Access: a random access token is printed at start as a login URL (like a notebook
server's); the login exchanges it for an HttpOnly, SameSite=Strict cookie and redirects
to a URL without it. --token or FBADMIN_CONSOLE_TOKEN sets the token instead. For a
shared deployment, --id-tokens logs in with a Firebase ID token whose custom claim admin
is true. Every change needs the session's CSRF token; request logs (stderr) name routes,
never URLs, data or tokens. Ctrl-C stops it.

Examples:
   fbadmin console --emulator                      # project from $FBADMIN_PROJECT
   fbadmin --project my-proj console --read-only
   FBADMIN_CONSOLE_TOKEN=s3cret fbadmin console --addr 127.0.0.1:9000
   fbadmin --project my-proj console --addr 0.0.0.0:8089 --id-tokens`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "addr", Value: console.DefaultAddr, Usage: "listen on `HOST:PORT` (PORT or :PORT is 127.0.0.1:PORT)"},
			&cli.StringFlag{Name: "token", Usage: "the access `TOKEN` to log in with (default: a random one, printed)", EnvVars: []string{"FBADMIN_CONSOLE_TOKEN"}},
			&cli.BoolFlag{Name: "id-tokens", Usage: "log in with a Firebase ID token whose custom claim admin is true, for shared deployments"},
			&cli.BoolFlag{Name: "read-only", Usage: "refuse every change (browse, query, count and export only)"},
			&cli.IntFlag{Name: "page-size", Value: console.DefaultPageSize, Usage: "documents per page, `N` from 1 to 500"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("console takes no arguments (got %q)", c.Args().First())
			}
			opts := consoleOptions{Addr: c.String("addr"), Token: c.String("token"), IDTokens: c.Bool("id-tokens"),
				ReadOnly: c.Bool("read-only"), PageSize: c.Int("page-size")}
			if opts.PageSize < 1 || opts.PageSize > console.MaxPageSize {
				return usagef("--page-size %d: want a number from 1 to %d", opts.PageSize, console.MaxPageSize)
			}
			if opts.IDTokens && opts.Token != "" {
				return usagef("--token and --id-tokens are two ways to log in: choose one (unset FBADMIN_CONSOLE_TOKEN for --id-tokens)")
			}
			if opts.Token != "" && len(opts.Token) < 16 {
				return usagef("--token: at least 16 characters, so that it cannot be guessed (leave it out for a random one)")
			}
			if strings.TrimSpace(opts.Token) != opts.Token {
				return usagef("--token: leading or trailing white space (check FBADMIN_CONSOLE_TOKEN)")
			}
			addr, err := consoleAddr(opts.Addr)
			if err != nil {
				return err
			}
			opts.Addr = addr
			if opts.IDTokens {
				// Unsigned emulator tokens only by explicit choice.
				if err := auth.CheckEmulatorChoice(readGlobals(c).Emulator); err != nil {
					return usageError{err}
				}
			}
			return withDeps(c, func(ctx context.Context, d *deps) error { return runConsole(ctx, opts, d) })
		},
	}
}

// consoleAddr makes PORT and :PORT loopback addresses.
func consoleAddr(a string) (string, error) {
	if !strings.Contains(a, ":") {
		a = ":" + a
	}
	host, port, err := net.SplitHostPort(a)
	if err != nil || port == "" {
		return "", usagef("--addr %q: want PORT, :PORT or HOST:PORT (default %s)", a, console.DefaultAddr)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port), nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func runConsole(ctx context.Context, opts consoleOptions, d *deps) error {
	client, err := d.firestore(ctx)
	if err != nil {
		return err
	}
	db, err := d.transferDB(ctx)
	if err != nil {
		return err
	}
	level := slog.LevelInfo
	if d.g.Quiet {
		level = slog.LevelWarn
	}
	logger := slog.New(slog.NewTextHandler(d.stderr, &slog.HandlerOptions{Level: level}))
	ac, err := d.auth(ctx)
	if err != nil {
		if opts.IDTokens {
			return err // tokens cannot be verified without it
		}
		logger.Warn("auth pages off", "reason", err.Error())
		ac = nil
	}
	cfg := console.Config{Firestore: client, DB: db, Token: opts.Token, IDTokens: opts.IDTokens,
		ReadOnly: opts.ReadOnly, PageSize: opts.PageSize, Logger: logger}
	if ac != nil {
		cfg.Auth = ac
	}
	// Other databases of the project open in the same process, under
	// /db/{database}/ (the console closes them).
	cfg.OpenDatabase = func(ctx context.Context, database string) (*firestore.Client, *transfer.DB, error) {
		c, err := d.openFirestore(ctx, database)
		if err != nil {
			return nil, nil, err
		}
		db, err := d.openDB(ctx, "", database)
		if err != nil {
			c.Close()
			return nil, nil, err
		}
		return c, db, nil
	}
	if !d.emulator() {
		// The Admin API lists the project's databases (the emulator has
		// none to list); a failure shows on the home page, not at start.
		var (
			once sync.Once
			bc   *backup.Client
			berr error
		)
		cfg.Databases = func(ctx context.Context) ([]string, error) {
			once.Do(func() { bc, berr = d.backupClient(context.WithoutCancel(ctx), "", "console") })
			if berr != nil {
				return nil, berr
			}
			return bc.Databases(ctx)
		}
	}
	srv, err := console.New(ctx, cfg)
	if err != nil {
		return err
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return errs.New(errs.ErrUnavailable, "listen", opts.Addr, "%v (is another server on that port? choose another with --addr)", unwrapNet(err))
	}
	base := "http://" + ln.Addr().String()
	host, _, _ := net.SplitHostPort(opts.Addr)
	if !isLoopback(host) && !opts.IDTokens {
		logger.Warn("the console listens beyond this machine with a shared access token over plain HTTP; prefer --id-tokens behind a TLS proxy")
	}
	mode := "read-write"
	if opts.ReadOnly {
		mode = "read-only"
	}
	logger.Info("console ready", "url", base, "database", db.Name(), "mode", mode)
	// The login URL is printed once, to the terminal, when the token was
	// made here: it is the only way to learn it. A token given by flag or
	// environment is never printed.
	switch {
	case opts.IDTokens:
		fmt.Fprintf(d.stderr, "\n    Open %s/login and paste a Firebase ID token with the claim admin: true\n\n", base)
	case opts.Token == "":
		fmt.Fprintf(d.stderr, "\n    Open the console:\n    %s\n\n", srv.LoginURL(base))
	default:
		fmt.Fprintf(d.stderr, "\n    Open %s/login and log in with the token of --token / FBADMIN_CONSOLE_TOKEN\n\n", base)
	}
	return srv.Serve(ctx, ln)
}
