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
	if _, err := Import(ctx, e.db, file, ImportOptions{Mode: ModeSet}); err != nil {
		t.Fatal(err)
	}
	root := e.db.Root()
	count := func(name string, scans []scan) {
		start := time.Now()
		n := 0
		for _, s := range scans {
			if err := e.db.run(ctx, s, scanOptions{}, func(*pb.Document) error { n++; return nil }); err != nil {
				t.Fatal(err)
			}
		}
		t.Logf("%-28s %6d docs %8.0f ms", name, n, float64(time.Since(start).Microseconds())/1000)
	}
	for round := 0; round < 2; round++ {
		count("kindless unbounded", []scan{{parent: root, all: true}})
		count("kindless lo-bounded", []scan{{parent: root, all: true, lo: root + "/bench/t00"}})
		var r4 []scan
		cuts := []string{root + "/bench/t00", root + "/bench/t05", root + "/bench/t10", root + "/bench/t15", ""}
		for k := 0; k < 4; k++ {
			r4 = append(r4, scan{parent: root, all: true, lo: cuts[k], hi: cuts[k+1]})
		}
		count("4 name ranges (sequential)", r4)
		var sub []scan
		for a := range 20 {
			sub = append(sub, scan{parent: fmt.Sprintf("%s/bench/t%02d", root, a), all: true})
		}
		count("20 subtrees (sequential)", sub)
		count("3 collection groups", []scan{{parent: root, collection: "bench", all: true}, {parent: root, collection: "mid", all: true}, {parent: root, collection: "leaf", all: true}})
	}
}
