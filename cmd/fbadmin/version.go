package main

import (
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/urfave/cli/v2"
)

type versionInfo struct {
	Version   string `json:"version"`
	GoVersion string `json:"go_version"`
	Platform  string `json:"platform"`
	Firestore string `json:"firestore_sdk,omitempty"`
	Firebase  string `json:"firebase_sdk,omitempty"`
}

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:      "version",
		Usage:     "print fbadmin's version and the SDK versions it was built with",
		UsageText: "fbadmin version [-o json]",
		Description: `Examples:
   fbadmin version
   fbadmin version -o json | jq -r .version`,
		Action: func(c *cli.Context) error {
			info := buildVersion()
			switch c.String("output") {
			case "json", "ndjson":
				return json.NewEncoder(stdout(c)).Encode(info)
			case "", "table", "yaml":
				_, err := fmt.Fprintf(stdout(c), "fbadmin %s (%s, %s)\nfirestore sdk %s\nfirebase sdk %s\n",
					info.Version, info.GoVersion, info.Platform, info.Firestore, info.Firebase)
				return err
			default:
				return usagef("unknown output format %q: use json, ndjson, table or yaml", c.String("output"))
			}
		},
	}
}

func buildVersion() versionInfo {
	info := versionInfo{Version: version, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if info.Version == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			info.Version = bi.Main.Version
		}
		for _, d := range bi.Deps {
			switch d.Path {
			case "cloud.google.com/go/firestore":
				info.Firestore = d.Version
			case "firebase.google.com/go/v4":
				info.Firebase = d.Version
			}
		}
	}
	return info
}
