package webhook_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fbadmin/fbadmin/listeners"
	"github.com/fbadmin/fbadmin/listeners/sinktest"
	"github.com/fbadmin/fbadmin/listeners/webhook"
)

const secret = "s3cret-for-tests"

// endpoint is a test receiver that checks signatures and records batches.
// While down is set it answers status instead.
type endpoint struct {
	t      testing.TB
	mu     sync.Mutex
	events []listeners.Event
	posts  int
	down   atomic.Bool
	status int
	srv    *httptest.Server
}

func newEndpoint(t testing.TB) *endpoint {
	e := &endpoint{t: t, status: http.StatusServiceUnavailable}
	e.srv = httptest.NewServer(http.HandlerFunc(e.serve))
	t.Cleanup(e.srv.Close)
	return e
}

func (e *endpoint) serve(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	e.mu.Lock()
	e.posts++
	e.mu.Unlock()
	if e.down.Load() {
		http.Error(w, "maintenance in progress", e.status)
		return
	}
	if !webhook.Verify(secret, b, r.Header.Get(webhook.SignatureHeader)) {
		e.t.Errorf("bad signature %q", r.Header.Get(webhook.SignatureHeader))
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	if r.Header.Get(webhook.BatchHeader) == "" || r.Header.Get("Content-Type") != "application/json" {
		e.t.Errorf("missing headers: %v", r.Header)
	}
	var body struct {
		Events []listeners.Event `json:"events"`
	}
	if err := json.Unmarshal(b, &body); err != nil {
		e.t.Errorf("bad body: %v", err)
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	e.mu.Lock()
	e.events = append(e.events, body.Events...)
	e.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (e *endpoint) received() []listeners.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]listeners.Event(nil), e.events...)
}

func (e *endpoint) waitFor(t testing.TB, n int) []listeners.Event {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		got := e.received()
		if len(got) >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func open(t testing.TB, e *endpoint, spool string, logs io.Writer, tweak func(*webhook.Options)) *webhook.Sink {
	t.Helper()
	if logs == nil {
		logs = io.Discard
	}
	opts := webhook.Options{URL: e.srv.URL + "/hook?token=hidden-token", Secret: secret, SpoolDir: spool,
		Timeout: 2 * time.Second, BackoffInitial: 10 * time.Millisecond, BackoffMax: 100 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(logs, nil))}
	if tweak != nil {
		tweak(&opts)
	}
	s, err := webhook.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	sinktest.Run(t, func(t *testing.T) sinktest.Fixture {
		e := newEndpoint(t)
		s := open(t, e, filepath.Join(t.TempDir(), "spool"), nil, nil)
		return sinktest.Fixture{Sink: s, Received: func(t testing.TB, n int) []listeners.Event { return e.waitFor(t, n) }}
	})
}

// TestOutageLosesNothing takes the endpoint down: batches are spooled and
// acknowledged, then delivered in order once it is back, including across a
// restart of the sink.
func TestOutageLosesNothing(t *testing.T) {
	e := newEndpoint(t)
	spool := filepath.Join(t.TempDir(), "spool")
	var logs logBuffer
	s := open(t, e, spool, &logs, nil)
	evs := sinktest.Events("w", 0, 30)
	ctx := context.Background()
	if err := s.Send(ctx, evs[:10]); err != nil {
		t.Fatal(err)
	}
	e.down.Store(true)
	if err := s.Send(ctx, evs[10:20]); err != nil {
		t.Fatalf("Send while the endpoint is down = %v, want nil (spooled)", err)
	}
	if s.SpoolBytes() == 0 {
		t.Fatal("spool is empty while the endpoint is down")
	}
	// Restart the sink with the batch still spooled, and send more.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, e, spool, &logs, nil)
	defer s.Close()
	if s.SpoolBytes() == 0 {
		t.Fatal("spool lost across a restart")
	}
	if err := s.Send(ctx, evs[20:]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	e.down.Store(false)
	sinktest.Compare(t, e.waitFor(t, 30), evs)
	deadline := time.Now().Add(5 * time.Second)
	for s.SpoolBytes() != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if s.SpoolBytes() != 0 {
		t.Fatalf("spool holds %d bytes after delivery", s.SpoolBytes())
	}
	l := logs.String()
	if !strings.Contains(l, "503 Service Unavailable") || !strings.Contains(l, "maintenance in progress") {
		t.Errorf("logs do not name the failure:\n%s", l)
	}
	if strings.Contains(l, "hidden-token") || strings.Contains(l, secret) {
		t.Errorf("logs leak a secret:\n%s", l)
	}
}

func TestSpoolBound(t *testing.T) {
	e := newEndpoint(t)
	e.down.Store(true)
	s := open(t, e, filepath.Join(t.TempDir(), "spool"), nil, func(o *webhook.Options) {
		o.MaxSpoolBytes = 20000
		o.Retries = -1
	})
	defer s.Close()
	ctx := context.Background()
	var err error
	for i := 0; i < 100 && err == nil; i++ {
		err = s.Send(ctx, sinktest.Events("b", i*5, 5))
	}
	if !errors.Is(err, webhook.ErrSpoolFull) {
		t.Fatalf("Send into a full spool = %v, want ErrSpoolFull", err)
	}
	if !strings.Contains(err.Error(), "spool at") {
		t.Errorf("error %q does not say how full the spool is", err)
	}
	if got := s.SpoolBytes(); got > 20000 {
		t.Errorf("spool grew to %d bytes past its 20000 bound", got)
	}
}

func TestBadResponsesAreClearErrors(t *testing.T) {
	for _, tc := range []struct {
		status int
		want   string
	}{
		{http.StatusUnauthorized, "check the secret"},
		{http.StatusRequestEntityTooLarge, "batch_size"},
		{http.StatusInternalServerError, "500 Internal Server Error"},
	} {
		e := newEndpoint(t)
		e.down.Store(true)
		e.status = tc.status
		var logs logBuffer
		s := open(t, e, filepath.Join(t.TempDir(), "spool"), &logs, func(o *webhook.Options) { o.Retries = 1 })
		if err := s.Send(context.Background(), sinktest.Events("x", 0, 1)); err != nil {
			t.Fatal(err)
		}
		s.Close()
		if !strings.Contains(logs.String(), tc.want) {
			t.Errorf("status %d: logs do not contain %q:\n%s", tc.status, tc.want, logs.String())
		}
	}
}

func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	defer slow.Close()
	defer close(release)
	var logs logBuffer
	s, err := webhook.New(webhook.Options{URL: slow.URL, SpoolDir: t.TempDir(), Timeout: 100 * time.Millisecond, Retries: -1,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	start := time.Now()
	if err := s.Send(context.Background(), sinktest.Events("t", 0, 1)); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Send took %v against a hanging endpoint with a 100ms timeout", d)
	}
	if s.SpoolBytes() == 0 || !strings.Contains(logs.String(), "deadline exceeded") {
		t.Errorf("timed-out batch not spooled with a clear message; logs:\n%s", logs.String())
	}
}

func TestBadOptions(t *testing.T) {
	for _, tc := range []struct {
		opts webhook.Options
		want string
	}{
		{webhook.Options{URL: "ftp://x", SpoolDir: "d"}, "want an http or https URL"},
		{webhook.Options{URL: "http://user:pw@x/?k=v", SpoolDir: ""}, "no spool directory"},
	} {
		_, err := webhook.New(tc.opts)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want %q", tc.opts, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "pw") {
			t.Errorf("error leaks the password: %v", err)
		}
	}
}

func TestSign(t *testing.T) {
	// HMAC-SHA256("key", "1700000000.The quick brown fox jumps over the
	// lazy dog"): the timestamp, a dot and the body.
	at := time.Unix(1700000000, 0)
	got := webhook.SignAt("key", at, []byte("The quick brown fox jumps over the lazy dog"))
	m := hmac.New(sha256.New, []byte("key"))
	m.Write([]byte("1700000000.The quick brown fox jumps over the lazy dog"))
	want := "t=1700000000,v1=" + hex.EncodeToString(m.Sum(nil))
	if got != want {
		t.Fatalf("SignAt = %s, want %s", got, want)
	}
	body := []byte(`{"events":[]}`)
	for _, tc := range []struct {
		name   string
		header string
		now    time.Time
		want   error
	}{
		{"fresh", webhook.SignAt("key", at, body), at.Add(time.Minute), nil},
		{"clock behind", webhook.SignAt("key", at, body), at.Add(-time.Minute), nil},
		{"replayed later", webhook.SignAt("key", at, body), at.Add(6 * time.Minute), webhook.ErrStale},
		{"other secret", webhook.SignAt("other", at, body), at, webhook.ErrBadSignature},
		{"timestamp changed", strings.Replace(webhook.SignAt("key", at, body), "t=1700000000", "t=1700000300", 1), at.Add(5 * time.Minute), webhook.ErrBadSignature},
		{"old scheme", "sha256=" + hex.EncodeToString(m.Sum(nil)), at, webhook.ErrBadSignature},
		{"none", "", at, webhook.ErrNoSignature},
	} {
		if err := webhook.CheckSignature("key", body, tc.header, tc.now, webhook.DefaultTolerance); !errors.Is(err, tc.want) {
			t.Errorf("%s: CheckSignature = %v, want %v", tc.name, err, tc.want)
		}
	}
}

// TestReceiver: a batch is applied once; its replay (same request, within
// the tolerance) is acknowledged without being applied; a replay after
// the tolerance, a forged body and a missing signature are refused; a
// failed apply answers 500 and the retry is applied.
func TestReceiver(t *testing.T) {
	now := time.Unix(1800000000, 0)
	rc := &webhook.Receiver{Secret: "s", Now: func() time.Time { return now }}
	var applied [][]listeners.Event
	fail := false
	h := rc.Handler(func(_ context.Context, evs []listeners.Event) error {
		if fail {
			return errors.New("database down")
		}
		applied = append(applied, evs)
		return nil
	})
	body := `{"events":[{"id":"a","type":"removed","listener":"l","path":"c/d","update_time":"2026-01-01T00:00:00Z","read_time":"2026-01-01T00:00:01Z"}]}`
	post := func(sig, batch, b string) int {
		req := httptest.NewRequest(http.MethodPost, "/hook", strings.NewReader(b))
		if sig != "" {
			req.Header.Set(webhook.SignatureHeader, sig)
		}
		req.Header.Set(webhook.BatchHeader, batch)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	sig := webhook.SignAt("s", now, []byte(body))
	fail = true
	if code := post(sig, "b1", body); code != 500 || len(applied) != 0 {
		t.Fatalf("failed apply: %d, %d applied; want 500, 0", code, len(applied))
	}
	fail = false
	if code := post(sig, "b1", body); code != 204 || len(applied) != 1 {
		t.Fatalf("retry: %d, %d applied; want 204, 1", code, len(applied))
	}
	now = now.Add(time.Minute)
	if code := post(sig, "b1", body); code != 204 || len(applied) != 1 {
		t.Fatalf("replay within the tolerance: %d, %d applied; want 204 and not applied again", code, len(applied))
	}
	now = now.Add(10 * time.Minute)
	if code := post(sig, "b1", body); code != 401 {
		t.Fatalf("replay after the tolerance: %d, want 401", code)
	}
	forged := strings.Replace(body, "removed", "added", 1)
	if code := post(webhook.SignAt("s", now, []byte(body)), "b2", forged); code != 401 {
		t.Fatalf("forged body: %d, want 401", code)
	}
	if code := post("", "b3", body); code != 401 {
		t.Fatalf("no signature: %d, want 401", code)
	}
	if code := post(webhook.SignAt("s", now, []byte("nope")), "b4", "nope"); code != 400 {
		t.Fatalf("not a batch: %d, want 400", code)
	}
	if len(applied) != 1 || applied[0][0].Path != "c/d" {
		t.Fatalf("applied %v", applied)
	}
}
