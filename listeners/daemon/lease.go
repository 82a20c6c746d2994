package daemon

import (
	"context"
	"errors"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// leaseDoc is a listener's lease, LEASE_COLLECTION/LISTENER. Token, the
// fencing token, grows by one at every acquisition: writes made under a
// lease carry its token and are refused once it has moved on.
type leaseDoc struct {
	Listener string    `firestore:"listener"`
	Holder   string    `firestore:"holder"`
	Token    int64     `firestore:"token"`
	Expires  time.Time `firestore:"expires"`
	Acquired time.Time `firestore:"acquired"`
}

// replicaDoc is a replica's heartbeat, LEASE_COLLECTION_replicas/ID:
// replicas count the live ones to share the listeners evenly.
type replicaDoc struct {
	Expires time.Time `firestore:"expires"`
	Started time.Time `firestore:"started"`
	Held    int       `firestore:"held"`
}

// errLeaseLost: the lease is held by another replica or with another token.
var errLeaseLost = errors.New("lease lost")

// errLeaseBusy: the lease is held by another replica and not expired.
var errLeaseBusy = errors.New("lease held by another replica")

// leases takes, renews and releases the leases of one replica.
type leases struct {
	client *firestore.Client
	col    *firestore.CollectionRef
	reps   *firestore.CollectionRef
	id     string
	ttl    time.Duration
}

// The lease documents are only ever changed by compare-and-swap: a batch
// commit preconditioned on the update time the document was read at (or
// on its absence). No transaction is used, so a replica killed at any
// point leaves no lock behind: on the emulator (and for a while in
// production) an abandoned transaction's locks would keep the others from
// taking its leases over (see migrate/lock.go).

// getLease reads a lease; a missing document is the zero lease, with a nil
// snapshot.
func (l *leases) getLease(ctx context.Context, listener string) (leaseDoc, *firestore.DocumentSnapshot, error) {
	var cur leaseDoc
	snap, err := l.col.Doc(listener).Get(ctx)
	if status.Code(err) == codes.NotFound {
		return cur, nil, nil
	}
	if err != nil {
		return cur, nil, err
	}
	return cur, snap, snap.DataTo(&cur)
}

// cas writes fields to the lease read as snap (created when snap is nil),
// failing with codes.FailedPrecondition or AlreadyExists when it changed
// since.
func (l *leases) cas(ctx context.Context, listener string, snap *firestore.DocumentSnapshot, fields map[string]any) error {
	ref := l.col.Doc(listener)
	//lint:ignore SA1019 an atomic batch with preconditions is the compare-and-swap a lease needs
	b := l.client.Batch()
	if snap == nil {
		b.Create(ref, fields)
	} else {
		var ups []firestore.Update
		for k, v := range fields {
			ups = append(ups, firestore.Update{Path: k, Value: v})
		}
		b.Update(ref, ups, firestore.LastUpdateTime(snap.UpdateTime))
	}
	_, err := b.Commit(ctx)
	return err
}

func raced(err error) bool {
	c := status.Code(err)
	return c == codes.FailedPrecondition || c == codes.AlreadyExists || c == codes.Aborted
}

// acquire takes the lease of listener if it is free, expired, or held by a
// previous process under the same replica ID, and returns its new token.
func (l *leases) acquire(ctx context.Context, listener string) (int64, error) {
	cur, snap, err := l.getLease(ctx, listener)
	if err != nil {
		return 0, err
	}
	now := time.Now()
	if cur.Holder != "" && cur.Holder != l.id && now.Before(cur.Expires) {
		return 0, errLeaseBusy
	}
	token := cur.Token + 1
	err = l.cas(ctx, listener, snap, map[string]any{"listener": listener, "holder": l.id, "token": token, "expires": now.Add(l.ttl), "acquired": now})
	if raced(err) {
		return 0, errLeaseBusy // another replica was quicker
	}
	return token, err
}

// renew extends a held lease by the TTL from now; errLeaseLost when another
// replica (or another token) holds it.
func (l *leases) renew(ctx context.Context, listener string, token int64) error {
	for {
		cur, snap, err := l.getLease(ctx, listener)
		if err != nil {
			return err
		}
		if snap == nil || cur.Holder != l.id || cur.Token != token {
			return errLeaseLost
		}
		err = l.cas(ctx, listener, snap, map[string]any{"expires": time.Now().Add(l.ttl)})
		if !raced(err) {
			return err
		}
	}
}

// release gives a held lease up at once (on a clean stop or to rebalance):
// the next replica to look takes it without waiting for the TTL. The token
// stays, so the next holder's is greater.
func (l *leases) release(ctx context.Context, listener string, token int64) error {
	for {
		cur, snap, err := l.getLease(ctx, listener)
		if err != nil {
			return err
		}
		if snap == nil || cur.Holder != l.id || cur.Token != token {
			return nil // already someone else's
		}
		err = l.cas(ctx, listener, snap, map[string]any{"holder": "", "expires": time.Unix(0, 0)})
		if !raced(err) {
			return err
		}
	}
}

// all returns every lease document, by listener.
func (l *leases) all(ctx context.Context) (map[string]leaseDoc, error) {
	docs, err := l.col.Documents(ctx).GetAll()
	if err != nil {
		return nil, err
	}
	out := make(map[string]leaseDoc, len(docs))
	for _, d := range docs {
		var ld leaseDoc
		if err := d.DataTo(&ld); err == nil {
			out[d.Ref.ID] = ld
		}
	}
	return out, nil
}

// heartbeat announces this replica until now + TTL.
func (l *leases) heartbeat(ctx context.Context, started time.Time, held int) error {
	_, err := l.reps.Doc(l.id).Set(ctx, replicaDoc{Expires: time.Now().Add(l.ttl), Started: started, Held: held})
	return err
}

// live counts the replicas whose heartbeat has not expired (this one
// included).
func (l *leases) live(ctx context.Context) (int, error) {
	docs, err := l.reps.Where("expires", ">", time.Now()).Documents(ctx).GetAll()
	if err != nil {
		return 0, err
	}
	n := len(docs)
	self := false
	for _, d := range docs {
		self = self || d.Ref.ID == l.id
	}
	if !self {
		n++
	}
	return n, nil
}

// leave removes this replica's heartbeat.
func (l *leases) leave(ctx context.Context) error {
	_, err := l.reps.Doc(l.id).Delete(ctx)
	return err
}
