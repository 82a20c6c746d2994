package auth

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// noCallSDK fails the test if any SDK method is called: the nil embedded
// interface panics on use.
type noCallSDK struct{ sdkBase }

func TestCustomTokenClaimValidation(t *testing.T) {
	t.Parallel()
	// A client whose SDK must not be reached: validation happens first.
	c := &Client{cfg: Config{ProjectID: "demo-p"}, base: noCallSDK{}, now: time.Now}
	ctx := context.Background()
	cases := []struct {
		name   string
		uid    string
		claims map[string]any
		want   string
	}{
		{"reserved sub", "u1", map[string]any{"sub": "x"}, `"sub"`},
		{"several reserved", "u1", map[string]any{"iss": 1, "firebase": 2, "ok": 3}, `"firebase", "iss"`},
		{"oversized", "u1", map[string]any{"blob": strings.Repeat("x", MaxClaimsSize)}, "bytes, more than the 1000"},
		{"not serializable", "u1", map[string]any{"f": func() {}}, "not JSON-serializable"},
		{"empty uid", "", nil, "1 to 128 characters"},
		{"long uid", strings.Repeat("u", 129), nil, "1 to 128 characters"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.CustomToken(ctx, tc.uid, tc.claims)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %v, want ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %q, want it to mention %q", err, tc.want)
			}
			if tc.claims == nil {
				return // a UID case: valid claims would reach the SDK
			}
			if err := c.SetCustomClaims(ctx, "u1", tc.claims); !errors.Is(err, ErrInvalid) {
				t.Fatalf("SetCustomClaims: got %v, want ErrInvalid", err)
			}
		})
	}
	// Exactly at the limit is fine for validation.
	at := map[string]any{"b": strings.Repeat("x", MaxClaimsSize-len(`{"b":""}`))}
	if err := ValidateClaims(at); err != nil {
		t.Fatalf("claims of exactly %d bytes: %v", MaxClaimsSize, err)
	}
}

func TestCustomTokenOnEmulator(t *testing.T) {
	t.Parallel()
	c := emuClient(t)
	u := newTestUser(t, c)
	ct, err := c.CustomToken(context.Background(), u.UID, map[string]any{"admin": true, "n": 1.5})
	if err != nil {
		t.Fatal(err)
	}
	ti, err := Inspect(ct)
	if err != nil {
		t.Fatal(err)
	}
	inner, _ := ti.Claims["claims"].(map[string]any)
	if ti.Audience != customTokenAudience || ti.Claims["uid"] != u.UID || inner["admin"] != true {
		t.Fatalf("custom token: got aud %q uid %v claims %v", ti.Audience, ti.Claims["uid"], inner)
	}
}
