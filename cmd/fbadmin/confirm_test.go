package main

import (
	"context"
	"io"
	"strings"
	"testing"
)

// A declined prompt exits 2, on a terminal as without one (docs/cli.md:
// "no confirmation" is a usage outcome).
func TestConfirmDeclinedExitsUsage(t *testing.T) {
	cases := []struct {
		name  string
		tty   bool
		input string
		want  int
	}{
		{"terminal, no", true, "n\n", exitUsage},
		{"terminal, empty answer", true, "\n", exitUsage},
		{"terminal, end of input", true, "", exitUsage},
		{"no terminal", false, "y\n", exitUsage},
		{"terminal, yes", true, "yes\n", exitOK},
	}
	for _, c := range cases {
		d := &deps{stdin: strings.NewReader(c.input), stderr: io.Discard, stdinTTY: c.tty, stderrTTY: c.tty}
		err := d.confirm(false, "delete users/a in (default)?")
		if got := exitCode(context.Background(), err); got != c.want {
			t.Errorf("%s: exit %d (%v), want %d", c.name, got, err, c.want)
		}
	}
}
