package main

import (
	"errors"
	"math"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	"google.golang.org/grpc/codes"

	"github.com/fbadmin/fbadmin/internal/faults"
)

// installFaultHook is the end-to-end tests' fault injection, installed by
// TestMain in the fbadmin binary that the tests run (this test binary under
// the name fbadmin), never in the released one:
// FBADMIN_TEST_SIGNAL_AFTER="N:SIG" makes the process send itself SIG (INT,
// TERM, KILL or STOP) once N documents of a job are done, so that the tests
// interrupt or kill a job at a known point (INT2: a second SIGINT 50 ms
// after the first, as a user pressing Ctrl-C twice), or freeze it there while they
// take its backend away; "STEP:SIG" sends it when the job reaches STEP
// (transfer.StepJournalRemove, transfer.StepJournalRemoved: an import
// about to remove its journal, or just after).
//
// FBADMIN_TEST_FAULTS="CODE:RATE" (such as UNAVAILABLE:0.05) makes every
// gRPC connection to Firestore fail that share of its calls with that
// status code (internal/faults: half before the call is sent, half after it
// was served, and streams mid-way), seeded by the process ID.
func installFaultHook() {
	if spec := os.Getenv("FBADMIN_TEST_FAULTS"); spec != "" {
		name, rate, _ := strings.Cut(spec, ":")
		var code codes.Code
		r, err := strconv.ParseFloat(rate, 64)
		if err != nil || code.UnmarshalJSON([]byte(strconv.Quote(name))) != nil {
			panic("FBADMIN_TEST_FAULTS=" + spec + ": want CODE:RATE, such as UNAVAILABLE:0.05")
		}
		inj := faults.New(faults.Config{Code: code, Rate: r, Seed: uint64(os.Getpid())})
		dialHook = inj.DialOptions
	}
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
	after int64  // documents, or
	step  string // a step of the job
	sig   syscall.Signal
	twice bool // send sig again 50 ms later
	done  atomic.Int64
	once  sync.Once
}

func newFaultProgress(p jobProgress, spec string) *faultProgress {
	n, sig, _ := strings.Cut(spec, ":")
	f := &faultProgress{jobProgress: p, sig: syscall.SIGINT}
	var err error
	if f.after, err = strconv.ParseInt(n, 10, 64); err != nil {
		f.after, f.step = math.MaxInt64, n
	}
	switch sig {
	case "KILL":
		f.sig = syscall.SIGKILL
	case "INT2":
		f.twice = true
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
		f.signal()
	}
}

// Step implements transfer.Stepper.
func (f *faultProgress) Step(name string) {
	if name == f.step {
		f.signal()
	}
}

func (f *faultProgress) signal() {
	f.once.Do(func() {
		syscall.Kill(os.Getpid(), f.sig)
		if f.twice {
			// Apart, so that the two do not merge into one pending signal.
			time.Sleep(50 * time.Millisecond)
			syscall.Kill(os.Getpid(), f.sig)
		}
		switch f.sig {
		case syscall.SIGKILL:
			select {} // being killed: go no further
		case syscall.SIGINT, syscall.SIGTERM:
			// Let main's handler cancel the job before it goes on, so that
			// a signal sent at a point arrives there.
			time.Sleep(100 * time.Millisecond)
		}
	})
}

// hintRE finds the command a hint tells the user to run.
var hintRE = regexp.MustCompile(`(?:run|finish with): (fbadmin .*?)(?:\)$|$)`)

// runhint CODE [FILE]: runs, through sh, the command that the last stderr
// (or FILE, a copy of an earlier one) told the user to run ("... to
// finish, run: fbadmin ..."), exactly as printed, and checks its exit
// code: printed commands must work when pasted.
func cmdRunHint(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 || len(args) > 2 {
		ts.Fatalf("usage: runhint CODE [FILE]")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	from := "stderr"
	if len(args) == 2 {
		from = args[1]
	}
	var cmd string
	for _, line := range strings.Split(ts.ReadFile(from), "\n") {
		if m := hintRE.FindStringSubmatch(line); m != nil {
			cmd = m[1]
		}
	}
	if cmd == "" {
		ts.Fatalf("no command to run in stderr")
	}
	ts.Logf("running the hint: %s", cmd)
	err = ts.Exec("sh", "-c", cmd)
	got := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		got = ee.ExitCode()
	case err != nil:
		ts.Fatalf("%s: %v", cmd, err)
	}
	if got != want {
		ts.Fatalf("%s exited with %d, want %d", cmd, got, want)
	}
}
