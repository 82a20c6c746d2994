package repository

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"cloud.google.com/go/firestore"
	"github.com/fbadmin/fbadmin/internal/emutest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

type row struct {
	N   int64  `firestore:"n"`
	Tag string `firestore:"tag"`
}

// withFaults returns an option that fails the stream with err each time
// the number of documents yielded so far is in at (once per entry), and
// counts the failures.
func withFaults(err error, count *int, at ...int) Option {
	pending := slices.Clone(at)
	return func(c *config) {
		c.retryBase = time.Millisecond
		c.streamFault = func(yielded int) error {
			if i := slices.Index(pending, yielded); i >= 0 {
				pending = slices.Delete(pending, i, i+1)
				*count++
				return err
			}
			return nil
		}
	}
}

func seedRows(t *testing.T, c *firestore.Client, n int) {
	t.Helper()
	ctx := context.Background()
	//lint:ignore SA1019 test data setup through a plain batch
	b := c.Batch()
	for i := range n {
		// n has ties (i/3), and goes down as IDs go up.
		b.Set(c.Collection("rows").Doc(fmt.Sprintf("r%03d", i)), row{N: int64(100 - i/3), Tag: []string{"x", "y"}[i%2]})
	}
	if _, err := b.Commit(ctx); err != nil {
		t.Fatal(err)
	}
}

func collect[T any](q Query[T]) ([]string, error) {
	var out []string
	for d, err := range q.All(context.Background()) {
		if err != nil {
			return out, err
		}
		out = append(out, d.ID)
	}
	return out, nil
}

func TestAllResumesAfterTransientFailures(t *testing.T) {
	t.Parallel()
	fs := emutest.NewFirestore(t)
	seedRows(t, fs.Client, 60)
	unavailable := status.Error(codes.Unavailable, "injected: connection reset")

	cases := []struct {
		name  string
		q     func(r *Repository[row]) Query[row]
		fault []int
	}{
		{"no order", func(r *Repository[row]) Query[row] { return r.Query() }, []int{0, 10, 10, 31, 59}},
		{"order with ties", func(r *Repository[row]) Query[row] { return r.Query().OrderBy("n", firestore.Asc) }, []int{1, 2, 3, 40}},
		{"desc, filter", func(r *Repository[row]) Query[row] {
			return r.Query().Where("tag", "==", "x").OrderBy("n", firestore.Desc)
		}, []int{5, 6, 29}},
		{"inequality", func(r *Repository[row]) Query[row] { return r.Query().Where("n", "<", 95) }, []int{7, 8}},
		{"offset and limit", func(r *Repository[row]) Query[row] {
			return r.Query().OrderBy("n", firestore.Asc).Offset(5).Limit(20)
		}, []int{0, 4, 19}},
		{"select without order field", func(r *Repository[row]) Query[row] {
			return r.Query().Select("tag").OrderBy("n", firestore.Desc)
		}, []int{12, 13, 14}},
	}
	for _, c := range cases {
		plain := New[row](fs.Client, "rows")
		want, err := collect(c.q(plain))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if len(want) == 0 {
			t.Fatalf("%s: the query returns nothing", c.name)
		}
		failures := 0
		faulty := New[row](fs.Client, "rows", withFaults(unavailable, &failures, c.fault...))
		got, err := collect(c.q(faulty))
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: resumed stream gave %v, want %v", c.name, got, want)
		}
		wantFailures := 0
		for _, at := range c.fault {
			if at < len(want) {
				wantFailures++
			}
		}
		if failures != wantFailures {
			t.Errorf("%s: %d injected failures happened, want %d", c.name, failures, wantFailures)
		}
	}
}

func TestAllRetryLimitAndPermanentErrors(t *testing.T) {
	t.Parallel()
	fs := emutest.NewFirestore(t)
	seedRows(t, fs.Client, 10)

	// Three failures in a row at the same place exceed a limit of 2.
	failures := 0
	unavailable := status.Error(codes.Unavailable, "injected")
	r := New[row](fs.Client, "rows", WithStreamRetries(2), withFaults(unavailable, &failures, 4, 4, 4))
	got, err := collect(r.Query())
	if !errors.Is(err, ErrUnavailable) || len(got) != 4 || failures != 3 {
		t.Errorf("retry limit: got %v after %d failures, err %v; want 4 documents then ErrUnavailable after 3", got, failures, err)
	}
	var st interface{ GRPCStatus() *status.Status }
	if !errors.As(err, &st) || st.GRPCStatus().Code() != codes.Unavailable {
		t.Errorf("error %v does not unwrap to the gRPC status", err)
	}

	// Non-transient errors are not retried.
	failures = 0
	denied := status.Error(codes.PermissionDenied, "injected")
	r = New[row](fs.Client, "rows", withFaults(denied, &failures, 2, 2))
	got, err = collect(r.Query())
	if !errors.Is(err, ErrPermission) || len(got) != 2 || failures != 1 {
		t.Errorf("permanent error: got %v, %d failures, err %v", got, failures, err)
	}

	// Zero retries: the first failure ends the iteration.
	failures = 0
	r = New[row](fs.Client, "rows", WithStreamRetries(0), withFaults(unavailable, &failures, 3))
	if got, err = collect(r.Query()); !errors.Is(err, ErrUnavailable) || len(got) != 3 {
		t.Errorf("no retries: got %v, %v", got, err)
	}
}
