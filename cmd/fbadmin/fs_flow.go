package main

import (
	"strconv"

	"github.com/urfave/cli/v2"

	"github.com/fbadmin/fbadmin/internal/transfer"
)

// Flow control of the bulk write commands (fs import, fs copy, fs delete
// --recursive): one set of flags, parsed into a transfer.Flow.

// firestoreWriteLimit is Firestore's documented soft limit of writes a
// second per database, raised only through a support request.
const firestoreWriteLimit = 10000

func flowFlags() []cli.Flag {
	return []cli.Flag{
		&cli.Float64Flag{Name: "max-rate", Usage: "write at most `N` documents a second in total: with --shard K/S each shard takes N/S (default no cap beyond the ramp; Firestore's documented soft limit is 10,000 writes a second per database, more needs a support request)"},
		&cli.StringFlag{Name: "max-byte-rate", Usage: "write at most `SIZE` a second in total (such as 20MiB), counted as encoded documents: paces large documents by size; shared by the shards as --max-rate"},
		&cli.StringFlag{Name: "ramp", Value: "auto", Usage: "ramp-up `MODE`: auto is Firestore's 500/50/5 ramp-up (start at 500 writes a second, +50% every 5 minutes, up to --max-rate) in production, none on the emulator; on ramps up on the emulator too (tests, rehearsals); off: no ramp-up, only --max-rate caps"},
	}
}

// flowOptions are the flow-control flags as given.
type flowOptions struct {
	MaxRate     float64
	MaxRateSet  bool
	MaxByteRate string
	Ramp        string
}

func flowOptionsOf(c *cli.Context) flowOptions {
	return flowOptions{MaxRate: c.Float64("max-rate"), MaxRateSet: c.IsSet("max-rate"), MaxByteRate: c.String("max-byte-rate"), Ramp: c.String("ramp")}
}

// parse validates the flags; shards is how many processes share the
// rates (1 or 0 when unsharded).
func (o flowOptions) parse(shards int) (transfer.Flow, error) {
	f := transfer.Flow{Shards: shards}
	var err error
	if f.Ramp, err = transfer.ParseRampMode(o.ramp()); err != nil {
		return f, usagef("--ramp %q: use auto, on or off", o.Ramp)
	}
	if o.MaxRateSet && !(o.MaxRate > 0) { // negative values are refused earlier
		return f, usagef("--max-rate %v: want a positive number of documents a second (Firestore's soft limit is %d a second per database)", o.MaxRate, firestoreWriteLimit)
	}
	f.MaxRate = o.MaxRate
	if o.MaxByteRate != "" {
		n, err := parseSize(o.MaxByteRate)
		if err != nil {
			return f, usagef("--max-byte-rate %q: %v (examples: 20MiB, 5MB, 1000000)", o.MaxByteRate, err)
		}
		f.MaxByteRate = float64(n)
	}
	return f, nil
}

func (o flowOptions) ramp() string {
	if o.Ramp == "" {
		return "auto"
	}
	return o.Ramp
}

// args repeats the flags, for the commands printed to finish a job.
func (o flowOptions) args() []string {
	var args []string
	if o.MaxRateSet {
		args = append(args, "--max-rate", strconv.FormatFloat(o.MaxRate, 'f', -1, 64))
	}
	if o.MaxByteRate != "" {
		args = append(args, "--max-byte-rate", o.MaxByteRate)
	}
	if r := o.ramp(); r != "auto" {
		args = append(args, "--ramp", r)
	}
	return args
}
