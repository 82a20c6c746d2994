package main

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/urfave/cli/v2"

	"github.com/fbadmin/fbadmin/listeners/daemon"
	"github.com/fbadmin/fbadmin/server"
)

// TestDeployFiles keeps deploy/ true: every YAML document parses; each
// Kubernetes and Cloud Run object has the fields its kind needs (an
// Indexed Job's completions match its --shards); the fbadmin command line
// of every container and systemd unit names a real command and only flags
// that command (or the global ones) has; the listen and serve configs
// embedded in ConfigMaps pass the daemons' own strict parsers.
func TestDeployFiles(t *testing.T) {
	// The secrets the configs name come from a Secret in the cluster.
	t.Setenv("WAREHOUSE_DSN", "postgres://fbadmin@127.0.0.1:5432/warehouse")
	root := filepath.Join("..", "..", "deploy")
	var checked int
	err := filepath.WalkDir(root, func(path string, de fs.DirEntry, err error) error {
		if err != nil || de.IsDir() {
			return err
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		switch {
		case strings.HasSuffix(path, ".yaml"):
			for i, doc := range bytes.Split(src, []byte("\n---\n")) {
				var obj map[string]any
				if err := yaml.Unmarshal(doc, &obj); err != nil {
					t.Errorf("%s (document %d): %v", path, i+1, err)
					continue
				}
				checkObject(t, path, obj)
				checked++
			}
		case strings.HasSuffix(path, ".service"):
			var exec string
			for _, line := range strings.Split(string(src), "\n") {
				if v, ok := strings.CutPrefix(line, "ExecStart="); ok {
					exec = v
				}
			}
			args := strings.Fields(exec)
			if len(args) < 2 || filepath.Base(args[0]) != "fbadmin" {
				t.Errorf("%s: ExecStart %q does not run fbadmin", path, exec)
				return nil
			}
			checkArgs(t, path, args[1:])
			checked++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 8 {
		t.Fatalf("checked %d deploy objects, want at least 8 (is deploy/ there?)", checked)
	}
}

func checkObject(t *testing.T, path string, obj map[string]any) {
	t.Helper()
	get := func(m any, keys ...string) any {
		for _, k := range keys {
			mm, ok := m.(map[string]any)
			if !ok {
				return nil
			}
			m = mm[k]
		}
		return m
	}
	kind, _ := obj["kind"].(string)
	if obj["apiVersion"] == nil || kind == "" || get(obj, "metadata", "name") == nil {
		t.Errorf("%s: an object without apiVersion, kind or metadata.name", path)
		return
	}
	var pod any
	switch {
	case kind == "Job" && obj["apiVersion"] == "batch/v1":
		pod = get(obj, "spec", "template", "spec")
		if get(obj, "spec", "completionMode") != "Indexed" {
			t.Errorf("%s: a Job of fbadmin shards must be Indexed", path)
		}
	case kind == "Job": // Cloud Run
		pod = get(obj, "spec", "template", "spec", "template", "spec")
		if get(obj, "spec", "template", "spec", "taskCount") == nil {
			t.Errorf("%s: a Cloud Run job without taskCount", path)
		}
	case kind == "Deployment":
		pod = get(obj, "spec", "template", "spec")
		labels := get(obj, "spec", "template", "metadata", "labels")
		sel := get(obj, "spec", "selector", "matchLabels")
		if labels == nil || sel == nil {
			t.Errorf("%s: a Deployment without selector and pod labels", path)
		}
	case kind == "ConfigMap":
		for name, v := range get(obj, "data").(map[string]any) {
			src := []byte(v.(string))
			var err error
			switch name {
			case "listen.yaml":
				_, err = daemon.ParseConfig(name, src)
			case "serve.yaml":
				_, err = server.ParseConfig(name, src)
			}
			if err != nil {
				t.Errorf("%s: ConfigMap %s: %v", path, name, err)
			}
		}
		return
	case kind == "Service" || kind == "PersistentVolumeClaim":
		return
	default:
		t.Errorf("%s: unexpected kind %s", path, kind)
		return
	}
	containers, _ := get(pod, "containers").([]any)
	if len(containers) == 0 {
		t.Errorf("%s: %s without containers", path, kind)
	}
	for _, c := range containers {
		if get(c, "image") == nil {
			t.Errorf("%s: a container without image", path)
		}
		raw, _ := get(c, "args").([]any)
		var args []string
		for _, a := range raw {
			args = append(args, strings.TrimSpace(strings.Trim(yamlString(a), `"`)))
		}
		checkArgs(t, path, args)
		if kind == "Job" && obj["apiVersion"] == "batch/v1" {
			for i, a := range args {
				if a == "--shards" && i+1 < len(args) && args[i+1] != yamlString(get(obj, "spec", "completions")) {
					t.Errorf("%s: --shards %s, but the Job has %v completions", path, args[i+1], get(obj, "spec", "completions"))
				}
			}
		}
	}
}

func yamlString(v any) string {
	b, _ := yaml.Marshal(v)
	return strings.TrimSpace(string(b))
}

// checkArgs resolves an fbadmin command line against the CLI's commands
// and flags.
func checkArgs(t *testing.T, path string, args []string) {
	t.Helper()
	app := newApp()
	cmds := app.Commands
	var cmd *cli.Command
	i := 0
	for ; i < len(args) && !strings.HasPrefix(args[i], "-"); i++ {
		var next *cli.Command
		for _, c := range cmds {
			if c.HasName(args[i]) {
				next = c
			}
		}
		if next == nil {
			break // an argument
		}
		cmd, cmds = next, next.Subcommands
	}
	if cmd == nil {
		t.Errorf("%s: %q is not an fbadmin command", path, strings.Join(args, " "))
		return
	}
	known := map[string]bool{}
	for _, f := range append(cmd.Flags, app.Flags...) {
		for _, n := range f.Names() {
			known[n] = true
		}
	}
	for _, a := range args[i:] {
		if name, ok := strings.CutPrefix(a, "--"); ok {
			name, _, _ = strings.Cut(name, "=")
			if !known[name] {
				t.Errorf("%s: fbadmin %s has no flag --%s", path, cmd.Name, name)
			}
		}
	}
}
