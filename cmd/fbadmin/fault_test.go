package main

import (
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
)

// installFaultHook is the end-to-end tests' fault injection, installed by
// TestMain in the fbadmin binary that the tests run (this test binary under
// the name fbadmin), never in the released one:
// FBADMIN_TEST_SIGNAL_AFTER="N:SIG" makes the process send itself SIG (INT,
// TERM, KILL or STOP) once N documents of a job are done, so that the tests
// interrupt or kill a job at a known point, or freeze it there while they
// take its backend away.
func installFaultHook() {
	spec := os.Getenv("FBADMIN_TEST_SIGNAL_AFTER")
	if spec == "" {
		return
	}
	progressHook = func(p jobProgress) jobProgress { return newFaultProgress(p, spec) }
}

// faultProgress sends the signal of FBADMIN_TEST_SIGNAL_AFTER once its
// count of documents is done.
type faultProgress struct {
	jobProgress
	after int64
	sig   syscall.Signal
	done  atomic.Int64
	once  sync.Once
}

func newFaultProgress(p jobProgress, spec string) *faultProgress {
	n, sig, _ := strings.Cut(spec, ":")
	f := &faultProgress{jobProgress: p, sig: syscall.SIGINT}
	f.after, _ = strconv.ParseInt(n, 10, 64)
	switch sig {
	case "KILL":
		f.sig = syscall.SIGKILL
	case "TERM":
		f.sig = syscall.SIGTERM
	case "STOP":
		f.sig = syscall.SIGSTOP
	}
	return f
}

func (f *faultProgress) Add(docs, bytes int64) {
	f.jobProgress.Add(docs, bytes)
	if f.done.Add(docs) >= f.after {
		f.once.Do(func() { syscall.Kill(os.Getpid(), f.sig) })
	}
}
