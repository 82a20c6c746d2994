// Command auth measures the auth package on the Auth emulator: ID-token
// verifications per second, and users per second for importing and
// exporting N users, beside `firebase auth:import` and `firebase
// auth:export` (the project's pinned firebase-tools) on the same emulator.
//
// Verification runs on tokens the emulator issued, which are unsigned: the
// path skips the signature check (and only that). It includes fbadmin's own
// checks (format, algorithm rule, audience, issuer, subject, iat/exp/nbf),
// the Admin SDK's claim checks, and the user lookup (revoked or disabled)
// that the SDK makes on every verification in emulator mode.
//
// Import and export use a file of N users in the Firebase CLI's JSON format,
// lean users (UID, email, flag; an HMAC_SHA256 password hash for one in
// four): the emulator refuses requests over 100 KB on the legacy endpoint the
// CLI uses, and the CLI always sends 1,000 users per request, so richer users
// make its import fail on the emulator (HTTP 413). Each side
// gets a fresh project of its own on the emulator (deleted afterwards), so
// nothing else in the emulator is touched. The Firebase CLI is timed as a
// whole process, as a user waits for it (including its start-up, reported
// apart); fbadmin is timed in process.
//
// Usage (normally through scripts/bench.sh auth):
//
//	FIREBASE_AUTH_EMULATOR_HOST=127.0.0.1:9099 go run ./internal/cmd/bench/auth [-n 10000]
//
// stdout carries readable lines, then, as its last line, one JSON object
// with the figures; import_vs_firebase and export_vs_firebase are fbadmin's
// users/s divided by the Firebase CLI's (higher is better).
package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fbadmin/fbadmin/auth"
	"github.com/fbadmin/fbadmin/internal/emutest"
)

var hashKey = []byte("fbadmin-bench-hmac-key")

type result struct {
	N                       int     `json:"n"`
	VerifyTokens            int     `json:"verify_tokens"`
	VerifyConcurrency       int     `json:"verify_concurrency"`
	VerifyPerS              float64 `json:"verify_per_s"`
	VerifySkips             string  `json:"verify_skips"`
	ImportConcurrency       int     `json:"import_concurrency"`
	FbadminImportUsersPerS  float64 `json:"fbadmin_import_users_per_s"`
	FirebaseImportUsersPerS float64 `json:"firebase_import_users_per_s"`
	FbadminExportUsersPerS  float64 `json:"fbadmin_export_users_per_s"`
	FirebaseExportUsersPerS float64 `json:"firebase_export_users_per_s"`
	FirebaseStartupS        float64 `json:"firebase_startup_s"`
	ImportVsFirebase        float64 `json:"import_vs_firebase"`
	ExportVsFirebase        float64 `json:"export_vs_firebase"`
}

func main() {
	n := flag.Int("n", 10000, "users imported and exported by each side")
	verifyFor := flag.Duration("verify-for", 3*time.Second, "how long to run verifications")
	verifyConc := flag.Int("verify-concurrency", 8, "goroutines verifying tokens")
	verifyTokens := flag.Int("verify-tokens", 50, "distinct users (and tokens) verified")
	importConc := flag.Int("concurrency", 4, "import batches in flight for fbadmin")
	firebaseBin := flag.String("firebase", filepath.Join("emulator", "node_modules", ".bin", "firebase"),
		"the Firebase CLI to compare with")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *n, *verifyFor, *verifyConc, *verifyTokens, *importConc, *firebaseBin); err != nil {
		fmt.Fprintln(os.Stderr, "bench auth:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, n int, verifyFor time.Duration, verifyConc, verifyTokens, importConc int, firebaseBin string) error {
	host := os.Getenv(auth.EmulatorHostEnv)
	if host == "" {
		host = "127.0.0.1:9099"
	}
	if err := probe(host); err != nil {
		return fmt.Errorf("auth emulator at %s: %v (start it with scripts/emulators.sh start)", host, err)
	}
	if _, err := os.Stat(firebaseBin); err != nil {
		return fmt.Errorf("firebase CLI %s: %v (run npm ci in emulator/)", firebaseBin, err)
	}
	res := result{N: n, VerifyConcurrency: verifyConc, VerifyTokens: verifyTokens, ImportConcurrency: importConc,
		VerifySkips: "signature (emulator tokens are unsigned); includes local claim checks and the SDK's per-call user lookup"}

	// 1. Verification, on the emulator's own project (its tokens' audience).
	emuProject := firstEnv("FBADMIN_PROJECT", "GCLOUD_PROJECT")
	if emuProject == "" {
		emuProject = "demo-fbadmin"
	}
	vps, err := benchVerify(ctx, host, emuProject, verifyFor, verifyConc, verifyTokens)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	res.VerifyPerS = vps
	fmt.Printf("verify: %.0f ID tokens/s (%d goroutines, %d users)\n", vps, verifyConc, verifyTokens)

	// 2. Import and export.
	dir, err := os.MkdirTemp("", "fbadmin-bench-auth-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "users.json")
	maxBatch, err := writeUsers(file, n)
	if err != nil {
		return err
	}
	if maxBatch > emulatorBodyLimit-2048 {
		return fmt.Errorf("a batch of 1,000 users is %d bytes, too close to the emulator's %d-byte request limit for the CLI", maxBatch, emulatorBodyLimit)
	}
	fmt.Printf("users file: %d users, largest batch of 1,000 about %d bytes (the emulator's limit for the CLI's requests: %d)\n",
		n, maxBatch, emulatorBodyLimit)
	cli, err := newFirebaseCLI(firebaseBin, host, dir)
	if err != nil {
		return err
	}
	start := time.Now()
	if out, err := cli.run(ctx, "--version"); err != nil {
		return fmt.Errorf("firebase --version: %v\n%s", err, out)
	}
	res.FirebaseStartupS = time.Since(start).Seconds()
	fmt.Printf("firebase CLI start-up (firebase --version): %.2f s\n", res.FirebaseStartupS)

	suffix := randHex(4)
	ours := "demo-bench-" + suffix + "-fbadmin"
	theirs := "demo-bench-" + suffix + "-firebase"
	defer func() {
		for _, p := range []string{ours, theirs} {
			_ = emutest.ResetAuth(host, p)
		}
	}()
	oc, err := auth.New(ctx, auth.Config{ProjectID: ours, EmulatorHost: host})
	if err != nil {
		return err
	}
	tc, err := auth.New(ctx, auth.Config{ProjectID: theirs, EmulatorHost: host})
	if err != nil {
		return err
	}

	// Import: fbadmin, then the CLI (each into its own empty project).
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	start = time.Now()
	rep, err := oc.ImportUsers(ctx, f, auth.ImportOptions{
		Hash: auth.HashConfig{Algorithm: "HMAC_SHA256", Key: hashKey}, Concurrency: importConc})
	f.Close()
	if err != nil {
		return fmt.Errorf("fbadmin import: %w", err)
	}
	d := time.Since(start)
	if rep.Imported != n || rep.Failed != 0 {
		return fmt.Errorf("fbadmin import: %d imported, %d failed, want %d", rep.Imported, rep.Failed, n)
	}
	res.FbadminImportUsersPerS = float64(n) / d.Seconds()
	fmt.Printf("fbadmin import: %d users in %.2f s = %.0f users/s\n", n, d.Seconds(), res.FbadminImportUsersPerS)

	start = time.Now()
	out, err := cli.run(ctx, "auth:import", file, "--hash-algo", "HMAC_SHA256",
		"--hash-key", base64.StdEncoding.EncodeToString(hashKey), "--project", theirs)
	d = time.Since(start)
	if err != nil {
		return fmt.Errorf("firebase auth:import: %v\n%s", err, out)
	}
	if got, err := count(ctx, tc); err != nil || got != n {
		return fmt.Errorf("firebase auth:import left %d users (%v), want %d\n%s", got, err, n, out)
	}
	res.FirebaseImportUsersPerS = float64(n) / d.Seconds()
	fmt.Printf("firebase auth:import: %d users in %.2f s = %.0f users/s\n", n, d.Seconds(), res.FirebaseImportUsersPerS)

	// Export: the CLI, then fbadmin, of the same users (the CLI's import).
	cliOut := filepath.Join(dir, "cli-export.json")
	start = time.Now()
	out, err = cli.run(ctx, "auth:export", cliOut, "--project", theirs)
	d = time.Since(start)
	if err != nil {
		return fmt.Errorf("firebase auth:export: %v\n%s", err, out)
	}
	if got, err := countFile(cliOut); err != nil || got != n {
		return fmt.Errorf("firebase auth:export wrote %d users (%v), want %d", got, err, n)
	}
	res.FirebaseExportUsersPerS = float64(n) / d.Seconds()
	fmt.Printf("firebase auth:export: %d users in %.2f s = %.0f users/s\n", n, d.Seconds(), res.FirebaseExportUsersPerS)

	ourOut := filepath.Join(dir, "fbadmin-export.json")
	w, err := os.Create(ourOut)
	if err != nil {
		return err
	}
	start = time.Now()
	written, err := tc.ExportUsers(ctx, w, auth.ExportOptions{})
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	d = time.Since(start)
	if err != nil {
		return fmt.Errorf("fbadmin export: %w", err)
	}
	if written != n {
		return fmt.Errorf("fbadmin export: %d users, want %d", written, n)
	}
	res.FbadminExportUsersPerS = float64(n) / d.Seconds()
	fmt.Printf("fbadmin export: %d users in %.2f s = %.0f users/s\n", n, d.Seconds(), res.FbadminExportUsersPerS)

	res.ImportVsFirebase = round2(res.FbadminImportUsersPerS / res.FirebaseImportUsersPerS)
	res.ExportVsFirebase = round2(res.FbadminExportUsersPerS / res.FirebaseExportUsersPerS)
	res.VerifyPerS = round2(res.VerifyPerS)
	res.FbadminImportUsersPerS = round2(res.FbadminImportUsersPerS)
	res.FirebaseImportUsersPerS = round2(res.FirebaseImportUsersPerS)
	res.FbadminExportUsersPerS = round2(res.FbadminExportUsersPerS)
	res.FirebaseExportUsersPerS = round2(res.FirebaseExportUsersPerS)
	res.FirebaseStartupS = round2(res.FirebaseStartupS)
	b, _ := json.Marshal(res)
	fmt.Println(string(b))
	return nil
}

// benchVerify signs in users of the emulator's project (unique UIDs, deleted
// afterwards) and verifies their ID tokens for d.
func benchVerify(ctx context.Context, host, project string, d time.Duration, conc, users int) (float64, error) {
	c, err := auth.New(ctx, auth.Config{ProjectID: project, EmulatorHost: host})
	if err != nil {
		return 0, err
	}
	prefix := "bench-verify-" + randHex(4) + "-"
	uids := make([]string, users)
	tokens := make([]string, users)
	defer func() {
		_, _ = c.DeleteUsers(context.Background(), uids)
	}()
	sc := c.SignInClient()
	for i := range uids {
		uids[i] = fmt.Sprintf("%s%03d", prefix, i)
		ct, err := c.CustomToken(ctx, uids[i], map[string]any{"role": "bench"})
		if err != nil {
			return 0, err
		}
		cred, err := sc.SignInWithCustomToken(ctx, ct)
		if err != nil {
			return 0, err
		}
		tokens[i] = cred.IDToken
	}
	// Warm up, and check that every token verifies.
	for _, t := range tokens {
		if _, err := c.VerifyIDToken(ctx, t); err != nil {
			return 0, err
		}
	}
	var (
		done   atomic.Int64
		failed atomic.Value
		wg     sync.WaitGroup
	)
	deadline := time.Now().Add(d)
	start := time.Now()
	for g := range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; time.Now().Before(deadline) && ctx.Err() == nil; i++ {
				if _, err := c.VerifyIDToken(ctx, tokens[i%len(tokens)]); err != nil {
					failed.Store(err)
					return
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		return 0, err
	}
	return float64(done.Load()) / time.Since(start).Seconds(), nil
}

// emulatorBodyLimit is the request size the Auth emulator accepts on the
// legacy endpoint that `firebase auth:import` uses (body-parser's default
// of 100 KB): beyond it the CLI's 1,000-user batches fail with HTTP 413.
const emulatorBodyLimit = 100 << 10

// writeUsers writes n lean users in the CLI's format (UID, email, email
// verified; an HMAC_SHA256 password hash for one in four), lean so that the
// CLI's batches of 1,000 fit in the emulator's request limit. It returns the
// largest batch's size.
func writeUsers(path string, n int) (int, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	w := auth.NewUserFileWriter(f)
	maxBatch, batch := 0, 0
	for i := range n {
		u := &auth.FileUser{
			LocalID:       fmt.Sprintf("b%06d", i),
			Email:         fmt.Sprintf("b%06d@x.co", i),
			EmailVerified: i%2 == 0,
		}
		if i%4 == 0 {
			salt := []byte(fmt.Sprintf("s%05d", i%100000))
			m := hmac.New(sha256.New, hashKey)
			m.Write([]byte(fmt.Sprintf("password-%d", i)))
			m.Write(salt)
			u.PasswordHash = base64.StdEncoding.EncodeToString(m.Sum(nil))
			u.Salt = base64.StdEncoding.EncodeToString(salt)
		}
		b, _ := json.Marshal(u)
		batch += len(b) + 1
		if (i+1)%1000 == 0 || i == n-1 {
			maxBatch, batch = max(maxBatch, batch), 0
		}
		if err := w.Write(u); err != nil {
			f.Close()
			return 0, err
		}
	}
	if err := w.Close(); err != nil {
		f.Close()
		return 0, err
	}
	return maxBatch, f.Close()
}

// firebaseCLI runs the Firebase CLI against the Auth emulator with a private
// HOME holding a fake signed-in account (the emulator ignores the token).
type firebaseCLI struct {
	bin, home, host string
}

func newFirebaseCLI(bin, host, dir string) (*firebaseCLI, error) {
	abs, err := filepath.Abs(bin)
	if err != nil {
		return nil, err
	}
	home := filepath.Join(dir, "home")
	cfg := filepath.Join(home, ".config", "configstore")
	if err := os.MkdirAll(cfg, 0o700); err != nil {
		return nil, err
	}
	account := fmt.Sprintf(`{"user":{"email":"bench@example.com"},"tokens":{"access_token":"owner","refresh_token":"x","expires_at":%d}}`,
		time.Now().Add(24*time.Hour).UnixMilli())
	if err := os.WriteFile(filepath.Join(cfg, "firebase-tools.json"), []byte(account), 0o600); err != nil {
		return nil, err
	}
	return &firebaseCLI{bin: abs, home: home, host: host}, nil
}

func (f *firebaseCLI) run(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, f.bin, args...)
	cmd.Dir = f.home
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + f.home,
		"XDG_CONFIG_HOME=" + filepath.Join(f.home, ".config"),
		"CI=true", // skips the message-of-the-day fetch, which only slows it down here
		"FIREBASE_GOOGLE_URL=http://" + f.host + "/www.googleapis.com",
	}
	return cmd.CombinedOutput()
}

func count(ctx context.Context, c *auth.Client) (int, error) {
	n := 0
	for _, err := range c.AllUsers(ctx) {
		if err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func countFile(path string) (int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	r := auth.NewUserFileReader(bytes.NewReader(data))
	n := 0
	for {
		_, _, err := r.Next()
		if err != nil {
			var re *auth.RecordError
			if errors.As(err, &re) {
				n++
				continue
			}
			if errors.Is(err, io.EOF) {
				return n, nil
			}
			return n, err
		}
		n++
	}
}

func probe(host string) error {
	resp, err := (&http.Client{Timeout: 3 * time.Second}).Get("http://" + host + "/")
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("answered %s", resp.Status)
	}
	return nil
}

func firstEnv(names ...string) string {
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			return v
		}
	}
	return ""
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func round2(f float64) float64 { return float64(int64(f*100+0.5)) / 100 }
