// Package emutest connects tests to the local emulator suite started by
// scripts/emulators.sh, in the spirit of net/http/httptest: each call gives
// the test an isolated project, clears it, and registers cleanup.
//
// # Hosts
//
// The emulators are found through the usual variables (FIRESTORE_EMULATOR_HOST,
// FIREBASE_AUTH_EMULATOR_HOST, PUBSUB_EMULATOR_HOST); when one is unset the
// default port of emulator/firebase.json is tried (127.0.0.1:8080, :9099,
// :8085).
//
// # Isolation
//
// [NewFirestore], [NewAuthProject] and [NewPubSubProject] give each test a
// project of its own and clear it when the test ends. The Auth emulator's
// client endpoints (sign-in, token refresh) only serve the project the
// emulator was started with, so token tests share it through [NewAuth] and
// keep apart with [UniqueID] and [UniqueEmail].
//
// # Missing emulators
//
// When an emulator does not answer, the test is skipped on a developer's
// machine, and fails under CI=true: CI must never pass by skipping.
package emutest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/firestore"
)

// Default hosts, matching emulator/firebase.json.
const (
	DefaultFirestoreHost = "127.0.0.1:8080"
	DefaultAuthHost      = "127.0.0.1:9099"
	DefaultPubSubHost    = "127.0.0.1:8085"
)

// InCI reports whether the tests run under CI=true, where a missing emulator
// is a failure, never a skip.
func InCI() bool {
	v := strings.ToLower(os.Getenv("CI"))
	return v == "true" || v == "1"
}

// Unavailable fails the test under CI and skips it otherwise.
func Unavailable(tb testing.TB, what, host, hint string) {
	tb.Helper()
	msg := fmt.Sprintf("%s emulator not reachable at %s (%s); start it with scripts/emulators.sh start", what, host, hint)
	if InCI() {
		tb.Fatalf("CI=true: %s", msg)
	}
	tb.Skip(msg)
}

var (
	hostMu    sync.Mutex
	hostCache = map[string]hostState{}
)

type hostState struct {
	host string
	err  error
}

// resolve returns the emulator host from envVar or def, checking once per
// process that it answers with probe, and exporting envVar so that SDK
// clients created later find it.
func resolve(envVar, def string, probe func(host string) error) (string, error) {
	hostMu.Lock()
	defer hostMu.Unlock()
	if st, ok := hostCache[envVar]; ok {
		return st.host, st.err
	}
	host := os.Getenv(envVar)
	if host == "" {
		host = def
	}
	// A busy emulator (two cores shared by several test binaries) can be slow
	// to answer: try a few times before declaring it unreachable, since the
	// verdict holds for the whole test binary.
	var err error
	for attempt := 0; attempt < probeAttempts; attempt++ {
		if attempt > 0 {
			time.Sleep(500 * time.Millisecond)
		}
		if err = probe(host); err == nil {
			break
		}
	}
	if err == nil && os.Getenv(envVar) == "" {
		os.Setenv(envVar, host)
	}
	hostCache[envVar] = hostState{host, err}
	return host, err
}

// probeAttempts and probeTimeout bound how long resolve waits for an
// emulator: a refused connection fails at once, a hung one after
// probeAttempts*probeTimeout.
const (
	probeAttempts = 3
	probeTimeout  = 10 * time.Second
)

func httpProbe(host, path, want string) error {
	c := &http.Client{Timeout: probeTimeout}
	resp, err := c.Get("http://" + host + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	buf := make([]byte, 512)
	n, _ := resp.Body.Read(buf)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(buf[:n]), want) {
		return fmt.Errorf("unexpected answer %d %q", resp.StatusCode, buf[:n])
	}
	return nil
}

// ProjectID returns a fresh project ID, unique to this call, that starts
// with "demo-" (the emulators' convention for offline projects).
func ProjectID(tb testing.TB) string {
	tb.Helper()
	var b [5]byte
	if _, err := rand.Read(b[:]); err != nil {
		tb.Fatal(err)
	}
	return "demo-t" + hex.EncodeToString(b[:])
}

// FirestoreHost returns the Firestore emulator's host, failing or skipping
// the test when it does not answer.
func FirestoreHost(tb testing.TB) string {
	tb.Helper()
	host, err := resolve("FIRESTORE_EMULATOR_HOST", DefaultFirestoreHost, func(h string) error {
		return httpProbe(h, "/", "Ok")
	})
	if err != nil {
		Unavailable(tb, "Firestore", host, err.Error())
	}
	return host
}

// Firestore is one test's isolated Firestore project on the emulator.
type Firestore struct {
	Host      string
	ProjectID string
	Client    *firestore.Client
}

// NewFirestore gives the test its own project on the Firestore emulator and
// a client for it. The project's data is deleted when the test ends.
func NewFirestore(tb testing.TB) *Firestore {
	tb.Helper()
	host := FirestoreHost(tb)
	f := &Firestore{Host: host, ProjectID: ProjectID(tb)}
	c, err := firestore.NewClient(context.Background(), f.ProjectID)
	if err != nil {
		tb.Fatalf("firestore client: %v", err)
	}
	f.Client = c
	tb.Cleanup(func() {
		c.Close()
		if err := ResetFirestore(host, f.ProjectID, firestore.DefaultDatabaseID); err != nil {
			tb.Logf("reset firestore project %s: %v", f.ProjectID, err)
		}
	})
	return f
}

// NewClient opens another client on the same project (and database, if
// given), closed when the test ends.
func (f *Firestore) NewClient(tb testing.TB, database string) *firestore.Client {
	tb.Helper()
	if database == "" {
		database = firestore.DefaultDatabaseID
	}
	c, err := firestore.NewClientWithDatabase(context.Background(), f.ProjectID, database)
	if err != nil {
		tb.Fatalf("firestore client: %v", err)
	}
	tb.Cleanup(func() {
		c.Close()
		_ = ResetFirestore(f.Host, f.ProjectID, database)
	})
	return c
}

// ResetFirestore deletes every document of one project's database through
// the emulator's reset endpoint.
func ResetFirestore(host, project, database string) error {
	url := fmt.Sprintf("http://%s/emulator/v1/projects/%s/databases/%s/documents", host, project, database)
	return doDelete(url)
}

func doDelete(url string) error {
	req, err := http.NewRequest(http.MethodDelete, url, nil)
	if err != nil {
		return err
	}
	// Minutes: a benchmark's project can hold millions of documents.
	resp, err := (&http.Client{Timeout: 5 * time.Minute}).Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("DELETE %s: %s", url, resp.Status)
	}
	return nil
}

// ModuleRoot returns the directory of the fbadmin module that holds the
// working directory (the first parent with a go.mod): where tests and
// benchmarks find scripts/ and emulator/.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the fbadmin module (no go.mod found)")
		}
		dir = parent
	}
}

// BuildFbadmin builds the fbadmin command into dir as it is released
// (static: CGO_ENABLED=0, no race detector, which starts slowly) and
// returns the binary's path. Tests and benchmarks that drive the binary
// as a user does build it through here.
func BuildFbadmin(dir string) (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "fbadmin")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/fbadmin")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/fbadmin: %v\n%s", err, out)
	}
	return bin, nil
}
