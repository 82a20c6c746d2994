package auth

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestMiddleware(t *testing.T) {
	t.Parallel()
	c := emuClient(t)
	ctx := context.Background()
	admin := newTestUser(t, c)
	plain := newTestUser(t, c)
	if err := c.SetCustomClaims(ctx, admin.UID, map[string]any{"role": "admin", "groups": []string{"ops", "dev"}, "level": 3}); err != nil {
		t.Fatal(err)
	}
	adminTok := signIn(t, c, admin.UID, nil).IDToken
	plainTok := signIn(t, c, plain.UID, nil).IDToken

	handler := func(w http.ResponseWriter, r *http.Request) {
		tok, ok := TokenFromContext(r.Context())
		if !ok {
			t.Errorf("handler reached without a token in the context")
		}
		_, _ = io.WriteString(w, tok.UID)
	}
	open := httptest.NewServer(Middleware(c, MiddlewareOptions{})(http.HandlerFunc(handler)))
	defer open.Close()
	guarded := httptest.NewServer(Middleware(c, MiddlewareOptions{CheckRevoked: true, Require: []Requirement{
		RequireClaim("role", "admin"),
		RequireClaim("groups", "ops"),
		RequireClaim("level", 3.0),
	}})(http.HandlerFunc(handler)))
	defer guarded.Close()

	expired := makeToken(map[string]any{"alg": "none"},
		emulatorLikeClaims(c.ProjectID(), admin.UID, time.Now().Add(-3*time.Hour)), "")
	cases := []struct {
		name      string
		url       string
		auth      string
		status    int
		body      string // substring of the body
		challenge bool
	}{
		{"no header", open.URL, "", 401, "missing_token", true},
		{"basic scheme", open.URL, "Basic dXNlcjpwdw==", 401, "missing_token", true},
		{"empty bearer", open.URL, "Bearer ", 401, "missing_token", true},
		{"garbage", open.URL, "Bearer garbage.token.here", 401, "token malformed", true},
		{"expired", open.URL, "Bearer " + expired, 401, "token expired", true},
		{"valid", open.URL, "Bearer " + plainTok, 200, plain.UID, false},
		{"lower-case scheme", open.URL, "bearer " + plainTok, 200, plain.UID, false},
		{"valid without role", guarded.URL, "Bearer " + plainTok, 403, `claim \"role\" = admin`, true},
		{"valid with role", guarded.URL, "Bearer " + adminTok, 200, admin.UID, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, tc.url, nil)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status || !strings.Contains(string(b), tc.body) {
				t.Fatalf("got %d %s, want %d containing %q", resp.StatusCode, b, tc.status, tc.body)
			}
			if got := resp.Header.Get("WWW-Authenticate"); tc.challenge != (got != "") {
				t.Fatalf("WWW-Authenticate %q, want present=%v", got, tc.challenge)
			}
			tok := strings.TrimPrefix(tc.auth, "Bearer ")
			if len(tok) > 10 && resp.StatusCode != 200 && strings.Contains(string(b), tok) {
				t.Fatalf("the answer echoes the token")
			}
			if resp.StatusCode != 200 {
				var js map[string]string
				if err := json.Unmarshal(b, &js); err != nil || js["error"] == "" {
					t.Fatalf("error body %s: want JSON with an error code", b)
				}
			}
		})
	}
}

type failingVerifier struct{ err error }

func (f failingVerifier) VerifyIDToken(context.Context, string, ...VerifyOptions) (*Token, error) {
	return nil, f.err
}

func TestMiddlewareUnavailable(t *testing.T) {
	t.Parallel()
	h := Middleware(failingVerifier{err: &TokenError{Op: "x", Reason: ErrTokenRevoked}}, MiddlewareOptions{})(
		http.HandlerFunc(func(http.ResponseWriter, *http.Request) { t.Errorf("handler reached") }))
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Authorization", "Bearer abc.def.ghi")
	h.ServeHTTP(rec, req)
	if rec.Code != 401 || !strings.Contains(rec.Body.String(), "token revoked") {
		t.Fatalf("revoked: got %d %s, want 401 token revoked", rec.Code, rec.Body)
	}

	h = Middleware(failingVerifier{err: wrapErr(context.DeadlineExceeded, "verify", "")}, MiddlewareOptions{})(
		http.HandlerFunc(func(http.ResponseWriter, *http.Request) { t.Errorf("handler reached") }))
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("verifier unavailable: got %d, want 503", rec.Code)
	}
}

func TestRequireClaim(t *testing.T) {
	t.Parallel()
	tok := &Token{Claims: map[string]any{"role": "admin", "n": float64(2), "tags": []any{"a", "b"}, "flag": true}}
	cases := []struct {
		req  Requirement
		want bool
	}{
		{RequireClaim("role", "admin"), true},
		{RequireClaim("role", "user"), false},
		{RequireClaim("n", 2), true},
		{RequireClaim("n", 2.5), false},
		{RequireClaim("tags", "b"), true},
		{RequireClaim("tags", "c"), false},
		{RequireClaim("flag", true), true},
		{RequireClaim("missing", "x"), false},
		{RequireFunc("uid set", func(t *Token) bool { return t.UID != "" }), false},
	}
	for _, tc := range cases {
		if got := tc.req.Check(tok); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.req.Desc, got, tc.want)
		}
	}
}
