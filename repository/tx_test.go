package repository_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"cloud.google.com/go/firestore"
	"github.com/fbadmin/fbadmin/repository"
)

type account struct {
	Owner   string `firestore:"owner"`
	Balance int64  `firestore:"balance"`
}

var errInsufficient = errors.New("insufficient funds")

func transfer(ctx context.Context, accts *repository.Repository[account], from, to string, amount int64) error {
	return accts.Transaction(ctx, func(ctx context.Context, tx *repository.Tx[account]) error {
		docs, err := tx.GetAll([]string{from, to})
		if err != nil {
			return err
		}
		if docs[0] == nil || docs[1] == nil {
			return fmt.Errorf("transfer: %w", repository.ErrNotFound)
		}
		if docs[0].Data.Balance < amount {
			return errInsufficient
		}
		if err := tx.Update(from, []firestore.Update{{Path: "balance", Value: firestore.Increment(-amount)}}); err != nil {
			return err
		}
		return tx.Set(to, account{Owner: docs[1].Data.Owner, Balance: docs[1].Data.Balance + amount})
	})
}

func TestTransactions(t *testing.T) {
	t.Parallel()
	fs := newFS(t)
	ctx := testCtx(t)
	accts := repository.New[account](fs.Client, "accounts")
	for _, id := range []string{"alice", "bob"} {
		if _, err := accts.Create(ctx, id, account{Owner: id, Balance: 100}); err != nil {
			t.Fatal(err)
		}
	}
	if err := transfer(ctx, accts, "alice", "bob", 30); err != nil {
		t.Fatalf("transfer: %v", err)
	}
	// fn's own error is returned unchanged and nothing is written.
	if err := transfer(ctx, accts, "alice", "bob", 1000); err != errInsufficient {
		t.Errorf("overdraft: got %v, want errInsufficient itself", err)
	}
	if err := transfer(ctx, accts, "alice", "carol", 1); !errors.Is(err, repository.ErrNotFound) {
		t.Errorf("missing account: got %v, want ErrNotFound", err)
	}
	docs, err := accts.GetAll(ctx, []string{"alice", "bob"})
	if err != nil || docs[0].Data.Balance != 70 || docs[1].Data.Balance != 130 {
		t.Fatalf("balances after transfers: %v %+v %+v", err, docs[0], docs[1])
	}

	// Contention: the SDK retries aborted transactions.
	const workers = 8
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			from, to := "alice", "bob"
			if i%2 == 1 {
				from, to = to, from
			}
			errs <- transfer(ctx, accts, from, to, 1)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent transfer: %v", err)
		}
	}
	docs, _ = accts.GetAll(ctx, []string{"alice", "bob"})
	if docs[0].Data.Balance+docs[1].Data.Balance != 200 || docs[0].Data.Balance != 70 {
		t.Errorf("balances after concurrent transfers: %d + %d, want 70 + 130", docs[0].Data.Balance, docs[1].Data.Balance)
	}

	// Reads and writes in a transaction: Get, Exists, Query, Create, Delete.
	err = accts.Transaction(ctx, func(ctx context.Context, tx *repository.Tx[account]) error {
		if _, err := tx.Get("nobody"); !errors.Is(err, repository.ErrNotFound) {
			return fmt.Errorf("tx get missing: got %v, want ErrNotFound", err)
		}
		if ok, err := tx.Exists("alice"); err != nil || !ok {
			return fmt.Errorf("tx exists: %v %v", ok, err)
		}
		rich, err := tx.Query(accts.Query().Where("balance", ">", 100))
		if err != nil {
			return err
		}
		if len(rich) != 1 || rich[0].ID != "bob" {
			return fmt.Errorf("tx query: %v", rich)
		}
		if err := tx.Create("carol", account{Owner: "carol"}); err != nil {
			return err
		}
		return tx.Delete("alice")
	})
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := accts.Exists(ctx, "carol"); !ok {
		t.Error("carol not created")
	}
	if ok, _ := accts.Exists(ctx, "alice"); ok {
		t.Error("alice not deleted")
	}

	// A write that fails at commit is classified.
	err = accts.Transaction(ctx, func(ctx context.Context, tx *repository.Tx[account]) error {
		return tx.Create("bob", account{})
	})
	if !errors.Is(err, repository.ErrAlreadyExists) {
		t.Errorf("create existing in a transaction: got %v, want ErrAlreadyExists", err)
	}

	// Several repositories in one transaction.
	type entry struct {
		Text string `firestore:"text"`
	}
	log := repository.New[entry](fs.Client, "log")
	err = fs.Client.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		b, err := accts.In(tx).Get("bob")
		if err != nil {
			return err
		}
		if err := accts.In(tx).Update("bob", []firestore.Update{{Path: "balance", Value: 0}}); err != nil {
			return err
		}
		return log.In(tx).Create("e1", entry{Text: fmt.Sprintf("emptied bob (%d)", b.Data.Balance)})
	})
	if err != nil {
		t.Fatal(err)
	}
	e, err := log.Get(ctx, "e1")
	if err != nil || e.Data.Text != "emptied bob (130)" {
		t.Errorf("log entry: %v %+v", err, e)
	}
}
