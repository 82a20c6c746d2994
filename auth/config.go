package auth

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"

	"google.golang.org/api/option"

	"github.com/fbadmin/fbadmin/internal/errs"
)

// EmulatorHostEnv is the environment variable that the Firebase tools and
// the Admin SDK use to name the Auth emulator. This package reads it only in
// [ConfigFromEnv]: emulator mode is always an explicit [Config] choice.
const EmulatorHostEnv = "FIREBASE_AUTH_EMULATOR_HOST"

// emulatorAPIKey is sent to the emulator's end-user endpoints when no API key
// is configured; the emulator accepts any key.
const emulatorAPIKey = "fbadmin-emulator-key"

// Config configures a [Client].
//
// Emulator mode is on exactly when EmulatorHost is set. In emulator mode the
// client talks to the Auth emulator and accepts the unsigned (alg "none")
// tokens the emulator issues; with emulator mode off, an unsigned token is
// always rejected with [ErrTokenSignature], whatever the environment says.
type Config struct {
	// ProjectID is the Firebase project. Required in emulator mode; in
	// production it may be left empty when the credentials name the project.
	ProjectID string

	// EmulatorHost is the Auth emulator's host:port (for example
	// 127.0.0.1:9099). Setting it turns emulator mode on.
	EmulatorHost string

	// CredentialsFile is a service account key file for production. When it
	// is empty (and Options gives no credentials), Application Default
	// Credentials are used. Ignored in emulator mode.
	CredentialsFile string

	// APIKey is the project's Web API key, used by the end-user REST calls
	// (sign-in, token refresh). Optional in emulator mode.
	APIKey string

	// TenantID scopes every user and token operation of the client to one
	// tenant (Identity Platform multi-tenancy). See also [Client.ForTenant].
	TenantID string

	// Options are passed to the Admin SDK in production mode (for example
	// option.WithAuthCredentialsJSON). Ignored in emulator mode.
	Options []option.ClientOption

	// HTTPClient is used for the end-user REST calls (sign-in, refresh).
	// Nil means a client with a 30 s timeout.
	HTTPClient *http.Client
}

// ConfigFromEnv returns a Config filled from the environment: the project
// from GOOGLE_CLOUD_PROJECT (or GCLOUD_PROJECT), emulator mode from
// FIREBASE_AUTH_EMULATOR_HOST, the API key from FIREBASE_API_KEY and the
// credentials file from GOOGLE_APPLICATION_CREDENTIALS.
func ConfigFromEnv() Config {
	c := Config{
		ProjectID:       os.Getenv("GOOGLE_CLOUD_PROJECT"),
		EmulatorHost:    os.Getenv(EmulatorHostEnv),
		APIKey:          os.Getenv("FIREBASE_API_KEY"),
		CredentialsFile: os.Getenv("GOOGLE_APPLICATION_CREDENTIALS"),
	}
	if c.ProjectID == "" {
		c.ProjectID = os.Getenv("GCLOUD_PROJECT")
	}
	return c
}

// Emulator reports whether the configuration is in emulator mode.
func (c Config) Emulator() bool { return c.EmulatorHost != "" }

// Validate checks the configuration and returns an error naming the field
// at fault.
func (c Config) Validate() error {
	if c.EmulatorHost != "" {
		if strings.Contains(c.EmulatorHost, "://") {
			return errs.New(errs.ErrInvalid, "auth config", "EmulatorHost",
				"want host:port without a scheme, got %q", c.EmulatorHost)
		}
		if _, _, err := net.SplitHostPort(c.EmulatorHost); err != nil {
			return errs.New(errs.ErrInvalid, "auth config", "EmulatorHost",
				"want host:port (for example 127.0.0.1:9099), got %q", c.EmulatorHost)
		}
		if c.ProjectID == "" {
			return errs.New(errs.ErrInvalid, "auth config", "ProjectID",
				"a project ID is required in emulator mode (the emulator's project, for example demo-fbadmin)")
		}
	}
	if c.ProjectID != "" && !validProjectID(c.ProjectID) {
		return errs.New(errs.ErrInvalid, "auth config", "ProjectID", "invalid project ID %q", c.ProjectID)
	}
	if c.TenantID != "" && strings.ContainsAny(c.TenantID, "/?#") {
		return errs.New(errs.ErrInvalid, "auth config", "TenantID", "invalid tenant ID %q", c.TenantID)
	}
	if c.CredentialsFile != "" && c.EmulatorHost == "" {
		if _, err := os.Stat(c.CredentialsFile); err != nil {
			return errs.New(errs.ErrInvalid, "auth config", "CredentialsFile", "%v", err)
		}
	}
	return nil
}

func validProjectID(p string) bool {
	if len(p) > 100 {
		return false
	}
	for _, r := range p {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == ':' || r == '.') {
			return false
		}
	}
	return true
}

func (c Config) String() string {
	mode := "production"
	if c.Emulator() {
		mode = "emulator " + c.EmulatorHost
	}
	s := fmt.Sprintf("project %s (%s)", c.ProjectID, mode)
	if c.TenantID != "" {
		s += " tenant " + c.TenantID
	}
	return s
}

// FirestoreEmulatorHostEnv is the environment variable that the Firestore
// SDKs use to name the Firestore emulator.
const FirestoreEmulatorHostEnv = "FIRESTORE_EMULATOR_HOST"

// CheckEmulatorChoice guards commands that verify ID tokens (a server
// above all) against an emulator that only the environment names: with
// FIREBASE_AUTH_EMULATOR_HOST or FIRESTORE_EMULATOR_HOST set but emulator
// mode not chosen explicitly (explicit false: no --emulator flag), it
// returns an error that names the variable and what to do, because such a
// process would accept the Auth emulator's unsigned tokens (anyone could
// forge any UID and claim) or serve emulator data as production. With
// explicit true, or neither variable set, it returns nil.
func CheckEmulatorChoice(explicit bool) error {
	if explicit {
		return nil
	}
	for _, v := range []string{EmulatorHostEnv, FirestoreEmulatorHostEnv} {
		if os.Getenv(v) == "" {
			continue
		}
		return errs.New(errs.ErrInvalid, "token verification mode", v,
			"%s is set in the environment but emulator mode was not chosen: refusing to start, because the Auth emulator's "+
				"unsigned tokens (any UID, any claim) would be accepted. On the emulators pass --emulator; in production unset %s", v, v)
	}
	return nil
}

// VerificationMode describes how c verifies ID tokens, for a start-up log
// line: "emulator" (unsigned tokens of the Auth emulator accepted) or
// "production" (RS256 signatures checked against Google's public keys).
func (c Config) VerificationMode() string {
	if c.Emulator() {
		return "emulator"
	}
	return "production"
}
