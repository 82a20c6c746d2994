package auth

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"google.golang.org/api/option"

	"github.com/fbadmin/fbadmin/internal/emutest"
)

// emuClient returns a Client on the Auth emulator's own project, the one
// whose tokens the client endpoints issue. Tests share that project and
// isolate their data with unique UIDs and emails.
func emuClient(tb testing.TB) *Client {
	tb.Helper()
	a := emutest.NewAuth(tb)
	c, err := New(context.Background(), Config{ProjectID: a.ProjectID, EmulatorHost: a.Host})
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return c
}

// projectClient returns a Client on a project of its own on the emulator,
// deleted when the test ends (Admin API calls only: no sign-in).
func projectClient(tb testing.TB) *Client {
	tb.Helper()
	a := emutest.NewAuthProject(tb)
	c, err := New(context.Background(), Config{ProjectID: a.ProjectID, EmulatorHost: a.Host})
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return c
}

// testUser creates a user with a unique UID and email and a password, and
// deletes it when the test ends.
type testUser struct {
	UID, Email, Password string
}

func newTestUser(tb testing.TB, c *Client) testUser {
	tb.Helper()
	u := testUser{
		UID:      emutest.UniqueID(tb, "authtest"),
		Email:    emutest.UniqueEmail(tb, "authtest"),
		Password: "pw-" + emutest.UniqueID(tb, "x"),
	}
	ctx := context.Background()
	if _, err := c.CreateUser(ctx, (&UserToCreate{}).UID(u.UID).Email(u.Email).Password(u.Password)); err != nil {
		tb.Fatalf("CreateUser: %v", err)
	}
	tb.Cleanup(func() { _ = c.DeleteUser(context.Background(), u.UID) })
	return u
}

// signIn mints a custom token for uid and exchanges it for credentials.
func signIn(tb testing.TB, c *Client, uid string, claims map[string]any) *Credentials {
	tb.Helper()
	ctx := context.Background()
	ct, err := c.CustomToken(ctx, uid, claims)
	if err != nil {
		tb.Fatalf("CustomToken: %v", err)
	}
	cred, err := c.SignInClient().SignInWithCustomToken(ctx, ct)
	if err != nil {
		tb.Fatalf("SignInWithCustomToken: %v", err)
	}
	return cred
}

// makeToken builds a JWT from a header and claims, with sig as signature.
func makeToken(header, claims map[string]any, sig string) string {
	h, _ := json.Marshal(header)
	p, _ := json.Marshal(claims)
	return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(p) + "." + sig
}

// emulatorLikeClaims are the claims of an ID token of project, issued at iat.
func emulatorLikeClaims(project, uid string, iat time.Time) map[string]any {
	return map[string]any{
		"iss":       idTokenIssuerPrefix + project,
		"aud":       project,
		"sub":       uid,
		"user_id":   uid,
		"iat":       iat.Unix(),
		"auth_time": iat.Unix(),
		"exp":       iat.Add(time.Hour).Unix(),
		"firebase":  map[string]any{"sign_in_provider": "custom", "identities": map[string]any{}},
	}
}

// retoken decodes token, lets edit change its header and claims, and
// re-encodes it with the same signature segment.
func retoken(tb testing.TB, token string, edit func(header, claims map[string]any)) string {
	tb.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		tb.Fatalf("not a JWT")
	}
	var h, p map[string]any
	hb, _ := base64.RawURLEncoding.DecodeString(parts[0])
	pb, _ := base64.RawURLEncoding.DecodeString(parts[1])
	if err := json.Unmarshal(hb, &h); err != nil {
		tb.Fatal(err)
	}
	if err := json.Unmarshal(pb, &p); err != nil {
		tb.Fatal(err)
	}
	edit(h, p)
	return makeToken(h, p, parts[2])
}

// dummyServiceAccount returns the JSON key of a made-up service account
// with a fresh RSA key: enough for the Admin SDK to start in production mode
// and sign custom tokens locally, without any network.
func dummyServiceAccount(tb testing.TB, project string) []byte {
	tb.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		tb.Fatal(err)
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	b, _ := json.Marshal(map[string]string{
		"type":           "service_account",
		"project_id":     project,
		"private_key_id": "dummykeyid",
		"private_key":    string(pemKey),
		"client_email":   "fbadmin-test@" + project + ".iam.gserviceaccount.com",
		"client_id":      "1234567890",
		"token_uri":      "https://oauth2.googleapis.com/token",
	})
	return b
}

// productionClient returns a Client in production mode (emulator mode off)
// for project, with a dummy service account; it makes no network call
// unless asked to verify a signature or call the API.
func productionClient(tb testing.TB, project string) *Client {
	tb.Helper()
	c, err := New(context.Background(), Config{
		ProjectID: project,
		Options:   []option.ClientOption{option.WithAuthCredentialsJSON(option.ServiceAccount, dummyServiceAccount(tb, project))},
	})
	if err != nil {
		tb.Fatalf("New (production mode): %v", err)
	}
	return c
}

// wantReason fails unless err is a *TokenError with the reason.
func wantReason(tb testing.TB, err, reason error) {
	tb.Helper()
	if err == nil {
		tb.Fatalf("got no error, want %v", reason)
	}
	var te *TokenError
	if !errors.As(err, &te) {
		tb.Fatalf("got %T %v, want a *TokenError with reason %v", err, err, reason)
	}
	if !errors.Is(err, reason) {
		tb.Fatalf("got reason %v (%v), want %v", te.Reason, err, reason)
	}
	if !errors.Is(err, ErrUnauthenticated) {
		tb.Fatalf("TokenError %v does not unwrap to ErrUnauthenticated", err)
	}
}

// waitNextSecond sleeps until the wall clock has passed into the second
// after the next one, so that a revocation made now is strictly later than
// any token issued before it (revocation counts whole seconds).
func waitNextSecond() {
	now := time.Now()
	next := now.Truncate(time.Second).Add(time.Second)
	time.Sleep(time.Until(next) + 50*time.Millisecond)
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func emuEnv() string { return os.Getenv(EmulatorHostEnv) }
