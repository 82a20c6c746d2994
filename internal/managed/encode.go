package managed

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/genproto/googleapis/type/latlng"
	"google.golang.org/protobuf/encoding/protowire"
)

// AppPrefix is the partition prefix written before project IDs in keys
// and references: the Firestore emulator writes "dev~"; readers strip
// whatever prefix ends in "~".
const AppPrefix = "dev~"

// AppendEntity appends the EntityProto of a document to dst, laid out as
// the Firestore emulator writes it: the key, one property per value
// (raw_property; an empty array is an indexed property with the
// EMPTY_LIST meaning), fields in the order of their names, and the entity
// group. project and database name the document's database; path is
// relative to its root.
func AppendEntity(dst []byte, project, database, path string, fieldMap map[string]any) ([]byte, error) {
	segs := strings.Split(path, "/")
	if len(segs)%2 != 0 || slices.Contains(segs, "") {
		return dst, fmt.Errorf("document path %q: want collection/document pairs", path)
	}
	e := encoder{buf: dst}
	// key
	at := e.open(fEntityKey)
	e.str(fRefApp, AppPrefix+project)
	pat := e.open(fRefPath)
	for i := 0; i < len(segs); i += 2 {
		e.pathElement(segs[i], segs[i+1])
	}
	e.close(pat)
	if database != "" && database != DefaultDatabase {
		e.str(fRefDatabase, database)
	}
	e.close(at)
	if err := e.properties(fieldMap, 0); err != nil {
		return dst, fmt.Errorf("document %s: %w", path, err)
	}
	// entity group: the root element of the key
	gat := e.open(fEntityGroup)
	e.pathElement(segs[0], segs[1])
	e.close(gat)
	return e.buf, nil
}

type encoder struct{ buf []byte }

// open starts a length-delimited field; close sets its length.
func (e *encoder) open(num protowire.Number) int {
	e.buf = protowire.AppendTag(e.buf, num, protowire.BytesType)
	e.buf = append(e.buf, 0)
	return len(e.buf)
}

func (e *encoder) close(start int) {
	n := len(e.buf) - start
	if k := protowire.SizeVarint(uint64(n)); k > 1 {
		e.buf = append(e.buf, make([]byte, k-1)...)
		copy(e.buf[start+k-1:], e.buf[start:start+n])
	}
	protowire.AppendVarint(e.buf[:start-1], uint64(n))
}

func (e *encoder) str(num protowire.Number, s string) {
	e.buf = protowire.AppendTag(e.buf, num, protowire.BytesType)
	e.buf = protowire.AppendString(e.buf, s)
}

func (e *encoder) varint(num protowire.Number, v uint64) {
	e.buf = protowire.AppendTag(e.buf, num, protowire.VarintType)
	e.buf = protowire.AppendVarint(e.buf, v)
}

func (e *encoder) double(num protowire.Number, f float64) {
	e.buf = protowire.AppendTag(e.buf, num, protowire.Fixed64Type)
	e.buf = protowire.AppendFixed64(e.buf, math.Float64bits(f))
}

// pathElement writes a key path element group; an ID of the form
// __idN__ is Datastore's numeric ID N.
func (e *encoder) pathElement(coll, id string) {
	e.buf = protowire.AppendTag(e.buf, fPathElement, protowire.StartGroupType)
	e.str(fPathElementType, coll)
	if n, ok := numericID(id); ok {
		e.varint(fPathElementID, uint64(n))
	} else {
		e.str(fPathElementName, id)
	}
	e.buf = protowire.AppendTag(e.buf, fPathElement, protowire.EndGroupType)
}

// numericID recognises Firestore's spelling of a Datastore numeric ID.
func numericID(id string) (int64, bool) {
	if !strings.HasPrefix(id, "__id") || !strings.HasSuffix(id, "__") || len(id) <= 6 {
		return 0, false
	}
	digits := id[4 : len(id)-2]
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || strconv.FormatInt(n, 10) != digits {
		return 0, false
	}
	return n, true
}

func (e *encoder) properties(m map[string]any, depth int) error {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if err := e.field(k, m[k], depth); err != nil {
			return err
		}
	}
	return nil
}

// field writes the properties of one field.
func (e *encoder) field(name string, v any, depth int) error {
	switch x := v.(type) {
	case []any:
		if len(x) == 0 {
			at := e.open(fEntityProperty)
			e.varint(fPropMeaning, meaningEmptyList)
			e.str(fPropName, name)
			e.varint(fPropMultiple, 0)
			vat := e.open(fPropValue)
			e.close(vat)
			e.close(at)
			return nil
		}
		for i, el := range x {
			switch el.(type) {
			case []any, []map[string]any, []string:
				return fmt.Errorf("%s[%d]: an array directly inside an array (Firestore refuses it)", fieldPath(name), i)
			case firestore.Vector64, firestore.Vector32:
				return fmt.Errorf("%s[%d]: a vector inside an array cannot be written to a managed export", fieldPath(name), i)
			}
			if err := e.property(name, el, true, depth); err != nil {
				return fmt.Errorf("%s[%d]: %w", fieldPath(name), i, err)
			}
		}
		return nil
	case firestore.Vector64:
		if len(x) == 0 {
			return fmt.Errorf("%s: an empty vector cannot be written to a managed export", fieldPath(name))
		}
		for _, f := range x {
			at := e.open(fEntityRawProperty)
			e.varint(fPropMeaning, meaningVector)
			e.str(fPropName, name)
			e.varint(fPropMultiple, 1)
			vat := e.open(fPropValue)
			e.double(fValDouble, f)
			e.close(vat)
			e.close(at)
		}
		return nil
	}
	if err := e.property(name, v, false, depth); err != nil {
		return fmt.Errorf("%s: %w", fieldPath(name), err)
	}
	return nil
}

// property writes one property holding one value that is not an array.
func (e *encoder) property(name string, v any, multiple bool, depth int) error {
	var meaning uint64
	switch x := v.(type) {
	case []byte:
		meaning = meaningBlob
	case time.Time:
		meaning = meaningGDWhen
	case *latlng.LatLng:
		if x != nil {
			meaning = meaningGeoPoint
		}
	case map[string]any:
		meaning = meaningEntityProto
	}
	at := e.open(fEntityRawProperty)
	if meaning != meaningNone {
		e.varint(fPropMeaning, meaning)
	}
	e.str(fPropName, name)
	mult := uint64(0)
	if multiple {
		mult = 1
	}
	e.varint(fPropMultiple, mult)
	vat := e.open(fPropValue)
	if err := e.value(v, depth); err != nil {
		return err
	}
	e.close(vat)
	e.close(at)
	return nil
}

func (e *encoder) value(v any, depth int) error {
	switch x := v.(type) {
	case nil:
	case bool:
		b := uint64(0)
		if x {
			b = 1
		}
		e.varint(fValBool, b)
	case int64:
		e.varint(fValInt64, uint64(x))
	case float64:
		e.double(fValDouble, x)
	case string:
		e.str(fValString, x)
	case []byte:
		e.buf = protowire.AppendTag(e.buf, fValString, protowire.BytesType)
		e.buf = protowire.AppendBytes(e.buf, x)
	case time.Time:
		if y := x.UTC().Year(); y < 1 || y > 9999 {
			return fmt.Errorf("timestamp %s lies outside years 1 to 9999", x)
		}
		// Firestore keeps microseconds; finer digits are dropped, as a
		// write to Firestore drops them.
		e.varint(fValInt64, uint64(x.UnixMicro()))
	case *latlng.LatLng:
		if x == nil {
			return nil
		}
		e.buf = protowire.AppendTag(e.buf, fValPoint, protowire.StartGroupType)
		e.double(fPointX, x.GetLatitude())
		e.double(fPointY, x.GetLongitude())
		e.buf = protowire.AppendTag(e.buf, fValPoint, protowire.EndGroupType)
	case *firestore.DocumentRef:
		if x == nil {
			return nil
		}
		return e.ref(x.Path)
	case map[string]any:
		if depth >= maxNesting {
			return fmt.Errorf("maps nested more than %d deep", maxNesting)
		}
		at := e.open(fValString)
		// An embedded entity: an empty key, the properties, an empty
		// entity group (as the emulator writes it).
		kat := e.open(fEntityKey)
		e.str(fRefApp, "")
		pat := e.open(fRefPath)
		e.close(pat)
		e.close(kat)
		if err := e.properties(x, depth+1); err != nil {
			return err
		}
		gat := e.open(fEntityGroup)
		e.close(gat)
		e.close(at)
	default:
		return fmt.Errorf("unsupported value of type %T", v)
	}
	return nil
}

// ref writes a reference value group from a full document name.
func (e *encoder) ref(name string) error {
	rest, ok := strings.CutPrefix(name, "projects/")
	project, rest, ok2 := strings.Cut(rest, "/databases/")
	database, rel, ok3 := strings.Cut(rest, "/documents/")
	segs := strings.Split(rel, "/")
	if !ok || !ok2 || !ok3 || project == "" || database == "" || len(segs)%2 != 0 || slices.Contains(segs, "") {
		return fmt.Errorf("reference %q: want projects/P/databases/D/documents/collection/document", name)
	}
	e.buf = protowire.AppendTag(e.buf, fValRef, protowire.StartGroupType)
	e.str(fValRefApp, AppPrefix+project)
	for i := 0; i < len(segs); i += 2 {
		e.buf = protowire.AppendTag(e.buf, fValRefEl, protowire.StartGroupType)
		e.str(fRefElType, segs[i])
		if n, ok := numericID(segs[i+1]); ok {
			e.varint(fRefElID, uint64(n))
		} else {
			e.str(fRefElName, segs[i+1])
		}
		e.buf = protowire.AppendTag(e.buf, fValRefEl, protowire.EndGroupType)
	}
	if database != DefaultDatabase {
		e.str(fValRefDB, database)
	}
	e.buf = protowire.AppendTag(e.buf, fValRef, protowire.EndGroupType)
	return nil
}
