package transfer

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	pb "cloud.google.com/go/firestore/apiv1/firestorepb"
)

func TestProbeSpeed(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "t.ndjson")
	f, _ := os.Create(file)
	w := bufio.NewWriter(f)
	i := 0
	for a := range 20 {
		for b := range 20 {
			for c := range 50 {
				fmt.Fprintf(w, `{"path":"bench/t%02d/mid/m%02d/leaf/l%04d","data":{"n":%d,"s":"x"}}`+"\n", a, b, c, i)
				i++
			}
		}
	}
	w.Flush()
	f.Close()
	st, err := Import(ctx, e.db, file, ImportOptions{Mode: ModeSet})
	t.Logf("import %+v %v", st, err)
	for _, parts := range []int{1, 2, 4} {
		start := time.Now()
		scans, _ := e.db.planTree(ctx, "", time.Time{}, parts)
		plan := time.Since(start)
		n := 0
		err := e.db.runScans(ctx, scans, scanOptions{}, parts, func(int, *pb.Document) error { n++; return nil })
		t.Logf("parts %d: %d scans, plan %v, %d docs in %v %v", parts, len(scans), plan, n, time.Since(start), err)
	}
	start := time.Now()
	n := 0
	e.db.run(ctx, scan{parent: e.db.Root(), all: true}, scanOptions{}, func(*pb.Document) error { n++; return nil })
	t.Logf("unbounded kindless: %d in %v", n, time.Since(start))
	start = time.Now()
	n = 0
	e.db.run(ctx, scan{parent: e.db.Root(), collection: "leaf", all: true}, scanOptions{}, func(*pb.Document) error { n++; return nil })
	t.Logf("group leaf: %d in %v", n, time.Since(start))
}
