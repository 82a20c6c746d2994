package server

import (
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/fbadmin/fbadmin/internal/logconf"
	"github.com/fbadmin/fbadmin/internal/stream"
	"github.com/fbadmin/fbadmin/internal/yamlconf"
)

// DefaultAddr serves on the loopback interface only.
const DefaultAddr = "127.0.0.1:8088"

// Config is the server's configuration file. See docs/serve.md for a
// commented sample.
type Config struct {
	// Project is the Google Cloud project; empty means the --project flag,
	// then $GOOGLE_CLOUD_PROJECT.
	Project string `yaml:"project"`
	// Database is the Firestore database; empty means "(default)".
	Database string        `yaml:"database"`
	HTTP     HTTPConfig    `yaml:"http"`
	Limits   LimitsConfig  `yaml:"limits"`
	Watch    WatchConfig   `yaml:"watch"`
	GraphQL  GraphQLConfig `yaml:"graphql"`
	Auth     AuthConfig    `yaml:"auth"`
	Log      LogConfig     `yaml:"log"`
	// Rules say who may do what; whatever no rule allows is denied.
	Rules []Rule `yaml:"rules"`

	path string
}

// HTTPConfig is the listener and the browser settings.
type HTTPConfig struct {
	// Addr to listen on; default 127.0.0.1:8088.
	Addr string `yaml:"addr"`
	// CORS lets web apps on other origins call the server.
	CORS CORSConfig `yaml:"cors"`
	// ShutdownTimeout bounds the graceful shutdown; default 15s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
}

// CORSConfig configures Cross-Origin Resource Sharing. With no allowed
// origin, no CORS header is sent and browsers refuse cross-origin calls.
type CORSConfig struct {
	// AllowedOrigins lists origins such as "https://app.example.com"; "*"
	// allows any origin.
	AllowedOrigins []string `yaml:"allowed_origins"`
	// MaxAge is how long browsers may cache a preflight answer; default 10m.
	MaxAge time.Duration `yaml:"max_age"`
}

// LimitsConfig bounds what one user and one request may take.
type LimitsConfig struct {
	// Rate is the sustained requests per second allowed per user (REST and
	// GraphQL requests, WebSocket connections); default 50. Burst is the
	// bucket size; default 2*Rate.
	Rate  float64 `yaml:"rate"`
	Burst int     `yaml:"burst"`
	// MaxBody is the largest request body; default 1MiB (bigger is 413).
	MaxBody yamlconf.ByteSize `yaml:"max_body"`
	// MaxPageSize caps page_size and GraphQL's first; default 500. Pages
	// default to 50 documents.
	MaxPageSize int `yaml:"max_page_size"`
	// RequestTimeout bounds one REST or GraphQL request; default 30s.
	RequestTimeout time.Duration `yaml:"request_timeout"`
	// MaxDocuments caps the documents one GraphQL operation may read and
	// write (each page counts its size, each mutation one); default 1000.
	MaxDocuments int `yaml:"max_documents"`
}

// WatchConfig tunes change streams (/v1/watch and GraphQL subscriptions).
type WatchConfig struct {
	// SendQueue is how many messages may wait for one slow client before it
	// is dropped; default 256.
	SendQueue int `yaml:"send_queue"`
	// ResumeBuffer is how many recent events each query keeps for clients
	// that reconnect; default 10000.
	ResumeBuffer int `yaml:"resume_buffer"`
	// Linger keeps a query's stream open this long after its last
	// subscriber left, so a reconnecting client can resume; default 1m.
	Linger time.Duration `yaml:"linger"`
	// PingInterval is how often WebSocket clients are pinged; a client that
	// does not answer within the next interval is closed. Default 30s.
	PingInterval time.Duration `yaml:"ping_interval"`
	// Watchdog reopens a change stream that has delivered nothing for
	// this long (its first snapshot is diffed against what was sent, so
	// a stalled stream loses nothing); default 30m, negative: never.
	Watchdog time.Duration `yaml:"watchdog"`
	// Verify checks change streams' snapshots against the query: auto
	// (default), always, first or never, as engine.verify of fbadmin
	// listen (docs/listen.md, "Verified streams").
	Verify string `yaml:"verify"`
	// AuthTimeout is how long a WebSocket client may take to send its token
	// when the upgrade request had none; default 10s.
	AuthTimeout time.Duration `yaml:"auth_timeout"`
	// PreAuthMaxMessage is the largest message a WebSocket client may send
	// before it is authenticated (a bigger one closes it with 1009);
	// default 8KiB. After authentication, limits.max_body applies.
	PreAuthMaxMessage yamlconf.ByteSize `yaml:"preauth_max_message"`
	// MaxSocketsPerAddress caps the open WebSockets of one client IP
	// address, authenticated or not (429 on the upgrade); default 64, 0
	// means the default, a negative value no cap. Behind a proxy every
	// client has the proxy's address: raise it or turn it off there.
	MaxSocketsPerAddress int `yaml:"max_sockets_per_address"`
	// MaxSocketsPerUser caps the open WebSockets of one user (429 on the
	// upgrade, or close 4429 after the auth message); default 16.
	MaxSocketsPerUser int `yaml:"max_sockets_per_user"`
	// MaxSubscriptionsPerSocket caps the subscriptions running on one
	// GraphQL WebSocket; default 16.
	MaxSubscriptionsPerSocket int `yaml:"max_subscriptions_per_socket"`
	// MaxSubscriptionsPerUser caps the change streams one user has open,
	// over all sockets and both transports; default 32.
	MaxSubscriptionsPerUser int `yaml:"max_subscriptions_per_user"`
	// MaxLiveQueries caps the distinct queries the server listens to at
	// once, lingering ones included (those are dropped first to make
	// room); default 256.
	MaxLiveQueries int `yaml:"max_live_queries"`
	// MaxQueryDocuments caps the documents one live query may hold: a
	// query that matches more is refused; default 10000.
	MaxQueryDocuments int `yaml:"max_query_documents"`
	// MaxDocumentsPerUser caps the documents that the live queries of one
	// user's open subscriptions match, together (each subscription counts
	// its query's documents, shared or not); default 20000, negative: no
	// cap.
	MaxDocumentsPerUser int `yaml:"max_documents_per_user"`
	// MaxDocumentsHeld caps the documents that all live queries of the
	// server match, together, each distinct query counted once (about
	// 3 KB of memory per document); lingering queries are dropped first
	// to make room. Default 50000, negative: no cap.
	MaxDocumentsHeld int `yaml:"max_documents_held"`
}

// GraphQLConfig configures /graphql.
type GraphQLConfig struct {
	// Introspection is on, off or auto (default: on in emulator mode only).
	Introspection string `yaml:"introspection"`
	// ComplexityLimit caps a query's complexity; default 1000.
	ComplexityLimit int `yaml:"complexity_limit"`
}

// AuthConfig tunes token verification.
type AuthConfig struct {
	// CheckRevoked also rejects revoked sessions and disabled users, at the
	// cost of one user lookup per request.
	CheckRevoked bool `yaml:"check_revoked"`
	// CacheTTL is how long a verified token is reused before it is
	// verified again (never past its expiry): a revoked session is noticed
	// at most this late. Default 1m; a negative value turns the cache off.
	// With CheckRevoked it is at most RecheckInterval.
	CacheTTL time.Duration `yaml:"cache_ttl"`
	// RecheckInterval is, with CheckRevoked, how often each open WebSocket
	// verifies its token again (a revoked session or a disabled user is
	// closed with 4401), and the longest a verified token is cached for
	// REST. Default 30s; a negative value turns the re-check off.
	RecheckInterval time.Duration `yaml:"recheck_interval"`
}

// LogConfig selects the log format and level.
type LogConfig = logconf.Config

// LoadConfig reads, expands and validates a config file. Errors name the
// file, the line and the key.
func LoadConfig(path string) (*Config, error) {
	src, err := yamlconf.ReadFile(path, "see docs/serve.md for a sample config")
	if err != nil {
		return nil, err
	}
	return ParseConfig(path, src)
}

// ParseConfig is [LoadConfig] on bytes already read; name is used in
// messages.
func ParseConfig(name string, src []byte) (*Config, error) {
	cfg := &Config{path: name}
	if err := yamlconf.Decode(name, src, cfg, cfg.setDefaults, cfg.validate); err != nil {
		return nil, err
	}
	return cfg, nil
}

func (c *Config) setDefaults() {
	if c.Project == "" {
		c.Project = os.Getenv("GOOGLE_CLOUD_PROJECT")
	}
	if c.Database == "" {
		c.Database = "(default)"
	}
	if c.HTTP.Addr == "" {
		c.HTTP.Addr = DefaultAddr
	}
	if c.HTTP.ShutdownTimeout == 0 {
		c.HTTP.ShutdownTimeout = 15 * time.Second
	}
	if c.HTTP.CORS.MaxAge == 0 {
		c.HTTP.CORS.MaxAge = 10 * time.Minute
	}
	if c.Limits.Rate == 0 {
		c.Limits.Rate = 50
	}
	if c.Limits.Burst == 0 {
		c.Limits.Burst = int(2 * c.Limits.Rate)
		if c.Limits.Burst < 1 {
			c.Limits.Burst = 1
		}
	}
	if c.Limits.MaxBody == 0 {
		c.Limits.MaxBody = 1 << 20
	}
	if c.Limits.MaxPageSize == 0 {
		c.Limits.MaxPageSize = 500
	}
	if c.Limits.MaxDocuments == 0 {
		c.Limits.MaxDocuments = 1000
	}
	if c.Limits.RequestTimeout == 0 {
		c.Limits.RequestTimeout = 30 * time.Second
	}
	if c.Watch.SendQueue == 0 {
		c.Watch.SendQueue = 256
	}
	if c.Watch.ResumeBuffer == 0 {
		c.Watch.ResumeBuffer = 10000
	}
	if c.Watch.Linger == 0 {
		c.Watch.Linger = time.Minute
	}
	if c.Watch.PingInterval == 0 {
		c.Watch.PingInterval = 30 * time.Second
	}
	if c.Watch.AuthTimeout == 0 {
		c.Watch.AuthTimeout = 10 * time.Second
	}
	if c.Watch.PreAuthMaxMessage == 0 {
		c.Watch.PreAuthMaxMessage = 8 << 10
	}
	if c.Watch.MaxSocketsPerAddress == 0 {
		c.Watch.MaxSocketsPerAddress = 64
	}
	if c.Watch.MaxSocketsPerUser == 0 {
		c.Watch.MaxSocketsPerUser = 16
	}
	if c.Watch.MaxSubscriptionsPerSocket == 0 {
		c.Watch.MaxSubscriptionsPerSocket = 16
	}
	if c.Watch.MaxSubscriptionsPerUser == 0 {
		c.Watch.MaxSubscriptionsPerUser = 32
	}
	if c.Watch.MaxLiveQueries == 0 {
		c.Watch.MaxLiveQueries = 256
	}
	if c.Watch.MaxQueryDocuments == 0 {
		c.Watch.MaxQueryDocuments = 10000
	}
	if c.Watch.MaxDocumentsPerUser == 0 {
		c.Watch.MaxDocumentsPerUser = 20000
	}
	if c.Watch.MaxDocumentsHeld == 0 {
		c.Watch.MaxDocumentsHeld = 50000
	}
	if c.Auth.CacheTTL == 0 {
		c.Auth.CacheTTL = time.Minute
	}
	if c.Auth.RecheckInterval == 0 {
		c.Auth.RecheckInterval = 30 * time.Second
	}
	if c.GraphQL.Introspection == "" {
		c.GraphQL.Introspection = "auto"
	}
	if c.GraphQL.ComplexityLimit == 0 {
		c.GraphQL.ComplexityLimit = 1000
	}
	for i := range c.Rules {
		c.Rules[i].normalize()
	}
}

func (c *Config) validate(bad func(path, format string, args ...any)) {
	if _, _, err := net.SplitHostPort(c.HTTP.Addr); err != nil {
		bad("$.http.addr", "%q is not host:port (for example 127.0.0.1:8088)", c.HTTP.Addr)
	}
	for i, o := range c.HTTP.CORS.AllowedOrigins {
		if o != "*" && !strings.HasPrefix(o, "http://") && !strings.HasPrefix(o, "https://") {
			bad(fmt.Sprintf("$.http.cors.allowed_origins[%d]", i), "%q is not an origin (want https://host[:port] or *)", o)
		}
	}
	if c.Limits.Rate < 0 || c.Limits.Burst < 0 {
		bad("$.limits.rate", "rate and burst must not be negative")
	}
	if c.Limits.MaxPageSize < 1 {
		bad("$.limits.max_page_size", "must be at least 1")
	}
	if c.Limits.MaxDocuments < 0 {
		bad("$.limits.max_documents", "must not be negative")
	}
	if c.Watch.SendQueue < 1 || c.Watch.ResumeBuffer < 0 {
		bad("$.watch.send_queue", "send_queue must be at least 1 and resume_buffer not negative")
	}
	if !stream.Verify(c.Watch.Verify).Valid() {
		bad("$.watch.verify", "%q: use auto, always, first or never", c.Watch.Verify)
	}
	if !slices.Contains([]string{"auto", "on", "off"}, c.GraphQL.Introspection) {
		bad("$.graphql.introspection", "%q: want auto, on or off", c.GraphQL.Introspection)
	}
	if !slices.Contains(logconf.Formats, c.Log.Format) {
		bad("$.log.format", "%q: want text or json", c.Log.Format)
	}
	if !slices.Contains(logconf.Levels, c.Log.Level) {
		bad("$.log.level", "%q: want debug, info, warn or error", c.Log.Level)
	}
	if len(c.Rules) == 0 {
		bad("$.rules", "no rules: every request would be denied (add at least one rule; see docs/serve.md)")
	}
	for i, r := range c.Rules {
		for _, p := range r.problems() {
			bad(fmt.Sprintf("$.rules[%d].%s", i, p.key), "%s", p.msg)
		}
	}
}

// Path is the file the config was read from.
func (c *Config) Path() string { return c.path }

// Describe returns the effective rules and settings, for `serve --check`.
func (c *Config) Describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "config %s is valid: project %s, database %s, listening on %s\n", c.path, orDash(c.Project), c.Database, c.HTTP.Addr)
	fmt.Fprintf(&b, "limits: %g requests/s per user (burst %d), bodies up to %d bytes, pages up to %d documents\n",
		c.Limits.Rate, c.Limits.Burst, c.Limits.MaxBody, c.Limits.MaxPageSize)
	fmt.Fprintf(&b, "effective rules (a request is allowed by the first rule that matches its collection, allows its operation and whose claims the caller holds; anything else is denied):\n")
	tw := tabwriter.NewWriter(&b, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "  #\tMATCH\tOPERATIONS\tCLAIMS\tOWNER FIELD")
	for i, r := range c.Rules {
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%s\n", i+1, r.Match, strings.Join(r.ops, ","), r.claimsString(), orDash(r.Owner))
	}
	tw.Flush()
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
