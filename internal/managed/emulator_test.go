package managed

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fbadmin/fbadmin/internal/emutest"
	"github.com/fbadmin/fbadmin/internal/transfer"
	"github.com/fbadmin/fbadmin/internal/value"
)

// documents with every Firestore value type, in the value format; PROJECT
// is replaced by the test's project. Only values Firestore accepts (no NaN
// in a vector, no array in an array).
const everyTypeNDJSON = `{"path":"users/alice","data":{"$x":"dollar","a.b":"dotted name","active":true,"inactive":false,"age":{"$int":"36"},"min":{"$int":"-9223372036854775808"},"max":{"$int":"9223372036854775807"},"zero":{"$int":"0"},"score":{"$double":97.25},"ratio":{"$double":1},"tiny":{"$double":5e-324},"nan":{"$double":"NaN"},"inf":{"$double":"Infinity"},"ninf":{"$double":"-Infinity"},"negzero":{"$double":"-0"},"name":"Ada Lovelace","unicode":"héllo wörld ✓ 🎉","nul":"a\u0000b","empty":"","avatar":{"$bytes":"AAEAAP8A"},"nobytes":{"$bytes":""},"createdAt":{"$timestamp":"2024-05-17T09:30:12.345678Z"},"epoch":{"$timestamp":"1970-01-01T00:00:00Z"},"old":{"$timestamp":"1900-02-03T04:05:06.000007Z"},"first":{"$timestamp":"0001-01-01T00:00:00Z"},"last":{"$timestamp":"9999-12-31T23:59:59.999999Z"},"home":{"$geopoint":{"latitude":51.5072,"longitude":-0.1276}},"pole":{"$geopoint":{"latitude":-90,"longitude":180}},"manager":{"$ref":"projects/PROJECT/databases/(default)/documents/users/charles"},"deep":{"$ref":"projects/PROJECT/databases/(default)/documents/users/alice/posts/p1"},"elsewhere":{"$ref":"projects/other-proj/databases/otherdb/documents/x/y"},"bio":null,"meta":{"$map":{"$schema":"v2"}},"address":{"city":"London","zip":{"$int":"12345"},"geo":{"$geopoint":{"latitude":1.5,"longitude":2.5}},"inner":{"deeper":{"deepest":[{"$int":"1"},{"k":"v"}]}},"none":{},"list":[]},"tags":["math","poetry"],"mixed":[{"$int":"1"},"two",null,true,{"$double":2.5},{"$double":"NaN"},{"$bytes":"AA=="},{"$timestamp":"2024-01-01T00:00:00.000001Z"},{"$geopoint":{"latitude":3,"longitude":4}},{"$ref":"projects/PROJECT/databases/(default)/documents/a/b"},{"k":[{"$int":"1"}]},{}],"one":[{"$int":"7"}],"maps":[{"a":{"$int":"1"}},{"a":{"$int":"2"},"b":[]}],"emptyArr":[],"emptyMap":{},"embedding":{"$vector":[0.25,-1,3,"-0"]},"vec1":{"$vector":[1.5]},"nested":{"vec":{"$vector":[1,2]}}}}
{"path":"users/alice/posts/p1","data":{"title":"sub-collection document","n":{"$int":"1"}}}
{"path":"users/alice/posts/p1/comments/c1","data":{"text":"three levels down"}}
{"path":"users/bob","data":{}}
{"path":"users/d é/x y/z","data":{"unicode id":"yes"}}
{"path":"orders/__id42__x","data":{"n":{"$int":"42"}}}
`

// everyTypeLines is everyTypeNDJSON for project, with a document of about
// 200 KB, whose record spans several 32 KiB blocks (FIRST, MIDDLE and LAST
// fragments), and 300 small ones.
func everyTypeLines(project string) []byte {
	var b strings.Builder
	b.WriteString(strings.ReplaceAll(everyTypeNDJSON, "PROJECT", project))
	fmt.Fprintf(&b, `{"path":"big/one","data":{"text":%q,"blob":{"$bytes":%q},"n":{"$int":"1"}}}`+"\n",
		strings.Repeat("0123456789abcdef", 8000), base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0, 1, 2, 255}, 15000)))
	for i := range 300 {
		fmt.Fprintf(&b, `{"path":"many/m%03d","data":{"i":{"$int":"%d"},"at":{"$timestamp":"2024-01-01T00:00:%02d.%06dZ"}}}`+"\n", i, i, i%60, i*3)
	}
	return []byte(b.String())
}

// docsOf parses NDJSON into documents by path, failing on a bad line.
func docsOf(tb testing.TB, ndjson []byte) map[string]map[string]any {
	tb.Helper()
	out := map[string]map[string]any{}
	for i, line := range bytes.Split(bytes.TrimSpace(ndjson), []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		p, data, err := transfer.ParseLine(line)
		if err != nil {
			tb.Fatalf("line %d: %v\n%s", i+1, err, line)
		}
		if _, dup := out[p]; dup {
			tb.Fatalf("document %s twice", p)
		}
		out[p] = data
	}
	return out
}

// sameDocs compares two sets of documents value for value.
func sameDocs(tb testing.TB, what string, got, want map[string]map[string]any) {
	tb.Helper()
	for p, w := range want {
		g, ok := got[p]
		if !ok {
			tb.Errorf("%s: document %s missing", what, p)
			continue
		}
		for k, wv := range w {
			gv, ok := g[k]
			if !ok {
				tb.Errorf("%s: %s: field %q missing", what, p, k)
				continue
			}
			if !value.Equal(gv, wv) {
				gj, _ := value.Encode(gv)
				wj, _ := value.Encode(wv)
				tb.Errorf("%s: %s: field %q: got %s, want %s", what, p, k, gj, wj)
			}
		}
		for k := range g {
			if _, ok := w[k]; !ok {
				tb.Errorf("%s: %s: unexpected field %q", what, p, k)
			}
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			tb.Errorf("%s: unexpected document %s", what, p)
		}
	}
}

// writeDocs writes documents with the SDK (gRPC, as every fbadmin write).
func writeDocs(tb testing.TB, f *emutest.Firestore, ndjson []byte) {
	tb.Helper()
	ctx := context.Background()
	for p, data := range docsOf(tb, ndjson) {
		if _, err := f.Client.Doc(p).Set(ctx, data); err != nil {
			tb.Fatalf("write %s: %v", p, err)
		}
	}
}

// ndjsonExport is fbadmin's own export of a database (transfer.Export).
func ndjsonExport(tb testing.TB, host, project string) []byte {
	tb.Helper()
	ctx := context.Background()
	db, err := transfer.Open(ctx, transfer.Config{Project: project, EmulatorHost: host})
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	var buf bytes.Buffer
	if _, err := transfer.Export(ctx, db, &buf, transfer.ExportOptions{}); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// emulatorExport asks the emulator to write a managed export of the
// project's default database into a new directory, and returns it.
func emulatorExport(tb testing.TB, host, project string) string {
	tb.Helper()
	dir := tb.TempDir()
	body := fmt.Sprintf(`{"database":"projects/%s/databases/(default)","export_directory":%q}`, project, dir)
	resp, err := http.Post("http://"+host+"/emulator/v1/projects/"+project+":export", "application/json", strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("emulator export: %s", resp.Status)
	}
	return dir
}

// Documents with every value type, written to the emulator and exported
// by the emulator in the managed format, read by this package: equal to
// fbadmin's NDJSON export of the same database, value for value.
func TestEmulatorManagedExportReads(t *testing.T) {
	f := emutest.NewFirestore(t)
	in := everyTypeLines(f.ProjectID)
	writeDocs(t, f, in)
	dir := emulatorExport(t, f.Host, f.ProjectID)

	ctx := context.Background()
	exp, err := Open(ctx, DirStore(dir), "")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := exp.Documents(), int64(len(docsOf(t, in))); got != want {
		t.Errorf("the metadata announces %d documents, want %d", got, want)
	}
	var managedOut bytes.Buffer
	if _, err := ToNDJSON(ctx, exp, &managedOut, ReadOptions{}, nil); err != nil {
		t.Fatal(err)
	}
	got := docsOf(t, managedOut.Bytes())
	sameDocs(t, "emulator's managed export vs fbadmin's NDJSON export", got, docsOf(t, ndjsonExport(t, f.Host, f.ProjectID)))
	sameDocs(t, "emulator's managed export vs the documents written", got, docsOf(t, in))

	// --collection keeps the collection IDs asked for, at any depth.
	managedOut.Reset()
	if _, err := ToNDJSON(ctx, exp, &managedOut, ReadOptions{Collections: []string{"posts", "comments"}}, nil); err != nil {
		t.Fatal(err)
	}
	var paths []string
	for p := range docsOf(t, managedOut.Bytes()) {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	if want := []string{"users/alice/posts/p1", "users/alice/posts/p1/comments/c1"}; !slices.Equal(paths, want) {
		t.Errorf("--collection posts,comments: got %v, want %v", paths, want)
	}
}

// fbadmin's managed export (NDJSON converted by Writer) loaded by a fresh
// emulator with --import-data, then read back: equal to the original,
// document for document, value for value.
func TestFreshEmulatorLoadsManagedExport(t *testing.T) {
	const project = "demo-managed-load"
	in := everyTypeLines(project)
	ctx := context.Background()
	root := t.TempDir()
	out := filepath.Join(root, "seed")
	w := NewWriter(ctx, DirStore(out), WriterOptions{Name: "seed", Project: project, FileBytes: 8 << 10})
	if _, err := FromNDJSON(ctx, bytes.NewReader(in), "every_type", w, nil); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	host := emutest.StartFirestore(t, "--import-data="+filepath.Join(out, "seed"+MetadataSuffix))
	sameDocs(t, "fresh emulator loaded from fbadmin's managed export vs the original", docsOf(t, ndjsonExport(t, host, project)), docsOf(t, in))
}
