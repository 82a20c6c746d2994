package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/fbadmin/fbadmin/auth"
	"github.com/fbadmin/fbadmin/internal/emutest"
)

// srvEnv is one test's server: its own Firestore project, the Auth
// emulator's project (users with unique UIDs), and a real HTTP server.
type srvEnv struct {
	t    *testing.T
	fs   *emutest.Firestore
	auth *auth.Client
	srv  *Server
	http *httptest.Server
	URL  string
	logs *lockedWriter
}

// newSrvEnv starts a server with the config's YAML (rules etc.); edit
// may change the parsed config.
func newSrvEnv(t *testing.T, yamlCfg string, edit ...func(*Config)) *srvEnv {
	t.Helper()
	fs := emutest.NewFirestore(t)
	a := emutest.NewAuth(t)
	ac, err := auth.New(context.Background(), auth.Config{ProjectID: a.ProjectID, EmulatorHost: a.Host})
	if err != nil {
		t.Fatalf("auth.New: %v", err)
	}
	cfg, err := ParseConfig("test.yaml", []byte(yamlCfg))
	if err != nil {
		t.Fatalf("ParseConfig: %v", err)
	}
	for _, e := range edit {
		e(cfg)
	}
	logs := &lockedWriter{w: &bytes.Buffer{}}
	s, err := New(cfg, Options{Client: fs.Client, Verifier: ac, Emulator: true,
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		s.Close()
		hs.Close()
	})
	return &srvEnv{t: t, fs: fs, auth: ac, srv: s, http: hs, URL: hs.URL, logs: logs}
}

// lockedWriter serializes writes of concurrent loggers.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

// String returns what was written so far.
func (w *lockedWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.(*bytes.Buffer).String()
}

// user signs in a new user with a unique UID and the given custom claims
// and returns its UID and ID token.
func (e *srvEnv) user(claims map[string]any) (uid, token string) {
	e.t.Helper()
	uid = emutest.UniqueID(e.t, "srv")
	ctx := context.Background()
	ct, err := e.auth.CustomToken(ctx, uid, claims)
	if err != nil {
		e.t.Fatalf("CustomToken: %v", err)
	}
	cred, err := e.auth.SignInClient().SignInWithCustomToken(ctx, ct)
	if err != nil {
		e.t.Fatalf("SignInWithCustomToken: %v", err)
	}
	return uid, cred.IDToken
}

// response is an HTTP answer with its body read.
type response struct {
	*http.Response
	body []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// errCode returns the error body's code and field.
func (r response) errCode(t *testing.T) (string, string) {
	t.Helper()
	var b errorBody
	r.json(t, &b)
	if b.Error.Status != r.StatusCode {
		t.Fatalf("error body status %d, HTTP status %d", b.Error.Status, r.StatusCode)
	}
	return b.Error.Code, b.Error.Field
}

// do sends a request; body is a string (sent as is) or a value (JSON);
// headers come in name, value pairs.
func (e *srvEnv) do(method, path, token string, body any, headers ...string) response {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return response{resp, b}
}

// want fails the test unless the answer has the status.
func (r response) want(t *testing.T, status int) response {
	t.Helper()
	if r.StatusCode != status {
		t.Fatalf("%s %s: status %d, want %d; body %s", r.Request.Method, r.Request.URL.Path, r.StatusCode, status, r.body)
	}
	return r
}

// wsDial opens /v1/watch, with the token in the header when header is true.
func (e *srvEnv) wsDial(token string, header bool) *websocket.Conn {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	opts := &websocket.DialOptions{}
	if header && token != "" {
		opts.HTTPHeader = http.Header{"Authorization": {"Bearer " + token}}
	}
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(e.URL, "http")+"/v1/watch", opts)
	if err != nil {
		e.t.Fatalf("dial: %v", err)
	}
	c.SetReadLimit(32 << 20)
	e.t.Cleanup(func() { c.CloseNow() })
	if !header && token != "" {
		wsSend(e.t, c, map[string]any{"type": "auth", "token": token})
	}
	return c
}

func wsSend(t *testing.T, c *websocket.Conn, v any) {
	t.Helper()
	b, _ := json.Marshal(v)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Write(ctx, websocket.MessageText, b); err != nil {
		t.Fatalf("ws write: %v", err)
	}
}

// wsMsg is a message of the watch protocol as a client sees it.
type wsMsg struct {
	Type     string          `json:"type"`
	Position string          `json:"position"`
	Reason   string          `json:"reason"`
	Event    *wsEvent        `json:"event"`
	Error    *errorDetail    `json:"error"`
	Raw      json.RawMessage `json:"-"`
}

type wsEvent struct {
	ID         string          `json:"id"`
	Type       string          `json:"type"`
	Path       string          `json:"path"`
	Data       json.RawMessage `json:"data"`
	UpdateTime time.Time       `json:"update_time"`
}

// wsRead reads one message, failing after timeout; it returns the close
// error instead when the connection ends.
func wsRead(t *testing.T, c *websocket.Conn, timeout time.Duration) (*wsMsg, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_, b, err := c.Read(ctx)
	if err != nil {
		return nil, err
	}
	var m wsMsg
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("ws message %s: %v", b, err)
	}
	m.Raw = b
	return &m, nil
}

// subscribe sends a subscribe message and waits for "subscribed".
func subscribe(t *testing.T, c *websocket.Conn, q QuerySpec, resume string) {
	t.Helper()
	wsSend(t, c, map[string]any{"type": "subscribe", "query": q, "resume": resume})
	m, err := wsRead(t, c, 15*time.Second)
	if err != nil {
		t.Fatalf("waiting for subscribed: %v", err)
	}
	if m.Type != "subscribed" {
		t.Fatalf("first message %s, want subscribed", m.Raw)
	}
}
