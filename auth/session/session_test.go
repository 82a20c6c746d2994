package session

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	fbauth "firebase.google.com/go/v4/auth"

	"github.com/fbadmin/fbadmin/auth"
	"github.com/fbadmin/fbadmin/internal/emutest"
	"github.com/fbadmin/fbadmin/internal/errs"
)

// memSecrets is an in-memory keyring. (go-keyring's own mock provider
// replaces the real one for the whole process, for good, and
// TestSecretService needs the real one.)
type memSecrets struct {
	m   map[string]string
	err error
}

func mockKeyring(t *testing.T, err error) *memSecrets {
	t.Helper()
	return &memSecrets{m: map[string]string{}, err: err}
}

func (*memSecrets) Kind() string { return "keyring" }
func (k *memSecrets) Get(key string) (string, error) {
	if k.err != nil {
		return "", k.err
	}
	s, ok := k.m[key]
	if !ok {
		return "", errs.New(errs.ErrNotFound, "keyring", key, "no secret")
	}
	return s, nil
}
func (k *memSecrets) Set(key, s string) error {
	if k.err != nil {
		return k.err
	}
	k.m[key] = s
	return nil
}
func (k *memSecrets) Delete(key string) error {
	if k.err != nil {
		return k.err
	}
	delete(k.m, key)
	return nil
}

var fakeCred = &auth.Credentials{IDToken: "id-token-SECRET", RefreshToken: "refresh-token-SECRET", ExpiresAt: time.Now().Add(time.Hour), UID: "u1"}

func TestSaveKeyringAndList(t *testing.T) {
	dir := t.TempDir()
	var notices []string
	kr := mockKeyring(t, nil)
	m, err := Open(Options{Dir: dir, Keyring: kr, Notice: func(s string) { notices = append(notices, s) }})
	if err != nil {
		t.Fatal(err)
	}
	s := &Session{Name: "ada", UID: "u1", Project: "demo-x", Method: "password"}
	if err := m.Save(s, fakeCred, "key"); err != nil {
		t.Fatal(err)
	}
	if s.Store != "keyring" || len(notices) != 0 {
		t.Fatalf("store %q, notices %v: want the keyring and no notice", s.Store, notices)
	}
	if _, err := os.Stat(filepath.Join(dir, "secrets.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("secrets.json exists with a keyring: %v", err)
	}
	index, _ := os.ReadFile(filepath.Join(dir, "sessions.json"))
	if strings.Contains(string(index), "SECRET") {
		t.Errorf("sessions.json holds a token:\n%s", index)
	}
	if st, _ := os.Stat(filepath.Join(dir, "sessions.json")); st.Mode().Perm() != 0o600 {
		t.Errorf("sessions.json mode %o, want 600", st.Mode().Perm())
	}
	raw, err := kr.Get("session/demo-x/ada")
	if err != nil || !strings.Contains(raw, "refresh-token-SECRET") {
		t.Fatalf("keyring entry: %q, %v", raw, err)
	}
	if err := m.Save(&Session{Name: "bob", UID: "u2", Project: "demo-x", Method: "uid"}, fakeCred, ""); err != nil {
		t.Fatal(err)
	}
	list, err := m.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Name != "ada" || list[0].Default || !list[1].Default {
		t.Fatalf("List: got %+v, want ada and bob (default)", list)
	}
	if err := m.SetDefault("ada"); err != nil {
		t.Fatal(err)
	}
	if got, err := m.Get(""); err != nil || got.Name != "ada" {
		t.Fatalf("Get(default): got %v, %v, want ada", got, err)
	}
	if err := m.SetDefault("nobody"); errs.KindOf(err) != errs.ErrNotFound {
		t.Errorf("SetDefault(nobody): got %v, want not found", err)
	}
	if _, err := m.Remove("ada"); err != nil {
		t.Fatal(err)
	}
	if _, err := kr.Get("session/demo-x/ada"); errs.KindOf(err) != errs.ErrNotFound {
		t.Errorf("after Remove the keyring still has the secret: %v", err)
	}
	if got, err := m.Get(""); err != nil || got.Name != "bob" {
		t.Errorf("after removing the default, the one left is the default: got %v, %v", got, err)
	}
}

func TestFallbackToFileWithNotice(t *testing.T) {
	dir := t.TempDir()
	var notices []string
	m, _ := Open(Options{Dir: dir, Keyring: mockKeyring(t, errors.New("no secret service")), Notice: func(s string) { notices = append(notices, s) }})
	s := &Session{Name: "ada", UID: "u1", Project: "demo-x", Method: "password"}
	if err := m.Save(s, fakeCred, ""); err != nil {
		t.Fatal(err)
	}
	if s.Store != "file" {
		t.Fatalf("store %q, want file", s.Store)
	}
	if len(notices) != 1 || strings.Contains(notices[0], "\n") || !strings.Contains(notices[0], "secrets.json") || !strings.Contains(notices[0], "no secret service") {
		t.Fatalf("notices %q: want one line naming the file and the reason", notices)
	}
	st, err := os.Stat(filepath.Join(dir, "secrets.json"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("secrets.json: %v, mode %v, want 0600", err, st.Mode().Perm())
	}
	// Strict keyring: no fallback.
	strict, _ := Open(Options{Dir: t.TempDir(), Store: "keyring", Keyring: mockKeyring(t, errors.New("no secret service"))})
	err = strict.Save(&Session{Name: "ada", UID: "u1", Project: "demo-x"}, fakeCred, "")
	if err == nil || !strings.Contains(err.Error(), "--store file") {
		t.Errorf("store keyring without one: got %v, want an error with a hint", err)
	}
}

func TestFileRefusesReadableByOthers(t *testing.T) {
	dir := t.TempDir()
	m, _ := Open(Options{Dir: dir, Store: "file"})
	s := &Session{Name: "ada", UID: "u1", Project: "demo-x"}
	if err := m.Save(s, fakeCred, ""); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "secrets.json")
	for _, mode := range []os.FileMode{0o640, 0o604, 0o660} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, err := m.APIKey(s)
		if errs.KindOf(err) != errs.ErrPermission || !strings.Contains(err.Error(), "chmod 600") {
			t.Errorf("mode %04o: got %v, want a refusal with a chmod hint", mode, err)
		}
		if err != nil && strings.Contains(err.Error(), "SECRET") {
			t.Errorf("the error shows a token: %v", err)
		}
		// Saving refuses too: nothing is written into a readable file.
		if err := m.Save(&Session{Name: "bob", UID: "u2", Project: "demo-x"}, fakeCred, ""); errs.KindOf(err) != errs.ErrPermission {
			t.Errorf("mode %04o: Save got %v, want a refusal", mode, err)
		}
	}
	os.Chmod(path, 0o600)
	if _, err := m.APIKey(s); err != nil {
		t.Errorf("mode 0600: %v", err)
	}
	// A damaged file: the error does not quote it.
	os.WriteFile(path, []byte(`{"session/demo-x/ada": "refresh-token-SECRET"`), 0o600)
	if _, err := m.APIKey(s); err == nil || strings.Contains(err.Error(), "SECRET") {
		t.Errorf("damaged file: got %v, want an error without the content", err)
	}
}

func TestValidName(t *testing.T) {
	for _, n := range []string{"", "a/b", "a\\b", "a\nb", strings.Repeat("x", 129)} {
		if ValidName(n) == nil {
			t.Errorf("ValidName(%q) = nil, want an error", n)
		}
	}
	for _, n := range []string{"ada@example.com", "alice", "user 1"} {
		if err := ValidName(n); err != nil {
			t.Errorf("ValidName(%q) = %v", n, err)
		}
	}
}

// A session on the Auth emulator: its ID token, once expired, is refreshed
// through the Secure Token API and the renewed tokens are saved; once the
// user is gone the session says it has ended, and no error shows a token.
func TestSourceRefreshesAndSaves(t *testing.T) {
	a := emutest.NewAuth(t)
	ctx := context.Background()
	email := emutest.UniqueEmail(t, "sess")
	c := a.Client(t)
	if _, err := c.CreateUser(ctx, (&fbauth.UserToCreate{}).Email(email).Password("pw-123456")); err != nil {
		t.Fatal(err)
	}
	sc := auth.NewSignInClient(auth.SignInConfig{EmulatorHost: a.Host})
	cred, err := sc.SignInWithPassword(ctx, email, "pw-123456")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	m, _ := Open(Options{Dir: dir, Store: "file"})
	s := &Session{Name: email, UID: cred.UID, Email: email, Project: a.ProjectID, Emulator: a.Host, Method: "password"}
	if err := m.Save(s, cred, ""); err != nil {
		t.Fatal(err)
	}
	// Expire the stored ID token.
	sec, _ := m.loadSecret(s)
	sec.ExpiresAt = time.Now().Add(-time.Minute)
	if err := m.storeSecret(s, sec); err != nil {
		t.Fatal(err)
	}
	src, err := m.Source(s, sc)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := src.IDToken(ctx)
	if err != nil {
		t.Fatal(err)
	}
	src.Close()
	if src.Refreshes() != 1 {
		t.Errorf("refreshes: got %d, want 1", src.Refreshes())
	}
	saved, _ := m.loadSecret(s)
	if saved.IDToken != tok || !saved.ExpiresAt.After(time.Now().Add(30*time.Minute)) {
		t.Errorf("the renewed token was not saved (expires %v)", saved.ExpiresAt)
	}
	// A fresh token is served without a refresh.
	src2, _ := m.Source(s, sc)
	if _, err := src2.IDToken(ctx); err != nil || src2.Refreshes() != 0 {
		t.Errorf("fresh token: err %v, refreshes %d, want none", err, src2.Refreshes())
	}
	src2.Close()

	// The user deleted: the next refresh fails and says the session
	// ended. (The Auth emulator still refreshes a revoked refresh token;
	// production does not.)
	if err := c.DeleteUser(ctx, cred.UID); err != nil {
		t.Fatal(err)
	}
	sec, _ = m.loadSecret(s)
	sec.ExpiresAt = time.Now().Add(-time.Minute)
	m.storeSecret(s, sec)
	src3, _ := m.Source(s, sc)
	defer src3.Close()
	_, err = src3.IDToken(ctx)
	if errs.KindOf(err) != errs.ErrUnauthenticated || !strings.Contains(err.Error(), "sign in again") {
		t.Fatalf("after the user was deleted: got %v, want the session ended", err)
	}
	for _, secretText := range []string{sec.RefreshToken, sec.IDToken, tok} {
		if strings.Contains(err.Error(), secretText) {
			t.Errorf("the error shows a token: %v", err)
		}
	}
}

// The keyring path against a real Secret Service: gnome-keyring on a
// private D-Bus session bus, started here. It needs the Debian packages
// dbus and gnome-keyring (scripts/test.sh installs them).
func TestSecretService(t *testing.T) {
	for _, bin := range []string{"dbus-daemon", "gnome-keyring-daemon"} {
		if _, err := exec.LookPath(bin); err != nil {
			emutest.Unavailable(t, "Secret Service", bin, bin+" is not installed (apt-get install dbus gnome-keyring)")
			return
		}
	}
	home := t.TempDir()
	bus := startDaemon(t, home, "", "dbus-daemon", "--session", "--nofork", "--print-address=1")
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", bus)
	startDaemon(t, home, "test-password", "gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets")
	// The daemon creates the unlocked login keyring, the default
	// collection, a moment after starting: wait for its file first, as a
	// keyring call before then finds no default collection to unlock.
	loginKeyring := filepath.Join(home, "data", "keyrings", "login.keyring")
	for i := 0; i < 100; i++ {
		if _, err := os.Stat(loginKeyring); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	k := Keyring{Service: "fbadmin-test-" + filepath.Base(home)}
	var err error
	for i := 0; i < 100; i++ {
		if err = k.Set("probe", "x"); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("the Secret Service did not answer: %v", err)
	}
	if err := k.Available(); err != nil {
		t.Fatal(err)
	}
	m, _ := Open(Options{Dir: t.TempDir(), Keyring: k, Notice: func(s string) { t.Errorf("unexpected notice: %s", s) }})
	s := &Session{Name: "ada", UID: "u1", Project: "demo-x"}
	if err := m.Save(s, fakeCred, "key"); err != nil {
		t.Fatal(err)
	}
	if s.Store != "keyring" {
		t.Fatalf("store %q, want keyring", s.Store)
	}
	if _, err := os.Stat(filepath.Join(m.Dir(), "secrets.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("secrets.json was written: %v", err)
	}
	raw, err := k.Get("session/demo-x/ada")
	if err != nil {
		t.Fatal(err)
	}
	var sec secret
	if json.Unmarshal([]byte(raw), &sec); sec.RefreshToken != fakeCred.RefreshToken || sec.APIKey != "key" {
		t.Errorf("the Secret Service holds %+v", sec)
	}
	if _, err := m.Remove("ada"); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Get("session/demo-x/ada"); errs.KindOf(err) != errs.ErrNotFound {
		t.Errorf("after Remove: %v, want not found", err)
	}
}

// startDaemon runs a daemon in its own process group with HOME and
// XDG_DATA_HOME in home, writing stdin to it, and returns the first line
// it prints (when it prints one); the group is stopped when the test ends.
func startDaemon(t *testing.T, home, stdin string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_DATA_HOME="+home+"/data", "XDG_RUNTIME_DIR="+home)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		cmd.Wait()
	})
	if stdin != "" {
		return ""
	}
	line := make(chan string, 1)
	go func() {
		var b [512]byte
		n, _ := out.Read(b[:])
		line <- strings.TrimSpace(string(b[:n]))
	}()
	select {
	case l := <-line:
		if l == "" {
			t.Fatalf("%s printed nothing", name)
		}
		return l
	case <-time.After(10 * time.Second):
		t.Fatalf("%s printed no address within 10 s", name)
	}
	return ""
}
