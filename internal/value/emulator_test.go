package value_test

import (
	"context"
	"math"
	"testing"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/genproto/googleapis/type/latlng"

	"github.com/fbadmin/fbadmin/internal/emutest"
	"github.com/fbadmin/fbadmin/internal/value"
)

// TestEmulatorRoundTrip writes a document holding every Firestore type
// through the SDK, reads it back, and checks that the codec carries the
// snapshot's data unchanged, and that decoded data can be written again.
func TestEmulatorRoundTrip(t *testing.T) {
	fs := emutest.NewFirestore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := fs.Client

	ts := time.Date(2024, 1, 2, 3, 4, 5, 123456789, time.UTC)
	written := map[string]any{
		"null":        nil,
		"bool":        true,
		"intMax":      int64(math.MaxInt64),
		"intMin":      int64(math.MinInt64),
		"double":      1.5,
		"integral":    1.0,
		"nan":         math.NaN(),
		"posInf":      math.Inf(1),
		"negInf":      math.Inf(-1),
		"negZero":     math.Copysign(0, -1),
		"tiny":        math.SmallestNonzeroFloat64,
		"string":      "héllo 世界 🎉\nline two",
		"empty":       "",
		"bytes":       []byte{0, 1, 0, 255, 0},
		"timestamp":   ts,
		"geopoint":    &latlng.LatLng{Latitude: 48.8566, Longitude: 2.3522},
		"ref":         c.Doc("users/alice/posts/p1"),
		"array":       []any{int64(1), "two", 3.0, nil, map[string]any{"k": false}},
		"emptyArray":  []any{},
		"emptyMap":    map[string]any{},
		"nested":      map[string]any{"a": map[string]any{"b": map[string]any{"c": []any{"deep"}}}},
		"vector":      firestore.Vector64{0.25, -1, 3},
		"looksTyped":  map[string]any{"$int": "not a number"},
		"dollarKeys":  map[string]any{"$ref": int64(1), "$map": int64(2)},
		"field.with":  "a dot in the name",
		"spaced name": int64(7),
	}
	doc := c.Doc("codec/every-type")
	if _, err := doc.Set(ctx, written); err != nil {
		t.Fatalf("set %s: %v", doc.Path, err)
	}
	snap, err := doc.Get(ctx)
	if err != nil {
		t.Fatalf("get %s: %v", doc.Path, err)
	}
	data := snap.Data()

	// The emulator, like production, keeps microseconds.
	want := make(map[string]any, len(written))
	for k, v := range written {
		want[k] = v
	}
	want["timestamp"] = ts.Truncate(time.Microsecond)
	if !value.Equal(data, want) {
		for k := range want {
			if !value.Equal(data[k], want[k]) {
				t.Errorf("field %q read back as %#v, want %#v", k, data[k], want[k])
			}
		}
		t.Fatal("the emulator did not return what was written")
	}

	enc, err := value.EncodeMap(data)
	if err != nil {
		t.Fatalf("EncodeMap(snapshot data): %v", err)
	}
	t.Logf("encoded: %s", enc)
	decoded, err := value.DecodeMap(enc)
	if err != nil {
		t.Fatalf("DecodeMap: %v", err)
	}
	if !value.Equal(decoded, data) {
		t.Fatalf("DecodeMap(EncodeMap(data)) differs from data:\n got  %#v\n want %#v", decoded, data)
	}
	if !value.Equal(decoded, want) {
		t.Fatalf("decoded data differs from what was written")
	}
	if ref := decoded["ref"].(*firestore.DocumentRef); ref.ID != "p1" || ref.Parent.ID != "posts" || ref.Parent.Parent.ID != "alice" {
		t.Errorf("decoded ref = ID %q, parent %q, grandparent %q; want p1, posts, alice", ref.ID, ref.Parent.ID, ref.Parent.Parent.ID)
	}

	// Decoded values, detached refs included, are valid SDK input: write
	// them as a new document and read it back unchanged.
	copyDoc := c.Doc("codec/copy")
	if _, err := copyDoc.Set(ctx, decoded); err != nil {
		t.Fatalf("set decoded data: %v", err)
	}
	snap2, err := copyDoc.Get(ctx)
	if err != nil {
		t.Fatalf("get copy: %v", err)
	}
	if !value.Equal(snap2.Data(), data) {
		t.Errorf("document written from decoded data reads back as %#v, want %#v", snap2.Data(), data)
	}
	enc2, err := value.EncodeMap(snap2.Data())
	if err != nil {
		t.Fatal(err)
	}
	if string(enc2) != string(enc) {
		t.Errorf("export of the copy differs:\n %s\n %s", enc2, enc)
	}
}
