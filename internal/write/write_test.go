package write

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	pb "cloud.google.com/go/firestore/apiv1/firestorepb"
	"github.com/googleapis/gax-go/v2"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/fbadmin/fbadmin/internal/errs"
	"github.com/fbadmin/fbadmin/internal/retry"
)

// fakeSender refuses, in a commit, any batch holding a name of bad, and
// in a BatchWrite each write of bad with its code; transient failures
// are injected by count.
type fakeSender struct {
	mu          sync.Mutex
	bad         map[string]codes.Code
	commitFails []error // returned by the next commits, in order
	batchFails  []error // returned by the next BatchWrite requests, in order
	flaky       map[string]int
	commits     int
	batchWrites int
	written     map[string]int
}

func (s *fakeSender) Commit(_ context.Context, batch []Item) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.commits++
	if len(s.commitFails) > 0 {
		err := s.commitFails[0]
		s.commitFails = s.commitFails[1:]
		return err
	}
	for _, it := range batch {
		if c, ok := s.bad[it.Name]; ok {
			return status.Error(c, it.Name)
		}
	}
	for _, it := range batch {
		s.written[it.Name]++
	}
	return nil
}

// batchSender is a fakeSender with BatchWrite.
type batchSender struct{ *fakeSender }

func (s batchSender) BatchWrite(_ context.Context, batch []Item) ([]error, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batchWrites++
	if len(s.batchFails) > 0 {
		err := s.batchFails[0]
		s.batchFails = s.batchFails[1:]
		return nil, err
	}
	out := make([]error, len(batch))
	for i, it := range batch {
		if s.flaky[it.Name] > 0 {
			s.flaky[it.Name]--
			out[i] = status.Error(codes.Unavailable, "flaky")
			continue
		}
		if c, ok := s.bad[it.Name]; ok {
			out[i] = status.Error(c, it.Name)
			continue
		}
		s.written[it.Name]++
	}
	return out, nil
}

func newFake(bad map[string]codes.Code) *fakeSender {
	return &fakeSender{bad: bad, flaky: map[string]int{}, written: map[string]int{}}
}

func items(n int) []Item {
	out := make([]Item, n)
	for i := range out {
		out[i].Name = fmt.Sprintf("d%03d", i)
	}
	return out
}

var noWait = Options{Backoff: func(int) time.Duration { return 0 }}

// check compares results with the codes expected per name (OK when
// absent) and that every write was applied once at most.
func check(t *testing.T, s *fakeSender, batch []Item, res []Result, want map[string]codes.Code) {
	t.Helper()
	for i, r := range res {
		name := batch[i].Name
		if got := status.Code(r.Err); got != want[name] {
			t.Errorf("%s: got %v (%v), want %v", name, got, r.Err, want[name])
		}
		if w := s.written[name]; (want[name] == codes.OK) != (w == 1) || w > 1 {
			t.Errorf("%s written %d times", name, w)
		}
	}
}

func TestWriteAllAtOnce(t *testing.T) {
	s := newFake(nil)
	w := New(batchSender{s}, noWait)
	batch := items(500)
	res, err := w.Write(context.Background(), batch)
	if err != nil || s.commits != 1 || s.batchWrites != 0 {
		t.Fatalf("err %v, %d commits, %d batch writes; want one commit", err, s.commits, s.batchWrites)
	}
	check(t, s, batch, res, nil)
}

func TestWriteIsolatesWithBatchWrite(t *testing.T) {
	bad := map[string]codes.Code{"d007": codes.AlreadyExists, "d250": codes.InvalidArgument, "d499": codes.FailedPrecondition}
	s := newFake(bad)
	s.flaky["d100"] = 2 // fails twice per document, then goes
	s.batchFails = []error{status.Error(codes.Unavailable, "once")}
	w := New(batchSender{s}, noWait)
	batch := items(500)
	res, err := w.Write(context.Background(), batch)
	if err != nil {
		t.Fatal(err)
	}
	check(t, s, batch, res, bad)
	// One commit, one failed request, then BatchWrite rounds: all, d100,
	// d100.
	if s.commits != 1 || s.batchWrites != 4 {
		t.Errorf("%d commits, %d batch writes; want 1 and 4", s.commits, s.batchWrites)
	}
	if !res[7].Retried || !res[100].Retried {
		t.Error("writes sent again are not marked Retried")
	}
}

func TestWriteIsolatesRequestRefusal(t *testing.T) {
	// A request refused as a whole (too large, say): one by one.
	s := newFake(map[string]codes.Code{"d003": codes.InvalidArgument})
	s.batchFails = []error{status.Error(codes.InvalidArgument, "request too large")}
	w := New(batchSender{s}, noWait)
	batch := items(10)
	res, err := w.Write(context.Background(), batch)
	if err != nil {
		t.Fatal(err)
	}
	check(t, s, batch, res, map[string]codes.Code{"d003": codes.InvalidArgument})
	if s.batchWrites != 11 {
		t.Errorf("%d batch writes, want 1 + 10", s.batchWrites)
	}
}

func TestWriteIsolatesBySplitting(t *testing.T) {
	bad := map[string]codes.Code{"d000": codes.AlreadyExists, "d137": codes.NotFound, "d250": codes.AlreadyExists, "d251": codes.AlreadyExists}
	s := newFake(bad)
	w := New(s, noWait) // no BatchWrite
	batch := items(500)
	res, err := w.Write(context.Background(), batch)
	if err != nil {
		t.Fatal(err)
	}
	check(t, s, batch, res, bad)
	if s.commits > 80 { // halves down to 16 writes, then one by one
		t.Errorf("%d commits to isolate 4 writes of 500", s.commits)
	}
}

func TestWriteRetriesAndGivesUp(t *testing.T) {
	ctx := context.Background()
	unavailable := status.Error(codes.Unavailable, "down")

	s := newFake(nil)
	s.commitFails = []error{unavailable, unavailable}
	w := New(batchSender{s}, noWait)
	batch := items(3)
	if res, err := w.Write(ctx, batch); err != nil || s.commits != 3 {
		t.Fatalf("after two transient failures: %v, %d commits", err, s.commits)
	} else {
		check(t, s, batch, res, nil)
	}

	s = newFake(nil)
	s.commitFails = []error{unavailable, unavailable, unavailable, unavailable}
	o := noWait
	o.MaxRetries = 2
	_, err := New(s, o).Write(ctx, items(3))
	var ue *UnreachableError
	if !errors.As(err, &ue) || status.Code(err) != codes.Unavailable || s.commits != 3 {
		t.Errorf("retries exhausted: %v after %d commits; want an UnreachableError after 3", err, s.commits)
	}

	// A refusal of the whole request is not isolated.
	s = newFake(nil)
	s.commitFails = []error{status.Error(codes.PermissionDenied, "no")}
	if _, err := New(batchSender{s}, noWait).Write(ctx, items(3)); status.Code(err) != codes.PermissionDenied || s.batchWrites != 0 {
		t.Errorf("permission denied: %v, %d batch writes", err, s.batchWrites)
	}

	// Contention: retried whole without BatchWrite, isolated with it.
	aborted := status.Error(codes.Aborted, "contention")
	s = newFake(nil)
	s.commitFails = []error{aborted}
	if _, err := New(s, noWait).Write(ctx, items(3)); err != nil || s.commits != 2 {
		t.Errorf("aborted, no BatchWrite: %v, %d commits", err, s.commits)
	}
	s = newFake(nil)
	s.commitFails = []error{aborted}
	if _, err := New(batchSender{s}, noWait).Write(ctx, items(3)); err != nil || s.commits != 1 || s.batchWrites != 1 {
		t.Errorf("aborted, BatchWrite: %v, %d commits, %d batch writes", err, s.commits, s.batchWrites)
	}

	// A done context ends the retries.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := New(newFake(nil), noWait).Write(cctx, items(3)); !errors.Is(err, context.Canceled) {
		t.Errorf("done context: %v", err)
	}
}

// clock is a retry.Clock whose waits move its time on at once.
type clock struct {
	mu     sync.Mutex
	now    time.Time
	waited time.Duration
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Wait(_ context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	c.waited += d
	return nil
}

func TestWriteFollowsTheRamp(t *testing.T) {
	c := &clock{now: time.Unix(1e9, 0)}
	o := noWait
	o.Ramp = retry.NewRamp(retry.RampConfig{Start: 100, Burst: 100}, c)
	s := newFake(map[string]codes.Code{"d001": codes.AlreadyExists})
	w := New(batchSender{s}, o)
	// 300 writes at 100/s (100 at once): 2 s; the BatchWrite that isolates
	// d001 sends 300 more: 3 s.
	if _, err := w.Write(context.Background(), items(300)); err != nil {
		t.Fatal(err)
	}
	if c.waited != 5*time.Second {
		t.Errorf("waited %v, want 5s", c.waited)
	}
}

// fakeClient records the API's requests.
type fakeClient struct {
	commits []*pb.CommitRequest
	batches []*pb.BatchWriteRequest
	resp    *pb.BatchWriteResponse
	err     error
}

func (f *fakeClient) Commit(_ context.Context, req *pb.CommitRequest, _ ...gax.CallOption) (*pb.CommitResponse, error) {
	// Through the wire, as the real client sends it.
	b, err := proto.Marshal(req)
	if err != nil {
		return nil, err
	}
	var got pb.CommitRequest
	if err := proto.Unmarshal(b, &got); err != nil {
		return nil, err
	}
	f.commits = append(f.commits, &got)
	return &pb.CommitResponse{}, f.err
}

func (f *fakeClient) BatchWrite(_ context.Context, req *pb.BatchWriteRequest, _ ...gax.CallOption) (*pb.BatchWriteResponse, error) {
	f.batches = append(f.batches, req)
	return f.resp, f.err
}

func TestAPI(t *testing.T) {
	ctx := context.Background()
	const db = "projects/p/databases/(default)"
	name := func(id string) string { return db + "/documents/c/" + id }
	del := func(id string) *pb.Write { return &pb.Write{Operation: &pb.Write_Delete{Delete: name(id)}} }
	wire := func(id string) []byte { b, _ := proto.Marshal(del(id)); return b }

	// Encoded writes go as they are; messages are marshalled.
	for _, batch := range [][]Item{
		{{Name: name("a"), Wire: wire("a")}, {Name: name("b"), Wire: wire("b")}},
		{{Name: name("a"), Wire: wire("a")}, {Name: name("b"), Write: del("b")}},
	} {
		f := &fakeClient{}
		a := &API{Client: f, Database: db}
		if err := a.Commit(ctx, batch); err != nil {
			t.Fatal(err)
		}
		got := f.commits[0]
		if got.GetDatabase() != db || len(got.GetWrites()) != 2 || got.GetWrites()[1].GetDelete() != name("b") {
			t.Errorf("commit request %v", got)
		}
	}

	// A request error is classified and names the first document.
	f := &fakeClient{err: status.Error(codes.PermissionDenied, "no")}
	a := &API{Client: f, Database: db}
	err := a.Commit(ctx, []Item{{Name: name("a"), Write: del("a")}})
	if !errors.Is(err, errs.ErrPermission) || !strings.Contains(err.Error(), "commit c/a") {
		t.Errorf("commit error %v", err)
	}

	// BatchWrite: a write that does not decode is not sent; statuses
	// become errors.
	f = &fakeClient{resp: &pb.BatchWriteResponse{Status: []*rpcstatus.Status{{Code: int32(codes.AlreadyExists), Message: "exists"}, {}}}}
	a = &API{Client: f, Database: db}
	out, err := a.BatchWrite(ctx, []Item{
		{Name: name("a"), Write: del("a")},
		{Name: name("bad"), Wire: []byte{0xff, 0xff}},
		{Name: name("b"), Wire: wire("b")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(f.batches[0].GetWrites()) != 2 || status.Code(out[0]) != codes.AlreadyExists ||
		!errors.Is(out[1], errs.ErrInvalid) || out[2] != nil {
		t.Errorf("batch write: sent %d, outcomes %v", len(f.batches[0].GetWrites()), out)
	}
}

// sizeSender refuses, as Firestore does, any request whose writes add up
// to more than limit bytes; it writes what it takes.
type sizeSender struct {
	*fakeSender
	limit    int
	tooBig   error // the refusal
	requests int
}

func (s *sizeSender) refuse(batch []Item) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	if size(batch) > int64(s.limit) {
		return s.tooBig
	}
	return nil
}

func (s *sizeSender) Commit(ctx context.Context, batch []Item) error {
	if err := s.refuse(batch); err != nil {
		return err
	}
	return s.fakeSender.Commit(ctx, batch)
}

type sizeBatchSender struct{ *sizeSender }

func (s sizeBatchSender) BatchWrite(ctx context.Context, batch []Item) ([]error, error) {
	if err := s.refuse(batch); err != nil {
		return nil, err
	}
	return batchSender{s.fakeSender}.BatchWrite(ctx, batch)
}

func TestWriteSplitsRequestsTooBig(t *testing.T) {
	refusals := []error{
		status.Error(codes.InvalidArgument, "Request payload size exceeds the limit: 11534336 bytes."),
		status.Error(codes.InvalidArgument, "Transaction too big. Decrease transaction size."),
		errs.Wrap(status.Error(codes.ResourceExhausted, "grpc: trying to send message larger than max (11534336 vs. 10485760)"), "commit", "d000"),
	}
	for _, tooBig := range refusals {
		for _, withBatchWrite := range []bool{false, true} {
			name := fmt.Sprintf("%v, BatchWrite %v", tooBig, withBatchWrite)
			// 100 writes of 100 bytes, one of 5000; at most 1000 bytes a
			// request.
			batch := items(100)
			for i := range batch {
				batch[i].Wire = make([]byte, 100)
			}
			batch[42].Wire = make([]byte, 5000)
			s := &sizeSender{fakeSender: newFake(nil), limit: 1000, tooBig: tooBig}
			var snd Sender = s
			if withBatchWrite {
				snd = sizeBatchSender{s}
			}
			res, err := New(snd, noWait).Write(context.Background(), batch)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			for i, r := range res {
				switch {
				case i == 42 && !TooBig(r.Err):
					t.Errorf("%s: the 5000-byte write: got %v, want its own too-big failure", name, r.Err)
				case i != 42 && r.Err != nil:
					t.Errorf("%s: %s: %v", name, batch[i].Name, r.Err)
				case r.Retried:
					t.Errorf("%s: %s marked as retried: a refused request applied nothing", name, batch[i].Name)
				}
				if w := s.written[batch[i].Name]; w != 1 && i != 42 {
					t.Errorf("%s: %s written %d times, want 1", name, batch[i].Name, w)
				}
			}
			// Halving, not one request per write (100) nor retries of the
			// refusal: 1 + 2 + 4 + 8 + 16 to fit, and 2 a level on the way
			// down to the large write.
			if s.requests > 31+2*7 {
				t.Errorf("%s: %d requests, want at most 45", name, s.requests)
			}
		}
	}
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{status.Error(codes.InvalidArgument, "Document too large: name"), false},
		{status.Error(codes.InvalidArgument, "invalid value"), false},
		{status.Error(codes.ResourceExhausted, "Quota exceeded."), false},
		{nil, false},
	} {
		if got := TooBig(tc.err); got != tc.want {
			t.Errorf("TooBig(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestWritePacesBytes(t *testing.T) {
	c := &clock{now: time.Unix(1e9, 0)}
	o := noWait
	o.Bytes = retry.NewLimiter(1000, c)
	w := New(newFake(nil), o)
	// 10 batches of 5 writes of 100 bytes (500 bytes each) at 1000 bytes a
	// second: the first second's burst, then 4 s.
	for range 10 {
		batch := items(5)
		for i := range batch {
			batch[i].Wire = make([]byte, 100)
		}
		if _, err := w.Write(context.Background(), batch); err != nil {
			t.Fatal(err)
		}
	}
	if c.waited != 4*time.Second {
		t.Errorf("5000 bytes at 1000/s: waited %v, want 4s", c.waited)
	}
}
