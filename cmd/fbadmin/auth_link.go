package main

import (
	"context"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/fbadmin/fbadmin/auth"
)

type linkOptions struct {
	Kind, Email string
	ContinueURL string
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
			opts := linkOptions{Kind: c.Args().First(), Email: c.Args().Get(1), ContinueURL: c.String("continue-url")}
			return withDeps(c, func(ctx context.Context, d *deps) error { return runLink(ctx, opts, d) })
		},
	}
}

func runLink(ctx context.Context, opts linkOptions, d *deps) error {
	a, err := d.auth(ctx)
	if err != nil {
		return err
	}
	var settings *auth.ActionCodeSettings
	if u := opts.ContinueURL; u != "" {
		settings = &auth.ActionCodeSettings{URL: u, HandleCodeInApp: opts.Kind == "sign-in"}
	}
	var link string
	switch opts.Kind {
	case "password-reset":
		link, err = a.PasswordResetLink(ctx, opts.Email, settings)
	case "verify-email":
		link, err = a.EmailVerificationLink(ctx, opts.Email, settings)
	case "sign-in":
		if settings == nil {
			return usagef("a sign-in link needs --continue-url")
		}
		link, err = a.EmailSignInLink(ctx, opts.Email, settings)
	default:
		return usagef("unknown link kind %q: use password-reset, verify-email or sign-in", opts.Kind)
	}
	if err != nil {
		return err
	}
	if d.format == "table" {
		_, err := fmt.Fprintln(d.stdout, link)
		return err
	}
	return d.printer().One(map[string]string{"link": link})
}
