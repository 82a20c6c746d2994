// Command attack runs the attacks of issue 12 (findings 1, 3, 4, 5 and 6)
// against one real `fbadmin serve` process on the emulators, with its
// default budgets, while one well-behaved client reads documents and keeps
// a change stream open (scripts/bench.sh attack runs it):
//
//   - subscriptions (finding 1): one user opens `subs` (default 100)
//     subscriptions over one GraphQL socket, each a differently spelled
//     query over the `big` collection (n < 1000000+i), 40 per second;
//   - revocation (finding 3): a user with an open /v1/watch stream is
//     revoked; the time until the server closes it (4401) is measured;
//   - graphql cost (finding 4): 80 aliases of documents(first: 500) and 450
//     aliased createDocument in one request each;
//   - metrics (finding 5): 20,000 requests with odd methods, then /metrics
//     is measured;
//   - pre-auth (finding 6): 500 WebSockets each sending an unfinished
//     1 MiB message without authenticating.
//
// The server's RSS is sampled every 100 ms throughout. The well-behaved
// client runs as a child process; its GET p99 during the attacks is
// divided by its p99 alone. The last
// line on stdout is one JSON object: peak_rss_mb, legit_p99_vs_quiet,
// revoked_stream_close_s and, per attack, whether it was refused.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
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
)

func main() {
	if os.Getenv(legitEnv) != "" {
		legitClient()
		return
	}
	bigDocs := flag.Int("big", 5000, "documents in the collection the subscription attack streams")
	subs := flag.Int("subs", 100, "subscriptions of the subscription attack")
	preauth := flag.Int("preauth", 500, "unauthenticated sockets of the pre-auth attack")
	odd := flag.Int("odd", 20000, "odd-method requests of the metrics attack")
	quiet := flag.Duration("quiet", 5*time.Second, "how long the well-behaved client is measured alone")
	flag.Parse()
	for k, v := range map[string]string{"FIRESTORE_EMULATOR_HOST": "127.0.0.1:8080", "FIREBASE_AUTH_EMULATOR_HOST": "127.0.0.1:9099"} {
		if os.Getenv(k) == "" {
			os.Setenv(k, v)
		}
	}
	project := emutest.EmulatorProject()
	run := strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	ctx := context.Background()
	client, err := firestore.NewClient(ctx, project)
	check(err)
	defer client.Close()
	ac, err := auth.New(ctx, auth.Config{ProjectID: project, EmulatorHost: os.Getenv("FIREBASE_AUTH_EMULATOR_HOST")})
	check(err)
	token := func(uid string) string {
		ct, err := ac.CustomToken(ctx, uid, nil)
		check(err)
		cred, err := ac.SignInClient().SignInWithCustomToken(ctx, ct)
		check(err)
		return cred.IDToken
	}
	big, small := "bench-attack-big-"+run, "bench-attack-small-"+run
	logf("seeding %d documents in %s", *bigDocs, big)
	bw := client.BulkWriter(ctx)
	for i := range *bigDocs {
		_, err := bw.Set(client.Doc(fmt.Sprintf("%s/d%05d", big, i)), map[string]any{"n": i, "name": fmt.Sprintf("document %d", i), "tags": []string{"a", "b", "c"}, "at": time.Now()})
		check(err)
	}
	for i := range 50 {
		_, err := bw.Set(client.Doc(fmt.Sprintf("%s/d%03d", small, i)), map[string]any{"n": i})
		check(err)
	}
	bw.End()
	defer serveproc.DeleteCollection(client, big)
	defer serveproc.DeleteCollection(client, small)

	srv := startServer(project)
	defer srv.stop()
	var peak atomic.Int64
	sampling := make(chan struct{})
	go func() {
		for {
			if r := srv.rssKiB(); r > peak.Load() {
				peak.Store(r)
			}
			select {
			case <-sampling:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	rss0 := srv.rssKiB()

	// The well-behaved client: a stream, and GETs in a loop, in a process
	// of its own (a real client does not share the attacker's process), so
	// that its figures measure the server and not this process's scheduler
	// while its attack goroutines saturate it.
	legitTok := token("bench-attack-legit-" + run)
	var lmu sync.Mutex
	var lats []time.Duration
	var legitErrs atomic.Int64
	measuring := atomic.Bool{}
	stopLegit, legitDone := startLegit(srv.Base, legitTok, small, func(d time.Duration, ok bool) {
		if !ok {
			legitErrs.Add(1)
		}
		if measuring.Load() {
			lmu.Lock()
			lats = append(lats, d)
			lmu.Unlock()
		}
	})
	phase := func(d time.Duration) []time.Duration {
		lmu.Lock()
		lats = nil
		lmu.Unlock()
		measuring.Store(true)
		time.Sleep(d)
		measuring.Store(false)
		lmu.Lock()
		defer lmu.Unlock()
		return slices.Clone(lats)
	}
	logf("well-behaved client alone for %s", *quiet)
	quietLats := phase(*quiet)

	// The attacks, while the well-behaved client's latency is recorded.
	lmu.Lock()
	lats = nil
	lmu.Unlock()
	measuring.Store(true)
	attacks := map[string]any{}
	var attackLats []time.Duration
	// during runs one attack and records the well-behaved client's p99
	// while it ran.
	during := func(name string, attack func() map[string]any) {
		lmu.Lock()
		lats = nil
		lmu.Unlock()
		r := attack()
		lmu.Lock()
		r["legit_p99_ms"] = serveproc.Percentile(slices.Clone(lats), .99)
		attackLats = append(attackLats, lats...)
		lmu.Unlock()
		attacks[name] = r
	}
	during("subscriptions", func() map[string]any {
		return attackSubscriptions(ctx, srv, token("bench-attack-subs-"+run), big, *subs)
	})
	during("graphql_cost", func() map[string]any { return attackCost(srv, token("bench-attack-cost-"+run), big) })
	during("metrics", func() map[string]any { return attackMetrics(srv, *odd) })
	during("preauth", func() map[string]any { return attackPreAuth(ctx, srv, *preauth) })
	revUID := "bench-attack-revoked-" + run
	revTok := token(revUID)
	var closeS float64
	during("revocation", func() map[string]any {
		s, r := attackRevocation(ctx, srv, ac, revUID, revTok, small)
		closeS = s
		return r
	})
	measuring.Store(false)
	stopLegit()
	<-legitDone
	close(sampling)

	qp99, ap99 := serveproc.Percentile(quietLats, .99), serveproc.Percentile(attackLats, .99)
	out := map[string]any{
		"emulator": os.Getenv("FIRESTORE_EMULATOR_HOST"), "big_docs": *bigDocs,
		"rss_before_mb": serveproc.Round3(float64(rss0) / 1024), "peak_rss_mb": serveproc.Round3(float64(peak.Load()) / 1024),
		"legit_quiet_p99_ms": qp99, "legit_attack_p99_ms": ap99, "legit_requests_during_attacks": len(attackLats),
		"legit_errors": legitErrs.Load(), "legit_p99_vs_quiet": serveproc.Round3(ap99 / qp99),
		"revoked_stream_close_s": closeS, "attacks": attacks,
	}
	b, err := json.Marshal(out)
	check(err)
	fmt.Println(string(b))
}

// legitEnv, set in a child process of this program, makes it the
// well-behaved client: its value is "BASE TOKEN COLLECTION".
const legitEnv = "FBADMIN_BENCH_ATTACK_LEGIT"

// startLegit runs the well-behaved client as a child process and calls
// report for each of its requests; stop ends it, done closes when it has.
func startLegit(base, tok, coll string, report func(d time.Duration, ok bool)) (stop func(), done chan struct{}) {
	exe, err := os.Executable()
	check(err)
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), legitEnv+"="+base+" "+tok+" "+coll)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	check(err)
	in, err := cmd.StdinPipe()
	check(err)
	check(cmd.Start())
	done = make(chan struct{})
	started := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(out)
		first := true
		for sc.Scan() {
			var us int64
			var ok bool
			if _, err := fmt.Sscanf(sc.Text(), "%d %t", &us, &ok); err != nil {
				continue
			}
			if first {
				first = false
				close(started)
			}
			report(time.Duration(us)*time.Microsecond, ok)
		}
		_ = cmd.Wait()
	}()
	select {
	case <-started:
	case <-done:
		check(fmt.Errorf("the well-behaved client exited before its first request"))
	}
	return func() { in.Close() }, done
}

// legitClient is the well-behaved client's process: it keeps a /v1/watch
// stream open and GETs documents in a loop (one every 20 ms after the
// previous answer), printing "MICROSECONDS OK" per request, until its
// stdin closes.
func legitClient() {
	f := strings.Fields(os.Getenv(legitEnv))
	if len(f) != 3 {
		check(fmt.Errorf("%s: want BASE TOKEN COLLECTION", legitEnv))
	}
	base, tok, coll := f[0], f[1], f[2]
	ctx := context.Background()
	lw := dialWatch(ctx, base, tok)
	defer lw.CloseNow()
	check(writeJSON(ctx, lw, map[string]any{"type": "subscribe", "query": map[string]any{"collection": coll}}))
	go func() {
		for {
			if _, _, err := lw.Read(context.Background()); err != nil {
				return
			}
		}
	}()
	stop := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); close(stop) }()
	hc := &http.Client{Timeout: 30 * time.Second}
	w := bufio.NewWriter(os.Stdout)
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		req, _ := http.NewRequest("GET", fmt.Sprintf("%s/v1/docs/%s/d%03d", base, coll, i%50), nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		t0 := time.Now()
		resp, err := hc.Do(req)
		d := time.Since(t0)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				err = fmt.Errorf("status %d", resp.StatusCode)
			}
		}
		fmt.Fprintf(w, "%d %t\n", d.Microseconds(), err == nil)
		if w.Flush() != nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// attackSubscriptions: finding 1.
func attackSubscriptions(ctx context.Context, srv *server, tok, coll string, n int) map[string]any {
	logf("attack 1: %d distinct subscriptions on one GraphQL socket, 40/s", n)
	rss0 := srv.rssKiB()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.Base, "http")+"/graphql",
		&websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}, HTTPHeader: http.Header{"Authorization": {"Bearer " + tok}}})
	check(err)
	c.SetReadLimit(64 << 20)
	defer c.CloseNow()
	check(writeJSON(ctx, c, map[string]any{"type": "connection_init"}))
	var accepted, refused atomic.Int64
	errIDs := sync.Map{}
	go func() {
		for {
			_, b, err := c.Read(context.Background())
			if err != nil {
				return
			}
			var m struct {
				ID, Type string
				Payload  json.RawMessage
			}
			if json.Unmarshal(b, &m) != nil {
				continue
			}
			switch m.Type {
			case "ping":
				_ = writeJSON(context.Background(), c, map[string]any{"type": "pong"})
			case "error", "next":
				if _, loaded := errIDs.LoadOrStore(m.ID, true); loaded {
					continue
				}
				if strings.Contains(string(m.Payload), `"errors"`) || m.Type == "error" {
					if strings.Contains(string(m.Payload), "LIMIT_EXCEEDED") {
						refused.Add(1)
					}
					continue
				}
				accepted.Add(1)
			}
		}
	}()
	q := `subscription($w: [FilterInput!]) { changes(collection: "` + coll + `", where: $w) { type path data } }`
	for i := range n {
		p, _ := json.Marshal(map[string]any{"query": q, "variables": map[string]any{"w": []map[string]any{{"field": "n", "op": "<", "value": 1000000 + i}}}})
		if err := writeJSON(ctx, c, map[string]any{"id": strconv.Itoa(i), "type": "subscribe", "payload": json.RawMessage(p)}); err != nil {
			break
		}
		time.Sleep(25 * time.Millisecond)
	}
	time.Sleep(5 * time.Second)
	rss1 := srv.rssKiB()
	logf("attack 1: %d subscriptions streaming, %d refused; server RSS %d -> %d KiB", accepted.Load(), refused.Load(), rss0, rss1)
	return map[string]any{"subscriptions_sent": n, "streaming": accepted.Load(), "refused_count": refused.Load(),
		"refused": refused.Load() > 0 && accepted.Load() < int64(n), "rss_mb": serveproc.Round3(float64(rss1) / 1024)}
}

// attackCost: finding 4.
func attackCost(srv *server, tok, coll string) map[string]any {
	logf("attack 4: 80 x documents(first: 500), 450 x createDocument")
	alias := func(n int, f string) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "a%d: %s\n", i, strings.ReplaceAll(f, "$i", strconv.Itoa(i)))
		}
		return b.String()
	}
	post := func(q string) (int, int, string) {
		body, _ := json.Marshal(map[string]any{"query": q})
		req, _ := http.NewRequest("POST", srv.Base+"/graphql", strings.NewReader(string(body)))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		check(err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		code := ""
		if m := regexp.MustCompile(`"code":"([A-Z_]+)"`).FindSubmatch(b); m != nil {
			code = string(m[1])
		}
		return resp.StatusCode, len(b), code
	}
	s1, n1, c1 := post("{" + alias(80, `documents(collection: "`+coll+`", first: 500) { nodes { id data } }`) + "}")
	s2, _, c2 := post("mutation {" + alias(450, `createDocument(collection: "`+coll+`-w", data: {n: $i}) { id }`) + "}")
	logf("attack 4: reads %d %s (%d bytes), writes %d %s", s1, c1, n1, s2, c2)
	return map[string]any{"reads_status": s1, "reads_code": c1, "reads_bytes": n1, "writes_status": s2, "writes_code": c2,
		"refused": s1 == 400 && s2 == 400}
}

// attackMetrics: finding 5.
func attackMetrics(srv *server, n int) map[string]any {
	logf("attack 5: %d requests with odd methods", n)
	size := func() int {
		resp, err := http.Get(srv.Base + "/metrics")
		check(err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return len(b)
	}
	before := size()
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			req, _ := http.NewRequest(fmt.Sprintf("M%06d", i), srv.Base+fmt.Sprintf("/v1/docs/x%d/y", i), nil)
			if resp, err := hc.Do(req); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	after := size()
	logf("attack 5: /metrics %d -> %d bytes", before, after)
	return map[string]any{"metrics_bytes_before": before, "metrics_bytes_after": after, "refused": after-before < 16<<10}
}

// attackPreAuth: finding 6.
func attackPreAuth(ctx context.Context, srv *server, n int) map[string]any {
	logf("attack 6: %d unauthenticated sockets, each sending an unfinished 1 MiB message", n)
	var refusedUpgrade, cut, open atomic.Int64 // open: not closed by the server 3 s after sending
	var wg sync.WaitGroup
	var conns sync.Map
	chunk := make([]byte, 32<<10)
	for i := range n {
		wg.Go(func() {
			dctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			c, resp, err := websocket.Dial(dctx, "ws"+strings.TrimPrefix(srv.Base, "http")+"/v1/watch", nil)
			if err != nil {
				if resp != nil && resp.StatusCode == 429 {
					refusedUpgrade.Add(1)
				}
				return
			}
			conns.Store(i, c)
			w, err := c.Writer(ctx, websocket.MessageText)
			if err != nil {
				cut.Add(1)
				return
			}
			for range 32 { // 1 MiB, never finished
				if _, err := w.Write(chunk); err != nil {
					break // the server closed it (the client's buffers may hide that: read below)
				}
			}
			rctx, rcancel := context.WithTimeout(ctx, 3*time.Second)
			defer rcancel()
			if _, _, err := c.Read(rctx); websocket.CloseStatus(err) == websocket.StatusMessageTooBig {
				cut.Add(1)
			} else {
				open.Add(1)
			}
		})
	}
	wg.Wait()
	time.Sleep(2 * time.Second)
	rss := srv.rssKiB()
	conns.Range(func(_, v any) bool { v.(*websocket.Conn).CloseNow(); return true })
	logf("attack 6: %d upgrades refused (429), %d closed with 1009 (message too big), %d not closed; server RSS %d KiB", refusedUpgrade.Load(), cut.Load(), open.Load(), rss)
	return map[string]any{"upgrades_refused": refusedUpgrade.Load(), "closed_1009": cut.Load(), "not_closed": open.Load(),
		"rss_mb": serveproc.Round3(float64(rss) / 1024), "refused": open.Load() == 0}
}

// attackRevocation: finding 3. It returns the seconds from the revocation
// to the stream's close.
func attackRevocation(ctx context.Context, srv *server, ac *auth.Client, uid, tok, coll string) (float64, map[string]any) {
	logf("attack 3: revoking a user with an open stream")
	c := dialWatch(ctx, srv.Base, tok)
	defer c.CloseNow()
	check(writeJSON(ctx, c, map[string]any{"type": "subscribe", "query": map[string]any{"collection": coll}}))
	closed := make(chan error, 1)
	go func() {
		for {
			if _, _, err := c.Read(context.Background()); err != nil {
				closed <- err
				return
			}
		}
	}()
	// Revocation counts whole seconds: revoke strictly after the token's issue time.
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(1100 * time.Millisecond)))
	t0 := time.Now()
	check(ac.RevokeRefreshTokens(ctx, uid))
	select {
	case err := <-closed:
		s := serveproc.Round3(time.Since(t0).Seconds())
		logf("attack 3: the stream closed %.1f s after the revocation (%v)", s, err)
		return s, map[string]any{"close_code": int(websocket.CloseStatus(err)), "refused": websocket.CloseStatus(err) == 4401}
	case <-time.After(120 * time.Second):
		logf("attack 3: the stream was still open 120 s after the revocation")
		return -1, map[string]any{"refused": false}
	}
}

// dialWatch opens /v1/watch with the token, waiting out 429s (the
// sockets of an attack just closed are released asynchronously).
func dialWatch(ctx context.Context, base, tok string) *websocket.Conn {
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/v1/watch",
			&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + tok}}})
		if err != nil && resp != nil && resp.StatusCode == 429 && time.Now().Before(deadline) {
			time.Sleep(200 * time.Millisecond)
			continue
		}
		check(err)
		c.SetReadLimit(64 << 20)
		return c
	}
}

func writeJSON(ctx context.Context, c *websocket.Conn, v any) error {
	b, _ := json.Marshal(v)
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return c.Write(wctx, websocket.MessageText, b)
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench attack:", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }

// server is the fbadmin serve process, with its default budgets and
// auth.check_revoked on.
type server struct{ *serveproc.Server }

func startServer(project string) *server {
	s, err := serveproc.Start(project, "auth:\n  check_revoked: true\nlog:\n  level: warn\nrules:\n  - match: \"**\"\n    allow: [all]\n", nil, logf)
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
