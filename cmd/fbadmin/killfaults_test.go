package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fbadmin/fbadmin/internal/emutest"
	"github.com/fbadmin/fbadmin/internal/faults"
)

// TestKillUnderFaults kills (SIGKILL) an import and then a recursive delete
// of a 20,000-document three-level tree at a random moment, while their
// connection to the emulator goes through Toxiproxy (connection resets, see
// faults.Resets) and fails 5% of calls with UNAVAILABLE (half of them after
// the server served the call), and finishes each with --resume under the
// same faults (or, killed before it wrote its journal, with a plain rerun
// as it says): the database then holds exactly the file's documents, and
// nothing of the deleted tree remains. The random delays are logged with
// their seed.
func TestKillUnderFaults(t *testing.T) {
	host := emutest.FirestoreHost(t)
	project := emutest.ProjectID(t)
	t.Cleanup(func() { emutest.ResetFirestore(host, project, "(default)") })
	proxy, err := faults.NewProxy(host, faults.Resets)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	dir := t.TempDir()
	clean := []string{
		"FIRESTORE_EMULATOR_HOST=" + host, "FBADMIN_PROJECT=" + project,
		"HOME=" + filepath.Join(dir, "home"), "XDG_CACHE_HOME=" + filepath.Join(dir, "cache"),
		"FBADMIN_TEST_SIGNAL_AFTER=", "FBADMIN_TEST_FAULTS=",
	}
	faulty := append(append([]string{}, clean...), "FIRESTORE_EMULATOR_HOST="+proxy.Addr(), "FBADMIN_TEST_FAULTS=UNAVAILABLE:0.05")
	file := filepath.Join(dir, "tree.ndjson")
	if n, err := genTree(file, 1250, 3, 4); err != nil || n != 20000 {
		t.Fatalf("tree: %d documents, %v; want 20000", n, err)
	}
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 0))
	t.Logf("seed %d", seed)

	// killAt runs a job under the faults and kills it after a random delay
	// (unless it ended before), then reruns it with --resume until it
	// succeeds: under faults a rerun may stop too, when one call fails
	// more times than the retries allow, and says to resume again.
	killAt := func(args ...string) {
		t.Helper()
		delay := time.Duration(100+rng.IntN(2400)) * time.Millisecond
		j := startJob(t, dir, faulty, args...)
		select {
		case <-j.done:
			t.Logf("fbadmin %s ended (%v) before the kill at %v:\n%s", strings.Join(args, " "), j.cmd.ProcessState, delay, j.stderr.String())
		case <-time.After(delay):
			j.cmd.Process.Signal(syscall.SIGKILL)
			<-j.done
			t.Logf("fbadmin %s killed after %v", strings.Join(args, " "), delay)
		}
		resume := "--resume"
		for attempt := 1; ; attempt++ {
			run := append([]string{}, args...)
			if resume != "" {
				run = append(run, resume)
			}
			code, stderr := runCode(t, dir, faulty, run...)
			if code == 0 {
				t.Logf("finished by %s (attempt %d): %s", strings.Join(run, " "), attempt, lastLine(stderr))
				return
			}
			if code == exitNotFound && strings.Contains(stderr, "run it without --resume") && resume != "" {
				// Killed before its journal was written: a delete says
				// to run it again, not to resume it.
				t.Logf("%s", lastLine(stderr))
				resume = ""
				continue
			}
			if code != exitError || attempt == 3 {
				t.Fatalf("fbadmin %s --resume: exit %d:\n%s", strings.Join(args, " "), code, stderr)
			}
			t.Logf("resume attempt %d stopped under the faults (exit %d): %s", attempt, code, lastLine(stderr))
		}
	}

	killAt("fs", "import", "tree.ndjson", "--mode", "create")
	got, _ := mustRun(t, dir, clean, "fs", "export")
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if diff, err := docsDiff("tree.ndjson", want, "the database", []byte(got)); err != nil || diff != "" {
		t.Fatalf("after the killed and resumed import: %s %v", diff, err)
	}

	killAt("fs", "delete", "users", "--recursive", "--yes")
	if left, _ := mustRun(t, dir, clean, "fs", "export"); left != "" {
		t.Fatalf("after the killed and resumed delete, %d documents are left", strings.Count(left, "\n"))
	}
}

// genTree writes a three-level tree (users, their orders, the orders'
// items) of users*(1+orders*(1+items)) documents as an import file, each
// line's fields in the order an export writes them.
func genTree(file string, users, orders, items int) (int, error) {
	f, err := os.Create(file)
	if err != nil {
		return 0, err
	}
	w := bufio.NewWriter(f)
	n := 0
	line := func(path, data string) {
		fmt.Fprintf(w, `{"path":%q,"data":%s}`+"\n", path, data)
		n++
	}
	for u := range users {
		up := fmt.Sprintf("users/u%05d", u)
		line(up, fmt.Sprintf(`{"n":{"$int":"%d"},"name":"user %d"}`, u, u))
		for o := range orders {
			op := fmt.Sprintf("%s/orders/o%d", up, o)
			line(op, fmt.Sprintf(`{"total":{"$double":%d.25}}`, u))
			for i := range items {
				line(fmt.Sprintf("%s/items/i%d", op, i), fmt.Sprintf(`{"qty":{"$int":"%d"},"tags":["a","b"]}`, i+1))
			}
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return n, err
	}
	return n, f.Close()
}

// runCode runs fbadmin and returns its exit code and stderr.
func runCode(t testing.TB, dir string, env []string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "fbadmin", args...)
	var errb bytes.Buffer
	cmd.Dir, cmd.Env, cmd.Stderr = dir, append(os.Environ(), env...), &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return ee.ExitCode(), errb.String()
	case err != nil:
		t.Fatalf("fbadmin %s: %v", strings.Join(args, " "), err)
	}
	return 0, errb.String()
}
