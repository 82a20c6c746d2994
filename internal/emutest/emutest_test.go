package emutest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"cloud.google.com/go/firestore"
	"firebase.google.com/go/v4/auth"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestInCI(t *testing.T) {
	for _, tc := range []struct {
		env  string
		want bool
	}{
		{"", false},
		{"true", true},
		{"TRUE", true},
		{"1", true},
		{"false", false},
		{"0", false},
		{"yes", false},
	} {
		t.Setenv("CI", tc.env)
		if got := InCI(); got != tc.want {
			t.Errorf("CI=%q: InCI() = %v, want %v", tc.env, got, tc.want)
		}
	}
}

// recordingTB records what Unavailable asks of a test instead of stopping
// the real one.
type recordingTB struct {
	testing.TB
	fatal, skip string
}

func (r *recordingTB) Helper()                           {}
func (r *recordingTB) Fatalf(format string, args ...any) { r.fatal = fmt.Sprintf(format, args...) }
func (r *recordingTB) Skip(args ...any)                  { r.skip = fmt.Sprint(args...) }

func TestUnavailable(t *testing.T) {
	t.Run("CI fails", func(t *testing.T) {
		t.Setenv("CI", "true")
		r := &recordingTB{TB: t}
		Unavailable(r, "Auth", "127.0.0.1:1", "connection refused")
		if !strings.Contains(r.fatal, "Auth emulator not reachable at 127.0.0.1:1") ||
			!strings.Contains(r.fatal, "scripts/emulators.sh start") {
			t.Errorf("fatal message = %q, want one naming the emulator, host and start command", r.fatal)
		}
	})
	t.Run("developer skips", func(t *testing.T) {
		t.Setenv("CI", "")
		r := &recordingTB{TB: t}
		Unavailable(r, "Pub/Sub", "127.0.0.1:1", "connection refused")
		if r.fatal != "" {
			t.Errorf("outside CI the test failed: %q", r.fatal)
		}
		if !strings.Contains(r.skip, "Pub/Sub emulator not reachable") {
			t.Errorf("skip message = %q", r.skip)
		}
	})
}

func TestEmulatorProject(t *testing.T) {
	for _, tc := range []struct {
		fbadmin, gcloud, want string
	}{
		{"", "", DefaultProject},
		{"", "demo-g", "demo-g"},
		{"demo-f", "demo-g", "demo-f"},
	} {
		t.Setenv("FBADMIN_PROJECT", tc.fbadmin)
		t.Setenv("GCLOUD_PROJECT", tc.gcloud)
		if got := EmulatorProject(); got != tc.want {
			t.Errorf("FBADMIN_PROJECT=%q GCLOUD_PROJECT=%q: got %q, want %q", tc.fbadmin, tc.gcloud, got, tc.want)
		}
	}
}

func TestUniqueNames(t *testing.T) {
	validTopic := regexp.MustCompile(`^[A-Za-z][A-Za-z0-9\-_.~+%]{2,254}$`)
	seen := map[string]bool{}
	for i := 0; i < 100; i++ {
		for _, s := range []string{ProjectID(t), UniqueID(t, "t"), UniqueID(t, ""), UniqueEmail(t, "User")} {
			if seen[s] {
				t.Fatalf("%q returned twice", s)
			}
			seen[s] = true
		}
	}
	if id := UniqueID(t, "t"); !validTopic.MatchString(id) {
		t.Errorf("UniqueID(t, \"t\") = %q, not a valid Pub/Sub ID", id)
	}
	if id := UniqueID(t, ""); !strings.HasPrefix(id, "u-") {
		t.Errorf("UniqueID(t, \"\") = %q, want prefix u-", id)
	}
	if p := ProjectID(t); !strings.HasPrefix(p, "demo-") || len(p) > 30 {
		t.Errorf("ProjectID = %q, want a demo- project ID of at most 30 characters", p)
	}
	if e := UniqueEmail(t, "User"); !regexp.MustCompile(`^user-[0-9a-f]{12}@example\.com$`).MatchString(e) {
		t.Errorf("UniqueEmail = %q", e)
	}
}

func TestProbesRejectOtherServers(t *testing.T) {
	serve := func(t *testing.T, h http.HandlerFunc) string {
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		return strings.TrimPrefix(srv.URL, "http://")
	}
	okRoot := func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/" {
			io.WriteString(w, "Ok")
			return
		}
		http.NotFound(w, r)
	}
	t.Run("Firestore is not Pub/Sub", func(t *testing.T) {
		if err := pubsubProbe(serve(t, okRoot)); err == nil {
			t.Error("pubsubProbe accepted a server without the topic listing")
		}
	})
	t.Run("Pub/Sub", func(t *testing.T) {
		host := serve(t, func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/v1/projects/demo-probe/topics" {
				io.WriteString(w, "{}")
				return
			}
			okRoot(w, r)
		})
		if err := pubsubProbe(host); err != nil {
			t.Errorf("pubsubProbe: %v", err)
		}
	})
	for _, tc := range []struct {
		body string
		ok   bool
	}{
		{`{"authEmulator":{"ready":true}}`, true},
		{`{"authEmulator":{"ready":false}}`, false},
		{`Ok`, false},
	} {
		t.Run("Auth "+tc.body, func(t *testing.T) {
			host := serve(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, tc.body) })
			if err := authProbe(host); (err == nil) != tc.ok {
				t.Errorf("authProbe on %s: err = %v, want ok=%v", tc.body, err, tc.ok)
			}
		})
	}
}

func TestNewFirestore(t *testing.T) {
	ctx := context.Background()
	a, b := NewFirestore(t), NewFirestore(t)
	if a.ProjectID == b.ProjectID {
		t.Fatalf("two tests share project %s", a.ProjectID)
	}
	doc := a.Client.Doc("c/d")
	if _, err := doc.Set(ctx, map[string]any{"n": 1}); err != nil {
		t.Fatalf("set: %v", err)
	}
	snap, err := doc.Get(ctx)
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if n, _ := snap.DataAt("n"); n != int64(1) {
		t.Errorf("n = %v, want 1", n)
	}
	if _, err := b.Client.Doc("c/d").Get(ctx); status.Code(err) != codes.NotFound {
		t.Errorf("other project sees the document: err = %v, want NotFound", err)
	}
	if err := ResetFirestore(a.Host, a.ProjectID, firestore.DefaultDatabaseID); err != nil {
		t.Fatalf("reset: %v", err)
	}
	if _, err := doc.Get(ctx); status.Code(err) != codes.NotFound {
		t.Errorf("after reset: err = %v, want NotFound", err)
	}
}

func TestNewAuthProject(t *testing.T) {
	ctx := context.Background()
	a := NewAuthProject(t)
	c := a.Client(t)
	uid := UniqueID(t, "user")
	if _, err := c.CreateUser(ctx, (&auth.UserToCreate{}).UID(uid).Email(UniqueEmail(t, "user"))); err != nil {
		t.Fatalf("create user: %v", err)
	}
	if u, err := c.GetUser(ctx, uid); err != nil || u.UID != uid {
		t.Fatalf("get user: %v, %v", u, err)
	}
	if err := ResetAuth(a.Host, a.ProjectID); err != nil {
		t.Fatalf("reset: %v", err)
	}
	if _, err := c.GetUser(ctx, uid); !auth.IsUserNotFound(err) {
		t.Errorf("after reset: err = %v, want user not found", err)
	}
}

func TestNewAuthSignIn(t *testing.T) {
	ctx := context.Background()
	a := NewAuth(t)
	if a.ProjectID != EmulatorProject() {
		t.Fatalf("ProjectID = %q, want the emulator's own %q", a.ProjectID, EmulatorProject())
	}
	c := a.Client(t)
	email := UniqueEmail(t, "signin")
	u, err := c.CreateUser(ctx, (&auth.UserToCreate{}).Email(email).Password("secret-123"))
	if err != nil {
		t.Fatalf("create user: %v", err)
	}
	t.Cleanup(func() { _ = c.DeleteUser(context.Background(), u.UID) })

	body := fmt.Sprintf(`{"email":%q,"password":"secret-123","returnSecureToken":true}`, email)
	resp, err := http.Post(a.URL("/identitytoolkit.googleapis.com/v1/accounts:signInWithPassword?key=any"),
		"application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("sign in: %v", err)
	}
	defer resp.Body.Close()
	var out struct {
		IDToken string `json:"idToken"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.IDToken == "" {
		t.Fatalf("sign in: status %s, decode error %v", resp.Status, err)
	}
	tok, err := c.VerifyIDToken(ctx, out.IDToken)
	if err != nil {
		t.Fatalf("verify ID token: %v", err)
	}
	if tok.UID != u.UID || tok.Audience != a.ProjectID {
		t.Errorf("token uid %q aud %q, want %q and %q", tok.UID, tok.Audience, u.UID, a.ProjectID)
	}
}

func TestNewPubSubProject(t *testing.T) {
	p, other := NewPubSubProject(t), NewPubSubProject(t)
	topic := UniqueID(t, "topic")
	put := func(url, body string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPut, url, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("PUT %s: %v", url, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("PUT %s: %s", url, resp.Status)
		}
	}
	put("http://"+p.Host+"/v1/"+p.Topic(topic), "{}")
	put("http://"+p.Host+"/v1/"+p.Subscription(UniqueID(t, "sub")), fmt.Sprintf(`{"topic":%q}`, p.Topic(topic)))

	for _, kind := range []string{"topics", "subscriptions"} {
		names, err := listNames(p.Host, p.ProjectID, kind)
		if err != nil || len(names) != 1 {
			t.Fatalf("%s: %v, %v; want one", kind, names, err)
		}
		if names, err := listNames(other.Host, other.ProjectID, kind); err != nil || len(names) != 0 {
			t.Errorf("another project sees %s %v (err %v)", kind, names, err)
		}
	}
	if err := ResetPubSub(p.Host, p.ProjectID); err != nil {
		t.Fatalf("reset: %v", err)
	}
	for _, kind := range []string{"topics", "subscriptions"} {
		names, err := listNames(p.Host, p.ProjectID, kind)
		if err != nil || len(names) != 0 {
			t.Errorf("after reset, %s: %v, %v; want none", kind, names, err)
		}
	}
}
