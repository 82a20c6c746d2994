package auth

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

type countingVerifier struct {
	calls int
	fail  map[string]bool
	exp   time.Time
}

func (v *countingVerifier) VerifyIDToken(_ context.Context, tok string, _ ...VerifyOptions) (*Token, error) {
	v.calls++
	if v.fail[tok] {
		return nil, errors.New("bad token")
	}
	return &Token{UID: "u-" + tok, Expires: v.exp.Unix(), Claims: map[string]any{"k": tok}}, nil
}

func TestCachedVerifier(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	next := &countingVerifier{fail: map[string]bool{"bad": true}, exp: now.Add(30 * time.Second)}
	c := NewCachedVerifier(next, CacheOptions{TTL: time.Minute, MaxEntries: 10, Now: func() time.Time { return now }})
	ctx := context.Background()

	for range 3 {
		tok, err := c.VerifyIDToken(ctx, "a")
		if err != nil || tok.UID != "u-a" {
			t.Fatalf("verify: %v %v", tok, err)
		}
		tok.UID = "changed" // must not reach the cache
	}
	if next.calls != 1 {
		t.Fatalf("%d verifications for one token, want 1", next.calls)
	}
	if tok, _ := c.VerifyIDToken(ctx, "a"); tok.UID != "u-a" || tok.Claims["k"] != "a" {
		t.Fatal("a caller changed the cached token")
	}
	// CheckRevoked is a verification of its own.
	if _, err := c.VerifyIDToken(ctx, "a", VerifyOptions{CheckRevoked: true}); err != nil || next.calls != 2 {
		t.Fatalf("check-revoked verification: %v, calls %d", err, next.calls)
	}
	// Failures are not cached.
	for range 2 {
		if _, err := c.VerifyIDToken(ctx, "bad"); err == nil {
			t.Fatal("bad token accepted")
		}
	}
	if next.calls != 4 {
		t.Fatalf("calls %d, want 4", next.calls)
	}
	// The token's own expiry (30 s) comes before the TTL.
	now = now.Add(31 * time.Second)
	if _, err := c.VerifyIDToken(ctx, "a"); err != nil || next.calls != 5 {
		t.Fatalf("after expiry: %v, calls %d", err, next.calls)
	}
	// Bounded.
	next.exp = now.Add(time.Hour)
	for i := range 50 {
		if _, err := c.VerifyIDToken(ctx, fmt.Sprint("t", i)); err != nil {
			t.Fatal(err)
		}
	}
	if n := c.Len(); n > 10 {
		t.Fatalf("cache holds %d entries, bound 10", n)
	}
}
