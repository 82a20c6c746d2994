package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/firestore"
	"github.com/coder/websocket"
)

// gqlRules are the access rules of the GraphQL tests.
const gqlRules = `
limits:
  rate: 1000
rules:
  - match: "**"
    allow: [all]
    claims: {root: true}
  - match: notes
    allow: [all]
  - match: posts
    allow: [read]
  - match: posts
    allow: [write]
    claims: {role: editor}
  - match: secret
    allow: [get]
    claims: {role: admin}
  - match: mine
    allow: [all]
    owner: owner
`

// gqlResult is a GraphQL response as a client sees it.
type gqlResult struct {
	status int
	body   []byte
	Data   json.RawMessage `json:"data"`
	Errors []gqlErrorOut   `json:"errors"`
}

type gqlErrorOut struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

// code is the extensions.code of the first error, "" without error.
func (r gqlResult) code() string {
	if len(r.Errors) == 0 {
		return ""
	}
	c, _ := r.Errors[0].Extensions["code"].(string)
	return c
}

// ok fails the test unless the request ran without error, and decodes
// data into v.
func (r gqlResult) ok(t *testing.T, v any) {
	t.Helper()
	if r.status != http.StatusOK || len(r.Errors) > 0 {
		t.Fatalf("status %d, errors: %s", r.status, r.body)
	}
	if v != nil {
		if err := json.Unmarshal(r.Data, v); err != nil {
			t.Fatalf("decode data %s: %v", r.Data, err)
		}
	}
}

// wantCode fails the test unless the request answered status with an
// error of the code.
func (r gqlResult) wantCode(t *testing.T, status int, code string) {
	t.Helper()
	if r.status != status || r.code() != code {
		t.Fatalf("status %d, code %q, want %d %q; body %s", r.status, r.code(), status, code, r.body)
	}
}

func parseGQL(t *testing.T, resp response) gqlResult {
	t.Helper()
	r := gqlResult{status: resp.StatusCode, body: resp.body}
	if err := json.Unmarshal(resp.body, &r); err != nil {
		t.Fatalf("status %d: body is not a GraphQL response: %s", resp.StatusCode, resp.body)
	}
	if r.Data == nil && r.Errors == nil {
		t.Fatalf("status %d: neither data nor errors in %s", resp.StatusCode, resp.body)
	}
	return r
}

// gql POSTs a GraphQL request.
func (e *srvEnv) gql(token, query string, vars map[string]any) gqlResult {
	e.t.Helper()
	body := map[string]any{"query": query}
	if vars != nil {
		body["variables"] = vars
	}
	return parseGQL(e.t, e.do("POST", "/graphql", token, body))
}

// gqlGet sends a GraphQL request as GET query parameters.
func (e *srvEnv) gqlGet(token, query string, vars map[string]any) gqlResult {
	e.t.Helper()
	q := url.Values{"query": {query}}
	if vars != nil {
		b, _ := json.Marshal(vars)
		q.Set("variables", string(b))
	}
	return parseGQL(e.t, e.do("GET", "/graphql?"+q.Encode(), token, nil))
}

type gqlDoc struct {
	ID         string          `json:"id"`
	Path       string          `json:"path"`
	Data       json.RawMessage `json:"data"`
	CreateTime time.Time       `json:"createTime"`
	UpdateTime time.Time       `json:"updateTime"`
}

const gqlDocFields = `id path data createTime updateTime`

func TestGraphQLDocumentsAndMutations(t *testing.T) {
	t.Parallel()
	e := newSrvEnv(t, gqlRules)
	_, tok := e.user(nil)

	// create with an ID; every type of the value format goes through the
	// JSON scalar unchanged (typed forms need variables).
	var created struct{ CreateDocument gqlDoc }
	e.gql(tok, `mutation($data: JSON!) { createDocument(collection: "notes", id: "n1", data: $data) { `+gqlDocFields+` } }`,
		map[string]any{"data": json.RawMessage(everyType)}).ok(t, &created)
	d := created.CreateDocument
	if d.ID != "n1" || d.Path != "notes/n1" || d.UpdateTime.IsZero() || d.CreateTime.IsZero() {
		t.Fatalf("created %+v", d)
	}
	sameValue(t, d.Data, json.RawMessage(everyType))

	// create again: ALREADY_EXISTS; with an automatic ID and a literal.
	e.gql(tok, `mutation { createDocument(collection: "notes", id: "n1", data: {a: 1}) { id } }`, nil).wantCode(t, 200, "ALREADY_EXISTS")
	var auto struct{ CreateDocument gqlDoc }
	e.gql(tok, `mutation { createDocument(collection: "notes", data: {title: "lit", n: 2, tags: ["a", "b"]}) { `+gqlDocFields+` } }`, nil).ok(t, &auto)
	if auto.CreateDocument.ID == "" || auto.CreateDocument.Path != "notes/"+auto.CreateDocument.ID {
		t.Fatalf("auto ID document %+v", auto.CreateDocument)
	}
	sameValue(t, auto.CreateDocument.Data, json.RawMessage(`{"title":"lit","n":{"$int":"2"},"tags":["a","b"]}`))

	// document: found, and null when missing.
	var got struct{ Document *gqlDoc }
	e.gql(tok, `query($p: String!) { document(path: $p) { `+gqlDocFields+` } }`, map[string]any{"p": "notes/n1"}).ok(t, &got)
	if got.Document == nil || !got.Document.UpdateTime.Equal(d.UpdateTime) {
		t.Fatalf("document %+v, want update time %s", got.Document, d.UpdateTime)
	}
	sameValue(t, got.Document.Data, json.RawMessage(everyType))
	got.Document = nil
	e.gql(tok, `{ document(path: "notes/missing") { id } }`, nil).ok(t, &got)
	if got.Document != nil {
		t.Fatalf("missing document: got %+v, want null", got.Document)
	}

	// update merges, conditional on the current version; a stale version
	// is PRECONDITION_FAILED.
	var upd struct{ UpdateDocument gqlDoc }
	e.gql(tok, `mutation($t: Time) { updateDocument(path: "notes/n1", data: {m: {extra: "yes"}}, ifUpdateTime: $t) { `+gqlDocFields+` } }`,
		map[string]any{"t": d.UpdateTime.Format(time.RFC3339Nano)}).ok(t, &upd)
	if !upd.UpdateDocument.UpdateTime.After(d.UpdateTime) {
		t.Fatalf("update time %s not after %s", upd.UpdateDocument.UpdateTime, d.UpdateTime)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(upd.UpdateDocument.Data, &m); err != nil {
		t.Fatal(err)
	}
	sameValue(t, m["m"], json.RawMessage(`{"x":{"y":"z"},"extra":"yes"}`))
	sameValue(t, m["big"], json.RawMessage(`{"$int":"9007199254740993"}`))
	stale := d.UpdateTime.Format(time.RFC3339Nano)
	e.gql(tok, `mutation($t: Time) { updateDocument(path: "notes/n1", data: {a: 1}, ifUpdateTime: $t) { id } }`,
		map[string]any{"t": stale}).wantCode(t, 200, "PRECONDITION_FAILED")
	e.gql(tok, `mutation { updateDocument(path: "notes/nope", data: {a: 1}) { id } }`, nil).wantCode(t, 200, "NOT_FOUND")

	// set replaces; stale set is PRECONDITION_FAILED.
	var set struct{ SetDocument gqlDoc }
	e.gql(tok, `mutation($t: Time) { setDocument(path: "notes/n1", data: {only: true}, ifUpdateTime: $t) { `+gqlDocFields+` } }`,
		map[string]any{"t": upd.UpdateDocument.UpdateTime.Format(time.RFC3339Nano)}).ok(t, &set)
	sameValue(t, set.SetDocument.Data, json.RawMessage(`{"only":true}`))
	e.gql(tok, `mutation($t: Time) { setDocument(path: "notes/n1", data: {only: false}, ifUpdateTime: $t) { id } }`,
		map[string]any{"t": stale}).wantCode(t, 200, "PRECONDITION_FAILED")

	// delete: stale refused, then done, then NOT_FOUND.
	e.gql(tok, `mutation($t: Time) { deleteDocument(path: "notes/n1", ifUpdateTime: $t) }`,
		map[string]any{"t": stale}).wantCode(t, 200, "PRECONDITION_FAILED")
	var del struct{ DeleteDocument bool }
	e.gql(tok, `mutation($t: Time) { deleteDocument(path: "notes/n1", ifUpdateTime: $t) }`,
		map[string]any{"t": set.SetDocument.UpdateTime.Format(time.RFC3339Nano)}).ok(t, &del)
	if !del.DeleteDocument {
		t.Fatal("deleteDocument returned false")
	}
	e.gql(tok, `mutation { deleteDocument(path: "notes/n1") }`, nil).wantCode(t, 200, "NOT_FOUND")
	got.Document = &gqlDoc{}
	e.gql(tok, `{ document(path: "notes/n1") { id } }`, nil).ok(t, &got)
	if got.Document != nil {
		t.Fatalf("deleted document still read: %+v", got.Document)
	}

	// Bad input in arguments is INVALID, naming the problem.
	for _, tc := range []struct{ name, query string }{
		{"collection path as document", `{ document(path: "notes") { id } }`},
		{"bad time", `mutation { deleteDocument(path: "notes/x", ifUpdateTime: "yesterday") }`},
		{"data not an object", `mutation { createDocument(collection: "notes", data: "text") { id } }`},
		{"unknown operator", `{ documents(collection: "notes", where: [{field: "a", op: "~", value: 1}]) { nodes { id } } }`},
		{"first zero", `{ documents(collection: "notes", first: 0) { nodes { id } } }`},
		{"bad cursor", `{ documents(collection: "notes", after: "garbage") { nodes { id } } }`},
	} {
		r := e.gql(tok, tc.query, nil)
		if r.status != 200 || r.code() != "INVALID" || r.Errors[0].Message == "" {
			t.Errorf("%s: status %d code %q, want 200 INVALID; body %s", tc.name, r.status, r.code(), r.body)
		}
	}
}

func TestGraphQLPaginationAndAggregate(t *testing.T) {
	t.Parallel()
	e := newSrvEnv(t, gqlRules)
	_, tok := e.user(nil)
	const n = 40
	bw := e.fs.Client.BulkWriter(t.Context())
	for i := range n {
		if _, err := bw.Set(e.fs.Client.Doc(fmt.Sprintf("notes/%03d", i)), map[string]any{"rank": i % 6, "n": i, "v": 0}); err != nil {
			t.Fatal(err)
		}
	}
	bw.End()

	// Concurrent writes: new documents all over the order, and changes to
	// existing ones (not to their order fields).
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var writes atomic.Int64
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			_, _ = e.fs.Client.Doc(fmt.Sprintf("notes/%03d-new%d", i%n, i)).Set(t.Context(), map[string]any{"rank": i % 6, "n": 1000 + i, "v": 1})
			_, _ = e.fs.Client.Doc(fmt.Sprintf("notes/%03d", (i*7)%n)).Update(t.Context(), []firestore.Update{{Path: "v", Value: i}})
			writes.Add(2)
		}
	})

	const q = `query($after: String, $dir: Direction) {
	  documents(collection: "notes", orderBy: [{field: "rank", direction: $dir}], first: 6, after: $after) {
	    edges { cursor node { id path } }
	    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
	  }
	}`
	type conn struct {
		Documents struct {
			Edges []struct {
				Cursor string
				Node   gqlDoc
			}
			PageInfo struct {
				HasNextPage, HasPreviousPage bool
				StartCursor, EndCursor       *string
			}
		}
	}
	for _, dir := range []string{"ASC", "DESC"} {
		seen := map[string]int{}
		var after any
		for pages := 0; ; pages++ {
			if pages > 100 {
				t.Fatal("pagination does not end")
			}
			var c conn
			vars := map[string]any{"after": after, "dir": dir}
			if pages%2 == 1 {
				e.gqlGet(tok, q, vars).ok(t, &c) // GET works the same
			} else {
				e.gql(tok, q, vars).ok(t, &c)
			}
			pi := c.Documents.PageInfo
			if pi.HasPreviousPage != (after != nil) {
				t.Fatalf("page %d: hasPreviousPage %v", pages, pi.HasPreviousPage)
			}
			edges := c.Documents.Edges
			if len(edges) > 6 || (pi.HasNextPage && len(edges) != 6) {
				t.Fatalf("page %d: %d edges with hasNextPage %v", pages, len(edges), pi.HasNextPage)
			}
			for _, ed := range edges {
				if ed.Cursor == "" || ed.Node.Path != "notes/"+ed.Node.ID {
					t.Fatalf("edge %+v", ed)
				}
				seen[ed.Node.ID]++
			}
			if len(edges) > 0 && (pi.EndCursor == nil || *pi.EndCursor != edges[len(edges)-1].Cursor ||
				pi.StartCursor == nil || *pi.StartCursor != edges[0].Cursor) {
				t.Fatalf("page %d: start/end cursors do not match the edges", pages)
			}
			if !pi.HasNextPage {
				break
			}
			// An edge cursor in the middle resumes right after its edge.
			if pages == 1 {
				var mid conn
				e.gql(tok, q, map[string]any{"after": edges[2].Cursor, "dir": dir}).ok(t, &mid)
				if len(mid.Documents.Edges) == 0 || mid.Documents.Edges[0].Node.ID != edges[3].Node.ID {
					t.Fatalf("after the third edge's cursor: first node %+v, want %s", mid.Documents.Edges, edges[3].Node.ID)
				}
			}
			after = *pi.EndCursor
		}
		for i := range n {
			if id := fmt.Sprintf("%03d", i); seen[id] != 1 {
				t.Errorf("%s: document %s seen %d times", dir, id, seen[id])
			}
		}
		for id, c := range seen {
			if c > 1 {
				t.Errorf("%s: document %s seen %d times", dir, id, c)
			}
		}
	}
	close(stop)
	wg.Wait()
	if writes.Load() == 0 {
		t.Fatal("no concurrent write happened")
	}
	t.Logf("%d concurrent writes during the walks", writes.Load())

	// Aggregates over the original documents (the new ones have v = 1).
	var agg struct {
		Aggregate struct {
			Count    *int
			Sum, Avg []struct {
				Field  string
				Value  json.RawMessage
				Number *float64
			}
		}
	}
	r := e.gql(tok, `query($w: [FilterInput!]) { aggregate(collection: "notes", where: $w, count: true, sum: ["n"], avg: ["n"]) {
	  count sum { field value number } avg { field value number } } }`,
		map[string]any{"w": []any{map[string]any{"field": "n", "op": "<", "value": map[string]any{"$int": "1000"}}}})
	r.ok(t, &agg)
	a := agg.Aggregate
	if a.Count == nil || *a.Count != n {
		t.Fatalf("count %s, want %d", r.body, n)
	}
	if len(a.Sum) != 1 || a.Sum[0].Field != "n" || a.Sum[0].Number == nil || *a.Sum[0].Number != n*(n-1)/2 {
		t.Fatalf("sum %+v, want %d", a.Sum, n*(n-1)/2)
	}
	sameValue(t, a.Sum[0].Value, json.RawMessage(fmt.Sprintf(`{"$int":"%d"}`, n*(n-1)/2)))
	if len(a.Avg) != 1 || a.Avg[0].Number == nil || *a.Avg[0].Number != float64(n-1)/2 {
		t.Fatalf("avg %+v, want %g", a.Avg, float64(n-1)/2)
	}
	// The average of a field no document has is null.
	agg.Aggregate.Avg = nil
	e.gql(tok, `{ aggregate(collection: "notes", avg: ["none"]) { avg { field value number } } }`, nil).ok(t, &agg)
	if a := agg.Aggregate.Avg; len(a) != 1 || a[0].Field != "none" || a[0].Number != nil || (a[0].Value != nil && string(a[0].Value) != "null") {
		t.Fatalf("avg of a missing field: %+v, want null", a)
	}
}

func TestGraphQLAccessRules(t *testing.T) {
	t.Parallel()
	e := newSrvEnv(t, gqlRules)
	_, reader := e.user(nil)
	_, editor := e.user(map[string]any{"role": "editor"})
	_, admin := e.user(map[string]any{"role": "admin"})
	_, root := e.user(map[string]any{"root": true})
	for _, p := range []string{"posts/p1", "secret/s1", "other/o1"} {
		if _, err := e.fs.Client.Doc(p).Set(t.Context(), map[string]any{"t": p}); err != nil {
			t.Fatal(err)
		}
	}
	const (
		get    = `{ document(path: "posts/p1") { id } }`
		list   = `{ documents(collection: "posts") { nodes { id } } }`
		count  = `{ aggregate(collection: "posts", count: true) { count } }`
		create = `mutation { createDocument(collection: "posts", id: "p2", data: {t: "new"}) { id } }`
		update = `mutation { updateDocument(path: "posts/p2", data: {t: "upd"}) { id } }`
		set    = `mutation { setDocument(path: "posts/p2", data: {t: "set"}) { id } }`
		del    = `mutation { deleteDocument(path: "posts/p2") }`
	)
	cases := []struct {
		name, token, query, code string
	}{
		{"reader gets a post", reader, get, ""},
		{"reader lists posts", reader, list, ""},
		{"reader counts posts", reader, count, ""},
		{"reader cannot create a post", reader, create, "PERMISSION_DENIED"},
		{"editor creates a post", editor, create, ""},
		{"reader cannot update a post", reader, update, "PERMISSION_DENIED"},
		{"editor updates a post", editor, update, ""},
		{"reader cannot replace a post", reader, set, "PERMISSION_DENIED"},
		{"editor replaces a post", editor, set, ""},
		{"reader cannot delete a post", reader, del, "PERMISSION_DENIED"},
		{"editor deletes a post", editor, del, ""},
		{"reader cannot get a secret", reader, `{ document(path: "secret/s1") { id } }`, "PERMISSION_DENIED"},
		{"admin gets a secret", admin, `{ document(path: "secret/s1") { id } }`, ""},
		{"admin cannot list secrets", admin, `{ documents(collection: "secret") { nodes { id } } }`, "PERMISSION_DENIED"},
		{"no rule for other", editor, `{ document(path: "other/o1") { id } }`, "PERMISSION_DENIED"},
		{"root reads other", root, `{ document(path: "other/o1") { id } }`, ""},
		{"collection group needs a ** rule", reader, `{ documents(collection: "posts", group: true) { nodes { id } } }`, "PERMISSION_DENIED"},
		{"root queries a collection group", root, `{ documents(collection: "posts", group: true) { nodes { id } } }`, ""},
	}
	for _, tc := range cases {
		r := e.gql(tc.token, tc.query, nil)
		if tc.code == "" {
			if r.status != 200 || len(r.Errors) > 0 {
				t.Errorf("%s: want success, got %d %s", tc.name, r.status, r.body)
			}
			continue
		}
		if r.status != 200 || r.code() != tc.code {
			t.Errorf("%s: got %d code %q, want %s; body %s", tc.name, r.status, r.code(), tc.code, r.body)
		}
	}
	// One denied field does not hide the allowed one beside it.
	r := e.gql(reader, `{ ok: document(path: "posts/p1") { id } no: document(path: "secret/s1") { id } }`, nil)
	var both struct{ OK, No *gqlDoc }
	if err := json.Unmarshal(r.Data, &both); err != nil || both.OK == nil || both.OK.ID != "p1" || both.No != nil || r.code() != "PERMISSION_DENIED" {
		t.Fatalf("partial result: %s", r.body)
	}
	if p := r.Errors[0].Path; len(p) != 1 || p[0] != "no" {
		t.Fatalf("error path %v, want [no]", p)
	}
}

func TestGraphQLOwnerRule(t *testing.T) {
	t.Parallel()
	e := newSrvEnv(t, gqlRules)
	alice, aliceTok := e.user(nil)
	bob, bobTok := e.user(nil)

	mk := `mutation($id: String!, $o: String!) { createDocument(collection: "mine", id: $id, data: {owner: $o, v: 1}) { id } }`
	e.gql(aliceTok, mk, map[string]any{"id": "a1", "o": alice}).ok(t, nil)
	e.gql(aliceTok, mk, map[string]any{"id": "a2", "o": alice}).ok(t, nil)
	e.gql(bobTok, mk, map[string]any{"id": "b1", "o": bob}).ok(t, nil)
	e.gql(aliceTok, mk, map[string]any{"id": "x1", "o": bob}).wantCode(t, 200, "PERMISSION_DENIED")

	// Another user's document is answered as a missing one (no existence
	// oracle); a set over it is refused as a create at a taken ID.
	var hidden struct{ Document *gqlDoc }
	if e.gql(bobTok, `{ document(path: "mine/a1") { id } }`, nil).ok(t, &hidden); hidden.Document != nil {
		t.Fatalf("bob reads alice's document: %+v", hidden.Document)
	}
	e.gql(bobTok, `mutation { updateDocument(path: "mine/a1", data: {v: 2}) { id } }`, nil).wantCode(t, 200, "NOT_FOUND")
	e.gql(bobTok, `mutation { deleteDocument(path: "mine/a1") }`, nil).wantCode(t, 200, "NOT_FOUND")
	e.gql(bobTok, `mutation($o: String!) { setDocument(path: "mine/a1", data: {owner: $o}) { id } }`, map[string]any{"o": bob}).wantCode(t, 200, "ALREADY_EXISTS")
	e.gql(aliceTok, `mutation { updateDocument(path: "mine/a1", data: {v: 2}) { id } }`, nil).ok(t, nil)

	// Queries are narrowed to the caller's documents.
	var c struct {
		Documents struct{ Nodes []gqlDoc }
	}
	e.gql(aliceTok, `{ documents(collection: "mine") { nodes { id } } }`, nil).ok(t, &c)
	if len(c.Documents.Nodes) != 2 || c.Documents.Nodes[0].ID != "a1" || c.Documents.Nodes[1].ID != "a2" {
		t.Fatalf("alice's documents %+v, want a1 a2", c.Documents.Nodes)
	}
	e.gql(bobTok, `{ documents(collection: "mine") { nodes { id } } }`, nil).ok(t, &c)
	if len(c.Documents.Nodes) != 1 || c.Documents.Nodes[0].ID != "b1" {
		t.Fatalf("bob's documents %+v, want b1", c.Documents.Nodes)
	}
	var agg struct{ Aggregate struct{ Count int } }
	e.gql(bobTok, `{ aggregate(collection: "mine", count: true) { count } }`, nil).ok(t, &agg)
	if agg.Aggregate.Count != 1 {
		t.Fatalf("bob counts %d documents, want 1", agg.Aggregate.Count)
	}
}

// gqlWS is a GraphQL WebSocket client of either subprotocol.
type gqlWS struct {
	t     *testing.T
	c     *websocket.Conn
	proto string
}

// gqlWSMsg is a message of graphql-transport-ws or graphql-ws.
type gqlWSMsg struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// gqlDial opens /graphql over WebSocket with proto; header, when not
// empty, is the upgrade request's Authorization header.
func (e *srvEnv) gqlDial(proto, header, query string) (*gqlWS, *http.Response, error) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	opts := &websocket.DialOptions{Subprotocols: []string{proto}}
	if header != "" {
		opts.HTTPHeader = http.Header{"Authorization": {header}}
	}
	u := "ws" + strings.TrimPrefix(e.URL, "http") + "/graphql" + query
	c, resp, err := websocket.Dial(ctx, u, opts)
	if err != nil {
		return nil, resp, err
	}
	c.SetReadLimit(8 << 20)
	e.t.Cleanup(func() { c.CloseNow() })
	if got := c.Subprotocol(); got != proto {
		e.t.Fatalf("negotiated subprotocol %q, want %q", got, proto)
	}
	return &gqlWS{t: e.t, c: c, proto: proto}, resp, nil
}

func (w *gqlWS) send(m gqlWSMsg) {
	w.t.Helper()
	b, _ := json.Marshal(m)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := w.c.Write(ctx, websocket.MessageText, b); err != nil {
		w.t.Fatalf("ws write: %v", err)
	}
}

// read returns the next message, answering pings and skipping
// keep-alives; it returns the error when the connection ends.
func (w *gqlWS) read(timeout time.Duration) (*gqlWSMsg, error) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		_, b, err := w.c.Read(ctx)
		if err != nil {
			return nil, err
		}
		var m gqlWSMsg
		if err := json.Unmarshal(b, &m); err != nil {
			w.t.Fatalf("ws message %s: %v", b, err)
		}
		switch m.Type {
		case "ka", "pong":
			continue
		case "ping":
			w.send(gqlWSMsg{Type: "pong"})
			continue
		}
		return &m, nil
	}
}

// init sends connection_init with payload and returns the answer's type
// (connection_ack), or the close error.
func (w *gqlWS) init(payload map[string]any) error {
	w.t.Helper()
	m := gqlWSMsg{Type: "connection_init"}
	if payload != nil {
		m.Payload, _ = json.Marshal(payload)
	}
	w.send(m)
	for {
		a, err := w.read(10 * time.Second)
		if err != nil {
			return err
		}
		switch a.Type {
		case "connection_ack":
			return nil
		case "connection_error": // graphql-ws says why, then closes
			continue
		}
		w.t.Fatalf("answer to connection_init: %+v", a)
	}
}

// subscribe starts an operation.
func (w *gqlWS) subscribe(id, query string, vars map[string]any) {
	w.t.Helper()
	typ := "subscribe"
	if w.proto == "graphql-ws" {
		typ = "start"
	}
	p, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	w.send(gqlWSMsg{ID: id, Type: typ, Payload: p})
}

type gqlChange struct {
	ID         *string
	Type       string
	Path       *string
	Data       json.RawMessage
	UpdateTime *time.Time
	ReadTime   *time.Time
	Position   string
	Reason     *string
}

// next reads the next result of operation id: its change, or its errors
// (from an error message or a result with errors). It skips the complete
// messages of other operations.
func (w *gqlWS) next(id string, timeout time.Duration) (*gqlChange, []gqlErrorOut) {
	w.t.Helper()
	m, err := w.read(timeout)
	for err == nil && m.Type == "complete" && m.ID != id {
		m, err = w.read(timeout)
	}
	if err != nil {
		w.t.Fatalf("waiting for a change: %v", err)
	}
	if m.ID != id {
		w.t.Fatalf("message %+v for another operation than %s", m, id)
	}
	switch m.Type {
	case "next", "data":
		var r struct {
			Data   struct{ Changes *gqlChange }
			Errors []gqlErrorOut
		}
		if err := json.Unmarshal(m.Payload, &r); err != nil {
			w.t.Fatalf("payload %s: %v", m.Payload, err)
		}
		if len(r.Errors) > 0 {
			return nil, r.Errors
		}
		return r.Data.Changes, nil
	case "error":
		var errs []gqlErrorOut
		if err := json.Unmarshal(m.Payload, &errs); err != nil {
			var one gqlErrorOut // graphql-ws sends one error object
			if err := json.Unmarshal(m.Payload, &one); err != nil {
				w.t.Fatalf("error payload %s: %v", m.Payload, err)
			}
			errs = []gqlErrorOut{one}
		}
		return nil, errs
	}
	w.t.Fatalf("unexpected message %s %s", m.Type, m.Payload)
	return nil, nil
}

func errCodeOf(errs []gqlErrorOut) string {
	if len(errs) == 0 {
		return ""
	}
	c, _ := errs[0].Extensions["code"].(string)
	return c
}

// gqlEventsSent reads the GraphQL events counter from /metrics.
func (e *srvEnv) gqlEventsSent() float64 {
	e.t.Helper()
	resp := e.do("GET", "/metrics", "", nil).want(e.t, 200)
	const name = `fbadmin_serve_events_sent_total{transport="graphql"} `
	for _, line := range strings.Split(string(resp.body), "\n") {
		if v, ok := strings.CutPrefix(line, name); ok {
			var f float64
			if _, err := fmt.Sscan(v, &f); err != nil {
				e.t.Fatalf("metrics line %q: %v", line, err)
			}
			return f
		}
	}
	return 0
}

const gqlChanges = `subscription($c: String!, $resume: String) {
  changes(collection: $c, resume: $resume) { id type path data updateTime readTime position reason }
}`

func TestGraphQLSubscriptionSeesChangesInOrder(t *testing.T) {
	t.Parallel()
	e := newSrvEnv(t, gqlRules)
	_, tok := e.user(nil)
	if _, err := e.fs.Client.Doc("notes/first").Set(t.Context(), map[string]any{"v": 0}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		proto, header string
		payload       map[string]any
	}{
		{"graphql-transport-ws", "", map[string]any{"Authorization": "Bearer " + tok}},
		{"graphql-ws", "", map[string]any{"authToken": tok}},
		{"graphql-transport-ws", "Bearer " + tok, nil},
	} {
		t.Run(fmt.Sprintf("%s header=%v", tc.proto, tc.header != ""), func(t *testing.T) {
			before := e.gqlEventsSent()
			w, _, err := e.gqlDial(tc.proto, tc.header, "")
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			if err := w.init(tc.payload); err != nil {
				t.Fatalf("init: %v", err)
			}
			w.subscribe("1", gqlChanges, map[string]any{"c": "notes"})
			// The current documents come first: the stream is live.
			ev, errs := w.next("1", 15*time.Second)
			if errs != nil || ev.Type != "ADDED" || *ev.Path != "notes/first" {
				t.Fatalf("first event %+v %+v, want ADDED notes/first", ev, errs)
			}

			id := strings.ReplaceAll(tc.proto, "-", "") + fmt.Sprint(tc.header != "")
			path := "notes/" + id
			var c struct{ CreateDocument gqlDoc }
			e.gql(tok, `mutation($id: String!) { createDocument(collection: "notes", id: $id, data: {v: 1}) { `+gqlDocFields+` } }`,
				map[string]any{"id": id}).ok(t, &c)
			ev, errs = w.next("1", 10*time.Second)
			if errs != nil || ev.Type != "ADDED" || *ev.Path != path || !ev.UpdateTime.Equal(c.CreateDocument.UpdateTime) ||
				ev.ID == nil || *ev.ID == "" || ev.ReadTime == nil || ev.Position == "" {
				t.Fatalf("after create: %+v %+v", ev, errs)
			}
			sameValue(t, ev.Data, json.RawMessage(`{"v":{"$int":"1"}}`))

			e.gql(tok, `mutation($p: String!) { updateDocument(path: $p, data: {v: 2}) { id } }`, map[string]any{"p": path}).ok(t, nil)
			ev, errs = w.next("1", 10*time.Second)
			if errs != nil || ev.Type != "MODIFIED" || *ev.Path != path {
				t.Fatalf("after update: %+v %+v", ev, errs)
			}
			sameValue(t, ev.Data, json.RawMessage(`{"v":{"$int":"2"}}`))

			e.gql(tok, `mutation($p: String!) { deleteDocument(path: $p) }`, map[string]any{"p": path}).ok(t, nil)
			ev, errs = w.next("1", 10*time.Second)
			if errs != nil || ev.Type != "REMOVED" || *ev.Path != path || (ev.Data != nil && string(ev.Data) != "null") {
				t.Fatalf("after delete: %+v %+v", ev, errs)
			}
			if got := e.gqlEventsSent() - before; got < 4 {
				t.Fatalf("events counted %g, want at least 4", got)
			}

			// Stopping the operation completes it.
			stop := "complete"
			if tc.proto == "graphql-ws" {
				stop = "stop"
			}
			w.send(gqlWSMsg{ID: "1", Type: stop})
			w.c.Close(websocket.StatusNormalClosure, "")
		})
	}
}

func TestGraphQLSubscriptionResume(t *testing.T) {
	t.Parallel()
	e := newSrvEnv(t, gqlRules)
	_, tok := e.user(nil)
	w, _, err := e.gqlDial("graphql-transport-ws", "Bearer "+tok, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.init(nil); err != nil {
		t.Fatal(err)
	}
	w.subscribe("a", gqlChanges, map[string]any{"c": "notes"})
	// Wait until the stream is live: the hub only reports changes that
	// happen after the first snapshot.
	if _, err := e.fs.Client.Doc("notes/r0").Set(t.Context(), map[string]any{"v": 0}); err != nil {
		t.Fatal(err)
	}
	ev, errs := w.next("a", 15*time.Second)
	if errs != nil || ev.Type != "ADDED" {
		t.Fatalf("first event %+v %+v", ev, errs)
	}
	last := ev.Position
	w.send(gqlWSMsg{ID: "a", Type: "complete"})
	// Until the server acknowledges the end of "a", it may still send its
	// events (the write of r1 below races with the complete message).
	for {
		m, err := w.read(10 * time.Second)
		if err != nil {
			t.Fatalf("waiting for the end of a: %v", err)
		}
		if m.ID == "a" && m.Type == "complete" {
			break
		}
	}
	// Changes while away are delivered after resuming.
	if _, err := e.fs.Client.Doc("notes/r1").Set(t.Context(), map[string]any{"v": 1}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // let the (lingering) stream see it
	w.subscribe("b", gqlChanges, map[string]any{"c": "notes", "resume": last})
	ev, errs = w.next("b", 15*time.Second)
	if errs != nil || ev.Type != "ADDED" || *ev.Path != "notes/r1" {
		t.Fatalf("resumed: %+v %+v, want ADDED notes/r1 only", ev, errs)
	}
	// An unknown position is a RESYNC, then the current documents.
	w.subscribe("c", gqlChanges, map[string]any{"c": "notes", "resume": "gone.42"})
	ev, errs = w.next("c", 15*time.Second)
	if errs != nil || ev.Type != "RESYNC" || ev.ID != nil || (ev.Data != nil && string(ev.Data) != "null") || ev.Reason == nil || ev.Position != "" {
		t.Fatalf("resync: %+v %+v", ev, errs)
	}
	seen := map[string]bool{}
	for range 2 {
		ev, errs = w.next("c", 10*time.Second)
		if errs != nil || ev.Type != "ADDED" {
			t.Fatalf("after resync: %+v %+v", ev, errs)
		}
		seen[*ev.Path] = true
	}
	if !seen["notes/r0"] || !seen["notes/r1"] {
		t.Fatalf("after resync: %v, want r0 and r1", seen)
	}
}

func TestGraphQLSubscriptionAccess(t *testing.T) {
	t.Parallel()
	e := newSrvEnv(t, gqlRules)
	alice, aliceTok := e.user(nil)
	bob, bobTok := e.user(nil)
	w, _, err := e.gqlDial("graphql-transport-ws", "", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.init(map[string]any{"Authorization": "Bearer " + bobTok}); err != nil {
		t.Fatal(err)
	}

	// No rule lists secrets: the subscription is refused.
	w.subscribe("s", gqlChanges, map[string]any{"c": "secret"})
	if ev, errs := w.next("s", 10*time.Second); errCodeOf(errs) != "PERMISSION_DENIED" {
		t.Fatalf("subscription to secret: %+v %+v, want PERMISSION_DENIED", ev, errs)
	}

	// Under the owner rule, bob sees his documents only, while alice's
	// changes are filtered out event by event.
	if _, err := e.fs.Client.Doc("mine/b0").Set(t.Context(), map[string]any{"owner": bob}); err != nil {
		t.Fatal(err)
	}
	w.subscribe("m", gqlChanges, map[string]any{"c": "mine"})
	ev, errs := w.next("m", 15*time.Second)
	if errs != nil || *ev.Path != "mine/b0" {
		t.Fatalf("first event %+v %+v, want mine/b0", ev, errs)
	}
	mk := `mutation($id: String!, $o: String!) { createDocument(collection: "mine", id: $id, data: {owner: $o}) { id } }`
	e.gql(aliceTok, mk, map[string]any{"id": "a1", "o": alice}).ok(t, nil)
	e.gql(bobTok, mk, map[string]any{"id": "b1", "o": bob}).ok(t, nil)
	ev, errs = w.next("m", 10*time.Second)
	if errs != nil || ev.Type != "ADDED" || *ev.Path != "mine/b1" {
		t.Fatalf("after alice's and bob's creates: %+v %+v, want bob's only", ev, errs)
	}

	// A subscription over plain HTTP is refused.
	r := e.gql(bobTok, `subscription { changes(collection: "notes") { id } }`, nil)
	if r.code() != "INVALID" || !strings.Contains(r.Errors[0].Message, "WebSocket") {
		t.Fatalf("subscription over POST: %s", r.body)
	}
}

func TestGraphQLAuthentication(t *testing.T) {
	t.Parallel()
	e := newSrvEnv(t, gqlRules)
	uid, tok := e.user(nil)

	// HTTP: no token, a bad token.
	for _, h := range []string{"", "Bearer not.a.token", "Basic dXNlcjpwdw=="} {
		req, _ := http.NewRequest("POST", e.URL+"/graphql", strings.NewReader(`{"query":"{ document(path: \"notes/a\") { id } }"}`))
		req.Header.Set("Content-Type", "application/json")
		if h != "" {
			req.Header.Set("Authorization", h)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("Authorization %q: status %d, want 401 with a challenge", h, resp.StatusCode)
		}
	}

	// WebSocket with a bad Authorization header: the upgrade is refused.
	if _, resp, err := e.gqlDial("graphql-transport-ws", "Bearer bad.token.here", ""); err == nil || resp == nil || resp.StatusCode != 401 {
		t.Fatalf("upgrade with a bad token: %v %v, want 401", err, resp)
	}

	// connection_init without a token, with a bad one, with the token in
	// the URL only: closed with 4401, in both subprotocols.
	for _, proto := range []string{"graphql-transport-ws", "graphql-ws"} {
		for _, tc := range []struct {
			name    string
			query   string
			payload map[string]any
		}{
			{"no payload", "", nil},
			{"bad token", "", map[string]any{"Authorization": "Bearer bad.token.here"}},
			{"wrong scheme", "", map[string]any{"Authorization": "Token " + tok}},
			{"token in the URL", "?token=" + url.QueryEscape(tok) + "&access_token=" + url.QueryEscape(tok), map[string]any{}},
		} {
			w, _, err := e.gqlDial(proto, "", tc.query)
			if err != nil {
				t.Fatalf("%s %s: dial: %v", proto, tc.name, err)
			}
			err = w.init(tc.payload)
			if got := websocket.CloseStatus(err); got != 4401 {
				t.Errorf("%s %s: init answered %v (close status %d), want close 4401", proto, tc.name, err, got)
			}
		}
	}

	// A valid token in a nested headers object (graphql_flutter's style).
	w, _, err := e.gqlDial("graphql-transport-ws", "", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.init(map[string]any{"headers": map[string]any{"Authorization": "Bearer " + tok}}); err != nil {
		t.Fatalf("init with headers: %v", err)
	}
	w.subscribe("q", `{ document(path: "notes/none") { id } }`, nil)
	m, err := w.read(10 * time.Second)
	if err != nil || m.Type != "next" || !strings.Contains(string(m.Payload), `"document":null`) {
		t.Fatalf("query over WebSocket: %+v %v", m, err)
	}
	// The request log names the user, never the token.
	w.c.Close(websocket.StatusNormalClosure, "")
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(e.logs.String(), "uid="+uid) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if logs := e.logs.String(); !strings.Contains(logs, "uid="+uid) || strings.Contains(logs, tok) {
		t.Fatalf("request log: want uid=%s and no token:\n%s", uid, logs)
	}
}

func TestGraphQLBadRequests(t *testing.T) {
	t.Parallel()
	e := newSrvEnv(t, gqlRules, func(c *Config) { c.Limits.MaxBody = 4096 })
	_, tok := e.user(nil)
	for _, tc := range []struct {
		name   string
		body   string
		status int
	}{
		{"syntax error", `{"query":"{ document(path: "}`, 400},
		{"unterminated", `{"query":"query { documents(collection: \"notes\") { nodes { id }"}`, 400},
		{"unknown field", `{"query":"{ nothing }"}`, 400},
		{"missing argument", `{"query":"{ document { id } }"}`, 400},
		{"wrong variable type", `{"query":"query($p: String!) { document(path: $p) { id } }","variables":{"p":{"a":1}}}`, 400},
		{"missing variable", `{"query":"query($p: String!) { document(path: $p) { id } }"}`, 400},
		{"empty query", `{"query":""}`, 400},
		{"malformed JSON", `{"query": `, 400},
		{"unknown operation name", `{"query":"query A { document(path: \"n/a\") { id } }","operationName":"B"}`, 400},
		{"bad enum", `{"query":"{ documents(collection: \"notes\", orderBy: [{field: \"a\", direction: UP}]) { nodes { id } } }"}`, 400},
		{"deep nonsense", `{"query":"` + strings.Repeat("{", 500) + `"}`, 400},
	} {
		resp := e.do("POST", "/graphql", tok, tc.body)
		if resp.StatusCode != tc.status {
			t.Errorf("%s: status %d, want %d; body %s", tc.name, resp.StatusCode, tc.status, resp.body)
			continue
		}
		r := parseGQL(t, resp)
		if len(r.Errors) == 0 || r.Errors[0].Message == "" {
			t.Errorf("%s: no error message in %s", tc.name, resp.body)
		}
	}

	// Oversized body: 413.
	big := `{"query":"mutation($d: JSON!) { createDocument(collection: \"notes\", data: $d) { id } }","variables":{"d":{"x":"` + strings.Repeat("a", 5000) + `"}}}`
	if resp := e.do("POST", "/graphql", tok, big); resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized body: status %d, want 413; body %s", resp.StatusCode, resp.body)
	}

	// GET cannot mutate; other methods are refused.
	q := url.Values{"query": {`mutation { deleteDocument(path: "notes/a") }`}}
	if resp := e.do("GET", "/graphql?"+q.Encode(), tok, nil); resp.StatusCode < 400 || !strings.Contains(string(resp.body), "errors") {
		t.Fatalf("mutation over GET: %d %s", resp.StatusCode, resp.body)
	}
	if resp := e.do("PUT", "/graphql", tok, `{}`); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("PUT: status %d, want 405", resp.StatusCode)
	}

	// The server still answers after all that.
	e.gql(tok, `{ document(path: "notes/none") { id } }`, nil).ok(t, nil)
	if strings.Contains(e.logs.String(), "panic") {
		t.Fatalf("a panic was logged:\n%s", e.logs.String())
	}
}

func TestGraphQLComplexityAndIntrospection(t *testing.T) {
	t.Parallel()
	e := newSrvEnv(t, gqlRules)
	_, tok := e.user(nil)
	const intro = `{ __schema { queryType { name } subscriptionType { name } } }`
	var s struct {
		Schema struct {
			QueryType, SubscriptionType struct{ Name string }
		} `json:"__schema"`
	}
	e.gql(tok, intro, nil).ok(t, &s)
	if s.Schema.QueryType.Name != "Query" || s.Schema.SubscriptionType.Name != "Subscription" {
		t.Fatalf("introspection in emulator mode: %+v", s)
	}

	off := newSrvEnv(t, gqlRules, func(c *Config) { c.GraphQL.Introspection = "off"; c.GraphQL.ComplexityLimit = 25 })
	_, offTok := off.user(nil)
	r := off.gql(offTok, intro, nil)
	if len(r.Errors) == 0 || !strings.Contains(strings.ToLower(r.Errors[0].Message), "introspection") {
		t.Fatalf("introspection off: %s", r.body)
	}
	// Within the limit, then over it (aliases multiply the root fields).
	off.gql(offTok, `{ document(path: "notes/a") { id } }`, nil).ok(t, nil)
	r = off.gql(offTok, `{ a: document(path: "notes/a") { id } b: document(path: "notes/b") { id } c: document(path: "notes/c") { id } }`, nil)
	if r.status != 400 || r.code() != "COMPLEXITY_LIMIT_EXCEEDED" {
		t.Fatalf("over the complexity limit: %d %s", r.status, r.body)
	}
}

func TestGraphQLShutdownEndsSubscriptions(t *testing.T) {
	t.Parallel()
	e := newSrvEnv(t, gqlRules)
	_, tok := e.user(nil)
	if _, err := e.fs.Client.Doc("notes/x").Set(t.Context(), map[string]any{"v": 0}); err != nil {
		t.Fatal(err)
	}
	w, _, err := e.gqlDial("graphql-transport-ws", "", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.init(map[string]any{"Authorization": "Bearer " + tok}); err != nil {
		t.Fatal(err)
	}
	w.subscribe("1", gqlChanges, map[string]any{"c": "notes"})
	if ev, errs := w.next("1", 15*time.Second); errs != nil || ev.Type != "ADDED" {
		t.Fatalf("first event %+v %+v", ev, errs)
	}
	e.srv.Close()
	ev, errs := w.next("1", 10*time.Second)
	if errCodeOf(errs) != "UNAVAILABLE" || !strings.Contains(errs[0].Message, "shutting down") {
		t.Fatalf("at shutdown: %+v %+v, want an UNAVAILABLE error", ev, errs)
	}
	_, err = w.read(10 * time.Second)
	if got := websocket.CloseStatus(err); got != websocket.StatusGoingAway {
		t.Fatalf("connection ended with %v (status %d), want going away", err, got)
	}
	// New connections are refused while shutting down.
	if _, resp, err := e.gqlDial("graphql-transport-ws", "", ""); err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("dial after shutdown: %v, want 503", err)
	}
}

func TestGraphQLRateLimit(t *testing.T) {
	t.Parallel()
	e := newSrvEnv(t, gqlRules, func(c *Config) { c.Limits.Rate = 0.2; c.Limits.Burst = 3 })
	_, tok := e.user(nil)
	const q = `{ document(path: "notes/a") { id } }`

	// The WebSocket connection takes one token, each operation one more.
	w, _, err := e.gqlDial("graphql-transport-ws", "", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.init(map[string]any{"authToken": tok}); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"", "", "RATE_LIMITED"} {
		id := fmt.Sprint(i)
		w.subscribe(id, q, nil)
		if _, errs := w.next(id, 10*time.Second); errCodeOf(errs) != want {
			t.Fatalf("operation %d: errors %+v, want code %q", i, errs, want)
		}
	}
	// HTTP requests of the same user: 429 with Retry-After.
	resp := e.do("POST", "/graphql", tok, map[string]any{"query": q})
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("HTTP over the rate: %d %s", resp.StatusCode, resp.body)
	}
	// A new WebSocket of that user is refused at init.
	w2, _, err := e.gqlDial("graphql-transport-ws", "", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := w2.init(map[string]any{"authToken": tok}); websocket.CloseStatus(err) != 4429 {
		t.Fatalf("init over the rate: %v, want close 4429", err)
	}
	// Another user is not affected.
	_, other := e.user(nil)
	e.gql(other, q, nil).ok(t, nil)
}

func TestGraphQLPanicIsInternalError(t *testing.T) {
	t.Parallel()
	e := newSrvEnv(t, gqlRules)
	_, tok := e.user(nil)
	e.gql(tok, `{ document(path: "notes/a") { id } }`, nil).ok(t, nil)
	w, _, err := e.gqlDial("graphql-transport-ws", "", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.init(map[string]any{"authToken": tok}); err != nil {
		t.Fatal(err)
	}

	// Break the data layer: every resolver that touches it panics.
	store, hub := e.srv.store, e.srv.hub
	e.srv.store, e.srv.hub = nil, nil
	t.Cleanup(func() { e.srv.store, e.srv.hub = store, hub })

	r := e.gql(tok, `{ document(path: "notes/a") { id } }`, nil)
	r.wantCode(t, 200, "INTERNAL")
	if msg := r.Errors[0].Message; strings.Contains(msg, "nil") || strings.Contains(msg, "panic") || strings.Contains(msg, ".go") {
		t.Fatalf("the INTERNAL error shows details: %q", msg)
	}
	e.gql(tok, `mutation { deleteDocument(path: "notes/a") }`, nil).wantCode(t, 200, "INTERNAL")
	w.subscribe("s", gqlChanges, map[string]any{"c": "notes"})
	if ev, errs := w.next("s", 10*time.Second); errCodeOf(errs) != "INTERNAL" {
		t.Fatalf("subscription with a broken hub: %+v %+v, want INTERNAL", ev, errs)
	}
	if !strings.Contains(e.logs.String(), "panicked") {
		t.Fatalf("the panic was not logged:\n%s", e.logs.String())
	}

	// Repaired, the same server and connection go on.
	e.srv.store, e.srv.hub = store, hub
	e.gql(tok, `{ document(path: "notes/a") { id } }`, nil).ok(t, nil)
	w.subscribe("q", `{ document(path: "notes/a") { id } }`, nil)
	if _, errs := w.next("q", 10*time.Second); errs != nil {
		t.Fatalf("after the panics: %+v", errs)
	}
}
