package storage_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fbadmin/fbadmin/internal/errs"
	"github.com/fbadmin/fbadmin/internal/storage"
	"github.com/fbadmin/fbadmin/internal/storage/storagetest"
)

// backends starts both fakes and returns a URL maker per backend, plus the
// local directory.
func backends(t *testing.T) map[string]func(key string) string {
	t.Helper()
	storagetest.StartGCS(t, "bkt")
	s3 := storagetest.StartS3(t, "bkt")
	dir := t.TempDir()
	return map[string]func(string) string{
		"local": func(key string) string { return filepath.Join(dir, filepath.FromSlash(key)) },
		"file":  func(key string) string { return "file://" + filepath.ToSlash(filepath.Join(dir, key)) },
		"gcs":   func(key string) string { return "gs://bkt/" + key },
		"s3":    func(key string) string { return s3.URL("bkt", key) },
	}
}

func content(n int) []byte {
	var b bytes.Buffer
	for i := range n {
		fmt.Fprintf(&b, `{"path":"c/d%06d","data":{"n":{"integerValue":"%d"}}}`+"\n", i, i)
	}
	return b.Bytes()
}

func write(t *testing.T, arg string, data []byte) {
	t.Helper()
	w, err := storage.Create(context.Background(), arg)
	if err != nil {
		t.Fatalf("create %s: %v", arg, err)
	}
	// Several writes, as a stream.
	for len(data) > 0 {
		n := min(len(data), 7777)
		if _, err := w.Write(data[:n]); err != nil {
			t.Fatalf("write %s: %v", arg, err)
		}
		data = data[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatalf("close %s: %v", arg, err)
	}
}

func read(t *testing.T, arg string) ([]byte, storage.Info) {
	t.Helper()
	r, err := storage.Open(context.Background(), arg)
	if err != nil {
		t.Fatalf("open %s: %v", arg, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read %s: %v", arg, err)
	}
	return b, r.Info()
}

func TestRoundTripEachBackendAndCompression(t *testing.T) {
	data := content(5000)
	for name, url := range backends(t) {
		for _, ext := range []string{".ndjson", ".ndjson.gz", ".ndjson.zst"} {
			t.Run(name+ext, func(t *testing.T) {
				arg := url("x" + ext)
				write(t, arg, data)
				got, info := read(t, arg)
				if !bytes.Equal(got, data) {
					t.Fatalf("read back %d bytes, want the %d written", len(got), len(data))
				}
				st, err := storage.Stat(context.Background(), arg)
				if err != nil {
					t.Fatal(err)
				}
				if st.Size != info.Size || st.Version != info.Version {
					t.Errorf("stat %+v, reader info %+v: want the same size and version", st, info)
				}
				compressed := ext != ".ndjson"
				if compressed && st.Size >= int64(len(data))/2 {
					t.Errorf("stored %d bytes for %d of repetitive NDJSON: not compressed", st.Size, len(data))
				}
				if !compressed && st.Size != int64(len(data)) {
					t.Errorf("stored %d bytes, want %d", st.Size, len(data))
				}
				if (name == "gcs" || name == "s3") != (info.Version != "") {
					t.Errorf("version %q for %s", info.Version, name)
				}
			})
		}
	}
}

func TestVersionChangesWithContent(t *testing.T) {
	for name, url := range backends(t) {
		if name == "local" || name == "file" {
			continue
		}
		t.Run(name, func(t *testing.T) {
			arg := url("v.ndjson")
			write(t, arg, content(10))
			a, err := storage.Stat(context.Background(), arg)
			if err != nil {
				t.Fatal(err)
			}
			write(t, arg, content(11))
			b, err := storage.Stat(context.Background(), arg)
			if err != nil {
				t.Fatal(err)
			}
			if a.Version == b.Version {
				t.Errorf("version %q before and after a rewrite", a.Version)
			}
		})
	}
}

func TestAbortLeavesNothing(t *testing.T) {
	for name, url := range backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			arg := url("aborted.ndjson")
			w, err := storage.Create(ctx, arg)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write(content(100)); err != nil {
				t.Fatal(err)
			}
			w.Abort()
			if _, err := storage.Stat(ctx, arg); !errors.Is(err, errs.ErrNotFound) {
				t.Errorf("stat after abort: %v, want not found", err)
			}
			if name == "local" {
				if _, err := os.Stat(arg + ".partial"); !os.IsNotExist(err) {
					t.Errorf("%s.partial left behind: %v", arg, err)
				}
			}
		})
	}
}

func TestCancelledWriteLeavesNothing(t *testing.T) {
	for name, url := range backends(t) {
		if name == "local" || name == "file" {
			continue
		}
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			arg := url("cancelled.ndjson")
			w, err := storage.Create(ctx, arg)
			if err != nil {
				t.Fatal(err)
			}
			w.Write(content(100))
			cancel()
			if err := w.Close(); err == nil {
				t.Fatal("close after cancel: no error")
			}
			if _, err := storage.Stat(context.Background(), arg); !errors.Is(err, errs.ErrNotFound) {
				t.Errorf("stat after a cancelled write: %v, want not found", err)
			}
		})
	}
}

func TestErrorsNameTheURLAndMapToKinds(t *testing.T) {
	urls := backends(t)
	ctx := context.Background()
	s3q := strings.SplitN(urls["s3"]("x"), "?", 2)[1]
	cases := []struct {
		name, arg string
		kind      error
	}{
		{"local missing", urls["local"]("nope.ndjson"), errs.ErrNotFound},
		{"gcs missing object", "gs://bkt/nope.ndjson", errs.ErrNotFound},
		{"gcs missing bucket", "gs://nobucket/x.ndjson", errs.ErrNotFound},
		{"s3 missing object", "s3://bkt/nope.ndjson?" + s3q, errs.ErrNotFound},
		{"s3 missing bucket", "s3://nobucket/x.ndjson?" + s3q, errs.ErrNotFound},
		{"gcs denied", "gs://" + storagetest.DeniedBucket + "/x.ndjson", errs.ErrPermission},
		{"s3 denied", "s3://" + storagetest.DeniedBucket + "/x.ndjson?" + s3q, errs.ErrPermission},
		{"bad scheme", "ftp://host/x", errs.ErrInvalid},
		{"s3 bad setting", "s3://bkt/x?regoin=eu", errs.ErrInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := storage.Open(ctx, c.arg)
			if !errors.Is(err, c.kind) {
				t.Fatalf("open %s: %v, want kind %v", c.arg, err, c.kind)
			}
			shown := strings.SplitN(c.arg, "?", 2)[0]
			if !strings.Contains(err.Error(), shown) {
				t.Errorf("error %q does not name %s", err, shown)
			}
		})
	}
	t.Run("create in denied bucket", func(t *testing.T) {
		for _, arg := range []string{"gs://" + storagetest.DeniedBucket + "/x.ndjson", "s3://" + storagetest.DeniedBucket + "/x.ndjson?" + s3q} {
			w, err := storage.Create(ctx, arg)
			if err == nil {
				w.Write([]byte("{}\n"))
				err = w.Close()
			}
			if !errors.Is(err, errs.ErrPermission) {
				t.Errorf("create %s: %v, want permission denied", arg, err)
			}
		}
	})
	t.Run("create in missing bucket", func(t *testing.T) {
		for _, arg := range []string{"gs://nobucket/x.ndjson", "s3://nobucket/x.ndjson?" + s3q} {
			_, err := storage.Create(ctx, arg)
			if !errors.Is(err, errs.ErrNotFound) {
				t.Errorf("create %s: %v, want not found", arg, err)
			}
		}
	})
}

func TestBadCompressedData(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x.ndjson.gz")
	os.WriteFile(p, []byte("plain text, not gzip\n"), 0o644)
	r, err := storage.Open(context.Background(), p)
	if err == nil {
		_, err = io.ReadAll(r)
		r.Close()
	}
	if !errors.Is(err, errs.ErrInvalid) || !strings.Contains(err.Error(), p) {
		t.Errorf("reading plain text as .gz: %v, want invalid naming %s", err, p)
	}
}

func TestListAndDelete(t *testing.T) {
	for name, url := range backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			if name == "local" || name == "file" {
				os.MkdirAll(strings.TrimPrefix(url("p"), "file://"), 0o755)
			}
			for _, k := range []string{"p/a.ndjson", "p/b.ndjson.gz"} {
				write(t, url(k), content(3))
			}
			l, err := storage.Parse(url("p/"))
			if err != nil {
				t.Fatal(err)
			}
			got, err := l.List(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, in := range got {
				names = append(names, in.Name)
			}
			if strings.Join(names, ",") != "a.ndjson,b.ndjson.gz" {
				t.Errorf("list: got %v, want [a.ndjson b.ndjson.gz]", names)
			}
			if err := l.Join("a.ndjson").Delete(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := l.Join("a.ndjson").Stat(ctx); !errors.Is(err, errs.ErrNotFound) {
				t.Errorf("stat after delete: %v, want not found", err)
			}
		})
	}
}
