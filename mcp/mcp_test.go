package mcp_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"regexp"

	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/firestore"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/fbadmin/fbadmin/auth"
	"github.com/fbadmin/fbadmin/internal/emutest"
	"github.com/fbadmin/fbadmin/internal/value"
)

// bin is the fbadmin binary the tests drive, built once by TestMain.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "fbadmin-mcp-test")
	if err != nil {
		panic(err)
	}
	if bin, err = emutest.BuildFbadmin(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// syncBuffer collects the server's stderr.
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

// env is one test's emulators: an isolated Firestore project (also used
// for Auth, with unique UIDs and emails).
type env struct {
	fs       *emutest.Firestore
	authHost string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	fs := emutest.NewFirestore(t)
	return &env{fs: fs, authHost: emutest.AuthHost(t)}
}

func (e *env) environ() []string {
	return append(os.Environ(), "FIRESTORE_EMULATOR_HOST="+e.fs.Host, "FIREBASE_AUTH_EMULATOR_HOST="+e.authHost, "FBADMIN_PROJECT=", "GOOGLE_CLOUD_PROJECT=")
}

// session starts `fbadmin --emulator --project P mcp ARGS` and connects
// the SDK's client to it over stdio.
type session struct {
	*sdk.ClientSession
	stderr *syncBuffer
}

func (e *env) start(t *testing.T, args ...string) *session {
	t.Helper()
	return e.startWith(t, nil, args...)
}

// startWith is start with more global flags.
func (e *env) startWith(t *testing.T, global []string, args ...string) *session {
	t.Helper()
	cmdline := append(append([]string{"--emulator", "--project", e.fs.ProjectID}, global...), "mcp")
	cmd := exec.Command(bin, append(cmdline, args...)...)
	cmd.Env = e.environ()
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	client := sdk.NewClient(&sdk.Implementation{Name: "fbadmin-test", Version: "v0"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cs, err := client.Connect(ctx, &sdk.CommandTransport{Command: cmd}, nil)
	if err != nil {
		t.Fatalf("connect: %v\nstderr:\n%s", err, stderr)
	}
	t.Cleanup(func() { cs.Close() })
	return &session{ClientSession: cs, stderr: stderr}
}

// call calls a tool and returns its result.
func (s *session) call(t *testing.T, name string, args any) *sdk.CallToolResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := s.CallTool(ctx, &sdk.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("%s: protocol error: %v\nstderr:\n%s", name, err, s.stderr)
	}
	return res
}

// ok calls a tool that must succeed and decodes its structured output.
func (s *session) ok(t *testing.T, name string, args any, out any) {
	t.Helper()
	res := s.call(t, name, args)
	if res.IsError {
		t.Fatalf("%s(%s): tool error: %s", name, mustJSON(args), text(res))
	}
	b, err := json.Marshal(res.StructuredContent)
	if err != nil {
		t.Fatal(err)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s: decode %s: %v", name, b, err)
		}
	}
}

// fails calls a tool that must fail and returns its message, which must
// contain each of want.
func (s *session) fails(t *testing.T, name string, args any, want ...string) string {
	t.Helper()
	res := s.call(t, name, args)
	if !res.IsError {
		t.Fatalf("%s(%s): succeeded (%s), want an error containing %q", name, mustJSON(args), text(res), want)
	}
	msg := text(res)
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("%s: error %q does not contain %q", name, msg, w)
		}
	}
	return msg
}

func text(res *sdk.CallToolResult) string {
	var parts []string
	for _, c := range res.Content {
		if tc, ok := c.(*sdk.TextContent); ok {
			parts = append(parts, tc.Text)
		}
	}
	return strings.Join(parts, "\n")
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func raw(s string) json.RawMessage { return json.RawMessage(s) }

type document struct {
	Path       string          `json:"path"`
	ID         string          `json:"id"`
	Data       json.RawMessage `json:"data"`
	UpdateTime string          `json:"update_time"`
}

type page struct {
	Documents     []document `json:"documents"`
	NextPageToken string     `json:"next_page_token"`
	Missing       []string   `json:"missing"`
}

func paths(docs []document) string {
	var ps []string
	for _, d := range docs {
		ps = append(ps, d.Path)
	}
	return strings.Join(ps, " ")
}

func TestToolsListPromptly(t *testing.T) {
	e := newEnv(t)
	start := time.Now()
	s := e.start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := s.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	if elapsed > 5*time.Second {
		t.Errorf("start and tools/list took %s, want under 5s", elapsed)
	}
	names := map[string]*sdk.Tool{}
	for _, tool := range res.Tools {
		names[tool.Name] = tool
		if tool.InputSchema == nil || tool.OutputSchema == nil {
			t.Errorf("%s: missing input or output schema", tool.Name)
		}
	}
	for _, want := range []string{"firestore_get", "firestore_list_collections", "firestore_list_documents", "firestore_query", "firestore_export", "firestore_import",
		"firestore_aggregate", "firestore_set", "firestore_create", "firestore_update", "firestore_delete",
		"auth_get_user", "auth_list_users", "auth_create_user", "auth_delete_user", "auth_set_custom_claims"} {
		if names[want] == nil {
			t.Errorf("tools/list lacks %s", want)
		}
	}
	// The schema comes from the Go types: the query's filter operators and value.
	q, _ := json.Marshal(names["firestore_query"].InputSchema)
	for _, want := range []string{`"where"`, `"order_by"`, `"start_after"`, `"select"`, `"page_token"`} {
		if !bytes.Contains(q, []byte(want)) {
			t.Errorf("firestore_query input schema lacks %s: %s", want, q)
		}
	}
	t.Logf("%d tools in %s", len(res.Tools), elapsed.Round(time.Millisecond))
}

// allTypes is one value of each type of the value format, written as an
// agent would (and as fbadmin prints them).
func allTypes(project string) map[string]string {
	return map[string]string{
		"null":      `null`,
		"boolean":   `true`,
		"string":    `"h\u00e9llo \n\"quoted\""`,
		"integer":   `{"$int":"9007199254740993"}`,
		"int_min":   `{"$int":"-9223372036854775808"}`,
		"double":    `{"$double":1.5}`,
		"double_1":  `{"$double":1}`,
		"nan":       `{"$double":"NaN"}`,
		"inf":       `{"$double":"-Infinity"}`,
		"neg_zero":  `{"$double":"-0"}`,
		"bytes":     `{"$bytes":"AAEC/w=="}`,
		"timestamp": `{"$timestamp":"2024-05-17T09:30:12.345678Z"}`,
		"geopoint":  `{"$geopoint":{"latitude":48.85,"longitude":2.35}}`,
		"reference": `{"$ref":"projects/` + project + `/databases/(default)/documents/users/bob"}`,
		"vector":    `{"$vector":[0.25,-1,3]}`,
		"array":     `["a",{"$int":"1"},null]`,
		"map":       `{"city":"Paris","zip":{"$int":"75001"}}`,
		"dollar":    `{"$map":{"$price":{"$int":"10"}}}`,
	}
}

func TestValuesRoundTrip(t *testing.T) {
	e := newEnv(t)
	s := e.start(t, "--allow-writes")
	types := allTypes(e.fs.ProjectID)
	var b strings.Builder
	b.WriteString("{")
	first := true
	for k, v := range types {
		if !first {
			b.WriteString(",")
		}
		first = false
		fmt.Fprintf(&b, "%q:%s", k, v)
	}
	b.WriteString("}")
	s.ok(t, "firestore_set", map[string]any{"path": "things/all", "data": raw(b.String())}, nil)
	var got page
	s.ok(t, "firestore_get", map[string]any{"paths": []string{"things/all"}}, &got)
	if len(got.Documents) != 1 {
		t.Fatalf("got %d documents", len(got.Documents))
	}
	fields, err := value.DecodeMap(got.Documents[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range types {
		want, err := value.Decode([]byte(v))
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		if !value.Equal(fields[k], want) {
			enc, _ := value.Encode(fields[k])
			t.Errorf("%s: got %s, want %s", k, enc, v)
		}
		// And byte for byte in the canonical form.
		enc, _ := value.Encode(fields[k])
		canon, _ := value.Encode(want)
		if !bytes.Equal(enc, canon) {
			t.Errorf("%s: got %s, want %s", k, enc, canon)
		}
	}
	// A read value written back unchanged gives the same document.
	s.ok(t, "firestore_set", map[string]any{"path": "things/copy", "data": got.Documents[0].Data}, nil)
	var again page
	s.ok(t, "firestore_get", map[string]any{"paths": []string{"things/copy"}}, &again)
	if !bytes.Equal(again.Documents[0].Data, got.Documents[0].Data) {
		t.Errorf("copy differs:\n%s\n%s", again.Documents[0].Data, got.Documents[0].Data)
	}
}

func TestReadTools(t *testing.T) {
	e := newEnv(t)
	s := e.start(t, "--allow-writes")
	for i := range 12 {
		data := fmt.Sprintf(`{"n":{"$int":"%d"},"big":{"$int":"%d"},"at":{"$timestamp":"2024-01-%02dT00:00:00Z"},"tags":["t%d"],"owner":{"$ref":"projects/%s/databases/(default)/documents/users/u%d"},"score":{"$double":%d.5}}`,
			i, int64(1)<<60+int64(i), i+1, i%3, e.fs.ProjectID, i%2, i)
		s.ok(t, "firestore_set", map[string]any{"path": fmt.Sprintf("items/i%02d", i), "data": raw(data)}, nil)
	}
	s.ok(t, "firestore_set", map[string]any{"path": "users/u0/posts/p1", "data": raw(`{"n":1}`)}, nil)
	s.ok(t, "firestore_set", map[string]any{"path": "users/u1/posts/p2", "data": raw(`{"n":2}`)}, nil)

	t.Run("get many with missing", func(t *testing.T) {
		var got page
		s.ok(t, "firestore_get", map[string]any{"paths": []string{"items/i01", "users/u0/posts/p1", "items/nope"}}, &got)
		if paths(got.Documents) != "items/i01 users/u0/posts/p1" || len(got.Missing) != 1 || got.Missing[0] != "items/nope" {
			t.Errorf("got %s, missing %v", paths(got.Documents), got.Missing)
		}
	})
	t.Run("list collections", func(t *testing.T) {
		var got struct {
			Collections []struct{ ID, Path string } `json:"collections"`
		}
		s.ok(t, "firestore_list_collections", map[string]any{}, &got)
		if fmt.Sprint(got.Collections) != "[{items items} {users users}]" {
			t.Errorf("got %v", got.Collections)
		}
		s.ok(t, "firestore_list_collections", map[string]any{"parent": "users/u0"}, &got)
		if fmt.Sprint(got.Collections) != "[{posts users/u0/posts}]" {
			t.Errorf("got %v", got.Collections)
		}
	})
	t.Run("list documents with page tokens", func(t *testing.T) {
		var all []document
		token := ""
		for range 10 {
			var p page
			s.ok(t, "firestore_list_documents", map[string]any{"collection": "items", "page_size": 5, "page_token": token}, &p)
			all = append(all, p.Documents...)
			if token = p.NextPageToken; token == "" {
				break
			}
		}
		if len(all) != 12 || all[0].ID != "i00" || all[11].ID != "i11" {
			t.Errorf("got %d documents: %s", len(all), paths(all))
		}
	})
	t.Run("query", func(t *testing.T) {
		cases := []struct {
			name string
			args map[string]any
			want string
		}{
			{"timestamp filter", map[string]any{"collection": "items", "where": []any{map[string]any{"field": "at", "op": ">=", "value": raw(`{"$timestamp":"2024-01-11T00:00:00Z"}`)}}},
				"items/i10 items/i11"},
			{"reference filter", map[string]any{"collection": "items", "where": []any{map[string]any{"field": "owner", "op": "==", "value": raw(`{"$ref":"projects/` + e.fs.ProjectID + `/databases/(default)/documents/users/u1"}`)}}, "limit": 2},
				"items/i01 items/i03"},
			{"int64 above 2^53", map[string]any{"collection": "items", "where": []any{map[string]any{"field": "big", "op": "==", "value": raw(`{"$int":"1152921504606846983"}`)}}},
				"items/i07"},
			{"in and order desc", map[string]any{"collection": "items", "where": []any{map[string]any{"field": "n", "op": "in", "value": raw(`[1,2,3]`)}}, "order_by": []any{map[string]any{"field": "n", "direction": "desc"}}},
				"items/i03 items/i02 items/i01"},
			{"array-contains-any", map[string]any{"collection": "items", "where": []any{map[string]any{"field": "tags", "op": "array-contains-any", "value": raw(`["t2"]`)}, map[string]any{"field": "n", "op": "<", "value": raw(`6`)}}},
				"items/i02 items/i05"},
			{"or", map[string]any{"collection": "items", "or": []any{map[string]any{"field": "n", "op": "==", "value": raw(`0`)}, map[string]any{"field": "n", "op": ">", "value": raw(`10`)}}},
				"items/i00 items/i11"},
			{"not-in", map[string]any{"collection": "items", "where": []any{map[string]any{"field": "n", "op": "not-in", "value": raw(`[0,1,2,3,4,5,6,7,8,10]`)}}},
				"items/i09 items/i11"},
			{"!= and <=", map[string]any{"collection": "items", "where": []any{map[string]any{"field": "n", "op": "!=", "value": raw(`1`)}, map[string]any{"field": "n", "op": "<=", "value": raw(`2`)}}},
				"items/i00 items/i02"},
			{"array-contains and >", map[string]any{"collection": "items", "where": []any{map[string]any{"field": "tags", "op": "array-contains", "value": raw(`"t0"`)}, map[string]any{"field": "n", "op": ">", "value": raw(`6`)}}},
				"items/i09"},
			{"cursors", map[string]any{"collection": "items", "order_by": []any{map[string]any{"field": "n"}}, "start_after": []any{raw(`{"$int":"3"}`)}, "end_at": []any{raw(`5`)}},
				"items/i04 items/i05"},
			{"start_at end_before", map[string]any{"collection": "items", "order_by": []any{map[string]any{"field": "score"}}, "start_at": []any{raw(`{"$double":2.5}`)}, "end_before": []any{raw(`{"$double":4.5}`)}},
				"items/i02 items/i03"},
			{"limit_to_last", map[string]any{"collection": "items", "order_by": []any{map[string]any{"field": "n"}}, "limit_to_last": 2},
				"items/i10 items/i11"},
			{"offset and limit", map[string]any{"collection": "items", "offset": 3, "limit": 2},
				"items/i03 items/i04"},
			{"collection group", map[string]any{"collection": "posts", "group": true, "order_by": []any{map[string]any{"field": "n"}}},
				"users/u0/posts/p1 users/u1/posts/p2"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				var p page
				s.ok(t, "firestore_query", c.args, &p)
				if got := paths(p.Documents); got != c.want {
					t.Errorf("got %q, want %q", got, c.want)
				}
			})
		}
	})
	t.Run("select", func(t *testing.T) {
		var p page
		s.ok(t, "firestore_query", map[string]any{"collection": "items", "select": []string{"n"}, "limit": 1}, &p)
		if len(p.Documents) != 1 || string(p.Documents[0].Data) != `{"n":{"$int":"0"}}` {
			t.Errorf("got %+v", p.Documents)
		}
	})
	t.Run("aggregate", func(t *testing.T) {
		var got struct {
			Count json.RawMessage            `json:"count"`
			Sum   map[string]json.RawMessage `json:"sum"`
			Avg   map[string]json.RawMessage `json:"avg"`
		}
		s.ok(t, "firestore_aggregate", map[string]any{"collection": "items", "where": []any{map[string]any{"field": "n", "op": "<", "value": raw(`4`)}},
			"count": true, "sum": []string{"n"}, "avg": []string{"score"}}, &got)
		if string(got.Count) != `{"$int":"4"}` || string(got.Sum["n"]) != `{"$int":"6"}` || string(got.Avg["score"]) != `{"$double":2}` {
			t.Errorf("got count %s sum %s avg %s", got.Count, got.Sum["n"], got.Avg["score"])
		}
	})
	t.Run("refusals", func(t *testing.T) {
		s.fails(t, "firestore_query", map[string]any{"collection": "items", "where": []any{map[string]any{"field": "at", "op": ">=", "value": raw(`{"$timestamp":"yesterday"}`)}}},
			"invalid", "$.where[0].value")
		s.fails(t, "firestore_query", map[string]any{"collection": "items", "where": []any{map[string]any{"field": "n", "op": "~", "value": raw(`1`)}}},
			"$.where[0].op", "unknown operator")
		s.fails(t, "firestore_query", map[string]any{"collection": "items", "limit": "ten"}, "limit")
		s.fails(t, "firestore_query", map[string]any{"collection": "items", "bogus": 1}, "bogus")
		s.fails(t, "firestore_query", map[string]any{"collection": "items/i01"}, "document path")
		s.fails(t, "firestore_get", map[string]any{"paths": []string{"items"}}, "$.paths[0]", "collection path")
		s.fails(t, "firestore_query", map[string]any{"collection": "items", "start_after": []any{raw(`1`)}}, "needs order_by")
	})
}

func TestCaps(t *testing.T) {
	e := newEnv(t)
	s := e.start(t, "--allow-writes", "--max-docs", "3", "--max-bytes", "200B")
	for i := range 4 {
		s.ok(t, "firestore_set", map[string]any{"path": fmt.Sprintf("c/d%d", i), "data": raw(fmt.Sprintf(`{"n":%d,"pad":"%s"}`, i, strings.Repeat("x", 60)))}, nil)
	}
	s.fails(t, "firestore_query", map[string]any{"collection": "c", "limit": 4}, "limit:", "cap of 3")
	s.fails(t, "firestore_get", map[string]any{"paths": []string{"c/d0", "c/d1", "c/d2", "c/d3"}}, "cap of 3")
	s.fails(t, "firestore_query", map[string]any{"collection": "c", "limit": 3}, "cap of 200 bytes")
	s.fails(t, "firestore_set", map[string]any{"path": "c/big", "data": raw(`{"pad":"` + strings.Repeat("y", 400) + `"}`)}, "$.data", "cap of 200 bytes")
	var p page
	s.ok(t, "firestore_query", map[string]any{"collection": "c", "limit": 2, "select": []string{"n"}}, &p)
	if len(p.Documents) != 2 {
		t.Errorf("got %d documents", len(p.Documents))
	}
	// Without a limit the query is paged at the cap.
	s.ok(t, "firestore_query", map[string]any{"collection": "c", "select": []string{"n"}}, &p)
	if len(p.Documents) != 3 || p.NextPageToken == "" {
		t.Errorf("got %d documents, next %q", len(p.Documents), p.NextPageToken)
	}
}

func TestReadOnlyAndDeniedCollections(t *testing.T) {
	e := newEnv(t)
	ro := e.start(t, "--deny-collections", "secrets,**/private", "--allow-collections", "pub,secrets,users/**")
	ro.fails(t, "firestore_set", map[string]any{"path": "pub/a", "data": raw(`{"a":1}`)}, "permission_denied", "read-only", "--allow-writes")
	ro.fails(t, "firestore_delete", map[string]any{"paths": []string{"pub/a"}}, "read-only")
	ro.fails(t, "firestore_get", map[string]any{"paths": []string{"secrets/x"}}, "permission_denied", "denied")
	ro.fails(t, "firestore_query", map[string]any{"collection": "users/u1/private"}, "denied")
	ro.fails(t, "firestore_query", map[string]any{"collection": "other"}, "not among the allowed")
	ro.fails(t, "firestore_query", map[string]any{"collection": "private", "group": true}, "denied")
	var p page
	ro.ok(t, "firestore_query", map[string]any{"collection": "users/u1/posts"}, &p)

	rw := e.start(t, "--allow-writes", "--deny-collections", "secrets")
	rw.ok(t, "firestore_set", map[string]any{"path": "pub/a", "data": raw(`{"a":1}`)}, nil)
	rw.fails(t, "firestore_set", map[string]any{"path": "secrets/a", "data": raw(`{"a":1}`)}, "denied")
	rw.fails(t, "firestore_delete", map[string]any{"paths": []string{"pub/a"}}, "--allow-destructive")
	// Denied collections do not show in the list.
	e.fs.Client.Doc("secrets/s1").Set(context.Background(), map[string]any{"x": 1})
	var cols struct {
		Collections []struct{ ID string } `json:"collections"`
	}
	rw.ok(t, "firestore_list_collections", map[string]any{}, &cols)
	if fmt.Sprint(cols.Collections) != "[{pub}]" {
		t.Errorf("got %v", cols.Collections)
	}
}

func TestWriteTools(t *testing.T) {
	e := newEnv(t)
	s := e.start(t, "--allow-writes")
	var wr struct {
		Path       string `json:"path"`
		UpdateTime string `json:"update_time"`
	}
	s.ok(t, "firestore_create", map[string]any{"path": "w/a", "data": raw(`{"n":{"$int":"1"},"tags":["x"],"m":{"k":"v"},"gone":true}`)}, &wr)
	s.fails(t, "firestore_create", map[string]any{"path": "w/a", "data": raw(`{}`)}, "already_exists")
	var auto struct{ Path string }
	s.ok(t, "firestore_create", map[string]any{"path": "w", "data": raw(`{"auto":true}`)}, &auto)
	if !strings.HasPrefix(auto.Path, "w/") || len(auto.Path) < 10 {
		t.Errorf("auto ID path %q", auto.Path)
	}
	first := wr.UpdateTime
	s.ok(t, "firestore_update", map[string]any{"path": "w/a", "data": raw(`{"m.k2":"v2"}`), "delete_fields": []string{"gone"},
		"server_timestamp": []string{"seen"}, "increment": map[string]any{"n": raw(`{"$int":"41"}`)},
		"array_union": map[string]any{"tags": []any{raw(`"y"`)}}, "if_update_time": first}, &wr)
	s.fails(t, "firestore_update", map[string]any{"path": "w/a", "data": raw(`{"n":0}`), "if_update_time": first}, "conflict")
	s.fails(t, "firestore_update", map[string]any{"path": "w/missing", "data": raw(`{"n":0}`)}, "not_found")
	s.fails(t, "firestore_update", map[string]any{"path": "w/a", "data": raw(`{"n":{"$int":"x1"}}`)}, "$.data.n", "invalid int64")
	s.fails(t, "firestore_set", map[string]any{"path": "w/a", "data": raw(`{"a":{"b":[1,{"$itn":"2"}]}}`)}, `$.data.a.b[1]`, "unknown type tag")
	s.fails(t, "firestore_update", map[string]any{"path": "w/a", "array_remove": map[string]any{"tags": []any{raw(`{"$bytes":"!!"}`)}}}, `$.array_remove["tags"][0]`)
	var got page
	s.ok(t, "firestore_get", map[string]any{"paths": []string{"w/a"}}, &got)
	m, err := value.DecodeMap(got.Documents[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	if m["n"] != int64(42) || fmt.Sprint(m["tags"]) != "[x y]" || fmt.Sprint(m["m"]) != "map[k:v k2:v2]" || m["gone"] != nil {
		t.Errorf("got %s", got.Documents[0].Data)
	}
	if _, ok := m["seen"].(time.Time); !ok {
		t.Errorf("seen is %T, want a server timestamp", m["seen"])
	}
	s.ok(t, "firestore_update", map[string]any{"path": "w/a", "array_remove": map[string]any{"tags": []any{raw(`"x"`)}}}, nil)
	s.ok(t, "firestore_set", map[string]any{"path": "w/a", "data": raw(`{"extra":1}`), "merge": true}, nil)
	s.ok(t, "firestore_get", map[string]any{"paths": []string{"w/a"}}, &got)
	m, _ = value.DecodeMap(got.Documents[0].Data)
	if fmt.Sprint(m["tags"]) != "[y]" || m["extra"] != int64(1) || m["n"] != int64(42) {
		t.Errorf("after merge: %s", got.Documents[0].Data)
	}
	// Logs name tools and targets, never values.
	logs := s.stderr.String()
	if !strings.Contains(logs, "tool=firestore_update") || !strings.Contains(logs, "target=w/a") || !strings.Contains(logs, "outcome=conflict") {
		t.Errorf("logs lack calls:\n%s", logs)
	}
	// The values written were "v2" and 41; times and durations are not theirs.
	bare := regexp.MustCompile(`time=\S+|ms=\d+|database=\S+`).ReplaceAllString(logs, "")
	if regexp.MustCompile(`\bv2\b|\b41\b`).MatchString(bare) {
		t.Errorf("logs carry values:\n%s", logs)
	}
}

func TestDeleteNeedsConfirmation(t *testing.T) {
	e := newEnv(t)
	s := e.start(t, "--allow-writes", "--allow-destructive", "--max-docs", "20")
	for i := range 5 {
		s.ok(t, "firestore_set", map[string]any{"path": fmt.Sprintf("tree/t%d", i), "data": raw(`{"a":1}`)}, nil)
		s.ok(t, "firestore_set", map[string]any{"path": fmt.Sprintf("tree/t%d/sub/s", i), "data": raw(`{"a":1}`)}, nil)
	}
	s.fails(t, "firestore_delete", map[string]any{"paths": []string{"tree"}}, "recursive")
	var dry struct {
		DryRun       bool     `json:"dry_run"`
		Documents    int      `json:"documents"`
		Sample       []string `json:"sample"`
		ConfirmToken string   `json:"confirm_token"`
	}
	s.ok(t, "firestore_delete", map[string]any{"paths": []string{"tree"}, "recursive": true}, &dry)
	if !dry.DryRun || dry.Documents != 10 || dry.ConfirmToken == "" || len(dry.Sample) != 10 {
		t.Fatalf("dry run: %+v", dry)
	}
	// Nothing deleted yet.
	var p page
	s.ok(t, "firestore_get", map[string]any{"paths": []string{"tree/t0", "tree/t0/sub/s"}}, &p)
	if len(p.Documents) != 2 {
		t.Fatalf("the dry run deleted: %s", paths(p.Documents))
	}
	// The token confirms only its own request.
	s.fails(t, "firestore_delete", map[string]any{"paths": []string{"tree/t0"}, "recursive": true, "confirm_token": dry.ConfirmToken}, "does not match")
	s.fails(t, "firestore_delete", map[string]any{"paths": []string{"tree"}, "recursive": true, "confirm_token": "bogus"}, "not a token")
	var done struct {
		DryRun    bool `json:"dry_run"`
		Documents int  `json:"documents"`
	}
	s.ok(t, "firestore_delete", map[string]any{"paths": []string{"tree"}, "recursive": true, "confirm_token": dry.ConfirmToken}, &done)
	if done.DryRun || done.Documents != 10 {
		t.Errorf("delete: %+v", done)
	}
	s.ok(t, "firestore_get", map[string]any{"paths": []string{"tree/t0", "tree/t0/sub/s"}}, &p)
	if len(p.Documents) != 0 {
		t.Errorf("left: %s", paths(p.Documents))
	}
	// A tree over the cap is refused at the dry run.
	for i := range 21 {
		e.fs.Client.Doc(fmt.Sprintf("big/b%02d", i)).Set(context.Background(), map[string]any{"a": 1})
	}
	s.fails(t, "firestore_delete", map[string]any{"paths": []string{"big"}, "recursive": true}, "21 documents", "cap of 20")
	// A single document: same two steps.
	s.ok(t, "firestore_delete", map[string]any{"paths": []string{"big/b00"}}, &dry)
	s.ok(t, "firestore_delete", map[string]any{"paths": []string{"big/b00"}, "confirm_token": dry.ConfirmToken}, &done)
	if done.Documents != 1 {
		t.Errorf("delete one: %+v", done)
	}
}

func TestMalformedRequests(t *testing.T) {
	e := newEnv(t)
	cmd := exec.Command(bin, "--emulator", "--project", e.fs.ProjectID, "mcp")
	cmd.Env = e.environ()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	replies := make(chan map[string]any, 16)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				m = map[string]any{"unparsable": sc.Text()}
			}
			replies <- m
		}
		close(replies)
	}()
	next := func() map[string]any {
		t.Helper()
		select {
		case m, ok := <-replies:
			if !ok {
				t.Fatalf("the server exited; stderr:\n%s", stderr.String())
			}
			return m
		case <-time.After(10 * time.Second):
			t.Fatalf("no reply; stderr:\n%s", stderr.String())
		}
		return nil
	}
	send := func(line string) { fmt.Fprintln(stdin, line) }
	send(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}`)
	if r := next(); r["result"] == nil {
		t.Fatalf("initialize: %v", r)
	}
	send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	cases := []struct {
		line     string
		protocol bool // a JSON-RPC error, rather than a tool error
	}{
		{`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"no_such_tool","arguments":{}}}`, true},
		{`{"jsonrpc":"2.0","id":3,"method":"no/such/method"}`, true},
		{`{"jsonrpc":"2.0","id":4,"method":"tools/call","params":"not an object"}`, true},
		{`{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"firestore_get","arguments":[1,2]}}`, false},
		{`{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"firestore_get","arguments":{"paths":"users/a"}}}`, false},
	}
	for _, c := range cases {
		send(c.line)
		r := next()
		errObj, isErr := r["error"].(map[string]any)
		res, _ := r["result"].(map[string]any)
		switch {
		case c.protocol && !(isErr && errObj["code"] != nil):
			t.Errorf("%s: got %v, want a JSON-RPC error", c.line, r)
		case !c.protocol && !(isErr || res["isError"] == true):
			t.Errorf("%s: got %v, want an error", c.line, r)
		}
	}
	for _, line := range []string{`this is not json`, `{"jsonrpc":"2.0","id":`, `[1,2]`, `{"jsonrpc":"2.0","id":8}`, `"just a string"`} {
		send(line)
	}
	if r := next(); r["error"] == nil {
		t.Errorf("not JSON: got %v, want a parse error", r)
	}
	for _, what := range []string{"cut JSON", "an array", "an id alone", "a string"} {
		if r := next(); r["error"] == nil {
			t.Errorf("%s: got %v, want a JSON-RPC error", what, r)
		}
	}
	send(`{"jsonrpc":"2.0","id":7,"method":"tools/list"}`)
	if r := next(); r["result"] == nil {
		t.Errorf("tools/list after the bad requests: got %v", r)
	}
	stdin.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Error("the server did not exit when its input ended")
	}
	if strings.Contains(stderr.String(), "panic") {
		t.Fatalf("panic:\n%s", stderr.String())
	}
}

func TestAuthTools(t *testing.T) {
	e := newEnv(t)
	s := e.start(t, "--allow-writes", "--allow-destructive", "--allow-custom-tokens")
	uid := emutest.UniqueID(t, "mcp")
	email := emutest.UniqueEmail(t, "mcp")
	type user struct {
		UID         string         `json:"uid"`
		Email       string         `json:"email"`
		DisplayName string         `json:"display_name"`
		Disabled    bool           `json:"disabled"`
		Claims      map[string]any `json:"custom_claims"`
	}
	var u user
	s.ok(t, "auth_create_user", map[string]any{"uid": uid, "email": email, "password": "s3cret-pw", "display_name": "Ada"}, &u)
	if u.UID != uid || u.Email != email || u.DisplayName != "Ada" {
		t.Errorf("created %+v", u)
	}
	s.fails(t, "auth_create_user", map[string]any{"uid": uid}, "already_exists")
	s.ok(t, "auth_get_user", map[string]any{"email": email}, &u)
	if u.UID != uid {
		t.Errorf("by email: %+v", u)
	}
	s.fails(t, "auth_get_user", map[string]any{"uid": uid, "email": email}, "exactly one")
	s.fails(t, "auth_get_user", map[string]any{"uid": uid + "-nope"}, "not_found")
	var list struct {
		Users []user `json:"users"`
	}
	s.ok(t, "auth_list_users", map[string]any{"page_size": 100}, &list)
	if len(list.Users) == 0 {
		t.Error("list: no users")
	}
	s.ok(t, "auth_update_user", map[string]any{"uid": uid, "display_name": "Ada L."}, &u)
	if u.DisplayName != "Ada L." {
		t.Errorf("updated %+v", u)
	}
	s.ok(t, "auth_set_user_disabled", map[string]any{"uid": uid, "disabled": true}, &u)
	if !u.Disabled {
		t.Errorf("not disabled: %+v", u)
	}
	s.ok(t, "auth_set_user_disabled", map[string]any{"uid": uid, "disabled": false}, &u)
	if u.Disabled {
		t.Errorf("not enabled: %+v", u)
	}
	var claims struct {
		Claims map[string]any `json:"custom_claims"`
	}
	s.ok(t, "auth_set_custom_claims", map[string]any{"uid": uid, "claims": raw(`{"role":"admin","level":3}`)}, &claims)
	s.ok(t, "auth_set_custom_claims", map[string]any{"uid": uid, "claims": raw(`{"level":null,"team":"a"}`), "merge": true}, &claims)
	claims.Claims = nil // json.Unmarshal merges into a map
	s.ok(t, "auth_get_custom_claims", map[string]any{"uid": uid}, &claims)
	if fmt.Sprint(claims.Claims) != "map[role:admin team:a]" {
		t.Errorf("claims %v", claims.Claims)
	}
	s.fails(t, "auth_set_custom_claims", map[string]any{"uid": uid, "claims": raw(`{"sub":"x"}`)}, "invalid", "sub")
	s.ok(t, "auth_revoke_refresh_tokens", map[string]any{"uid": uid}, nil)
	var link struct{ Link string }
	s.ok(t, "auth_action_link", map[string]any{"kind": "password_reset", "email": email}, &link)
	if !strings.Contains(link.Link, "oobCode") {
		t.Errorf("link %q", link.Link)
	}
	s.fails(t, "auth_action_link", map[string]any{"kind": "magic", "email": email}, "$.kind")
	var tok struct {
		CustomToken string `json:"custom_token"`
	}
	s.ok(t, "auth_mint_custom_token", map[string]any{"uid": uid, "claims": raw(`{"role":"admin"}`)}, &tok)
	if strings.Count(tok.CustomToken, ".") != 2 {
		t.Errorf("custom token %q", tok.CustomToken)
	}
	var del struct {
		DryRun       bool   `json:"dry_run"`
		User         user   `json:"user"`
		ConfirmToken string `json:"confirm_token"`
	}
	s.ok(t, "auth_delete_user", map[string]any{"uid": uid}, &del)
	if !del.DryRun || del.User.UID != uid || del.ConfirmToken == "" {
		t.Fatalf("dry run %+v", del)
	}
	s.ok(t, "auth_get_user", map[string]any{"uid": uid}, &u) // still there
	s.fails(t, "auth_delete_user", map[string]any{"uid": uid + "x", "confirm_token": del.ConfirmToken}, "does not match")
	s.ok(t, "auth_delete_user", map[string]any{"uid": uid, "confirm_token": del.ConfirmToken}, &del)
	s.fails(t, "auth_get_user", map[string]any{"uid": uid}, "not_found")
	// Neither passwords, emails nor tokens reach the log.
	logs := s.stderr.String()
	for _, secret := range []string{"s3cret-pw", email, tok.CustomToken, link.Link} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log carries %q:\n%s", secret, logs)
		}
	}

	ro := e.start(t)
	ro.fails(t, "auth_create_user", map[string]any{"uid": uid}, "read-only")
	ro.fails(t, "auth_set_custom_claims", map[string]any{"uid": uid, "claims": raw(`{}`)}, "read-only")
	ro.fails(t, "auth_delete_user", map[string]any{"uid": uid}, "read-only")
	res, err := ro.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tool := range res.Tools {
		if tool.Name == "auth_mint_custom_token" {
			t.Error("auth_mint_custom_token offered without --allow-custom-tokens")
		}
	}
}

// bearer sends an ID token with every request.
type bearer struct{ token string }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	if b.token != "" {
		r.Header.Set("Authorization", "Bearer "+b.token)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// startHTTP starts `fbadmin mcp --http` on a free loopback port and
// returns its endpoint.
func startHTTP(t *testing.T, environ []string, project string, args ...string) (string, *syncBuffer) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(bin, append([]string{"--emulator", "--project", project, "mcp", "--http", fmt.Sprint(port)}, args...)...)
	cmd.Env = environ
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			t.Error("the HTTP server did not stop on SIGINT")
		}
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the HTTP server did not come up:\n%s", stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return base + "/mcp", stderr
}

func connectHTTP(t *testing.T, endpoint, token string) (*session, error) {
	t.Helper()
	client := sdk.NewClient(&sdk.Implementation{Name: "fbadmin-test", Version: "v0"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cs, err := client.Connect(ctx, &sdk.StreamableClientTransport{Endpoint: endpoint, HTTPClient: &http.Client{Transport: bearer{token}}, MaxRetries: -1}, nil)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { cs.Close() })
	return &session{ClientSession: cs, stderr: &syncBuffer{}}, nil
}

func TestHTTPWithAccessRules(t *testing.T) {
	a := emutest.NewAuth(t)
	fs := emutest.FirestoreHost(t)
	// ID tokens from the Auth emulator name its own project: the server
	// runs there, and this test keeps to collections of its own.
	sfx := strings.ToLower(strings.ReplaceAll(emutest.UniqueID(t, "h"), "-", "_"))
	posts, notes, secrets := "posts_"+sfx, "notes_"+sfx, "secrets_"+sfx
	cfg := filepath.Join(t.TempDir(), "serve.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`rules:
  - match: %s
    allow: [read]
  - match: %s
    allow: [all]
    owner: owner_uid
`, posts, notes)), 0o600)
	environ := append(os.Environ(), "FIRESTORE_EMULATOR_HOST="+fs, "FIREBASE_AUTH_EMULATOR_HOST="+a.Host)
	endpoint, logs := startHTTP(t, environ, a.ProjectID, "--rules", cfg, "--allow-writes", "--auth-claim", "admin")

	ac, err := auth.New(context.Background(), auth.Config{ProjectID: a.ProjectID, EmulatorHost: a.Host})
	if err != nil {
		t.Fatal(err)
	}
	token := func(claims map[string]any) (string, string) {
		uid := emutest.UniqueID(t, "mcp")
		ctx := context.Background()
		ct, err := ac.CustomToken(ctx, uid, claims)
		if err != nil {
			t.Fatal(err)
		}
		cred, err := ac.SignInClient().SignInWithCustomToken(ctx, ct)
		if err != nil {
			t.Fatal(err)
		}
		return uid, cred.IDToken
	}
	alice, aliceTok := token(nil)
	bob, _ := token(nil)
	_, adminTok := token(map[string]any{"admin": true})

	// Seed through the admin path: posts, and one note each.
	fsClient := sharedClient(t, fs, a.ProjectID, posts, notes, secrets)
	ctx := context.Background()
	fsClient.Doc(posts+"/p1").Set(ctx, map[string]any{"title": "hello"})
	fsClient.Doc(notes+"/a1").Set(ctx, map[string]any{"owner_uid": alice, "text": "mine"})
	fsClient.Doc(notes+"/b1").Set(ctx, map[string]any{"owner_uid": bob, "text": "bob's"})
	fsClient.Doc(secrets+"/s1").Set(ctx, map[string]any{"x": 1})

	if _, err := connectHTTP(t, endpoint, ""); err == nil {
		t.Error("connected without a token")
	}
	if _, err := connectHTTP(t, endpoint, "not-a-token"); err == nil {
		t.Error("connected with a bad token")
	}
	s, err := connectHTTP(t, endpoint, aliceTok)
	if err != nil {
		t.Fatalf("connect: %v\n%s", err, logs)
	}
	var p page
	s.ok(t, "firestore_get", map[string]any{"paths": []string{posts + "/p1", notes + "/a1", notes + "/b1"}}, &p)
	if paths(p.Documents) != posts+"/p1 "+notes+"/a1" || len(p.Missing) != 1 {
		t.Errorf("get: %s, missing %v (bob's note must look missing)", paths(p.Documents), p.Missing)
	}
	s.ok(t, "firestore_query", map[string]any{"collection": notes}, &p)
	if paths(p.Documents) != notes+"/a1" {
		t.Errorf("query notes: %s (only alice's)", paths(p.Documents))
	}
	s.fails(t, "firestore_query", map[string]any{"collection": secrets}, "permission_denied", "no rule allows")
	s.fails(t, "firestore_set", map[string]any{"path": posts + "/p2", "data": raw(`{"title":"x"}`)}, "permission_denied")
	s.ok(t, "firestore_set", map[string]any{"path": notes + "/a2", "data": raw(`{"owner_uid":"` + alice + `","text":"new"}`)}, nil)
	s.fails(t, "firestore_set", map[string]any{"path": notes + "/a3", "data": raw(`{"owner_uid":"` + bob + `"}`)}, "permission_denied", "owner_uid")
	s.fails(t, "firestore_update", map[string]any{"path": notes + "/b1", "data": raw(`{"text":"hacked"}`)}, "not_found")
	s.fails(t, "firestore_set", map[string]any{"path": notes + "/b1", "data": raw(`{"text":"hacked"}`), "merge": true}, "not_found")
	s.fails(t, "firestore_set", map[string]any{"path": notes + "/a4", "data": raw(`{"text":"no owner"}`), "merge": true}, "permission_denied")
	s.fails(t, "firestore_set", map[string]any{"path": notes + "/a2", "data": raw(`{"owner_uid":"` + bob + `"}`), "merge": true}, "permission_denied", "must stay")
	s.ok(t, "firestore_update", map[string]any{"path": notes + "/a1", "data": raw(`{"text":"edited"}`)}, nil)
	var cnt struct {
		Count json.RawMessage `json:"count"`
	}
	s.ok(t, "firestore_aggregate", map[string]any{"collection": notes}, &cnt)
	if string(cnt.Count) != `{"$int":"2"}` {
		t.Errorf("count of alice's notes: %s", cnt.Count)
	}
	s.fails(t, "auth_get_user", map[string]any{"uid": alice}, "permission_denied", `"admin"`)

	admin, err := connectHTTP(t, endpoint, adminTok)
	if err != nil {
		t.Fatal(err)
	}
	var u struct{ UID string }
	admin.ok(t, "auth_get_user", map[string]any{"uid": alice}, &u)
	if u.UID != alice {
		t.Errorf("admin get user: %+v", u)
	}
	// Malformed HTTP requests get HTTP or JSON-RPC errors; the server goes on.
	for _, body := range []string{`not json`, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":"x"}`, `[]`} {
		req, _ := http.NewRequest("POST", endpoint, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+adminTok)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("POST %s: %v", body, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode < 400 && !bytes.Contains(b, []byte(`"error"`)) {
			t.Errorf("POST %s: %d %s, want an error", body, resp.StatusCode, b)
		}
	}
	admin.ok(t, "auth_get_user", map[string]any{"uid": alice}, &u)
	snap, err := fsClient.Doc(notes + "/b1").Get(ctx)
	if err != nil || snap.Data()["text"] != "bob's" {
		t.Errorf("bob's note changed: %v %v", snap.Data(), err)
	}
	if l := logs.String(); !strings.Contains(l, "uid="+alice) || strings.Contains(l, aliceTok) {
		t.Errorf("the log lacks the caller or carries the token:\n%s", l)
	}
}

// sharedClient is a Firestore client of a project other tests share: on
// cleanup it deletes the documents of the given collections only.
func sharedClient(t *testing.T, host, project string, colls ...string) *firestore.Client {
	t.Helper()
	t.Setenv("FIRESTORE_EMULATOR_HOST", host)
	c, err := firestore.NewClient(context.Background(), project)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		for _, coll := range colls {
			refs, _ := c.Collection(coll).DocumentRefs(ctx).GetAll()
			for _, r := range refs {
				r.Delete(ctx)
			}
		}
		c.Close()
	})
	return c
}

func TestResourcesAndPrompts(t *testing.T) {
	e := newEnv(t)
	s := e.start(t, "--allow-writes", "--deny-collections", "hidden")
	s.ok(t, "firestore_set", map[string]any{"path": "things/a", "data": raw(`{"n":{"$int":"7"}}`)}, nil)
	s.ok(t, "firestore_set", map[string]any{"path": "things/b", "data": raw(`{"n":{"$int":"8"}}`)}, nil)
	ctx := context.Background()
	tmpl, err := s.ListResourceTemplates(ctx, nil)
	if err != nil || len(tmpl.ResourceTemplates) != 1 || tmpl.ResourceTemplates[0].URITemplate != "firestore://{+path}" {
		t.Fatalf("templates: %v %v", tmpl, err)
	}
	read := func(uri string) string {
		t.Helper()
		res, err := s.ReadResource(ctx, &sdk.ReadResourceParams{URI: uri})
		if err != nil {
			t.Fatalf("read %s: %v", uri, err)
		}
		return res.Contents[0].Text
	}
	if got := read("firestore://things/a"); !strings.Contains(got, `"data":{"n":{"$int":"7"}}`) {
		t.Errorf("document resource: %s", got)
	}
	if got := read("firestore://things"); !strings.Contains(got, `"things/a"`) || !strings.Contains(got, `"things/b"`) {
		t.Errorf("collection resource: %s", got)
	}
	if got := read("firestore://"); !strings.Contains(got, `"things"`) {
		t.Errorf("root resource: %s", got)
	}
	if got := read("fbadmin://value-format"); !strings.Contains(got, "$timestamp") {
		t.Errorf("value format resource: %s", got)
	}
	if _, err := s.ReadResource(ctx, &sdk.ReadResourceParams{URI: "firestore://things/nope"}); err == nil {
		t.Error("a missing document read without error")
	}
	if _, err := s.ReadResource(ctx, &sdk.ReadResourceParams{URI: "firestore://hidden/x"}); err == nil || !strings.Contains(err.Error(), "denied") {
		t.Errorf("a denied collection: %v", err)
	}
	prompts, err := s.ListPrompts(ctx, nil)
	if err != nil || len(prompts.Prompts) != 2 {
		t.Fatalf("prompts: %v %v", prompts, err)
	}
	p, err := s.GetPrompt(ctx, &sdk.GetPromptParams{Name: "inspect_collection", Arguments: map[string]string{"collection": "things"}})
	if err != nil || !strings.Contains(p.Messages[0].Content.(*sdk.TextContent).Text, `"collection": "things"`) {
		t.Errorf("inspect_collection: %v %v", p, err)
	}
	if _, err := s.GetPrompt(ctx, &sdk.GetPromptParams{Name: "find_documents", Arguments: map[string]string{"collection": "things"}}); err == nil {
		t.Error("find_documents without its condition: no error")
	}
}

func TestExportImport(t *testing.T) {
	e := newEnv(t)
	s := e.start(t, "--allow-writes", "--max-docs", "6")
	for i := range 3 {
		s.ok(t, "firestore_set", map[string]any{"path": fmt.Sprintf("exp/e%d", i), "data": raw(fmt.Sprintf(`{"n":{"$int":"%d"},"at":{"$timestamp":"2024-01-02T03:04:05.123456Z"}}`, i))}, nil)
	}
	s.ok(t, "firestore_set", map[string]any{"path": "exp/e0/sub/s", "data": raw(`{"b":{"$bytes":"AAE="}}`)}, nil)
	var ex struct {
		Documents []struct {
			Path string          `json:"path"`
			Data json.RawMessage `json:"data"`
		} `json:"documents"`
	}
	s.ok(t, "firestore_export", map[string]any{"paths": []string{"exp"}}, &ex)
	if len(ex.Documents) != 4 {
		t.Fatalf("export: %d documents", len(ex.Documents))
	}
	var lines []any
	for _, d := range ex.Documents {
		lines = append(lines, map[string]any{"path": "imp" + strings.TrimPrefix(d.Path, "exp"), "data": d.Data})
	}
	type result struct {
		DryRun   bool  `json:"dry_run"`
		Written  int64 `json:"written"`
		Skipped  int64 `json:"skipped"`
		Failed   int64 `json:"failed"`
		Failures []struct{ Path, Error string }
	}
	var r result
	s.ok(t, "firestore_import", map[string]any{"documents": lines, "dry_run": true}, &r)
	if !r.DryRun || r.Written != 4 {
		t.Errorf("dry run: %+v", r)
	}
	s.ok(t, "firestore_import", map[string]any{"documents": lines}, &r)
	if r.Written != 4 || r.Failed != 0 {
		t.Errorf("import: %+v", r)
	}
	r = result{}
	s.ok(t, "firestore_import", map[string]any{"documents": lines}, &r)
	if r.Failed != 4 || len(r.Failures) != 4 || !strings.Contains(r.Failures[0].Error, "already_exists") {
		t.Errorf("import again: %+v", r)
	}
	r = result{}
	s.ok(t, "firestore_import", map[string]any{"documents": lines, "mode": "skip-existing"}, &r)
	if r.Skipped != 4 {
		t.Errorf("skip-existing: %+v", r)
	}
	var got page
	s.ok(t, "firestore_get", map[string]any{"paths": []string{"imp/e0/sub/s", "exp/e0/sub/s"}}, &got)
	if len(got.Documents) != 2 || !bytes.Equal(got.Documents[0].Data, got.Documents[1].Data) {
		t.Errorf("imported copy: %+v", got.Documents)
	}
	s.fails(t, "firestore_import", map[string]any{"documents": []any{map[string]any{"path": "imp/x", "data": raw(`{"a":{"$int":"1.5"}}`)}}}, "$.documents[0].data.a")
	s.fails(t, "firestore_import", map[string]any{"documents": lines, "mode": "upsert"}, "$.mode")
	s.fails(t, "firestore_export", map[string]any{"paths": []string{"imp", "exp"}}, "limit", "cap of 6 documents")
	ro := e.start(t)
	ro.fails(t, "firestore_import", map[string]any{"documents": lines}, "read-only")
}

func TestNamedDatabaseAndTenant(t *testing.T) {
	e := newEnv(t)
	other := e.fs.NewClient(t, "otherdb")
	ac, err := auth.New(context.Background(), auth.Config{ProjectID: e.fs.ProjectID, EmulatorHost: e.authHost})
	if err != nil {
		t.Fatal(err)
	}
	tenant, err := ac.CreateTenant(context.Background(), (&auth.TenantToCreate{}).DisplayName("mcp-test"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ac.DeleteTenant(context.Background(), tenant.ID) })
	cmd := []string{"--database", "otherdb", "--tenant", tenant.ID}
	s := e.startWith(t, cmd, "--allow-writes")
	s.ok(t, "firestore_set", map[string]any{"path": "named/a", "data": raw(`{"ref":{"$ref":"projects/` + e.fs.ProjectID + `/databases/otherdb/documents/named/b"}}`)}, nil)
	snap, err := other.Doc("named/a").Get(context.Background())
	if err != nil {
		t.Fatalf("not in the named database: %v", err)
	}
	if ref, ok := snap.Data()["ref"].(*firestore.DocumentRef); !ok || !strings.Contains(ref.Path, "/databases/otherdb/") {
		t.Errorf("ref %v", snap.Data()["ref"])
	}
	if snap, err := e.fs.Client.Doc("named/a").Get(context.Background()); err == nil && snap.Exists() {
		t.Error("written to the default database too")
	}
	uid := emutest.UniqueID(t, "tenant")
	s.ok(t, "auth_create_user", map[string]any{"uid": uid}, nil)
	tc, err := ac.ForTenant(tenant.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tc.GetUser(context.Background(), uid); err != nil {
		t.Errorf("the user is not in the tenant: %v", err)
	}
	if _, err := ac.GetUser(context.Background(), uid); err == nil {
		t.Error("the user is outside the tenant too")
	}
}

func TestExplainOnTheEmulator(t *testing.T) {
	e := newEnv(t)
	s := e.start(t)
	s.fails(t, "firestore_explain", map[string]any{"collection": "items", "where": []any{map[string]any{"field": "n", "op": ">", "value": raw(`1`)}}, "analyze": true},
		"emulator does not explain")
}

func TestSearchUsersOnTheEmulator(t *testing.T) {
	e := newEnv(t)
	ac, err := auth.New(context.Background(), auth.Config{ProjectID: e.fs.ProjectID, EmulatorHost: e.authHost})
	if err != nil {
		t.Fatal(err)
	}
	uid := emutest.UniqueID(t, "search")
	if _, err := ac.CreateUser(context.Background(), (&auth.UserToCreate{}).UID(uid)); err != nil {
		t.Fatal(err)
	}
	s := e.start(t, "--max-docs", "100000")
	var got struct {
		Users []struct{ UID string } `json:"users"`
	}
	s.ok(t, "auth_search_users", map[string]any{}, &got)
	found := false
	for _, u := range got.Users {
		found = found || u.UID == uid
	}
	if !found && len(got.Users) < 100 {
		t.Errorf("search: %d users, not %s", len(got.Users), uid)
	}
	s.fails(t, "auth_search_users", map[string]any{"email": "x@example.com"}, "emulator")
	s.fails(t, "auth_search_users", map[string]any{"sort_by": "height"}, "$.sort_by")
}
