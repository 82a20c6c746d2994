package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/fbadmin/fbadmin/auth"
	"github.com/fbadmin/fbadmin/internal/emutest"
)

// nextEvent reads messages until an event, failing on anything else.
func nextEvent(t *testing.T, c *websocket.Conn) *wsMsg {
	t.Helper()
	m, err := wsRead(t, c, 15*time.Second)
	if err != nil {
		t.Fatalf("waiting for an event: %v", err)
	}
	if m.Type != MsgEvent || m.Event == nil {
		t.Fatalf("got %s, want an event", m.Raw)
	}
	return m
}

func TestWatchStreamsChangesInOrder(t *testing.T) {
	t.Parallel()
	e := newSrvEnv(t, openRules)
	_, tok := e.user(nil)
	e.do("PUT", "/v1/docs/w/existing", tok, `{"n":0}`).want(t, 201)

	c := e.wsDial(tok, true)
	subscribe(t, c, QuerySpec{Collection: "w"}, "")
	first := nextEvent(t, c)
	if first.Event.Type != "added" || first.Event.Path != "w/existing" {
		t.Fatalf("initial event %s", first.Raw)
	}

	// A second client authenticates with a first message instead.
	c2 := e.wsDial(tok, false)
	subscribe(t, c2, QuerySpec{Collection: "w", Where: []Filter{{Field: "n", Op: ">=", Value: []byte("1")}}}, "")

	e.do("PUT", "/v1/docs/w/a", tok, `{"n":1}`).want(t, 201)
	e.do("PATCH", "/v1/docs/w/a", tok, `{"n":2}`).want(t, 200)
	e.do("DELETE", "/v1/docs/w/a", tok, nil).want(t, 204)

	for _, conn := range []*websocket.Conn{c, c2} {
		var got []string
		var last *wsMsg
		for len(got) < 3 {
			m := nextEvent(t, conn)
			got = append(got, m.Event.Type+" "+m.Event.Path)
			if last != nil && m.Position <= last.Position && len(m.Position) == len(last.Position) {
				t.Fatalf("positions do not increase: %s then %s", last.Position, m.Position)
			}
			if m.Event.ID == "" || m.Event.UpdateTime.IsZero() {
				t.Fatalf("event without ID or update time: %s", m.Raw)
			}
			last = m
		}
		if strings.Join(got, ",") != "added w/a,modified w/a,removed w/a" {
			t.Fatalf("events %v", got)
		}
	}
	// Nothing more: no duplicate after the three changes.
	if m, err := wsRead(t, c, 300*time.Millisecond); err == nil {
		t.Fatalf("unexpected message %s", m.Raw)
	}
}

func TestWatchResume(t *testing.T) {
	t.Parallel()
	e := newSrvEnv(t, openRules)
	_, tok := e.user(nil)
	c := e.wsDial(tok, true)
	subscribe(t, c, QuerySpec{Collection: "r"}, "")
	e.do("PUT", "/v1/docs/r/1", tok, `{"n":1}`).want(t, 201)
	m := nextEvent(t, c)
	pos := m.Position
	c.Close(websocket.StatusNormalClosure, "")

	// Missed while away: delivered after a reconnect with the position.
	e.do("PUT", "/v1/docs/r/2", tok, `{"n":2}`).want(t, 201)
	e.do("DELETE", "/v1/docs/r/1", tok, nil).want(t, 204)
	time.Sleep(300 * time.Millisecond) // let the shared stream see them
	c = e.wsDial(tok, true)
	subscribe(t, c, QuerySpec{Collection: "r"}, pos)
	a, b := nextEvent(t, c), nextEvent(t, c)
	if a.Event.Type+" "+a.Event.Path != "added r/2" || b.Event.Type+" "+b.Event.Path != "removed r/1" {
		t.Fatalf("after resume: %s then %s", a.Raw, b.Raw)
	}
	c.Close(websocket.StatusNormalClosure, "")

	// An unknown position: a resync message, then the current documents.
	c = e.wsDial(tok, true)
	subscribe(t, c, QuerySpec{Collection: "r"}, "0000.5")
	r, err := wsRead(t, c, 10*time.Second)
	if err != nil || r.Type != MsgResync || r.Reason == "" {
		t.Fatalf("want resync, got %v %v", r, err)
	}
	ev := nextEvent(t, c)
	if ev.Event.Type != "added" || ev.Event.Path != "r/2" {
		t.Fatalf("after resync: %s", ev.Raw)
	}
}

func TestWatchAccess(t *testing.T) {
	t.Parallel()
	e := newSrvEnv(t, accessRules)
	alice, aliceTok := e.user(nil)
	bob, bobTok := e.user(nil)

	// Owner rule: each event is checked; alice never sees bob's notes.
	c := e.wsDial(aliceTok, true)
	subscribe(t, c, QuerySpec{Collection: "notes"}, "")
	e.do("POST", "/v1/docs/notes?id=b", bobTok, `{"owner":"`+bob+`"}`).want(t, 201)
	e.do("POST", "/v1/docs/notes?id=a", aliceTok, `{"owner":"`+alice+`"}`).want(t, 201)
	m := nextEvent(t, c)
	if m.Event.Path != "notes/a" {
		t.Fatalf("alice got %s", m.Raw)
	}

	// Denied subscriptions: an error message, then close code 4403.
	for name, q := range map[string]QuerySpec{
		"no rule":       {Collection: "secret"},
		"other's notes": {Collection: "users/" + alice + "/notes"},
		"group":         {Collection: "comments", Group: true},
	} {
		c := e.wsDial(bobTok, true)
		wsSend(t, c, map[string]any{"type": "subscribe", "query": q})
		m, err := wsRead(t, c, 10*time.Second)
		if err != nil || m.Type != "error" || m.Error.Status != 403 {
			t.Fatalf("%s: got %v, %v", name, m, err)
		}
		if _, err := wsRead(t, c, 10*time.Second); websocket.CloseStatus(err) != 4403 {
			t.Fatalf("%s: close %v, want 4403", name, err)
		}
	}

	// Bad tokens: in the header the upgrade is refused with 401; in the
	// first message the connection closes with 4401.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(e.URL, "http")+"/v1/watch",
		&websocket.DialOptions{HTTPHeader: map[string][]string{"Authorization": {"Bearer nope"}}})
	if err == nil || resp == nil || resp.StatusCode != 401 {
		t.Fatalf("bad header token: %v %v", resp, err)
	}
	c = e.wsDial("bad.token.here", false)
	m, err = wsRead(t, c, 10*time.Second)
	if err != nil || m.Type != "error" || m.Error.Status != 401 || strings.Contains(string(m.Raw), "bad.token.here") {
		t.Fatalf("bad first-message token: %v %v", m, err)
	}
	if _, err := wsRead(t, c, 10*time.Second); websocket.CloseStatus(err) != 4401 {
		t.Fatalf("close %v, want 4401", err)
	}
	// Garbage instead of JSON: 4400, no panic.
	c = e.wsDial(aliceTok, true)
	if err := c.Write(ctx, websocket.MessageText, []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	for {
		_, err := wsRead(t, c, 10*time.Second)
		if err != nil {
			if websocket.CloseStatus(err) != 4400 {
				t.Fatalf("close %v, want 4400", err)
			}
			break
		}
	}
}

// TestWatchSlowClientDropped: a client that stops reading is dropped with
// 1008 once its queue is full, while another client of the same query
// gets every event.
func TestWatchSlowClientDropped(t *testing.T) {
	t.Parallel()
	e := newSrvEnv(t, openRules, func(c *Config) { c.Watch.SendQueue = 8; c.Limits.MaxBody = 2 << 20 })
	_, tok := e.user(nil)
	slow := e.wsDial(tok, true)
	subscribe(t, slow, QuerySpec{Collection: "s"}, "")
	fast := e.wsDial(tok, true)
	subscribe(t, fast, QuerySpec{Collection: "s"}, "")

	// Large documents fill the slow client's socket buffers quickly.
	big := strings.Repeat("x", 900_000)
	const n = 40
	done := make(chan error, 1)
	go func() {
		ctx := context.Background()
		for i := range n {
			if _, err := e.fs.Client.Doc(fmt.Sprintf("s/%02d", i)).Set(ctx, map[string]any{"big": big, "i": i}); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for got := 0; got < n; {
		m, err := wsRead(t, fast, 30*time.Second)
		if err != nil {
			t.Fatalf("fast client after %d events: %v", got, err)
		}
		if m.Type == MsgEvent {
			got++
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// The slow client now reads: what it was sent, then the close.
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := wsRead(t, slow, time.Until(deadline))
		if err != nil {
			if st := websocket.CloseStatus(err); st != websocket.StatusPolicyViolation {
				// A write cut short may close without a frame; the
				// metric then still records the drop.
				if !errors.Is(err, context.DeadlineExceeded) && st == -1 {
					break
				}
				t.Fatalf("slow client: %v, want close 1008", err)
			}
			break
		}
	}
	m := e.do("GET", "/metrics", "", nil).want(t, 200)
	if !strings.Contains(string(m.body), "fbadmin_serve_clients_dropped_total 1") {
		t.Fatalf("dropped metric: %s", grepLines(string(m.body), "dropped"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestHubSlowSubscriber checks the bound at the hub level, without
// sockets: a subscription nobody reads ends with ErrSlowClient and does
// not hold the others back.
func TestHubSlowSubscriber(t *testing.T) {
	t.Parallel()
	e := newSrvEnv(t, openRules, func(c *Config) { c.Watch.SendQueue = 4 })
	caller := &Caller{UID: "u"}
	ctx := t.Context()
	slow, err := e.srv.hub.Subscribe(ctx, caller, QuerySpec{Collection: "h"}, "")
	if err != nil {
		t.Fatal(err)
	}
	fast, err := e.srv.hub.Subscribe(ctx, caller, QuerySpec{Collection: "h"}, "")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if _, err := e.fs.Client.Doc(fmt.Sprintf("h/%02d", i)).Set(ctx, map[string]any{"i": i}); err != nil {
			t.Fatal(err)
		}
		m, err := fast.Next(ctx)
		if err != nil || m.Event.Path != fmt.Sprintf("h/%02d", i) {
			t.Fatalf("fast subscriber event %d: %v %v", i, m, err)
		}
	}
	select {
	case <-slow.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the slow subscriber was not dropped")
	}
	if !errors.Is(slow.Err(), ErrSlowClient) {
		t.Fatalf("slow subscriber ended with %v", slow.Err())
	}
	if slow.Queued() > 4 {
		t.Fatalf("queue grew to %d", slow.Queued())
	}
	fast.Close()
}

func TestWatchShutdownGoingAway(t *testing.T) {
	t.Parallel()
	e := newSrvEnv(t, openRules)
	_, tok := e.user(nil)
	c := e.wsDial(tok, true)
	subscribe(t, c, QuerySpec{Collection: "g"}, "")
	e.srv.Close()
	_, err := wsRead(t, c, 10*time.Second)
	if websocket.CloseStatus(err) != websocket.StatusGoingAway {
		t.Fatalf("close %v, want 1001", err)
	}
	r := e.do("GET", "/readyz", "", nil)
	if r.StatusCode != 503 {
		t.Fatalf("readyz during shutdown: %d", r.StatusCode)
	}
}

// TestWatchPing: a client that answers pings (a coder/websocket client
// does while it reads) stays; one that does not is closed.
func TestWatchPing(t *testing.T) {
	t.Parallel()
	e := newSrvEnv(t, openRules, func(c *Config) { c.Watch.PingInterval = 150 * time.Millisecond })
	_, tok := e.user(nil)
	alive := e.wsDial(tok, true)
	subscribe(t, alive, QuerySpec{Collection: "ping"}, "")
	deaf := e.wsDial(tok, true)
	subscribe(t, deaf, QuerySpec{Collection: "ping"}, "")
	// alive keeps reading (and so answers pings); deaf does not read.
	msgs := make(chan *wsMsg, 10)
	go func() {
		defer close(msgs)
		for {
			m, err := wsRead(t, alive, 30*time.Second)
			if err != nil {
				return
			}
			msgs <- m
		}
	}()
	time.Sleep(time.Second)
	_, err := wsRead(t, deaf, 5*time.Second)
	if err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("the deaf client was not closed: %v", err)
	}
	// The reading client is still there and gets events.
	e.do("PUT", "/v1/docs/ping/x", tok, `{"n":1}`).want(t, 201)
	select {
	case m, ok := <-msgs:
		if !ok || m.Event == nil || m.Event.Path != "ping/x" {
			t.Fatalf("alive client: %v (open %v)", m, ok)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no event for the alive client")
	}
}

// TestWatchBurstPosition: of the current documents sent when a stream
// opens, only the last carries a position, so a client cut off in the
// middle of the burst never resumes past documents it did not get.
func TestWatchBurstPosition(t *testing.T) {
	t.Parallel()
	e := newSrvEnv(t, openRules)
	_, tok := e.user(nil)
	for i := range 3 {
		e.do("PUT", fmt.Sprintf("/v1/docs/burst/%d", i), tok, `{"n":1}`).want(t, 201)
	}
	c := e.wsDial(tok, true)
	subscribe(t, c, QuerySpec{Collection: "burst"}, "")
	for i := range 3 {
		m := nextEvent(t, c)
		if (m.Position != "") != (i == 2) {
			t.Fatalf("burst event %d has position %q", i, m.Position)
		}
	}
	e.do("PUT", "/v1/docs/burst/x", tok, `{"n":2}`).want(t, 201)
	if m := nextEvent(t, c); m.Position == "" {
		t.Fatal("a live event without position")
	}
}

// shortVerifier accepts any token as user "short", expiring soon.
type shortVerifier struct{ exp time.Time }

func (v shortVerifier) VerifyIDToken(context.Context, string, ...auth.VerifyOptions) (*auth.Token, error) {
	return &auth.Token{UID: "short", Expires: v.exp.Unix(), Claims: map[string]any{}}, nil
}

// TestWatchTokenExpiry: a stream ends when its token expires, with a 401
// error message and close code 4401.
func TestWatchTokenExpiry(t *testing.T) {
	t.Parallel()
	fs := emutest.NewFirestore(t)
	cfg, err := ParseConfig("t.yaml", []byte(openRules))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Auth.CacheTTL = -1
	s, err := New(cfg, Options{Client: fs.Client, Verifier: shortVerifier{exp: time.Now().Add(2 * time.Second)}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(func() { s.Close(); hs.Close() })
	e := &srvEnv{t: t, URL: hs.URL}
	c := e.wsDial("any", true)
	subscribe(t, c, QuerySpec{Collection: "exp"}, "")
	m, err := wsRead(t, c, 10*time.Second)
	if err != nil || m.Type != "error" || m.Error.Status != 401 || !strings.Contains(m.Error.Message, "expired") {
		t.Fatalf("got %v, %v; want a 401 error about the expired token", m, err)
	}
	if _, err := wsRead(t, c, 5*time.Second); websocket.CloseStatus(err) != 4401 {
		t.Fatalf("close %v, want 4401", err)
	}
}

// TestGraphQLTokenExpiryClosesSocket: a GraphQL subscription whose token
// expires ends with UNAUTHENTICATED and the socket closes with 4401.
func TestGraphQLTokenExpiryClosesSocket(t *testing.T) {
	t.Parallel()
	fs := emutest.NewFirestore(t)
	cfg, err := ParseConfig("t.yaml", []byte(openRules))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Auth.CacheTTL = -1
	s, err := New(cfg, Options{Client: fs.Client, Verifier: shortVerifier{exp: time.Now().Add(2 * time.Second)}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(func() { s.Close(); hs.Close() })
	e := &srvEnv{t: t, URL: hs.URL}
	w, _, err := e.gqlDial("graphql-transport-ws", "", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.init(map[string]any{"Authorization": "Bearer any"}); err != nil {
		t.Fatal(err)
	}
	w.subscribe("1", `subscription { changes(collection: "exp") { type path } }`, nil)
	_, errs := w.next("1", 10*time.Second)
	if errCodeOf(errs) != "UNAUTHENTICATED" {
		t.Fatalf("errors %+v, want UNAUTHENTICATED", errs)
	}
	for {
		if _, err := w.read(10 * time.Second); err != nil {
			if websocket.CloseStatus(err) != 4401 {
				t.Fatalf("close %v, want 4401", err)
			}
			break
		}
	}
}
