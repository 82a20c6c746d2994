package console

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/genproto/googleapis/type/latlng"

	"github.com/fbadmin/fbadmin/internal/docpath"
	"github.com/fbadmin/fbadmin/internal/value"
)

// Types are the value types of the document editor's type selector.
var Types = []string{"string", "int", "double", "boolean", "timestamp", "bytes", "bytes-hex", "reference", "geopoint", "vector", "map", "array", "null"}

// typeOf names a decoded value's type as the editor does.
func typeOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case int64:
		return "int"
	case float64:
		return "double"
	case string:
		return "string"
	case []byte:
		return "bytes"
	case time.Time:
		return "timestamp"
	case *latlng.LatLng:
		return "geopoint"
	case *firestore.DocumentRef:
		return "reference"
	case firestore.Vector64:
		return "vector"
	case []any:
		return "array"
	case map[string]any:
		return "map"
	}
	return "string"
}

func formatDouble(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case f == 0 && math.Signbit(f):
		return "-0"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// refPath is a reference as the console shows it: relative to the
// database root when it points into this database, its full name
// otherwise.
func (c *dbConn) refPath(ref *firestore.DocumentRef) string {
	prefix := c.db.Name() + "/documents/"
	if rel, ok := strings.CutPrefix(ref.Path, prefix); ok {
		return rel
	}
	return ref.Path
}

// editText is the text of a value in the editor's input for its type.
func (c *dbConn) editText(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case bool:
		return strconv.FormatBool(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return formatDouble(x)
	case string:
		return x
	case []byte:
		return base64.StdEncoding.EncodeToString(x)
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case *latlng.LatLng:
		return formatDouble(x.Latitude) + ", " + formatDouble(x.Longitude)
	case *firestore.DocumentRef:
		return c.refPath(x)
	case firestore.Vector64:
		raw, _ := value.Encode(x)
		return strings.TrimSuffix(strings.TrimPrefix(string(raw), `{"$vector":`), "}")
	default:
		raw, err := value.Encode(v)
		if err != nil {
			return fmt.Sprint(v)
		}
		var b bytes.Buffer
		if json.Indent(&b, raw, "", "  ") != nil {
			return string(raw)
		}
		return b.String()
	}
}

// cell is a value as a table cell shows it: short text, its type, and a
// link for references.
type cell struct {
	Field string `json:"field"`
	Text  string `json:"text"`
	Type  string `json:"type"`
	Href  string `json:"href,omitempty"`
}

const cellMax = 80

func (dc *dbConn) cellOf(field string, v any) cell {
	c := cell{Field: field, Type: typeOf(v)}
	switch x := v.(type) {
	case nil:
		c.Text = "null"
	case []byte:
		c.Text = fmt.Sprintf("%d bytes: %s", len(x), base64.StdEncoding.EncodeToString(x[:min(len(x), 24)]))
	case *firestore.DocumentRef:
		c.Text = dc.refPath(x)
		if !strings.HasPrefix(c.Text, "projects/") {
			c.Href = "/d/" + escapePath(c.Text)
		}
	case []any:
		c.Text = fmt.Sprintf("[%d items]", len(x))
	case map[string]any:
		keys := slices.Sorted(maps.Keys(x))
		c.Text = fmt.Sprintf("{%d fields: %s}", len(x), strings.Join(keys[:min(len(keys), 4)], ", "))
	case firestore.Vector64:
		c.Text = fmt.Sprintf("vector(%d)", len(x))
	default:
		c.Text = dc.editText(v)
	}
	if len(c.Text) > cellMax {
		cut := cellMax
		for cut > 0 && !utf8Start(c.Text[cut]) {
			cut--
		}
		c.Text = c.Text[:cut] + "…"
	}
	return c
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

// parseTyped turns an editor field (its type and text) into a decoded
// value, or an error saying what was expected.
func (c *dbConn) parseTyped(typ, text string) (any, error) {
	t := strings.TrimSpace(text)
	switch typ {
	case "null":
		return nil, nil
	case "string":
		return text, nil
	case "boolean":
		switch strings.ToLower(t) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
		return nil, fmt.Errorf("%q is not a boolean (want true or false)", t)
	case "int":
		n, err := strconv.ParseInt(t, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a 64-bit integer (want a whole number from -9223372036854775808 to 9223372036854775807)", t)
		}
		return n, nil
	case "double":
		return parseDouble(t)
	case "timestamp":
		ts, err := time.Parse(time.RFC3339Nano, t)
		if err != nil {
			return nil, fmt.Errorf("%q is not an RFC 3339 timestamp (want 2024-01-02T03:04:05.123456789Z or with an offset such as +02:00)", t)
		}
		return ts, nil
	case "bytes":
		b, err := base64.StdEncoding.DecodeString(t)
		if err != nil {
			if b, err = base64.RawStdEncoding.DecodeString(t); err != nil {
				return nil, fmt.Errorf("not standard base64 (choose bytes-hex for hexadecimal)")
			}
		}
		return b, nil
	case "bytes-hex":
		b, err := hex.DecodeString(strings.ReplaceAll(strings.TrimPrefix(t, "0x"), " ", ""))
		if err != nil {
			return nil, fmt.Errorf("not hexadecimal (an even number of 0-9, a-f digits)")
		}
		return b, nil
	case "reference":
		name := t
		if !strings.HasPrefix(t, "projects/") {
			p, err := docpath.ParseRel(strings.Trim(t, "/"))
			if err != nil || !p.IsDocument() {
				return nil, fmt.Errorf("%q is not a document path (want collection/doc, such as users/bob)", t)
			}
			name = c.db.Name() + "/documents/" + p.String()
		}
		raw, _ := json.Marshal(map[string]string{"$ref": name})
		return value.Decode(raw)
	case "geopoint":
		lat, lng, ok := strings.Cut(t, ",")
		if !ok {
			return nil, fmt.Errorf("%q: want latitude, longitude (such as 48.8566, 2.3522)", t)
		}
		la, err1 := strconv.ParseFloat(strings.TrimSpace(lat), 64)
		lo, err2 := strconv.ParseFloat(strings.TrimSpace(lng), 64)
		if err1 != nil || err2 != nil || la < -90 || la > 90 || lo < -180 || lo > 180 {
			return nil, fmt.Errorf("%q: want latitude from -90 to 90, longitude from -180 to 180", t)
		}
		return &latlng.LatLng{Latitude: la, Longitude: lo}, nil
	case "vector":
		raw := fmt.Appendf(nil, `{"$vector":%s}`, t)
		v, err := value.Decode(raw)
		if err != nil {
			return nil, fmt.Errorf("want a JSON list of numbers such as [0.5, -1, 3]")
		}
		return v, nil
	case "map", "array":
		v, err := value.Decode([]byte(t))
		if err != nil {
			return nil, fmt.Errorf("value format: %v", err)
		}
		if got := typeOf(v); got != typ {
			return nil, fmt.Errorf("the JSON is a %s, not a %s", got, typ)
		}
		return v, nil
	}
	return nil, fmt.Errorf("unknown type %q (want one of %s)", typ, strings.Join(Types, ", "))
}

func parseDouble(t string) (float64, error) {
	switch t {
	case "NaN":
		return math.NaN(), nil
	case "Infinity", "+Infinity", "Inf":
		return math.Inf(1), nil
	case "-Infinity", "-Inf":
		return math.Inf(-1), nil
	case "-0", "-0.0":
		return math.Copysign(0, -1), nil
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, fmt.Errorf("%q is not a number (want 1.5, -2e10, NaN, Infinity, -Infinity or -0)", t)
	}
	return f, nil
}
