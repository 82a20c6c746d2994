package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countingTransport counts the requests whose path contains match.
type countingTransport struct {
	match string
	n     atomic.Int64
}

func (ct *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.Contains(r.URL.Path, ct.match) {
		ct.n.Add(1)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// emuSignIn returns a SignInClient on the emulator that counts refresh calls.
func emuSignIn(c *Client) (*SignInClient, *countingTransport) {
	ct := &countingTransport{match: "/v1/token"}
	return NewSignInClient(SignInConfig{EmulatorHost: c.cfg.EmulatorHost, TenantID: c.tenant,
		HTTPClient: &http.Client{Transport: ct, Timeout: 30 * time.Second}}), ct
}

// TestTokenSourceRefreshesOnceForManyCallers: 50 goroutines ask for a token
// that is about to expire; one refresh call serves them all.
func TestTokenSourceRefreshesOnceForManyCallers(t *testing.T) {
	t.Parallel()
	c := emuClient(t)
	ctx := context.Background()
	u := newTestUser(t, c)
	cred := signIn(t, c, u.UID, nil)
	sc, counter := emuSignIn(c)

	// A fresh token is served as is.
	ts := NewTokenSource(sc, cred)
	defer ts.Close()
	for range 5 {
		if tok, err := ts.IDToken(ctx); err != nil || tok != cred.IDToken {
			t.Fatalf("fresh token: got %v, want the current token", err)
		}
	}
	if n := counter.n.Load(); n != 0 {
		t.Fatalf("fresh token: %d refresh calls, want 0", n)
	}

	// Within the leeway of expiry: one refresh for 50 concurrent callers.
	// (Tokens issued in the same second are identical: move to the next one
	// so the refreshed token differs from the old.)
	waitNextSecond()
	near := *cred
	near.ExpiresAt = time.Now().Add(time.Minute)
	ts2 := NewTokenSource(sc, &near, TokenSourceOptions{Leeway: 5 * time.Minute})
	defer ts2.Close()
	start := make(chan struct{})
	var wg sync.WaitGroup
	tokens := make([]string, 50)
	errs := make([]error, 50)
	for i := range tokens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			tokens[i], errs[i] = ts2.IDToken(ctx)
		}()
	}
	close(start)
	wg.Wait()
	for i := range tokens {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if tokens[i] != tokens[0] || tokens[i] == cred.IDToken {
			t.Fatalf("caller %d got another token than caller 0, or the old one", i)
		}
	}
	if n := counter.n.Load(); n != 1 || ts2.Refreshes() != 1 {
		t.Fatalf("refresh calls: got %d on the wire, %d counted, want 1", n, ts2.Refreshes())
	}
	if _, err := c.VerifyIDToken(ctx, tokens[0]); err != nil {
		t.Fatalf("refreshed token does not verify: %v", err)
	}
	// The new token is fresh: no more refreshes.
	if _, err := ts2.IDToken(ctx); err != nil || counter.n.Load() != 1 {
		t.Fatalf("after refresh: err %v, %d calls; want no new call", err, counter.n.Load())
	}

	// Refresh forces one; oauth2 interop returns a bearer token.
	if _, err := ts2.Refresh(ctx); err != nil || counter.n.Load() != 2 {
		t.Fatalf("forced Refresh: err %v, %d calls; want 2", err, counter.n.Load())
	}
	if ot, err := ts2.Token(); err != nil || ot.TokenType != "Bearer" || ot.AccessToken == "" {
		t.Fatalf("Token(): got %+v, %v", ot, err)
	}
}

// TestTokenSourceFailures: the reasons a refresh fails come back typed.
func TestTokenSourceFailures(t *testing.T) {
	t.Parallel()
	c := emuClient(t)
	ctx := context.Background()

	t.Run("user disabled", func(t *testing.T) {
		u := newTestUser(t, c)
		cred := signIn(t, c, u.UID, nil)
		sc, counter := emuSignIn(c)
		stale := *cred
		stale.ExpiresAt = time.Now().Add(-time.Second)
		ts := NewTokenSource(sc, &stale)
		defer ts.Close()
		if err := c.DisableUser(ctx, u.UID); err != nil {
			t.Fatal(err)
		}
		_, err := ts.IDToken(ctx)
		wantReason(t, err, ErrUserDisabled)
		// Remembered: the next call fails without a call.
		_, err = ts.IDToken(ctx)
		wantReason(t, err, ErrUserDisabled)
		if n := counter.n.Load(); n != 1 {
			t.Fatalf("refresh calls after a permanent failure: got %d, want 1", n)
		}
		// After a new sign-in, SetCredentials clears the failure.
		if err := c.EnableUser(ctx, u.UID); err != nil {
			t.Fatal(err)
		}
		ts.SetCredentials(signIn(t, c, u.UID, nil))
		if _, err := ts.IDToken(ctx); err != nil {
			t.Fatalf("after SetCredentials: %v", err)
		}
	})

	t.Run("user deleted", func(t *testing.T) {
		u := newTestUser(t, c)
		cred := signIn(t, c, u.UID, nil)
		sc, _ := emuSignIn(c)
		stale := *cred
		stale.ExpiresAt = time.Now()
		ts := NewTokenSource(sc, &stale)
		defer ts.Close()
		if err := c.DeleteUser(ctx, u.UID); err != nil {
			t.Fatal(err)
		}
		// The emulator answers INVALID_REFRESH_TOKEN, production USER_NOT_FOUND.
		_, err := ts.IDToken(ctx)
		var te *TokenError
		if !errors.As(err, &te) || !(errors.Is(err, ErrTokenMalformed) || errors.Is(err, ErrTokenUnknownUser)) {
			t.Fatalf("deleted user: got %v, want a TokenError (malformed or unknown user)", err)
		}
	})

	t.Run("revoked (production answer)", func(t *testing.T) {
		f := newFakeGoogle(t, "k")
		f.errorFor["/st/v1/token"] = "TOKEN_EXPIRED"
		ts := NewTokenSource(f.client("k", ""), &Credentials{IDToken: "a.b.c", RefreshToken: "rt", ExpiresAt: time.Now()})
		defer ts.Close()
		_, err := ts.IDToken(ctx)
		wantReason(t, err, ErrTokenRevoked)
	})

	t.Run("network", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		url := srv.URL
		srv.Close()
		sc := NewSignInClient(SignInConfig{APIKey: "k", IdentityToolkitURL: url, SecureTokenURL: url})
		// Token still valid but inside the leeway: served, error not surfaced yet.
		soon := &Credentials{IDToken: "still-valid", RefreshToken: "rt", ExpiresAt: time.Now().Add(time.Minute)}
		ts := NewTokenSource(sc, soon)
		defer ts.Close()
		if tok, err := ts.IDToken(ctx); err != nil || tok != "still-valid" {
			t.Fatalf("valid token with the network down: got %q, %v; want the current token", tok, err)
		}
		// Expired: the network failure is the error, and it is transient.
		gone := &Credentials{IDToken: "expired", RefreshToken: "rt", ExpiresAt: time.Now().Add(-time.Minute)}
		ts2 := NewTokenSource(sc, gone)
		defer ts2.Close()
		for range 2 {
			_, err := ts2.IDToken(ctx)
			if !errors.Is(err, ErrUnavailable) {
				t.Fatalf("expired token with the network down: got %v, want ErrUnavailable", err)
			}
		}
		if ts2.Refreshes() != 2 {
			t.Fatalf("transient failure: %d refreshes, want a retry on each call (2)", ts2.Refreshes())
		}
	})

	t.Run("caller deadline and Close", func(t *testing.T) {
		block := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-block:
			case <-r.Context().Done():
			}
		}))
		defer srv.Close()
		defer close(block)
		sc := NewSignInClient(SignInConfig{APIKey: "k", IdentityToolkitURL: srv.URL, SecureTokenURL: srv.URL})
		ts := NewTokenSource(sc, &Credentials{IDToken: "x", RefreshToken: "rt", ExpiresAt: time.Now()})
		dctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		if _, err := ts.IDToken(dctx); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("deadline: got %v, want ErrUnavailable", err)
		}
		done := make(chan struct{})
		go func() { ts.Close(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("Close did not stop the refresh in flight")
		}
		if _, err := ts.IDToken(ctx); !errors.Is(err, ErrCanceled) {
			t.Fatalf("after Close: got %v, want ErrCanceled", err)
		}
	})
}

// TestTransportRefreshesOn401 drives a server protected by Middleware (with
// revocation checks) through Transport: after the session's tokens are
// revoked, concurrent requests get 401, one refresh happens, and every
// request is retried with its body.
func TestTransportRefreshesOn401(t *testing.T) {
	t.Parallel()
	c := emuClient(t)
	ctx := context.Background()
	u := newTestUser(t, c)
	cred := signIn(t, c, u.UID, nil)

	var unauthorized atomic.Int64
	mw := Middleware(c, MiddlewareOptions{CheckRevoked: true})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w}
		mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			tok, _ := TokenFromContext(r.Context())
			body, _ := io.ReadAll(r.Body)
			_ = json.NewEncoder(w).Encode(map[string]string{"uid": tok.UID, "body": string(body)})
		})).ServeHTTP(rec, r)
		if rec.status == http.StatusUnauthorized {
			unauthorized.Add(1)
		}
	}))
	defer srv.Close()

	sc, _ := emuSignIn(c)
	ts := NewTokenSource(sc, cred)
	defer ts.Close()
	hc := &http.Client{Transport: &Transport{Source: ts}}

	post := func(body string) (int, map[string]string, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL, bytes.NewReader([]byte(body)))
		resp, err := hc.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		var out map[string]string
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out, nil
	}
	if st, out, err := post("hello"); err != nil || st != 200 || out["uid"] != u.UID || out["body"] != "hello" {
		t.Fatalf("first request: %d %v %v", st, out, err)
	}

	waitNextSecond()
	if err := c.RevokeRefreshTokens(ctx, u.UID); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	results := make([]string, 10)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := strings.Repeat("b", i+1)
			st, out, err := post(body)
			if err != nil || st != 200 || out["body"] != body {
				results[i] = "failed"
				t.Errorf("request %d after revocation: %d %v %v", i, st, out, err)
			}
		}()
	}
	wg.Wait()
	if unauthorized.Load() == 0 {
		t.Fatalf("no request was refused: the test did not exercise the 401 path")
	}
	if n := ts.Refreshes(); n != 1 {
		t.Fatalf("refreshes after %d refusals: got %d, want 1", unauthorized.Load(), n)
	}

	// A body that cannot be replayed: the 401 is returned as is.
	waitNextSecond()
	if err := c.RevokeRefreshTokens(ctx, u.UID); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL, io.NopCloser(strings.NewReader("once")))
	req.GetBody = nil
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("non-replayable body after revocation: got %d, want 401", resp.StatusCode)
	}
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}
