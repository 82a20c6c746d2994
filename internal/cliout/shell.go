package cliout

import "strings"

// ShellQuote quotes s for a POSIX shell (sh, bash, zsh): unchanged when it
// holds only characters no shell treats specially, else in single quotes,
// an embedded ' written as '\”. Commands that fbadmin prints for the user
// to run (resume hints) are built from it, so they can be pasted as they
// are.
func ShellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool { return !shellSafe(r) }) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func shellSafe(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-:=@,+%", r)
}

// ShellJoin quotes each argument with [ShellQuote] and joins them with
// spaces.
func ShellJoin(args ...string) string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = ShellQuote(a)
	}
	return strings.Join(out, " ")
}
