package value

import "math"

// The special doubles, built once.
var (
	nan     = math.NaN()
	posInf  = math.Inf(1)
	negInf  = math.Inf(-1)
	negZero = math.Copysign(0, -1)
)
