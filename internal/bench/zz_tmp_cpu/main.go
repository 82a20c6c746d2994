package main

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	"cloud.google.com/go/firestore"
	"github.com/fbadmin/fbadmin/repository"
	"google.golang.org/api/iterator"
)

type benchDoc struct {
	Name   string  `firestore:"name"`
	Email  string  `firestore:"email"`
	Age    int64   `firestore:"age"`
	Score  float64 `firestore:"score"`
	Active bool    `firestore:"active"`
}

func cpu() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func main() {
	ctx := context.Background()
	c, _ := firestore.NewClient(ctx, "demo-cpu-x2")
	r := repository.New[benchDoc](c, "docs")
	w := r.BulkWriter(ctx, nil)
	for i := range 20000 {
		w.Set(fmt.Sprintf("d%07d", i), benchDoc{Name: fmt.Sprint("n", i), Email: "e@x", Age: 3, Score: 1.5, Active: true})
	}
	w.Close()
	var rawT, repoT time.Duration
	for range 5 {
		c0 := cpu()
		it := c.Collection("docs").Documents(ctx)
		for {
			s, err := it.Next()
			if errors.Is(err, iterator.Done) {
				break
			}
			var d benchDoc
			s.DataTo(&d)
		}
		rawT += cpu() - c0
		c0 = cpu()
		for _, err := range r.Query().All(ctx) {
			if err != nil {
				panic(err)
			}
		}
		repoT += cpu() - c0
	}
	fmt.Println("raw cpu", rawT, "repo cpu", repoT)
}
