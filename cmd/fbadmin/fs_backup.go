package main

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/fbadmin/fbadmin/internal/backup"
	"github.com/fbadmin/fbadmin/internal/cliout"
	"github.com/fbadmin/fbadmin/internal/errs"
)

// adminEndpointEnv points the backup commands at another Admin API
// endpoint: "host:port" (TLS, usual credentials) or "http://host:port"
// (plaintext, no credentials: the tests' in-process fake). It is what
// makes them usable while FIRESTORE_EMULATOR_HOST is set.
const adminEndpointEnv = "FBADMIN_FIRESTORE_ADMIN_ENDPOINT"

// fsBackupCommand is the group of managed exports and imports.
func fsBackupCommand() *cli.Command {
	return &cli.Command{
		Name:  "backup",
		Usage: "managed exports and imports to and from Cloud Storage (the Firestore Admin API)",
		Description: `Drives Firestore's own export and import (what 'gcloud firestore export'
and 'gcloud firestore import' do): long-running operations that Firestore runs
on its side, writing to or reading from a Cloud Storage bucket in the managed
export format. They need production credentials with the role
roles/datastore.importExportAdmin, and Firestore's service agent needs access
to the bucket. The Firestore emulator does not implement them (see 'fbadmin
fs export --format managed' there).

Examples:
   fbadmin fs backup export --to gs://my-backups/2024-05-01
   fbadmin fs backup import --from gs://my-backups/2024-05-01 --collection users
   fbadmin fs backup operations list`,
		Subcommands: []*cli.Command{
			fsBackupExportCommand(),
			fsBackupImportCommand(),
			fsBackupOperationsCommand(),
		},
	}
}

// backupFlags are the flags of every backup command: the hidden endpoint
// override.
func backupFlags(flags ...cli.Flag) []cli.Flag {
	return append(flags, &cli.StringFlag{Name: "admin-endpoint", Hidden: true, EnvVars: []string{adminEndpointEnv},
		Usage: "Firestore Admin API `ENDPOINT`: host:port (TLS), or http://host:port (plaintext, no credentials)"})
}

func waitFlags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "async", Usage: "print the started operation and exit, without waiting for it"},
		&cli.DurationFlag{Name: "poll-interval", Usage: "time between progress checks while waiting (default: 1s, growing to 10s)"},
	}
}

// ---- export

type backupExportOptions struct {
	To, SnapshotTime string
	Collections      []string
	Async            bool
	Poll             time.Duration
	Endpoint         string
}

func fsBackupExportCommand() *cli.Command {
	return &cli.Command{
		Name:  "export",
		Usage: "export the database (or collection groups) to Cloud Storage in the managed format",
		Flags: backupFlags(append([]cli.Flag{
			&cli.StringFlag{Name: "to", Usage: "Cloud Storage `PREFIX` gs://BUCKET[/PATH] (a bare bucket: Firestore names a prefix after the start time)"},
			&cli.StringSliceFlag{Name: "collection", Usage: "export only the collection group `ID` (repeat the flag for more; default: all)"},
			&cli.StringFlag{Name: "snapshot-time", Usage: "export the database as it was at `TIME`: RFC 3339 at a whole minute, or a duration ago (10m, 2h, 7d; rounded down to the minute); needs point-in-time recovery beyond 1 hour"},
		}, waitFlags()...)...),
		Description: `Starts a managed export of the database given by --project and --database
to the Cloud Storage prefix of --to, then waits for it, showing its progress
on stderr, and prints the finished operation on stdout: its output URI prefix
(what 'fbadmin fs backup import --from' takes), document and byte counts and
times. Ctrl-C stops waiting, not the export, and prints how to follow or
cancel it. With --async it prints the started operation (its name) and exits.

A failed or cancelled export exits non-zero with its error. Permission
errors mean the credentials lack roles/datastore.importExportAdmin, or
Firestore's service agent cannot write to the bucket.

Examples:
   fbadmin fs backup export --to gs://my-backups/nightly/2024-05-01
   fbadmin fs backup export --to gs://my-backups --collection users --collection orders
   fbadmin fs backup export --to gs://my-backups/pitr --snapshot-time 2024-05-01T10:00:00Z
   fbadmin fs backup export --to gs://my-backups/x -o json | jq -r .output_uri_prefix
   fbadmin fs backup export --to gs://my-backups/x --async -o json | jq -r .name`,
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("export takes no arguments: give the destination with --to gs://BUCKET[/PATH] and collection groups with --collection ID")
			}
			opts := backupExportOptions{To: c.String("to"), SnapshotTime: c.String("snapshot-time"), Collections: c.StringSlice("collection"),
				Async: c.Bool("async"), Poll: c.Duration("poll-interval"), Endpoint: c.String("admin-endpoint")}
			return withDeps(c, func(ctx context.Context, d *deps) error { return runBackupExport(ctx, opts, d) })
		},
	}
}

func runBackupExport(ctx context.Context, opts backupExportOptions, d *deps) error {
	to, err := parseGCSPrefix("--to", opts.To, "fbadmin fs export --out FILE")
	if err != nil {
		return err
	}
	snap, err := parseSnapshotTime(opts.SnapshotTime, time.Now())
	if err != nil {
		return err
	}
	if err := checkCollectionIDs(opts.Collections); err != nil {
		return err
	}
	c, err := d.backupClient(ctx, opts.Endpoint, "export")
	if err != nil {
		return err
	}
	op, err := c.Export(ctx, backup.ExportRequest{OutputURIPrefix: to, CollectionIDs: opts.Collections, SnapshotTime: snap})
	if err != nil {
		return d.backupStartError(ctx, err, "export", c, to, opts.SnapshotTime)
	}
	return d.followOperation(ctx, c, op, opts.Async, opts.Poll)
}

// ---- import

type backupImportOptions struct {
	From        string
	Collections []string
	Async       bool
	Poll        time.Duration
	Endpoint    string
}

func fsBackupImportCommand() *cli.Command {
	return &cli.Command{
		Name:  "import",
		Usage: "import a managed export from Cloud Storage into the database",
		Flags: backupFlags(append([]cli.Flag{
			&cli.StringFlag{Name: "from", Usage: "the export's Cloud Storage `PREFIX` (the output_uri_prefix an export printed)"},
			&cli.StringSliceFlag{Name: "collection", Usage: "import only the collection group `ID` (repeat the flag for more; default: all of the export)"},
		}, waitFlags()...)...),
		Description: `Starts a managed import of the export at --from (the output URI prefix
'fbadmin fs backup export' or 'gcloud firestore export' printed) into the
database given by --project and --database, which may be another project's
or database's, then waits for it with progress on stderr and prints the
finished operation on stdout. Documents with the same path are overwritten;
others are left alone. Ctrl-C stops waiting, not the import. With --async it
prints the started operation (its name) and exits.

An export in a local directory, or one that should go into the emulator, is
read by 'fbadmin fs import' instead.

Examples:
   fbadmin fs backup import --from gs://my-backups/nightly/2024-05-01
   fbadmin --project my-staging fs backup import --from gs://my-backups/nightly/2024-05-01 --collection users
   fbadmin fs backup import --from gs://my-backups/nightly/2024-05-01 --async`,
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("import takes no arguments: give the export with --from gs://BUCKET/PATH (hint: 'fbadmin fs import' reads local files)")
			}
			opts := backupImportOptions{From: c.String("from"), Collections: c.StringSlice("collection"),
				Async: c.Bool("async"), Poll: c.Duration("poll-interval"), Endpoint: c.String("admin-endpoint")}
			return withDeps(c, func(ctx context.Context, d *deps) error { return runBackupImport(ctx, opts, d) })
		},
	}
}

func runBackupImport(ctx context.Context, opts backupImportOptions, d *deps) error {
	from, err := parseGCSPrefix("--from", opts.From, "fbadmin fs import DIR_OR_FILE")
	if err != nil {
		return err
	}
	if err := checkCollectionIDs(opts.Collections); err != nil {
		return err
	}
	c, err := d.backupClient(ctx, opts.Endpoint, "import")
	if err != nil {
		return err
	}
	op, err := c.Import(ctx, backup.ImportRequest{InputURIPrefix: from, CollectionIDs: opts.Collections})
	if err != nil {
		return d.backupStartError(ctx, err, "import", c, from, "")
	}
	return d.followOperation(ctx, c, op, opts.Async, opts.Poll)
}

// ---- operations

type backupOpsOptions struct {
	Name, Filter string
	Wait         bool
	Poll         time.Duration
	Endpoint     string
}

func fsBackupOperationsCommand() *cli.Command {
	return &cli.Command{
		Name:  "operations",
		Usage: "list, follow and cancel the database's long-running operations",
		Description: `Operations are named projects/P/databases/D/operations/ID; the commands take
the full name or the ID alone.

Examples:
   fbadmin fs backup operations list
   fbadmin fs backup operations get ID --wait
   fbadmin fs backup operations cancel ID`,
		Subcommands: []*cli.Command{
			{
				Name:  "list",
				Usage: "list the operations (by default those running and those failed)",
				Flags: backupFlags(&cli.StringFlag{Name: "filter", Usage: "the API's `FILTER`, for example 'done: true' for finished ones"}),
				Description: `Lists the database's operations, newest first: exports, imports, and other
kinds (index builds, bulk deletes). The Admin API lists running and failed
operations unless a filter says otherwise; finished ones are kept 30 days.

Examples:
   fbadmin fs backup operations list
   fbadmin fs backup operations list --filter 'done: true' -o ndjson
   fbadmin fs backup operations list -o json | jq -r '.[] | select(.type == "export") | .name'`,
				Action: func(c *cli.Context) error {
					if c.NArg() > 0 {
						return usagef("list takes no arguments (hint: 'fbadmin fs backup operations get NAME' shows one)")
					}
					opts := backupOpsOptions{Filter: c.String("filter"), Endpoint: c.String("admin-endpoint")}
					return withDeps(c, func(ctx context.Context, d *deps) error { return runBackupOpsList(ctx, opts, d) })
				},
			},
			{
				Name:      "get",
				Usage:     "print an operation's state, progress and result",
				ArgsUsage: "NAME",
				Flags: backupFlags(
					&cli.BoolFlag{Name: "wait", Usage: "wait for the operation to end, with progress; exit non-zero if it fails"},
					&cli.DurationFlag{Name: "poll-interval", Usage: "time between progress checks with --wait (default: 1s, growing to 10s)"},
				),
				Description: `Prints one operation: its kind (export, import, ...), state (PROCESSING,
SUCCESSFUL, FAILED, CANCELLED, ...), documents and bytes done and estimated,
URI prefix, collection IDs, times and, if it failed, its error. With --wait
it follows the operation to its end as 'fs backup export' does.

Examples:
   fbadmin fs backup operations get projects/my-app/databases/(default)/operations/ASA1MTAwNDQ2
   fbadmin fs backup operations get ASA1MTAwNDQ2 --wait
   fbadmin fs backup operations get ASA1MTAwNDQ2 -o json | jq -r .state`,
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return usagef("get needs one operation name or ID (hint: 'fbadmin fs backup operations list' lists them)")
					}
					opts := backupOpsOptions{Name: c.Args().First(), Wait: c.Bool("wait"), Poll: c.Duration("poll-interval"), Endpoint: c.String("admin-endpoint")}
					return withDeps(c, func(ctx context.Context, d *deps) error { return runBackupOpsGet(ctx, opts, d) })
				},
			},
			{
				Name:      "cancel",
				Usage:     "ask Firestore to stop an operation",
				ArgsUsage: "NAME",
				Flags:     backupFlags(),
				Description: `Asks for the operation to stop and prints its state (CANCELLING, then
CANCELLED). What it already did stays: the files an export wrote, the
documents an import wrote. Cancelling a finished operation changes nothing.

Examples:
   fbadmin fs backup operations cancel ASA1MTAwNDQ2
   fbadmin fs backup operations cancel projects/my-app/databases/(default)/operations/ASA1MTAwNDQ2`,
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return usagef("cancel needs one operation name or ID (hint: 'fbadmin fs backup operations list' lists them)")
					}
					opts := backupOpsOptions{Name: c.Args().First(), Endpoint: c.String("admin-endpoint")}
					return withDeps(c, func(ctx context.Context, d *deps) error { return runBackupOpsCancel(ctx, opts, d) })
				},
			},
		},
	}
}

func runBackupOpsList(ctx context.Context, opts backupOpsOptions, d *deps) error {
	c, err := d.backupClient(ctx, opts.Endpoint, "operations list")
	if err != nil {
		return err
	}
	pr := d.printer()
	pr.Empty = "no operations (the Admin API lists running and failed ones by default: --filter 'done: true' lists finished ones)"
	for op, err := range c.List(ctx, opts.Filter) {
		if err != nil {
			if errs.KindOf(err) == errs.ErrInvalid && opts.Filter != "" {
				return fmt.Errorf("--filter %q: %w (hint: filters look like 'done: true' or 'done: false')", opts.Filter, err)
			}
			return backupHint(err, c, "")
		}
		if err := pr.Item(op); err != nil {
			return err
		}
	}
	return pr.Close()
}

func runBackupOpsGet(ctx context.Context, opts backupOpsOptions, d *deps) error {
	c, err := d.backupClient(ctx, opts.Endpoint, "operations get")
	if err != nil {
		return err
	}
	op, err := c.Get(ctx, opts.Name)
	if err != nil {
		return backupHint(err, c, "")
	}
	if !opts.Wait || op.Done {
		if err := d.printer().One(op); err != nil {
			return err
		}
		if opts.Wait {
			return backupHint(op.Err(), c, op.OutputURIPrefix+op.InputURIPrefix)
		}
		return nil
	}
	return d.followOperation(ctx, c, op, false, opts.Poll)
}

func runBackupOpsCancel(ctx context.Context, opts backupOpsOptions, d *deps) error {
	c, err := d.backupClient(ctx, opts.Endpoint, "operations cancel")
	if err != nil {
		return err
	}
	name := c.OperationName(opts.Name)
	if err := c.Cancel(ctx, name); err != nil {
		return backupHint(err, c, "")
	}
	op, err := c.Get(ctx, name)
	if err != nil {
		return backupHint(err, c, "")
	}
	if !op.Done || op.State == "CANCELLED" {
		d.info("cancel: requested for %s; what it already wrote stays", name)
	} else {
		d.info("cancel: %s had already ended (%s): nothing changed", name, op.State)
	}
	return d.printer().One(op)
}

// ---- shared

// backupClient opens the Admin API client. The Firestore emulator has no
// Admin API: under it (FIRESTORE_EMULATOR_HOST or --emulator), without an
// explicit endpoint, this says so and what to use instead.
func (d *deps) backupClient(ctx context.Context, endpoint, label string) (*backup.Client, error) {
	if endpoint == "" && d.emulator() {
		return nil, d.emulatorNoAdminAPI(label)
	}
	project, err := d.project()
	if err != nil {
		return nil, err
	}
	cfg := backup.Config{Project: project, Database: d.g.Database, Endpoint: endpoint, DialOptions: d.grpcOptions()}
	if !strings.HasPrefix(endpoint, "http://") {
		if err := d.checkCredentials(ctx); err != nil {
			if errs.KindOf(err) == errs.ErrUnauthenticated {
				return nil, errs.New(errs.ErrUnauthenticated, "credentials", "", "no Google credentials found (hint: pass --credentials FILE, "+
					"set GOOGLE_APPLICATION_CREDENTIALS or run 'gcloud auth application-default login': managed exports and imports run in production only)")
			}
			return nil, err
		}
	}
	c, err := backup.New(ctx, cfg)
	if err != nil {
		return nil, err
	}
	d.closers = append(d.closers, func() { c.Close() })
	return c, nil
}

// emulatorNoAdminAPI is the refusal of a backup command under the
// emulator, with what does the job there.
func (d *deps) emulatorNoAdminAPI(label string) error {
	host := strings.TrimPrefix(os.Getenv("FIRESTORE_EMULATOR_HOST"), "http://")
	via := "FIRESTORE_EMULATOR_HOST=" + host
	if host == "" {
		host, via = defaultFirestoreEmulator, "--emulator"
	}
	project := d.g.Project
	if project == "" {
		project = "PROJECT"
	}
	var hint string
	switch label {
	case "export":
		hint = fmt.Sprintf("on the emulator, write a managed-format export with 'fbadmin fs export --format managed --out DIR', "+
			"or ask the emulator for one: curl -X POST http://%s/emulator/v1/projects/%s:export -H 'Content-Type: application/json' "+
			`-d '{"database":"projects/%s/databases/%s","export_directory":"/an/existing/dir"}'`, host, project, project, d.g.Database)
	case "import":
		hint = "on the emulator, load a managed export with 'fbadmin fs import DIR' (a local copy: gsutil -m cp -r gs://BUCKET/PATH DIR), " +
			"or start the emulator with --import-data=DIR/NAME.overall_export_metadata"
	default:
		hint = "the emulator runs no long-running operations; 'fbadmin fs export --format managed' and 'fbadmin fs import' work there"
	}
	return usagef("fs backup %s: the Firestore emulator (%s) does not implement the Firestore Admin API that managed exports and imports use "+
		"(hint: %s; to reach production, unset FIRESTORE_EMULATOR_HOST and drop --emulator)", label, via, hint)
}

// followOperation prints a started operation (--async) or waits for it
// with progress on stderr and prints how it ended.
func (d *deps) followOperation(ctx context.Context, c *backup.Client, op *backup.Operation, async bool, poll time.Duration) error {
	label := op.Kind
	getCmd := d.command("fs", "backup", "operations", "get", op.Name, "--wait")
	cancelCmd := d.command("fs", "backup", "operations", "cancel", op.Name)
	if async {
		d.info("%s: started %s (follow it: %s; cancel it: %s)", label, op.Name, getCmd, cancelCmd)
		return d.printer().One(op)
	}
	d.info("%s: operation %s %s; waiting for it (Ctrl-C stops waiting, not the %s)", label, op.Name, strings.ToLower(op.State), label)
	defer d.onInterrupt(ctx, fmt.Sprintf("%s: interrupted: no longer waiting; the %s goes on in Firestore", label, label),
		fmt.Sprintf("%s: the operation %s goes on in Firestore: follow it with: %s; to cancel it, run: %s", label, op.Name, getCmd, cancelCmd))()
	prog := d.progress(label)
	var docs, bytes, total int64
	state := op.State
	final, err := c.Wait(ctx, op.Name, backup.WaitOptions{Interval: poll, OnPoll: func(o *backup.Operation) {
		if o.DocumentsEstimated > 0 && o.DocumentsEstimated != total {
			total = o.DocumentsEstimated
			prog.SetTotal(total)
		}
		if o.DocumentsDone > docs || o.BytesDone > bytes {
			prog.Add(max(o.DocumentsDone-docs, 0), max(o.BytesDone-bytes, 0))
			docs, bytes = max(docs, o.DocumentsDone), max(bytes, o.BytesDone)
		}
		if o.State != state && !o.Done {
			state = o.State
			d.info("%s: %s", label, o.Progress())
		}
	}})
	prog.Finish()
	if ctx.Err() != nil && (final == nil || !final.Done) {
		if interrupted(ctx) {
			return interruptedError{fmt.Sprintf("%s: stopped waiting; the operation %s goes on in Firestore: follow it with: %s; to cancel it, run: %s",
				label, op.Name, getCmd, cancelCmd)}
		}
		return fmt.Errorf("%s: stopped waiting; the operation %s goes on in Firestore (follow it with: %s; to cancel it, run: %s): %w",
			label, op.Name, getCmd, cancelCmd, ctx.Err())
	}
	if final == nil {
		return backupHint(err, c, "")
	}
	if perr := d.printer().One(final); perr != nil {
		return perr
	}
	if err != nil {
		return backupHint(err, c, final.OutputURIPrefix+final.InputURIPrefix)
	}
	s := fmt.Sprintf("%s: %s", label, strings.ToLower(final.State))
	if final.DocumentsDone > 0 || final.BytesDone > 0 {
		s += fmt.Sprintf(", %s, %s", cliout.Count(final.DocumentsDone, "doc"), cliout.Bytes(final.BytesDone))
	}
	if final.StartTime != nil && final.EndTime != nil {
		s += fmt.Sprintf(" in %s", final.EndTime.Sub(*final.StartTime).Round(time.Second))
	}
	switch {
	case final.OutputURIPrefix != "":
		s += "; restore it with: " + d.command("fs", "backup", "import", "--from", final.OutputURIPrefix)
	case final.InputURIPrefix != "":
		s += " from " + final.InputURIPrefix
	}
	d.info("%s", s)
	return nil
}

// backupStartError explains a refused export or import.
func (d *deps) backupStartError(ctx context.Context, err error, label string, c *backup.Client, uri, snapshot string) error {
	if interrupted(ctx) {
		return interruptedError{fmt.Sprintf("%s: interrupted while starting the operation: it may have started anyway; see %s",
			label, d.command("fs", "backup", "operations", "list"))}
	}
	if snapshot != "" {
		switch k := errs.KindOf(err); {
		case k != errs.ErrInvalid && k != errs.ErrConflict:
		case strings.Contains(strings.ToLower(err.Error()), "snapshot"), strings.Contains(strings.ToLower(err.Error()), "version time"):
			return usageError{fmt.Errorf("--snapshot-time %s: %w (hint: Firestore exports a snapshot at most 1 hour back, "+
				"or 7 days back when point-in-time recovery is enabled on the database, at a whole minute)", snapshot, err)}
		}
	}
	return backupHint(err, c, uri)
}

// backupHint adds to an Admin API error the hint for its kind.
func backupHint(err error, c *backup.Client, uri string) error {
	if err == nil || strings.Contains(err.Error(), "hint:") {
		return err
	}
	project, _, _ := strings.Cut(strings.TrimPrefix(c.Database(), "projects/"), "/")
	bucket := "the bucket"
	if b, _, _ := strings.Cut(strings.TrimPrefix(uri, "gs://"), "/"); b != "" && strings.HasPrefix(uri, "gs://") {
		bucket = "gs://" + b
	}
	var hint string
	switch errs.KindOf(err) {
	case errs.ErrPermission:
		hint = fmt.Sprintf("the credentials need the role roles/datastore.importExportAdmin on project %s, and Firestore's service agent "+
			"(service-PROJECT_NUMBER@gcp-sa-firestore.iam.gserviceaccount.com) needs read and write access to %s, "+
			"for example roles/storage.admin on it", project, bucket)
	case errs.ErrConflict:
		hint = "another export or import may be running, or the bucket's location does not suit the database: see " +
			"'fbadmin fs backup operations list'"
	case errs.ErrNotFound:
		if uri != "" {
			hint = fmt.Sprintf("check that %s exists and, for an import, that --from is the output_uri_prefix of a finished export; "+
				"and that --project %s and --database name an existing database", bucket, project)
		} else {
			hint = "'fbadmin fs backup operations list' lists the operations (--filter 'done: true' the finished ones)"
		}
	case errs.ErrInvalid:
		hint = "check --to / --from (gs://BUCKET[/PATH]) and --collection (collection group IDs, each once)"
	case errs.ErrCanceled:
		return fmt.Errorf("%w (hint: the operation was cancelled; what it wrote before stays)", err)
	default:
		return err
	}
	return fmt.Errorf("%w (hint: %s)", err, hint)
}

// bucketRE is a Cloud Storage bucket name.
var bucketRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$`)

// parseGCSPrefix checks a gs://BUCKET[/PATH] flag.
func parseGCSPrefix(flag, s, local string) (string, error) {
	if s == "" {
		return "", usagef("%s is required: give a Cloud Storage prefix gs://BUCKET[/PATH]", flag)
	}
	rest, ok := strings.CutPrefix(s, "gs://")
	if !ok {
		return "", usagef("%s %q: managed exports live in Cloud Storage only: give gs://BUCKET[/PATH] (hint: for a local file or another store use '%s')", flag, s, local)
	}
	bucket, _, _ := strings.Cut(rest, "/")
	if !bucketRE.MatchString(bucket) || strings.Contains(bucket, "..") {
		return "", usagef("%s %q: %q is not a bucket name: 3 to 63 lowercase letters, digits, dots, dashes and underscores, starting and ending with a letter or digit", flag, s, bucket)
	}
	return strings.TrimSuffix(s, "/"), nil
}

// parseSnapshotTime reads --snapshot-time: an RFC 3339 time at a whole
// minute, or a duration ago (rounded down to the minute, as Firestore
// wants it), as parseReadTime reads --read-time.
func parseSnapshotTime(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	_, perr := time.Parse(time.RFC3339Nano, s)
	explicit := perr == nil
	t, err := parseReadTime(s)
	if err != nil {
		return time.Time{}, usagef("--snapshot-time %q: want an RFC 3339 time at a whole minute (2024-05-01T10:00:00Z) or a duration ago (10m, 2h, 7d)", s)
	}
	if t.After(now) {
		return time.Time{}, usagef("--snapshot-time %s: in the future (hint: give a time in the past)", s)
	}
	if explicit && !t.Truncate(time.Minute).Equal(t) {
		return time.Time{}, usagef("--snapshot-time %s: Firestore exports snapshots at whole minutes: give %s or %s",
			s, t.UTC().Truncate(time.Minute).Format(time.RFC3339), t.UTC().Truncate(time.Minute).Add(time.Minute).Format(time.RFC3339))
	}
	return t.Truncate(time.Minute).UTC(), nil
}

// checkCollectionIDs checks --collection: collection group IDs (no
// slash), each once.
func checkCollectionIDs(ids []string) error {
	seen := map[string]bool{}
	for _, id := range ids {
		switch {
		case id == "":
			return usagef("--collection: an empty collection ID")
		case strings.Contains(id, "/"):
			return usagef("--collection %q: a collection group ID, not a path: give the last segment (%q)", id, id[strings.LastIndexByte(id, '/')+1:])
		case seen[id]:
			return usagef("--collection %q is given twice: give each collection group once", id)
		}
		seen[id] = true
	}
	return nil
}
