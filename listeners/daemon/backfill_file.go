package daemon

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/fbadmin/fbadmin/internal/docpath"
	"github.com/fbadmin/fbadmin/internal/errs"
	"github.com/fbadmin/fbadmin/internal/managed"
	"github.com/fbadmin/fbadmin/internal/storage"
	"github.com/fbadmin/fbadmin/internal/transfer"
	"github.com/fbadmin/fbadmin/internal/value"
)

// checkFromFile reports whether a listener can be backfilled from an
// export file: the file holds documents, not query results, so only the
// documents of the listener's collection or collection group can be picked
// out of it, not those matching filters.
func checkFromFile(lc ListenerConfig, from string) error {
	if len(lc.Where) > 0 {
		return errs.New(errs.ErrInvalid, "backfill", lc.Name,
			"the listener has where filters, which a backfill from an export file (%s) cannot apply: backfill it from the database (without --from)", from)
	}
	return nil
}

// exportReadTime is the read time a backfill from an export reports: the
// snapshot a split export read (its manifest says), or else now. A prefix
// without a manifest may be a managed export: readExport decides.
func exportReadTime(ctx context.Context, from string) (time.Time, error) {
	loc, err := storage.Parse(from)
	if err != nil {
		return time.Time{}, err
	}
	ok, err := storage.IsManifest(ctx, loc)
	if err != nil && errs.KindOf(err) != errs.ErrNotFound {
		return time.Time{}, err
	}
	if !ok { // a single file, or a managed export
		return time.Now().UTC().Truncate(time.Microsecond), nil
	}
	m, _, err := storage.ReadManifest(ctx, loc)
	if err != nil {
		return time.Time{}, err
	}
	if m.ReadTime != nil {
		return m.ReadTime.UTC(), nil
	}
	return m.Finished.UTC(), nil
}

// UnknownVersion is the update time a backfill gives documents whose
// export holds none (a managed export, an NDJSON line without
// update_time): the Unix epoch. Sinks and checkpoints then hold a version
// older than any real one, so the daemon's first snapshot sends each such
// document again with its real version, which replaces it.
var UnknownVersion = time.Unix(0, 0).UTC()

// readExport sends, in batches of up to size, the documents of an export
// that belong to the listener's collection or collection group: an NDJSON
// export (a file, an object, or a split export's manifest or prefix) or a
// managed export (its directory, prefix or overall metadata file).
func readExport(ctx context.Context, lc ListenerConfig, from string, size int, emit func([]transfer.Doc) error) error {
	loc, err := storage.Parse(from)
	if err != nil {
		return err
	}
	keep := func(path string) bool {
		parent := docpath.FromFirestore(path).Parent()
		if lc.Collection != "" {
			return parent.String() == strings.Trim(lc.Collection, "/")
		}
		return parent.ID() == lc.CollectionGroup
	}
	var b []transfer.Doc
	add := func(d transfer.Doc) error {
		if !keep(d.Path) {
			return nil
		}
		b = append(b, d)
		if len(b) < size {
			return nil
		}
		err := emit(b)
		b = nil
		return err
	}
	parts := []storage.Location{loc}
	split, err := storage.IsManifest(ctx, loc)
	if !split {
		if store, meta, ok, lerr := managed.Locate(ctx, from); lerr == nil && ok {
			if err := readManaged(ctx, store, meta, add); err != nil {
				return err
			}
			if len(b) > 0 {
				return emit(b)
			}
			return nil
		}
		if err != nil {
			return err
		}
	}
	if split {
		m, dir, err := storage.ReadManifest(ctx, loc)
		if err != nil {
			return err
		}
		parts = parts[:0]
		for _, p := range m.Parts {
			parts = append(parts, dir.Join(p.Name))
		}
	}
	for _, part := range parts {
		r, err := part.Open(ctx)
		if err != nil {
			return err
		}
		err = scanExport(r, part.String(), add)
		r.Close()
		if err != nil {
			return err
		}
	}
	if len(b) > 0 {
		return emit(b)
	}
	return nil
}

// readManaged reads the documents of a managed export. The format holds
// no creation or update times: the documents get [UnknownVersion].
func readManaged(ctx context.Context, store managed.Store, meta string, fn func(transfer.Doc) error) error {
	if meta == "" {
		var err error
		if meta, err = managed.FindMetadata(ctx, store); err != nil {
			return err
		}
	}
	exp, err := managed.Open(ctx, store, meta)
	if err != nil {
		return err
	}
	return exp.Read(ctx, managed.ReadOptions{}, func(d *managed.Document) error {
		data, err := value.EncodeMap(d.Fields)
		if err != nil {
			return errs.Wrap(err, "backfill: encode", d.Path)
		}
		return fn(transfer.Doc{Path: d.Path, Data: data, UpdateTime: UnknownVersion})
	})
}

// scanExport reads the lines of an NDJSON export, checking each: a path
// and fields in the value format. A line without update_time gets
// [UnknownVersion].
func scanExport(r io.Reader, name string, fn func(transfer.Doc) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
	for line := 1; sc.Scan(); line++ {
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		var l transfer.Line
		if err := json.Unmarshal(text, &l); err != nil {
			return errs.New(errs.ErrInvalid, "backfill", fmt.Sprintf("%s:%d", name, line), "not an export line: %v", err)
		}
		bad := func(format string, args ...any) error {
			return errs.New(errs.ErrInvalid, "backfill", fmt.Sprintf("%s:%d", name, line), format, args...)
		}
		p := docpath.FromFirestore(l.Path)
		switch {
		case l.Path == "" || !p.IsDocument():
			return bad("path %q is not a document path", l.Path)
		}
		if _, err := value.DecodeMap(l.Data); err != nil {
			return bad("%s: data: %v", l.Path, err)
		}
		d := transfer.Doc{Path: p.String(), Data: l.Data, UpdateTime: UnknownVersion}
		if l.UpdateTime != nil {
			d.UpdateTime = *l.UpdateTime
		}
		if l.CreateTime != nil {
			d.CreateTime = *l.CreateTime
		}
		if err := fn(d); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return errs.Wrap(err, "backfill: read", name)
	}
	return nil
}
