// Package serveproc runs `fbadmin serve` as a child process for the
// benchmarks that measure it from outside (scripts/bench.sh serve and
// attack): built static, as the README installs it, on a free loopback
// port, in its own process group.
package serveproc

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"time"

	"github.com/fbadmin/fbadmin/internal/emutest"
)

// Server is a running `fbadmin serve`.
type Server struct {
	Cmd  *exec.Cmd
	Base string // http://ADDR
	dir  string
}

// Start builds fbadmin, writes config to a temporary serve.yaml and starts
// `fbadmin --emulator --project PROJECT serve` with env added to its
// environment, waiting until /healthz answers.
func Start(project, config string, env []string, logf func(format string, args ...any)) (*Server, error) {
	dir, err := os.MkdirTemp("", "fbadmin-bench-serve")
	if err != nil {
		return nil, err
	}
	s := &Server{dir: dir}
	fail := func(err error) (*Server, error) { s.Stop(); return nil, err }
	logf("building fbadmin")
	bin, err := emutest.BuildFbadmin(dir)
	if err != nil {
		return fail(err)
	}
	cfg := filepath.Join(dir, "serve.yaml")
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		return fail(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, "--emulator", "--project", project, "serve", "--config", cfg, "--addr", addr)
	cmd.Stderr = os.Stderr
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fail(err)
	}
	s.Cmd, s.Base = cmd, "http://"+addr
	for i := 0; ; i++ {
		resp, err := http.Get(s.Base + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		if i > 100 {
			return fail(fmt.Errorf("the server did not start on %s: %v", addr, err))
		}
		time.Sleep(100 * time.Millisecond)
	}
	logf("fbadmin serve is up on %s (pid %d)", addr, cmd.Process.Pid)
	return s, nil
}

// Stop sends SIGTERM, kills the process group after 20 s, and removes the
// temporary directory.
func (s *Server) Stop() {
	if s.Cmd != nil && s.Cmd.Process != nil {
		_ = s.Cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = s.Cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = syscall.Kill(-s.Cmd.Process.Pid, syscall.SIGKILL)
		}
	}
	os.RemoveAll(s.dir)
}

var vmRSS = regexp.MustCompile(`VmRSS:\s+(\d+) kB`)

// RSSKiB is the server's resident set size.
func (s *Server) RSSKiB() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.Cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	m := vmRSS.FindSubmatch(b)
	if m == nil {
		return 0, errors.New("no VmRSS in /proc status")
	}
	return strconv.ParseInt(string(m[1]), 10, 64)
}
