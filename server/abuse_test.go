package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"google.golang.org/api/option"

	"github.com/fbadmin/fbadmin/auth"
	"github.com/fbadmin/fbadmin/internal/emutest"
)

// Tests of issue 12: each reproduces an attack on a running server and
// asserts the refusal or the bound.

// unsignedToken forges an alg-none ID token for project, as the Auth
// emulator issues them, with the given custom claims.
func unsignedToken(project, uid string, claims map[string]any) string {
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	now := time.Now().Unix()
	p := map[string]any{"aud": project, "iss": "https://securetoken.google.com/" + project, "sub": uid, "user_id": uid,
		"iat": now, "exp": now + 3600, "auth_time": now, "firebase": map[string]any{"sign_in_provider": "custom"}}
	for k, v := range claims {
		p[k] = v
	}
	return enc(map[string]any{"alg": "none", "typ": "JWT"}) + "." + enc(p) + "."
}

// productionVerifier is an auth.Client in production mode (a made-up
// service account, no network unless a signature must be checked).
func productionVerifier(t *testing.T, project string) *auth.Client {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	sa, _ := json.Marshal(map[string]string{
		"type": "service_account", "project_id": project, "private_key_id": "dummykeyid", "private_key": string(pemKey),
		"client_email": "fbadmin-test@" + project + ".iam.gserviceaccount.com", "client_id": "1", "token_uri": "https://oauth2.googleapis.com/token",
	})
	c, err := auth.New(context.Background(), auth.Config{ProjectID: project,
		Options: []option.ClientOption{option.WithAuthCredentialsJSON(option.ServiceAccount, sa)}})
	if err != nil {
		t.Fatalf("auth.New (production): %v", err)
	}
	return c
}

// Finding 2: an unsigned token with a forged admin claim must never pass
// outside emulator mode, and a server cannot be built with an
// emulator-mode verifier unless it runs in emulator mode.
func TestAbuseUnsignedTokenOutsideEmulatorMode(t *testing.T) {
	t.Parallel()
	fs := emutest.NewFirestore(t)
	a := emutest.NewAuth(t)
	cfg, err := ParseConfig("test.yaml", []byte("rules:\n  - match: posts\n    allow: [write]\n    claims: {admin: true}\n"))
	if err != nil {
		t.Fatal(err)
	}
	emu, err := auth.New(context.Background(), auth.Config{ProjectID: a.ProjectID, EmulatorHost: a.Host})
	if err != nil {
		t.Fatal(err)
	}
	// An emulator-mode verifier in a server that is not in emulator mode:
	// refused at construction, naming what to do.
	if _, err := New(cfg, Options{Client: fs.Client, Verifier: emu}); err == nil ||
		!strings.Contains(err.Error(), "emulator mode") || !strings.Contains(err.Error(), "--emulator") {
		t.Fatalf("New with an emulator verifier outside emulator mode: %v, want a refusal", err)
	}

	// A production server: the forged token is 401 and nothing is written.
	logs := &lockedWriter{w: &bytes.Buffer{}}
	s, err := New(cfg, Options{Client: fs.Client, Verifier: productionVerifier(t, a.ProjectID),
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(func() { s.Close(); hs.Close() })
	e := &srvEnv{t: t, fs: fs, srv: s, http: hs, URL: hs.URL, logs: logs}
	forged := unsignedToken(a.ProjectID, "mallory", map[string]any{"admin": true})
	r := e.do("POST", "/v1/docs/posts?id=p1", forged, `{"pwned":true}`).want(t, 401)
	if strings.Contains(string(r.body), forged) {
		t.Fatalf("the 401 body echoes the token: %s", r.body)
	}
	if snap, err := fs.Client.Doc("posts/p1").Get(t.Context()); err == nil && snap.Exists() {
		t.Fatal("the forged admin token wrote posts/p1")
	}

	// The start-up log states the verification mode.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), "msg=serving") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	if !strings.Contains(logs.String(), `msg="token verification" mode=production unsigned_tokens=refused`) {
		t.Fatalf("no start-up line stating the production verification mode in:\n%s", logs)
	}
}

// Finding 2, the variables: an emulator named only by the environment is
// refused, naming the variable and --emulator.
func TestAbuseEmulatorEnvWithoutFlag(t *testing.T) {
	for _, v := range []string{auth.EmulatorHostEnv, auth.FirestoreEmulatorHostEnv} {
		t.Run(v, func(t *testing.T) {
			t.Setenv(auth.EmulatorHostEnv, "")
			t.Setenv(auth.FirestoreEmulatorHostEnv, "")
			t.Setenv(v, "127.0.0.1:9")
			err := auth.CheckEmulatorChoice(false)
			if err == nil || !strings.Contains(err.Error(), v) || !strings.Contains(err.Error(), "--emulator") || !strings.Contains(err.Error(), "unset "+v) {
				t.Fatalf("CheckEmulatorChoice(false) with %s set: %v", v, err)
			}
			if err := auth.CheckEmulatorChoice(true); err != nil {
				t.Fatalf("CheckEmulatorChoice(true): %v", err)
			}
		})
	}
	t.Setenv(auth.EmulatorHostEnv, "")
	t.Setenv(auth.FirestoreEmulatorHostEnv, "")
	if err := auth.CheckEmulatorChoice(false); err != nil {
		t.Fatalf("CheckEmulatorChoice(false) without the variables: %v", err)
	}
}

// Finding 5: methods, paths and statuses that clients choose must not
// become metric labels: 2,000 requests with odd methods on odd paths leave
// /metrics the size it was and add no label value.
func TestAbuseMetricLabelsBounded(t *testing.T) {
	t.Parallel()
	e := newSrvEnv(t, openRules)
	send := func(i int) {
		method := fmt.Sprintf("X%05dQ", i)
		req, err := http.NewRequest(method, fmt.Sprintf("%s/v1/docs/odd%d/x?q=%d", e.URL, i, i), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	for i := range 10 {
		send(i)
	}
	series := func(m string) int { return strings.Count(m, "\nfbadmin_serve_") }
	e.do("GET", "/metrics", "", nil).want(t, 200) // its own series
	first := string(e.do("GET", "/metrics", "", nil).want(t, 200).body)
	for i := 10; i < 2000; i++ {
		send(i)
	}
	m := string(e.do("GET", "/metrics", "", nil).want(t, 200).body)
	if strings.Contains(m, "X00") || strings.Contains(m, "odd") {
		t.Fatalf("a client-chosen method or path became a label:\n%s", m)
	}
	if !strings.Contains(m, `fbadmin_serve_requests_total{method="other",route="/v1/docs",status="4xx"} 2000`) {
		t.Fatalf("the odd requests are not counted under method=\"other\", status=\"4xx\":\n%s", m)
	}
	// The counters grew by digits, not by series (the Go and process
	// collectors' values change size too: allow a few KiB).
	if series(m) != series(first) {
		t.Fatalf("/metrics has %d fbadmin_serve_ series after 1,990 odd requests, %d before", series(m), series(first))
	}
	if grow := len(m) - len(first); grow > 4096 {
		t.Fatalf("/metrics grew by %d bytes after 1,990 odd requests", grow)
	}
	for _, line := range strings.Split(m, "\n") {
		if strings.HasPrefix(line, "fbadmin_serve_requests_total{") && !regexp.MustCompile(`status="[1-5]xx"`).MatchString(line) {
			t.Fatalf("status label is not a class: %s", line)
		}
	}
}

// Finding 8: an owner check fails closed on any shape. With a nested
// owner field, no update may remove it, move it under a non-map parent
// or change it, and the document stays its owner's.
func TestAbuseOwnerFieldErased(t *testing.T) {
	t.Parallel()
	e := newSrvEnv(t, "rules:\n  - match: notes\n    allow: [all]\n    owner: meta.owner\n")
	alice, aliceTok := e.user(nil)
	bob, _ := e.user(nil)
	e.do("POST", "/v1/docs/notes?id=n1", aliceTok, `{"meta":{"owner":"`+alice+`","tag":"x"},"t":1}`).want(t, 201)
	for _, body := range []string{
		`{"meta":"flat"}`, `{"meta":{}}`, `{"meta":null}`, `{"meta":[1]}`, `{"meta":{"owner":null}}`,
		`{"meta":{"owner":"` + bob + `"}}`, `{"meta":{"owner":{"x":"` + alice + `"}}}`, `{"meta":{"$int":"1"}}`,
	} {
		r := e.do("PATCH", "/v1/docs/notes/n1", aliceTok, body)
		if r.StatusCode != 403 && r.StatusCode != 400 {
			t.Fatalf("PATCH %s: %d %s, want a refusal", body, r.StatusCode, r.body)
		}
		r = e.do("PUT", "/v1/docs/notes/n1", aliceTok, body)
		if r.StatusCode != 403 && r.StatusCode != 400 {
			t.Fatalf("PUT %s: %d %s, want a refusal", body, r.StatusCode, r.body)
		}
	}
	e.do("POST", "/v1/docs/notes?id=n2", aliceTok, `{"meta":"`+alice+`"}`).want(t, 403)
	// Merges that keep the owner pass.
	e.do("PATCH", "/v1/docs/notes/n1", aliceTok, `{"meta":{"tag":"y"},"t":2}`).want(t, 200)
	e.do("PATCH", "/v1/docs/notes/n1", aliceTok, `{"meta":{"owner":"`+alice+`"}}`).want(t, 200)
	var d Document
	e.do("GET", "/v1/docs/notes/n1", aliceTok, nil).want(t, 200).json(t, &d)
	var data map[string]any
	if err := json.Unmarshal(d.Data, &data); err != nil {
		t.Fatal(err)
	}
	meta, _ := data["meta"].(map[string]any)
	if meta["owner"] != alice || meta["tag"] != "y" {
		t.Fatalf("after the refused updates the document is %s", d.Data)
	}
	// GraphQL goes through the same check.
	res := e.gql(aliceTok, `mutation($d: JSON!) { updateDocument(path: "notes/n1", data: $d) { id } }`, map[string]any{"d": map[string]any{"meta": "flat"}})
	if len(res.Errors) != 1 || res.Errors[0].Extensions["code"] != "PERMISSION_DENIED" {
		t.Fatalf("GraphQL updateDocument erasing the owner: %+v", res)
	}
}

// Finding 9: under an owner rule, another user's document is answered
// exactly as a missing one (status, code and message), for reads, updates,
// deletes and conditional writes, over REST and GraphQL.
func TestAbuseNoExistenceOracle(t *testing.T) {
	t.Parallel()
	e := newSrvEnv(t, "rules:\n  - match: notes\n    allow: [all]\n    owner: owner\n")
	_, aliceTok := e.user(nil)
	bob, bobTok := e.user(nil)
	var d Document
	e.do("POST", "/v1/docs/notes?id=b1", bobTok, `{"owner":"`+bob+`","secret":"s"}`).want(t, 201).json(t, &d)
	etagB1 := etag(d.UpdateTime)
	// The same requests on bob's b1 and on the missing zz must look alike.
	type req struct {
		method, body string
		headers      []string
	}
	for _, r := range []req{
		{"GET", "", nil},
		{"PATCH", `{"t":"x"}`, nil},
		{"PATCH", `{"t":"x"}`, []string{"If-Match", etagB1}},
		{"DELETE", "", nil},
		{"DELETE", "", []string{"If-Match", etagB1}},
		{"PUT", `{"owner":"x"}`, []string{"If-Match", etagB1}},
	} {
		var body any
		if r.body != "" {
			body = r.body
		}
		a := e.do(r.method, "/v1/docs/notes/b1", aliceTok, body, r.headers...)
		b := e.do(r.method, "/v1/docs/notes/zz", aliceTok, body, r.headers...)
		if a.StatusCode != 404 || b.StatusCode != 404 ||
			strings.ReplaceAll(string(a.body), "b1", "ID") != strings.ReplaceAll(string(b.body), "zz", "ID") {
			t.Fatalf("%s %v: another user's document answers %d %s; a missing one %d %s", r.method, r.headers, a.StatusCode, a.body, b.StatusCode, b.body)
		}
	}
	for _, p := range []string{"notes/b1", "notes/zz"} {
		var got struct{ Document *gqlDoc }
		if e.gql(aliceTok, `query($p: String!) { document(path: $p) { id } }`, map[string]any{"p": p}).ok(t, &got); got.Document != nil {
			t.Fatalf("GraphQL document(%s) for alice: %+v, want null", p, got.Document)
		}
		e.gql(aliceTok, `mutation($p: String!) { deleteDocument(path: $p) }`, map[string]any{"p": p}).wantCode(t, 200, "NOT_FOUND")
	}
	// And bob's document is untouched.
	if snap, err := e.fs.Client.Doc("notes/b1").Get(t.Context()); err != nil || snap.Data()["secret"] != "s" {
		t.Fatalf("notes/b1 after alice's attempts: %v, %v", snap.Data(), err)
	}
}

// wsClose reads until the connection ends and returns the messages read
// and its close error.
func wsClose(t *testing.T, c *websocket.Conn, within time.Duration) ([]*wsMsg, error) {
	t.Helper()
	var msgs []*wsMsg
	for {
		m, err := wsRead(t, c, within)
		if err != nil {
			return msgs, err
		}
		msgs = append(msgs, m)
	}
}

// Finding 10: a /v1/watch client that is late or malformed gets a close
// frame with the documented code and a reason that says what was wrong
// (not 1006, not "timeout" for a malformed message).
func TestAbuseWatchCloseFrames(t *testing.T) {
	t.Parallel()
	e := newSrvEnv(t, openRules, func(c *Config) { c.Watch.AuthTimeout = 500 * time.Millisecond })
	_, tok := e.user(nil)
	cases := []struct {
		name   string
		send   []string // after the upgrade (no Authorization header)
		code   websocket.StatusCode
		reason string
	}{
		{"no auth in time", nil, 4401, "no auth message within 500ms"},
		{"no subscribe in time", []string{`{"type":"auth","token":"` + tok + `"}`}, 4400, "no subscribe message within 500ms"},
		{"malformed auth", []string{`{"type":"auth","token":`}, 4400, "malformed message: not JSON"},
		{"unknown field", []string{`{"type":"auth","tokn":"x"}`}, 4400, `unknown field "tokn"`},
		{"subscribe first", []string{`{"type":"subscribe","query":{"collection":"items"}}`}, 4401, "the first message must be"},
		{"bad token", []string{`{"type":"auth","token":"not.a.token"}`}, 4401, "the token was refused"},
		{"malformed subscribe", []string{`{"type":"auth","token":"` + tok + `"}`, `{"type":"subscribe","query":[`}, 4400, "malformed message"},
	}
	for _, c := range cases {
		conn := e.wsDial("", false)
		for _, m := range c.send {
			if err := conn.Write(t.Context(), websocket.MessageText, []byte(m)); err != nil {
				t.Fatal(err)
			}
		}
		start := time.Now()
		msgs, err := wsClose(t, conn, 10*time.Second)
		var ce websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != c.code || !strings.Contains(ce.Reason, c.reason) {
			t.Fatalf("%s: closed with %v after %s, want code %d and a reason with %q", c.name, err, time.Since(start), c.code, c.reason)
		}
		if len(msgs) != 1 || msgs[0].Type != "error" || msgs[0].Error == nil || !strings.Contains(msgs[0].Error.Message, c.reason) {
			t.Fatalf("%s: messages before the close: %+v, want one error saying %q", c.name, msgs, c.reason)
		}
	}
}

// Finding 11, CORS: "*" answers "*" (never an echo of the caller's
// origin, never "null"), and /metrics gets no CORS header at all.
func TestAbuseCORS(t *testing.T) {
	t.Parallel()
	e := newSrvEnv(t, openRules, func(c *Config) { c.HTTP.CORS.AllowedOrigins = []string{"*"} })
	_, tok := e.user(nil)
	r := e.do("GET", "/v1/docs/x/1", tok, nil, "Origin", "https://evil.example.com")
	if got := r.Header.Get("Access-Control-Allow-Origin"); got != "*" {
		t.Fatalf(`"*" config, Origin https://evil.example.com: Access-Control-Allow-Origin %q, want "*"`, got)
	}
	for _, path := range []string{"/v1/docs/x/1", "/graphql"} {
		r = e.do("OPTIONS", path, "", nil, "Origin", "null", "Access-Control-Request-Method", "POST")
		if got := r.Header.Get("Access-Control-Allow-Origin"); got != "" {
			t.Fatalf("Origin null on %s: Access-Control-Allow-Origin %q, want none", path, got)
		}
	}
	for _, origin := range []string{"https://evil.example.com", "null"} {
		r = e.do("GET", "/metrics", "", nil, "Origin", origin)
		if got := r.Header.Get("Access-Control-Allow-Origin"); got != "" || r.StatusCode != 200 {
			t.Fatalf("/metrics from %s: %d, Access-Control-Allow-Origin %q, want none", origin, r.StatusCode, got)
		}
	}
	// A WebSocket upgrade from the opaque origin is refused.
	_, resp, err := websocket.Dial(t.Context(), "ws"+strings.TrimPrefix(e.URL, "http")+"/v1/watch",
		&websocket.DialOptions{HTTPHeader: http.Header{"Origin": {"null"}}})
	if err == nil || resp == nil || resp.StatusCode != 403 {
		t.Fatalf("WebSocket upgrade from Origin null: %v %v, want 403", resp, err)
	}
	// A listed origin is echoed (with Vary) when the list names origins.
	e2 := newSrvEnv(t, openRules, func(c *Config) { c.HTTP.CORS.AllowedOrigins = []string{"https://app.example.com"} })
	r = e2.do("GET", "/v1/docs/x/1", tok, nil, "Origin", "https://app.example.com")
	if r.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" || r.Header.Get("Vary") != "Origin" {
		t.Fatalf("listed origin: %v", r.Header)
	}
}

// Finding 11: a select on an owner-rule collection answers the caller's
// documents (with the owner field), not 500.
func TestAbuseSelectUnderOwnerRule(t *testing.T) {
	t.Parallel()
	e := newSrvEnv(t, "rules:\n  - match: notes\n    allow: [all]\n    owner: meta.owner\n")
	alice, aliceTok := e.user(nil)
	bob, bobTok := e.user(nil)
	e.do("POST", "/v1/docs/notes?id=a", aliceTok, `{"meta":{"owner":"`+alice+`"},"t":"A","x":1}`).want(t, 201)
	e.do("POST", "/v1/docs/notes?id=b", bobTok, `{"meta":{"owner":"`+bob+`"},"t":"B","x":2}`).want(t, 201)
	var p Page
	e.do("POST", "/v1/query", aliceTok, `{"collection":"notes","select":["t"]}`).want(t, 200).json(t, &p)
	if len(p.Documents) != 1 || p.Documents[0].ID != "a" {
		t.Fatalf("select under an owner rule: %+v", p.Documents)
	}
	var data map[string]any
	if err := json.Unmarshal(p.Documents[0].Data, &data); err != nil || data["t"] != "A" || data["x"] != nil {
		t.Fatalf("selected data %s", p.Documents[0].Data)
	}
}

// Finding 11: a refused GraphQL batch (or any undecodable body) is 400
// without the request echoed back.
func TestAbuseGraphQLBatchNotEchoed(t *testing.T) {
	t.Parallel()
	e := newSrvEnv(t, openRules)
	_, tok := e.user(nil)
	const secret = "s3cr3t-payload-0123456789"
	for _, body := range []string{
		`[{"query":"{ document(path: \"x/1\") { id } }","variables":{"v":"` + secret + `"}},{"query":"{ __typename }"}]`,
		`{"query": 12, "variables": {"v": "` + secret + `"}}`,
	} {
		r := e.do("POST", "/graphql", tok, body)
		if r.StatusCode != 400 || strings.Contains(string(r.body), secret) {
			t.Fatalf("body %s: %d %s, want 400 without the body echoed", body, r.StatusCode, r.body)
		}
		if body[0] == '[' && !strings.Contains(string(r.body), "batched operations") {
			t.Fatalf("a batch is refused without saying so: %s", r.body)
		}
	}
}

// aliases repeats a root field n times under aliases a0, a1, ...
func aliases(n int, field string) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "a%d: %s\n", i, strings.ReplaceAll(field, "$i", fmt.Sprint(i)))
	}
	return b.String()
}

// Finding 4: the complexity of a page counts its size and each mutation
// is a write; a request spends rate-limit tokens per root field; and a
// request reads and writes at most limits.max_documents documents.
func TestAbuseGraphQLCost(t *testing.T) {
	t.Parallel()
	e := newSrvEnv(t, openRules)
	_, tok := e.user(nil)
	// 80 aliases of a 500-document page: over the limit, nothing read.
	r := e.gql(tok, "{"+aliases(80, `documents(collection: "big", first: 500) { nodes { id data } }`)+"}", nil)
	if r.status != 400 || r.code() != "COMPLEXITY_LIMIT_EXCEEDED" {
		t.Fatalf("80 pages of 500: %d %s", r.status, r.body)
	}
	// One such page is fine.
	e.gql(tok, `{ documents(collection: "big", first: 500) { nodes { id } } }`, nil).ok(t, nil)
	// 450 aliased creates: refused before any write.
	r = e.gql(tok, "mutation {"+aliases(450, `createDocument(collection: "w", data: {n: $i}) { id }`)+"}", nil)
	if r.status != 400 || r.code() != "COMPLEXITY_LIMIT_EXCEEDED" {
		t.Fatalf("450 creates: %d %.300s", r.status, r.body)
	}
	if n := countDocs(t, e, "w"); n != 0 {
		t.Fatalf("the refused mutation wrote %d documents", n)
	}

	// The per-request document cap, with a complexity limit out of the way.
	c := newSrvEnv(t, openRules, func(c *Config) { c.GraphQL.ComplexityLimit = 1 << 30; c.Limits.MaxDocuments = 20 })
	_, ctok := c.user(nil)
	r = c.gql(ctok, "mutation {"+aliases(25, `createDocument(collection: "w", data: {n: $i}) { id }`)+"}", nil)
	limited := 0
	for _, e := range r.Errors {
		if e.Extensions["code"] == "LIMIT_EXCEEDED" {
			limited++
		}
	}
	if limited != 5 || countDocs(t, c, "w") != 20 {
		t.Fatalf("25 creates under a cap of 20: %d refused, %d written; %.400s", limited, countDocs(t, c, "w"), r.body)
	}
	r = c.gql(ctok, "{"+aliases(3, `documents(collection: "w", first: 10) { nodes { id } }`)+"}", nil)
	if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "LIMIT_EXCEEDED" || !strings.Contains(r.Errors[0].Message, "20 documents") {
		t.Fatalf("3 pages of 10 under a cap of 20: %.400s", r.body)
	}

	// Rate-limit tokens per root field: a bucket of 10 (refilled at one
	// per thousand seconds) pays for 6 writes, then not for 5 more.
	l := newSrvEnv(t, openRules, func(c *Config) { c.Limits.Rate = 0.001; c.Limits.Burst = 10 })
	_, ltok := l.user(nil)
	l.gql(ltok, "mutation {"+aliases(6, `createDocument(collection: "w", data: {n: $i}) { id }`)+"}", nil).ok(t, nil)
	r = l.gql(ltok, "mutation {"+aliases(5, `createDocument(collection: "v", data: {n: $i}) { id }`)+"}", nil)
	if r.code() != "RATE_LIMITED" || countDocs(t, l, "v") != 0 {
		t.Fatalf("5 more writes on 4 tokens: %d %.300s; %d written", r.status, r.body, countDocs(t, l, "v"))
	}
}

func countDocs(t *testing.T, e *srvEnv, coll string) int {
	t.Helper()
	docs, err := e.fs.Client.Collection(coll).Documents(t.Context()).GetAll()
	if err != nil {
		t.Fatal(err)
	}
	return len(docs)
}

// Finding 6: before authentication a WebSocket client may send only a
// few KiB (an unfinished big message is cut at once, with 1009), and one
// client address or user holds a bounded number of sockets, authenticated
// or not.
func TestAbusePreAuthWebSockets(t *testing.T) {
	t.Parallel()
	e := newSrvEnv(t, openRules, func(c *Config) {
		c.Watch.MaxSocketsPerAddress = 4
		c.Watch.MaxSocketsPerUser = 2
	})
	_, tok := e.user(nil)
	// An unfinished 1 MiB message before auth, on both WebSocket routes.
	unfinished := func(name string, c *websocket.Conn) {
		t.Helper()
		w, err := c.Writer(t.Context(), websocket.MessageText)
		if err != nil {
			t.Fatal(err)
		}
		chunk := []byte(`{"type":"auth","token":"` + strings.Repeat("x", 4096))
		start := time.Now()
		for range 4 { // 16 KiB of a message that never ends
			if _, err := w.Write(chunk); err != nil {
				break
			}
		}
		_, _, err = c.Read(t.Context())
		if websocket.CloseStatus(err) != websocket.StatusMessageTooBig || time.Since(start) > 3*time.Second {
			t.Fatalf("%s: an unfinished 16 KiB message before auth: %v after %s, want close 1009 at once", name, err, time.Since(start))
		}
	}
	unfinished("/v1/watch", e.wsDial("", false))
	g, _, err := e.gqlDial("graphql-transport-ws", "", "")
	if err != nil {
		t.Fatal(err)
	}
	unfinished("/graphql", g.c)
	// A real token (well under the limit) still gets through, and once
	// authenticated a client may send bigger messages (limits.max_body).
	c := e.wsDial(tok, false)
	subscribe(t, c, QuerySpec{Collection: "items"}, strings.Repeat("y", 20000)) // a 20 KB message
	c.Close(websocket.StatusNormalClosure, "")
	g, _, err = e.gqlDial("graphql-transport-ws", "", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := g.init(map[string]any{"Authorization": "Bearer " + tok}); err != nil {
		t.Fatalf("connection_init with a real token: %v", err)
	}
	g.c.Close(websocket.StatusNormalClosure, "")

	// Sockets per address: the unauthenticated ones count.
	deadline := time.Now().Add(5 * time.Second)
	var open []*websocket.Conn
	for len(open) < 4 && time.Now().Before(deadline) { // the closed ones are released asynchronously
		c, resp, err := websocket.Dial(t.Context(), "ws"+strings.TrimPrefix(e.URL, "http")+"/v1/watch", nil)
		if err != nil {
			if resp != nil && resp.StatusCode == 429 {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			t.Fatal(err)
		}
		open = append(open, c)
	}
	_, resp, err := websocket.Dial(t.Context(), "ws"+strings.TrimPrefix(e.URL, "http")+"/v1/watch", nil)
	if err == nil || resp == nil || resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("a 5th socket from one address: %v %v, want 429 with Retry-After", resp, err)
	}
	if _, resp, err = e.gqlDial("graphql-transport-ws", "", ""); err == nil || resp.StatusCode != 429 {
		t.Fatalf("a 5th socket from one address on /graphql: %v %v, want 429", resp, err)
	}
	for _, c := range open {
		c.CloseNow()
	}

	// Sockets per user: a third is refused, with 4429 after the auth
	// message, 429 with the token on the upgrade.
	f := newSrvEnv(t, openRules, func(c *Config) { c.Watch.MaxSocketsPerUser = 2 })
	_, ftok := f.user(nil)
	for range 2 {
		subscribe(t, f.wsDial(ftok, false), QuerySpec{Collection: "items"}, "")
	}
	_, err = wsClose(t, f.wsDial(ftok, false), 10*time.Second)
	if websocket.CloseStatus(err) != 4429 {
		t.Fatalf("a 3rd socket of one user: %v, want 4429", err)
	}
	_, resp, err = websocket.Dial(t.Context(), "ws"+strings.TrimPrefix(f.URL, "http")+"/v1/watch",
		&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + ftok}}})
	if err == nil || resp == nil || resp.StatusCode != 429 {
		t.Fatalf("a 3rd socket of one user, token in the upgrade: %v %v, want 429", resp, err)
	}
	g, _, err = f.gqlDial("graphql-transport-ws", "", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := g.init(map[string]any{"Authorization": "Bearer " + ftok}); websocket.CloseStatus(err) != 4429 {
		t.Fatalf("a 3rd socket of one user on /graphql: %v, want 4429", err)
	}
	m := string(f.do("GET", "/metrics", "", nil).body)
	if !strings.Contains(m, `fbadmin_serve_limit_refusals_total{limit="sockets_per_user"} 3`) {
		t.Fatalf("refusals not counted:\n%s", m)
	}
}

// Finding 3: with auth.check_revoked, a revoked session reaches REST
// within auth.recheck_interval (the token cache is bounded by it), and
// open sockets (/v1/watch, GraphQL subscriptions, a GraphQL socket with no
// subscription) close with 4401.
func TestAbuseRevocationReachesOpenSockets(t *testing.T) {
	t.Parallel()
	const every = time.Second
	e := newSrvEnv(t, openRules, func(c *Config) {
		c.Auth.CheckRevoked = true
		c.Auth.CacheTTL = time.Hour // bounded by the re-check interval
		c.Auth.RecheckInterval = every
	})
	uid, tok := e.user(nil)
	e.do("GET", "/v1/docs/items/x", tok, nil).want(t, 404) // verified and cached
	watch := e.wsDial(tok, false)
	subscribe(t, watch, QuerySpec{Collection: "items"}, "")
	g, _, err := e.gqlDial("graphql-transport-ws", "", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := g.init(map[string]any{"Authorization": "Bearer " + tok}); err != nil {
		t.Fatal(err)
	}
	g.subscribe("1", `subscription { changes(collection: "items") { type path } }`, nil)
	idle, _, err := e.gqlDial("graphql-transport-ws", "Bearer "+tok, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := idle.init(nil); err != nil {
		t.Fatal(err)
	}
	// Revocation counts whole seconds: revoke strictly after the token's
	// issue time.
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(1100 * time.Millisecond)))
	revoked := time.Now()
	if err := e.auth.RevokeRefreshTokens(t.Context(), uid); err != nil {
		t.Fatal(err)
	}
	bound := every + 5*time.Second // the interval, plus a verification and the close
	type closed struct {
		name string
		err  error
		at   time.Duration
	}
	results := make(chan closed, 3)
	go func() {
		_, err := wsClose(t, watch, 30*time.Second)
		results <- closed{"/v1/watch", err, time.Since(revoked)}
	}()
	for _, c := range []struct {
		name string
		w    *gqlWS
	}{{"graphql subscription", g}, {"graphql idle socket", idle}} {
		go func() {
			for {
				if _, err := c.w.read(30 * time.Second); err != nil {
					results <- closed{c.name, err, time.Since(revoked)}
					return
				}
			}
		}()
	}
	for range 3 {
		r := <-results
		if websocket.CloseStatus(r.err) != 4401 || r.at > bound {
			t.Errorf("%s after the revocation: %v after %s, want close 4401 within %s", r.name, r.err, r.at.Round(time.Millisecond), bound)
		} else {
			t.Logf("%s closed with 4401 %s after the revocation", r.name, r.at.Round(time.Millisecond))
		}
	}
	// REST: the cached verification lasts at most the interval.
	deadline := revoked.Add(bound)
	for e.do("GET", "/v1/docs/items/x", tok, nil).StatusCode != 401 {
		if time.Now().After(deadline) {
			t.Fatalf("REST still accepts the revoked token %s after the revocation", time.Since(revoked))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Finding 1: change streams have budgets. Subscriptions per socket and
// per user, distinct live queries (lingering ones are dropped first to
// make room), documents a live query may hold (refused before listening,
// and dropped when it grows past the cap); equivalent queries, however
// spelled, share one listener.
func TestAbuseSubscriptionBudgets(t *testing.T) {
	t.Parallel()
	e := newSrvEnv(t, openRules, func(c *Config) {
		c.Watch.MaxSubscriptionsPerSocket = 2
		c.Watch.MaxSubscriptionsPerUser = 3
		c.Watch.MaxLiveQueries = 4
		c.Watch.MaxQueryDocuments = 20
	})
	seed := func(coll string, n int) {
		t.Helper()
		bw := e.fs.Client.BulkWriter(t.Context())
		for i := range n {
			if _, err := bw.Set(e.fs.Client.Doc(fmt.Sprintf("%s/%03d", coll, i)), map[string]any{"n": i}); err != nil {
				t.Fatal(err)
			}
		}
		bw.End()
	}
	seed("big", 25)
	seed("small", 5)
	seed("grow", 18)
	_, tok := e.user(nil)

	// A query over more documents than the cap: refused before listening,
	// 4400 on /v1/watch (retrying will not help).
	c := e.wsDial(tok, false)
	wsSend(t, c, map[string]any{"type": "subscribe", "query": QuerySpec{Collection: "big"}})
	msgs, err := wsClose(t, c, 15*time.Second)
	if websocket.CloseStatus(err) != 4400 || len(msgs) != 1 || !strings.Contains(msgs[0].Error.Message, "more than 20 documents") {
		t.Fatalf("a live query over 25 documents: %v %+v, want 4400 naming the cap", err, msgs)
	}
	if n := len(e.srv.hub.topics); n != 0 {
		t.Fatalf("the refused query left %d listeners", n)
	}

	// Per socket (GraphQL) and per user.
	g, _, err := e.gqlDial("graphql-transport-ws", "Bearer "+tok, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := g.init(nil); err != nil {
		t.Fatal(err)
	}
	sub := func(w *gqlWS, id string, lt int) {
		w.subscribe(id, `subscription($w: [FilterInput!]) { changes(collection: "small", where: $w) { type path } }`,
			map[string]any{"w": []map[string]any{{"field": "n", "op": "<", "value": lt}}})
	}
	sub(g, "1", 100)
	sub(g, "2", 101)
	if !gqlNextEvent(g, "1") {
		t.Fatal("first subscription got nothing")
	}
	sub(g, "3", 102)
	if _, errs := nextError(g, "3"); errCodeOf(errs) != "LIMIT_EXCEEDED" || !strings.Contains(errs[0].Message, "this socket") {
		t.Fatalf("a 3rd subscription on one socket: %+v, want LIMIT_EXCEEDED", errs)
	}
	g2, _, err := e.gqlDial("graphql-transport-ws", "Bearer "+tok, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := g2.init(nil); err != nil {
		t.Fatal(err)
	}
	sub(g2, "4", 103)
	if !gqlNextEvent(g2, "4") {
		t.Fatal("third subscription of the user got nothing")
	}
	sub(g2, "5", 104)
	if _, errs := nextError(g2, "5"); errCodeOf(errs) != "LIMIT_EXCEEDED" || !strings.Contains(errs[0].Message, "this user") {
		t.Fatalf("a 4th subscription of one user: %+v, want LIMIT_EXCEEDED", errs)
	}
	g.c.CloseNow()
	g2.c.CloseNow()
	h := e.srv.Hub()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		h.subsPerUser.mu.Lock()
		left := len(h.subsPerUser.m)
		h.subsPerUser.mu.Unlock()
		if left == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d users still hold subscriptions after their sockets closed", left)
		}
	}

	// Equivalent spellings share one listener.
	ctx := t.Context()
	alice := &Caller{UID: "alice-" + emutest.UniqueID(t, "u")}
	a, err := h.Subscribe(ctx, alice, QuerySpec{Collection: "small", Where: []Filter{
		{Field: "n", Op: ">=", Value: json.RawMessage(`1`)}, {Field: "n", Op: "<", Value: json.RawMessage(`{"$int":"4"}`)}}}, "")
	if err != nil {
		t.Fatal(err)
	}
	b, err := h.Subscribe(ctx, alice, QuerySpec{Collection: "/small/", Where: []Filter{
		{Field: "n", Op: "<", Value: json.RawMessage(`4`)}, {Field: "n", Op: ">=", Value: json.RawMessage(`{"$int":"1"}`)},
		{Field: "n", Op: "<", Value: json.RawMessage(` 4 `)}}}, "")
	if err != nil {
		t.Fatal(err)
	}
	if a.topic != b.topic {
		t.Fatalf("equivalent queries got two listeners: %s and %s", a.topic.key, b.topic.key)
	}
	a.Close()
	b.Close()

	// Distinct live queries: lingering ones make room, active ones do not.
	var active []*Subscription
	for i := range 4 {
		s, err := h.Subscribe(ctx, &Caller{UID: fmt.Sprintf("u%d", i)}, QuerySpec{Collection: "small",
			Where: []Filter{{Field: "n", Op: ">", Value: json.RawMessage(fmt.Sprint(-i - 10))}}}, "")
		if err != nil {
			t.Fatalf("live query %d of 4 (lingering ones evicted): %v", i+1, err)
		}
		active = append(active, s)
	}
	if _, err := h.Subscribe(ctx, &Caller{UID: "u9"}, QuerySpec{Collection: "small"}, ""); !isLimit(err) || !strings.Contains(err.Error(), "max_live_queries") {
		t.Fatalf("a 5th distinct live query with 4 in use: %v, want a refusal", err)
	}
	h.mu.Lock()
	n := len(h.topics)
	h.mu.Unlock()
	if n > 4 {
		t.Fatalf("%d live queries, cap 4", n)
	}
	for _, s := range active {
		s.Close()
	}

	// A live query that grows past the cap is dropped with the reason.
	gw := e.wsDial(tok, false)
	subscribe(t, gw, QuerySpec{Collection: "grow"}, "")
	seed("grow", 24)
	msgs, err = wsClose(t, gw, 20*time.Second)
	if websocket.CloseStatus(err) != 4400 || len(msgs) == 0 || msgs[len(msgs)-1].Type != "error" ||
		!strings.Contains(msgs[len(msgs)-1].Error.Message, "more than 20 documents") {
		t.Fatalf("a live query grown past the cap: %v, last of %d messages %+v", err, len(msgs), msgs[len(msgs)-1])
	}
	m := string(e.do("GET", "/metrics", "", nil).body)
	for _, l := range []string{"subscriptions_per_socket", "subscriptions_per_user", "live_queries", "live_query_documents"} {
		if !strings.Contains(m, `fbadmin_serve_limit_refusals_total{limit="`+l+`"}`) {
			t.Errorf("refusals by %s not counted", l)
		}
	}
}

// gqlNextEvent reads until operation id sends an event (true) or an error
// (false), skipping the messages of other operations.
func gqlNextEvent(w *gqlWS, id string) bool {
	w.t.Helper()
	for {
		m, err := w.read(10 * time.Second)
		if err != nil {
			w.t.Fatalf("waiting for an event of %s: %v", id, err)
		}
		if m.ID != id {
			continue
		}
		var r struct {
			Data   struct{ Changes *gqlChange }
			Errors []gqlErrorOut
		}
		return m.Type == "next" && json.Unmarshal(m.Payload, &r) == nil && len(r.Errors) == 0 && r.Data.Changes != nil
	}
}

// nextError reads until operation id reports errors, skipping the
// messages of other operations and id's own events.
func nextError(w *gqlWS, id string) (*gqlChange, []gqlErrorOut) {
	w.t.Helper()
	for {
		m, err := w.read(10 * time.Second)
		if err != nil {
			w.t.Fatalf("waiting for an error of %s: %v", id, err)
		}
		if m.ID != id {
			continue
		}
		var out []gqlErrorOut
		switch m.Type {
		case "error":
			if err := json.Unmarshal(m.Payload, &out); err != nil {
				w.t.Fatalf("error payload %s: %v", m.Payload, err)
			}
			return nil, out
		case "next":
			var r struct{ Errors []gqlErrorOut }
			if err := json.Unmarshal(m.Payload, &r); err == nil && len(r.Errors) > 0 {
				return nil, r.Errors
			}
		case "complete":
			w.t.Fatalf("operation %s completed without an error", id)
		}
	}
}

// Finding 1, memory per user: the documents that a user's live queries
// match are budgeted together (watch.max_documents_per_user), so that one
// account cannot make the server hold many large result sets.
func TestAbuseDocumentsPerUser(t *testing.T) {
	t.Parallel()
	e := newSrvEnv(t, openRules, func(c *Config) { c.Watch.MaxDocumentsPerUser = 30 })
	bw := e.fs.Client.BulkWriter(t.Context())
	for i := range 20 {
		if _, err := bw.Set(e.fs.Client.Doc(fmt.Sprintf("p/%02d", i)), map[string]any{"n": i}); err != nil {
			t.Fatal(err)
		}
	}
	bw.End()
	_, tok := e.user(nil)
	_, other := e.user(nil)
	first := e.wsDial(tok, false)
	subscribe(t, first, QuerySpec{Collection: "p"}, "")
	second := QuerySpec{Collection: "p", Where: []Filter{{Field: "n", Op: ">=", Value: json.RawMessage(`0`)}}}
	c := e.wsDial(tok, false)
	wsSend(t, c, map[string]any{"type": "subscribe", "query": second})
	msgs, err := wsClose(t, c, 15*time.Second)
	// The second query is counted only as far as the remaining budget
	// (10, plus one): a user at their budget costs the backend little.
	if websocket.CloseStatus(err) != 4429 || len(msgs) != 1 || !strings.Contains(msgs[0].Error.Message, "max_documents_per_user") ||
		!strings.Contains(msgs[0].Error.Message, "matches more than 10 documents") {
		t.Fatalf("20 + 20 documents under a budget of 30: %v %+v, want 4429 naming the budget and the count up to the remaining 10", err, msgs)
	}
	// Another user has a budget of their own; and the first user's is
	// given back when a subscription ends.
	subscribe(t, e.wsDial(other, false), second, "")
	first.Close(websocket.StatusNormalClosure, "")
	deadline := time.Now().Add(10 * time.Second)
	for {
		c := e.wsDial(tok, false)
		wsSend(t, c, map[string]any{"type": "subscribe", "query": second})
		m, err := wsRead(t, c, 15*time.Second)
		if err == nil && m.Type == "subscribed" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the budget was not given back after the first subscription closed: %v %+v", err, m)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Finding 1, memory per server: the documents of all live queries, each
// distinct query once, are budgeted (watch.max_documents_held); lingering
// queries are dropped first to make room.
func TestAbuseDocumentsHeld(t *testing.T) {
	t.Parallel()
	e := newSrvEnv(t, openRules, func(c *Config) { c.Watch.MaxDocumentsHeld = 30 })
	bw := e.fs.Client.BulkWriter(t.Context())
	for _, coll := range []string{"a", "b"} {
		for i := range 20 {
			if _, err := bw.Set(e.fs.Client.Doc(fmt.Sprintf("%s/%02d", coll, i)), map[string]any{"n": i}); err != nil {
				t.Fatal(err)
			}
		}
	}
	bw.End()
	h := e.srv.Hub()
	ctx := t.Context()
	sa, err := h.Subscribe(ctx, &Caller{UID: "u1"}, QuerySpec{Collection: "a"}, "")
	if err != nil {
		t.Fatal(err)
	}
	// Many subscribers of one query cost its documents once.
	fans := []*Subscription{sa}
	for i := range 5 {
		s, err := h.Subscribe(ctx, &Caller{UID: fmt.Sprintf("fan%d", i)}, QuerySpec{Collection: "a"}, "")
		if err != nil {
			t.Fatalf("subscriber %d of the same query: %v", i+2, err)
		}
		fans = append(fans, s)
	}
	if _, err := h.Subscribe(ctx, &Caller{UID: "u2"}, QuerySpec{Collection: "b"}, ""); !isLimit(err) || !strings.Contains(err.Error(), "max_documents_held") {
		t.Fatalf("a second 20-document query under a budget of 30: %v, want a refusal", err)
	}
	m := string(e.do("GET", "/metrics", "", nil).body)
	if !strings.Contains(m, `fbadmin_serve_limit_refusals_total{limit="live_documents_held"} 1`) {
		t.Fatalf("the refusal is not counted")
	}
	// Once a's subscribers left, its lingering listener makes room.
	for _, s := range fans {
		s.Close()
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		sb, err := h.Subscribe(ctx, &Caller{UID: "u2"}, QuerySpec{Collection: "b"}, "")
		if err == nil {
			sb.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("b after a's subscribers left: %v", err)
		}
	}
}
