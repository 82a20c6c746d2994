package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/fbadmin/fbadmin/internal/emutest"
	"github.com/fbadmin/fbadmin/internal/value"
	"github.com/fbadmin/fbadmin/listeners"
	"github.com/fbadmin/fbadmin/listeners/webhook"
)

// The test binary doubles as the daemon: with FBADMIN_TEST_DAEMON_CONFIG
// set it runs the daemon on that config, the way `fbadmin listen` does, so
// tests can signal and kill it.
func TestMain(m *testing.M) {
	if path := os.Getenv("FBADMIN_TEST_DAEMON_CONFIG"); path != "" {
		os.Exit(daemonMain(path))
	}
	os.Exit(m.Run())
}

func daemonMain(path string) int {
	cfg, err := LoadConfig(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	// Signals as `fbadmin listen` handles them: the first drains, the
	// second aborts the drain.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithCancel(context.Background())
	abort := make(chan struct{})
	go func() {
		<-sigs
		cancel()
		<-sigs
		close(abort)
	}()
	err = Run(ctx, cfg, Options{Abort: abort})
	switch {
	case err == nil:
		return 0
	case errors.Is(err, ErrAborted):
		fmt.Fprintln(os.Stderr, err)
		return 130
	default:
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
}

func writeConfig(t testing.TB, dir, body string) string {
	t.Helper()
	path := filepath.Join(dir, "listen.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// fileEvents reads the NDJSON events of a file sink (rotated files first).
func fileEvents(t testing.TB, path string) []listeners.Event {
	t.Helper()
	var all []byte
	for i := 20; i >= 1; i-- {
		if b, err := os.ReadFile(fmt.Sprintf("%s.%d", path, i)); err == nil {
			all = append(all, b...)
		}
	}
	b, _ := os.ReadFile(path)
	all = append(all, b...)
	var out []listeners.Event
	for _, line := range bytes.Split(all, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var ev listeners.Event
		if err := json.Unmarshal(line, &ev); err != nil {
			// A line cut by SIGKILL mid-write can only be the last one.
			continue
		}
		out = append(out, ev)
	}
	return out
}

// rebuild applies events in order: path -> data.
func rebuild(evs []listeners.Event) map[string]json.RawMessage {
	st := map[string]json.RawMessage{}
	for _, ev := range evs {
		if ev.Type == listeners.Removed {
			delete(st, ev.Path)
		} else {
			st[ev.Path] = ev.Data
		}
	}
	return st
}

func dbState(t testing.TB, q firestore.Query) map[string]json.RawMessage {
	t.Helper()
	docs, err := q.Documents(context.Background()).GetAll()
	if err != nil {
		t.Fatal(err)
	}
	st := map[string]json.RawMessage{}
	for _, d := range docs {
		b, err := value.EncodeMap(d.Data())
		if err != nil {
			t.Fatal(err)
		}
		p := d.Ref.Path
		st[p[strings.Index(p, "/documents/")+len("/documents/"):]] = b
	}
	return st
}

func sameState(got, want map[string]json.RawMessage) string {
	var diffs []string
	for p, w := range want {
		g, ok := got[p]
		if !ok {
			diffs = append(diffs, "missing "+p)
			continue
		}
		gv, _ := value.DecodeMap(g)
		wv, _ := value.DecodeMap(w)
		if !value.Equal(gv, wv) {
			diffs = append(diffs, fmt.Sprintf("%s: %s != %s", p, g, w))
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			diffs = append(diffs, "extra "+p)
		}
	}
	if len(diffs) > 8 {
		diffs = append(diffs[:8], fmt.Sprintf("and %d more", len(diffs)-8))
	}
	return strings.Join(diffs, "; ")
}

// checkDuplicates fails if two events with one ID differ, and returns how
// many duplicates there were.
func checkDuplicates(t testing.TB, evs []listeners.Event) int {
	t.Helper()
	seen := map[string]listeners.Event{}
	dups := 0
	for _, ev := range evs {
		if err := ev.Validate(); err != nil {
			t.Fatalf("bad event: %v", err)
		}
		if old, ok := seen[ev.ID]; ok {
			dups++
			if old.Path != ev.Path || string(old.Data) != string(ev.Data) {
				t.Fatalf("events with id %s differ: %+v vs %+v", ev.ID, old, ev)
			}
		}
		seen[ev.ID] = ev
	}
	return dups
}

func waitUntil(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func get(t testing.TB, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

type hookServer struct {
	mu     sync.Mutex
	events []listeners.Event
	down   atomic.Bool
	srv    *httptest.Server
}

func newHook(t testing.TB, secret string) *hookServer {
	h := &hookServer{}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if h.down.Load() {
			http.Error(w, "down for maintenance", http.StatusBadGateway)
			return
		}
		if !webhook.Verify(secret, b, r.Header.Get(webhook.SignatureHeader)) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var body struct {
			Events []listeners.Event `json:"events"`
		}
		if err := json.Unmarshal(b, &body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		h.mu.Lock()
		h.events = append(h.events, body.Events...)
		h.mu.Unlock()
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hookServer) all() []listeners.Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]listeners.Event(nil), h.events...)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestRunEndToEnd runs the daemon in-process with a file, a stdout and a
// webhook sink; the webhook is down for a while in the middle. Every sink's
// rebuilt state equals the database; the probes and metrics answer.
func TestRunEndToEnd(t *testing.T) {
	f := emutest.NewFirestore(t)
	dir := t.TempDir()
	hook := newHook(t, "topsecret")
	t.Setenv("TEST_HOOK_SECRET", "topsecret")
	cfg, err := LoadConfig(writeConfig(t, dir, fmt.Sprintf(`
project: %s
state_dir: %s
http: {addr: "127.0.0.1:0"}
engine: {checkpoint_interval: 100ms, backoff_initial: 20ms, backoff_max: 200ms}
sinks:
  - name: archive
    file: {path: %s/events.ndjson, max_size: 20KB}
  - name: out
    stdout: {}
  - name: hook
    webhook: {url: "%s/in", secret: "${TEST_HOOK_SECRET}", retries: 1}
listeners:
  - name: orders
    collection: orders
    sinks: [archive, out, hook]
`, f.ProjectID, dir, dir, hook.srv.URL)))
	if err != nil {
		t.Fatal(err)
	}
	var stdout, logs syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, cfg, Options{Logger: slog.New(slog.NewJSONHandler(&logs, nil)), Stdout: &stdout, Ready: func(a string) { addrc <- a }})
	}()
	var addr string
	select {
	case addr = <-addrc:
	case err := <-done:
		t.Fatalf("Run returned early: %v", err)
	}
	waitUntil(t, 20*time.Second, "/readyz", func() bool { code, _ := get(t, "http://"+addr+"/readyz"); return code == 200 })
	if code, body := get(t, "http://"+addr+"/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz = %d %q", code, body)
	}

	bg := context.Background()
	col := f.Client.Collection("orders")
	write := func(from, to int) {
		for i := from; i < to; i++ {
			ref := col.Doc(fmt.Sprintf("o%03d", i%40))
			var err error
			if i%7 == 3 {
				_, err = ref.Delete(bg)
			} else {
				_, err = ref.Set(bg, map[string]any{"i": int64(i), "note": strings.Repeat("x", i%50)})
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	write(0, 100)
	hook.down.Store(true)
	write(100, 200)
	time.Sleep(500 * time.Millisecond)
	hook.down.Store(false)
	write(200, 260)

	want := dbState(t, col.Query)
	waitUntil(t, 30*time.Second, "the file sink to converge", func() bool {
		return sameState(rebuild(fileEvents(t, dir+"/events.ndjson")), want) == ""
	})
	waitUntil(t, 30*time.Second, "the webhook to converge", func() bool { return sameState(rebuild(hook.all()), want) == "" })
	waitUntil(t, 30*time.Second, "stdout to converge", func() bool {
		var evs []listeners.Event
		for _, l := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
			var ev listeners.Event
			if json.Unmarshal([]byte(l), &ev) == nil {
				evs = append(evs, ev)
			}
		}
		return sameState(rebuild(evs), want) == ""
	})
	checkDuplicates(t, hook.all())
	if _, err := os.Stat(dir + "/events.ndjson.1"); err != nil {
		t.Errorf("file sink did not rotate at 20KB: %v", err)
	}

	_, metrics := get(t, "http://"+addr+"/metrics")
	for _, m := range []string{
		`fbadmin_listen_events_in_total{listener="orders"}`,
		`fbadmin_listen_events_delivered_total{listener="orders",sink="archive"}`,
		`fbadmin_listen_events_delivered_total{listener="orders",sink="hook"}`,
		`fbadmin_listen_lag_seconds{listener="orders",sink="hook"}`,
		`fbadmin_listen_spool_bytes{sink="hook"}`,
		`fbadmin_listen_queue_depth{sink="out"}`,
		`fbadmin_listen_restarts_total{listener="orders",reason="error"}`,
		`fbadmin_listen_sink_retries_total{sink="hook"}`,
		`fbadmin_listen_listener_live{listener="orders"} 1`,
	} {
		if !strings.Contains(metrics, m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
	l := logs.String()
	if !strings.Contains(l, "502 Bad Gateway") {
		t.Errorf("logs do not report the webhook outage:\n%s", l)
	}
	if strings.Contains(l, "topsecret") {
		t.Errorf("logs leak the webhook secret")
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run after drain = %v, want nil", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "checkpoints", "orders", "archive.ckpt")); err != nil {
		t.Errorf("no checkpoint after drain: %v", err)
	}
}

// daemonProc is the daemon running as a child process.
type daemonProc struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	exited chan struct{}
	err    error
}

func startDaemon(t testing.TB, config string) *daemonProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "FBADMIN_TEST_DAEMON_CONFIG="+config)
	p := &daemonProc{cmd: cmd, stderr: &syncBuffer{}, exited: make(chan struct{})}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.exited
		if t.Failed() || os.Getenv("FBADMIN_TEST_LOGS") != "" {
			t.Logf("daemon stderr:\n%s", p.stderr.String())
		}
	})
	return p
}

func (p *daemonProc) wait(t testing.TB, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.exited:
	case <-time.After(timeout):
		t.Fatalf("daemon did not exit within %v; stderr:\n%s", timeout, p.stderr.String())
	}
	return p.cmd.ProcessState.ExitCode()
}

// TestKillAndRestartFromCheckpoint kills the daemon with SIGKILL while
// writers run, changes the database while it is down, and restarts it:
// the file's rebuilt state equals the database, and every duplicate carries
// the ID of its first delivery. SIGTERM then drains and exits 0.
func TestKillAndRestartFromCheckpoint(t *testing.T) {
	f := emutest.NewFirestore(t)
	dir := t.TempDir()
	config := writeConfig(t, dir, fmt.Sprintf(`
project: %s
state_dir: %s
http: {addr: "off"}
log: {format: json}
engine: {checkpoint_interval: 2s} # long, so that SIGKILL lands between checkpoints and duplicates occur
sinks:
  - name: archive
    file: {path: %s/events.ndjson, fsync: never}
listeners:
  - name: things
    collection_group: things
    sinks: [archive]
`, f.ProjectID, dir, dir))
	bg := context.Background()
	doc := func(i int) *firestore.DocumentRef {
		return f.Client.Doc(fmt.Sprintf("shards/s%d/things/t%02d", i%3, i%60))
	}
	churn := func(from, to, deleteEvery int) {
		for i := from; i < to; i++ {
			var err error
			if i%deleteEvery == deleteEvery-1 {
				_, err = doc(i).Delete(bg)
			} else {
				_, err = doc(i).Set(bg, map[string]any{"i": int64(i)})
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	churn(0, 80, 5)
	d := startDaemon(t, config)
	waitUntil(t, 20*time.Second, "first events", func() bool { return len(fileEvents(t, dir+"/events.ndjson")) > 0 })
	waitUntil(t, 20*time.Second, "a first checkpoint", func() bool {
		_, err := os.Stat(filepath.Join(dir, "checkpoints", "things", "archive.ckpt"))
		return err == nil
	})
	churn(80, 200, 5) // writers keep going while the daemon runs...
	if err := d.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	d.wait(t, 10*time.Second)
	before := len(fileEvents(t, dir+"/events.ndjson"))
	churn(200, 245, 3) // ...and while it is dead: some documents change, some are deleted, others not.

	d = startDaemon(t, config)
	want := dbState(t, f.Client.CollectionGroup("things").Query)
	waitUntil(t, 30*time.Second, "convergence after restart", func() bool {
		return sameState(rebuild(fileEvents(t, dir+"/events.ndjson")), want) == ""
	})
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := d.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("SIGTERM: exit code %d, want 0; stderr:\n%s", code, d.stderr.String())
	}
	if !strings.Contains(d.stderr.String(), `"msg":"drained"`) {
		t.Errorf("no drain in the logs:\n%s", d.stderr.String())
	}
	evs := fileEvents(t, dir+"/events.ndjson")
	if s := sameState(rebuild(evs), want); s != "" {
		t.Fatalf("after SIGTERM the state differs: %s", s)
	}
	dups := checkDuplicates(t, evs)
	t.Logf("%d events before SIGKILL, %d in all, %d duplicates (same IDs)", before, len(evs), dups)
}

// TestSinkFailureKeepsDaemonRunning gives the daemon a Pub/Sub sink whose
// topic does not exist: it keeps running and healthy, logging the error;
// SIGTERM drains (in vain, until the timeout) and a second SIGTERM aborts.
func TestSinkFailureKeepsDaemonRunning(t *testing.T) {
	f := emutest.NewFirestore(t)
	host := os.Getenv("PUBSUB_EMULATOR_HOST")
	if host == "" {
		host = emutest.DefaultPubSubHost
	}
	if c, err := (&net.Dialer{Timeout: 2 * time.Second}).Dial("tcp", host); err != nil {
		emutest.Unavailable(t, "Pub/Sub", host, err.Error())
	} else {
		c.Close()
	}
	t.Setenv("PUBSUB_EMULATOR_HOST", host)
	if _, err := f.Client.Collection("c").Doc("a").Set(context.Background(), map[string]any{"x": int64(1)}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	port := freePort(t)
	config := writeConfig(t, dir, fmt.Sprintf(`
project: %s
state_dir: %s
http: {addr: "127.0.0.1:%d"}
engine: {drain_timeout: 2m, backoff_max: 200ms}
sinks:
  - name: bus
    pubsub: {topic: no-such-topic}
listeners:
  - name: c
    collection: c
    sinks: [bus]
`, f.ProjectID, dir, port))
	d := startDaemon(t, config)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	waitUntil(t, 20*time.Second, "retries in the logs", func() bool {
		return strings.Contains(d.stderr.String(), "sink send failed; retrying") && strings.Contains(d.stderr.String(), "no-such-topic")
	})
	time.Sleep(time.Second)
	select {
	case <-d.exited:
		t.Fatalf("daemon exited on a sink failure:\n%s", d.stderr.String())
	default:
	}
	if code, _ := get(t, base+"/healthz"); code != 200 {
		t.Errorf("/healthz = %d while a sink fails, want 200", code)
	}
	_, metrics := get(t, base+"/metrics")
	if !strings.Contains(metrics, `fbadmin_listen_sink_retries_total{sink="bus"}`) || strings.Contains(metrics, `fbadmin_listen_sink_retries_total{sink="bus"} 0`) {
		t.Errorf("/metrics does not count the retries")
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	waitUntil(t, 10*time.Second, "the drain to start", func() bool { return strings.Contains(d.stderr.String(), "draining") })
	time.Sleep(300 * time.Millisecond)
	d.cmd.Process.Signal(syscall.SIGTERM)
	if code := d.wait(t, 10*time.Second); code != 130 {
		t.Fatalf("second SIGTERM: exit %d, want 130 (aborted); stderr:\n%s", code, d.stderr.String())
	}
	// Nothing was acknowledged, so nothing was checkpointed.
	cp, err := listeners.LoadCheckpoint(filepath.Join(dir, "checkpoints", "c", "bus.ckpt"))
	if err != nil && !errors.Is(err, listeners.ErrNoCheckpoint) {
		t.Fatal(err)
	}
	if len(cp) != 0 {
		t.Errorf("checkpoint holds %v though the sink acknowledged nothing", cp)
	}
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
