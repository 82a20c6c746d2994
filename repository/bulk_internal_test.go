package repository

import (
	"context"
	"testing"
	"time"

	"github.com/fbadmin/fbadmin/internal/emutest"
)

func TestRampUp(t *testing.T) { // not parallel: it sets the environment
	fs := emutest.NewFirestore(t)
	r := New[row](fs.Client, "rows")
	w := r.BulkWriter(context.Background(), &BulkOptions{Throttle: ThrottleRamp})
	defer w.Close()
	if got := w.ramp.Rate(); got != 500 {
		t.Errorf("initial rate %v, want 500", got)
	}
	// The schedule itself (retry.Ramp's tests check the pacing): two steps
	// of +50% after 11 minutes, the cap much later.
	cfg := w.opts.rampConfig()
	if got := cfg.RateAt(11 * time.Minute); got != 1125 {
		t.Errorf("rate after 11 minutes %v, want 1125", got)
	}
	if got := cfg.RateAt(3 * time.Hour); got != DefaultMaxRate {
		t.Errorf("rate after 3 hours %v, want the cap %v", got, DefaultMaxRate)
	}
	o := (&BulkOptions{InitialRate: 100, MaxRate: 50, BatchSize: 20}).withDefaults()
	if cfg := o.rampConfig(); cfg.RateAt(0) != 100 || cfg.RateAt(time.Hour) != 100 || cfg.Burst != 20 {
		t.Errorf("MaxRate below InitialRate: %+v", cfg)
	}

	t.Setenv("FIRESTORE_EMULATOR_HOST", "127.0.0.1:1")
	if o := (&BulkOptions{}).withDefaults(); o.Throttle != ThrottleOff {
		t.Errorf("with the emulator: throttle %v, want off", o.Throttle)
	}
	t.Setenv("FIRESTORE_EMULATOR_HOST", "")
	if o := (&BulkOptions{}).withDefaults(); o.Throttle != ThrottleRamp || o.InitialRate != 500 {
		t.Errorf("in production: %+v, want a ramp from 500", o)
	}
}
