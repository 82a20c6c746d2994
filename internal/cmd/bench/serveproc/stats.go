package serveproc

import (
	"context"
	"slices"
	"time"

	"cloud.google.com/go/firestore"
)

// DeleteCollection deletes a benchmark's collection (best effort, within
// a minute).
func DeleteCollection(client *firestore.Client, coll string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	bw := client.BulkWriter(ctx)
	refs := client.Collection(coll).DocumentRefs(ctx)
	for {
		r, err := refs.Next()
		if err != nil {
			break
		}
		_, _ = bw.Delete(r)
	}
	bw.End()
}

// Percentile returns the p-th quantile (0..1) of d in milliseconds; it
// sorts d. 0 for no samples.
func Percentile(d []time.Duration, p float64) float64 {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	i := int(p * float64(len(d)-1))
	return float64(d[i].Microseconds()) / 1000
}

// Round3 rounds to three decimals, for the JSON figures.
func Round3(f float64) float64 { return float64(int64(f*1000+0.5)) / 1000 }
