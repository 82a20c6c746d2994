package managed

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/fbadmin/fbadmin/internal/errs"
)

// MetadataSuffix ends the name of an export's top-level metadata file.
const MetadataSuffix = ".overall_export_metadata"

// Store is where the files of an export live: a local directory
// ([DirStore]) or an object prefix. Names are relative to the export's
// root and use "/".
type Store interface {
	Open(ctx context.Context, name string) (io.ReadCloser, error)
	// Create returns a writer whose file is complete once Close returns
	// nil.
	Create(ctx context.Context, name string) (io.WriteCloser, error)
	// List returns the names of the files and directories directly in
	// dir ("" for the root), directories ending in "/".
	List(ctx context.Context, dir string) ([]string, error)
	// String names the root in messages.
	String() string
}

// DirStore is a Store over a local directory.
type DirStore string

// Open opens a file.
func (d DirStore) Open(_ context.Context, name string) (io.ReadCloser, error) {
	f, err := os.Open(filepath.Join(string(d), filepath.FromSlash(name)))
	if err != nil {
		return nil, errs.Wrap(err, "open", filepath.Join(string(d), filepath.FromSlash(name)))
	}
	return f, nil
}

// Create creates a file (and its directory) as NAME.partial, renamed
// when closed.
func (d DirStore) Create(_ context.Context, name string) (io.WriteCloser, error) {
	p := filepath.Join(string(d), filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return nil, errs.Wrap(err, "create", filepath.Dir(p))
	}
	f, err := os.Create(p + ".partial")
	if err != nil {
		return nil, errs.Wrap(err, "create", p)
	}
	return &renameOnClose{f: f, to: p}, nil
}

type renameOnClose struct {
	f  *os.File
	to string
}

func (r *renameOnClose) Write(b []byte) (int, error) { return r.f.Write(b) }

func (r *renameOnClose) Close() error {
	if err := r.f.Close(); err != nil {
		os.Remove(r.f.Name())
		return fmt.Errorf("write %s: %w", r.to, err)
	}
	return os.Rename(r.f.Name(), r.to)
}

// List lists a directory.
func (d DirStore) List(_ context.Context, dir string) ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(string(d), filepath.FromSlash(dir)))
	if err != nil {
		return nil, errs.Wrap(err, "list", filepath.Join(string(d), filepath.FromSlash(dir)))
	}
	var out []string
	for _, e := range ents {
		n := e.Name()
		if e.IsDir() {
			n += "/"
		}
		out = append(out, n)
	}
	return out, nil
}

func (d DirStore) String() string { return string(d) }

// Export is an export's layout, as its metadata files describe it.
type Export struct {
	Store    Store
	Metadata string // the overall metadata file, relative to the store's root
	Parts    []Part
}

// Part is one set of entities of an export: all collections, or the
// documents of one collection ID (an export made with collection IDs).
type Part struct {
	Collection   string   // "" for all collections
	MetadataFile string   // its .export_metadata file, from the root
	Files        []string // output files, from the root
	Documents    int64    // as the overall metadata says (0 if it does not)
	Bytes        int64
}

// Documents is the number of documents the metadata announces.
func (e *Export) Documents() int64 {
	var n int64
	for _, p := range e.Parts {
		n += p.Documents
	}
	return n
}

// FindMetadata returns the overall metadata file of the export in store:
// the one ending in ".overall_export_metadata" at the root, or in the one
// subdirectory that holds one (the emulator writes
// firestore_export_N/firestore_export_N.overall_export_metadata under
// the directory it is given).
func FindMetadata(ctx context.Context, store Store) (string, error) {
	names, err := store.List(ctx, "")
	if err != nil {
		return "", err
	}
	var found []string
	for _, n := range names {
		if strings.HasSuffix(n, MetadataSuffix) {
			found = append(found, n)
		}
	}
	if len(found) == 0 {
		for _, n := range names {
			if !strings.HasSuffix(n, "/") {
				continue
			}
			sub, err := store.List(ctx, n)
			if err != nil {
				continue
			}
			for _, s := range sub {
				if strings.HasSuffix(s, MetadataSuffix) {
					found = append(found, n+s)
				}
			}
		}
	}
	switch len(found) {
	case 0:
		return "", errs.New(errs.ErrNotFound, "managed export", store.String(),
			"no *%s file here or in a directory below: not a managed export (give the directory that gcloud firestore export or the emulator wrote)", MetadataSuffix)
	case 1:
		return found[0], nil
	}
	slices.Sort(found)
	return "", errs.New(errs.ErrInvalid, "managed export", store.String(), "holds %d exports (%s): give one of them", len(found), strings.Join(found, ", "))
}

// IsMetadataName reports whether a file name is an overall metadata file.
func IsMetadataName(name string) bool { return strings.HasSuffix(name, MetadataSuffix) }

// Open reads an export's metadata; metadata is the overall metadata file
// from the store's root ("" to find it with [FindMetadata]).
func Open(ctx context.Context, store Store, metadata string) (*Export, error) {
	if metadata == "" {
		m, err := FindMetadata(ctx, store)
		if err != nil {
			return nil, err
		}
		metadata = m
	}
	raw, err := readAll(ctx, store, metadata)
	if err != nil {
		return nil, err
	}
	msg, err := overallMessage(raw)
	if err != nil {
		return nil, &CorruptError{File: metadata, Offset: 0, Msg: err.Error()}
	}
	exp := &Export{Store: store, Metadata: metadata}
	err = fields(msg, "overall export metadata", func(f field) error {
		if f.num != 1 || f.typ != protowire.BytesType {
			return nil // unknown fields of metadata are ignored
		}
		p, err := pointer(f.b)
		if err != nil {
			return err
		}
		exp.Parts = append(exp.Parts, p)
		return nil
	})
	if err != nil {
		return nil, &CorruptError{File: metadata, Msg: err.Error()}
	}
	if len(exp.Parts) == 0 {
		return nil, &CorruptError{File: metadata, Msg: "no export pointers: not an overall export metadata file"}
	}
	base := path.Dir(metadata)
	for i := range exp.Parts {
		p := &exp.Parts[i]
		p.MetadataFile = joinRel(base, p.MetadataFile)
		files, err := readKindMetadata(ctx, store, p.MetadataFile)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			p.Files = append(p.Files, joinRel(path.Dir(p.MetadataFile), f))
		}
	}
	return exp, nil
}

func joinRel(dir, name string) string {
	if dir == "." || dir == "" {
		return name
	}
	return dir + "/" + name
}

func readAll(ctx context.Context, store Store, name string) ([]byte, error) {
	r, err := store.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return b, nil
}

// overallMessage returns the OverallExportMetadata message of the file:
// a LevelDB log whose last record is the message (the emulator writes a
// one-byte record "3" before it), or the bare message.
func overallMessage(raw []byte) ([]byte, error) {
	lr := NewLogReader(strings.NewReader(string(raw)), "")
	var last []byte
	for {
		rec, _, err := lr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			last = nil
			break
		}
		last = append(last[:0], rec...)
	}
	if last != nil {
		return last, nil
	}
	return raw, nil
}

// pointer decodes a SingleExportMetadataPointer.
func pointer(b []byte) (Part, error) {
	var p Part
	err := fields(b, "export pointer", func(f field) error {
		switch {
		case f.num == 1 && f.typ == protowire.BytesType: // entity_set_spec
			return fields(f.b, "entity set spec", func(g field) error {
				if g.num == 2 && g.typ == protowire.BytesType { // kind
					p.Collection = string(g.b)
				}
				return nil
			})
		case f.num == 2 && f.typ == protowire.BytesType:
			p.MetadataFile = string(f.b)
		case f.num == 3 && f.typ == protowire.VarintType:
			p.Documents = int64(f.u)
		case f.num == 4 && f.typ == protowire.VarintType:
			p.Bytes = int64(f.u)
		}
		return nil
	})
	if err == nil && p.MetadataFile == "" {
		err = errf("export pointer without a metadata file")
	}
	return p, err
}

// readKindMetadata reads an .export_metadata file (datastore_admin's
// Backup message) and returns its output files.
func readKindMetadata(ctx context.Context, store Store, name string) ([]string, error) {
	raw, err := readAll(ctx, store, name)
	if err != nil {
		return nil, err
	}
	var files []string
	parse := func(b []byte) error {
		files = files[:0]
		return fields(b, "export metadata", func(f field) error {
			if f.num == 2 && f.typ == protowire.BytesType { // kind_info
				return fields(f.b, "kind info", func(g field) error {
					if g.num == 2 && g.typ == protowire.BytesType { // file
						files = append(files, string(g.b))
					}
					return nil
				})
			}
			return nil
		})
	}
	err = parse(raw)
	if err != nil || len(files) == 0 {
		// Perhaps a log file holding the message.
		if msg, lerr := overallMessage(raw); lerr == nil && parse(msg) == nil && len(files) > 0 {
			return files, nil
		}
		if err == nil {
			err = errors.New("no output files listed")
		}
		return nil, &CorruptError{File: name, Msg: err.Error()}
	}
	for _, f := range files {
		if f == "" || strings.Contains(f, "..") || strings.HasPrefix(f, "/") {
			return nil, &CorruptError{File: name, Msg: fmt.Sprintf("bad output file name %q", f)}
		}
	}
	return files, nil
}

// ReadOptions selects what [Export.Read] returns.
type ReadOptions struct {
	// Collections, when set, keeps the documents whose collection ID (the
	// last one of their path) is one of these, as gcloud's
	// --collection-ids does.
	Collections []string
}

// Read calls fn with each document of the export, in file order, one
// record at a time. A corrupt file or record is a [*CorruptError] naming
// the file and the byte offset of the record.
func (e *Export) Read(ctx context.Context, o ReadOptions, fn func(*Document) error) error {
	keep := func(string) bool { return true }
	if len(o.Collections) > 0 {
		set := map[string]bool{}
		for _, c := range o.Collections {
			set[c] = true
		}
		keep = func(p string) bool {
			segs := strings.Split(p, "/")
			return set[segs[len(segs)-2]]
		}
	}
	for _, part := range e.Parts {
		if part.Collection != "" && len(o.Collections) > 0 && !slices.Contains(o.Collections, part.Collection) {
			continue
		}
		for _, name := range part.Files {
			if err := e.readFile(ctx, name, keep, fn); err != nil {
				return err
			}
		}
	}
	return nil
}

func (e *Export) readFile(ctx context.Context, name string, keep func(string) bool, fn func(*Document) error) error {
	r, err := e.Store.Open(ctx, name)
	if err != nil {
		return err
	}
	defer r.Close()
	lr := NewLogReader(r, name)
	for n := 0; ; n++ {
		rec, off, err := lr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if n%1024 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		d, err := DecodeEntity(rec)
		if err != nil {
			return &CorruptError{File: name, Offset: off, Msg: err.Error()}
		}
		if keep(d.Path) {
			if err := fn(d); err != nil {
				return err
			}
		}
	}
}

// CorruptError is invalid input.
func (e *CorruptError) Unwrap() error { return errs.ErrInvalid }
