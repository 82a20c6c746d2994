package server

import (
	"cloud.google.com/go/firestore"

	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fbadmin/fbadmin/internal/value"
)

const openRules = `
rules:
  - match: "**"
    allow: [all]
`

// everyType is a document holding every type of the value format.
const everyType = `{"big":{"$int":"9007199254740993"},"pi":3.25,"nan":{"$double":"NaN"},"b":{"$bytes":"AAEC/w=="},
"t":{"$timestamp":"2026-11-25T10:00:00.123456Z"},"g":{"$geopoint":{"latitude":48.85,"longitude":2.35}},"s":"héllo","n":null,"ok":true,
"arr":[1,"x",{"$int":"-5"}],"m":{"x":{"y":"z"}},"v":{"$vector":[1,2.5]}}`

func sameValue(t *testing.T, got, want json.RawMessage) {
	t.Helper()
	g, err := value.Decode(got)
	if err != nil {
		t.Fatalf("decode %s: %v", got, err)
	}
	w, err := value.Decode(want)
	if err != nil {
		t.Fatalf("decode %s: %v", want, err)
	}
	if !value.Equal(g, w) {
		t.Fatalf("data %s, want %s", got, want)
	}
}

func TestRESTDocumentLifecycle(t *testing.T) {
	t.Parallel()
	e := newSrvEnv(t, openRules)
	_, tok := e.user(nil)

	r := e.do("POST", "/v1/docs/items?id=a", tok, everyType).want(t, http.StatusCreated)
	var d Document
	r.json(t, &d)
	if d.Path != "items/a" || d.ID != "a" || r.Header.Get("ETag") != etag(d.UpdateTime) || r.Header.Get("Location") != "/v1/docs/items/a" {
		t.Fatalf("created %+v, headers %v", d, r.Header)
	}
	sameValue(t, d.Data, json.RawMessage(everyType))

	// Create of an existing document is 409, with PUT If-None-Match too.
	code, _ := e.do("POST", "/v1/docs/items?id=a", tok, `{}`).want(t, http.StatusConflict).errCode(t)
	if code != "already_exists" {
		t.Fatalf("code %q", code)
	}
	e.do("PUT", "/v1/docs/items/a", tok, `{}`, "If-None-Match", "*").want(t, http.StatusConflict)

	// Automatic ID.
	var auto Document
	e.do("POST", "/v1/docs/items", tok, `{"x":1}`).want(t, http.StatusCreated).json(t, &auto)
	if !strings.HasPrefix(auto.Path, "items/") || len(auto.ID) != 20 {
		t.Fatalf("auto ID document %+v", auto)
	}

	// Get: lossless data, ETag, 304.
	r = e.do("GET", "/v1/docs/items/a", tok, nil).want(t, http.StatusOK)
	var got Document
	r.json(t, &got)
	sameValue(t, got.Data, json.RawMessage(everyType))
	tag := r.Header.Get("ETag")
	e.do("GET", "/v1/docs/items/a", tok, nil, "If-None-Match", tag).want(t, http.StatusNotModified)
	code, _ = e.do("GET", "/v1/docs/items/missing", tok, nil).want(t, http.StatusNotFound).errCode(t)
	if code != "not_found" {
		t.Fatalf("code %q", code)
	}

	// Update merges nested maps; conditional on the ETag.
	r = e.do("PATCH", "/v1/docs/items/a", tok, `{"m":{"x":{"w":1}},"s":"new"}`, "If-Match", tag).want(t, http.StatusOK)
	var upd Document
	r.json(t, &upd)
	var m map[string]json.RawMessage
	if err := json.Unmarshal(upd.Data, &m); err != nil {
		t.Fatal(err)
	}
	sameValue(t, m["m"], json.RawMessage(`{"x":{"y":"z","w":{"$int":"1"}}}`))
	sameValue(t, m["s"], json.RawMessage(`"new"`))
	sameValue(t, m["big"], json.RawMessage(`{"$int":"9007199254740993"}`))
	// The old ETag is now stale: 412 for update, set and delete.
	for _, method := range []string{"PATCH", "PUT", "DELETE"} {
		code, _ := e.do(method, "/v1/docs/items/a", tok, `{"s":"x"}`, "If-Match", tag).want(t, http.StatusPreconditionFailed).errCode(t)
		if code != "precondition_failed" {
			t.Fatalf("%s stale: code %q", method, code)
		}
	}
	e.do("PATCH", "/v1/docs/items/missing", tok, `{"s":"x"}`).want(t, http.StatusNotFound)

	// Set replaces.
	r = e.do("PUT", "/v1/docs/items/a", tok, `{"only":"this"}`, "If-Match", r.Header.Get("ETag")).want(t, http.StatusOK)
	r.json(t, &got)
	sameValue(t, got.Data, json.RawMessage(`{"only":"this"}`))
	// A PUT that creates is 201 with Location (RFC 9110), one that replaces 200.
	if r := e.do("PUT", "/v1/docs/items/new", tok, `{"k":1}`).want(t, http.StatusCreated); r.Header.Get("Location") != "/v1/docs/items/new" {
		t.Fatalf("PUT that creates: Location %q", r.Header.Get("Location"))
	}
	e.do("PUT", "/v1/docs/items/new", tok, `{"k":2}`).want(t, http.StatusOK)

	// Delete: conditional, then 404.
	e.do("DELETE", "/v1/docs/items/a", tok, nil, "If-Match", r.Header.Get("ETag")).want(t, http.StatusNoContent)
	e.do("DELETE", "/v1/docs/items/a", tok, nil).want(t, http.StatusNotFound)
	e.do("GET", "/v1/docs/items/a", tok, nil).want(t, http.StatusNotFound)
}

func TestRESTBadInput(t *testing.T) {
	t.Parallel()
	e := newSrvEnv(t, openRules, func(c *Config) { c.Limits.MaxBody = 1024 })
	_, tok := e.user(nil)
	e.do("PUT", "/v1/docs/items/x", tok, `{"a":1}`).want(t, http.StatusCreated)
	cases := []struct {
		name, method, path, body string
		headers                  []string
		status                   int
		field                    string
	}{
		{"malformed JSON", "POST", "/v1/docs/items", `{"a":`, nil, 400, "body"},
		{"not an object", "POST", "/v1/docs/items", `[1,2]`, nil, 400, ""},
		{"empty body", "PUT", "/v1/docs/items/x", ``, nil, 400, "body"},
		{"bad typed value", "PUT", "/v1/docs/items/x", `{"a":{"$int":"1.5"}}`, nil, 400, ""},
		{"oversized body", "PUT", "/v1/docs/items/x", `{"a":"` + strings.Repeat("x", 2000) + `"}`, nil, 413, "body"},
		{"create on a document path", "POST", "/v1/docs/items/x", `{}`, nil, 400, ""},
		{"set on a collection path", "PUT", "/v1/docs/items", `{}`, nil, 400, ""},
		{"reserved ID", "GET", "/v1/docs/items/__x__", ``, nil, 400, ""},
		{"bad If-Match", "PATCH", "/v1/docs/items/x", `{"a":2}`, []string{"If-Match", `"yesterday"`}, 400, "If-Match"},
		{"bad page size", "GET", "/v1/docs/items?page_size=abc", ``, nil, 400, "page_size"},
		{"bad page token", "GET", "/v1/docs/items?page_token=zzz", ``, nil, 400, ""},
		{"unknown query field", "POST", "/v1/query", `{"collection":"items","limt":3}`, nil, 400, "limt"},
		{"wrong query field type", "POST", "/v1/query", `{"collection":"items","limit":"3"}`, nil, 400, "limit"},
		{"missing collection", "POST", "/v1/query", `{}`, nil, 400, "collection"},
		{"unknown operator", "POST", "/v1/query", `{"collection":"items","where":[{"field":"a","op":"~","value":1}]}`, nil, 400, ""},
		{"in without array", "POST", "/v1/query", `{"collection":"items","where":[{"field":"a","op":"in","value":1}]}`, nil, 400, ""},
		{"bad direction", "POST", "/v1/query", `{"collection":"items","order_by":[{"field":"a","direction":"up"}]}`, nil, 400, ""},
		{"nothing to aggregate", "POST", "/v1/aggregate", `{"collection":"items"}`, nil, 400, ""},
		{"unknown route", "GET", "/v1/nope", ``, nil, 404, ""},
		{"watch without upgrade", "GET", "/v1/watch", ``, nil, 400, ""},
	}
	for _, c := range cases {
		var body any
		if c.body != "" {
			body = c.body
		}
		r := e.do(c.method, c.path, tok, body, c.headers...)
		if r.StatusCode != c.status {
			t.Errorf("%s: status %d, want %d (%s)", c.name, r.StatusCode, c.status, r.body)
			continue
		}
		if _, field := r.errCode(t); c.field != "" && field != c.field {
			t.Errorf("%s: field %q, want %q (%s)", c.name, field, c.field, r.body)
		}
	}
	// Nothing was written by the refused requests.
	var d Document
	e.do("GET", "/v1/docs/items/x", tok, nil).want(t, 200).json(t, &d)
	sameValue(t, d.Data, json.RawMessage(`{"a":1}`))

	// Tokens: missing, malformed, tampered; never echoed.
	for name, h := range map[string]string{"missing": "", "malformed": "Bearer abc", "not bearer": "Basic abc", "tampered": "Bearer " + tok[:len(tok)-4] + "AAAA"} {
		var headers []string
		if h != "" {
			headers = []string{"Authorization", h}
		}
		r := e.do("GET", "/v1/docs/items/x", "", nil, headers...)
		if r.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s token: status %d (%s)", name, r.StatusCode, r.body)
		}
		if h != "" && strings.Contains(string(r.body), strings.TrimPrefix(h, "Bearer ")) {
			t.Errorf("%s token: the answer echoes the token", name)
		}
	}
	if strings.Contains(e.logs.String(), tok) {
		t.Error("the request log holds a token")
	}
}

func TestRESTQueryAndAggregate(t *testing.T) {
	t.Parallel()
	e := newSrvEnv(t, openRules)
	_, tok := e.user(nil)
	for i := range 10 {
		body := fmt.Sprintf(`{"n":%d,"tag":%q,"tags":[%q,"all"],"score":%g}`, i, []string{"even", "odd"}[i%2], fmt.Sprint(i), float64(i)/2+0.25)
		e.do("POST", fmt.Sprintf("/v1/docs/q?id=d%d", i), tok, body).want(t, 201)
	}
	ids := func(p Page) []string {
		var out []string
		for _, d := range p.Documents {
			out = append(out, d.ID)
		}
		return out
	}
	cases := []struct {
		where string
		want  []string
	}{
		{`{"field":"n","op":"==","value":3}`, []string{"d3"}},
		{`{"field":"n","op":"!=","value":3}`, []string{"d0", "d1", "d2", "d4", "d5", "d6", "d7", "d8", "d9"}},
		{`{"field":"n","op":"<","value":2}`, []string{"d0", "d1"}},
		{`{"field":"n","op":"<=","value":1}`, []string{"d0", "d1"}},
		{`{"field":"n","op":">","value":8}`, []string{"d9"}},
		{`{"field":"n","op":">=","value":8}`, []string{"d8", "d9"}},
		{`{"field":"n","op":"in","value":[1,4]}`, []string{"d1", "d4"}},
		{`{"field":"n","op":"not-in","value":[0,1,2,3,4,5,6,7]}`, []string{"d8", "d9"}},
		{`{"field":"tags","op":"array-contains","value":"7"}`, []string{"d7"}},
		{`{"field":"tags","op":"array-contains-any","value":["2","5"]}`, []string{"d2", "d5"}},
	}
	for _, c := range cases {
		var p Page
		e.do("POST", "/v1/query", tok, `{"collection":"q","where":[`+c.where+`]}`).want(t, 200).json(t, &p)
		got := ids(p)
		slices.Sort(got)
		if !slices.Equal(got, c.want) {
			t.Errorf("where %s: %v, want %v", c.where, got, c.want)
		}
	}
	// OR, order, limit, select.
	var p Page
	e.do("POST", "/v1/query", tok, `{"collection":"q","where":[{"field":"tag","op":"==","value":"odd"}],
		"or":[{"field":"n","op":"==","value":1},{"field":"n","op":"==","value":9}],
		"order_by":[{"field":"n","direction":"desc"}],"limit":5,"select":["n"]}`).want(t, 200).json(t, &p)
	if got := ids(p); !slices.Equal(got, []string{"d9", "d1"}) {
		t.Fatalf("or/order: %v", got)
	}
	sameValue(t, p.Documents[0].Data, json.RawMessage(`{"n":{"$int":"9"}}`))

	var a Aggregates
	e.do("POST", "/v1/aggregate", tok, `{"collection":"q","where":[{"field":"tag","op":"==","value":"even"}],"count":true,"sum":["n","score"],"avg":["n"]}`).want(t, 200).json(t, &a)
	sameValue(t, a.Count, json.RawMessage(`{"$int":"5"}`))
	sameValue(t, a.Sum["n"], json.RawMessage(`{"$int":"20"}`))
	sameValue(t, a.Sum["score"], json.RawMessage(`{"$double":11.25}`))
	sameValue(t, a.Avg["n"], json.RawMessage(`{"$double":4}`))
	var none Aggregates
	e.do("POST", "/v1/aggregate", tok, `{"collection":"q","avg":["missing"]}`).want(t, 200).json(t, &none)
	sameValue(t, none.Avg["missing"], json.RawMessage(`null`))
}

// TestRESTPaginationUnderWrites pages through a collection while other
// documents are added and changed: every document that existed for the
// whole walk is seen exactly once.
func TestRESTPaginationUnderWrites(t *testing.T) {
	t.Parallel()
	e := newSrvEnv(t, openRules)
	_, tok := e.user(nil)
	const n = 120
	bw := e.fs.Client.BulkWriter(t.Context())
	for i := range n {
		if _, err := bw.Set(e.fs.Client.Doc(fmt.Sprintf("p/%03d", i)), map[string]any{"rank": i % 7, "v": 0}); err != nil {
			t.Fatal(err)
		}
	}
	bw.End()

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var writes atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			// New documents everywhere in the order, and changes to the
			// existing ones (not to their order fields).
			_, _ = e.fs.Client.Doc(fmt.Sprintf("p/%03d-new%d", i%n, i)).Set(t.Context(), map[string]any{"rank": i % 7, "v": 1})
			_, _ = e.fs.Client.Doc(fmt.Sprintf("p/%03d", (i*13)%n)).Update(t.Context(), []firestore.Update{{Path: "v", Value: i}})
			writes.Add(2)
		}
	}()

	for _, order := range []string{"", "&order_by=rank:desc"} {
		seen := map[string]int{}
		token := ""
		for pages := 0; ; pages++ {
			if pages > 200 {
				t.Fatal("pagination does not end")
			}
			var p Page
			path := "/v1/docs/p?page_size=7" + order
			if token != "" {
				path += "&page_token=" + token
			}
			e.do("GET", path, tok, nil).want(t, 200).json(t, &p)
			if p.HasNextPage != (p.NextPageToken != "") {
				t.Fatalf("has_next_page %v with token %q", p.HasNextPage, p.NextPageToken)
			}
			for _, d := range p.Documents {
				seen[d.ID]++
			}
			if !p.HasNextPage {
				break
			}
			token = p.NextPageToken
		}
		for i := range n {
			id := fmt.Sprintf("%03d", i)
			if seen[id] != 1 {
				t.Errorf("order %q: document %s seen %d times", order, id, seen[id])
			}
		}
		for id, c := range seen {
			if c > 1 {
				t.Errorf("order %q: document %s seen %d times", order, id, c)
			}
		}
	}
	close(stop)
	wg.Wait()
	if writes.Load() == 0 {
		t.Fatal("no concurrent write happened")
	}
	t.Logf("%d concurrent writes during the walks", writes.Load())
}

func TestRESTRateLimit(t *testing.T) {
	t.Parallel()
	e := newSrvEnv(t, openRules, func(c *Config) { c.Limits.Rate = 0.5; c.Limits.Burst = 2 })
	_, tok := e.user(nil)
	_, other := e.user(nil)
	e.do("GET", "/v1/docs/x/1", tok, nil).want(t, 404)
	e.do("GET", "/v1/docs/x/1", tok, nil).want(t, 404)
	r := e.do("GET", "/v1/docs/x/1", tok, nil).want(t, http.StatusTooManyRequests)
	if ra := r.Header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Fatalf("Retry-After %q", ra)
	}
	// Another user has a bucket of its own.
	e.do("GET", "/v1/docs/x/1", other, nil).want(t, 404)
}

func TestRESTOperations(t *testing.T) {
	t.Parallel()
	e := newSrvEnv(t, openRules, func(c *Config) {
		c.HTTP.CORS.AllowedOrigins = []string{"https://app.example.com"}
	})
	_, tok := e.user(nil)
	e.do("GET", "/healthz", "", nil).want(t, 200)
	e.do("GET", "/readyz", "", nil).want(t, 200)
	e.do("GET", "/v1/docs/x/1", tok, nil).want(t, 404)
	m := e.do("GET", "/metrics", "", nil).want(t, 200)
	if !strings.Contains(string(m.body), `fbadmin_serve_requests_total{method="GET",route="/v1/docs",status="4xx"} 1`) {
		t.Fatalf("metrics lack the request: %s", m.body)
	}
	// CORS preflight for an allowed origin, none for another.
	r := e.do("OPTIONS", "/v1/docs/x/1", "", nil, "Origin", "https://app.example.com", "Access-Control-Request-Method", "PUT")
	if r.StatusCode != 204 || r.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" ||
		!strings.Contains(r.Header.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Fatalf("preflight: %d %v", r.StatusCode, r.Header)
	}
	r = e.do("OPTIONS", "/v1/docs/x/1", "", nil, "Origin", "https://evil.example.com", "Access-Control-Request-Method", "PUT")
	if r.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatal("CORS allowed an unlisted origin")
	}
	// The request log has method, route, status, latency and user, not the path.
	logs := e.logs.String()
	if !strings.Contains(logs, "route=/v1/docs status=404") || !strings.Contains(logs, "uid=srv") || strings.Contains(logs, "/v1/docs/x/1") {
		t.Fatalf("request log:\n%s", logs)
	}
}

func TestDocumentJSONMatchesMarshal(t *testing.T) {
	t.Parallel()
	for _, id := range []string{"plain", `q"uote`, `back\slash`, "tab\there", "héllo", "<html>&", "\u2028"} {
		d := Document{ID: id, Path: "c/" + id, Data: json.RawMessage(`{"a":{"$int":"1"}}`),
			CreateTime: time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC), UpdateTime: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
		want, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		got := d.appendJSON(nil)
		var a, b any
		if err := json.Unmarshal(got, &a); err != nil {
			t.Fatalf("%q: %s: %v", id, got, err)
		}
		_ = json.Unmarshal(want, &b)
		if fmt.Sprint(a) != fmt.Sprint(b) {
			t.Fatalf("%q: %s, want %s", id, got, want)
		}
	}
}
