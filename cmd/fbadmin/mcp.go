package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/fbadmin/fbadmin/auth"
	"github.com/fbadmin/fbadmin/internal/errs"
	"github.com/fbadmin/fbadmin/internal/yamlconf"
	"github.com/fbadmin/fbadmin/mcp"
	"github.com/fbadmin/fbadmin/server"
)

type mcpOptions struct {
	AllowWrites, AllowDestructive, AllowCustomTokens bool
	MaxDocs                                          int
	MaxBytes                                         int64
	Allow, Deny                                      []string
	HTTP, Rules, AuthClaim                           string
}

func mcpCommand() *cli.Command {
	return &cli.Command{
		Name:      "mcp",
		Usage:     "serve Firestore and Auth to AI agents over the Model Context Protocol (stdio or HTTP)",
		UsageText: "fbadmin [--emulator] [--project ID] mcp [--allow-writes [--allow-destructive]] [--http ADDR --rules FILE]",
		Description: `Runs an MCP server: by default over stdin/stdout, for an MCP client that starts
fbadmin itself (Claude Desktop, VS Code, Cursor...); with --http over Streamable HTTP.
Tools: Firestore get, list collections and documents, query (every operator, OR,
collection groups, order, cursors, select, limit), count/sum/avg, set, create, update
(preconditions, transforms), delete (recursive too); Auth users, claims, revocation,
action links. Document data is in fbadmin's lossless value format both ways.

Safe by default: read-only unless --allow-writes; deletes also need --allow-destructive,
and each one is a dry run that returns a confirmation token for a second call. Every
call is capped (--max-docs, --max-bytes); --allow-collections / --deny-collections limit
the collections (patterns as in serve's rules: users, users/*/posts, users/**, **/logs).
Over HTTP (loopback unless ADDR names a host), callers send Firebase ID tokens and the
access rules of a serve config (--rules) apply to every Firestore tool; Auth tools need
--auth-claim. One log line per call on stderr: tool, target, outcome, time; never values
or tokens. The README shows how to register fbadmin with MCP clients.

Examples:
   fbadmin --emulator --project demo-app mcp
   fbadmin --project my-proj mcp --allow-writes --deny-collections 'secrets,**/private'
   fbadmin --emulator mcp --allow-writes --allow-destructive --max-docs 100
   fbadmin --emulator mcp --http 8765 --rules serve.yaml`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "allow-writes", Usage: "allow set, create, update and Auth changes (read-only otherwise)"},
			&cli.BoolFlag{Name: "allow-destructive", Usage: "also allow deletes of documents, trees and users (each needs a dry run and its confirmation token)"},
			&cli.BoolFlag{Name: "allow-custom-tokens", Usage: "allow minting custom tokens (auth_mint_custom_token)"},
			&cli.IntFlag{Name: "max-docs", Value: mcp.DefaultMaxDocs, Usage: "at most `N` documents read or written per call"},
			&cli.StringFlag{Name: "max-bytes", Value: "4MiB", Usage: "at most `SIZE` of document data per call (such as 512KiB, 4MiB)"},
			&cli.StringSliceFlag{Name: "allow-collections", Usage: "only these collection `PATTERNS` (comma-separated or repeated)"},
			&cli.StringSliceFlag{Name: "deny-collections", Usage: "never these collection `PATTERNS` (comma-separated or repeated; wins over allow)"},
			&cli.StringFlag{Name: "http", Usage: "serve Streamable HTTP on `ADDR` (PORT or :PORT is 127.0.0.1:PORT) instead of stdio"},
			&cli.StringFlag{Name: "rules", Usage: "with --http: the serve config `FILE` whose access rules apply to callers (required with --http)"},
			&cli.StringFlag{Name: "auth-claim", Usage: "with --http: callers whose token has custom claim `NAME`: true may use the Auth tools"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("mcp takes no arguments (got %q)", c.Args().First())
			}
			var mb yamlconf.ByteSize
			if err := mb.UnmarshalText([]byte(c.String("max-bytes"))); err != nil || mb <= 0 {
				return usagef("--max-bytes %q: want a positive size such as 512KiB or 4MiB", c.String("max-bytes"))
			}
			if c.Int("max-docs") <= 0 {
				return usagef("--max-docs %d: want a positive number", c.Int("max-docs"))
			}
			opts := mcpOptions{
				AllowWrites: c.Bool("allow-writes"), AllowDestructive: c.Bool("allow-destructive"), AllowCustomTokens: c.Bool("allow-custom-tokens"),
				MaxDocs: c.Int("max-docs"), MaxBytes: int64(mb),
				Allow: splitList(c.StringSlice("allow-collections")), Deny: splitList(c.StringSlice("deny-collections")),
				HTTP: c.String("http"), Rules: c.String("rules"), AuthClaim: c.String("auth-claim"),
			}
			if opts.AllowDestructive && !opts.AllowWrites {
				return usagef("--allow-destructive goes with --allow-writes")
			}
			if opts.HTTP != "" && opts.Rules == "" {
				return usagef("--http needs --rules FILE: over HTTP, callers are checked against a serve config's access rules (see docs/serve.md)")
			}
			if opts.HTTP == "" && (opts.Rules != "" || opts.AuthClaim != "") {
				return usagef("--rules and --auth-claim go with --http (over stdio the operator who starts fbadmin is trusted)")
			}
			if opts.HTTP != "" {
				if err := auth.CheckEmulatorChoice(readGlobals(c).Emulator); err != nil {
					return usageError{err}
				}
			}
			return withDeps(c, func(ctx context.Context, d *deps) error { return runMCP(ctx, opts, d) })
		},
	}
}

func splitList(vals []string) []string {
	var out []string
	for _, v := range vals {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// httpAddr makes PORT and :PORT loopback addresses.
func httpAddr(a string) (string, error) {
	if !strings.Contains(a, ":") {
		a = ":" + a
	}
	host, port, err := net.SplitHostPort(a)
	if err != nil || port == "" {
		return "", usagef("--http %q: want PORT, :PORT or HOST:PORT", a)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port), nil
}

func runMCP(ctx context.Context, opts mcpOptions, d *deps) error {
	var cfg *server.Config
	if opts.Rules != "" {
		var err error
		if cfg, err = server.LoadConfig(opts.Rules); err != nil {
			return err
		}
	}
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
		if opts.HTTP != "" {
			return err // tokens cannot be verified without it
		}
		logger.Warn("auth tools off", "reason", err.Error())
		ac = nil
	}
	o := mcp.Options{
		Firestore: client, DB: db, AllowWrites: opts.AllowWrites, AllowDestructive: opts.AllowDestructive,
		AllowCustomTokens: opts.AllowCustomTokens, MaxDocs: opts.MaxDocs, MaxBytes: opts.MaxBytes,
		Allow: opts.Allow, Deny: opts.Deny, AuthClaim: opts.AuthClaim, Logger: logger, Version: version,
	}
	if ac != nil {
		o.Auth = ac
	}
	if cfg != nil {
		o.Rules = server.NewRules(cfg.Rules)
	}
	s, err := mcp.New(o)
	if err != nil {
		return err
	}
	mode := "read-only"
	switch {
	case opts.AllowDestructive:
		mode = "writes and deletes allowed"
	case opts.AllowWrites:
		mode = "writes allowed"
	}
	if opts.HTTP == "" {
		logger.Info("mcp ready", "transport", "stdio", "database", db.Name(), "mode", mode, "tools", s.ToolCount())
		return s.RunStdio(ctx)
	}
	addr, err := httpAddr(opts.HTTP)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return errs.New(errs.ErrUnavailable, "listen", addr, "%v (is another server on that port? choose another with --http)", unwrapNet(err))
	}
	mux := http.NewServeMux()
	mux.Handle("/mcp", s.HTTPHandler(ac, cfg.Auth.CheckRevoked))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	logger.Info("mcp ready", "transport", "http", "url", "http://"+ln.Addr().String()+"/mcp", "database", db.Name(), "mode", mode, "tools", s.ToolCount())
	done := make(chan error, 1)
	go func() { done <- hs.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		hs.Shutdown(sctx)
		if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}
}
