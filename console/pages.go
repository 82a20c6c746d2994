package console

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"sync"
)

// pages holds one template set per page, each the layout plus the page.
type pages struct {
	byName map[string]*template.Template
}

var funcs = template.FuncMap{
	"esc": escapePath,
	"add": func(a, b int) int { return a + b },
	"parent": func(p string) string {
		if i := strings.LastIndexByte(p, '/'); i >= 0 {
			return p[:i]
		}
		return ""
	},
	"crumbs":      crumbs,
	"dict":        func(f filterRow, ops []string) qbRow { return qbRow{F: f, Ops: ops} },
	"blankFilter": func() filterRow { return filterRow{Op: "==", Combine: "and"} },
	"blankOrder":  func() orderRow { return orderRow{Dir: "asc"} },
	"dict2":       func(f fieldView, types []string) fieldRow { return fieldRow{F: f, Types: types} },
	"newField": func(i int, types []string) fieldRow {
		return fieldRow{F: fieldView{Index: i, Type: "string"}, Types: types}
	},
}

type fieldRow struct {
	F     fieldView
	Types []string
}

type qbRow struct {
	F   filterRow
	Ops []string
}

type crumb struct {
	Name, Href string
}

// crumbs splits a path into links: collections to their views, documents
// to their editors.
func crumbs(p string) []crumb {
	if p == "" {
		return nil
	}
	segs := strings.Split(p, "/")
	out := make([]crumb, len(segs))
	for i := range segs {
		sub := strings.Join(segs[:i+1], "/")
		kind := "/c/"
		if i%2 == 1 {
			kind = "/d/"
		}
		out[i] = crumb{Name: segs[i], Href: kind + escapePath(sub)}
	}
	return out
}

func parsePages() (*pages, error) {
	layout, err := template.New("layout.html").Funcs(funcs).ParseFS(templatesFS, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("console templates: %w", err)
	}
	names, err := fs.Glob(templatesFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	p := &pages{byName: map[string]*template.Template{}}
	for _, n := range names {
		base := strings.TrimSuffix(path.Base(n), ".html")
		if base == "layout" {
			continue
		}
		t, err := template.Must(layout.Clone()).ParseFS(templatesFS, n)
		if err != nil {
			return nil, fmt.Errorf("console template %s: %w", n, err)
		}
		p.byName[base] = t
	}
	return p, nil
}

// view is what every page's template gets.
type view struct {
	Title    string
	CSRF     string
	LoggedIn bool
	Auth     bool
	ReadOnly bool
	Database string
	Root     string // the URL prefix of the database's pages ("" for the configured one)
	Page     any
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// render writes a page, gzipped when the browser accepts it.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name, title string, data any) {
	t := s.pages.byName[name]
	c := s.conn(r)
	v := view{Title: title, Auth: s.cfg.Auth != nil, ReadOnly: s.cfg.ReadOnly, Database: c.db.Name(), Root: c.root, Page: data}
	if sess := sessionFrom(r.Context()); sess != nil {
		v.CSRF, v.LoggedIn = sess.csrf, true
	}
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer bufPool.Put(buf)
	if err := t.ExecuteTemplate(buf, "layout.html", v); err != nil {
		s.log.Error("render", "page", name, "err", err.Error())
		http.Error(w, "internal error rendering the page", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	body := buf.Bytes()
	if c.root != "" {
		body = withRoot(body, c.root)
	}
	writeMaybeGzip(w, r, status, body)
}

func writeMaybeGzip(w http.ResponseWriter, r *http.Request, status int, body []byte) {
	h := w.Header()
	h.Add("Vary", "Accept-Encoding")
	if len(body) < 1024 || !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		w.WriteHeader(status)
		_, _ = w.Write(body)
		return
	}
	h.Set("Content-Encoding", "gzip")
	w.WriteHeader(status)
	zw, _ := gzip.NewWriterLevel(w, gzip.BestSpeed)
	_, _ = zw.Write(body)
	_ = zw.Close()
}

// renderError shows an error page with the status of the error's kind.
func (s *Server) renderError(w http.ResponseWriter, r *http.Request, err error) {
	s.render(w, r, httpStatus(err), "error", "Error", err.Error())
}

// assetHandler serves the embedded assets, gzipped when accepted, cached
// for an hour.
func assetHandler(fsys fs.FS) http.Handler {
	type asset struct {
		body, gz []byte
		ctype    string
	}
	var once sync.Once
	cache := map[string]*asset{}
	load := func() {
		_ = fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := fs.ReadFile(fsys, p)
			if err != nil {
				return err
			}
			var zb bytes.Buffer
			zw, _ := gzip.NewWriterLevel(&zb, gzip.BestCompression)
			_, _ = zw.Write(b)
			_ = zw.Close()
			ct := "application/octet-stream"
			switch path.Ext(p) {
			case ".js":
				ct = "text/javascript; charset=utf-8"
			case ".css":
				ct = "text/css; charset=utf-8"
			case ".svg":
				ct = "image/svg+xml"
			}
			cache[p] = &asset{body: b, gz: zb.Bytes(), ctype: ct}
			return nil
		})
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		once.Do(load)
		a := cache[r.URL.Path]
		if a == nil {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", a.ctype)
		h.Set("Cache-Control", "public, max-age=3600")
		h.Add("Vary", "Accept-Encoding")
		if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			h.Set("Content-Encoding", "gzip")
			_, _ = io.Copy(w, bytes.NewReader(a.gz))
			return
		}
		_, _ = w.Write(a.body)
	})
}
