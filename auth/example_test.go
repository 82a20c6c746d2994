package auth_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"

	"github.com/fbadmin/fbadmin/auth"
)

// A client on the Auth emulator: emulator mode is the EmulatorHost field,
// not the environment.
func ExampleNew() {
	ctx := context.Background()
	c, err := auth.New(ctx, auth.Config{ProjectID: "demo-fbadmin", EmulatorHost: "127.0.0.1:9099"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(c.Emulator(), c.ProjectID())
	// Output: true demo-fbadmin
}

// Verification failures say why, as sentinels for errors.Is.
func ExampleTokenError() {
	ctx := context.Background()
	c, err := auth.New(ctx, auth.Config{ProjectID: "demo-fbadmin", EmulatorHost: "127.0.0.1:9099"})
	if err != nil {
		log.Fatal(err)
	}
	// An unsigned token that expired in 2023.
	enc := base64.RawURLEncoding.EncodeToString
	expired := enc([]byte(`{"alg":"none"}`)) + "." + enc([]byte(`{"aud":"demo-fbadmin",`+
		`"iss":"https://securetoken.google.com/demo-fbadmin","sub":"u1","iat":1700000000,"exp":1700003600}`)) + "."

	_, err = c.VerifyIDToken(ctx, expired)
	var te *auth.TokenError
	fmt.Println(errors.Is(err, auth.ErrTokenExpired), errors.Is(err, auth.ErrUnauthenticated), errors.As(err, &te))
	fmt.Println(err)
	// Output:
	// true true true
	// verify ID token: token expired (expired at 2023-11-14T23:13:20Z)
}

// A handler that only admins reach.
func ExampleMiddleware() {
	c, err := auth.New(context.Background(), auth.Config{ProjectID: "demo-fbadmin", EmulatorHost: "127.0.0.1:9099"})
	if err != nil {
		log.Fatal(err)
	}
	admin := auth.Middleware(c, auth.MiddlewareOptions{
		CheckRevoked: true,
		Require:      []auth.Requirement{auth.RequireClaim("role", "admin")},
	})
	http.Handle("/admin/", admin(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, _ := auth.TokenFromContext(r.Context())
		fmt.Fprintf(w, "hello %s\n", tok.UID)
	})))
}

// A client app's session: sign in once, then let the transport keep the ID
// token fresh on every request.
func ExampleTransport() {
	ctx := context.Background()
	sc := auth.NewSignInClient(auth.SignInConfig{EmulatorHost: "127.0.0.1:9099"})
	cred, err := sc.SignInWithPassword(ctx, "ada@example.com", "correct horse")
	if err != nil {
		log.Fatal(err) // a *auth.TokenError: ErrInvalidCredentials, ErrUserDisabled, ...
	}
	ts := auth.NewTokenSource(sc, cred)
	defer ts.Close()
	hc := &http.Client{Transport: &auth.Transport{Source: ts}}
	resp, err := hc.Get("https://api.example.com/me")
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
}

// Users move from a `firebase auth:export` file into a project, with the
// hash parameters of the project they came from.
func ExampleClient_ImportUsers() {
	ctx := context.Background()
	c, err := auth.New(ctx, auth.Config{ProjectID: "demo-fbadmin", EmulatorHost: "127.0.0.1:9099"})
	if err != nil {
		log.Fatal(err)
	}
	f, err := os.Open("users.json")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	key, _ := base64.StdEncoding.DecodeString("c2VjcmV0LWhhc2gta2V5")
	rep, err := c.ImportUsers(ctx, f, auth.ImportOptions{
		Hash: auth.HashConfig{Algorithm: "HMAC_SHA256", Key: key},
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, fail := range rep.Failures {
		log.Printf("user %d (%s): %s", fail.Index, fail.UID, fail.Reason)
	}
	fmt.Printf("%d imported, %d failed\n", rep.Imported, rep.Failed)
}

func ExampleInspect() {
	enc := base64.RawURLEncoding.EncodeToString
	tok := enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." +
		enc([]byte(`{"aud":"demo-fbadmin","sub":"u1","iat":1700000000,"exp":1700003600,"role":"admin"}`)) + "."
	ti, err := auth.Inspect(tok)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ti.Unsigned(), ti.Audience, ti.Subject, ti.Claims["role"])
	// Output: true demo-fbadmin u1 admin
}
