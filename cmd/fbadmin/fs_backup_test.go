package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/fbadmin/fbadmin/internal/backup"
	"github.com/fbadmin/fbadmin/internal/backup/backuptest"
)

// TestBackupScripts runs the scripts of testdata/backup: the fs backup
// commands of the real binary against the in-process fake Admin API of
// internal/backup/backuptest (the Firestore emulator has no Admin API),
// reached through FBADMIN_FIRESTORE_ADMIN_ENDPOINT. Each script has its own
// project, so its own database and operations on the one fake; no emulator
// is needed (FIRESTORE_EMULATOR_HOST is unset, as in production).
func TestBackupScripts(t *testing.T) {
	srv := backuptest.Start(t)
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/backup",
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			var b [5]byte
			rand.Read(b[:])
			project := "demo-bk-" + hex.EncodeToString(b[:])
			env.Setenv("FBADMIN_PROJECT", project)
			env.Setenv("PROJECT", project)
			env.Setenv("DB", "projects/"+project+"/databases/(default)")
			env.Setenv(adminEndpointEnv, srv.Endpoint)
			env.Setenv("ENDPOINT", srv.Endpoint)
			env.Setenv("HOME", env.WorkDir+"/home")
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exitcode":  cmdExitCode,
			"runhint":   cmdRunHint,
			"fakeadmin": func(ts *testscript.TestScript, neg bool, args []string) { cmdFakeAdmin(srv, ts, neg, args) },
		},
	})
}

// fakeadmin drives and inspects the fake Admin API for the script's
// database ($DB):
//
//	fakeadmin plan ok|fail|hang|deny|busy|invalid [polls=N]
//	    the next operation started succeeds, ends FAILED (INTERNAL), never
//	    ends until cancelled, or is refused at start with PERMISSION_DENIED,
//	    FAILED_PRECONDITION or INVALID_ARGUMENT
//	fakeadmin requests FILE
//	    writes the requests received so far, one JSON object a line
//	    ({"method","name","collection_ids","uri_prefix","snapshot_time","filter","code"})
//	fakeadmin lastop VAR
//	    sets VAR to the name of the last operation started, and VAR_ID to its ID
//	fakeadmin state NAME STATE
//	    the operation's state is STATE, as last read (reading it takes no step)
func cmdFakeAdmin(srv *backuptest.Server, ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 1 {
		ts.Fatalf("usage: fakeadmin plan|requests|lastop|state ...")
	}
	db := ts.Getenv("DB")
	switch args[0] {
	case "plan":
		if neg || len(args) < 2 {
			ts.Fatalf("usage: fakeadmin plan ok|fail|hang|deny|busy|invalid [polls=N]")
		}
		var p backuptest.Plan
		switch args[1] {
		case "ok":
		case "fail":
			p.Fail = status.New(codes.Internal, "the export hit an internal error after 2 steps")
		case "hang":
			p.Hang = true
		case "deny":
			p.StartErr = status.Error(codes.PermissionDenied, "The caller does not have permission")
		case "invalid":
			p.StartErr = status.Error(codes.InvalidArgument, "Bucket my-backups is in a location the database cannot export to")
		case "busy":
			p.StartErr = status.Error(codes.FailedPrecondition, "Another export or import operation is already running")
		default:
			ts.Fatalf("fakeadmin plan: unknown plan %q", args[1])
		}
		for _, a := range args[2:] {
			n, ok := strings.CutPrefix(a, "polls=")
			if !ok {
				ts.Fatalf("fakeadmin plan: unknown option %q", a)
			}
			var err error
			p.Polls, err = strconv.Atoi(n)
			ts.Check(err)
		}
		srv.Plan(db, p)
	case "requests":
		if neg || len(args) != 2 {
			ts.Fatalf("usage: fakeadmin requests FILE")
		}
		var buf bytes.Buffer
		for _, r := range srv.Requests(db) {
			b, err := json.Marshal(r)
			ts.Check(err)
			buf.Write(append(b, '\n'))
		}
		ts.Check(os.WriteFile(ts.MkAbs(args[1]), buf.Bytes(), 0o666))
	case "lastop":
		if neg || len(args) != 2 {
			ts.Fatalf("usage: fakeadmin lastop VAR")
		}
		ops := srv.Operations(db)
		if len(ops) == 0 {
			ts.Fatalf("fakeadmin lastop: no operation on %s", db)
		}
		name := ops[len(ops)-1]
		ts.Setenv(args[1], name)
		ts.Setenv(args[1]+"_ID", name[strings.LastIndexByte(name, '/')+1:])
	case "state":
		if len(args) != 3 {
			ts.Fatalf("usage: fakeadmin state NAME STATE")
		}
		op, ok := srv.Operation(args[1])
		if !ok {
			ts.Fatalf("fakeadmin state: no operation %s", args[1])
		}
		got := backup.FromProto(op).State
		if (got == args[2]) == neg {
			ts.Fatalf("operation %s is %s, want %s%s", args[1], got, map[bool]string{true: "not ", false: ""}[neg], args[2])
		}
	default:
		ts.Fatalf("fakeadmin: unknown subcommand %q", args[0])
	}
}

// TestParseSnapshotTime: a whole minute or a duration ago, rounded down.
func TestParseSnapshotTime(t *testing.T) {
	now := time.Date(2024, 5, 1, 10, 30, 45, 0, time.UTC)
	for _, c := range []struct{ in, want, err string }{
		{"", "", ""},
		{"2024-05-01T10:00:00Z", "2024-05-01T10:00:00Z", ""},
		{"2024-05-01T12:00:00+02:00", "2024-05-01T10:00:00Z", ""},
		{"2024-05-01T10:00:30Z", "", "whole minutes: give 2024-05-01T10:00:00Z or 2024-05-01T10:01:00Z"},
		{"2024-05-01T11:00:00Z", "", "in the future"},
		{"yesterday", "", "want an RFC 3339 time"},
	} {
		got, err := parseSnapshotTime(c.in, now)
		switch {
		case c.err != "":
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("parseSnapshotTime(%q): got %v, %v; want an error with %q", c.in, got, err, c.err)
			}
		case err != nil:
			t.Errorf("parseSnapshotTime(%q): %v", c.in, err)
		case c.want == "" && !got.IsZero(), c.want != "" && got.Format(time.RFC3339) != c.want:
			t.Errorf("parseSnapshotTime(%q) = %v, want %s", c.in, got, c.want)
		}
	}
	// A duration ago is rounded down to the minute.
	got, err := parseSnapshotTime("10m", time.Now())
	if err != nil || got.Second() != 0 || got.Nanosecond() != 0 || time.Since(got) < 10*time.Minute || time.Since(got) > 11*time.Minute {
		t.Errorf("parseSnapshotTime(10m) = %v, %v; want a whole minute 10 to 11 minutes ago", got, err)
	}
}

func TestParseGCSPrefix(t *testing.T) {
	for _, c := range []struct{ in, want, err string }{
		{"gs://my-bucket", "gs://my-bucket", ""},
		{"gs://my-bucket/a/b/", "gs://my-bucket/a/b", ""},
		{"gs://my.bucket_1/x", "gs://my.bucket_1/x", ""},
		{"", "", "--to is required"},
		{"s3://bkt/x", "", "Cloud Storage only"},
		{"/tmp/backup", "", "Cloud Storage only"},
		{"gs://", "", "is not a bucket name"},
		{"gs://ab/x", "", "is not a bucket name"},
		{"gs://My-Bucket/x", "", "is not a bucket name"},
	} {
		got, err := parseGCSPrefix("--to", c.in, "fbadmin fs export --out FILE")
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) || exitCode(t.Context(), err) != exitUsage {
				t.Errorf("parseGCSPrefix(%q): got %q, %v; want a usage error with %q", c.in, got, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("parseGCSPrefix(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}
