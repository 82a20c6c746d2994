package repository_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"cloud.google.com/go/firestore"
	"github.com/fbadmin/fbadmin/repository"
	"google.golang.org/grpc/status"
)

// These examples need a Firestore emulator (FIRESTORE_EMULATOR_HOST) or
// credentials, so they are compiled but not run by go test.

type User struct {
	Name    string    `firestore:"name"`
	Email   string    `firestore:"email,omitempty"`
	Age     int       `firestore:"age"`
	Visits  int64     `firestore:"visits"`
	Created time.Time `firestore:"created,serverTimestamp"`
}

func exampleClient(ctx context.Context) *firestore.Client {
	client, err := firestore.NewClient(ctx, "demo-example")
	if err != nil {
		log.Fatal(err)
	}
	return client
}

func Example() {
	ctx := context.Background()
	client := exampleClient(ctx)
	defer client.Close()

	users := repository.New[User](client, "users")
	if _, err := users.Create(ctx, "alice", User{Name: "Alice", Age: 36}); err != nil {
		log.Fatal(err)
	}
	d, err := users.Get(ctx, "alice")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(d.ID, d.Path, d.Data.Name, d.CreateTime.IsZero())

	for d, err := range users.Query().Where("age", ">=", 18).OrderBy("age", firestore.Asc).All(ctx) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(d.ID, d.Data.Age)
	}
}

// Optimistic concurrency: a write conditioned on the update time that was
// read fails with ErrConflict if someone else wrote in between. The error
// also unwraps to the gRPC status.
func ExampleRepository_Update() {
	ctx := context.Background()
	client := exampleClient(ctx)
	defer client.Close()
	users := repository.New[User](client, "users")

	d, err := users.Get(ctx, "alice")
	if err != nil {
		log.Fatal(err)
	}
	_, err = users.Update(ctx, "alice", []firestore.Update{
		{Path: "visits", Value: firestore.Increment(1)},
		{Path: "email", Value: firestore.Delete},
	}, firestore.LastUpdateTime(d.UpdateTime))

	var st interface{ GRPCStatus() *status.Status }
	switch {
	case errors.Is(err, repository.ErrConflict):
		fmt.Println("changed since read; read again and retry")
	case errors.Is(err, repository.ErrNotFound):
		fmt.Println("deleted since read")
	case errors.As(err, &st):
		fmt.Println("failed with gRPC code", st.GRPCStatus().Code())
	case err != nil:
		log.Fatal(err)
	}
}

// Pages with a token that can travel to another process, such as a web
// client that asks for the next page later.
func ExampleQuery_Page() {
	ctx := context.Background()
	client := exampleClient(ctx)
	defer client.Close()
	q := repository.New[User](client, "users").Query().OrderBy("name", firestore.Asc)

	token := ""
	for {
		page, err := q.Page(ctx, 50, token)
		if err != nil {
			log.Fatal(err) // ErrInvalid for a token of another query
		}
		for _, d := range page.Docs {
			fmt.Println(d.ID)
		}
		if page.Next == "" {
			break
		}
		token = page.Next
	}
}

func ExampleQuery_WhereFilter() {
	ctx := context.Background()
	client := exampleClient(ctx)
	defer client.Close()
	users := repository.New[User](client, "users")

	// age < 18 OR (age >= 65 AND visits > 10)
	q := users.Query().WhereFilter(firestore.OrFilter{Filters: []firestore.EntityFilter{
		firestore.PropertyFilter{Path: "age", Operator: "<", Value: 18},
		firestore.AndFilter{Filters: []firestore.EntityFilter{
			firestore.PropertyFilter{Path: "age", Operator: ">=", Value: 65},
			firestore.PropertyFilter{Path: "visits", Operator: ">", Value: 10},
		}},
	}})
	docs, err := q.GetAll(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(docs))
}

func ExampleQuery_Aggregate() {
	ctx := context.Background()
	client := exampleClient(ctx)
	defer client.Close()
	users := repository.New[User](client, "users")

	res, err := users.Query().Where("age", ">=", 18).Aggregate(ctx,
		repository.Count("adults"), repository.Sum("visits", "visits"), repository.Avg("age", "age"))
	if err != nil {
		log.Fatal(err)
	}
	n, _ := res["adults"].Int64()
	avg, ok := res["age"].Float64()
	fmt.Println(n, res["visits"], avg, ok)
}

func ExampleRepository_BulkWriter() {
	ctx := context.Background()
	client := exampleClient(ctx)
	defer client.Close()
	users := repository.New[User](client, "users")

	w := users.BulkWriter(ctx, &repository.BulkOptions{Concurrency: 16})
	for i := range 100_000 {
		// Blocks while the queue is full.
		if err := w.Set(fmt.Sprintf("u%06d", i), User{Name: "user", Age: i % 90}); err != nil {
			log.Fatal(err)
		}
	}
	sum, err := w.Close()
	fmt.Println(sum.Written, "written")
	if err != nil {
		for _, f := range sum.Failures {
			fmt.Println(f.Path, f.Err)
		}
	}
}

func ExampleRepository_Transaction() {
	ctx := context.Background()
	client := exampleClient(ctx)
	defer client.Close()
	users := repository.New[User](client, "users")

	err := users.Transaction(ctx, func(ctx context.Context, tx *repository.Tx[User]) error {
		d, err := tx.Get("alice")
		if err != nil {
			return err
		}
		return tx.Update("alice", []firestore.Update{{Path: "visits", Value: d.Data.Visits * 2}})
	})
	if err != nil {
		log.Fatal(err)
	}
}

func ExampleQuery_Watch() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client := exampleClient(ctx)
	defer client.Close()
	users := repository.New[User](client, "users")

	for snap, err := range users.Query().Where("age", ">=", 65).Watch(ctx) {
		if errors.Is(err, repository.ErrCanceled) {
			break // the minute is over
		}
		if err != nil {
			log.Fatal(err)
		}
		for _, c := range snap.Changes {
			fmt.Println(snap.ReadTime, c.Kind, c.Doc.ID, c.Doc.Data.Name)
		}
	}
}

func ExampleSub() {
	ctx := context.Background()
	client := exampleClient(ctx)
	defer client.Close()
	type Post struct {
		Title string `firestore:"title"`
	}
	users := repository.New[User](client, "users")
	posts := repository.Sub[Post](users, "alice", "posts") // users/alice/posts
	if _, err := posts.Add(ctx, Post{Title: "Hello"}); err != nil {
		log.Fatal(err)
	}
	// Every "posts" collection, whoever the user.
	n, err := repository.Group[Post](client, "posts").Count(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(n)
}

// A Path is checked once; its methods then navigate without failing.
func ExampleParsePath() {
	p, err := repository.ParsePath("projects/demo/databases/(default)/documents/users/alice/posts/p1")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(p, p.IsDocument(), p.ID())
	fmt.Println(p.Parent(), p.Parent().IsCollection())
	fmt.Println(p.Parent().Parent(), p.Under(p.Parent().Parent()))
	fmt.Println(p.FullName("other", "(default)"))

	c, err := p.Child("comments")
	fmt.Println(c, c.IsCollection(), err)

	_, err = repository.ParsePath("users/__x__")
	fmt.Println(errors.Is(err, repository.ErrInvalid), err)
	_, err = repository.ParseDocumentPath("users")
	fmt.Println(err)
	// Output:
	// users/alice/posts/p1 true p1
	// users/alice/posts true
	// users/alice true
	// projects/other/databases/(default)/documents/users/alice/posts/p1
	// users/alice/posts/p1/comments true <nil>
	// true path users/__x__: invalid argument: segment "__x__" is reserved (IDs of the form __x__ are Firestore's)
	// path users: invalid argument: a collection path: a document path has an even number of segments (collection/id)
}
