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
	err := newApp().RunContext(ctx, os.Args)
	code := exitCode(ctx, err)
	if err != nil && code != exitOK {
		fmt.Fprintln(os.Stderr, "fbadmin: "+err.Error())
	}
	stop()
	os.Exit(code)
}
