package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/firestore"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/time/rate"

	"github.com/fbadmin/fbadmin/auth"
	"github.com/fbadmin/fbadmin/internal/errs"
	"github.com/fbadmin/fbadmin/internal/httpstatus"
)

// Options are the server's dependencies.
type Options struct {
	// Client is the Firestore client of the project's database. Required.
	Client *firestore.Client
	// Verifier verifies Firebase ID tokens (an *auth.Client). Required.
	Verifier auth.Verifier
	// Emulator is true when the server runs against the emulators; it turns
	// GraphQL introspection on by default. Whether unsigned emulator tokens
	// are accepted is the Verifier's business (an auth.Client accepts them
	// only in emulator mode), but New refuses a Verifier that reports
	// emulator mode (an Emulator() bool method) when Emulator is false.
	Emulator bool
	// Logger receives the request log and the server's logs.
	Logger *slog.Logger
}

// Server is `fbadmin serve`: the REST, GraphQL and WebSocket gateway.
type Server struct {
	cfg      *Config
	opts     Options
	log      *slog.Logger
	rules    *Rules
	store    *Store
	hub      *Hub
	metrics  *metrics
	limiters *limiters
	handler  http.Handler

	verifyMode  string        // "emulator" (unsigned tokens accepted) or "production"
	rawVerifier auth.Verifier // without the cache: for the re-checks of open sockets
	sockAddr    *counts       // open WebSockets per client address
	sockUser    *counts       // open WebSockets per user
	docsUser    *weights      // documents of the live queries of each user's subscriptions
	setups      *turns        // one change-stream setup at a time per user

	conns     sync.WaitGroup // open WebSockets
	closing   chan struct{}
	closeOnce sync.Once
	ready     readiness
}

// New builds a server from a validated config.
func New(cfg *Config, opts Options) (*Server, error) {
	if opts.Client == nil || opts.Verifier == nil {
		return nil, errs.New(errs.ErrInvalid, "serve", "", "a Firestore client and a token verifier are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	mode := "production"
	if em, ok := opts.Verifier.(interface{ Emulator() bool }); ok && em.Emulator() {
		if !opts.Emulator {
			return nil, errs.New(errs.ErrInvalid, "serve", "token verifier",
				"the token verifier is in emulator mode (it accepts unsigned tokens) but the server is not: refusing to serve (run with --emulator on the emulators; in production unset FIREBASE_AUTH_EMULATOR_HOST)")
		}
		mode = "emulator"
	}
	raw := opts.Verifier
	if ttl := cfg.Auth.CacheTTL; ttl > 0 {
		if cfg.Auth.CheckRevoked && cfg.Auth.RecheckInterval > 0 && ttl > cfg.Auth.RecheckInterval {
			ttl = cfg.Auth.RecheckInterval // a revoked session is noticed within the interval
		}
		opts.Verifier = auth.NewCachedVerifier(opts.Verifier, auth.CacheOptions{TTL: ttl})
	}
	s := &Server{cfg: cfg, opts: opts, log: opts.Logger, rules: NewRules(cfg.Rules), metrics: newMetrics(),
		closing: make(chan struct{}), verifyMode: mode, rawVerifier: raw}
	s.store = NewStore(opts.Client, s.rules, cfg.Limits.MaxPageSize)
	s.hub = NewHub(opts.Client, s.rules, cfg.Watch, s.log, s.metrics)
	s.limiters = newLimiters(rate.Limit(cfg.Limits.Rate), cfg.Limits.Burst)
	s.sockAddr = newCounts(cfg.Watch.MaxSocketsPerAddress)
	s.sockUser = newCounts(cfg.Watch.MaxSocketsPerUser)
	s.docsUser = newWeights(cfg.Watch.MaxDocumentsPerUser)
	s.setups = newTurns()
	s.handler = s.routes()
	return s, nil
}

// Handler is the server's HTTP handler (for tests and embedding).
func (s *Server) Handler() http.Handler { return s.handler }

// Store is the server's data layer.
func (s *Server) Store() *Store { return s.store }

// Hub is the server's change-stream hub.
func (s *Server) Hub() *Hub { return s.hub }

// Serve answers on ln until ctx is done, then shuts down gracefully:
// it stops accepting, closes WebSockets with "going away", and waits up to
// the configured shutdown timeout for requests in flight.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	s.logVerifyMode()
	s.log.Info("serving", "addr", ln.Addr().String(), "project", s.cfg.Project, "database", s.cfg.Database, "rules", len(s.cfg.Rules))
	select {
	case err := <-errc:
		s.Close()
		return errs.Wrap(err, "serve", ln.Addr().String())
	case <-ctx.Done():
	}
	s.log.Info("shutting down", "timeout", s.cfg.HTTP.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.HTTP.ShutdownTimeout)
	defer cancel()
	s.Close()
	err := hs.Shutdown(sctx)
	waited := make(chan struct{})
	go func() { s.conns.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-sctx.Done():
	}
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return errs.Wrap(err, "shutdown", ln.Addr().String())
	}
	s.log.Info("stopped")
	return nil
}

// logVerifyMode states at start-up how ID tokens are verified.
func (s *Server) logVerifyMode() {
	if s.verifyMode == "emulator" {
		s.log.Warn("token verification", "mode", "emulator", "unsigned_tokens", "accepted",
			"note", "the Auth emulator's unsigned tokens are accepted: never expose this server", "check_revoked", s.cfg.Auth.CheckRevoked)
		return
	}
	s.log.Info("token verification", "mode", "production", "unsigned_tokens", "refused",
		"note", "signatures checked against Google's public keys", "check_revoked", s.cfg.Auth.CheckRevoked)
}

// Close ends the change streams (clients get "going away"). Serve calls it.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.closing)
		s.hub.Close()
	})
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{Registry: s.metrics.reg}))

	api := http.NewServeMux()
	api.HandleFunc("GET /v1/docs/{path...}", s.restGet)
	api.HandleFunc("POST /v1/docs/{path...}", s.restCreate)
	api.HandleFunc("PUT /v1/docs/{path...}", s.restSet)
	api.HandleFunc("PATCH /v1/docs/{path...}", s.restUpdate)
	api.HandleFunc("DELETE /v1/docs/{path...}", s.restDelete)
	api.HandleFunc("POST /v1/query", s.restQuery)
	api.HandleFunc("POST /v1/aggregate", s.restAggregate)
	api.HandleFunc("GET /v1/watch", s.watch)
	api.Handle("/graphql", s.graphqlHandler())
	api.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, errs.New(errs.ErrNotFound, "route", r.URL.Path, "no such endpoint (see docs/serve.md)"))
	})
	authed := s.authenticate(s.rateLimit(api))
	mux.Handle("/", authed)
	return s.logRequests(s.cors(mux))
}

// readiness caches the result of the last Firestore probe for a second.
type readiness struct {
	mu  sync.Mutex
	at  time.Time
	err error
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	s.ready.mu.Lock()
	defer s.ready.mu.Unlock()
	select {
	case <-s.closing:
		http.Error(w, "not ready: shutting down", http.StatusServiceUnavailable)
		return
	default:
	}
	if time.Since(s.ready.at) > time.Second {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		_, err := s.opts.Client.Collection("_fbadmin").Doc("readyz").Get(ctx)
		cancel()
		if err != nil && errs.KindOf(err) == errs.ErrNotFound {
			err = nil
		}
		s.ready.at, s.ready.err = time.Now(), err
	}
	if s.ready.err != nil {
		http.Error(w, "not ready: Firestore: "+errs.KindOf(s.ready.err).Error(), http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ready")
}

// --- authentication ---

type callerKey struct{}

// WithCaller returns ctx carrying the caller.
func WithCaller(ctx context.Context, c *Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom returns the authenticated caller of a request's context.
func CallerFrom(ctx context.Context) (*Caller, bool) {
	if c, ok := ctx.Value(callerKey{}).(*Caller); ok {
		return c, true
	}
	if ri, ok := ctx.Value(infoKey{}).(*reqInfo); ok && ri.caller != nil {
		return ri.caller, true
	}
	return nil, false
}

func callerOf(tok *auth.Token) *Caller {
	c := &Caller{UID: tok.UID, Claims: tok.Claims}
	if tok.Expires > 0 {
		c.Expires = time.Unix(tok.Expires, 0)
	}
	return c
}

// VerifyToken verifies an ID token and returns its caller (for WebSocket
// clients that send their token in a first message).
func (s *Server) VerifyToken(ctx context.Context, idToken string) (*Caller, error) {
	tok, err := s.opts.Verifier.VerifyIDToken(ctx, idToken, auth.VerifyOptions{CheckRevoked: s.cfg.Auth.CheckRevoked})
	if err != nil {
		return nil, err
	}
	c := callerOf(tok)
	c.token = idToken
	return c, nil
}

// ErrSessionRevoked: a re-check of an open socket's token refused it
// (revoked session, disabled or deleted user).
var ErrSessionRevoked error = &errs.Error{Kind: errs.ErrUnauthenticated, Op: "watch",
	Cause: errors.New("the session was revoked or the user disabled: sign in again")}

// watchRevocation re-verifies the token of a socket's caller every
// auth.recheck_interval, when auth.check_revoked is on, until ctx ends;
// it calls revoked once if the token is refused. An outage of the
// verification keeps the socket (it is logged and tried again).
func (s *Server) watchRevocation(ctx context.Context, c *Caller, revoked func(error)) {
	every := s.cfg.Auth.RecheckInterval
	if !s.cfg.Auth.CheckRevoked || every <= 0 || c.token == "" {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		vctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := s.rawVerifier.VerifyIDToken(vctx, c.token, auth.VerifyOptions{CheckRevoked: true})
		cancel()
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return
		case errors.Is(err, errs.ErrUnauthenticated) || errs.KindOf(err) == errs.ErrUnauthenticated:
			s.log.Info("closing a WebSocket: its token was refused on re-check", "uid", c.UID, "reason", errs.KindOf(err).Error())
			revoked(err)
			return
		default:
			s.log.Warn("re-check of a WebSocket's token failed; keeping it", "uid", c.UID, "error", err)
		}
	}
}

// authenticate runs the auth package's middleware on every request but
// WebSocket upgrades without an Authorization header, whose handlers
// take the token from the first message instead.
func (s *Server) authenticate(next http.Handler) http.Handler {
	withCaller := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := auth.TokenFromContext(r.Context())
		if !ok {
			writeError(w, r, errs.New(errs.ErrUnauthenticated, "authenticate", "", "no verified token"))
			return
		}
		c := callerOf(tok)
		if isWebSocket(r) { // kept for the re-checks of auth.recheck_interval
			if scheme, tok, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " "); ok && strings.EqualFold(scheme, "Bearer") {
				c.token = strings.TrimSpace(tok)
			}
		}
		ri := info(r)
		ri.uid, ri.caller = c.UID, c // no context copy per request
		next.ServeHTTP(w, r)
	})
	mw := auth.Middleware(s.opts.Verifier, auth.MiddlewareOptions{CheckRevoked: s.cfg.Auth.CheckRevoked})(withCaller)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions {
			w.WriteHeader(http.StatusNoContent) // a preflight the CORS layer did not answer
			return
		}
		if isWebSocket(r) && r.Header.Get("Authorization") == "" {
			next.ServeHTTP(w, r)
			return
		}
		mw.ServeHTTP(w, r)
	})
}

func isWebSocket(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

// --- rate limits ---

type limiters struct {
	limit rate.Limit
	burst int
	mu    sync.Mutex
	m     map[string]*limiterEntry
	swept time.Time
}

type limiterEntry struct {
	l    *rate.Limiter
	seen time.Time
}

func newLimiters(l rate.Limit, burst int) *limiters {
	return &limiters{limit: l, burst: burst, m: map[string]*limiterEntry{}, swept: time.Now()}
}

// allow takes one token of uid's bucket, or says how long to wait.
func (ls *limiters) allow(uid string) (bool, time.Duration) { return ls.allowN(uid, 1) }

// allowN takes n tokens of uid's bucket, or none and says how long to wait.
func (ls *limiters) allowN(uid string, n int) (bool, time.Duration) {
	now := time.Now()
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if now.Sub(ls.swept) > time.Minute {
		for k, e := range ls.m {
			if now.Sub(e.seen) > 10*time.Minute {
				delete(ls.m, k)
			}
		}
		ls.swept = now
	}
	e := ls.m[uid]
	if e == nil {
		e = &limiterEntry{l: rate.NewLimiter(ls.limit, ls.burst)}
		ls.m[uid] = e
	}
	e.seen = now
	r := e.l.ReserveN(now, n)
	if !r.OK() {
		return false, time.Second
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

func (s *Server) rateLimit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := CallerFrom(r.Context())
		if !ok { // WebSocket with first-message auth: limited once authenticated
			next.ServeHTTP(w, r)
			return
		}
		if !s.checkRate(w, r, c) {
			return
		}
		next.ServeHTTP(w, r)
	})
}

// checkRate answers 429 and returns false when c is over its rate.
func (s *Server) checkRate(w http.ResponseWriter, r *http.Request, c *Caller) bool {
	ok, wait := s.limiters.allow(c.UID)
	if ok {
		return true
	}
	s.metrics.rateLimited.Inc()
	secs := int(wait/time.Second) + 1
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	writeError(w, r, errs.New(errs.ErrResourceLimit, "rate limit", c.UID, "too many requests: at most %g per second per user (retry after %d s)", s.cfg.Limits.Rate, secs))
	return false
}

// refused counts a refusal by one of the budgets (limits.go).
func (s *Server) refused(limit string) { s.metrics.refused.WithLabelValues(limit).Inc() }

// acquireSocket takes a WebSocket slot of the request's client address
// and, when the upgrade request was authenticated, of its user; it
// answers 429 itself and returns false when either is full.
func (s *Server) acquireSocket(w http.ResponseWriter, r *http.Request) (release func(), ok bool) {
	relAddr, ok := s.sockAddr.acquire(clientAddr(r))
	if !ok {
		s.refused(limitSocketsPerAddress)
		w.Header().Set("Retry-After", "10")
		writeError(w, r, errs.New(errs.ErrResourceLimit, "websocket", "", "too many open WebSockets from this address (at most %d: watch.max_sockets_per_address)", s.cfg.Watch.MaxSocketsPerAddress))
		return nil, false
	}
	c, authed := CallerFrom(r.Context())
	if !authed {
		return relAddr, true
	}
	relUser, err := s.acquireUserSocket(c)
	if err != nil {
		relAddr()
		w.Header().Set("Retry-After", "10")
		writeError(w, r, err)
		return nil, false
	}
	return func() { relUser(); relAddr() }, true
}

// acquireUserSocket takes one of the caller's WebSocket slots.
func (s *Server) acquireUserSocket(c *Caller) (func(), error) {
	rel, ok := s.sockUser.acquire(c.UID)
	if !ok {
		s.refused(limitSocketsPerUser)
		return nil, errs.New(errs.ErrResourceLimit, "websocket", c.UID, "too many open WebSockets for this user (at most %d: watch.max_sockets_per_user)", s.cfg.Watch.MaxSocketsPerUser)
	}
	return rel, nil
}

// subscribe starts a change stream for the caller (both transports),
// within watch.max_documents_per_user: the documents its query matches
// are charged to the caller until the subscription ends. They are counted
// once, before listening, and only as far as a limit needs (at most the
// caller's remaining budget or watch.max_query_documents, plus one), so
// a user at their budget pays the backend almost nothing per refused
// attempt; the hub reuses the count.
//
// A user's subscriptions are set up one at a time (counted, listened to,
// first snapshot read): one account opening many at once waits for its
// turn instead of loading the backend with all of them together, which
// keeps the server responsive for everyone else.
func (s *Server) subscribe(ctx context.Context, c *Caller, q QuerySpec, resume string) (*Subscription, error) {
	// A setup stuck on the backend does not hold the user's others back
	// for long: past maxSetupWait they go ahead without their turn.
	tctx, cancel := context.WithTimeout(ctx, maxSetupWait)
	done, err := s.setups.take(tctx, c.UID)
	cancel()
	switch {
	case err == nil:
		defer done()
	case ctx.Err() != nil:
		return nil, errs.Wrap(ctx.Err(), "watch", q.Collection)
	}
	var release func()
	counted := int64(-1)
	if s.cfg.Watch.MaxDocumentsPerUser >= 0 {
		rq, _, err := s.store.query(c, q)
		if err != nil {
			return nil, err
		}
		perQuery := int64(s.cfg.Watch.MaxQueryDocuments)
		remaining := max(int64(s.cfg.Watch.MaxDocumentsPerUser)-s.docsUser.used(c.UID), 0)
		limit := remaining
		if perQuery > 0 && perQuery < limit {
			limit = perQuery
		}
		n, err := rq.Limit(int(limit) + 1).Count(ctx)
		if err != nil {
			return nil, classify(err, "watch", q.Collection)
		}
		if n > limit && limit == perQuery {
			return nil, s.hub.tooManyDocuments(q.Collection)
		}
		rel, used, ok := s.docsUser.acquire(c.UID, n)
		if !ok {
			return nil, s.hub.overLimit(limitDocumentsPerUser, errs.ErrResourceLimit, q.Collection,
				"this query matches %s documents and the user's open subscriptions already %d: at most %d together (watch.max_documents_per_user); close one, or narrow the query",
				atLeast(n, limit), used, s.cfg.Watch.MaxDocumentsPerUser)
		}
		release = rel
		counted = n
	}
	sub, err := s.hub.subscribe(ctx, c, q, resume, counted)
	if err != nil {
		if release != nil {
			release()
		}
		return nil, err
	}
	if release != nil {
		go func() { <-sub.Done(); release() }()
	}
	return sub, nil
}

// maxSetupWait bounds how long a subscription waits for its user's
// previous setup before going ahead anyway.
const maxSetupWait = 10 * time.Second

// atLeast spells a count read with limit+1: "more than limit" when it
// reached it.
func atLeast(n, limit int64) string {
	if n > limit {
		return fmt.Sprintf("more than %d", limit)
	}
	return strconv.FormatInt(n, 10)
}

// --- CORS ---

func (s *Server) cors(next http.Handler) http.Handler {
	origins := s.cfg.HTTP.CORS.AllowedOrigins
	if len(origins) == 0 {
		return next
	}
	any := false
	allowed := map[string]bool{}
	for _, o := range origins {
		if o == "*" {
			any = true
		}
		allowed[strings.TrimRight(o, "/")] = true
	}
	maxAge := strconv.Itoa(int(s.cfg.HTTP.CORS.MaxAge / time.Second))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		// Only the API is for browsers: /metrics, /healthz and /readyz
		// never get CORS headers. The opaque origin "null" (sandboxed
		// frames, file: pages, some redirects) is never allowed, not even
		// by "*".
		api := strings.HasPrefix(r.URL.Path, "/v1/") || r.URL.Path == "/graphql"
		if origin == "null" && isWebSocket(r) {
			writeError(w, r, errs.New(errs.ErrPermission, "cors", "", `WebSocket upgrades from the origin "null" are refused`))
			return
		}
		if origin == "" || !api || origin == "null" || (!any && !allowed[origin]) {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		if any {
			// Bearer tokens are not CORS credentials: "*" need not (and so
			// does not) echo the caller's origin.
			h.Set("Access-Control-Allow-Origin", "*")
		} else {
			h.Set("Access-Control-Allow-Origin", origin)
			h.Add("Vary", "Origin")
		}
		h.Set("Access-Control-Expose-Headers", "ETag, Retry-After")
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE, OPTIONS")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, If-Match, If-None-Match")
			h.Set("Access-Control-Max-Age", maxAge)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// --- request log and metrics ---

// reqInfo collects what the request log reports besides the status.
type reqInfo struct {
	uid    string
	caller *Caller // set by authenticate; read by CallerFrom
	err    error   // an internal error, logged but not shown to the client
}

type infoKey struct{}

func info(r *http.Request) *reqInfo {
	if p, ok := r.Context().Value(infoKey{}).(*reqInfo); ok {
		return p
	}
	return &reqInfo{}
}

// setUID records the caller for the request log.
func setUID(r *http.Request, uid string) { info(r).uid = uid }

func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ri := &reqInfo{}
		sw := httpstatus.Wrap(w)
		r = r.WithContext(context.WithValue(r.Context(), infoKey{}, ri))
		next.ServeHTTP(sw, r)
		status := sw.Status()
		route, method := routeOf(r), methodLabel(r.Method)
		d := time.Since(start)
		s.metrics.requests.WithLabelValues(route, method, statusClass(status)).Inc()
		s.metrics.latency.WithLabelValues(route).Observe(d.Seconds())
		level := slog.LevelInfo
		if status >= 500 {
			level = slog.LevelWarn
		}
		attrs := []any{"method", method, "route", route, "status", status,
			"latency_ms", float64(d.Microseconds()) / 1000, "uid", ri.uid}
		if ri.err != nil {
			level = slog.LevelError
			attrs = append(attrs, "error", ri.err.Error())
		}
		s.log.Log(r.Context(), level, "request", attrs...)
	})
}

// methodLabel is the method as a metric label: one of the methods the
// server knows, else "other" (a client chooses the method: raw values
// would let anyone grow /metrics without bound).
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return m
	}
	return "other"
}

// statusClass is a status as a metric label: 1xx to 5xx.
func statusClass(code int) string {
	if code < 100 || code > 599 {
		return "other"
	}
	return strconv.Itoa(code/100) + "xx"
}

// routeOf names the route of a request for logs and metrics, never its
// full path (paths name documents; the query string could hold secrets).
func routeOf(r *http.Request) string {
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, "/v1/docs/"):
		return "/v1/docs"
	case p == "/v1/query", p == "/v1/aggregate", p == "/v1/watch", p == "/graphql",
		p == "/healthz", p == "/readyz", p == "/metrics":
		return p
	}
	return "other"
}

// --- errors ---

// errorBody is the JSON body of every error answer.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Status  int    `json:"status"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// statusOf maps an error kind to an HTTP status.
func statusOf(err error) (int, string) {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return http.StatusRequestEntityTooLarge, "too_large"
	}
	switch errs.KindOf(err) {
	case errs.ErrNotFound:
		return http.StatusNotFound, "not_found"
	case errs.ErrAlreadyExists:
		return http.StatusConflict, "already_exists"
	case errs.ErrConflict:
		return http.StatusPreconditionFailed, "precondition_failed"
	case errs.ErrInvalid:
		return http.StatusBadRequest, "invalid"
	case errs.ErrUnauthenticated:
		return http.StatusUnauthorized, "unauthenticated"
	case errs.ErrPermission:
		return http.StatusForbidden, "permission_denied"
	case errs.ErrResourceLimit:
		return http.StatusTooManyRequests, "rate_limited"
	case errs.ErrUnavailable:
		return http.StatusServiceUnavailable, "unavailable"
	case errs.ErrCanceled:
		return 499, "canceled"
	}
	return http.StatusInternalServerError, "internal"
}

// fieldError is an invalid-input error naming a request field.
type fieldError struct {
	field string
	err   error
}

func (e *fieldError) Error() string { return e.err.Error() }
func (e *fieldError) Unwrap() error { return e.err }
func badField(field, format string, args ...any) error {
	return &fieldError{field: field, err: errs.New(errs.ErrInvalid, "request", field, format, args...)}
}

func writeError(w http.ResponseWriter, r *http.Request, err error) {
	code, name := statusOf(err)
	d := errorDetail{Status: code, Code: name, Message: err.Error()}
	var fe *fieldError
	if errors.As(err, &fe) {
		d.Field = fe.field
	}
	if code == http.StatusInternalServerError {
		d.Message = "internal error (logged by the server)"
		info(r).err = err
	}
	if code == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="fbadmin"`)
	}
	writeJSON(w, code, errorBody{Error: d})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"error":{"status":500,"code":"internal","message":"cannot encode the answer"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(b)
	w.Write([]byte{'\n'})
}
