package managed

import (
	"context"
	"fmt"
	"io"
	"time"
)

// WriterOptions configures a [Writer].
type WriterOptions struct {
	// Name is the export's name: its metadata file is NAME.overall_export_metadata
	// at the root (gcloud names it after the output prefix).
	Name string
	// Project and Database go into the documents' keys.
	Project, Database string
	// FileBytes is the size after which an output file is closed and the
	// next one started (default 256 MiB).
	FileBytes int64
}

// kindDir is where a whole-database export keeps its files.
const kindDir = "all_namespaces/all_kinds"

// Writer writes a managed export: output-N files of entity records, the
// all_namespaces/all_kinds/all_namespaces_all_kinds.export_metadata file
// listing them, and NAME.overall_export_metadata, as the Firestore
// emulator lays them out.
type Writer struct {
	ctx   context.Context
	store Store
	o     WriterOptions
	start time.Time

	cur   io.WriteCloser
	lw    *LogWriter
	files []string
	docs  int64
	bytes int64 // of closed output files
	buf   []byte
}

// NewWriter starts an export in store.
func NewWriter(ctx context.Context, store Store, o WriterOptions) *Writer {
	if o.FileBytes <= 0 {
		o.FileBytes = 256 << 20
	}
	if o.Database == "" {
		o.Database = DefaultDatabase
	}
	if o.Name == "" {
		o.Name = "export"
	}
	return &Writer{ctx: ctx, store: store, o: o, start: time.Now()}
}

// Write adds a document; path is relative to the database root.
func (w *Writer) Write(path string, fields map[string]any) error {
	var err error
	w.buf, err = AppendEntity(w.buf[:0], w.o.Project, w.o.Database, path, fields)
	if err != nil {
		return err
	}
	return w.WriteRecord(w.buf)
}

// WriteRecord adds an encoded entity.
func (w *Writer) WriteRecord(rec []byte) error {
	if w.lw != nil && w.lw.Size() >= w.o.FileBytes {
		if err := w.closeFile(); err != nil {
			return err
		}
	}
	if w.lw == nil {
		name := fmt.Sprintf("output-%d", len(w.files))
		f, err := w.store.Create(w.ctx, kindDir+"/"+name)
		if err != nil {
			return err
		}
		w.cur, w.lw = f, NewLogWriter(f)
		w.files = append(w.files, name)
	}
	w.docs++
	return w.lw.Write(rec)
}

// Documents returns how many documents were written.
func (w *Writer) Documents() int64 { return w.docs }

func (w *Writer) closeFile() error {
	if w.lw == nil {
		return nil
	}
	err := w.lw.Flush()
	w.bytes += w.lw.Size()
	if cerr := w.cur.Close(); err == nil {
		err = cerr
	}
	w.cur, w.lw = nil, nil
	if err != nil {
		return fmt.Errorf("write %s: %w", w.files[len(w.files)-1], err)
	}
	return nil
}

// Close finishes the last output file and writes the metadata files; the
// export is complete (and loadable) only when Close returns nil.
func (w *Writer) Close() error {
	if len(w.files) == 0 {
		// An empty export still has an (empty) output file.
		f, err := w.store.Create(w.ctx, kindDir+"/output-0")
		if err != nil {
			return err
		}
		w.cur, w.lw = f, NewLogWriter(f)
		w.files = append(w.files, "output-0")
	}
	if err := w.closeFile(); err != nil {
		return err
	}
	// all_namespaces_all_kinds.export_metadata: datastore_admin's Backup
	// {backup_info {backup_name, start_timestamp, end_timestamp},
	// kind_info {kind, file...}}, a bare message.
	var e encoder
	at := e.open(1)
	e.str(1, w.o.Name)
	e.varint(2, uint64(w.start.UnixMicro()))
	e.varint(3, uint64(time.Now().UnixMicro()))
	e.close(at)
	at = e.open(2)
	e.str(1, "")
	for _, f := range w.files {
		e.str(2, f)
	}
	e.close(at)
	kindMeta := kindDir + "/all_namespaces_all_kinds.export_metadata"
	if err := w.put(kindMeta, e.buf, false); err != nil {
		return err
	}
	// NAME.overall_export_metadata: a log of a "3" record and the
	// OverallExportMetadata {export_pointers {entity_set_spec {kind_type
	// ALL_KINDS, namespace_type ALL_NAMESPACES}, export_metadata_file,
	// num_entities, num_bytes}}.
	e = encoder{}
	at = e.open(1)
	spec := e.open(1)
	e.varint(1, 2) // ALL_KINDS
	e.varint(3, 3) // ALL_NAMESPACES
	e.close(spec)
	e.str(2, kindMeta)
	e.varint(3, uint64(w.docs))
	e.varint(4, uint64(w.bytes))
	e.close(at)
	return w.put(w.o.Name+MetadataSuffix, e.buf, true)
}

func (w *Writer) put(name string, msg []byte, asLog bool) error {
	f, err := w.store.Create(w.ctx, name)
	if err != nil {
		return err
	}
	if asLog {
		lw := NewLogWriter(f)
		err = lw.Write([]byte("3"))
		if err == nil {
			err = lw.Write(msg)
		}
		if err == nil {
			err = lw.Flush()
		}
	} else {
		_, err = f.Write(msg)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

// Abort closes an unfinished export's open file; the export stays
// incomplete (it has no overall metadata file).
func (w *Writer) Abort() {
	if w.cur != nil {
		if a, ok := w.cur.(interface{ Abort() }); ok {
			a.Abort()
		} else {
			w.cur.Close()
		}
		w.cur, w.lw = nil, nil
	}
}
