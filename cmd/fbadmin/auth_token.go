package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/fbadmin/fbadmin/auth"
)

func authTokenCommand() *cli.Command {
	return &cli.Command{
		Name:  "token",
		Usage: "mint, exchange, refresh and verify tokens",
		Subcommands: []*cli.Command{
			authTokenMintCommand(), authTokenExchangeCommand(), authTokenRefreshCommand(), authTokenVerifyCommand(),
		},
	}
}

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

// ---- mint

type tokenMintOptions struct {
	UID    string
	Claims string
}

func authTokenMintCommand() *cli.Command {
	return &cli.Command{
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
			opts := tokenMintOptions{UID: c.Args().First(), Claims: c.String("claims")}
			return withDeps(c, func(ctx context.Context, d *deps) error { return runTokenMint(ctx, opts, d) })
		},
	}
}

func runTokenMint(ctx context.Context, opts tokenMintOptions, d *deps) error {
	a, err := d.auth(ctx)
	if err != nil {
		return err
	}
	claims, err := parseJSONObject("claims", opts.Claims)
	if err != nil {
		return err
	}
	tok, err := a.CustomToken(ctx, opts.UID, claims)
	if err != nil {
		return err
	}
	return printToken(d, tok)
}

func printToken(d *deps, tok string) error {
	if d.format == "table" {
		_, err := fmt.Fprintln(d.stdout, tok)
		return err
	}
	return d.printer().One(tokenRecord{Token: tok})
}

// ---- exchange

type tokenExchangeOptions struct{ Token string }

func authTokenExchangeCommand() *cli.Command {
	return &cli.Command{
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
			opts := tokenExchangeOptions{Token: c.Args().First()}
			return withDeps(c, func(ctx context.Context, d *deps) error { return runTokenExchange(ctx, opts, d) })
		},
	}
}

func runTokenExchange(ctx context.Context, opts tokenExchangeOptions, d *deps) error {
	a, err := d.auth(ctx)
	if err != nil {
		return err
	}
	tok, err := secretArg(d, opts.Token, "custom token")
	if err != nil {
		return err
	}
	cr, err := a.SignInClient().SignInWithCustomToken(ctx, tok)
	if err != nil {
		return err
	}
	return d.printer().One(newCredentialsRecord(cr))
}

// ---- refresh

type tokenRefreshOptions struct{ Token string }

func authTokenRefreshCommand() *cli.Command {
	return &cli.Command{
		Name:      "refresh",
		Usage:     "exchange a refresh token for a fresh ID token",
		ArgsUsage: "REFRESH_TOKEN|-",
		Description: `Examples:
   fbadmin auth token refresh "$REFRESH_TOKEN" -o json | jq -r .id_token`,
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef("token refresh needs a refresh token (or - for stdin)")
			}
			opts := tokenRefreshOptions{Token: c.Args().First()}
			return withDeps(c, func(ctx context.Context, d *deps) error { return runTokenRefresh(ctx, opts, d) })
		},
	}
}

func runTokenRefresh(ctx context.Context, opts tokenRefreshOptions, d *deps) error {
	a, err := d.auth(ctx)
	if err != nil {
		return err
	}
	tok, err := secretArg(d, opts.Token, "refresh token")
	if err != nil {
		return err
	}
	cr, err := a.SignInClient().Refresh(ctx, tok)
	if err != nil {
		return err
	}
	return d.printer().One(newCredentialsRecord(cr))
}

// ---- verify

type tokenVerifyOptions struct {
	Token         string
	CheckRevoked  bool
	SessionCookie bool
}

func authTokenVerifyCommand() *cli.Command {
	return &cli.Command{
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
			// Like serve: an emulator named only by the environment would
			// make this "verify" accept the Auth emulator's unsigned tokens.
			if err := auth.CheckEmulatorChoice(readGlobals(c).Emulator); err != nil {
				return err
			}
			opts := tokenVerifyOptions{Token: c.Args().First(), CheckRevoked: c.Bool("check-revoked"), SessionCookie: c.Bool("session-cookie")}
			return withDeps(c, func(ctx context.Context, d *deps) error { return runTokenVerify(ctx, opts, d) })
		},
	}
}

func runTokenVerify(ctx context.Context, opts tokenVerifyOptions, d *deps) error {
	a, err := d.auth(ctx)
	if err != nil {
		return err
	}
	tok, err := secretArg(d, opts.Token, "id token")
	if err != nil {
		return err
	}
	vo := auth.VerifyOptions{CheckRevoked: opts.CheckRevoked}
	var t *auth.Token
	if opts.SessionCookie {
		t, err = a.VerifySessionCookie(ctx, tok, vo)
	} else {
		t, err = a.VerifyIDToken(ctx, tok, vo)
	}
	if err != nil {
		return err
	}
	return d.printer().One(map[string]any{
		"uid": t.UID, "audience": t.Audience, "issuer": t.Issuer,
		"issued_at": time.Unix(t.IssuedAt, 0).UTC(), "expires": time.Unix(t.Expires, 0).UTC(),
		"tenant": t.Firebase.Tenant, "sign_in_provider": t.Firebase.SignInProvider, "claims": t.Claims,
	})
}

// ---- revoke

type revokeOptions struct{ UID string }

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
			opts := revokeOptions{UID: c.Args().First()}
			return withDeps(c, func(ctx context.Context, d *deps) error { return runRevoke(ctx, opts, d) })
		},
	}
}

func runRevoke(ctx context.Context, opts revokeOptions, d *deps) error {
	a, err := d.auth(ctx)
	if err != nil {
		return err
	}
	if err := a.RevokeRefreshTokens(ctx, opts.UID); err != nil {
		return err
	}
	d.info("revoked the refresh tokens of %s", opts.UID)
	return nil
}
