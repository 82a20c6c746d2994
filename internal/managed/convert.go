package managed

import (
	"bufio"
	"context"
	"fmt"
	"io"

	"github.com/fbadmin/fbadmin/internal/transfer"
	"github.com/fbadmin/fbadmin/internal/value"
)

// Progress receives the progress of a conversion (transfer.Progress).
type Progress = transfer.Progress

// Stats summarises a conversion.
type Stats struct {
	Docs  int64 `json:"docs"`
	Bytes int64 `json:"bytes"` // NDJSON bytes written or read
}

// AppendLine appends a document's NDJSON export line (fbadmin's
// format: {"path":...,"data":{...}}, with a newline).
func AppendLine(dst []byte, d *Document) ([]byte, error) {
	data, err := value.EncodeMap(d.Fields)
	if err != nil {
		return dst, fmt.Errorf("document %s: %w", d.Path, err)
	}
	p, err := value.Encode(d.Path)
	if err != nil {
		return dst, fmt.Errorf("document %s: %w", d.Path, err)
	}
	dst = append(dst, `{"path":`...)
	dst = append(dst, p...)
	dst = append(dst, `,"data":`...)
	dst = append(dst, data...)
	return append(dst, "}\n"...), nil
}

// ToNDJSON writes the documents of an export to w as fbadmin NDJSON, one
// line per document, in the export's order.
func ToNDJSON(ctx context.Context, exp *Export, w io.Writer, o ReadOptions, prog Progress) (Stats, error) {
	var st Stats
	bw := bufio.NewWriterSize(w, 256<<10)
	var line []byte
	var pendDocs, pendBytes int64
	flushProg := func() {
		if prog != nil && pendDocs > 0 {
			prog.Add(pendDocs, pendBytes)
		}
		pendDocs, pendBytes = 0, 0
	}
	if prog != nil {
		if n := exp.Documents(); n > 0 && len(o.Collections) == 0 {
			prog.SetTotal(n)
		}
	}
	err := exp.Read(ctx, o, func(d *Document) error {
		var err error
		line, err = AppendLine(line[:0], d)
		if err != nil {
			return err
		}
		if _, err := bw.Write(line); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		st.Docs++
		st.Bytes += int64(len(line))
		pendDocs++
		pendBytes += int64(len(line))
		if pendDocs >= 1000 {
			flushProg()
		}
		return nil
	})
	flushProg()
	if err != nil {
		return st, err
	}
	if err := bw.Flush(); err != nil {
		return st, fmt.Errorf("write: %w", err)
	}
	return st, nil
}

// FromNDJSON writes the documents of an NDJSON export (fbadmin's format)
// read from r into the export w, which the caller closes. name is the
// input's name for errors (a bad line is a *transfer.LineError).
func FromNDJSON(ctx context.Context, r io.Reader, name string, w *Writer, prog Progress) (Stats, error) {
	var st Stats
	br := bufio.NewReaderSize(r, 1<<20)
	var long []byte
	var pendDocs, pendBytes int64
	for no := 1; ; no++ {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			long = append(long[:0], line...)
			for err == bufio.ErrBufferFull {
				line, err = br.ReadSlice('\n')
				long = append(long, line...)
				if len(long) > transfer.MaxLineBytes {
					return st, &transfer.LineError{File: name, Line: no, Err: fmt.Errorf("line longer than %d MiB", transfer.MaxLineBytes>>20)}
				}
			}
			line = long
		}
		if err != nil && err != io.EOF {
			return st, fmt.Errorf("read %s: %w", name, err)
		}
		size := len(line)
		if t := trimEOL(line); len(blankTrim(t)) > 0 {
			p, data, perr := transfer.ParseLine(t)
			if perr != nil {
				return st, &transfer.LineError{File: name, Line: no, Err: perr}
			}
			if werr := w.Write(p, data); werr != nil {
				return st, &transfer.LineError{File: name, Line: no, Err: werr}
			}
			st.Docs++
			pendDocs++
		}
		st.Bytes += int64(size)
		pendBytes += int64(size)
		if pendDocs >= 1000 && prog != nil {
			prog.Add(pendDocs, pendBytes)
			pendDocs, pendBytes = 0, 0
		}
		if err == io.EOF {
			break
		}
		if no%4096 == 0 && ctx.Err() != nil {
			return st, ctx.Err()
		}
	}
	if prog != nil && (pendDocs > 0 || pendBytes > 0) {
		prog.Add(pendDocs, pendBytes)
	}
	return st, nil
}

func trimEOL(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	return b
}

func blankTrim(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\r') {
		b = b[1:]
	}
	return b
}
