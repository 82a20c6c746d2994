package mcp

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net/http"
	"time"

	"cloud.google.com/go/firestore"
	mcpauth "github.com/modelcontextprotocol/go-sdk/auth"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/fbadmin/fbadmin/auth"
	"github.com/fbadmin/fbadmin/internal/errs"
	"github.com/fbadmin/fbadmin/internal/transfer"
	"github.com/fbadmin/fbadmin/server"
)

// Defaults of the per-call caps.
const (
	DefaultMaxDocs  = 500
	DefaultMaxBytes = 4 << 20
)

// Options configure a [Server].
type Options struct {
	// Firestore is the SDK client of the database; DB the bulk engine's
	// connection to the same database (collections, recursive deletes).
	// Both are required.
	Firestore *firestore.Client
	DB        *transfer.DB
	// Auth is the Auth client; nil leaves the Auth tools out.
	Auth *auth.Client

	// AllowWrites turns the write tools on; AllowDestructive the deletes
	// (documents, trees, users), which also need a confirmation token.
	// AllowCustomTokens turns on minting custom tokens.
	AllowWrites, AllowDestructive, AllowCustomTokens bool

	// MaxDocs and MaxBytes cap what one call reads or writes (0 for the
	// defaults).
	MaxDocs  int
	MaxBytes int64

	// Allow, when not empty, lists the collection patterns the tools may
	// touch; Deny those they may not (Deny wins). Patterns are those of
	// serve's rules: "users", "users/*/posts", "users/**", "**/comments".
	Allow, Deny []string

	// Rules, when set, are serve's access rules, applied to the caller of
	// every Firestore tool (HTTP mode: the caller comes from the verified
	// ID token). Auth tools are then refused unless AuthClaim names a
	// custom claim the caller's token holds as true.
	Rules     *server.Rules
	AuthClaim string

	// Logger receives one line per call (no values, no tokens).
	Logger *slog.Logger
	// Version is reported to clients.
	Version string
}

// Server is the MCP server of fbadmin.
type Server struct {
	o      Options
	sdk    *sdk.Server
	log    *slog.Logger
	filter *collFilter
	secret []byte // signs confirmation tokens; new at each start
	tools  int
}

// New builds the server and registers its tools, resources and prompts.
func New(o Options) (*Server, error) {
	if o.Firestore == nil || o.DB == nil {
		return nil, errs.New(errs.ErrInvalid, "mcp", "", "a Firestore client and a database connection are required")
	}
	if o.MaxDocs <= 0 {
		o.MaxDocs = DefaultMaxDocs
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Version == "" {
		o.Version = "dev"
	}
	f, err := newCollFilter(o.Allow, o.Deny)
	if err != nil {
		return nil, err
	}
	s := &Server{o: o, log: o.Logger, filter: f, secret: make([]byte, 32)}
	rand.Read(s.secret)
	s.sdk = sdk.NewServer(&sdk.Implementation{Name: "fbadmin", Title: "fbadmin: Firestore and Firebase Auth", Version: o.Version},
		&sdk.ServerOptions{Instructions: instructions, Capabilities: &sdk.ServerCapabilities{}})
	s.addFirestoreReadTools()
	s.addFirestoreWriteTools()
	s.addTransferTools()
	if o.Auth != nil {
		s.addAuthTools()
	}
	s.addResources()
	s.addPrompts()
	return s, nil
}

// ToolCount is how many tools the server offers.
func (s *Server) ToolCount() int { return s.tools }

// Verifier verifies Firebase ID tokens (an *auth.Client).
type Verifier = auth.Verifier

// HTTPHandler serves the Streamable HTTP transport. With a verifier, every
// request needs "Authorization: Bearer <Firebase ID token>" and the
// caller is what [Options.Rules] decide on; checkRevoked also refuses
// revoked sessions.
func (s *Server) HTTPHandler(v Verifier, checkRevoked bool) http.Handler {
	h := http.Handler(sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return s.sdk }, &sdk.StreamableHTTPOptions{
		SessionTimeout: 30 * time.Minute,
		Logger:         nil,
	}))
	if v == nil {
		return h
	}
	verify := func(ctx context.Context, token string, _ *http.Request) (*mcpauth.TokenInfo, error) {
		tok, err := v.VerifyIDToken(ctx, token, auth.VerifyOptions{CheckRevoked: checkRevoked})
		if err != nil {
			s.log.Info("refused", "transport", "http", "reason", errs.KindOf(err).Error())
			return nil, mcpauth.ErrInvalidToken
		}
		c := &server.Caller{UID: tok.UID, Claims: tok.Claims}
		exp := time.Now().Add(time.Hour)
		if tok.Expires > 0 {
			exp = time.Unix(tok.Expires, 0)
			c.Expires = exp
		}
		return &mcpauth.TokenInfo{UserID: tok.UID, Expiration: exp, Extra: map[string]any{callerKey: c}}, nil
	}
	return mcpauth.RequireBearerToken(verify, nil)(h)
}

const callerKey = "fbadmin.caller"

// callerOf returns the authenticated caller of a request (nil over stdio).
func callerOf(extra *sdk.RequestExtra) *server.Caller {
	if extra == nil || extra.TokenInfo == nil {
		return nil
	}
	c, _ := extra.TokenInfo.Extra[callerKey].(*server.Caller)
	return c
}

const instructions = `fbadmin gives Firestore and Firebase Auth to agents, losslessly.

Document data, filter values and cursor values are JSON in fbadmin's value format:
plain JSON for strings, booleans, null, arrays and maps; typed forms for the rest:
{"$int":"9007199254740993"} (int64, a decimal string; a bare JSON integer is accepted too),
{"$double":1.5} (also "NaN", "Infinity", "-Infinity", "-0"), {"$bytes":"AAE="} (base64),
{"$timestamp":"2024-01-02T03:04:05.123456Z"}, {"$geopoint":{"latitude":48.8,"longitude":2.3}},
{"$ref":"projects/P/databases/(default)/documents/users/alice"}, {"$vector":[1,2]}.
A map whose only key starts with "$" is written {"$map":{...}}. Values read come back in the same
format, so what you read is exactly what is stored and can be written back unchanged.

Paths are relative to the database: "users" is a collection, "users/alice" a document.`
