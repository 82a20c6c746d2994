package managed

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/fbadmin/fbadmin/internal/storage/storagetest"
)

// An export written to a Cloud Storage or S3 prefix (the fake servers of
// storagetest) is found there by its prefix or its metadata file, and
// reads back the same.
func TestExportThroughObjectStores(t *testing.T) {
	ctx := context.Background()
	storagetest.StartGCS(t, "backups")
	s3 := storagetest.StartS3(t, "backups")
	in, err := os.ReadFile("testdata/every_type.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	for _, root := range []string{"gs://backups/2024-05-01", s3.URL("backups", "nightly/2024-05-01")} {
		t.Run(root[:2], func(t *testing.T) {
			store, name, err := CreateStore(root)
			if err != nil {
				t.Fatal(err)
			}
			if name != "2024-05-01" {
				t.Fatalf("export name %q", name)
			}
			w := NewWriter(ctx, store, WriterOptions{Name: name, Project: "p"})
			if _, err := FromNDJSON(ctx, bytes.NewReader(in), "every_type.ndjson", w, nil); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			for _, arg := range []string{root, withSuffix(root, "/"), withSuffix(root, "/"+name+MetadataSuffix)} {
				store, meta, ok, err := Locate(ctx, arg)
				if err != nil || !ok {
					t.Fatalf("Locate(%s) = %v, %v", arg, ok, err)
				}
				exp, err := Open(ctx, store, meta)
				if err != nil {
					t.Fatalf("Open(%s): %v", arg, err)
				}
				var out bytes.Buffer
				if _, err := ToNDJSON(ctx, exp, &out, ReadOptions{}, nil); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(out.Bytes(), in) {
					t.Fatalf("%s: read back\n%s\nwant\n%s", arg, out.Bytes(), in)
				}
			}
			// An object that is not an export is not taken for one.
			if _, _, ok, err := Locate(ctx, withSuffix(root, "/all_namespaces/all_kinds/output-0")); ok || err != nil {
				t.Fatalf("an output file located as an export: %v %v", ok, err)
			}
		})
	}
}

// withSuffix adds to the key of a URL, before its query.
func withSuffix(root, suffix string) string {
	if i := strings.IndexByte(root, '?'); i >= 0 {
		return root[:i] + suffix + root[i:]
	}
	return root + suffix
}
