package migrate

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/fbadmin/fbadmin/internal/errs"
)

// The lock is a lease: the document _lock of the state collection holds
// the holder, the lease's expiry and a fencing token, a number that each
// new holder increments. Writes are fenced through lanes: the documents
// _lock/lanes/0..N-1 hold the token of the holder that last took the
// lease. Every batch a migration commits updates one lane in the same
// atomic commit, with a precondition on the lane's update time as the
// holder last saw it; taking the lease rewrites every lane, so that a
// stalled holder whose lease was taken fails its next commit, whatever it
// believes about its lease. Batches of one lane are committed one after
// the other, lanes in parallel.

const lockID = "_lock"

// maxLanes is the number of lanes, the most batches in flight at once.
const maxLanes = 8

// LockHeldError is the error of a lock held by someone else.
type LockHeldError struct {
	Holder  string
	Expires time.Time
}

func (e *LockHeldError) Error() string {
	return fmt.Sprintf("the migration lock is held by %s until %s (hint: wait with --wait 5m, or if that process is gone, its lease expires by itself)",
		e.Holder, e.Expires.UTC().Format(time.RFC3339))
}

// Unwrap classifies the error as a conflict.
func (e *LockHeldError) Unwrap() error { return errs.ErrConflict }

// ErrLeaseLost is the error of writes refused because another holder took
// the lease.
var ErrLeaseLost = errors.New("the migration lock's lease was lost to another holder: no write of this run is sent any more (hint: run status, then up again)")

type lease struct {
	r      *Runner
	token  int64
	holder string

	mu      sync.Mutex
	laneUT  [maxLanes]time.Time
	lanes   chan int
	lost    error
	stop    chan struct{}
	stopped chan struct{}
}

func (r *Runner) lockRef() *firestore.DocumentRef { return r.c.Collection(r.o.Collection).Doc(lockID) }

func (r *Runner) laneRef(i int) *firestore.DocumentRef {
	return r.lockRef().Collection("lanes").Doc(strconv.Itoa(i))
}

// acquire takes the lease, waiting up to r.o.Wait for it.
func (r *Runner) acquire(ctx context.Context) (*lease, error) {
	deadline := time.Now().Add(r.o.Wait)
	for {
		l, err := r.tryAcquire(ctx)
		var held *LockHeldError
		if !errors.As(err, &held) || time.Now().After(deadline) {
			return l, err
		}
		r.logf("waiting for the migration lock held by %s", held.Holder)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(min(time.Second, time.Until(deadline)+10*time.Millisecond)):
		}
	}
}

func (r *Runner) tryAcquire(ctx context.Context) (*lease, error) {
	var token int64
	err := r.c.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		snap, err := tx.Get(r.lockRef())
		if err != nil && status.Code(err) != codes.NotFound {
			return err
		}
		now := time.Now()
		token = 1
		if snap != nil && snap.Exists() {
			var cur struct {
				Holder  string    `firestore:"holder"`
				Token   int64     `firestore:"token"`
				Expires time.Time `firestore:"expires"`
			}
			if err := snap.DataTo(&cur); err != nil {
				return err
			}
			if cur.Holder != "" && cur.Expires.After(now) {
				return &LockHeldError{Holder: cur.Holder, Expires: cur.Expires}
			}
			token = cur.Token + 1
		}
		if err := tx.Set(r.lockRef(), map[string]any{
			"holder": r.o.Holder, "token": token, "expires": now.Add(r.o.LeaseTTL), "acquired": now,
		}); err != nil {
			return err
		}
		for i := range maxLanes {
			if err := tx.Set(r.laneRef(i), map[string]any{"token": token, "seq": int64(0)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		var held *LockHeldError
		if errors.As(err, &held) {
			return nil, err
		}
		return nil, errs.Wrap(err, "lock", r.o.Collection+"/"+lockID)
	}
	l := &lease{r: r, token: token, holder: r.o.Holder, lanes: make(chan int, maxLanes), stop: make(chan struct{}), stopped: make(chan struct{})}
	refs := make([]*firestore.DocumentRef, maxLanes)
	for i := range refs {
		refs[i] = r.laneRef(i)
	}
	snaps, err := r.c.GetAll(ctx, refs)
	if err != nil {
		return nil, errs.Wrap(err, "lock", "lanes")
	}
	for i, s := range snaps {
		if t, _ := s.DataAt("token"); t != token {
			return nil, errs.Wrap(ErrLeaseLost, "lock", r.o.Collection+"/"+lockID)
		}
		l.laneUT[i] = s.UpdateTime
		l.lanes <- i
	}
	go l.renew()
	return l, nil
}

// renew extends the lease every third of its time to live, until release.
func (l *lease) renew() {
	defer close(l.stopped)
	if l.r.o.noRenew {
		<-l.stop
		return
	}
	t := time.NewTicker(l.r.o.LeaseTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), l.r.o.LeaseTTL/3)
		err := l.update(ctx, func(tx *firestore.Transaction) error {
			return tx.Update(l.r.lockRef(), []firestore.Update{{Path: "expires", Value: time.Now().Add(l.r.o.LeaseTTL)}})
		})
		cancel()
		if errors.Is(err, ErrLeaseLost) {
			l.mu.Lock()
			l.lost = err
			l.mu.Unlock()
			return
		}
	}
}

// update runs fn in a transaction that first checks that the lease is
// still this holder's.
func (l *lease) update(ctx context.Context, fn func(tx *firestore.Transaction) error) error {
	return l.r.c.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		snap, err := tx.Get(l.r.lockRef())
		if err != nil {
			return err
		}
		if t, _ := snap.DataAt("token"); t != l.token {
			return ErrLeaseLost
		}
		return fn(tx)
	})
}

// release gives the lease back (when still held).
func (l *lease) release(ctx context.Context) error {
	close(l.stop)
	<-l.stopped
	err := l.update(ctx, func(tx *firestore.Transaction) error {
		return tx.Update(l.r.lockRef(), []firestore.Update{{Path: "holder", Value: ""}, {Path: "expires", Value: time.Now()}})
	})
	if errors.Is(err, ErrLeaseLost) {
		return nil
	}
	return errs.Wrap(err, "unlock", l.r.o.Collection+"/"+lockID)
}

func (l *lease) err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lost
}
