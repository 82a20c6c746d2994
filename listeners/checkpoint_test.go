package listeners

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCheckpointRoundTrip(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []int{0, 1, 1000} {
		cp := Checkpoint{}
		for i := range n {
			cp[fmt.Sprintf("users/u%04d/orders/o%d", i/10, i)] = time.Date(2026, 1, 1, 0, 0, 0, i*1000, time.UTC).UnixNano()
		}
		path := filepath.Join(dir, fmt.Sprint(n), "x.ckpt")
		if err := SaveCheckpoint(path, cp); err != nil {
			t.Fatal(err)
		}
		got, err := LoadCheckpoint(path)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(cp) {
			t.Fatalf("%d entries: loaded %d", n, len(got))
		}
		for p, ts := range cp {
			if got[p] != ts {
				t.Fatalf("%s: loaded %d, want %d", p, got[p], ts)
			}
		}
		if n == 1000 {
			st, _ := os.Stat(path)
			// Sorted paths share prefixes: far less than the 30 bytes of
			// path and 8 of time a naive format spends per entry.
			if st.Size() > 1000*16 {
				t.Errorf("1000 entries take %d bytes, want under 16 per entry", st.Size())
			}
		}
	}
}

func TestCheckpointDamaged(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.ckpt")
	if _, err := LoadCheckpoint(path); !errors.Is(err, ErrNoCheckpoint) {
		t.Fatalf("missing file: %v, want ErrNoCheckpoint", err)
	}
	if err := SaveCheckpoint(path, Checkpoint{"a/b": 1, "a/c": 2}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	for i := range b {
		bad := append([]byte(nil), b...)
		bad[i] ^= 0x40
		os.WriteFile(path, bad, 0o644)
		_, err := LoadCheckpoint(path)
		if err == nil || !strings.Contains(err.Error(), "damaged") || !strings.Contains(err.Error(), "remove it") {
			t.Fatalf("flipped byte %d: %v, want a damaged-checkpoint error with a hint", i, err)
		}
	}
	os.WriteFile(path, b[:len(b)-1], 0o644)
	if _, err := LoadCheckpoint(path); err == nil {
		t.Fatal("truncated checkpoint loaded without error")
	}
}

func FuzzCheckpointDecode(f *testing.F) {
	f.Add(encodeCheckpoint(Checkpoint{"a/b": 1, "a/bc": -5}))
	f.Add([]byte("FBCKPT1\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		cp, err := decodeCheckpoint(b)
		if err != nil {
			return
		}
		again, err := decodeCheckpoint(encodeCheckpoint(cp))
		if err != nil || len(again) != len(cp) {
			t.Fatalf("re-encoded checkpoint does not round-trip: %v", err)
		}
	})
}

func TestQueueCoalescesAndBounds(t *testing.T) {
	q := newQueue(2)
	ctx := context.Background()
	r := &route{}
	ev := func(path string, typ EventType, n int) Event {
		return Event{Listener: "l", Path: path, Type: typ, ID: fmt.Sprint(n)}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(q.push(ctx, r, ev("a", Added, 1)))
	must(q.push(ctx, r, ev("b", Modified, 2)))
	must(q.push(ctx, r, ev("a", Modified, 3))) // coalesces into the pending add
	must(q.push(ctx, r, ev("b", Removed, 4)))
	if q.len() != 2 {
		t.Fatalf("len %d, want 2", q.len())
	}
	// Full: a third document waits until take makes room.
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := q.push(short, r, ev("c", Added, 5)); err == nil {
		t.Fatal("push into a full queue returned nil before a take")
	}
	got := takeAll(ctx, q, 10)
	if len(got) != 2 {
		t.Fatalf("took %d, want 2", len(got))
	}
	if got[0].ev.Path != "a" || got[0].ev.Type != Added || got[0].ev.ID != "3" {
		t.Errorf("first = %+v, want a added with the newer event's id 3", got[0].ev)
	}
	if got[1].ev.Path != "b" || got[1].ev.Type != Removed || got[1].ev.ID != "4" {
		t.Errorf("second = %+v, want b removed (id 4)", got[1].ev)
	}
	// Taken events are in flight: a new change to "a" queues behind them.
	must(q.push(ctx, r, ev("a", Modified, 6)))
	q.close()
	if got := takeAll(ctx, q, 10); len(got) != 1 || got[0].ev.ID != "6" {
		t.Fatalf("after close took %+v, want the pending a", got)
	}
	if got := takeAll(ctx, q, 10); got != nil {
		t.Fatalf("closed empty queue gave %+v", got)
	}
}

func TestEventIDs(t *testing.T) {
	ut := time.Date(2026, 11, 25, 18, 0, 0, 123456000, time.UTC)
	a := EventID("c/d", ut, false)
	if a != EventID("c/d", ut.In(time.FixedZone("x", 3600)), false) {
		t.Error("event ID depends on the time zone")
	}
	for _, other := range []string{EventID("c/d", ut, true), EventID("c/e", ut, false), EventID("c/d", ut.Add(time.Microsecond), false)} {
		if other == a {
			t.Errorf("distinct changes share the id %s", a)
		}
	}
	if len(a) != 32 {
		t.Errorf("id %q: want 32 hex digits", a)
	}
}

func takeAll(ctx context.Context, q *queue, max int) []*queued {
	got, _ := q.take(ctx, max, 0)
	return got
}
