package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/fbadmin/fbadmin/auth"
	"github.com/fbadmin/fbadmin/internal/emutest"
)

// TestServeScripts runs `fbadmin serve` for real against the Firestore
// and Auth emulators (the Auth emulator's own project, whose sign-in
// endpoints issue ID tokens; data isolated by $UNIQ).
func TestServeScripts(t *testing.T) {
	fsHost := emutest.FirestoreHost(t)
	authHost := emutest.AuthHost(t)
	project := emutest.EmulatorProject()
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/serve",
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			var b [5]byte
			rand.Read(b[:])
			env.Setenv("FIRESTORE_EMULATOR_HOST", fsHost)
			env.Setenv("FIREBASE_AUTH_EMULATOR_HOST", authHost)
			env.Setenv("FBADMIN_PROJECT", project)
			env.Setenv("UNIQ", hex.EncodeToString(b[:]))
			env.Setenv("HOME", env.WorkDir+"/home")
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exitcode": cmdExitCode,
			"idtoken":  cmdIDToken,
			"freeport": cmdFreePort,
			"http":     cmdHTTP,
			"waithttp": cmdWaitHTTP,
		},
	})
}

// idtoken VAR UID [CLAIMS]: signs UID in on the Auth emulator (with the
// custom claims, a JSON object) and sets $VAR to its ID token.
func cmdIDToken(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: idtoken VAR UID [CLAIMS]")
	}
	var claims map[string]any
	if len(args) > 2 {
		ts.Check(json.Unmarshal([]byte(args[2]), &claims))
	}
	ctx := context.Background()
	c, err := auth.New(ctx, auth.Config{ProjectID: ts.Getenv("FBADMIN_PROJECT"), EmulatorHost: ts.Getenv("FIREBASE_AUTH_EMULATOR_HOST")})
	ts.Check(err)
	ct, err := c.CustomToken(ctx, args[1], claims)
	ts.Check(err)
	cred, err := c.SignInClient().SignInWithCustomToken(ctx, ct)
	ts.Check(err)
	ts.Setenv(args[0], cred.IDToken)
}

// freeport VAR: sets $VAR to a free loopback port.
func cmdFreePort(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: freeport VAR")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	ts.Setenv(args[0], fmt.Sprint(ln.Addr().(*net.TCPAddr).Port))
	ln.Close()
}

// waithttp URL: waits up to 20 s for URL to answer 200; with !, checks
// once that it does not.
func cmdWaitHTTP(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: waithttp URL")
	}
	if neg {
		if resp, err := http.Get(args[0]); err == nil {
			resp.Body.Close()
			ts.Fatalf("%s still answers (%d)", args[0], resp.StatusCode)
		}
		return
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(args[0])
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			ts.Fatalf("%s did not answer 200 within 20 s: %v", args[0], err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// http [-token VAR] [-H 'Name: value'] [-noredirect] METHOD URL [BODY]:
// sends a request and prints "STATUS" and the body on stdout; with
// -noredirect a redirect is not followed and its Location is printed.
func cmdHTTP(ts *testscript.TestScript, neg bool, args []string) {
	var token string
	var headers []string
	client := http.DefaultClient
	for len(args) > 1 && strings.HasPrefix(args[0], "-") {
		switch args[0] {
		case "-noredirect":
			client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			args = args[1:]
			continue
		case "-token":
			token = ts.Getenv(args[1])
		case "-H":
			headers = append(headers, args[1])
		default:
			ts.Fatalf("http: unknown flag %s", args[0])
		}
		args = args[2:]
	}
	if len(args) < 2 {
		ts.Fatalf("usage: http [-token VAR] [-H header] METHOD URL [BODY]")
	}
	var body io.Reader
	if len(args) > 2 {
		body = strings.NewReader(args[2])
	}
	req, err := http.NewRequest(args[0], args[1], body)
	ts.Check(err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	resp, err := client.Do(req)
	if err != nil {
		if neg {
			return
		}
		ts.Fatalf("http: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	ts.Check(err)
	fmt.Fprintf(ts.Stdout(), "%d\n", resp.StatusCode)
	for _, k := range []string{"ETag", "Retry-After", "Location"} {
		if v := resp.Header.Get(k); v != "" {
			fmt.Fprintf(ts.Stdout(), "%s: %s\n", k, v)
		}
	}
	ts.Stdout().Write(b)
}

// TestServeBoundGC (issue 12, finding 1): with GOGC=400, the soft memory
// limit follows twice the live heap with a floor, so that a large live
// heap is not allowed to grow five times over before a collection.
func TestServeBoundGC(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(prev)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { boundGC(ctx, 300<<20); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for debug.SetMemoryLimit(-1) != 300<<20 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	if got := debug.SetMemoryLimit(-1); got != 300<<20 {
		t.Fatalf("memory limit %d with a small live heap, want the floor %d", got, 300<<20)
	}
	// A live heap above half the floor raises the limit to twice it.
	keep := make([][]byte, 0, 200)
	for range 200 {
		keep = append(keep, make([]byte, 1<<20))
	}
	runtime.GC()
	ctx, cancel = context.WithCancel(context.Background())
	done = make(chan struct{})
	go func() { boundGC(ctx, 64<<20); close(done) }()
	deadline = time.Now().Add(5 * time.Second)
	for debug.SetMemoryLimit(-1) < 400<<20 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	if got := debug.SetMemoryLimit(-1); got < 400<<20 {
		t.Fatalf("memory limit %d MiB with 200 MiB live, want at least twice the live heap", got>>20)
	}
	runtime.KeepAlive(keep)
}
