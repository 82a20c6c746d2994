// Command fbadmin administers Firebase projects: Firestore data and
// Firebase Auth users, from a terminal, a script or a CI job.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
)

// Signals belong to main alone (no library below installs a handler).
// The first SIGINT or SIGTERM cancels the command's context: long jobs
// drain and say how to resume. The second closes secondSignal when a
// command waits for it (abortable, as `fbadmin listen` does to cut its
// drain short), and otherwise ends the process at once, after printing the
// last words a job registered with setLastWords (how to resume it).
var (
	secondSignal = make(chan struct{})
	abortable    atomic.Bool
	lastWords    atomic.Pointer[string]
)

// setLastWords registers msg as the error line printed if a second signal
// ends the process; the returned function unregisters it.
func setLastWords(msg string) func() {
	p := &msg
	lastWords.Store(p)
	return func() { lastWords.CompareAndSwap(p, nil) }
}

func main() {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-sigs
		cancel()
		<-sigs
		if abortable.Load() {
			close(secondSignal)
			signal.Reset() // a third signal ends the process
			return
		}
		if msg := lastWords.Load(); msg != nil {
			fmt.Fprintln(os.Stderr, "fbadmin: "+*msg)
		}
		os.Exit(exitInterrupted)
	}()
	app := newApp()
	err := app.RunContext(ctx, interspersed(app, os.Args))
	code := exitCode(ctx, err)
	if err != nil && code != exitOK {
		fmt.Fprintln(os.Stderr, errorLine(err))
	}
	os.Exit(code)
}
