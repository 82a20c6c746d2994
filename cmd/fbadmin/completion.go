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

// The bash and zsh scripts ask the binary itself for candidates through
// urfave/cli's --generate-bash-completion protocol.
const bashCompletion = `# bash completion for fbadmin
_fbadmin_complete() {
  local cur opts
  COMPREPLY=()
  cur="${COMP_WORDS[COMP_CWORD]}"
  if [[ "$cur" == "-"* ]]; then
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
  if [[ "$cur" == "-"* ]]; then
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
