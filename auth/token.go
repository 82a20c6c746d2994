package auth

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	fbauth "firebase.google.com/go/v4/auth"

	"github.com/fbadmin/fbadmin/internal/errs"
)

// Token is a verified Firebase ID token or session cookie: UID, standard
// claims, the "firebase" claim (sign-in provider, tenant) and the custom
// claims in Claims.
type Token = fbauth.Token

const (
	idTokenIssuerPrefix       = "https://securetoken.google.com/"
	sessionCookieIssuerPrefix = "https://session.firebase.google.com/"
	customTokenAudience       = "https://identitytoolkit.googleapis.com/google.identity.identitytoolkit.v1.IdentityToolkit"

	// clockSkew is the tolerance on iat/exp, the same as the Admin SDK's.
	clockSkew = 5 * time.Minute
	// maxTokenLen bounds what is parsed: Firebase tokens are a few KB.
	maxTokenLen = 32 << 10
)

// TokenInfo is what a token says about itself, before any verification.
// See [Inspect].
type TokenInfo struct {
	Algorithm string         // header "alg"
	KeyID     string         // header "kid"
	Claims    map[string]any // the payload, all claims
	Audience  string
	Issuer    string
	Subject   string
	IssuedAt  time.Time
	Expires   time.Time
	NotBefore time.Time // zero when absent
	Tenant    string    // firebase.tenant
}

// Unsigned reports whether the token declares no signature (alg "none"),
// as the Auth emulator's tokens do.
func (ti *TokenInfo) Unsigned() bool { return strings.EqualFold(ti.Algorithm, "none") }

// Inspect decodes a JWT's header and payload WITHOUT verifying anything
// (not the signature, not the claims). It is for diagnostics and for
// classifying failures; never trust its result. A token that is not a
// well-formed JWT gives a [TokenError] with reason [ErrTokenMalformed].
func Inspect(token string) (*TokenInfo, error) {
	const op = "inspect token"
	malformed := func(detail string) error { return tokenErr(op, ErrTokenMalformed, detail, nil) }
	if token == "" {
		return nil, malformed("empty")
	}
	if len(token) > maxTokenLen {
		return nil, malformed(fmt.Sprintf("%d bytes, more than the %d accepted", len(token), maxTokenLen))
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, malformed(fmt.Sprintf("%d segments, want 3 (header.payload.signature)", len(parts)))
	}
	var header struct {
		Alg any `json:"alg"`
		Kid any `json:"kid"`
	}
	if err := decodeSegment(parts[0], &header); err != nil {
		return nil, malformed("header: " + err.Error())
	}
	var claims map[string]any
	if err := decodeSegment(parts[1], &claims); err != nil {
		return nil, malformed("payload: " + err.Error())
	}
	if claims == nil {
		return nil, malformed("payload: not a JSON object")
	}
	if _, err := base64.RawURLEncoding.DecodeString(parts[2]); err != nil {
		return nil, malformed("signature: not base64url")
	}
	ti := &TokenInfo{Claims: claims}
	var ok bool
	if ti.Algorithm, ok = header.Alg.(string); !ok {
		return nil, malformed(`header: "alg" missing or not a string`)
	}
	if header.Kid != nil {
		if ti.KeyID, ok = header.Kid.(string); !ok {
			return nil, malformed(`header: "kid" not a string`)
		}
	}
	str := func(name string) (string, error) {
		v, present := claims[name]
		if !present {
			return "", nil
		}
		s, ok := v.(string)
		if !ok {
			return "", malformed(fmt.Sprintf("claim %q is not a string", name))
		}
		return s, nil
	}
	num := func(name string) (time.Time, error) {
		v, present := claims[name]
		if !present {
			return time.Time{}, nil
		}
		n, ok := v.(json.Number)
		if !ok {
			return time.Time{}, malformed(fmt.Sprintf("claim %q is not a number", name))
		}
		f, err := n.Float64()
		if err != nil || f < -1e11 || f > 1e11 {
			return time.Time{}, malformed(fmt.Sprintf("claim %q is out of range", name))
		}
		return time.Unix(int64(f), 0), nil
	}
	var err error
	if ti.Audience, err = str("aud"); err != nil {
		return nil, err
	}
	if ti.Issuer, err = str("iss"); err != nil {
		return nil, err
	}
	if ti.Subject, err = str("sub"); err != nil {
		return nil, err
	}
	if ti.IssuedAt, err = num("iat"); err != nil {
		return nil, err
	}
	if ti.Expires, err = num("exp"); err != nil {
		return nil, err
	}
	if ti.NotBefore, err = num("nbf"); err != nil {
		return nil, err
	}
	if fb, ok := claims["firebase"].(map[string]any); ok {
		ti.Tenant, _ = fb["tenant"].(string)
	}
	return ti, nil
}

func decodeSegment(seg string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return errors.New("not base64url")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return errors.New("not a JSON object")
	}
	if dec.More() {
		return errors.New("trailing data after the JSON object")
	}
	return nil
}

// tokenKind describes what is verified: ID token or session cookie.
type tokenKind struct {
	op           string
	issuerPrefix string
}

var (
	idTokenKind       = tokenKind{"verify ID token", idTokenIssuerPrefix}
	sessionCookieKind = tokenKind{"verify session cookie", sessionCookieIssuerPrefix}
)

// precheck applies, on the decoded but unverified token, the checks whose
// failure this package reports with a precise reason, and the emulator rule.
// The Admin SDK then performs the real verification.
func (c *Client) precheck(kind tokenKind, token string) (*TokenInfo, error) {
	ti, err := Inspect(token)
	if err != nil {
		var te *TokenError
		if errors.As(err, &te) {
			te.Op = kind.op
		}
		return nil, err
	}
	fail := func(reason error, format string, args ...any) error {
		return tokenErr(kind.op, reason, fmt.Sprintf(format, args...), nil)
	}
	project := c.cfg.ProjectID
	switch {
	case ti.Unsigned() && !c.Emulator():
		return nil, fail(ErrTokenSignature, "unsigned token (alg none) rejected: emulator mode is off")
	case !c.Emulator() && ti.Algorithm != "RS256":
		return nil, fail(ErrTokenSignature, "algorithm %q, want RS256", ti.Algorithm)
	case ti.Audience == customTokenAudience:
		return nil, fail(ErrTokenAudience, "this is a custom token; exchange it for an ID token first")
	case !c.Emulator() && ti.KeyID == "":
		return nil, fail(ErrTokenSignature, `no "kid" header: cannot pick a verification key`)
	case project != "" && ti.Audience != project:
		return nil, fail(ErrTokenAudience, "aud %q, want project %q", ti.Audience, project)
	case project != "" && ti.Issuer != kind.issuerPrefix+project:
		return nil, fail(ErrTokenIssuer, "iss %q, want %q", ti.Issuer, kind.issuerPrefix+project)
	case ti.Subject == "" || len(ti.Subject) > 128:
		return nil, fail(ErrTokenMalformed, `"sub" must be 1 to 128 characters`)
	case ti.IssuedAt.IsZero() || ti.Expires.IsZero():
		return nil, fail(ErrTokenMalformed, `"iat" and "exp" are required`)
	}
	now := c.now()
	switch {
	case ti.Expires.Add(clockSkew).Before(now):
		return nil, fail(ErrTokenExpired, "expired at %s", ti.Expires.UTC().Format(time.RFC3339))
	case ti.IssuedAt.Add(-clockSkew).After(now):
		return nil, fail(ErrTokenNotYetValid, "issued at %s, in the future", ti.IssuedAt.UTC().Format(time.RFC3339))
	case !ti.NotBefore.IsZero() && ti.NotBefore.Add(-clockSkew).After(now):
		return nil, fail(ErrTokenNotYetValid, "not before %s", ti.NotBefore.UTC().Format(time.RFC3339))
	case c.tenant != "" && ti.Tenant != c.tenant:
		return nil, fail(ErrTokenTenant, "tenant %q, want %q", ti.Tenant, c.tenant)
	}
	return ti, nil
}

// VerifyOptions tunes a verification.
type VerifyOptions struct {
	// CheckRevoked also checks, with one lookup of the user, that the
	// user's refresh tokens were not revoked after the token was issued and
	// that the user is not disabled. (In emulator mode the Admin SDK always
	// makes this check.)
	CheckRevoked bool
}

// VerifyIDToken verifies a Firebase ID token and returns its claims. In
// production the signature is checked against Google's public keys; in
// emulator mode the emulator's unsigned tokens are accepted (and only
// there). A failure is a *[TokenError] whose Reason says why; an outage
// (keys or user lookup unreachable) is an [ErrUnavailable] error instead.
func (c *Client) VerifyIDToken(ctx context.Context, idToken string, opts ...VerifyOptions) (*Token, error) {
	if _, err := c.precheck(idTokenKind, idToken); err != nil {
		return nil, err
	}
	var (
		tok *Token
		err error
	)
	if checkRevoked(opts) {
		tok, err = c.base.VerifyIDTokenAndCheckRevoked(ctx, idToken)
	} else {
		tok, err = c.base.VerifyIDToken(ctx, idToken)
	}
	if err != nil {
		return nil, classifyVerifyErr(idTokenKind, err)
	}
	return tok, nil
}

// VerifySessionCookie verifies a session cookie made by [Client.SessionCookie].
func (c *Client) VerifySessionCookie(ctx context.Context, cookie string, opts ...VerifyOptions) (*Token, error) {
	if c.tenant != "" {
		return nil, errs.New(errs.ErrInvalid, sessionCookieKind.op, c.tenant,
			"session cookies are project-level: use a client without a tenant")
	}
	if _, err := c.precheck(sessionCookieKind, cookie); err != nil {
		return nil, err
	}
	var (
		tok *Token
		err error
	)
	if checkRevoked(opts) {
		tok, err = c.root.VerifySessionCookieAndCheckRevoked(ctx, cookie)
	} else {
		tok, err = c.root.VerifySessionCookie(ctx, cookie)
	}
	if err != nil {
		return nil, classifyVerifyErr(sessionCookieKind, err)
	}
	return tok, nil
}

// SessionCookie exchanges a valid ID token for a session cookie valid for
// expiresIn (5 minutes to 14 days).
func (c *Client) SessionCookie(ctx context.Context, idToken string, expiresIn time.Duration) (string, error) {
	const op = "create session cookie"
	if c.tenant != "" {
		return "", errs.New(errs.ErrInvalid, op, c.tenant,
			"session cookies are project-level: use a client without a tenant")
	}
	if expiresIn < 5*time.Minute || expiresIn > 14*24*time.Hour {
		return "", errs.New(errs.ErrInvalid, op, "", "expiry %s is outside 5m to 336h (14 days)", expiresIn)
	}
	if _, err := c.precheck(tokenKind{op, idTokenIssuerPrefix}, idToken); err != nil {
		return "", err
	}
	cookie, err := c.root.SessionCookie(ctx, idToken, expiresIn)
	if err != nil {
		if errs.KindOf(wrapErr(err, "", "")) == errs.ErrInvalid {
			// The service rejects the ID token itself (INVALID_ID_TOKEN, TOKEN_EXPIRED, ...).
			return "", tokenErr(op, reasonFromServiceMessage(err.Error(), ErrTokenMalformed), "", err)
		}
		return "", wrapErr(err, op, "")
	}
	return cookie, nil
}

func checkRevoked(opts []VerifyOptions) bool {
	for _, o := range opts {
		if o.CheckRevoked {
			return true
		}
	}
	return false
}

// classifyVerifyErr maps an Admin SDK verification error to a TokenError,
// or to an errs error when the failure is not the token's fault.
func classifyVerifyErr(kind tokenKind, err error) error {
	switch {
	case fbauth.IsIDTokenExpired(err), fbauth.IsSessionCookieExpired(err):
		return tokenErr(kind.op, ErrTokenExpired, "", err)
	case fbauth.IsIDTokenRevoked(err), fbauth.IsSessionCookieRevoked(err):
		return tokenErr(kind.op, ErrTokenRevoked, "refresh tokens were revoked after this token was issued", err)
	case fbauth.IsUserDisabled(err):
		return tokenErr(kind.op, ErrUserDisabled, "", err)
	case fbauth.IsTenantIDMismatch(err):
		return tokenErr(kind.op, ErrTokenTenant, "", err)
	case fbauth.IsUserNotFound(err):
		return tokenErr(kind.op, ErrTokenUnknownUser, "", err)
	case fbauth.IsCertificateFetchFailed(err):
		return &errs.Error{Kind: errs.ErrUnavailable, Op: kind.op, Target: "public keys", Cause: err}
	case fbauth.IsIDTokenInvalid(err), fbauth.IsSessionCookieInvalid(err):
		msg := err.Error()
		switch {
		case strings.Contains(msg, "signature"), strings.Contains(msg, "'kid'"), strings.Contains(msg, "algorithm"):
			return tokenErr(kind.op, ErrTokenSignature, "", err)
		case strings.Contains(msg, "'aud'"), strings.Contains(msg, "custom token"):
			return tokenErr(kind.op, ErrTokenAudience, "", err)
		case strings.Contains(msg, "'iss'"):
			return tokenErr(kind.op, ErrTokenIssuer, "", err)
		case strings.Contains(msg, "future"):
			return tokenErr(kind.op, ErrTokenNotYetValid, "", err)
		}
		return tokenErr(kind.op, ErrTokenMalformed, "", err)
	}
	w := wrapErr(err, kind.op, "")
	if errs.KindOf(w) == errs.ErrInvalid {
		return tokenErr(kind.op, ErrTokenMalformed, "", err)
	}
	return w
}

// reasonFromServiceMessage maps an Identity Toolkit / Secure Token error
// code (the leading word of its message) to a reason.
func reasonFromServiceMessage(msg string, fallback error) error {
	for _, r := range serviceReasons {
		if strings.Contains(msg, r.code) {
			return r.reason
		}
	}
	return fallback
}

// serviceReasons maps the error codes of the Identity Toolkit and Secure
// Token APIs to reasons; longer codes first where one contains another.
var serviceReasons = []struct {
	code   string
	reason error
}{
	{"TOKEN_EXPIRED", ErrTokenRevoked}, // "the user's credential is no longer valid"
	{"USER_DISABLED", ErrUserDisabled},
	{"INVALID_ID_TOKEN", ErrTokenMalformed},
	{"INVALID_REFRESH_TOKEN", ErrTokenMalformed},
	{"USER_NOT_FOUND", ErrTokenUnknownUser},
	{"INVALID_CUSTOM_TOKEN", ErrTokenMalformed},
	{"CREDENTIAL_MISMATCH", ErrTokenAudience},
	{"TENANT_ID_MISMATCH", ErrTokenTenant},
	{"INVALID_PASSWORD", ErrInvalidCredentials},
	{"EMAIL_NOT_FOUND", ErrInvalidCredentials},
	{"INVALID_LOGIN_CREDENTIALS", ErrInvalidCredentials},
	{"INVALID_EMAIL", ErrInvalidCredentials},
	{"MISSING_PASSWORD", ErrInvalidCredentials},
}
