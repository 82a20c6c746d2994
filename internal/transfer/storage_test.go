package transfer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"cloud.google.com/go/firestore/apiv1/firestorepb"

	"github.com/fbadmin/fbadmin/internal/errs"
	"github.com/fbadmin/fbadmin/internal/storage"
	"github.com/fbadmin/fbadmin/internal/storage/storagetest"
)

// putLines writes n import lines to an object or file.
func putLines(t *testing.T, arg string, n, seed int) {
	t.Helper()
	w, err := storage.Create(context.Background(), arg)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		fmt.Fprintf(w, `{"path":"r/%05d","data":{"i":%d}}`+"\n", i, i+seed)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func count(t *testing.T, e *env, coll string) int64 {
	t.Helper()
	agg, err := e.fs.Client.Collection(coll).NewAggregationQuery().WithCount("n").Get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return agg["n"].(*firestorepb.Value).GetIntegerValue()
}

// TestExportImportThroughObjects exports a tree to Cloud Storage and S3
// (plain, gzip, zstd) and imports each object into a fresh database.
func TestExportImportThroughObjects(t *testing.T) {
	storagetest.StartGCS(t, "bkt")
	s3 := storagetest.StartS3(t, "bkt")
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	src := newEnv(t)
	paths := src.tree(t)
	for _, ext := range []string{".ndjson", ".ndjson.gz", ".ndjson.zst"} {
		for _, url := range []string{"gs://bkt/exp/t" + ext, s3.URL("bkt", "exp/t"+ext)} {
			t.Run(strings.SplitN(url, "?", 2)[0], func(t *testing.T) {
				w, err := storage.Create(context.Background(), url)
				if err != nil {
					t.Fatal(err)
				}
				st, err := Export(context.Background(), src.db, w, ExportOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}
				if st.Docs != int64(len(paths)) {
					t.Fatalf("exported %d, want %d", st.Docs, len(paths))
				}
				dst := newEnv(t)
				ist, err := Import(context.Background(), dst.db, url, ImportOptions{Mode: ModeCreate})
				if err != nil || ist.Docs != int64(len(paths)) || ist.Failed != 0 {
					t.Fatalf("import from %s: %+v %v, want %d documents", url, ist, err, len(paths))
				}
				got, _ := exportPaths(t, dst.db, ExportOptions{})
				want, _ := exportPaths(t, src.db, ExportOptions{})
				if strings.Join(got, ",") != strings.Join(want, ",") {
					t.Errorf("imported %v, want %v", got, want)
				}
				if _, err := os.Stat(JournalPath(url)); !os.IsNotExist(err) {
					t.Errorf("journal %s left after a complete import: %v", JournalPath(url), err)
				}
			})
		}
	}
}

// interruptImport starts an import of url and cancels it partway.
func interruptImport(t *testing.T, e *env, url string, n int) Stats {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := Import(ctx, e.db, url, ImportOptions{Mode: ModeCreate, Concurrency: 2, Progress: &cancelAfter{n: int64(n) / 4, cancel: cancel}})
	if !IsInterrupted(err) || st.Docs >= int64(n) || st.Docs == 0 {
		t.Fatalf("interrupted import: %+v %v, want a context error partway", st, err)
	}
	if _, err := os.Stat(JournalPath(url)); err != nil {
		t.Fatalf("no journal for %s at %s: %v", url, JournalPath(url), err)
	}
	return st
}

func TestImportResumeFromObject(t *testing.T) {
	storagetest.StartGCS(t, "bkt")
	s3 := storagetest.StartS3(t, "bkt")
	state := t.TempDir()
	t.Setenv("XDG_STATE_HOME", state)
	const n = 5000
	for _, url := range []string{"gs://bkt/r.ndjson.gz", s3.URL("bkt", "r.ndjson.zst")} {
		t.Run(strings.SplitN(url, "?", 2)[0], func(t *testing.T) {
			e := newEnv(t)
			putLines(t, url, n, 0)
			st := interruptImport(t, e, url, n)
			if !strings.HasPrefix(JournalPath(url), state) {
				t.Errorf("journal %s not under XDG_STATE_HOME %s", JournalPath(url), state)
			}
			if _, err := Import(context.Background(), e.db, url, ImportOptions{Mode: ModeCreate}); !errors.Is(err, ErrJournalPending) {
				t.Errorf("rerun without resume: %v, want the pending journal", err)
			}
			st2, err := Import(context.Background(), e.db, url, ImportOptions{Mode: ModeCreate, Resume: true})
			if err != nil || st2.Failed != 0 || st2.Resumed != st.Docs || st.Docs+st2.Docs+st2.Skipped != n {
				t.Fatalf("resume: %+v %v after %+v, want the rest of %d", st2, err, st, n)
			}
			if got := count(t, e, "r"); got != n {
				t.Errorf("%d documents after resume, want %d", got, n)
			}
		})
	}
}

func TestImportResumeRefusesChangedObject(t *testing.T) {
	storagetest.StartGCS(t, "bkt")
	s3 := storagetest.StartS3(t, "bkt")
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	const n = 4000
	for _, url := range []string{"gs://bkt/c.ndjson", s3.URL("bkt", "c.ndjson")} {
		t.Run(strings.SplitN(url, "?", 2)[0], func(t *testing.T) {
			e := newEnv(t)
			putLines(t, url, n, 0)
			interruptImport(t, e, url, n)
			putLines(t, url, n, 7) // same size, other content: a new version
			_, err := Import(context.Background(), e.db, url, ImportOptions{Mode: ModeCreate, Resume: true})
			shown := strings.SplitN(url, "?", 2)[0]
			if !errors.Is(err, errs.ErrConflict) || !strings.Contains(err.Error(), shown) || !strings.Contains(err.Error(), "changed since the interrupted import started") {
				t.Fatalf("resume of a changed object: %v, want a conflict naming %s and saying it changed", err, shown)
			}
		})
	}
}

func TestImportChecksManifestPart(t *testing.T) {
	storagetest.StartGCS(t, "bkt")
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	e := newEnv(t)
	url := "gs://bkt/p/part-00000.ndjson"
	putLines(t, url, 100, 0)
	info, err := storage.Stat(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	bad := storage.Part{Name: "part-00000.ndjson", Docs: 100, Bytes: info.Size, CRC32C: "AAAAAA=="}
	_, err = Import(context.Background(), e.db, url, ImportOptions{Mode: ModeCreate, Expect: &bad})
	if !errors.Is(err, errs.ErrInvalid) || !strings.Contains(err.Error(), "does not match the manifest") {
		t.Fatalf("import with a wrong checksum: %v, want invalid naming the manifest", err)
	}
	if got := count(t, e, "r"); got != 0 {
		t.Errorf("%d documents written from a part that failed its check", got)
	}
	if _, err := os.Stat(JournalPath(url)); !os.IsNotExist(err) {
		t.Errorf("journal left by a refused import: %v", err)
	}
}
