package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ownEmulator is a gcloud Firestore emulator this benchmark started for
// itself, in its own process group, so that nobody else's tests share its
// JVM and its figures are not disturbed by theirs.
type ownEmulator struct {
	host string
	cmd  *exec.Cmd
	log  *os.File
}

// startOwnEmulator starts the emulator on a free port and waits until it
// answers.
func startOwnEmulator(dir string) (*ownEmulator, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	host := l.Addr().String()
	l.Close()
	logf("starting a Firestore emulator of its own on %s", host)
	f, err := os.Create(filepath.Join(dir, "emulator.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("gcloud", "emulators", "firestore", "start", "--host-port="+host)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start a Firestore emulator with gcloud (is the Google Cloud CLI installed?): %w", err)
	}
	e := &ownEmulator{host: host, cmd: cmd, log: f}
	hc := &http.Client{Timeout: 2 * time.Second}
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
		resp, err := hc.Get("http://" + host + "/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return e, nil
			}
		}
	}
	e.stop()
	return nil, fmt.Errorf("the Firestore emulator started on %s did not answer within 90 s; its log is in %s", host, f.Name())
}

// jvmPID returns the PID of the emulator's java process (gcloud starts a
// script that starts it, all in the group), or 0.
func (e *ownEmulator) jvmPID() int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	pgid := e.cmd.Process.Pid
	for _, ent := range ents {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + ent.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open {
			continue
		}
		f := strings.Fields(s[end+1:])
		// After the name: state, ppid, pgrp.
		if len(f) > 2 && s[open+1:end] == "java" && f[2] == strconv.Itoa(pgid) {
			return pid
		}
	}
	return 0
}

// stop ends the emulator's whole process group: TERM, then KILL after 15 s.
func (e *ownEmulator) stop() {
	if e == nil {
		return
	}
	pgid := e.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = e.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-done
	}
	// The JVM may outlive the script that started it for a moment.
	for range 50 {
		if syscall.Kill(-pgid, 0) != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	e.log.Close()
}
