package auth

import (
	"context"
	"encoding/json"
	"slices"
	"sort"
	"strings"

	"github.com/fbadmin/fbadmin/internal/errs"
)

// MaxClaimsSize is the largest custom claims payload Firebase accepts, in
// bytes of its JSON serialization.
const MaxClaimsSize = 1000

// ReservedClaims are the claim names that custom claims may not use
// (OIDC and Firebase names).
var ReservedClaims = []string{
	"acr", "amr", "at_hash", "aud", "auth_time", "azp", "cnf", "c_hash",
	"exp", "firebase", "iat", "iss", "jti", "nbf", "nonce", "sub",
}

// ValidateClaims checks developer claims the way Firebase will: no reserved
// names, serializable to JSON, at most [MaxClaimsSize] bytes. The error is an
// [ErrInvalid] error that names the offending claims.
func ValidateClaims(claims map[string]any) error {
	return validateClaims("validate claims", "", claims)
}

func validateClaims(op, target string, claims map[string]any) error {
	var reserved []string
	for k := range claims {
		if slices.Contains(ReservedClaims, k) {
			reserved = append(reserved, k)
		}
	}
	if len(reserved) > 0 {
		sort.Strings(reserved)
		return errs.New(errs.ErrInvalid, op, target,
			"reserved claim names %s cannot be set (reserved: %s)",
			quoteAll(reserved), strings.Join(ReservedClaims, ", "))
	}
	b, err := json.Marshal(claims)
	if err != nil {
		return errs.New(errs.ErrInvalid, op, target, "claims are not JSON-serializable: %v", err)
	}
	if len(b) > MaxClaimsSize {
		return errs.New(errs.ErrInvalid, op, target,
			"claims serialize to %d bytes, more than the %d Firebase accepts; keep claims small (roles, flags) and store the rest elsewhere",
			len(b), MaxClaimsSize)
	}
	return nil
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = `"` + s + `"`
	}
	return strings.Join(q, ", ")
}

func validateUID(op, uid string) error {
	if uid == "" || len(uid) > 128 {
		return errs.New(errs.ErrInvalid, op, "", "a UID must be 1 to 128 characters, got %d", len(uid))
	}
	return nil
}

// CustomToken mints a custom token for uid carrying the developer claims
// (which may be nil). A client exchanges it for an ID token with
// [SignInClient.SignInWithCustomToken]. Claims are validated before anything
// is signed or sent: reserved names and oversized claims give [ErrInvalid].
// On a tenant client the token carries the tenant.
//
// In emulator mode the token is unsigned, as the emulator expects; in
// production it is signed with the service account (locally when the
// credentials hold a private key, otherwise through the IAM API).
func (c *Client) CustomToken(ctx context.Context, uid string, claims map[string]any) (string, error) {
	const op = "mint custom token"
	if err := validateUID(op, uid); err != nil {
		return "", err
	}
	if err := validateClaims(op, uid, claims); err != nil {
		return "", err
	}
	tok, err := c.base.CustomTokenWithClaims(ctx, uid, claims)
	if err != nil {
		return "", wrapErr(err, op, uid)
	}
	return tok, nil
}
