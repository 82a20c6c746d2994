package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/fbadmin/fbadmin/internal/emutest"
)

// The end-to-end tests run the real fbadmin binary (this test binary,
// re-executed under the name fbadmin) on the txtar scripts of testdata/,
// against the Firestore emulator. Each script gets its own project. That
// fbadmin has the tests' fault hook (installFaultHook), which the released
// binary lacks.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){"fbadmin": func() {
		installFaultHook()
		main()
	}})
}

func TestScripts(t *testing.T) {
	host := emutest.FirestoreHost(t)
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata",
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			var b [5]byte
			rand.Read(b[:])
			project := "demo-e2e-" + hex.EncodeToString(b[:])
			env.Setenv("FIRESTORE_EMULATOR_HOST", host)
			env.Setenv("FBADMIN_PROJECT", project)
			env.Setenv("PROJECT", project)
			env.Setenv("HOME", env.WorkDir+"/home")
			env.Setenv("XDG_CACHE_HOME", env.WorkDir+"/cache")
			env.Defer(func() {
				emutest.ResetFirestore(host, project, "(default)")
				emutest.ResetFirestore(host, project, "other")
				emutest.ResetFirestore(host, project+"-copy", "(default)")
			})
			return nil
		},
		// [defaulthost]: the emulator in use is at --emulator's default.
		Condition: func(cond string) (bool, error) {
			if cond == "defaulthost" {
				return host == defaultFirestoreEmulator, nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"gendocs":   cmdGenDocs,
			"cmpexport": cmdCmpExport,
			"exitcode":  cmdExitCode,
			"sleep":     cmdSleep,
			"runhint":   cmdRunHint,
		},
	})
}

// TestAuthScripts runs the scripts of testdata/auth against the Auth
// emulator, in the emulator's own project (its sign-in endpoints serve only
// that one), isolated by unique UIDs and emails ($UNIQ).
func TestAuthScripts(t *testing.T) {
	host := emutest.AuthHost(t)
	project := emutest.EmulatorProject()
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/auth",
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			var b [5]byte
			rand.Read(b[:])
			uniq := hex.EncodeToString(b[:])
			env.Setenv("FIREBASE_AUTH_EMULATOR_HOST", host)
			env.Setenv("FBADMIN_PROJECT", project)
			env.Setenv("UNIQ", uniq)
			env.Setenv("OTHER_PROJECT", "demo-e2e-auth-"+uniq)
			env.Setenv("HOME", env.WorkDir+"/home")
			env.Defer(func() { emutest.ResetAuth(host, "demo-e2e-auth-"+uniq) })
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){"exitcode": cmdExitCode, "sleep": cmdSleep},
	})
}

// gendocs FILE N [TREE]: writes an import file of N small documents, flat
// in collection r (r/00000...), or with TREE a three-level tree
// (t/I/s/J/u/K).
func cmdGenDocs(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: gendocs FILE N [tree]")
	}
	n, err := strconv.Atoi(args[1])
	ts.Check(err)
	ts.Check(genDocs(ts.MkAbs(args[0]), n, len(args) > 2))
}

// genDocs writes the import file of gendocs.
func genDocs(file string, n int, tree bool) error {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	for i := range n {
		path := fmt.Sprintf("r/%05d", i)
		if tree {
			path = fmt.Sprintf("t/%02d/s/%02d/u/%05d", i%10, (i/10)%10, i)
		}
		fmt.Fprintf(w, `{"path":%q,"data":{"i":{"$int":"%d"},"name":"doc %d","tags":["a","b"]}}`+"\n", path, i, i)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// cmpexport A B: the two export files hold the same documents (path and
// data), whatever their order and times.
func cmdCmpExport(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: cmpexport A B")
	}
	diff, err := docsDiff(args[0], []byte(ts.ReadFile(args[0])), args[1], []byte(ts.ReadFile(args[1])))
	ts.Check(err)
	if same := diff == ""; same == neg {
		if !same {
			ts.Fatalf("%s", diff)
		}
		ts.Fatalf("%s and %s hold the same documents", args[0], args[1])
	}
}

// docsDiff compares two export files by the documents they hold (path and
// data, whatever their order and times): "" when they are the same, else
// the number of documents and the first difference.
func docsDiff(nameA string, a []byte, nameB string, b []byte) (string, error) {
	read := func(name string, data []byte) ([]string, error) {
		var lines []string
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		for sc.Scan() {
			if len(bytes.TrimSpace(sc.Bytes())) == 0 {
				continue
			}
			var l struct {
				Path string          `json:"path"`
				Data json.RawMessage `json:"data"`
			}
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				return nil, fmt.Errorf("%s: %v", name, err)
			}
			var compact bytes.Buffer
			json.Compact(&compact, l.Data)
			lines = append(lines, l.Path+" "+compact.String())
		}
		slices.Sort(lines)
		return lines, sc.Err()
	}
	x, err := read(nameA, a)
	if err != nil {
		return "", err
	}
	y, err := read(nameB, b)
	if err != nil {
		return "", err
	}
	if slices.Equal(x, y) {
		return "", nil
	}
	for i := 0; i < max(len(x), len(y)); i++ {
		var p, q string
		if i < len(x) {
			p = x[i]
		}
		if i < len(y) {
			q = y[i]
		}
		if p != q {
			return fmt.Sprintf("%s and %s differ (%d and %d documents); first difference:\n  %s: %s\n  %s: %s",
				nameA, nameB, len(x), len(y), nameA, p, nameB, q), nil
		}
	}
	return "", nil
}

// exitcode CODE COMMAND [ARGS...]: runs the command and checks its exit
// code (stdout and stderr are kept for the next stdout/stderr checks).
func cmdExitCode(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exitcode CODE COMMAND [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		got = ee.ExitCode()
	case err != nil:
		ts.Fatalf("%s: %v", args[1], err)
	}
	if got != want {
		ts.Fatalf("%s exited with %d, want %d", args[1], got, want)
	}
}

// sleep DURATION: waits (the Auth emulator's revocation has one-second
// granularity).
func cmdSleep(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: sleep DURATION")
	}
	d, err := time.ParseDuration(args[0])
	ts.Check(err)
	time.Sleep(d)
}
