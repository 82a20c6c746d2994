package migrate_test

import (
	"context"
	"fmt"
	"log"

	"cloud.google.com/go/firestore"

	"github.com/fbadmin/fbadmin/migrate"
)

// A Go migration: it reads with the Tx's queries and writes through the
// Tx, so that the engine journals, fences and (in a dry run) captures
// every write.
func ExampleRegister() {
	migrate.Register("0004_backfill_totals", func(ctx context.Context, tx *migrate.Tx) error {
		q := tx.Client().Collection("orders").Where("total", "==", nil)
		return tx.Documents(ctx, q, func(path string, data map[string]any) error {
			qty, _ := data["qty"].(int64)
			return tx.Update(ctx, path, map[string]any{"total": qty * 100, "legacy": migrate.Unset})
		})
	})
}

// Run applies the registered migrations, and files loaded from a
// directory, with the CLI's lock, journal and resume.
func ExampleRun() {
	ctx := context.Background()
	client, err := firestore.NewClient(ctx, "demo-app")
	if err != nil {
		log.Fatal(err)
	}
	files, err := migrate.LoadDir("migrations")
	if err != nil {
		log.Fatal(err) // a bad file: its line and key
	}
	res, err := migrate.Run(ctx, client, migrate.RunOptions{Command: migrate.CommandPlan}, files...)
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range res.Reports {
		fmt.Printf("%s: %d to change, %d to create, %d to delete\n", r.ID, r.Changed, r.Created, r.Deleted)
	}
}
