package managed

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"cloud.google.com/go/firestore"
	"google.golang.org/genproto/googleapis/type/latlng"
	"google.golang.org/protobuf/encoding/protowire"
)

// Field numbers of App Engine's storage_onestore_v3 entity messages (the
// "legacy" EntityProto of Datastore), as Firestore's managed export
// writes them.
const (
	// EntityProto
	fEntityKind        = 4  // enum, ignored
	fEntityKindURI     = 5  // string, ignored
	fEntityKey         = 13 // Reference
	fEntityProperty    = 14 // repeated Property (indexed)
	fEntityRawProperty = 15 // repeated Property (not indexed)
	fEntityGroup       = 16 // Path
	fEntityOwner       = 17 // User, ignored
	fEntityRank        = 18 // int32, ignored

	// Reference (an entity's key)
	fRefApp       = 13
	fRefPath      = 14 // Path
	fRefNamespace = 20
	fRefDatabase  = 23

	// Path: repeated group Element = 1 {type = 2; id = 3; name = 4}
	fPathElement     = 1
	fPathElementType = 2
	fPathElementID   = 3
	fPathElementName = 4

	// Property
	fPropMeaning    = 1
	fPropMeaningURI = 2
	fPropName       = 3
	fPropMultiple   = 4
	fPropValue      = 5
	fPropStashed    = 6
	fPropComputed   = 7

	// PropertyValue
	fValInt64  = 1
	fValBool   = 2
	fValString = 3
	fValDouble = 4
	fValPoint  = 5 // group {x = 6; y = 7}
	fPointX    = 6
	fPointY    = 7
	fValUser   = 8  // group, not a Firestore type
	fValRef    = 12 // group {app = 13; pathelement = 14 (group {type = 15; id = 16; name = 17}); name_space = 20; database_id = 23}
	fValRefApp = 13
	fValRefEl  = 14
	fValRefNS  = 20
	fValRefDB  = 23
	fRefElType = 15
	fRefElID   = 16
	fRefElName = 17
)

// Property meanings used by Firestore exports.
const (
	meaningNone        = 0
	meaningGDWhen      = 7  // int64: a timestamp in microseconds since the epoch
	meaningGeoPoint    = 9  // pointvalue: x latitude, y longitude
	meaningBlob        = 14 // string: bytes
	meaningText        = 15 // string: a long string
	meaningByteString  = 16 // string: bytes (short, indexed)
	meaningEntityProto = 19 // string: a serialized EntityProto (a map)
	meaningEmptyList   = 24 // no value: an empty array
	meaningVector      = 31 // repeated doubles: a vector
)

// DefaultDatabase is the ID of a project's default database.
const DefaultDatabase = "(default)"

// Document is one document of an export: its key and its fields, in the
// Go types of internal/value (nil, bool, int64, float64, string, []byte,
// time.Time, *latlng.LatLng, *firestore.DocumentRef, []any,
// map[string]any, firestore.Vector64).
type Document struct {
	Project  string // from the key's app, without its "s~"-style partition prefix
	Database string // DefaultDatabase unless the key names another
	Path     string // relative to the database root: "users/alice/posts/p1"
	Fields   map[string]any
}

// maxNesting bounds maps in maps (Firestore allows 20 levels; internal/value 100).
const maxNesting = 100

// entityError is a problem with an entity; the caller adds the file and
// the record's offset.
type entityError struct{ msg string }

func (e *entityError) Error() string { return e.msg }

func errf(format string, args ...any) error { return &entityError{fmt.Sprintf(format, args...)} }

// field is one field of a protocol buffer message: its number and wire
// type, and its value (bytes for length-delimited fields and groups, the
// group's content without its end marker; u for the others).
type field struct {
	num protowire.Number
	typ protowire.Type
	b   []byte
	u   uint64
}

// fields calls fn for each field of message b.
func fields(b []byte, what string, fn func(f field) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return errf("%s: bad field tag: %v", what, protowire.ParseError(n))
		}
		b = b[n:]
		f := field{num: num, typ: typ}
		switch typ {
		case protowire.VarintType:
			f.u, n = protowire.ConsumeVarint(b)
		case protowire.Fixed64Type:
			f.u, n = protowire.ConsumeFixed64(b)
		case protowire.Fixed32Type:
			var v uint32
			v, n = protowire.ConsumeFixed32(b)
			f.u = uint64(v)
		case protowire.BytesType:
			f.b, n = protowire.ConsumeBytes(b)
		case protowire.StartGroupType:
			f.b, n = protowire.ConsumeGroup(num, b)
		default:
			return errf("%s: field %d has wire type %d", what, num, typ)
		}
		if n < 0 {
			return errf("%s: field %d: %v", what, num, protowire.ParseError(n))
		}
		b = b[n:]
		if err := fn(f); err != nil {
			return err
		}
	}
	return nil
}

func want(f field, typ protowire.Type, what string) error {
	if f.typ != typ {
		return errf("%s: field %d has wire type %d, want %d", what, f.num, f.typ, typ)
	}
	return nil
}

func unknown(f field, what string) error {
	return errf("%s: unknown field %d (wire type %d)", what, f.num, f.typ)
}

// DecodeEntity decodes one record of an output file.
func DecodeEntity(rec []byte) (*Document, error) {
	var d Document
	var key []byte
	haveKey := false
	acc := newAccumulator()
	err := fields(rec, "entity", func(f field) error {
		switch f.num {
		case fEntityKey:
			if err := want(f, protowire.BytesType, "entity key"); err != nil {
				return err
			}
			key, haveKey = f.b, true
		case fEntityProperty, fEntityRawProperty:
			if err := want(f, protowire.BytesType, "entity property"); err != nil {
				return err
			}
			return acc.add(f.b, 1)
		case fEntityGroup, fEntityOwner, fEntityKind, fEntityKindURI, fEntityRank:
		default:
			return unknown(f, "entity")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !haveKey {
		return nil, errf("entity without a key")
	}
	if err := d.decodeKey(key); err != nil {
		return nil, err
	}
	d.Fields, err = acc.result()
	if err != nil {
		return nil, fmt.Errorf("document %s: %w", d.Path, err)
	}
	return &d, nil
}

func (d *Document) decodeKey(b []byte) error {
	var app, db, ns string
	var segs []string
	err := fields(b, "key", func(f field) error {
		switch f.num {
		case fRefApp, fRefNamespace, fRefDatabase:
			if err := want(f, protowire.BytesType, "key"); err != nil {
				return err
			}
			switch f.num {
			case fRefApp:
				app = string(f.b)
			case fRefNamespace:
				ns = string(f.b)
			default:
				db = string(f.b)
			}
		case fRefPath:
			if err := want(f, protowire.BytesType, "key path"); err != nil {
				return err
			}
			return fields(f.b, "key path", func(e field) error {
				if e.num != fPathElement || e.typ != protowire.StartGroupType {
					return unknown(e, "key path")
				}
				typ, id, err := pathElement(e.b, fPathElementType, fPathElementID, fPathElementName, "key path element")
				if err != nil {
					return err
				}
				segs = append(segs, typ, id)
				return nil
			})
		default:
			return unknown(f, "key")
		}
		return nil
	})
	if err != nil {
		return err
	}
	if ns != "" {
		return errf("key %s: namespace %q: Firestore databases have no namespaces", strings.Join(segs, "/"), ns)
	}
	if len(segs) == 0 {
		return errf("key without a path")
	}
	d.Project, d.Database, d.Path = stripPartition(app), orDefault(db), strings.Join(segs, "/")
	return nil
}

// stripPartition turns an App Engine app ID ("s~my-proj", "dev~my-proj")
// into the project ID.
func stripPartition(app string) string {
	if i := strings.IndexByte(app, '~'); i >= 0 {
		return app[i+1:]
	}
	return app
}

func orDefault(db string) string {
	if db == "" {
		return DefaultDatabase
	}
	return db
}

// pathElement decodes a path element group: a collection ID and a
// document ID (a name, or a numeric ID written __idN__ as Firestore does).
func pathElement(b []byte, fType, fID, fName protowire.Number, what string) (string, string, error) {
	var typ, name string
	var id int64
	hasType, hasID, hasName := false, false, false
	err := fields(b, what, func(f field) error {
		switch f.num {
		case fType, fName:
			if err := want(f, protowire.BytesType, what); err != nil {
				return err
			}
			if f.num == fType {
				typ, hasType = string(f.b), true
			} else {
				name, hasName = string(f.b), true
			}
		case fID:
			if err := want(f, protowire.VarintType, what); err != nil {
				return err
			}
			id, hasID = int64(f.u), true
		default:
			return unknown(f, what)
		}
		return nil
	})
	switch {
	case err != nil:
		return "", "", err
	case !hasType || typ == "":
		return "", "", errf("%s without a collection ID", what)
	case hasName && hasID:
		return "", "", errf("%s %s has both a name and an ID", what, typ)
	case hasID:
		name = "__id" + strconv.FormatInt(id, 10) + "__"
	case !hasName || name == "":
		return "", "", errf("%s %s without a document ID (an incomplete key)", what, typ)
	}
	if strings.Contains(typ, "/") || strings.Contains(name, "/") {
		return "", "", errf("%s %q/%q: an ID contains a slash", what, typ, name)
	}
	if !utf8.ValidString(typ) || !utf8.ValidString(name) {
		return "", "", errf("%s: an ID is not valid UTF-8", what)
	}
	return typ, name, nil
}

// accumulator collects the properties of one entity into fields: a
// property with multiple set is one element of an array (or of a vector,
// with the VECTOR meaning).
type accumulator struct {
	names []string
	byKey map[string]*accField
}

type accField struct {
	multiple, vector, empty bool
	single                  any
	n                       int
	elems                   []any
	vec                     []float64
}

func newAccumulator() *accumulator { return &accumulator{byKey: map[string]*accField{}} }

func (a *accumulator) add(prop []byte, depth int) error {
	var meaning uint64
	var name string
	var val []byte
	hasName, hasVal, multiple := false, false, false
	err := fields(prop, "property", func(f field) error {
		switch f.num {
		case fPropMeaning, fPropMultiple, fPropStashed, fPropComputed:
			if err := want(f, protowire.VarintType, "property"); err != nil {
				return err
			}
			switch f.num {
			case fPropMeaning:
				meaning = f.u
			case fPropMultiple:
				multiple = f.u != 0
			}
		case fPropName, fPropValue, fPropMeaningURI:
			if err := want(f, protowire.BytesType, "property"); err != nil {
				return err
			}
			switch f.num {
			case fPropName:
				name, hasName = string(f.b), true
			case fPropValue:
				val, hasVal = f.b, true
			}
		default:
			return unknown(f, "property")
		}
		return nil
	})
	if err != nil {
		return err
	}
	if !hasName {
		return errf("property without a name")
	}
	if !utf8.ValidString(name) {
		return errf("property name %q is not valid UTF-8", name)
	}
	if !hasVal && meaning != meaningEmptyList {
		return errf("property %q without a value", name)
	}
	fa := a.byKey[name]
	if fa == nil {
		fa = &accField{multiple: multiple}
		a.byKey[name] = fa
		a.names = append(a.names, name)
	} else if !fa.multiple || !multiple {
		return errf("property %q: given twice but not as an array", name)
	}
	if meaning == meaningEmptyList {
		if multiple || len(val) > 0 {
			return errf("property %q: an empty-array marker with a value", name)
		}
		fa.empty = true
		return nil
	}
	if fa.empty {
		return errf("property %q: an empty array with elements", name)
	}
	fa.n++
	if meaning == meaningVector {
		if !multiple {
			return errf("property %q: a vector element outside a vector", name)
		}
		if fa.n > 1 && !fa.vector {
			return errf("property %q: an array mixing vector and other elements", name)
		}
		fa.vector = true
		d, ok, err := vectorElement(val)
		if err != nil || !ok {
			return errf("property %q: a vector element that is not a double", name)
		}
		fa.vec = append(fa.vec, d)
		return nil
	}
	if fa.vector {
		return errf("property %q: an array mixing vector and other elements", name)
	}
	v, err := a.value(meaning, val, depth)
	if err != nil {
		return fmt.Errorf("%s: %w", fieldPath(name), err)
	}
	if multiple {
		fa.elems = append(fa.elems, v)
	} else {
		fa.single = v
	}
	return nil
}

func fieldPath(name string) string {
	if name != "" && !strings.ContainsAny(name, ".`\"[] ") {
		return "field " + name
	}
	return fmt.Sprintf("field %q", name)
}

func vectorElement(val []byte) (float64, bool, error) {
	var d float64
	ok := false
	err := fields(val, "vector element", func(f field) error {
		if f.num != fValDouble || f.typ != protowire.Fixed64Type {
			return unknown(f, "vector element")
		}
		d, ok = math.Float64frombits(f.u), true
		return nil
	})
	return d, ok, err
}

func (a *accumulator) result() (map[string]any, error) {
	m := make(map[string]any, len(a.names))
	for _, k := range a.names {
		fa := a.byKey[k]
		switch {
		case fa.empty:
			m[k] = []any{}
		case fa.vector:
			m[k] = firestore.Vector64(fa.vec)
		case fa.multiple:
			m[k] = fa.elems
		default:
			m[k] = fa.single
		}
	}
	return m, nil
}

// value decodes a PropertyValue with its property's meaning.
func (a *accumulator) value(meaning uint64, b []byte, depth int) (any, error) {
	var (
		kind     protowire.Number
		u        uint64
		sb       []byte
		sub      []byte
		count    int
		refValue []byte
	)
	err := fields(b, "value", func(f field) error {
		var wt protowire.Type
		switch f.num {
		case fValInt64, fValBool:
			wt = protowire.VarintType
		case fValString:
			wt = protowire.BytesType
		case fValDouble:
			wt = protowire.Fixed64Type
		case fValPoint, fValUser, fValRef:
			wt = protowire.StartGroupType
		default:
			return unknown(f, "value")
		}
		if err := want(f, wt, "value"); err != nil {
			return err
		}
		count++
		kind, u, sb, sub = f.num, f.u, f.b, f.b
		if f.num == fValRef {
			refValue = f.b
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if count > 1 {
		return nil, errf("a value with %d alternatives set", count)
	}
	if count == 0 {
		if meaning != meaningNone {
			return nil, errf("meaning %d without a value", meaning)
		}
		return nil, nil
	}
	bad := func() error { return errf("meaning %d on a value of field %d", meaning, kind) }
	switch kind {
	case fValInt64:
		switch meaning {
		case meaningNone:
			return int64(u), nil
		case meaningGDWhen:
			t := time.UnixMicro(int64(u)).UTC()
			if y := t.Year(); y < 1 || y > 9999 {
				return nil, errf("timestamp %d µs lies outside years 1 to 9999", int64(u))
			}
			return t, nil
		}
		return nil, bad()
	case fValBool:
		if meaning != meaningNone {
			return nil, bad()
		}
		return u != 0, nil
	case fValDouble:
		if meaning != meaningNone {
			return nil, bad()
		}
		return math.Float64frombits(u), nil
	case fValString:
		switch meaning {
		case meaningNone, meaningText:
			if !utf8.Valid(sb) {
				return nil, errf("string is not valid UTF-8")
			}
			return string(sb), nil
		case meaningBlob, meaningByteString:
			return slices.Clone(sb), nil
		case meaningEntityProto:
			if depth >= maxNesting {
				return nil, errf("maps nested more than %d deep", maxNesting)
			}
			return decodeEmbedded(sb, depth+1)
		}
		return nil, bad()
	case fValPoint:
		if meaning != meaningNone && meaning != meaningGeoPoint {
			return nil, bad()
		}
		return decodePoint(sub)
	case fValRef:
		if meaning != meaningNone {
			return nil, bad()
		}
		return decodeRefValue(refValue)
	case fValUser:
		return nil, errf("a user value (App Engine's users.User): Firestore has no such type")
	}
	return nil, errf("value field %d", kind)
}

func decodeEmbedded(b []byte, depth int) (map[string]any, error) {
	acc := newAccumulator()
	err := fields(b, "map", func(f field) error {
		switch f.num {
		case fEntityProperty, fEntityRawProperty:
			if err := want(f, protowire.BytesType, "map property"); err != nil {
				return err
			}
			return acc.add(f.b, depth)
		case fEntityKey, fEntityGroup, fEntityOwner, fEntityKind, fEntityKindURI, fEntityRank:
			return nil // an embedded entity's (empty) key
		}
		return unknown(f, "map")
	})
	if err != nil {
		return nil, err
	}
	return acc.result()
}

func decodePoint(b []byte) (*latlng.LatLng, error) {
	var x, y float64
	hasX, hasY := false, false
	err := fields(b, "geopoint", func(f field) error {
		switch f.num {
		case fPointX, fPointY:
			if err := want(f, protowire.Fixed64Type, "geopoint"); err != nil {
				return err
			}
			if f.num == fPointX {
				x, hasX = math.Float64frombits(f.u), true
			} else {
				y, hasY = math.Float64frombits(f.u), true
			}
			return nil
		}
		return unknown(f, "geopoint")
	})
	if err != nil {
		return nil, err
	}
	if !hasX || !hasY {
		return nil, errf("geopoint without its latitude or longitude")
	}
	return &latlng.LatLng{Latitude: x, Longitude: y}, nil
}

func decodeRefValue(b []byte) (*firestore.DocumentRef, error) {
	var app, db, ns string
	var segs []string
	err := fields(b, "reference", func(f field) error {
		switch f.num {
		case fValRefApp, fValRefNS, fValRefDB:
			if err := want(f, protowire.BytesType, "reference"); err != nil {
				return err
			}
			switch f.num {
			case fValRefApp:
				app = string(f.b)
			case fValRefNS:
				ns = string(f.b)
			default:
				db = string(f.b)
			}
		case fValRefEl:
			if err := want(f, protowire.StartGroupType, "reference"); err != nil {
				return err
			}
			typ, id, err := pathElement(f.b, fRefElType, fRefElID, fRefElName, "reference path element")
			if err != nil {
				return err
			}
			segs = append(segs, typ, id)
		default:
			return unknown(f, "reference")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if ns != "" {
		return nil, errf("reference with namespace %q: Firestore databases have no namespaces", ns)
	}
	project := stripPartition(app)
	if project == "" || len(segs) == 0 {
		return nil, errf("reference without a project or a path")
	}
	rel := strings.Join(segs, "/")
	name := "projects/" + project + "/databases/" + orDefault(db) + "/documents/" + rel
	return &firestore.DocumentRef{Path: name, ID: segs[len(segs)-1]}, nil
}
