package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/fbadmin/fbadmin/internal/errs"
)

// Every command documents itself with examples.
func TestHelpHasExamples(t *testing.T) {
	var walk func(prefix string, cmds []*cli.Command)
	walk = func(prefix string, cmds []*cli.Command) {
		for _, c := range cmds {
			name := prefix + " " + c.Name
			if len(c.Subcommands) > 0 {
				walk(name, c.Subcommands)
				continue
			}
			if i := strings.Index(c.Description, "Examples:\n   "); i < 0 || !strings.Contains(c.Description[i:], " "+c.Name) {
				t.Errorf("%s: the description has no examples", name)
			}
		}
	}
	walk("fbadmin", newApp().Commands)
}

func TestInterspersed(t *testing.T) {
	app := newApp()
	cases := []struct{ in, want string }{
		{"fbadmin fs set users/a --data {} -o json", "fbadmin fs set --data {} -o json users/a"},
		{"fbadmin -o json fs get a/b c/d -v", "fbadmin -o json fs get -v a/b c/d"},
		{"fbadmin fs delete a/b --recursive --yes", "fbadmin fs delete --recursive --yes a/b"},
		{"fbadmin fs query users --where age > -1 --all", "fbadmin fs query --where age > -1 --all users"},
		{"fbadmin fs import - --mode=set", "fbadmin fs import --mode=set -"},
		{"fbadmin fs get -- -weird/id --x", "fbadmin fs get -- -weird/id --x"},
		{"fbadmin version", "fbadmin version"},
	}
	for _, c := range cases {
		in := strings.Fields(c.in)
		if c.in == "fbadmin fs query users --where age > -1 --all" {
			in = []string{"fbadmin", "fs", "query", "users", "--where", "age > -1", "--all"}
		}
		got := strings.Join(interspersed(app, in), " ")
		if got != c.want {
			t.Errorf("interspersed(%q)\n got %q\nwant %q", c.in, got, c.want)
		}
	}
}

func TestParseCondition(t *testing.T) {
	cases := []struct {
		in      string
		field   string
		op      string
		value   string
		wantErr string
	}{
		{"age >= 18", "age", ">=", "18", ""},
		{"name == alice", "name", "==", "alice", ""},
		{`name == "18"`, "name", "==", "18", ""},
		{"score < 1.5", "score", "<", "1.5", ""},
		{`tags array-contains-any ["a", "b"]`, "tags", "array-contains-any", "[a b]", ""},
		{"`odd field` != null", "odd field", "!=", "<nil>", ""},
		{"a.b in [1]", "a.b", "in", "[1]", ""},
		{"age => 3", "", "", "", "unknown operator"},
		{"age in 3", "", "", "", "needs a JSON array"},
		{"age", "", "", "", "three parts"},
		{"age == [1,", "", "", "", "value:"},
		{"age == -x", "", "", "", "value:"},
	}
	for _, c := range cases {
		got, err := parseCondition("where", c.in)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("parseCondition(%q): got %v, want an error with %q", c.in, err, c.wantErr)
			}
			continue
		}
		if err != nil || got.Field != c.field || got.Op != c.op || fmt.Sprint(got.Value) != c.value {
			t.Errorf("parseCondition(%q) = %+v, %v; want %s %s %s", c.in, got, err, c.field, c.op, c.value)
		}
	}
}

func TestExitCode(t *testing.T) {
	ctx := context.Background()
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	cases := []struct {
		ctx  context.Context
		err  error
		want int
	}{
		{ctx, nil, exitOK},
		{ctx, errors.New("boom"), exitError},
		{ctx, usagef("bad"), exitUsage},
		{ctx, errs.New(errs.ErrInvalid, "x", "", "bad"), exitUsage},
		{ctx, partialError{errors.New("some")}, exitPartial},
		{ctx, errs.New(errs.ErrNotFound, "get", "a/b", "gone"), exitNotFound},
		{ctx, errs.New(errs.ErrAlreadyExists, "create", "a/b", "there"), exitConflict},
		{ctx, errs.New(errs.ErrConflict, "update", "a/b", "stale"), exitConflict},
		{ctx, interruptedError{"stopped"}, exitInterrupted},
		{cancelled, errors.New("anything"), exitInterrupted},
	}
	for _, c := range cases {
		if got := exitCode(c.ctx, c.err); got != c.want {
			t.Errorf("exitCode(%v) = %d, want %d", c.err, got, c.want)
		}
	}
}
