package listeners_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/fbadmin/fbadmin/internal/emutest"
	"github.com/fbadmin/fbadmin/listeners"
)

// privateEmulator is a Firestore emulator this test starts and stops on its
// own port, in its own process group, never touching the shared one.
type privateEmulator struct {
	t    testing.TB
	host string
	cmd  *exec.Cmd
	log  *os.File
}

func startPrivateEmulator(t testing.TB, host string) *privateEmulator {
	t.Helper()
	gcloud, err := exec.LookPath("gcloud")
	if err != nil {
		emutest.Unavailable(t, "Firestore (private instance)", host, "gcloud not found: install google-cloud-cli-firestore-emulator")
	}
	logf, err := os.CreateTemp(t.TempDir(), "emulator*.log")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(gcloud, "emulators", "firestore", "start", "--host-port="+host)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // its own group: java outlives gcloud
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	e := &privateEmulator{t: t, host: host, cmd: cmd, log: logf}
	t.Cleanup(e.stop)
	deadline := time.Now().Add(3 * time.Minute) // slow on a loaded 2-core machine
	for {
		resp, err := http.Get("http://" + host + "/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return e
			}
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(logf.Name())
			e.stop()
			emutest.Unavailable(t, "Firestore (private instance)", host, "did not start within 3 minutes: "+string(b))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// stop ends the emulator's whole process group and waits for the port to
// be free.
func (e *privateEmulator) stop() {
	if e.cmd == nil {
		return
	}
	pgid := e.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	done := make(chan struct{})
	go func() { e.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-done
	}
	for i := 0; i < 100; i++ {
		// The java child may linger a moment after gcloud exits.
		if syscall.Kill(-pgid, 0) != nil {
			break
		}
		if i == 50 {
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
		}
		time.Sleep(100 * time.Millisecond)
	}
	e.cmd = nil
}

type ownerToken struct{}

func (ownerToken) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer owner"}, nil
}
func (ownerToken) RequireTransportSecurity() bool { return false }

// clientFor opens a client on the emulator at host, whatever
// FIRESTORE_EMULATOR_HOST says.
func clientFor(ctx context.Context, host, project string) (*firestore.Client, error) {
	conn, err := grpc.NewClient(host, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(ownerToken{}))
	if err != nil {
		return nil, err
	}
	return firestore.NewClient(ctx, project, option.WithGRPCConn(conn))
}

// TestEmulatorRestartMidStream stops the Firestore emulator under a running
// listener and starts it again (empty, as a restarted emulator is): the
// listener recovers, reports the documents that vanished as removals and
// the new ones as additions, and the state rebuilt from its events equals
// the database at the end.
func TestEmulatorRestartMidStream(t *testing.T) {
	if testing.Short() && !emutest.InCI() { // under CI=true it always runs
		t.Skip("starts its own emulator twice; skipped with -short")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host := l.Addr().String()
	l.Close()
	emu := startPrivateEmulator(t, host)
	project := emutest.ProjectID(t)
	ctx := context.Background()
	writer, err := clientFor(ctx, host, project)
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close()
	col := writer.Collection("items")
	for i := range 10 {
		if _, err := col.Doc(fmt.Sprintf("before%d", i)).Set(ctx, map[string]any{"n": int64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	sink := &memSink{}
	r := start(t, engineConfig{project: project, stateDir: t.TempDir(), query: collection("items"),
		sinks:    map[string]listeners.Sink{"mem": sink},
		newClien: func(ctx context.Context, p, _ string) (*firestore.Client, error) { return clientFor(ctx, host, p) }})
	waitFor(t, 20*time.Second, "the initial snapshot", func() bool { return len(sink.all()) == 10 })

	t0 := time.Now()
	emu.stop()
	time.Sleep(time.Second)
	startPrivateEmulator(t, host)
	t.Logf("emulator stopped and restarted in %v", time.Since(t0).Round(time.Millisecond))
	var werr error
	for i := range 5 {
		// The writer's connection comes back on its own too; retry a bit.
		for try := 0; try < 50; try++ {
			if _, werr = col.Doc(fmt.Sprintf("after%d", i)).Set(ctx, map[string]any{"n": int64(100 + i)}); werr == nil {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if werr != nil {
			t.Fatalf("write after restart: %v", werr)
		}
	}
	t.Logf("writes after restart done at %v", time.Since(t0).Round(time.Millisecond))
	want := dbState(t, col.Query)
	if len(want) != 5 {
		t.Fatalf("restarted emulator holds %d documents, want 5", len(want))
	}
	waitFor(t, 60*time.Second, "convergence after the emulator restart", func() bool { return diffStates(state(sink.all()), want) == "" })
	t.Logf("listener converged at %v", time.Since(t0).Round(time.Millisecond))
	r.stop(t)
	removed := 0
	for _, ev := range sink.all() {
		if ev.Type == listeners.Removed && strings.HasPrefix(ev.Path, "items/before") {
			removed++
		}
	}
	if removed != 10 {
		t.Errorf("got %d removals of the vanished documents, want 10", removed)
	}
	checkIDs(t, sink.all())
}
