package migrate

import (
	"fmt"
	"math"
	"reflect"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/firestore"
	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	"github.com/google/cel-go/ext"
	"google.golang.org/genproto/googleapis/type/latlng"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// CEL environment. A document's fields are the map doc, its ID id and its
// path path. Values keep their Firestore types: integer is int, double is
// double, timestamp is google.protobuf.Timestamp, bytes is bytes, a
// geopoint is a google.type.LatLng message (doc.loc.latitude), a reference
// is a firestore.Reference (ref("users/alice"), r.path(), r.id()), a
// vector is a list of doubles, null is null. cel-go's string extension
// (lowerAscii, substring, replace, split...) is on.

// referenceType is the CEL type of a document reference.
var referenceType = types.NewOpaqueType("firestore.Reference")

// reference is a document reference as a CEL value: its path relative to
// the database root, or its full name when from another database.
type reference struct {
	path string
	full string // resource name, when known
}

func (r reference) ConvertToNative(t reflect.Type) (any, error) {
	if t == reflect.TypeOf("") {
		return r.path, nil
	}
	if t == reflect.TypeOf(r) || t.Kind() == reflect.Interface {
		return r, nil
	}
	return nil, fmt.Errorf("a reference does not convert to %v", t)
}

func (r reference) ConvertToType(t ref.Type) ref.Val {
	switch t {
	case types.StringType:
		return types.String(r.path)
	case referenceType:
		return r
	case types.TypeType:
		return referenceType
	}
	return types.NewErr("a reference does not convert to %s", t.TypeName())
}

func (r reference) Equal(other ref.Val) ref.Val {
	o, ok := other.(reference)
	return types.Bool(ok && o.path == r.path)
}

func (r reference) Type() ref.Type { return referenceType }
func (r reference) Value() any     { return r }

// adapter converts the Go values of documents into CEL values: the SDK's
// reference and geopoint types, and the rest as cel-go does.
type adapter struct{ types.Adapter }

func (a adapter) NativeToValue(v any) ref.Val {
	switch x := v.(type) {
	case *firestore.DocumentRef:
		return refOf(x)
	case reference:
		return x
	case firestore.Vector64:
		l := make([]any, len(x))
		for i, f := range x {
			l[i] = f
		}
		return a.Adapter.NativeToValue(l)
	case time.Time:
		return types.Timestamp{Time: x}
	}
	return a.Adapter.NativeToValue(v)
}

func refOf(r *firestore.DocumentRef) reference {
	full := r.Path
	rel := full
	if i := strings.Index(full, "/documents/"); i >= 0 {
		rel = full[i+len("/documents/"):]
	}
	return reference{path: rel, full: full}
}

var (
	celOnce sync.Once
	celEnv  *cel.Env
	celErr  error
)

func env() (*cel.Env, error) {
	celOnce.Do(func() {
		var reg *types.Registry
		reg, celErr = types.NewRegistry(&latlng.LatLng{})
		if celErr != nil {
			return
		}
		celEnv, celErr = cel.NewEnv(
			cel.CustomTypeProvider(reg),
			cel.CustomTypeAdapter(adapter{reg}),
			ext.Strings(),
			cel.Variable("doc", cel.MapType(cel.StringType, cel.DynType)),
			cel.Variable("id", cel.StringType),
			cel.Variable("path", cel.StringType),
			cel.Function("ref",
				cel.Overload("ref_string", []*cel.Type{cel.StringType}, referenceType,
					cel.UnaryBinding(func(v ref.Val) ref.Val {
						s, ok := v.(types.String)
						if !ok {
							return types.NewErr("ref() takes a document path")
						}
						return reference{path: string(s)}
					}))),
			cel.Function("path",
				cel.MemberOverload("reference_path", []*cel.Type{referenceType}, cel.StringType,
					cel.UnaryBinding(func(v ref.Val) ref.Val { return types.String(v.(reference).path) }))),
			cel.Function("id",
				cel.MemberOverload("reference_id", []*cel.Type{referenceType}, cel.StringType,
					cel.UnaryBinding(func(v ref.Val) ref.Val {
						p := v.(reference).path
						return types.String(p[strings.LastIndexByte(p, '/')+1:])
					}))),
			cel.Function("geopoint",
				cel.Overload("geopoint_double_double", []*cel.Type{cel.DoubleType, cel.DoubleType}, cel.ObjectType("google.type.LatLng"),
					cel.BinaryBinding(func(lat, lng ref.Val) ref.Val {
						return reg.NativeToValue(&latlng.LatLng{Latitude: float64(lat.(types.Double)), Longitude: float64(lng.(types.Double))})
					}))),
		)
	})
	return celEnv, celErr
}

// compileCEL compiles an expression; a condition must give a bool.
func compileCEL(expr string, condition bool) (cel.Program, error) {
	if strings.TrimSpace(expr) == "" {
		return nil, fmt.Errorf("empty expression")
	}
	e, err := env()
	if err != nil {
		return nil, err
	}
	ast, iss := e.Compile(expr)
	if iss.Err() != nil {
		return nil, fmt.Errorf("CEL %q: %s", expr, strings.ReplaceAll(iss.Err().Error(), "\n", " "))
	}
	if condition && ast.OutputType() != cel.BoolType && ast.OutputType() != cel.DynType {
		return nil, fmt.Errorf("CEL %q: a condition must give a bool, this gives %s", expr, ast.OutputType())
	}
	return e.Program(ast, cel.EvalOptions(cel.OptOptimize))
}

// evalCEL evaluates prg on a document and returns a Firestore value.
func evalCEL(prg cel.Program, path string, data map[string]any) (any, error) {
	id := path[strings.LastIndexByte(path, '/')+1:]
	out, _, err := prg.Eval(map[string]any{"doc": data, "id": id, "path": path})
	if err != nil {
		return nil, err
	}
	return fromCEL(out)
}

// fromCEL converts a CEL result to a Firestore value with its exact type.
func fromCEL(v ref.Val) (any, error) {
	switch x := v.(type) {
	case types.Null:
		return nil, nil
	case types.Bool:
		return bool(x), nil
	case types.Int:
		return int64(x), nil
	case types.Uint:
		if uint64(x) > math.MaxInt64 {
			return nil, fmt.Errorf("uint %d does not fit Firestore's int64", uint64(x))
		}
		return int64(x), nil
	case types.Double:
		return float64(x), nil
	case types.String:
		return string(x), nil
	case types.Bytes:
		return []byte(x), nil
	case types.Timestamp:
		return x.Time.UTC(), nil
	case types.Duration:
		return nil, fmt.Errorf("a duration has no Firestore type: give int(d / duration('1s')) or a timestamp")
	case reference:
		p := x.full
		if p == "" {
			p = x.path // made by ref(): the writer completes it
		}
		return &firestore.DocumentRef{Path: p, ID: p[strings.LastIndexByte(p, '/')+1:]}, nil
	}
	switch n := v.Value().(type) {
	case *latlng.LatLng:
		return &latlng.LatLng{Latitude: n.Latitude, Longitude: n.Longitude}, nil
	case *timestamppb.Timestamp:
		return n.AsTime(), nil
	case *structpb.Value:
		return fromCEL(types.DefaultTypeAdapter.NativeToValue(n.AsInterface()))
	}
	if m, ok := v.(traits.Mapper); ok {
		out := map[string]any{}
		it := m.Iterator()
		for it.HasNext() == types.True {
			k := it.Next()
			ks, ok := k.(types.String)
			if !ok {
				return nil, fmt.Errorf("map key %v: Firestore map keys are strings", k)
			}
			ev, err := fromCEL(m.Get(k))
			if err != nil {
				return nil, err
			}
			out[string(ks)] = ev
		}
		return out, nil
	}
	if l, ok := v.(traits.Lister); ok {
		var out []any
		it := l.Iterator()
		for it.HasNext() == types.True {
			ev, err := fromCEL(it.Next())
			if err != nil {
				return nil, err
			}
			out = append(out, ev)
		}
		if out == nil {
			out = []any{}
		}
		return out, nil
	}
	if e, ok := v.(*types.Err); ok {
		return nil, e
	}
	return nil, fmt.Errorf("CEL value of type %s has no Firestore type", v.Type().TypeName())
}
