package retry

import (
	"context"
	"testing"
	"time"
)

func TestBackoffSchedule(t *testing.T) {
	for attempt, bound := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
		bound *= time.Millisecond
		for range 200 {
			d := Backoff(100*time.Millisecond, time.Second, attempt)
			if d < bound/2 || d > bound {
				t.Fatalf("attempt %d: %v outside [%v, %v]", attempt, d, bound/2, bound)
			}
		}
	}
}

func TestSleep(t *testing.T) {
	if !Sleep(context.Background(), time.Millisecond) {
		t.Fatal("Sleep without cancellation reported false")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	if Sleep(ctx, time.Hour) {
		t.Fatal("Sleep on a done context reported true")
	}
	if time.Since(start) > time.Second {
		t.Fatal("Sleep on a done context waited")
	}
}
