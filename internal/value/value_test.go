package value

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"cloud.google.com/go/firestore"
	"github.com/fbadmin/fbadmin/internal/errs"
	"google.golang.org/genproto/googleapis/type/latlng"
	"google.golang.org/protobuf/types/known/timestamppb"
)

const refPath = "projects/demo-p/databases/(default)/documents/users/alice"

func mustTime(tb testing.TB, s string) time.Time {
	tb.Helper()
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

// canonicalCases are values in their canonical Go type with their exact
// encoding: both directions are checked.
func canonicalCases(tb testing.TB) []struct {
	name string
	v    any
	json string
} {
	return []struct {
		name string
		v    any
		json string
	}{
		{"null", nil, `null`},
		{"true", true, `true`},
		{"false", false, `false`},
		{"int zero", int64(0), `{"$int":"0"}`},
		{"int max", int64(math.MaxInt64), `{"$int":"9223372036854775807"}`},
		{"int min", int64(math.MinInt64), `{"$int":"-9223372036854775808"}`},
		{"int 2^53+1", int64(1<<53 + 1), `{"$int":"9007199254740993"}`},
		{"double", 1.5, `{"$double":1.5}`},
		{"double integral", 1.0, `{"$double":1}`},
		{"double zero", 0.0, `{"$double":0}`},
		{"double negative zero", math.Copysign(0, -1), `{"$double":"-0"}`},
		{"double NaN", math.NaN(), `{"$double":"NaN"}`},
		{"double +Inf", math.Inf(1), `{"$double":"Infinity"}`},
		{"double -Inf", math.Inf(-1), `{"$double":"-Infinity"}`},
		{"double max", math.MaxFloat64, `{"$double":1.7976931348623157e+308}`},
		{"double smallest", math.SmallestNonzeroFloat64, `{"$double":5e-324}`},
		{"double tiny", 1e-7, `{"$double":1e-7}`},
		{"double big integral", 1e20, `{"$double":100000000000000000000}`},
		{"double 1e21", 1e21, `{"$double":1e+21}`},
		{"double 0.1", 0.1, `{"$double":0.1}`},
		{"double negative", -2.5e-3, `{"$double":-0.0025}`},
		{"string empty", "", `""`},
		{"string escapes", "a\"b\\c\nd\te\x00\x1f/<>&", `"a\"b\\c\nd\te\u0000\u001f/<>&"`},
		{"string unicode", "héllo 世界 🎉 \u2028", "\"héllo 世界 🎉 \u2028\""},
		{"string looks typed", `{"$int":"1"}`, `"{\"$int\":\"1\"}"`},
		{"bytes empty", []byte{}, `{"$bytes":""}`},
		{"bytes zeros", []byte{0, 0, 1, 0, 255, 0}, `{"$bytes":"AAABAP8A"}`},
		{"bytes padding", []byte("ab"), `{"$bytes":"YWI="}`},
		{"timestamp ns", mustTime(tb, "2024-01-02T03:04:05.123456789Z"), `{"$timestamp":"2024-01-02T03:04:05.123456789Z"}`},
		{"timestamp whole second", mustTime(tb, "2024-01-02T03:04:05Z"), `{"$timestamp":"2024-01-02T03:04:05Z"}`},
		{"timestamp ms", mustTime(tb, "2024-01-02T03:04:05.120Z"), `{"$timestamp":"2024-01-02T03:04:05.12Z"}`},
		{"timestamp min", mustTime(tb, "0001-01-01T00:00:00Z"), `{"$timestamp":"0001-01-01T00:00:00Z"}`},
		{"timestamp max", mustTime(tb, "9999-12-31T23:59:59.999999999Z"), `{"$timestamp":"9999-12-31T23:59:59.999999999Z"}`},
		{"timestamp before 1970", mustTime(tb, "1969-12-31T23:59:59.5Z"), `{"$timestamp":"1969-12-31T23:59:59.5Z"}`},
		{"geopoint", &latlng.LatLng{Latitude: 48.85, Longitude: 2.35}, `{"$geopoint":{"latitude":48.85,"longitude":2.35}}`},
		{"geopoint negative zero", &latlng.LatLng{Latitude: math.Copysign(0, -1), Longitude: -180}, `{"$geopoint":{"latitude":"-0","longitude":-180}}`},
		{"reference", &firestore.DocumentRef{Path: refPath, ID: "alice"}, `{"$ref":"` + refPath + `"}`},
		{"reference named db nested", &firestore.DocumentRef{Path: "projects/p/databases/other/documents/a/b/c d/é"},
			`{"$ref":"projects/p/databases/other/documents/a/b/c d/é"}`},
		{"vector", firestore.Vector64{1, 2.5, -0.125}, `{"$vector":[1,2.5,-0.125]}`},
		{"vector specials", firestore.Vector64{math.NaN(), math.Inf(1), math.Inf(-1), math.Copysign(0, -1), 0}, `{"$vector":["NaN","Infinity","-Infinity","-0",0]}`},
		{"vector empty", firestore.Vector64{}, `{"$vector":[]}`},
		{"array empty", []any{}, `[]`},
		{"array mixed", []any{int64(1), "a", nil, true, 2.0}, `[{"$int":"1"},"a",null,true,{"$double":2}]`},
		{"array nested", []any{[]any{[]any{}}, map[string]any{"a": []any{int64(3)}}}, `[[[]],{"a":[{"$int":"3"}]}]`},
		{"map empty", map[string]any{}, `{}`},
		{"map sorted", map[string]any{"b": int64(2), "a": "x", "B": nil, "": false}, `{"":false,"B":null,"a":"x","b":{"$int":"2"}}`},
		{"map nested", map[string]any{"a": map[string]any{"b": map[string]any{"c": 1.5}}}, `{"a":{"b":{"c":{"$double":1.5}}}}`},
		{"map key escapes", map[string]any{"a\"b": int64(1), "line\nbreak": nil}, `{"a\"b":{"$int":"1"},"line\nbreak":null}`},
		{"user map looks like int", map[string]any{"$int": "x"}, `{"$map":{"$int":"x"}}`},
		{"user map unknown dollar key", map[string]any{"$foo": int64(1)}, `{"$map":{"$foo":{"$int":"1"}}}`},
		{"user map $map", map[string]any{"$map": map[string]any{}}, `{"$map":{"$map":{}}}`},
		{"user map nested escapes", map[string]any{"$map": map[string]any{"$int": "7"}}, `{"$map":{"$map":{"$map":{"$int":"7"}}}}`},
		{"user map lone dollar", map[string]any{"$": nil}, `{"$map":{"$":null}}`},
		{"user map two dollar keys", map[string]any{"$int": "1", "$double": "2"}, `{"$double":"2","$int":"1"}`},
		{"user map dollar not first", map[string]any{"a$": int64(1)}, `{"a$":{"$int":"1"}}`},
		{"escaped map deep inside", map[string]any{"x": []any{map[string]any{"$ref": "not a ref"}}}, `{"x":[{"$map":{"$ref":"not a ref"}}]}`},
	}
}

func TestEncode(t *testing.T) {
	for _, tc := range canonicalCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Encode(tc.v)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if string(got) != tc.json {
				t.Errorf("Encode = %s, want %s", got, tc.json)
			}
		})
	}
}

func TestDecode(t *testing.T) {
	for _, tc := range canonicalCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Decode([]byte(tc.json))
			if err != nil {
				t.Fatalf("Decode(%s): %v", tc.json, err)
			}
			if !Equal(got, tc.v) {
				t.Errorf("Decode(%s) = %#v, want %#v", tc.json, got, tc.v)
			}
			checkCanonical(t, "$", got)
		})
	}
}

// checkCanonical fails unless v is built only of the types Data returns.
func checkCanonical(tb testing.TB, path string, v any) {
	tb.Helper()
	switch x := v.(type) {
	case nil, bool, int64, float64, string:
	case []byte:
		if x == nil {
			tb.Errorf("%s: nil []byte, want non-nil", path)
		}
	case time.Time:
		if x.Location() != time.UTC {
			tb.Errorf("%s: time in %v, want UTC", path, x.Location())
		}
	case *latlng.LatLng:
		if x == nil {
			tb.Errorf("%s: nil *latlng.LatLng", path)
		}
	case *firestore.DocumentRef:
		if x == nil || x.Path == "" || x.ID == "" || x.Parent == nil {
			tb.Errorf("%s: incomplete ref %#v", path, x)
		}
	case firestore.Vector64:
		if x == nil {
			tb.Errorf("%s: nil vector", path)
		}
	case []any:
		if x == nil {
			tb.Errorf("%s: nil []any", path)
		}
		for i, e := range x {
			checkCanonical(tb, path+"["+string(rune('0'+i%10))+"]", e)
		}
	case map[string]any:
		if x == nil {
			tb.Errorf("%s: nil map", path)
		}
		for k, e := range x {
			checkCanonical(tb, path+"."+k, e)
		}
	default:
		tb.Errorf("%s: non-canonical type %T", path, v)
	}
}

func TestDecodeKeepsBits(t *testing.T) {
	// Equal is lenient about NaN payloads; check the exact values that
	// matter here directly.
	v, err := Decode([]byte(`[{"$double":"-0"},{"$int":"-9223372036854775808"},{"$double":5e-324}]`))
	if err != nil {
		t.Fatal(err)
	}
	a := v.([]any)
	if f := a[0].(float64); f != 0 || !math.Signbit(f) {
		t.Errorf("-0 decoded as %v (signbit %v)", f, math.Signbit(f))
	}
	if n := a[1].(int64); n != math.MinInt64 {
		t.Errorf("min int64 decoded as %d", n)
	}
	if f := a[2].(float64); f != math.SmallestNonzeroFloat64 {
		t.Errorf("5e-324 decoded as %v", f)
	}
}

func TestDecodeReference(t *testing.T) {
	const p = "projects/pr/databases/db/documents/users/alice/posts/p1"
	v, err := Decode([]byte(`{"$ref":"` + p + `"}`))
	if err != nil {
		t.Fatal(err)
	}
	ref, ok := v.(*firestore.DocumentRef)
	if !ok {
		t.Fatalf("Decode gave %T, want *firestore.DocumentRef", v)
	}
	type link struct{ path, id string }
	var got []link
	got = append(got, link{ref.Path, ref.ID})
	got = append(got, link{ref.Parent.Path, ref.Parent.ID})
	got = append(got, link{ref.Parent.Parent.Path, ref.Parent.Parent.ID})
	got = append(got, link{ref.Parent.Parent.Parent.Path, ref.Parent.Parent.Parent.ID})
	want := []link{
		{p, "p1"},
		{"projects/pr/databases/db/documents/users/alice/posts", "posts"},
		{"projects/pr/databases/db/documents/users/alice", "alice"},
		{"projects/pr/databases/db/documents/users", "users"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ref chain = %v, want %v", got, want)
	}
	if top := ref.Parent.Parent.Parent; top.Parent != nil {
		t.Errorf("top-level collection has Parent %v, want nil", top.Parent)
	}
}

// TestEncodeConvenience covers the non-canonical Go inputs Encode takes.
func TestEncodeConvenience(t *testing.T) {
	type myString string
	type myInt int16
	str := "p"
	ts := mustTime(t, "2024-01-02T03:04:05.5Z")
	var nilMap map[string]any
	cases := []struct {
		name string
		v    any
		json string
	}{
		{"int", 42, `{"$int":"42"}`},
		{"int8", int8(-8), `{"$int":"-8"}`},
		{"int16", int16(16), `{"$int":"16"}`},
		{"int32", int32(-32), `{"$int":"-32"}`},
		{"uint8", uint8(255), `{"$int":"255"}`},
		{"uint16", uint16(65535), `{"$int":"65535"}`},
		{"uint32", uint32(math.MaxUint32), `{"$int":"4294967295"}`},
		{"uint fits", uint(7), `{"$int":"7"}`},
		{"uint64 max int64", uint64(math.MaxInt64), `{"$int":"9223372036854775807"}`},
		{"float32", float32(1.5), `{"$double":1.5}`},
		{"float32 inexact", float32(0.1), `{"$double":0.10000000149011612}`},
		{"named string", myString("s"), `"s"`},
		{"named int", myInt(-3), `{"$int":"-3"}`},
		{"string pointer", &str, `"p"`},
		{"time pointer", &ts, `{"$timestamp":"2024-01-02T03:04:05.5Z"}`},
		{"nil time pointer", (*time.Time)(nil), `null`},
		{"local time", ts.In(time.FixedZone("X", 3600)), `{"$timestamp":"2024-01-02T03:04:05.5Z"}`},
		{"timestamppb", timestamppb.New(ts), `{"$timestamp":"2024-01-02T03:04:05.5Z"}`},
		{"vector32", firestore.Vector32{1, 0.5}, `{"$vector":[1,0.5]}`},
		{"nil vector64", firestore.Vector64(nil), `null`},
		{"nil vector32", firestore.Vector32(nil), `null`},
		{"nil []any", []any(nil), `null`},
		{"nil map", nilMap, `null`},
		{"nil ref", (*firestore.DocumentRef)(nil), `null`},
		{"nil geopoint", (*latlng.LatLng)(nil), `null`},
		{"nil bytes", []byte(nil), `{"$bytes":""}`},
		{"strings", []string{"a", "b"}, `["a","b"]`},
		{"ints", []int{1, 2}, `[{"$int":"1"},{"$int":"2"}]`},
		{"int64 array", [2]int64{3, 4}, `[{"$int":"3"},{"$int":"4"}]`},
		{"maps", []map[string]any{{"a": 1}, {"$x": true}}, `[{"a":{"$int":"1"}},{"$map":{"$x":true}}]`},
		{"map of strings", map[string]string{"b": "2", "a": "1"}, `{"a":"1","b":"2"}`},
		{"named-key map escaped", map[myString]int{"$k": 1}, `{"$map":{"$k":{"$int":"1"}}}`},
		{"map of int slices", map[string][]int{"x": {1}}, `{"x":[{"$int":"1"}]}`},
		{"named byte slice is an array", json8{1, 2}, `[{"$int":"1"},{"$int":"2"}]`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Encode(tc.v)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if string(got) != tc.json {
				t.Errorf("Encode = %s, want %s", got, tc.json)
			}
			back, err := Decode(got)
			if err != nil {
				t.Fatalf("Decode(%s): %v", got, err)
			}
			if !Equal(back, tc.v) {
				t.Errorf("Equal(Decode(Encode(v)), v) = false; decoded %#v", back)
			}
		})
	}
}

type json8 []uint8

func TestEncodeErrors(t *testing.T) {
	cyclic := map[string]any{}
	cyclic["self"] = cyclic
	cases := []struct {
		name, path, msg string
		v               any
	}{
		{"channel", "$", "cannot encode chan int", make(chan int)},
		{"struct", "$.a", "cannot encode struct", map[string]any{"a": struct{ X int }{1}}},
		{"complex", "$[1]", "cannot encode complex128", []any{1, complex(1, 2)}},
		{"uint64 overflow", "$", "overflows int64", uint64(math.MaxInt64 + 1)},
		{"int keys", "$", "map keys must be strings", map[int]any{1: 2}},
		{"invalid UTF-8 string", `$["weird key"][0]`, "not valid UTF-8", map[string]any{"weird key": []any{"\xff"}}},
		{"invalid UTF-8 key", "$", `map key "\xff" is not valid UTF-8`, map[string]any{"\xff": 1}},
		{"timestamp year 10000", "$.t", "outside Firestore's range", map[string]any{"t": time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}},
		{"timestamp year 0", "$", "outside Firestore's range", time.Date(0, 12, 31, 0, 0, 0, 0, time.UTC)},
		{"bad timestamppb", "$", "invalid *timestamppb.Timestamp", &timestamppb.Timestamp{Nanos: -1}},
		{"ref no path", "$", "does not start with projects/", &firestore.DocumentRef{}},
		{"ref to collection", "$", "names a collection", &firestore.DocumentRef{Path: "projects/p/databases/d/documents/users"}},
		{"Delete sentinel", "$.x", "write instruction", map[string]any{"x": firestore.Delete}},
		{"ServerTimestamp sentinel", "$.x", "write instruction", map[string]any{"x": firestore.ServerTimestamp}},
		{"cycle", "$" + strings.Repeat(".self", MaxDepth), "nest deeper than", cyclic},
		{"dollar key path", `$["$map"].b`, "cannot encode", map[string]any{"$map": map[string]any{"b": func() {}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Encode(tc.v)
			checkPathError(t, err, tc.path, tc.msg)
		})
	}
}

func checkPathError(tb testing.TB, err error, path, msg string) {
	tb.Helper()
	if err == nil {
		tb.Fatalf("got no error, want one at %s containing %q", path, msg)
	}
	var pe *PathError
	if !errors.As(err, &pe) {
		tb.Fatalf("error %v is %T, want *PathError", err, err)
	}
	if pe.Path != path {
		tb.Errorf("error path = %s, want %s (error: %v)", pe.Path, path, err)
	}
	if !strings.Contains(pe.Msg, msg) {
		tb.Errorf("error message %q does not contain %q", pe.Msg, msg)
	}
	if !errors.Is(err, errs.ErrInvalid) {
		tb.Errorf("errors.Is(%v, errs.ErrInvalid) = false", err)
	}
	if !strings.HasPrefix(err.Error(), path+": ") {
		tb.Errorf("Error() = %q, want it to start with the path %s", err.Error(), path)
	}
}

// TestDecodeLenient covers inputs Decode accepts that Encode never writes.
func TestDecodeLenient(t *testing.T) {
	cases := []struct {
		name, in string
		want     any
	}{
		{"plain int", `42`, int64(42)},
		{"plain negative int", `-7`, int64(-7)},
		{"plain minus zero is int", `-0`, int64(0)},
		{"plain int max", `9223372036854775807`, int64(math.MaxInt64)},
		{"plain int min", `-9223372036854775808`, int64(math.MinInt64)},
		{"plain float", `1.5`, 1.5},
		{"plain float integral", `1.0`, 1.0},
		{"plain exponent", `1e3`, 1000.0},
		{"plain exponent upper", `2E-2`, 0.02},
		{"plain float minus zero", `-0.0`, math.Copysign(0, -1)},
		{"plain numbers nested", `{"a":[1,2.5]}`, map[string]any{"a": []any{int64(1), 2.5}}},
		{"int as number", `{"$int": 12}`, int64(12)},
		{"int with plus", `{"$int":"+12"}`, int64(12)},
		{"int leading zeros", `{"$int":"-0000000000000000000000012"}`, int64(-12)},
		{"int escaped digits", `{"$int":"\u0031\u0032"}`, int64(12)},
		{"double integer literal", `{"$double":3}`, 3.0},
		{"double number minus zero", `{"$double":-0}`, math.Copysign(0, -1)},
		{"double exponent", `{"$double":1.5E+2}`, 150.0},
		{"whitespace", " \t\r\n{ \"$int\" : \"1\" }\n", int64(1)},
		{"whitespace in geopoint", `{"$geopoint": { "longitude" : 2 , "latitude" : "-0" } }`, &latlng.LatLng{Latitude: math.Copysign(0, -1), Longitude: 2}},
		{"timestamp offset", `{"$timestamp":"2024-01-02T04:04:05.5+01:00"}`, time.Date(2024, 1, 2, 3, 4, 5, 5e8, time.UTC)},
		{"timestamp negative offset", `{"$timestamp":"2024-01-01T23:00:00-04:30"}`, time.Date(2024, 1, 2, 3, 30, 0, 0, time.UTC)},
		{"timestamp lowercase", `{"$timestamp":"2024-01-02t03:04:05.000000001z"}`, time.Date(2024, 1, 2, 3, 4, 5, 1, time.UTC)},
		{"timestamp leap day", `{"$timestamp":"2000-02-29T00:00:00Z"}`, time.Date(2000, 2, 29, 0, 0, 0, 0, time.UTC)},
		{"vector plain ints", `{"$vector":[1, -2]}`, firestore.Vector64{1, -2}},
		{"escaped slash in ref", `{"$ref":"projects\/p\/databases\/d\/documents\/c\/d"}`, &firestore.DocumentRef{Path: "projects/p/databases/d/documents/c/d"}},
		{"string escapes", `"\"\\\/\b\f\n\r\t\u00e9\uD83C\uDF89"`, "\"\\/\b\f\n\r\té🎉"},
		{"multi-key object with typed-looking keys", `{"$int":"1","$ref":2}`, map[string]any{"$int": "1", "$ref": int64(2)}},
		{"typed key second", `{"a":1,"$int":"1"}`, map[string]any{"a": int64(1), "$int": "1"}},
		{"$map keys verbatim", `{"$map":{"$int":{"$int":"5"}}}`, map[string]any{"$int": int64(5)}},
		{"$map with several keys", `{"$map":{"a":1,"b":{"$double":2}}}`, map[string]any{"a": int64(1), "b": 2.0}},
		{"empty key", `{"":1}`, map[string]any{"": int64(1)}},
		{"bytes with escapes", `{"$bytes":"YW\u0049="}`, []byte("ab")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Decode([]byte(tc.in))
			if err != nil {
				t.Fatalf("Decode(%s): %v", tc.in, err)
			}
			if !Equal(got, tc.want) {
				t.Errorf("Decode(%s) = %#v, want %#v", tc.in, got, tc.want)
			}
			checkCanonical(t, "$", got)
			// Whatever Decode accepts, Encode writes canonically and reads back.
			enc, err := Encode(got)
			if err != nil {
				t.Fatalf("Encode(decoded): %v", err)
			}
			again, err := Decode(enc)
			if err != nil || !Equal(again, got) {
				t.Errorf("Decode(Encode(v)) = %#v, %v; want %#v", again, err, got)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	deep := strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1)
	cases := []struct {
		name, in, path, msg string
	}{
		{"empty", ``, "$", "unexpected end of JSON input"},
		{"blank", "  \n", "$", "unexpected end of JSON input"},
		{"bad literal", `trux`, "$", "invalid character 'x' in literal true"},
		{"cut literal", `[nul`, "$[0]", "unexpected end of JSON input"},
		{"trailing data", `1 2`, "$", "after top-level value"},
		{"trailing comma array", `[1,]`, "$[1]", "looking for beginning of value"},
		{"trailing comma object", `{"a":1,}`, "$", "looking for beginning of object key string"},
		{"missing colon", `{"a" 1}`, "$", "after object key"},
		{"unquoted key", `{a:1}`, "$", "looking for beginning of object key string"},
		{"single quotes", `'a'`, "$", "looking for beginning of value"},
		{"unterminated string", `"abc`, "$", "unexpected end of JSON input"},
		{"control char in string", "\"a\x01\"", "$", "control characters must be escaped"},
		{"invalid escape", `"\x"`, "$", "invalid escape"},
		{"lone high surrogate", `"\ud800"`, "$", "lone UTF-16 surrogate"},
		{"lone low surrogate", `"\udc00x"`, "$", "lone UTF-16 surrogate"},
		{"invalid UTF-8", "\"\xff\"", "$", "invalid UTF-8"},
		{"leading zero", `01`, "$", "after top-level value"},
		{"leading plus", `+1`, "$", "looking for beginning of value"},
		{"bare minus", `-`, "$", "unexpected end of JSON input"},
		{"minus letter", `-x`, "$", "invalid character 'x' in numeric literal"},
		{"dot without digits", `1.]`, "$", "invalid character ']' after decimal point"},
		{"exponent without digits", `1e+}`, "$", "invalid character '}' in exponent"},
		{"NaN literal", `NaN`, "$", "looking for beginning of value"},
		{"plain int overflow", `{"n":9223372036854775808}`, "$.n", "does not fit in int64"},
		{"plain int underflow", `[-9223372036854775809]`, "$[0]", "does not fit in int64"},
		{"plain float overflow", `1e400`, "$", "out of the range of a double"},
		{"duplicate key", `{"a":1,"b":2,"a":3}`, "$.a", "duplicate key"},
		{"duplicate typed-looking keys", `{"$int":"1","$int":"2"}`, `$["$int"]`, "duplicate key"},
		{"bad int", `{"age":{"$int":"12x"}}`, "$.age", `{"$int":"12x"}: invalid int64 "12x"`},
		{"int empty", `{"$int":""}`, "$", "invalid int64"},
		{"int overflow", `{"$int":"9223372036854775808"}`, "$", "out of the int64 range"},
		{"int float number", `{"$int":1.5}`, "$", "wants an integer"},
		{"int number overflow", `{"$int":-9223372036854775809}`, "$", "out of the int64 range"},
		{"int bool", `{"$int":true}`, "$", "wants a decimal string"},
		{"int with spaces", `{"$int":" 1"}`, "$", "invalid int64"},
		{"double bad string", `{"$double":"nan"}`, "$", "invalid double"},
		{"double string number", `{"$double":"1.5"}`, "$", "invalid double"},
		{"double null", `{"$double":null}`, "$", "want a double"},
		{"double overflow", `{"$double":-1e999}`, "$", "out of the range of a double"},
		{"bytes bad base64", `{"b":{"$bytes":"!!"}}`, "$.b", "invalid standard base64"},
		{"bytes url alphabet", `{"$bytes":"-_8="}`, "$", "invalid standard base64"},
		{"bytes non-canonical padding bits", `{"$bytes":"YR=="}`, "$", "invalid standard base64"},
		{"bytes number", `{"$bytes":1}`, "$", "wants a standard base64 string"},
		{"timestamp no zone", `{"$timestamp":"2024-01-02T03:04:05"}`, "$", "time zone"},
		{"timestamp date only", `{"$timestamp":"2024-01-02"}`, "$", "not of the form"},
		{"timestamp bad month", `{"$timestamp":"2024-13-02T03:04:05Z"}`, "$", "no such date"},
		{"timestamp Feb 30", `{"$timestamp":"2023-02-29T03:04:05Z"}`, "$", "no such date"},
		{"timestamp leap second", `{"$timestamp":"2016-12-31T23:59:60Z"}`, "$", "leap seconds"},
		{"timestamp 10 digits", `{"$timestamp":"2024-01-02T03:04:05.1234567891Z"}`, "$", "more than 9 fractional digits"},
		{"timestamp empty fraction", `{"$timestamp":"2024-01-02T03:04:05.Z"}`, "$", "no digits after the decimal point"},
		{"timestamp comma", `{"$timestamp":"2024-01-02T03:04:05,5Z"}`, "$", "time zone"},
		{"timestamp offset 24h", `{"$timestamp":"2024-01-02T03:04:05+24:00"}`, "$", "invalid UTC offset"},
		{"timestamp year 0", `{"$timestamp":"0000-12-31T23:00:00Z"}`, "$", "outside Firestore's range"},
		{"timestamp before year 1 via offset", `{"$timestamp":"0001-01-01T00:00:00+01:00"}`, "$", "outside Firestore's range"},
		{"timestamp after 9999 via offset", `{"$timestamp":"9999-12-31T23:30:00-01:00"}`, "$", "outside Firestore's range"},
		{"timestamp space", `{"$timestamp":"2024-01-02 03:04:05Z"}`, "$", "not of the form"},
		{"timestamp number", `{"$timestamp":1700000000}`, "$", "wants an RFC 3339 string"},
		{"geopoint missing longitude", `{"$geopoint":{"latitude":1}}`, "$", `wants {"latitude": number, "longitude": number}`},
		{"geopoint extra key", `{"$geopoint":{"latitude":1,"longitude":2,"alt":3}}`, "$", `unexpected or repeated key "alt"`},
		{"geopoint repeated key", `{"$geopoint":{"latitude":1,"latitude":2}}`, "$", `unexpected or repeated key "latitude"`},
		{"geopoint string coordinate", `{"loc":{"$geopoint":{"latitude":"48","longitude":2}}}`, "$.loc", "latitude: invalid double"},
		{"geopoint array", `{"$geopoint":[1,2]}`, "$", "$geopoint wants"},
		{"ref relative", `{"$ref":"users/alice"}`, "$", "does not start with projects/"},
		{"ref collection", `{"$ref":"projects/p/databases/d/documents/users"}`, "$", "names a collection"},
		{"ref empty segment", `{"$ref":"projects/p/databases/d/documents/users//x"}`, "$", "empty path segment"},
		{"ref no documents", `{"$ref":"projects/p/databases/d/users/alice"}`, "$", "is not a document name"},
		{"ref empty project", `{"$ref":"projects//databases/d/documents/a/b"}`, "$", "is not a document name"},
		{"ref trailing slash", `{"$ref":"projects/p/databases/d/documents/a/b/"}`, "$", "empty path segment"},
		{"ref number", `{"$ref":1}`, "$", "wants a document name string"},
		{"vector string element", `{"v":{"$vector":[1,"x"]}}`, "$.v", "element 1: invalid double"},
		{"vector nested", `{"$vector":[[1]]}`, "$", "element 0: want a double"},
		{"vector object", `{"$vector":{}}`, "$", "wants an array"},
		{"map not object", `{"$map":[1]}`, "$", "$map wants an object"},
		{"map inner error path", `{"m":{"$map":{"$x":{"$int":"bad"}}}}`, `$.m["$map"]["$x"]`, "invalid int64"},
		{"map inner duplicate", `{"$map":{"$a":1,"$a":2}}`, `$["$map"]["$a"]`, "duplicate key"},
		{"unknown tag", `{"x":{"$itn":"1"}}`, "$.x", `unknown type tag "$itn"`},
		{"lone dollar key", `{"$":1}`, "$", `unknown type tag "$"`},
		{"syntax error after typed", `{"$int":"1",}`, "$", "looking for beginning of object key string"},
		{"syntax error inside skipped value", `{"$map":{"a":[1,}}`, `$["$map"].a[1]`, "looking for beginning of value"},
		{"error path array", `[1,2,{"a":[0,{"$double":"x"}]}]`, "$[2].a[1]", "invalid double"},
		{"error path weird keys", `{"weird key":{"é":{"a.b":{"$int":"x"}}}}`, `$["weird key"]["é"]["a.b"]`, "invalid int64"},
		{"error path escaped key", `{"a\"b":{"$int":"x"}}`, `$["a\"b"]`, "invalid int64"},
		{"too deep", deep, "$" + strings.Repeat("[0]", MaxDepth), "nest deeper than"},
		{"too deep empty map", strings.Repeat(`{"a":`, MaxDepth) + `{}` + strings.Repeat("}", MaxDepth), "$" + strings.Repeat(".a", MaxDepth), "nest deeper than"},
		{"too deep $map", strings.Repeat(`{"$map":{"a":`, MaxDepth+1) + "1" + strings.Repeat("}}", MaxDepth+1),
			"$" + strings.Repeat(`["$map"].a`, MaxDepth) + `["$map"]`, "nest deeper than"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, err := Decode([]byte(tc.in))
			if err == nil {
				t.Fatalf("Decode(%s) = %#v, want an error", tc.in, v)
			}
			checkPathError(t, err, tc.path, tc.msg)
		})
	}
}

func TestDecodeErrorOffset(t *testing.T) {
	_, err := Decode([]byte(`{"a": [1, 2, x]}`))
	var pe *PathError
	if !errors.As(err, &pe) {
		t.Fatalf("error %v is not a *PathError", err)
	}
	if pe.Offset != 13 || pe.Path != "$.a[2]" {
		t.Errorf("Offset, Path = %d, %s; want 13, $.a[2] (error: %v)", pe.Offset, pe.Path, err)
	}
	const want = `$.a[2]: invalid character 'x' looking for beginning of value (byte 13)`
	if err.Error() != want {
		t.Errorf("Error() = %q, want %q", err.Error(), want)
	}
}

func TestDepthLimitIsShared(t *testing.T) {
	// The deepest value Encode accepts must decode, and one level more must
	// fail on both sides.
	build := func(levels int) any {
		var v any = int64(1)
		for range levels {
			v = []any{v}
		}
		return v
	}
	enc, err := Encode(build(MaxDepth))
	if err != nil {
		t.Fatalf("Encode at MaxDepth: %v", err)
	}
	if _, err := Decode(enc); err != nil {
		t.Fatalf("Decode at MaxDepth: %v", err)
	}
	if _, err := Encode(build(MaxDepth + 1)); err == nil {
		t.Error("Encode at MaxDepth+1 succeeded, want an error")
	}
	deeper := "[" + string(enc) + "]"
	if _, err := Decode([]byte(deeper)); err == nil {
		t.Error("Decode at MaxDepth+1 succeeded, want an error")
	}
}

func TestEncodeMapDecodeMap(t *testing.T) {
	doc := map[string]any{"z": int64(1), "a": []any{"x"}, "m": map[string]any{"$k": true}}
	enc, err := EncodeMap(doc)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"a":["x"],"m":{"$map":{"$k":true}},"z":{"$int":"1"}}`
	if string(enc) != want {
		t.Errorf("EncodeMap = %s, want %s", enc, want)
	}
	got, err := DecodeMap(enc)
	if err != nil {
		t.Fatal(err)
	}
	if !Equal(got, doc) {
		t.Errorf("DecodeMap(EncodeMap(doc)) = %v, want %v", got, doc)
	}

	// A document whose only field starts with "$" round-trips escaped.
	single := map[string]any{"$int": "not a number"}
	enc, err = EncodeMap(single)
	if err != nil {
		t.Fatal(err)
	}
	if string(enc) != `{"$map":{"$int":"not a number"}}` {
		t.Errorf("EncodeMap(single $ field) = %s", enc)
	}
	if got, err := DecodeMap(enc); err != nil || !Equal(got, single) {
		t.Errorf("DecodeMap(%s) = %v, %v; want %v", enc, got, err, single)
	}

	if enc, err := EncodeMap(nil); err != nil || string(enc) != "{}" {
		t.Errorf("EncodeMap(nil) = %s, %v; want {}", enc, err)
	}
	if m, err := DecodeMap([]byte(" {} ")); err != nil || m == nil || len(m) != 0 {
		t.Errorf("DecodeMap({}) = %#v, %v; want an empty non-nil map", m, err)
	}
}

func TestDecodeMapErrors(t *testing.T) {
	cases := []struct{ in, msg string }{
		{`[]`, "want a JSON object of document fields, got an array"},
		{`null`, "got null"},
		{`"x"`, "got a string"},
		{`{"$int":"5"}`, `got an integer; a document whose only field name starts with "$" is written {"$map": {...}}`},
		{`{"$int":"x"}`, "invalid int64"},
	}
	for _, tc := range cases {
		_, err := DecodeMap([]byte(tc.in))
		checkPathError(t, err, "$", tc.msg)
	}
}

func TestEqual(t *testing.T) {
	ts := mustTime(t, "2024-01-02T03:04:05.123456789Z")
	cases := []struct {
		name string
		a, b any
		want bool
	}{
		{"nil", nil, nil, true},
		{"nil vs typed nil map", nil, map[string]any(nil), true},
		{"nil vs false", nil, false, false},
		{"int kinds", int32(5), int64(5), true},
		{"int vs double", int64(1), 1.0, false},
		{"NaN", math.NaN(), math.NaN(), true},
		{"NaN payloads", math.NaN(), math.Float64frombits(0x7ff8000000000001), true},
		{"zero signs", 0.0, math.Copysign(0, -1), false},
		{"float32", float32(0.5), 0.5, true},
		{"times by instant", ts, ts.In(time.FixedZone("X", -7200)), true},
		{"times differ by 1ns", ts, ts.Add(1), false},
		{"time vs timestamppb", ts, timestamppb.New(ts), true},
		{"refs by path", &firestore.DocumentRef{Path: refPath}, &firestore.DocumentRef{Path: refPath, ID: "alice"}, true},
		{"refs differ", &firestore.DocumentRef{Path: refPath}, &firestore.DocumentRef{Path: refPath + "2"}, false},
		{"nil vs empty bytes", []byte(nil), []byte{}, true},
		{"bytes differ", []byte{0}, []byte{0, 0}, false},
		{"bytes vs string", []byte("a"), "a", false},
		{"geopoints", &latlng.LatLng{Latitude: 1, Longitude: 2}, &latlng.LatLng{Latitude: 1, Longitude: 2}, true},
		{"geopoints differ", &latlng.LatLng{Latitude: 1, Longitude: 2}, &latlng.LatLng{Latitude: 2, Longitude: 1}, false},
		{"vectors", firestore.Vector32{1, 2}, firestore.Vector64{1, 2}, true},
		{"vector vs array", firestore.Vector64{1}, []any{1.0}, false},
		{"vector lengths", firestore.Vector64{1}, firestore.Vector64{1, 0}, false},
		{"arrays", []string{"a"}, []any{"a"}, true},
		{"arrays order", []any{"a", "b"}, []any{"b", "a"}, false},
		{"maps", map[string]int{"a": 1}, map[string]any{"a": int64(1)}, true},
		{"maps missing key", map[string]any{"a": nil}, map[string]any{"b": nil}, false},
		{"maps size", map[string]any{"a": nil}, map[string]any{}, false},
		{"empty map vs empty array", map[string]any{}, []any{}, false},
		{"pointer to map", &map[string]any{"a": "b"}, map[string]any{"a": "b"}, true},
		{"unsupported", make(chan int), make(chan int), false},
		{"Delete sentinel", firestore.Delete, int64(0), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Equal(tc.a, tc.b); got != tc.want {
				t.Errorf("Equal(%#v, %#v) = %v, want %v", tc.a, tc.b, got, tc.want)
			}
			if got := Equal(tc.b, tc.a); got != tc.want {
				t.Errorf("Equal(%#v, %#v) = %v, want %v (reversed)", tc.b, tc.a, got, tc.want)
			}
		})
	}
}

func TestEncodeOutputIsOneLine(t *testing.T) {
	v := map[string]any{"text": "line1\nline2\r\n", "k\ney": []any{"\u2028"}}
	enc, err := Encode(v)
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(string(enc), "\n\r") {
		t.Errorf("Encode output contains a line break: %q", enc)
	}
}

func TestEncodeResultIsNotShared(t *testing.T) {
	a, err := Encode("first")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Encode("second, longer value"); err != nil {
		t.Fatal(err)
	}
	if string(a) != `"first"` {
		t.Errorf("earlier result changed to %s after another Encode", a)
	}
}

// TestDecodeDoesNotAliasInput matters to callers that reuse a line buffer
// (bufio.Scanner): decoded values must not point into the input.
func TestDecodeDoesNotAliasInput(t *testing.T) {
	in := []byte(`{"s":"text","k\u00e9y":"v","b":{"$bytes":"AAEC"},"r":{"$ref":"projects/p/databases/d/documents/c/d"},"a":["x"]}`)
	v, err := DecodeMap(in)
	if err != nil {
		t.Fatal(err)
	}
	want, err := Encode(v)
	if err != nil {
		t.Fatal(err)
	}
	for i := range in {
		in[i] = 'Z'
	}
	got, err := Encode(v)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("decoded value changed with its input buffer:\n got  %s\n want %s", got, want)
	}
}

func TestErrorSnippetIsShortAndValid(t *testing.T) {
	long := `{"v": {"$vector": [` + strings.Repeat("1, ", 40) + `"é", "x"]}}`
	_, err := Decode([]byte(long))
	checkPathError(t, err, "$.v", "element 40: invalid double")
	msg := err.(*PathError).Msg
	snip, _, _ := strings.Cut(msg, ": element")
	if !strings.HasSuffix(snip, "...") || len(snip) > 70 || strings.Contains(snip, " ") {
		t.Errorf("snippet %q: want white space removed, cut near 60 bytes and ending in ...", snip)
	}
	bad := `{"$bytes": "` + strings.Repeat("é", 40) + `"}`
	_, err = Decode([]byte(bad))
	checkPathError(t, err, "$", "invalid standard base64")
	if m := err.Error(); !utf8.ValidString(m) {
		t.Errorf("error message is not valid UTF-8: %q", m)
	}
}
