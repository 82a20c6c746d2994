package retry

import (
	"context"
	"math"
	"sync"
	"testing"
	"time"
)

// fakeClock is a Clock whose waits move its time on at once.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	waited time.Duration
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Wait(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.advance(d)
	c.mu.Lock()
	c.waited += d
	c.mu.Unlock()
	return nil
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestRampSchedule(t *testing.T) {
	cfg := RampConfig{Max: 3000} // 500/50/5, capped
	for _, tc := range []struct {
		at   time.Duration
		want float64
	}{
		{0, 500},
		{4*time.Minute + 59*time.Second, 500},
		{5 * time.Minute, 750},
		{10 * time.Minute, 1125},
		{15 * time.Minute, 1687.5},
		{20 * time.Minute, 2531.25},
		{25 * time.Minute, 3000}, // 3796.875, capped
		{24 * time.Hour, 3000},
	} {
		if got := cfg.RateAt(tc.at); got != tc.want {
			t.Errorf("RateAt(%v) = %v, want %v", tc.at, got, tc.want)
		}
		clock := &fakeClock{now: time.Unix(1e9, 0)}
		r := NewRamp(cfg, clock)
		clock.advance(tc.at)
		if got := r.Rate(); got != tc.want {
			t.Errorf("Ramp.Rate after %v = %v, want %v", tc.at, got, tc.want)
		}
	}
	// No maximum: the rate keeps growing, and never overflows the burst.
	if got, want := (RampConfig{}).RateAt(time.Hour), 500*math.Pow(1.5, 12); got != want {
		t.Errorf("uncapped RateAt(1h) = %v, want %v", got, want)
	}
	r := NewRamp(RampConfig{}, &fakeClock{})
	r.clock.(*fakeClock).advance(1000 * 24 * time.Hour)
	if err := r.Wait(context.Background(), 1<<20); err != nil || !math.IsInf(r.Rate(), 1) {
		t.Errorf("after 1000 days: wait %v, rate %v; want no error and +Inf", err, r.Rate())
	}
	// Custom start, growth and period.
	c := RampConfig{Start: 10, Growth: 2, Every: time.Minute, Max: 50}
	for at, want := range map[time.Duration]float64{0: 10, time.Minute: 20, 2 * time.Minute: 40, 3 * time.Minute: 50} {
		if got := c.RateAt(at); got != want {
			t.Errorf("custom RateAt(%v) = %v, want %v", at, got, want)
		}
	}
}

// TestRampWait checks the pacing itself on a fake clock: a rested ramp
// lets its burst go at once, then operations go at the rate, faster
// after each step.
func TestRampWait(t *testing.T) {
	ctx := context.Background()
	clock := &fakeClock{now: time.Unix(1e9, 0)}
	r := NewRamp(RampConfig{Burst: 500}, clock)
	if err := r.Wait(ctx, 500); err != nil || clock.waited != 0 {
		t.Fatalf("first batch of 500: waited %v, err %v; want no wait", clock.waited, err)
	}
	// 1000 more at 500/s: 2 s.
	if err := r.Wait(ctx, 1000); err != nil || clock.waited != 2*time.Second {
		t.Fatalf("1000 more: waited %v, err %v; want 2s", clock.waited, err)
	}
	// Five minutes on, the rate is 750/s and the burst 750; the bucket
	// holds the 500 of its old burst: 750 take 1/3 s, 1500 more 2 s.
	clock.advance(5 * time.Minute)
	clock.waited = 0
	if err := r.Wait(ctx, 750+1500); err != nil || clock.waited != 2*time.Second+time.Second/3 {
		t.Fatalf("after 5m: waited %v, err %v; want 2.333s", clock.waited, err)
	}

	// A nil Ramp never waits; a done context is an error.
	var none *Ramp
	if err := none.Wait(ctx, 1e9); err != nil {
		t.Errorf("nil ramp: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := r.Wait(cctx, 1); err == nil {
		t.Error("wait on a done context succeeded")
	}
	if err := none.Wait(cctx, 1); err == nil {
		t.Error("nil ramp: wait on a done context succeeded")
	}
}

func TestLimiterPacesBytes(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1e9, 0)}
	l := NewLimiter(1000, clock) // 1000 bytes a second, burst 1000
	ctx := context.Background()
	// The rested burst goes at once; then 4000 bytes more take 4 s, also
	// when one request is larger than the burst.
	for _, n := range []int64{1000, 500, 3500} {
		if err := l.Wait(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := clock.waited, 4*time.Second; got != want {
		t.Errorf("5000 bytes at 1000/s: waited %v, want %v", got, want)
	}
	var nl *Limiter
	if err := nl.Wait(ctx, 1<<40); err != nil || !math.IsInf(nl.Rate(), 1) {
		t.Errorf("nil Limiter: %v, rate %v; want no wait, +Inf", err, nl.Rate())
	}
}

func TestPacerWaitsForTheSlowerBudget(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name       string
		docs, size int64 // per request, 10 requests
		want       time.Duration
	}{
		// 100 documents and 10,000 bytes a second, bursts of one second.
		{"small documents: the document rate", 50, 100, 4 * time.Second}, // 500 docs: 400 after the burst
		{"large documents: the byte rate", 5, 5000, 4 * time.Second},     // 50,000 bytes: 40,000 after the burst
		{"both at the limit: not the sum", 20, 2000, 1 * time.Second},    // 200 docs, 20,000 bytes
		{"below both: no wait", 10, 1000, 0},                             // exactly the bursts
	} {
		clock := &fakeClock{now: time.Unix(1e9, 0)}
		p := Pacer{Ops: NewRamp(RampConfig{Start: 100, Growth: 1}, clock), Bytes: NewLimiter(10000, clock)}
		for range 10 {
			if err := p.Wait(ctx, int(tc.docs), tc.size); err != nil {
				t.Fatal(err)
			}
		}
		if clock.waited != tc.want {
			t.Errorf("%s: waited %v, want %v", tc.name, clock.waited, tc.want)
		}
	}
	if err := (Pacer{}).Wait(ctx, 1e6, 1<<40); err != nil {
		t.Errorf("zero Pacer: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := (Pacer{Bytes: NewLimiter(1, nil)}).Wait(cctx, 1, 1); err == nil {
		t.Error("Pacer.Wait with a cancelled context: no error")
	}
}
