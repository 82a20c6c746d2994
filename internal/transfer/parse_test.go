package transfer

import (
	"bytes"
	"strings"
	"testing"

	pb "cloud.google.com/go/firestore/apiv1/firestorepb"
	"google.golang.org/protobuf/proto"
)

// checkParseLineProto checks that the import's direct protobuf parse agrees
// with ParseLine followed by the Go-to-protobuf conversion, and that the
// validation pass accepts exactly the same lines.
func checkParseLineProto(t *testing.T, line []byte) {
	t.Helper()
	wantPath, data, wantErr := ParseLine(line)
	var want map[string]*pb.Value
	if wantErr == nil {
		want, wantErr = toPBFields(data)
	}
	path, got, err := parseLineProto(line)
	if (err == nil) != (wantErr == nil) || err != nil && err.Error() != wantErr.Error() {
		t.Fatalf("parseLineProto(%q) error %v, ParseLine error %v", line, err, wantErr)
	}
	if cerr := checkLineProto(line); (cerr == nil) != (err == nil) || cerr != nil && cerr.Error() != err.Error() {
		t.Fatalf("checkLineProto(%q) error %v, parseLineProto error %v", line, cerr, err)
	}
	if err != nil {
		return
	}
	enc := func(f map[string]*pb.Value) []byte {
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(&pb.MapValue{Fields: f})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if path != wantPath || !bytes.Equal(enc(got), enc(want)) {
		t.Fatalf("parseLineProto(%q) = %s %v, want %s %v", line, path, got, wantPath, want)
	}
}

var parseLineCases = []string{
	`{"path":"a/b","data":{"n":{"$int":"1"},"s":"x","m":{"k":[true,null,{"$double":"NaN"}]}}}`,
	`{"path":"a/b","data":{},"create_time":"2024-01-02T03:04:05Z","update_time":"2024-01-02T03:04:05Z"}`,
	`{"path":"a/b","data":{"$map":{"$int":"x"}}}`,
	`{"path":"a/b","data":{"v":{"$vector":[1,2]}}}`,
	`{"path":"a/b","data":{"$vector":[1,2]}}`,
	`{"path":"a/b","data":{"__type__":"__vector__","value":[{"$double":1}]}}`,
	`{"$vector":[1]}`, `{"$int":"1"}`, `[1]`, `"x"`, `  `, `{`,
	`{"path":"a","data":{}}`, `{"path":1,"data":{}}`, `{"data":{}}`, `{"path":"a/b"}`, `{"path":"a/b","data":[]}`,
	`{"path":"a/b","data":{},"extra":1}`, `{"path":"a//b","data":{}}`, `{"path":"a/b","data":{"x":{"$int":"1.5"}}}`,
	`{"path":"a/b","path":"a/c","data":{}}`,
}

func TestParseLineProto(t *testing.T) {
	for _, s := range parseLineCases {
		checkParseLineProto(t, []byte(s))
	}
}

func FuzzParseLineProto(f *testing.F) {
	for _, s := range parseLineCases {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) { checkParseLineProto(t, line) })
}

// checkWireWrite checks that a write encoded straight from a line equals
// the message built from the parsed line, in every mode the fast path
// takes. Only valid lines count: the import validates every line before
// it encodes any.
func checkWireWrite(t *testing.T, line []byte) {
	t.Helper()
	db := &DB{project: "p", database: "(default)"}
	rel, fields, perr := parseLineProto(line)
	if perr != nil {
		return
	}
	for _, mode := range []Mode{ModeCreate, ModeSet, ModeSkipExisting, ModeMerge} {
		prefix := []byte("kept")
		out, wrel, err := appendWireWrite(bytes.Clone(prefix), db, mode, line)
		if err != nil {
			if !bytes.Equal(out, prefix) {
				t.Fatalf("appendWireWrite(%q) failed but changed dst", line)
			}
			continue // parseLineProto takes the line
		}
		if mode == ModeMerge {
			t.Fatalf("appendWireWrite(%q) took a merge, which needs the field mask", line)
		}
		it := item{name: db.full(rel), fields: fields}
		want := it.write(mode).Write
		var got pb.Write
		if err := proto.Unmarshal(out[len(prefix):], &got); err != nil {
			t.Fatalf("appendWireWrite(%q) gave bytes that do not parse: %v", line, err)
		}
		g, _ := proto.MarshalOptions{Deterministic: true}.Marshal(&got)
		w, _ := proto.MarshalOptions{Deterministic: true}.Marshal(want)
		if wrel != rel || !bytes.Equal(g, w) {
			t.Fatalf("appendWireWrite(%q, %v) = %s %v, want %s %v", line, mode, wrel, &got, rel, want)
		}
	}
}

func TestWireWrite(t *testing.T) {
	big := `{"path":"a/b","data":{"s":"` + strings.Repeat("x", 20000) + `"}}`
	for _, s := range append(parseLineCases, big, `{"path":"a\/b","data":{}}`, `{"path":"a/b","data":{"x":1},"update_time":"t"}`) {
		checkWireWrite(t, []byte(s))
	}
}

func FuzzWireWrite(f *testing.F) {
	for _, s := range parseLineCases {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) { checkWireWrite(t, line) })
}

func TestScanName(t *testing.T) {
	db := &DB{project: "p", database: "(default)"}
	root := db.Root()
	lo, hi := db.collectionBounds("users")
	sub, _ := db.collectionBounds("users/alice/orders")
	for _, tc := range []struct {
		s    scan
		want string
	}{
		{scan{parent: root, collection: "users"}, "users"},
		{scan{parent: db.full("users/alice"), collection: "orders"}, "users/alice/orders"},
		{scan{parent: root, all: true, lo: lo, hi: hi}, "users"},
		{scan{parent: root, all: true, lo: db.full("users/u0042"), hi: hi}, "users"},
		{scan{parent: db.full("users/alice"), all: true, lo: sub}, "users/alice/orders"},
		{scan{parent: db.full("users/alice"), all: true}, "users/alice"},
		{scan{parent: root, all: true}, "the database"},
	} {
		if got := db.scanName(tc.s); got != tc.want {
			t.Errorf("scanName(%+v) = %q, want %q", tc.s, got, tc.want)
		}
	}
}
