package console

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/api/iterator"

	"github.com/fbadmin/fbadmin/internal/docpath"
	"github.com/fbadmin/fbadmin/internal/errs"
	"github.com/fbadmin/fbadmin/internal/transfer"
	"github.com/fbadmin/fbadmin/internal/value"
	"github.com/fbadmin/fbadmin/repository"
	"github.com/fbadmin/fbadmin/server"
)

// ---- home and tree

type treeLink struct {
	ID, Path string
	Phantom  bool
}

type treeView struct {
	Databases   []string // the project's databases, when known
	Current     string   // the page's database ID
	CanOpen     bool     // other databases open under /db/{database}/
	DBError     string
	Path        string // "" for the root
	IsDoc       bool
	Collections []treeLink
	Docs        []treeLink
	More        bool
}

func (s *Server) home(w http.ResponseWriter, r *http.Request) {
	ids, err := s.conn(r).db.CollectionIDs(r.Context(), "")
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	v := treeView{Current: s.conn(r).db.Database(), CanOpen: s.cfg.OpenDatabase != nil}
	if s.cfg.Databases != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		dbs, err := s.cfg.Databases(ctx)
		cancel()
		if err != nil {
			v.DBError = "listing the project's databases: " + err.Error()
		}
		v.Databases = dbs
	}
	for _, id := range ids {
		v.Collections = append(v.Collections, treeLink{ID: id, Path: id})
	}
	s.render(w, r, http.StatusOK, "home", "Databases", v)
}

// treeDocs is how many documents the tree lists under a collection.
const treeDocs = 100

func (s *Server) tree(w http.ResponseWriter, r *http.Request) {
	p, err := docpath.ParseRel(pathValue(r))
	if err != nil {
		s.renderError(w, r, errorf("path %q: %v", pathValue(r), err))
		return
	}
	ctx := r.Context()
	v := treeView{Path: p.String(), IsDoc: p.IsDocument()}
	if p.IsDocument() {
		ids, err := s.conn(r).db.CollectionIDs(ctx, p.String())
		if err != nil {
			s.renderError(w, r, err)
			return
		}
		for _, id := range ids {
			v.Collections = append(v.Collections, treeLink{ID: id, Path: p.String() + "/" + id})
		}
	} else {
		// DocumentRefs lists missing documents that have subcollections
		// too (phantom parents); GetAll tells which exist.
		it := s.conn(r).fs.Collection(p.String()).DocumentRefs(ctx)
		var refs []*firestore.DocumentRef
		for len(refs) <= treeDocs {
			ref, err := it.Next()
			if errors.Is(err, iterator.Done) {
				break
			}
			if err != nil {
				s.renderError(w, r, errs.Wrap(err, "list", p.String()))
				return
			}
			refs = append(refs, ref)
		}
		if len(refs) > treeDocs {
			refs, v.More = refs[:treeDocs], true
		}
		snaps, err := s.conn(r).fs.GetAll(ctx, refs)
		if err != nil {
			s.renderError(w, r, errs.Wrap(err, "get", p.String()))
			return
		}
		for i, ref := range refs {
			v.Docs = append(v.Docs, treeLink{ID: ref.ID, Path: p.String() + "/" + ref.ID, Phantom: !snaps[i].Exists()})
		}
	}
	s.render(w, r, http.StatusOK, "tree", v.Path, v)
}

// ---- collection view

type row struct {
	Path, ID   string
	UpdateTime string
	Cells      []cell
}

type column struct {
	Field   string
	SortURL string
	Sorted  string // "asc", "desc" or ""
}

type collectionView struct {
	Target      target
	Base        string
	Form        queryForm
	Operators   []string
	Columns     []column
	Rows        []row
	Hidden      int // fields left out of the columns
	NextURL     string
	FirstURL    string
	OnFirstPage bool
	CountURL    string
	LiveURL     string
	LiveToggle  string
	ExportQuery string
	ExportJob   string // the form's action: the export as a job with progress
	ExportTree  string
	Error       string
	ServerMS    int64
}

// maxColumns caps the inferred columns; the rest is counted.
const maxColumns = 12

func (s *Server) targetOf(r *http.Request) target {
	if id := r.PathValue("id"); id != "" {
		return target{Path: id, Group: true}
	}
	return target{Path: strings.Trim(pathValue(r), "/")}
}

func (s *Server) collection(w http.ResponseWriter, r *http.Request) {
	t := s.targetOf(r)
	if rest, ok := strings.CutSuffix(t.Path, "/export.ndjson"); ok {
		t.Path = rest
		s.exportQuery(w, r, t)
		return
	}
	if err := checkTarget(t); err != nil {
		s.renderError(w, r, err)
		return
	}
	start := time.Now()
	form, spec, err := parseQuery(r.URL.Query(), t, s.cfg.PageSize)
	v := collectionView{Target: t, Base: t.base(), Form: form, Operators: Operators}
	v.FirstURL = withQuery(v.Base, form.values("", form.Live))
	v.OnFirstPage = form.Page == ""
	v.LiveToggle = withQuery(v.Base, form.values("", !form.Live))
	v.ExportQuery = withQuery(v.Base+"/export.ndjson", form.values("", false))
	v.ExportJob = withQuery(v.Base+"/export-job", form.values("", false))
	if !t.Group {
		v.ExportTree = "/export/" + escapePath(t.Path)
	}
	status := http.StatusOK
	if err != nil {
		v.Error, status = err.Error(), http.StatusBadRequest
	} else {
		v.CountURL = withQuery("/api/count"+v.Base, form.values("", false))
		if form.Live && v.OnFirstPage {
			v.LiveURL = withQuery("/api/live"+v.Base, form.values("", false))
		}
		qstart := time.Now()
		page, err := s.conn(r).store.Query(r.Context(), s.caller, spec, form.Size, form.Page)
		w.Header().Set("Server-Timing", fmt.Sprintf("firestore;dur=%.1f", float64(time.Since(qstart).Microseconds())/1000))
		if err != nil {
			v.Error, status = err.Error(), httpStatus(err)
		} else {
			s.fillRows(s.conn(r), &v, page)
			if page.HasNextPage {
				v.NextURL = withQuery(v.Base, form.values(page.NextPageToken, false))
			}
		}
	}
	v.ServerMS = time.Since(start).Milliseconds()
	if st := w.Header().Get("Server-Timing"); st != "" {
		w.Header().Set("Server-Timing", fmt.Sprintf("%s, page;dur=%.1f", st, float64(time.Since(start).Microseconds())/1000))
	}
	title := t.Path
	if t.Group {
		title = "group " + t.Path
	}
	s.render(w, r, status, "collection", title, v)
}

// fillRows infers the columns from the page's documents (the fields most
// documents have first, then by name) and renders their cells.
func (s *Server) fillRows(dc *dbConn, v *collectionView, page *server.Page) {
	counts := map[string]int{}
	decoded := make([]map[string]any, len(page.Documents))
	for i, d := range page.Documents {
		m, err := value.DecodeMap(d.Data)
		if err != nil {
			m = map[string]any{}
		}
		decoded[i] = m
		for k := range m {
			counts[k]++
		}
	}
	fields := slices.Collect(maps.Keys(counts))
	slices.SortFunc(fields, func(a, b string) int {
		if counts[a] != counts[b] {
			return counts[b] - counts[a]
		}
		return strings.Compare(a, b)
	})
	if len(fields) > maxColumns {
		v.Hidden = len(fields) - maxColumns
		fields = fields[:maxColumns]
	}
	slices.Sort(fields)
	sorted := map[string]string{}
	for _, o := range v.Form.Orders {
		sorted[o.Field] = o.Dir
	}
	for _, f := range fields {
		dir := "asc"
		if sorted[f] == "asc" {
			dir = "desc"
		}
		sf := v.Form
		sf.Orders = []orderRow{{Field: f, Dir: dir}}
		v.Columns = append(v.Columns, column{Field: f, Sorted: sorted[f], SortURL: withQuery(v.Base, sf.values("", v.Form.Live))})
	}
	for i, d := range page.Documents {
		rw := row{Path: d.Path, ID: d.ID, UpdateTime: d.UpdateTime.UTC().Format(time.RFC3339Nano)}
		for _, f := range fields {
			val, ok := decoded[i][f]
			if !ok {
				rw.Cells = append(rw.Cells, cell{Field: f, Type: "missing"})
				continue
			}
			rw.Cells = append(rw.Cells, dc.cellOf(f, val))
		}
		v.Rows = append(v.Rows, rw)
	}
}

// count answers the aggregation count of a collection view's query.
func (s *Server) count(w http.ResponseWriter, r *http.Request) {
	t := s.targetOf(r)
	if err := checkTarget(t); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	_, spec, err := parseQuery(r.URL.Query(), t, s.cfg.PageSize)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	agg, err := s.conn(r).store.Aggregate(r.Context(), s.caller, spec, true, nil, nil)
	if err != nil {
		writeJSON(w, httpStatus(err), map[string]string{"error": err.Error()})
		return
	}
	var n struct {
		Int string `json:"$int"`
	}
	_ = json.Unmarshal(agg.Count, &n)
	writeJSON(w, http.StatusOK, map[string]string{"count": n.Int})
}

// liveEvent is one change as the live mode's script receives it.
type liveEvent struct {
	Type       string          `json:"type"`
	Path       string          `json:"path"`
	ID         string          `json:"id"`
	Data       json.RawMessage `json:"data,omitempty"`
	Cells      []cell          `json:"cells,omitempty"`
	UpdateTime string          `json:"update_time"`
	Initial    bool            `json:"initial,omitempty"`
	// Index is the document's position in the page after the change
	// (-1 for a removal), so that the script keeps the query's order.
	Index int `json:"index"`
}

// live streams the changes of a collection view's first page as
// Server-Sent Events. It watches the page's query, limit included, with
// the repository's verified watch (the change-stream core the server's
// Hub runs on too; the Hub itself shares unlimited queries among
// subscribers and refuses limits, and a live page of a large collection
// needs one).
func (s *Server) live(w http.ResponseWriter, r *http.Request) {
	t := s.targetOf(r)
	if err := checkTarget(t); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	form, spec, err := parseQuery(r.URL.Query(), t, s.cfg.PageSize)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if spec.Limit == 0 || spec.Limit > form.Size {
		spec.Limit = form.Size
	}
	q, err := s.watchQuery(s.conn(r).fs, spec)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	go func() { // the console's shutdown ends the stream
		select {
		case <-s.ctx.Done():
			cancel()
		case <-ctx.Done():
		}
	}()
	fl, _ := w.(http.Flusher)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriter(w)
	flush := func() error {
		if err := bw.Flush(); err != nil {
			return err
		}
		if fl != nil {
			fl.Flush()
		}
		return nil
	}
	fmt.Fprint(bw, "retry: 2000\n\n")
	if flush() != nil {
		return
	}
	initial := true
	for snap, err := range q.Watch(ctx, repository.WithWatchLogger(s.log)) {
		if err != nil {
			if ctx.Err() == nil {
				fmt.Fprintf(bw, "event: end\ndata: %s\n\n", jsonString(err.Error()))
				_ = flush()
			}
			return
		}
		if snap.Reopened {
			initial = true
		}
		for _, c := range snap.Changes {
			d := c.Doc
			le := liveEvent{Path: d.Path, ID: d.ID, UpdateTime: d.UpdateTime.UTC().Format(time.RFC3339Nano), Initial: initial, Index: c.NewIndex}
			switch c.Kind {
			case repository.Added:
				le.Type = "added"
			case repository.Modified:
				le.Type = "modified"
			default:
				le.Type = "removed"
			}
			if le.Type != "removed" {
				le.Data, _ = value.EncodeMap(d.Data)
				for _, k := range slices.Sorted(maps.Keys(d.Data)) {
					le.Cells = append(le.Cells, s.conn(r).cellOf(k, d.Data[k]))
				}
			}
			b, _ := json.Marshal(le)
			fmt.Fprintf(bw, "event: change\ndata: %s\n\n", b)
		}
		if initial {
			initial = false
			fmt.Fprint(bw, "event: ready\ndata: {}\n\n")
		}
		if flush() != nil {
			return
		}
	}
}

// watchQuery builds the repository query of a spec, as the Store builds
// its own (the Store checks the same filters when the page is read).
func (s *Server) watchQuery(fs *firestore.Client, spec server.QuerySpec) (repository.Query[map[string]any], error) {
	var q repository.Query[map[string]any]
	if spec.Group {
		q = repository.Group[map[string]any](fs, spec.Collection)
	} else {
		q = repository.New[map[string]any](fs, spec.Collection).Query()
	}
	decode := func(f server.Filter) (any, error) {
		v, err := value.Decode(f.Value)
		if err != nil {
			return nil, errorf("filter on %s: value: %v", f.Field, err)
		}
		return v, nil
	}
	for _, f := range spec.Where {
		v, err := decode(f)
		if err != nil {
			return q, err
		}
		q = q.WherePath(fieldPath(f.Field), f.Op, v)
	}
	if len(spec.Or) > 0 {
		var alts []firestore.EntityFilter
		for _, f := range spec.Or {
			v, err := decode(f)
			if err != nil {
				return q, err
			}
			alts = append(alts, firestore.PropertyPathFilter{Path: fieldPath(f.Field), Operator: f.Op, Value: v})
		}
		if len(alts) == 1 {
			q = q.WhereFilter(alts[0])
		} else {
			q = q.WhereFilter(firestore.OrFilter{Filters: alts})
		}
	}
	for _, o := range spec.OrderBy {
		dir := firestore.Asc
		if o.Direction == "desc" {
			dir = firestore.Desc
		}
		q = q.OrderByPath(fieldPath(o.Field), dir)
	}
	return q.Limit(spec.Limit), nil
}

func fieldPath(dotted string) firestore.FieldPath {
	return firestore.FieldPath(strings.Split(dotted, "."))
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// ---- exports

func (s *Server) exportQuery(w http.ResponseWriter, r *http.Request, t target) {
	if err := checkTarget(t); err != nil {
		s.renderError(w, r, err)
		return
	}
	_, spec, err := parseQuery(r.URL.Query(), t, s.cfg.PageSize)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	ctx := r.Context()
	store := s.conn(r).store
	// The first page before any byte is sent, so that a bad query is an
	// error page rather than a broken download.
	page, err := store.Query(ctx, s.caller, spec, MaxPageSize, "")
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename=%q`, fileName(t.Path)+".ndjson"))
	bw := bufio.NewWriterSize(w, 64<<10)
	defer bw.Flush()
	if err := s.writeQuery(ctx, store, spec, page, bw, nil); err != nil {
		s.log.Warn("export cut short", "err", errs.KindOf(err).Error())
		// the download ends incomplete; the browser reports a failed download only if the connection breaks
	}
}

// writeQuery writes a query's documents as export lines, from its first
// page on, counting them into j when given.
func (s *Server) writeQuery(ctx context.Context, store *server.Store, spec server.QuerySpec, page *server.Page, w io.Writer, j *job) error {
	for {
		for _, d := range page.Documents {
			ct, ut := d.CreateTime, d.UpdateTime
			b, _ := json.Marshal(transfer.Line{Path: d.Path, Data: d.Data, CreateTime: &ct, UpdateTime: &ut})
			b = append(b, '\n')
			if _, err := w.Write(b); err != nil {
				return err
			}
		}
		if j != nil {
			j.Add(int64(len(page.Documents)), 0)
		}
		if !page.HasNextPage {
			return nil
		}
		var err error
		if page, err = store.Query(ctx, s.caller, spec, MaxPageSize, page.NextPageToken); err != nil {
			return err
		}
	}
}

// exportJob runs a query's export as a job with progress (the count
// first, for the total), into a temporary file that the job page offers
// for download once done.
func (s *Server) exportJob(w http.ResponseWriter, r *http.Request, t target) {
	if err := checkTarget(t); err != nil {
		s.renderError(w, r, err)
		return
	}
	_, spec, err := parseQuery(r.URL.Query(), t, s.cfg.PageSize)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	store := s.conn(r).store
	page, err := store.Query(r.Context(), s.caller, spec, MaxPageSize, "")
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	f, err := os.CreateTemp("", "fbadmin-console-export-*.ndjson")
	if err != nil {
		s.renderError(w, r, errs.New(errs.ErrInternal, "export", t.Path, "temporary file: %v", err))
		return
	}
	j := s.startJob("export", t.Path, withQuery(t.base(), r.URL.Query()), func(ctx context.Context, j *job) error {
		if agg, err := store.Aggregate(ctx, s.caller, spec, true, nil, nil); err == nil {
			var n struct {
				Int int64 `json:"$int,string"`
			}
			if json.Unmarshal(agg.Count, &n) == nil {
				j.SetTotal(n.Int)
			}
		}
		bw := bufio.NewWriterSize(f, 64<<10)
		err := s.writeQuery(ctx, store, spec, page, bw, j)
		if err == nil {
			err = bw.Flush()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	})
	j.setFile(f.Name(), fileName(t.Path)+".ndjson")
	http.Redirect(w, r, "/jobs/"+j.ID, http.StatusSeeOther)
}

func fileName(p string) string {
	return strings.NewReplacer("/", "_", "\\", "_", "\"", "_").Replace(p)
}

// exportTree downloads a collection or document with everything below it,
// as fs export writes it.
func (s *Server) exportTree(w http.ResponseWriter, r *http.Request) {
	rel, err := s.conn(r).db.CleanPath(pathValue(r), false)
	if err != nil {
		s.renderError(w, r, errorf("export %q: %v", pathValue(r), err))
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename=%q`, fileName(rel)+".ndjson"))
	bw := bufio.NewWriterSize(w, 64<<10)
	if _, err := transfer.Export(r.Context(), s.conn(r).db, bw, transfer.ExportOptions{Paths: []string{rel}}); err != nil {
		s.log.Warn("export failed", "err", errs.KindOf(err).Error())
		return
	}
	_ = bw.Flush()
}

// collectionPost handles the collection view's bulk action: delete the
// selected documents.
func (s *Server) collectionPost(w http.ResponseWriter, r *http.Request) {
	if rest, ok := strings.CutSuffix(strings.Trim(pathValue(r), "/"), "/export-job"); ok {
		s.exportJob(w, r, target{Path: rest})
		return
	}
	coll, ok := strings.CutSuffix(strings.Trim(pathValue(r), "/"), "/delete-selected")
	if !ok {
		http.NotFound(w, r)
		return
	}
	if err := r.ParseForm(); err != nil {
		s.renderError(w, r, errorf("bad form: %v", err))
		return
	}
	sel := r.PostForm["sel"]
	if len(sel) == 0 {
		s.renderError(w, r, errorf("no document selected: tick the rows to delete first"))
		return
	}
	var paths []string
	for _, p := range sel {
		rel, err := docpath.ParseRel(p)
		if err != nil || !rel.IsDocument() {
			s.renderError(w, r, errorf("selected %q is not a document path", p))
			return
		}
		paths = append(paths, rel.String())
	}
	st, err := transfer.Delete(r.Context(), s.conn(r).db, transfer.DeleteOptions{Paths: paths, Journal: transfer.NoJournal})
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	if st.Failed > 0 {
		s.renderError(w, r, errs.New(errs.ErrInternal, "delete", coll, "%d documents deleted, %d could not be", st.Docs, st.Failed))
		return
	}
	back := safeNext(r.PostFormValue("next"))
	if back == "/" {
		back = "/c/" + escapePath(coll)
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}
