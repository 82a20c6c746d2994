package daemon

import (
	"context"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/fbadmin/fbadmin/internal/errs"
)

// errFenced is returned by a fenced write whose lease has moved on: another
// replica holds the listener now, and this one must stop writing for it.
var errFenced = errs.New(errs.ErrConflict, "lease", "", "the listener's lease has moved to another replica (fencing token changed): not writing")

// fsStore is a [listeners.Store] in Firestore, for one listener, fenced by
// the token of its lease. A name (LISTENER/SINK.ckpt, .journal/SINK.wal) is
// one document of the state collection, LISTENER~NAME with '/' as '~',
// which records the token of the last replica that wrote it. A replica that
// takes a lease over first claims the listener's documents, writing its new
// token into each ([fsStore.claim]) before it reads them; every write is a
// batch preconditioned on the update time of the document as read, and is
// refused (errFenced) when that document carries a greater token than the
// writer's. A replica that lost a listener can thus never overwrite what
// the replica that took it over reads or writes. No transaction is used:
// a replica killed mid-write leaves no lock behind.
//
// The document's fields say which of its parts are current (first, next);
// the parts, in its subcollection "parts" (IDs are zero-padded sequence
// numbers), hold up to partSize bytes each. Write puts the new content in
// new parts and moves first in the same batch, so a reader sees the old
// content or the new; Append adds one part. Parts left behind are deleted
// in the same batch (up to 200) or after it, and ignored by readers.
type fsStore struct {
	client   *firestore.Client
	col      *firestore.CollectionRef
	listener string
	holder   string
	token    int64
}

const partSize = 900 << 10 // under Firestore's 1 MiB per document

type blobDoc struct {
	First   int64     `firestore:"first"`
	Next    int64     `firestore:"next"`
	Holder  string    `firestore:"holder"`
	Token   int64     `firestore:"token"`
	Updated time.Time `firestore:"updated"`
	// Written: content was written (a claim alone writes none).
	Written bool `firestore:"written"`
}

func (s *fsStore) doc(name string) *firestore.DocumentRef {
	return s.col.Doc(s.listener + "~" + strings.ReplaceAll(name, "/", "~"))
}

func partID(seq int64) string { return fmt.Sprintf("%016d", seq) }

func (s *fsStore) Read(ctx context.Context, name string) ([]byte, error) {
	ref := s.doc(name)
	b, snap, err := s.get(ctx, ref)
	if err != nil {
		return nil, errs.Wrap(err, "read state", ref.Path)
	}
	if snap == nil || !b.Written {
		return nil, fmt.Errorf("%s: %w", name, fs.ErrNotExist)
	}
	parts, err := ref.Collection("parts").OrderBy(firestore.DocumentID, firestore.Asc).Documents(ctx).GetAll()
	if err != nil {
		return nil, errs.Wrap(err, "read state", ref.Path)
	}
	out := []byte{}
	want := b.First
	for _, p := range parts {
		seq, err := strconv.ParseInt(p.Ref.ID, 10, 64)
		if err != nil || seq < b.First || seq >= b.Next {
			continue
		}
		if seq != want {
			return nil, fmt.Errorf("read state %s: part %d is missing", ref.Path, want)
		}
		d, _ := p.DataAt("data")
		bs, _ := d.([]byte)
		out = append(out, bs...)
		want++
	}
	if want != b.Next {
		return nil, fmt.Errorf("read state %s: parts %d to %d are missing", ref.Path, want, b.Next-1)
	}
	return out, nil
}

// get reads a state document; a missing one is the zero blobDoc with a nil
// snapshot.
func (s *fsStore) get(ctx context.Context, ref *firestore.DocumentRef) (blobDoc, *firestore.DocumentSnapshot, error) {
	var b blobDoc
	snap, err := ref.Get(ctx)
	if status.Code(err) == codes.NotFound {
		return b, nil, nil
	}
	if err != nil {
		return b, nil, err
	}
	return b, snap, snap.DataTo(&b)
}

// partWrite is one write of a part in a state document's batch: data, or
// a delete when data is nil.
type partWrite struct {
	ref  *firestore.DocumentRef
	data []byte
}

// update commits, in one batch preconditioned on ref being as read (snap;
// absent when nil), the writes of more and then ref set to b.
func (s *fsStore) update(ctx context.Context, ref *firestore.DocumentRef, snap *firestore.DocumentSnapshot, b blobDoc, more []partWrite) error {
	//lint:ignore SA1019 an atomic batch with preconditions is the compare-and-swap the fencing needs
	wb := s.client.Batch()
	for _, w := range more {
		if w.data == nil {
			wb.Delete(w.ref)
		} else {
			wb.Set(w.ref, map[string]any{"data": w.data})
		}
	}
	b.Holder, b.Token, b.Updated = s.holder, s.token, time.Now()
	fields := map[string]any{"first": b.First, "next": b.Next, "holder": b.Holder, "token": b.Token, "updated": b.Updated, "written": b.Written}
	if snap == nil {
		wb.Create(ref, fields)
	} else {
		var ups []firestore.Update
		for k, v := range fields {
			ups = append(ups, firestore.Update{Path: k, Value: v})
		}
		wb.Update(ref, ups, firestore.LastUpdateTime(snap.UpdateTime))
	}
	_, err := wb.Commit(ctx)
	return err
}

// cas runs one read-check-write round on name until it commits without a
// race: step gets the document as read and returns the batch's other
// writes and the document's new fields.
func (s *fsStore) cas(ctx context.Context, op, name string, step func(b blobDoc) (blobDoc, []partWrite)) error {
	ref := s.doc(name)
	for {
		b, snap, err := s.get(ctx, ref)
		if err != nil {
			return errs.Wrap(err, op, ref.Path)
		}
		if b.Token > s.token {
			return errFenced
		}
		nb, more := step(b)
		err = s.update(ctx, ref, snap, nb, more)
		if err == nil {
			return nil
		}
		if !raced(err) {
			return errs.Wrap(err, op, ref.Path)
		}
	}
}

// claim writes this replica's token into the listener's state documents
// (names), fencing off the writes of any earlier holder. Call it after
// taking the lease, before reading.
func (s *fsStore) claim(ctx context.Context, names []string) error {
	for _, name := range names {
		if err := s.cas(ctx, "claim state", name, func(b blobDoc) (blobDoc, []partWrite) { return b, nil }); err != nil {
			return err
		}
	}
	return nil
}

func (s *fsStore) Write(ctx context.Context, name string, data []byte) error {
	parts := s.doc(name).Collection("parts")
	var stale []int64
	err := s.cas(ctx, "write state", name, func(b blobDoc) (blobDoc, []partWrite) {
		stale = stale[:0]
		first, next := b.Next, b.Next
		var chunks [][]byte
		for off := 0; off < len(data); off += partSize {
			chunks = append(chunks, data[off:min(off+partSize, len(data))])
		}
		next += int64(len(chunks))
		old := b
		b.First, b.Next = first, next
		b.Written = true
		var ws []partWrite
		for i, c := range chunks {
			ws = append(ws, partWrite{parts.Doc(partID(first + int64(i))), c})
		}
		for seq := old.First; seq < old.Next; seq++ {
			if seq-old.First < 200 {
				ws = append(ws, partWrite{ref: parts.Doc(partID(seq))})
			} else {
				stale = append(stale, seq)
			}
		}
		return b, ws
	})
	if err != nil {
		return err
	}
	// Parts beyond what one batch deletes: readers ignore them already.
	for _, seq := range stale {
		_, _ = parts.Doc(partID(seq)).Delete(ctx)
	}
	return nil
}

func (s *fsStore) Append(ctx context.Context, name string, data []byte) error {
	parts := s.doc(name).Collection("parts")
	if data == nil {
		data = []byte{}
	}
	return s.cas(ctx, "append state", name, func(b blobDoc) (blobDoc, []partWrite) {
		seq := b.Next
		b.Next++
		b.Written = true
		return b, []partWrite{{parts.Doc(partID(seq)), data}}
	})
}
