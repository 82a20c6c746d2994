package main

import (
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
)

// This file holds fbadmin's workarounds for urfave/cli v2, which the design
// keeps (it is in maintenance upstream; keeping its types inside cmd/fbadmin
// makes a later move to v3 a one-folder change, and this file the first
// thing to revisit then). v2 differs from what fbadmin promises in three
// ways:
//
//   - It stops reading flags at the first positional argument, like the flag
//     package: interspersed moves the leaf command's flags before its
//     arguments, so that "fbadmin fs set users/a --data {...}" works.
//   - Global flags are read only before the command name: each command named
//     on the command line gets copies of them (withGlobalFlags), and
//     flagValue finds a global flag's value wherever it was given.
//   - A bad flag on a command, or a group called without a sub-command, is
//     not a usage error to v2: setupCommand makes both usage errors (exit 2)
//     with a hint.
//
// The App's own settings (DisableSliceFlagSeparator, OnUsageError,
// ExitErrHandler, CommandNotFound) are in newApp.

// interspersed moves the flags of the command line's leaf command before
// its positional arguments, so that "fbadmin fs set users/a --data {...}"
// works: urfave/cli v2 (like the flag package) stops reading flags at the
// first argument. A "--" ends the flags; everything after it stays as is.
// The commands it walks through get their global flags (withGlobalFlags).
func interspersed(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	out := []string{args[0]}
	flags, cmds := app.Flags, app.Commands
	i := 1
walk:
	for i < len(args) {
		a := args[i]
		switch {
		case a == "--":
			break walk
		case isFlagArg(a):
			out = append(out, a)
			if takesValue(flags, a) && i+1 < len(args) {
				out = append(out, args[i+1])
				i++
			}
			i++
			continue
		}
		if a == "help" || a == "h" {
			// urfave/cli's help command ("fbadmin help fs"): walk on, so
			// that the command it shows has its global flags.
			out = append(out, a)
			i++
			continue
		}
		var next *cli.Command
		for _, c := range cmds {
			if c.HasName(a) {
				next = c
			}
		}
		if next == nil {
			break
		}
		withGlobalFlags(next)
		out = append(out, a)
		i++
		flags, cmds = next.Flags, next.Subcommands
		if len(cmds) == 0 {
			break
		}
	}
	var fl, pos []string
	for ; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i:]...)
			break
		}
		if !isFlagArg(a) {
			pos = append(pos, a)
			continue
		}
		fl = append(fl, a)
		if takesValue(flags, a) && i+1 < len(args) {
			fl = append(fl, args[i+1])
			i++
		}
	}
	return append(append(out, fl...), pos...)
}

func isFlagArg(a string) bool { return len(a) > 1 && a[0] == '-' }

// takesValue reports whether a flag argument without "=value" consumes the
// next argument.
func takesValue(flags []cli.Flag, a string) bool {
	name := strings.TrimLeft(a, "-")
	if strings.Contains(name, "=") {
		return false
	}
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				_, isBool := f.(*cli.BoolFlag)
				return !isBool
			}
		}
	}
	return false
}

// withGlobalFlags lets global flags also follow a command name
// ("fbadmin fs get PATH -o json"), as users expect. Only the commands named
// on the command line get their copies (interspersed adds them as it walks
// the line): copies for all the commands cost every start about 40 page
// faults (1.5 ms) for nothing.
func withGlobalFlags(cmd *cli.Command) {
	for _, f := range cmd.Flags {
		if slices.Contains(f.Names(), "project") {
			return // already there
		}
	}
	cmd.Flags = append(cmd.Flags, commandGlobalFlags()...)
}

// withAllGlobalFlags gives every command its copies of the global flags,
// for what lists them all (the fish completion script).
func withAllGlobalFlags(cmds []*cli.Command) {
	for _, c := range cmds {
		withGlobalFlags(c)
		withAllGlobalFlags(c.Subcommands)
	}
}

// setupCommand gives cmd and its sub-commands their usage-error handler
// and groups an action that shows their help.
func setupCommand(cmd *cli.Command) {
	if cmd.OnUsageError == nil {
		cmd.OnUsageError = func(c *cli.Context, err error, _ bool) error {
			return usagef("%v (hint: run 'fbadmin %s --help')", err, c.Command.FullName())
		}
	}
	for _, sub := range cmd.Subcommands {
		setupCommand(sub)
	}
	if len(cmd.Subcommands) > 0 && cmd.Action == nil {
		// A group without a sub-command: show its help, exit 2.
		cmd.Action = func(c *cli.Context) error {
			if c.Args().Present() {
				return usagef("unknown command %q: run 'fbadmin %s --help' for the list", c.Args().First(), cmd.Name)
			}
			cli.ShowSubcommandHelp(c)
			return usagef("%s needs a sub-command", cmd.Name)
		}
	}
}

// commandGlobalFlags are the copies of the global flags that commands take.
// They read no environment variables: those are the app-level flags' job, so
// that "fbadmin --project p fs get" is not overridden by FBADMIN_PROJECT
// through the command's copy (see flagValue).
func commandGlobalFlags() []cli.Flag {
	flags := globalFlags()
	for _, f := range flags {
		switch f := f.(type) {
		case *cli.StringFlag:
			f.EnvVars = nil
		case *cli.BoolFlag:
			f.EnvVars = nil
		case *cli.DurationFlag:
			f.EnvVars = nil
		}
	}
	return flags
}

// flagValue returns a global flag's value wherever it was given: before the
// command ("fbadmin -o json fs get") or after it ("fbadmin fs get -o json").
// The innermost explicit setting wins; otherwise the innermost value
// (default or environment variable) is used.
func flagValue[T any](c *cli.Context, name string, get func(*cli.Context, string) T) T {
	for _, ctx := range c.Lineage() {
		if ctx.Command == nil && ctx.App == nil {
			continue
		}
		set := false
		if fs := ctxFlagSetHas(ctx, name); fs {
			set = true
		}
		if set {
			return get(ctx, name)
		}
	}
	// Not given on any command line: the app-level flag holds the
	// environment variable or the default.
	root := c
	for _, ctx := range c.Lineage() {
		if ctx.App != nil {
			root = ctx
		}
	}
	return get(root, name)
}

// ctxFlagSetHas reports whether name (or an alias) was given on this
// context's own command line.
func ctxFlagSetHas(ctx *cli.Context, name string) bool {
	names := []string{name}
	for _, f := range globalFlags() {
		if f.Names()[0] == name {
			names = f.Names()
		}
	}
	for _, n := range ctx.LocalFlagNames() {
		for _, want := range names {
			if n == want {
				return true
			}
		}
	}
	return false
}
