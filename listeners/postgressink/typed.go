package postgressink

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/fbadmin/fbadmin/internal/value"
)

// Types lists the SQL types a typed column may have, with what each takes:
//
//	text                          strings
//	bigint, integer, smallint     integers in range (and doubles with no fraction, in range)
//	double precision, real        doubles and integers
//	numeric, numeric(P,S)         integers and finite doubles (PostgreSQL checks P and S)
//	boolean                       booleans
//	timestamptz, date             timestamps
//	bytea                         bytes
//	jsonb                         anything, in fbadmin's lossless value format
//
// A missing field or a null is NULL. The aliases int8, int4, int, int2,
// float8, float4, bool, decimal and "timestamp with time zone" are
// accepted.
var Types = []string{"text", "bigint", "integer", "smallint", "double precision", "real", "numeric",
	"boolean", "timestamptz", "date", "bytea", "jsonb"}

var aliases = map[string]string{
	"int8": "bigint", "int4": "integer", "int": "integer", "int2": "smallint",
	"float8": "double precision", "float4": "real", "bool": "boolean", "decimal": "numeric",
	"timestamp with time zone": "timestamptz",
}

var numericRE = regexp.MustCompile(`^(?:numeric|decimal)\s*\(\s*\d+\s*(?:,\s*\d+\s*)?\)$`)

// reserved are the columns every table has.
var reserved = []string{"path", "id", "parent", "data", "create_time", "update_time", "deleted",
	"listener", "event_id", "event_type", "read_time"}

type column struct {
	field   []string // path segments
	name    string
	sqlType string // normalized
	base    string // the type family, for conversion: numeric(10,2) -> numeric
}

func parseColumns(cs []Column) ([]column, error) {
	var out []column
	seen := map[string]bool{}
	for i, c := range cs {
		where := fmt.Sprintf("postgres sink: columns[%d]", i)
		if c.Field == "" || slices.Contains(strings.Split(c.Field, "."), "") {
			return nil, fmt.Errorf("%s: field %q: want a dotted field path such as total or address.city", where, c.Field)
		}
		if err := CheckName("column", c.Name, 63); err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		if slices.Contains(reserved, c.Name) {
			return nil, fmt.Errorf("%s: column %q is one of the table's own (%s)", where, c.Name, strings.Join(reserved, ", "))
		}
		if seen[c.Name] {
			return nil, fmt.Errorf("%s: column %q defined twice", where, c.Name)
		}
		seen[c.Name] = true
		typ := strings.Join(strings.Fields(strings.ToLower(c.Type)), " ")
		if a, ok := aliases[typ]; ok {
			typ = a
		}
		base := typ
		switch {
		case slices.Contains(Types, typ):
		case numericRE.MatchString(typ):
			base = "numeric"
		default:
			return nil, fmt.Errorf("%s: type %q: use one of %s", where, c.Type, strings.Join(Types, ", "))
		}
		out = append(out, column{field: strings.Split(c.Field, "."), name: c.Name, sqlType: typ, base: base})
	}
	return out, nil
}

// typedValues extracts the typed columns' values from a document, or the
// reason the document does not fit them.
func (s *Sink) typedValues(data []byte) ([]any, error) {
	if len(s.cols) == 0 {
		return nil, nil
	}
	doc, err := value.DecodeMap(data)
	if err != nil {
		return nil, fmt.Errorf("data does not decode: %w", err)
	}
	out := make([]any, len(s.cols))
	for i, c := range s.cols {
		v, ok := lookup(doc, c.field)
		if !ok || v == nil {
			continue
		}
		if out[i], err = convert(v, c.base); err != nil {
			return nil, fmt.Errorf("field %s: %w does not fit column %s %s", strings.Join(c.field, "."), err, c.name, c.sqlType)
		}
	}
	return out, nil
}

func lookup(doc map[string]any, path []string) (any, bool) {
	var v any = doc
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[k]; !ok {
			return nil, false
		}
	}
	return v, true
}

// convert turns a decoded value into the Go value pgx encodes for base.
func convert(v any, base string) (any, error) {
	bad := func() (any, error) { return nil, fmt.Errorf("%s %s", kind(v), short(v)) }
	switch base {
	case "text":
		if s, ok := v.(string); ok {
			return s, nil
		}
	case "bigint", "integer", "smallint":
		var n int64
		switch x := v.(type) {
		case int64:
			n = x
		case float64:
			if x != math.Trunc(x) || x < -(1<<63) || x >= 1<<63 {
				return bad()
			}
			n = int64(x)
		default:
			return bad()
		}
		lim := map[string]int64{"bigint": math.MaxInt64, "integer": math.MaxInt32, "smallint": math.MaxInt16}[base]
		if n > lim || n < -lim-1 {
			return nil, fmt.Errorf("%s %d (out of range)", kind(v), n)
		}
		return n, nil
	case "double precision", "real":
		var f float64
		switch x := v.(type) {
		case int64:
			f = float64(x)
		case float64:
			f = x
		default:
			return bad()
		}
		if base == "real" {
			if !math.IsInf(f, 0) && !math.IsNaN(f) && math.Abs(f) > math.MaxFloat32 {
				return nil, fmt.Errorf("%s %v (out of range)", kind(v), f)
			}
			return float32(f), nil
		}
		return f, nil
	case "numeric":
		switch x := v.(type) {
		case int64:
			return x, nil
		case float64:
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return bad()
			}
			return x, nil
		}
	case "boolean":
		if b, ok := v.(bool); ok {
			return b, nil
		}
	case "timestamptz", "date":
		if t, ok := v.(time.Time); ok {
			return t, nil
		}
	case "bytea":
		if b, ok := v.([]byte); ok {
			return b, nil
		}
	case "jsonb":
		raw, err := value.Encode(v)
		if err != nil {
			return nil, err
		}
		return string(raw), nil
	}
	return bad()
}

func kind(v any) string {
	switch v.(type) {
	case int64:
		return "integer"
	case float64:
		return "double"
	case string:
		return "string"
	case bool:
		return "boolean"
	case time.Time:
		return "timestamp"
	case []byte:
		return "bytes"
	case []any:
		return "array"
	case map[string]any:
		return "map"
	}
	return fmt.Sprintf("%T", v)
}

// short shows a value in a message, cut to a readable length.
func short(v any) string {
	raw, err := value.Encode(v)
	if err != nil {
		return "?"
	}
	s := string(raw)
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return s
}

// CheckColumns reports the first problem of a typed column mapping, as
// [New] would, without connecting.
func CheckColumns(cs []Column) error {
	_, err := parseColumns(cs)
	return err
}
