package auth

import (
	"context"
	"errors"
	"net/http"
	"os"
	"sync"
	"time"

	fbauth "firebase.google.com/go/v4/auth"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"

	"github.com/fbadmin/fbadmin/internal/errs"
)

var defaultHTTPClient = &http.Client{Timeout: 30 * time.Second}

// sdkBase is the part of the Admin SDK that both its project-level client
// and its tenant-scoped client offer; Client works through it so that every
// operation is tenant-aware.
type sdkBase interface {
	VerifyIDToken(ctx context.Context, idToken string) (*fbauth.Token, error)
	VerifyIDTokenAndCheckRevoked(ctx context.Context, idToken string) (*fbauth.Token, error)
	CustomTokenWithClaims(ctx context.Context, uid string, devClaims map[string]any) (string, error)

	CreateUser(ctx context.Context, user *fbauth.UserToCreate) (*fbauth.UserRecord, error)
	UpdateUser(ctx context.Context, uid string, user *fbauth.UserToUpdate) (*fbauth.UserRecord, error)
	DeleteUser(ctx context.Context, uid string) error
	DeleteUsers(ctx context.Context, uids []string) (*fbauth.DeleteUsersResult, error)
	GetUser(ctx context.Context, uid string) (*fbauth.UserRecord, error)
	GetUserByEmail(ctx context.Context, email string) (*fbauth.UserRecord, error)
	GetUserByPhoneNumber(ctx context.Context, phone string) (*fbauth.UserRecord, error)
	GetUsers(ctx context.Context, identifiers []fbauth.UserIdentifier) (*fbauth.GetUsersResult, error)
	QueryUsers(ctx context.Context, query *fbauth.QueryUsersRequest) (*fbauth.QueryUserInfoResponse, error)
	Users(ctx context.Context, nextPageToken string) *fbauth.UserIterator
	RevokeRefreshTokens(ctx context.Context, uid string) error
	SetCustomUserClaims(ctx context.Context, uid string, customClaims map[string]any) error
	ImportUsers(ctx context.Context, users []*fbauth.UserToImport, opts ...fbauth.UserImportOption) (*fbauth.UserImportResult, error)

	PasswordResetLinkWithSettings(ctx context.Context, email string, settings *fbauth.ActionCodeSettings) (string, error)
	EmailVerificationLinkWithSettings(ctx context.Context, email string, settings *fbauth.ActionCodeSettings) (string, error)
	EmailSignInLink(ctx context.Context, email string, settings *fbauth.ActionCodeSettings) (string, error)
}

var (
	_ sdkBase = (*fbauth.Client)(nil)
	_ sdkBase = (*fbauth.TenantClient)(nil)
)

// Client is fbadmin's Firebase Authentication client: token verification and
// minting, session cookies, user management, import and export. It wraps the
// Admin SDK's client, classifies its errors and guards the emulator rule.
// A Client is safe for concurrent use.
type Client struct {
	cfg    Config
	root   *fbauth.Client // project-level SDK client
	base   sdkBase        // root, or a tenant-scoped client
	tenant string
	now    func() time.Time
}

// envMu serializes the creation of SDK clients: the Admin SDK decides
// emulator mode from FIREBASE_AUTH_EMULATOR_HOST at that moment only.
var envMu sync.Mutex

// New returns a Client for cfg.
//
// The Admin SDK reads emulator mode from the process environment when its
// client is created. So that Config alone decides, New sets (emulator mode)
// or clears (production mode) FIREBASE_AUTH_EMULATOR_HOST for the duration
// of the SDK client's creation, under a package lock, and then restores it.
// Code elsewhere in the process that reads that variable at the same instant
// may see the temporary value; nothing in the SDK reads it later.
func New(ctx context.Context, cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var opts []option.ClientOption
	if cfg.Emulator() {
		// The SDK authenticates to the emulator with a fixed fake token.
		opts = append(opts, option.WithoutAuthentication())
	} else {
		if cfg.CredentialsFile != "" {
			opts = append(opts, option.WithAuthCredentialsFile(option.ServiceAccount, cfg.CredentialsFile))
		}
		opts = append(opts, cfg.Options...)
	}
	root, err := withEmulatorEnv(cfg.EmulatorHost, func() (*fbauth.Client, error) {
		return newSDKClient(ctx, cfg.ProjectID, opts)
	})
	if err != nil {
		return nil, &errs.Error{Kind: errs.ErrInvalid, Op: "auth: new client", Target: cfg.String(),
			Cause: err}
	}
	c := &Client{cfg: cfg, root: root, base: root, now: time.Now}
	if cfg.TenantID != "" {
		return c.ForTenant(cfg.TenantID)
	}
	return c, nil
}

// withEmulatorEnv runs create with FIREBASE_AUTH_EMULATOR_HOST set to host
// (or unset when host is empty), restoring the previous value afterwards
// unless someone else changed it meanwhile.
func withEmulatorEnv[T any](host string, create func() (T, error)) (T, error) {
	envMu.Lock()
	defer envMu.Unlock()
	prev, had := os.LookupEnv(EmulatorHostEnv)
	if prev != host {
		if host == "" {
			os.Unsetenv(EmulatorHostEnv)
		} else {
			os.Setenv(EmulatorHostEnv, host)
		}
		defer func() {
			if os.Getenv(EmulatorHostEnv) != host {
				return // changed by someone else: leave it
			}
			if had {
				os.Setenv(EmulatorHostEnv, prev)
			} else {
				os.Unsetenv(EmulatorHostEnv)
			}
		}()
	}
	return create()
}

// ForTenant returns a client whose every user and token operation targets
// the tenant tenantID. Session cookies are not available on a tenant client
// (the Admin SDK does not offer them).
func (c *Client) ForTenant(tenantID string) (*Client, error) {
	if tenantID == "" {
		cp := *c
		cp.base, cp.tenant = c.root, ""
		cp.cfg.TenantID = ""
		return &cp, nil
	}
	tc, err := c.root.TenantManager.AuthForTenant(tenantID)
	if err != nil {
		return nil, errs.New(errs.ErrInvalid, "auth: tenant client", tenantID, "%v", err)
	}
	cp := *c
	cp.base, cp.tenant = tc, tenantID
	cp.cfg.TenantID = tenantID
	return &cp, nil
}

// ProjectID returns the client's project.
func (c *Client) ProjectID() string { return c.cfg.ProjectID }

// TenantID returns the tenant the client is scoped to, or "".
func (c *Client) TenantID() string { return c.tenant }

// Emulator reports whether the client is in emulator mode.
func (c *Client) Emulator() bool { return c.cfg.Emulator() }

// Config returns the client's configuration.
func (c *Client) Config() Config { return c.cfg }

// SDK returns the Admin SDK's project-level client, for what this package
// does not wrap.
func (c *Client) SDK() *fbauth.Client { return c.root }

// SignInClient returns an end-user REST client (sign-in, refresh) for the
// same project, mode, API key and tenant as c.
func (c *Client) SignInClient() *SignInClient {
	return NewSignInClient(SignInConfig{
		APIKey:       c.cfg.APIKey,
		EmulatorHost: c.cfg.EmulatorHost,
		TenantID:     c.tenant,
		HTTPClient:   c.cfg.HTTPClient,
	})
}

// CheckTenant returns [ErrNotFound] when the client is scoped to a tenant
// that does not exist, and nil otherwise (also when the check itself could
// not be made, for lack of permission for example: the operation that
// follows then says what is wrong). User operations in a tenant that does
// not exist do not all fail: the Auth emulator creates the tenant on first
// use, so that listing its users gives an empty list.
//
// In production it gets the tenant. On the emulator, where getting a tenant
// creates it, it looks for the tenant in the project's list: a tenant
// exists there once it was created, or used by a user operation.
func (c *Client) CheckTenant(ctx context.Context) error {
	const op = "auth: tenant"
	if c.tenant == "" {
		return nil
	}
	notFound := func() error {
		return errs.New(errs.ErrNotFound, op, c.tenant, "no such tenant in project %s", c.cfg.ProjectID)
	}
	if !c.Emulator() {
		_, err := c.root.TenantManager.Tenant(ctx, c.tenant)
		if fbauth.IsTenantNotFound(err) {
			return notFound()
		}
		return nil
	}
	it := c.root.TenantManager.Tenants(ctx, "")
	for {
		t, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return notFound()
		}
		if err != nil {
			return nil
		}
		if t.ID == c.tenant {
			return nil
		}
	}
}

// Tenant is an Identity Platform tenant.
type Tenant = fbauth.Tenant

// TenantToCreate holds the settings of a new tenant.
type TenantToCreate = fbauth.TenantToCreate

// CreateTenant creates a tenant in the client's project.
func (c *Client) CreateTenant(ctx context.Context, t *TenantToCreate) (*Tenant, error) {
	res, err := c.root.TenantManager.CreateTenant(ctx, t)
	return res, wrapErr(err, "auth: create tenant", "")
}

// GetTenant returns the tenant tenantID.
func (c *Client) GetTenant(ctx context.Context, tenantID string) (*Tenant, error) {
	res, err := c.root.TenantManager.Tenant(ctx, tenantID)
	return res, wrapErr(err, "auth: get tenant", tenantID)
}

// DeleteTenant deletes the tenant tenantID and its users.
func (c *Client) DeleteTenant(ctx context.Context, tenantID string) error {
	return wrapErr(c.root.TenantManager.DeleteTenant(ctx, tenantID), "auth: delete tenant", tenantID)
}
