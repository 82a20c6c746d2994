package main

import (
	"os"
	"strings"
	"testing"
)

// The install instructions work from a clone and from a release: the module
// is not on the Go module proxy, so "go install ...@latest" cannot work.
func TestInstallDocs(t *testing.T) {
	for _, file := range []string{"../../README.md", "../../docs/cli.md"} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		doc := string(b)
		for _, line := range strings.Split(doc, "\n") {
			if strings.Contains(line, "go install github.com/fbadmin/fbadmin/cmd/fbadmin@") {
				t.Errorf("%s gives an install from the module proxy, where the module is not: %s", file, line)
			}
		}
		if !strings.Contains(doc, "go install ./cmd/fbadmin") {
			t.Errorf("%s does not say how to install from a clone (go install ./cmd/fbadmin)", file)
		}
	}
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"checksums.txt", "scripts/release-check.sh", ".goreleaser.yaml"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("README.md: the release route does not mention %s", want)
		}
	}
}
