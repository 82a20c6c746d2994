package daemon

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/fbadmin/fbadmin/internal/emutest"
	"github.com/fbadmin/fbadmin/listeners"
)

func TestWatch(t *testing.T) {
	f := emutest.NewFirestore(t)
	bg := context.Background()
	if _, err := f.Client.Doc("pets/rex").Set(bg, map[string]any{"age": int64(3)}); err != nil {
		t.Fatal(err)
	}
	var out syncBuffer
	ctx, cancel := context.WithCancel(bg)
	done := make(chan error, 1)
	go func() {
		done <- Watch(ctx, f.Client, func(c *firestore.Client) firestore.Query { return c.Collection("pets").Query }, &out, WatchOptions{})
	}()
	waitUntil(t, 10*time.Second, "the initial snapshot", func() bool { return strings.Count(out.String(), "\n") >= 1 })
	if _, err := f.Client.Doc("pets/rex").Delete(bg); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "the removal", func() bool { return strings.Count(out.String(), "\n") >= 2 })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Watch = %v", err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var evs []listeners.Event
	for _, l := range lines {
		var ev listeners.Event
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		evs = append(evs, ev)
	}
	if len(evs) != 2 || evs[0].Type != listeners.Added || evs[1].Type != listeners.Removed || evs[0].Path != "pets/rex" || evs[0].Listener != "watch" {
		t.Fatalf("events %+v, want rex added then removed", evs)
	}
	// The client stays usable: Watch does not close it.
	if _, err := f.Client.Doc("pets/tom").Set(bg, map[string]any{}); err != nil {
		t.Fatalf("client closed by Watch: %v", err)
	}
}
