package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/fbadmin/fbadmin/auth"
	"github.com/fbadmin/fbadmin/internal/storage"
)

// ---- import

type usersImportOptions struct {
	File        string
	HashAlgo    string
	HashKey     string
	SaltSep     string
	Rounds      int
	MemoryCost  int
	Concurrency int
}

func authUsersImportCommand() *cli.Command {
	return &cli.Command{
		Name:      "import",
		Usage:     "import users from a Firebase CLI auth:export JSON file",
		ArgsUsage: "FILE|URL|-",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "hash-algo", Usage: "password hash algorithm of the file (HMAC_SHA256, SCRYPT, BCRYPT, PBKDF2_SHA256, ...)"},
			&cli.StringFlag{Name: "hash-key", Usage: "base64 hash key (HMAC and SCRYPT)"},
			&cli.StringFlag{Name: "salt-separator", Usage: "base64 salt separator (SCRYPT)"},
			&cli.IntFlag{Name: "rounds", Usage: "hash rounds"},
			&cli.IntFlag{Name: "memory-cost", Usage: "memory cost (SCRYPT)"},
			&cli.IntFlag{Name: "concurrency", Value: 4, Usage: "batches of 1,000 users in flight"},
		},
		Description: `Reads the file as a stream and imports batches of up to 1,000 users;
a user that fails is reported (exit 3) and the others are imported.
FILE may be a local path, gs://BUCKET/OBJECT, s3://BUCKET/OBJECT?region=R or
file:///path; a name ending in .gz or .zst is decompressed.

Examples:
   fbadmin auth users import users.json
   fbadmin auth users import gs://my-backups/users.json.gz
   fbadmin auth users import users.json --hash-algo HMAC_SHA256 --hash-key "$KEY"
   firebase auth:export users.json && fbadmin auth users import users.json --project demo-other`,
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef("users import needs one file (or - for stdin)")
			}
			opts := usersImportOptions{
				File: c.Args().First(), HashAlgo: c.String("hash-algo"), HashKey: c.String("hash-key"), SaltSep: c.String("salt-separator"),
				Rounds: c.Int("rounds"), MemoryCost: c.Int("memory-cost"), Concurrency: c.Int("concurrency"),
			}
			return withDeps(c, func(ctx context.Context, d *deps) error { return runUsersImport(ctx, opts, d) })
		},
	}
}

func runUsersImport(ctx context.Context, opts usersImportOptions, d *deps) error {
	a, err := d.authCreating(ctx)
	if err != nil {
		return err
	}
	var r io.Reader = d.stdin
	if f := opts.File; f != "-" {
		loc, err := storage.Parse(f)
		if err != nil {
			return err
		}
		file, err := loc.Open(ctx)
		if err != nil {
			if loc.Kind == storage.Local {
				return usageError{err}
			}
			return err
		}
		defer file.Close()
		r = file
	}
	hc := auth.HashConfig{Algorithm: opts.HashAlgo, Rounds: opts.Rounds, MemoryCost: opts.MemoryCost}
	for _, kv := range []struct {
		flag, value string
		dst         *[]byte
	}{{"hash-key", opts.HashKey, &hc.Key}, {"salt-separator", opts.SaltSep, &hc.SaltSeparator}} {
		if kv.value != "" {
			b, err := decodeBase64(kv.value)
			if err != nil {
				return usagef("--%s: not base64: %v", kv.flag, err)
			}
			*kv.dst = b
		}
	}
	prog := d.progress("import users")
	var done atomic.Int64
	rep, err := a.ImportUsers(ctx, r, auth.ImportOptions{Hash: hc, Concurrency: opts.Concurrency, Progress: func(r auth.ImportReport) {
		n := int64(r.Imported + r.Failed)
		prog.Add(n-done.Swap(n), 0)
	}})
	prog.Finish()
	if rep != nil {
		for i, f := range rep.Failures {
			if i >= maxFailureLines {
				fmt.Fprintf(d.stderr, "import users: ... and %d more failures\n", rep.Failed-maxFailureLines)
				break
			}
			fmt.Fprintf(d.stderr, "import users: user %d (%s): %s\n", f.Index, f.UID, f.Reason)
		}
		d.info("import users: %d imported, %d failed in %.2f s", rep.Imported, rep.Failed, rep.Duration.Seconds())
	}
	if err != nil {
		return err
	}
	if rep.Failed > 0 {
		return partialError{fmt.Errorf("import users: %d users failed", rep.Failed)}
	}
	return nil
}

// decodeBase64 accepts standard and URL-safe base64, padded or not.
func decodeBase64(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	_, err := base64.StdEncoding.DecodeString(s)
	return nil, err
}

// ---- export

type usersExportOptions struct{ Out string }

func authUsersExportCommand() *cli.Command {
	return &cli.Command{
		Name:  "export",
		Usage: "export every user as a Firebase CLI auth:export JSON file",
		Flags: []cli.Flag{&cli.StringFlag{Name: "out", Aliases: []string{"O"}, Value: "-",
			Usage: "write to `FILE` (- for stdout; gs://BUCKET/OBJECT, s3://BUCKET/OBJECT?region=R, file://; .gz and .zst compress)"}},
		Description: `The file imports with 'fbadmin auth users import' or 'firebase auth:import'.
The output appears only when the export succeeds (a local file is written
as FILE.partial and renamed; an upload is discarded on error).

Examples:
   fbadmin auth users export --out users.json
   fbadmin auth users export --out gs://my-backups/2026-12-05/users.json.gz
   fbadmin auth users export --tenant tenant-1 | gzip > tenant-1.json.gz`,
		Action: func(c *cli.Context) error {
			opts := usersExportOptions{Out: c.String("out")}
			return withDeps(c, func(ctx context.Context, d *deps) error { return runUsersExport(ctx, opts, d) })
		},
	}
}

func runUsersExport(ctx context.Context, opts usersExportOptions, d *deps) error {
	a, err := d.auth(ctx)
	if err != nil {
		return err
	}
	var w io.Writer = d.stdout
	var f *storage.Writer
	if opts.Out != "-" && opts.Out != "" {
		loc, err := storage.Parse(opts.Out)
		if err != nil {
			return usageError{fmt.Errorf("--out: %w", err)}
		}
		if f, err = loc.Create(ctx); err != nil {
			if loc.Kind == storage.Local {
				return usageError{fmt.Errorf("--out: %w", err)}
			}
			return err
		}
		defer f.Abort() // nothing after Close
		w = f
	}
	bw := bufio.NewWriterSize(w, 256<<10)
	start := time.Now()
	n, err := a.ExportUsers(ctx, bw, auth.ExportOptions{})
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		return err
	}
	if f != nil {
		if err := f.Close(); err != nil {
			return err
		}
	}
	d.info("export users: %d users in %.2f s", n, time.Since(start).Seconds())
	return nil
}
