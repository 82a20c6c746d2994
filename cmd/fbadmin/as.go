package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"google.golang.org/api/option"
	"google.golang.org/grpc"

	"github.com/fbadmin/fbadmin/internal/errs"
	"github.com/fbadmin/fbadmin/internal/rulecheck"
)

// Acting as an end user (--as): Firestore requests carry the user's ID
// token instead of admin credentials, so that security rules decide, on
// the emulator (started with --rules) as in production.

// asCommands are the commands that --as applies to.
var asCommands = []string{
	"fbadmin fs get", "fbadmin fs query", "fbadmin fs count", "fbadmin fs set", "fbadmin fs create",
	"fbadmin fs update", "fbadmin fs delete", "fbadmin fs watch", "fbadmin auth whoami", "fbadmin rules check",
}

// checkAs refuses --as on a command it does not apply to, rather than
// running that command with admin rights.
func checkAs(c *cli.Context, g globalOptions) error {
	if g.As == "" {
		return nil
	}
	var parts []string
	for _, ctx := range c.Lineage() {
		if ctx.Command != nil && ctx.Command.Name != "" {
			parts = append([]string{ctx.Command.Name}, parts...)
		}
	}
	name := strings.Join(parts, " ")
	if slices.Contains(asCommands, name) {
		return nil
	}
	return usagef("--as does not apply to %s (hint: it applies to fs get, query, count, set, create, update, delete, watch, auth whoami and rules check)", name)
}

// endUser is who Firestore requests are made as.
type endUser struct {
	label  string // the session name, or "uid X"
	token  func(ctx context.Context) (string, error)
	apiKey string
}

// userCreds are gRPC per-RPC credentials carrying an end user's ID token
// (and the Web API key in production). Given after the emulator's "owner"
// credentials on a connection (transfer.DialEmulator's extra options), they
// replace its authorization header: gRPC merges per-RPC metadata in order,
// the last value of a key winning.
type userCreds struct {
	u      *endUser
	secure bool
}

func (c userCreds) GetRequestMetadata(ctx context.Context, _ ...string) (map[string]string, error) {
	tok, err := c.u.token(ctx)
	if err != nil {
		return nil, err
	}
	md := map[string]string{"authorization": "Bearer " + tok}
	if c.u.apiKey != "" {
		md["x-goog-api-key"] = c.u.apiKey
	}
	return md, nil
}

func (c userCreds) RequireTransportSecurity() bool { return c.secure }

// endUser resolves --as: a kept session of that name, else a UID to sign
// in as (on the Firestore emulator through the Auth emulator when it runs,
// else with an unsigned emulator ID token; in production through a minted
// custom token, which needs admin credentials and the Web API key).
func (d *deps) endUser(ctx context.Context) (*endUser, error) {
	if d.as != nil {
		return d.as, nil
	}
	project, err := d.project()
	if err != nil {
		return nil, err
	}
	m, err := d.sessions("")
	if err != nil {
		return nil, err
	}
	s, err := m.Get(d.g.As)
	switch {
	case err == nil:
		if s.Emulator == "" && d.emulator() {
			return nil, usagef("session %s belongs to %s in production; the emulator cannot use it (hint: --as UID makes an emulator token for that UID)", s.Name, s.Where())
		}
		if s.Emulator != "" && !d.emulator() {
			return nil, usagef("session %s belongs to %s: use it with --emulator", s.Name, s.Where())
		}
		if s.Emulator == "" && s.Project != project {
			return nil, usagef("session %s belongs to project %s, not %s (hint: pass --project %s, or sign in to %s)", s.Name, s.Project, project, s.Project, project)
		}
		src, err := d.sessionSource(m, s)
		if err != nil {
			return nil, err
		}
		d.closers = append(d.closers, func() { src.Close() })
		key, _ := m.APIKey(s)
		if key == "" {
			key = d.g.APIKey
		}
		if s.Emulator != "" {
			key = ""
		}
		d.as = &endUser{label: s.Name, token: src.IDToken, apiKey: key}
		d.log.Debug("acting as a kept session", "session", s.Name, "uid", s.UID)
		return d.as, nil
	case !asNotFound(err):
		return nil, err
	}
	uid := d.g.As
	if d.emulator() {
		if d.authEmulator() && checkEmulator("Auth", d.authEmulatorHost(), "FIREBASE_AUTH_EMULATOR_HOST") == nil {
			tok, err := d.mintIDToken(ctx, uid)
			if err != nil {
				return nil, err
			}
			d.as = &endUser{label: "uid " + uid, token: func(context.Context) (string, error) { return tok, nil }}
			d.log.Debug("acting as a UID, signed in on the Auth emulator", "uid", uid)
			return d.as, nil
		}
		tok := rulecheck.EmulatorIDToken(project, uid, nil, time.Now())
		d.as = &endUser{label: "uid " + uid, token: func(context.Context) (string, error) { return tok, nil }}
		d.log.Debug("acting as a UID with an unsigned emulator ID token (no Auth emulator)", "uid", uid)
		return d.as, nil
	}
	if d.g.Credentials == "" && !hasDefaultCredentials() {
		return nil, errs.New(errs.ErrNotFound, "--as", uid,
			"no session of that name, and no admin credentials to sign in as that UID (hint: 'fbadmin auth login' keeps a session; 'fbadmin auth sessions' lists them)")
	}
	if d.g.APIKey == "" {
		return nil, usagef("--as %s in production signs in as that UID, which needs the Web API key (hint: --api-key KEY or FIREBASE_API_KEY)", uid)
	}
	tok, err := d.mintIDToken(ctx, uid)
	if err != nil {
		return nil, err
	}
	d.as = &endUser{label: "uid " + uid, token: func(context.Context) (string, error) { return tok, nil }, apiKey: d.g.APIKey}
	return d.as, nil
}

// mintIDToken signs in as uid through a custom token minted with admin
// credentials; the ID token lasts an hour, longer than one command needs.
func (d *deps) mintIDToken(ctx context.Context, uid string) (string, error) {
	a, err := d.auth(ctx)
	if err != nil {
		return "", err
	}
	ct, err := a.CustomToken(ctx, uid, nil)
	if err != nil {
		return "", err
	}
	sc, err := d.signInClient(d.g.Tenant, d.authEmulatorHost(), d.g.APIKey)
	if err != nil {
		return "", err
	}
	cred, err := sc.SignInWithCustomToken(ctx, ct)
	if err != nil {
		return "", fmt.Errorf("--as %s: %w", uid, err)
	}
	return cred.IDToken, nil
}

// asDialOptions are the gRPC options that make a Firestore connection
// carry the end user's token; in production the client options also drop
// the admin credentials.
func (d *deps) asDialOptions(ctx context.Context) ([]grpc.DialOption, []option.ClientOption, error) {
	if d.g.As == "" {
		return nil, nil, nil
	}
	u, err := d.endUser(ctx)
	if err != nil {
		return nil, nil, err
	}
	secure := !d.emulator()
	dial := []grpc.DialOption{grpc.WithPerRPCCredentials(userCreds{u: u, secure: secure})}
	var client []option.ClientOption
	if secure {
		client = []option.ClientOption{option.WithoutAuthentication()}
	}
	return dial, client, nil
}

// asDenied turns a permission-denied error of a request made as an end
// user into a denial by security rules (its own exit code).
func (d *deps) asDenied(err error) error {
	if d == nil || d.as == nil {
		return err
	}
	return errs.Denied(err, d.as.label, "", "")
}
