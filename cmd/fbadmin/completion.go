package main

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

func completionCommand() *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print a shell completion script",
		ArgsUsage: "bash|zsh|fish",
		Description: `Examples:
   source <(fbadmin completion bash)
   fbadmin completion zsh > "${fpath[1]}/_fbadmin"
   fbadmin completion fish > ~/.config/fish/completions/fbadmin.fish`,
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef("completion needs a shell: bash, zsh or fish")
			}
			switch sh := c.Args().First(); sh {
			case "bash":
				_, err := fmt.Fprint(stdout(c), bashCompletion)
				return err
			case "zsh":
				_, err := fmt.Fprint(stdout(c), zshCompletion)
				return err
			case "fish":
				withAllGlobalFlags(c.App.Commands)
				s, err := c.App.ToFishCompletion()
				if err != nil {
					return err
				}
				_, err = fmt.Fprint(stdout(c), s)
				return err
			default:
				return usagef("unknown shell %q: use bash, zsh or fish", sh)
			}
		},
	}
}

// manCommand prints the manual of every command, generated from the same
// command tree as --help and the completions (urfave/cli's ToMan and
// ToMarkdown): "fbadmin man > fbadmin.1; man ./fbadmin.1".
func manCommand() *cli.Command {
	return &cli.Command{
		Name:   "man",
		Usage:  "print fbadmin's man page (roff), or its Markdown with --markdown",
		Hidden: true,
		Flags:  []cli.Flag{&cli.BoolFlag{Name: "markdown", Usage: "print Markdown instead of roff"}},
		Description: `Examples:
   fbadmin man > fbadmin.1 && man ./fbadmin.1
   fbadmin man --markdown > fbadmin.md`,
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("man takes no arguments")
			}
			s, err := c.App.ToManWithSection(1)
			if c.Bool("markdown") {
				s, err = c.App.ToMarkdown()
			}
			if err != nil {
				return err
			}
			_, err = fmt.Fprint(stdout(c), s)
			return err
		},
	}
}

// The bash and zsh scripts ask the binary itself for candidates through
// urfave/cli's --generate-bash-completion protocol: sub-commands, or the
// flags of the command line's command when the word being completed starts
// with a dash (interspersed keeps that word and the protocol's flag last).
const bashCompletion = `# bash completion for fbadmin
_fbadmin_complete() {
  local cur opts
  COMPREPLY=()
  cur="${COMP_WORDS[COMP_CWORD]}"
  if [[ "$cur" == "--" ]]; then
    # urfave/cli turns completion off after a bare --: ask for every flag
    opts=$("${COMP_WORDS[@]:0:$COMP_CWORD}" - --generate-bash-completion 2>/dev/null)
  elif [[ "$cur" == "-"* ]]; then
    opts=$("${COMP_WORDS[@]:0:$COMP_CWORD}" "${cur}" --generate-bash-completion 2>/dev/null)
  else
    opts=$("${COMP_WORDS[@]:0:$COMP_CWORD}" --generate-bash-completion 2>/dev/null)
  fi
  COMPREPLY=($(compgen -W "${opts}" -- "${cur}"))
  return 0
}
complete -o bashdefault -o default -F _fbadmin_complete fbadmin
`

const zshCompletion = `#compdef fbadmin
_fbadmin() {
  local -a opts
  local cur="${words[-1]}"
  if [[ "$cur" == "--" ]]; then
    opts=("${(@f)$(${words[@]:0:#words[@]-1} - --generate-bash-completion 2>/dev/null)}")
  elif [[ "$cur" == "-"* ]]; then
    opts=("${(@f)$(${words[@]:0:#words[@]-1} ${cur} --generate-bash-completion 2>/dev/null)}")
  else
    opts=("${(@f)$(${words[@]:0:#words[@]-1} --generate-bash-completion 2>/dev/null)}")
  fi
  if [[ "${opts[1]}" != "" ]]; then
    _describe 'values' opts
  else
    _files
  fi
}
compdef _fbadmin fbadmin
`
