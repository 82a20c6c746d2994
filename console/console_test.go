package console_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"log/slog"
	"math"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/fbadmin/fbadmin/auth"
	"github.com/fbadmin/fbadmin/console"
	"github.com/fbadmin/fbadmin/internal/emutest"
	"github.com/fbadmin/fbadmin/internal/transfer"
	"github.com/fbadmin/fbadmin/repository"
)

const testToken = "console-test-token-0123456789"

// syncBuffer is a log sink the server writes from many goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// env is one test's console over its own emulator project.
type env struct {
	t    *testing.T
	fs   *emutest.Firestore
	auth *auth.Client
	srv  *console.Server
	ts   *httptest.Server
	c    *http.Client
	csrf string
	logs *syncBuffer
}

func newEnv(t *testing.T, withAuth bool) *env {
	t.Helper()
	fs := emutest.NewFirestore(t)
	ctx := t.Context()
	db, err := transfer.Open(ctx, transfer.Config{Project: fs.ProjectID, EmulatorHost: fs.Host})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e := &env{t: t, fs: fs, logs: &syncBuffer{}}
	cfg := console.Config{Firestore: fs.Client, DB: db, Token: testToken,
		Logger: slog.New(slog.NewTextHandler(e.logs, nil))}
	if withAuth {
		a := emutest.NewAuthProject(t)
		ac, err := auth.New(ctx, auth.Config{ProjectID: a.ProjectID, EmulatorHost: a.Host})
		if err != nil {
			t.Fatal(err)
		}
		e.auth, cfg.Auth = ac, ac
	}
	srv, err := console.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	e.ts = httptest.NewServer(srv.Handler())
	t.Cleanup(func() { e.ts.Close(); srv.Close() })
	jar, _ := cookiejar.New(nil)
	e.c = &http.Client{Jar: jar, Timeout: time.Minute,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return e
}

// login exchanges the token for the session cookie and reads the CSRF
// token.
func (e *env) login() {
	e.t.Helper()
	res, _ := e.do("GET", "/login?token="+testToken, nil, "")
	if res.StatusCode != http.StatusSeeOther {
		e.t.Fatalf("login: got %d, want 303", res.StatusCode)
	}
	res, body := e.do("GET", "/api/session", nil, "")
	if res.StatusCode != 200 {
		e.t.Fatalf("session: got %d: %s", res.StatusCode, body)
	}
	var s struct{ CSRF string }
	if err := json.Unmarshal([]byte(body), &s); err != nil || s.CSRF == "" {
		e.t.Fatalf("session: %q: %v", body, err)
	}
	e.csrf = s.CSRF
}

func (e *env) do(method, path string, body io.Reader, ctype string) (*http.Response, string) {
	e.t.Helper()
	req, err := http.NewRequestWithContext(e.t.Context(), method, e.ts.URL+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	res, err := e.c.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

func (e *env) get(path string) (*http.Response, string) { return e.do("GET", path, nil, "") }

// post sends a form with the session's CSRF token.
func (e *env) post(path string, form url.Values) (*http.Response, string) {
	f := url.Values{"_csrf": {e.csrf}}
	for k, v := range form {
		f[k] = v
	}
	return e.do("POST", path, strings.NewReader(f.Encode()), "application/x-www-form-urlencoded")
}

func (e *env) set(path string, data map[string]any) *firestore.WriteResult {
	e.t.Helper()
	wr, err := e.fs.Client.Doc(path).Set(e.t.Context(), data)
	if err != nil {
		e.t.Fatal(err)
	}
	return wr
}

func (e *env) exists(path string) bool {
	e.t.Helper()
	snap, err := e.fs.Client.Doc(path).Get(e.t.Context())
	if err != nil && !snap.Exists() && !strings.Contains(err.Error(), "NotFound") {
		e.t.Fatal(err)
	}
	return snap.Exists()
}

var (
	rowRe    = regexp.MustCompile(`data-testid="doc-row" data-path="([^"]+)"`)
	nextRe   = regexp.MustCompile(`href="([^"]+)" data-testid="page-next"`)
	updateRe = regexp.MustCompile(`name="update_time" value="([^"]*)"`)
)

func rows(body string) []string {
	var out []string
	for _, m := range rowRe.FindAllStringSubmatch(body, -1) {
		out = append(out, html.UnescapeString(m[1]))
	}
	return out
}

func TestAccessTokenRequired(t *testing.T) {
	e := newEnv(t, false)
	e.set("users/alice", map[string]any{"name": "Alice"})

	// No session: pages go to the login page, the API and writes are 401.
	res, _ := e.get("/c/users")
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/login") {
		t.Fatalf("GET /c/users without a session: got %d to %q, want 303 to /login", res.StatusCode, res.Header.Get("Location"))
	}
	if res, _ := e.get("/api/count/c/users"); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("API without a session: got %d, want 401", res.StatusCode)
	}
	if res, _ := e.post("/d/users/alice", url.Values{"f.0.name": {"x"}, "f.0.type": {"string"}, "f.0.value": {"y"}}); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("POST without a session: got %d, want 401", res.StatusCode)
	}

	// A wrong token is refused, with the login page and a message.
	res, body := e.get("/login?token=wrong-token")
	if res.StatusCode != http.StatusUnauthorized || !strings.Contains(body, `data-testid="login-error"`) {
		t.Fatalf("wrong token: got %d, want 401 with login-error", res.StatusCode)
	}
	if len(e.c.Jar.Cookies(mustURL(t, e.ts.URL))) != 0 {
		t.Fatal("a wrong token set a cookie")
	}

	// The right one: a strict cookie and a redirect to a URL without it.
	res, _ = e.get("/login?token=" + testToken + "&next=%2Fc%2Fusers")
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/c/users" {
		t.Fatalf("login: got %d to %q, want 303 to /c/users", res.StatusCode, res.Header.Get("Location"))
	}
	ck := res.Cookies()
	if len(ck) != 1 || ck[0].Name != console.CookieName || !ck[0].HttpOnly || ck[0].SameSite != http.SameSiteStrictMode {
		t.Fatalf("session cookie: got %+v, want one HttpOnly SameSite=Strict %s cookie", ck, console.CookieName)
	}
	// An open redirect is not possible through next.
	res, _ = e.get("/login?token=" + testToken + "&next=%2F%2Fevil.example%2F")
	if loc := res.Header.Get("Location"); loc != "/" {
		t.Fatalf("next=//evil.example/: redirected to %q, want /", loc)
	}
	res, body = e.get("/c/users")
	if res.StatusCode != 200 || !slices.Equal(rows(body), []string{"users/alice"}) {
		t.Fatalf("with the session: got %d, rows %v", res.StatusCode, rows(body))
	}
	csp := res.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Fatalf("CSP: got %q", csp)
	}
	if strings.Contains(body, "<script>") || strings.Contains(body, " style=") || strings.Contains(body, " onclick=") {
		t.Fatal("the page has inline script or style, which the CSP forbids")
	}

	// The request log names routes, never the token or data.
	logs := e.logs.String()
	if !strings.Contains(logs, "route=\"GET /c/{path...}\"") {
		t.Fatalf("log lacks the route pattern:\n%s", logs)
	}
	for _, secret := range []string{testToken, "alice", "users"} {
		if strings.Contains(logs, secret) {
			t.Fatalf("log contains %q:\n%s", secret, logs)
		}
	}

	// Logout ends the session.
	e.login()
	if res, _ := e.post("/logout", nil); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: got %d", res.StatusCode)
	}
	if res, _ := e.get("/api/session"); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("after logout: got %d, want 401", res.StatusCode)
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestCSRFRefused(t *testing.T) {
	e := newEnv(t, false)
	e.login()
	form := url.Values{"f.0.name": {"x"}, "f.0.type": {"string"}, "f.0.value": {"written"}}
	for _, tc := range []struct {
		name, csrf string
		header     map[string]string
	}{
		{"missing", "", nil},
		{"wrong", "0123", nil},
		{"cross-site", "", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "http://evil.example"}},
	} {
		f := url.Values{}
		for k, v := range form {
			f[k] = v
		}
		if tc.csrf != "" {
			f.Set("_csrf", tc.csrf)
		}
		if tc.header != nil {
			f.Set("_csrf", e.csrf) // the right token, from the wrong site
		}
		req, _ := http.NewRequestWithContext(t.Context(), "POST", e.ts.URL+"/d/csrf/doc", strings.NewReader(f.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range tc.header {
			req.Header.Set(k, v)
		}
		res, err := e.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusForbidden {
			t.Errorf("%s CSRF token: got %d, want 403", tc.name, res.StatusCode)
		}
	}
	if e.exists("csrf/doc") {
		t.Fatal("a request refused for CSRF wrote the document")
	}
	// The same request with the token goes through.
	if res, body := e.post("/d/csrf/doc", form); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("with the CSRF token: got %d: %s", res.StatusCode, body)
	}
	if !e.exists("csrf/doc") {
		t.Fatal("the document was not written")
	}
}

func TestQueryPagesMatchRepository(t *testing.T) {
	e := newEnv(t, false)
	e.login()
	ctx := t.Context()
	bw := e.fs.Client.BulkWriter(ctx)
	for i := range 230 {
		cat := []string{"a", "b", "c"}[i%3]
		if _, err := bw.Set(e.fs.Client.Doc(fmt.Sprintf("items/i%03d", i)), map[string]any{"n": int64(i * 7 % 101), "cat": cat, "k": int64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	bw.End()

	// The same query through the repository, every page.
	q := repository.New[map[string]any](e.fs.Client, "items").Query().
		WhereFilter(firestore.OrFilter{Filters: []firestore.EntityFilter{
			firestore.PropertyFilter{Path: "cat", Operator: "==", Value: "a"},
			firestore.PropertyFilter{Path: "cat", Operator: "==", Value: "c"},
		}}).
		Where("n", ">=", int64(10)).
		OrderBy("n", firestore.Desc).OrderBy("k", firestore.Asc)
	var want []string
	for d, err := range q.All(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, d.Path)
	}
	if len(want) < 100 {
		t.Fatalf("seed: only %d documents match", len(want))
	}

	params := url.Values{
		"f": {"cat", "cat", "n"}, "op": {"==", "==", ">="}, "v": {`"a"`, "c", "10"}, "c": {"or", "or", "and"},
		"of": {"n", "k"}, "od": {"desc", "asc"}, "size": {"40"},
	}
	var got []string
	next := "/c/items?" + params.Encode()
	pages := 0
	for next != "" {
		res, body := e.get(next)
		if res.StatusCode != 200 {
			t.Fatalf("page %d: got %d: %s", pages, res.StatusCode, body)
		}
		r := rows(body)
		if len(r) > 40 {
			t.Fatalf("page %d: %d rows, want at most 40", pages, len(r))
		}
		got = append(got, r...)
		next = ""
		if m := nextRe.FindStringSubmatch(body); m != nil {
			next = html.UnescapeString(m[1])
			// The page token is in the URL: reloading the same URL gives
			// the same page.
			if pages == 0 {
				_, again := e.get(next)
				_, once := e.get(next)
				if !slices.Equal(rows(again), rows(once)) {
					t.Fatal("reloading a page URL gave other documents")
				}
			}
		}
		pages++
		if pages > 20 {
			t.Fatal("too many pages")
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("console pages: %d documents %v...\nrepository: %d documents %v...", len(got), head(got), len(want), head(want))
	}
	if pages < 2 {
		t.Fatalf("%d pages, want several", pages)
	}

	// The count is the aggregation's, for the same query.
	res, body := e.get("/api/count/c/items?" + params.Encode())
	var cnt struct{ Count string }
	if res.StatusCode != 200 || json.Unmarshal([]byte(body), &cnt) != nil || cnt.Count != fmt.Sprint(len(want)) {
		t.Fatalf("count: got %d %s, want %d", res.StatusCode, body, len(want))
	}

	// Bad input: an unknown operator is a 400 naming it.
	res, body = e.get("/c/items?f=n&op=~&v=1")
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(body, `data-testid="qb-error"`) || !strings.Contains(html.UnescapeString(body), `unknown operator "~"`) {
		t.Fatalf("unknown operator: got %d", res.StatusCode)
	}
}

func head(l []string) []string { return l[:min(len(l), 5)] }

func TestSaveKeepsValuesExact(t *testing.T) {
	e := newEnv(t, false)
	e.login()
	form := url.Values{}
	fields := [][3]string{
		{"big", "int", "9007199254740993"},
		{"min", "int", "-9223372036854775808"},
		{"ts", "timestamp", "2024-01-02T03:04:05.123456+02:00"},
		{"raw", "bytes", "AAEC/w=="},
		{"hex", "bytes-hex", "00ff10"},
		{"nan", "double", "NaN"},
		{"negzero", "double", "-0"},
		{"inf", "double", "-Infinity"},
		{"ref", "reference", "users/bob"},
		{"geo", "geopoint", "48.8566, 2.3522"},
		{"vec", "vector", "[0.5, -1, 3]"},
		{"nested", "map", `{"n":{"$int":"9007199254740993"},"l":[1,"x"]}`},
		{"flag", "boolean", "true"},
		{"nothing", "null", ""},
	}
	for i, f := range fields {
		form.Set(fmt.Sprintf("f.%d.name", i), f[0])
		form.Set(fmt.Sprintf("f.%d.type", i), f[1])
		form.Set(fmt.Sprintf("f.%d.value", i), f[2])
	}
	res, body := e.post("/d/exact/doc1", form)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("save: got %d: %s", res.StatusCode, body)
	}
	snap, err := e.fs.Client.Doc("exact/doc1").Get(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	d := snap.Data()
	if d["big"] != int64(9007199254740993) || d["min"] != int64(math.MinInt64) {
		t.Errorf("ints: got %v, %v", d["big"], d["min"])
	}
	if ts, _ := d["ts"].(time.Time); !ts.Equal(time.Date(2024, 1, 2, 1, 4, 5, 123456000, time.UTC)) {
		t.Errorf("timestamp: got %v, want 2024-01-02T01:04:05.123456Z", d["ts"])
	}
	if b, _ := d["raw"].([]byte); !bytes.Equal(b, []byte{0, 1, 2, 255}) {
		t.Errorf("bytes: got %v", d["raw"])
	}
	if b, _ := d["hex"].([]byte); !bytes.Equal(b, []byte{0, 255, 16}) {
		t.Errorf("hex bytes: got %v", d["hex"])
	}
	if f, _ := d["nan"].(float64); !math.IsNaN(f) {
		t.Errorf("NaN: got %v", d["nan"])
	}
	if f, ok := d["negzero"].(float64); !ok || f != 0 || !math.Signbit(f) {
		t.Errorf("-0: got %v", d["negzero"])
	}
	if f, _ := d["inf"].(float64); !math.IsInf(f, -1) {
		t.Errorf("-Infinity: got %v", d["inf"])
	}
	if r, _ := d["ref"].(*firestore.DocumentRef); r == nil || !strings.HasSuffix(r.Path, "/documents/users/bob") {
		t.Errorf("reference: got %v", d["ref"])
	}
	if n, _ := d["nested"].(map[string]any); n == nil || n["n"] != int64(9007199254740993) {
		t.Errorf("nested: got %v", d["nested"])
	}
	if v, _ := d["vec"].(firestore.Vector64); !slices.Equal(v, firestore.Vector64{0.5, -1, 3}) {
		t.Errorf("vector: got %#v", d["vec"])
	}
	if d["flag"] != true || d["nothing"] != nil {
		t.Errorf("bool, null: got %v, %v", d["flag"], d["nothing"])
	}

	// The editor shows them exactly, timestamps in UTC at full precision.
	_, body = e.get("/d/exact/doc1")
	for _, want := range []string{`value="9007199254740993"`, `value="2024-01-02T01:04:05.123456Z"`, `value="AAEC/w=="`, `value="NaN"`, `value="-0"`, `href="/d/users/bob" data-testid="ref-link"`} {
		if !strings.Contains(body, want) {
			t.Errorf("editor lacks %s", want)
		}
	}

	// A value that is not of its type is a 400 naming the field, and
	// nothing changes.
	before := snap.UpdateTime
	ut := updateRe.FindStringSubmatch(body)[1]
	res, body = e.post("/d/exact/doc1", url.Values{"update_time": {ut}, "f.0.name": {"big"}, "f.0.type": {"int"}, "f.0.value": {"12x"}})
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(html.UnescapeString(body), `field "big" (int): "12x" is not a 64-bit integer`) {
		t.Fatalf("bad int: got %d: %s", res.StatusCode, formError(body))
	}
	snap, _ = e.fs.Client.Doc("exact/doc1").Get(t.Context())
	if !snap.UpdateTime.Equal(before) {
		t.Fatal("a refused form changed the document")
	}
}

var formErrRe = regexp.MustCompile(`data-testid="form-error">([^<]*)<`)

func formError(body string) string {
	if m := formErrRe.FindStringSubmatch(body); m != nil {
		return html.UnescapeString(m[1])
	}
	return "(no form-error)"
}

func TestConflictingSaveRefused(t *testing.T) {
	e := newEnv(t, false)
	e.login()
	e.set("notes/n1", map[string]any{"text": "first"})
	_, body := e.get("/d/notes/n1")
	ut := updateRe.FindStringSubmatch(body)[1]

	// Someone else changes it meanwhile.
	e.set("notes/n1", map[string]any{"text": "theirs"})

	mine := url.Values{"update_time": {ut}, "f.0.name": {"text"}, "f.0.type": {"string"}, "f.0.value": {"mine"}}
	res, body := e.post("/d/notes/n1", mine)
	if res.StatusCode != http.StatusConflict || !strings.Contains(body, `data-testid="conflict"`) {
		t.Fatalf("conflicting save: got %d, want 409 with the conflict message", res.StatusCode)
	}
	if !strings.Contains(body, "theirs") || !strings.Contains(body, `value="mine"`) {
		t.Fatal("the conflict page should show the current version and keep the form as submitted")
	}
	snap, _ := e.fs.Client.Doc("notes/n1").Get(t.Context())
	if snap.Data()["text"] != "theirs" {
		t.Fatalf("the refused save changed the document: %v", snap.Data())
	}
	// Overwriting on purpose uses the current version's time.
	cur := regexp.MustCompile(`name="current_time" value="([^"]+)"`).FindStringSubmatch(body)
	if cur == nil {
		t.Fatal("no current_time on the conflict page")
	}
	mine.Set("force", "1")
	mine.Set("current_time", cur[1])
	if res, body := e.post("/d/notes/n1", mine); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("overwrite: got %d: %s", res.StatusCode, formError(body))
	}
	snap, _ = e.fs.Client.Doc("notes/n1").Get(t.Context())
	if snap.Data()["text"] != "mine" {
		t.Fatalf("overwrite: got %v", snap.Data())
	}

	// Creating a document that appeared meanwhile is a conflict too.
	e.set("notes/n2", map[string]any{"text": "theirs"})
	res, _ = e.post("/d/notes/n2", url.Values{"update_time": {""}, "f.0.name": {"text"}, "f.0.type": {"string"}, "f.0.value": {"mine"}})
	if res.StatusCode != http.StatusConflict {
		t.Fatalf("create over an existing document: got %d, want 409", res.StatusCode)
	}
}

var dryRunRe = regexp.MustCompile(`data-testid="dryrun-count">(\d+)<`)

func TestRecursiveDeleteNeedsTypedConfirmation(t *testing.T) {
	e := newEnv(t, false)
	e.login()
	for _, p := range []string{"tree/a", "tree/a/sub/x", "tree/a/sub/x/deeper/y", "tree/b", "tree2/a", "treeother/z"} {
		e.set(p, map[string]any{"p": p})
	}
	// A phantom parent: tree/ghost does not exist, its subcollection does.
	e.set("tree/ghost/sub/g", map[string]any{"p": 1})

	_, body := e.get("/delete/tree/a")
	m := dryRunRe.FindStringSubmatch(body)
	if m == nil || m[1] != "3" {
		t.Fatalf("dry run of tree/a: got %v, want 3", m)
	}
	for _, typed := range []string{"", "tree", "tree/a/"} {
		res, body := e.post("/delete/tree/a", url.Values{"confirm": {typed}})
		if res.StatusCode != http.StatusBadRequest || !strings.Contains(body, `data-testid="delete-error"`) {
			t.Fatalf("confirmation %q: got %d, want 400 with delete-error", typed, res.StatusCode)
		}
	}
	if !e.exists("tree/a/sub/x") {
		t.Fatal("an unconfirmed delete deleted something")
	}
	e.runJob(e.post("/delete/tree/a", url.Values{"confirm": {"tree/a"}}))
	for p, want := range map[string]bool{"tree/a": false, "tree/a/sub/x": false, "tree/a/sub/x/deeper/y": false,
		"tree/b": true, "tree2/a": true, "treeother/z": true, "tree/ghost/sub/g": true} {
		if got := e.exists(p); got != want {
			t.Errorf("%s exists: got %v, want %v", p, got, want)
		}
	}

	// The tree page shows the phantom parent as such.
	_, body = e.get("/tree/tree")
	if !strings.Contains(body, `data-path="tree/ghost" data-phantom="true"`) || strings.Contains(body, `data-path="tree/b" data-phantom`) {
		t.Fatalf("tree page: phantom parents not marked:\n%s", body)
	}

	// A whole collection, with the phantom's subtree.
	_, body = e.get("/delete/tree")
	if m := dryRunRe.FindStringSubmatch(body); m == nil || m[1] != "2" {
		t.Fatalf("dry run of tree: got %v, want 2", m)
	}
	e.runJob(e.post("/delete/tree", url.Values{"confirm": {"tree"}}))
	if e.exists("tree/b") || e.exists("tree/ghost/sub/g") || !e.exists("tree2/a") || !e.exists("treeother/z") {
		t.Fatal("deleting tree deleted more or less than its subtree")
	}
}

// runJob follows a job's redirect and polls it until it ends.
func (e *env) runJob(res *http.Response, body string) {
	e.t.Helper()
	loc := res.Header.Get("Location")
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/jobs/") {
		e.t.Fatalf("job start: got %d to %q: %s", res.StatusCode, loc, body)
	}
	for {
		_, b := e.get("/api" + loc)
		var st struct {
			State, Error string
			Done         int64
		}
		if err := json.Unmarshal([]byte(b), &st); err != nil {
			e.t.Fatalf("job status %q: %v", b, err)
		}
		switch st.State {
		case "done":
			return
		case "failed":
			e.t.Fatalf("job failed: %s", st.Error)
		}
		select {
		case <-e.t.Context().Done():
			e.t.Fatal("test ended before the job")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func TestExportImportRoundTrip(t *testing.T) {
	e := newEnv(t, false)
	e.login()
	e.set("exp/a", map[string]any{"n": int64(9007199254740993)})
	e.set("exp/b", map[string]any{"t": time.Date(2024, 1, 2, 3, 4, 5, 123456789, time.UTC)})
	e.set("exp/a/sub/c", map[string]any{"x": "y"})

	res, tree := e.get("/export/exp")
	if res.StatusCode != 200 || strings.Count(tree, "\n") != 3 || !strings.Contains(tree, `{"$int":"9007199254740993"}`) {
		t.Fatalf("tree export: got %d:\n%s", res.StatusCode, tree)
	}
	res, query := e.get("/c/exp/export.ndjson?f=n&op=%3D%3D&v=%7B%22%24int%22%3A%229007199254740993%22%7D")
	if res.StatusCode != 200 || strings.Count(query, "\n") != 1 || !strings.Contains(query, `"path":"exp/a"`) {
		t.Fatalf("query export: got %d:\n%s", res.StatusCode, query)
	}

	// The same export as a job with progress: its status counts the
	// documents against the query's count, and its file is the download's.
	for i := range 600 { // more than one page of the export (500)
		e.set(fmt.Sprintf("exp/m%03d", i), map[string]any{"i": int64(i)})
	}
	const many = "/c/exp?f=i&op=%3E%3D&v=0"
	res, body := e.post("/c/exp/export-job?f=i&op=%3E%3D&v=0", nil)
	loc := res.Header.Get("Location")
	e.runJob(res, body)
	_, b := e.get("/api" + loc)
	var st struct {
		Kind, Download string
		Done, Total    int64
	}
	if err := json.Unmarshal([]byte(b), &st); err != nil || st.Kind != "export" || st.Done != 600 || st.Total != 600 || st.Download != loc+"/download" {
		t.Fatalf("export job status %s (%v): want 600 / 600 done with a download", b, err)
	}
	if _, page := e.get(loc); !strings.Contains(page, `data-testid="job-download"`) || !strings.Contains(page, `href="`+html.EscapeString(many)) {
		t.Errorf("export job page: no download link or no way back to the query:\n%s", page)
	}
	_, direct := e.get("/c/exp/export.ndjson?f=i&op=%3E%3D&v=0")
	res, file := e.get(loc + "/download")
	if res.StatusCode != 200 || strings.Count(file, "\n") != 600 || file != direct {
		t.Fatalf("export job download: got %d, %d lines, same as the direct download: %v", res.StatusCode, strings.Count(file, "\n"), file == direct)
	}
	for i := range 600 {
		if _, err := e.fs.Client.Doc(fmt.Sprintf("exp/m%03d", i)).Delete(t.Context()); err != nil {
			t.Fatal(err)
		}
	}

	// Delete it all, import the tree export back.
	e.runJob(e.post("/delete/exp", url.Values{"confirm": {"exp"}}))
	if e.exists("exp/a") {
		t.Fatal("not deleted")
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	_ = mw.WriteField("_csrf", e.csrf)
	_ = mw.WriteField("mode", "create")
	fw, _ := mw.CreateFormFile("file", "exp.ndjson")
	_, _ = io.WriteString(fw, tree)
	mw.Close()
	e.runJob(e.do("POST", "/import", &buf, mw.FormDataContentType()))
	_, again := e.get("/export/exp")
	if sortedLines(again) != sortedLines(tree) {
		t.Fatalf("after import:\n%s\nwant:\n%s", again, tree)
	}

	// A bad file is refused before anything is written, naming the line.
	buf.Reset()
	mw = multipart.NewWriter(&buf)
	_ = mw.WriteField("_csrf", e.csrf)
	fw, _ = mw.CreateFormFile("file", "bad.ndjson")
	_, _ = io.WriteString(fw, `{"path":"exp/new","data":{}}`+"\n"+`{"path":"exp/z","data":{"n":{"$int":"1x"}}}`+"\n")
	mw.Close()
	res, body = e.do("POST", "/import", &buf, mw.FormDataContentType())
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(body, "line 2") || e.exists("exp/new") {
		t.Fatalf("bad import: got %d: %s", res.StatusCode, body)
	}
}

// sortedLines is the path and data of each export line, sorted (the
// import gives documents new times).
func sortedLines(s string) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	for i, line := range l {
		var d struct {
			Path string
			Data json.RawMessage
		}
		_ = json.Unmarshal([]byte(line), &d)
		l[i] = d.Path + " " + string(d.Data)
	}
	slices.Sort(l)
	return strings.Join(l, "\n")
}

func TestLiveModeStreamsChanges(t *testing.T) {
	e := newEnv(t, false)
	e.login()
	e.set("live/a", map[string]any{"n": int64(1)})
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.ts.URL+"/api/live/c/live", nil)
	res, err := e.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); res.StatusCode != 200 || ct != "text/event-stream" {
		t.Fatalf("live: got %d %s", res.StatusCode, ct)
	}
	sc := bufio.NewScanner(res.Body)
	next := func() (string, string) {
		var ev, data string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				ev = line[7:]
			case strings.HasPrefix(line, "data: "):
				data = line[6:]
			case line == "" && ev != "":
				return ev, data
			}
		}
		t.Fatalf("stream ended: %v", sc.Err())
		return "", ""
	}
	ev, data := next()
	if ev != "change" || !strings.Contains(data, `"path":"live/a"`) || !strings.Contains(data, `"initial":true`) {
		t.Fatalf("first event: %s %s", ev, data)
	}
	if ev, _ := next(); ev != "ready" {
		t.Fatalf("second event: %s, want ready", ev)
	}
	e.set("live/a", map[string]any{"n": int64(9007199254740993)})
	ev, data = next()
	var le struct {
		Type, Path string
		Data       json.RawMessage
		Initial    bool
	}
	if err := json.Unmarshal([]byte(data), &le); err != nil || ev != "change" || le.Type != "modified" || le.Path != "live/a" || le.Initial ||
		string(le.Data) != `{"n":{"$int":"9007199254740993"}}` {
		t.Fatalf("change event: %s %s", ev, data)
	}
}

func TestClaimsEditorValidates(t *testing.T) {
	e := newEnv(t, true)
	e.login()
	uid := emutest.UniqueID(t, "claims")
	if _, err := e.auth.CreateUser(t.Context(), (&auth.UserToCreate{}).UID(uid).Email(emutest.UniqueEmail(t, "claims"))); err != nil {
		t.Fatal(err)
	}
	if err := e.auth.SetCustomClaims(t.Context(), uid, map[string]any{"role": "viewer"}); err != nil {
		t.Fatal(err)
	}
	res, body := e.get("/auth/users/" + uid)
	if res.StatusCode != 200 || !strings.Contains(body, `data-testid="claims-editor"`) || !strings.Contains(body, "viewer") {
		t.Fatalf("user page: got %d", res.StatusCode)
	}
	for _, tc := range []struct{ claims, want string }{
		{`{"admin": tru}`, "not valid JSON"},
		{`["admin"]`, "want a JSON object"},
		{`{"sub": "x"}`, "sub"},
		{`{"big": "` + strings.Repeat("x", 1100) + `"}`, "1000"},
		{`{"a":1} {"b":2}`, "trailing"},
	} {
		res, body := e.post("/auth/users/"+uid+"/claims", url.Values{"claims": {tc.claims}})
		msg := regexp.MustCompile(`data-testid="claims-error">([^<]*)<`).FindStringSubmatch(body)
		if res.StatusCode != http.StatusBadRequest || msg == nil || !strings.Contains(html.UnescapeString(msg[1]), tc.want) {
			t.Errorf("claims %.40q: got %d %v, want 400 with an error mentioning %q", tc.claims, res.StatusCode, msg, tc.want)
		}
	}
	claims, err := e.auth.CustomClaims(t.Context(), uid)
	if err != nil || claims["role"] != "viewer" || len(claims) != 1 {
		t.Fatalf("refused edits changed the claims: %v %v", claims, err)
	}
	res, _ = e.post("/auth/users/"+uid+"/claims", url.Values{"claims": {`{"admin": true, "level": 3}`}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("valid claims: got %d", res.StatusCode)
	}
	claims, _ = e.auth.CustomClaims(t.Context(), uid)
	if claims["admin"] != true || fmt.Sprint(claims["level"]) != "3" || len(claims) != 2 {
		t.Fatalf("claims: got %v", claims)
	}

	// Disable, enable, revoke, and the users list and search.
	for _, step := range []struct {
		action   string
		disabled bool
	}{{"disable", true}, {"enable", false}} {
		if res, _ := e.post("/auth/users/"+uid+"/"+step.action, nil); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("%s: got %d", step.action, res.StatusCode)
		}
		u, _ := e.auth.GetUser(t.Context(), uid)
		if u.Disabled != step.disabled {
			t.Fatalf("after %s: disabled %v", step.action, u.Disabled)
		}
	}
	if res, _ := e.post("/auth/users/"+uid+"/revoke", nil); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoke: got %d", res.StatusCode)
	}
	_, body = e.get("/auth/users?q=" + uid)
	if !strings.Contains(body, `data-testid="user-row" data-uid="`+uid+`"`) {
		t.Fatal("search by UID did not find the user")
	}
	_, body = e.get("/auth/users")
	if !strings.Contains(body, `data-uid="`+uid+`"`) {
		t.Fatal("users list lacks the user")
	}
}

func TestDeleteSelectedAndGroups(t *testing.T) {
	e := newEnv(t, false)
	e.login()
	for _, p := range []string{"posts/p1", "posts/p2", "posts/p3", "posts/p1/comments/c1", "users/u1/comments/c2"} {
		e.set(p, map[string]any{"p": p})
	}
	// A collection group gathers the comments of every parent.
	res, body := e.get("/g/comments")
	got := rows(body)
	slices.Sort(got)
	if res.StatusCode != 200 || !slices.Equal(got, []string{"posts/p1/comments/c1", "users/u1/comments/c2"}) {
		t.Fatalf("group view: got %d %v", res.StatusCode, got)
	}
	if res, _ := e.get("/g/a%2Fb"); res.StatusCode != http.StatusBadRequest {
		t.Fatalf("group ID with a slash: got %d, want 400", res.StatusCode)
	}
	if res, _ := e.get("/c/posts/p1"); res.StatusCode != http.StatusBadRequest {
		t.Fatalf("a document path as a collection: got %d, want 400", res.StatusCode)
	}
	// Deleting the selected rows deletes those documents only (their
	// subcollections stay, as in Firestore).
	res, body = e.post("/c/posts/delete-selected", url.Values{"sel": {"posts/p1", "posts/p3"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("delete selected: got %d: %s", res.StatusCode, body)
	}
	for p, want := range map[string]bool{"posts/p1": false, "posts/p3": false, "posts/p2": true, "posts/p1/comments/c1": true} {
		if e.exists(p) != want {
			t.Errorf("%s exists: got %v, want %v", p, !want, want)
		}
	}
	if res, _ := e.post("/c/posts/delete-selected", url.Values{"sel": {"posts"}}); res.StatusCode != http.StatusBadRequest {
		t.Fatalf("a collection among the selection: got %d, want 400", res.StatusCode)
	}
}

func TestReadOnlyRefusesWrites(t *testing.T) {
	fs := emutest.NewFirestore(t)
	db, err := transfer.Open(t.Context(), transfer.Config{Project: fs.ProjectID, EmulatorHost: fs.Host})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	srv, err := console.New(t.Context(), console.Config{Firestore: fs.Client, DB: db, Token: testToken, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	e := &env{t: t, fs: fs, srv: srv, ts: httptest.NewServer(srv.Handler()), logs: &syncBuffer{}}
	defer e.ts.Close()
	jar, _ := cookiejar.New(nil)
	e.c = &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	e.login()
	e.set("ro/a", map[string]any{"n": int64(1)})
	_, body := e.get("/d/ro/a")
	if strings.Contains(body, `data-testid="doc-save"`) || strings.Contains(body, `data-testid="doc-delete"`) {
		t.Fatal("a read-only console shows write controls")
	}
	ut := updateRe.FindStringSubmatch(body)[1]
	res, _ := e.post("/d/ro/a", url.Values{"update_time": {ut}, "f.0.name": {"n"}, "f.0.type": {"int"}, "f.0.value": {"2"}})
	if res.StatusCode != http.StatusForbidden {
		t.Fatalf("save on a read-only console: got %d, want 403", res.StatusCode)
	}
	if res, _ := e.post("/delete/ro", url.Values{"confirm": {"ro"}}); res.StatusCode != http.StatusForbidden || !e.exists("ro/a") {
		t.Fatalf("recursive delete on a read-only console: got %d", res.StatusCode)
	}
	if res, _ := e.get("/c/ro/export.ndjson"); res.StatusCode != 200 {
		t.Fatalf("export on a read-only console: got %d, want 200", res.StatusCode)
	}
}

func TestPathsAreEscaped(t *testing.T) {
	e := newEnv(t, false)
	e.login()
	id := "a b%2F?#é"
	e.set("odd coll/"+id, map[string]any{"v": "x"})
	_, body := e.get("/")
	if !strings.Contains(body, `href="/c/odd%20coll"`) {
		t.Fatalf("home: no escaped link to the collection")
	}
	res, body := e.get("/c/odd%20coll")
	if res.StatusCode != 200 || !slices.Equal(rows(body), []string{"odd coll/" + id}) {
		t.Fatalf("collection: got %d %v", res.StatusCode, rows(body))
	}
	link := regexp.MustCompile(`href="(/d/[^"]+)" data-testid="doc-link"`).FindStringSubmatch(body)
	if link == nil {
		t.Fatal("no document link")
	}
	res, body = e.get(html.UnescapeString(link[1]))
	if res.StatusCode != 200 || !strings.Contains(html.UnescapeString(body), `data-testid="doc-path">odd coll/`+id+`<`) {
		t.Fatalf("document %s: got %d", link[1], res.StatusCode)
	}
}

func TestNewDocument(t *testing.T) {
	e := newEnv(t, false)
	e.login()
	res, _ := e.get("/new/things?id=t1")
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/d/things/t1" {
		t.Fatalf("new with an ID: got %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	res, _ = e.get("/new/things")
	if loc := res.Header.Get("Location"); !regexp.MustCompile(`^/d/things/[A-Za-z0-9]{20}$`).MatchString(loc) {
		t.Fatalf("new with an automatic ID: got %q", loc)
	}
	if res, _ := e.get("/new/things?id=__bad__"); res.StatusCode != http.StatusBadRequest {
		t.Fatalf("a reserved ID: got %d, want 400", res.StatusCode)
	}
	_, body := e.get("/d/things/t1")
	if !strings.Contains(body, `data-testid="doc-missing"`) {
		t.Fatal("the editor of a new document should say it does not exist yet")
	}
	if res, body := e.post("/d/things/t1", url.Values{"update_time": {""}, "f.0.name": {"a"}, "f.0.type": {"int"}, "f.0.value": {"1"}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("create: got %d: %s", res.StatusCode, formError(body))
	}
	if !e.exists("things/t1") {
		t.Fatal("not created")
	}
}

func TestHomeListsDatabases(t *testing.T) {
	fs := emutest.NewFirestore(t)
	db, err := transfer.Open(t.Context(), transfer.Config{Project: fs.ProjectID, EmulatorHost: fs.Host})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	srv, err := console.New(t.Context(), console.Config{Firestore: fs.Client, DB: db, Token: testToken,
		Databases: func(context.Context) ([]string, error) { return []string{"(default)", "staging"}, nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	res, err := c.Get(ts.URL + "/login?token=" + testToken) // follows to the home page
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	body := string(b)
	if res.StatusCode != 200 || !strings.Contains(body, `data-testid="database" data-database="(default)"><strong>`) ||
		!strings.Contains(body, `fbadmin --database staging console`) {
		t.Fatalf("home: got %d, databases not listed:\n%s", res.StatusCode, body)
	}
}

// TestOtherDatabase serves a named database of the project beside the
// configured one, under /db/other/: its documents, links, redirects, saves
// and counts are that database's, and the default's pages do not show them.
func TestOtherDatabase(t *testing.T) {
	fs := emutest.NewFirestore(t)
	ctx := t.Context()
	db, err := transfer.Open(ctx, transfer.Config{Project: fs.ProjectID, EmulatorHost: fs.Host})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var opened []string
	srv, err := console.New(ctx, console.Config{Firestore: fs.Client, DB: db, Token: testToken,
		OpenDatabase: func(ctx context.Context, id string) (*firestore.Client, *transfer.DB, error) {
			opened = append(opened, id)
			c, err := firestore.NewClientWithDatabase(ctx, fs.ProjectID, id)
			if err != nil {
				return nil, nil, err
			}
			d, err := transfer.Open(ctx, transfer.Config{Project: fs.ProjectID, Database: id, EmulatorHost: fs.Host})
			if err != nil {
				c.Close()
				return nil, nil, err
			}
			return c, d, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, fs: fs, srv: srv, logs: &syncBuffer{}}
	e.ts = httptest.NewServer(srv.Handler())
	defer func() { e.ts.Close(); srv.Close() }()
	jar, _ := cookiejar.New(nil)
	e.c = &http.Client{Jar: jar, Timeout: time.Minute,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	// Not logged in: nothing is opened, and the login comes back here.
	res, _ := e.get("/db/other/c/items")
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/login?next=%2Fdb%2Fother%2Fc%2Fitems" {
		t.Fatalf("logged out: got %d to %q, want 303 to the login with next=/db/other/c/items", res.StatusCode, res.Header.Get("Location"))
	}
	if len(opened) != 0 {
		t.Fatalf("databases opened before login: %q", opened)
	}
	e.login()

	other := fs.NewClient(t, "other")
	if _, err := other.Doc("items/o1").Set(ctx, map[string]any{"n": int64(1), "ref": other.Doc("items/o9")}); err != nil {
		t.Fatal(err)
	}
	e.set("items/d1", map[string]any{"n": int64(2)})

	res, body := e.get("/db/other/c/items")
	if res.StatusCode != 200 || !slices.Equal(rows(body), []string{"items/o1"}) {
		t.Fatalf("/db/other/c/items: got %d, rows %q, want items/o1 only", res.StatusCode, rows(body))
	}
	for _, want := range []string{`href="/db/other/d/items/o1"`, `href="/db/other/d/items/o9" data-testid="ref-link"`,
		`data-src="/db/other/api/count/c/items`, `href="/assets/console.css"`, `<meta name="db-root" content="/db/other">`,
		`data-testid="database-name">projects/` + fs.ProjectID + `/databases/other<`} {
		if !strings.Contains(body, want) {
			t.Errorf("/db/other/c/items: no %s in the page", want)
		}
	}
	if res, body := e.get("/c/items"); res.StatusCode != 200 || !slices.Equal(rows(body), []string{"items/d1"}) {
		t.Fatalf("/c/items (the default database): got %d, rows %q, want items/d1 only", res.StatusCode, rows(body))
	}
	if _, body := e.get("/db/other/api/count/c/items"); body != `{"count":"1"}`+"\n" && body != `{"count":"1"}` {
		t.Errorf("count in other: %q, want 1", body)
	}

	// Live mode streams that database's documents.
	lctx, lcancel := context.WithTimeout(ctx, 60*time.Second)
	defer lcancel()
	req, _ := http.NewRequestWithContext(lctx, "GET", e.ts.URL+"/db/other/api/live/c/items", nil)
	lres, err := e.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var first string
	for sc := bufio.NewScanner(lres.Body); sc.Scan(); {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			first = d
			break
		}
	}
	lres.Body.Close()
	if lres.StatusCode != 200 || !strings.Contains(first, `"path":"items/o1"`) || !strings.Contains(first, `"href":"/d/items/o9"`) {
		t.Errorf("/db/other/api/live/c/items: got %d, first event %s, want items/o1 (with its reference's href, which the script prefixes)", lres.StatusCode, first)
	}

	// A save goes to that database and redirects within it.
	res, body = e.post("/db/other/d/items/o2", url.Values{"update_time": {""}, "f.0.name": {"s"}, "f.0.type": {"string"}, "f.0.value": {"x"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/db/other/d/items/o2?saved=1" {
		t.Fatalf("save in other: got %d to %q: %s", res.StatusCode, res.Header.Get("Location"), body)
	}
	if snap, err := other.Doc("items/o2").Get(ctx); err != nil || snap.Data()["s"] != "x" {
		t.Fatalf("items/o2 in other: %v %v", snap.Data(), err)
	}
	if e.exists("items/o2") {
		t.Fatal("items/o2 was written to the default database too")
	}

	// The home page's form, the configured database's own prefix, and IDs
	// that are not database IDs.
	if res, _ := e.get("/db/?id=other"); res.Header.Get("Location") != "/db/other/" {
		t.Errorf("open form: redirected to %q, want /db/other/", res.Header.Get("Location"))
	}
	if res, body := e.get("/db/(default)/c/items"); res.StatusCode != 200 || !slices.Equal(rows(body), []string{"items/d1"}) {
		t.Errorf("/db/(default)/c/items: got %d, rows %q", res.StatusCode, rows(body))
	}
	if res, _ := e.get("/db/Not_An_ID/c/items"); res.StatusCode != http.StatusBadRequest {
		t.Errorf("bad database ID: got %d, want 400", res.StatusCode)
	}
	if !slices.Equal(opened, []string{"other"}) {
		t.Errorf("databases opened: %q, want other once", opened)
	}
}
