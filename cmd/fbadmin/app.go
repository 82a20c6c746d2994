package main

import (
	"fmt"
	"io"
	"os"

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

Examples:
   fbadmin version
   fbadmin version -o json`,
		Version:              version,
		HideVersion:          true,
		EnableBashCompletion: true,
		Writer:               os.Stdout,
		ErrWriter:            os.Stderr,
		Flags:                globalFlags(),
		Commands: []*cli.Command{
			versionCommand(),
		},
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
		addGlobalFlags(cmd)
	}
	return app
}

// addGlobalFlags lets global flags also follow a command name
// ("fbadmin fs get PATH -o json"), as users expect.
func addGlobalFlags(cmd *cli.Command) {
	cmd.Flags = append(cmd.Flags, globalFlags()...)
	for _, sub := range cmd.Subcommands {
		addGlobalFlags(sub)
	}
}

func globalFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "output format: json, ndjson, table or yaml (default: table on a terminal, json otherwise)", EnvVars: []string{"FBADMIN_OUTPUT"}},
		&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "log every request and its latency to stderr (secrets redacted)"},
		&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only data and errors"},
	}
}

// usageError marks bad flags or arguments (exit code 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

func stdout(c *cli.Context) io.Writer { return c.App.Writer }
