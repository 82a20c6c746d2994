package main

import (
	"context"

	"github.com/urfave/cli/v2"
)

func authClaimsCommand() *cli.Command {
	return &cli.Command{
		Name:        "claims",
		Usage:       "get and set a user's custom claims",
		Subcommands: []*cli.Command{authClaimsGetCommand(), authClaimsSetCommand()},
	}
}

// ---- get

type claimsGetOptions struct{ UID string }

func authClaimsGetCommand() *cli.Command {
	return &cli.Command{
		Name:      "get",
		Usage:     "print a user's custom claims",
		ArgsUsage: "UID",
		Description: `Examples:
   fbadmin auth claims get UID -o json`,
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef("claims get needs one UID")
			}
			opts := claimsGetOptions{UID: c.Args().First()}
			return withDeps(c, func(ctx context.Context, d *deps) error { return runClaimsGet(ctx, opts, d) })
		},
	}
}

func runClaimsGet(ctx context.Context, opts claimsGetOptions, d *deps) error {
	a, err := d.auth(ctx)
	if err != nil {
		return err
	}
	claims, err := a.CustomClaims(ctx, opts.UID)
	if err != nil {
		return err
	}
	if claims == nil {
		claims = map[string]any{}
	}
	return d.printer().One(claims)
}

// ---- set

type claimsSetOptions struct {
	UID   string
	Data  string
	Merge bool
}

func authClaimsSetCommand() *cli.Command {
	return &cli.Command{
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
			opts := claimsSetOptions{UID: c.Args().First(), Data: c.String("data"), Merge: c.Bool("merge")}
			return withDeps(c, func(ctx context.Context, d *deps) error { return runClaimsSet(ctx, opts, d) })
		},
	}
}

func runClaimsSet(ctx context.Context, opts claimsSetOptions, d *deps) error {
	a, err := d.auth(ctx)
	if err != nil {
		return err
	}
	claims, err := parseJSONObject("data", opts.Data)
	if err != nil {
		return err
	}
	if opts.Merge {
		merged, err := a.MergeCustomClaims(ctx, opts.UID, claims)
		if err != nil {
			return err
		}
		return d.printer().One(merged)
	}
	if err := a.SetCustomClaims(ctx, opts.UID, claims); err != nil {
		return err
	}
	return d.printer().One(claims)
}
