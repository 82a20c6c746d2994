package console

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"cloud.google.com/go/firestore"

	"github.com/fbadmin/fbadmin/internal/errs"
	"github.com/fbadmin/fbadmin/internal/transfer"
	"github.com/fbadmin/fbadmin/server"
)

// dbConn is one database the console serves: the configured one at /,
// others under /db/{database}/.
type dbConn struct {
	id    string
	root  string // the URL prefix of its pages: "" or "/db/{database}"
	fs    *firestore.Client
	db    *transfer.DB
	store *server.Store
}

// maxOpenDatabases caps the databases a console opens besides its own (a
// mistyped ID opens a client too: the database's absence shows only when
// it is read).
const maxOpenDatabases = 16

// databaseID is what Firestore accepts as a database ID.
var databaseID = regexp.MustCompile(`^(?:\(default\)|[a-z][a-z0-9-]{2,61}[a-z0-9])$`)

type dbIDKey struct{}

type connKey struct{}

// conn is the database a request is about.
func (s *Server) conn(r *http.Request) *dbConn {
	if c, ok := r.Context().Value(connKey{}).(*dbConn); ok {
		return c
	}
	return s.def
}

// rootOf is the URL prefix of the request's database ("" for the
// configured one), known before the session is checked.
func rootOf(r *http.Request) string {
	if id, ok := r.Context().Value(dbIDKey{}).(string); ok {
		return "/db/" + url.PathEscape(id)
	}
	return ""
}

// withConn resolves the request's database (opening it on first use);
// requireSession calls it once the session is known to be valid.
func (s *Server) withConn(r *http.Request) (*http.Request, error) {
	id, ok := r.Context().Value(dbIDKey{}).(string)
	if !ok {
		return r, nil
	}
	c, err := s.openConn(id)
	if err != nil {
		return r, err
	}
	return r.WithContext(context.WithValue(r.Context(), connKey{}, c)), nil
}

func (s *Server) openConn(id string) (*dbConn, error) {
	if s.cfg.OpenDatabase == nil {
		return nil, errs.New(errs.ErrNotFound, "database", id, "this console serves the database %s only (start another with fbadmin --database %s console)", s.def.id, id)
	}
	if !databaseID.MatchString(id) {
		return nil, errs.New(errs.ErrInvalid, "database", id, "not a database ID (4 to 63 lowercase letters, digits and hyphens, starting with a letter)")
	}
	s.dbMu.Lock()
	defer s.dbMu.Unlock()
	if c := s.dbs[id]; c != nil {
		return c, nil
	}
	if s.ctx.Err() != nil {
		return nil, errs.New(errs.ErrUnavailable, "database", id, "the console is shutting down")
	}
	if len(s.dbs) >= maxOpenDatabases {
		return nil, errs.New(errs.ErrInvalid, "database", id, "this console has %d databases open already, its limit; restart it to open others", len(s.dbs))
	}
	fs, db, err := s.cfg.OpenDatabase(s.ctx, id)
	if err != nil {
		return nil, errs.Wrap(err, "open database", id)
	}
	c := &dbConn{id: id, root: "/db/" + url.PathEscape(id), fs: fs, db: db, store: server.NewStore(fs, s.rules, MaxPageSize)}
	s.dbs[id] = c
	return c, nil
}

// databaseRoutes serves /db/{database}/REST as /REST of that database: the
// prefix is taken off the URL before the routes see it, and put back on
// the redirects and on the local links of the pages (render). The
// configured database's own prefix is simply taken off.
func (s *Server) databaseRoutes(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest, ok := strings.CutPrefix(r.URL.EscapedPath(), "/db/")
		if !ok || rest == "" {
			h.ServeHTTP(w, r)
			return
		}
		escID, tail, found := strings.Cut(rest, "/")
		id, err := url.PathUnescape(escID)
		if err != nil || id == "" {
			http.Error(w, "bad database ID in the URL", http.StatusBadRequest)
			return
		}
		if !found {
			u := "/db/" + escID + "/"
			if r.URL.RawQuery != "" {
				u += "?" + r.URL.RawQuery
			}
			http.Redirect(w, r, u, http.StatusSeeOther)
			return
		}
		u, err := url.Parse("/" + tail)
		if err != nil {
			http.Error(w, "bad URL", http.StatusBadRequest)
			return
		}
		r2 := r.Clone(r.Context())
		r2.URL.Path, r2.URL.RawPath = u.Path, u.RawPath
		if id == s.def.id {
			h.ServeHTTP(w, r2)
			return
		}
		r2 = r2.WithContext(context.WithValue(r2.Context(), dbIDKey{}, id))
		h.ServeHTTP(&rootWriter{ResponseWriter: w, root: "/db/" + escID}, r2)
	})
}

// rootWriter puts a database's prefix back on local redirects.
type rootWriter struct {
	http.ResponseWriter
	root string
}

func (w *rootWriter) WriteHeader(code int) {
	if loc := w.Header().Get("Location"); needsRoot(loc) {
		w.Header().Set("Location", w.root+loc)
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *rootWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *rootWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// needsRoot tells the local URLs that are about a database: not the
// assets, the session's routes, the Auth pages or another database.
func needsRoot(u string) bool {
	if !strings.HasPrefix(u, "/") || strings.HasPrefix(u, "//") {
		return false
	}
	for _, p := range []string{"/assets/", "/auth/", "/login", "/logout", "/db/", "/api/session"} {
		if strings.HasPrefix(u, p) {
			return false
		}
	}
	return true
}

// urlAttr finds the URL attributes html/template writes.
var urlAttr = regexp.MustCompile(`\s(?:href|action|src|data-src|data-live-src|data-job-src)="(/[^"]*)"`)

// withRoot puts a database's prefix on a page's local links.
func withRoot(page []byte, root string) []byte {
	var out bytes.Buffer
	out.Grow(len(page) + 1024)
	last := 0
	for _, m := range urlAttr.FindAllSubmatchIndex(page, -1) {
		if !needsRoot(string(page[m[2]:m[3]])) {
			continue
		}
		out.Write(page[last:m[2]])
		out.WriteString(root)
		last = m[2]
	}
	out.Write(page[last:])
	return out.Bytes()
}
