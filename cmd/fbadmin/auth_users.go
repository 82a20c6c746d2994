package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/fbadmin/fbadmin/auth"
	"github.com/fbadmin/fbadmin/internal/errs"
)

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

// userRecord is how a user is printed.
type userRecord = auth.Summary

func newUserRecord(u *auth.UserRecord) userRecord { return auth.Summarize(u) }

func userFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "email", Usage: "the user's email address"},
		&cli.StringFlag{Name: "password", Usage: "the password (prefer --password-file: a flag shows in ps)"},
		&cli.StringFlag{Name: "password-file", Usage: "read the password from `FILE` (- for stdin)"},
		&cli.StringFlag{Name: "phone", Usage: "phone number in E.164 form (+15555550100)"},
		&cli.StringFlag{Name: "display-name", Usage: "the user's display name"},
		&cli.StringFlag{Name: "photo-url", Usage: "the URL of the user's photo"},
		&cli.BoolFlag{Name: "email-verified", Usage: "mark the email address as verified"},
		&cli.BoolFlag{Name: "disabled", Usage: "disable the user: sign-in and token refresh fail"},
	}
}

// userInput is what the flags of userFlags (and update's --enabled) give.
type userInput struct {
	Email, Phone, DisplayName, PhotoURL string
	EmailVerified, Disabled, Enabled    bool
	Password                            passwordInput
	// Given holds the names of the flags given on the command line.
	Given map[string]bool
}

func userInputFrom(c *cli.Context) userInput {
	in := userInput{
		Email: c.String("email"), Phone: c.String("phone"), DisplayName: c.String("display-name"), PhotoURL: c.String("photo-url"),
		EmailVerified: c.Bool("email-verified"), Disabled: c.Bool("disabled"), Enabled: c.Bool("enabled"),
		Password: passwordInput{File: c.String("password-file"), Value: c.String("password"), Given: c.IsSet("password")},
		Given:    map[string]bool{},
	}
	for _, name := range []string{"email", "phone", "display-name", "photo-url", "email-verified", "disabled", "enabled"} {
		if c.IsSet(name) {
			in.Given[name] = true
		}
	}
	return in
}

// passwordInput is a password given by --password-file or --password.
type passwordInput struct {
	File, Value string
	Given       bool // --password was given
}

// read returns the password, and whether one was given at all.
func (in passwordInput) read(stdin io.Reader) (string, bool, error) {
	if f := in.File; f != "" {
		var b []byte
		var err error
		if f == "-" {
			b, err = io.ReadAll(stdin)
		} else {
			b, err = os.ReadFile(f)
		}
		if err != nil {
			return "", false, usagef("--password-file: %v", err)
		}
		return strings.TrimRight(string(b), "\r\n"), true, nil
	}
	if in.Given {
		return in.Value, true, nil
	}
	return "", false, nil
}

// ---- create

type usersCreateOptions struct {
	UID    string
	User   userInput
	Claims string
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
			opts := usersCreateOptions{UID: c.String("uid"), User: userInputFrom(c), Claims: c.String("claims")}
			return withDeps(c, func(ctx context.Context, d *deps) error { return runUsersCreate(ctx, opts, d) })
		},
	}
}

func runUsersCreate(ctx context.Context, opts usersCreateOptions, d *deps) error {
	a, err := d.authCreating(ctx)
	if err != nil {
		return err
	}
	in := opts.User
	u := (&auth.UserToCreate{})
	if opts.UID != "" {
		u = u.UID(opts.UID)
	}
	if in.Email != "" {
		u = u.Email(in.Email)
	}
	if pw, ok, err := in.Password.read(d.stdin); err != nil {
		return err
	} else if ok {
		u = u.Password(pw)
	}
	if in.Phone != "" {
		u = u.PhoneNumber(in.Phone)
	}
	if in.DisplayName != "" {
		u = u.DisplayName(in.DisplayName)
	}
	if in.PhotoURL != "" {
		u = u.PhotoURL(in.PhotoURL)
	}
	if in.Given["email-verified"] {
		u = u.EmailVerified(in.EmailVerified)
	}
	if in.Given["disabled"] {
		u = u.Disabled(in.Disabled)
	}
	claims, err := parseJSONObject("claims", opts.Claims)
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
}

// ---- get

type usersGetOptions struct{ Keys []string }

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
			opts := usersGetOptions{Keys: c.Args().Slice()}
			return withDeps(c, func(ctx context.Context, d *deps) error { return runUsersGet(ctx, opts, d) })
		},
	}
}

func runUsersGet(ctx context.Context, opts usersGetOptions, d *deps) error {
	a, err := d.auth(ctx)
	if err != nil {
		return err
	}
	pr := d.printer()
	var missing []string
	for _, key := range opts.Keys {
		u, err := getUser(ctx, a, key)
		if errors.Is(err, errs.ErrNotFound) {
			missing = append(missing, key)
			continue
		}
		if err != nil {
			return err
		}
		if len(opts.Keys) == 1 {
			return pr.One(newUserRecord(u))
		}
		pr.Item(newUserRecord(u))
	}
	if len(opts.Keys) > 1 {
		pr.Close()
	}
	if len(missing) > 0 {
		return errs.New(errs.ErrNotFound, "get user", strings.Join(missing, ", "), "no such user")
	}
	return nil
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

// ---- list

type usersListOptions struct {
	PageSize  int
	PageToken string
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
			opts := usersListOptions{PageSize: c.Int("page-size"), PageToken: c.String("page-token")}
			return withDeps(c, func(ctx context.Context, d *deps) error { return runUsersList(ctx, opts, d) })
		},
	}
}

func runUsersList(ctx context.Context, opts usersListOptions, d *deps) error {
	a, err := d.auth(ctx)
	if err != nil {
		return err
	}
	pr := d.printer()
	pr.Empty = "(no users)"
	if size := opts.PageSize; size > 0 {
		page, err := a.ListUsers(ctx, size, opts.PageToken)
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
}

// ---- update

type usersUpdateOptions struct {
	UID  string
	User userInput
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
			opts := usersUpdateOptions{UID: c.Args().First(), User: userInputFrom(c)}
			return withDeps(c, func(ctx context.Context, d *deps) error { return runUsersUpdate(ctx, opts, d) })
		},
	}
}

func runUsersUpdate(ctx context.Context, opts usersUpdateOptions, d *deps) error {
	a, err := d.auth(ctx)
	if err != nil {
		return err
	}
	in := opts.User
	u := &auth.UserToUpdate{}
	n := 0
	set := func(name string, f func()) {
		if in.Given[name] {
			f()
			n++
		}
	}
	set("email", func() { u = u.Email(in.Email) })
	set("phone", func() { u = u.PhoneNumber(in.Phone) })
	set("display-name", func() { u = u.DisplayName(in.DisplayName) })
	set("photo-url", func() { u = u.PhotoURL(in.PhotoURL) })
	set("email-verified", func() { u = u.EmailVerified(in.EmailVerified) })
	set("disabled", func() { u = u.Disabled(in.Disabled) })
	set("enabled", func() { u = u.Disabled(!in.Enabled) })
	if pw, ok, err := in.Password.read(d.stdin); err != nil {
		return err
	} else if ok {
		u = u.Password(pw)
		n++
	}
	if n == 0 {
		return usagef("nothing to update: give at least one of --email, --password, --display-name, ...")
	}
	rec, err := a.UpdateUser(ctx, opts.UID, u)
	if err != nil {
		return err
	}
	return d.printer().One(newUserRecord(rec))
}

// ---- delete

type usersDeleteOptions struct {
	UIDs []string
	Yes  bool
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
			opts := usersDeleteOptions{UIDs: c.Args().Slice(), Yes: c.Bool("yes")}
			return withDeps(c, func(ctx context.Context, d *deps) error { return runUsersDelete(ctx, opts, d) })
		},
	}
}

func runUsersDelete(ctx context.Context, opts usersDeleteOptions, d *deps) error {
	a, err := d.auth(ctx)
	if err != nil {
		return err
	}
	uids := opts.UIDs
	if err := d.confirm(opts.Yes, fmt.Sprintf("delete %d user(s) of %s?", len(uids), a.ProjectID())); err != nil {
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
}

// ---- search

type usersSearchOptions struct {
	Email, Phone, UID string
	SortBy            string
	Desc              bool
	Limit, Offset     int
}

func authUsersSearchCommand() *cli.Command {
	return &cli.Command{
		Name:  "search",
		Usage: "search users by email, phone number or UID",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "email", Usage: "users with this email address"},
			&cli.StringFlag{Name: "phone", Usage: "users with this phone number (E.164)"},
			&cli.StringFlag{Name: "uid", Usage: "the user with this UID"},
			&cli.StringFlag{Name: "sort-by", Usage: "uid, name, created, last-login or email"},
			&cli.BoolFlag{Name: "desc", Usage: "sort in descending order"},
			&cli.IntFlag{Name: "limit", Usage: "at most N users (up to 500)", DefaultText: "500"},
			&cli.IntFlag{Name: "offset", Usage: "skip the first N matches"},
		},
		Description: `Not supported by the Auth emulator, except without flags (every user, by
UID): it implements no filter (--email, --phone, --uid), --limit, --offset or
sort other than by UID, and fbadmin says so (exit 1). On the emulator, find a
user with 'fbadmin auth users get EMAIL|UID|PHONE' and list them with
'fbadmin auth users list'.

Examples:
   fbadmin auth users search --email ada@example.com
   fbadmin auth users search --sort-by created --desc --limit 10 -o table`,
		Action: func(c *cli.Context) error {
			opts := usersSearchOptions{
				Email: c.String("email"), Phone: c.String("phone"), UID: c.String("uid"),
				SortBy: c.String("sort-by"), Desc: c.Bool("desc"), Limit: c.Int("limit"), Offset: c.Int("offset"),
			}
			return withDeps(c, func(ctx context.Context, d *deps) error { return runUsersSearch(ctx, opts, d) })
		},
	}
}

func runUsersSearch(ctx context.Context, opts usersSearchOptions, d *deps) error {
	a, err := d.auth(ctx)
	if err != nil {
		return err
	}
	sorts := map[string]auth.SortBy{"uid": auth.SortByUID, "name": auth.SortByName, "created": auth.SortByCreatedAt,
		"last-login": auth.SortByLastLoginAt, "email": auth.SortByEmail}
	q := &auth.QueryUsersRequest{Limit: int64(opts.Limit), Offset: int64(opts.Offset)}
	if sb := opts.SortBy; sb != "" {
		sortBy, ok := sorts[sb]
		if !ok {
			return usagef("--sort-by %q: use uid, name, created, last-login or email", sb)
		}
		q.SortBy, q.Order = sortBy, auth.Ascending
		if opts.Desc {
			q.Order = auth.Descending
		}
	}
	if e, p, u := opts.Email, opts.Phone, opts.UID; e != "" || p != "" || u != "" {
		q.Expression = []*auth.Expression{{Email: e, PhoneNumber: p, UID: u}}
	}
	res, err := a.QueryUsers(ctx, q)
	if errors.Is(err, auth.ErrNotSupported) {
		return fmt.Errorf("%w (hint: the Auth emulator searches only without flags; use 'fbadmin auth users get EMAIL|UID|PHONE' or 'fbadmin auth users list' there)", err)
	}
	if err != nil {
		return err
	}
	pr := d.printer()
	pr.Empty = "(no users)"
	for _, u := range res.Users {
		pr.Item(newUserRecord(u))
	}
	return pr.Close()
}
