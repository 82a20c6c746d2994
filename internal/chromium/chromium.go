// Package chromium finds and starts the headless Chromium that the
// console's browser tests (console/browser_test.go) and its benchmark
// (internal/cmd/bench/console) drive through chromedp.
//
// # Which binary
//
// [Path] returns $FBADMIN_CHROMIUM when it is set, otherwise the first of
// chromium, chromium-browser, google-chrome, google-chrome-stable and
// headless-shell found on PATH. On Debian, apt-get install chromium brings
// one; scripts/test.sh installs it as root when it is missing.
//
// # How it runs
//
// [Start] runs it with --headless=new, a fixed window size, and
// --no-sandbox when the process runs as root (Chromium's sandbox refuses
// root). Each call starts its own browser process with a fresh profile in a
// temporary directory, so cookies and caches never leak between callers.
package chromium

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"

	"github.com/chromedp/chromedp"
)

// Candidates are the names [Path] looks for on PATH, in order.
var Candidates = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"}

// ErrNotFound is returned by [Path] when no Chromium is installed.
var ErrNotFound = errors.New("chromium not found (apt-get install chromium, or set FBADMIN_CHROMIUM to a Chrome or Chromium binary)")

// Path returns the Chromium binary to run.
func Path() (string, error) {
	if p := os.Getenv("FBADMIN_CHROMIUM"); p != "" {
		abs, err := exec.LookPath(p)
		if err != nil {
			return "", fmt.Errorf("FBADMIN_CHROMIUM=%s: %w", p, err)
		}
		return abs, nil
	}
	for _, name := range Candidates {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", ErrNotFound
}

// Options are the allocator options [Start] uses for the binary at path.
func Options(path string) []chromedp.ExecAllocatorOption {
	opts := slices.Clone(chromedp.DefaultExecAllocatorOptions[:])
	opts = append(opts,
		chromedp.ExecPath(path),
		chromedp.Flag("headless", "new"),
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-gpu", true),
	)
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	return opts
}

// Start starts a headless Chromium (the binary at path, or [Path]'s when
// path is empty) and returns a chromedp context for its first tab. cancel
// closes the browser and waits for it to exit; call it once.
func Start(ctx context.Context, path string, logf func(format string, args ...any)) (context.Context, context.CancelFunc, error) {
	if path == "" {
		var err error
		if path, err = Path(); err != nil {
			return nil, nil, err
		}
	}
	actx, acancel := chromedp.NewExecAllocator(ctx, Options(path)...)
	var copts []chromedp.ContextOption
	if logf != nil {
		copts = append(copts, chromedp.WithErrorf(func(format string, args ...any) {
			// chromedp reports CDP events it cannot decode (a newer
			// Chromium than its protocol tables) as errors: noise.
			if msg := fmt.Sprintf(format, args...); !strings.Contains(msg, "could not unmarshal event") {
				logf("chromium: %s", msg)
			}
		}))
	}
	bctx, bcancel := chromedp.NewContext(actx, copts...)
	// The first Run starts the browser.
	if err := chromedp.Do(bctx); err != nil {
		bcancel()
		acancel()
		return nil, nil, fmt.Errorf("start %s: %w", path, err)
	}
	return bctx, func() { bcancel(); acancel() }, nil
}
