package retry

import (
	"context"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// RampConfig describes a write ramp: Start operations per second at
// first, multiplied by Growth every Every, never above Max. The zero
// value of a field takes the default of Firestore's "500/50/5" guidance
// for traffic to a new collection (start at 500 writes per second, grow
// by 50% every 5 minutes), which sets no maximum.
type RampConfig struct {
	// Start is the first rate, in operations per second (default 500).
	Start float64
	// Growth multiplies the rate at each step (default 1.5, that is +50%).
	Growth float64
	// Every is the time between steps (default 5 minutes).
	Every time.Duration
	// Max caps the rate; 0 means no cap. A Max below Start is Start.
	Max float64
	// Burst is how many operations may go at once when the limiter is
	// rested: at least one second of the current rate, and at least Burst
	// (a writer sets its batch size, so that a batch at the start of the
	// ramp leaves at once).
	Burst int
}

// Defaults of [RampConfig]: Firestore's 500/50/5 rule.
const (
	DefaultRampStart  = 500.0
	DefaultRampGrowth = 1.5
	DefaultRampEvery  = 5 * time.Minute
)

func (c RampConfig) withDefaults() RampConfig {
	if c.Start <= 0 {
		c.Start = DefaultRampStart
	}
	if c.Growth < 1 {
		c.Growth = DefaultRampGrowth
	}
	if c.Every <= 0 {
		c.Every = DefaultRampEvery
	}
	if c.Max > 0 {
		c.Max = max(c.Max, c.Start)
	}
	return c
}

// RateAt returns the rate, in operations per second, after elapsed time
// on the ramp: the schedule, without a limiter.
func (c RampConfig) RateAt(elapsed time.Duration) float64 {
	c = c.withDefaults()
	return c.rateAtStep(c.step(elapsed))
}

func (c RampConfig) step(elapsed time.Duration) int {
	if elapsed < 0 {
		return 0
	}
	return int(elapsed / c.Every)
}

func (c RampConfig) rateAtStep(step int) float64 {
	r := c.Start * math.Pow(c.Growth, float64(step))
	if c.Max > 0 {
		r = math.Min(r, c.Max)
	}
	return r
}

// Clock is the time source of a [Ramp]: the real one by default, a fake
// in tests, which then check the schedule without sleeping.
type Clock interface {
	Now() time.Time
	// Wait waits for d, or returns ctx's error as soon as ctx is done.
	Wait(ctx context.Context, d time.Duration) error
}

type realClock struct{}

func (realClock) Now() time.Time                                  { return time.Now() }
func (realClock) Wait(ctx context.Context, d time.Duration) error { return Wait(ctx, d) }

// Ramp is a rate limiter whose rate follows a [RampConfig] from the time
// it was made. A nil *Ramp does not limit: callers leave it nil where
// writes are not throttled (on the emulator). It is safe for concurrent
// use.
type Ramp struct {
	cfg   RampConfig
	clock Clock
	start time.Time

	mu   sync.Mutex
	step int
	lim  *rate.Limiter
}

// NewRamp starts a ramp now; clock nil means the real clock.
func NewRamp(cfg RampConfig, clock Clock) *Ramp {
	if clock == nil {
		clock = realClock{}
	}
	cfg = cfg.withDefaults()
	r := &Ramp{cfg: cfg, clock: clock, start: clock.Now()}
	r.lim = rate.NewLimiter(rate.Limit(cfg.Start), r.burst(cfg.Start))
	return r
}

func (r *Ramp) burst(limit float64) int {
	return max(r.cfg.Burst, int(math.Min(limit, 1<<30)), 1)
}

// Rate returns the current rate in operations per second; +Inf for a nil
// Ramp.
func (r *Ramp) Rate() float64 {
	if r == nil {
		return math.Inf(1)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.advance(r.clock.Now())
	return float64(r.lim.Limit())
}

// advance moves the limiter to the step of now. Called with r.mu held.
func (r *Ramp) advance(now time.Time) {
	step := r.cfg.step(now.Sub(r.start))
	if step == r.step {
		return
	}
	r.step = step
	limit := r.cfg.rateAtStep(step)
	r.lim.SetLimitAt(now, rate.Limit(limit))
	r.lim.SetBurstAt(now, r.burst(limit))
}

// Wait blocks until n operations may go, or returns ctx's error. More
// operations than the burst are taken in pieces, so a large batch waits
// for all of its tokens. A nil Ramp does not wait. Either way, a done ctx
// gives its error.
func (r *Ramp) Wait(ctx context.Context, n int) error {
	if err := ctx.Err(); err != nil || r == nil {
		return err
	}
	for n > 0 {
		r.mu.Lock()
		now := r.clock.Now()
		r.advance(now)
		k := min(n, r.lim.Burst())
		res := r.lim.ReserveN(now, k)
		r.mu.Unlock()
		if !res.OK() { // cannot happen: k is within the burst
			return nil
		}
		if d := res.DelayFrom(now); d > 0 {
			if err := r.clock.Wait(ctx, d); err != nil {
				res.CancelAt(r.clock.Now())
				return err
			}
		}
		n -= k
	}
	return nil
}
