package main

import "github.com/urfave/cli/v2"

func fsWatchCommand() *cli.Command {
	return &cli.Command{Name: "watch", Usage: "print change events as NDJSON until interrupted", Action: func(c *cli.Context) error { return usagef("not yet") }}
}
