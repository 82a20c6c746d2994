package console_test

// Browser tests of fbadmin console (issue 19): a headless Chromium driven
// through chromedp against the console served in-process over the
// emulators, each test with its own project. They rely only on
// console/TESTING.md (routes, form fields, data-testid attributes).
// Screenshots of the main pages go to the artifacts directory (see
// artifactsDir), never into the tree.
//
//	go test -race -count=1 -run TestBrowser ./console/

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/firestore"
	fbauth "firebase.google.com/go/v4/auth"
	"github.com/chromedp/chromedp"
)

func set(t *testing.T, c *firestore.Client, path string, data map[string]any) {
	t.Helper()
	if _, err := c.Doc(path).Set(context.Background(), data); err != nil {
		t.Fatalf("set %s: %v", path, err)
	}
}

func exists(t *testing.T, c *firestore.Client, path string) bool {
	t.Helper()
	snap, err := c.Doc(path).Get(context.Background())
	if err != nil && snap == nil {
		t.Fatalf("get %s: %v", path, err)
	}
	return snap.Exists()
}

// TestBrowserTree browses from the database root down to a document
// through the tree's links, and takes the screenshots of the main pages.
func TestBrowserTree(t *testing.T) {
	e := newBrowserEnv(t, envOptions{})
	c := e.fs.Client
	for i := range 12 {
		set(t, c, fmt.Sprintf("users/u%02d", i), map[string]any{
			"name": fmt.Sprintf("User %d", i), "age": int64(18 + i), "country": []string{"FR", "DE", "US"}[i%3],
			"joined": time.Date(2024, 1, 2, 3, 4, 5, 123456000, time.UTC), "active": i%2 == 0,
		})
	}
	set(t, c, "users/u01/notes/n1", map[string]any{"text": "hello"})
	// A phantom parent: a missing document that only holds a subcollection.
	set(t, c, "orgs/ghost/members/m1", map[string]any{"role": "owner"})

	e.open("/")
	e.waitVisible(sel("database-name"))
	cols := e.attrs(sel("tree-collection"), "data-path")
	for _, want := range []string{"orgs", "users"} {
		if !slices.Contains(cols, want) {
			t.Errorf("home: tree-collection paths %q, want %q among them", cols, want)
		}
	}
	e.screenshot("home")

	// Down the tree: the documents of users, the subcollections of u01,
	// its notes collection, the note.
	e.click(`a[href="/tree/users"]`)
	e.waitVisible(sel("tree-doc", "data-path", "users/u01"))
	e.click(`a[href="/tree/users/u01"]`)
	e.waitVisible(sel("tree-collection", "data-path", "users/u01/notes"))
	e.click(sel("tree-collection", "data-path", "users/u01/notes"))
	e.waitVisible(sel("doc-row", "data-path", "users/u01/notes/n1"))
	e.click(sel("doc-row", "data-path", "users/u01/notes/n1") + " " + sel("doc-link"))
	e.waitVisible(sel("doc-form"))
	if got := e.text(sel("doc-path")); !strings.Contains(got, "users/u01/notes/n1") {
		t.Errorf("document page: doc-path %q, want users/u01/notes/n1", got)
	}

	// The phantom parent is listed and marked.
	e.open("/tree/orgs")
	e.waitVisible(sel("tree-doc", "data-path", "orgs/ghost"))
	if got := e.attrs(sel("tree-doc", "data-path", "orgs/ghost"), "data-phantom"); len(got) != 1 || got[0] != "true" {
		t.Errorf("orgs/ghost: data-phantom %q, want \"true\"", got)
	}
	if txt := eval[string](e, `document.querySelector('[data-path="orgs/ghost"]').parentElement.textContent`); !strings.Contains(txt, "(no document)") {
		t.Errorf("orgs/ghost: text %q, want it to say (no document)", txt)
	}
	// Its subcollection is reachable through it.
	e.click(sel("tree-doc", "data-path", "orgs/ghost"))
	e.waitVisible(sel("tree-collection", "data-path", "orgs/ghost/members"))

	// The collection view: one row per document, in ID order.
	e.open("/c/users")
	e.waitVisible(sel("doc-table"))
	rows := e.attrs(sel("doc-row"), "data-path")
	if len(rows) != 12 || rows[0] != "users/u00" || rows[11] != "users/u11" {
		t.Errorf("collection users: rows %q, want users/u00 ... users/u11", rows)
	}
	e.screenshot("collection")

	// Open a document from its row.
	e.click(sel("doc-row", "data-path", "users/u03") + " " + sel("doc-link"))
	e.waitVisible(sel("doc-form"))
	if got := e.text(sel("doc-path")); !strings.Contains(got, "users/u03") {
		t.Errorf("document page: doc-path %q, want users/u03", got)
	}
	if got := e.attrs(sel("field-row"), "data-field"); !slices.Contains(got, "joined") || !slices.Contains(got, "age") {
		t.Errorf("document users/u03: field rows %q, want age and joined among them", got)
	}
	e.screenshot("document")
}

// TestBrowserEditValues edits an int64 beyond 2^53, a timestamp with
// microseconds and bytes with a zero byte, saves, and reads them back with
// the Go SDK.
func TestBrowserEditValues(t *testing.T) {
	e := newBrowserEnv(t, envOptions{})
	c := e.fs.Client
	set(t, c, "vals/v1", map[string]any{
		"n":    int64(1),
		"t":    time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC),
		"b":    []byte("x"),
		"keep": "unchanged",
	})
	e.open("/d/vals/v1")
	e.waitVisible(sel("doc-form"))
	value := func(field string) string {
		return sel("field-row", "data-field", field) + " " + sel("field-value")
	}
	e.setValue(value("n"), "9007199254740993")
	e.setValue(value("t"), "2024-05-17T09:30:12.345678Z")
	e.setValue(value("b"), "AAEC/w==") // 00 01 02 ff
	// A new field through the blank row, typed int.
	newRow := sel("field-row-new")
	e.setValue(newRow+" "+sel("field-name"), "added")
	e.setValue(newRow+" "+sel("field-type"), "int")
	e.setValue(newRow+" "+sel("field-value"), "-9223372036854775808")
	e.screenshot("editor")
	e.click(sel("doc-save"))
	e.waitVisible(sel("save-ok"))

	snap, err := c.Doc("vals/v1").Get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	d := snap.Data()
	if got, ok := d["n"].(int64); !ok || got != 9007199254740993 {
		t.Errorf("n = %#v, want int64 9007199254740993", d["n"])
	}
	wantT := time.Date(2024, 5, 17, 9, 30, 12, 345678000, time.UTC)
	if got, ok := d["t"].(time.Time); !ok || !got.Equal(wantT) {
		t.Errorf("t = %#v, want %s", d["t"], wantT.Format(time.RFC3339Nano))
	}
	if got, ok := d["b"].([]byte); !ok || !bytes.Equal(got, []byte{0, 1, 2, 0xff}) {
		t.Errorf("b = %#v, want bytes 00 01 02 ff", d["b"])
	}
	if got, ok := d["added"].(int64); !ok || got != -9223372036854775808 {
		t.Errorf("added = %#v, want int64 -9223372036854775808", d["added"])
	}
	if d["keep"] != "unchanged" {
		t.Errorf("keep = %#v, want \"unchanged\"", d["keep"])
	}
	if len(d) != 5 {
		t.Errorf("vals/v1 has %d fields (%v), want 5", len(d), d)
	}
}

// TestBrowserConflict saves over a document that another client changed
// since the page was loaded: the console shows the conflict and the other
// client's version stays; overwriting is an explicit second step.
func TestBrowserConflict(t *testing.T) {
	e := newBrowserEnv(t, envOptions{})
	c := e.fs.Client
	set(t, c, "acc/a1", map[string]any{"balance": int64(100)})
	e.open("/d/acc/a1")
	e.waitVisible(sel("doc-form"))
	// Another client writes meanwhile.
	if _, err := c.Doc("acc/a1").Update(context.Background(), []firestore.Update{{Path: "balance", Value: int64(250)}}); err != nil {
		t.Fatal(err)
	}
	e.setValue(sel("field-row", "data-field", "balance")+" "+sel("field-value"), "90")
	e.click(sel("doc-save"))
	e.waitVisible(sel("conflict"))
	e.screenshot("conflict")
	if cur := e.text(sel("conflict-current")); !strings.Contains(cur, "250") {
		t.Errorf("conflict-current %q, want it to show the other client's balance 250", cur)
	}
	balance := func() any {
		snap, err := c.Doc("acc/a1").Get(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return snap.Data()["balance"]
	}
	if got := balance(); got != int64(250) {
		t.Fatalf("after the refused save, balance = %#v, want 250 (the other client's)", got)
	}
	// The conflict page's overwrite button saves the browser's version.
	e.click(sel("conflict-overwrite"))
	e.waitVisible(sel("save-ok"))
	if got := balance(); got != int64(90) {
		t.Errorf("after overwrite, balance = %#v, want 90", got)
	}
}

// TestBrowserQueryBuilder builds a query in the page (two filters, an
// order, a limit) and gets the documents `fbadmin fs query` returns for it,
// in the same order.
func TestBrowserQueryBuilder(t *testing.T) {
	e := newBrowserEnv(t, envOptions{})
	bin := fbadminBinary(t)
	c := e.fs.Client
	countries := []string{"FR", "DE", "US", "IT"}
	for i := range 40 {
		set(t, c, fmt.Sprintf("people/p%02d", i), map[string]any{
			"age": int64(10 + (i*7)%50), "country": countries[i%4], "name": fmt.Sprintf("P%d", i),
		})
	}
	e.open("/c/people")
	// The builder is folded while no query is set.
	e.click(`details.qb > summary`)
	e.waitVisible(sel("query-form"))
	nth := func(i int, testid string) string {
		return fmt.Sprintf(`document.querySelectorAll('[data-testid="qb-row"]')[%d].querySelector('[data-testid="%s"]')`, i, testid)
	}
	setRow := func(i int, testid, v string) {
		t.Helper()
		b, _ := json.Marshal(v)
		if !eval[bool](e, fmt.Sprintf(`(el => { if (!el) return false; el.value = %s; el.dispatchEvent(new Event('change', {bubbles: true})); return true })(%s)`, b, nth(i, testid))) {
			t.Fatalf("query builder: no %s in filter row %d", testid, i)
		}
	}
	// The first filter, run; the page comes back with it and a blank row
	// for the next (the builder's state lives in the URL).
	setRow(0, "qb-field", "age")
	setRow(0, "qb-op", ">=")
	setRow(0, "qb-value", "25")
	e.click(sel("qb-run"))
	e.waitURL("f=age")
	e.waitVisible(sel("query-form"))
	if n := len(e.attrs(sel("qb-row"), "data-testid")); n < 2 {
		t.Fatalf("query builder after one filter: %d rows, want the filter and a blank one", n)
	}
	setRow(1, "qb-field", "country")
	setRow(1, "qb-op", "in")
	setRow(1, "qb-value", `["FR","DE"]`)
	e.setValue(sel("qb-order-field"), "age")
	e.setValue(sel("qb-order-dir"), "desc")
	e.setValue(sel("qb-limit"), "7")
	e.click(sel("qb-run"))
	e.waitURL("limit=7")
	e.waitVisible(sel("doc-table"))
	e.screenshot("query")
	got := e.attrs(sel("doc-row"), "data-path")

	out, err := exec.Command(bin, "--emulator", "--project", e.fs.ProjectID, "fs", "query", "people",
		"--where", "age >= 25", "--where", `country in ["FR","DE"]`, "--order-by", "age:desc", "--limit", "7",
		"-o", "ndjson").Output()
	if err != nil {
		t.Fatalf("fbadmin fs query: %v", err)
	}
	var want []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var d struct {
			Path string `json:"path"`
		}
		if err := json.Unmarshal([]byte(line), &d); err != nil {
			t.Fatalf("fs query output %q: %v", line, err)
		}
		want = append(want, d.Path)
	}
	if len(want) != 7 {
		t.Fatalf("fs query returned %d documents, want 7 (the test data is wrong)", len(want))
	}
	if !slices.Equal(got, want) {
		t.Errorf("console query rows\n%q\nfs query\n%q", got, want)
	}
}

// TestBrowserLive opens a collection in live mode and sees a document that
// another client writes within 2 s.
func TestBrowserLive(t *testing.T) {
	e := newBrowserEnv(t, envOptions{})
	c := e.fs.Client
	set(t, c, "feed/a0", map[string]any{"n": int64(0)})
	e.open("/c/feed?live=1")
	e.waitVisible(sel("live-status", "data-state", "ready"))
	e.waitVisible(sel("doc-row", "data-path", "feed/a0"))
	// A first write, untimed, proves the stream is connected: a write
	// before the listener's first snapshot would be part of it.
	set(t, c, "feed/a1", map[string]any{"n": int64(1)})
	e.waitVisible(sel("doc-row", "data-path", "feed/a1"))

	other, err := firestore.NewClient(context.Background(), e.fs.ProjectID)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	start := time.Now()
	if _, err := other.Doc("feed/a2").Set(context.Background(), map[string]any{"n": int64(2), "by": "other client"}); err != nil {
		t.Fatal(err)
	}
	// The functional deadline: visible within 2 s of the write.
	ctx, cancel := context.WithDeadline(e.ctx, start.Add(2*time.Second))
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(sel("doc-row", "data-path", "feed/a2")))); err != nil {
		t.Fatalf("feed/a2 written by another client is not shown within 2 s in live mode: %v", err)
	}
	t.Logf("feed/a2 visible %s after the write began", time.Since(start).Round(time.Millisecond))
	if got := e.attrs(sel("doc-row", "data-path", "feed/a2"), "data-change"); len(got) != 1 || got[0] != "added" {
		t.Errorf("live row feed/a2: data-change %q, want \"added\"", got)
	}
	// The count follows the rows (the aggregation is asked again).
	e.waitCount("3")
	e.screenshot("live")

	// A document deleted elsewhere: struck through for a moment, then
	// gone from the page, and the count follows.
	if _, err := other.Doc("feed/a1").Delete(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.waitVisible(sel("doc-row", "data-path", "feed/a1") + ".live-removed")
	e.waitJS(`!document.querySelector('[data-testid=doc-row][data-path="feed/a1"]')`)
	e.waitCount("2")
	if got := e.attrs(sel("doc-row"), "data-path"); !slices.Equal(got, []string{"feed/a0", "feed/a2"}) {
		t.Errorf("rows after the live removal: %q, want feed/a0, feed/a2", got)
	}
}

// TestBrowserOtherDatabase opens a named database from the home page's
// form and follows it in live mode: links, the count and live rows stay in
// that database.
func TestBrowserOtherDatabase(t *testing.T) {
	e := newBrowserEnv(t, envOptions{databases: true})
	other := e.fs.NewClient(t, "other")
	set(t, other, "items/o1", map[string]any{"n": int64(1)})
	set(t, e.fs.Client, "items/d1", map[string]any{"n": int64(2)})
	e.open("/")
	e.setValue(sel("database-input"), "other")
	e.click(sel("database-submit"))
	e.waitURL("/db/other/")
	e.click(sel("tree-collection", "data-path", "items"))
	e.waitURL("/db/other/c/items")
	e.waitVisible(sel("doc-row", "data-path", "items/o1"))
	if got := e.attrs(sel("doc-row"), "data-path"); !slices.Equal(got, []string{"items/o1"}) {
		t.Fatalf("rows of items in database other: %q, want items/o1 only", got)
	}
	e.waitCount("1")
	e.click(sel("live-toggle"))
	e.waitVisible(sel("live-status", "data-state", "ready"))
	set(t, other, "items/o2", map[string]any{"n": int64(3)})
	e.waitVisible(sel("doc-row", "data-path", "items/o2"))
	e.waitCount("2")
	if got := e.attrs(sel("doc-row", "data-path", "items/o2")+" "+sel("doc-link"), "href"); len(got) != 1 || got[0] != "/db/other/d/items/o2" {
		t.Errorf("live row's link: %q, want /db/other/d/items/o2", got)
	}
	e.screenshot("other-database")
}

// TestBrowserRecursiveDelete deletes a document with everything below it:
// a wrong confirmation deletes nothing, the right one deletes exactly the
// subtree (not its siblings, nor paths that merely share its prefix).
func TestBrowserRecursiveDelete(t *testing.T) {
	e := newBrowserEnv(t, envOptions{})
	c := e.fs.Client
	subtree := []string{"del/gone", "del/gone/sub/x", "del/gone/sub/x/deeper/y", "del/gone/sub/z"}
	others := []string{"del/keep", "del/gone2", "del/keep/sub/x", "delx/gone", "sub/x"}
	for _, p := range append(slices.Clone(subtree), others...) {
		set(t, c, p, map[string]any{"p": p})
	}
	e.open("/delete/del/gone")
	e.waitVisible(sel("dryrun-count"))
	if got := e.text(sel("dryrun-count")); got != fmt.Sprint(len(subtree)) {
		t.Errorf("dry-run count %q, want %d", got, len(subtree))
	}
	e.screenshot("delete-confirm")

	// A confirmation that is not the path exactly: the button stays
	// disabled, and the server refuses the same request sent anyway.
	e.do(chromedp.SendKeys(chromedp.CSS(sel("confirm-input")), "del/gon"))
	if disabled := eval[bool](e, `document.querySelector('[data-testid="confirm-delete"]').disabled`); !disabled {
		t.Errorf("confirm-delete is enabled with the confirmation %q", "del/gon")
	}
	status := eval[int](e, `(async () => {
		const csrf = document.querySelector('meta[name="csrf-token"]').content;
		const body = new URLSearchParams({_csrf: csrf, confirm: "del/gon"});
		const r = await fetch(location.pathname, {method: "POST", body, redirect: "manual"});
		return r.status;
	})()`)
	if status != http.StatusBadRequest {
		t.Errorf("POST /delete/del/gone with the confirmation del/gon: status %d, want 400", status)
	}
	for _, p := range subtree {
		if !exists(t, c, p) {
			t.Fatalf("%s was deleted although the confirmation was wrong", p)
		}
	}

	e.do(chromedp.SendKeys(chromedp.CSS(sel("confirm-input")), "e"))
	e.click(sel("confirm-delete"))
	e.do(chromedp.WaitVisible(chromedp.CSS(sel("job-status", "data-state", "done"))))
	if got := e.text(sel("job-progress")); !strings.HasPrefix(got, fmt.Sprint(len(subtree))) {
		t.Errorf("job progress %q, want %d deleted", got, len(subtree))
	}
	e.screenshot("delete-done")
	for _, p := range subtree {
		if exists(t, c, p) {
			t.Errorf("%s still exists after the recursive delete of del/gone", p)
		}
	}
	for _, p := range others {
		if !exists(t, c, p) {
			t.Errorf("%s was deleted by the recursive delete of del/gone", p)
		}
	}
}

// TestBrowserUsers searches users by email and by UID and edits custom
// claims (a bad JSON object is refused and changes nothing).
func TestBrowserUsers(t *testing.T) {
	e := newBrowserEnv(t, envOptions{auth: true})
	sdk := e.auth.Client(t)
	ctx := context.Background()
	var uids []string
	for i := range 3 {
		uid := fmt.Sprintf("u%d-%s", i, e.fs.ProjectID)
		u := (&fbauth.UserToCreate{}).UID(uid).Email(fmt.Sprintf("user%d-%s@example.com", i, e.fs.ProjectID)).DisplayName(fmt.Sprintf("User %d", i))
		if _, err := sdk.CreateUser(ctx, u); err != nil {
			t.Fatalf("create user %s: %v", uid, err)
		}
		uids = append(uids, uid)
	}
	e.open("/auth/users")
	e.waitVisible(sel("users-search"))
	if got := e.attrs(sel("user-row"), "data-uid"); len(got) != 3 {
		t.Errorf("users page lists %q, want the 3 users", got)
	}
	e.screenshot("users")

	// Search by email.
	e.setValue(sel("users-search"), fmt.Sprintf("user1-%s@example.com", e.fs.ProjectID))
	e.click(sel("users-search-submit"))
	e.waitURL("q=")
	e.waitVisible(sel("user-row"))
	if got := e.attrs(sel("user-row"), "data-uid"); !slices.Equal(got, []string{uids[1]}) {
		t.Errorf("search by email: rows %q, want [%s]", got, uids[1])
	}
	// Search by UID.
	e.open("/auth/users?q=" + url.QueryEscape(uids[2]))
	e.waitVisible(sel("user-row"))
	if got := e.attrs(sel("user-row"), "data-uid"); !slices.Equal(got, []string{uids[2]}) {
		t.Errorf("search by UID: rows %q, want [%s]", got, uids[2])
	}

	e.click(sel("user-row", "data-uid", uids[2]) + " " + sel("user-link"))
	e.waitVisible(sel("claims-editor"))
	if got := e.text(sel("user-uid")); got != uids[2] {
		t.Errorf("user page: user-uid %q, want %q", got, uids[2])
	}
	e.setValue(sel("claims-editor"), `{"role":"admin","level":3,"big":{"$int":"9007199254740993"}}`)
	e.click(sel("claims-save"))
	e.waitVisible(sel("claims-ok"))
	e.screenshot("user")
	claims := func() map[string]any {
		u, err := sdk.GetUser(ctx, uids[2])
		if err != nil {
			t.Fatal(err)
		}
		return u.CustomClaims
	}
	got := claims()
	if got["role"] != "admin" || got["level"] != float64(3) {
		t.Errorf("claims after save %v, want role admin and level 3", got)
	}
	// A bad object: the page says so before sending, and the server
	// refuses it when sent anyway (not JSON, not an object); the claims
	// stay.
	e.setValue(sel("claims-editor"), `{"role":`)
	e.do(chromedp.Evaluate[chromedp.Void](`document.querySelector('[data-testid="claims-editor"]').dispatchEvent(new Event("input"))`))
	e.click(sel("claims-save"))
	if valid := eval[bool](e, `document.querySelector('[data-testid="claims-editor"]').validity.valid`); valid {
		t.Errorf("claims editor holding {\"role\": is valid, want the page to refuse it")
	}
	for _, bad := range []string{`{"role":`, `[1,2]`} {
		res := eval[map[string]any](e, fmt.Sprintf(`(async () => {
			const form = document.querySelector('[data-testid="claims-editor"]').form;
			const body = new URLSearchParams(new FormData(form));
			body.set("claims", %q);
			const r = await fetch(form.action, {method: "POST", body, redirect: "manual"});
			return {status: r.status, error: (await r.text()).includes('data-testid="claims-error"')};
		})()`, bad))
		if res["status"] != float64(http.StatusBadRequest) || res["error"] != true {
			t.Errorf("POST claims %s: %v, want status 400 with claims-error", bad, res)
		}
	}
	if again := claims(); again["role"] != "admin" || again["level"] != float64(3) {
		t.Errorf("claims after refused saves %v, want them unchanged", again)
	}
}

// TestBrowserSecurity checks that requests without the session (the access
// token) or with a bad CSRF token are refused, and that the same request
// with the session and token is accepted (so the refusals are not vacuous).
func TestBrowserSecurity(t *testing.T) {
	e := newBrowserEnv(t, envOptions{})
	c := e.fs.Client
	set(t, c, "sec/d1", map[string]any{"v": "original"})
	noRedirect := func(req *http.Request, via []*http.Request) error { return http.ErrUseLastResponse }

	// No session at all.
	anon := &http.Client{CheckRedirect: noRedirect}
	resp, err := anon.Get(e.url + "/c/sec")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
		t.Errorf("GET /c/sec without a session: %s to %q, want 303 to /login", resp.Status, resp.Header.Get("Location"))
	}
	for _, path := range []string{"/api/session", "/api/count/c/sec", "/api/live/c/sec"} {
		resp, err := anon.Get(e.url + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s without a session: %s, want 401", path, resp.Status)
		}
	}
	resp, err = anon.PostForm(e.url+"/d/sec/d1", url.Values{"mode": {"raw"}, "raw": {`{"v":"anon"}`}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("POST /d/sec/d1 without a session: %s, want 401", resp.Status)
	}
	// A wrong access token.
	resp, err = anon.Get(e.url + "/login?token=wrong")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), `data-testid="login-error"`) {
		t.Errorf("GET /login?token=wrong: %s, want 401 with login-error", resp.Status)
	}
	for _, ck := range resp.Cookies() {
		if ck.Value != "" && ck.MaxAge >= 0 {
			t.Errorf("a wrong token got the cookie %s", ck.Name)
		}
	}

	// A session (the right token), then writes with and without the CSRF
	// token.
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, CheckRedirect: noRedirect}
	resp, err = hc.Get(e.srv.LoginURL(e.url))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login with the token: %s, want 303", resp.Status)
	}
	resp, err = hc.Get(e.url + "/api/session")
	if err != nil {
		t.Fatal(err)
	}
	var sess struct {
		CSRF string `json:"csrf"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&sess); err != nil || sess.CSRF == "" {
		t.Fatalf("GET /api/session: %s, %v", resp.Status, err)
	}
	resp.Body.Close()
	snap, err := c.Doc("sec/d1").Get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	updateTime := snap.UpdateTime.UTC().Format(time.RFC3339Nano)
	post := func(form url.Values, hdr map[string]string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, e.url+"/d/sec/d1", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	form := func(v, csrf string) url.Values {
		f := url.Values{"mode": {"raw"}, "raw": {`{"v":"` + v + `"}`}, "update_time": {updateTime}}
		if csrf != "" {
			f.Set("_csrf", csrf)
		}
		return f
	}
	current := func() any {
		snap, err := c.Doc("sec/d1").Get(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return snap.Data()["v"]
	}
	if code := post(form("nocsrf", ""), nil); code != http.StatusForbidden {
		t.Errorf("POST without a CSRF token: %d, want 403", code)
	}
	if code := post(form("badcsrf", "0123456789abcdef"), nil); code != http.StatusForbidden {
		t.Errorf("POST with a bad CSRF token: %d, want 403", code)
	}
	if code := post(form("badheader", ""), map[string]string{"X-CSRF-Token": sess.CSRF + "x"}); code != http.StatusForbidden {
		t.Errorf("POST with a bad X-CSRF-Token: %d, want 403", code)
	}
	if code := post(form("crossorigin", sess.CSRF), map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}); code != http.StatusForbidden {
		t.Errorf("cross-origin POST with the right CSRF token: %d, want 403", code)
	}
	if got := current(); got != "original" {
		t.Fatalf("after the refused requests, v = %#v, want \"original\"", got)
	}
	if code := post(form("accepted", sess.CSRF), nil); code != http.StatusSeeOther {
		t.Errorf("POST with the session's CSRF token: %d, want 303", code)
	}
	if got := current(); got != "accepted" {
		t.Errorf("after the accepted request, v = %#v, want \"accepted\"", got)
	}

	// In the browser: a fetch with a wrong X-CSRF-Token from the page is
	// refused too, and a fresh browser context without the cookie is sent
	// to the login page.
	e.open("/c/sec")
	e.waitVisible(sel("doc-table"))
	status := eval[int](e, `(async () => {
		const body = new URLSearchParams({mode: "raw", raw: '{"v":"fromjs"}'});
		const r = await fetch("/d/sec/d1", {method: "POST", headers: {"X-CSRF-Token": "nope"}, body, redirect: "manual"});
		return r.status;
	})()`)
	if status != http.StatusForbidden {
		t.Errorf("fetch from the page with a wrong X-CSRF-Token: %d, want 403", status)
	}
	fresh, cancel := chromedp.NewContext(e.ctx, chromedp.WithNewBrowserContext())
	defer cancel()
	fctx, fcancel := context.WithTimeout(fresh, stepTimeout)
	defer fcancel()
	if err := chromedp.Do(fctx, chromedp.Navigate(e.url+"/c/sec"), chromedp.WaitVisible(chromedp.CSS(sel("login-token")))); err != nil {
		t.Fatalf("fresh browser: %v", err)
	}
	if err := chromedp.Do(fctx, chromedp.SetValue(chromedp.CSS(sel("login-token")), "wrong"), chromedp.Click(chromedp.CSS(sel("login-submit"))),
		chromedp.WaitVisible(chromedp.CSS(sel("login-error")))); err != nil {
		t.Fatalf("fresh browser, wrong token: %v", err)
	}
	if got := current(); got != "accepted" {
		t.Errorf("at the end, v = %#v, want \"accepted\"", got)
	}
}
