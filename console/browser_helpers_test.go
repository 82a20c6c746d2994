package console_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/firestore"
	"github.com/chromedp/chromedp"

	"github.com/fbadmin/fbadmin/auth"
	"github.com/fbadmin/fbadmin/console"
	"github.com/fbadmin/fbadmin/internal/chromium"
	"github.com/fbadmin/fbadmin/internal/emutest"
	"github.com/fbadmin/fbadmin/internal/transfer"
)

// stepTimeout bounds one browser step (a navigation, a wait for an element):
// generous, since two cores are shared by several test binaries. The one
// timed deadline of the issue (live mode within 2 s) is set where it is
// checked.
const stepTimeout = 30 * time.Second

// browserEnv is one browser test's world: its own Firestore project (and
// Auth project when asked), the console serving it in-process on
// 127.0.0.1:0, and a headless Chromium logged in to it.
type browserEnv struct {
	t    *testing.T
	fs   *emutest.Firestore
	auth *emutest.Auth // nil without Auth
	ac   *auth.Client
	srv  *console.Server
	url  string          // the console's base URL
	ctx  context.Context // the browser tab
}

type envOptions struct {
	auth      bool
	databases bool // Config.OpenDatabase: other databases of the project under /db/{id}/
}

// newBrowserEnv starts the console over a fresh project and a browser, and
// logs the browser in with the access token.
func newBrowserEnv(t *testing.T, o envOptions) *browserEnv {
	t.Helper()
	path := chromiumPath(t)
	fs := emutest.NewFirestore(t)
	e := &browserEnv{t: t, fs: fs}
	ctx := context.Background()
	db, err := transfer.Open(ctx, transfer.Config{Project: fs.ProjectID, EmulatorHost: fs.Host})
	if err != nil {
		t.Fatalf("transfer.Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	cfg := console.Config{Firestore: fs.Client, DB: db, Token: "test-token-" + fs.ProjectID}
	if o.auth {
		e.auth = emutest.NewAuthProject(t)
		e.ac, err = auth.New(ctx, auth.Config{ProjectID: e.auth.ProjectID, EmulatorHost: e.auth.Host})
		if err != nil {
			t.Fatalf("auth.New: %v", err)
		}
		cfg.Auth = e.ac
	}
	if o.databases {
		cfg.OpenDatabase = func(ctx context.Context, id string) (*firestore.Client, *transfer.DB, error) {
			d, err := transfer.Open(ctx, transfer.Config{Project: fs.ProjectID, Database: id, EmulatorHost: fs.Host})
			if err != nil {
				return nil, nil, err
			}
			c, err := firestore.NewClientWithDatabase(ctx, fs.ProjectID, id)
			if err != nil {
				d.Close()
				return nil, nil, err
			}
			return c, d, nil
		}
	}
	e.srv, err = console.New(ctx, cfg)
	if err != nil {
		t.Fatalf("console.New: %v", err)
	}
	ts := httptest.NewServer(e.srv.Handler())
	// Cleanups run last-in first-out: the browser goes first, then the
	// server's streams, then the listener.
	t.Cleanup(ts.Close)
	t.Cleanup(e.srv.Close)
	e.url = ts.URL

	bctx, cancel, err := chromium.Start(ctx, path, t.Logf)
	if err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	t.Cleanup(cancel)
	e.ctx = bctx
	e.do(chromedp.Navigate(e.srv.LoginURL(e.url)))
	e.waitVisible(`[data-testid=nav-home]`)
	return e
}

// chromiumPath returns the browser to run: the test fails under CI=true
// when there is none, and skips otherwise.
func chromiumPath(t *testing.T) string {
	t.Helper()
	p, err := chromium.Path()
	if err != nil {
		if emutest.InCI() {
			t.Fatalf("CI=true: %v", err)
		}
		t.Skipf("%v: skipping the browser test", err)
	}
	return p
}

// do runs browser steps, failing the test on the first error.
func (e *browserEnv) do(steps ...chromedp.Action[chromedp.Void]) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		e.screenshot("failure")
		e.t.Fatalf("browser: %v (at %s)", err, e.location())
	}
}

// open navigates to a console path (such as /c/users).
func (e *browserEnv) open(path string) {
	e.t.Helper()
	e.do(chromedp.Navigate(e.url + path))
}

func (e *browserEnv) location() string {
	ctx, cancel := context.WithTimeout(e.ctx, 5*time.Second)
	defer cancel()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		return "unknown location"
	}
	return strings.TrimPrefix(loc, e.url)
}

// waitURL waits until the page's location contains substr: after a click
// that submits a form, while the old page unloads.
func (e *browserEnv) waitURL(substr string) {
	e.t.Helper()
	deadline := time.Now().Add(stepTimeout)
	for {
		ctx, cancel := context.WithTimeout(e.ctx, 5*time.Second)
		loc, err := chromedp.Run(ctx, chromedp.Location())
		cancel()
		if err == nil && strings.Contains(loc, substr) {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("the page did not reach a URL with %q (at %s)", substr, loc)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (e *browserEnv) waitVisible(css string) {
	e.t.Helper()
	e.do(chromedp.WaitVisible(chromedp.CSS(css)))
}

func (e *browserEnv) click(css string) {
	e.t.Helper()
	e.do(chromedp.Click(chromedp.CSS(css), chromedp.NodeVisible))
}

func (e *browserEnv) setValue(css, v string) {
	e.t.Helper()
	e.do(chromedp.SetValue(chromedp.CSS(css), v))
}

func (e *browserEnv) text(css string) string {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, stepTimeout)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(css)))
	if err != nil {
		e.t.Fatalf("text of %s: %v (at %s)", css, err, e.location())
	}
	return strings.TrimSpace(s)
}

// eval evaluates a JavaScript expression in the page (awaiting it when it
// is a promise).
func eval[T any](e *browserEnv, js string) T {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		e.t.Fatalf("evaluate %s: %v (at %s)", js, err, e.location())
	}
	return v
}

// waitJS waits until a JavaScript expression is true in the page.
func (e *browserEnv) waitJS(cond string) {
	e.t.Helper()
	js := fmt.Sprintf(`new Promise(res => { const f = () => { let ok = false; try { ok = !!(%s); } catch (e) {} ok ? res(true) : setTimeout(f, 50); }; f(); })`, cond)
	eval[bool](e, js)
}

// waitCount waits until the collection view's doc-count shows n.
func (e *browserEnv) waitCount(n string) {
	e.t.Helper()
	e.waitJS(fmt.Sprintf(`(c => c && c.getAttribute("data-state") === "done" && c.getAttribute("data-count") === %q)(document.querySelector('[data-testid=doc-count]'))`, n))
}

// attrs returns the attribute name of every element matching css, in
// document order.
func (e *browserEnv) attrs(css, name string) []string {
	e.t.Helper()
	return eval[[]string](e, fmt.Sprintf(
		`Array.from(document.querySelectorAll(%q)).map(el => el.getAttribute(%q) || "")`, css, name))
}

// screenshot writes a PNG of the viewport to the artifacts directory.
func (e *browserEnv) screenshot(name string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, stepTimeout)
	defer cancel()
	buf, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		e.t.Errorf("screenshot %s: %v", name, err)
		return
	}
	dir := artifactsDir(e.t)
	file := filepath.Join(dir, sanitize(e.t.Name())+"-"+name+".png")
	if err := os.WriteFile(file, buf, 0o644); err != nil {
		e.t.Errorf("write screenshot: %v", err)
		return
	}
	e.t.Logf("screenshot: %s", file)
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

func sanitize(s string) string { return unsafeName.ReplaceAllString(s, "_") }

// artifactsDir is where the tests write screenshots: $FBADMIN_ARTIFACTS/console
// when set (CI collects it), else .run/artifacts/console under the module
// root ($FBADMIN_RUN_DIR/artifacts/console when that is set), which git
// ignores.
func artifactsDir(t testing.TB) string {
	t.Helper()
	var dir string
	switch {
	case os.Getenv("FBADMIN_ARTIFACTS") != "":
		dir = filepath.Join(os.Getenv("FBADMIN_ARTIFACTS"), "console")
	case os.Getenv("FBADMIN_RUN_DIR") != "":
		dir = filepath.Join(os.Getenv("FBADMIN_RUN_DIR"), "artifacts", "console")
	default:
		root, err := emutest.ModuleRoot()
		if err != nil {
			t.Fatal(err)
		}
		dir = filepath.Join(root, ".run", "artifacts", "console")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// fbadminBinary builds the fbadmin binary into the test's temporary
// directory, for the tests that compare the console with the CLI.
func fbadminBinary(t *testing.T) string {
	t.Helper()
	bin, err := emutest.BuildFbadmin(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// sel is a CSS selector for a data-testid, with optional attribute
// constraints: sel("doc-row", "data-path", "users/alice").
func sel(testid string, attrs ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `[data-testid=%q]`, testid)
	for i := 0; i+1 < len(attrs); i += 2 {
		fmt.Fprintf(&b, `[%s=%q]`, attrs[i], attrs[i+1])
	}
	return b.String()
}
