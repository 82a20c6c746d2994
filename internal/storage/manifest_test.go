package storage_test

import (
	"bytes"
	"context"
	"errors"
	"hash/crc32"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/fbadmin/fbadmin/internal/errs"
	"github.com/fbadmin/fbadmin/internal/storage"
)

func TestSplitWriterAndManifest(t *testing.T) {
	data := content(3000) // about 150 kB
	for name, url := range backends(t) {
		for _, comp := range []storage.Compression{storage.None, storage.Gzip, storage.Zstd} {
			t.Run(name+"/"+string(comp), func(t *testing.T) {
				ctx := context.Background()
				prefix, err := storage.Parse(url(name + "-exp-" + string(comp) + "/"))
				if err != nil {
					t.Fatal(err)
				}
				sw, err := storage.NewSplitWriter(ctx, prefix, 40_000, comp)
				if err != nil {
					t.Fatal(err)
				}
				for rest := data; len(rest) > 0; {
					n := min(len(rest), 9999) // writes that cut lines anywhere
					if _, err := sw.Write(rest[:n]); err != nil {
						t.Fatal(err)
					}
					rest = rest[n:]
				}
				rt := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
				m, err := sw.Finish(storage.Manifest{Project: "p", Database: "(default)", ReadTime: &rt})
				if err != nil {
					t.Fatal(err)
				}
				if len(m.Parts) < 3 || m.Docs != 3000 {
					t.Fatalf("%d parts, %d docs: want several parts, 3000 docs", len(m.Parts), m.Docs)
				}
				got, dir, err := storage.ReadManifest(ctx, prefix)
				if err != nil {
					t.Fatal(err)
				}
				if dir.String() != prefix.String() || got.Docs != m.Docs || len(got.Parts) != len(m.Parts) || !got.ReadTime.Equal(rt) {
					t.Fatalf("read back %+v under %s, want %+v under %s", got, dir, m, prefix)
				}
				var all bytes.Buffer
				for _, p := range got.Parts {
					if !strings.HasSuffix(p.Name, ".ndjson"+comp.Ext()) {
						t.Errorf("part %s: want the extension .ndjson%s", p.Name, comp.Ext())
					}
					r, err := dir.Join(p.Name).Open(ctx)
					if err != nil {
						t.Fatal(err)
					}
					b, err := io.ReadAll(r)
					r.Close()
					if err != nil {
						t.Fatal(err)
					}
					if n := int64(bytes.Count(b, []byte("\n"))); n != p.Docs || !bytes.HasSuffix(b, []byte("\n")) {
						t.Errorf("part %s: %d whole lines, manifest says %d", p.Name, n, p.Docs)
					}
					if r.StoredBytes() != p.Bytes || storage.CRC32C(r.CRC32C()) != p.CRC32C {
						t.Errorf("part %s: read %d bytes crc32c %s, manifest says %d, %s", p.Name, r.StoredBytes(), storage.CRC32C(r.CRC32C()), p.Bytes, p.CRC32C)
					}
					all.Write(b)
				}
				if !bytes.Equal(all.Bytes(), data) {
					t.Errorf("the parts joined differ from what was written")
				}
				if _, err := storage.NewSplitWriter(ctx, prefix, 1000, comp); !errors.Is(err, errs.ErrAlreadyExists) {
					t.Errorf("a second export under the same prefix: %v, want already exists", err)
				}
			})
		}
	}
}

func TestSplitWriterAbortDeletesParts(t *testing.T) {
	ctx := context.Background()
	prefix, _ := storage.Parse("gs://bkt/aborted/")
	backends(t)
	sw, err := storage.NewSplitWriter(ctx, prefix, 10_000, storage.None)
	if err != nil {
		t.Fatal(err)
	}
	sw.Write(content(1000))
	if len(sw.Parts()) == 0 {
		t.Fatal("no part closed")
	}
	sw.Abort(ctx)
	left, err := prefix.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Errorf("after abort, %d objects left: %v", len(left), left)
	}
}

func TestCRC32CFormat(t *testing.T) {
	// 'gcloud storage hash' shows the CRC-32C of "hello world" as yZRlqg==.
	if got := storage.CRC32C(crc32.Checksum([]byte("hello world"), crc32.MakeTable(crc32.Castagnoli))); got != "yZRlqg==" {
		t.Errorf("CRC32C(hello world) = %s, want yZRlqg==", got)
	}
}

func TestParseManifestRefuses(t *testing.T) {
	ok := `{"format":"fbadmin-ndjson-parts","version":1,"started":"2026-12-05T10:00:00Z","finished":"2026-12-05T10:00:01Z","parts":[{"name":"part-00000.ndjson","docs":2,"bytes":10,"crc32c":"yZRlqg=="}],"docs":2,"bytes":10}`
	if _, err := storage.ParseManifest([]byte(ok)); err != nil {
		t.Fatalf("a good manifest: %v", err)
	}
	for _, c := range []struct{ from, to, want string }{
		{`"version":1`, `"version":2`, "newer"},
		{`"format":"fbadmin-ndjson-parts"`, `"format":"x"`, "format"},
		{`"part-00000.ndjson"`, `"../etc/passwd"`, "plain file name"},
		{`"docs":2,"bytes":10}`, `"docs":3,"bytes":10}`, "add up"},
		{`"crc32c":"yZRlqg=="`, `"crc32c":"zz"`, "crc32c"},
		{`"docs":2,"bytes":10,"crc32c"`, `"docs":-2,"bytes":10,"crc32c"`, "negative"},
		{`"version":1`, `"version":1,"extra":true`, "unknown field"},
	} {
		bad := strings.Replace(ok, c.from, c.to, 1)
		if _, err := storage.ParseManifest([]byte(bad)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseManifest with %s: %v, want an error saying %q", c.to, err, c.want)
		}
	}
}

func FuzzParseManifest(f *testing.F) {
	f.Add([]byte(`{"format":"fbadmin-ndjson-parts","version":1,"parts":[{"name":"part-00000.ndjson","docs":2,"bytes":10,"crc32c":"yZRlqg=="}],"docs":2,"bytes":10}`))
	f.Add([]byte(`{"format":"fbadmin-ndjson-parts","version":1,"parts":[],"docs":0,"bytes":0}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := storage.ParseManifest(b)
		if err != nil {
			return
		}
		// What parses is safe to use: plain names, totals that add up.
		var docs, size int64
		for _, p := range m.Parts {
			if p.Name == "" || strings.ContainsAny(p.Name, "/\\") || p.Name == ".." || p.Docs < 0 || p.Bytes < 0 {
				t.Fatalf("accepted part %+v", p)
			}
			docs += p.Docs
			size += p.Bytes
		}
		if docs != m.Docs || size != m.Bytes {
			t.Fatalf("accepted totals %d/%d, parts add up to %d/%d", m.Docs, m.Bytes, docs, size)
		}
	})
}
