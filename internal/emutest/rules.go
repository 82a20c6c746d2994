package emutest

import (
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// StartFirestoreWithRules starts a gcloud Firestore emulator of the test's
// own enforcing the security rules in rulesFile (gcloud emulators
// firestore start --rules; see [StartFirestore]) and returns its host. The
// shared emulator of scripts/emulators.sh runs without rules, so tests of
// rules use this one; requests with the "owner" token bypass the rules
// there too.
func StartFirestoreWithRules(tb testing.TB, rulesFile string) string {
	tb.Helper()
	abs, err := filepath.Abs(rulesFile)
	if err != nil {
		tb.Fatal(err)
	}
	return StartFirestore(tb, "--rules="+abs)
}

// StartFirestore starts a gcloud Firestore emulator of the test's own, on a
// free port, with extra flags of gcloud emulators firestore start (--rules,
// --import-data), in its own process group, and stops the group when the
// test ends. It returns the emulator's host once it answers. Without
// gcloud, the test fails under CI=true and is skipped elsewhere.
func StartFirestore(tb testing.TB, flags ...string) string {
	tb.Helper()
	gcloud, err := exec.LookPath("gcloud")
	if err != nil {
		Unavailable(tb, "gcloud Firestore", "gcloud", "gcloud is not on PATH")
		return ""
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	host := l.Addr().String()
	l.Close()
	dir := tb.TempDir()
	logf, err := os.Create(filepath.Join(dir, "emulator.log"))
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(gcloud, append([]string{"emulators", "firestore", "start", "--host-port=" + host}, flags...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), "CLOUDSDK_CORE_DISABLE_PROMPTS=1", "CLOUDSDK_CONFIG="+filepath.Join(dir, "gcloud-config"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		Unavailable(tb, "gcloud Firestore", host, err.Error())
		return ""
	}
	tb.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		logf.Close()
	})
	deadline := time.Now().Add(120 * time.Second)
	for {
		resp, err := (&http.Client{Timeout: 2 * time.Second}).Get("http://" + host + "/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return host
			}
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logf.Name())
			tb.Fatalf("the Firestore emulator started with %v did not answer at %s within 120 s; its log:\n%s", flags, host, log)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
