package value

import (
	"encoding/json"
	"testing"
)

func BenchmarkStdlibUnmarshal(b *testing.B) {
	enc, _ := EncodeMap(benchDoc())
	b.ReportAllocs()
	for b.Loop() {
		var m map[string]any
		if err := json.Unmarshal(enc, &m); err != nil {
			b.Fatal(err)
		}
	}
}
func BenchmarkStdlibMarshal(b *testing.B) {
	enc, _ := EncodeMap(benchDoc())
	var m map[string]any
	json.Unmarshal(enc, &m)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(m); err != nil {
			b.Fatal(err)
		}
	}
}
