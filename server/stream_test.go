package server

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/firestore"
)

// The server's change streams run on the shared core: a listen stream
// that goes silent is recycled by the watchdog, and a reopened stream
// whose first snapshot lacks a document (as the emulator's streams
// sometimes do) is caught by verification and reopened, so subscribers
// see neither a false removal nor a duplicate. With verification off the
// same fault reaches the subscriber: the control shows what is caught.
func TestWatchSurvivesSilentAndLossyStreams(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		verify      string
		falseRemove bool
	}{
		{"auto", false},
		{"never", true},
	} {
		t.Run("verify_"+tc.verify, func(t *testing.T) {
			t.Parallel()
			e := newSrvEnv(t, openRules, func(c *Config) {
				c.Watch.Watchdog = 500 * time.Millisecond
				c.Watch.Verify = tc.verify
			})
			var opens atomic.Int64
			e.srv.hub.tamper = func(docs []*firestore.DocumentSnapshot) []*firestore.DocumentSnapshot {
				if opens.Add(1) != 2 { // the first reopening loses s/b
					return docs
				}
				var out []*firestore.DocumentSnapshot
				for _, d := range docs {
					if !strings.HasSuffix(d.Ref.Path, "/s/b") {
						out = append(out, d)
					}
				}
				return out
			}
			_, tok := e.user(nil)
			for _, id := range []string{"a", "b", "c"} {
				e.do("PUT", "/v1/docs/s/"+id, tok, `{"n":1}`).want(t, 201)
			}
			c := e.wsDial(tok, true)
			subscribe(t, c, QuerySpec{Collection: "s"}, "")
			events := make(chan string, 16)
			go func() {
				defer close(events)
				for {
					m, err := wsRead(t, c, time.Minute)
					if err != nil {
						return
					}
					if m.Type == MsgEvent && m.Event != nil {
						events <- m.Event.Type + " " + m.Event.Path
					}
				}
			}()
			next := func(what string) string {
				t.Helper()
				select {
				case ev, ok := <-events:
					if !ok {
						t.Fatalf("%s: the stream closed", what)
					}
					return ev
				case <-time.After(15 * time.Second):
					t.Fatalf("%s: no event in time", what)
				}
				return ""
			}
			got := []string{next("initial"), next("initial"), next("initial")}
			slices.Sort(got)
			if strings.Join(got, ",") != "added s/a,added s/b,added s/c" {
				t.Fatalf("initial events %v", got)
			}
			// The stream is silent: the watchdog reopens it, the first
			// reopening loses s/b, later ones do not.
			deadline := time.Now().Add(20 * time.Second)
			var during []string
			for opens.Load() < 4 {
				if time.Now().After(deadline) {
					t.Fatalf("the silent stream was opened %d times in 20 s; want at least 4 (watchdog)", opens.Load())
				}
				select {
				case ev := <-events:
					during = append(during, ev)
				case <-time.After(100 * time.Millisecond):
				}
			}
			e.do("PUT", "/v1/docs/s/d", tok, `{"n":1}`).want(t, 201)
			for {
				ev := next("after the reopenings")
				if ev == "added s/d" {
					break
				}
				during = append(during, ev)
			}
			want := ""
			if tc.falseRemove {
				// Unverified, the lossy snapshot is taken as the truth, and
				// the next complete one adds s/b back.
				want = "removed s/b,added s/b"
			}
			if got := strings.Join(during, ","); got != want {
				t.Fatalf("events while the stream was reopened: %q, want %q", got, want)
			}
			m := string(e.do("GET", "/metrics", "", nil).want(t, 200).body)
			reopened := grepLines(m, "fbadmin_serve_streams_reopened_total")
			if !strings.Contains(reopened, `reason="watchdog"`) {
				t.Errorf("metrics lack watchdog reopenings:\n%s", reopened)
			}
			if tc.verify == "auto" && !strings.Contains(reopened, `reason="inconsistent"`) {
				t.Errorf("metrics lack the inconsistent reopening:\n%s", reopened)
			}
		})
	}
}

// One user's subscriptions are set up one at a time (a user opening many
// at once does not load the backend with all of them together); different
// users' setups run side by side.
func TestSubscriptionSetupsTakeTurnsPerUser(t *testing.T) {
	t.Parallel()
	e := newSrvEnv(t, openRules)
	var inFlight, most atomic.Int64
	e.srv.hub.tamper = func(docs []*firestore.DocumentSnapshot) []*firestore.DocumentSnapshot {
		n := inFlight.Add(1)
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		time.Sleep(300 * time.Millisecond)
		inFlight.Add(-1)
		return docs
	}
	open := func(base int, uids []string) int64 {
		t.Helper()
		most.Store(0)
		var wg sync.WaitGroup
		for i, uid := range uids {
			wg.Go(func() {
				q := QuerySpec{Collection: "turns", Where: []Filter{{Field: "n", Op: "<", Value: json.RawMessage(strconv.Itoa(base + i))}}}
				sub, err := e.srv.subscribe(t.Context(), &Caller{UID: uid}, q, "")
				if err != nil {
					t.Errorf("subscribe %d: %v", i, err)
					return
				}
				t.Cleanup(sub.Close)
			})
		}
		wg.Wait()
		return most.Load()
	}
	if got := open(1000, []string{"u1", "u1", "u1", "u1"}); got != 1 {
		t.Errorf("one user's 4 setups: %d ran at once, want 1", got)
	}
	if got := open(2000, []string{"u2", "u3"}); got != 2 {
		t.Errorf("two users' setups: %d ran at once, want 2", got)
	}
}
