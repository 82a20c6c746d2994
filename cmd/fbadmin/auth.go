package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/fbadmin/fbadmin/auth"
	"github.com/fbadmin/fbadmin/internal/errs"
)

// authCommand is the Firebase Auth command group; it mirrors the auth
// package.
func authCommand() *cli.Command {
	return &cli.Command{
		Name:  "auth",
		Usage: "manage Firebase Auth users, claims and tokens",
		Description: `Every command takes --tenant to act inside a tenant. With --emulator (or
FIREBASE_AUTH_EMULATOR_HOST set) commands go to the Auth emulator, default
127.0.0.1:9099. Token sign-in and refresh use the Web API key in
FIREBASE_API_KEY (optional on the emulator). Where a command takes a token,
"-" reads it from stdin, which keeps it out of shell history and ps.

Examples:
   fbadmin auth users create --email ada@example.com --password 's3cret!'
   fbadmin auth users list -o ndjson
   fbadmin auth claims set UID --data '{"role":"admin"}'
   fbadmin auth token mint UID --claims '{"role":"admin"}' | fbadmin auth token exchange -`,
		Subcommands: []*cli.Command{
			authUsersCommand(),
			authClaimsCommand(),
			authTokenCommand(),
			authRevokeCommand(),
			authLinkCommand(),
		},
	}
}

// authClient returns the Auth client for the global flags.
func (d *deps) auth(ctx context.Context) (*auth.Client, error) {
	project, err := d.project()
	if err != nil {
		return nil, err
	}
	cfg := auth.Config{ProjectID: project, TenantID: d.g.Tenant, APIKey: os.Getenv("FIREBASE_API_KEY"), HTTPClient: d.httpClient()}
	if d.authEmulator() {
		host := os.Getenv("FIREBASE_AUTH_EMULATOR_HOST")
		if host == "" {
			host = defaultAuthEmulator
		}
		if err := checkEmulator("Auth", host, "FIREBASE_AUTH_EMULATOR_HOST"); err != nil {
			return nil, err
		}
		cfg.EmulatorHost = host
	} else {
		if err := d.checkCredentials(ctx); err != nil {
			return nil, err
		}
		cfg.CredentialsFile = d.g.Credentials
	}
	c, err := auth.New(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (d *deps) authEmulator() bool {
	return d.g.Emulator || os.Getenv("FIREBASE_AUTH_EMULATOR_HOST") != ""
}

// httpClient logs requests under --verbose: method, URL without its query
// (which may hold an API key), status and latency. Never headers or bodies.
func (d *deps) httpClient() *http.Client {
	if !d.g.Verbose {
		return nil
	}
	return &http.Client{Timeout: 60 * time.Second, Transport: loggingTransport{d: d, next: http.DefaultTransport}}
}

type loggingTransport struct {
	d    *deps
	next http.RoundTripper
}

func (t loggingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.next.RoundTrip(r)
	u := *r.URL
	u.RawQuery = ""
	status := 0
	if resp != nil {
		status = resp.StatusCode
	}
	t.d.log.Debug("http", "method", r.Method, "url", u.String(), "status", status, "latency", time.Since(start).Round(time.Microsecond))
	return resp, err
}

// userRecord is how a user is printed.
type userRecord struct {
	UID           string         `json:"uid"`
	Email         string         `json:"email,omitempty"`
	EmailVerified bool           `json:"email_verified"`
	Phone         string         `json:"phone,omitempty"`
	DisplayName   string         `json:"display_name,omitempty"`
	PhotoURL      string         `json:"photo_url,omitempty"`
	Disabled      bool           `json:"disabled"`
	Claims        map[string]any `json:"custom_claims,omitempty"`
	Providers     []string       `json:"providers,omitempty"`
	TenantID      string         `json:"tenant_id,omitempty"`
	Created       *time.Time     `json:"created,omitempty"`
	LastSignIn    *time.Time     `json:"last_sign_in,omitempty"`
}

func newUserRecord(u *auth.UserRecord) userRecord {
	r := userRecord{Disabled: u.Disabled, EmailVerified: u.EmailVerified, Claims: u.CustomClaims, TenantID: u.TenantID}
	if u.UserInfo != nil {
		r.UID, r.Email, r.Phone, r.DisplayName, r.PhotoURL = u.UID, u.Email, u.PhoneNumber, u.DisplayName, u.PhotoURL
	}
	for _, p := range u.ProviderUserInfo {
		r.Providers = append(r.Providers, p.ProviderID)
	}
	if m := u.UserMetadata; m != nil {
		if m.CreationTimestamp > 0 {
			t := time.UnixMilli(m.CreationTimestamp).UTC()
			r.Created = &t
		}
		if m.LastLogInTimestamp > 0 {
			t := time.UnixMilli(m.LastLogInTimestamp).UTC()
			r.LastSignIn = &t
		}
	}
	return r
}

// parseJSONObject parses a flag's JSON object (claims).
func parseJSONObject(flag, s string) (map[string]any, error) {
	if s == "" {
		return nil, nil
	}
	var m map[string]any
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return nil, usagef("--%s: not a JSON object: %v", flag, err)
	}
	return m, nil
}

// secretArg returns a token argument, reading it from stdin for "-".
func secretArg(d *deps, arg, what string) (string, error) {
	if arg != "-" {
		return arg, nil
	}
	b, err := io.ReadAll(io.LimitReader(d.stdin, 1<<20))
	if err != nil {
		return "", fmt.Errorf("read %s from stdin: %w", what, err)
	}
	line := string(b)
	line = strings.TrimSpace(line)
	if line == "" {
		return "", usagef("no %s on stdin", what)
	}
	// Accept the JSON printed by the other token commands.
	if strings.HasPrefix(line, "{") {
		key := map[string]string{"custom token": "token", "refresh token": "refresh_token", "id token": "id_token"}[what]
		var v map[string]any
		if json.Unmarshal([]byte(line), &v) == nil {
			if s, ok := v[key].(string); ok && s != "" {
				return s, nil
			}
			return "", usagef("the JSON on stdin has no %q", key)
		}
	}
	return line, nil
}

func authAction(c *cli.Context, run func(ctx context.Context, d *deps, a *auth.Client) error) error {
	return withDeps(c, func(ctx context.Context, d *deps) error {
		a, err := d.auth(ctx)
		if err != nil {
			return err
		}
		return run(ctx, d, a)
	})
}

// ---- users

func authUsersCommand() *cli.Command {
	return &cli.Command{
		Name:  "users",
		Usage: "create, get, list, update, delete, search, import and export users",
		Subcommands: []*cli.Command{
			authUsersCreateCommand(), authUsersGetCommand(), authUsersListCommand(), authUsersUpdateCommand(),
			authUsersDeleteCommand(), authUsersSearchCommand(), authUsersImportCommand(), authUsersExportCommand(),
		},
	}
}

func userFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "email"},
		&cli.StringFlag{Name: "password", Usage: "the password (prefer --password-file: a flag shows in ps)"},
		&cli.StringFlag{Name: "password-file", Usage: "read the password from `FILE` (- for stdin)"},
		&cli.StringFlag{Name: "phone", Usage: "phone number in E.164 form (+15555550100)"},
		&cli.StringFlag{Name: "display-name"},
		&cli.StringFlag{Name: "photo-url"},
		&cli.BoolFlag{Name: "email-verified"},
		&cli.BoolFlag{Name: "disabled"},
	}
}

func password(c *cli.Context, d *deps) (string, bool, error) {
	if f := c.String("password-file"); f != "" {
		var b []byte
		var err error
		if f == "-" {
			b, err = io.ReadAll(d.stdin)
		} else {
			b, err = os.ReadFile(f)
		}
		if err != nil {
			return "", false, usagef("--password-file: %v", err)
		}
		return strings.TrimRight(string(b), "\r\n"), true, nil
	}
	if c.IsSet("password") {
		return c.String("password"), true, nil
	}
	return "", false, nil
}

func authUsersCreateCommand() *cli.Command {
	return &cli.Command{
		Name:  "create",
		Usage: "create a user",
		Flags: append(userFlags(),
			&cli.StringFlag{Name: "uid", Usage: "the user's ID (default: generated)"},
			&cli.StringFlag{Name: "claims", Usage: "custom claims as a JSON object"},
		),
		Description: `Examples:
   fbadmin auth users create --email ada@example.com --password-file pw.txt --display-name Ada
   fbadmin auth users create --uid svc-1 --claims '{"role":"service"}' -o json | jq -r .uid`,
		Action: func(c *cli.Context) error {
			return authAction(c, func(ctx context.Context, d *deps, a *auth.Client) error {
				u := (&auth.UserToCreate{})
				if v := c.String("uid"); v != "" {
					u = u.UID(v)
				}
				if v := c.String("email"); v != "" {
					u = u.Email(v)
				}
				if pw, ok, err := password(c, d); err != nil {
					return err
				} else if ok {
					u = u.Password(pw)
				}
				if v := c.String("phone"); v != "" {
					u = u.PhoneNumber(v)
				}
				if v := c.String("display-name"); v != "" {
					u = u.DisplayName(v)
				}
				if v := c.String("photo-url"); v != "" {
					u = u.PhotoURL(v)
				}
				if c.IsSet("email-verified") {
					u = u.EmailVerified(c.Bool("email-verified"))
				}
				if c.IsSet("disabled") {
					u = u.Disabled(c.Bool("disabled"))
				}
				claims, err := parseJSONObject("claims", c.String("claims"))
				if err != nil {
					return err
				}
				if err := auth.ValidateClaims(claims); claims != nil && err != nil {
					return err
				}
				rec, err := a.CreateUser(ctx, u)
				if err != nil {
					return err
				}
				if claims != nil {
					if err := a.SetCustomClaims(ctx, rec.UID, claims); err != nil {
						return err
					}
					if rec, err = a.GetUser(ctx, rec.UID); err != nil {
						return err
					}
				}
				return d.printer().One(newUserRecord(rec))
			})
		},
	}
}

// getUser finds a user by UID, email (with @) or phone (starting with +).
func getUser(ctx context.Context, a *auth.Client, key string) (*auth.UserRecord, error) {
	switch {
	case strings.Contains(key, "@"):
		return a.GetUserByEmail(ctx, key)
	case strings.HasPrefix(key, "+"):
		return a.GetUserByPhone(ctx, key)
	}
	return a.GetUser(ctx, key)
}

func authUsersGetCommand() *cli.Command {
	return &cli.Command{
		Name:      "get",
		Usage:     "print users by UID, email or phone number",
		ArgsUsage: "UID|EMAIL|PHONE...",
		Description: `An argument with @ is an email, one starting with + a phone number, others UIDs.

Examples:
   fbadmin auth users get ada@example.com
   fbadmin auth users get uid1 uid2 +15555550100 -o ndjson`,
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return usagef("users get needs a UID, email or phone number")
			}
			return authAction(c, func(ctx context.Context, d *deps, a *auth.Client) error {
				pr := d.printer()
				var missing []string
				for _, key := range c.Args().Slice() {
					u, err := getUser(ctx, a, key)
					if errors.Is(err, errs.ErrNotFound) {
						missing = append(missing, key)
						continue
					}
					if err != nil {
						return err
					}
					if c.NArg() == 1 {
						return pr.One(newUserRecord(u))
					}
					pr.Item(newUserRecord(u))
				}
				if c.NArg() > 1 {
					pr.Close()
				}
				if len(missing) > 0 {
					return errs.New(errs.ErrNotFound, "get user", strings.Join(missing, ", "), "no such user")
				}
				return nil
			})
		},
	}
}

func authUsersListCommand() *cli.Command {
	return &cli.Command{
		Name:  "list",
		Usage: "list users, all of them or one page at a time",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "page-size", Usage: "return one page of N users (up to 1000) and a token for the next"},
			&cli.StringFlag{Name: "page-token", Usage: "the page to return"},
		},
		Description: `Without --page-size every user is streamed.

Examples:
   fbadmin auth users list -o ndjson
   fbadmin auth users list --page-size 100 -o json | jq -r .next_page_token`,
		Action: func(c *cli.Context) error {
			return authAction(c, func(ctx context.Context, d *deps, a *auth.Client) error {
				pr := d.printer()
				pr.Empty = "(no users)"
				if size := c.Int("page-size"); size > 0 {
					page, err := a.ListUsers(ctx, size, c.String("page-token"))
					if err != nil {
						return err
					}
					recs := []userRecord{}
					for _, u := range page.Users {
						recs = append(recs, newUserRecord(u.UserRecord))
					}
					if d.format == "json" || d.format == "yaml" {
						return pr.One(struct {
							Users []userRecord `json:"users"`
							Next  string       `json:"next_page_token"`
						}{recs, page.NextPageToken})
					}
					for _, r := range recs {
						pr.Item(r)
					}
					if page.NextPageToken != "" {
						fmt.Fprintf(d.stderr, "next page: --page-token %s\n", page.NextPageToken)
					}
					return pr.Close()
				}
				for u, err := range a.AllUsers(ctx) {
					if err != nil {
						pr.Close()
						return err
					}
					if err := pr.Item(newUserRecord(u.UserRecord)); err != nil {
						return err
					}
				}
				return pr.Close()
			})
		},
	}
}

func authUsersUpdateCommand() *cli.Command {
	return &cli.Command{
		Name:      "update",
		Usage:     "update a user",
		ArgsUsage: "UID",
		Flags: append(userFlags(),
			&cli.BoolFlag{Name: "enabled", Usage: "enable the user (the opposite of --disabled)"},
		),
		Description: `Only the flags given change.

Examples:
   fbadmin auth users update UID --display-name "Ada L." --email-verified
   fbadmin auth users update UID --disabled`,
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef("users update needs one UID")
			}
			return authAction(c, func(ctx context.Context, d *deps, a *auth.Client) error {
				u := &auth.UserToUpdate{}
				n := 0
				set := func(name string, f func()) {
					if c.IsSet(name) {
						f()
						n++
					}
				}
				set("email", func() { u = u.Email(c.String("email")) })
				set("phone", func() { u = u.PhoneNumber(c.String("phone")) })
				set("display-name", func() { u = u.DisplayName(c.String("display-name")) })
				set("photo-url", func() { u = u.PhotoURL(c.String("photo-url")) })
				set("email-verified", func() { u = u.EmailVerified(c.Bool("email-verified")) })
				set("disabled", func() { u = u.Disabled(c.Bool("disabled")) })
				set("enabled", func() { u = u.Disabled(!c.Bool("enabled")) })
				if pw, ok, err := password(c, d); err != nil {
					return err
				} else if ok {
					u = u.Password(pw)
					n++
				}
				if n == 0 {
					return usagef("nothing to update: give at least one of --email, --password, --display-name, ...")
				}
				rec, err := a.UpdateUser(ctx, c.Args().First(), u)
				if err != nil {
					return err
				}
				return d.printer().One(newUserRecord(rec))
			})
		},
	}
}

func authUsersDeleteCommand() *cli.Command {
	return &cli.Command{
		Name:      "delete",
		Usage:     "delete users",
		ArgsUsage: "UID...",
		Flags:     []cli.Flag{&cli.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: "do not ask for confirmation"}},
		Description: `Asks for confirmation on a terminal; elsewhere --yes is required.

Examples:
   fbadmin auth users delete UID --yes
   fbadmin auth users list -o ndjson | jq -r .uid | xargs fbadmin auth users delete --yes`,
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return usagef("users delete needs at least one UID")
			}
			return authAction(c, func(ctx context.Context, d *deps, a *auth.Client) error {
				uids := c.Args().Slice()
				if err := d.confirm(c.Bool("yes"), fmt.Sprintf("delete %d user(s) of %s?", len(uids), a.ProjectID())); err != nil {
					return err
				}
				if len(uids) == 1 {
					if err := a.DeleteUser(ctx, uids[0]); err != nil {
						return err
					}
					d.info("deleted user %s", uids[0])
					return nil
				}
				res, err := a.DeleteUsers(ctx, uids)
				if err != nil {
					return err
				}
				for _, e := range res.Errors {
					fmt.Fprintf(d.stderr, "delete user %s: %s\n", uids[e.Index], e.Reason)
				}
				d.info("deleted %d users, %d failed", res.SuccessCount, res.FailureCount)
				if res.FailureCount > 0 {
					return partialError{fmt.Errorf("%d users could not be deleted", res.FailureCount)}
				}
				return nil
			})
		},
	}
}

func authUsersSearchCommand() *cli.Command {
	return &cli.Command{
		Name:  "search",
		Usage: "search users by email, phone number or UID",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "email"}, &cli.StringFlag{Name: "phone"}, &cli.StringFlag{Name: "uid"},
			&cli.StringFlag{Name: "sort-by", Usage: "uid, name, created, last-login or email"},
			&cli.BoolFlag{Name: "desc", Usage: "sort in descending order"},
			&cli.IntFlag{Name: "limit", Usage: "at most N users (up to 500; default 500)"},
			&cli.IntFlag{Name: "offset", Usage: "skip the first N matches"},
		},
		Description: `Examples:
   fbadmin auth users search --email ada@example.com
   fbadmin auth users search --sort-by created --desc --limit 10 -o table`,
		Action: func(c *cli.Context) error {
			return authAction(c, func(ctx context.Context, d *deps, a *auth.Client) error {
				sorts := map[string]auth.SortBy{"uid": auth.SortByUID, "name": auth.SortByName, "created": auth.SortByCreatedAt,
					"last-login": auth.SortByLastLoginAt, "email": auth.SortByEmail}
				q := &auth.QueryUsersRequest{Limit: int64(c.Int("limit")), Offset: int64(c.Int("offset"))}
				if sb := c.String("sort-by"); sb != "" {
					sortBy, ok := sorts[sb]
					if !ok {
						return usagef("--sort-by %q: use uid, name, created, last-login or email", sb)
					}
					q.SortBy, q.Order = sortBy, auth.Ascending
					if c.Bool("desc") {
						q.Order = auth.Descending
					}
				}
				if e, p, u := c.String("email"), c.String("phone"), c.String("uid"); e != "" || p != "" || u != "" {
					q.Expression = []*auth.Expression{{Email: e, PhoneNumber: p, UID: u}}
				}
				res, err := a.QueryUsers(ctx, q)
				if err != nil {
					return err
				}
				pr := d.printer()
				pr.Empty = "(no users)"
				for _, u := range res.Users {
					pr.Item(newUserRecord(u))
				}
				return pr.Close()
			})
		},
	}
}

func authUsersImportCommand() *cli.Command {
	return &cli.Command{
		Name:      "import",
		Usage:     "import users from a Firebase CLI auth:export JSON file",
		ArgsUsage: "FILE|-",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "hash-algo", Usage: "password hash algorithm of the file (HMAC_SHA256, SCRYPT, BCRYPT, PBKDF2_SHA256, ...)"},
			&cli.StringFlag{Name: "hash-key", Usage: "base64 hash key (HMAC and SCRYPT)"},
			&cli.StringFlag{Name: "salt-separator", Usage: "base64 salt separator (SCRYPT)"},
			&cli.IntFlag{Name: "rounds", Usage: "hash rounds"},
			&cli.IntFlag{Name: "memory-cost", Usage: "memory cost (SCRYPT)"},
			&cli.IntFlag{Name: "concurrency", Value: 4, Usage: "batches of 1,000 users in flight"},
		},
		Description: `Reads the file as a stream and imports batches of up to 1,000 users;
a user that fails is reported (exit 3) and the others are imported.

Examples:
   fbadmin auth users import users.json
   fbadmin auth users import users.json --hash-algo HMAC_SHA256 --hash-key "$KEY"
   firebase auth:export users.json && fbadmin auth users import users.json --project demo-other`,
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef("users import needs one file (or - for stdin)")
			}
			return authAction(c, func(ctx context.Context, d *deps, a *auth.Client) error {
				var r io.Reader = d.stdin
				if f := c.Args().First(); f != "-" {
					file, err := os.Open(f)
					if err != nil {
						return usagef("%v", err)
					}
					defer file.Close()
					r = file
				}
				hc := auth.HashConfig{Algorithm: c.String("hash-algo"), Rounds: c.Int("rounds"), MemoryCost: c.Int("memory-cost")}
				for _, kv := range []struct {
					flag string
					dst  *[]byte
				}{{"hash-key", &hc.Key}, {"salt-separator", &hc.SaltSeparator}} {
					if v := c.String(kv.flag); v != "" {
						b, err := decodeBase64(v)
						if err != nil {
							return usagef("--%s: not base64: %v", kv.flag, err)
						}
						*kv.dst = b
					}
				}
				prog := d.progress("import users")
				var done atomic.Int64
				rep, err := a.ImportUsers(ctx, r, auth.ImportOptions{Hash: hc, Concurrency: c.Int("concurrency"), Progress: func(r auth.ImportReport) {
					n := int64(r.Imported + r.Failed)
					prog.Add(n-done.Swap(n), 0)
				}})
				prog.Finish()
				if rep != nil {
					for i, f := range rep.Failures {
						if i >= maxFailureLines {
							fmt.Fprintf(d.stderr, "import users: ... and %d more failures\n", rep.Failed-maxFailureLines)
							break
						}
						fmt.Fprintf(d.stderr, "import users: user %d (%s): %s\n", f.Index, f.UID, f.Reason)
					}
					d.info("import users: %d imported, %d failed in %.2f s", rep.Imported, rep.Failed, rep.Duration.Seconds())
				}
				if err != nil {
					return err
				}
				if rep.Failed > 0 {
					return partialError{fmt.Errorf("import users: %d users failed", rep.Failed)}
				}
				return nil
			})
		},
	}
}

// decodeBase64 accepts standard and URL-safe base64, padded or not.
func decodeBase64(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	_, err := base64.StdEncoding.DecodeString(s)
	return nil, err
}

func authUsersExportCommand() *cli.Command {
	return &cli.Command{
		Name:  "export",
		Usage: "export every user as a Firebase CLI auth:export JSON file",
		Flags: []cli.Flag{&cli.StringFlag{Name: "out", Aliases: []string{"O"}, Value: "-", Usage: "write to `FILE` (- for stdout)"}},
		Description: `The file imports with 'fbadmin auth users import' or 'firebase auth:import'.

Examples:
   fbadmin auth users export --out users.json
   fbadmin auth users export --tenant tenant-1 | gzip > tenant-1.json.gz`,
		Action: func(c *cli.Context) error {
			return authAction(c, func(ctx context.Context, d *deps, a *auth.Client) error {
				var w io.Writer = d.stdout
				out := c.String("out")
				var f *os.File
				if out != "-" {
					var err error
					if f, err = os.Create(out + ".partial"); err != nil {
						return usagef("--out: %v", err)
					}
					defer func() {
						if f != nil {
							f.Close()
							os.Remove(out + ".partial")
						}
					}()
					w = f
				}
				bw := bufio.NewWriterSize(w, 256<<10)
				start := time.Now()
				n, err := a.ExportUsers(ctx, bw, auth.ExportOptions{})
				if err == nil {
					err = bw.Flush()
				}
				if err != nil {
					return err
				}
				if f != nil {
					if err := f.Close(); err != nil {
						return err
					}
					f = nil
					if err := os.Rename(out+".partial", out); err != nil {
						return err
					}
				}
				d.info("export users: %d users in %.2f s", n, time.Since(start).Seconds())
				return nil
			})
		},
	}
}

// ---- claims

func authClaimsCommand() *cli.Command {
	return &cli.Command{
		Name:  "claims",
		Usage: "get and set a user's custom claims",
		Subcommands: []*cli.Command{
			{
				Name:      "get",
				Usage:     "print a user's custom claims",
				ArgsUsage: "UID",
				Description: `Examples:
   fbadmin auth claims get UID -o json`,
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return usagef("claims get needs one UID")
					}
					return authAction(c, func(ctx context.Context, d *deps, a *auth.Client) error {
						claims, err := a.CustomClaims(ctx, c.Args().First())
						if err != nil {
							return err
						}
						if claims == nil {
							claims = map[string]any{}
						}
						return d.printer().One(claims)
					})
				},
			},
			{
				Name:      "set",
				Usage:     "replace (or with --merge, update) a user's custom claims",
				ArgsUsage: "UID",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "data", Aliases: []string{"d"}, Usage: "claims as a JSON object ({} clears them)"},
					&cli.BoolFlag{Name: "merge", Usage: "merge into the existing claims; a null value removes a claim"},
				},
				Description: `Claims reach ID tokens at their next refresh. Reserved names (iss, aud, exp,
sub, firebase, ...) and claims over 1,000 bytes are refused before any call.

Examples:
   fbadmin auth claims set UID --data '{"role":"admin","tier":2}'
   fbadmin auth claims set UID --merge --data '{"tier":null}'`,
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return usagef("claims set needs one UID")
					}
					if !c.IsSet("data") {
						return usagef("claims set needs --data '{...}'")
					}
					return authAction(c, func(ctx context.Context, d *deps, a *auth.Client) error {
						claims, err := parseJSONObject("data", c.String("data"))
						if err != nil {
							return err
						}
						uid := c.Args().First()
						if c.Bool("merge") {
							merged, err := a.MergeCustomClaims(ctx, uid, claims)
							if err != nil {
								return err
							}
							return d.printer().One(merged)
						}
						if err := a.SetCustomClaims(ctx, uid, claims); err != nil {
							return err
						}
						return d.printer().One(claims)
					})
				},
			},
		},
	}
}

// ---- tokens

type tokenRecord struct {
	Token string `json:"token"`
}

type credentialsRecord struct {
	UID          string    `json:"uid"`
	IDToken      string    `json:"id_token"`
	RefreshToken string    `json:"refresh_token"`
	ExpiresAt    time.Time `json:"expires_at"`
	TenantID     string    `json:"tenant_id,omitempty"`
}

func newCredentialsRecord(c *auth.Credentials) credentialsRecord {
	return credentialsRecord{UID: c.UID, IDToken: c.IDToken, RefreshToken: c.RefreshToken, ExpiresAt: c.ExpiresAt.UTC(), TenantID: c.TenantID}
}

func authTokenCommand() *cli.Command {
	return &cli.Command{
		Name:  "token",
		Usage: "mint, exchange, refresh and verify tokens",
		Subcommands: []*cli.Command{
			{
				Name:      "mint",
				Usage:     "mint a custom token for a user",
				ArgsUsage: "UID",
				Flags:     []cli.Flag{&cli.StringFlag{Name: "claims", Usage: "developer claims as a JSON object"}},
				Description: `Prints {"token": "..."}; with -o table, the token alone.

Examples:
   fbadmin auth token mint UID --claims '{"role":"admin"}'
   fbadmin auth token mint UID | fbadmin auth token exchange -`,
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return usagef("token mint needs one UID")
					}
					return authAction(c, func(ctx context.Context, d *deps, a *auth.Client) error {
						claims, err := parseJSONObject("claims", c.String("claims"))
						if err != nil {
							return err
						}
						tok, err := a.CustomToken(ctx, c.Args().First(), claims)
						if err != nil {
							return err
						}
						return printToken(d, tok)
					})
				},
			},
			{
				Name:      "exchange",
				Usage:     "sign in with a custom token: print an ID token and a refresh token",
				ArgsUsage: "CUSTOM_TOKEN|-",
				Description: `Examples:
   fbadmin auth token exchange "$CUSTOM_TOKEN"
   fbadmin auth token mint UID | fbadmin auth token exchange - -o json | jq -r .id_token`,
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return usagef("token exchange needs a custom token (or - for stdin)")
					}
					return authAction(c, func(ctx context.Context, d *deps, a *auth.Client) error {
						tok, err := secretArg(d, c.Args().First(), "custom token")
						if err != nil {
							return err
						}
						cr, err := a.SignInClient().SignInWithCustomToken(ctx, tok)
						if err != nil {
							return err
						}
						return d.printer().One(newCredentialsRecord(cr))
					})
				},
			},
			{
				Name:      "refresh",
				Usage:     "exchange a refresh token for a fresh ID token",
				ArgsUsage: "REFRESH_TOKEN|-",
				Description: `Examples:
   fbadmin auth token refresh "$REFRESH_TOKEN" -o json | jq -r .id_token`,
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return usagef("token refresh needs a refresh token (or - for stdin)")
					}
					return authAction(c, func(ctx context.Context, d *deps, a *auth.Client) error {
						tok, err := secretArg(d, c.Args().First(), "refresh token")
						if err != nil {
							return err
						}
						cr, err := a.SignInClient().Refresh(ctx, tok)
						if err != nil {
							return err
						}
						return d.printer().One(newCredentialsRecord(cr))
					})
				},
			},
			{
				Name:      "verify",
				Usage:     "verify an ID token (or a session cookie) and print its claims",
				ArgsUsage: "ID_TOKEN|-",
				Flags: []cli.Flag{
					&cli.BoolFlag{Name: "check-revoked", Usage: "also reject revoked sessions and disabled users"},
					&cli.BoolFlag{Name: "session-cookie", Usage: "the token is a session cookie"},
				},
				Description: `A token that fails verification exits 1 with the reason (expired, wrong
audience, bad signature, revoked, ...).

Examples:
   fbadmin auth token verify "$ID_TOKEN" --check-revoked
   fbadmin auth token exchange "$CT" -o json | jq -r .id_token | fbadmin auth token verify -`,
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return usagef("token verify needs a token (or - for stdin)")
					}
					return authAction(c, func(ctx context.Context, d *deps, a *auth.Client) error {
						tok, err := secretArg(d, c.Args().First(), "id token")
						if err != nil {
							return err
						}
						opts := auth.VerifyOptions{CheckRevoked: c.Bool("check-revoked")}
						var t *auth.Token
						if c.Bool("session-cookie") {
							t, err = a.VerifySessionCookie(ctx, tok, opts)
						} else {
							t, err = a.VerifyIDToken(ctx, tok, opts)
						}
						if err != nil {
							return err
						}
						return d.printer().One(map[string]any{
							"uid": t.UID, "audience": t.Audience, "issuer": t.Issuer,
							"issued_at": time.Unix(t.IssuedAt, 0).UTC(), "expires": time.Unix(t.Expires, 0).UTC(),
							"tenant": t.Firebase.Tenant, "sign_in_provider": t.Firebase.SignInProvider, "claims": t.Claims,
						})
					})
				},
			},
		},
	}
}

func printToken(d *deps, tok string) error {
	if d.format == "table" {
		_, err := fmt.Fprintln(d.stdout, tok)
		return err
	}
	return d.printer().One(tokenRecord{Token: tok})
}

// ---- revoke, link

func authRevokeCommand() *cli.Command {
	return &cli.Command{
		Name:      "revoke",
		Usage:     "revoke a user's refresh tokens (sign them out everywhere)",
		ArgsUsage: "UID",
		Description: `ID tokens issued before now fail 'token verify --check-revoked'.

Examples:
   fbadmin auth revoke UID`,
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef("revoke needs one UID")
			}
			return authAction(c, func(ctx context.Context, d *deps, a *auth.Client) error {
				if err := a.RevokeRefreshTokens(ctx, c.Args().First()); err != nil {
					return err
				}
				d.info("revoked the refresh tokens of %s", c.Args().First())
				return nil
			})
		},
	}
}

func authLinkCommand() *cli.Command {
	return &cli.Command{
		Name:      "link",
		Usage:     "generate an email action link: password-reset, verify-email or sign-in",
		ArgsUsage: "password-reset|verify-email|sign-in EMAIL",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "continue-url", Usage: "where the link leads after the action (required for sign-in)"},
		},
		Description: `Examples:
   fbadmin auth link password-reset ada@example.com
   fbadmin auth link sign-in ada@example.com --continue-url https://app.example.com/finish`,
		Action: func(c *cli.Context) error {
			if c.NArg() != 2 {
				return usagef("link needs a kind (password-reset, verify-email or sign-in) and an email")
			}
			return authAction(c, func(ctx context.Context, d *deps, a *auth.Client) error {
				var settings *auth.ActionCodeSettings
				if u := c.String("continue-url"); u != "" {
					settings = &auth.ActionCodeSettings{URL: u, HandleCodeInApp: c.Args().First() == "sign-in"}
				}
				email := c.Args().Get(1)
				var link string
				var err error
				switch kind := c.Args().First(); kind {
				case "password-reset":
					link, err = a.PasswordResetLink(ctx, email, settings)
				case "verify-email":
					link, err = a.EmailVerificationLink(ctx, email, settings)
				case "sign-in":
					if settings == nil {
						return usagef("a sign-in link needs --continue-url")
					}
					link, err = a.EmailSignInLink(ctx, email, settings)
				default:
					return usagef("unknown link kind %q: use password-reset, verify-email or sign-in", kind)
				}
				if err != nil {
					return err
				}
				if d.format == "table" {
					_, err := fmt.Fprintln(d.stdout, link)
					return err
				}
				return d.printer().One(map[string]string{"link": link})
			})
		},
	}
}
