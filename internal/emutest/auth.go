package emutest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"

	firebase "firebase.google.com/go/v4"
	"firebase.google.com/go/v4/auth"
)

// DefaultProject is the project the emulators are started with when
// FBADMIN_PROJECT is unset (see scripts/emulators.sh).
const DefaultProject = "demo-fbadmin"

// EmulatorProject returns the project the emulators were started with:
// FBADMIN_PROJECT, else GCLOUD_PROJECT, else [DefaultProject]. The Auth
// emulator's client endpoints (sign-in, token refresh) act on this project
// only, whatever project the request names.
func EmulatorProject() string {
	for _, v := range []string{"FBADMIN_PROJECT", "GCLOUD_PROJECT"} {
		if p := os.Getenv(v); p != "" {
			return p
		}
	}
	return DefaultProject
}

// AuthHost returns the Auth emulator's host, failing or skipping the test
// when it does not answer.
func AuthHost(tb testing.TB) string {
	tb.Helper()
	host, err := resolve("FIREBASE_AUTH_EMULATOR_HOST", DefaultAuthHost, authProbe)
	if err != nil {
		Unavailable(tb, "Auth", host, err.Error())
	}
	return host
}

// authProbe checks that host is an Auth emulator that is ready: its root
// answers {"authEmulator": {"ready": true}}.
func authProbe(host string) error {
	c := &http.Client{Timeout: probeTimeout}
	resp, err := c.Get("http://" + host + "/")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var body struct {
		AuthEmulator struct {
			Ready bool `json:"ready"`
		} `json:"authEmulator"`
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("unexpected answer %s", resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return fmt.Errorf("not an Auth emulator: %v", err)
	}
	if !body.AuthEmulator.Ready {
		return fmt.Errorf("the Auth emulator is not ready yet")
	}
	return nil
}

// Auth is one test's view of the Auth emulator: a host and the project the
// test works in.
type Auth struct {
	Host      string
	ProjectID string
}

// NewAuth returns the Auth emulator's own project ([EmulatorProject]), the
// only one whose ID tokens the client endpoints issue. Tests share it, so a
// test isolates its data with [UniqueID] and [UniqueEmail] instead of a
// reset, and must not call [ResetAuth] on it.
func NewAuth(tb testing.TB) *Auth {
	tb.Helper()
	return &Auth{Host: AuthHost(tb), ProjectID: EmulatorProject()}
}

// NewAuthProject gives the test its own project on the Auth emulator, for
// tests that use the Admin SDK only (user management, import, queries); its
// accounts are deleted when the test ends. Tokens signed in through the
// client endpoints do not belong to it: use [NewAuth] for those.
func NewAuthProject(tb testing.TB) *Auth {
	tb.Helper()
	a := &Auth{Host: AuthHost(tb), ProjectID: ProjectID(tb)}
	tb.Cleanup(func() {
		if err := ResetAuth(a.Host, a.ProjectID); err != nil {
			tb.Logf("reset auth project %s: %v", a.ProjectID, err)
		}
	})
	return a
}

// Client returns an Admin SDK Auth client for the test's project, talking to
// the emulator.
func (a *Auth) Client(tb testing.TB) *auth.Client {
	tb.Helper()
	ctx := context.Background()
	app, err := firebase.NewApp(ctx, &firebase.Config{ProjectID: a.ProjectID})
	if err != nil {
		tb.Fatalf("firebase app for %s: %v", a.ProjectID, err)
	}
	c, err := app.Auth(ctx)
	if err != nil {
		tb.Fatalf("auth client for %s: %v", a.ProjectID, err)
	}
	return c
}

// URL returns the emulator URL of path, for the REST endpoints the Admin SDK
// does not cover, e.g.
// a.URL("/identitytoolkit.googleapis.com/v1/accounts:signInWithPassword?key=any").
func (a *Auth) URL(path string) string {
	return "http://" + a.Host + path
}

// ResetAuth deletes every account of one project through the emulator's
// reset endpoint.
func ResetAuth(host, project string) error {
	return doDelete(fmt.Sprintf("http://%s/emulator/v1/projects/%s/accounts", host, project))
}

// UniqueID returns prefix followed by a dash and random hex digits, unique
// to this call: a UID, tenant-free email part, or topic ID that no other test
// uses. An empty prefix becomes "u"; the result starts with a letter when the
// prefix does, as Pub/Sub IDs require.
func UniqueID(tb testing.TB, prefix string) string {
	tb.Helper()
	if prefix == "" {
		prefix = "u"
	}
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		tb.Fatal(err)
	}
	return prefix + "-" + hex.EncodeToString(b[:])
}

// UniqueEmail returns an address at example.com that no other test uses,
// its local part built like [UniqueID] and in lower case.
func UniqueEmail(tb testing.TB, prefix string) string {
	tb.Helper()
	return strings.ToLower(UniqueID(tb, prefix)) + "@example.com"
}
