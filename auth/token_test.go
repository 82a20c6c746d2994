package auth

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fbadmin/fbadmin/internal/emutest"
)

// TestUnsignedTokenRejectedOutsideEmulatorMode proves the emulator rule: a
// token the emulator issued, which an emulator-mode client accepts, is
// rejected by a client with emulator mode off, even though the process
// environment names the emulator (the test harness exports
// FIREBASE_AUTH_EMULATOR_HOST).
func TestUnsignedTokenRejectedOutsideEmulatorMode(t *testing.T) {
	t.Parallel()
	emu := emuClient(t)
	ctx := context.Background()
	u := newTestUser(t, emu)
	cred := signIn(t, emu, u.UID, nil)

	if _, err := emu.VerifyIDToken(ctx, cred.IDToken); err != nil {
		t.Fatalf("emulator-mode VerifyIDToken: %v", err)
	}
	ti, err := Inspect(cred.IDToken)
	if err != nil || !ti.Unsigned() {
		t.Fatalf("the emulator's token: got %+v, %v; want an unsigned (alg none) token", ti, err)
	}

	prod := productionClient(t, emu.ProjectID())
	_, err = prod.VerifyIDToken(ctx, cred.IDToken)
	wantReason(t, err, ErrTokenSignature)
	_, err = prod.VerifyIDToken(ctx, cred.IDToken, VerifyOptions{CheckRevoked: true})
	wantReason(t, err, ErrTokenSignature)

	// The same token relabelled RS256 with a key ID gets past the local
	// checks; the SDK client must then be in production mode and check the
	// signature against Google's keys, so it still fails (as a bad signature,
	// or as unavailable keys on a machine without Internet access).
	forged := retoken(t, cred.IDToken, func(h, _ map[string]any) { h["alg"], h["kid"] = "RS256", "forged" })
	vctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	tok, err := prod.VerifyIDToken(vctx, forged)
	if err == nil {
		t.Fatalf("production-mode client accepted a forged token for %q", tok.UID)
	}
	var te *TokenError
	if !errors.As(err, &te) && !errors.Is(err, ErrUnavailable) {
		t.Fatalf("forged token: got %v, want a TokenError or ErrUnavailable", err)
	}
	t.Logf("forged RS256 token rejected: %v", err)

	// And the production-mode SDK signs custom tokens (RS256), which it
	// would not do in emulator mode.
	ct, err := prod.CustomToken(ctx, u.UID, nil)
	if err != nil {
		t.Fatalf("production CustomToken: %v", err)
	}
	if ti, _ := Inspect(ct); ti == nil || ti.Algorithm != "RS256" {
		t.Fatalf("production custom token: got %+v, want alg RS256", ti)
	}
}

// TestEmulatorModeIsConfigOnly checks that the environment variable does not
// decide the mode: with it set, emulator mode off stays off; with it unset,
// emulator mode on still reaches the emulator. It changes the process
// environment, so it does not run in parallel (t.Setenv forbids that).
func TestEmulatorModeIsConfigOnly(t *testing.T) {
	a := emutest.NewAuth(t)
	ctx := context.Background()

	t.Setenv(EmulatorHostEnv, a.Host)
	prod := productionClient(t, a.ProjectID)
	unsigned := makeToken(map[string]any{"alg": "none", "typ": "JWT"},
		emulatorLikeClaims(a.ProjectID, "someone", time.Now()), "")
	_, err := prod.VerifyIDToken(ctx, unsigned)
	wantReason(t, err, ErrTokenSignature)

	t.Setenv(EmulatorHostEnv, "")
	emu, err := New(ctx, Config{ProjectID: a.ProjectID, EmulatorHost: a.Host})
	if err != nil {
		t.Fatal(err)
	}
	u := newTestUser(t, emu) // reaches the emulator through the SDK
	cred := signIn(t, emu, u.UID, nil)
	if _, err := emu.VerifyIDToken(ctx, cred.IDToken); err != nil {
		t.Fatalf("emulator-mode client created with the variable unset: %v", err)
	}
	if got := emuEnv(); got != "" {
		t.Fatalf("New left %s=%q, want it restored to empty", EmulatorHostEnv, got)
	}
}

// TestVerifyBadTokens feeds malformed, truncated, tampered, expired,
// not-yet-valid and wrong-project tokens: each gives its typed error and
// none panics.
func TestVerifyBadTokens(t *testing.T) {
	t.Parallel()
	c := emuClient(t)
	ctx := context.Background()
	u := newTestUser(t, c)
	good := signIn(t, c, u.UID, nil).IDToken
	project := c.ProjectID()
	now := time.Now()
	unsigned := func(claims map[string]any) string {
		return makeToken(map[string]any{"alg": "none", "typ": "JWT"}, claims, "")
	}
	with := func(edit func(map[string]any)) string {
		cl := emulatorLikeClaims(project, u.UID, now)
		edit(cl)
		return unsigned(cl)
	}

	cases := []struct {
		name   string
		token  string
		reason error
	}{
		{"empty", "", ErrTokenMalformed},
		{"garbage", "not a token", ErrTokenMalformed},
		{"two segments", "abc.def", ErrTokenMalformed},
		{"four segments", good + ".x", ErrTokenMalformed},
		{"bad base64", "!!!.@@@.###", ErrTokenMalformed},
		{"header not JSON", "bm90anNvbg.e30.", ErrTokenMalformed},
		{"payload array", makeTokenRaw(`{"alg":"none"}`, `[1,2]`), ErrTokenMalformed},
		{"alg not string", makeTokenRaw(`{"alg":5}`, `{}`), ErrTokenMalformed},
		{"exp not number", with(func(m map[string]any) { m["exp"] = "soon" }), ErrTokenMalformed},
		{"truncated", good[:len(good)*2/3], ErrTokenMalformed},
		{"truncated at dot", good[:strings.LastIndex(good, ".")], ErrTokenMalformed},
		{"huge", strings.Repeat("a", maxTokenLen+1), ErrTokenMalformed},
		{"tampered audience", retoken(t, good, func(_, p map[string]any) { p["aud"] = "demo-other" }), ErrTokenAudience},
		{"tampered issuer", retoken(t, good, func(_, p map[string]any) { p["iss"] = "https://evil.example.com/" + project }), ErrTokenIssuer},
		{"tampered subject (no such user)", retoken(t, good, func(_, p map[string]any) { p["sub"] = emutest.UniqueID(t, "ghost") }), ErrTokenUnknownUser},
		{"empty subject", with(func(m map[string]any) { m["sub"] = "" }), ErrTokenMalformed},
		{"long subject", with(func(m map[string]any) { m["sub"] = strings.Repeat("x", 129) }), ErrTokenMalformed},
		{"expired", with(func(m map[string]any) {
			m["iat"], m["exp"] = now.Add(-3*time.Hour).Unix(), now.Add(-2*time.Hour).Unix()
		}), ErrTokenExpired},
		{"issued in the future", with(func(m map[string]any) {
			m["iat"], m["exp"] = now.Add(time.Hour).Unix(), now.Add(2*time.Hour).Unix()
		}), ErrTokenNotYetValid},
		{"not before later", with(func(m map[string]any) { m["nbf"] = now.Add(time.Hour).Unix() }), ErrTokenNotYetValid},
		{"wrong project", unsigned(emulatorLikeClaims("demo-someone-else", u.UID, now)), ErrTokenAudience},
		{"custom token", mustCustomToken(t, c, u.UID), ErrTokenAudience},
		{"missing exp", with(func(m map[string]any) { delete(m, "exp") }), ErrTokenMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.VerifyIDToken(ctx, tc.token, VerifyOptions{CheckRevoked: true})
			wantReason(t, err, tc.reason)
			if tc.token != "" && len(tc.token) > 20 && strings.Contains(err.Error(), tc.token) {
				t.Fatalf("error message contains the token")
			}
			_, err = c.VerifySessionCookie(ctx, tc.token)
			var te *TokenError
			if !errors.As(err, &te) {
				t.Fatalf("VerifySessionCookie: got %v, want a TokenError", err)
			}
		})
	}

	// The same token checked against another project's client.
	other, err := New(ctx, Config{ProjectID: "demo-not-this-one", EmulatorHost: c.cfg.EmulatorHost})
	if err != nil {
		t.Fatal(err)
	}
	_, err = other.VerifyIDToken(ctx, good)
	wantReason(t, err, ErrTokenAudience)
}

// TestProductionPrecheck checks the local checks of production mode, which
// fail before any network call.
func TestProductionPrecheck(t *testing.T) {
	t.Parallel()
	const project = "demo-precheck"
	c := productionClient(t, project)
	ctx := context.Background()
	now := time.Now()
	claims := emulatorLikeClaims(project, "u1", now)
	cases := []struct {
		name   string
		header map[string]any
		claims map[string]any
		reason error
	}{
		{"alg none", map[string]any{"alg": "none"}, claims, ErrTokenSignature},
		{"alg NONE", map[string]any{"alg": "NONE", "kid": "k"}, claims, ErrTokenSignature},
		{"alg HS256", map[string]any{"alg": "HS256", "kid": "k"}, claims, ErrTokenSignature},
		{"no kid", map[string]any{"alg": "RS256"}, claims, ErrTokenSignature},
		{"wrong audience", map[string]any{"alg": "RS256", "kid": "k"}, emulatorLikeClaims("demo-x", "u1", now), ErrTokenAudience},
		{"expired", map[string]any{"alg": "RS256", "kid": "k"}, emulatorLikeClaims(project, "u1", now.Add(-2*time.Hour)), ErrTokenExpired},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.VerifyIDToken(ctx, makeToken(tc.header, tc.claims, "c2ln"))
			wantReason(t, err, tc.reason)
		})
	}
}

func TestInspect(t *testing.T) {
	t.Parallel()
	now := time.Unix(1700000000, 0)
	tok := makeToken(map[string]any{"alg": "RS256", "kid": "abc"},
		map[string]any{"aud": "p", "iss": "i", "sub": "s", "iat": now.Unix(), "exp": now.Unix() + 60,
			"firebase": map[string]any{"tenant": "t1"}, "role": "x"}, "c2ln")
	ti, err := Inspect(tok)
	if err != nil {
		t.Fatal(err)
	}
	if ti.Algorithm != "RS256" || ti.KeyID != "abc" || ti.Audience != "p" || ti.Issuer != "i" ||
		ti.Subject != "s" || !ti.IssuedAt.Equal(now) || !ti.Expires.Equal(now.Add(time.Minute)) ||
		ti.Tenant != "t1" || ti.Claims["role"] != "x" || ti.Unsigned() {
		t.Fatalf("Inspect: got %+v", ti)
	}
}

func makeTokenRaw(header, payload string) string {
	return b64(header) + "." + b64(payload) + "."
}

func mustCustomToken(tb testing.TB, c *Client, uid string) string {
	tb.Helper()
	ct, err := c.CustomToken(context.Background(), uid, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return ct
}

// FuzzInspect: any input gives a TokenInfo or a malformed-token error,
// never a panic; Verify's local checks likewise.
func FuzzInspect(f *testing.F) {
	f.Add("")
	f.Add("a.b.c")
	f.Add(makeToken(map[string]any{"alg": "none"}, emulatorLikeClaims("demo-p", "u", time.Unix(1700000000, 0)), ""))
	f.Add(makeTokenRaw(`{"alg":"RS256","kid":"k"}`, `{"iat":1e300,"exp":-1e300,"sub":1}`))
	f.Add(makeTokenRaw(`{"alg":"none"}`, `{"firebase":{"tenant":5}}`))
	c := &Client{cfg: Config{ProjectID: "demo-p", EmulatorHost: "127.0.0.1:1"}, now: time.Now}
	f.Fuzz(func(t *testing.T, token string) {
		ti, err := Inspect(token)
		if err != nil {
			if !errors.Is(err, ErrTokenMalformed) {
				t.Fatalf("Inspect error %v is not ErrTokenMalformed", err)
			}
		} else if ti.Claims == nil {
			t.Fatalf("Inspect succeeded with nil claims")
		}
		if _, err := c.precheck(idTokenKind, token); err != nil {
			var te *TokenError
			if !errors.As(err, &te) {
				t.Fatalf("precheck error %v is not a TokenError", err)
			}
		}
	})
}
