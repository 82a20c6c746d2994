package console

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"errors"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/fbadmin/fbadmin/auth"
	"github.com/fbadmin/fbadmin/internal/errs"
	"github.com/fbadmin/fbadmin/internal/httpstatus"
	"github.com/fbadmin/fbadmin/internal/transfer"
	"github.com/fbadmin/fbadmin/server"
)

// DefaultAddr is where `fbadmin console` listens unless told otherwise:
// the loopback interface only.
const DefaultAddr = "127.0.0.1:8089"

// DefaultPageSize is how many documents a collection page shows.
const DefaultPageSize = 100

// MaxPageSize caps the page size a URL may ask for.
const MaxPageSize = 500

//go:embed assets
var assetsFS embed.FS

//go:embed templates
var templatesFS embed.FS

// Config configures a console [Server].
type Config struct {
	// Firestore and DB reach the same database: the SDK client for
	// documents and queries, the bulk engine for the collection tree,
	// recursive deletes, exports and imports. Both are required.
	Firestore *firestore.Client
	DB        *transfer.DB
	// Auth is the Auth client of the project; nil leaves the Auth pages
	// out. It also verifies ID tokens when IDTokens is set and Verifier
	// is nil.
	Auth *auth.Client

	// Token is the access token the login exchanges for a session; ""
	// makes a random one ([Server.Token]).
	Token string
	// IDTokens, for shared deployments, logs in with a Firebase ID token
	// whose custom claim admin is true instead of the access token.
	IDTokens bool
	Verifier auth.Verifier

	// Databases, when set, lists the project's database IDs for the home
	// page (production: the Admin API; the emulator has no such list).
	Databases func(ctx context.Context) ([]string, error)

	// OpenDatabase opens another database of the project by ID, for the
	// URLs under /db/{database}/ (opened on first use, closed by
	// [Server.Close]). Nil: the console serves the configured database
	// only.
	OpenDatabase func(ctx context.Context, database string) (*firestore.Client, *transfer.DB, error)

	// ReadOnly refuses every write with 403.
	ReadOnly bool
	// PageSize is the default number of documents per page (default 100).
	PageSize int
	// SessionTTL is how long a session lasts (default 12h).
	SessionTTL time.Duration
	// Logger receives one line per request: route pattern, status,
	// duration. Never URLs, data or tokens. Nil discards.
	Logger *slog.Logger
}

// Server is the console: an http.Handler and the state behind it
// (sessions, jobs, the live-mode hub).
type Server struct {
	cfg     Config
	rules   *server.Rules
	caller  *server.Caller
	log     *slog.Logger
	pages   *pages
	handler http.Handler

	mu       sync.Mutex
	sessions map[string]*session
	jobs     map[string]*job

	def  *dbConn            // the configured database, served at /
	dbMu sync.Mutex         // guards dbs (opening one may take a while)
	dbs  map[string]*dbConn // others, opened by /db/{database}/ URLs

	ctx    context.Context // the server's lifetime: jobs run under it
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New builds a console over cfg's clients. Close it when done: it stops
// running jobs and live streams.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Firestore == nil || cfg.DB == nil {
		return nil, errs.New(errs.ErrInvalid, "console", "", "a Firestore client and a database connection are required")
	}
	if cfg.IDTokens && cfg.Verifier == nil {
		if cfg.Auth == nil {
			return nil, errs.New(errs.ErrInvalid, "console", "", "ID-token login needs the Auth client to verify tokens")
		}
		cfg.Verifier = cfg.Auth
	}
	if cfg.Token == "" && !cfg.IDTokens {
		cfg.Token = randomHex(24)
	}
	if cfg.PageSize <= 0 {
		cfg.PageSize = DefaultPageSize
	}
	cfg.PageSize = min(cfg.PageSize, MaxPageSize)
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	p, err := parsePages()
	if err != nil {
		return nil, err
	}
	// The console is an administrator's tool: its rules allow everything,
	// and the Store is used for its queries, page tokens, counts and
	// preconditions.
	rules := server.NewRules([]server.Rule{{Match: "**", Allow: []string{"all"}}})
	lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s := &Server{
		cfg:      cfg,
		rules:    rules,
		dbs:      map[string]*dbConn{},
		caller:   &server.Caller{UID: "fbadmin-console"},
		log:      cfg.Logger,
		pages:    p,
		sessions: map[string]*session{},
		jobs:     map[string]*job{},
		ctx:      lctx,
		cancel:   cancel,
	}
	s.def = &dbConn{id: cfg.DB.Database(), fs: cfg.Firestore, db: cfg.DB, store: server.NewStore(cfg.Firestore, rules, MaxPageSize)}
	s.handler = s.routes()
	return s, nil
}

// Token is the access token that logs in ("" in ID-token mode).
func (s *Server) Token() string { return s.cfg.Token }

// LoginURL is the URL that logs in with the access token, for a console
// served at base (such as http://127.0.0.1:8089).
func (s *Server) LoginURL(base string) string {
	if s.cfg.IDTokens {
		return base + "/login"
	}
	return base + "/login?token=" + url.QueryEscape(s.cfg.Token)
}

// Handler serves the console.
func (s *Server) Handler() http.Handler { return s.handler }

// Close stops jobs and live streams and waits for them.
func (s *Server) Close() {
	s.cancel()
	s.wg.Wait()
	s.removeJobFiles()
	s.dbMu.Lock()
	defer s.dbMu.Unlock()
	for id, c := range s.dbs {
		c.fs.Close()
		c.db.Close()
		delete(s.dbs, id)
	}
}

// Serve serves the console on ln until ctx is done, then shuts down
// gracefully (live streams are ended, requests get 5s to finish).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return s.ctx }}
	done := make(chan error, 1)
	go func() { done <- hs.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	s.cancel() // ends SSE streams, which would hold Shutdown
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = hs.Shutdown(sctx)
	if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	assets, _ := fs.Sub(assetsFS, "assets")
	mux.Handle("GET /assets/", http.StripPrefix("/assets/", assetHandler(assets)))
	mux.HandleFunc("GET /login", s.loginPage)
	mux.HandleFunc("POST /login", s.login)

	authed := func(pattern string, h http.HandlerFunc) { mux.Handle(pattern, s.requireSession(h)) }
	authed("POST /logout", s.logout)
	authed("GET /api/session", s.apiSession)
	authed("GET /{$}", s.home)
	authed("GET /db/{$}", func(w http.ResponseWriter, r *http.Request) { // the home page's open-a-database form
		http.Redirect(w, r, "/db/"+url.PathEscape(strings.TrimSpace(r.URL.Query().Get("id")))+"/", http.StatusSeeOther)
	})
	authed("GET /tree/{path...}", s.tree)
	authed("GET /c/{path...}", s.collection)
	authed("GET /g/{id}", s.collection)
	authed("GET /g/{$}", func(w http.ResponseWriter, r *http.Request) { // the home page's form without script
		http.Redirect(w, r, "/g/"+url.PathEscape(r.URL.Query().Get("id")), http.StatusSeeOther)
	})
	authed("GET /g/{id}/export.ndjson", func(w http.ResponseWriter, r *http.Request) {
		s.exportQuery(w, r, target{Path: r.PathValue("id"), Group: true})
	})
	authed("GET /api/count/c/{path...}", s.count)
	authed("GET /api/count/g/{id}", s.count)
	authed("GET /api/live/c/{path...}", s.live)
	authed("GET /api/live/g/{id}", s.live)
	authed("GET /export/{path...}", s.exportTree)
	authed("POST /c/{path...}", s.collectionPost) // delete-selected
	authed("POST /import", s.importFile)
	authed("GET /delete/{path...}", s.deletePage)
	authed("POST /delete/{path...}", s.deleteTree)
	authed("GET /jobs/{id}", s.jobPage)
	authed("GET /api/jobs/{id}", s.apiJob)
	authed("GET /jobs/{id}/download", s.jobDownload)
	authed("POST /g/{id}/export-job", func(w http.ResponseWriter, r *http.Request) {
		s.exportJob(w, r, target{Path: r.PathValue("id"), Group: true})
	})
	authed("GET /new/{path...}", s.newDocument)
	authed("GET /d/{path...}", s.document)
	authed("POST /d/{path...}", s.documentPost)
	authed("GET /auth/users", s.users)
	authed("GET /auth/users/{uid}", s.user)
	authed("POST /auth/users/{uid}/{action}", s.userAction)
	authed("GET /auth/tenants", s.tenants)
	return securityHeaders(s.databaseRoutes(s.logRequests(mux)))
}

// securityHeaders sets the headers every response carries: a strict CSP
// (no inline script or style), no sniffing, no framing, no referrer (URLs
// hold document paths and queries).
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("X-Frame-Options", "DENY")
		h.ServeHTTP(w, r)
	})
}

// logRequests logs one line per request with the route pattern that
// matched (never the URL: paths and queries hold document IDs, field
// values and, on /login, the access token).
func (s *Server) logRequests(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := httpstatus.Wrap(w)
		h.ServeHTTP(sw, r)
		route := r.Pattern
		if route == "" {
			route = r.Method + " (no route)"
		}
		s.log.Info("request", "route", route, "status", sw.Status(), "ms", time.Since(start).Milliseconds())
	})
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// pathValue is the {path...} of a route, unescaped by the mux.
func pathValue(r *http.Request) string { return r.PathValue("path") }

// escapePath escapes each segment of a slash-separated path for a URL.
func escapePath(p string) string {
	out := make([]byte, 0, len(p)+8)
	seg := 0
	for i := 0; i <= len(p); i++ {
		if i == len(p) || p[i] == '/' {
			out = append(out, url.PathEscape(p[seg:i])...)
			if i < len(p) {
				out = append(out, '/')
			}
			seg = i + 1
		}
	}
	return string(out)
}

// httpStatus maps an error's kind to an HTTP status.
func httpStatus(err error) int {
	switch {
	case errors.Is(err, errs.ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, errs.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, errs.ErrConflict), errors.Is(err, errs.ErrAlreadyExists):
		return http.StatusConflict
	case errors.Is(err, errs.ErrPermission), errors.Is(err, errs.ErrDenied):
		return http.StatusForbidden
	case errors.Is(err, errs.ErrUnauthenticated):
		return http.StatusUnauthorized
	case errors.Is(err, errs.ErrUnavailable):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

func errorf(format string, args ...any) error {
	return errs.New(errs.ErrInvalid, "", "", format, args...)
}
