// Package pgtest connects tests to the PostgreSQL cluster started by
// scripts/postgres.sh, in the spirit of net/http/httptest and
// internal/emutest: each call gives the test a database of its own and
// drops it when the test ends.
//
// # Server
//
// The server is found through FBADMIN_POSTGRES_DSN (what
// `scripts/postgres.sh env` exports; scripts/test.sh sets it), or
// [DefaultDSN] when it is unset. The DSN names a role allowed to create
// databases.
//
// # Isolation
//
// [New] creates a fresh database (t_ and random hex) and returns its DSN and
// a pool on it, so tests run in parallel without seeing each other's tables.
// [NewCluster] starts a separate cluster of the test's own, on a free port,
// for tests that stop and start the server: the shared one is never
// restarted.
//
// # Missing server
//
// When the server does not answer, the test is skipped on a developer's
// machine and fails under CI=true (see emutest.InCI): CI must never pass by
// skipping.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fbadmin/fbadmin/internal/emutest"
)

// EnvDSN names the variable holding the test server's DSN.
const EnvDSN = "FBADMIN_POSTGRES_DSN"

// DefaultDSN is scripts/postgres.sh's cluster on its default port.
const DefaultDSN = "postgres://fbadmin@127.0.0.1:54329/postgres?sslmode=disable"

var (
	serverOnce sync.Once
	serverDSN  string
	serverErr  error
)

// Unavailable fails the test under CI and skips it otherwise.
func Unavailable(tb testing.TB, where string, err error) {
	tb.Helper()
	msg := fmt.Sprintf("PostgreSQL not reachable at %s (%v); start it with scripts/postgres.sh start and eval \"$(scripts/postgres.sh env)\"", where, err)
	if emutest.InCI() {
		tb.Fatalf("CI=true: %s", msg)
	}
	tb.Skip(msg)
}

// ServerDSN returns the DSN of the test server, failing or skipping the test
// when it does not answer. The server is probed once per test binary.
func ServerDSN(tb testing.TB) string {
	tb.Helper()
	serverOnce.Do(func() {
		serverDSN = os.Getenv(EnvDSN)
		if serverDSN == "" {
			serverDSN = DefaultDSN
		}
		for attempt := range 3 {
			if attempt > 0 {
				time.Sleep(500 * time.Millisecond)
			}
			if serverErr = ping(serverDSN); serverErr == nil {
				return
			}
		}
	})
	if serverErr != nil {
		Unavailable(tb, Redact(serverDSN), serverErr)
	}
	return serverDSN
}

func ping(dsn string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	return c.Ping(ctx)
}

// Redact returns the DSN's host, port and database, without user or
// password, for messages.
func Redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.Host == "" {
		return "(DSN)"
	}
	return u.Host + u.Path
}

// DB is one test's database.
type DB struct {
	// Name of the database.
	Name string
	// DSN connects to it, with the server DSN's role and options.
	DSN string
	// Pool is a connection pool on it, closed when the test ends.
	Pool *pgxpool.Pool
}

// New creates a database for the test on the test server, and drops it
// (closing any connection left) when the test ends.
func New(tb testing.TB) *DB {
	tb.Helper()
	return newOn(tb, ServerDSN(tb))
}

func newOn(tb testing.TB, server string) *DB {
	tb.Helper()
	name := "t_" + randomHex(tb, 6)
	if err := admin(server, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("create test database: %v", err)
	}
	db := &DB{Name: name, DSN: withDatabase(tb, server, name)}
	pool, err := pgxpool.New(context.Background(), db.DSN)
	if err != nil {
		tb.Fatalf("connect to test database %s: %v", name, err)
	}
	db.Pool = pool
	tb.Cleanup(func() {
		pool.Close()
		if err := admin(server, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			tb.Logf("drop test database %s: %v", name, err)
		}
	})
	return db
}

// admin runs one statement on the server's maintenance database.
func admin(dsn, sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	_, err = c.Exec(ctx, sql)
	return err
}

func withDatabase(tb testing.TB, dsn, name string) string {
	tb.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		tb.Fatalf("%s: not a URL DSN", EnvDSN)
	}
	u.Path = "/" + name
	return u.String()
}

func randomHex(tb testing.TB, n int) string {
	tb.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		tb.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// Cluster is a PostgreSQL cluster of one test's own, started with
// scripts/postgres.sh on a free port in a temporary directory.
type Cluster struct {
	Port int
	// DSN of its maintenance database.
	DSN    string
	dir    string
	script string
}

// NewCluster starts a cluster for the test and removes it when the test
// ends. It needs the PostgreSQL binaries that scripts/postgres.sh needs;
// without them the test is skipped, or fails under CI=true.
func NewCluster(tb testing.TB) *Cluster {
	tb.Helper()
	script, err := findScript()
	if err != nil {
		tb.Fatal(err)
	}
	parent := tb.TempDir()
	// As root the cluster belongs to the postgres user, who must reach it
	// (the test's temporary directories are private).
	for _, d := range []string{parent, filepath.Dir(parent)} {
		if err := os.Chmod(d, 0o755); err != nil {
			tb.Fatal(err)
		}
	}
	c := &Cluster{Port: freePort(tb), dir: filepath.Join(parent, "cluster"), script: script}
	c.DSN = fmt.Sprintf("postgres://fbadmin@127.0.0.1:%d/postgres?sslmode=disable", c.Port)
	tb.Cleanup(func() {
		if out, err := c.run("stop"); err != nil {
			tb.Logf("stop test cluster: %v\n%s", err, out)
		}
	})
	if out, err := c.run("start"); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() == 2 {
			Unavailable(tb, "a test cluster", fmt.Errorf("%s", out))
		}
		tb.Fatalf("start test cluster: %v\n%s", err, out)
	}
	return c
}

// NewDB creates a database for the test on this cluster.
func (c *Cluster) NewDB(tb testing.TB) *DB {
	tb.Helper()
	return newOn(tb, c.DSN)
}

// Stop stops the server (pg_ctl stop -m fast) and keeps its data; Start
// starts it again.
func (c *Cluster) Stop(tb testing.TB) {
	tb.Helper()
	if out, err := c.pgctl("stop", "-m", "fast", "-w"); err != nil {
		tb.Fatalf("stop test cluster: %v\n%s", err, out)
	}
}

// Start starts the server again after Stop.
func (c *Cluster) Start(tb testing.TB) {
	tb.Helper()
	if out, err := c.pgctl("start", "-w", "-l", filepath.Join(c.dir, "postgres.log"),
		"-o", fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c max_connections=300", c.Port, c.dir)); err != nil {
		tb.Fatalf("start test cluster: %v\n%s", err, out)
	}
}

func (c *Cluster) env() []string {
	return append(os.Environ(), "FBADMIN_POSTGRES_PORT="+strconv.Itoa(c.Port), "FBADMIN_POSTGRES_DIR="+c.dir)
}

func (c *Cluster) run(cmd string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	x := exec.CommandContext(ctx, c.script, cmd)
	x.Env = c.env()
	return x.CombinedOutput()
}

func (c *Cluster) pgctl(args ...string) ([]byte, error) {
	bin := os.Getenv("FBADMIN_POSTGRES_BIN")
	if bin == "" {
		bin = "/usr/lib/postgresql/15/bin"
	}
	argv := append([]string{filepath.Join(bin, "pg_ctl"), "-D", filepath.Join(c.dir, "data")}, args...)
	if os.Geteuid() == 0 {
		argv = append([]string{"runuser", "-u", "postgres", "--"}, argv...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	x := exec.CommandContext(ctx, argv[0], argv[1:]...)
	// pg_ctl start leaves the server running with pg_ctl's stdout unless
	// it is redirected: -l sends the server's output to the log, and the
	// output here is only pg_ctl's own.
	return x.CombinedOutput()
}

// findScript returns scripts/postgres.sh of the module the test runs in.
func findScript() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "scripts", "postgres.sh"), nil
		}
		up := filepath.Dir(dir)
		if up == dir {
			return "", errors.New("pgtest: no go.mod above the test's directory, so no scripts/postgres.sh")
		}
		dir = up
	}
}

func freePort(tb testing.TB) int {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
