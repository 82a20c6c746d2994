package main

import (
	"fmt"
	"io"
	"os"

	"github.com/urfave/cli/v2"
)

func newApp() *cli.App {
	app := &cli.App{
		Name:  "fbadmin",
		Usage: "administer Firebase projects: Firestore data and Auth users",
		Description: `fbadmin inspects, fixes, migrates, backs up and streams Firestore data and
manages Firebase Auth users, against production or the local emulator suite.

Data goes to stdout (table on a terminal, JSON otherwise; -o to choose); logs,
progress and errors go to stderr. Exit codes: 0 ok, 1 error, 2 usage or bad
input, 3 partial failure, 4 not found, 5 conflict, 6 denied by security rules
(--as), 7 rules check mismatch, 130 interrupted.

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
		fmt.Fprintf(c.App.ErrWriter, "fbadmin: unknown command %q%s (hint: run 'fbadmin --help' for the list)\n",
			name, didYouMean(name, commandNames(c.App.Commands)))
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
		rulesCommand(),
		migrateCommand(),
		mcpCommand(),
		consoleCommand(),
		versionCommand(),
		completionCommand(),
		manCommand(),
	}
	return cmds
}

const globalCategory = "Global"

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
		&cli.StringFlag{Name: "as", Category: globalCategory, Usage: "act as this end user so that security rules decide: a session `NAME` (auth login) or a UID (fs get|query|count|set|create|update|delete|watch, rules check)"},
		&cli.StringFlag{Name: "api-key", Category: globalCategory, Usage: "the project's Web API `KEY`, for sign-in and --as in production", EnvVars: []string{"FIREBASE_API_KEY"}},
	}
}

// usageError marks bad flags or arguments (exit code 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

func stdout(c *cli.Context) io.Writer { return c.App.Writer }
