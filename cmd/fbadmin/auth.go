package main

import "github.com/urfave/cli/v2"

func authCommand() *cli.Command {
	return &cli.Command{Name: "auth", Usage: "manage Firebase Auth users and tokens", Subcommands: []*cli.Command{}}
}
