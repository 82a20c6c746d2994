// Command serve benchmarks `fbadmin serve` against the Firestore and Auth
// emulators (scripts/bench.sh serve runs it). The server is the real
// binary, built and started by the benchmark in a process of its own, so
// its memory is measured apart from the clients'.
//
//  1. REST get: `concurrency` clients (default 32) read random documents
//     of a 1,000-document collection for a while, through the server
//     (GET /v1/docs/..., with a Firebase ID token, over keep-alive HTTP)
//     and directly with a repository.Repository Get, in alternating rounds
//     of the same length. Requests per second and p50/p99 latency of each;
//     get_vs_direct = server requests/s / direct requests/s (median of the
//     rounds).
//  2. Fan-out: `subscribers` WebSocket clients (default 1,000) subscribe
//     to one query on /v1/watch, and a bare SDK Snapshots() listener
//     follows the same query in this process. Documents are then written
//     one at a time; each is timed from just before the write until each
//     subscriber has read its event, and until the bare listener sees it.
//     p50/p99 of both; fanout_p99_vs_bare = subscribers' p99 / bare p99.
//     The server's memory per subscriber is its RSS (and Go heap, from its
//     /metrics) with the subscribers connected, minus before, divided by
//     their number.
//
// Progress goes to stderr; the last line on stdout is one JSON object.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"cloud.google.com/go/firestore"
	"github.com/coder/websocket"

	"github.com/fbadmin/fbadmin/auth"
	"github.com/fbadmin/fbadmin/internal/cmd/bench/serveproc"
	"github.com/fbadmin/fbadmin/internal/emutest"
	"github.com/fbadmin/fbadmin/repository"
)

func main() {
	conc := flag.Int("concurrency", 32, "get: concurrent clients")
	roundDur := flag.Duration("round", 3*time.Second, "get: length of one round")
	rounds := flag.Int("rounds", 3, "get: rounds per path (alternating)")
	ndocs := flag.Int("docs", 1000, "get: documents read at random")
	subs := flag.Int("subscribers", 1000, "fan-out: WebSocket subscribers")
	writes := flag.Int("writes", 150, "fan-out: documents written one at a time")
	gap := flag.Duration("gap", 40*time.Millisecond, "fan-out: pause between two writes")
	senv := flag.String("server-env", "", "extra environment of the server process, comma-separated K=V (for tuning experiments)")
	skipFan := flag.Bool("skip-fanout", false, "run the get benchmark only")
	flag.Parse()
	if *senv != "" {
		serverEnv = strings.Split(*senv, ",")
	}
	for k, v := range map[string]string{"FIRESTORE_EMULATOR_HOST": "127.0.0.1:8080", "FIREBASE_AUTH_EMULATOR_HOST": "127.0.0.1:9099"} {
		if os.Getenv(k) == "" {
			os.Setenv(k, v)
		}
	}
	project := emutest.EmulatorProject()
	run := strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	ctx := context.Background()
	out := map[string]any{"emulator": os.Getenv("FIRESTORE_EMULATOR_HOST"), "concurrency": *conc, "subscribers": *subs}

	client, err := firestore.NewClient(ctx, project)
	check(err)
	defer client.Close()
	ac, err := auth.New(ctx, auth.Config{ProjectID: project, EmulatorHost: os.Getenv("FIREBASE_AUTH_EMULATOR_HOST")})
	check(err)
	ct, err := ac.CustomToken(ctx, "bench-serve-"+run, nil)
	check(err)
	cred, err := ac.SignInClient().SignInWithCustomToken(ctx, ct)
	check(err)
	token := cred.IDToken

	srv := startServer(project)
	defer srv.stop()

	getColl := "bench-serve-get-" + run
	logf("seeding %d documents in %s", *ndocs, getColl)
	bw := client.BulkWriter(ctx)
	for i := range *ndocs {
		_, err := bw.Set(client.Doc(fmt.Sprintf("%s/d%04d", getColl, i)), map[string]any{
			"i": i, "name": fmt.Sprintf("user %d", i), "tags": []string{"a", "b"}, "score": float64(i) / 3, "at": time.Now()})
		check(err)
	}
	bw.End()
	defer serveproc.DeleteCollection(client, getColl)

	g := benchGet(ctx, client, srv.Base, token, getColl, *ndocs, *conc, *roundDur, *rounds)
	for k, v := range g {
		out[k] = v
	}
	if *skipFan {
		b, err := json.Marshal(out)
		check(err)
		fmt.Println(string(b))
		return
	}
	fanColl := "bench-serve-fan-" + run
	defer serveproc.DeleteCollection(client, fanColl)
	f := benchFanout(ctx, client, srv, token, fanColl, *subs, *writes, *gap)
	for k, v := range f {
		out[k] = v
	}
	b, err := json.Marshal(out)
	check(err)
	fmt.Println(string(b))
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench serve:", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }

// server is the fbadmin serve process.
type server struct{ *serveproc.Server }

// serverEnv is added to the server's environment (-server-env).
var serverEnv []string

func startServer(project string) *server {
	s, err := serveproc.Start(project, `
limits:
  rate: 1000000
  burst: 1000000
watch:
  send_queue: 1024
  # one user's 1000 subscribers from one address: the fan-out is measured,
  # not the abuse budgets (scripts/bench.sh attack measures those)
  max_sockets_per_address: -1
  max_sockets_per_user: 100000
  max_subscriptions_per_user: 100000
  max_documents_per_user: -1
log:
  level: warn
rules:
  - match: "**"
    allow: [all]
`, serverEnv, logf)
	check(err)
	return &server{s}
}

func (s *server) stop() { s.Stop() }

// rssKiB is the server's resident set size.
func (s *server) rssKiB() int64 {
	n, err := s.RSSKiB()
	check(err)
	return n
}

// heapBytes reads the server's Go heap in use from its /metrics.
func (s *server) heapBytes() float64 {
	resp, err := http.Get(s.Base + "/metrics")
	check(err)
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_memstats_heap_inuse_bytes "); ok {
			f, err := strconv.ParseFloat(v, 64)
			check(err)
			return f
		}
	}
	check(errors.New("no go_memstats_heap_inuse_bytes in /metrics"))
	return 0
}

// benchGet measures GET through the server against a direct repository
// Get, in alternating rounds.
func benchGet(ctx context.Context, client *firestore.Client, base, token, coll string, ndocs, conc int, dur time.Duration, rounds int) map[string]any {
	repo := repository.New[map[string]any](client, coll)
	httpc := &http.Client{Transport: &http.Transport{MaxIdleConns: conc * 2, MaxIdleConnsPerHost: conc * 2, IdleConnTimeout: time.Minute}}
	direct := func(ctx context.Context, id string) error {
		_, err := repo.Get(ctx, id)
		return err
	}
	viaServer := func(ctx context.Context, id string) error {
		req, _ := http.NewRequestWithContext(ctx, "GET", base+"/v1/docs/"+coll+"/"+id, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := httpc.Do(req)
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("GET %s: status %d", id, resp.StatusCode)
		}
		return err
	}
	measure := func(get func(context.Context, string) error, d time.Duration) (float64, []time.Duration) {
		var (
			mu   sync.Mutex
			lats []time.Duration
			n    atomic.Int64
			wg   sync.WaitGroup
			ferr atomic.Value
		)
		end := time.Now().Add(d)
		start := time.Now()
		for range conc {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var mine []time.Duration
				for time.Now().Before(end) {
					id := fmt.Sprintf("d%04d", rand.IntN(ndocs))
					t0 := time.Now()
					if err := get(ctx, id); err != nil {
						ferr.Store(err)
						return
					}
					mine = append(mine, time.Since(t0))
					n.Add(1)
				}
				mu.Lock()
				lats = append(lats, mine...)
				mu.Unlock()
			}()
		}
		wg.Wait()
		if err, ok := ferr.Load().(error); ok {
			check(err)
		}
		return float64(n.Load()) / time.Since(start).Seconds(), lats
	}
	logf("get: warm-up")
	measure(direct, time.Second)
	measure(viaServer, time.Second)
	var dRPS, sRPS []float64
	var dLat, sLat []time.Duration
	for r := range rounds {
		rps, l := measure(direct, dur)
		dRPS, dLat = append(dRPS, rps), append(dLat, l...)
		rps2, l2 := measure(viaServer, dur)
		sRPS, sLat = append(sRPS, rps2), append(sLat, l2...)
		logf("get round %d: direct %.0f/s, server %.0f/s", r+1, rps, rps2)
	}
	med := func(v []float64) float64 { slices.Sort(v); return v[len(v)/2] }
	d, s := med(dRPS), med(sRPS)
	return map[string]any{
		"direct_get_rps": serveproc.Round3(d), "server_get_rps": serveproc.Round3(s),
		"direct_get_p50_ms": serveproc.Percentile(dLat, .5), "direct_get_p99_ms": serveproc.Percentile(dLat, .99),
		"server_get_p50_ms": serveproc.Percentile(sLat, .5), "server_get_p99_ms": serveproc.Percentile(sLat, .99),
		"get_vs_direct": serveproc.Round3(s / d),
	}
}

// benchFanout measures write-to-client latency through 1,000 WebSocket
// subscribers beside a bare SDK listener.
func benchFanout(ctx context.Context, client *firestore.Client, srv *server, token, coll string, nsubs, nwrites int, gap time.Duration) map[string]any {
	var sent sync.Map // doc ID -> time.Time of the write
	wsURL := "ws" + strings.TrimPrefix(srv.Base, "http") + "/v1/watch"
	rss0, heap0 := srv.rssKiB(), srv.heapBytes()
	type subStats struct {
		lats []time.Duration
		n    int
	}
	stats := make([]*subStats, nsubs)
	var ready, wg sync.WaitGroup
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	hello, _ := json.Marshal(map[string]any{"type": "subscribe", "query": map[string]any{"collection": coll}})
	logf("fan-out: opening %d subscribers", nsubs)
	var conns []*websocket.Conn
	var connMu sync.Mutex
	sem := make(chan struct{}, 50)
	for i := range nsubs {
		st := &subStats{}
		stats[i] = st
		ready.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			dctx, dc := context.WithTimeout(sctx, 60*time.Second)
			c, _, err := websocket.Dial(dctx, wsURL, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + token}}})
			dc()
			<-sem
			check(err)
			connMu.Lock()
			conns = append(conns, c)
			connMu.Unlock()
			check(c.Write(sctx, websocket.MessageText, hello))
			_, b, err := c.Read(sctx)
			check(err)
			if !bytes.Contains(b, []byte(`"subscribed"`)) {
				check(fmt.Errorf("subscribe answered %s", b))
			}
			ready.Done()
			prefix := []byte(`"path":"` + coll + `/`)
			for {
				// No context: one per read would cost a registration per
				// message; the connection is closed at the end instead.
				_, b, err := c.Read(context.Background())
				if err != nil {
					return
				}
				now := time.Now()
				i := bytes.Index(b, prefix)
				if i < 0 || !bytes.Contains(b, []byte(`"type":"added"`)) {
					continue
				}
				rest := b[i+len(prefix):]
				id := string(rest[:bytes.IndexByte(rest, '"')])
				if t0, ok := sent.Load(id); ok {
					st.lats = append(st.lats, now.Sub(t0.(time.Time)))
					st.n++
				}
			}
		}()
	}
	ready.Wait()
	// Bare listener.
	var bareMu sync.Mutex
	var bare []time.Duration
	bareReady := make(chan struct{})
	go func() {
		it := client.Collection(coll).Snapshots(sctx)
		defer it.Stop()
		first := true
		for {
			snap, err := it.Next()
			if err != nil {
				return
			}
			now := time.Now()
			if first {
				first = false
				close(bareReady)
				continue
			}
			for _, ch := range snap.Changes {
				if ch.Kind != firestore.DocumentAdded {
					continue
				}
				if t0, ok := sent.Load(ch.Doc.Ref.ID); ok {
					bareMu.Lock()
					bare = append(bare, now.Sub(t0.(time.Time)))
					bareMu.Unlock()
				}
			}
		}
	}()
	<-bareReady
	time.Sleep(500 * time.Millisecond)
	rss1, heap1 := srv.rssKiB(), srv.heapBytes()
	logf("fan-out: %d subscribers connected (server RSS %d -> %d KiB); writing %d documents", nsubs, rss0, rss1, nwrites)
	for i := range nwrites {
		id := fmt.Sprintf("w%05d", i)
		sent.Store(id, time.Now())
		_, err := client.Collection(coll).Doc(id).Set(ctx, map[string]any{"i": i, "at": time.Now(), "note": "fan-out event"})
		check(err)
		time.Sleep(gap)
	}
	time.Sleep(3 * time.Second)
	rss2 := srv.rssKiB()
	cancel()
	connMu.Lock()
	for _, c := range conns {
		c.CloseNow()
	}
	connMu.Unlock()
	wg.Wait()
	var all []time.Duration
	complete := 0
	for _, st := range stats {
		all = append(all, st.lats...)
		if st.n == nwrites {
			complete++
		}
	}
	bareMu.Lock()
	defer bareMu.Unlock()
	if len(all) == 0 || len(bare) == 0 {
		check(fmt.Errorf("no latency sample (subscribers %d, bare %d)", len(all), len(bare)))
	}
	p99, bp99 := serveproc.Percentile(all, .99), serveproc.Percentile(bare, .99)
	return map[string]any{
		"fanout_events_expected": nsubs * nwrites, "fanout_events_received": len(all), "fanout_subscribers_complete": complete,
		"fanout_p50_ms": serveproc.Percentile(all, .5), "fanout_p99_ms": p99,
		"bare_p50_ms": serveproc.Percentile(bare, .5), "bare_p99_ms": bp99,
		"fanout_p99_vs_bare":               serveproc.Round3(p99 / bp99),
		"server_rss_per_subscriber_kib":    serveproc.Round3(float64(rss1-rss0) / float64(nsubs)),
		"server_heap_per_subscriber_kib":   serveproc.Round3((heap1 - heap0) / 1024 / float64(nsubs)),
		"server_rss_after_events_mb":       serveproc.Round3(float64(rss2) / 1024),
		"server_rss_before_subscribers_mb": serveproc.Round3(float64(rss0) / 1024),
	}
}
