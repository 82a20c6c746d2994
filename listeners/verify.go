package listeners

import "github.com/fbadmin/fbadmin/repository"

// Verify chooses how far the engine checks a stream's snapshots against
// the query itself: the modes of [repository.Verify], whose checks live in
// the change-stream core that repository.Watch, this engine and the
// server share. See docs/listen.md, "Verified streams".
type Verify = repository.Verify

// The verification modes, as in package repository (VerifyAuto is the
// default).
const (
	VerifyAuto   = repository.VerifyAuto
	VerifyAlways = repository.VerifyAlways
	VerifyFirst  = repository.VerifyFirst
	VerifyNever  = repository.VerifyNever
)
