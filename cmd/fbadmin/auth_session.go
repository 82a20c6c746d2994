package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/fbadmin/fbadmin/auth"
	"github.com/fbadmin/fbadmin/auth/session"
	"github.com/fbadmin/fbadmin/internal/errs"
)

// Signed-in sessions: auth login, logout, whoami and sessions. The tokens
// live in the auth/session package's stores (the OS keyring, else a 0600
// file); nothing here prints, logs or puts them in an error.

// sessions opens the session store.
func (d *deps) sessions(store string) (*session.Manager, error) {
	if store == "" {
		store = os.Getenv("FBADMIN_SESSION_STORE")
	}
	m, err := session.Open(session.Options{Store: store, Notice: func(msg string) { d.info("fbadmin: %s", msg) }})
	if err != nil {
		return nil, usageError{err}
	}
	return m, nil
}

// authEmulatorHost returns the Auth emulator's host in emulator mode, ""
// in production.
func (d *deps) authEmulatorHost() string {
	if !d.authEmulator() {
		return ""
	}
	if h := os.Getenv("FIREBASE_AUTH_EMULATOR_HOST"); h != "" {
		return strings.TrimPrefix(h, "http://")
	}
	return defaultAuthEmulator
}

// signInClient returns the end-user REST client (sign-in, refresh) for the
// global flags; it needs no admin credentials, but a Web API key in
// production.
func (d *deps) signInClient(tenant, emulatorHost, apiKey string) (*auth.SignInClient, error) {
	if emulatorHost != "" {
		if err := checkEmulator("Auth", emulatorHost, "FIREBASE_AUTH_EMULATOR_HOST"); err != nil {
			return nil, err
		}
	} else if apiKey == "" {
		return nil, usagef("signing in to production needs the project's Web API key (hint: pass --api-key KEY or set FIREBASE_API_KEY; it is in the Firebase console, Project settings, General)")
	}
	return auth.NewSignInClient(auth.SignInConfig{APIKey: apiKey, EmulatorHost: emulatorHost, TenantID: tenant, HTTPClient: d.httpClient()}), nil
}

type sessionRecord struct {
	Name      string     `json:"name"`
	Default   bool       `json:"default"`
	UID       string     `json:"uid"`
	Email     string     `json:"email,omitempty"`
	Project   string     `json:"project"`
	Tenant    string     `json:"tenant,omitempty"`
	Emulator  string     `json:"emulator,omitempty"`
	Method    string     `json:"method"`
	Store     string     `json:"store"`
	CreatedAt time.Time  `json:"created_at"`
	Expires   *time.Time `json:"id_token_expires,omitempty"`
	Provider  string     `json:"sign_in_provider,omitempty"`
	Claims    any        `json:"claims,omitempty"`
}

func newSessionRecord(s *session.Session) sessionRecord {
	return sessionRecord{Name: s.Name, Default: s.Default, UID: s.UID, Email: s.Email, Project: s.Project, Tenant: s.Tenant,
		Emulator: s.Emulator, Method: s.Method, Store: s.Store, CreatedAt: s.CreatedAt}
}

// ---- login

type loginOptions struct {
	Email       string
	UID         string
	Claims      string
	CustomToken bool
	Name        string
	Store       string
}

func authLoginCommand() *cli.Command {
	return &cli.Command{
		Name:  "login",
		Usage: "sign in as a user and keep the session (refresh token in the OS keyring)",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "email", Usage: "sign in with this email; the password is read from the terminal (no echo) or the first line of stdin"},
			&cli.StringFlag{Name: "uid", Usage: "sign in as this UID through a minted custom token (needs admin credentials, or the emulator)"},
			&cli.StringFlag{Name: "claims", Usage: "with --uid: developer claims for the minted token, a JSON object"},
			&cli.BoolFlag{Name: "custom-token", Usage: "sign in with a custom token read from stdin"},
			&cli.StringFlag{Name: "name", Usage: "the session's name (default: the email, else the UID)"},
			&cli.StringFlag{Name: "store", Usage: "where the refresh token goes: auto (the OS keyring, else a 0600 file), keyring or file", EnvVars: []string{"FBADMIN_SESSION_STORE"}},
		},
		Description: `Signs in as an end user, as a client app does, and keeps the session: its
refresh token goes to the OS keyring (macOS Keychain, Windows Credential
Manager, the Secret Service on Linux) or, where there is none, to
secrets.json in the config directory (mode 0600; a copy readable by others is
refused). The new session becomes the default one for --as and whoami.
Tokens are never printed, logged or taken from the command line: the
password and custom tokens are read from stdin.

In production, sign-in needs the project's Web API key (--api-key or
FIREBASE_API_KEY); on the emulator (--emulator) any key works.

Examples:
   fbadmin --emulator auth login --email ada@example.com < password.txt
   fbadmin --emulator auth login --uid alice --claims '{"role":"editor"}'
   fbadmin auth token mint alice | fbadmin auth login --custom-token --name alice
   fbadmin --as ada@example.com fs get users/ada`,
		Action: func(c *cli.Context) error {
			opts := loginOptions{Email: c.String("email"), UID: c.String("uid"), Claims: c.String("claims"),
				CustomToken: c.Bool("custom-token"), Name: c.String("name"), Store: c.String("store")}
			n := 0
			for _, b := range []bool{opts.Email != "", opts.UID != "", opts.CustomToken} {
				if b {
					n++
				}
			}
			if n != 1 || c.NArg() > 0 {
				return usagef("login needs one of --email, --uid or --custom-token (hint: 'fbadmin auth login --help')")
			}
			if opts.Claims != "" && opts.UID == "" {
				return usagef("--claims goes with --uid")
			}
			return withDeps(c, func(ctx context.Context, d *deps) error { return runLogin(ctx, opts, d) })
		},
	}
}

func runLogin(ctx context.Context, opts loginOptions, d *deps) error {
	project, err := d.project()
	if err != nil {
		return err
	}
	m, err := d.sessions(opts.Store)
	if err != nil {
		return err
	}
	host := d.authEmulatorHost()
	s := &session.Session{Project: project, Tenant: d.g.Tenant, Emulator: host, Email: opts.Email}
	var cred *auth.Credentials
	switch {
	case opts.Email != "":
		s.Method = "password"
		sc, err := d.signInClient(d.g.Tenant, host, d.g.APIKey)
		if err != nil {
			return err
		}
		pw, err := d.readPassword(opts.Email)
		if err != nil {
			return err
		}
		cred, err = sc.SignInWithPassword(ctx, opts.Email, pw)
		if err != nil {
			return fmt.Errorf("%w (hint: check the email and password; the password is read from stdin)", err)
		}
	case opts.UID != "":
		s.Method = "uid"
		a, err := d.auth(ctx)
		if err != nil {
			return err
		}
		claims, err := parseJSONObject("claims", opts.Claims)
		if err != nil {
			return err
		}
		sc, err := d.signInClient(d.g.Tenant, host, d.g.APIKey)
		if err != nil {
			return err
		}
		ct, err := a.CustomToken(ctx, opts.UID, claims)
		if err != nil {
			return err
		}
		if cred, err = sc.SignInWithCustomToken(ctx, ct); err != nil {
			return err
		}
	default:
		s.Method = "custom-token"
		sc, err := d.signInClient(d.g.Tenant, host, d.g.APIKey)
		if err != nil {
			return err
		}
		if d.stdinTTY {
			return usagef("--custom-token reads the token from stdin (hint: fbadmin auth token mint UID | fbadmin auth login --custom-token)")
		}
		ct, err := secretArg(d, "-", "custom token")
		if err != nil {
			return err
		}
		if cred, err = sc.SignInWithCustomToken(ctx, ct); err != nil {
			return err
		}
	}
	s.UID = cred.UID
	// The project the user belongs to is the ID token's audience: on the
	// Auth emulator, the one it was started with, whatever --project says.
	if ti, err := auth.Inspect(cred.IDToken); err == nil && ti.Audience != "" && ti.Audience != s.Project {
		if host == "" {
			return usagef("the Web API key signed %s in to project %s, not %s (hint: use the API key of %s, or --project %s)", s.UID, ti.Audience, s.Project, s.Project, ti.Audience)
		}
		s.Project = ti.Audience
	}
	s.Name = opts.Name
	if s.Name == "" {
		s.Name = s.Email
	}
	if s.Name == "" {
		s.Name = s.UID
	}
	if err := m.Save(s, cred, d.g.APIKey); err != nil {
		return err
	}
	d.info("signed in as %s (%s), session %q kept in the %s; it is now the default for --as and whoami", s.UID, s.Where(), s.Name, s.Store)
	s.Default = true
	rec := newSessionRecord(s)
	exp := cred.ExpiresAt.UTC()
	rec.Expires = &exp
	return d.printer().One(rec)
}

// readPassword reads a password from the terminal without echo, or the
// first line of stdin.
func (d *deps) readPassword(email string) (string, error) {
	if d.stdinTTY {
		fmt.Fprintf(d.stderr, "Password for %s: ", email)
		b, err := term.ReadPassword(int(os.Stdin.Fd()))
		fmt.Fprintln(d.stderr)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		return string(b), nil
	}
	line, err := bufio.NewReader(d.stdin).ReadString('\n')
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		if err != nil && err.Error() != "EOF" {
			return "", fmt.Errorf("read password from stdin: %w", err)
		}
		return "", usagef("no password on stdin (hint: fbadmin auth login --email %s < FILE, or run it on a terminal to be asked)", email)
	}
	return line, nil
}

// ---- logout

type logoutOptions struct {
	Name   string
	Revoke bool
}

func authLogoutCommand() *cli.Command {
	return &cli.Command{
		Name:      "logout",
		Usage:     "forget a session (the default one, or NAME); --revoke also revokes the user's refresh tokens",
		ArgsUsage: "[NAME]",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "revoke", Usage: "also revoke every refresh token of the user at Firebase (needs admin credentials, or the emulator)"},
		},
		Description: `Deletes the session's tokens from where they were kept. Without --revoke
nothing is revoked at Firebase: a copy of the refresh token made before
would still work, and the command says so.

Examples:
   fbadmin auth logout
   fbadmin auth logout ada@example.com --revoke`,
		Action: func(c *cli.Context) error {
			if c.NArg() > 1 {
				return usagef("logout takes at most one session name")
			}
			opts := logoutOptions{Name: c.Args().First(), Revoke: c.Bool("revoke")}
			return withDeps(c, func(ctx context.Context, d *deps) error { return runLogout(ctx, opts, d) })
		},
	}
}

func runLogout(ctx context.Context, opts logoutOptions, d *deps) error {
	m, err := d.sessions("")
	if err != nil {
		return err
	}
	s, err := m.Get(opts.Name)
	if err != nil {
		return err
	}
	if opts.Revoke {
		if (s.Emulator != "") != d.authEmulator() {
			return usagef("session %s belongs to %s: run logout --revoke with the same mode (hint: add or drop --emulator)", s.Name, s.Where())
		}
		if d.g.Project != "" && d.g.Project != s.Project && s.Emulator == "" {
			return usagef("session %s belongs to project %s, not %s", s.Name, s.Project, d.g.Project)
		}
		d.g.Project, d.g.Tenant = s.Project, s.Tenant
		a, err := d.auth(ctx)
		if err != nil {
			return err
		}
		if err := a.RevokeRefreshTokens(ctx, s.UID); err != nil {
			return err
		}
	}
	if _, err := m.Remove(s.Name); err != nil {
		return err
	}
	if opts.Revoke {
		d.info("signed out of %s and revoked every refresh token of %s", s.Name, s.UID)
	} else {
		d.info("signed out of %s; nothing was revoked: its refresh token stays valid at Firebase until revoked (hint: 'fbadmin auth logout --revoke' or 'fbadmin auth revoke %s')", s.Name, s.UID)
	}
	return d.printer().One(map[string]any{"name": s.Name, "uid": s.UID, "revoked": opts.Revoke})
}

// ---- whoami

func authWhoamiCommand() *cli.Command {
	return &cli.Command{
		Name:      "whoami",
		Usage:     "show the signed-in user of a session (--as NAME, else the default), refreshing its ID token if needed",
		ArgsUsage: " ",
		Description: `Prints the session (no token) with the ID token's expiry, sign-in provider
and custom claims. A session whose refresh token was revoked exits 1 and
says to sign in again.

Examples:
   fbadmin auth whoami
   fbadmin --as ada@example.com auth whoami -o json | jq .claims`,
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("whoami takes no arguments (hint: --as NAME picks a session)")
			}
			return withDeps(c, func(ctx context.Context, d *deps) error { return runWhoami(ctx, d) })
		},
	}
}

func runWhoami(ctx context.Context, d *deps) error {
	m, err := d.sessions("")
	if err != nil {
		return err
	}
	s, err := m.Get(d.g.As)
	if err != nil {
		return err
	}
	src, err := d.sessionSource(m, s)
	if err != nil {
		return err
	}
	defer src.Close()
	cred, err := src.Credentials(ctx)
	if err != nil {
		return err
	}
	rec := newSessionRecord(s)
	exp := cred.ExpiresAt.UTC()
	rec.Expires = &exp
	if ti, err := auth.Inspect(cred.IDToken); err == nil {
		custom := map[string]any{}
		for k, v := range ti.Claims {
			switch k {
			case "iss", "aud", "auth_time", "user_id", "sub", "iat", "exp", "email", "email_verified", "firebase", "name", "picture", "phone_number":
			default:
				custom[k] = v
			}
		}
		if len(custom) > 0 {
			rec.Claims = custom
		}
		if fb, ok := ti.Claims["firebase"].(map[string]any); ok {
			rec.Provider, _ = fb["sign_in_provider"].(string)
		}
	}
	return d.printer().One(rec)
}

// sessionSource returns the token source of a stored session, checking
// that it fits the mode of this command.
func (d *deps) sessionSource(m *session.Manager, s *session.Session) (*session.Source, error) {
	if s.Emulator != "" && !d.authEmulator() {
		return nil, usagef("session %s belongs to %s, and this command runs against production (hint: add --emulator)", s.Name, s.Where())
	}
	if s.Emulator == "" && d.authEmulator() {
		return nil, usagef("session %s belongs to %s in production, and this command runs against the emulators (hint: drop --emulator and unset FIREBASE_AUTH_EMULATOR_HOST)", s.Name, s.Where())
	}
	host := ""
	if s.Emulator != "" {
		host = d.authEmulatorHost()
	}
	key, err := m.APIKey(s)
	if err != nil {
		return nil, err
	}
	if key == "" {
		key = d.g.APIKey
	}
	sc, err := d.signInClient(s.Tenant, host, key)
	if err != nil {
		return nil, err
	}
	return m.Source(s, sc)
}

// ---- sessions

func authSessionsCommand() *cli.Command {
	return &cli.Command{
		Name:  "sessions",
		Usage: "list the kept sessions; use NAME makes one the default, remove NAME forgets one",
		Description: `Examples:
   fbadmin auth sessions
   fbadmin auth sessions use ada@example.com
   fbadmin auth sessions remove alice`,
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("unknown sessions command %q (hint: list, use NAME or remove NAME)", c.Args().First())
			}
			return withDeps(c, func(ctx context.Context, d *deps) error { return runSessionsList(d) })
		},
		Subcommands: []*cli.Command{
			{
				Name: "list", Usage: "list the sessions (the default)",
				Description: `Prints each session: name, whether it is the default, UID, email, project,
the Auth emulator it belongs to, how it signed in and where its tokens are.

Examples:
   fbadmin auth sessions list -o table`,
				Action: func(c *cli.Context) error {
					return withDeps(c, func(ctx context.Context, d *deps) error { return runSessionsList(d) })
				},
			},
			{
				Name: "use", Usage: "make a session the default one", ArgsUsage: "NAME",
				Description: `The default session is the one 'fbadmin auth whoami' and 'fbadmin auth
logout' act on when no session is named.

Examples:
   fbadmin auth sessions use ada@example.com`,
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return usagef("sessions use needs one session name")
					}
					return withDeps(c, func(ctx context.Context, d *deps) error {
						m, err := d.sessions("")
						if err != nil {
							return err
						}
						if err := m.SetDefault(c.Args().First()); err != nil {
							return err
						}
						d.info("%s is now the default session", c.Args().First())
						return nil
					})
				},
			},
			{
				Name: "remove", Usage: "forget a session and delete its tokens (revokes nothing; see logout --revoke)", ArgsUsage: "NAME",
				Description: `The same as 'fbadmin auth logout NAME'.

Examples:
   fbadmin auth sessions remove alice`,
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return usagef("sessions remove needs one session name")
					}
					opts := logoutOptions{Name: c.Args().First()}
					return withDeps(c, func(ctx context.Context, d *deps) error { return runLogout(ctx, opts, d) })
				},
			},
		},
	}
}

func runSessionsList(d *deps) error {
	m, err := d.sessions("")
	if err != nil {
		return err
	}
	ss, err := m.List()
	if err != nil {
		return err
	}
	sort.SliceStable(ss, func(i, j int) bool { return ss[i].Name < ss[j].Name })
	pr := d.printer()
	for i := range ss {
		if err := pr.Item(newSessionRecord(&ss[i])); err != nil {
			return err
		}
	}
	return pr.Close()
}

// asNotFound tells whether err is a missing session.
func asNotFound(err error) bool { return errs.KindOf(err) == errs.ErrNotFound }
