package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fbadmin/fbadmin/internal/cliout"
)

// demoFunc runs a function of scripts/demo.sh (sourced, which defines its
// functions and runs nothing) through bash and returns its stdout.
func demoFunc(t *testing.T, fn string, args ...string) string {
	t.Helper()
	bash, err := exec.LookPath("bash")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true: bash is not installed")
		}
		t.Skip("bash is not installed")
	}
	cmd := exec.Command(bash, append([]string{"-c", `source "$1"; shift; ` + fn + ` "$@"`, "demo_test", "../../scripts/demo.sh"}, args...)...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %q: %v", fn, args, err)
	}
	return string(out)
}

// The demo echoes the commands it runs quoted as fbadmin quotes the
// commands it prints, so that they paste: bash reads them back as the same
// arguments.
func TestDemoEchoesPasteableCommands(t *testing.T) {
	for _, args := range [][]string{
		{"fs", "get", "cities/paris", "-o", "json"},
		{"fs", "query", "cities", "--where", "population > 1000000", "--order-by", "population:desc", "--select", "name,population"},
		{"fs", "count", "cities", "--where", `country == "JP"`, "--sum", "population"},
		{"fs", "set", "users/alice", "--data", `{"name":"Alice","home":{"$ref":"projects/p/databases/(default)/documents/cities/paris"}}`},
		{"fs", "import", "it's big.ndjson", "--mode", "set", ""},
	} {
		got := strings.TrimSuffix(demoFunc(t, "shell_join", args...), "\n")
		if want := cliout.ShellJoin(args...); got != want {
			t.Errorf("shell_join %q\n got %s\nwant %s", args, got, want)
		}
		back := strings.Split(strings.TrimSuffix(demoFunc(t, `eval "set -- $1"; printf '%s\0' "$@" #`, got), "\x00"), "\x00")
		if !slices.Equal(back, args) {
			t.Errorf("bash reads %s back as %q, want %q", got, back, args)
		}
	}
}

// The demo's "first:" preview of an export is its first record, whole.
func TestDemoFirstRecord(t *testing.T) {
	first := `{"path":"cities/paris","data":{"name":"Paris","note":"` + strings.Repeat("x", 300) + `"}}`
	file := filepath.Join(t.TempDir(), "dump.ndjson")
	if err := os.WriteFile(file, []byte(first+"\n"+`{"path":"cities/tokyo","data":{}}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := demoFunc(t, "first_record", file); got != first+"\n" {
		t.Errorf("first_record: got %q, want %q", got, first+"\n")
	}
}
