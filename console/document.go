package console

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fbadmin/fbadmin/internal/docpath"
	"github.com/fbadmin/fbadmin/internal/errs"
	"github.com/fbadmin/fbadmin/internal/value"
	"github.com/fbadmin/fbadmin/server"
)

type fieldView struct {
	Index     int
	Name      string
	Type      string
	Text      string
	Multiline bool
	Href      string // references
	Remove    bool
}

type documentView struct {
	Path        string
	ID          string
	Collection  string
	Exists      bool
	UpdateTime  string
	CreateTime  string
	Fields      []fieldView
	NextIndex   int
	Types       []string
	Raw         string // the stored version, value format, indented
	RawEdit     string // the raw editor's text
	Saved       bool
	Error       string
	Conflict    bool
	Current     string // the current version on a conflict
	CurrentTime string
	Subcolls    []treeLink
}

func (s *Server) docPath(r *http.Request) (docpath.Path, error) {
	p, err := docpath.ParseRel(strings.Trim(pathValue(r), "/"))
	if err != nil {
		return p, errorf("document path %q: %v", pathValue(r), err)
	}
	if !p.IsDocument() {
		return p, errorf("%q is a collection path, not a document: open it at /c/%s", p.String(), escapePath(p.String()))
	}
	return p, nil
}

func (s *Server) document(w http.ResponseWriter, r *http.Request) {
	p, err := s.docPath(r)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	v, err := s.loadDocument(r, p)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	v.Saved = r.URL.Query().Get("saved") == "1"
	s.render(w, r, http.StatusOK, "document", p.String(), v)
}

// loadDocument reads a document (a missing one gives an empty editor)
// and its subcollections.
func (s *Server) loadDocument(r *http.Request, p docpath.Path) (*documentView, error) {
	v := &documentView{Path: p.String(), ID: p.ID(), Collection: p.Parent().String(), Types: Types}
	d, err := s.conn(r).store.Get(r.Context(), s.caller, p.String())
	switch {
	case errors.Is(err, errs.ErrNotFound):
	case err != nil:
		return nil, err
	default:
		if err := s.fillDocument(s.conn(r), v, d); err != nil {
			return nil, err
		}
	}
	ids, err := s.conn(r).db.CollectionIDs(r.Context(), p.String())
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		v.Subcolls = append(v.Subcolls, treeLink{ID: id, Path: p.String() + "/" + id})
	}
	v.NextIndex = len(v.Fields)
	return v, nil
}

func (s *Server) fillDocument(dc *dbConn, v *documentView, d *server.Document) error {
	v.Exists = true
	v.UpdateTime = d.UpdateTime.UTC().Format(time.RFC3339Nano)
	v.CreateTime = d.CreateTime.UTC().Format(time.RFC3339Nano)
	m, err := value.DecodeMap(d.Data)
	if err != nil {
		return err
	}
	v.Fields = v.Fields[:0]
	for i, k := range slices.Sorted(maps.Keys(m)) {
		f := fieldView{Index: i, Name: k, Type: typeOf(m[k]), Text: dc.editText(m[k])}
		switch f.Type {
		case "map", "array", "vector":
			f.Multiline = true
		case "string":
			f.Multiline = strings.Contains(f.Text, "\n") || len(f.Text) > 120
		case "reference":
			if !strings.HasPrefix(f.Text, "projects/") {
				f.Href = "/d/" + escapePath(f.Text)
			}
		}
		v.Fields = append(v.Fields, f)
	}
	v.Raw = indent(d.Data)
	v.RawEdit = v.Raw
	return nil
}

func indent(raw []byte) string {
	var b bytes.Buffer
	if json.Indent(&b, raw, "", "  ") != nil {
		return string(raw)
	}
	return b.String()
}

// documentPost saves the editor's form (or the raw editor), or deletes the
// document (".../delete").
func (s *Server) documentPost(w http.ResponseWriter, r *http.Request) {
	if rest, ok := strings.CutSuffix(strings.Trim(pathValue(r), "/"), "/delete"); ok && strings.Count(rest, "/")%2 == 1 {
		s.deleteDocument(w, r, rest)
		return
	}
	p, err := s.docPath(r)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	if err := r.ParseForm(); err != nil {
		s.renderError(w, r, errorf("bad form: %v", err))
		return
	}
	form := r.PostForm
	var ifTime time.Time
	if ut := form.Get("update_time"); ut != "" {
		if ifTime, err = time.Parse(time.RFC3339Nano, ut); err != nil {
			s.renderError(w, r, errorf("update_time %q: not an RFC 3339 time; reload the document", ut))
			return
		}
	}
	// The form as submitted, to show it again on an error or a conflict.
	sub := &documentView{Path: p.String(), ID: p.ID(), Collection: p.Parent().String(), Types: Types, UpdateTime: form.Get("update_time"), Exists: !ifTime.IsZero()}
	data, ferr := s.formData(s.conn(r), form, sub)
	if ferr != nil {
		s.showForm(w, r, p, sub, http.StatusBadRequest, func(v *documentView) { v.Error = ferr.Error() })
		return
	}
	ctx := r.Context()
	if form.Get("force") == "1" {
		// Overwrite after a conflict: the version the user saw then.
		ifTime = time.Time{} // gone meanwhile: create it again
		if ct := form.Get("current_time"); ct != "" {
			if ifTime, err = time.Parse(time.RFC3339Nano, ct); err != nil {
				s.renderError(w, r, errorf("current_time %q: not an RFC 3339 time", ct))
				return
			}
		}
	}
	if ifTime.IsZero() {
		_, err = s.conn(r).store.Create(ctx, s.caller, p.Parent().String(), p.ID(), data)
	} else {
		_, err = s.conn(r).store.Set(ctx, s.caller, p.String(), data, ifTime)
	}
	switch {
	case err == nil:
		http.Redirect(w, r, "/d/"+escapePath(p.String())+"?saved=1", http.StatusSeeOther)
	case errors.Is(err, errs.ErrConflict), errors.Is(err, errs.ErrAlreadyExists), errors.Is(err, errs.ErrNotFound) && !ifTime.IsZero():
		s.showForm(w, r, p, sub, http.StatusConflict, func(v *documentView) { v.Conflict = true })
	default:
		s.showForm(w, r, p, sub, httpStatus(err), func(v *documentView) { v.Error = err.Error() })
	}
}

// showForm renders the submitted form again, with the stored version
// beside it (the conflict's current version).
func (s *Server) showForm(w http.ResponseWriter, r *http.Request, p docpath.Path, sub *documentView, status int, set func(*documentView)) {
	cur, err := s.loadDocument(r, p)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	sub.Subcolls = cur.Subcolls
	sub.Raw = cur.Raw
	if cur.Exists {
		sub.Current, sub.CurrentTime = cur.Raw, cur.UpdateTime
	} else {
		sub.Current = "(the document does not exist any more)"
	}
	sub.NextIndex = len(sub.Fields)
	set(sub)
	s.render(w, r, status, "document", p.String(), sub)
}

// formData builds the document's data, in the value format, from the
// editor's fields (or the raw editor), and records them in v so that the
// form can be shown again as submitted.
func (s *Server) formData(dc *dbConn, form map[string][]string, v *documentView) (json.RawMessage, error) {
	get := func(k string) string {
		if l := form[k]; len(l) > 0 {
			return l[0]
		}
		return ""
	}
	if get("mode") == "raw" {
		raw := get("raw")
		v.RawEdit = raw
		m, err := value.DecodeMap([]byte(raw))
		if err != nil {
			return nil, fmt.Errorf("raw document: %v", err)
		}
		for i, k := range slices.Sorted(maps.Keys(m)) {
			v.Fields = append(v.Fields, fieldView{Index: i, Name: k, Type: typeOf(m[k]), Text: dc.editText(m[k]), Multiline: typeOf(m[k]) == "map" || typeOf(m[k]) == "array"})
		}
		return value.EncodeMap(m)
	}
	var idx []int
	for k := range form {
		if rest, ok := strings.CutPrefix(k, "f."); ok {
			if n, ok := strings.CutSuffix(rest, ".name"); ok {
				if i, err := strconv.Atoi(n); err == nil && i >= 0 {
					idx = append(idx, i)
				}
			}
		}
	}
	slices.Sort(idx)
	m := map[string]any{}
	var firstErr error
	for _, i := range idx {
		pre := "f." + strconv.Itoa(i) + "."
		f := fieldView{Index: len(v.Fields), Name: get(pre + "name"), Type: get(pre + "type"), Text: get(pre + "value"), Remove: get(pre+"del") != ""}
		f.Multiline = f.Type == "map" || f.Type == "array" || f.Type == "vector" || strings.Contains(f.Text, "\n")
		name := f.Name
		if name == "" || f.Remove {
			if name != "" {
				v.Fields = append(v.Fields, f)
			}
			continue
		}
		v.Fields = append(v.Fields, f)
		if _, dup := m[name]; dup {
			if firstErr == nil {
				firstErr = fmt.Errorf("field %q appears twice: rename or remove one", name)
			}
			continue
		}
		val, err := dc.parseTyped(f.Type, f.Text)
		if err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("field %q (%s): %v", name, f.Type, err)
			}
			continue
		}
		m[name] = val
	}
	if firstErr != nil {
		return nil, firstErr
	}
	raw, err := value.EncodeMap(m)
	if err != nil {
		return nil, err
	}
	v.RawEdit = indent(raw)
	return raw, nil
}

func (s *Server) deleteDocument(w http.ResponseWriter, r *http.Request, rel string) {
	p, err := docpath.ParseRel(rel)
	if err != nil || !p.IsDocument() {
		s.renderError(w, r, errorf("%q is not a document path", rel))
		return
	}
	var ifTime time.Time
	if ut := r.PostFormValue("update_time"); ut != "" {
		if ifTime, err = time.Parse(time.RFC3339Nano, ut); err != nil {
			s.renderError(w, r, errorf("update_time %q: not an RFC 3339 time; reload the document", ut))
			return
		}
	}
	if err := s.conn(r).store.Delete(r.Context(), s.caller, p.String(), ifTime); err != nil {
		if errors.Is(err, errs.ErrConflict) {
			err = errs.New(errs.ErrConflict, "delete", p.String(), "the document changed since you opened it: reload it, check, and delete again")
		}
		s.renderError(w, r, err)
		return
	}
	http.Redirect(w, r, "/c/"+escapePath(p.Parent().String()), http.StatusSeeOther)
}

// newDocument opens the editor of a new document of a collection: the ID
// given, or an automatic one (20 letters and digits, as Firestore makes).
func (s *Server) newDocument(w http.ResponseWriter, r *http.Request) {
	coll, err := docpath.ParseRel(strings.Trim(pathValue(r), "/"))
	if err != nil || !coll.IsCollection() {
		s.renderError(w, r, errorf("new document: %q is not a collection path", pathValue(r)))
		return
	}
	id := strings.TrimSpace(r.URL.Query().Get("id"))
	if id == "" {
		id = autoID()
	}
	p, err := coll.Child(id)
	if err != nil {
		s.renderError(w, r, errorf("new document ID %q: %v", id, err))
		return
	}
	http.Redirect(w, r, "/d/"+escapePath(p.String()), http.StatusSeeOther)
}

func autoID() string {
	const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 20)
	rand.Read(b)
	for i := range b {
		b[i] = chars[int(b[i])%len(chars)]
	}
	return string(b)
}
