package managed

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/genproto/googleapis/type/latlng"

	"github.com/fbadmin/fbadmin/internal/value"
)

func TestLogRoundTrip(t *testing.T) {
	sizes := []int{0, 1, 100, blockSize - 2*headerSize, blockSize - headerSize, blockSize, 3*blockSize + 17, 5, 0, 200000}
	var recs [][]byte
	for i, n := range sizes {
		r := make([]byte, n)
		for j := range r {
			r[j] = byte(i*31 + j)
		}
		recs = append(recs, r)
	}
	var buf bytes.Buffer
	lw := NewLogWriter(&buf)
	for _, r := range recs {
		if err := lw.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := lw.Flush(); err != nil {
		t.Fatal(err)
	}
	if int64(buf.Len()) != lw.Size() {
		t.Fatalf("Size() = %d, wrote %d", lw.Size(), buf.Len())
	}
	lr := NewLogReader(bytes.NewReader(buf.Bytes()), "f")
	for i, want := range recs {
		got, _, err := lr.Next()
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("record %d: got %d bytes, want %d", i, len(got), len(want))
		}
	}
	if _, _, err := lr.Next(); err != io.EOF {
		t.Fatalf("after the last record: got %v, want io.EOF", err)
	}
}

func TestLogCorrupt(t *testing.T) {
	var buf bytes.Buffer
	lw := NewLogWriter(&buf)
	lw.Write([]byte("first record"))
	lw.Write(bytes.Repeat([]byte("x"), 40000)) // spans two blocks
	lw.Flush()
	good := buf.Bytes()
	second := int64(headerSize + len("first record"))

	flip := func(at int) []byte {
		b := bytes.Clone(good)
		b[at] ^= 0x40
		return b
	}
	cases := []struct {
		name    string
		data    []byte
		offset  int64
		message string
	}{
		{"bad checksum", flip(int(second) + headerSize + 5), second, "checksum mismatch"},
		{"bad type", flip(6), 0, "bad record type"},
		{"truncated in a block", good[:len(good)-10], blockSize, "truncated record"},
		{"truncated between blocks", good[:blockSize], second, "truncated record: the file ends before its last fragment"},
		{"truncated header", good[:second+3], second, "truncated record header"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			lr := NewLogReader(bytes.NewReader(c.data), "output-0")
			var err error
			for err == nil {
				_, _, err = lr.Next()
			}
			var ce *CorruptError
			if !errors.As(err, &ce) {
				t.Fatalf("got %v, want a *CorruptError", err)
			}
			if ce.File != "output-0" || ce.Offset != c.offset || !strings.Contains(ce.Msg, c.message) {
				t.Fatalf("got %q, want output-0 at byte %d: %s", err, c.offset, c.message)
			}
		})
	}
}

// everyType is a document with every Firestore value type.
func everyType() map[string]any {
	ref := func(p string) *firestore.DocumentRef {
		return &firestore.DocumentRef{Path: p, ID: p[strings.LastIndexByte(p, '/')+1:]}
	}
	return map[string]any{
		"null":     nil,
		"true":     true,
		"false":    false,
		"intMin":   int64(math.MinInt64),
		"intMax":   int64(math.MaxInt64),
		"zero":     int64(0),
		"double":   1.5,
		"nan":      math.NaN(),
		"inf":      math.Inf(1),
		"ninf":     math.Inf(-1),
		"negZero":  math.Copysign(0, -1),
		"string":   "héllo\x00world",
		"empty":    "",
		"bytes":    []byte{0, 1, 0, 255, 0},
		"noBytes":  []byte{},
		"ts":       time.Date(2024, 5, 17, 9, 30, 12, 345678000, time.UTC),
		"tsMin":    time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
		"tsMax":    time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC),
		"tsOld":    time.Date(1969, 12, 31, 23, 59, 59, 999999000, time.UTC),
		"geo":      &latlng.LatLng{Latitude: -33.8688, Longitude: 151.2093},
		"ref":      ref("projects/p/databases/(default)/documents/users/alice"),
		"refDB":    ref("projects/other/databases/db2/documents/a/b/c/d"),
		"refNum":   ref("projects/p/databases/(default)/documents/a/__id42__"),
		"map":      map[string]any{"a": int64(1), "nested": map[string]any{"deep": "x", "arr": []any{int64(1)}}},
		"emptyMap": map[string]any{},
		"array":    []any{int64(1), "two", nil, map[string]any{"k": true}, map[string]any{}, []byte{0}, 2.5},
		"one":      []any{"single"},
		"noArray":  []any{},
		"arrMaps":  []any{map[string]any{"a": []any{map[string]any{"b": []any{}}}}},
		"vector":   firestore.Vector64{0.25, -1, math.Copysign(0, -1)},
		"vec1":     firestore.Vector64{3},
		"a.b":      "dotted name",
		"$x":       "dollar",
		"":         "empty name",
	}
}

func TestEntityRoundTrip(t *testing.T) {
	fields := everyType()
	rec, err := AppendEntity(nil, "proj", "db2", "users/alice/posts/__id7__", fields)
	if err != nil {
		t.Fatal(err)
	}
	d, err := DecodeEntity(rec)
	if err != nil {
		t.Fatal(err)
	}
	if d.Project != "proj" || d.Database != "db2" || d.Path != "users/alice/posts/__id7__" {
		t.Fatalf("key: got %s %s %s", d.Project, d.Database, d.Path)
	}
	for k, want := range fields {
		if got := d.Fields[k]; !value.Equal(got, want) {
			t.Errorf("field %q: got %#v, want %#v", k, got, want)
		}
	}
	if len(d.Fields) != len(fields) {
		t.Errorf("got %d fields, want %d", len(d.Fields), len(fields))
	}
	// Encoding is deterministic.
	again, _ := AppendEntity(nil, "proj", "db2", "users/alice/posts/__id7__", d.Fields)
	if !bytes.Equal(again, rec) {
		t.Error("encoding the decoded document gives other bytes")
	}
}

func TestEntityRefused(t *testing.T) {
	cases := map[string]any{
		"array in array": []any{[]any{int64(1)}},
		"empty vector":   firestore.Vector64{},
		"bad reference":  &firestore.DocumentRef{Path: "users/alice"},
		"year 10000":     time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	for name, v := range cases {
		if _, err := AppendEntity(nil, "p", "", "c/d", map[string]any{"f": v}); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := AppendEntity(nil, "p", "", "c", nil); err == nil {
		t.Error("a collection path: no error")
	}
}

func TestTimestampTruncatedToMicros(t *testing.T) {
	in := time.Date(2024, 1, 2, 3, 4, 5, 123456789, time.UTC)
	rec, _ := AppendEntity(nil, "p", "", "c/d", map[string]any{"t": in})
	d, err := DecodeEntity(rec)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := d.Fields["t"].(time.Time), in.Truncate(time.Microsecond); !got.Equal(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

// The emulator's export in testdata (written by `POST .../PROJECT:export`
// after writing these documents with the REST API) reads as expected, and
// fbadmin encodes its one-field documents to the same bytes.
func TestReadEmulatorExport(t *testing.T) {
	ctx := context.Background()
	// Found in the directory, or in the one directory below that holds it.
	if m, err := FindMetadata(ctx, DirStore("testdata")); err != nil || m != "emulator_export/firestore_export_1796501702.overall_export_metadata" {
		t.Fatalf("FindMetadata(testdata) = %q, %v", m, err)
	}
	exp, err := Open(ctx, DirStore("testdata/emulator_export"), "")
	if err != nil {
		t.Fatal(err)
	}
	if exp.Documents() != 3 {
		t.Fatalf("metadata announces %d documents, want 3", exp.Documents())
	}
	var out bytes.Buffer
	st, err := ToNDJSON(ctx, exp, &out, ReadOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"path":"col/d1","data":{"a":[{"$int":"1"},"two",{"k":true},null],"a1":[{"$int":"7"}],"b":true,"bf":false,"by":{"$bytes":"AAEC/w=="},"d":{"$double":1.5},"ea":[],"eby":{"$bytes":""},"em":{},"es":"","g":{"$geopoint":{"latitude":48.85,"longitude":2.35}},"i":{"$int":"-9223372036854775808"},"imax":{"$int":"9223372036854775807"},"inf":{"$double":"Infinity"},"m":{"x":{"$int":"1"},"y":{"z":"deep"}},"n":null,"nan":{"$double":"NaN"},"ninf":{"$double":"-Infinity"},"nz":{"$double":0},"r":{"$ref":"projects/demo-probe/databases/(default)/documents/users/alice"},"rsub":{"$ref":"projects/demo-probe/databases/(default)/documents/users/alice/posts/p1"},"s":"héllo","t":{"$timestamp":"2024-01-02T03:04:05.123456Z"},"v":{"$vector":[0.25,-1]}}}
{"path":"col/d1/sub/s1","data":{"x":{"$int":"5"}}}
{"path":"other/o1","data":{}}
`
	if out.String() != want || st.Docs != 3 {
		t.Fatalf("got %d docs:\n%s\nwant:\n%s", st.Docs, out.String(), want)
	}

	// Collection filter: by the last collection ID of the path.
	out.Reset()
	if _, err := ToNDJSON(ctx, exp, &out, ReadOptions{Collections: []string{"sub", "other"}}, nil); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(out.String(), "\n"); got != 2 || strings.Contains(out.String(), `"col/d1"`) {
		t.Fatalf("--collection sub,other: got\n%s", out.String())
	}

	// Byte for byte: the records of the one-field documents.
	raw, _ := os.ReadFile("testdata/emulator_export/all_namespaces/all_kinds/output-0")
	lr := NewLogReader(bytes.NewReader(raw), "output-0")
	var recs [][]byte
	for {
		r, _, err := lr.Next()
		if err != nil {
			break
		}
		recs = append(recs, bytes.Clone(r))
	}
	if len(recs) != 3 {
		t.Fatalf("got %d records", len(recs))
	}
	mine, _ := AppendEntity(nil, "demo-probe", "", "col/d1/sub/s1", map[string]any{"x": int64(5)})
	if !bytes.Equal(mine, recs[1]) {
		t.Errorf("col/d1/sub/s1:\n got %x\nwant %x", mine, recs[1])
	}
	mine, _ = AppendEntity(nil, "demo-probe", "", "other/o1", map[string]any{})
	if !bytes.Equal(mine, recs[2]) {
		t.Errorf("other/o1:\n got %x\nwant %x", mine, recs[2])
	}
}

func TestWriterRoundTrip(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	w := NewWriter(ctx, DirStore(dir), WriterOptions{Name: "backup1", Project: "p", FileBytes: 50 << 10})
	docs := map[string]map[string]any{}
	for i := range 300 {
		p := "items/doc" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + "-" + time.Duration(i).String()
		f := everyType()
		f["i"] = int64(i)
		docs[p] = f
		if err := w.Write(p, f); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "backup1.overall_export_metadata")); err != nil {
		t.Fatal(err)
	}
	exp, err := Open(ctx, DirStore(dir), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(exp.Parts) != 1 || len(exp.Parts[0].Files) < 2 || exp.Documents() != 300 {
		t.Fatalf("layout: %+v", exp.Parts)
	}
	n := 0
	err = exp.Read(ctx, ReadOptions{}, func(d *Document) error {
		n++
		want, ok := docs[d.Path]
		if !ok {
			t.Fatalf("unexpected document %s", d.Path)
		}
		if !value.Equal(d.Fields, want) {
			t.Fatalf("%s differs", d.Path)
		}
		return nil
	})
	if err != nil || n != 300 {
		t.Fatalf("read %d documents: %v", n, err)
	}
}

func TestNDJSONRoundTrip(t *testing.T) {
	ctx := context.Background()
	in, err := os.ReadFile("testdata/every_type.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	w := NewWriter(ctx, DirStore(dir), WriterOptions{Name: "x", Project: "p"})
	st, err := FromNDJSON(ctx, bytes.NewReader(in), "every_type.ndjson", w, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	exp, err := Open(ctx, DirStore(dir), "x.overall_export_metadata")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	st2, err := ToNDJSON(ctx, exp, &out, ReadOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if out.String() != string(in) || st.Docs != st2.Docs {
		t.Fatalf("round trip:\n got %s\nwant %s", out.String(), in)
	}
}

func TestCorruptEntityNamesFileAndOffset(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	w := NewWriter(ctx, DirStore(dir), WriterOptions{Name: "x", Project: "p"})
	w.Write("a/b", map[string]any{"f": int64(1)})
	bad, _ := AppendEntity(nil, "p", "", "a/c", map[string]any{"f": int64(1)})
	bad = append(bad, 0xf8, 0x03, 0x01) // field 63, a varint: unknown
	w.WriteRecord(bad)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	exp, err := Open(ctx, DirStore(dir), "")
	if err != nil {
		t.Fatal(err)
	}
	err = exp.Read(ctx, ReadOptions{}, func(*Document) error { return nil })
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.File != "all_namespaces/all_kinds/output-1" && ce.File != "all_namespaces/all_kinds/output-0" {
		t.Fatalf("got %v", err)
	}
	first, _ := AppendEntity(nil, "p", "", "a/b", map[string]any{"f": int64(1)})
	if ce.Offset != int64(headerSize+len(first)) || !strings.Contains(ce.Msg, "unknown field 63") {
		t.Fatalf("got %q, want the second record's offset %d and the unknown field", err, headerSize+len(first))
	}
}

// An export made with collection IDs (gcloud's --collection-ids) has one
// all_namespaces/kind_ID directory per ID, each with its metadata and
// output files; the overall metadata points to each.
func TestReadPerKindLayout(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	kinds := map[string][]string{"users": {"users/a", "users/b", "x/y/users/c"}, "orders": {"orders/o1"}}
	var pointers []byte
	for _, kind := range []string{"users", "orders"} {
		sub := "all_namespaces/kind_" + kind
		meta := sub + "/all_namespaces_kind_" + kind + ".export_metadata"
		var log bytes.Buffer
		lw := NewLogWriter(&log)
		for _, p := range kinds[kind] {
			rec, err := AppendEntity(nil, "p", "", p, map[string]any{"k": kind})
			if err != nil {
				t.Fatal(err)
			}
			lw.Write(rec)
		}
		lw.Flush()
		os.MkdirAll(filepath.Join(dir, sub), 0o755)
		os.WriteFile(filepath.Join(dir, sub, "output-0"), log.Bytes(), 0o644)
		var e encoder
		at := e.open(2) // kind_info
		e.str(1, kind)
		e.str(2, "output-0")
		e.close(at)
		os.WriteFile(filepath.Join(dir, meta), e.buf, 0o644)
		e = encoder{buf: pointers}
		at = e.open(1)
		spec := e.open(1)
		e.varint(1, 1) // ONE_KIND
		e.str(2, kind)
		e.varint(3, 3)
		e.close(spec)
		e.str(2, meta)
		e.varint(3, uint64(len(kinds[kind])))
		e.close(at)
		pointers = e.buf
	}
	var overall bytes.Buffer
	lw := NewLogWriter(&overall)
	lw.Write([]byte("3"))
	lw.Write(pointers)
	lw.Flush()
	os.WriteFile(filepath.Join(dir, "x.overall_export_metadata"), overall.Bytes(), 0o644)

	exp, err := Open(ctx, DirStore(dir), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(exp.Parts) != 2 || exp.Parts[0].Collection != "users" || exp.Parts[1].Files[0] != "all_namespaces/kind_orders/output-0" || exp.Documents() != 4 {
		t.Fatalf("parts: %+v", exp.Parts)
	}
	read := func(cols ...string) []string {
		var got []string
		err := exp.Read(ctx, ReadOptions{Collections: cols}, func(d *Document) error {
			got = append(got, d.Path)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := strings.Join(read(), ","); got != "users/a,users/b,x/y/users/c,orders/o1" {
		t.Fatalf("all: %s", got)
	}
	if got := strings.Join(read("orders"), ","); got != "orders/o1" {
		t.Fatalf("--collection orders: %s", got)
	}
}
