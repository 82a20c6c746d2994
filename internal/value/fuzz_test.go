package value

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"cloud.google.com/go/firestore"
	"google.golang.org/genproto/googleapis/type/latlng"
)

// gen builds a Firestore value from fuzz bytes, reading them as a stream
// of choices; running out of bytes reads zeros, so every input gives a
// value.
type gen struct{ b []byte }

func (g *gen) byte() byte {
	if len(g.b) == 0 {
		return 0
	}
	c := g.b[0]
	g.b = g.b[1:]
	return c
}

func (g *gen) u64() uint64 {
	var buf [8]byte
	n := copy(buf[:], g.b)
	g.b = g.b[n:]
	return binary.LittleEndian.Uint64(buf[:])
}

func (g *gen) double() float64 {
	switch g.byte() % 8 {
	case 0:
		return math.NaN()
	case 1:
		return math.Inf(1)
	case 2:
		return math.Inf(-1)
	case 3:
		return math.Copysign(0, -1)
	case 4:
		return float64(int8(g.byte()))
	default:
		// Any bit pattern: subnormals, huge values, NaN payloads.
		return math.Float64frombits(g.u64())
	}
}

// str returns a valid UTF-8 string, sometimes starting with "$" and
// sometimes holding characters that need escaping.
func (g *gen) str() string {
	n := int(g.byte() % 12)
	raw := make([]byte, 0, n+1)
	switch g.byte() % 4 {
	case 0:
		raw = append(raw, '$')
	case 1:
		raw = append(raw, '"', '\\', '\n', 0)
	}
	for range n {
		raw = append(raw, g.byte())
	}
	return strings.ToValidUTF8(string(raw), "\uFFFD")
}

func (g *gen) id() string {
	s := strings.ReplaceAll(g.str(), "/", "_")
	if s == "" {
		return "x"
	}
	return s
}

const (
	minUnix = -62135596800 // 0001-01-01T00:00:00Z
	maxUnix = 253402300799 // 9999-12-31T23:59:59Z
)

func (g *gen) value(depth int) any {
	kinds := byte(14)
	if depth >= 4 {
		kinds = 12 // no more containers
	}
	switch g.byte() % kinds {
	case 0:
		return nil
	case 1:
		return g.byte()%2 == 0
	case 2:
		return int64(g.u64())
	case 3:
		return int64(int8(g.byte()))
	case 4:
		return g.double()
	case 5:
		return g.str()
	case 6:
		b := make([]byte, g.byte()%9)
		for i := range b {
			b[i] = g.byte()
		}
		return b
	case 7:
		sec := minUnix + int64(g.u64()%uint64(maxUnix-minUnix+1))
		return time.Unix(sec, int64(g.u64()%1e9)).UTC()
	case 8:
		return &latlng.LatLng{Latitude: g.double(), Longitude: g.double()}
	case 9:
		p := "projects/" + g.id() + "/databases/" + g.id() + "/documents"
		for range 1 + g.byte()%3 {
			p += "/" + g.id() + "/" + g.id()
		}
		return newRef(p)
	case 10:
		v := make(firestore.Vector64, g.byte()%5)
		for i := range v {
			v[i] = g.double()
		}
		return v
	case 11:
		return g.double()
	case 12:
		a := make([]any, g.byte()%5)
		for i := range a {
			a[i] = g.value(depth + 1)
		}
		return a
	default:
		m := map[string]any{}
		for range g.byte() % 5 {
			m[g.str()] = g.value(depth + 1)
		}
		return m
	}
}

func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{13, 1, 0, 5})                     // map with one "$" key
	f.Add([]byte{12, 4, 4, 0, 4, 3, 11, 7, 13, 0}) // array of specials
	f.Add([]byte("\x0d\x04\x00\x00\x07\x09\x02\xff\xff\xff\xff\xff\xff\xff\x7f"))
	for i := range byte(14) {
		f.Add([]byte{i, 0xff, 0x80, 0x7f, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07})
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		g := &gen{b: data}
		v := g.value(0)
		enc, err := Encode(v)
		if err != nil {
			t.Fatalf("Encode(%#v): %v", v, err)
		}
		if bytes.ContainsAny(enc, "\n\r") || !json.Valid(enc) {
			t.Fatalf("Encode gave invalid or multi-line JSON: %q", enc)
		}
		back, err := Decode(enc)
		if err != nil {
			t.Fatalf("Decode(%s): %v", enc, err)
		}
		if !Equal(back, v) {
			t.Fatalf("round trip changed the value:\n in:  %#v\n out: %#v\n via %s", v, back, enc)
		}
		again, err := Encode(back)
		if err != nil || !bytes.Equal(again, enc) {
			t.Fatalf("re-encoding differs: %s, %v; first %s", again, err, enc)
		}
	})
}

func FuzzDecode(f *testing.F) {
	for _, tc := range canonicalCases(f) {
		f.Add([]byte(tc.json))
	}
	for _, s := range []string{
		`{"a":[1,2.5,-0,1e400]}`, `{"$map":{"$int":{"$int":"5"}}}`, `{"$int":"1","$x":2}`,
		`{"$geopoint":{"longitude":1,"latitude":"NaN"}}`, `"\ud83c\udf89"`, `"\ud83c"`,
		`{"$timestamp":"2024-02-29T23:59:59.999999999+23:59"}`, `[[[[[]]]]]`, `{"$vector":[1,"-0"]}`,
		`{"$ref":"projects/p/databases/d/documents/a/b"}`, `{"$bytes":"AA=="}`, "\xef\xbb\xbf{}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := Decode(data)
		if err != nil {
			var pe *PathError
			if !errors.As(err, &pe) || !strings.HasPrefix(pe.Path, "$") || pe.Msg == "" {
				t.Fatalf("Decode error %v (%T) is not a *PathError with a path and message", err, err)
			}
			if !utf8.ValidString(err.Error()) {
				t.Fatalf("error message is not valid UTF-8: %q", err.Error())
			}
			return
		}
		if !json.Valid(data) {
			t.Fatalf("Decode accepted invalid JSON %q", data)
		}
		checkCanonical(t, "$", v)
		enc, err := Encode(v)
		if err != nil {
			t.Fatalf("Encode(Decode(%q)): %v", data, err)
		}
		back, err := Decode(enc)
		if err != nil {
			t.Fatalf("Decode(%s): %v", enc, err)
		}
		if !Equal(back, v) {
			t.Fatalf("Decode(Encode(v)) != v:\n v:    %#v\n back: %#v\n via %s", v, back, enc)
		}
		if again, err := Encode(back); err != nil || !bytes.Equal(again, enc) {
			t.Fatalf("encoding is not stable: %s then %s (%v)", enc, again, err)
		}
	})
}
