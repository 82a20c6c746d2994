package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/fbadmin/fbadmin/internal/errs"
	"github.com/fbadmin/fbadmin/internal/storage"
	"github.com/fbadmin/fbadmin/internal/transfer"
)

// exportOutput is where an export goes: stdout, one file or object, or the
// parts and manifest of a split export.
type exportOutput struct {
	w      io.Writer
	file   *storage.Writer
	split  *storage.SplitWriter
	prefix storage.Location
	done   bool
}

// openExportOutput opens --out for an export.
func openExportOutput(ctx context.Context, opts exportOptions, d *deps) (*exportOutput, error) {
	comp, ok := storage.ParseCompression(opts.Compress)
	if !ok {
		return nil, usagef("--compress %q: use gzip, zstd or none", opts.Compress)
	}
	out := opts.Out
	if out == "" {
		out = "-"
	}
	loc, err := storage.Parse(out)
	if err != nil {
		return nil, usageError{fmt.Errorf("--out: %w", err)}
	}
	if opts.SplitSize != "" {
		size, err := parseSize(opts.SplitSize)
		if err != nil {
			return nil, usagef("--split-size %q: %v (examples: 256MB, 1GiB, 500000000)", opts.SplitSize, err)
		}
		if loc.Kind == storage.Stdio {
			return nil, usagef("--split-size writes several objects: give --out a directory or a gs:// or s3:// prefix, not stdout")
		}
		if loc.Remote() && !loc.IsPrefix() {
			loc.Key += "/" // gs://b/backups/today means the prefix backups/today/
		}
		sw, err := storage.NewSplitWriter(ctx, loc, size, comp)
		if err != nil {
			return nil, err
		}
		return &exportOutput{w: sw, split: sw, prefix: loc}, nil
	}
	if opts.Compress != "" {
		return nil, usagef("--compress goes with --split-size; a single file is compressed by its name: end it in .gz or .zst")
	}
	if loc.Kind == storage.Stdio {
		return &exportOutput{w: d.stdout}, nil
	}
	if loc.IsPrefix() {
		return nil, usagef("--out %s is a directory or prefix: give a file name, or add --split-size to write parts and a manifest there", loc)
	}
	w, err := loc.Create(ctx)
	if err != nil {
		if loc.Kind == storage.Local {
			return nil, usageError{fmt.Errorf("--out: %w", err)}
		}
		return nil, err
	}
	return &exportOutput{w: w, file: w}, nil
}

// abort discards an output that was not finished.
func (o *exportOutput) abort() {
	if o.done {
		return
	}
	o.done = true
	switch {
	case o.file != nil:
		o.file.Abort()
	case o.split != nil:
		o.split.Abort(context.Background())
	}
}

// finish makes the output visible; for a split export it says where the
// parts went (to follow the summary line).
func (o *exportOutput) finish(m storage.Manifest) (string, error) {
	o.done = true
	switch {
	case o.file != nil:
		if err := o.file.Close(); err != nil {
			return "", err
		}
	case o.split != nil:
		got, err := o.split.Finish(m)
		if err != nil {
			o.split.Abort(context.Background())
			return "", err
		}
		parts := "parts"
		if len(got.Parts) == 1 {
			parts = "part"
		}
		return fmt.Sprintf(" in %d %s under %s (%s)", len(got.Parts), parts, o.prefix, storage.ManifestName), nil
	}
	return "", nil
}

// parseSize reads a size: a number of bytes, or with a unit (KB, MB, GB,
// TB in powers of 1000; KiB, MiB, GiB, TiB in powers of 1024; K, M, G as
// the binary ones).
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := len(t)
	for i > 0 && (t[i-1] < '0' || t[i-1] > '9') && t[i-1] != '.' {
		i--
	}
	num, unit := strings.TrimSpace(t[:i]), strings.ToUpper(strings.TrimSpace(t[i:]))
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f <= 0 || math.IsInf(f, 0) {
		return 0, errors.New("want a positive size")
	}
	mult := map[string]float64{"": 1, "B": 1,
		"KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
		"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40,
		"KIB": 1 << 10, "MIB": 1 << 20, "GIB": 1 << 30, "TIB": 1 << 40}
	m, ok := mult[unit]
	if !ok {
		return 0, fmt.Errorf("unknown unit %q", unit)
	}
	v := f * m
	if v < 1 || v > math.MaxInt64/2 {
		return 0, errors.New("out of range")
	}
	return int64(v), nil
}

// partsProgress shows one progress for the parts of a split export: the
// total is the manifest's, each part's import adds to it.
type partsProgress struct{ jobProgress }

func (partsProgress) SetTotal(int64) {}

func (p partsProgress) Step(name string) {
	if s, ok := p.jobProgress.(transfer.Stepper); ok {
		s.Step(name)
	}
}

func (p partsProgress) WantsTotal() bool {
	if tw, ok := p.jobProgress.(transfer.TotalWanter); ok {
		return tw.WantsTotal()
	}
	return true
}

// partJournal is the journal of one part when --journal is given: the
// given name with the part's name after it.
func partJournal(journal, part string) string {
	if journal == "" {
		return ""
	}
	return journal + "." + part
}

// manifestJournal is the journal of a split export's import: which parts
// are done. It lives where the journal of the manifest object would
// (transfer.JournalPath), or at --journal; each part has its own journal
// besides (partJournal), for the lines of the part in progress.
func manifestJournal(opts importOptions, manifest storage.Location) string {
	if opts.Journal != "" {
		return opts.Journal
	}
	return transfer.JournalPath(manifest.String())
}

// partsJournalHeader is the first line of a manifest journal; its mode
// field reads as a transfer journal's (transfer.JournalMode).
type partsJournalHeader struct {
	Parts    int    `json:"fbadmin_import_parts"`
	Manifest string `json:"manifest"`
	Mode     string `json:"mode"`
	Database string `json:"database"`
}

// readPartsJournal returns the parts a manifest journal records as done.
func readPartsJournal(path string, want partsJournalHeader) (map[string]bool, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]bool{}, nil
	}
	if err != nil {
		return nil, err
	}
	lines := strings.Split(string(b), "\n")
	var h partsJournalHeader
	if err := json.Unmarshal([]byte(lines[0]), &h); err != nil || h.Parts != 1 {
		return nil, errs.New(errs.ErrInvalid, "journal", path, "not an fbadmin import journal of a split export: delete it to start over")
	}
	switch {
	case h.Database != want.Database:
		return nil, errs.New(errs.ErrConflict, "journal", path, "the interrupted import went to %s, not %s", h.Database, want.Database)
	case h.Mode != want.Mode:
		return nil, errs.New(errs.ErrConflict, "journal", path, "the interrupted import used --mode %s: resume with the same mode", h.Mode)
	}
	done := map[string]bool{}
	for _, l := range lines[1:] {
		if l != "" {
			done[l] = true
		}
	}
	return done, nil
}

// importManifest imports every part a manifest lists, one after another
// (each in parallel batches), checking each part's size, checksum and
// document count. A journal records the parts done, and each part has its
// own journal of lines, so --resume finishes an interrupted import where
// it stopped.
func importManifest(ctx context.Context, db *transfer.DB, m *storage.Manifest, mloc, dir storage.Location, opts importOptions, mode transfer.Mode,
	prog jobProgress, onFailure func(transfer.Failure)) (transfer.Stats, error) {
	var total transfer.Stats
	mj := manifestJournal(opts, mloc)
	if s := opts.shard; !s.Whole() {
		// This shard's parts: every N-th from K, and a journal of its own.
		mine := *m
		mine.Parts, mine.Docs = nil, 0
		for i, p := range m.Parts {
			if i%s.N == s.K {
				mine.Parts = append(mine.Parts, p)
				mine.Docs += p.Docs
			}
		}
		m = &mine
		mj += fmt.Sprintf(".shard-%05d-of-%05d", s.K, s.N)
	}
	hdr := partsJournalHeader{Parts: 1, Manifest: mloc.String(), Mode: mode.String(), Database: db.Name()}
	done := map[string]bool{}
	var jf *os.File
	if !opts.DryRun {
		if !opts.Resume {
			for _, p := range append([]string{mj}, partJournals(opts, m, dir)...) {
				if fileExists(p) {
					return total, errs.New(errs.ErrConflict, "import", mloc.String(), "%w", pendingJournalError(p))
				}
			}
		}
		var err error
		if done, err = readPartsJournal(mj, hdr); err != nil {
			return total, err
		}
		if err := os.MkdirAll(filepath.Dir(mj), 0o755); err != nil {
			return total, fmt.Errorf("create journal: %w", err)
		}
		if jf, err = os.OpenFile(mj, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644); err != nil {
			return total, fmt.Errorf("create journal: %w", err)
		}
		defer jf.Close()
		if st, err := jf.Stat(); err == nil && st.Size() == 0 {
			b, _ := json.Marshal(hdr)
			if _, err := jf.Write(append(b, '\n')); err != nil {
				return total, fmt.Errorf("write journal: %w", err)
			}
		}
	}
	prog.SetTotal(m.Docs)
	pp := partsProgress{prog}
	for _, p := range m.Parts {
		if done[p.Name] {
			total.Resumed += p.Docs
			pp.Add(p.Docs, 0)
			continue
		}
		part := p
		st, err := transfer.Import(ctx, db, dir.Join(p.Name).String(), transfer.ImportOptions{
			Mode: mode, DryRun: opts.DryRun, Concurrency: opts.Concurrency, Journal: partJournal(opts.Journal, p.Name), Resume: opts.Resume,
			Progress: pp, OnFailure: onFailure, Expect: &part, Flow: opts.flow,
		})
		total.Docs += st.Docs
		total.Skipped += st.Skipped
		total.Failed += st.Failed
		total.Resumed += st.Resumed
		total.Bytes += st.Bytes
		total.Elapsed += st.Elapsed
		total.Seconds += st.Seconds
		if err != nil {
			return total, err
		}
		if jf != nil {
			if _, err := jf.WriteString(p.Name + "\n"); err != nil {
				return total, fmt.Errorf("write journal: %w", err)
			}
		}
	}
	if jf != nil {
		jf.Close()
		if err := os.Remove(mj); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return total, fmt.Errorf("remove journal: %w", err)
		}
	}
	return total, nil
}

// partJournals are the journals of the parts of a manifest.
func partJournals(opts importOptions, m *storage.Manifest, dir storage.Location) []string {
	var out []string
	for _, p := range m.Parts {
		jp := partJournal(opts.Journal, p.Name)
		if jp == "" {
			jp = transfer.JournalPath(dir.Join(p.Name).String())
		}
		out = append(out, jp)
	}
	return out
}

// pendingJournalError is transfer's refusal of a pending journal, for a
// part found before the import starts.
type pendingJournalError string

func (p pendingJournalError) Error() string {
	return fmt.Sprintf("journal %s of an interrupted import exists: rerun with --resume to finish it, or delete the journal to start over", string(p))
}

func (p pendingJournalError) Is(target error) bool { return target == transfer.ErrJournalPending }
