package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/fbadmin/fbadmin/internal/errs"
)

// The /v1/watch protocol (docs/serve.md), JSON text messages:
//
//	client: {"type":"auth","token":"<ID token>"}      first, unless the upgrade had Authorization
//	client: {"type":"subscribe","query":{...},"resume":"<position>"}
//	server: {"type":"subscribed"}
//	server: {"type":"event","position":"...","event":{...}}   one per change
//	server: {"type":"resync","position":"...","reason":"..."} the resume position is gone
//	server: {"type":"error","error":{"status":403,"code":"...","message":"..."}} then close
//
// Close codes: 1000 normal, 1001 server shutting down, 1008 slow client,
// 4400 bad request, 4401 unauthenticated (or token expired), 4403
// forbidden, 4429 rate limited, 4503 backend unavailable.

// clientMessage is a message from a /v1/watch client.
type clientMessage struct {
	Type   string     `json:"type"`
	Token  string     `json:"token,omitempty"`
	Query  *QuerySpec `json:"query,omitempty"`
	Resume string     `json:"resume,omitempty"`
}

// wsCode maps an error to a close code.
func wsCode(err error) websocket.StatusCode {
	switch {
	case errors.Is(err, ErrSlowClient):
		return websocket.StatusPolicyViolation
	case errors.Is(err, ErrShuttingDown):
		return websocket.StatusGoingAway
	case errors.Is(err, ErrTokenExpired):
		return 4401
	}
	code, _ := statusOf(err)
	switch code {
	case http.StatusUnauthorized:
		return 4401
	case http.StatusForbidden:
		return 4403
	case http.StatusTooManyRequests:
		return 4429
	case http.StatusServiceUnavailable:
		return 4503
	case http.StatusBadRequest, http.StatusNotFound, http.StatusRequestEntityTooLarge:
		return 4400
	}
	return websocket.StatusInternalError
}

// closeReason fits a reason in a close frame (at most 123 bytes).
func closeReason(s string) string {
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return s
}

// acceptOptions allows the browser origins that CORS allows.
func (s *Server) acceptOptions() *websocket.AcceptOptions {
	var pats []string
	for _, o := range s.cfg.HTTP.CORS.AllowedOrigins {
		if o == "*" {
			pats = append(pats, "*")
			continue
		}
		if u, err := url.Parse(o); err == nil && u.Host != "" {
			pats = append(pats, u.Host)
		}
	}
	return &websocket.AcceptOptions{OriginPatterns: pats}
}

func (s *Server) watch(w http.ResponseWriter, r *http.Request) {
	if !isWebSocket(r) {
		writeError(w, r, errs.New(errs.ErrInvalid, "watch", "", "this endpoint speaks WebSocket (send an Upgrade: websocket request)"))
		return
	}
	select {
	case <-s.closing:
		writeError(w, r, errs.New(errs.ErrUnavailable, "watch", "", "%v", ErrShuttingDown))
		return
	default:
	}
	release, ok := s.acquireSocket(w, r)
	if !ok {
		return
	}
	defer release()
	conn, err := websocket.Accept(w, r, s.acceptOptions())
	if err != nil {
		return // Accept answered the client
	}
	s.conns.Add(1)
	defer s.conns.Done()
	if _, authed := CallerFrom(r.Context()); authed {
		conn.SetReadLimit(int64(s.cfg.Limits.MaxBody))
	} else {
		// Before authentication a client may send only a little: a bigger
		// message closes the socket with 1009 (message too big).
		conn.SetReadLimit(int64(s.cfg.Watch.PreAuthMaxMessage))
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	defer cancel()
	go func() {
		select {
		case <-s.closing:
			cancel()
		case <-ctx.Done():
		}
	}()
	// Reads use a context of their own, canceled only after the close
	// frame went out: canceling a read closes the connection at once.
	rctx, rcancel := context.WithCancel(context.WithoutCancel(r.Context()))
	defer rcancel()
	err = s.serveWatch(ctx, rctx, r, conn)
	s.closeWS(conn, err)
}

// closeWS sends the error (if any) and the close frame.
func (s *Server) closeWS(conn *websocket.Conn, err error) {
	if errors.Is(err, errWSClosed) {
		return
	}
	if err == nil {
		conn.Close(websocket.StatusNormalClosure, "")
		return
	}
	code := wsCode(err)
	if code != websocket.StatusPolicyViolation && code != websocket.StatusGoingAway && websocket.CloseStatus(err) == -1 && !errors.Is(err, context.Canceled) {
		st, name := statusOf(err)
		msg := err.Error()
		if st == http.StatusInternalServerError {
			msg = "internal error (logged by the server)"
			s.log.Error("watch failed", "error", err)
		}
		b, _ := json.Marshal(map[string]any{"type": "error", "error": errorDetail{Status: st, Code: name, Message: msg}})
		_ = writeBounded(conn, b, 2*time.Second)
	}
	if errors.Is(err, context.Canceled) {
		select {
		case <-s.closing:
			code, err = websocket.StatusGoingAway, ErrShuttingDown
		default:
			conn.CloseNow()
			return
		}
	}
	conn.Close(code, closeReason(err.Error()))
}

func (s *Server) readClient(ctx context.Context, conn *websocket.Conn) (*clientMessage, error) {
	typ, b, err := conn.Read(ctx)
	if errors.Is(err, websocket.ErrMessageTooBig) {
		// The library closed the socket with 1009 and its reason.
		s.refused(limitMessageSize)
		return nil, errWSClosed
	}
	if err != nil {
		return nil, err
	}
	if typ != websocket.MessageText {
		return nil, badField("message", "binary message: send JSON text messages")
	}
	if !json.Valid(b) {
		return nil, badField("message", "malformed message: not JSON%s", jsonErrorAt(b))
	}
	var m clientMessage
	if err := decodeStrict(b, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// errWSClosed: the connection was already closed, with its close frame.
var errWSClosed = errors.New("websocket already closed")

// readWithin reads the message a client owes within d. When none came in
// time, it sends late as the error message and close frame (a canceled
// read would close the connection without one, and the client would see
// 1006 and no reason) and returns errWSClosed.
func (s *Server) readWithin(rctx context.Context, conn *websocket.Conn, d time.Duration, late error) (*clientMessage, error) {
	closed := make(chan struct{})
	t := time.AfterFunc(d, func() {
		defer close(closed)
		s.closeWS(conn, late)
	})
	m, err := s.readClient(rctx, conn)
	if !t.Stop() {
		<-closed
		return nil, errWSClosed
	}
	return m, err
}

func (s *Server) serveWatch(ctx, rctx context.Context, r *http.Request, conn *websocket.Conn) error {
	c, authed := CallerFrom(r.Context())
	if !authed {
		m, err := s.readWithin(rctx, conn, s.cfg.Watch.AuthTimeout, errs.New(errs.ErrUnauthenticated, "watch", "",
			"no auth message within %s: send {\"type\":\"auth\",\"token\":\"<ID token>\"} first", s.cfg.Watch.AuthTimeout))
		if err != nil {
			return err
		}
		if m.Type != "auth" || m.Token == "" {
			return errs.New(errs.ErrUnauthenticated, "watch", "", "the first message must be {\"type\":\"auth\",\"token\":\"<ID token>\"} when the upgrade request has no Authorization header")
		}
		tok := strings.TrimPrefix(m.Token, "Bearer ")
		c, err = s.VerifyToken(ctx, tok)
		if err != nil {
			if errs.KindOf(err) == errs.ErrUnavailable {
				return errs.New(errs.ErrUnavailable, "watch", "", "the token could not be verified now; retry later")
			}
			return errs.New(errs.ErrUnauthenticated, "watch", "", "the token was refused: %s", errs.KindOf(err))
		}
		setUID(r, c.UID)
		if ok, _ := s.limiters.allow(c.UID); !ok {
			s.metrics.rateLimited.Inc()
			return errs.New(errs.ErrResourceLimit, "watch", c.UID, "too many requests: at most %g per second per user", s.cfg.Limits.Rate)
		}
		release, err := s.acquireUserSocket(c)
		if err != nil {
			return err
		}
		defer release()
		conn.SetReadLimit(int64(s.cfg.Limits.MaxBody))
	}
	m, err := s.readWithin(rctx, conn, s.cfg.Watch.AuthTimeout,
		badField("type", "no subscribe message within %s: send {\"type\":\"subscribe\",\"query\":{...}}", s.cfg.Watch.AuthTimeout))
	if err != nil {
		return err
	}
	if m.Type != "subscribe" || m.Query == nil {
		return badField("type", "expected {\"type\":\"subscribe\",\"query\":{\"collection\":...}}, got type %q", m.Type)
	}
	if m.Query.Collection == "" {
		return badField("query.collection", "missing: the collection path (or, with group, the collection ID) to watch")
	}
	sub, err := s.subscribe(ctx, c, *m.Query, m.Resume)
	if err != nil {
		return err
	}
	defer sub.Close()

	// Writes are bounded: a client that stops reading blocks a write, its
	// queue in the hub fills, and the hub ends the subscription.
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	go func() {
		select {
		case <-sub.Done():
			if errors.Is(sub.Err(), ErrSlowClient) {
				wcancel() // a blocked write is cut 2 s later
			}
		case <-wctx.Done():
		}
	}()
	// Client messages after subscribe are not expected; reading them
	// keeps pings answered and notices a closed connection.
	readErr := make(chan error, 1)
	go func() {
		for {
			if _, _, err := conn.Read(rctx); err != nil {
				readErr <- err
				wcancel()
				return
			}
		}
	}()
	go s.pinger(wctx, rctx, conn, wcancel)
	go s.watchRevocation(wctx, c, func(error) { sub.end(ErrSessionRevoked) })

	hello, _ := json.Marshal(map[string]string{"type": "subscribed"})
	if err := writeBounded(conn, hello, 10*time.Second); err != nil {
		return err
	}
	// Event writes run without a context (a context per write costs a
	// registration on every message of every subscriber); a write still
	// blocked 2 s after the stream ended is cut by closing the connection.
	var writing atomic.Bool
	stop := context.AfterFunc(wctx, func() {
		time.AfterFunc(2*time.Second, func() {
			if writing.Load() {
				conn.CloseNow()
			}
		})
	})
	defer stop()
	sent := s.metrics.events.WithLabelValues("websocket")
	for {
		msg, err := sub.Next(wctx)
		if err != nil {
			if se := sub.Err(); se != nil && !errors.Is(err, ErrShuttingDown) {
				err = se
			}
			select {
			case re := <-readErr:
				if websocket.CloseStatus(re) != -1 {
					return nil // the client closed
				}
			default:
			}
			if errors.Is(err, context.Canceled) && ctx.Err() == nil && !errors.Is(sub.Err(), ErrSlowClient) {
				return nil // the connection went away
			}
			return err
		}
		writing.Store(true)
		err = conn.Write(context.Background(), websocket.MessageText, msg.JSON())
		writing.Store(false)
		if err != nil {
			if se := sub.Err(); se != nil {
				return se
			}
			return err
		}
		sent.Inc()
	}
}

// writeBounded writes one message, closing the connection if that takes
// longer than d. (A write given a context that is canceled later can close
// the connection at that moment, even after the write finished, so writes
// here take no context.)
func writeBounded(conn *websocket.Conn, b []byte, d time.Duration) error {
	t := time.AfterFunc(d, func() { conn.CloseNow() })
	defer t.Stop()
	return conn.Write(context.Background(), websocket.MessageText, b)
}

// pinger pings the client every interval and cancels the connection when
// a pong does not come back within the next interval.
func (s *Server) pinger(ctx, rctx context.Context, conn *websocket.Conn, cancel context.CancelFunc) {
	t := time.NewTicker(s.cfg.Watch.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			pctx, pc := context.WithTimeout(rctx, s.cfg.Watch.PingInterval)
			err := conn.Ping(pctx)
			pc()
			if err != nil {
				if ctx.Err() == nil {
					s.log.Info("watch client did not answer a ping; closing", "error", err)
				}
				cancel()
				return
			}
		}
	}
}
