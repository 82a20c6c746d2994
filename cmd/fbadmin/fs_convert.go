package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/fbadmin/fbadmin/internal/cliout"
	"github.com/fbadmin/fbadmin/internal/errs"
	"github.com/fbadmin/fbadmin/internal/managed"
	"github.com/fbadmin/fbadmin/internal/storage"
	"github.com/fbadmin/fbadmin/internal/transfer"
)

// Firestore's managed export format (gcloud firestore export, the
// emulator's --import-data): fs convert, and the hooks of fs import and
// fs export --format managed. See docs/managed-export.md.

// ---- convert

type convertOptions struct {
	Src, Dst    string
	To          string
	Collections []string
}

func fsConvertCommand() *cli.Command {
	return &cli.Command{
		Name:      "convert",
		Usage:     "convert between Firestore's managed export format and fbadmin's NDJSON, without a database",
		ArgsUsage: "SRC DST",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "to", Usage: "the format of DST: ndjson or managed (default: the other format than SRC's)"},
			&cli.StringSliceFlag{Name: "collection", Usage: "keep only documents of collections with this `ID` (repeatable; managed to NDJSON), like gcloud's --collection-ids"},
		},
		Description: `SRC is a managed export (the directory or gs://, s3:// prefix that 'gcloud
firestore export' or the emulator wrote, or its .overall_export_metadata file)
or an NDJSON file as 'fbadmin fs export' writes it (a path, -, or a URL;
.gz and .zst are decompressed). A managed SRC becomes an NDJSON DST (a path,
- for stdout, or a URL; compressed by extension); an NDJSON SRC becomes a
managed export in the directory or prefix DST, loadable by 'gcloud firestore
import' and by 'gcloud emulators firestore start --import-data=DST/NAME.overall_export_metadata'
(NAME is DST's last element). Values convert exactly both ways (docs/managed-export.md
lists the mapping); timestamps keep microseconds, as Firestore does; the
documents' create and update times are not part of the managed format.
Keys of a written export name the project of --project (default "fbadmin")
and the database of --database.
Memory stays bounded whatever the size. Progress and a summary go to stderr.

Examples:
   fbadmin fs convert backups/2024-05-01 backup.ndjson
   fbadmin fs convert gs://my-bucket/2024-05-01 - | jq -c .path
   fbadmin fs convert gs://my-bucket/2024-05-01 users.ndjson.zst --collection users
   fbadmin fs convert backup.ndjson seed-export --project demo-app
   gcloud emulators firestore start --import-data=seed-export/seed-export.overall_export_metadata`,
		Action: func(c *cli.Context) error {
			if c.NArg() != 2 {
				return usagef("convert needs a source and a destination (see fbadmin fs convert --help)")
			}
			opts := convertOptions{Src: c.Args().Get(0), Dst: c.Args().Get(1), To: c.String("to"), Collections: c.StringSlice("collection")}
			return withDeps(c, func(ctx context.Context, d *deps) error { return runConvert(ctx, opts, d) })
		},
	}
}

func runConvert(ctx context.Context, opts convertOptions, d *deps) error {
	limitMemory()
	switch opts.To {
	case "", "ndjson", "managed":
	default:
		return usagef("--to %q: use ndjson or managed", opts.To)
	}
	store, meta, isManaged, err := managed.Locate(ctx, opts.Src)
	if err != nil {
		return err
	}
	to := opts.To
	if to == "" {
		to = "managed"
		if isManaged {
			to = "ndjson"
		}
	}
	switch {
	case isManaged && to == "ndjson":
		return convertToNDJSON(ctx, store, meta, opts, d)
	case !isManaged && to == "managed":
		if looksNDJSON(opts.Dst) {
			return usagef("%s names an NDJSON file, and %s is NDJSON already: a managed export is written to a directory or prefix (give one), and read from one", opts.Dst, opts.Src)
		}
		if len(opts.Collections) > 0 {
			return usagef("--collection filters a managed export; %s is NDJSON", opts.Src)
		}
		return convertToManaged(ctx, opts, d)
	case isManaged:
		return usagef("%s is a managed export already: convert it --to ndjson", opts.Src)
	}
	return usagef("%s is not a managed export (no *.overall_export_metadata file in it): only --to managed applies to NDJSON", opts.Src)
}

func convertToNDJSON(ctx context.Context, store managed.Store, meta string, opts convertOptions, d *deps) error {
	exp, err := managed.Open(ctx, store, meta)
	if err != nil {
		return managedErr(err)
	}
	w, err := storage.Create(ctx, opts.Dst)
	if err != nil {
		return err
	}
	defer w.Abort()
	defer d.onInterrupt(ctx, "convert: interrupted: stopping; the partial output is discarded", "")()
	prog := d.progress("convert")
	start := time.Now()
	st, err := managed.ToNDJSON(ctx, exp, w, managed.ReadOptions{Collections: opts.Collections}, prog)
	prog.Finish()
	if err == nil {
		err = w.Close()
	}
	if err != nil {
		if interrupted(ctx) {
			return interruptedError{fmt.Sprintf("convert interrupted after %d documents; nothing was kept, run it again", st.Docs)}
		}
		return managedErr(err)
	}
	d.info("%s", summaryLine("convert", "converted", transfer.Stats{Docs: st.Docs, Bytes: st.Bytes, Elapsed: time.Since(start)}))
	return nil
}

func convertToManaged(ctx context.Context, opts convertOptions, d *deps) error {
	r, err := storage.Open(ctx, opts.Src)
	if err != nil {
		return err
	}
	defer r.Close()
	project := d.g.Project
	if project == "" {
		project = "fbadmin"
	}
	store, name, err := managedOutput(opts.Dst)
	if err != nil {
		return err
	}
	w := managed.NewWriter(ctx, store, managed.WriterOptions{Name: name, Project: project, Database: d.g.Database})
	defer d.onInterrupt(ctx, "convert: interrupted: stopping", "")()
	prog := d.progress("convert")
	start := time.Now()
	st, err := managed.FromNDJSON(ctx, r, r.Location().Base(), w, prog)
	prog.Finish()
	if err == nil {
		err = w.Close()
	} else {
		w.Abort()
	}
	if err != nil {
		if interrupted(ctx) {
			return interruptedError{fmt.Sprintf("convert interrupted after %d documents; %s is incomplete (it has no metadata file): delete it and run the command again", st.Docs, opts.Dst)}
		}
		var le *transfer.LineError
		if errors.As(err, &le) {
			return usageError{fmt.Errorf("convert: %w; %s is incomplete: delete it", err, opts.Dst)}
		}
		return err
	}
	d.info("%s", summaryLine("convert", "converted", transfer.Stats{Docs: st.Docs, Bytes: st.Bytes, Elapsed: time.Since(start)}))
	d.info("convert: wrote %s (load it with: gcloud emulators firestore start --import-data=%s)", store, joinOut(opts.Dst, name+managed.MetadataSuffix))
	return nil
}

// looksNDJSON reports whether a destination's name is that of an NDJSON
// file (.ndjson, .jsonl, .json, compressed or not) or stdout.
func looksNDJSON(dst string) bool {
	if dst == "-" {
		return true
	}
	name := strings.TrimSuffix(strings.TrimSuffix(strings.SplitN(dst, "?", 2)[0], ".gz"), ".zst")
	for _, ext := range []string{".ndjson", ".jsonl", ".json"} {
		if strings.HasSuffix(name, ext) {
			return true
		}
	}
	return false
}

func joinOut(dir, name string) string {
	if strings.Contains(dir, "://") {
		return strings.TrimSuffix(dir, "/") + "/" + name
	}
	return filepath.Join(dir, name)
}

// managedOutput returns where a managed export is written: a local
// directory that does not exist or is empty, or a prefix.
func managedOutput(arg string) (managed.Store, string, error) {
	if arg == "-" || arg == "" {
		return nil, "", usagef("a managed export is written to a directory or a gs:// or s3:// prefix, not %q", arg)
	}
	store, name, err := managed.CreateStore(arg)
	if err != nil {
		return nil, "", err
	}
	if dir, ok := store.(managed.DirStore); ok {
		if ents, err := os.ReadDir(string(dir)); err == nil && len(ents) > 0 {
			return nil, "", usagef("%s exists and is not empty: give a new directory for the managed export", arg)
		}
		if st, err := os.Stat(string(dir)); err == nil && !st.IsDir() {
			return nil, "", usagef("%s is a file: a managed export is a directory", arg)
		}
	}
	return store, name, nil
}

// managedErr adds a hint to errors about a damaged export.
func managedErr(err error) error {
	var ce *managed.CorruptError
	if errors.As(err, &ce) {
		return usageError{fmt.Errorf("managed export: %w (hint: the file is damaged or not part of a Firestore export; copy it again from where the export was written)", err)}
	}
	return err
}

// ---- import of a managed export

// managedImportSpool turns a managed export given to fs import into the
// NDJSON file the import reads: a file in the user's cache directory whose
// name derives from the source and the collection filter, so that a
// --resume rewrites the same file (the conversion is deterministic) and
// finds the journal beside it. ok is false when the input is not a
// managed export. The caller removes the spool when done.
func managedImportSpool(ctx context.Context, opts importOptions, d *deps) (string, bool, error) {
	if opts.File == "-" {
		return "", false, nil
	}
	store, meta, ok, err := managed.Locate(ctx, opts.File)
	if err != nil || !ok {
		if err == nil && len(opts.Collections) > 0 {
			return "", false, usagef("--collection filters a managed export; %s is NDJSON", opts.File)
		}
		return "", false, err
	}
	exp, err := managed.Open(ctx, store, meta)
	if err != nil {
		return "", true, managedErr(err)
	}
	spool, err := spoolPath(opts)
	if err != nil {
		return "", true, err
	}
	f, err := os.Create(spool + ".partial")
	if err != nil {
		return "", true, fmt.Errorf("import: spool the managed export: %w", err)
	}
	// Not d.progress: its test hook interrupts the import proper.
	prog := cliout.NewProgress(d.stderr, cliout.ProgressOptions{Label: "read managed export", Terminal: d.stderrTTY, Quiet: d.g.Quiet})
	st, err := managed.ToNDJSON(ctx, exp, f, managed.ReadOptions{Collections: opts.Collections}, prog)
	prog.Finish()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(spool+".partial", spool)
	}
	if err != nil {
		os.Remove(spool + ".partial")
		if interrupted(ctx) {
			return "", true, interruptedError{"import interrupted while reading the managed export; nothing was written, run it again"}
		}
		return "", true, managedErr(err)
	}
	d.info("import: read %s from the managed export %s", docsWord(st.Docs), exp.Store)
	return spool, true, nil
}

// spoolPath is where the NDJSON form of a managed export being imported
// is kept: in the user's cache directory, named after the source.
func spoolPath(opts importOptions) (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	dir = filepath.Join(dir, "fbadmin", "managed-import")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", errs.Wrap(err, "import", dir)
	}
	src := opts.File
	if l, err := storage.Parse(src); err == nil && l.Kind == storage.Local {
		if abs, err := filepath.Abs(l.Path); err == nil {
			src = abs
		}
	}
	cols := slices.Clone(opts.Collections)
	slices.Sort(cols)
	sum := sha256.Sum256([]byte(src + "\x00" + strings.Join(cols, "\x00")))
	return filepath.Join(dir, hex.EncodeToString(sum[:12])+".ndjson"), nil
}

// collectionArgs repeats an import's --collection flags in the commands
// it prints.
func collectionArgs(cols []string) []string {
	var out []string
	for _, c := range cols {
		out = append(out, "--collection", c)
	}
	return out
}

// ---- export --format managed

func runManagedExport(ctx context.Context, opts exportOptions, d *deps, rt time.Time) error {
	if opts.Out == "-" || opts.Out == "" {
		return usagef("--format managed writes a directory: give --out DIR (or a gs:// or s3:// prefix)")
	}
	store, name, err := managedOutput(opts.Out)
	if err != nil {
		return err
	}
	db, err := d.transferDB(ctx)
	if err != nil {
		return err
	}
	w := managed.NewWriter(ctx, store, managed.WriterOptions{Name: name, Project: db.Project(), Database: db.Database()})
	defer d.onInterrupt(ctx, "export: interrupted: stopping; the partial output is discarded", "")()
	prog := d.progress("export")
	pr, pw := io.Pipe()
	type result struct {
		st  transfer.Stats
		err error
	}
	done := make(chan result, 1)
	go func() {
		st, err := transfer.Export(ctx, db, pw, transfer.ExportOptions{Paths: opts.Paths, Group: opts.Group, ReadTime: rt, Parallel: opts.Parallel, Progress: prog})
		pw.CloseWithError(err)
		done <- result{st, err}
	}()
	_, cerr := managed.FromNDJSON(ctx, pr, "export", w, nil)
	pr.CloseWithError(errors.New("conversion stopped"))
	res := <-done
	prog.Finish()
	err = res.err
	if err == nil {
		err = cerr
	}
	if err == nil {
		err = w.Close()
	} else {
		w.Abort()
	}
	if err != nil {
		if interrupted(ctx) {
			return interruptedError{fmt.Sprintf("export interrupted after %d documents; %s is incomplete (no metadata file): delete it and run the export again", res.st.Docs, opts.Out)}
		}
		return readTimeError(err, opts.ReadTime)
	}
	d.info("%s", summaryLine("export", "exported", res.st))
	d.info("export: wrote the managed export %s (load it with: gcloud emulators firestore start --import-data=%s, or fbadmin fs import %s)",
		store, joinOut(opts.Out, name+managed.MetadataSuffix), opts.Out)
	return nil
}

func docsWord(n int64) string {
	if n == 1 {
		return "1 document"
	}
	return fmt.Sprintf("%d documents", n)
}
