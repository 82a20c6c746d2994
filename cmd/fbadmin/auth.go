package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/fbadmin/fbadmin/auth"
)

// authCommand is the Firebase Auth command group; it mirrors the auth
// package. Its commands live in auth_users.go (users, with import and
// export in auth_users_transfer.go), auth_claims.go, auth_token.go (tokens
// and revocation) and auth_link.go.
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
			authLoginCommand(),
			authLogoutCommand(),
			authWhoamiCommand(),
			authSessionsCommand(),
		},
	}
}

// auth returns the Auth client for the global flags. With --tenant, a
// tenant that does not exist is a not-found error (exit 4), rather than the
// empty results the Auth emulator gives for it.
func (d *deps) auth(ctx context.Context) (*auth.Client, error) {
	return d.authClient(ctx, true)
}

// authCreating is auth for the commands that create users (users create
// and import): the Auth emulator creates a tenant on its first use, and
// these commands are how one does so there, so on the emulator they do not
// check that the tenant exists. (In production the service refuses a
// tenant that does not exist.)
func (d *deps) authCreating(ctx context.Context) (*auth.Client, error) {
	return d.authClient(ctx, !d.authEmulator())
}

func (d *deps) authClient(ctx context.Context, checkTenant bool) (*auth.Client, error) {
	project, err := d.project()
	if err != nil {
		return nil, err
	}
	cfg := auth.Config{ProjectID: project, TenantID: d.g.Tenant, APIKey: d.g.APIKey, HTTPClient: d.httpClient()}
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
	if checkTenant {
		if err := c.CheckTenant(ctx); err != nil {
			return nil, fmt.Errorf("%w (hint: check --tenant or FBADMIN_TENANT; on the Auth emulator a tenant exists once a user was created or imported in it)", err)
		}
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
