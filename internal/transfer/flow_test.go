package transfer

import (
	"math"
	"testing"

	"github.com/fbadmin/fbadmin/internal/retry"
)

func TestFlowPacing(t *testing.T) {
	quarter := Shard{K: 1, N: 4}
	for _, tc := range []struct {
		name     string
		f        Flow
		emulator bool
		s        Shard
		want     retry.RampConfig
		limited  bool
	}{
		{"production default: 500/50/5, no cap", Flow{}, false, Shard{}, retry.RampConfig{Start: 500}, true},
		{"emulator default: unthrottled", Flow{}, true, Shard{}, retry.RampConfig{}, false},
		{"emulator, ramp on", Flow{Ramp: RampOn}, true, Shard{}, retry.RampConfig{Start: 500}, true},
		{"ramp capped", Flow{MaxRate: 2000}, false, Shard{}, retry.RampConfig{Start: 500, Max: 2000}, true},
		{"cap below the ramp's start", Flow{MaxRate: 200, Ramp: RampOn}, true, Shard{}, retry.RampConfig{Start: 200, Max: 200}, true},
		{"ramp off: a steady cap", Flow{MaxRate: 2000, Ramp: RampOff}, false, Shard{}, retry.RampConfig{Start: 2000, Growth: 1, Max: 2000}, true},
		{"ramp off, no cap", Flow{Ramp: RampOff}, false, Shard{}, retry.RampConfig{}, false},
		{"emulator, cap only", Flow{MaxRate: 300}, true, Shard{}, retry.RampConfig{Start: 300, Growth: 1, Max: 300}, true},
		{"shard 1/4: a quarter of cap and ramp", Flow{MaxRate: 2000}, false, quarter, retry.RampConfig{Start: 125, Max: 500}, true},
		{"shard 1/4, ramp off", Flow{MaxRate: 2000, Ramp: RampOff}, false, quarter, retry.RampConfig{Start: 500, Growth: 1, Max: 500}, true},
		{"4 shards given by the caller", Flow{MaxRate: 2000, Ramp: RampOff, Shards: 4}, false, Shard{}, retry.RampConfig{Start: 500, Growth: 1, Max: 500}, true},
	} {
		got, ok := tc.f.rampConfig(tc.emulator, tc.s)
		if got != tc.want || ok != tc.limited {
			t.Errorf("%s: got %+v, %v; want %+v, %v", tc.name, got, ok, tc.want, tc.limited)
		}
		ramp, _ := tc.f.pacing(tc.emulator, tc.s)
		switch {
		case tc.limited && ramp.Rate() != tc.want.Start:
			t.Errorf("%s: the writer's rate is %v, want %v", tc.name, ramp.Rate(), tc.want.Start)
		case !tc.limited && !math.IsInf(ramp.Rate(), 1):
			t.Errorf("%s: the writer's rate is %v, want no limit", tc.name, ramp.Rate())
		}
	}
	// Bytes: the total over the shards.
	if _, b := (Flow{MaxByteRate: 20 << 20}).pacing(false, quarter); b.Rate() != 5<<20 {
		t.Errorf("20 MiB/s over 4 shards: %v a shard, want 5 MiB/s", b.Rate())
	}
	if _, b := (Flow{}).pacing(false, Shard{}); b != nil {
		t.Errorf("no byte rate: a byte limiter %v", b.Rate())
	}
	for _, s := range []string{"auto", "on", "off"} {
		if m, err := ParseRampMode(s); err != nil || m.String() != s {
			t.Errorf("ParseRampMode(%q) = %v, %v", s, m, err)
		}
	}
	if _, err := ParseRampMode("yes"); err == nil {
		t.Error("ParseRampMode(yes): no error")
	}
}
