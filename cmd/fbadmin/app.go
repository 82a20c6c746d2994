package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
)

// Set by the linker: -ldflags "-X main.version=v1.2.3".
var version = "dev"

func newApp() *cli.App {
	app := &cli.App{
		Name:  "fbadmin",
		Usage: "administer Firebase projects: Firestore data and Auth users",
		Description: `fbadmin inspects, fixes, migrates, backs up and streams Firestore data and
manages Firebase Auth users, against production or the local emulator suite.

Data goes to stdout (table on a terminal, JSON otherwise; -o to choose); logs,
progress and errors go to stderr. Exit codes: 0 ok, 1 error, 2 usage or bad
input, 3 partial failure, 4 not found, 5 conflict, 130 interrupted.

Examples:
   fbadmin --emulator --project demo-app fs get users/alice
   fbadmin fs query users --where 'age >= 18' --order-by age:desc --limit 10 -o table
   fbadmin fs export --out backup.ndjson && fbadmin fs import backup.ndjson --mode set
   fbadmin auth users list -o ndjson
   fbadmin version -o json`,
		Version:              version,
		HideVersion:          true,
		EnableBashCompletion: true,
		// --where values hold commas (in [1,2]); --select splits its own.
		DisableSliceFlagSeparator: true,
		Writer:                    os.Stdout,
		ErrWriter:                 os.Stderr,
		Flags:                     globalFlags(),
		Commands:                  commands(),
		OnUsageError: func(c *cli.Context, err error, isSubcommand bool) error {
			return usageError{err}
		},
		ExitErrHandler: func(*cli.Context, error) {}, // main maps errors to exit codes
	}
	app.CommandNotFound = func(c *cli.Context, name string) {
		fmt.Fprintf(c.App.ErrWriter, "fbadmin: unknown command %q: run 'fbadmin --help' for the list\n", name)
		os.Exit(exitUsage)
	}
	for _, cmd := range app.Commands {
		setupCommand(cmd)
	}
	return app
}

// commands lists the top-level commands; each group lives in its own file.
func commands() []*cli.Command {
	cmds := []*cli.Command{
		fsCommand(),
		authCommand(),
		listenCommand(),
		serveCommand(),
		versionCommand(),
		completionCommand(),
	}
	return cmds
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

const globalCategory = "Global"

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

func globalFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "project", Category: globalCategory, Usage: "Google Cloud / Firebase project ID", EnvVars: []string{"FBADMIN_PROJECT", "GOOGLE_CLOUD_PROJECT"}},
		&cli.StringFlag{Name: "database", Category: globalCategory, Usage: "Firestore database ID", Value: "(default)", EnvVars: []string{"FBADMIN_DATABASE"}},
		&cli.StringFlag{Name: "credentials", Category: globalCategory, Usage: "service account key `FILE` (default: application default credentials)", EnvVars: []string{"GOOGLE_APPLICATION_CREDENTIALS"}},
		&cli.BoolFlag{Name: "emulator", Category: globalCategory, Usage: "use the emulators: FIRESTORE_EMULATOR_HOST / FIREBASE_AUTH_EMULATOR_HOST, default 127.0.0.1:8080 / 127.0.0.1:9099", EnvVars: []string{"FBADMIN_EMULATOR"}},
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Category: globalCategory, Usage: "output `FORMAT`: json, ndjson, table or yaml (default: table on a terminal, json otherwise)", EnvVars: []string{"FBADMIN_OUTPUT"}},
		&cli.DurationFlag{Name: "timeout", Category: globalCategory, Usage: "give up after this long (0: no limit)", EnvVars: []string{"FBADMIN_TIMEOUT"}},
		&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Category: globalCategory, Usage: "log every request and its latency to stderr (secrets redacted)"},
		&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Category: globalCategory, Usage: "print only data and errors (no progress, no summaries)"},
		&cli.StringFlag{Name: "tenant", Category: globalCategory, Usage: "Auth tenant ID (auth commands)", EnvVars: []string{"FBADMIN_TENANT"}},
	}
}

// usageError marks bad flags or arguments (exit code 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

func stdout(c *cli.Context) io.Writer { return c.App.Writer }

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
