package value

import (
	"encoding/json"
	"testing"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/genproto/googleapis/type/latlng"
)

// benchDoc is a realistic 10-field user document, as Data returns it.
func benchDoc() map[string]any {
	return map[string]any{
		"name":      "Ada Lovelace",
		"email":     "ada@example.com",
		"age":       int64(36),
		"score":     97.25,
		"active":    true,
		"createdAt": time.Date(2024, 5, 17, 9, 30, 12, 345678000, time.UTC),
		"tags":      []any{"math", "engines", "poetry"},
		"location":  &latlng.LatLng{Latitude: 51.5072, Longitude: -0.1276},
		"manager":   newRef("projects/demo-bench/databases/(default)/documents/users/charles"),
		"address": map[string]any{
			"street": "12 St James's Square",
			"city":   "London",
			"zip":    "SW1Y 4JH",
			"floor":  int64(2),
		},
	}
}

func BenchmarkEncodeMap(b *testing.B) {
	doc := benchDoc()
	enc, err := EncodeMap(doc)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := EncodeMap(doc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeMap(b *testing.B) {
	enc, err := EncodeMap(benchDoc())
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeMap(enc); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVector measures a 768-dimension embedding, a large field that
// exports meet often.
func BenchmarkVector(b *testing.B) {
	v := make(firestore.Vector64, 768)
	for i := range v {
		v[i] = float64(i)*0.001 - 0.3
	}
	doc := map[string]any{"embedding": v}
	enc, err := EncodeMap(doc)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("encode", func(b *testing.B) {
		b.SetBytes(int64(len(enc)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := EncodeMap(doc); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode", func(b *testing.B) {
		b.SetBytes(int64(len(enc)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := DecodeMap(enc); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkBaselineStdlib runs encoding/json on the same document, as a
// yardstick for the numbers above on a given machine. encoding/json does
// less work (it neither writes nor reads typed forms), so it is a bound to
// stay well under, not a like-for-like rival.
func BenchmarkBaselineStdlib(b *testing.B) {
	enc, err := EncodeMap(benchDoc())
	if err != nil {
		b.Fatal(err)
	}
	var generic map[string]any
	if err := json.Unmarshal(enc, &generic); err != nil {
		b.Fatal(err)
	}
	b.Run("marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(generic); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("unmarshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var m map[string]any
			if err := json.Unmarshal(enc, &m); err != nil {
				b.Fatal(err)
			}
		}
	})
}
