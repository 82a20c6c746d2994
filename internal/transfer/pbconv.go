package transfer

import (
	"fmt"
	"strings"

	"cloud.google.com/go/firestore"
	pb "cloud.google.com/go/firestore/apiv1/firestorepb"
	"google.golang.org/genproto/googleapis/type/latlng"

	"github.com/fbadmin/fbadmin/internal/value"
)

// The engine talks to the low-level API, so it converts between protobuf
// values and the Go values of the value codec (the types
// DocumentSnapshot.Data returns) itself.

const (
	vectorTypeKey = "__type__"
	vectorType    = "__vector__"
	vectorValues  = "value"
)

// fromPBFields converts a document's fields.
func fromPBFields(fields map[string]*pb.Value) (map[string]any, error) {
	m := make(map[string]any, len(fields))
	for k, v := range fields {
		g, err := fromPB(v)
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", k, err)
		}
		m[k] = g
	}
	return m, nil
}

func fromPB(v *pb.Value) (any, error) {
	switch x := v.GetValueType().(type) {
	case nil, *pb.Value_NullValue:
		return nil, nil
	case *pb.Value_BooleanValue:
		return x.BooleanValue, nil
	case *pb.Value_IntegerValue:
		return x.IntegerValue, nil
	case *pb.Value_DoubleValue:
		return x.DoubleValue, nil
	case *pb.Value_StringValue:
		return x.StringValue, nil
	case *pb.Value_BytesValue:
		if x.BytesValue == nil {
			return []byte{}, nil
		}
		return x.BytesValue, nil
	case *pb.Value_TimestampValue:
		if err := x.TimestampValue.CheckValid(); err != nil {
			return nil, err
		}
		return x.TimestampValue.AsTime(), nil
	case *pb.Value_GeoPointValue:
		return &latlng.LatLng{Latitude: x.GeoPointValue.GetLatitude(), Longitude: x.GeoPointValue.GetLongitude()}, nil
	case *pb.Value_ReferenceValue:
		return refFromName(x.ReferenceValue), nil
	case *pb.Value_ArrayValue:
		vals := x.ArrayValue.GetValues()
		out := make([]any, len(vals))
		for i, e := range vals {
			g, err := fromPB(e)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			out[i] = g
		}
		return out, nil
	case *pb.Value_MapValue:
		fields := x.MapValue.GetFields()
		if vec, ok := vectorFromPB(fields); ok {
			return vec, nil
		}
		return fromPBFields(fields)
	default:
		return nil, fmt.Errorf("unsupported Firestore value type %T", x)
	}
}

func vectorFromPB(fields map[string]*pb.Value) (firestore.Vector64, bool) {
	if len(fields) != 2 || fields[vectorTypeKey].GetStringValue() != vectorType {
		return nil, false
	}
	arr, ok := fields[vectorValues].GetValueType().(*pb.Value_ArrayValue)
	if !ok {
		return nil, false
	}
	vec := make(firestore.Vector64, len(arr.ArrayValue.GetValues()))
	for i, e := range arr.ArrayValue.GetValues() {
		d, ok := e.GetValueType().(*pb.Value_DoubleValue)
		if !ok {
			return nil, false
		}
		vec[i] = d.DoubleValue
	}
	return vec, true
}

// refFromName builds a detached DocumentRef for a full document name, as
// the value codec does.
func refFromName(name string) *firestore.DocumentRef {
	ref := &firestore.DocumentRef{Path: name}
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		ref.ID = name[i+1:]
		parent := name[:i]
		coll := &firestore.CollectionRef{Path: parent}
		if j := strings.LastIndexByte(parent, '/'); j >= 0 {
			coll.ID = parent[j+1:]
		}
		ref.Parent = coll
	}
	return ref
}

// toPBFields converts decoded document fields.
func toPBFields(m map[string]any) (map[string]*pb.Value, error) { return value.ToProtoFields(m) }

// leafPaths returns the field paths of every leaf of a document's fields
// (values that are not non-empty maps), the mask of a merge that keeps the
// fields the data does not mention, like the SDK's MergeAll.
func leafPaths(m map[string]*pb.Value, prefix string, out []string) []string {
	for k, v := range m {
		p := prefix + quoteField(k)
		if sub := v.GetMapValue().GetFields(); len(sub) > 0 && !isVector(v) {
			out = leafPaths(sub, p+".", out)
			continue
		}
		out = append(out, p)
	}
	return out
}

// quoteField quotes a field name for a field path when it is not a simple
// identifier.
func quoteField(k string) string {
	simple := k != ""
	for i, r := range k {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			simple = false
			break
		}
	}
	if simple {
		return k
	}
	return "`" + strings.NewReplacer("\\", "\\\\", "`", "\\`").Replace(k) + "`"
}
