package value

import (
	"math"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/genproto/googleapis/type/latlng"
	"google.golang.org/protobuf/encoding/protowire"
)

// Field numbers of google.firestore.v1.Value and the messages in it.
const (
	wireBool      = 1
	wireInt       = 2
	wireDouble    = 3
	wireRef       = 5
	wireMap       = 6
	wireGeo       = 8
	wireArray     = 9
	wireTimestamp = 10
	wireNull      = 11
	wireString    = 17
	wireBytes     = 18

	wireMapFields   = 1 // MapValue.fields
	wireArrayValues = 1 // ArrayValue.values
	wireEntryKey    = 1 // map entry key
	wireEntryValue  = 2 // map entry value
)

// AppendFieldsProto appends to dst the protocol buffer encoding of a
// document's fields, given as JSON in the format of this package (an
// object, plain or in the escaped {"$map": {...}} form): one map entry
// (string key, google.firestore.v1.Value) per field, each as field num of
// the enclosing message, as in Document.fields (2) or MapValue.fields (1).
// It accepts exactly what [DecodeMap] accepts, with the same errors, and
// encodes what [DecodeProto] would build, without building it: the bytes
// can go straight into a request.
func AppendFieldsProto(dst []byte, num protowire.Number, data []byte) ([]byte, error) {
	d := decoderPool.Get().(*decoder)
	defer d.release()
	d.data, d.pos, d.proto, d.keep, d.out = data, 0, false, 0, dst
	d.ws()
	err := d.wFields(num)
	if err == nil {
		d.ws()
		if d.pos < len(d.data) {
			err = d.syntaxErr("after top-level value")
		}
	}
	out := d.out
	d.out = nil
	if err != nil {
		// Errors are rare: DecodeMap words them.
		if _, derr := DecodeMap(data); derr != nil {
			return dst, derr
		}
		return dst, finish(err)
	}
	return out, nil
}

// wFields encodes the top-level object of fields.
func (d *decoder) wFields(num protowire.Number) error {
	if d.peek() != '{' {
		return d.syntaxErr("looking for beginning of object")
	}
	d.pos++
	d.ws()
	if d.peek() == '}' {
		d.pos++
		return nil
	}
	k, err := d.objectKey()
	if err != nil {
		return err
	}
	end, isTyped, err := d.typedForm(k)
	if err != nil {
		return err
	}
	if isTyped { // only {"$map": {...}} is fields
		if k != tagMap {
			return newErr(0, "want a JSON object of document fields")
		}
		if err := d.wPlainObject(0, num); err != nil {
			return atKey(err, tagMap)
		}
		d.pos = end
		return nil
	}
	return d.wEntries(k, 0, num)
}

// openLen starts a length-delimited field; closeLen ends it.
func (d *decoder) openLen(num protowire.Number) int {
	d.out = protowire.AppendTag(d.out, num, protowire.BytesType)
	d.out = append(d.out, 0) // the length, one byte if it fits
	return len(d.out)
}

func (d *decoder) closeLen(start int) {
	n := len(d.out) - start
	if n < 0x80 {
		d.out[start-1] = byte(n)
		return
	}
	k := protowire.SizeVarint(uint64(n))
	d.out = append(d.out, make([]byte, k-1)...)
	copy(d.out[start+k-1:], d.out[start:start+n])
	protowire.AppendVarint(d.out[:start-1], uint64(n))
}

// wValue encodes the value at pos as the fields of a Value message.
func (d *decoder) wValue(depth int) error {
	switch c := d.peek(); {
	case c == '{':
		return d.wObject(depth)
	case c == '[':
		return d.wArray(depth)
	case c == '"':
		raw, escaped, err := d.scanString()
		if err != nil {
			return err
		}
		d.out = protowire.AppendTag(d.out, wireString, protowire.BytesType)
		if escaped {
			d.out = protowire.AppendString(d.out, unescape(raw))
		} else {
			d.out = protowire.AppendBytes(d.out, raw)
		}
		return nil
	case c == 't', c == 'f', c == 'n':
		v, err := d.goValue(depth)
		if err != nil {
			return err
		}
		d.appendLeaf(v)
		return nil
	case c == '-' || '0' <= c && c <= '9':
		v, err := d.number()
		if err != nil {
			return err
		}
		d.appendLeaf(v)
		return nil
	default:
		return d.syntaxErr("looking for beginning of value")
	}
}

// wObject mirrors object: a typed form or a map.
func (d *decoder) wObject(depth int) error {
	start := d.pos
	d.pos++
	d.ws()
	if d.peek() == '}' {
		if depth >= MaxDepth {
			return d.depthErr()
		}
		d.pos++
		d.closeLen(d.openLen(wireMap))
		return nil
	}
	k, err := d.objectKey()
	if err != nil {
		return err
	}
	end, isTyped, err := d.typedForm(k)
	if err != nil {
		return err
	}
	if isTyped {
		if k == tagMap && d.peek() == '{' {
			m := d.openLen(wireMap)
			if err := d.wPlainObject(depth, wireMapFields); err != nil {
				return atKey(err, tagMap)
			}
			d.closeLen(m)
		} else {
			v, err := d.typed(k, start, end, depth)
			if err != nil {
				return err
			}
			d.appendLeaf(v)
		}
		d.pos = end
		return nil
	}
	if depth >= MaxDepth {
		return d.depthErr()
	}
	m := d.openLen(wireMap)
	if err := d.wEntries(k, depth, wireMapFields); err != nil {
		return err
	}
	d.closeLen(m)
	return nil
}

// wPlainObject mirrors plainObject, writing the members as entries of
// field num.
func (d *decoder) wPlainObject(depth int, num protowire.Number) error {
	if d.peek() != '{' {
		return d.syntaxErr("looking for beginning of object")
	}
	if depth >= MaxDepth {
		return d.depthErr()
	}
	d.pos++
	d.ws()
	if d.peek() == '}' {
		d.pos++
		return nil
	}
	k, err := d.objectKey()
	if err != nil {
		return err
	}
	return d.wEntries(k, depth, num)
}

// wEntries mirrors objectBody: the members of an object whose first key k
// has been read, each a map entry of field num.
func (d *decoder) wEntries(k string, depth int, num protowire.Number) error {
	base := len(d.members)
	defer d.popMembers(base)
	for {
		d.members = append(d.members, member{key: k, off: d.pos})
		entry := d.openLen(num)
		d.out = protowire.AppendTag(d.out, wireEntryKey, protowire.BytesType)
		d.out = protowire.AppendString(d.out, k)
		val := d.openLen(wireEntryValue)
		if err := d.wValue(depth + 1); err != nil {
			return atKey(err, k)
		}
		d.closeLen(val)
		d.closeLen(entry)
		d.ws()
		switch d.peek() {
		case ',':
			d.pos++
			d.ws()
		case '}':
			d.pos++
			return checkKeys(d.members[base:])
		default:
			return d.syntaxErr("after object key:value pair")
		}
		var err error
		if k, err = d.objectKey(); err != nil {
			return err
		}
	}
}

// wArray mirrors array.
func (d *decoder) wArray(depth int) error {
	if depth >= MaxDepth {
		return d.depthErr()
	}
	d.pos++
	d.ws()
	a := d.openLen(wireArray)
	if d.peek() == ']' {
		d.pos++
		d.closeLen(a)
		return nil
	}
	for i := 0; ; i++ {
		e := d.openLen(wireArrayValues)
		if err := d.wValue(depth + 1); err != nil {
			return atIndex(err, i)
		}
		d.closeLen(e)
		d.ws()
		switch d.peek() {
		case ',':
			d.pos++
			d.ws()
		case ']':
			d.pos++
			d.closeLen(a)
			return nil
		default:
			return d.syntaxErr("after array element")
		}
	}
}

// appendLeaf encodes a decoded value that is neither a map nor an array,
// as protoLeaf builds it.
func (d *decoder) appendLeaf(v any) {
	b := d.out
	switch x := v.(type) {
	case bool:
		b = protowire.AppendTag(b, wireBool, protowire.VarintType)
		b = protowire.AppendVarint(b, protowire.EncodeBool(x))
	case int64:
		b = protowire.AppendTag(b, wireInt, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(x))
	case float64:
		b = appendWireDouble(b, wireDouble, x)
	case string:
		b = protowire.AppendTag(b, wireString, protowire.BytesType)
		b = protowire.AppendString(b, x)
	case []byte:
		b = protowire.AppendTag(b, wireBytes, protowire.BytesType)
		b = protowire.AppendBytes(b, x)
	case *firestore.DocumentRef:
		b = protowire.AppendTag(b, wireRef, protowire.BytesType)
		b = protowire.AppendString(b, x.Path)
	case time.Time, *latlng.LatLng, firestore.Vector64:
		d.appendMessageLeaf(v)
		return
	default: // nil
		b = protowire.AppendTag(b, wireNull, protowire.VarintType)
		b = protowire.AppendVarint(b, 0)
	}
	d.out = b
}

// appendMessageLeaf encodes the leaves that are messages.
func (d *decoder) appendMessageLeaf(v any) {
	switch x := v.(type) {
	case time.Time: // google.protobuf.Timestamp: seconds 1, nanos 2
		t := d.openLen(wireTimestamp)
		if s := x.Unix(); s != 0 {
			d.out = protowire.AppendTag(d.out, 1, protowire.VarintType)
			d.out = protowire.AppendVarint(d.out, uint64(s))
		}
		if n := x.Nanosecond(); n != 0 {
			d.out = protowire.AppendTag(d.out, 2, protowire.VarintType)
			d.out = protowire.AppendVarint(d.out, uint64(n))
		}
		d.closeLen(t)
	case *latlng.LatLng: // google.type.LatLng: latitude 1, longitude 2
		g := d.openLen(wireGeo)
		if math.Float64bits(x.Latitude) != 0 {
			d.out = appendWireDouble(d.out, 1, x.Latitude)
		}
		if math.Float64bits(x.Longitude) != 0 {
			d.out = appendWireDouble(d.out, 2, x.Longitude)
		}
		d.closeLen(g)
	case firestore.Vector64: // the map Firestore stores a vector as
		m := d.openLen(wireMap)
		e := d.openLen(wireMapFields)
		d.out = protowire.AppendTag(d.out, wireEntryKey, protowire.BytesType)
		d.out = protowire.AppendString(d.out, vectorTypeKey)
		val := d.openLen(wireEntryValue)
		d.out = protowire.AppendTag(d.out, wireString, protowire.BytesType)
		d.out = protowire.AppendString(d.out, vectorTypeValue)
		d.closeLen(val)
		d.closeLen(e)
		e = d.openLen(wireMapFields)
		d.out = protowire.AppendTag(d.out, wireEntryKey, protowire.BytesType)
		d.out = protowire.AppendString(d.out, vectorValuesKey)
		val = d.openLen(wireEntryValue)
		a := d.openLen(wireArray)
		for _, f := range x {
			el := d.openLen(wireArrayValues)
			d.out = appendWireDouble(d.out, wireDouble, f)
			d.closeLen(el)
		}
		d.closeLen(a)
		d.closeLen(val)
		d.closeLen(e)
		d.closeLen(m)
	}
}

func appendWireDouble(b []byte, num protowire.Number, f float64) []byte {
	b = protowire.AppendTag(b, num, protowire.Fixed64Type)
	return protowire.AppendFixed64(b, math.Float64bits(f))
}

// Members calls fn with each key of the JSON object in data, in order, and
// the raw JSON of its value (checked to be well-formed JSON, not decoded:
// see [Decode] and [AppendFieldsProto] for that). It stops at the first
// error, fn's or a syntax error, and returns it. Repeated keys are not
// refused.
func Members(data []byte, fn func(key string, raw []byte) error) error {
	d := decoderPool.Get().(*decoder)
	defer d.release()
	d.data, d.pos = data, 0
	d.ws()
	if d.peek() != '{' {
		return finish(d.syntaxErr("looking for beginning of object"))
	}
	d.pos++
	d.ws()
	if d.peek() == '}' {
		d.pos++
	} else {
		for {
			k, err := d.objectKey()
			if err != nil {
				return finish(err)
			}
			start := d.pos
			if err := d.skip(0); err != nil {
				return finish(atKey(err, k))
			}
			if err := fn(k, d.data[start:d.pos]); err != nil {
				return err
			}
			d.ws()
			if d.peek() == ',' {
				d.pos++
				d.ws()
				continue
			}
			if d.peek() != '}' {
				return finish(d.syntaxErr("after object key:value pair"))
			}
			d.pos++
			break
		}
	}
	d.ws()
	if d.pos < len(d.data) {
		return finish(d.syntaxErr("after top-level value"))
	}
	return nil
}
