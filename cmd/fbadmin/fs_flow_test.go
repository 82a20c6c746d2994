package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fbadmin/fbadmin/internal/emutest"
	"github.com/fbadmin/fbadmin/internal/transfer"
)

func TestFlowFlags(t *testing.T) {
	for _, tc := range []struct {
		o      flowOptions
		shards int
		want   transfer.Flow
	}{
		{flowOptions{}, 0, transfer.Flow{}},
		{flowOptions{Ramp: "on", MaxRate: 200, MaxRateSet: true}, 0, transfer.Flow{Ramp: transfer.RampOn, MaxRate: 200}},
		{flowOptions{Ramp: "off", MaxRate: 2000, MaxRateSet: true, MaxByteRate: "20MiB"}, 4, transfer.Flow{Ramp: transfer.RampOff, MaxRate: 2000, MaxByteRate: 20 << 20, Shards: 4}},
	} {
		got, err := tc.o.parse(tc.shards)
		if err != nil || got != tc.want {
			t.Errorf("%+v: got %+v, %v; want %+v", tc.o, got, err, tc.want)
		}
	}
	// The commands printed to finish a job repeat the flags.
	o := flowOptions{Ramp: "on", MaxRate: 200.5, MaxRateSet: true, MaxByteRate: "1MB"}
	if got, want := o.args(), []string{"--max-rate", "200.5", "--max-byte-rate", "1MB", "--ramp", "on"}; !slices.Equal(got, want) {
		t.Errorf("args = %q, want %q", got, want)
	}

	// Bad values: usage errors (exit 2) naming the flag, on every command
	// with the flags. (Negative numbers are refused for every numeric flag,
	// see TestNegativeNumbersRefused.)
	for _, cmd := range [][]string{
		{"fs", "import", "no-such-file.ndjson"},
		{"fs", "copy", "a", "b"},
		{"fs", "delete", "a", "--recursive", "--yes"},
	} {
		for _, bad := range [][]string{
			{"--max-rate", "0"},
			{"--max-byte-rate", "0"},
			{"--max-byte-rate", "fast"},
			{"--max-byte-rate", "20XB"},
			{"--ramp", "maybe"},
		} {
			args := append(append([]string{"fbadmin", "--emulator", "--project", "demo-flow-flags"}, cmd...), bad...)
			app := newApp()
			app.Writer, app.ErrWriter = &strings.Builder{}, &strings.Builder{}
			err := app.RunContext(context.Background(), interspersed(app, args))
			var ue usageError
			if !errors.As(err, &ue) || !strings.Contains(err.Error(), bad[0]) || exitCode(context.Background(), err) != exitUsage {
				t.Errorf("%s: got %v (exit %d), want a usage error (exit 2) naming %s", strings.Join(args, " "), err, exitCode(context.Background(), err), bad[0])
			}
		}
	}
}

// TestFlowRampOnEmulator imports 1,000 documents on the emulator with
// --ramp on --max-rate 200: the writes follow the cap (a rested limiter
// lets one second's 200 go at once, the other 800 take 4 s), and the data
// ends exactly as in the file. Only a lower bound of the time is checked:
// the limiter cannot grant writes sooner, however loaded the machine.
func TestFlowRampOnEmulator(t *testing.T) {
	host := emutest.FirestoreHost(t)
	project := emutest.ProjectID(t)
	t.Cleanup(func() { _ = emutest.ResetFirestore(host, project, "(default)") })
	t.Setenv("FIRESTORE_EMULATOR_HOST", host)
	dir := t.TempDir()
	t.Setenv("HOME", dir)
	t.Setenv("XDG_CACHE_HOME", filepath.Join(dir, "cache"))
	in, out := filepath.Join(dir, "in.ndjson"), filepath.Join(dir, "out.ndjson")
	if err := genDocs(in, 1000, false); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) {
		t.Helper()
		app := newApp()
		var stderr strings.Builder
		app.Writer, app.ErrWriter = &strings.Builder{}, &stderr
		args = append([]string{"fbadmin", "--emulator", "--project", project}, args...)
		if err := app.RunContext(context.Background(), interspersed(app, args)); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, stderr.String())
		}
	}
	start := time.Now()
	run("fs", "import", in, "--ramp", "on", "--max-rate", "200")
	if took := time.Since(start); took < 3900*time.Millisecond {
		t.Errorf("1,000 documents at --max-rate 200 took %v, want at least 4 s", took)
	}
	run("fs", "export", "--out", out)
	a, err := os.ReadFile(in)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if diff, err := docsDiff(in, a, out, b); err != nil || diff != "" {
		t.Errorf("the database after the import: %v %s", err, diff)
	}
}
