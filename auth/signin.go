package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/fbadmin/fbadmin/internal/errs"
)

// Production endpoints of the end-user REST APIs.
const (
	IdentityToolkitURL = "https://identitytoolkit.googleapis.com"
	SecureTokenURL     = "https://securetoken.googleapis.com"
)

// SignInConfig configures a [SignInClient].
type SignInConfig struct {
	// APIKey is the project's Web API key. Required in production; in
	// emulator mode any value is accepted and a placeholder is used when
	// it is empty. It is sent in the X-Goog-Api-Key header, never in a URL,
	// so it does not show up in errors or proxy logs.
	APIKey string
	// EmulatorHost (host:port) sends every call to the Auth emulator.
	EmulatorHost string
	// TenantID signs users in to a tenant.
	TenantID string
	// HTTPClient defaults to a client with a 30 s timeout.
	HTTPClient *http.Client
	// IdentityToolkitURL and SecureTokenURL override the services' base
	// URLs (a proxy, a test server). Empty means production, or the
	// emulator when EmulatorHost is set.
	IdentityToolkitURL string
	SecureTokenURL     string
}

// SignInClient calls the end-user side of Firebase Authentication, as a
// client app would: it exchanges a custom token for an ID token and a
// refresh token (Identity Toolkit accounts:signInWithCustomToken), signs in
// with email and password (accounts:signInWithPassword) and refreshes an ID
// token (Secure Token API). It is safe for concurrent use.
type SignInClient struct {
	cfg     SignInConfig
	itkURL  string
	stURL   string
	apiKey  string
	httpc   *http.Client
	nowFunc func() time.Time
}

// NewSignInClient returns a SignInClient for cfg.
func NewSignInClient(cfg SignInConfig) *SignInClient {
	c := &SignInClient{cfg: cfg, apiKey: cfg.APIKey, httpc: cfg.HTTPClient, nowFunc: time.Now}
	c.itkURL, c.stURL = IdentityToolkitURL, SecureTokenURL
	if cfg.EmulatorHost != "" {
		c.itkURL = "http://" + cfg.EmulatorHost + "/identitytoolkit.googleapis.com"
		c.stURL = "http://" + cfg.EmulatorHost + "/securetoken.googleapis.com"
		if c.apiKey == "" {
			c.apiKey = emulatorAPIKey
		}
	}
	if cfg.IdentityToolkitURL != "" {
		c.itkURL = strings.TrimSuffix(cfg.IdentityToolkitURL, "/")
	}
	if cfg.SecureTokenURL != "" {
		c.stURL = strings.TrimSuffix(cfg.SecureTokenURL, "/")
	}
	if c.httpc == nil {
		c.httpc = defaultHTTPClient
	}
	return c
}

// TenantID returns the tenant users are signed in to, or "".
func (c *SignInClient) TenantID() string { return c.cfg.TenantID }

// Credentials are what a sign-in or a refresh returns: a short-lived ID
// token and the refresh token that renews it. Printing or logging
// Credentials never shows the tokens.
type Credentials struct {
	IDToken      string
	RefreshToken string
	ExpiresAt    time.Time // when IDToken expires
	UID          string
	TenantID     string
}

// String describes the credentials without their tokens.
func (c *Credentials) String() string {
	if c == nil {
		return "<nil credentials>"
	}
	return fmt.Sprintf("credentials{uid %q, expires %s, tokens redacted}", c.UID, c.ExpiresAt.UTC().Format(time.RFC3339))
}

// GoString is String, so that %#v does not print the tokens either.
func (c *Credentials) GoString() string { return c.String() }

// LogValue keeps the tokens out of slog output.
func (c *Credentials) LogValue() slog.Value {
	if c == nil {
		return slog.StringValue("<nil>")
	}
	return slog.GroupValue(slog.String("uid", c.UID), slog.Time("expires", c.ExpiresAt),
		slog.String("tokens", "REDACTED"))
}

// SignInWithCustomToken exchanges a custom token (see [Client.CustomToken])
// for credentials.
func (c *SignInClient) SignInWithCustomToken(ctx context.Context, customToken string) (*Credentials, error) {
	const op = "sign in with custom token"
	if customToken == "" {
		return nil, tokenErr(op, ErrTokenMalformed, "empty custom token", nil)
	}
	body := map[string]any{"token": customToken, "returnSecureToken": true}
	return c.signIn(ctx, op, "/v1/accounts:signInWithCustomToken", body)
}

// SignInWithPassword signs a user in with email and password. A wrong
// password or unknown email gives a [TokenError] with reason
// [ErrInvalidCredentials]; a disabled user [ErrUserDisabled].
func (c *SignInClient) SignInWithPassword(ctx context.Context, email, password string) (*Credentials, error) {
	const op = "sign in with password"
	if email == "" || password == "" {
		return nil, tokenErr(op, ErrInvalidCredentials, "email and password are required", nil)
	}
	body := map[string]any{"email": email, "password": password, "returnSecureToken": true}
	return c.signIn(ctx, op, "/v1/accounts:signInWithPassword", body)
}

func (c *SignInClient) signIn(ctx context.Context, op, path string, body map[string]any) (*Credentials, error) {
	if c.cfg.TenantID != "" {
		body["tenantId"] = c.cfg.TenantID
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, errs.New(errs.ErrInvalid, op, "", "encode request: %v", err)
	}
	var resp struct {
		IDToken      string `json:"idToken"`
		RefreshToken string `json:"refreshToken"`
		ExpiresIn    string `json:"expiresIn"`
		LocalID      string `json:"localId"`
	}
	start := c.nowFunc()
	if err := c.post(ctx, op, c.itkURL+path, "application/json", b, &resp); err != nil {
		return nil, err
	}
	if resp.IDToken == "" || resp.RefreshToken == "" {
		return nil, errs.New(errs.ErrInternal, op, "", "the service answered without tokens")
	}
	return &Credentials{
		IDToken:      resp.IDToken,
		RefreshToken: resp.RefreshToken,
		ExpiresAt:    expiry(start, resp.ExpiresIn),
		UID:          uidOf(resp.LocalID, resp.IDToken),
		TenantID:     c.cfg.TenantID,
	}, nil
}

// Refresh exchanges a refresh token for new credentials (a fresh ID token
// that carries the user's current custom claims). A revoked refresh token
// gives a [TokenError] with reason [ErrTokenRevoked], a disabled user
// [ErrUserDisabled], a deleted user [ErrTokenUnknownUser] (or
// [ErrTokenMalformed] from the emulator); a network failure is an
// [ErrUnavailable] error.
func (c *SignInClient) Refresh(ctx context.Context, refreshToken string) (*Credentials, error) {
	const op = "refresh token"
	if refreshToken == "" {
		return nil, tokenErr(op, ErrTokenMalformed, "empty refresh token", nil)
	}
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}}
	var resp struct {
		IDToken      string `json:"id_token"`
		RefreshToken string `json:"refresh_token"`
		ExpiresIn    string `json:"expires_in"`
		UserID       string `json:"user_id"`
	}
	start := c.nowFunc()
	if err := c.post(ctx, op, c.stURL+"/v1/token", "application/x-www-form-urlencoded",
		[]byte(form.Encode()), &resp); err != nil {
		return nil, err
	}
	if resp.IDToken == "" {
		return nil, errs.New(errs.ErrInternal, op, "", "the service answered without an ID token")
	}
	if resp.RefreshToken == "" {
		resp.RefreshToken = refreshToken
	}
	return &Credentials{
		IDToken:      resp.IDToken,
		RefreshToken: resp.RefreshToken,
		ExpiresAt:    expiry(start, resp.ExpiresIn),
		UID:          uidOf(resp.UserID, resp.IDToken),
		TenantID:     c.cfg.TenantID,
	}, nil
}

// uidOf returns uid, or else the subject the ID token names (the custom
// token exchange does not return the UID). This is informational only: the
// token is not verified here.
func uidOf(uid, idToken string) string {
	if uid != "" {
		return uid
	}
	if ti, err := Inspect(idToken); err == nil {
		return ti.Subject
	}
	return ""
}

func expiry(start time.Time, expiresIn string) time.Time {
	secs, err := strconv.Atoi(expiresIn)
	if err != nil || secs <= 0 {
		secs = 3600
	}
	return start.Add(time.Duration(secs) * time.Second)
}

// maxResponse bounds what is read from the services.
const maxResponse = 1 << 20

func (c *SignInClient) post(ctx context.Context, op, endpoint, contentType string, body []byte, out any) error {
	if c.apiKey == "" {
		return errs.New(errs.ErrInvalid, op, "", "an API key is required outside emulator mode (Config.APIKey, or FIREBASE_API_KEY)")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return errs.New(errs.ErrInvalid, op, "", "build request: %v", err)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("X-Goog-Api-Key", c.apiKey)
	resp, err := c.httpc.Do(req)
	if err != nil {
		return transportErr(op, endpoint, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return transportErr(op, endpoint, err)
	}
	if resp.StatusCode/100 != 2 {
		return serviceErr(op, resp.StatusCode, data)
	}
	if err := json.Unmarshal(data, out); err != nil {
		return errs.New(errs.ErrInternal, op, "", "decode the service's answer: %v", err)
	}
	return nil
}

// transportErr reports a network failure without the request URL's query
// (there is none: the key travels in a header) and without the body.
func transportErr(op, endpoint string, err error) error {
	if errors.Is(err, context.Canceled) {
		return &errs.Error{Kind: errs.ErrCanceled, Op: op, Cause: err}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	host := endpoint
	if u, perr := url.Parse(endpoint); perr == nil {
		host = u.Host
	}
	return &errs.Error{Kind: errs.ErrUnavailable, Op: op, Target: host,
		Cause: fmt.Errorf("%w (is the service reachable?)", err)}
}

// ServiceError is an error answer of the Identity Toolkit or Secure Token
// API: the HTTP status and the error code (for example TOKEN_EXPIRED).
type ServiceError struct {
	Status  int
	Code    string // the leading word of the message, e.g. INVALID_PASSWORD
	Message string // the service's message, which never includes credentials
}

func (e *ServiceError) Error() string {
	if e.Message != "" && e.Message != e.Code {
		return fmt.Sprintf("HTTP %d: %s", e.Status, e.Message)
	}
	return fmt.Sprintf("HTTP %d: %s", e.Status, e.Code)
}

func serviceErr(op string, status int, body []byte) error {
	var parsed struct {
		Error struct {
			Message string `json:"message"`
			Status  string `json:"status"`
		} `json:"error"`
	}
	_ = json.Unmarshal(body, &parsed)
	msg := parsed.Error.Message
	if msg == "" {
		msg = parsed.Error.Status
	}
	code := msg
	if i := strings.IndexAny(code, " :"); i >= 0 {
		code = code[:i]
	}
	if len(msg) > 300 {
		msg = msg[:300] + "..."
	}
	se := &ServiceError{Status: status, Code: code, Message: msg}
	for _, r := range serviceReasons {
		if code == r.code {
			return tokenErr(op, r.reason, "", se)
		}
	}
	if status == http.StatusNotImplemented {
		// The Auth emulator's answer for what it does not implement.
		return &errs.Error{Kind: errs.ErrInternal, Op: op, Cause: &notSupportedError{detail: msg, cause: se}}
	}
	var kind error
	switch {
	case status == http.StatusTooManyRequests || strings.HasPrefix(code, "TOO_MANY_ATTEMPTS"):
		kind = errs.ErrResourceLimit
	case status == http.StatusBadRequest:
		kind = errs.ErrInvalid
	case status == http.StatusUnauthorized:
		kind = errs.ErrUnauthenticated
	case status == http.StatusForbidden:
		kind = errs.ErrPermission
	case status == http.StatusNotFound:
		kind = errs.ErrNotFound
	case status >= 500:
		kind = errs.ErrUnavailable
	default:
		kind = errs.ErrInternal
	}
	return &errs.Error{Kind: kind, Op: op, Cause: se}
}
