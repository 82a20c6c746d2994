package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/fbadmin/fbadmin/internal/emutest"
	"github.com/fbadmin/fbadmin/internal/errs"
)

// TestRulesScripts runs testdata/rules: sessions (auth login, whoami,
// logout, sessions) on the Auth emulator, and --as and rules check on a
// Firestore emulator of the test's own that enforces
// internal/rulecheck/testdata/firestore.rules (the shared emulator has no
// rules). Sessions live in the script's own FBADMIN_CONFIG_DIR; with no
// D-Bus session bus there, they fall back to the 0600 file.
func TestRulesScripts(t *testing.T) {
	authHost := emutest.AuthHost(t)
	fsHost := emutest.StartFirestoreWithRules(t, "../../internal/rulecheck/testdata/firestore.rules")
	project := emutest.EmulatorProject()
	openHost := emutest.FirestoreHost(t) // the shared emulator: no rules
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/rules",
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			var b [5]byte
			rand.Read(b[:])
			uniq := hex.EncodeToString(b[:])
			env.Setenv("FIREBASE_AUTH_EMULATOR_HOST", authHost)
			env.Setenv("FIRESTORE_EMULATOR_HOST", fsHost)
			env.Setenv("FBADMIN_PROJECT", project)
			env.Setenv("FSPROJ", "demo-rules-"+uniq)
			env.Setenv("OPEN_FIRESTORE", openHost)
			env.Setenv("UNIQ", uniq)
			env.Setenv("HOME", env.WorkDir+"/home")
			env.Setenv("FBADMIN_CONFIG_DIR", env.WorkDir+"/config")
			env.Setenv("DBUS_SESSION_BUS_ADDRESS", "")
			env.Setenv("XDG_RUNTIME_DIR", env.WorkDir+"/run")
			env.Defer(func() { emutest.ResetFirestore(fsHost, "demo-rules-"+uniq, "(default)") })
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exitcode":       cmdExitCode,
			"notokens":       cmdNoTokens,
			"expiresessions": cmdExpireSessions,
			"freshsessions":  cmdFreshSessions,
		},
	})
}

func TestExitCodeDeniedAndMismatch(t *testing.T) {
	ctx := context.Background()
	denied := errs.Denied(status.Error(codes.PermissionDenied, "false for 'get' @ L5"), "bob", "get", "users/alice")
	if got := exitCode(ctx, denied); got != exitDenied {
		t.Errorf("denied: exit %d, want %d", got, exitDenied)
	}
	if got := exitCode(ctx, mismatchError{"x"}); got != exitMismatch {
		t.Errorf("mismatch: exit %d, want %d", got, exitMismatch)
	}
	// Without --as a permission error stays exit 1 (IAM, not rules).
	if got := exitCode(ctx, errs.Wrap(status.Error(codes.PermissionDenied, "x"), "get", "a/b")); got != exitError {
		t.Errorf("permission: exit %d, want %d", got, exitError)
	}
	if line := errorLine(denied); !strings.Contains(line, "get users/alice as bob: denied by security rules") || strings.Contains(line, "IAM") {
		t.Errorf("error line: %q", line)
	}
}

// sessionSecrets reads the secrets file of the script's sessions: key ->
// {refresh_token, id_token, expires_at, ...}.
func sessionSecrets(ts *testscript.TestScript) (string, map[string]map[string]any) {
	path := filepath.Join(ts.Getenv("FBADMIN_CONFIG_DIR"), "secrets.json")
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return path, nil
	}
	ts.Check(err)
	var raw map[string]string
	ts.Check(json.Unmarshal(b, &raw))
	out := map[string]map[string]any{}
	for k, v := range raw {
		var m map[string]any
		ts.Check(json.Unmarshal([]byte(v), &m))
		out[k] = m
	}
	return path, out
}

// notokens: no token the sessions hold now, or held at an earlier
// notokens, appears in the last command's stdout or stderr.
func cmdNoTokens(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: notokens")
	}
	seenFile := filepath.Join(ts.Getenv("WORK"), ".seen-tokens")
	seen, _ := os.ReadFile(seenFile)
	tokens := strings.Fields(string(seen))
	_, secrets := sessionSecrets(ts)
	for _, s := range secrets {
		for _, k := range []string{"refresh_token", "id_token"} {
			if v, _ := s[k].(string); len(v) > 20 {
				tokens = append(tokens, v)
			}
		}
	}
	ts.Check(os.WriteFile(seenFile, []byte(strings.Join(tokens, "\n")), 0o600))
	if len(tokens) == 0 {
		ts.Fatalf("notokens: no session tokens to look for")
	}
	for _, name := range []string{"stdout", "stderr"} {
		out := ts.ReadFile(name)
		for _, tok := range tokens {
			// The payload of an ID token alone would leak its claims too.
			parts := strings.Split(tok, ".")
			for _, p := range append([]string{tok}, parts...) {
				if len(p) > 20 && strings.Contains(out, p) {
					ts.Fatalf("%s shows a token (or part of one)", name)
				}
			}
		}
	}
}

// expiresessions: marks every stored ID token as expired a minute ago.
func cmdExpireSessions(ts *testscript.TestScript, neg bool, args []string) {
	path, secrets := sessionSecrets(ts)
	raw := map[string]string{}
	for k, s := range secrets {
		s["expires_at"] = time.Now().Add(-time.Minute).UTC().Format(time.RFC3339Nano)
		b, _ := json.Marshal(s)
		raw[k] = string(b)
	}
	b, _ := json.Marshal(raw)
	ts.Check(os.WriteFile(path, b, 0o600))
}

// freshsessions: every stored ID token expires more than half an hour
// from now (a refresh was saved).
func cmdFreshSessions(ts *testscript.TestScript, neg bool, args []string) {
	_, secrets := sessionSecrets(ts)
	for k, s := range secrets {
		exp, err := time.Parse(time.RFC3339Nano, s["expires_at"].(string))
		ts.Check(err)
		if time.Until(exp) < 30*time.Minute {
			ts.Fatalf("%s: the ID token expires at %s: not refreshed", k, exp)
		}
	}
}
