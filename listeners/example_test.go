package listeners_test

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/fbadmin/fbadmin/listeners"
	"github.com/fbadmin/fbadmin/listeners/filesink"
)

// The IDs of the two sample events in docs/listen.md.
func ExampleEventID() {
	ut, _ := time.Parse(time.RFC3339Nano, "2026-11-25T18:00:00.123456Z")
	fmt.Println(listeners.EventID("orders/A17", ut, false))
	last, _ := time.Parse(time.RFC3339Nano, "2026-11-24T09:12:45.5Z")
	fmt.Println(listeners.EventID("orders/A9", last, true))
	// Output:
	// fd9e22c7e52a548ccb2377edd1659ae1
	// 651d55a52fa618831ef308c2500ec151
}

// An engine with one listener writing the paid orders to a rotating file,
// until the process is interrupted.
func ExampleEngine() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	eng, err := listeners.New(listeners.Options{StateDir: "/var/lib/myapp/listen", Project: "my-project"})
	if err != nil {
		panic(err)
	}
	file, err := filesink.New(filesink.Options{Path: "/var/lib/myapp/orders.ndjson", Fsync: filesink.FsyncAlways})
	if err != nil {
		panic(err)
	}
	if err := eng.AddSink("orders-file", file); err != nil {
		panic(err)
	}
	err = eng.AddListener(listeners.Spec{
		Name: "paid-orders",
		Query: func(c *firestore.Client) firestore.Query {
			return c.Collection("orders").Where("status", "==", "paid")
		},
		Initial: listeners.InitialSnapshot,
		Sinks:   []string{"orders-file"},
	})
	if err != nil {
		panic(err)
	}
	// Run returns once ctx is done and the queued events are delivered.
	if err := eng.Run(ctx); err != nil {
		panic(err)
	}
}
