package rulecheck

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/fbadmin/fbadmin/internal/emutest"
)

func TestParseErrors(t *testing.T) {
	tests := []struct{ name, src, want string }{
		{"unknown op", "cases:\n  - {op: read, path: a/b, expect: allow}\n", `unknown operation "read"`},
		{"get with data", "cases:\n  - {op: get, path: a/b, data: {x: 1}, expect: allow}\n", "get takes no data"},
		{"create without data", "cases:\n  - {op: create, path: a/b, expect: allow}\n", "create needs data"},
		{"list of a document", "cases:\n  - {op: list, path: a/b, expect: deny}\n", "list takes a collection path"},
		{"get of a collection", "cases:\n  - {op: get, path: a, expect: deny}\n", "get takes a document path"},
		{"no expectation", "cases:\n  - {op: get, path: a/b}\n", `expect is allow or deny, got ""`},
		{"unknown key", "cases:\n  - {op: get, path: a/b, expect: allow, expected: deny}\n", "expected"},
		{"fixture of a collection", "fixtures:\n  users: {a: 1}\ncases:\n  - {op: get, path: a/b, expect: allow}\n", "not a document path"},
		{"user without uid", "users:\n  x: {claims: {a: 1}}\ncases:\n  - {op: get, path: a/b, expect: allow}\n", "a user needs a uid"},
		{"no cases", "users: {}\n", "no cases"},
	}
	for _, tt := range tests {
		_, err := Parse("cases.yaml", []byte(tt.src))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want an error containing %q", tt.name, err, tt.want)
		}
		if err != nil && !strings.Contains(err.Error(), "line ") && !strings.Contains(err.Error(), "[2:") && tt.name != "no cases" {
			t.Errorf("%s: the error names no line: %v", tt.name, err)
		}
	}
}

func TestParseDecodesValues(t *testing.T) {
	f, err := Parse("c.yaml", []byte(`
fixtures:
  a/b: {n: 1, t: {$timestamp: '2024-01-02T00:00:00Z'}}
cases:
  - {op: update, path: a/b, data: {n: 2}, expect: allow}
`))
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := f.fixtures["a/b"]["t"].(time.Time); !ok || !got.Equal(time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("fixture timestamp: got %#v", f.fixtures["a/b"]["t"])
	}
	if got, ok := f.Cases[0].data["n"].(int64); !ok || got != 2 {
		t.Errorf("case data n: got %#v, want int64 2", f.Cases[0].data["n"])
	}
	if f.Cases[0].Name != "#1 update a/b" {
		t.Errorf("default name: got %q", f.Cases[0].Name)
	}
}

func TestEmulatorIDToken(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	tok := EmulatorIDToken("demo-p", "alice", map[string]any{"admin": true}, now)
	parts := strings.Split(tok, ".")
	if len(parts) != 3 || parts[2] != "" {
		t.Fatalf("not an unsigned JWT: %q", tok)
	}
	var header, claims map[string]any
	for i, v := range []*map[string]any{&header, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		json.Unmarshal(b, v)
	}
	if header["alg"] != "none" {
		t.Errorf("alg: got %v", header["alg"])
	}
	want := map[string]any{"aud": "demo-p", "iss": "https://securetoken.google.com/demo-p", "sub": "alice", "user_id": "alice", "admin": true,
		"iat": float64(now.Unix()), "exp": float64(now.Unix() + 3600)}
	for k, v := range want {
		if claims[k] != v {
			t.Errorf("claim %s: got %v, want %v", k, claims[k], v)
		}
	}
}

// The runner against a Firestore emulator of the test's own that enforces
// testdata/firestore.rules: the 50 cases of testdata/cases50.yaml (allowed
// and denied reads and writes, claims, a rule that reads another document)
// all go as expected; a file with one deliberately wrong expectation fails
// that case and only it; no scratch data is left behind.
func TestRunnerOnRulesEmulator(t *testing.T) {
	host := emutest.StartFirestoreWithRules(t, "testdata/firestore.rules")
	ctx := context.Background()

	t.Run("cases50", func(t *testing.T) {
		src, err := os.ReadFile("testdata/cases50.yaml")
		if err != nil {
			t.Fatal(err)
		}
		f, err := Parse("cases50.yaml", src)
		if err != nil {
			t.Fatal(err)
		}
		r := &Runner{Host: host, ProjectPrefix: "demo-rc50"}
		start := time.Now()
		results, err := r.Run(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("50 cases in %s", time.Since(start).Round(time.Millisecond))
		allows, denies := 0, 0
		for _, res := range results {
			if !res.Pass {
				t.Errorf("%s: %s %s as %q: got %q, expected %s (%s)", res.Name, res.Op, res.Path, res.As, res.Got, res.Expect, res.Reason)
			}
			switch res.Got {
			case Allow:
				allows++
			case Deny:
				denies++
				if res.Reason == "" {
					t.Errorf("%s: a denial without the rules' reason", res.Name)
				}
			}
		}
		if len(results) != 50 || allows == 0 || denies == 0 {
			t.Errorf("got %d results, %d allowed, %d denied", len(results), allows, denies)
		}
	})

	t.Run("wrong expectation", func(t *testing.T) {
		f, err := Parse("wrong.yaml", []byte(`
users:
  alice: {uid: alice}
fixtures:
  users/alice: {name: Alice}
cases:
  - {name: owner reads, as: alice, op: get, path: users/alice, expect: allow}
  - {name: stranger denied, as: bob, op: get, path: users/alice, expect: deny}
  - {name: deliberately wrong, as: bob, op: update, path: users/alice, data: {name: B}, expect: allow}
`))
		if err != nil {
			t.Fatal(err)
		}
		r := &Runner{Host: host, ProjectPrefix: "demo-rcwrong", Keep: false}
		results, err := r.Run(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		var failed []string
		for _, res := range results {
			if !res.Pass {
				failed = append(failed, res.Name)
			}
		}
		if len(failed) != 1 || failed[0] != "deliberately wrong" {
			t.Fatalf("failed cases: got %v, want only the deliberately wrong one", failed)
		}
		if results[2].Got != Deny || !strings.Contains(results[2].Reason, "update") {
			t.Errorf("the wrong case: got %q (%s), want a denial of the update", results[2].Got, results[2].Reason)
		}
	})

	t.Run("scratch data removed", func(t *testing.T) {
		f, _ := Parse("one.yaml", []byte("fixtures:\n  users/alice: {name: Alice}\ncases:\n  - {as: alice, op: get, path: users/alice, expect: allow}\n  - {as: alice, op: update, path: users/alice, data: {name: X}, expect: allow}\n"))
		count := func(project string) int {
			req, _ := http.NewRequest(http.MethodGet, "http://"+host+"/v1/projects/"+project+"/databases/(default)/documents/users", nil)
			req.Header.Set("Authorization", "Bearer owner")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body struct{ Documents []any }
			json.NewDecoder(resp.Body).Decode(&body)
			return len(body.Documents)
		}
		for _, keep := range []bool{true, false} {
			r := &Runner{Host: host, ProjectPrefix: "demo-rcclean", Keep: keep}
			res, err := r.Run(ctx, f)
			if err != nil || !res[0].Pass || !res[1].Pass {
				t.Fatalf("keep %v: %v %+v", keep, err, res)
			}
			if len(r.used) != 2 {
				t.Fatalf("keep %v: scratch projects %v, want one for the read and one for the write", keep, r.used)
			}
			for _, p := range r.used {
				want := 0
				if keep {
					want = 1
				}
				if got := count(p); got != want {
					t.Errorf("keep %v: project %s holds %d documents, want %d", keep, p, got, want)
				}
				if keep {
					ResetProject(host, p)
				}
			}
		}
	})
}
