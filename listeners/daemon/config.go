package daemon

import (
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/fbadmin/fbadmin/internal/logconf"
	"github.com/fbadmin/fbadmin/internal/value"
	"github.com/fbadmin/fbadmin/internal/yamlconf"
	"github.com/fbadmin/fbadmin/listeners"
	"github.com/fbadmin/fbadmin/listeners/filesink"
	"github.com/fbadmin/fbadmin/listeners/postgressink"
)

// DefaultHTTPAddr serves health and metrics on the loopback interface only.
const DefaultHTTPAddr = "127.0.0.1:9464"

// Config is the daemon's configuration file. See docs/listen.md for a
// commented sample.
type Config struct {
	// Project is the default Google Cloud project of the listeners; empty
	// means $GOOGLE_CLOUD_PROJECT.
	Project string `yaml:"project"`
	// Database is the default Firestore database; empty means "(default)".
	Database string `yaml:"database"`
	// StateDir holds the checkpoints and the webhook spools. Required.
	StateDir string       `yaml:"state_dir"`
	Log      LogConfig    `yaml:"log"`
	HTTP     HTTPConfig   `yaml:"http"`
	Engine   EngineConfig `yaml:"engine"`
	Sinks    []SinkConfig `yaml:"sinks"`
	// Listeners each name the sinks they deliver to.
	Listeners []ListenerConfig `yaml:"listeners"`
	// HA, when present, runs the daemon as one of several replicas that
	// share the listeners through leases (see docs/listen.md, "Running N
	// replicas").
	HA *HAConfig `yaml:"ha"`

	path string
}

// HAConfig makes the daemon one of several replicas: each listener runs in
// the replica that holds its lease, a Firestore document, and its
// checkpoints and journals live in Firestore documents that move with the
// lease.
type HAConfig struct {
	// ReplicaID names this replica in the leases; it must be unique among
	// live replicas. Default: $POD_NAME, else HOSTNAME-PID.
	ReplicaID string `yaml:"replica_id"`
	// Project and Database hold the leases and the shared checkpoints;
	// default the top-level ones.
	Project  string `yaml:"project"`
	Database string `yaml:"database"`
	// LeaseCollection holds one lease document per listener; replicas
	// announce themselves in LeaseCollection_replicas. Default
	// _fbadmin_leases.
	LeaseCollection string `yaml:"lease_collection"`
	// Checkpoints is the collection of the shared checkpoints and journals
	// (firestore:COLLECTION or a bare collection ID); default
	// firestore:_fbadmin_listen_state.
	Checkpoints string `yaml:"checkpoints"`
	// TTL is how long a lease lasts without renewal; renewed every TTL/3.
	// Default 15s, at least 3s.
	TTL time.Duration `yaml:"ttl"`
}

// LogConfig selects the log format and level.
type LogConfig = logconf.Config

// HTTPConfig is the health and metrics server.
type HTTPConfig struct {
	// Addr to listen on; default 127.0.0.1:9464; "off" disables the server.
	Addr string `yaml:"addr"`
}

// EngineConfig tunes the engine; zero values take the defaults of
// [listeners.Options].
type EngineConfig struct {
	StreamsPerClient   int           `yaml:"streams_per_client"`
	Watchdog           time.Duration `yaml:"watchdog"`
	BackoffInitial     time.Duration `yaml:"backoff_initial"`
	BackoffMax         time.Duration `yaml:"backoff_max"`
	QueueSize          int           `yaml:"queue_size"`
	BatchSize          int           `yaml:"batch_size"`
	CheckpointInterval time.Duration `yaml:"checkpoint_interval"`
	DrainTimeout       time.Duration `yaml:"drain_timeout"`
	// Verify is auto, always, first or never (see [listeners.Verify]).
	Verify string `yaml:"verify"`
}

// SinkConfig is one sink: a name and exactly one of the kind blocks.
type SinkConfig struct {
	Name     string          `yaml:"name"`
	Stdout   *StdoutConfig   `yaml:"stdout"`
	File     *FileConfig     `yaml:"file"`
	Webhook  *WebhookConfig  `yaml:"webhook"`
	PubSub   *PubSubConfig   `yaml:"pubsub"`
	Postgres *PostgresConfig `yaml:"postgres"`
}

// Kind returns the sink's kind: stdout, file, webhook, pubsub or postgres ("" if
// none or several blocks are set).
func (s SinkConfig) Kind() string {
	var kinds []string
	if s.Stdout != nil {
		kinds = append(kinds, "stdout")
	}
	if s.File != nil {
		kinds = append(kinds, "file")
	}
	if s.Webhook != nil {
		kinds = append(kinds, "webhook")
	}
	if s.PubSub != nil {
		kinds = append(kinds, "pubsub")
	}
	if s.Postgres != nil {
		kinds = append(kinds, "postgres")
	}
	if len(kinds) != 1 {
		return ""
	}
	return kinds[0]
}

// StdoutConfig has no settings; write `stdout: {}`.
type StdoutConfig struct{}

// FileConfig configures a file sink (listeners/filesink).
type FileConfig struct {
	Path          string        `yaml:"path"`
	MaxSize       ByteSize      `yaml:"max_size"`
	MaxFiles      int           `yaml:"max_files"`
	Fsync         string        `yaml:"fsync"`
	FsyncInterval time.Duration `yaml:"fsync_interval"`
}

// WebhookConfig configures a webhook sink (listeners/webhook).
type WebhookConfig struct {
	URL     string            `yaml:"url"`
	Secret  string            `yaml:"secret"`
	Headers map[string]string `yaml:"headers"`
	Timeout time.Duration     `yaml:"timeout"`
	Retries int               `yaml:"retries"`
	// SpoolDir defaults to STATE_DIR/spool/NAME.
	SpoolDir string   `yaml:"spool_dir"`
	MaxSpool ByteSize `yaml:"max_spool"`
}

// PubSubConfig configures a Pub/Sub sink (listeners/pubsubsink).
type PubSubConfig struct {
	// Project of the topic; default the config's project.
	Project string `yaml:"project"`
	Topic   string `yaml:"topic"`
}

// DefaultPostgresDSNEnv is the variable holding a postgres sink's DSN when
// dsn_env is not set.
const DefaultPostgresDSNEnv = "FBADMIN_POSTGRES_DSN"

// PostgresConfig configures a PostgreSQL sink (listeners/postgressink).
type PostgresConfig struct {
	// DSNEnv names the environment variable holding the DSN (a secret, so
	// never in the file); default FBADMIN_POSTGRES_DSN.
	DSNEnv string `yaml:"dsn_env"`
	// Schema of the tables; default public.
	Schema string `yaml:"schema"`
	// Table receives every listener of the sink; default: one table per
	// listener, named after it.
	Table string `yaml:"table"`
	// Deletes is row (default) or mark.
	Deletes string `yaml:"deletes"`
	// Columns are typed copies of document fields.
	Columns []PostgresColumn `yaml:"columns"`
}

// PostgresColumn maps a document field to a typed column.
type PostgresColumn struct {
	Field  string `yaml:"field"`
	Column string `yaml:"column"`
	Type   string `yaml:"type"`
}

func (p *PostgresConfig) dsnEnv() string {
	if p.DSNEnv == "" {
		return DefaultPostgresDSNEnv
	}
	return p.DSNEnv
}

func (p *PostgresConfig) columns() []postgressink.Column {
	var out []postgressink.Column
	for _, c := range p.Columns {
		out = append(out, postgressink.Column{Field: c.Field, Name: c.Column, Type: c.Type})
	}
	return out
}

// ListenerConfig is one listener: exactly one of Collection and
// CollectionGroup, optional filters, and the sinks it feeds.
type ListenerConfig struct {
	Name     string `yaml:"name"`
	Project  string `yaml:"project"`
	Database string `yaml:"database"`
	// Collection is a collection path: "orders" or "users/alice/orders".
	Collection string `yaml:"collection"`
	// CollectionGroup is a collection ID matched at any depth.
	CollectionGroup string         `yaml:"collection_group"`
	Where           []FilterConfig `yaml:"where"`
	// Initial is snapshot (default) or changes-only.
	Initial string   `yaml:"initial"`
	Sinks   []string `yaml:"sinks"`
}

// FilterConfig is one where clause; the clauses are ANDed.
type FilterConfig struct {
	// Field is a dotted field path.
	Field string `yaml:"field"`
	// Op is one of ==, !=, <, <=, >, >=, array-contains,
	// array-contains-any, in, not-in.
	Op string `yaml:"op"`
	// Value is plain YAML, or a typed form of the value format such as
	// {$timestamp: "2026-01-01T00:00:00Z"}.
	Value any `yaml:"value"`
}

var filterOps = []string{"==", "!=", "<", "<=", ">", ">=", "array-contains", "array-contains-any", "in", "not-in"}

// ByteSize is a size in bytes, written as a number or with a unit: 512KiB,
// 100MB, 1GiB.
type ByteSize = yamlconf.ByteSize

// LoadConfig reads, expands and validates a config file. Errors name the
// file, the line and the key.
func LoadConfig(path string) (*Config, error) {
	src, err := yamlconf.ReadFile(path, "see docs/listen.md for a sample config")
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

// Check validates the config file at path without connecting to anything
// or creating any file, and returns a one-line summary.
func Check(path string) (string, error) {
	cfg, err := LoadConfig(path)
	if err != nil {
		return "", err
	}
	return cfg.Summary(), nil
}

// Summary describes the config in one line, without secrets.
func (c *Config) Summary() string {
	kinds := map[string]int{}
	for _, s := range c.Sinks {
		kinds[s.Kind()]++
	}
	var ks []string
	for k, n := range kinds {
		ks = append(ks, fmt.Sprintf("%d %s", n, k))
	}
	slices.Sort(ks)
	ha := ""
	if h := c.HA; h != nil {
		ha = fmt.Sprintf("; replica %s, leases in %s (ttl %v), checkpoints in %s", h.ReplicaID, h.LeaseCollection, h.TTL, h.Checkpoints)
	}
	return fmt.Sprintf("config %s is valid: %d listener(s), %d sink(s) (%s), project %s, state in %s%s",
		c.path, len(c.Listeners), len(c.Sinks), strings.Join(ks, ", "), c.Project, c.StateDir, ha)
}

func (c *Config) setDefaults() {
	if c.Project == "" {
		c.Project = os.Getenv("GOOGLE_CLOUD_PROJECT")
	}
	if c.Database == "" {
		c.Database = firestore.DefaultDatabaseID
	}
	if c.HTTP.Addr == "" {
		c.HTTP.Addr = DefaultHTTPAddr
	}
	if c.Log.Format == "" {
		c.Log.Format = "text"
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if h := c.HA; h != nil {
		if h.ReplicaID == "" {
			h.ReplicaID = defaultReplicaID()
		}
		if h.Project == "" {
			h.Project = c.Project
		}
		if h.Database == "" {
			h.Database = c.Database
		}
		if h.LeaseCollection == "" {
			h.LeaseCollection = "_fbadmin_leases"
		}
		if h.Checkpoints == "" {
			h.Checkpoints = "firestore:_fbadmin_listen_state"
		}
		if h.TTL == 0 {
			h.TTL = 15 * time.Second
		}
	}
	for i := range c.Listeners {
		if c.Listeners[i].Initial == "" {
			c.Listeners[i].Initial = string(listeners.InitialSnapshot)
		}
	}
}

func (c *Config) validate(bad func(path, format string, args ...any)) {
	if c.StateDir == "" {
		bad("$.state_dir", "required: the directory for checkpoints and spools, such as /var/lib/fbadmin/listen")
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		bad("$.log.format", "%q: use text or json", c.Log.Format)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("$.log.level", "%q: use debug, info, warn or error", c.Log.Level)
	}
	if c.HTTP.Addr != "off" {
		if _, _, err := net.SplitHostPort(c.HTTP.Addr); err != nil {
			bad("$.http.addr", "%q: want host:port such as 127.0.0.1:9464, or off", c.HTTP.Addr)
		}
	}
	e := c.Engine
	for _, f := range []struct {
		name string
		v    int64
	}{{"streams_per_client", int64(e.StreamsPerClient)}, {"queue_size", int64(e.QueueSize)}, {"batch_size", int64(e.BatchSize)},
		{"backoff_initial", int64(e.BackoffInitial)}, {"backoff_max", int64(e.BackoffMax)},
		{"checkpoint_interval", int64(e.CheckpointInterval)}, {"drain_timeout", int64(e.DrainTimeout)}} {
		if f.v < 0 {
			bad("$.engine."+f.name, "must not be negative")
		}
	}
	switch listeners.Verify(e.Verify) {
	case "", listeners.VerifyAuto, listeners.VerifyAlways, listeners.VerifyFirst, listeners.VerifyNever:
	default:
		bad("$.engine.verify", "%q: use auto, always, first or never", e.Verify)
	}
	if e.StreamsPerClient > 100 {
		bad("$.engine.streams_per_client", "%d: one connection carries at most 100 streams", e.StreamsPerClient)
	}

	if h := c.HA; h != nil {
		if h.Project == "" {
			bad("$.ha.project", "no project for the leases: set it here or at the top level (or GOOGLE_CLOUD_PROJECT)")
		}
		if strings.ContainsAny(h.ReplicaID, "/") || len(h.ReplicaID) > 256 {
			bad("$.ha.replica_id", "%q: at most 256 characters, without '/'", h.ReplicaID)
		}
		if !validCollectionID(h.LeaseCollection) {
			bad("$.ha.lease_collection", "%q: want a collection ID (no '/')", h.LeaseCollection)
		}
		switch col, ok := strings.CutPrefix(h.Checkpoints, "firestore:"); {
		case strings.HasPrefix(h.Checkpoints, "gs://"):
			bad("$.ha.checkpoints", "%q: gs:// checkpoints are not supported yet; use firestore:COLLECTION", h.Checkpoints)
		case !validCollectionID(col) || (!ok && strings.Contains(h.Checkpoints, ":")):
			bad("$.ha.checkpoints", "%q: want firestore:COLLECTION", h.Checkpoints)
		}
		if h.TTL < 3*time.Second {
			bad("$.ha.ttl", "%v: at least 3s (renewed every ttl/3)", h.TTL)
		}
	}

	sinkNames := map[string]bool{}
	if len(c.Sinks) == 0 {
		bad("$.sinks", "no sinks: define at least one (stdout, file, webhook, pubsub or postgres)")
	}
	for i, s := range c.Sinks {
		p := fmt.Sprintf("$.sinks[%d]", i)
		switch {
		case !listeners.ValidName(s.Name):
			bad(p+".name", "%q: a sink needs a name of letters, digits, '.', '_' and '-'", s.Name)
		case sinkNames[s.Name]:
			bad(p+".name", "sink %q defined twice", s.Name)
		}
		sinkNames[s.Name] = true
		switch s.Kind() {
		case "":
			bad(p, "sink %q: set exactly one of stdout, file, webhook, pubsub, postgres", s.Name)
		case "file":
			f := s.File
			if f.Path == "" {
				bad(p+".file.path", "required")
			}
			switch f.Fsync {
			case "", filesink.FsyncAlways, filesink.FsyncInterval, filesink.FsyncNever:
			default:
				bad(p+".file.fsync", "%q: use always, interval or never", f.Fsync)
			}
			if f.MaxFiles < 0 || f.FsyncInterval < 0 {
				bad(p+".file", "max_files and fsync_interval must not be negative")
			}
		case "webhook":
			w := s.Webhook
			u, err := url.Parse(w.URL)
			if w.URL == "" {
				bad(p+".webhook.url", "required")
			} else if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				bad(p+".webhook.url", "want an http:// or https:// URL")
			}
			if w.Secret == "" {
				bad(p+".webhook.secret", "required: the HMAC key the endpoint verifies (put it in an environment variable: secret: ${FBADMIN_WEBHOOK_SECRET})")
			}
			if w.Timeout < 0 || w.MaxSpool < 0 {
				bad(p+".webhook", "timeout and max_spool must not be negative")
			}
		case "pubsub":
			if s.PubSub.Topic == "" {
				bad(p+".pubsub.topic", "required")
			}
			if s.PubSub.Project == "" && c.Project == "" {
				bad(p+".pubsub.project", "no project: set it here or at the top level (or GOOGLE_CLOUD_PROJECT)")
			}
		case "postgres":
			pg := s.Postgres
			if os.Getenv(pg.dsnEnv()) == "" {
				bad(p+".postgres.dsn_env", "environment variable %s is not set: it holds the DSN (postgres://USER@HOST:PORT/DATABASE?sslmode=...)", pg.dsnEnv())
			}
			switch pg.Deletes {
			case "", postgressink.DeleteRow, postgressink.DeleteMark:
			default:
				bad(p+".postgres.deletes", "%q: use row or mark", pg.Deletes)
			}
			if pg.Schema != "" {
				if err := postgressink.CheckName("schema", pg.Schema, 63); err != nil {
					bad(p+".postgres.schema", "%v", err)
				}
			}
			if pg.Table != "" {
				if err := postgressink.CheckName("table", pg.Table, postgressink.MaxTableName); err != nil {
					bad(p+".postgres.table", "%v", err)
				}
			}
			if err := postgressink.CheckColumns(pg.columns()); err != nil {
				bad(p+".postgres.columns", "%v", err)
			}
		}
	}

	names := map[string]bool{}
	if len(c.Listeners) == 0 {
		bad("$.listeners", "no listeners: define at least one")
	}
	for i, l := range c.Listeners {
		p := fmt.Sprintf("$.listeners[%d]", i)
		switch {
		case !listeners.ValidName(l.Name):
			bad(p+".name", "%q: a listener needs a name of letters, digits, '.', '_' and '-'", l.Name)
		case names[l.Name]:
			bad(p+".name", "listener %q defined twice", l.Name)
		}
		names[l.Name] = true
		if l.Project == "" && c.Project == "" {
			bad(p, "listener %q: no project: set project here or at the top level (or GOOGLE_CLOUD_PROJECT)", l.Name)
		}
		switch {
		case (l.Collection == "") == (l.CollectionGroup == ""):
			bad(p, "listener %q: set exactly one of collection and collection_group", l.Name)
		case l.Collection != "":
			if segs := strings.Split(l.Collection, "/"); len(segs)%2 == 0 || slices.Contains(segs, "") {
				bad(p+".collection", "%q is not a collection path (want \"orders\" or \"users/alice/orders\")", l.Collection)
			}
		case strings.Contains(l.CollectionGroup, "/"):
			bad(p+".collection_group", "%q: a collection group is a collection ID, without '/'", l.CollectionGroup)
		}
		switch listeners.Initial(l.Initial) {
		case listeners.InitialSnapshot, listeners.InitialChangesOnly:
		default:
			bad(p+".initial", "%q: use snapshot or changes-only", l.Initial)
		}
		if len(l.Sinks) == 0 {
			bad(p+".sinks", "listener %q: name at least one sink", l.Name)
		}
		seen := map[string]bool{}
		for j, s := range l.Sinks {
			switch {
			case !sinkNames[s]:
				bad(fmt.Sprintf("%s.sinks[%d]", p, j), "unknown sink %q (defined: %s)", s, strings.Join(sortedKeys(sinkNames), ", "))
			case seen[s]:
				bad(fmt.Sprintf("%s.sinks[%d]", p, j), "sink %q listed twice", s)
			}
			seen[s] = true
			if sc := c.sinkConfig(s); sc != nil && sc.Postgres != nil && sc.Postgres.Table == "" {
				if err := postgressink.CheckName("table", postgressink.TableName(l.Name), postgressink.MaxTableName); err != nil {
					bad(fmt.Sprintf("%s.sinks[%d]", p, j), "%v: the postgres sink %q names its table after the listener; set table: in the sink", err, s)
				}
			}
		}
		for j, w := range l.Where {
			wp := fmt.Sprintf("%s.where[%d]", p, j)
			if w.Field == "" {
				bad(wp+".field", "required")
			}
			if !slices.Contains(filterOps, w.Op) {
				bad(wp+".op", "%q: use one of %s", w.Op, strings.Join(filterOps, " "))
			}
			if _, err := filterValue(w.Value); err != nil {
				bad(wp+".value", "%v", err)
			}
		}
	}
}

func (c *Config) sinkConfig(name string) *SinkConfig {
	for i := range c.Sinks {
		if c.Sinks[i].Name == name {
			return &c.Sinks[i]
		}
	}
	return nil
}

func validCollectionID(s string) bool {
	return s != "" && !strings.Contains(s, "/") && !(strings.HasPrefix(s, "__") && strings.HasSuffix(s, "__"))
}

// defaultReplicaID is $POD_NAME, else HOSTNAME-PID: unique among the
// processes of one machine and across machines.
func defaultReplicaID() string {
	if p := os.Getenv("POD_NAME"); p != "" {
		return p
	}
	h, err := os.Hostname()
	if err != nil || h == "" {
		h = "replica"
	}
	return fmt.Sprintf("%s-%d", strings.ReplaceAll(h, "/", "_"), os.Getpid())
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// filterValue turns a YAML value into a Firestore value through the value
// format, so typed forms ({$timestamp: ...}) work in filters.
func filterValue(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("value %v: %v", v, err)
	}
	out, err := value.Decode(b)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// query returns the listener's query builder.
func (l ListenerConfig) query() func(c *firestore.Client) firestore.Query {
	return func(c *firestore.Client) firestore.Query {
		var q firestore.Query
		if l.Collection != "" {
			q = c.Collection(l.Collection).Query
		} else {
			q = c.CollectionGroup(l.CollectionGroup).Query
		}
		for _, w := range l.Where {
			v, _ := filterValue(w.Value) // validated
			q = q.Where(w.Field, w.Op, v)
		}
		return q
	}
}
