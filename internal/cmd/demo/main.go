// Command demo seeds sample data into the Firestore emulator and runs real
// work through the repository package, printing what it does. It is run by
// scripts/demo.sh; it refuses to run against anything but an emulator.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/fbadmin/fbadmin/internal/value"
	"github.com/fbadmin/fbadmin/repository"
)

// City is the demo's document type.
type City struct {
	Name       string    `firestore:"name"`
	Country    string    `firestore:"country"`
	Population int64     `firestore:"population"`
	Capital    bool      `firestore:"capital"`
	Tags       []string  `firestore:"tags,omitempty"`
	Updated    time.Time `firestore:"updated,serverTimestamp"`
}

func main() {
	project := flag.String("project", "demo-fbadmin", "emulator project ID")
	n := flag.Int("n", 2000, "number of generated documents to bulk-write")
	flag.Parse()
	if os.Getenv("FIRESTORE_EMULATOR_HOST") == "" {
		fmt.Fprintln(os.Stderr, "demo: FIRESTORE_EMULATOR_HOST is not set; run it through scripts/demo.sh")
		os.Exit(2)
	}
	if err := run(context.Background(), *project, *n); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func step(format string, args ...any) { fmt.Printf("==> "+format+"\n", args...) }

func run(ctx context.Context, project string, n int) error {
	client, err := firestore.NewClient(ctx, project)
	if err != nil {
		return err
	}
	defer client.Close()
	cities := repository.New[City](client, "cities")

	step("seed: set 5 cities in %s/cities", project)
	seed := map[string]City{
		"paris":  {Name: "Paris", Country: "FR", Population: 2_102_650, Capital: true, Tags: []string{"europe"}},
		"lyon":   {Name: "Lyon", Country: "FR", Population: 522_250, Tags: []string{"europe"}},
		"berlin": {Name: "Berlin", Country: "DE", Population: 3_850_809, Capital: true, Tags: []string{"europe"}},
		"tokyo":  {Name: "Tokyo", Country: "JP", Population: 14_094_034, Capital: true, Tags: []string{"asia"}},
		"osaka":  {Name: "Osaka", Country: "JP", Population: 2_752_412, Tags: []string{"asia"}},
	}
	for id, c := range seed {
		if _, err := cities.Set(ctx, id, c); err != nil {
			return err
		}
	}

	step("get cities/paris")
	d, err := cities.Get(ctx, "paris")
	if err != nil {
		return err
	}
	fmt.Printf("    %s: %s, population %d, updated %s\n", d.Path, d.Data.Name, d.Data.Population, d.UpdateTime.Format(time.RFC3339Nano))

	step("create cities/paris again: must fail with ErrAlreadyExists")
	_, err = cities.Create(ctx, "paris", seed["paris"])
	fmt.Printf("    errors.Is(err, repository.ErrAlreadyExists) = %v (%v)\n", errors.Is(err, repository.ErrAlreadyExists), err)

	step("update with a stale update-time precondition: must fail with ErrConflict")
	if _, err := cities.Update(ctx, "paris", []firestore.Update{{Path: "population", Value: firestore.Increment(1)}}); err != nil {
		return err
	}
	_, err = cities.Update(ctx, "paris", []firestore.Update{{Path: "population", Value: 0}}, firestore.LastUpdateTime(d.UpdateTime))
	fmt.Printf("    errors.Is(err, repository.ErrConflict) = %v\n", errors.Is(err, repository.ErrConflict))

	step("query: capitals with population >= 3,000,000, largest first")
	q := cities.Query().Where("capital", "==", true).Where("population", ">=", 3_000_000).OrderBy("population", firestore.Desc)
	for d, err := range q.All(ctx) {
		if err != nil {
			return err
		}
		fmt.Printf("    %-14s %d\n", d.Path, d.Data.Population)
	}

	step("aggregate: count and sum of population in Europe")
	eu := cities.Query().Where("tags", "array-contains", "europe")
	count, err := eu.Count(ctx)
	if err != nil {
		return err
	}
	sum, err := eu.Sum(ctx, "population")
	if err != nil {
		return err
	}
	fmt.Printf("    count=%d sum=%v\n", count, sum)

	step("transaction: move 1000 inhabitants from osaka to tokyo")
	err = cities.Transaction(ctx, func(ctx context.Context, tx *repository.Tx[City]) error {
		docs, err := tx.GetAll([]string{"osaka", "tokyo"})
		if err != nil {
			return err
		}
		if err := tx.Update("osaka", []firestore.Update{{Path: "population", Value: docs[0].Data.Population - 1000}}); err != nil {
			return err
		}
		return tx.Update("tokyo", []firestore.Update{{Path: "population", Value: docs[1].Data.Population + 1000}})
	})
	if err != nil {
		return err
	}

	step("bulk write %d generated documents into %s/generated", n, project)
	gen := repository.New[map[string]any](client, "generated")
	start := time.Now()
	bw := gen.BulkWriter(ctx, nil)
	for i := range n {
		if err := bw.Set(fmt.Sprintf("doc%06d", i), map[string]any{"i": int64(i), "even": i%2 == 0, "ratio": float64(i) / 3}); err != nil {
			return err
		}
	}
	summary, err := bw.Close()
	if err != nil {
		return err
	}
	fmt.Printf("    written=%d failed=%d in %s\n", summary.Written, summary.Failed, time.Since(start).Round(time.Millisecond))

	step("paginate generated documents 3 at a time with opaque tokens (first 2 pages)")
	token := ""
	for page := 1; page <= 2; page++ {
		p, err := gen.Query().OrderBy("i", firestore.Asc).Page(ctx, 3, token)
		if err != nil {
			return err
		}
		for _, d := range p.Docs {
			line, err := value.EncodeMap(d.Data)
			if err != nil {
				return err
			}
			fmt.Printf("    page %d: %s %s\n", page, d.Path, line)
		}
		token = p.Next
	}
	return nil
}
