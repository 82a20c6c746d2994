package server

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

const accessRules = `
rules:
  - match: posts
    allow: [read]
  - match: posts
    allow: [write]
    claims: {admin: true}
  - match: "users/{uid}/notes"
    allow: [all]
  - match: notes
    allow: [all]
    owner: owner
  - match: "**/comments"
    allow: [list]
    claims: {role: "*"}
  - match: "shops/*/items"
    allow: [get]
`

func TestAccessRulesREST(t *testing.T) {
	t.Parallel()
	e := newSrvEnv(t, accessRules)
	alice, aliceTok := e.user(nil)
	bob, bobTok := e.user(nil)
	_, adminTok := e.user(map[string]any{"admin": true})
	_, notAdminTok := e.user(map[string]any{"admin": false})
	_, roleTok := e.user(map[string]any{"role": "mod"})

	seed := func(path string, data map[string]any) {
		t.Helper()
		if _, err := e.fs.Client.Doc(path).Set(t.Context(), data); err != nil {
			t.Fatal(err)
		}
	}
	seed("posts/p1", map[string]any{"t": "hello"})
	seed("shops/s1/items/i1", map[string]any{"n": 1})
	seed("shops/s1/comments/c1", map[string]any{"n": 1})
	seed("posts/p1/comments/c2", map[string]any{"n": 2})
	seed("secret/x", map[string]any{"n": 1})

	type tc struct {
		name, method, path, token, body string
		status                          int
	}
	cases := []tc{
		// posts: anyone reads, only admins write.
		{"read post", "GET", "/v1/docs/posts/p1", aliceTok, "", 200},
		{"list posts", "GET", "/v1/docs/posts", aliceTok, "", 200},
		{"create post without claim", "POST", "/v1/docs/posts?id=p2", aliceTok, `{"t":"x"}`, 403},
		{"create post with admin=false", "POST", "/v1/docs/posts?id=p2", notAdminTok, `{"t":"x"}`, 403},
		{"create post as admin", "POST", "/v1/docs/posts?id=p2", adminTok, `{"t":"x"}`, 201},
		{"update post without claim", "PATCH", "/v1/docs/posts/p1", aliceTok, `{"t":"x"}`, 403},
		{"delete post without claim", "DELETE", "/v1/docs/posts/p1", bobTok, "", 403},
		{"delete post as admin", "DELETE", "/v1/docs/posts/p2", adminTok, "", 204},
		// {uid} in the path.
		{"own notes create", "POST", "/v1/docs/users/" + alice + "/notes?id=n1", aliceTok, `{"t":"mine"}`, 201},
		{"own notes read", "GET", "/v1/docs/users/" + alice + "/notes/n1", aliceTok, "", 200},
		{"other's notes read", "GET", "/v1/docs/users/" + alice + "/notes/n1", bobTok, "", 403},
		{"other's notes write", "PUT", "/v1/docs/users/" + alice + "/notes/n1", bobTok, `{"t":"x"}`, 403},
		{"other's notes list", "GET", "/v1/docs/users/" + alice + "/notes", bobTok, "", 403},
		// Owner field.
		{"owner create own", "POST", "/v1/docs/notes?id=a1", aliceTok, `{"owner":"` + alice + `","t":"a"}`, 201},
		{"owner create for another", "POST", "/v1/docs/notes?id=a2", aliceTok, `{"owner":"` + bob + `"}`, 403},
		{"owner create without field", "POST", "/v1/docs/notes?id=a3", aliceTok, `{"t":"x"}`, 403},
		{"owner bob create", "POST", "/v1/docs/notes?id=b1", bobTok, `{"owner":"` + bob + `"}`, 201},
		{"owner read own", "GET", "/v1/docs/notes/a1", aliceTok, "", 200},
		{"owner read other's", "GET", "/v1/docs/notes/b1", aliceTok, "", 404},
		{"owner update other's", "PATCH", "/v1/docs/notes/b1", aliceTok, `{"t":"x"}`, 404},
		{"owner update own", "PATCH", "/v1/docs/notes/a1", aliceTok, `{"t":"b"}`, 200},
		{"owner steal own doc's owner", "PATCH", "/v1/docs/notes/a1", aliceTok, `{"owner":"` + bob + `"}`, 403},
		{"owner set other's", "PUT", "/v1/docs/notes/b1", aliceTok, `{"owner":"` + alice + `"}`, 409},
		{"owner delete other's", "DELETE", "/v1/docs/notes/b1", aliceTok, "", 404},
		// Collection groups: only with a ** rule, and its claims.
		{"group without claim", "POST", "/v1/query", aliceTok, `{"collection":"comments","group":true}`, 403},
		{"group with claim", "POST", "/v1/query", roleTok, `{"collection":"comments","group":true}`, 200},
		{"group of posts", "POST", "/v1/query", roleTok, `{"collection":"posts","group":true}`, 403},
		// Wildcard segment, get only.
		{"wildcard get", "GET", "/v1/docs/shops/s1/items/i1", aliceTok, "", 200},
		{"wildcard list denied", "GET", "/v1/docs/shops/s1/items", aliceTok, "", 403},
		// No rule at all.
		{"no rule get", "GET", "/v1/docs/secret/x", adminTok, "", 403},
		{"no rule aggregate", "POST", "/v1/aggregate", adminTok, `{"collection":"secret","count":true}`, 403},
	}
	for _, c := range cases {
		var body any
		if c.body != "" {
			body = c.body
		}
		r := e.do(c.method, c.path, c.token, body)
		if r.StatusCode != c.status {
			t.Errorf("%s: %s %s: status %d, want %d (%s)", c.name, c.method, c.path, r.StatusCode, c.status, r.body)
			continue
		}
		if c.status == 403 {
			if code, _ := r.errCode(t); code != "permission_denied" {
				t.Errorf("%s: code %q", c.name, code)
			}
		}
	}

	// A list under an owner rule returns the caller's documents only.
	for _, who := range []struct{ uid, tok string }{{alice, aliceTok}, {bob, bobTok}} {
		var p Page
		e.do("GET", "/v1/docs/notes", who.tok, nil).want(t, 200).json(t, &p)
		if len(p.Documents) != 1 {
			t.Fatalf("%s lists %d notes, want 1", who.uid, len(p.Documents))
		}
		var d map[string]any
		if err := json.Unmarshal(p.Documents[0].Data, &d); err != nil || d["owner"] != who.uid {
			t.Fatalf("%s sees %s", who.uid, p.Documents[0].Data)
		}
		var a Aggregates
		e.do("POST", "/v1/aggregate", who.tok, `{"collection":"notes","count":true}`).want(t, 200).json(t, &a)
		sameValue(t, a.Count, json.RawMessage(`{"$int":"1"}`))
	}
	// The denied writes changed nothing.
	snap, err := e.fs.Client.Doc("notes/b1").Get(t.Context())
	if err != nil || snap.Data()["owner"] != bob || len(snap.Data()) != 1 {
		t.Fatalf("notes/b1 = %v, %v", snap.Data(), err)
	}
	if _, err := e.fs.Client.Doc("posts/p2").Get(t.Context()); err == nil {
		t.Fatal("posts/p2 exists after its delete")
	}
}

func TestRulesMatching(t *testing.T) {
	t.Parallel()
	cases := []struct {
		pat, path, uid string
		want           bool
	}{
		{"posts", "posts", "", true},
		{"posts", "users", "", false},
		{"posts", "posts/p/comments", "", false},
		{"*", "anything", "", true},
		{"users/*/notes", "users/u1/notes", "", true},
		{"users/{uid}/notes", "users/u1/notes", "u1", true},
		{"users/{uid}/notes", "users/u1/notes", "u2", false},
		{"users/{uid}/notes", "users/u1/notes", "", false},
		{"users/{uid}/**", "users/u1/notes", "u1", true},
		{"users/{uid}/**", "users/u1/notes/n/deep", "u1", true},
		{"users/{uid}/**", "users/u2/notes", "u1", false},
		{"**/comments", "comments", "", true},
		{"**/comments", "posts/p1/comments", "", true},
		{"**/comments", "posts/p1/likes", "", false},
		{"**", "a/b/c", "", true},
	}
	for _, c := range cases {
		r := Rule{Match: c.pat, Allow: []string{"get"}}
		r.normalize()
		if got := r.matches(strings.Split(c.path, "/"), c.uid); got != c.want {
			t.Errorf("%q on %q (uid %q): %v, want %v", c.pat, c.path, c.uid, got, c.want)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"rules:\n  - match: posts\n    allow: [read]\n    colour: red\n":                           `[4:5] unknown field "colour"`,
		"rules:\n  - match: posts\n    allow: [fly]\n":                                             `unknown operation "fly"`,
		"rules:\n  - match: posts/p1\n    allow: [read]\n":                                         "names documents",
		"rules:\n  - match: 'po*ts'\n    allow: [read]\n":                                          "wildcards are whole segments",
		"http:\n  addr: nowhere\nrules:\n  - match: posts\n    allow: [read]\n":                    "not host:port",
		"graphql:\n  introspection: maybe\nrules: [{match: a, allow: [read]}]\n":                   "want auto, on or off",
		"limits:\n  max_body: 12 parsecs\nrules: [{match: a, allow: [read]}]\n":                    "max_body",
		"project: ${FBADMIN_TEST_UNSET_VAR}\nrules: [{match: a, allow: [read]}]\n":                 "FBADMIN_TEST_UNSET_VAR is not set",
		"http:\n  cors:\n    allowed_origins: [example.com]\nrules: [{match: a, allow: [read]}]\n": "is not an origin",
		"log: {}\n": "no rules",
	}
	for src, want := range cases {
		_, err := ParseConfig("bad.yaml", []byte(src))
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "bad.yaml") {
			t.Errorf("config %q: error %v, want one naming the file and containing %q", src, err, want)
		}
	}
	cfg, err := ParseConfig("ok.yaml", []byte(accessRules))
	if err != nil {
		t.Fatal(err)
	}
	d := cfg.Describe()
	for _, want := range []string{"127.0.0.1:8088", "users/{uid}/notes", "create,update,delete", "admin=true", "role=\"*\"", "owner"} {
		if !strings.Contains(d, want) {
			t.Errorf("Describe lacks %q:\n%s", want, d)
		}
	}
	if got := fmt.Sprint(cfg.Limits.Rate, cfg.Limits.Burst, cfg.Watch.SendQueue); got != "50 100 256" {
		t.Errorf("defaults %s", got)
	}
}
