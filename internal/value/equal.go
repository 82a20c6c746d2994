package value

import (
	"bytes"
	"math"
	"reflect"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/genproto/googleapis/type/latlng"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Equal reports whether a and b are the same Firestore value: whether
// Firestore would store the same thing for both. It accepts everything
// [Encode] accepts, so Equal(int32(1), int64(1)) and
// Equal(firestore.Vector32{1}, firestore.Vector64{1}) hold, but an integer
// never equals a double, nor a vector an array.
//
// Doubles are equal when they are the same float64 value, with NaN equal
// to NaN and -0 different from +0. Timestamps compare as instants
// (time.Time.Equal), references by Path, bytes by content (nil equals
// empty). A nil pointer, slice, map or vector equals nil, as the SDK writes
// them as null. Values Encode would reject are equal to nothing.
func Equal(a, b any) bool {
	return equal(a, b, 0)
}

func equal(a, b any, depth int) bool {
	if depth > MaxDepth {
		return false
	}
	a, b = normalize(a), normalize(b)
	switch x := a.(type) {
	case nil:
		return b == nil
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case int64:
		y, ok := b.(int64)
		return ok && x == y
	case float64:
		y, ok := b.(float64)
		return ok && sameDouble(x, y)
	case string:
		y, ok := b.(string)
		return ok && x == y
	case []byte:
		y, ok := b.([]byte)
		return ok && bytes.Equal(x, y)
	case time.Time:
		y, ok := b.(time.Time)
		return ok && x.Equal(y)
	case *latlng.LatLng:
		y, ok := b.(*latlng.LatLng)
		return ok && sameDouble(x.GetLatitude(), y.GetLatitude()) && sameDouble(x.GetLongitude(), y.GetLongitude())
	case *firestore.DocumentRef:
		y, ok := b.(*firestore.DocumentRef)
		return ok && x.Path == y.Path
	case firestore.Vector64:
		y, ok := b.(firestore.Vector64)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !sameDouble(x[i], y[i]) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equal(x[i], y[i], depth+1) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, xv := range x {
			yv, ok := y[k]
			if !ok || !equal(xv, yv, depth+1) {
				return false
			}
		}
		return true
	default:
		return false
	}
}

// sameDouble is float64 identity as Firestore stores it: NaN is NaN, and
// the sign of zero counts.
func sameDouble(x, y float64) bool {
	if math.IsNaN(x) || math.IsNaN(y) {
		return math.IsNaN(x) && math.IsNaN(y)
	}
	return math.Float64bits(x) == math.Float64bits(y)
}

// unsupported stands for a value Encode would reject; equal matches it
// with nothing.
type unsupported struct{}

// normalize maps one level of a value to the canonical type Decode would
// give for it (containers become []any and map[string]any with their
// elements left as they are; equal normalizes those as it descends).
func normalize(v any) any {
	switch x := v.(type) {
	case nil, bool, int64, float64, string, []byte, time.Time:
		return v
	case []any:
		if x == nil {
			return nil
		}
		return v
	case map[string]any:
		if x == nil {
			return nil
		}
		return v
	case firestore.Vector64:
		if x == nil {
			return nil
		}
		return v
	case *latlng.LatLng:
		if x == nil {
			return nil
		}
		return v
	case *firestore.DocumentRef:
		if x == nil {
			return nil
		}
		return v
	case int:
		return int64(x)
	case int32:
		return int64(x)
	case float32:
		return float64(x)
	case firestore.Vector32:
		if x == nil {
			return nil
		}
		out := make(firestore.Vector64, len(x))
		for i, f := range x {
			out[i] = float64(f)
		}
		return out
	case *timestamppb.Timestamp:
		if x == nil {
			return nil
		}
		if x.CheckValid() != nil {
			return unsupported{}
		}
		return x.AsTime()
	}
	if v == any(firestore.Delete) || v == any(firestore.ServerTimestamp) {
		return unsupported{}
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer {
		// Follow pointers (a bounded number of them: pointer types can be
		// cyclic) and start again on what they point to.
		for range MaxDepth {
			if rv.IsNil() {
				return nil
			}
			rv = rv.Elem()
			if rv.Kind() != reflect.Pointer {
				return normalize(rv.Interface())
			}
		}
		return unsupported{}
	}
	switch rv.Kind() {
	case reflect.Bool:
		return rv.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int()
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint, reflect.Uint64, reflect.Uintptr:
		if rv.Uint() > math.MaxInt64 {
			return unsupported{}
		}
		return int64(rv.Uint())
	case reflect.Float32, reflect.Float64:
		return rv.Float()
	case reflect.String:
		return rv.String()
	case reflect.Slice, reflect.Array:
		if rv.Kind() == reflect.Slice && rv.IsNil() {
			return nil
		}
		out := make([]any, rv.Len())
		for i := range out {
			out[i] = rv.Index(i).Interface()
		}
		return out
	case reflect.Map:
		if rv.Type().Key().Kind() != reflect.String {
			return unsupported{}
		}
		if rv.IsNil() {
			return nil
		}
		out := make(map[string]any, rv.Len())
		iter := rv.MapRange()
		for iter.Next() {
			out[iter.Key().String()] = iter.Value().Interface()
		}
		return out
	}
	return unsupported{}
}
