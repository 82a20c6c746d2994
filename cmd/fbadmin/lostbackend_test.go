package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fbadmin/fbadmin/internal/emutest"
)

// TestResumeAfterLostBackend loses the backend under an import and a
// recursive delete, for real: both jobs run against a Firestore emulator of
// the test's own, which is killed (its whole process group, SIGKILL) while
// they are partway. Each job must stop by itself within its retry bound,
// exit 1 and say how to resume. The emulator then comes back on the same
// port, and a rerun with --resume must finish each job: the imported
// documents equal the input file, and nothing of the deleted tree remains.
//
// The gcloud emulator keeps its data in memory only, so that the restarted
// emulator holds what the first one had committed, as a real backend would,
// the test snapshots its data (the emulator's export endpoint) just before
// killing it and starts the new one from the snapshot. For the snapshot to
// hold everything the jobs saw committed, and nothing they did not, each
// job freezes itself (SIGSTOP, through FBADMIN_TEST_SIGNAL_AFTER) right
// after a batch committed, with --concurrency 1 so that no other write is in
// flight; it resumes (SIGCONT) once the emulator is dead.
func TestResumeAfterLostBackend(t *testing.T) {
	if testing.Short() && !emutest.InCI() { // under CI=true it always runs
		t.Skip("starts its own emulator twice; skipped with -short")
	}
	if runtime.GOOS != "linux" {
		if emutest.InCI() {
			t.Fatal("this test watches the jobs' process state in /proc: run CI on Linux")
		}
		t.Skip("watches the jobs' process state in /proc")
	}
	start := time.Now()
	host := freeHost(t)
	emu := startPrivateFirestore(t, host, "")
	project := emutest.ProjectID(t)
	dir := t.TempDir()
	env := []string{
		"FIRESTORE_EMULATOR_HOST=" + host, "FBADMIN_PROJECT=" + project,
		"HOME=" + filepath.Join(dir, "home"), "XDG_CACHE_HOME=" + filepath.Join(dir, "cache"),
		"FBADMIN_TEST_SIGNAL_AFTER=",
	}
	const flat, tree = 6000, 4000
	if err := genDocs(filepath.Join(dir, "big.ndjson"), flat, false); err != nil {
		t.Fatal(err)
	}
	if err := genDocs(filepath.Join(dir, "tree.ndjson"), tree, true); err != nil {
		t.Fatal(err)
	}
	mustRun(t, dir, env, "fs", "import", "tree.ndjson", "-q")

	// Both jobs at once; each freezes after a few committed batches.
	imp := startJob(t, dir, append(env, "FBADMIN_TEST_SIGNAL_AFTER=2000:STOP"),
		"fs", "import", "big.ndjson", "--concurrency", "1")
	del := startJob(t, dir, append(env, "FBADMIN_TEST_SIGNAL_AFTER=1000:STOP"),
		"fs", "delete", "t", "--recursive", "--yes", "--concurrency", "1")
	imp.waitStopped(t)
	del.waitStopped(t)

	snapshot := emu.export(t, project, filepath.Join(dir, "snapshot"))
	emu.kill(t)
	lost := time.Now()
	imp.cont(t)
	del.cont(t)
	for _, c := range []struct {
		job  *job
		want string
	}{
		{imp, `^fbadmin: import stopped after \d+ documents: .*unavailable.* \(hint: once the backend answers again, finish with: fbadmin fs import big.ndjson --mode create --resume\)$`},
		{del, `^fbadmin: delete stopped after \d+ documents: .*unavailable.* \(hint: once the backend answers again, finish with: fbadmin fs delete t --recursive --yes --resume\)$`},
	} {
		code, stderr := c.job.wait(t, 90*time.Second)
		if code != exitError {
			t.Errorf("%s with its backend lost: exit code %d, want %d; stderr:\n%s", c.job.name, code, exitError, stderr)
		}
		last := lastLine(stderr)
		if !regexp.MustCompile(c.want).MatchString(last) {
			t.Errorf("%s with its backend lost: last stderr line\n  %s\nwant it to match\n  %s", c.job.name, last, c.want)
		}
		t.Logf("%s, exit %d: %s", c.job.name, code, last)
	}
	t.Logf("both jobs stopped %v after the emulator was killed", time.Since(lost).Round(100*time.Millisecond))
	if _, err := os.Stat(filepath.Join(dir, "big.ndjson.journal")); err != nil {
		t.Fatalf("the stopped import left no journal: %v", err)
	}

	// The backend is back, with what had been committed.
	startPrivateFirestore(t, host, snapshot)
	if n := count(t, dir, env, "r"); n <= 0 || n >= flat {
		t.Fatalf("after the restart r holds %d documents, want part of the %d (the import stopped partway)", n, flat)
	}
	if n := count(t, dir, env, "u", "--group"); n <= 0 || n >= tree {
		t.Fatalf("after the restart the tree holds %d leaves, want part of the %d (the delete stopped partway)", n, tree)
	}

	_, stderr := mustRun(t, dir, env, "fs", "import", "big.ndjson", "--resume")
	if !regexp.MustCompile(`import: \d+ docs written, 0 failed.*; [1-9]\d* lines were done before`).MatchString(stderr) {
		t.Errorf("resumed import: stderr\n%s\nwant a summary with 0 failed and the lines done before", stderr)
	}
	_, stderr = mustRun(t, dir, env, "fs", "delete", "t", "--recursive", "--yes", "--resume")
	if !regexp.MustCompile(`delete: \d+ docs deleted, 0 failed`).MatchString(stderr) {
		t.Errorf("resumed delete: stderr\n%s\nwant a summary with 0 failed", stderr)
	}

	if _, err := os.Stat(filepath.Join(dir, "big.ndjson.journal")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the journal is still there after the resumed import finished (%v)", err)
	}
	got, _ := mustRun(t, dir, env, "fs", "export", "r")
	want, err := os.ReadFile(filepath.Join(dir, "big.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	if diff, err := docsDiff("the input", want, "the database", []byte(got)); err != nil || diff != "" {
		t.Errorf("after the resumed import: %s%v", diff, err)
	}
	if left, _ := mustRun(t, dir, env, "fs", "export", "t"); strings.TrimSpace(left) != "" {
		t.Errorf("after the resumed delete, the tree still holds %d documents", strings.Count(left, "\n"))
	}
	t.Logf("done in %v", time.Since(start).Round(100*time.Millisecond))
}

// freeHost returns a loopback host:port that nothing listens on.
func freeHost(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// privateFirestore is a gcloud Firestore emulator of the test's own, on its
// own port and in its own process group (gcloud starts java, which outlives
// it), so that the test can kill it without touching the shared one.
type privateFirestore struct {
	host string
	cmd  *exec.Cmd
	done chan struct{}
}

// startPrivateFirestore starts an emulator on host, loaded from an export
// when importData names its metadata file, and waits until it answers.
func startPrivateFirestore(t testing.TB, host, importData string) *privateFirestore {
	t.Helper()
	gcloud, err := exec.LookPath("gcloud")
	if err != nil {
		emutest.Unavailable(t, "Firestore (private instance)", host, "gcloud not found: install google-cloud-cli-firestore-emulator")
		return nil
	}
	args := []string{"emulators", "firestore", "start", "--host-port=" + host}
	if importData != "" {
		args = append(args, "--import-data="+importData)
	}
	logf, err := os.CreateTemp(t.TempDir(), "emulator-*.log")
	if err != nil {
		t.Fatal(err)
	}
	e := &privateFirestore{host: host, cmd: exec.Command(gcloud, args...), done: make(chan struct{})}
	e.cmd.Stdout, e.cmd.Stderr = logf, logf
	e.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := e.cmd.Start(); err != nil {
		t.Fatalf("start the Firestore emulator: %v", err)
	}
	go func() { e.cmd.Wait(); logf.Close(); close(e.done) }()
	t.Cleanup(func() { e.kill(t) })
	deadline := time.Now().Add(2 * time.Minute) // slow on a loaded 2-core machine
	for {
		resp, err := http.Get("http://" + host + "/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return e
			}
		}
		select {
		case <-e.done:
			b, _ := os.ReadFile(logf.Name())
			t.Fatalf("the Firestore emulator on %s exited at start:\n%s", host, b)
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(logf.Name())
			e.kill(t)
			emutest.Unavailable(t, "Firestore (private instance)", host, "did not answer within 2 minutes: "+string(b))
		}
	}
}

// export writes the project's data to a new folder under dir through the
// emulator's export endpoint and returns the metadata file to import.
func (e *privateFirestore) export(t testing.TB, project, dir string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]string{"database": "projects/" + project + "/databases/(default)", "export_directory": dir})
	resp, err := http.Post("http://"+e.host+"/emulator/v1/projects/"+project+":export", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("export the emulator's data: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("export the emulator's data: %s", resp.Status)
	}
	meta, _ := filepath.Glob(filepath.Join(dir, "*", "*.overall_export_metadata"))
	if len(meta) != 1 {
		t.Fatalf("export of the emulator's data: got metadata files %q, want one", meta)
	}
	return meta[0]
}

// kill ends the emulator's whole process group at once, as a crash would,
// and waits until its port refuses connections.
func (e *privateFirestore) kill(t testing.TB) {
	t.Helper()
	if e.cmd == nil {
		return
	}
	pgid := e.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	select {
	case <-e.done:
	case <-time.After(30 * time.Second):
		t.Errorf("the emulator's gcloud process did not exit after SIGKILL")
	}
	for i := 0; i < 300 && syscall.Kill(-pgid, 0) == nil; i++ {
		time.Sleep(100 * time.Millisecond) // java may linger a moment
	}
	for i := 0; i < 100; i++ {
		c, err := net.DialTimeout("tcp", e.host, time.Second)
		if err != nil {
			break
		}
		c.Close()
		time.Sleep(100 * time.Millisecond)
	}
	e.cmd = nil
}

// job is an fbadmin process running in the background.
type job struct {
	name   string
	cmd    *exec.Cmd
	stderr bytes.Buffer
	done   chan struct{}
}

func startJob(t testing.TB, dir string, env []string, args ...string) *job {
	t.Helper()
	j := &job{name: "fbadmin " + strings.Join(args[:2], " "), cmd: exec.Command("fbadmin", args...), done: make(chan struct{})}
	j.cmd.Dir, j.cmd.Env, j.cmd.Stderr = dir, append(os.Environ(), env...), &j.stderr
	if err := j.cmd.Start(); err != nil {
		t.Fatalf("%s: %v", j.name, err)
	}
	go func() { j.cmd.Wait(); close(j.done) }()
	t.Cleanup(func() {
		select {
		case <-j.done:
		default:
			j.cmd.Process.Kill()
			syscall.Kill(j.cmd.Process.Pid, syscall.SIGCONT)
			<-j.done
		}
	})
	return j
}

// waitStopped waits until the job has frozen itself (process state T).
func (j *job) waitStopped(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-j.done:
			t.Fatalf("%s ended before it stopped partway (exit %d):\n%s", j.name, j.cmd.ProcessState.ExitCode(), j.stderr.String())
		default:
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", j.cmd.Process.Pid))
		if err == nil {
			if i := bytes.LastIndexByte(b, ')'); i > 0 && len(b) > i+2 && b[i+2] == 'T' {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not stop partway within a minute", j.name)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (j *job) cont(t testing.TB) {
	t.Helper()
	if err := syscall.Kill(j.cmd.Process.Pid, syscall.SIGCONT); err != nil {
		t.Fatalf("%s: SIGCONT: %v", j.name, err)
	}
}

// wait waits for the job to exit and returns its exit code and stderr.
func (j *job) wait(t testing.TB, limit time.Duration) (int, string) {
	t.Helper()
	select {
	case <-j.done:
	case <-time.After(limit):
		t.Fatalf("%s still runs %v after its backend was lost:\n%s", j.name, limit, j.stderr.String())
	}
	return j.cmd.ProcessState.ExitCode(), j.stderr.String()
}

// mustRun runs fbadmin to completion and fails the test unless it exits 0.
func mustRun(t testing.TB, dir string, env []string, args ...string) (stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "fbadmin", args...)
	var out, errb bytes.Buffer
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = dir, append(os.Environ(), env...), &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("fbadmin %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.String(), errb.String()
}

// count returns what "fbadmin fs count" says.
func count(t testing.TB, dir string, env []string, args ...string) int64 {
	t.Helper()
	out, _ := mustRun(t, dir, env, append([]string{"fs", "count", "-o", "json"}, args...)...)
	var v struct {
		Count int64 `json:"count"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("fbadmin fs count %s: %v in %q", strings.Join(args, " "), err, out)
	}
	return v.Count
}

func lastLine(s string) string {
	s = strings.TrimRight(s, "\n")
	return s[strings.LastIndexByte(s, '\n')+1:]
}
