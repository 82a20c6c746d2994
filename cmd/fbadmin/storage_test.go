package main

import (
	"crypto/rand"
	"encoding/hex"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/fbadmin/fbadmin/internal/emutest"
	"github.com/fbadmin/fbadmin/internal/storage/storagetest"
)

// TestStorageScripts runs the scripts of testdata/storage: exports and
// imports through a fake Cloud Storage (fake-gcs-server) and a fake S3
// (gofakes3), both run in this test process on local listeners, and the
// Firestore emulator. The fbadmin processes reach them through
// STORAGE_EMULATOR_HOST and s3:// URLs whose query ($S3Q) names the
// endpoint. Both fakes refuse every request on the bucket "denied".
func TestStorageScripts(t *testing.T) {
	host := emutest.FirestoreHost(t)
	gcs, err := storagetest.NewGCS("bkt")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gcs.Close) // after the scripts, which run in parallel subtests
	s3, err := storagetest.NewS3("bkt")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s3.Close)
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/storage",
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			var b [5]byte
			rand.Read(b[:])
			project := "demo-e2e-st-" + hex.EncodeToString(b[:])
			env.Setenv("FIRESTORE_EMULATOR_HOST", host)
			env.Setenv("FBADMIN_PROJECT", project)
			env.Setenv("PROJECT", project)
			env.Setenv("HOME", env.WorkDir+"/home")
			env.Setenv("XDG_STATE_HOME", env.WorkDir+"/state")
			env.Setenv("STORAGE_EMULATOR_HOST", gcs.Host)
			env.Setenv("S3Q", s3.Query())
			for k, v := range s3.Env() {
				env.Setenv(k, v)
			}
			env.Defer(func() {
				for _, p := range []string{project, project + "-copy", project + "-r"} {
					emutest.ResetFirestore(host, p, "(default)")
				}
			})
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"gendocs":  cmdGenDocs,
			"exitcode": cmdExitCode,
		},
	})
}

// TestAuthStorageScripts runs the scripts of testdata/storage-auth: users
// exported to and imported from the fake Cloud Storage and S3 servers,
// against the Auth emulator (Admin SDK calls in projects of their own).
func TestAuthStorageScripts(t *testing.T) {
	host := emutest.AuthHost(t)
	gcs, err := storagetest.NewGCS("bkt")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gcs.Close)
	s3, err := storagetest.NewS3("bkt")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s3.Close)
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/storage-auth",
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			var b [5]byte
			rand.Read(b[:])
			uniq := hex.EncodeToString(b[:])
			project := "demo-e2e-sta-" + uniq
			env.Setenv("FIREBASE_AUTH_EMULATOR_HOST", host)
			env.Setenv("FBADMIN_PROJECT", project)
			env.Setenv("PROJECT", project)
			env.Setenv("UNIQ", uniq)
			env.Setenv("HOME", env.WorkDir+"/home")
			env.Setenv("STORAGE_EMULATOR_HOST", gcs.Host)
			env.Setenv("S3Q", s3.Query())
			for k, v := range s3.Env() {
				env.Setenv(k, v)
			}
			env.Defer(func() {
				for _, p := range []string{project, project + "-b", project + "-c"} {
					emutest.ResetAuth(host, p)
				}
			})
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){"exitcode": cmdExitCode},
	})
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"256MB": 256e6, "1GiB": 1 << 30, "64M": 64 << 20, "500000000": 5e8, "1.5GB": 15e8, "10kb": 1e4} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "-5MB", "12XB", "MB", "0.1"} {
		if got, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) = %d, want an error", in, got)
		}
	}
}
