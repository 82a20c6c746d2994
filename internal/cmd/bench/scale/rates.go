package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/fbadmin/fbadmin/internal/emutest"
	"github.com/fbadmin/fbadmin/internal/transfer"
)

// rateFigures measures the rates the README's projection starts from, on
// the emulator: one shard (K=0 of shards) of an import of the seed file
// and of a recursive delete at a read time, and a whole recursive delete
// in one process, in documents a second. Each in a fresh project, seeded
// by a clean import.
func rateFigures(ctx context.Context, host, file string, n, shards int) map[string]any {
	fresh := func() (*transfer.DB, func()) {
		b := make([]byte, 4)
		_, _ = rand.Read(b)
		project := "demo-bench-rates-" + hex.EncodeToString(b)
		db, err := transfer.Open(ctx, transfer.Config{Project: project, EmulatorHost: host})
		check(err)
		return db, func() {
			db.Close()
			emutest.ResetFirestore(host, project, firestore.DefaultDatabaseID) //nolint:errcheck // best effort
		}
	}
	rate := func(docs int64, d time.Duration) float64 { return round(float64(docs) / d.Seconds()) }
	out := map[string]any{}

	// One shard of an import of one file.
	db, done := fresh()
	t0 := time.Now()
	st, err := transfer.Import(ctx, db, file, transfer.ImportOptions{Journal: transfer.NoJournal, Shard: transfer.Shard{K: 0, N: shards}})
	check(err)
	out["shard_import_docs_per_s"] = rate(st.Docs, time.Since(t0))
	logf("rates: import shard 0/%d of one file: %d documents in %.2f s", shards, st.Docs, time.Since(t0).Seconds())
	done()

	// A whole recursive delete, then one shard of one.
	for _, s := range []transfer.Shard{{}, {K: 0, N: shards}} {
		db, done := fresh()
		_, err := transfer.Import(ctx, db, file, transfer.ImportOptions{Journal: transfer.NoJournal})
		check(err)
		time.Sleep(1100 * time.Millisecond)
		o := transfer.DeleteOptions{Paths: []string{"users", "logs"}, Recursive: true, Journal: transfer.NoJournal, Shard: s}
		if !s.Whole() {
			o.ReadTime = time.Now().Add(-500 * time.Millisecond)
		}
		t0 := time.Now()
		st, err := transfer.Delete(ctx, db, o)
		check(err)
		d := time.Since(t0)
		if s.Whole() {
			if st.Docs != int64(n) {
				fail(fmt.Errorf("the delete removed %d documents, want %d", st.Docs, n))
			}
			out["delete_docs_per_s"] = rate(st.Docs, d)
		} else {
			out["shard_delete_docs_per_s"] = rate(st.Docs, d)
		}
		logf("rates: delete (%s): %d documents in %.2f s", s, st.Docs, d.Seconds())
		done()
	}
	return out
}
