// Command console is the benchmark of `fbadmin console` (issue 19), run by
// "scripts/bench.sh console": on the Firestore emulator, in one run, it
// seeds a collection of -docs documents (100,000 by default), serves the
// console in this process on 127.0.0.1:0 (console.New and Server.Serve, as
// the command does) and measures it with an HTTP client and a headless
// Chromium (internal/chromium, chromedp).
//
// Figures (the last line of stdout is one JSON object):
//
//   - "list_ms_p50": the median time to the full response of a 100-row
//     collection page (GET /c/items with the session cookie, body read to
//     the end), over -rounds rounds of the first page and the next
//     -pages-1 pages reached through each page's page-next link (page
//     tokens); target under 150 ms. The client is on the same loopback, so
//     this is the server's time to render plus a local round trip;
//     "list_server_ms_p50" is the time the page itself reports ("rendered
//     in N ms"), for context.
//   - "list_vs_cli": list_ms_p50 over the median wall time of the command
//     `fbadmin --emulator fs query items --limit 100 -o json`, run as a
//     process (built from this checkout) -cli-runs times, interleaved with
//     the console's rounds; target at most 1.5. This is what each costs
//     the user who waits for 100 documents; the CLI's figure includes its
//     process start and its connection to the emulator, which the running
//     console has already paid. For the pure query without those,
//     "inprocess_query_ms_p50" is the same 100-document query through the
//     repository in this process, values encoded in the value format as
//     the CLI prints them, and "list_vs_inprocess_query" the ratio to it.
//   - "small_list_ms_p50", "small_inprocess_ms_p50": the same page renders
//     and in-process query on a second collection of 1,000 documents. The
//     gcloud Firestore emulator answers a query by scanning the whole
//     collection (measured here: a 100-document page of 100,000 documents
//     takes seconds for the Go SDK alone, ListDocuments too), so on the
//     large collection the emulator is the floor of every client; on the
//     small one the console's own cost shows.
//   - "live_p99_vs_bare": the 99th percentile of write-to-browser latency
//     in live mode over that of a bare Go SDK snapshot listener, both on
//     the same emulator, measured interleaved write for write (-live-writes
//     each, -live-gap apart). Browser: the collection page in live mode
//     (/c/live?live=1) with a MutationObserver injected that records
//     performance.timeOrigin+performance.now() when a doc-row for a new
//     path enters the DOM; latency is that time minus the wall-clock time
//     just before the Go client's Set. Bare: a snapshot listener on the
//     same query shape (the first 100 documents by ID) in this process,
//     timed from just before Set to the snapshot that adds the document.
//     Documents get decreasing IDs, so each new one is on the first page.
//     Target at most 2.
//   - "page_weight_kb": the transferred bytes (the encodedDataLength of
//     every Network.loadingFinished: bodies and headers as received) of the
//     first load of the collection view of the 100,000-document collection
//     in a fresh browser context with the cache disabled, the document,
//     its CSS and JS and the requests its script makes until the
//     asynchronous count is done; target under 300.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/firestore"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"golang.org/x/sync/errgroup"

	"github.com/fbadmin/fbadmin/console"
	"github.com/fbadmin/fbadmin/internal/chromium"
	"github.com/fbadmin/fbadmin/internal/emutest"
	"github.com/fbadmin/fbadmin/internal/transfer"
	"github.com/fbadmin/fbadmin/internal/value"
	"github.com/fbadmin/fbadmin/repository"
)

// smallDocs is the size of the second, small collection the list figures
// are also measured on.
const smallDocs = 1000

type config struct {
	docs, rounds, pages, cliRuns, liveWrites int
	liveGap                                  time.Duration
}

func main() {
	var c config
	flag.IntVar(&c.docs, "docs", 100000, "documents in the listed collection")
	flag.IntVar(&c.rounds, "rounds", 4, "rounds of page renders (each: -pages pages and -cli-runs/-rounds CLI runs)")
	flag.IntVar(&c.pages, "pages", 5, "pages per round: the first, then the next ones by page token")
	flag.IntVar(&c.cliRuns, "cli-runs", 8, "runs of fbadmin fs query --limit 100 (spread over the rounds)")
	flag.IntVar(&c.liveWrites, "live-writes", 100, "timed writes for the live browser and for the bare listener, each")
	flag.DurationVar(&c.liveGap, "live-gap", 60*time.Millisecond, "pause after each timed write")
	flag.Parse()
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "bench console:", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) { fmt.Fprintf(os.Stderr, "bench console: "+format+"\n", args...) }

func run(c config) error {
	host := os.Getenv("FIRESTORE_EMULATOR_HOST")
	if host == "" {
		return errors.New("FIRESTORE_EMULATOR_HOST is not set: run through scripts/bench.sh console, which starts the emulators")
	}
	browserPath, err := chromium.Path()
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "fbadmin-bench-console-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	bin, err := emutest.BuildFbadmin(work)
	if err != nil {
		return err
	}

	var rb [4]byte
	_, _ = rand.Read(rb[:])
	project := "demo-benchconsole-" + hex.EncodeToString(rb[:])
	defer func() {
		if err := emutest.ResetFirestore(host, project, firestore.DefaultDatabaseID); err != nil {
			logf("reset %s: %v", project, err)
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	client, err := firestore.NewClient(ctx, project)
	if err != nil {
		return err
	}
	defer client.Close()

	logf("seeding %d documents into %s/items", c.docs, project)
	seedRate, err := seed(ctx, client, "items", c.docs)
	if err != nil {
		return err
	}
	logf("seeded at %.0f docs/s", seedRate)
	if _, err := seed(ctx, client, "small", smallDocs); err != nil {
		return err
	}

	// The console, served as the command serves it.
	consoleClient, err := firestore.NewClient(ctx, project)
	if err != nil {
		return err
	}
	defer consoleClient.Close()
	db, err := transfer.Open(ctx, transfer.Config{Project: project, EmulatorHost: host})
	if err != nil {
		return err
	}
	defer db.Close()
	srv, err := console.New(ctx, console.Config{Firestore: consoleClient, DB: db})
	if err != nil {
		return err
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	base := "http://" + ln.Addr().String()
	sctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(sctx, ln) }()
	defer func() { stop(); <-served }()

	hc, err := login(srv, base)
	if err != nil {
		return err
	}

	listLat, serverLat, cliLat, err := listVsCLI(ctx, c, hc, base, "items", bin, project)
	if err != nil {
		return err
	}
	inproc, err := inprocessQuery(ctx, client, "items", 8)
	if err != nil {
		return err
	}
	// The same on a small collection, where the emulator's scan is not
	// the floor: the console's own cost shows.
	smallLat, _, _, err := listVsCLI(ctx, c, hc, base, "small", "", project)
	if err != nil {
		return err
	}
	smallIn, err := inprocessQuery(ctx, client, "small", 20)
	if err != nil {
		return err
	}
	logf("list small (%d docs): console page p50 %.1f ms, in-process query p50 %.1f ms", smallDocs, ms(pct(smallLat, 0.5)), ms(pct(smallIn, 0.5)))
	listP50, cliP50, inP50 := ms(pct(listLat, 0.5)), ms(pct(cliLat, 0.5)), ms(pct(inproc, 0.5))
	logf("list: console page p50 %.1f ms (p90 %.1f, %d pages); fs query --limit 100 process p50 %.1f ms (%d runs); in-process query p50 %.1f ms",
		listP50, ms(pct(listLat, 0.9)), len(listLat), cliP50, len(cliLat), inP50)

	bctx, bcancel, err := chromium.Start(ctx, browserPath, nil)
	if err != nil {
		return err
	}
	defer bcancel()
	weight, requests, err := pageWeight(bctx, srv, base)
	if err != nil {
		return fmt.Errorf("page weight: %w", err)
	}
	logf("page weight: %.1f KB in %d responses", weight/1024, requests)

	liveLat, bareLat, err := liveVsBare(ctx, bctx, c, srv, base, project)
	if err != nil {
		return fmt.Errorf("live: %w", err)
	}
	liveP99, bareP99 := ms(pct(liveLat, 0.99)), ms(pct(bareLat, 0.99))
	logf("live: browser p50 %.1f ms p99 %.1f ms; bare listener p50 %.1f ms p99 %.1f ms (%d writes each)",
		ms(pct(liveLat, 0.5)), liveP99, ms(pct(bareLat, 0.5)), bareP99, len(liveLat))

	out := map[string]any{
		"docs":                    c.docs,
		"seed_docs_per_s":         round(seedRate),
		"list_ms_p50":             round(listP50),
		"list_ms_p90":             round(ms(pct(listLat, 0.9))),
		"list_pages_timed":        len(listLat),
		"list_server_ms_p50":      round(ms(pct(serverLat, 0.5))),
		"cli_ms_p50":              round(cliP50),
		"cli_runs":                len(cliLat),
		"list_vs_cli":             round(listP50 / cliP50),
		"inprocess_query_ms_p50":  round(inP50),
		"small_docs":              smallDocs,
		"small_list_ms_p50":       round(ms(pct(smallLat, 0.5))),
		"small_inprocess_ms_p50":  round(ms(pct(smallIn, 0.5))),
		"list_vs_inprocess_query": round(listP50 / inP50),
		"live_p50_ms":             round(ms(pct(liveLat, 0.5))),
		"live_p99_ms":             round(liveP99),
		"bare_p50_ms":             round(ms(pct(bareLat, 0.5))),
		"bare_p99_ms":             round(bareP99),
		"live_writes":             len(liveLat),
		"live_p99_vs_bare":        round(liveP99 / bareP99),
		"page_weight_kb":          round(weight / 1024),
		"page_requests":           requests,
	}
	b, _ := json.Marshal(out)
	fmt.Println(string(b))
	return nil
}

// seed writes n documents in plain batches of 500, 16 at a time (the
// emulator's fastest path; the data is the benchmark's, not under test).
func seed(ctx context.Context, client *firestore.Client, col string, n int) (float64, error) {
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for lo := 0; lo < n; lo += 500 {
		hi := min(lo+500, n)
		g.Go(func() error {
			//lint:ignore SA1019 test data through plain batches
			wb := client.Batch()
			for i := lo; i < hi; i++ {
				wb.Set(client.Doc(fmt.Sprintf("%s/d%07d", col, i)), map[string]any{
					"n": int64(i), "g": int64(i % 10), "name": fmt.Sprintf("item %d", i), "score": float64(i) / 7,
					"at": time.Unix(1700000000+int64(i), 123456000).UTC(), "tags": []any{"a", "b"},
					"owner": map[string]any{"uid": fmt.Sprintf("u%04d", i%1000), "active": i%2 == 0},
				})
			}
			_, err := wb.Commit(gctx)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return 0, err
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// login returns an HTTP client holding a console session.
func login(srv *console.Server, base string) (*http.Client, error) {
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: time.Minute}
	resp, err := hc.Get(srv.LoginURL(base))
	if err != nil {
		return nil, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("login: %s", resp.Status)
	}
	return hc, nil
}

var (
	rowRE    = regexp.MustCompile(`data-testid="doc-row"`)
	serverRE = regexp.MustCompile(`rendered in ([0-9.]+) ms`)
	aTagRE   = regexp.MustCompile(`<a\s[^>]*>`)
	hrefRE   = regexp.MustCompile(`href="([^"]*)"`)
)

// nextPage returns the href of the page's page-next link ("" when none).
func nextPage(body []byte) string {
	for _, tag := range aTagRE.FindAll(body, -1) {
		if !strings.Contains(string(tag), `data-testid="page-next"`) {
			continue
		}
		if m := hrefRE.FindSubmatch(tag); m != nil {
			return html.UnescapeString(string(m[1]))
		}
	}
	return ""
}

// getPage GETs a console page, reading the body to the end, and returns it
// with the time that took.
func getPage(hc *http.Client, url string) ([]byte, time.Duration, error) {
	start := time.Now()
	resp, err := hc.Get(url)
	if err != nil {
		return nil, 0, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	d := time.Since(start)
	if err != nil {
		return nil, 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return body, d, nil
}

// listVsCLI times -rounds rounds of -pages console pages of collection col
// and, when bin is not "", interleaved runs of the CLI's query of its first
// 100 documents.
func listVsCLI(ctx context.Context, c config, hc *http.Client, base, col, bin, project string) (list, server, cli []time.Duration, err error) {
	pages := func(timed bool) error {
		url := base + "/c/" + col
		for p := range c.pages {
			body, d, err := getPage(hc, url)
			if err != nil {
				return err
			}
			if n := len(rowRE.FindAll(body, -1)); n != 100 {
				return fmt.Errorf("page %d of /c/%s has %d rows, want 100", p+1, col, n)
			}
			if timed {
				list = append(list, d)
				// The page's own figure, when it shows one.
				if m := serverRE.FindSubmatch(body); m != nil {
					if v, err := strconv.ParseFloat(string(m[1]), 64); err == nil {
						server = append(server, time.Duration(v*float64(time.Millisecond)))
					}
				}
			}
			next := nextPage(body)
			if next == "" {
				if p+1 < c.pages {
					return fmt.Errorf("page %d of /c/%s has no page-next link", p+1, col)
				}
				break
			}
			url = base + next
		}
		return nil
	}
	query := func(timed bool) error {
		if bin == "" {
			return nil
		}
		start := time.Now()
		out, err := exec.CommandContext(ctx, bin, "--emulator", "--project", project, "-q", "fs", "query", col, "--limit", "100", "-o", "json").Output()
		d := time.Since(start)
		if err != nil {
			return fmt.Errorf("fbadmin fs query: %v", err)
		}
		var docs []json.RawMessage
		if err := json.Unmarshal(out, &docs); err != nil || len(docs) != 100 {
			return fmt.Errorf("fbadmin fs query: %d documents (%v), want 100", len(docs), err)
		}
		if timed {
			cli = append(cli, d)
		}
		return nil
	}
	// Untimed warm-up of both (templates, the emulator's query path, the
	// binary in the page cache).
	if err := pages(false); err != nil {
		return nil, nil, nil, err
	}
	if err := query(false); err != nil {
		return nil, nil, nil, err
	}
	perRound := max(1, (c.cliRuns+c.rounds-1)/c.rounds)
	for r := range c.rounds {
		if err := pages(true); err != nil {
			return nil, nil, nil, err
		}
		for range perRound {
			if bin == "" || len(cli) >= c.cliRuns {
				break
			}
			if err := query(true); err != nil {
				return nil, nil, nil, err
			}
		}
		logf("list %s round %d: %d pages, %d CLI runs so far", col, r+1, len(list), len(cli))
	}
	return list, server, cli, nil
}

func inprocessQuery(ctx context.Context, client *firestore.Client, col string, n int) ([]time.Duration, error) {
	q := repository.New[map[string]any](client, col).Query().Limit(100)
	var lat []time.Duration
	for i := range n + 2 {
		start := time.Now()
		docs, err := q.GetAll(ctx)
		if err != nil {
			return nil, err
		}
		for _, d := range docs {
			if _, err := value.EncodeMap(d.Data); err != nil {
				return nil, err
			}
		}
		if len(docs) != 100 {
			return nil, fmt.Errorf("in-process query: %d documents, want 100", len(docs))
		}
		if i >= 2 {
			lat = append(lat, time.Since(start))
		}
	}
	return lat, nil
}

// pageWeight loads the collection view once in a fresh browser context
// (its own cookies and cache) with the cache disabled, and sums the bytes
// received.
func pageWeight(bctx context.Context, srv *console.Server, base string) (float64, int, error) {
	tab, cancel := chromedp.NewContext(bctx, chromedp.WithNewBrowserContext())
	defer cancel()
	ctx, tcancel := context.WithTimeout(tab, 2*time.Minute)
	defer tcancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.LoginURL(base)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="nav-home"]`))); err != nil {
		return 0, 0, err
	}
	if _, err := chromedp.Call(ctx, network.SetCacheDisabled, network.SetCacheDisabledParams{CacheDisabled: true}); err != nil {
		return 0, 0, err
	}
	var (
		mu    sync.Mutex
		urls  = map[network.RequestID]string{}
		sizes = map[network.RequestID]float64{}
	)
	lctx, lcancel := context.WithCancel(ctx)
	defer lcancel()
	if err := chromedp.Listen(lctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			urls[ev.RequestID] = ev.Request.URL
		case *network.EventLoadingFinished:
			sizes[ev.RequestID] = ev.EncodedDataLength
		}
	}); err != nil {
		return 0, 0, err
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/c/items"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="doc-table"]`))); err != nil {
		return 0, 0, err
	}
	// The asynchronous count is part of the first load: wait for it.
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](
		`(() => { const el = document.querySelector('[data-testid="doc-count"]'); return !el || el.dataset.state !== "loading" })()`,
		chromedp.WithPollingTimeout(90*time.Second))); err != nil {
		return 0, 0, fmt.Errorf("wait for the count: %w", err)
	}
	// Then a quiet moment for anything else the page fetches.
	time.Sleep(time.Second)
	lcancel()
	mu.Lock()
	defer mu.Unlock()
	var total float64
	type entry struct {
		url  string
		size float64
	}
	var entries []entry
	for id, size := range sizes {
		total += size
		entries = append(entries, entry{strings.TrimPrefix(urls[id], base), size})
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].size > entries[j].size })
	for _, e := range entries {
		logf("page weight: %7.1f KB %s", e.size/1024, e.url)
	}
	return total, len(sizes), nil
}

// observerJS records, for each doc-row that enters the DOM, the wall-clock
// time in milliseconds (with the sub-millisecond part performance.now
// gives).
const observerJS = `(() => {
	window.__seen = {};
	const note = (el, t) => {
		const p = el.getAttribute("data-path");
		if (p && !(p in window.__seen)) window.__seen[p] = t;
	};
	new MutationObserver(muts => {
		const t = performance.timeOrigin + performance.now();
		for (const m of muts) {
			for (const n of m.addedNodes) {
				if (n.nodeType !== 1) continue;
				if (n.matches('[data-testid="doc-row"]')) note(n, t);
				n.querySelectorAll('[data-testid="doc-row"]').forEach(el => note(el, t));
			}
			if (m.type === "attributes" && m.target.matches && m.target.matches('[data-testid="doc-row"]')) note(m.target, t);
		}
	}).observe(document.body, {childList: true, subtree: true, attributes: true, attributeFilter: ["data-path", "data-testid"]});
	return true;
})()`

// liveVsBare times writes to a browser in live mode and to a bare SDK
// listener, interleaved write for write.
func liveVsBare(ctx, bctx context.Context, c config, srv *console.Server, base, project string) (live, bare []time.Duration, err error) {
	writer, err := firestore.NewClient(ctx, project)
	if err != nil {
		return nil, nil, err
	}
	defer writer.Close()
	listener, err := firestore.NewClient(ctx, project)
	if err != nil {
		return nil, nil, err
	}
	defer listener.Close()
	// Decreasing IDs: each new document sorts first, inside the first page
	// that both listeners watch.
	id := func(i int) string { return fmt.Sprintf("w%06d", 999999-i) }
	doc := func(i int) map[string]any { return map[string]any{"seq": int64(i), "at": time.Now().UTC()} }
	if _, err := writer.Doc("live/"+id(0)).Set(ctx, doc(0)); err != nil {
		return nil, nil, err
	}
	if _, err := writer.Doc("bare/"+id(0)).Set(ctx, doc(0)); err != nil {
		return nil, nil, err
	}

	// The bare listener: the first 100 documents by ID, as the console's
	// first page.
	var (
		mu      sync.Mutex
		arrived = map[string]time.Time{}
	)
	lctx, lcancel := context.WithCancel(ctx)
	defer lcancel()
	it := listener.Collection("bare").OrderBy(firestore.DocumentID, firestore.Asc).Limit(100).Snapshots(lctx)
	defer it.Stop()
	listenDone := make(chan struct{})
	go func() {
		defer close(listenDone)
		for {
			snap, err := it.Next()
			if err != nil {
				return
			}
			now := time.Now()
			mu.Lock()
			for _, ch := range snap.Changes {
				if ch.Kind == firestore.DocumentAdded {
					if _, ok := arrived[ch.Doc.Ref.ID]; !ok {
						arrived[ch.Doc.Ref.ID] = now
					}
				}
			}
			mu.Unlock()
		}
	}()
	defer func() { lcancel(); <-listenDone }()

	// The browser, in live mode.
	tctx, tcancel := context.WithTimeout(bctx, 10*time.Minute)
	defer tcancel()
	if err := chromedp.Do(tctx, chromedp.Navigate(srv.LoginURL(base)), chromedp.WaitVisible(chromedp.CSS(`[data-testid="nav-home"]`)),
		chromedp.Navigate(base+"/c/live?live=1"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="live-status"][data-state="ready"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="doc-row"][data-path="live/`+id(0)+`"]`))); err != nil {
		return nil, nil, err
	}
	if _, err := chromedp.Run(tctx, chromedp.Evaluate[bool](observerJS)); err != nil {
		return nil, nil, err
	}
	seen := func() (map[string]float64, error) {
		return chromedp.Run(tctx, chromedp.Evaluate[map[string]float64](`window.__seen`))
	}
	waitAll := func(n int, what func() (int, error)) error {
		deadline := time.Now().Add(30 * time.Second)
		for {
			got, err := what()
			if err != nil {
				return err
			}
			if got >= n {
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%d of %d writes arrived within 30 s", got, n)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	// Untimed warm-up writes: the stream and the listener are connected and
	// past their first snapshot once these arrive.
	const warm = 3
	for i := 1; i <= warm; i++ {
		if _, err := writer.Doc("live/"+id(i)).Set(ctx, doc(i)); err != nil {
			return nil, nil, err
		}
		if _, err := writer.Doc("bare/"+id(i)).Set(ctx, doc(i)); err != nil {
			return nil, nil, err
		}
		time.Sleep(c.liveGap)
	}
	countLive := func() (int, error) {
		s, err := seen()
		return len(s), err
	}
	countBare := func() (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return len(arrived), nil
	}
	if err := waitAll(warm, countLive); err != nil {
		return nil, nil, fmt.Errorf("browser warm-up: %w", err)
	}
	if err := waitAll(warm+1, countBare); err != nil {
		return nil, nil, fmt.Errorf("bare warm-up: %w", err)
	}

	sentLive := map[string]time.Time{}
	sentBare := map[string]time.Time{}
	for k := range c.liveWrites {
		i := warm + 1 + k
		start := time.Now()
		if _, err := writer.Doc("live/"+id(i)).Set(ctx, doc(i)); err != nil {
			return nil, nil, err
		}
		sentLive["live/"+id(i)] = start
		time.Sleep(c.liveGap)
		start = time.Now()
		if _, err := writer.Doc("bare/"+id(i)).Set(ctx, doc(i)); err != nil {
			return nil, nil, err
		}
		sentBare[id(i)] = start
		time.Sleep(c.liveGap)
	}
	if err := waitAll(warm+c.liveWrites, countLive); err != nil {
		return nil, nil, fmt.Errorf("browser: %w", err)
	}
	if err := waitAll(warm+1+c.liveWrites, countBare); err != nil {
		return nil, nil, fmt.Errorf("bare listener: %w", err)
	}
	s, err := seen()
	if err != nil {
		return nil, nil, err
	}
	for path, start := range sentLive {
		t, ok := s[path]
		if !ok {
			return nil, nil, fmt.Errorf("%s never appeared in the browser", path)
		}
		at := time.UnixMicro(int64(t * 1000))
		live = append(live, max(0, at.Sub(start)))
	}
	mu.Lock()
	defer mu.Unlock()
	for docID, start := range sentBare {
		bare = append(bare, arrived[docID].Sub(start))
	}
	return live, bare, nil
}

func pct(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(float64(len(s))*p+0.5) - 1
	return s[max(0, min(i, len(s)-1))]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func round(x float64) float64 { return float64(int64(x*100+0.5)) / 100 }
