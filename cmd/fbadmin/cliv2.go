package main

import (
	"fmt"
	"os"
	"regexp"
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
	if n := len(args) - 1; args[n] == completionFlag {
		// Shell completion: urfave/cli looks for its flag at the very
		// end, and for the word being completed just before it (in
		// os.Args), so both stay where they are.
		if n >= 2 && isFlagArg(args[n-1]) {
			return append(interspersed(app, args[:n-1]), args[n-1:]...)
		}
		return append(interspersed(app, args[:n]), args[n])
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

// completionFlag is the last argument of urfave/cli's shell completion
// protocol: the shell scripts of completion.go run
// "fbadmin WORDS... [PARTIAL-FLAG] --generate-bash-completion".
const completionFlag = "--generate-bash-completion"

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
	if before := cmd.Before; len(cmd.Subcommands) == 0 {
		cmd.Before = func(c *cli.Context) error {
			if err := checkNotNegative(c); err != nil {
				return err
			}
			if before != nil {
				return before(c)
			}
			return nil
		}
	}
	if cmd.OnUsageError == nil {
		cmd.OnUsageError = func(c *cli.Context, err error, _ bool) error {
			return flagUsageError(c.Command, err, os.Args[1:])
		}
	}
	for _, sub := range cmd.Subcommands {
		setupCommand(sub)
	}
	if len(cmd.Subcommands) > 0 && cmd.Action == nil {
		// A group without a sub-command: show its help, exit 2.
		cmd.Action = func(c *cli.Context) error {
			path := commandPath(c)
			if c.Args().Present() {
				name := c.Args().First()
				return usagef("unknown command %q%s (hint: run '%s --help' for the list)",
					name, didYouMean(name, commandNames(cmd.Subcommands)), path)
			}
			cli.ShowSubcommandHelp(c)
			return usagef("%s needs a sub-command (hint: run '%s --help' for the list)", strings.TrimPrefix(path, "fbadmin "), path)
		}
	}
}

// commandPath is the command line's path to c's command, program name
// included: "fbadmin fs get". urfave/cli v2's FullName gives only the last
// name when a flag error is reported.
func commandPath(c *cli.Context) string {
	var names []string
	for _, ctx := range c.Lineage() {
		if ctx.Command != nil && ctx.Command.Name != "" && ctx.Command.Name != ctx.App.Name {
			names = append(names, ctx.Command.Name)
		}
	}
	slices.Reverse(names)
	return strings.Join(append([]string{"fbadmin"}, names...), " ")
}

// flagUsageError turns a flag parsing error of cmd into a usage error that
// names the flag as the user typed it (urfave/cli v2 reports it as the flag
// package does, with one dash: "-frobnicate"), suggests a close flag name,
// and points at the full command's help.
func flagUsageError(cmd *cli.Command, err error, args []string) error {
	msg := err.Error()
	var name string
	msg = flagInMessage.ReplaceAllStringFunc(msg, func(m string) string {
		sub := flagInMessage.FindStringSubmatch(m)
		name = sub[2]
		return sub[1] + flagAsTyped(name, args)
	})
	hint := ""
	if strings.HasPrefix(msg, "flag provided but not defined") && name != "" {
		var names []string
		for _, f := range cmd.Flags {
			names = append(names, f.Names()...)
		}
		if s := closest(name, names); s != "" {
			hint = fmt.Sprintf(": did you mean %s?", dashes(s)+s)
		}
	}
	path := cmd.HelpName
	if path == "" {
		path = "fbadmin " + cmd.Name
	}
	return usagef("%s%s (hint: run '%s --help')", msg, hint, path)
}

// checkNotNegative refuses a negative value of any numeric flag of the
// command line (counts, sizes, limits, durations: --concurrency, --limit,
// --page-size, --parallel, --timeout...), given before or after the
// command or through its environment variable; the flag package takes "-3"
// as a valid int.
func checkNotNegative(c *cli.Context) error {
	for _, ctx := range c.Lineage() {
		if ctx.Command == nil {
			continue
		}
		for _, f := range ctx.Command.Flags {
			name := f.Names()[0]
			if !ctx.IsSet(name) {
				continue
			}
			var v any
			switch f.(type) {
			case *cli.IntFlag:
				if n := ctx.Int(name); n < 0 {
					v = n
				}
			case *cli.Int64Flag:
				if n := ctx.Int64(name); n < 0 {
					v = n
				}
			case *cli.Float64Flag:
				if n := ctx.Float64(name); n < 0 {
					v = n
				}
			case *cli.DurationFlag:
				if n := ctx.Duration(name); n < 0 {
					v = n
				}
			}
			if v != nil {
				return usagef("%s %v: must not be negative (hint: run '%s --help')", flagAsTyped(name, os.Args[1:]), v, commandPath(c))
			}
		}
	}
	return nil
}

// flagInMessage finds the flag in the flag package's messages: "flag
// provided but not defined: -x", "invalid value "v" for flag -x: ...",
// "invalid boolean value "v" for -x: ...", "flag needs an argument: -x".
var flagInMessage = regexp.MustCompile(`(defined: |for flag |for |argument: )-([A-Za-z0-9][A-Za-z0-9_.-]*)`)

// flagAsTyped returns the flag name with the dashes the user typed (found in
// args), or the usual ones ("--name", "-n").
func flagAsTyped(name string, args []string) string {
	for _, a := range args {
		if a == "--" {
			break
		}
		for _, d := range []string{"--", "-"} {
			if a == d+name || strings.HasPrefix(a, d+name+"=") {
				return d + name
			}
		}
	}
	return dashes(name) + name
}

func dashes(name string) string {
	if len(name) == 1 {
		return "-"
	}
	return "--"
}

func commandNames(cmds []*cli.Command) []string {
	var names []string
	for _, c := range cmds {
		if !c.Hidden {
			names = append(names, c.Names()...)
		}
	}
	return names
}

// didYouMean returns `: did you mean "x"?` for the candidate closest to
// typed, or "" when none is close.
func didYouMean(typed string, candidates []string) string {
	if s := closest(typed, candidates); s != "" {
		return fmt.Sprintf(": did you mean %q?", s)
	}
	return ""
}

// closest returns the candidate nearest to typed by edit distance (an
// adjacent transposition counts as one edit), if it is within a third of
// its length (at least one edit); "" otherwise.
func closest(typed string, candidates []string) string {
	best, bestD := "", 0
	for _, c := range candidates {
		d := editDistance(typed, c)
		if d > max(1, len(c)/3) {
			continue
		}
		if best == "" || d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the optimal string alignment distance of a and b:
// insertions, deletions, substitutions and adjacent transpositions.
func editDistance(a, b string) int {
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
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
