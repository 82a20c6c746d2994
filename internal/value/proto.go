package value

import (
	"fmt"
	"time"

	"cloud.google.com/go/firestore"
	pb "cloud.google.com/go/firestore/apiv1/firestorepb"
	"google.golang.org/genproto/googleapis/type/latlng"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// The field names of the map a vector is stored as.
const (
	vectorTypeKey   = "__type__"
	vectorTypeValue = "__vector__"
	vectorValuesKey = "value"
)

// builds reports whether values at depth are built (not only checked).
func (d *decoder) builds(depth int) bool { return d.keep == 0 || depth < d.keep }

// emptyMapAt is the value of an empty map at depth (or of one whose
// members are not built), in the decoder's mode.
func (d *decoder) emptyMapAt(depth int) any {
	switch {
	case !d.proto:
		return map[string]any{}
	case !d.builds(depth):
		return nil
	}
	return &pb.Value{ValueType: &pb.Value_MapValue{MapValue: &pb.MapValue{Fields: map[string]*pb.Value{}}}}
}

// emptyArrayAt is emptyMapAt for arrays, in proto mode.
func (d *decoder) emptyArrayAt(depth int) any {
	if !d.builds(depth) {
		return nil
	}
	return &pb.Value{ValueType: &pb.Value_ArrayValue{ArrayValue: &pb.ArrayValue{}}}
}

// checkKeys refuses a repeated key among an object's members, as the
// decoder does when it builds the map.
func checkKeys(members []member) error {
	if len(members) > 16 {
		seen := make(map[string]struct{}, len(members))
		for _, mb := range members {
			if _, dup := seen[mb.key]; dup {
				return dupKey(mb)
			}
			seen[mb.key] = struct{}{}
		}
		return nil
	}
	for i, mb := range members {
		for _, prev := range members[:i] {
			if prev.key == mb.key {
				return dupKey(mb)
			}
		}
	}
	return nil
}

func dupKey(mb member) error {
	return atKey(newErr(mb.off, fmt.Sprintf("duplicate key %s in object; each key may appear once", quoteForMsg(mb.key))), mb.key)
}

// protoMap builds a map value from an object's members (each a *pb.Value),
// refusing a repeated key as the Go mode does.
func protoMap(members []member) (any, error) {
	m := make(map[string]*pb.Value, len(members))
	for i, mb := range members {
		m[mb.key] = mb.val.(*pb.Value)
		if len(m) != i+1 {
			return nil, dupKey(mb)
		}
	}
	return &pb.Value{ValueType: &pb.Value_MapValue{MapValue: &pb.MapValue{Fields: m}}}, nil
}

// ToProto converts a value of the Go types [Decode] returns (and int) to
// a Firestore protocol buffer value; other types are an error.
func ToProto(v any) (*pb.Value, error) {
	switch x := v.(type) {
	case []any:
		vals := make([]*pb.Value, len(x))
		for i, e := range x {
			p, err := ToProto(e)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			vals[i] = p
		}
		return &pb.Value{ValueType: &pb.Value_ArrayValue{ArrayValue: &pb.ArrayValue{Values: vals}}}, nil
	case map[string]any:
		fields, err := ToProtoFields(x)
		if err != nil {
			return nil, err
		}
		return &pb.Value{ValueType: &pb.Value_MapValue{MapValue: &pb.MapValue{Fields: fields}}}, nil
	case int:
		return protoLeaf(int64(x)), nil
	case nil, bool, int64, float64, string, []byte, time.Time, *latlng.LatLng, *firestore.DocumentRef, firestore.Vector64:
		return protoLeaf(v), nil
	default:
		return nil, fmt.Errorf("unsupported Go type %T", v)
	}
}

// ToProtoFields converts a document's fields with [ToProto].
func ToProtoFields(m map[string]any) (map[string]*pb.Value, error) {
	out := make(map[string]*pb.Value, len(m))
	for k, v := range m {
		p, err := ToProto(v)
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", k, err)
		}
		out[k] = p
	}
	return out, nil
}

// protoLeaf converts a decoded value that is neither a map nor an array.
func protoLeaf(v any) *pb.Value {
	switch x := v.(type) {
	case bool:
		return &pb.Value{ValueType: &pb.Value_BooleanValue{BooleanValue: x}}
	case int64:
		return &pb.Value{ValueType: &pb.Value_IntegerValue{IntegerValue: x}}
	case float64:
		return &pb.Value{ValueType: &pb.Value_DoubleValue{DoubleValue: x}}
	case string:
		return &pb.Value{ValueType: &pb.Value_StringValue{StringValue: x}}
	case []byte:
		return &pb.Value{ValueType: &pb.Value_BytesValue{BytesValue: x}}
	case time.Time:
		return &pb.Value{ValueType: &pb.Value_TimestampValue{TimestampValue: timestamppb.New(x)}}
	case *latlng.LatLng:
		return &pb.Value{ValueType: &pb.Value_GeoPointValue{GeoPointValue: x}}
	case *firestore.DocumentRef:
		return &pb.Value{ValueType: &pb.Value_ReferenceValue{ReferenceValue: x.Path}}
	case firestore.Vector64:
		vals := make([]*pb.Value, len(x))
		for i, f := range x {
			vals[i] = &pb.Value{ValueType: &pb.Value_DoubleValue{DoubleValue: f}}
		}
		return &pb.Value{ValueType: &pb.Value_MapValue{MapValue: &pb.MapValue{Fields: map[string]*pb.Value{
			vectorTypeKey:   {ValueType: &pb.Value_StringValue{StringValue: vectorTypeValue}},
			vectorValuesKey: {ValueType: &pb.Value_ArrayValue{ArrayValue: &pb.ArrayValue{Values: vals}}},
		}}}}
	default: // nil: the decoder makes no other type
		return &pb.Value{ValueType: &pb.Value_NullValue{NullValue: structpb.NullValue_NULL_VALUE}}
	}
}
