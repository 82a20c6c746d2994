package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/fbadmin/fbadmin/internal/cliout"
)

// Set by the linker for releases (.goreleaser.yaml, scripts/release-check.sh):
//
//	-ldflags "-X main.version=v1.2.3 -X main.commit=abc1234 -X main.date=2026-01-02T03:04:05Z"
//
// A binary built otherwise (go install, go build) takes them from the build
// information Go records: the module version for "go install ...@v1.2.3",
// the VCS revision and time for a build in a clone.
var (
	version = "dev"
	commit  = ""
	date    = ""
)

type versionInfo struct {
	Version   string `json:"version"`
	Commit    string `json:"commit,omitempty"`
	Date      string `json:"date,omitempty"`
	GoVersion string `json:"go_version"`
	Platform  string `json:"platform"`
	Firestore string `json:"firestore_sdk,omitempty"`
	Firebase  string `json:"firebase_sdk,omitempty"`
}

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:      "version",
		Usage:     "print fbadmin's version, commit, build date and the SDK versions it was built with",
		UsageText: "fbadmin version [-o json|ndjson|table|yaml]",
		Description: `Without -o it prints a few lines of text.

Examples:
   fbadmin version
   fbadmin version -o json | jq -r .version`,
		Action: func(c *cli.Context) error {
			info := buildVersion()
			out := readGlobals(c).Output
			if out == "" {
				_, err := fmt.Fprint(stdout(c), info.text())
				return err
			}
			f, err := cliout.ParseFormat(out, false)
			if err != nil {
				return usageError{err}
			}
			return cliout.NewPrinter(stdout(c), f).One(info)
		},
	}
}

func (v versionInfo) text() string {
	s := "fbadmin " + v.Version
	if v.Commit != "" {
		s += " " + v.Commit
	}
	if v.Date != "" {
		s += " built " + v.Date
	}
	return s + fmt.Sprintf(" (%s, %s)\nfirestore sdk %s\nfirebase sdk %s\n", v.GoVersion, v.Platform, v.Firestore, v.Firebase)
}

func buildVersion() versionInfo {
	info := versionInfo{Version: version, Commit: commit, Date: date, GoVersion: runtime.Version(),
		Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if info.Commit == "none" || strings.HasPrefix(info.Date, "0001-") {
		// GoReleaser's placeholders when it could not read git.
		info.Commit, info.Date = "", ""
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return info
	}
	if info.Version == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		info.Version = bi.Main.Version
	}
	modified := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			if info.Commit == "" {
				info.Commit = s.Value[:min(len(s.Value), 12)]
			}
		case "vcs.time":
			if info.Date == "" {
				info.Date = s.Value
			}
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if modified && info.Commit != "" && (commit == "" || commit == "none") {
		info.Commit += "-dirty"
	}
	for _, d := range bi.Deps {
		switch d.Path {
		case "cloud.google.com/go/firestore":
			info.Firestore = d.Version
		case "firebase.google.com/go/v4":
			info.Firebase = d.Version
		}
	}
	return info
}
