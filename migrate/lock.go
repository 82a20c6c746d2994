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

	lockMu  sync.Mutex // one change of the lock document at a time
	mu      sync.Mutex
	lockUT  time.Time // of the lock document, as last written
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

// The lock document is only ever changed by compare-and-swap: a batch
// commit preconditioned on the update time it was read at. No
// transaction is used, so a holder killed at any point leaves no lock of
// the database behind (an abandoned transaction would block the next
// holder until the database times it out).

func (r *Runner) tryAcquire(ctx context.Context) (*lease, error) {
	snap, err := r.lockRef().Get(ctx)
	if err != nil && status.Code(err) != codes.NotFound {
		return nil, errs.Wrap(err, "lock", r.o.Collection+"/"+lockID)
	}
	now := time.Now()
	token := int64(1)
	//lint:ignore SA1019 an atomic batch with preconditions is the compare-and-swap the lock needs
	b := r.c.Batch()
	fields := map[string]any{"holder": r.o.Holder, "expires": now.Add(r.o.LeaseTTL), "acquired": now}
	if snap != nil && snap.Exists() {
		var cur struct {
			Holder  string    `firestore:"holder"`
			Token   int64     `firestore:"token"`
			Expires time.Time `firestore:"expires"`
		}
		if err := snap.DataTo(&cur); err != nil {
			return nil, errs.New(errs.ErrInvalid, "lock", r.o.Collection+"/"+lockID, "%v", err)
		}
		if cur.Holder != "" && cur.Holder != r.o.Holder && cur.Expires.After(now) {
			return nil, &LockHeldError{Holder: cur.Holder, Expires: cur.Expires}
		}
		token = cur.Token + 1
		fields["token"] = token
		b.Update(r.lockRef(), updatesOf(fields), firestore.LastUpdateTime(snap.UpdateTime))
	} else {
		fields["token"] = token
		b.Create(r.lockRef(), fields)
	}
	for i := range maxLanes {
		b.Set(r.laneRef(i), map[string]any{"token": token, "seq": int64(0)})
	}
	res, err := b.Commit(ctx)
	if err != nil {
		switch status.Code(err) {
		case codes.FailedPrecondition, codes.AlreadyExists:
			// Another took it between our read and write: say who.
			held := &LockHeldError{Holder: "another run (it took the lock just now)", Expires: now.Add(r.o.LeaseTTL)}
			if snap, gerr := r.lockRef().Get(ctx); gerr == nil {
				if h, _ := snap.DataAt("holder"); h != nil && h != "" {
					held.Holder = fmt.Sprint(h)
				}
				if e, _ := snap.DataAt("expires"); e != nil {
					if t, ok := e.(time.Time); ok {
						held.Expires = t
					}
				}
			}
			return nil, held
		}
		return nil, errs.Wrap(err, "lock", r.o.Collection+"/"+lockID)
	}
	l := &lease{r: r, token: token, holder: r.o.Holder, lockUT: res[0].UpdateTime, lanes: make(chan int, maxLanes), stop: make(chan struct{}), stopped: make(chan struct{})}
	for i := range maxLanes {
		l.laneUT[i] = res[0].UpdateTime
		l.lanes <- i
	}
	go l.renew()
	return l, nil
}

func updatesOf(m map[string]any) []firestore.Update {
	u := make([]firestore.Update, 0, len(m))
	for k, v := range m {
		u = append(u, firestore.Update{Path: k, Value: v})
	}
	return u
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
		err := l.update(ctx, nil, map[string]any{"expires": time.Now().Add(l.r.o.LeaseTTL)})
		cancel()
		if errors.Is(err, ErrLeaseLost) {
			l.mu.Lock()
			l.lost = err
			l.mu.Unlock()
			return
		}
	}
}

// update changes fields of the lock document, and sets the document doc
// (when not nil) to data merged, in one atomic commit that holds only
// while the lock is as this holder last saw it: a holder that lost the
// lease can change nothing.
func (l *lease) update(ctx context.Context, doc *firestore.DocumentRef, data map[string]any, lockFields ...map[string]any) error {
	l.lockMu.Lock()
	defer l.lockMu.Unlock()
	fields := map[string]any{"token": l.token}
	for _, f := range lockFields {
		for k, v := range f {
			fields[k] = v
		}
	}
	if doc == nil {
		fields = data
	}
	for attempt := 0; ; attempt++ {
		l.mu.Lock()
		ut := l.lockUT
		l.mu.Unlock()
		//lint:ignore SA1019 an atomic batch with preconditions is the compare-and-swap the lock needs
		b := l.r.c.Batch()
		b.Update(l.r.lockRef(), updatesOf(fields), firestore.LastUpdateTime(ut))
		if doc != nil {
			b.Set(doc, data, firestore.MergeAll)
		}
		res, err := b.Commit(ctx)
		if err == nil {
			l.mu.Lock()
			l.lockUT = res[0].UpdateTime
			l.mu.Unlock()
			return nil
		}
		if status.Code(err) != codes.FailedPrecondition || attempt > 0 {
			return err
		}
		// Refused: the lease was taken, or an earlier commit of ours
		// whose answer was lost moved the update time.
		snap, gerr := l.r.lockRef().Get(ctx)
		if gerr != nil {
			return gerr
		}
		if t, _ := snap.DataAt("token"); t != l.token {
			return ErrLeaseLost
		}
		l.mu.Lock()
		l.lockUT = snap.UpdateTime
		l.mu.Unlock()
	}
}

// release gives the lease back (when still held).
func (l *lease) release(ctx context.Context) error {
	close(l.stop)
	<-l.stopped
	err := l.update(ctx, nil, map[string]any{"holder": "", "expires": time.Now()})
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
