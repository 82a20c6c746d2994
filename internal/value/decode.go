package value

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"cloud.google.com/go/firestore"
	pb "cloud.google.com/go/firestore/apiv1/firestorepb"
	"google.golang.org/genproto/googleapis/type/latlng"
)

// Decode parses one JSON value in the format described in the package
// documentation and returns it as the Go types DocumentSnapshot.Data uses:
// nil, bool, int64, float64, string, []byte, time.Time (in UTC),
// *latlng.LatLng, *firestore.DocumentRef, []any, map[string]any or
// firestore.Vector64. Arrays and maps are never nil, even when empty.
//
// The input must be exactly one JSON value, optionally surrounded by white
// space. Strings must be valid UTF-8 (escaped lone surrogates are rejected
// too) and objects must not repeat a key. Errors are [*PathError] values
// that name the offending value's JSON path.
func Decode(data []byte) (any, error) {
	return decode(data, false, 0)
}

// DecodeProto parses one JSON value like [Decode] (same format, same
// errors) but returns it as a Firestore protocol buffer value, the form the
// Firestore API writes, without building the Go values first. A vector is
// the map Firestore stores it as ({"__type__": "__vector__", "value":
// [...]}), a reference its full document name.
func DecodeProto(data []byte) (*pb.Value, error) {
	v, err := decode(data, true, 0)
	if err != nil {
		return nil, err
	}
	return v.(*pb.Value), nil
}

// CheckProto checks data exactly as [DecodeProto] does (it fails on the
// same input with the same error) but builds only the top buildLevels
// levels of the value (the value itself is level 1; at least 1 is built).
// A map or array whose elements lie deeper is returned empty. It is the
// cheap way to validate a document line: with 2 levels, the line's own
// keys are built and the document's fields only checked.
func CheckProto(data []byte, buildLevels int) (*pb.Value, error) {
	v, err := decode(data, true, max(buildLevels, 1))
	if err != nil {
		return nil, err
	}
	return v.(*pb.Value), nil
}

func decode(data []byte, proto bool, keep int) (any, error) {
	d := decoderPool.Get().(*decoder)
	defer d.release()
	d.data, d.pos, d.proto, d.keep = data, 0, proto, keep
	d.ws()
	v, err := d.value(0)
	if err == nil {
		d.ws()
		if d.pos < len(d.data) {
			err = d.syntaxErr("after top-level value")
		}
	}
	if err != nil {
		return nil, finish(err)
	}
	return v, nil
}

// DecodeMap parses a document's fields: like [Decode], but the value must
// be a JSON object (plain, or in the escaped {"$map": {...}} form).
func DecodeMap(data []byte) (map[string]any, error) {
	v, err := Decode(data)
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		msg := "want a JSON object of document fields, got " + describe(v)
		if t := bytes.TrimLeft(data, " \t\r\n"); len(t) > 0 && t[0] == '{' {
			msg += `; a document whose only field name starts with "$" is written {"$map": {...}}`
		}
		return nil, &PathError{Path: "$", Offset: 0, Msg: msg}
	}
	return m, nil
}

// describe names the kind of a decoded value for error messages.
func describe(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case int64:
		return "an integer"
	case float64:
		return "a double"
	case string:
		return "a string"
	case []byte:
		return "bytes"
	case time.Time:
		return "a timestamp"
	case *latlng.LatLng:
		return "a geopoint"
	case *firestore.DocumentRef:
		return "a reference"
	case firestore.Vector64:
		return "a vector"
	case []any:
		return "an array"
	default:
		return "a map"
	}
}

// skipMaxDepth bounds the JSON nesting that skip accepts. A legal value
// nests at most two JSON levels per Firestore level ({"$map": {...}}) plus
// a typed leaf, so this never rejects what value would accept.
const skipMaxDepth = 2*MaxDepth + 8

// decoder is a recursive-descent JSON parser that builds Firestore values
// directly, with no intermediate tree. value and its helpers start on the
// first byte of a value (white space already skipped) and leave pos just
// after it.
type decoder struct {
	data []byte
	pos  int
	// proto makes every value a *pb.Value (see DecodeProto); with keep > 0
	// only the values nested less than keep deep are built (see
	// CheckProto).
	proto bool
	keep  int
	// out receives the protocol buffer encoding (see AppendFieldsProto).
	out []byte

	// Scratch stacks for the members of the objects and the elements of
	// the arrays being parsed. Each container pushes above its parent's
	// entries and pops them when done, so that maps and slices are made
	// once at their final size. Decoders are pooled to keep the stacks.
	members []member
	elems   []any

	// keys interns short object keys: the documents of one import share
	// their field names, and a pooled decoder sees them again and again.
	keys map[string]string
}

const (
	maxInternedKeys   = 1024
	maxInternedKeyLen = 64
)

type member struct {
	key string
	val any
	off int // where the value starts, for a duplicate-key error
}

var decoderPool = sync.Pool{New: func() any { return new(decoder) }}

func (d *decoder) release() {
	d.data = nil
	// Entries are cleared as they are popped; only drop oversized stacks.
	if cap(d.members) > 1<<12 || cap(d.elems) > 1<<16 {
		return
	}
	decoderPool.Put(d)
}

func (d *decoder) ws() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

// peek returns the current byte, or 0 at the end of input (0 is never
// valid JSON outside a string, so it always leads to a syntax error).
func (d *decoder) peek() byte {
	if d.pos < len(d.data) {
		return d.data[d.pos]
	}
	return 0
}

func (d *decoder) syntaxErr(context string) error {
	if d.pos >= len(d.data) {
		return newErr(d.pos, fmt.Sprintf("unexpected end of JSON input (byte %d)", d.pos))
	}
	return newErr(d.pos, fmt.Sprintf("invalid character %s %s (byte %d)", charForMsg(d.data[d.pos:]), context, d.pos))
}

func charForMsg(b []byte) string {
	r, size := utf8.DecodeRune(b)
	if r == utf8.RuneError && size <= 1 {
		return fmt.Sprintf("byte 0x%02x", b[0])
	}
	return strconv.QuoteRune(r)
}

func (d *decoder) depthErr() error {
	return newErr(d.pos, fmt.Sprintf("maps and arrays nest deeper than %d levels", MaxDepth))
}

func (d *decoder) value(depth int) (any, error) {
	if !d.proto {
		return d.goValue(depth)
	}
	if !d.builds(depth) { // check only
		if d.peek() == '"' {
			_, _, err := d.scanString()
			return nil, err
		}
		_, err := d.goValue(depth)
		return nil, err
	}
	if d.peek() == '"' { // the most common value: no boxing on the way
		s, err := d.str()
		if err != nil {
			return nil, err
		}
		return &pb.Value{ValueType: &pb.Value_StringValue{StringValue: s}}, nil
	}
	v, err := d.goValue(depth)
	if err != nil {
		return nil, err
	}
	if p, ok := v.(*pb.Value); ok { // maps and arrays
		return p, nil
	}
	return protoLeaf(v), nil
}

// goValue parses a value; in proto mode maps and arrays are already
// *pb.Value, other values are Go values still.
func (d *decoder) goValue(depth int) (any, error) {
	switch c := d.peek(); {
	case c == '{':
		return d.object(depth)
	case c == '[':
		return d.array(depth)
	case c == '"':
		return d.str()
	case c == 't':
		return true, d.literal("true")
	case c == 'f':
		return false, d.literal("false")
	case c == 'n':
		return nil, d.literal("null")
	case c == '-' || '0' <= c && c <= '9':
		return d.number()
	default:
		return nil, d.syntaxErr("looking for beginning of value")
	}
}

func (d *decoder) literal(word string) error {
	for i := 0; i < len(word); i++ {
		if d.pos >= len(d.data) || d.data[d.pos] != word[i] {
			return d.syntaxErr("in literal " + word)
		}
		d.pos++
	}
	return nil
}

// object parses an object that may be a typed form.
func (d *decoder) object(depth int) (any, error) {
	start := d.pos
	d.pos++
	d.ws()
	if d.peek() == '}' {
		if depth >= MaxDepth {
			return nil, d.depthErr()
		}
		d.pos++
		return d.emptyMapAt(depth), nil
	}
	k, err := d.objectKey()
	if err != nil {
		return nil, err
	}
	end, isTyped, err := d.typedForm(k)
	if err != nil {
		return nil, err
	}
	if isTyped {
		v, err := d.typed(k, start, end, depth)
		if err != nil {
			return nil, err
		}
		d.pos = end
		return v, nil
	}
	if depth >= MaxDepth {
		return nil, d.depthErr()
	}
	return d.objectBody(k, depth)
}

// typedForm reports whether the object whose first key k has just been
// read is a typed form: k starts with "$" and is the object's only key (the
// value is skipped to find out). It leaves pos at k's value and returns
// where the object ends.
func (d *decoder) typedForm(k string) (end int, ok bool, err error) {
	if len(k) == 0 || k[0] != '$' {
		return 0, false, nil
	}
	valStart := d.pos
	if err := d.skip(0); err != nil {
		return 0, false, atKey(err, k)
	}
	d.ws()
	ok, end = d.peek() == '}', d.pos+1
	d.pos = valStart
	return end, ok, nil
}

// plainObject parses an object whose keys are all field names (the inside
// of {"$map": ...}).
func (d *decoder) plainObject(depth int) (any, error) {
	if d.peek() != '{' {
		return nil, d.syntaxErr("looking for beginning of object")
	}
	if depth >= MaxDepth {
		return nil, d.depthErr()
	}
	d.pos++
	d.ws()
	if d.peek() == '}' {
		d.pos++
		return d.emptyMapAt(depth), nil
	}
	k, err := d.objectKey()
	if err != nil {
		return nil, err
	}
	return d.objectBody(k, depth)
}

// objectKey reads `"key" :` and the white space after it.
func (d *decoder) objectKey() (string, error) {
	if d.peek() != '"' {
		return "", d.syntaxErr("looking for beginning of object key string")
	}
	raw, escaped, err := d.scanString()
	if err != nil {
		return "", err
	}
	var k string
	switch {
	case escaped:
		k = unescape(raw)
	case len(raw) > maxInternedKeyLen:
		k = string(raw)
	default:
		var ok bool
		if k, ok = d.keys[string(raw)]; !ok { // the lookup does not allocate
			k = string(raw)
			if d.keys == nil {
				d.keys = make(map[string]string)
			}
			if len(d.keys) < maxInternedKeys {
				d.keys[k] = k
			}
		}
	}
	d.ws()
	if d.peek() != ':' {
		return "", d.syntaxErr("after object key")
	}
	d.pos++
	d.ws()
	return k, nil
}

// objectBody parses the members of an object whose first key k has been
// read; pos is at k's value.
func (d *decoder) objectBody(k string, depth int) (any, error) {
	base := len(d.members)
	defer d.popMembers(base)
	for {
		off := d.pos
		v, err := d.value(depth + 1)
		if err != nil {
			return nil, atKey(err, k)
		}
		d.members = append(d.members, member{k, v, off})
		d.ws()
		switch d.peek() {
		case ',':
			d.pos++
			d.ws()
		case '}':
			d.pos++
			members := d.members[base:]
			if d.proto {
				if !d.builds(depth + 1) {
					return d.emptyMapAt(depth), checkKeys(members)
				}
				return protoMap(members)
			}
			m := make(map[string]any, len(members))
			for i, mb := range members {
				m[mb.key] = mb.val
				if len(m) != i+1 {
					return nil, dupKey(mb)
				}
			}
			return m, nil
		default:
			return nil, d.syntaxErr("after object key:value pair")
		}
		if k, err = d.objectKey(); err != nil {
			return nil, err
		}
	}
}

func (d *decoder) popMembers(base int) {
	clear(d.members[base:])
	d.members = d.members[:base]
}

func (d *decoder) array(depth int) (any, error) {
	if depth >= MaxDepth {
		return nil, d.depthErr()
	}
	d.pos++
	d.ws()
	if d.peek() == ']' {
		d.pos++
		if d.proto {
			return d.emptyArrayAt(depth), nil
		}
		return []any{}, nil
	}
	base := len(d.elems)
	defer func() {
		clear(d.elems[base:])
		d.elems = d.elems[:base]
	}()
	for {
		v, err := d.value(depth + 1)
		if err != nil {
			return nil, atIndex(err, len(d.elems)-base)
		}
		d.elems = append(d.elems, v)
		d.ws()
		switch d.peek() {
		case ',':
			d.pos++
			d.ws()
		case ']':
			d.pos++
			if d.proto && !d.builds(depth+1) {
				return d.emptyArrayAt(depth), nil
			}
			if d.proto {
				a := make([]*pb.Value, len(d.elems)-base)
				for i, e := range d.elems[base:] {
					a[i] = e.(*pb.Value)
				}
				return &pb.Value{ValueType: &pb.Value_ArrayValue{ArrayValue: &pb.ArrayValue{Values: a}}}, nil
			}
			a := make([]any, len(d.elems)-base)
			copy(a, d.elems[base:])
			return a, nil
		default:
			return nil, d.syntaxErr("after array element")
		}
	}
}

// number parses a plain JSON number: an integer literal is an int64 (an
// error when it does not fit), anything else a float64.
func (d *decoder) number() (any, error) {
	start := d.pos
	text, isInt, err := d.scanNumber()
	if err != nil {
		return nil, err
	}
	if isInt {
		n, ok := parseInt(text)
		if !ok {
			return nil, newErr(start, fmt.Sprintf("integer %s does not fit in int64; for a double write {\"$double\": %s.0}", text, text))
		}
		return n, nil
	}
	f, err := strconv.ParseFloat(string(text), 64)
	if err != nil {
		return nil, newErr(start, fmt.Sprintf("number %s is out of the range of a double", text))
	}
	return f, nil
}

// scanNumber checks the JSON number grammar and returns the literal and
// whether it has neither fraction nor exponent.
func (d *decoder) scanNumber() (text []byte, isInt bool, err error) {
	start := d.pos
	i := d.pos
	data := d.data
	digits := func() int {
		n := 0
		for i < len(data) && '0' <= data[i] && data[i] <= '9' {
			i++
			n++
		}
		return n
	}
	bad := func(context string) ([]byte, bool, error) {
		d.pos = i
		return nil, false, d.syntaxErr(context)
	}
	if i < len(data) && data[i] == '-' {
		i++
	}
	switch {
	case i < len(data) && data[i] == '0':
		i++
	case i < len(data) && '1' <= data[i] && data[i] <= '9':
		digits()
	default:
		return bad("in numeric literal")
	}
	isInt = true
	if i < len(data) && data[i] == '.' {
		i++
		isInt = false
		if digits() == 0 {
			return bad("after decimal point in numeric literal")
		}
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		isInt = false
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		if digits() == 0 {
			return bad("in exponent of numeric literal")
		}
	}
	d.pos = i
	return data[start:i], isInt, nil
}

// parseDecimal parses the string of a {"$int": "..."} form: an optional
// sign and at least one decimal digit.
func parseDecimal(b []byte) (int64, string) {
	digits := b
	if len(digits) > 0 && (digits[0] == '-' || digits[0] == '+') {
		digits = digits[1:]
	}
	ok := len(digits) > 0
	for _, c := range digits {
		if c < '0' || c > '9' {
			ok = false
			break
		}
	}
	if !ok {
		return 0, fmt.Sprintf("invalid int64 %s (want a decimal string like \"-42\")", quoteForMsg(string(b)))
	}
	// Drop leading zeros, keeping one digit, so that parseInt's length
	// check only sees significant digits.
	for len(digits) > 1 && digits[0] == '0' {
		digits = digits[1:]
	}
	n, inRange := digitsToInt(b[0] == '-', digits)
	if !inRange {
		return 0, fmt.Sprintf("%s is out of the int64 range", quoteForMsg(string(b)))
	}
	return n, ""
}

// parseInt parses a JSON integer literal (already checked by scanNumber)
// without going through float64 or allocating.
func parseInt(b []byte) (int64, bool) {
	neg := b[0] == '-'
	if neg {
		b = b[1:]
	}
	return digitsToInt(neg, b)
}

// digitsToInt converts decimal digits without leading zeros, negated if
// neg, reporting whether the result fits in an int64.
func digitsToInt(neg bool, b []byte) (int64, bool) {
	if len(b) > 19 {
		return 0, false
	}
	var u uint64
	for _, c := range b {
		u = u*10 + uint64(c-'0') // 19 digits cannot overflow uint64
	}
	if neg {
		if u > 1<<63 {
			return 0, false
		}
		return -int64(u), true // -(1<<63) wraps to MinInt64 as wanted
	}
	if u > 1<<63-1 {
		return 0, false
	}
	return int64(u), true
}

// scanString checks a JSON string at pos and returns its raw contents
// (between the quotes) and whether they contain escapes.
func (d *decoder) scanString() (raw []byte, escaped bool, err error) {
	data := d.data
	start := d.pos + 1
	i := start
	for i < len(data) {
		c := data[i]
		switch {
		case c == '"':
			d.pos = i + 1
			return data[start:i], escaped, nil
		case c == '\\':
			escaped = true
			n, msg := checkEscape(data[i:])
			if msg != "" {
				d.pos = i
				return nil, false, newErr(i, fmt.Sprintf("%s in string literal (byte %d)", msg, i))
			}
			i += n
		case c < 0x20:
			d.pos = i
			return nil, false, d.syntaxErr("in string literal (control characters must be escaped)")
		case c < utf8.RuneSelf:
			i++
		default:
			r, size := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && size == 1 {
				d.pos = i
				return nil, false, newErr(i, fmt.Sprintf("invalid UTF-8 byte 0x%02x in string literal (byte %d)", c, i))
			}
			i += size
		}
	}
	d.pos = i
	return nil, false, d.syntaxErr("in string literal")
}

// checkEscape checks the escape sequence at the start of b and returns its
// length, or a message saying what is wrong with it. A \u escape of a
// surrogate must be a high one directly followed by a low one.
func checkEscape(b []byte) (int, string) {
	if len(b) < 2 {
		return 0, "unterminated escape"
	}
	switch b[1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return 2, ""
	case 'u':
		r, ok := hex4(b[2:])
		if !ok {
			return 0, "invalid \\u escape"
		}
		if !utf16.IsSurrogate(r) {
			return 6, ""
		}
		if r < 0xDC00 && len(b) >= 12 && b[6] == '\\' && b[7] == 'u' {
			if r2, ok := hex4(b[8:]); ok && 0xDC00 <= r2 && r2 <= 0xDFFF {
				return 12, ""
			}
		}
		return 0, fmt.Sprintf("lone UTF-16 surrogate \\u%04x (not valid Unicode)", r)
	default:
		return 0, fmt.Sprintf("invalid escape %s", charForMsg(b[1:]))
	}
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

func (d *decoder) str() (string, error) {
	raw, escaped, err := d.scanString()
	if err != nil {
		return "", err
	}
	if !escaped {
		return string(raw), nil
	}
	return unescape(raw), nil
}

// unescape decodes the contents of a string checked by scanString.
func unescape(raw []byte) string {
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			out = append(out, c)
			i++
			continue
		}
		switch raw[i+1] {
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, _ := hex4(raw[i+2:])
			if utf16.IsSurrogate(r) {
				r2, _ := hex4(raw[i+8:])
				r = utf16.DecodeRune(r, r2)
				i += 6
			}
			out = utf8.AppendRune(out, r)
			i += 6
			continue
		default: // '"', '\\', '/'
			out = append(out, raw[i+1])
		}
		i += 2
	}
	return string(out)
}

// skip checks and passes over one value without building it.
func (d *decoder) skip(depth int) error {
	switch c := d.peek(); {
	case c == '{' || c == '[':
		if depth >= skipMaxDepth {
			return d.depthErr()
		}
		closer := byte('}')
		if c == '[' {
			closer = ']'
		}
		d.pos++
		d.ws()
		if d.peek() == closer {
			d.pos++
			return nil
		}
		for i := 0; ; i++ {
			if c == '{' {
				keyAt := d.pos
				if d.peek() != '"' {
					return d.syntaxErr("looking for beginning of object key string")
				}
				if _, _, err := d.scanString(); err != nil {
					return err
				}
				d.ws()
				if d.peek() != ':' {
					return d.syntaxErr("after object key")
				}
				d.pos++
				d.ws()
				if err := d.skip(depth + 1); err != nil {
					return atKey(err, d.keyAt(keyAt))
				}
			} else if err := d.skip(depth + 1); err != nil {
				return atIndex(err, i)
			}
			d.ws()
			switch d.peek() {
			case ',':
				d.pos++
				d.ws()
			case closer:
				d.pos++
				return nil
			default:
				if c == '{' {
					return d.syntaxErr("after object key:value pair")
				}
				return d.syntaxErr("after array element")
			}
		}
	case c == '"':
		_, _, err := d.scanString()
		return err
	case c == 't':
		return d.literal("true")
	case c == 'f':
		return d.literal("false")
	case c == 'n':
		return d.literal("null")
	case c == '-' || '0' <= c && c <= '9':
		_, _, err := d.scanNumber()
		return err
	default:
		return d.syntaxErr("looking for beginning of value")
	}
}

// keyAt decodes the (already checked) key string at offset at, for an
// error path.
func (d *decoder) keyAt(at int) string {
	saved := d.pos
	d.pos = at
	k, _ := d.str()
	d.pos = saved
	return k
}

// Type tags.
const (
	tagInt       = "$int"
	tagDouble    = "$double"
	tagBytes     = "$bytes"
	tagTimestamp = "$timestamp"
	tagGeopoint  = "$geopoint"
	tagRef       = "$ref"
	tagVector    = "$vector"
	tagMap       = "$map"
)

// typed parses the value of the single-key object data[start:end] whose key
// is tag; pos is at that value, which skip has already checked.
func (d *decoder) typed(tag string, start, end, depth int) (any, error) {
	bad := func(format string, args ...any) error {
		return newErr(start, snippet(d.data[start:end])+": "+fmt.Sprintf(format, args...))
	}
	switch tag {
	case tagInt:
		switch c := d.peek(); {
		case c == '"':
			raw, escaped, _ := d.scanString()
			if escaped {
				raw = []byte(unescape(raw))
			}
			n, msg := parseDecimal(raw)
			if msg != "" {
				return nil, bad("%s", msg)
			}
			return n, nil
		case c == '-' || '0' <= c && c <= '9':
			text, isInt, _ := d.scanNumber()
			if !isInt {
				return nil, bad("$int wants an integer, got %s", text)
			}
			n, ok := parseInt(text)
			if !ok {
				return nil, bad("%s is out of the int64 range", text)
			}
			return n, nil
		default:
			return nil, bad(`$int wants a decimal string like "-42"`)
		}
	case tagDouble:
		f, msg := d.double()
		if msg != "" {
			return nil, bad("%s", msg)
		}
		return f, nil
	case tagBytes:
		if d.peek() != '"' {
			return nil, bad("$bytes wants a standard base64 string")
		}
		raw, escaped, _ := d.scanString()
		if escaped {
			raw = []byte(unescape(raw))
		}
		b := make([]byte, base64.StdEncoding.DecodedLen(len(raw)))
		n, err := base64.StdEncoding.Strict().Decode(b, raw)
		if err != nil {
			return nil, bad("invalid standard base64 (%v)", err)
		}
		return b[:n], nil
	case tagTimestamp:
		if d.peek() != '"' {
			return nil, bad(`$timestamp wants an RFC 3339 string like "2024-01-02T03:04:05.123456789Z"`)
		}
		raw, escaped, _ := d.scanString()
		if escaped {
			raw = []byte(unescape(raw))
		}
		t, msg := parseTimestamp(raw)
		if msg != "" {
			return nil, bad("%s", msg)
		}
		return t, nil
	case tagRef:
		if d.peek() != '"' {
			return nil, bad("$ref wants a document name string like \"projects/P/databases/(default)/documents/users/alice\"")
		}
		p, _ := d.str()
		if msg := checkRefPath(p); msg != "" {
			return nil, bad("%s", msg)
		}
		return newRef(p), nil
	case tagGeopoint:
		return d.geopoint(bad)
	case tagVector:
		return d.vector(bad)
	case tagMap:
		if d.peek() != '{' {
			return nil, bad("$map wants an object")
		}
		m, err := d.plainObject(depth)
		if err != nil {
			return nil, atKey(err, tagMap)
		}
		return m, nil
	default:
		return nil, bad("unknown type tag %s (known: $int, $double, $bytes, $timestamp, $geopoint, $ref, $vector, $map); "+
			`a map whose only key starts with "$" is written {"$map": {...}}`, quoteForMsg(tag))
	}
}

// double reads a double as the format writes it: a JSON number, or one of
// the strings "NaN", "Infinity", "-Infinity", "-0".
func (d *decoder) double() (float64, string) {
	switch c := d.peek(); {
	case c == '-' || '0' <= c && c <= '9':
		text, _, _ := d.scanNumber()
		f, err := strconv.ParseFloat(string(text), 64)
		if err != nil {
			return 0, fmt.Sprintf("number %s is out of the range of a double", text)
		}
		return f, ""
	case c == '"':
		s, _ := d.str()
		switch s {
		case "NaN":
			return nan, ""
		case "Infinity":
			return posInf, ""
		case "-Infinity":
			return negInf, ""
		case "-0":
			return negZero, ""
		}
		return 0, fmt.Sprintf(`invalid double %s (want a number, or "NaN", "Infinity", "-Infinity", "-0")`, quoteForMsg(s))
	default:
		return 0, `want a double: a number, or "NaN", "Infinity", "-Infinity", "-0"`
	}
}

func (d *decoder) geopoint(bad func(string, ...any) error) (any, error) {
	const want = `$geopoint wants {"latitude": number, "longitude": number}`
	if d.peek() != '{' {
		return nil, bad(want)
	}
	d.pos++
	d.ws()
	var lat, lng float64
	var haveLat, haveLng bool
	for d.peek() != '}' {
		k, _ := d.objectKey()
		f, msg := d.double()
		if msg != "" {
			return nil, bad("%s: %s", k, msg)
		}
		switch {
		case k == "latitude" && !haveLat:
			lat, haveLat = f, true
		case k == "longitude" && !haveLng:
			lng, haveLng = f, true
		default:
			return nil, bad("%s; unexpected or repeated key %s", want, quoteForMsg(k))
		}
		d.ws()
		if d.peek() == ',' {
			d.pos++
			d.ws()
		}
	}
	if !haveLat || !haveLng {
		return nil, bad(want)
	}
	return &latlng.LatLng{Latitude: lat, Longitude: lng}, nil
}

func (d *decoder) vector(bad func(string, ...any) error) (any, error) {
	if d.peek() != '[' {
		return nil, bad("$vector wants an array of numbers")
	}
	d.pos++
	d.ws()
	v := firestore.Vector64{}
	for d.peek() != ']' {
		f, msg := d.double()
		if msg != "" {
			return nil, bad("element %d: %s", len(v), msg)
		}
		v = append(v, f)
		d.ws()
		if d.peek() == ',' {
			d.pos++
			d.ws()
		}
	}
	return v, nil
}

// parseTimestamp parses an RFC 3339 date-time with at most nanosecond
// precision, strictly: no leap seconds, offsets within ±23:59, a 'T' (or
// 't') between date and time, and a result in years 1 to 9999 once in UTC.
func parseTimestamp(b []byte) (time.Time, string) {
	fail := func(why string) (time.Time, string) {
		return time.Time{}, fmt.Sprintf("invalid timestamp %s: %s (want RFC 3339, like \"2024-01-02T03:04:05.123456789Z\")", quoteForMsg(string(b)), why)
	}
	num := func(s []byte) int {
		n := 0
		for _, c := range s {
			if c < '0' || c > '9' {
				return -1
			}
			n = n*10 + int(c-'0')
		}
		return n
	}
	if len(b) < 19 || b[4] != '-' || b[7] != '-' || (b[10] != 'T' && b[10] != 't') || b[13] != ':' || b[16] != ':' {
		return fail("not of the form YYYY-MM-DDTHH:MM:SS")
	}
	year, month, day := num(b[0:4]), num(b[5:7]), num(b[8:10])
	hour, minute, sec := num(b[11:13]), num(b[14:16]), num(b[17:19])
	if year < 0 || month < 1 || month > 12 || day < 1 || day > daysIn(month, year) {
		return fail("no such date")
	}
	if hour < 0 || hour > 23 || minute < 0 || minute > 59 || sec < 0 || sec > 59 {
		return fail("no such time of day (leap seconds are not supported)")
	}
	i := 19
	nsec := 0
	if i < len(b) && b[i] == '.' {
		i++
		n := 0
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			if n == 9 {
				return fail("more than 9 fractional digits (Firestore keeps at most nanoseconds)")
			}
			nsec = nsec*10 + int(b[i]-'0')
			n++
			i++
		}
		if n == 0 {
			return fail("no digits after the decimal point")
		}
		for ; n < 9; n++ {
			nsec *= 10
		}
	}
	offset := 0
	switch rest := b[i:]; {
	case len(rest) == 1 && (rest[0] == 'Z' || rest[0] == 'z'):
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		oh, om := num(rest[1:3]), num(rest[4:6])
		if oh < 0 || oh > 23 || om < 0 || om > 59 {
			return fail("invalid UTC offset")
		}
		offset = (oh*60 + om) * 60
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return fail(`missing or invalid time zone (use "Z" or an offset like "+02:00")`)
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC).Add(-time.Duration(offset) * time.Second)
	if y := t.Year(); y < 1 || y > 9999 {
		return fail("outside Firestore's range (years 0001 to 9999 in UTC)")
	}
	return t, ""
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	default:
		return 31
	}
}

// checkRefPath checks that p is a document's full resource name and
// returns what is wrong with it, or "".
func checkRefPath(p string) string {
	const want = "want a document name like projects/PROJECT/databases/DATABASE/documents/COLLECTION/DOC"
	if !utf8.ValidString(p) {
		return "reference " + quoteForMsg(p) + " is not valid UTF-8"
	}
	rest, ok := strings.CutPrefix(p, "projects/")
	if !ok {
		return "reference " + quoteForMsg(p) + " does not start with projects/; " + want
	}
	for _, next := range []string{"databases/", "documents/"} {
		var id string
		id, rest, ok = strings.Cut(rest, "/")
		if !ok || id == "" || !strings.HasPrefix(rest, next) {
			return "reference " + quoteForMsg(p) + " is not a document name; " + want
		}
		rest = rest[len(next):]
	}
	n := 0
	for {
		seg, tail, more := strings.Cut(rest, "/")
		if seg == "" {
			return "reference " + quoteForMsg(p) + " has an empty path segment; " + want
		}
		n++
		if !more {
			break
		}
		rest = tail
	}
	if n%2 != 0 {
		return "reference " + quoteForMsg(p) + " names a collection, not a document; " + want
	}
	return ""
}

// newRef builds a detached DocumentRef for a name checked by checkRefPath:
// Path and ID are set, and so is the Parent chain (each CollectionRef with
// its Path, ID and Parent). The refs belong to no client: only their
// exported fields are meaningful (see the package documentation).
func newRef(p string) *firestore.DocumentRef {
	// Skip "projects/P/databases/D/documents/".
	i := 0
	for slashes := 0; slashes < 5; i++ {
		if p[i] == '/' {
			slashes++
		}
	}
	var doc *firestore.DocumentRef
	for {
		j := i + strings.IndexByte(p[i:], '/')
		coll := &firestore.CollectionRef{Parent: doc, Path: p[:j], ID: p[i:j]}
		k := strings.IndexByte(p[j+1:], '/')
		if k < 0 {
			return &firestore.DocumentRef{Parent: coll, Path: p, ID: p[j+1:]}
		}
		k += j + 1
		doc = &firestore.DocumentRef{Parent: coll, Path: p[:k], ID: p[j+1 : k]}
		i = k + 1
	}
}
