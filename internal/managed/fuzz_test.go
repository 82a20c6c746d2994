package managed

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"

	"github.com/fbadmin/fbadmin/internal/value"
)

// FuzzLogReader: any input gives records or a *CorruptError, never a
// panic, and records written by LogWriter read back the same.
func FuzzLogReader(f *testing.F) {
	if raw, err := os.ReadFile("testdata/emulator_export/all_namespaces/all_kinds/output-0"); err == nil {
		f.Add(raw)
	}
	var buf bytes.Buffer
	lw := NewLogWriter(&buf)
	lw.Write([]byte("a"))
	lw.Write(bytes.Repeat([]byte("b"), blockSize))
	lw.Flush()
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		lr := NewLogReader(bytes.NewReader(data), "fuzz")
		var recs [][]byte
		for {
			rec, off, err := lr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				var ce *CorruptError
				if !errors.As(err, &ce) || ce.File != "fuzz" || ce.Offset < 0 || ce.Offset > int64(len(data)) {
					t.Fatalf("got %v, want a *CorruptError within the input", err)
				}
				return
			}
			if off < 0 || off >= int64(len(data)) {
				t.Fatalf("record offset %d outside the input", off)
			}
			recs = append(recs, bytes.Clone(rec))
		}
		// What was read writes back to a log that reads the same.
		var out bytes.Buffer
		w := NewLogWriter(&out)
		for _, r := range recs {
			w.Write(r)
		}
		w.Flush()
		lr = NewLogReader(&out, "again")
		for i, want := range recs {
			got, _, err := lr.Next()
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("record %d: %v", i, err)
			}
		}
	})
}

// FuzzDecodeEntity: any record decodes to a document or an error, never
// a panic; a document that decodes encodes and decodes to equal values.
func FuzzDecodeEntity(f *testing.F) {
	if raw, err := os.ReadFile("testdata/emulator_export/all_namespaces/all_kinds/output-0"); err == nil {
		lr := NewLogReader(bytes.NewReader(raw), "seed")
		for {
			rec, _, err := lr.Next()
			if err != nil {
				break
			}
			f.Add(bytes.Clone(rec))
		}
	}
	rec, _ := AppendEntity(nil, "p", "db", "a/b/c/d", everyType())
	f.Add(rec)
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := DecodeEntity(data)
		if err != nil {
			return
		}
		again, err := AppendEntity(nil, d.Project, d.Database, d.Path, d.Fields)
		if err != nil {
			// Decodable but not writable: values Firestore refuses
			// (such as an empty vector) are not written.
			return
		}
		d2, err := DecodeEntity(again)
		if err != nil {
			t.Fatalf("re-encoded entity does not decode: %v", err)
		}
		if d2.Path != d.Path || !value.Equal(d2.Fields, d.Fields) {
			t.Fatalf("round trip changed the document %s", d.Path)
		}
	})
}
