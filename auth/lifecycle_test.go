package auth

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fbadmin/fbadmin/internal/emutest"
)

// TestTokenLifecycle lives a user's token lifecycle end to end on the Auth
// emulator: create the user, mint a custom token, exchange it, verify the ID
// token, set claims, refresh and see them, revoke, and see verification fail.
func TestTokenLifecycle(t *testing.T) {
	t.Parallel()
	c := emuClient(t)
	ctx := context.Background()
	u := newTestUser(t, c)

	// Mint with developer claims and exchange.
	ct, err := c.CustomToken(ctx, u.UID, map[string]any{"plan": "pro"})
	if err != nil {
		t.Fatalf("CustomToken: %v", err)
	}
	sc := c.SignInClient()
	cred, err := sc.SignInWithCustomToken(ctx, ct)
	if err != nil {
		t.Fatalf("SignInWithCustomToken: %v", err)
	}
	if cred.UID != u.UID || cred.RefreshToken == "" || time.Until(cred.ExpiresAt) < 50*time.Minute {
		t.Fatalf("credentials: got %v, want uid %q, a refresh token and about an hour of validity", cred, u.UID)
	}

	tok, err := c.VerifyIDToken(ctx, cred.IDToken)
	if err != nil {
		t.Fatalf("VerifyIDToken: %v", err)
	}
	if tok.UID != u.UID || tok.Claims["plan"] != "pro" || tok.Firebase.SignInProvider != "custom" {
		t.Fatalf("verified token: got uid %q claims %v provider %q, want %q, plan=pro, custom",
			tok.UID, tok.Claims, tok.Firebase.SignInProvider, u.UID)
	}

	// Claims set by the admin reach the token at the next refresh.
	if err := c.SetCustomClaims(ctx, u.UID, map[string]any{"role": "admin", "level": 3}); err != nil {
		t.Fatalf("SetCustomClaims: %v", err)
	}
	tok, _ = c.VerifyIDToken(ctx, cred.IDToken)
	if _, has := tok.Claims["role"]; has {
		t.Fatalf("the old ID token already carries the new claim role; want it only after a refresh")
	}
	refreshed, err := sc.Refresh(ctx, cred.RefreshToken)
	if err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	tok, err = c.VerifyIDToken(ctx, refreshed.IDToken)
	if err != nil {
		t.Fatalf("VerifyIDToken(refreshed): %v", err)
	}
	if tok.Claims["role"] != "admin" || tok.Claims["level"] != float64(3) {
		t.Fatalf("refreshed token claims: got %v, want role=admin level=3", tok.Claims)
	}

	// Password sign-in works for the same user.
	pw, err := sc.SignInWithPassword(ctx, u.Email, u.Password)
	if err != nil {
		t.Fatalf("SignInWithPassword: %v", err)
	}
	if pw.UID != u.UID {
		t.Fatalf("password sign-in: got uid %q, want %q", pw.UID, u.UID)
	}

	// Revoke, past the second, and the old tokens fail.
	waitNextSecond()
	if err := c.RevokeRefreshTokens(ctx, u.UID); err != nil {
		t.Fatalf("RevokeRefreshTokens: %v", err)
	}
	_, err = c.VerifyIDToken(ctx, refreshed.IDToken, VerifyOptions{CheckRevoked: true})
	wantReason(t, err, ErrTokenRevoked)
	if strings.Contains(err.Error(), refreshed.IDToken) {
		t.Fatalf("error message contains the token")
	}

	// A fresh sign-in after the revocation verifies again.
	waitNextSecond()
	again := signIn(t, c, u.UID, nil)
	if _, err := c.VerifyIDToken(ctx, again.IDToken, VerifyOptions{CheckRevoked: true}); err != nil {
		t.Fatalf("VerifyIDToken after a new sign-in: %v", err)
	}

	// A disabled user's tokens and refreshes fail with ErrUserDisabled.
	if err := c.DisableUser(ctx, u.UID); err != nil {
		t.Fatalf("DisableUser: %v", err)
	}
	_, err = c.VerifyIDToken(ctx, again.IDToken, VerifyOptions{CheckRevoked: true})
	wantReason(t, err, ErrUserDisabled)
	_, err = sc.Refresh(ctx, again.RefreshToken)
	wantReason(t, err, ErrUserDisabled)
	_, err = sc.SignInWithPassword(ctx, u.Email, u.Password)
	wantReason(t, err, ErrUserDisabled)
	if err := c.EnableUser(ctx, u.UID); err != nil {
		t.Fatalf("EnableUser: %v", err)
	}
	if _, err := sc.Refresh(ctx, again.RefreshToken); err != nil {
		t.Fatalf("Refresh after EnableUser: %v", err)
	}

	// A deleted user's token names an unknown user.
	if err := c.DeleteUser(ctx, u.UID); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	_, err = c.VerifyIDToken(ctx, again.IDToken, VerifyOptions{CheckRevoked: true})
	wantReason(t, err, ErrTokenUnknownUser)
}

func TestSessionCookie(t *testing.T) {
	t.Parallel()
	c := emuClient(t)
	ctx := context.Background()
	u := newTestUser(t, c)
	cred := signIn(t, c, u.UID, map[string]any{"team": "blue"})

	cookie, err := c.SessionCookie(ctx, cred.IDToken, time.Hour)
	if err != nil {
		t.Fatalf("SessionCookie: %v", err)
	}
	tok, err := c.VerifySessionCookie(ctx, cookie)
	if err != nil {
		t.Fatalf("VerifySessionCookie: %v", err)
	}
	if tok.UID != u.UID || tok.Claims["team"] != "blue" {
		t.Fatalf("session cookie: got uid %q claims %v, want %q team=blue", tok.UID, tok.Claims, u.UID)
	}
	// An ID token is not a session cookie (other issuer), and vice versa.
	_, err = c.VerifySessionCookie(ctx, cred.IDToken)
	wantReason(t, err, ErrTokenIssuer)
	_, err = c.VerifyIDToken(ctx, cookie)
	wantReason(t, err, ErrTokenIssuer)

	if _, err := c.SessionCookie(ctx, cred.IDToken, time.Minute); !errors.Is(err, ErrInvalid) {
		t.Fatalf("SessionCookie(1 minute): got %v, want ErrInvalid", err)
	}
	_, err = c.SessionCookie(ctx, "not-a-token", time.Hour)
	wantReason(t, err, ErrTokenMalformed)

	waitNextSecond()
	if err := c.RevokeRefreshTokens(ctx, u.UID); err != nil {
		t.Fatal(err)
	}
	_, err = c.VerifySessionCookie(ctx, cookie, VerifyOptions{CheckRevoked: true})
	wantReason(t, err, ErrTokenRevoked)
}

// TestTenantTokens runs the token flow inside a tenant: tokens carry the
// tenant, a client of another tenant rejects them.
func TestTenantTokens(t *testing.T) {
	t.Parallel()
	c := emuClient(t)
	ctx := context.Background()
	ten, err := c.CreateTenant(ctx, (&TenantToCreate{}).DisplayName("tokens").AllowPasswordSignUp(true))
	if err != nil {
		t.Fatalf("CreateTenant: %v", err)
	}
	t.Cleanup(func() { _ = c.DeleteTenant(context.Background(), ten.ID) })
	other, err := c.CreateTenant(ctx, (&TenantToCreate{}).DisplayName("other"))
	if err != nil {
		t.Fatalf("CreateTenant: %v", err)
	}
	t.Cleanup(func() { _ = c.DeleteTenant(context.Background(), other.ID) })

	tc, err := c.ForTenant(ten.ID)
	if err != nil {
		t.Fatal(err)
	}
	u := newTestUser(t, tc)
	if _, err := c.GetUser(ctx, u.UID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("project-level GetUser of a tenant user: got %v, want ErrNotFound", err)
	}

	cred := signIn(t, tc, u.UID, map[string]any{"k": "v"})
	tok, err := tc.VerifyIDToken(ctx, cred.IDToken, VerifyOptions{CheckRevoked: true})
	if err != nil {
		t.Fatalf("tenant VerifyIDToken: %v", err)
	}
	if tok.Firebase.Tenant != ten.ID || tok.UID != u.UID {
		t.Fatalf("tenant token: got tenant %q uid %q, want %q %q", tok.Firebase.Tenant, tok.UID, ten.ID, u.UID)
	}
	oc, _ := c.ForTenant(other.ID)
	_, err = oc.VerifyIDToken(ctx, cred.IDToken)
	wantReason(t, err, ErrTokenTenant)

	// Password sign-in and refresh inside the tenant.
	sc := tc.SignInClient()
	pw, err := sc.SignInWithPassword(ctx, u.Email, u.Password)
	if err != nil {
		t.Fatalf("tenant SignInWithPassword: %v", err)
	}
	r, err := sc.Refresh(ctx, pw.RefreshToken)
	if err != nil {
		t.Fatalf("tenant Refresh: %v", err)
	}
	if tok, err := tc.VerifyIDToken(ctx, r.IDToken); err != nil || tok.Firebase.Tenant != ten.ID {
		t.Fatalf("tenant refreshed token: got %v, %v; want tenant %q", tok, err, ten.ID)
	}
	// The same email in the project (outside the tenant) is unknown.
	_, err = c.SignInClient().SignInWithPassword(ctx, u.Email, u.Password)
	wantReason(t, err, ErrInvalidCredentials)
}

func TestSignInErrors(t *testing.T) {
	t.Parallel()
	c := emuClient(t)
	ctx := context.Background()
	u := newTestUser(t, c)
	sc := c.SignInClient()

	_, err := sc.SignInWithPassword(ctx, u.Email, "wrong-password")
	wantReason(t, err, ErrInvalidCredentials)
	if strings.Contains(err.Error(), "wrong-password") {
		t.Fatalf("error contains the password: %v", err)
	}
	_, err = sc.SignInWithPassword(ctx, emutest.UniqueEmail(t, "nobody"), "whatever1")
	wantReason(t, err, ErrInvalidCredentials)
	_, err = sc.SignInWithCustomToken(ctx, "garbage")
	wantReason(t, err, ErrTokenMalformed)
	_, err = sc.Refresh(ctx, "garbage-refresh-token")
	if err == nil {
		t.Fatalf("Refresh(garbage): got no error")
	}
	if strings.Contains(err.Error(), "garbage-refresh-token") {
		t.Fatalf("error contains the refresh token: %v", err)
	}
	// An ID token is not a custom token.
	cred := signIn(t, c, u.UID, nil)
	_, err = sc.SignInWithCustomToken(ctx, cred.IDToken)
	wantReason(t, err, ErrTokenMalformed)
}
