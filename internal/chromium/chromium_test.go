package chromium_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/fbadmin/fbadmin/internal/chromium"
	"github.com/fbadmin/fbadmin/internal/emutest"
)

func TestPathOverride(t *testing.T) {
	t.Setenv("FBADMIN_CHROMIUM", "/nonexistent/chromium-for-test")
	if p, err := chromium.Path(); err == nil {
		t.Fatalf("Path() with a missing FBADMIN_CHROMIUM = %q, want an error", p)
	}
	t.Setenv("FBADMIN_CHROMIUM", "/bin/sh")
	if p, err := chromium.Path(); err != nil || p != "/bin/sh" {
		t.Fatalf("Path() = %q, %v, want /bin/sh", p, err)
	}
}

// TestStart starts the browser and reads a page's title: the flags work
// here (as root, too).
func TestStart(t *testing.T) {
	path, err := chromium.Path()
	if err != nil {
		if emutest.InCI() {
			t.Fatalf("CI=true: %v", err)
		}
		t.Skip(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("<!doctype html><title>hello fbadmin</title><p>hi"))
	}))
	defer srv.Close()
	ctx, cancel, err := chromium.Start(context.Background(), path, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	defer cancel()
	tctx, tcancel := context.WithTimeout(ctx, 30*time.Second)
	defer tcancel()
	if err := chromedp.Do(tctx, chromedp.Navigate(srv.URL)); err != nil {
		t.Fatal(err)
	}
	title, err := chromedp.Run(tctx, chromedp.Title())
	if err != nil {
		t.Fatal(err)
	}
	if title != "hello fbadmin" {
		t.Fatalf("title = %q, want %q", title, "hello fbadmin")
	}
}
