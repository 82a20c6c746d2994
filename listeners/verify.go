package listeners

import "github.com/fbadmin/fbadmin/internal/stream"

// Verify chooses how far the engine checks a stream's snapshots against
// the query itself; see the constants and docs/listen.md, "Verified
// streams". The checks live in the shared change-stream core.
type Verify = stream.Verify

// The verification modes.
const (
	// VerifyAuto checks every first snapshot by a count at its read
	// time or, when FIRESTORE_EMULATOR_HOST is set, as VerifyAlways does.
	// The default.
	VerifyAuto = stream.VerifyAuto
	// VerifyAlways compares first and live snapshots with the query's
	// documents at their read time and confirms removals before they are
	// emitted (meant for the emulator).
	VerifyAlways = stream.VerifyAlways
	// VerifyFirst checks first snapshots only, by count.
	VerifyFirst = stream.VerifyFirst
	// VerifyNever checks nothing.
	VerifyNever = stream.VerifyNever
)
