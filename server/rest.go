package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/fbadmin/fbadmin/internal/docpath"
	"github.com/fbadmin/fbadmin/internal/errs"
)

// REST API, under /v1 (docs/serve.md):
//
//	GET    /v1/docs/{doc path}          get a document (ETag: its update time)
//	GET    /v1/docs/{collection path}   list: ?page_size=&page_token=&order_by=f[:desc]
//	POST   /v1/docs/{collection path}   create, with ?id= or an automatic ID (409 if it exists)
//	PUT    /v1/docs/{doc path}          set (create or replace); If-Match: ETag; If-None-Match: * = create
//	PATCH  /v1/docs/{doc path}          update (merge; 404 if missing); If-Match: ETag
//	DELETE /v1/docs/{doc path}          delete (404 if missing); If-Match: ETag
//	POST   /v1/query                    a query (QuerySpec + page_size, page_token)
//	POST   /v1/aggregate                count / sum / avg of a query

func (s *Server) caller(w http.ResponseWriter, r *http.Request) (*Caller, bool) {
	c, ok := CallerFrom(r.Context())
	if !ok {
		writeError(w, r, errs.New(errs.ErrUnauthenticated, "authenticate", "", "missing bearer token (send Authorization: Bearer <Firebase ID token>)"))
	}
	return c, ok
}

// reqCtx bounds a request's work by the configured timeout.
func (s *Server) reqCtx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), s.cfg.Limits.RequestTimeout)
}

func docPathOf(r *http.Request) string {
	return strings.Trim(r.PathValue("path"), "/")
}

func etag(t time.Time) string {
	return `"` + t.UTC().Format(time.RFC3339Nano) + `"`
}

// ifMatch parses an If-Match header holding an ETag of this server.
func ifMatch(r *http.Request) (time.Time, error) {
	v := strings.TrimSpace(r.Header.Get("If-Match"))
	if v == "" {
		return time.Time{}, nil
	}
	v = strings.Trim(strings.TrimPrefix(v, "W/"), `"`)
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, badField("If-Match", "header %q is not an ETag of this server (use the ETag of a GET, a quoted RFC 3339 update time)", r.Header.Get("If-Match"))
	}
	return t, nil
}

func writeDoc(w http.ResponseWriter, code int, d *Document) {
	h := w.Header()
	h.Set("ETag", etag(d.UpdateTime))
	h.Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(d.appendJSON(make([]byte, 0, len(d.Data)+256)))
}

// appendJSON encodes the document as json.Marshal would, without
// re-validating Data (the value codec wrote it).
func (d *Document) appendJSON(b []byte) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, d.ID)
	b = append(b, `,"path":`...)
	b = appendString(b, d.Path)
	b = append(b, `,"data":`...)
	if len(d.Data) == 0 {
		b = append(b, "null"...)
	} else {
		b = append(b, d.Data...)
	}
	b = append(b, `,"create_time":"`...)
	b = d.CreateTime.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","update_time":"`...)
	b = d.UpdateTime.AppendFormat(b, time.RFC3339Nano)
	return append(b, "\"}\n"...)
}

// appendString appends s as a JSON string.
func appendString(b []byte, s string) []byte {
	simple := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x7f {
			simple = false
			break
		}
	}
	if simple {
		b = append(b, '"')
		b = append(b, s...)
		return append(b, '"')
	}
	q, _ := json.Marshal(s)
	return append(b, q...)
}

// readBody reads a JSON body within the size limit.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(s.cfg.Limits.MaxBody)))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, &fieldError{field: "body", err: &errs.Error{Kind: errs.ErrInvalid, Op: "request", Target: "body",
				Cause: fmt.Errorf("larger than the limit of %d bytes (limits.max_body): %w", mbe.Limit, mbe)}}
		}
		return nil, errs.New(errs.ErrInvalid, "request", "body", "cannot read: %v", err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, badField("body", "empty body: send a JSON object")
	}
	if !json.Valid(body) {
		return nil, badField("body", "malformed JSON%s", jsonErrorAt(body))
	}
	return body, nil
}

// jsonErrorAt locates a syntax error for the message.
func jsonErrorAt(b []byte) string {
	var v any
	err := json.Unmarshal(b, &v)
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return " at byte " + strconv.FormatInt(se.Offset, 10) + ": " + se.Error()
	}
	if err != nil {
		return ": " + err.Error()
	}
	return ""
}

// decodeStrict decodes a JSON object into v, rejecting unknown fields and
// naming the field of a type error.
func decodeStrict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			f := te.Field
			if i := strings.LastIndex(f, "QuerySpec."); i >= 0 {
				f = f[i+len("QuerySpec."):]
			}
			return badField(f, "field %q: %s is not a valid %s", f, te.Value, te.Type)
		}
		if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			f = strings.Trim(f, `"`)
			return badField(f, "unknown field %q", f)
		}
		return badField("body", "%v", err)
	}
	return nil
}

func (s *Server) restGet(w http.ResponseWriter, r *http.Request) {
	c, ok := s.caller(w, r)
	if !ok {
		return
	}
	ctx, cancel := s.reqCtx(r)
	defer cancel()
	p := docPathOf(r)
	if pp, err := docpath.Parse(p); err == nil && pp.IsCollection() {
		s.restList(ctx, w, r, c, p)
		return
	}
	d, err := s.store.Get(ctx, c, p)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if inm := r.Header.Get("If-None-Match"); inm != "" && strings.Trim(strings.TrimPrefix(inm, "W/"), " ") == etag(d.UpdateTime) {
		w.Header().Set("ETag", etag(d.UpdateTime))
		w.WriteHeader(http.StatusNotModified)
		return
	}
	writeDoc(w, http.StatusOK, d)
}

func (s *Server) restList(ctx context.Context, w http.ResponseWriter, r *http.Request, c *Caller, coll string) {
	qv := r.URL.Query()
	q := QuerySpec{Collection: coll}
	for _, o := range qv["order_by"] {
		f, dir, _ := strings.Cut(o, ":")
		q.OrderBy = append(q.OrderBy, Order{Field: f, Direction: dir})
	}
	size, err := intParam(qv.Get("page_size"), "page_size")
	if err != nil {
		writeError(w, r, err)
		return
	}
	p, err := s.store.Query(ctx, c, q, size, qv.Get("page_token"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func intParam(v, name string) (int, error) {
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, badField(name, "%s=%q: want a positive integer", name, v)
	}
	return n, nil
}

func (s *Server) restCreate(w http.ResponseWriter, r *http.Request) {
	c, ok := s.caller(w, r)
	if !ok {
		return
	}
	ctx, cancel := s.reqCtx(r)
	defer cancel()
	body, err := s.readBody(w, r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	d, err := s.store.Create(ctx, c, docPathOf(r), r.URL.Query().Get("id"), body)
	if err != nil {
		writeError(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/docs/"+d.Path)
	writeDoc(w, http.StatusCreated, d)
}

// docWrite is what a PUT or PATCH of one document brings: the caller,
// the If-Match condition and the body.
type docWrite struct {
	c    *Caller
	cond time.Time
	body []byte
}

// readDocWrite authenticates a document write and reads its condition and
// body, answering the error itself when it returns false.
func (s *Server) readDocWrite(w http.ResponseWriter, r *http.Request) (docWrite, bool) {
	c, ok := s.caller(w, r)
	if !ok {
		return docWrite{}, false
	}
	cond, err := ifMatch(r)
	if err == nil {
		var body []byte
		if body, err = s.readBody(w, r); err == nil {
			return docWrite{c: c, cond: cond, body: body}, true
		}
	}
	writeError(w, r, err)
	return docWrite{}, false
}

func (s *Server) restSet(w http.ResponseWriter, r *http.Request) {
	dw, ok := s.readDocWrite(w, r)
	if !ok {
		return
	}
	ctx, cancel := s.reqCtx(r)
	defer cancel()
	p := docPathOf(r)
	if strings.TrimSpace(r.Header.Get("If-None-Match")) == "*" {
		// Create-only: the parent collection and the ID from the path.
		coll, id, err := docPath("create", p)
		if err != nil {
			writeError(w, r, err)
			return
		}
		d, err := s.store.Create(ctx, dw.c, coll, id, dw.body)
		if err != nil {
			writeError(w, r, err)
			return
		}
		writeDoc(w, http.StatusCreated, d)
		return
	}
	d, created, err := s.store.SetCreated(ctx, dw.c, p, dw.body, dw.cond)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if created { // RFC 9110: 201 when a PUT creates the resource
		w.Header().Set("Location", "/v1/docs/"+d.Path)
		writeDoc(w, http.StatusCreated, d)
		return
	}
	writeDoc(w, http.StatusOK, d)
}

func (s *Server) restUpdate(w http.ResponseWriter, r *http.Request) {
	dw, ok := s.readDocWrite(w, r)
	if !ok {
		return
	}
	ctx, cancel := s.reqCtx(r)
	defer cancel()
	d, err := s.store.Update(ctx, dw.c, docPathOf(r), dw.body, dw.cond)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeDoc(w, http.StatusOK, d)
}

func (s *Server) restDelete(w http.ResponseWriter, r *http.Request) {
	c, ok := s.caller(w, r)
	if !ok {
		return
	}
	ctx, cancel := s.reqCtx(r)
	defer cancel()
	cond, err := ifMatch(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if err := s.store.Delete(ctx, c, docPathOf(r), cond); err != nil {
		writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// queryRequest is the body of POST /v1/query.
type queryRequest struct {
	QuerySpec
	PageSize  int    `json:"page_size,omitempty"`
	PageToken string `json:"page_token,omitempty"`
}

func (s *Server) restQuery(w http.ResponseWriter, r *http.Request) {
	var req queryRequest
	s.queryEndpoint(w, r, &req, &req.QuerySpec, "query", func(ctx context.Context, c *Caller) (any, error) {
		return s.store.Query(ctx, c, req.QuerySpec, req.PageSize, req.PageToken)
	})
}

// queryEndpoint serves the POST endpoints whose body is a query plus
// options: it authenticates, reads and checks the body into req (whose
// query is q), and answers run's result.
func (s *Server) queryEndpoint(w http.ResponseWriter, r *http.Request, req any, q *QuerySpec, what string, run func(context.Context, *Caller) (any, error)) {
	c, ok := s.caller(w, r)
	if !ok {
		return
	}
	ctx, cancel := s.reqCtx(r)
	defer cancel()
	body, err := s.readBody(w, r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if err := decodeStrict(body, req); err != nil {
		writeError(w, r, err)
		return
	}
	if q.Collection == "" {
		writeError(w, r, badField("collection", "missing: the collection path (or, with group, the collection ID) to %s", what))
		return
	}
	res, err := run(ctx, c)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// aggregateRequest is the body of POST /v1/aggregate.
type aggregateRequest struct {
	QuerySpec
	Count bool     `json:"count,omitempty"`
	Sum   []string `json:"sum,omitempty"`
	Avg   []string `json:"avg,omitempty"`
}

func (s *Server) restAggregate(w http.ResponseWriter, r *http.Request) {
	var req aggregateRequest
	s.queryEndpoint(w, r, &req, &req.QuerySpec, "aggregate", func(ctx context.Context, c *Caller) (any, error) {
		return s.store.Aggregate(ctx, c, req.QuerySpec, req.Count, req.Sum, req.Avg)
	})
}
