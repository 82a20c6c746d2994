package mcp

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/fbadmin/fbadmin/internal/docpath"
	"github.com/fbadmin/fbadmin/internal/errs"
	"github.com/fbadmin/fbadmin/internal/transfer"
	"github.com/fbadmin/fbadmin/server"
)

// Export and import of small sets, through the engines of `fbadmin fs
// export` and `fs import` (internal/transfer), in the same NDJSON line
// format.

type exportInput struct {
	Paths []string `json:"paths" jsonschema:"collections or documents, each exported with everything below it (subcollections at any depth)"`
}

type exportOutput struct {
	Documents []transfer.Line `json:"documents" jsonschema:"the documents as export lines: path, data in the value format, times"`
}

// capWriter collects export lines up to the per-call caps.
type capWriter struct {
	buf              bytes.Buffer
	maxDocs, lines   int
	maxBytes         int64
	errDocs, errSize error
}

func (w *capWriter) Write(p []byte) (int, error) {
	w.lines += bytes.Count(p, []byte("\n"))
	if w.lines > w.maxDocs {
		return 0, w.errDocs
	}
	if int64(w.buf.Len()+len(p)) > w.maxBytes {
		return 0, w.errSize
	}
	return w.buf.Write(p)
}

func (s *Server) export(ctx context.Context, c *call, in *exportInput) (exportOutput, error) {
	out := exportOutput{Documents: []transfer.Line{}}
	if len(in.Paths) == 0 {
		return out, errs.New(errs.ErrInvalid, "arguments", "", "$.paths: give at least one collection or document path")
	}
	c.target = targetOf(in.Paths)
	var rels []string
	for i, arg := range in.Paths {
		p, err := docpath.Parse(strings.Trim(arg, "/"))
		if err != nil {
			return out, errs.New(errs.ErrInvalid, "arguments", fmt.Sprintf("$.paths[%d]", i), "%v", err)
		}
		coll := p.String()
		if p.IsDocument() {
			coll = p.Parent().String()
		}
		if g, err := s.access(c, server.OpList, coll, false); err != nil {
			return out, err
		} else if g.Owner != "" {
			return out, errs.New(errs.ErrPermission, "export", coll, "an export needs a rule without an owner field")
		}
		rels = append(rels, p.String())
	}
	w := &capWriter{maxDocs: s.o.MaxDocs, maxBytes: s.o.MaxBytes,
		errDocs: errs.New(errs.ErrResourceLimit, "export", c.target, "more than the per-call cap of %d documents (hint: export a smaller part, or use `fbadmin fs export` for large sets)", s.o.MaxDocs),
		errSize: errs.New(errs.ErrResourceLimit, "export", c.target, "more than the per-call cap of %d bytes (hint: export a smaller part, or use `fbadmin fs export` for large sets)", s.o.MaxBytes)}
	if _, err := transfer.Export(ctx, s.o.DB, w, transfer.ExportOptions{Paths: rels}); err != nil {
		return out, err
	}
	dec := json.NewDecoder(&w.buf)
	for dec.More() {
		var l transfer.Line
		if err := dec.Decode(&l); err != nil {
			return out, errs.New(errs.ErrInternal, "export", c.target, "%v", err)
		}
		// The tree may reach into collections the lists or rules keep out.
		coll := docpath.FromFirestore(l.Path).Parent().String()
		if _, err := s.access(c, server.OpList, coll, false); err != nil {
			return exportOutput{Documents: []transfer.Line{}}, fmt.Errorf("the tree holds documents this caller may not read: %w", err)
		}
		out.Documents = append(out.Documents, l)
	}
	c.docs = len(out.Documents)
	return out, nil
}

type importLine struct {
	Path string          `json:"path" jsonschema:"the document path"`
	Data json.RawMessage `json:"data" jsonschema:"the fields in the value format"`
}

type importInput struct {
	Documents []importLine `json:"documents" jsonschema:"documents to write, as firestore_export returns them (times are ignored)"`
	Mode      string       `json:"mode,omitempty" jsonschema:"create (default: fail on existing documents), set (replace), merge, or skip-existing"`
	DryRun    bool         `json:"dry_run,omitempty" jsonschema:"validate and report what would be written, skipped or refused, writing nothing"`
}

type importFailure struct {
	Path  string `json:"path"`
	Error string `json:"error"`
}

type importOutput struct {
	DryRun   bool            `json:"dry_run"`
	Written  int64           `json:"written" jsonschema:"documents written (or that would be)"`
	Skipped  int64           `json:"skipped,omitempty"`
	Failed   int64           `json:"failed,omitempty"`
	Failures []importFailure `json:"failures,omitempty"`
}

func (s *Server) importDocs(ctx context.Context, c *call, in *importInput) (importOutput, error) {
	var out importOutput
	if err := s.needWrites("import"); err != nil {
		return out, err
	}
	if len(in.Documents) == 0 {
		return out, errs.New(errs.ErrInvalid, "arguments", "", "$.documents: give at least one document")
	}
	if len(in.Documents) > s.o.MaxDocs {
		return out, capError("import", len(in.Documents), s.o.MaxDocs)
	}
	mode := transfer.ModeCreate
	if in.Mode != "" {
		m, err := transfer.ParseMode(in.Mode)
		if err != nil {
			return out, errs.New(errs.ErrInvalid, "arguments", "", "$.mode: %v", err)
		}
		mode = m
	}
	var buf bytes.Buffer
	var paths []string
	for i, d := range in.Documents {
		p, err := docPath(fmt.Sprintf("$.documents[%d].path", i), d.Path)
		if err != nil {
			return out, err
		}
		if _, err := decodeFields(fmt.Sprintf("$.documents[%d].data", i), d.Data); err != nil {
			return out, err
		}
		coll := p.Parent().String()
		for _, op := range []server.Op{server.OpCreate, server.OpUpdate} {
			if g, err := s.access(c, op, coll, false); err != nil {
				return out, err
			} else if g.Owner != "" {
				return out, errs.New(errs.ErrPermission, "import", coll, "an import needs a rule without an owner field")
			}
		}
		line, _ := json.Marshal(importLine{Path: p.String(), Data: d.Data})
		buf.Write(line)
		buf.WriteByte('\n')
		paths = append(paths, p.String())
	}
	c.target = targetOf(paths)
	if int64(buf.Len()) > s.o.MaxBytes {
		return out, errs.New(errs.ErrResourceLimit, "import", "", "$.documents are %d bytes, over the per-call cap of %d bytes", buf.Len(), s.o.MaxBytes)
	}
	f, err := os.CreateTemp("", "fbadmin-mcp-import-*.ndjson")
	if err != nil {
		return out, err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(buf.Bytes()); err != nil {
		f.Close()
		return out, err
	}
	if err := f.Close(); err != nil {
		return out, err
	}
	var mu sync.Mutex
	st, err := transfer.Import(ctx, s.o.DB, f.Name(), transfer.ImportOptions{Mode: mode, DryRun: in.DryRun, Journal: transfer.NoJournal,
		OnFailure: func(fl transfer.Failure) {
			mu.Lock()
			defer mu.Unlock()
			if len(out.Failures) < 50 {
				out.Failures = append(out.Failures, importFailure{Path: fl.Path, Error: kindName(fl.Err) + ": " + fl.Err.Error()})
			}
		}})
	if err != nil {
		return out, err
	}
	out.DryRun, out.Written, out.Skipped, out.Failed = in.DryRun, st.Docs, st.Skipped, st.Failed
	c.docs = int(st.Docs)
	return out, nil
}

func (s *Server) addTransferTools() {
	ro := &sdk.ToolAnnotations{ReadOnlyHint: true, IdempotentHint: true}
	no := false
	addTool(s, &sdk.Tool{Name: "firestore_export", Annotations: ro,
		Description: "Export collections or documents with everything below them (subcollections at any depth), through the engine of `fbadmin fs export`: the lines of an export file (path, data in the value format, times). Small sets only: refused over the per-call caps."}, s.export)
	addTool(s, &sdk.Tool{Name: "firestore_import", Annotations: &sdk.ToolAnnotations{DestructiveHint: &no},
		Description: "Import documents (as firestore_export returns them) through the engine of `fbadmin fs import`: mode create (default; existing documents fail, each reported), set, merge or skip-existing; dry_run reports without writing. Needs --allow-writes."}, s.importDocs)
}
