package main

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

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
