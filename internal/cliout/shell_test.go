package cliout

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

func TestShellQuote(t *testing.T) {
	cases := []struct{ in, want string }{
		{"big.ndjson", "big.ndjson"},
		{"users/alice", "users/alice"},
		{"demo-big", "demo-big"},
		{"", "''"},
		{"my file.ndjson", "'my file.ndjson'"},
		{"it's", `'it'\''s'`},
		{"(default)", "'(default)'"},
		{"$HOME", "'$HOME'"},
		{"a;b", "'a;b'"},
		{"~/x", "'~/x'"},
		{"*", "'*'"},
	}
	for _, c := range cases {
		if got := ShellQuote(c.in); got != c.want {
			t.Errorf("ShellQuote(%q) = %s, want %s", c.in, got, c.want)
		}
	}
}

// TestShellJoinRoundTrip runs the joined arguments through sh: it must
// see exactly the original arguments.
func TestShellJoinRoundTrip(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true: sh is not installed")
		}
		t.Skip("no sh")
	}
	args := []string{"plain", "two words", "it's", `back\slash`, `"dq"`, "$HOME", "`id`", "a;b|c&d", "*", "~", "tab\there", "new\nline", "", "(default)", "!bang", "é", "#hash", "x=y", "{a,b}", "[ab]"}
	out, err := exec.Command(sh, "-c", `f() { for a in "$@"; do printf '%s\0' "$a"; done; }; f `+ShellJoin(args...)).Output()
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
	if !slices.Equal(got, args) {
		t.Errorf("sh saw %q, want %q", got, args)
	}
}
