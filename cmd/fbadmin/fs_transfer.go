package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/fbadmin/fbadmin/internal/errs"
	"github.com/fbadmin/fbadmin/internal/storage"
	"github.com/fbadmin/fbadmin/internal/transfer"
)

// ---- export

type exportOptions struct {
	Paths    []string
	Out      string
	Group    string
	ReadTime string
	Parallel int
	Format   string // ndjson or managed (fs_convert.go)
	// SplitSize and Compress write a split export (fs_storage.go).
	SplitSize string
	Compress  string
	// Shard and Shards select one part of a sharded export.
	Shard  string
	Shards int
}

func fsExportCommand() *cli.Command {
	return &cli.Command{
		Name:      "export",
		Usage:     "export documents as NDJSON, whole trees by default",
		ArgsUsage: "[PATH...]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "out", Aliases: []string{"O"}, Value: "-", Usage: "write to `FILE`: a path, - for stdout, file://, gs://BUCKET/OBJECT or s3://BUCKET/OBJECT?region=R (.gz and .zst compress); with --split-size a directory or prefix"},
			&cli.StringFlag{Name: "split-size", Usage: "write parts of about `SIZE` (256MB, 1GiB; before compression) under the --out prefix, and a manifest.json listing them with counts and checksums"},
			&cli.StringFlag{Name: "compress", Usage: "with --split-size: compress the parts with `ALGO` gzip or zstd (default none; a single file is compressed by its extension)"},
			&cli.StringFlag{Name: "group", Usage: "export the documents of every collection with this `ID` (a collection group)"},
			&cli.StringFlag{Name: "read-time", Usage: "read a consistent snapshot at `TIME` (RFC 3339, or a duration ago such as 5m or 2d): at most 1 hour back, 7 days with point-in-time recovery"},
			&cli.IntFlag{Name: "parallel", Usage: "queries run at once (default 8 in production, 1 on the emulator, which scans the whole collection for each)"},
			&cli.StringFlag{Name: "format", Value: "ndjson", Usage: "ndjson, or managed: Firestore's managed export format, written to the directory or prefix --out (see 'fbadmin fs convert --help')"},
			&cli.StringFlag{Name: "shard", Usage: "export only part `K/N` (from 0) of the documents, or auto: the task index of a Kubernetes Indexed Job (with --shards) or a Cloud Run job; needs --read-time, and {shard} in --out"},
			&cli.IntFlag{Name: "shards", Usage: "with --shard auto in a Kubernetes Indexed Job: the job's `N` completions"},
		},
		Description: `Writes one JSON object per line:
   {"path":"users/alice","data":{...lossless fields...},"create_time":"...","update_time":"..."}
Each PATH (a collection or a document; none means the whole database) is
exported with everything below it, including subcollections under documents
that do not exist themselves. Reads run in parallel (ranges of document IDs,
collections explored concurrently) in bounded memory. The file imports back
with 'fbadmin fs import'. Progress and a summary go to stderr.

--out takes a local path, -, file:///path, gs://BUCKET/OBJECT (application-
default credentials; STORAGE_EMULATOR_HOST for a local emulator) or
s3://BUCKET/OBJECT?region=REGION (the AWS credential chain; endpoint= and
use_path_style=true for S3-compatible servers). A name ending in .gz or .zst
is compressed. The output appears only when the export succeeds.
With --split-size, --out is a directory or prefix: the export is written as
part-00000.ndjson, part-00001.ndjson, ... and a manifest.json (written last)
listing each part's documents, bytes and CRC-32C; 'fbadmin fs import PREFIX'
imports them all and checks them.

Examples:
   fbadmin fs export --out backup.ndjson
   fbadmin fs export --out backup.ndjson.zst
   fbadmin fs export --out gs://my-backups/2026-12-05/firestore.ndjson.gz
   fbadmin fs export --out gs://my-backups/2026-12-05/ --split-size 256MB --compress gzip
   fbadmin fs export --out 's3://my-backups/fs.ndjson.gz?region=eu-west-1'
   fbadmin fs export users orders/2024 --out part.ndjson
   fbadmin fs export --group comments -o ndjson | jq -c 'select(.data.score > 3)'
   fbadmin fs export --read-time 2024-05-01T10:00:00Z --out snapshot.ndjson
   fbadmin fs export --format managed --out seed   # gcloud emulators firestore start --import-data=seed/seed.overall_export_metadata
   fbadmin fs export --shard 2/4 --read-time 2026-12-05T10:00:00Z --out 'gs://b/exp/shard-{shard}.ndjson.gz'

Sharding: N processes (the tasks of a Kubernetes Indexed Job or a Cloud Run
job, see deploy/) each export one disjoint part with --shard K/N or --shard
auto, all at the same --read-time: together they hold every document once.
{shard} in --out becomes K-of-N (00002-of-00004), so each writes its own
file or, with --split-size, its own prefix and manifest.`,
		Action: func(c *cli.Context) error {
			opts := exportOptions{Paths: c.Args().Slice(), Out: c.String("out"), Group: c.String("group"),
				ReadTime: c.String("read-time"), Parallel: c.Int("parallel"), Format: c.String("format"),
				SplitSize: c.String("split-size"), Compress: c.String("compress"), Shard: c.String("shard"), Shards: c.Int("shards")}
			return withDeps(c, func(ctx context.Context, d *deps) error { return runExport(ctx, opts, d) })
		},
	}
}

func parseReadTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	ago := strings.TrimPrefix(s, "-")
	if days, err := strconv.Atoi(strings.TrimSuffix(ago, "d")); err == nil && strings.HasSuffix(ago, "d") && days >= 0 {
		return time.Now().AddDate(0, 0, -days), nil
	}
	if d, err := time.ParseDuration(ago); err == nil && d >= 0 {
		return time.Now().Add(-d), nil
	}
	return time.Time{}, usagef("--read-time %q: want an RFC 3339 time (2024-05-01T10:00:00Z) or a duration ago (5m, 2h, 7d)", s)
}

// readTimeError turns the backend's refusal of a --read-time (too far
// back, in the future) into bad input (exit 2) that says how far back a
// read may go; Firestore answers "too old" with FAILED_PRECONDITION, which
// would otherwise read as a conflict.
func readTimeError(err error, arg string) error {
	if err == nil || arg == "" {
		return err
	}
	if k := errs.KindOf(err); k != errs.ErrConflict && k != errs.ErrInvalid {
		return err
	}
	msg := strings.ToLower(err.Error())
	switch {
	case strings.Contains(msg, "future"):
		return usageError{fmt.Errorf("--read-time %s: %w (hint: give a time in the past)", arg, err)}
	case strings.Contains(msg, "too old"), strings.Contains(msg, "read_time"), strings.Contains(msg, "read time"), strings.Contains(msg, "snapshot version"):
		return usageError{fmt.Errorf("--read-time %s: %w (hint: Firestore reads at most 1 hour back, or 7 days back, at a whole minute, "+
			"when point-in-time recovery is enabled on the database; the emulator reads 7 days back)", arg, err)}
	}
	return err
}

func runExport(ctx context.Context, opts exportOptions, d *deps) error {
	limitMemory()
	rt, err := parseReadTime(opts.ReadTime)
	if err != nil {
		return err
	}
	for _, p := range opts.Paths {
		if _, err := parsePath(p); err != nil {
			return err
		}
	}
	outArg := opts.Out // as given, {shard} and all
	shard, err := transfer.ParseShard(opts.Shard, opts.Shards, nil)
	if err != nil {
		return usageError{fmt.Errorf("--shard: %w", err)}
	}
	if !shard.Whole() {
		switch {
		case rt.IsZero():
			return usagef("--shard %s: give every shard the same --read-time (such as the job's start), so that they cut the data the same way", opts.Shard)
		case opts.Format == "managed":
			return usagef("--shard: a managed-format export is written by one process; shard an NDJSON export")
		case opts.Out != "-" && opts.Out != "" && !strings.Contains(opts.Out, "{shard}"):
			return usagef("--shard %s: put {shard} in --out (such as gs://b/exp/shard-{shard}.ndjson.gz) so that every shard writes its own output", opts.Shard)
		}
		opts.Out = strings.ReplaceAll(opts.Out, "{shard}", fmt.Sprintf("%05d-of-%05d", shard.K, shard.N))
	} else if strings.Contains(opts.Out, "{shard}") {
		return usagef("--out %s: {shard} is for sharded exports (--shard K/N or auto)", opts.Out)
	}
	switch opts.Format {
	case "managed":
		return runManagedExport(ctx, opts, d, rt)
	case "", "ndjson":
	default:
		return usagef("--format %q: use ndjson or managed", opts.Format)
	}
	db, err := d.transferDB(ctx)
	if err != nil {
		return err
	}
	out, err := openExportOutput(ctx, opts, d)
	if err != nil {
		return err
	}
	defer out.abort()
	defer d.onInterrupt(ctx, "export: interrupted: stopping; the partial output is discarded", "")()
	prog := d.progress("export")
	started := time.Now().UTC()
	st, err := transfer.Export(ctx, db, out.w, transfer.ExportOptions{Paths: opts.Paths, Group: opts.Group, ReadTime: rt, Parallel: opts.Parallel, Progress: prog, Shard: shard})
	prog.Finish()
	if err != nil {
		if interrupted(ctx) {
			args := append([]string{"fs", "export"}, opts.Paths...)
			if !shard.Whole() {
				args = append(args, "--shard", shard.String())
			}
			if opts.Group != "" {
				args = append(args, "--group", opts.Group)
			}
			if !rt.IsZero() {
				args = append(args, "--read-time", rt.UTC().Truncate(time.Microsecond).Format(time.RFC3339Nano))
			}
			if opts.Out != "-" && opts.Out != "" {
				args = append(args, "--out", outArg)
			}
			if opts.SplitSize != "" {
				args = append(args, "--split-size", opts.SplitSize)
			}
			if opts.Compress != "" {
				args = append(args, "--compress", opts.Compress)
			}
			return interruptedError{fmt.Sprintf("export interrupted after %d documents; nothing was kept, run it again: %s", st.Docs, d.command(args...))}
		}
		return readTimeError(err, opts.ReadTime)
	}
	m := storage.Manifest{Project: db.Project(), Database: db.Database(), Started: started, Finished: time.Now().UTC()}
	if !rt.IsZero() {
		t := rt.UTC()
		m.ReadTime = &t
	}
	where, err := out.finish(m)
	if err != nil {
		return err
	}
	d.info("%s%s", summaryLine("export", "exported", st), where)
	return nil
}

// ---- import

type importOptions struct {
	File        string
	Mode        string
	DryRun      bool
	Resume      bool
	Concurrency int
	Journal     string
	Collections []string // of a managed export (fs_convert.go)
	// Shard and Shards select this process's parts of a split export.
	Shard  string
	Shards int
	shard  transfer.Shard // parsed
	// Flow is the flow control (fs_flow.go).
	Flow flowOptions
	flow transfer.Flow // parsed
}

func fsImportCommand() *cli.Command {
	return &cli.Command{
		Name:      "import",
		Usage:     "import an NDJSON export (a file, an object, or a split export's manifest) into the database",
		ArgsUsage: "FILE|-",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "mode", Value: "create", Usage: "create (fail on existing documents), set (replace), merge, or skip-existing"},
			&cli.BoolFlag{Name: "dry-run", Usage: "validate the file and report what would be written, skipped or refused; write nothing"},
			&cli.BoolFlag{Name: "resume", Usage: "finish an interrupted import: skip the lines its journal records as committed"},
			&cli.IntFlag{Name: "concurrency", Value: 16, Usage: "batches of up to 500 documents in flight"},
			&cli.StringFlag{Name: "shard", Usage: "import only part `K/N` (from 0): of a split export, every N-th part from K; of one file, its K-th N-th of lines; or auto (a Kubernetes Indexed Job's or Cloud Run job's task)"},
			&cli.IntFlag{Name: "shards", Usage: "with --shard auto in a Kubernetes Indexed Job: the job's `N` completions"},
			&cli.StringFlag{Name: "journal", Usage: "journal `FILE` (default: FILE.journal beside a local input; for gs:// and s3:// inputs a file in ~/.local/state/fbadmin/journals; for a split export, one per part: FILE.PART)"},
			&cli.StringSliceFlag{Name: "collection", Usage: "of a managed export, import only documents of collections with this `ID` (repeatable), like gcloud's --collection-ids"},
		}, flowFlags()...),
		Description: `The whole file is validated first: a malformed line stops the import before
anything is written, naming the line. Documents are written in parallel
batches of up to 500 (unthrottled on the emulator; 500/50/5 ramp-up in
production). A journal beside the input records committed lines: after an
interruption (Ctrl-C, a killed process, a backend unreachable for longer than
the retries last, about 16 seconds), rerun with --resume to finish; no
document is lost or written twice with a different result.
Per-document failures are listed with their line and end in exit code 3.
FILE may be a local path, file:///path, gs://BUCKET/OBJECT or
s3://BUCKET/OBJECT?region=REGION (credentials as for 'fs export'); .gz and
.zst inputs are decompressed. An object is read twice (validation, then the
import) at the same generation or ETag; its journal lives in
$XDG_STATE_HOME/fbadmin/journals (default ~/.local/state/fbadmin/journals),
named by a hash of the URL, and records the generation or ETag: a --resume
refuses an object that changed since.
FILE may be the manifest.json of a split export (fs export --split-size), or
the directory or prefix holding one: every part it lists is imported, one
after another, each checked against the manifest (bytes, CRC-32C, documents)
before anything of it is written; each part has its own journal, so
--resume finishes the parts left.
FILE may also be a managed export (what 'gcloud firestore export' or the
emulator wrote: a directory, a gs:// prefix, or its .overall_export_metadata
file): it is read into NDJSON in the user's cache directory first, then
imported the same way (--resume works alike); --collection keeps the
documents of some collection IDs.

Sharding: N processes (the tasks of a Kubernetes Indexed Job or a Cloud Run
job) share one import with --shard K/N or --shard auto. Of a split export,
shard K imports every N-th part from part K. Of one NDJSON file, shard K
imports the lines that start in the K-th N-th of its bytes
([K*size/N, (K+1)*size/N)); of a compressed file (.gz, .zst: its size before
compression is unknown until its end), every N-th line from line K+1. Each
shard reads the whole file (so that line numbers stay the file's), validates
and writes only its lines, and keeps its own journal (FILE.00001-of-00004
.journal): a failed shard is rerun alone with --resume. For very large
inputs a split export is the better shape: each shard reads only its parts.

Examples:
   fbadmin fs import backup.ndjson
   fbadmin fs import backup.ndjson --mode set --concurrency 32
   fbadmin fs import backup.ndjson --dry-run --mode create
   fbadmin fs import backup.ndjson --resume
   fbadmin fs import gs://b/exp/2026-12-05/ --shard auto --shards 8   # this task's parts of a split export
   fbadmin fs import gs://b/exp/2026-12-05/all.ndjson --shard 1/4      # this task's quarter of one file
   fbadmin fs import backup.ndjson.zst
   fbadmin fs import gs://my-backups/2026-12-05/firestore.ndjson.gz
   fbadmin fs import gs://my-backups/2026-12-05/ --mode set
   fbadmin fs import 's3://my-backups/fs.ndjson.gz?region=eu-west-1' --resume
   fbadmin fs export users --project a | fbadmin fs import - --project b --mode merge
   fbadmin fs import gs://my-backups/2024-05-01 --collection users --mode set`,
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef("import needs exactly one file (or - for stdin)")
			}
			opts := importOptions{File: c.Args().First(), Mode: c.String("mode"), DryRun: c.Bool("dry-run"), Resume: c.Bool("resume"),
				Concurrency: c.Int("concurrency"), Journal: c.String("journal"), Collections: c.StringSlice("collection"),
				Shard: c.String("shard"), Shards: c.Int("shards"), Flow: flowOptionsOf(c)}
			return withDeps(c, func(ctx context.Context, d *deps) error { return runImport(ctx, opts, d) })
		},
	}
}

func runImport(ctx context.Context, opts importOptions, d *deps) error {
	limitMemory()
	mode, err := transfer.ParseMode(opts.Mode)
	if err != nil {
		return usagef("--mode %q: use create, set, merge or skip-existing", opts.Mode)
	}
	file, journal := opts.File, opts.Journal
	// A split export (fs export --split-size) is found by its manifest;
	// its parts are read where they are.
	var manifest *storage.Manifest
	var mloc, mdir storage.Location
	if file != "-" {
		loc, err := storage.Parse(file)
		if err != nil {
			return err
		}
		if ml, ok, err := storage.FindManifest(ctx, loc); err != nil {
			return err
		} else if ok {
			mloc = ml
			if len(opts.Collections) > 0 {
				return usagef("--collection filters a managed export; %s is a split NDJSON export (fbadmin fs export --split-size)", opts.File)
			}
			if manifest, mdir, err = storage.ReadManifest(ctx, ml); err != nil {
				return err
			}
		}
	}
	shard, err := transfer.ParseShard(opts.Shard, opts.Shards, nil)
	if err != nil {
		return usageError{fmt.Errorf("--shard: %w", err)}
	}
	if !shard.Whole() {
		if opts.File == "-" {
			return usagef("--shard: shards cannot share stdin: give the file (or a split export's manifest or prefix)")
		}
		opts.shard = shard
	}
	if opts.flow, err = opts.Flow.parse(shard.N); err != nil {
		return err
	}
	if manifest != nil {
		// read in place
	} else if sp, ok, err := managedImportSpool(ctx, opts, d); err != nil {
		return err
	} else if ok {
		if !shard.Whole() {
			os.Remove(sp)
			return usagef("--shard: a managed export is imported by one process; shard an NDJSON file or a split export (fbadmin fs export --split-size)")
		}
		defer os.Remove(sp)
		file = sp
	} else if file == "-" {
		if opts.Resume {
			return usagef("--resume needs an input file: stdin cannot be read again")
		}
		tmp, err := spool(d.stdin)
		if err != nil {
			return err
		}
		defer os.Remove(tmp)
		file = tmp
		if journal == "" {
			journal = transfer.NoJournal
		}
	} else if loc, _ := storage.Parse(file); loc.Kind == storage.Local {
		if _, err := os.Stat(loc.Path); err != nil {
			return usagef("%v", err)
		}
	}
	jpaths := []string{journalOf(opts, file)}
	if manifest != nil {
		jpaths = append([]string{manifestJournal(opts, mloc)}, partJournals(opts, manifest, mdir)...)
	}
	// journalLeft is the journal that an import that failed left behind
	// (then a rerun must, and can, be a resume), or "".
	journalLeft := func() string {
		if opts.File == "-" || opts.DryRun {
			return ""
		}
		for _, jp := range jpaths {
			if fileExists(jp) {
				return jp
			}
		}
		return ""
	}
	db, err := d.transferDB(ctx)
	if err != nil {
		return err
	}
	if opts.Resume && !opts.DryRun && journalLeft() == "" {
		// Killed after its journal was removed, or never started: a
		// resume is a plain run, idempotent as resumes are.
		what := journalOf(opts, file)
		if manifest != nil {
			what = "of any part"
		}
		whole := "the whole file"
		if manifest != nil {
			whole = "every part"
		}
		d.info("import: no journal of an interrupted import (%s): importing %s; documents already there with the same data are skipped", what, whole)
	}
	label := "import"
	if opts.DryRun {
		label = "import (dry run)"
	}
	var failures failureLog
	failures.init(d, "import")
	resumeArgs := append([]string{"fs", "import", opts.File, "--mode", mode.String(), "--resume"}, collectionArgs(opts.Collections)...)
	if !shard.Whole() {
		resumeArgs = append(resumeArgs, "--shard", shard.String())
	}
	if opts.Journal != "" {
		resumeArgs = append(resumeArgs, "--journal", opts.Journal)
	}
	resumeArgs = append(resumeArgs, opts.Flow.args()...)
	resumeCmd := d.command(resumeArgs...)
	var stopped string
	if opts.File != "-" && !opts.DryRun {
		stopped = "import stopped at once; to finish, run: " + resumeCmd
	}
	defer d.onInterrupt(ctx, "import: interrupted: finishing the batches in flight... (Ctrl-C again to stop at once; --resume finishes the job either way)", stopped)()
	prog := d.progress(label)
	var st transfer.Stats
	if manifest != nil {
		st, err = importManifest(ctx, db, manifest, mloc, mdir, opts, mode, prog, failures.add)
	} else {
		st, err = transfer.Import(ctx, db, file, transfer.ImportOptions{
			Mode: mode, DryRun: opts.DryRun, Concurrency: opts.Concurrency, Journal: journal, Resume: opts.Resume,
			Shard: opts.shard, Progress: prog, OnFailure: failures.add, Flow: opts.flow,
		})
	}
	prog.Finish()
	failures.flush()
	verb := "written"
	if opts.DryRun {
		verb = "would be written"
	}
	var le *transfer.LineError
	if !errors.As(err, &le) && (err == nil || st.Docs+st.Skipped+st.Failed > 0) {
		s := summaryLine(label, verb, st)
		if st.Resumed > 0 {
			s += fmt.Sprintf("; %d lines were done before", st.Resumed)
		}
		if manifest != nil && err == nil {
			s += fmt.Sprintf("; %d part(s), sizes and checksums as in the manifest", len(manifest.Parts))
		}
		d.info("%s", s)
	}
	if err == nil {
		d.doneDespite(ctx, label)
	}
	switch {
	case err != nil && interrupted(ctx) && opts.File != "-" && !opts.DryRun:
		return interruptedError{fmt.Sprintf("import interrupted after %d documents; to finish, run: %s", st.Docs, resumeCmd)}
	case err != nil && manifest != nil && errs.KindOf(err) == errs.ErrInvalid && !interrupted(ctx):
		return usageError{fmt.Errorf("import: %w; nothing of that part was written (%d documents of the parts before it were)", err, st.Docs)}
	case err != nil && errors.As(err, &le):
		return usageError{fmt.Errorf("import: %w; nothing was written", err)}
	case errors.Is(err, transfer.ErrJournalPending):
		if m, merr := transfer.JournalMode(journalLeft()); merr == nil {
			resumeArgs[4] = m.String() // the interrupted import's mode
			return fmt.Errorf("%w (hint: to finish it, run: %s)", err, d.command(resumeArgs...))
		}
		return err
	case err != nil && journalLeft() != "":
		// Stopped midway (a lost backend, a full disk): the journal
		// holds what was committed.
		when := "this is fixed"
		if errs.KindOf(err) == errs.ErrUnavailable {
			when = "the backend answers again"
		}
		return fmt.Errorf("import stopped after %d documents: %w (hint: once %s, finish with: %s)", st.Docs, err, when, resumeCmd)
	case err != nil:
		return err
	case st.Failed > 0 && opts.DryRun:
		return partialError{fmt.Errorf("import (dry run): %d documents would fail", st.Failed)}
	case st.Failed > 0 && opts.File != "-" && failures.exists == failures.n && mode == transfer.ModeCreate:
		return partialError{fmt.Errorf("import: %d documents failed: they already exist (hint: to replace them with the file's version, run: %s)",
			st.Failed, d.command(importAgain(opts, transfer.ModeSet)...))}
	case st.Failed > 0 && opts.File != "-":
		return partialError{fmt.Errorf("import: %d documents failed (hint: fix the lines listed above, then write the documents still missing with: %s)",
			st.Failed, d.command(importAgain(opts, transfer.ModeSkipExisting)...))}
	case st.Failed > 0:
		return partialError{fmt.Errorf("import: %d documents failed", st.Failed)}
	}
	return nil
}

// fileExists reports whether a file is there.
func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// journalOf is the journal file of an import.
func journalOf(opts importOptions, file string) string {
	if opts.Journal != "" {
		return opts.Journal
	}
	return transfer.ShardJournalPath(file, opts.shard)
}

// importAgain is a new import of the same file in mode.
func importAgain(opts importOptions, mode transfer.Mode) []string {
	args := append([]string{"fs", "import", opts.File, "--mode", mode.String()}, collectionArgs(opts.Collections)...)
	if opts.Journal != "" {
		args = append(args, "--journal", opts.Journal)
	}
	return append(args, opts.Flow.args()...)
}

// spool copies stdin to a temporary file, so that it can be validated
// before anything is written, in bounded memory.
func spool(r io.Reader) (string, error) {
	f, err := os.CreateTemp("", "fbadmin-import-*.ndjson")
	if err != nil {
		return "", err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		os.Remove(f.Name())
		return "", fmt.Errorf("read stdin: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// ---- copy

type copyOptions struct {
	Src, Dst        string
	ToProject, ToDB string
	Recursive       bool
	Mode            string
	ReadTime        string
	Concurrency     int
	// Shard and Shards select one part of a sharded copy.
	Shard  string
	Shards int
	shard  transfer.Shard // parsed
	// Flow is the flow control (fs_flow.go).
	Flow flowOptions
}

func fsCopyCommand() *cli.Command {
	return &cli.Command{
		Name:      "copy",
		Usage:     "copy a document or collection, optionally with its subtree, within or across projects",
		ArgsUsage: "SRC_PATH DST_PATH",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "to-project", Usage: "destination project (default: the same)"},
			&cli.StringFlag{Name: "to-database", Usage: "destination database (default: the same)"},
			&cli.BoolFlag{Name: "recursive", Aliases: []string{"r"}, Usage: "copy subcollections at any depth too"},
			&cli.StringFlag{Name: "mode", Value: "set", Usage: "create, set, merge or skip-existing (as for import)"},
			&cli.StringFlag{Name: "read-time", Usage: "copy a snapshot of the source at `TIME`"},
			&cli.IntFlag{Name: "concurrency", Value: 16, Usage: "batches in flight"},
			&cli.StringFlag{Name: "shard", Usage: "copy only part `K/N` (from 0) of the source, or auto: the task index of a Kubernetes Indexed Job (with --shards) or a Cloud Run job; needs --read-time"},
			&cli.IntFlag{Name: "shards", Usage: "with --shard auto in a Kubernetes Indexed Job: the job's `N` completions"},
		}, flowFlags()...),
		Description: `SRC and DST are both documents or both collections; paths below SRC are
re-rooted under DST. Field values are copied as they are: references keep
pointing where they pointed.

Sharding: N processes (the tasks of a Kubernetes Indexed Job or a Cloud Run
job) each copy one disjoint part with --shard K/N or --shard auto, all at the
same --read-time: every shard cuts the source the same way (as 'fs export
--shard' does, subtrees following their documents), and together they copy
each document once. A shard that stops is finished alone: its rerun (the
command it prints) copies the same part again, skipping or rewriting with
the same data what it had copied.

Examples:
   fbadmin fs copy users/alice users/alice-backup
   fbadmin fs copy users users_v2 --recursive
   fbadmin fs copy users users --recursive --to-project demo-staging --mode skip-existing
   fbadmin fs copy users users --recursive --to-project demo-staging --shard auto --read-time 2026-12-05T10:00:00Z`,
		Action: func(c *cli.Context) error {
			if c.NArg() != 2 {
				return usagef("copy needs a source and a destination path")
			}
			opts := copyOptions{Src: c.Args().Get(0), Dst: c.Args().Get(1), ToProject: c.String("to-project"), ToDB: c.String("to-database"),
				Recursive: c.Bool("recursive"), Mode: c.String("mode"), ReadTime: c.String("read-time"), Concurrency: c.Int("concurrency"),
				Shard: c.String("shard"), Shards: c.Int("shards"), Flow: flowOptionsOf(c)}
			return withDeps(c, func(ctx context.Context, d *deps) error { return runCopy(ctx, opts, d) })
		},
	}
}

func runCopy(ctx context.Context, opts copyOptions, d *deps) error {
	limitMemory()
	mode, err := transfer.ParseMode(opts.Mode)
	if err != nil {
		return usagef("--mode %q: use create, set, merge or skip-existing", opts.Mode)
	}
	rt, err := parseReadTime(opts.ReadTime)
	if err != nil {
		return err
	}
	for _, p := range []string{opts.Src, opts.Dst} {
		if _, err := parsePath(p); err != nil {
			return err
		}
	}
	if opts.shard, err = transfer.ParseShard(opts.Shard, opts.Shards, nil); err != nil {
		return usageError{fmt.Errorf("--shard: %w", err)}
	}
	flow, err := opts.Flow.parse(opts.shard.N)
	if err != nil {
		return err
	}
	if !opts.shard.Whole() {
		switch {
		case rt.IsZero():
			return usagef("--shard %s: give every shard the same --read-time (such as the job's start), so that they cut the source the same way", opts.Shard)
		case transfer.IsDocPath(strings.Trim(opts.Src, "/")) && !opts.Recursive:
			return usagef("--shard %s: one document is copied by one process; shard a collection or a --recursive copy", opts.Shard)
		}
	}
	src, err := d.transferDB(ctx)
	if err != nil {
		return err
	}
	dst := src
	if (opts.ToProject != "" && opts.ToProject != src.Project()) || (opts.ToDB != "" && opts.ToDB != src.Database()) {
		if dst, err = d.openDB(ctx, opts.ToProject, opts.ToDB); err != nil {
			return err
		}
	}
	var failures failureLog
	failures.init(d, "copy")
	defer d.onInterrupt(ctx, "copy: interrupted: finishing the batches in flight... (Ctrl-C again to stop at once)",
		"copy stopped at once; to finish, run: "+d.command(copyAgain(opts, mode, rt)...))()
	prog := d.progress("copy")
	st, err := transfer.Copy(ctx, src, dst, transfer.CopyOptions{Src: opts.Src, Dst: opts.Dst, Recursive: opts.Recursive, Mode: mode,
		ReadTime: rt, Shard: opts.shard, Concurrency: opts.Concurrency, Progress: prog, OnFailure: failures.add, Flow: flow})
	prog.Finish()
	failures.flush()
	if (err == nil && st.Docs+st.Skipped+st.Failed > 0) || st.Docs > 0 {
		d.info("%s", summaryLine("copy", "copied", st))
	}
	if err != nil {
		if interrupted(ctx) {
			return interruptedError{fmt.Sprintf("copy interrupted after %d documents; to finish, run: %s", st.Docs, d.command(copyAgain(opts, mode, rt)...))}
		}
		return readTimeError(err, opts.ReadTime)
	}
	d.doneDespite(ctx, "copy")
	if st.Failed > 0 {
		return partialError{fmt.Errorf("copy: %d documents failed", st.Failed)}
	}
	if st.Docs == 0 && st.Skipped == 0 && opts.shard.Whole() {
		// As fs get: a source that does not exist is not found (exit 4).
		// A shard's part may hold nothing: not an error.
		return errs.New(errs.ErrNotFound, "copy", opts.Src, "nothing found: no such document or collection")
	}
	return nil
}

// copyAgain is the command that finishes an interrupted copy: the same
// copy, of the same snapshot when it had one, where documents already
// copied are skipped (create mode) or written again with the same data.
func copyAgain(opts copyOptions, mode transfer.Mode, rt time.Time) []string {
	if mode == transfer.ModeCreate {
		mode = transfer.ModeSkipExisting
	}
	args := []string{"fs", "copy", opts.Src, opts.Dst}
	if opts.Recursive {
		args = append(args, "--recursive")
	}
	if opts.ToProject != "" {
		args = append(args, "--to-project", opts.ToProject)
	}
	if opts.ToDB != "" {
		args = append(args, "--to-database", opts.ToDB)
	}
	args = append(args, "--mode", mode.String())
	if !opts.shard.Whole() {
		args = append(args, "--shard", opts.shard.String())
	}
	if !rt.IsZero() {
		args = append(args, "--read-time", rt.UTC().Truncate(time.Microsecond).Format(time.RFC3339Nano))
	}
	return append(args, opts.Flow.args()...)
}

// onInterrupt says on stderr, as soon as the first signal cancels ctx,
// what the job does before it stops (a drain takes seconds); the returned
// function ends the watch. stopped, when not empty, is what main says if a
// second signal ends the process before the drain is over (how to finish
// the job: its journal is consistent at any moment).
func (d *deps) onInterrupt(ctx context.Context, msg, stopped string) func() {
	stop := context.AfterFunc(ctx, func() {
		if interrupted(ctx) {
			d.info("%s", msg)
		}
	})
	unset := func() {}
	if stopped != "" {
		unset = setLastWords(stopped)
	}
	return func() { stop(); unset() }
}

// doneDespite says, after a job that finished, that a signal which came
// after its last batch did not stop it.
func (d *deps) doneDespite(ctx context.Context, label string) {
	if interrupted(ctx) {
		d.info("%s: done: the interruption came after the last batch", label)
	}
}

// limitMemory sets a soft heap limit for bulk jobs (unless GOMEMLIMIT is
// set): the engine's buffers are bounded, and the limit keeps the garbage
// collector from letting the heap double past them, so the process stays
// well under 150 MB however many documents flow through.
func limitMemory() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(96 << 20)
	}
}
