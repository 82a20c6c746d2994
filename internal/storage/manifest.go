package storage

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/fbadmin/fbadmin/internal/errs"
)

// ManifestName is the name of a split export's manifest under its prefix.
const ManifestName = "manifest.json"

// ManifestFormat is the format field of a manifest.
const ManifestFormat = "fbadmin-ndjson-parts"

// ManifestVersion is the version of the manifest format this package
// writes and the newest it reads.
const ManifestVersion = 1

// Manifest describes a split export: its parts, in order, and where the
// documents came from.
type Manifest struct {
	Format  string `json:"format"`
	Version int    `json:"version"`
	// Project and Database are the source of the documents.
	Project  string `json:"project,omitempty"`
	Database string `json:"database,omitempty"`
	// ReadTime is the snapshot the export read, when it read one.
	ReadTime *time.Time `json:"read_time,omitempty"`
	// Started and Finished bound the export.
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	// Compression of every part: "", "gzip" or "zstd".
	Compression Compression `json:"compression,omitempty"`
	Parts       []Part      `json:"parts"`
	// Docs and Bytes are the totals of the parts.
	Docs  int64 `json:"docs"`
	Bytes int64 `json:"bytes"`
}

// Part is one object of a split export.
type Part struct {
	// Name is relative to the manifest's prefix (part-00000.ndjson.gz).
	Name string `json:"name"`
	// Docs is the number of documents (lines).
	Docs int64 `json:"docs"`
	// Bytes is the stored (compressed) size.
	Bytes int64 `json:"bytes"`
	// CRC32C is the CRC-32C of the stored bytes, base64 of its big-endian
	// bytes as Cloud Storage shows it (see [CRC32C]).
	CRC32C string `json:"crc32c"`
}

// ParseManifest reads and checks a manifest: a known format and version,
// part names that are plain file names (no directories, no duplicates),
// non-negative counts, well-formed checksums and totals that add up.
func ParseManifest(b []byte) (*Manifest, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	var m Manifest
	if err := d.Decode(&m); err != nil {
		return nil, fmt.Errorf("not an fbadmin export manifest: %w", err)
	}
	if d.More() {
		return nil, fmt.Errorf("not an fbadmin export manifest: data after the JSON object")
	}
	switch {
	case m.Format != ManifestFormat:
		return nil, fmt.Errorf("format %q, want %q", m.Format, ManifestFormat)
	case m.Version < 1:
		return nil, fmt.Errorf("version %d, want 1", m.Version)
	case m.Version > ManifestVersion:
		return nil, fmt.Errorf("version %d is newer than this fbadmin reads (%d): upgrade fbadmin", m.Version, ManifestVersion)
	}
	if _, ok := ParseCompression(string(m.Compression)); !ok || (m.Compression != None && m.Compression != Gzip && m.Compression != Zstd) {
		return nil, fmt.Errorf("compression %q: want gzip, zstd or none", m.Compression)
	}
	seen := map[string]bool{}
	var docs, size int64
	for i, p := range m.Parts {
		switch {
		case p.Name == "" || p.Name == "." || p.Name == ".." || strings.ContainsAny(p.Name, "/\\\x00") || p.Name == ManifestName:
			return nil, fmt.Errorf("parts[%d]: name %q: want a plain file name", i, p.Name)
		case seen[p.Name]:
			return nil, fmt.Errorf("parts[%d]: name %q listed twice", i, p.Name)
		case p.Docs < 0 || p.Bytes < 0:
			return nil, fmt.Errorf("parts[%d] (%s): negative count", i, p.Name)
		}
		if c, err := base64.StdEncoding.DecodeString(p.CRC32C); err != nil || len(c) != 4 {
			return nil, fmt.Errorf("parts[%d] (%s): crc32c %q: want the base64 of 4 bytes", i, p.Name, p.CRC32C)
		}
		seen[p.Name] = true
		docs += p.Docs
		size += p.Bytes
		if docs < 0 || size < 0 {
			return nil, fmt.Errorf("parts[%d] (%s): totals overflow", i, p.Name)
		}
	}
	if docs != m.Docs || size != m.Bytes {
		return nil, fmt.Errorf("totals %d documents, %d bytes; the parts add up to %d documents, %d bytes", m.Docs, m.Bytes, docs, size)
	}
	return &m, nil
}

// ReadManifest reads the manifest at l: a manifest object, or a prefix
// holding one (manifest.json). It returns the manifest and the prefix its
// parts are under.
func ReadManifest(ctx context.Context, l Location) (*Manifest, Location, error) {
	if l.IsPrefix() {
		l = l.Join(ManifestName)
	}
	if l.Kind == Stdio {
		return nil, Location{}, errs.New(errs.ErrInvalid, "read manifest", "-", "a manifest is read from a file or object, not stdin")
	}
	r, err := l.Open(ctx)
	if err != nil {
		return nil, Location{}, err
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, 64<<20))
	if err != nil {
		return nil, Location{}, err
	}
	m, err := ParseManifest(b)
	if err != nil {
		return nil, Location{}, errs.New(errs.ErrInvalid, "read manifest", l.String(), "%v", err)
	}
	return m, l.Dir(), nil
}

// IsManifest reports whether l names a manifest: an object called
// manifest.json, or a prefix that holds one. For a prefix without one it
// returns false and a not-found error that says so. [FindManifest] also
// finds a prefix given without its trailing slash.
func IsManifest(ctx context.Context, l Location) (bool, error) {
	switch {
	case l.Kind == Stdio:
		return false, nil
	case l.Base() == ManifestName && !l.IsPrefix():
		return true, nil
	case !l.IsPrefix():
		return false, nil
	}
	_, err := l.Join(ManifestName).Stat(ctx)
	switch {
	case err == nil:
		return true, nil
	case errs.KindOf(err) == errs.ErrNotFound:
		return false, errs.New(errs.ErrNotFound, "import", l.String(), "no %s under this prefix: give an export file, or the prefix of a split export (fbadmin fs export --split-size)", ManifestName)
	}
	return false, err
}

// FindManifest finds the manifest that l names: l itself when it is an
// object or file called manifest.json, or manifest.json under l when l is
// a prefix or directory holding one, or (for an object name that does not
// exist) under the prefix l/. It returns false, without error, when l
// names no manifest; errors other than not found are returned.
func FindManifest(ctx context.Context, l Location) (Location, bool, error) {
	switch {
	case l.Kind == Stdio:
		return Location{}, false, nil
	case l.Base() == ManifestName && !l.IsPrefix():
		return l, true, nil
	}
	candidates := []Location{}
	switch {
	case l.IsPrefix():
		candidates = append(candidates, l.Join(ManifestName))
	case l.Remote():
		// gs://b/backups/today may mean the prefix backups/today/, when
		// no object has that name.
		if _, err := l.Stat(ctx); err == nil || errs.KindOf(err) != errs.ErrNotFound {
			return Location{}, false, nil
		}
		p := l
		p.Key += "/"
		candidates = append(candidates, p.Join(ManifestName))
	}
	for _, m := range candidates {
		_, err := m.Stat(ctx)
		switch {
		case err == nil:
			return m, true, nil
		case errs.KindOf(err) != errs.ErrNotFound:
			return Location{}, false, err
		}
	}
	return Location{}, false, nil
}

// SplitWriter writes a stream of lines as parts of about Size bytes
// (before compression) under a prefix, cutting only between lines, and
// then a manifest listing them. Parts are named part-00000.ndjson (with
// .gz or .zst when compressed). The manifest is written last, so a prefix
// without one holds an export that did not finish.
type SplitWriter struct {
	ctx    context.Context
	prefix Location
	size   int64
	comp   Compression
	cur    *Writer
	curN   int64 // uncompressed bytes in cur
	curDoc int64
	parts  []Part
	done   []Location
	err    error
}

// NewSplitWriter starts a split export under prefix (a local directory,
// created if missing, or an object prefix). size is the uncompressed size
// after which a part ends at the next line end.
func NewSplitWriter(ctx context.Context, prefix Location, size int64, comp Compression) (*SplitWriter, error) {
	if size <= 0 {
		return nil, errs.New(errs.ErrInvalid, "export", prefix.String(), "split size %d: want a positive size", size)
	}
	switch prefix.Kind {
	case Stdio:
		return nil, errs.New(errs.ErrInvalid, "export", "-", "a split export needs a directory or a gs:// or s3:// prefix, not stdout")
	case Local:
		if err := os.MkdirAll(prefix.Path, 0o755); err != nil {
			return nil, classify(ctx, err, "create", prefix)
		}
	}
	// An existing manifest means an export is already there: do not mix
	// two exports under one prefix.
	if _, err := prefix.Join(ManifestName).Stat(ctx); err == nil {
		return nil, errs.New(errs.ErrAlreadyExists, "export", prefix.String(), "already holds an export (%s): choose another prefix, or delete that export first", ManifestName)
	} else if errs.KindOf(err) != errs.ErrNotFound {
		return nil, err
	}
	return &SplitWriter{ctx: ctx, prefix: prefix, size: size, comp: comp}, nil
}

// PartName is the name of the part numbered n.
func PartName(n int, comp Compression) string {
	return fmt.Sprintf("part-%05d.ndjson%s", n, comp.Ext())
}

// Write writes lines; a part ends at the first line end after size bytes.
func (s *SplitWriter) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	total := len(p)
	for len(p) > 0 {
		if s.cur == nil {
			w, err := s.prefix.Join(PartName(len(s.parts), s.comp)).Create(s.ctx)
			if err != nil {
				s.err = err
				return total - len(p), err
			}
			s.cur, s.curN, s.curDoc = w, 0, 0
		}
		var chunk []byte
		end := false
		if s.curN < s.size {
			chunk = p[:min(int64(len(p)), s.size-s.curN)]
		} else if i := bytes.IndexByte(p, '\n'); i >= 0 {
			chunk, end = p[:i+1], true
		} else {
			chunk = p
		}
		if _, err := s.cur.Write(chunk); err != nil {
			s.err = err
			return total - len(p), err
		}
		s.curN += int64(len(chunk))
		s.curDoc += int64(bytes.Count(chunk, []byte{'\n'}))
		p = p[len(chunk):]
		if end {
			if err := s.closePart(); err != nil {
				return total - len(p), err
			}
		}
	}
	return total, nil
}

func (s *SplitWriter) closePart() error {
	w := s.cur
	s.cur = nil
	if err := w.Close(); err != nil {
		s.err = err
		return err
	}
	s.parts = append(s.parts, Part{Name: w.Location().Base(), Docs: s.curDoc, Bytes: w.StoredBytes(), CRC32C: CRC32C(w.CRC32C())})
	s.done = append(s.done, w.Location())
	return nil
}

// Finish closes the last part and writes the manifest: m's parts, totals
// and compression are filled in. It returns the manifest written.
func (s *SplitWriter) Finish(m Manifest) (*Manifest, error) {
	if s.err != nil {
		return nil, s.err
	}
	if s.cur != nil {
		if err := s.closePart(); err != nil {
			return nil, err
		}
	}
	m.Format, m.Version, m.Compression = ManifestFormat, ManifestVersion, s.comp
	m.Parts = append([]Part{}, s.parts...)
	m.Docs, m.Bytes = 0, 0
	for _, p := range m.Parts {
		m.Docs += p.Docs
		m.Bytes += p.Bytes
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	w, err := s.prefix.Join(ManifestName).Create(s.ctx)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(append(b, '\n')); err != nil {
		w.Abort()
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return &m, nil
}

// Abort discards the part being written and deletes the parts written,
// best effort (with ctx, which may outlive the export's cancelled one).
func (s *SplitWriter) Abort(ctx context.Context) {
	if s.cur != nil {
		s.cur.Abort()
		s.cur = nil
	}
	for _, l := range s.done {
		l.Delete(ctx)
	}
	s.done = nil
	if s.err == nil {
		s.err = errs.New(errs.ErrCanceled, "export", s.prefix.String(), "aborted")
	}
}

// Parts is the parts closed so far.
func (s *SplitWriter) Parts() []Part { return s.parts }
