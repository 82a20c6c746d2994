package auth

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/fbadmin/fbadmin/internal/emutest"
)

// firebaseCLI returns a command running the project's pinned firebase-tools
// against the Auth emulator at host, with a private HOME holding a fake
// signed-in account (the emulator ignores the token).
func firebaseCLI(tb testing.TB, host string) func(ctx context.Context, args ...string) ([]byte, error) {
	tb.Helper()
	bin, _ := filepath.Abs(filepath.Join("..", "emulator", "node_modules", ".bin", "firebase"))
	if _, err := os.Stat(bin); err != nil {
		emutest.Unavailable(tb, "firebase CLI (for auth:export/auth:import)", bin, "run npm ci in emulator/")
	}
	home := tb.TempDir()
	cfgDir := filepath.Join(home, ".config", "configstore")
	if err := os.MkdirAll(cfgDir, 0o700); err != nil {
		tb.Fatal(err)
	}
	account := fmt.Sprintf(`{"user":{"email":"test@example.com"},"tokens":{"access_token":"owner","refresh_token":"x","expires_at":%d}}`,
		time.Now().Add(24*time.Hour).UnixMilli())
	if err := os.WriteFile(filepath.Join(cfgDir, "firebase-tools.json"), []byte(account), 0o600); err != nil {
		tb.Fatal(err)
	}
	return func(ctx context.Context, args ...string) ([]byte, error) {
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Dir = home
		cmd.Env = []string{
			"PATH=" + os.Getenv("PATH"),
			"HOME=" + home,
			"XDG_CONFIG_HOME=" + filepath.Join(home, ".config"),
			"CI=true", // no network check for the message of the day
			"FIREBASE_GOOGLE_URL=http://" + host + "/www.googleapis.com",
		}
		return cmd.CombinedOutput()
	}
}

// TestFirebaseCLIInterop moves users both ways between fbadmin and the
// Firebase CLI on the Auth emulator: the CLI's export reads as fbadmin's
// does, and the CLI imports fbadmin's export into identical users.
func TestFirebaseCLIInterop(t *testing.T) {
	if testing.Short() && !emutest.InCI() { // under CI=true it always runs
		t.Skip("starts the Firebase CLI (several seconds); skipped with -short")
	}
	t.Parallel()
	a := emutest.NewAuthProject(t)
	b := emutest.NewAuthProject(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	firebase := firebaseCLI(t, a.Host)
	ca, err := New(ctx, Config{ProjectID: a.ProjectID, EmulatorHost: a.Host})
	if err != nil {
		t.Fatal(err)
	}
	cb, err := New(ctx, Config{ProjectID: b.ProjectID, EmulatorHost: b.Host})
	if err != nil {
		t.Fatal(err)
	}
	hash := HashConfig{Algorithm: "HMAC_SHA256", Key: testHashKey}
	rep, err := ca.ImportUsers(ctx, bytes.NewReader(usersFile(t, genUsers("cli", 60), nil)), ImportOptions{Hash: hash})
	if err != nil || rep.Imported != 60 {
		t.Fatalf("ImportUsers: %+v, %v", rep, err)
	}
	ours, oursRaw := exportAll(t, ca)

	// CLI export -> fbadmin reader.
	dir := t.TempDir()
	cliFile := filepath.Join(dir, "cli.json")
	if out, err := firebase(ctx, "auth:export", cliFile, "--project", a.ProjectID); err != nil {
		t.Fatalf("firebase auth:export: %v\n%s", err, out)
	}
	data, err := os.ReadFile(cliFile)
	if err != nil {
		t.Fatal(err)
	}
	theirs, recErrs, err := readAll(t, string(data))
	if err != nil || len(recErrs) > 0 || len(theirs) != len(ours) {
		t.Fatalf("reading the CLI's export: %d users, %v, %v; want %d", len(theirs), recErrs, err, len(ours))
	}
	for _, u := range theirs {
		w := normalize(ours[u.LocalID])
		if u.PasswordHash == "" {
			// The CLI writes a hash only when the API marks it "version 0";
			// the emulator marks none, so its exports carry no hashes.
			w.PasswordHash, w.Salt = "", ""
		}
		if g := normalize(u); !reflect.DeepEqual(g, w) {
			t.Fatalf("user %s, CLI export vs fbadmin export:\n cli %+v\n ours %+v", u.LocalID, g, w)
		}
	}

	// fbadmin export -> CLI import into project b -> identical users.
	oursFile := filepath.Join(dir, "ours.json")
	if err := os.WriteFile(oursFile, oursRaw, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := firebase(ctx, "auth:import", oursFile, "--hash-algo", "HMAC_SHA256",
		"--hash-key", base64.StdEncoding.EncodeToString(testHashKey), "--project", b.ProjectID)
	if err != nil {
		t.Fatalf("firebase auth:import: %v\n%s", err, out)
	}
	imported, _ := exportAll(t, cb)
	if !reflect.DeepEqual(imported, ours) {
		for id, u := range ours {
			if !reflect.DeepEqual(imported[id], u) {
				t.Fatalf("user %s after CLI import:\n got %+v\nwant %+v", id, imported[id], u)
			}
		}
		t.Fatalf("CLI import: %d users, want %d", len(imported), len(ours))
	}
}
