package value

import (
	"bytes"
	"strings"
	"testing"

	pb "cloud.google.com/go/firestore/apiv1/firestorepb"
	"google.golang.org/protobuf/proto"
)

// toProtoSlow converts a value from Decode the long way round, as a
// reference for DecodeProto.
func toProtoSlow(v any) *pb.Value {
	p, err := ToProto(v)
	if err != nil {
		panic(err)
	}
	return p
}

func marshalValue(t *testing.T, v *pb.Value) []byte {
	t.Helper()
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(v)
	if err != nil {
		t.Fatalf("marshal %v: %v", v, err)
	}
	return b
}

// checkDecodeProto checks that DecodeProto agrees with Decode on data: the
// same error, or the same value.
func checkDecodeProto(t *testing.T, data []byte) {
	t.Helper()
	want, wantErr := Decode(data)
	got, err := DecodeProto(data)
	if (err == nil) != (wantErr == nil) || err != nil && err.Error() != wantErr.Error() {
		t.Fatalf("DecodeProto(%q) error %v, Decode error %v", data, err, wantErr)
	}
	checkShallowErrors(t, data)
	if err != nil {
		return
	}
	if g, w := marshalValue(t, got), marshalValue(t, toProtoSlow(want)); !bytes.Equal(g, w) {
		t.Fatalf("DecodeProto(%q) = %v, want %v", data, got, toProtoSlow(want))
	}
	for keep := 1; keep <= 3; keep++ {
		shallow, err := CheckProto(data, keep)
		if err != nil {
			t.Fatalf("CheckProto(%q, %d): %v; DecodeProto accepted it", data, keep, err)
		}
		if g, w := marshalValue(t, shallow), marshalValue(t, truncate(got, 0, keep)); !bytes.Equal(g, w) {
			t.Fatalf("CheckProto(%q, %d) = %v, want %v", data, keep, shallow, truncate(got, 0, keep))
		}
	}
}

// checkShallowErrors checks that CheckProto refuses what
// DecodeProto refuses, with the same error.
func checkShallowErrors(t *testing.T, data []byte) {
	t.Helper()
	_, wantErr := DecodeProto(data)
	for keep := 1; keep <= 3; keep++ {
		_, err := CheckProto(data, keep)
		if (err == nil) != (wantErr == nil) || err != nil && err.Error() != wantErr.Error() {
			t.Fatalf("CheckProto(%q, %d) error %v, DecodeProto error %v", data, keep, err, wantErr)
		}
	}
}

// truncate empties the maps and arrays of v (at depth) whose elements are
// keep or more levels deep, as CheckProto returns them.
func truncate(v *pb.Value, depth, keep int) *pb.Value {
	switch x := v.GetValueType().(type) {
	case *pb.Value_MapValue:
		if isVectorMap(x.MapValue) {
			return v // a vector is a leaf of the format
		}
		fields := map[string]*pb.Value{}
		if depth+1 < keep {
			for k, e := range x.MapValue.GetFields() {
				fields[k] = truncate(e, depth+1, keep)
			}
		}
		return &pb.Value{ValueType: &pb.Value_MapValue{MapValue: &pb.MapValue{Fields: fields}}}
	case *pb.Value_ArrayValue:
		var vals []*pb.Value
		if depth+1 < keep {
			for _, e := range x.ArrayValue.GetValues() {
				vals = append(vals, truncate(e, depth+1, keep))
			}
		}
		return &pb.Value{ValueType: &pb.Value_ArrayValue{ArrayValue: &pb.ArrayValue{Values: vals}}}
	}
	return v
}

func isVectorMap(m *pb.MapValue) bool {
	f := m.GetFields()
	return len(f) == 2 && f["__type__"].GetStringValue() == "__vector__" && f["value"].GetArrayValue() != nil
}

func TestDecodeProto(t *testing.T) {
	for _, tc := range canonicalCases(t) {
		t.Run(tc.name, func(t *testing.T) { checkDecodeProto(t, []byte(tc.json)) })
	}
	for _, s := range []string{
		`{}`, `[]`, `{"a":{}}`, `{"$map":{}}`, `{"a":[{"b":[]}]}`, `{"a":1,"a":2}`, `{"$map":{"x":1,"x":2}}`,
		`{"$int":"12x"}`, `[1,`, `{"$vector":[]}`, `{"a":{"$vector":[1,2]}}`, `{"n":42,"f":1.5,"s":"\u00e9"}`,
	} {
		checkDecodeProto(t, []byte(s))
	}
	got, err := DecodeProto([]byte(`{"v":{"$vector":[1.5]}}`))
	if err != nil {
		t.Fatal(err)
	}
	vec := got.GetMapValue().GetFields()["v"].GetMapValue().GetFields()
	if vec["__type__"].GetStringValue() != "__vector__" || vec["value"].GetArrayValue().GetValues()[0].GetDoubleValue() != 1.5 {
		t.Fatalf("vector decoded as %v, want Firestore's vector map", got)
	}
}

func FuzzDecodeProto(f *testing.F) {
	for _, tc := range canonicalCases(f) {
		f.Add([]byte(tc.json))
	}
	f.Add([]byte(`{"a":[1,2.5,-0,1e400],"b":{"$map":{"$int":{"$int":"5"}}},"c":{"x":1,"x":2}}`))
	f.Fuzz(func(t *testing.T, data []byte) { checkDecodeProto(t, data) })
}

// checkAppendFieldsProto checks that AppendFieldsProto accepts what
// DecodeMap accepts, with the same errors, and encodes what DecodeProto
// builds.
func checkAppendFieldsProto(t *testing.T, data []byte) {
	t.Helper()
	prefix := []byte{0x0a, 0x01, 'x'} // Document.name "x", kept as it is
	got, err := AppendFieldsProto(bytes.Clone(prefix), 2, data)
	_, wantErr := DecodeMap(data)
	if (err == nil) != (wantErr == nil) || err != nil && err.Error() != wantErr.Error() {
		t.Fatalf("AppendFieldsProto(%q) error %v, DecodeMap error %v", data, err, wantErr)
	}
	if err != nil {
		if !bytes.Equal(got, prefix) {
			t.Fatalf("AppendFieldsProto(%q) failed but changed dst: %q", data, got)
		}
		return
	}
	var doc pb.Document
	if err := proto.Unmarshal(got, &doc); err != nil {
		t.Fatalf("AppendFieldsProto(%q) gave bytes that do not parse: %v", data, err)
	}
	want, err := DecodeProto(data)
	if err != nil {
		t.Fatalf("DecodeProto(%q): %v; DecodeMap accepted it", data, err)
	}
	g := marshalValue(t, &pb.Value{ValueType: &pb.Value_MapValue{MapValue: &pb.MapValue{Fields: doc.GetFields()}}})
	if w := marshalValue(t, want); doc.GetName() != "x" || !bytes.Equal(g, w) {
		t.Fatalf("AppendFieldsProto(%q) = %v, want %v", data, &doc, want)
	}
}

func TestAppendFieldsProto(t *testing.T) {
	for _, tc := range canonicalCases(t) {
		t.Run(tc.name, func(t *testing.T) { checkAppendFieldsProto(t, []byte(tc.json)) })
	}
	long := `{"s":"` + strings.Repeat("é", 5000) + `","a":[` + strings.Repeat(`{"$int":"1"},`, 300) + `1]}`
	for _, s := range []string{
		`{}`, ` { } `, `{"a":{}}`, `{"$map":{}}`, `{"$map":{"$int":"x"}}`, `{"$map":{"a":1}} x`, `{"a":[{"b":[]}]}`,
		`{"a":1,"a":2}`, `{"$map":{"x":1,"x":2}}`, `{"$int":"1"}`, `{"$vector":[1]}`, `[1]`, `{"a":{"$vector":[1,2]}}`,
		`{"t":{"$timestamp":"1970-01-01T00:00:00Z"},"g":{"$geopoint":{"latitude":0,"longitude":"-0"}},"d":{"$double":"-0"}}`,
		`{"b":{"$bytes":""},"r":{"$ref":"projects/p/databases/d/documents/a/b"},"n":null,"f":false,"e":"\n\u00e9"}`,
		`{"$int":"1","b":2}`, `{"a":[1,]}`, `{"a":}`, long,
	} {
		checkAppendFieldsProto(t, []byte(s))
	}
}

func FuzzAppendFieldsProto(f *testing.F) {
	for _, tc := range canonicalCases(f) {
		f.Add([]byte(tc.json))
	}
	f.Add([]byte(`{"a":[1,2.5,-0,1e400],"b":{"$map":{"$int":{"$int":"5"}}},"c":{"x":1,"x":2}}`))
	f.Add([]byte(`{"$map":{"v":{"$vector":[1,"NaN"]},"g":{"$geopoint":{"latitude":1,"longitude":2}}}}`))
	f.Fuzz(func(t *testing.T, data []byte) { checkAppendFieldsProto(t, data) })
}
