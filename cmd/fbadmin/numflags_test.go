package main

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// TestNegativeNumbersRefused gives every numeric flag of every command
// (counts, sizes, limits, durations) a negative value: each is refused as
// bad input before the command runs.
func TestNegativeNumbersRefused(t *testing.T) {
	var walk func(path []string, cmds []*cli.Command)
	n := 0
	walk = func(path []string, cmds []*cli.Command) {
		for _, cmd := range cmds {
			p := append(append([]string{}, path...), cmd.Name)
			if len(cmd.Subcommands) > 0 {
				walk(p, cmd.Subcommands)
				continue
			}
			for _, f := range cmd.Flags {
				val := "-1"
				switch f.(type) {
				case *cli.IntFlag, *cli.Int64Flag, *cli.Float64Flag:
				case *cli.DurationFlag:
					val = "-1s"
				default:
					continue
				}
				n++
				name := f.Names()[0]
				args := append(append([]string{"fbadmin"}, p...), "--"+name+"="+val)
				app := newApp()
				app.Writer, app.ErrWriter = &strings.Builder{}, &strings.Builder{}
				err := app.RunContext(context.Background(), interspersed(app, args))
				var ue usageError
				if !errors.As(err, &ue) || !strings.Contains(err.Error(), "must not be negative") {
					t.Errorf("%s: got %v, want a usage error saying the value must not be negative", strings.Join(args, " "), err)
				}
			}
		}
	}
	walk(nil, newApp().Commands)
	// a global flag, before the command
	app := newApp()
	app.Writer, app.ErrWriter = &strings.Builder{}, &strings.Builder{}
	if err := app.RunContext(context.Background(), []string{"fbadmin", "--timeout", "-5s", "fs", "get", "a/b"}); err == nil || !strings.Contains(err.Error(), "must not be negative") {
		t.Errorf("fbadmin --timeout -5s fs get a/b: got %v, want a usage error saying the value must not be negative", err)
	}
	if n < 10 {
		t.Errorf("checked %d numeric flags, want at least 10", n)
	}
}
