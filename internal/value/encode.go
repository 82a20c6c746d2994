package value

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"cloud.google.com/go/firestore"
	"google.golang.org/genproto/googleapis/type/latlng"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// MaxDepth is how deeply maps and arrays may nest: a container at depth
// MaxDepth (the top-level value is at depth 0) is rejected by both Encode
// and Decode. Firestore itself allows 20 levels; the margin lets the codec
// carry anything Firestore can hold while stopping runaway recursion on
// hostile input or cyclic Go values.
const MaxDepth = 100

// Encode renders one Firestore value as JSON in the format described in the
// package documentation. Object keys are sorted, so equal values give equal
// bytes.
//
// Besides the canonical types returned by DocumentSnapshot.Data, Encode
// accepts the other Go values the Firestore SDK would write the same way:
// every signed integer type, uint8 to uint32 (uint, uint64 and uintptr only
// when the value fits in an int64), float32, firestore.Vector32,
// *time.Time, *timestamppb.Timestamp, and slices, arrays, maps with string
// keys and pointers of those, including named types. Like the SDK, a nil
// pointer, nil slice (other than []byte), nil map or nil vector encodes as
// null. Structs, channels, functions, complex numbers and the SDK's
// sentinels (firestore.Delete, firestore.ServerTimestamp) are rejected, as
// are strings that are not valid UTF-8 and timestamps outside Firestore's
// range (years 1 to 9999).
func Encode(v any) (json.RawMessage, error) {
	e := getEncoder()
	defer putEncoder(e)
	if err := e.value(v, 0); err != nil {
		return nil, finish(err)
	}
	return slices.Clone(e.buf), nil
}

// EncodeMap renders a document's fields as a JSON object with sorted keys.
// It is Encode applied to the map: a document whose only field name starts
// with "$" is written in the escaped {"$map": {...}} form, so that
// [DecodeMap] reads it back unchanged. A nil map encodes as {}.
func EncodeMap(m map[string]any) (json.RawMessage, error) {
	if m == nil {
		return json.RawMessage("{}"), nil
	}
	e := getEncoder()
	defer putEncoder(e)
	if err := e.mapAny(m, 0); err != nil {
		return nil, finish(err)
	}
	return slices.Clone(e.buf), nil
}

type encoder struct {
	buf  []byte
	keys []string // a stack of map keys being sorted, shared by all levels
}

var encoderPool = sync.Pool{New: func() any { return &encoder{buf: make([]byte, 0, 1024)} }}

func getEncoder() *encoder {
	e := encoderPool.Get().(*encoder)
	e.buf = e.buf[:0]
	return e
}

func putEncoder(e *encoder) {
	// Do not keep the memory of one huge document alive in the pool.
	if cap(e.buf) > 1<<20 || cap(e.keys) > 1<<12 {
		return
	}
	clear(e.keys[:cap(e.keys)])
	e.keys = e.keys[:0]
	encoderPool.Put(e)
}

func encErr(format string, args ...any) error {
	return newErr(-1, fmt.Sprintf(format, args...))
}

func (e *encoder) value(v any, depth int) error {
	switch x := v.(type) {
	case nil:
		e.buf = append(e.buf, "null"...)
	case bool:
		e.buf = strconv.AppendBool(e.buf, x)
	case int64:
		e.int(x)
	case int:
		e.int(int64(x))
	case int32:
		e.int(int64(x))
	case float64:
		e.double(x)
	case float32:
		e.double(float64(x))
	case string:
		return e.string(x)
	case []byte:
		e.bytes(x)
	case time.Time:
		return e.timestamp(x)
	case *latlng.LatLng:
		if x == nil {
			e.buf = append(e.buf, "null"...)
			return nil
		}
		e.geopoint(x.GetLatitude(), x.GetLongitude())
	case *firestore.DocumentRef:
		if x == nil {
			e.buf = append(e.buf, "null"...)
			return nil
		}
		return e.ref(x.Path)
	case []any:
		if x == nil {
			e.buf = append(e.buf, "null"...)
			return nil
		}
		return e.array(len(x), func(i int) any { return x[i] }, depth)
	case map[string]any:
		if x == nil {
			e.buf = append(e.buf, "null"...)
			return nil
		}
		return e.mapAny(x, depth)
	case firestore.Vector64:
		if x == nil {
			e.buf = append(e.buf, "null"...)
			return nil
		}
		e.vector(len(x), func(i int) float64 { return x[i] })
	case firestore.Vector32:
		if x == nil {
			e.buf = append(e.buf, "null"...)
			return nil
		}
		e.vector(len(x), func(i int) float64 { return float64(x[i]) })
	case []map[string]any:
		if x == nil {
			e.buf = append(e.buf, "null"...)
			return nil
		}
		return e.array(len(x), func(i int) any { return x[i] }, depth)
	case []string:
		if x == nil {
			e.buf = append(e.buf, "null"...)
			return nil
		}
		return e.array(len(x), func(i int) any { return x[i] }, depth)
	case *timestamppb.Timestamp:
		if x == nil {
			e.buf = append(e.buf, "null"...)
			return nil
		}
		if err := x.CheckValid(); err != nil {
			return encErr("invalid *timestamppb.Timestamp: %v", err)
		}
		return e.timestamp(x.AsTime())
	default:
		if v == any(firestore.Delete) || v == any(firestore.ServerTimestamp) {
			return encErr("cannot encode firestore.%v: it is a write instruction, not a value", v)
		}
		return e.reflect(reflect.ValueOf(v), depth)
	}
	return nil
}

// reflect handles named types and the less common shapes, as the SDK does.
func (e *encoder) reflect(rv reflect.Value, depth int) error {
	switch rv.Kind() {
	case reflect.Bool:
		e.buf = strconv.AppendBool(e.buf, rv.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		e.int(rv.Int())
	case reflect.Uint8, reflect.Uint16, reflect.Uint32:
		e.int(int64(rv.Uint()))
	case reflect.Uint, reflect.Uint64, reflect.Uintptr:
		u := rv.Uint()
		if u > math.MaxInt64 {
			return encErr("%s value %d overflows int64, the only integer type Firestore stores", rv.Type(), u)
		}
		e.int(int64(u))
	case reflect.Float32, reflect.Float64:
		e.double(rv.Float())
	case reflect.String:
		return e.string(rv.String())
	case reflect.Slice:
		if rv.IsNil() {
			e.buf = append(e.buf, "null"...)
			return nil
		}
		// Like the SDK, only the exact type []byte is bytes: a named byte
		// slice type is an array of integers.
		return e.array(rv.Len(), func(i int) any { return rv.Index(i).Interface() }, depth)
	case reflect.Array:
		return e.array(rv.Len(), func(i int) any { return rv.Index(i).Interface() }, depth)
	case reflect.Map:
		if rv.Type().Key().Kind() != reflect.String {
			return encErr("cannot encode %s: map keys must be strings", rv.Type())
		}
		if rv.IsNil() {
			e.buf = append(e.buf, "null"...)
			return nil
		}
		return e.reflectMap(rv, depth)
	case reflect.Pointer:
		if rv.IsNil() {
			e.buf = append(e.buf, "null"...)
			return nil
		}
		if depth >= MaxDepth {
			return encErr("pointers nest deeper than %d levels (a cycle?)", MaxDepth)
		}
		return e.value(rv.Elem().Interface(), depth+1)
	case reflect.Interface:
		if rv.IsNil() {
			e.buf = append(e.buf, "null"...)
			return nil
		}
		return e.value(rv.Elem().Interface(), depth)
	case reflect.Struct:
		return encErr("cannot encode struct %s: convert it to map[string]any first", rv.Type())
	default:
		return encErr("cannot encode %s: not a Firestore value type", rv.Type())
	}
	return nil
}

func (e *encoder) int(n int64) {
	e.buf = append(e.buf, `{"$int":"`...)
	e.buf = strconv.AppendInt(e.buf, n, 10)
	e.buf = append(e.buf, `"}`...)
}

func (e *encoder) double(f float64) {
	e.buf = append(e.buf, `{"$double":`...)
	e.buf = appendDouble(e.buf, f)
	e.buf = append(e.buf, '}')
}

func (e *encoder) string(s string) error {
	if !utf8.ValidString(s) {
		return encErr("string %s is not valid UTF-8; Firestore strings must be UTF-8, use []byte for binary data", quoteForMsg(s))
	}
	e.buf = appendQuoted(e.buf, s)
	return nil
}

func (e *encoder) bytes(b []byte) {
	e.buf = append(e.buf, `{"$bytes":"`...)
	e.buf = base64.StdEncoding.AppendEncode(e.buf, b)
	e.buf = append(e.buf, `"}`...)
}

func (e *encoder) timestamp(t time.Time) error {
	t = t.UTC()
	if y := t.Year(); y < 1 || y > 9999 {
		return encErr("timestamp %s is outside Firestore's range (years 0001 to 9999)", t.Format(time.RFC3339Nano))
	}
	e.buf = append(e.buf, `{"$timestamp":"`...)
	e.buf = t.AppendFormat(e.buf, time.RFC3339Nano)
	e.buf = append(e.buf, `"}`...)
	return nil
}

func (e *encoder) geopoint(lat, lng float64) {
	e.buf = append(e.buf, `{"$geopoint":{"latitude":`...)
	e.buf = appendDouble(e.buf, lat)
	e.buf = append(e.buf, `,"longitude":`...)
	e.buf = appendDouble(e.buf, lng)
	e.buf = append(e.buf, `}}`...)
}

func (e *encoder) ref(path string) error {
	if msg := checkRefPath(path); msg != "" {
		return encErr("*firestore.DocumentRef with Path %s: %s", quoteForMsg(path), msg)
	}
	e.buf = append(e.buf, `{"$ref":`...)
	e.buf = appendQuoted(e.buf, path)
	e.buf = append(e.buf, '}')
	return nil
}

func (e *encoder) vector(n int, at func(int) float64) {
	e.buf = append(e.buf, `{"$vector":[`...)
	for i := range n {
		if i > 0 {
			e.buf = append(e.buf, ',')
		}
		e.buf = appendDouble(e.buf, at(i))
	}
	e.buf = append(e.buf, "]}"...)
}

func (e *encoder) array(n int, at func(int) any, depth int) error {
	if depth >= MaxDepth {
		return encErr("maps and arrays nest deeper than %d levels (a cycle?)", MaxDepth)
	}
	e.buf = append(e.buf, '[')
	for i := range n {
		if i > 0 {
			e.buf = append(e.buf, ',')
		}
		if err := e.value(at(i), depth+1); err != nil {
			return atIndex(err, i)
		}
	}
	e.buf = append(e.buf, ']')
	return nil
}

func (e *encoder) mapAny(m map[string]any, depth int) error {
	if depth >= MaxDepth {
		return encErr("maps and arrays nest deeper than %d levels (a cycle?)", MaxDepth)
	}
	start := len(e.keys)
	for k := range m {
		e.keys = append(e.keys, k)
	}
	end := len(e.keys)
	slices.Sort(e.keys[start:end])
	escape := end-start == 1 && strings.HasPrefix(e.keys[start], "$")
	if escape {
		e.buf = append(e.buf, `{"$map":`...)
	}
	e.buf = append(e.buf, '{')
	for i := start; i < end; i++ {
		// Nested maps push above end and truncate back, so e.keys[i] stays
		// valid even when the backing array is reallocated.
		k := e.keys[i]
		if i > start {
			e.buf = append(e.buf, ',')
		}
		if err := e.key(k); err != nil {
			e.keys = e.keys[:start]
			return err
		}
		if err := e.value(m[k], depth+1); err != nil {
			e.keys = e.keys[:start]
			return atKey(err, k)
		}
	}
	e.keys = e.keys[:start]
	e.buf = append(e.buf, '}')
	if escape {
		e.buf = append(e.buf, '}')
	}
	return nil
}

func (e *encoder) reflectMap(rv reflect.Value, depth int) error {
	if depth >= MaxDepth {
		return encErr("maps and arrays nest deeper than %d levels (a cycle?)", MaxDepth)
	}
	keys := rv.MapKeys()
	slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(a.String(), b.String()) })
	escape := len(keys) == 1 && strings.HasPrefix(keys[0].String(), "$")
	if escape {
		e.buf = append(e.buf, `{"$map":`...)
	}
	e.buf = append(e.buf, '{')
	for i, kv := range keys {
		k := kv.String()
		if i > 0 {
			e.buf = append(e.buf, ',')
		}
		if err := e.key(k); err != nil {
			return err
		}
		if err := e.value(rv.MapIndex(kv).Interface(), depth+1); err != nil {
			return atKey(err, k)
		}
	}
	e.buf = append(e.buf, '}')
	if escape {
		e.buf = append(e.buf, '}')
	}
	return nil
}

func (e *encoder) key(k string) error {
	if !utf8.ValidString(k) {
		return encErr("map key %s is not valid UTF-8; Firestore field names must be UTF-8", quoteForMsg(k))
	}
	e.buf = appendQuoted(e.buf, k)
	e.buf = append(e.buf, ':')
	return nil
}

// appendDouble writes a float64 as the format wants it everywhere a double
// appears: a JSON number for finite values other than negative zero, and
// one of the strings "NaN", "Infinity", "-Infinity", "-0" otherwise.
func appendDouble(b []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, `"NaN"`...)
	case math.IsInf(f, 1):
		return append(b, `"Infinity"`...)
	case math.IsInf(f, -1):
		return append(b, `"-Infinity"`...)
	case f == 0 && math.Signbit(f):
		return append(b, `"-0"`...)
	}
	// The shortest decimal that reads back as the same float64, in plain
	// notation for ordinary magnitudes and exponent notation for very large
	// or very small ones (the ECMAScript number-to-string ranges).
	abs := math.Abs(f)
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		n := len(b)
		b = strconv.AppendFloat(b, f, 'e', -1, 64)
		// Drop the zero padding of a one-digit negative exponent: 1e-07 -> 1e-7.
		if m := len(b) - n; m >= 4 && b[len(b)-4] == 'e' && b[len(b)-3] == '-' && b[len(b)-2] == '0' {
			b[len(b)-2] = b[len(b)-1]
			b = b[:len(b)-1]
		}
		return b
	}
	return strconv.AppendFloat(b, f, 'f', -1, 64)
}

const hexDigits = "0123456789abcdef"

// appendQuoted writes s as a JSON string. s must be valid UTF-8. Only what
// JSON requires is escaped: quote, backslash and control characters.
func appendQuoted(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// quoteForMsg quotes a possibly long or invalid string for an error message.
func quoteForMsg(s string) string {
	if len(s) > 60 {
		cut := 60
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return strconv.Quote(s[:cut]) + "..."
	}
	return strconv.Quote(s)
}
