// Command fbadmin administers Firebase projects: Firestore data and
// Firebase Auth users, from a terminal, a script or a CI job.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The first signal cancels ctx: long jobs drain and say how to resume.
	// Restoring the default handling then lets a second signal abort.
	go func() {
		<-ctx.Done()
		stop()
	}()
	app := newApp()
	err := app.RunContext(ctx, interspersed(app, os.Args))
	code := exitCode(ctx, err)
	if err != nil && code != exitOK {
		fmt.Fprintln(os.Stderr, errorLine(err))
	}
	stop()
	os.Exit(code)
}
