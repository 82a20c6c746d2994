package transfer

import (
	"github.com/fbadmin/fbadmin/internal/errs"
	"github.com/fbadmin/fbadmin/internal/retry"
)

// RampMode says whether writes follow Firestore's 500/50/5 ramp-up.
type RampMode int

const (
	// RampAuto ramps up against Firestore and not on the emulator.
	RampAuto RampMode = iota
	// RampOn ramps up on the emulator too (for tests and rehearsals).
	RampOn
	// RampOff does not ramp up: only [Flow].MaxRate caps the writes.
	RampOff
)

var rampNames = []string{"auto", "on", "off"}

func (m RampMode) String() string {
	if int(m) >= 0 && int(m) < len(rampNames) {
		return rampNames[m]
	}
	return "RampMode(?)"
}

// ParseRampMode parses "auto", "on" or "off".
func ParseRampMode(s string) (RampMode, error) {
	for i, n := range rampNames {
		if s == n {
			return RampMode(i), nil
		}
	}
	return 0, errs.New(errs.ErrInvalid, "ramp", s, "use auto, on or off")
}

// Flow is the flow control of a job's writes. The zero value ramps up
// in production (500 writes a second, +50% every 5 minutes, without a
// cap) and does not throttle on the emulator.
//
// Rates are the whole job's: a [Shard] of N takes 1/N of each, the start
// of the ramp included, so that N processes together keep to them.
type Flow struct {
	// MaxRate caps the documents written a second (0: no cap). With the
	// ramp, it is the ramp's maximum (and its start, when lower than 500);
	// without it, a steady rate.
	MaxRate float64
	// MaxByteRate caps the bytes written a second, counted as the
	// encoded writes (0: no cap): a batch waits for its documents and
	// for its bytes, so large documents are paced by size.
	MaxByteRate float64
	// Ramp says whether the ramp-up applies.
	Ramp RampMode
	// Shards is how many processes share the rates (0: the job's
	// [Shard]'s N; an import of a split export, whose parts the caller
	// deals out, says so here).
	Shards int
}

// pacing returns the limiters of one shard's writes to a database (on the
// emulator or not): a nil one does not limit.
func (f Flow) pacing(emulator bool, s Shard) (*retry.Ramp, *retry.Limiter) {
	n := f.shards(s)
	cfg, ok := f.rampConfig(emulator, s)
	var ramp *retry.Ramp
	if ok {
		ramp = retry.NewRamp(cfg, nil)
	}
	var bytes *retry.Limiter
	if f.MaxByteRate > 0 {
		bytes = retry.NewLimiter(f.MaxByteRate/n, nil)
	}
	return ramp, bytes
}

// rampConfig returns the schedule of one shard's document rate, or false
// when it is not limited.
func (f Flow) rampConfig(emulator bool, s Shard) (retry.RampConfig, bool) {
	n := f.shards(s)
	ramp := f.Ramp == RampOn || (f.Ramp == RampAuto && !emulator)
	switch {
	case ramp:
		start := retry.DefaultRampStart
		if f.MaxRate > 0 {
			start = min(start, f.MaxRate)
		}
		return retry.RampConfig{Start: start / n, Max: f.MaxRate / n}, true
	case f.MaxRate > 0:
		r := f.MaxRate / n
		return retry.RampConfig{Start: r, Growth: 1, Max: r}, true
	}
	return retry.RampConfig{}, false
}

func (f Flow) shards(s Shard) float64 {
	if f.Shards > 0 {
		return float64(f.Shards)
	}
	return float64(max(s.N, 1))
}
