package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestListenCheck(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte(`project: demo-x
state_dir: `+dir+`/state
sinks:
  - {name: out, stdout: {}}
listeners:
  - {name: l, collection: c, sinks: [out]}
`), 0o600)
	var out bytes.Buffer
	if err := runListen(context.Background(), listenOptions{config: good, check: true}, &out, nil); err != nil {
		t.Fatalf("--check on a good config: %v", err)
	}
	if !strings.Contains(out.String(), "is valid: 1 listener(s), 1 sink(s)") {
		t.Errorf("--check printed %q", out.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "state")); err == nil {
		t.Errorf("--check created the state directory")
	}

	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("project: demo-x\nstate_dir: /tmp/x\nsinks:\n  - {name: out, stdout: {}, colour: red}\n"), 0o600)
	err := runListen(context.Background(), listenOptions{config: bad, check: true}, &out, nil)
	if err == nil || !strings.Contains(err.Error(), `unknown field "colour"`) || !strings.Contains(err.Error(), "[4:") {
		t.Fatalf("--check on a bad config = %v, want the unknown key and its line", err)
	}
	if code := exitCode(context.Background(), err); code != exitUsage {
		t.Errorf("exit code %d for a bad config, want %d", code, exitUsage)
	}
}
