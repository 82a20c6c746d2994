package main

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
)

// TestReleaseConfigInStep keeps .goreleaser.yaml from rotting without
// running GoReleaser in CI: its build is the one scripts/test.sh
// cross-builds and scripts/release-check.sh reproduces (same main package,
// static, the same six platforms), and its -X flags name variables that
// version.go declares.
func TestReleaseConfigInStep(t *testing.T) {
	src, err := os.ReadFile("../../.goreleaser.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Version int `yaml:"version"`
		Builds  []struct {
			Main    string   `yaml:"main"`
			Binary  string   `yaml:"binary"`
			Env     []string `yaml:"env"`
			Goos    []string `yaml:"goos"`
			Goarch  []string `yaml:"goarch"`
			Flags   []string `yaml:"flags"`
			Ldflags []string `yaml:"ldflags"`
		} `yaml:"builds"`
	}
	if err := yaml.Unmarshal(src, &cfg); err != nil {
		t.Fatalf(".goreleaser.yaml: %v", err)
	}
	if cfg.Version != 2 || len(cfg.Builds) != 1 {
		t.Fatalf(".goreleaser.yaml: version %d with %d builds, want GoReleaser v2's format with one build", cfg.Version, len(cfg.Builds))
	}
	b := cfg.Builds[0]
	if b.Main != "./cmd/fbadmin" || b.Binary != "fbadmin" {
		t.Errorf("build main %q binary %q, want ./cmd/fbadmin and fbadmin", b.Main, b.Binary)
	}
	if !slices.ContainsFunc(b.Env, func(e string) bool { return strings.HasPrefix(e, "CGO_ENABLED=0") }) || !slices.Contains(b.Flags, "-trimpath") {
		t.Errorf("build env %q flags %q, want CGO_ENABLED=0 and -trimpath", b.Env, b.Flags)
	}
	var targets []string
	for _, goos := range b.Goos {
		for _, arch := range b.Goarch {
			targets = append(targets, goos+"/"+arch)
		}
	}
	slices.Sort(targets)
	loop := regexp.MustCompile(`for target in ([a-z0-9/ ]+); do`)
	for _, script := range []string{"../../scripts/test.sh", "../../scripts/release-check.sh"} {
		s, err := os.ReadFile(script)
		if err != nil {
			t.Fatal(err)
		}
		m := loop.FindSubmatch(s)
		if m == nil {
			t.Fatalf("%s: no 'for target in ...' loop", script)
		}
		built := strings.Fields(string(m[1]))
		slices.Sort(built)
		if !slices.Equal(built, targets) {
			t.Errorf("%s builds %v; .goreleaser.yaml releases %v", script, built, targets)
		}
	}
	ld := strings.Join(b.Ldflags, " ")
	vsrc, err := os.ReadFile("version.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"version", "commit", "date"} {
		if !strings.Contains(ld, "-X main."+v+"=") {
			t.Errorf("ldflags %q do not set main.%s", ld, v)
		}
		if !regexp.MustCompile(`(?m)^\t` + v + ` +=`).Match(vsrc) {
			t.Errorf("version.go declares no package variable %s for -X main.%s", v, v)
		}
	}
}
