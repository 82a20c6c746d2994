package console_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/fbadmin/fbadmin/console"
	"github.com/fbadmin/fbadmin/internal/emutest"
	"github.com/fbadmin/fbadmin/internal/transfer"
	"github.com/fbadmin/fbadmin/repository"
)

// BenchmarkCollectionPage measures the server time of a collection view's
// page of 100 documents (query and rendering, in process, no network),
// beside the same query straight through the repository
// (page_vs_query). FBADMIN_CONSOLE_BENCH_DOCS sets the collection's size
// (default 10000; the figure is for 100,000).
func BenchmarkCollectionPage(b *testing.B) {
	n := 10000
	if s := os.Getenv("FBADMIN_CONSOLE_BENCH_DOCS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 100 {
			b.Fatalf("FBADMIN_CONSOLE_BENCH_DOCS=%q: want a number of at least 100", s)
		}
	}
	fs := emutest.NewFirestore(b)
	ctx := b.Context()
	db, err := transfer.Open(ctx, transfer.Config{Project: fs.ProjectID, EmulatorHost: fs.Host})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	bw := fs.Client.BulkWriter(ctx)
	for i := range n {
		if _, err := bw.Set(fs.Client.Doc(fmt.Sprintf("bench/d%07d", i)), map[string]any{
			"n": int64(i), "name": fmt.Sprintf("user %d", i), "score": float64(i) / 7, "active": i%2 == 0, "tags": []any{"a", "b"},
		}); err != nil {
			b.Fatal(err)
		}
	}
	bw.End()
	srv, err := console.New(ctx, console.Config{Firestore: fs.Client, DB: db, Token: testToken})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	h := srv.Handler()
	login := httptest.NewRecorder()
	h.ServeHTTP(login, httptest.NewRequest("GET", "/login?token="+testToken, nil))
	cookie := login.Result().Cookies()[0]
	page := func() {
		req := httptest.NewRequest("GET", "/c/bench", nil)
		req.AddCookie(cookie)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("page: got %d", rec.Code)
		}
	}
	q := repository.New[map[string]any](fs.Client, "bench").Query().Limit(100)
	query := func() {
		k := 0
		for _, err := range q.All(ctx) {
			if err != nil {
				b.Fatal(err)
			}
			k++
		}
		if k != 100 {
			b.Fatalf("query: %d documents", k)
		}
	}
	page() // warm up both
	query()
	b.ResetTimer()
	var pageNs, queryNs int64
	for b.Loop() {
		t0 := nanotime()
		page()
		t1 := nanotime()
		query()
		pageNs += t1 - t0
		queryNs += nanotime() - t1
	}
	b.ReportMetric(float64(pageNs)/float64(b.N)/1e6, "page_ms")
	b.ReportMetric(float64(queryNs)/float64(b.N)/1e6, "query_ms")
	b.ReportMetric(float64(pageNs)/float64(queryNs), "page_vs_query")
}

func nanotime() int64 { return time.Now().UnixNano() }
