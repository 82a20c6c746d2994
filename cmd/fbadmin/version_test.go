package main

import (
	"strings"
	"testing"
)

// The -ldflags -X values of a release (.goreleaser.yaml,
// scripts/release-check.sh) are what fbadmin version reports.
func TestVersionFromLinker(t *testing.T) {
	saved := [3]string{version, commit, date}
	t.Cleanup(func() { version, commit, date = saved[0], saved[1], saved[2] })
	version, commit, date = "v1.2.3", "abc1234", "2026-01-02T03:04:05Z"
	info := buildVersion()
	if info.Version != "v1.2.3" || info.Commit != "abc1234" || info.Date != "2026-01-02T03:04:05Z" {
		t.Fatalf("buildVersion() = %+v, want the linker's values", info)
	}
	if got, want := info.text(), "fbadmin v1.2.3 abc1234 built 2026-01-02T03:04:05Z ("; !strings.HasPrefix(got, want) {
		t.Errorf("text: got %q, want it to start with %q", got, want)
	}
}

// GoReleaser's placeholders for a commit it could not read are not shown.
func TestVersionPlaceholders(t *testing.T) {
	saved := [3]string{version, commit, date}
	t.Cleanup(func() { version, commit, date = saved[0], saved[1], saved[2] })
	version, commit, date = "v1.2.3", "none", "0001-01-01T00:00:00Z"
	if info := buildVersion(); info.Commit == "none" || strings.HasPrefix(info.Date, "0001-") {
		t.Fatalf("buildVersion() = %+v: GoReleaser's placeholders shown", info)
	}
}
