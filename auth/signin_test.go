package auth

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fakeGoogle stands in for the production Identity Toolkit and Secure Token
// APIs: it checks the shape of each request as production expects it and
// answers with a canned reply.
type fakeGoogle struct {
	t        *testing.T
	srv      *httptest.Server
	apiKey   string
	calls    atomic.Int64
	errorFor map[string]string // path -> error message to answer with (400)
	lastBody atomic.Value      // string
}

func newFakeGoogle(t *testing.T, apiKey string) *fakeGoogle {
	f := &fakeGoogle{t: t, apiKey: apiKey, errorFor: map[string]string{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeGoogle) serve(w http.ResponseWriter, r *http.Request) {
	f.calls.Add(1)
	body, _ := io.ReadAll(r.Body)
	f.lastBody.Store(string(body))
	if r.URL.RawQuery != "" {
		f.t.Errorf("request %s has a query %q; the API key must travel in a header", r.URL.Path, r.URL.RawQuery)
	}
	if got := r.Header.Get("X-Goog-Api-Key"); got != f.apiKey {
		writeErr(w, 400, "API key not valid. Please pass a valid API key.")
		return
	}
	if msg, ok := f.errorFor[r.URL.Path]; ok {
		status := 400
		if strings.HasPrefix(msg, "5") {
			status, msg = 503, "backend unavailable"
		}
		writeErr(w, status, msg)
		return
	}
	idTok := makeToken(map[string]any{"alg": "RS256", "kid": "k"}, map[string]any{"sub": "user-1"}, "c2ln")
	switch r.URL.Path {
	case "/itk/v1/accounts:signInWithCustomToken", "/itk/v1/accounts:signInWithPassword":
		var req map[string]any
		if err := json.Unmarshal(body, &req); err != nil || req["returnSecureToken"] != true {
			f.t.Errorf("sign-in body %s: want JSON with returnSecureToken true", body)
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"idToken": idTok, "refreshToken": "rt-1", "expiresIn": "3600", "localId": "user-1"})
	case "/st/v1/token":
		form, _ := url.ParseQuery(string(body))
		if form.Get("grant_type") != "refresh_token" || form.Get("refresh_token") == "" {
			f.t.Errorf("refresh body %q: want grant_type=refresh_token and a refresh_token", body)
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"id_token": idTok, "refresh_token": "rt-2", "expires_in": "3600", "user_id": "user-1"})
	default:
		http.NotFound(w, r)
	}
}

func writeErr(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": status, "message": msg}})
}

func (f *fakeGoogle) client(apiKey, tenant string) *SignInClient {
	return NewSignInClient(SignInConfig{APIKey: apiKey, TenantID: tenant,
		IdentityToolkitURL: f.srv.URL + "/itk", SecureTokenURL: f.srv.URL + "/st"})
}

// TestSignInProduction exercises the production request shapes (API key in
// a header, JSON for Identity Toolkit, a form for Secure Token) and the
// error mapping of production answers.
func TestSignInProduction(t *testing.T) {
	t.Parallel()
	const key = "AIzaFakeKeyForTests"
	f := newFakeGoogle(t, key)
	ctx := context.Background()
	sc := f.client(key, "tenant-a")

	cred, err := sc.SignInWithCustomToken(ctx, "custom")
	if err != nil {
		t.Fatalf("SignInWithCustomToken: %v", err)
	}
	if cred.UID != "user-1" || cred.RefreshToken != "rt-1" || time.Until(cred.ExpiresAt) < 59*time.Minute {
		t.Fatalf("got %v, want user-1 with rt-1 for an hour", cred)
	}
	if body := f.lastBody.Load().(string); !strings.Contains(body, `"tenantId":"tenant-a"`) {
		t.Fatalf("sign-in body %s: want the tenant", body)
	}
	if _, err := sc.SignInWithPassword(ctx, "a@example.com", "secret-pw"); err != nil {
		t.Fatalf("SignInWithPassword: %v", err)
	}
	r, err := sc.Refresh(ctx, cred.RefreshToken)
	if err != nil || r.RefreshToken != "rt-2" || r.UID != "user-1" {
		t.Fatalf("Refresh: got %v, %v; want rt-2 for user-1", r, err)
	}

	// Credentials never print their tokens.
	for _, s := range []string{cred.String(), cred.GoString()} {
		if strings.Contains(s, cred.IDToken) || strings.Contains(s, "rt-1") {
			t.Fatalf("credentials print their tokens: %s", s)
		}
	}

	// Production error answers map to typed errors; none echoes a secret.
	cases := []struct {
		path, msg string
		call      func() error
		reason    error // a TokenError reason, or
		kind      error // an errs kind
	}{
		{"/st/v1/token", "TOKEN_EXPIRED", func() error { _, err := sc.Refresh(ctx, "rt-secret"); return err }, ErrTokenRevoked, nil},
		{"/st/v1/token", "USER_DISABLED", func() error { _, err := sc.Refresh(ctx, "rt-secret"); return err }, ErrUserDisabled, nil},
		{"/st/v1/token", "USER_NOT_FOUND", func() error { _, err := sc.Refresh(ctx, "rt-secret"); return err }, ErrTokenUnknownUser, nil},
		{"/st/v1/token", "INVALID_REFRESH_TOKEN", func() error { _, err := sc.Refresh(ctx, "rt-secret"); return err }, ErrTokenMalformed, nil},
		{"/st/v1/token", "5xx", func() error { _, err := sc.Refresh(ctx, "rt-secret"); return err }, nil, ErrUnavailable},
		{"/itk/v1/accounts:signInWithPassword", "INVALID_LOGIN_CREDENTIALS", func() error {
			_, err := sc.SignInWithPassword(ctx, "a@example.com", "secret-pw")
			return err
		}, ErrInvalidCredentials, nil},
		{"/itk/v1/accounts:signInWithPassword", "TOO_MANY_ATTEMPTS_TRY_LATER : Access disabled", func() error {
			_, err := sc.SignInWithPassword(ctx, "a@example.com", "secret-pw")
			return err
		}, nil, ErrResourceLimit},
		{"/itk/v1/accounts:signInWithCustomToken", "INVALID_CUSTOM_TOKEN : bad", func() error {
			_, err := sc.SignInWithCustomToken(ctx, "ct-secret")
			return err
		}, ErrTokenMalformed, nil},
		{"/itk/v1/accounts:signInWithCustomToken", "CREDENTIAL_MISMATCH", func() error {
			_, err := sc.SignInWithCustomToken(ctx, "ct-secret")
			return err
		}, ErrTokenAudience, nil},
	}
	for _, tc := range cases {
		f.errorFor = map[string]string{tc.path: tc.msg}
		err := tc.call()
		if tc.reason != nil {
			wantReason(t, err, tc.reason)
		} else if !errors.Is(err, tc.kind) {
			t.Fatalf("%s answering %q: got %v, want %v", tc.path, tc.msg, err, tc.kind)
		}
		for _, secret := range []string{"rt-secret", "secret-pw", "ct-secret", key} {
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("error %q contains a secret", err)
			}
		}
		var se *ServiceError
		if !errors.As(err, &se) || se.Status == 0 {
			t.Fatalf("error %v does not carry the ServiceError", err)
		}
	}
	f.errorFor = map[string]string{}

	// A wrong API key is a permission/argument problem, not a token one.
	if _, err := f.client("wrong", "").Refresh(ctx, "rt"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("wrong API key: got %v, want ErrInvalid", err)
	}
	// No API key outside the emulator: refused before any call.
	before := f.calls.Load()
	if _, err := f.client("", "").Refresh(ctx, "rt"); !errors.Is(err, ErrInvalid) || f.calls.Load() != before {
		t.Fatalf("no API key: got %v after %d calls, want ErrInvalid and no call", err, f.calls.Load()-before)
	}
}

func TestSignInNetworkFailure(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	base := srv.URL
	srv.Close() // nothing listens there any more
	sc := NewSignInClient(SignInConfig{APIKey: "k", IdentityToolkitURL: base, SecureTokenURL: base})
	_, err := sc.Refresh(context.Background(), "rt-secret")
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("got %v, want ErrUnavailable", err)
	}
	if strings.Contains(err.Error(), "rt-secret") {
		t.Fatalf("error contains the refresh token: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := sc.SignInWithPassword(ctx, "a@example.com", "pw"); !errors.Is(err, ErrCanceled) {
		t.Fatalf("canceled: got %v, want ErrCanceled", err)
	}
}
