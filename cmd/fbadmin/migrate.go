package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/fbadmin/fbadmin/internal/cliout"
	"github.com/fbadmin/fbadmin/migrate"
)

// fbadmin migrate: versioned data migrations (package migrate). The
// commands are a thin layer: flags to options, reports to output.

type migrateOptions struct {
	Dir, Collection, Journal string
	Wait, Lease              time.Duration
	Parallel                 int
	DryRun, Force, Explicit  bool
	Yes                      bool
	To                       string
	Steps                    int
	AcceptDrift              []string
}

func migrateFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "dir", Value: "migrations", EnvVars: []string{"FBADMIN_MIGRATIONS_DIR"}, Usage: "the `DIR`ectory of the migration files (NNNN_name.yaml)"},
		&cli.StringFlag{Name: "state-collection", Value: "_fbadmin_migrations", Usage: "the `COLLECTION` holding each migration's state and the lock"},
		&cli.StringFlag{Name: "journal", Usage: "the `DIR`ectory of the journals of before-images, or gs://BUCKET/PREFIX or s3://... (default DIR/.journal; keep it: down and resume read it)"},
	}
}

func readMigrateOptions(c *cli.Context) migrateOptions {
	o := migrateOptions{
		Dir: c.String("dir"), Collection: c.String("state-collection"), Journal: c.String("journal"),
		Wait: c.Duration("wait"), Lease: c.Duration("lease"), Parallel: c.Int("parallel"), DryRun: c.Bool("dry-run"), Force: c.Bool("force"),
		Explicit: c.Bool("explicit"), Yes: c.Bool("yes"), To: c.String("to"), Steps: c.Int("steps"),
		AcceptDrift: c.StringSlice("accept-drift"),
	}
	if o.Journal == "" {
		o.Journal = filepath.Join(o.Dir, ".journal")
	}
	return o
}

func migrateCommand() *cli.Command {
	withOpts := func(run func(ctx context.Context, o migrateOptions, d *deps, args []string) error) cli.ActionFunc {
		return func(c *cli.Context) error {
			o := readMigrateOptions(c)
			args := c.Args().Slice()
			return withDeps(c, func(ctx context.Context, d *deps) error { return run(ctx, o, d, args) })
		}
	}
	noArgs := func(name string, run func(ctx context.Context, o migrateOptions, d *deps) error) func(ctx context.Context, o migrateOptions, d *deps, args []string) error {
		return func(ctx context.Context, o migrateOptions, d *deps, args []string) error {
			if len(args) > 0 {
				return usagef("migrate %s takes no argument, got %q (hint: the files are read from --dir)", name, args[0])
			}
			return run(ctx, o, d)
		}
	}
	return &cli.Command{
		Name:  "migrate",
		Usage: "versioned data migrations: status, plan, up, down, verify, new",
		Description: `Migrations change the shape of a database's data, in the order of the
version number that starts their IDs: 0001_add_plan, 0002_rename_name...
Each is a YAML file in --dir (see docs/migrate.md), or a Go function
registered with the migrate package. The state of each (checksum, status,
counts, who, when, journal) is kept in --state-collection; a lease lock
there lets one 'up' or 'down' run at a time, and fences the writes of a
holder whose lease was taken. Before each batch is written, the
before-image of each of its documents is appended to a journal, so that
'down' restores them exactly and an interrupted 'up' resumes.

Examples:
   fbadmin migrate new add_plan
   fbadmin migrate status
   fbadmin migrate plan
   fbadmin migrate up
   fbadmin migrate up --wait 5m --to 0003_split_orders
   fbadmin migrate down --yes
   fbadmin migrate verify -o json`,
		Subcommands: []*cli.Command{
			{
				Name:        "status",
				Usage:       "list the migrations: applied, pending, failed, drifted",
				Flags:       migrateFlags(),
				Description: "Drifted: applied, and its file changed since; 'up' refuses to run until\nyou decide (see 'up --accept-drift').\n\nExamples:\n   fbadmin migrate status\n   fbadmin migrate status -o json --dir db/migrations",
				Action:      withOpts(noArgs("status", runMigrateStatus)),
			},
			{
				Name:  "plan",
				Usage: "show what up would change, writing nothing (a dry run)",
				Flags: migrateFlags(),
				Description: `Runs the pending migrations with their writes captured, not sent: no
data, state, lock or journal is written. Prints per migration the
documents read, created, changed and deleted, and a few sample diffs
(every diff with -o json).

Examples:
   fbadmin migrate plan
   fbadmin migrate plan -o json | jq '.[].diffs[]'`,
				Action: withOpts(noArgs("plan", func(ctx context.Context, o migrateOptions, d *deps) error {
					o.DryRun = true
					return runMigrateUp(ctx, o, d)
				})),
			},
			{
				Name:  "up",
				Usage: "apply the pending migrations (resuming an interrupted one)",
				Flags: append(migrateFlags(),
					&cli.BoolFlag{Name: "dry-run", Usage: "capture the writes instead of sending them (as plan)"},
					&cli.StringFlag{Name: "to", Usage: "stop after the migration with this `ID`"},
					&cli.DurationFlag{Name: "wait", Usage: "wait up to `DURATION` for a lock held by another run (default: refuse at once)"},
					&cli.IntFlag{Name: "parallel", Value: 4, Usage: "`N` batches in flight (1 to 8)"},
					&cli.DurationFlag{Name: "lease", Value: 30 * time.Second, Usage: "the lock's lease `DURATION`, renewed every third of it: how long a lock stays held after its process died"},
					&cli.StringSliceFlag{Name: "accept-drift", Usage: "record the current file of this drifted migration `ID` as applied, without running it again (repeatable)"},
				),
				Description: `Applies the pending migrations in order. A migration that failed or was
interrupted resumes from its journal: no document is done twice or
skipped. 'up' refuses to start while an applied migration drifted (its
file changed): restore the file, or roll back and apply it again, or
accept it as it is with --accept-drift ID.

Examples:
   fbadmin migrate up
   fbadmin migrate up --dry-run -o json
   fbadmin migrate up --wait 10m
   fbadmin migrate up --accept-drift 0002_rename_name`,
				Action: withOpts(noArgs("up", runMigrateUp)),
			},
			{
				Name:  "down",
				Usage: "roll back the latest applied migrations exactly, from their journals",
				Flags: append(migrateFlags(),
					&cli.IntFlag{Name: "steps", Value: 1, Usage: "roll back the `N` latest applied migrations"},
					&cli.StringFlag{Name: "to", Usage: "roll back every migration after this `ID` (0 for all)"},
					&cli.BoolFlag{Name: "force", Usage: "overwrite documents changed since the migration wrote them (default: report them)"},
					&cli.BoolFlag{Name: "explicit", Usage: "run the files' stated down operations instead of restoring the journals"},
					&cli.BoolFlag{Name: "dry-run", Usage: "show what would be restored, writing nothing"},
					&cli.DurationFlag{Name: "wait", Usage: "wait up to `DURATION` for a lock held by another run"},
					&cli.IntFlag{Name: "parallel", Value: 4, Usage: "`N` batches in flight (1 to 8)"},
					&cli.DurationFlag{Name: "lease", Value: 30 * time.Second, Usage: "the lock's lease `DURATION`, renewed every third of it: how long a lock stays held after its process died"},
					&cli.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: "do not ask for confirmation"},
				),
				Description: `Restores every document the migration touched as it was before (those
it created are deleted), with a precondition on the update time the
migration left each with: a document changed since is reported (exit 5)
and left alone, unless --force.

Examples:
   fbadmin migrate down --yes
   fbadmin migrate down --to 0001_add_plan --yes
   fbadmin migrate down --dry-run -o json
   fbadmin migrate down --force --yes`,
				Action: withOpts(noArgs("down", runMigrateDown)),
			},
			{
				Name:        "verify",
				Usage:       "re-run the plan of the applied migrations and confirm nothing is left to change",
				Flags:       migrateFlags(),
				Description: "Exit 5 when documents are left to change (a migration that is not\nidempotent, such as n + 1, always shows changes).\n\nExamples:\n   fbadmin migrate verify\n   fbadmin migrate verify -o json",
				Action:      withOpts(noArgs("verify", runMigrateVerify)),
			},
			{
				Name:        "new",
				Usage:       "write the next numbered migration file from a template",
				ArgsUsage:   "NAME",
				Flags:       migrateFlags()[:1],
				Description: "Examples:\n   fbadmin migrate new add_plan\n   fbadmin migrate new \"rename name\" --dir db/migrations",
				Action: withOpts(func(ctx context.Context, o migrateOptions, d *deps, args []string) error {
					if len(args) != 1 {
						return usagef("migrate new needs one NAME, such as add_plan")
					}
					p, err := migrate.NewFile(o.Dir, args[0])
					if err != nil {
						return err
					}
					fmt.Fprintln(d.stdout, p)
					return nil
				}),
			},
		},
	}
}

// migrateRunner loads the files and opens the runner.
func migrateRunner(ctx context.Context, o migrateOptions, d *deps, label string) (*migrate.Runner, []*migrate.Migration, func(), error) {
	ms, err := migrate.LoadDir(o.Dir)
	if err != nil {
		return nil, nil, nil, err
	}
	c, err := d.firestore(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	db, err := d.transferDB(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	p := d.progress(label)
	ro := migrate.Options{
		Collection: o.Collection, JournalDir: o.Journal, Wait: o.Wait, LeaseTTL: o.Lease, Parallel: o.Parallel, DB: db,
		AllDiffs: d.format != cliout.Table,
		Progress: func(_ string, n int64) { p.Add(n, 0) },
		Log:      func(msg string) { d.info("%s", msg) },
	}
	return migrate.New(c, ro), ms, p.Finish, nil
}

func runMigrateStatus(ctx context.Context, o migrateOptions, d *deps) error {
	ms, err := migrate.LoadDir(o.Dir)
	if err != nil {
		return err
	}
	c, err := d.firestore(ctx)
	if err != nil {
		return err
	}
	entries, err := migrate.New(c, migrate.Options{Collection: o.Collection}).Status(ctx, ms)
	if err != nil {
		return err
	}
	pr := d.printer()
	pr.Empty = "no migrations in " + o.Dir + " (hint: fbadmin migrate new NAME)"
	for _, e := range entries {
		if d.format == cliout.Table {
			row := map[string]any{"id": e.ID, "status": e.Status, "description": e.Description}
			if e.State != nil && !e.State.FinishedAt.IsZero() {
				row["when"] = e.State.FinishedAt.UTC().Format(time.RFC3339)
				row["by"] = e.State.By
				row["docs"] = fmt.Sprintf("%d read, %d created, %d changed, %d deleted", e.State.Read, e.State.Created, e.State.Changed, e.State.Deleted)
			}
			if err := pr.Item(row); err != nil {
				return err
			}
			continue
		}
		if err := pr.Item(e); err != nil {
			return err
		}
	}
	return pr.Close()
}

func runMigrateUp(ctx context.Context, o migrateOptions, d *deps) error {
	label := "migrate up"
	if o.DryRun {
		label = "migrate plan"
	}
	r, ms, finish, err := migrateRunner(ctx, o, d, label)
	if err != nil {
		return err
	}
	reps, err := r.Up(ctx, ms, migrate.UpOptions{DryRun: o.DryRun, To: o.To, AcceptDrift: o.AcceptDrift})
	finish()
	if perr := printReports(d, reps); perr != nil && err == nil {
		err = perr
	}
	if err != nil && interrupted(ctx) && !o.DryRun {
		return interruptedError{msg: "migrate up interrupted: the migration is recorded as failed and its journal kept; to resume, run: " + d.command(append([]string{"migrate", "up"}, dirArgs(o)...)...)}
	}
	if err == nil && len(reps) == 0 {
		d.info("nothing to do: every migration in %s is applied", o.Dir)
	}
	return err
}

func runMigrateDown(ctx context.Context, o migrateOptions, d *deps) error {
	if !o.DryRun {
		what := fmt.Sprintf("roll back the %d latest applied migration(s)", max(o.Steps, 1))
		if o.To != "" {
			what = "roll back every migration after " + o.To
		}
		if err := d.confirm(o.Yes, what); err != nil {
			return err
		}
	}
	r, ms, finish, err := migrateRunner(ctx, o, d, "migrate down")
	if err != nil {
		return err
	}
	reps, err := r.Down(ctx, ms, migrate.DownOptions{Steps: o.Steps, To: o.To, Force: o.Force, Explicit: o.Explicit, DryRun: o.DryRun})
	finish()
	if perr := printReports(d, reps); perr != nil && err == nil {
		err = perr
	}
	if err == nil && len(reps) == 0 {
		d.info("nothing to roll back")
	}
	return err
}

func runMigrateVerify(ctx context.Context, o migrateOptions, d *deps) error {
	r, ms, finish, err := migrateRunner(ctx, o, d, "migrate verify")
	if err != nil {
		return err
	}
	reps, err := r.Verify(ctx, ms)
	finish()
	if perr := printReports(d, reps); perr != nil && err == nil {
		err = perr
	}
	return err
}

func dirArgs(o migrateOptions) []string {
	var a []string
	if o.Dir != "migrations" {
		a = append(a, "--dir", o.Dir)
	}
	if o.Journal != filepath.Join(o.Dir, ".journal") {
		a = append(a, "--journal", o.Journal)
	}
	if o.Collection != "_fbadmin_migrations" {
		a = append(a, "--state-collection", o.Collection)
	}
	return a
}

// printReports prints the reports: a summary and sample diffs per
// migration as text, or the reports (every diff) in JSON, NDJSON, YAML.
func printReports(d *deps, reps []*migrate.Report) error {
	if d.format != cliout.Table {
		if reps == nil {
			reps = []*migrate.Report{}
		}
		pr := d.printer()
		for _, r := range reps {
			if err := pr.Item(r); err != nil {
				return err
			}
		}
		return pr.Close()
	}
	for _, r := range reps {
		writeReport(d.stdout, r)
	}
	return nil
}

func writeReport(w io.Writer, r *migrate.Report) {
	fmt.Fprintf(w, "%s  %s: %d read, %d created, %d changed, %d deleted", r.ID, r.Action, r.Read, r.Created, r.Changed, r.Deleted)
	if r.Resumed > 0 {
		fmt.Fprintf(w, ", %d done by an earlier run", r.Resumed)
	}
	fmt.Fprintf(w, " (%.1fs)\n", r.Elapsed)
	for _, df := range r.Diffs {
		fmt.Fprintf(w, "    %s %s\n", df.Op, df.Path)
		for _, f := range df.Fields {
			b, a := string(f.Before), string(f.After)
			if b == "" {
				b = "(absent)"
			}
			if a == "" {
				a = "(absent)"
			}
			fmt.Fprintf(w, "      %s: %s -> %s\n", f.Field, truncate(b, 80), truncate(a, 80))
		}
	}
	for _, c := range r.Conflicts {
		fmt.Fprintf(w, "    changed since, not restored: %s\n", c)
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
