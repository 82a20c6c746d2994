package pgtest_test

import (
	"context"
	"testing"

	"github.com/fbadmin/fbadmin/internal/pgtest"
)

func TestNewIsolates(t *testing.T) {
	t.Parallel()
	a, b := pgtest.New(t), pgtest.New(t)
	if a.Name == b.Name {
		t.Fatalf("two tests got the same database %s", a.Name)
	}
	ctx := context.Background()
	if _, err := a.Pool.Exec(ctx, "CREATE TABLE only_in_a (x int)"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := b.Pool.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE tablename = 'only_in_a'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("database %s sees %s's table", b.Name, a.Name)
	}
}

func TestClusterStopStart(t *testing.T) {
	t.Parallel()
	c := pgtest.NewCluster(t)
	db := c.NewDB(t)
	ctx := context.Background()
	if _, err := db.Pool.Exec(ctx, "CREATE TABLE kept (x int); INSERT INTO kept VALUES (7)"); err != nil {
		t.Fatal(err)
	}
	c.Stop(t)
	if err := db.Pool.Ping(ctx); err == nil {
		t.Fatal("Ping succeeded with the server stopped")
	}
	c.Start(t)
	var x int
	if err := db.Pool.QueryRow(ctx, "SELECT x FROM kept").Scan(&x); err != nil {
		t.Fatalf("after a restart: %v", err)
	}
	if x != 7 {
		t.Errorf("got %d, want 7", x)
	}
}

func TestRedact(t *testing.T) {
	got := pgtest.Redact("postgres://user:secret@db.example:5432/app?sslmode=disable")
	if got != "db.example:5432/app" {
		t.Errorf("Redact = %q, want db.example:5432/app", got)
	}
}
