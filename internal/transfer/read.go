package transfer

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	pb "cloud.google.com/go/firestore/apiv1/firestorepb"

	"github.com/fbadmin/fbadmin/internal/errs"
	"github.com/fbadmin/fbadmin/internal/value"
)

// Doc is one document as [Read] delivers it.
type Doc struct {
	// Path is relative to the database root: users/alice/orders/A17.
	Path string
	// Data holds the fields in the lossless value format of internal/value.
	Data                   json.RawMessage
	CreateTime, UpdateTime time.Time
}

// ReadOptions select what [Read] returns: the documents of one collection
// (not those of its subcollections) or of one collection group.
type ReadOptions struct {
	// Collection is a collection path: "orders" or "users/alice/orders".
	Collection string
	// Group is a collection ID: every collection with that ID, at any depth.
	Group string
	// ReadTime, when set, reads a consistent snapshot of that time.
	ReadTime time.Time
	// Parallel is how many range queries run at once (default 8 in
	// production, 1 on the emulator).
	Parallel int
}

// Read streams the documents selected by o to fn, from up to o.Parallel
// queries over ranges of document names run at once, each restarted after
// its last document when its stream breaks. fn is called from the query's
// goroutine: calls with the same worker number are in name order, calls
// with different ones are concurrent. Each document's fields are converted
// to the value format in that goroutine, so conversion runs in parallel too.
// An error from fn stops the read and is returned.
func Read(ctx context.Context, db *DB, o ReadOptions, fn func(worker int, d Doc) error) error {
	if (o.Collection == "") == (o.Group == "") {
		return fmt.Errorf("read: want a collection or a collection group")
	}
	if o.Parallel < 1 {
		o.Parallel = defaultParallel(db)
	}
	o.ReadTime = o.ReadTime.Truncate(time.Microsecond)
	var scans []scan
	var err error
	if o.Group != "" {
		scans, err = db.planGroup(ctx, "", o.Group, o.ReadTime, o.Parallel)
	} else {
		if err := CheckPath(o.Collection); err != nil {
			return err
		}
		scans, err = db.planOwnDocs(ctx, o.Collection, o.ReadTime, o.Parallel)
	}
	if err != nil {
		return err
	}
	return db.runScans(ctx, scans, scanOptions{readTime: o.ReadTime}, o.Parallel, func(w int, d *pb.Document) error {
		doc, err := db.doc(d)
		if err != nil {
			return err
		}
		return fn(w, doc)
	})
}

// planOwnDocs splits "the documents of collRel", without those of its
// subcollections, into scans over ranges of document names.
func (db *DB) planOwnDocs(ctx context.Context, collRel string, readTime time.Time, parts int) ([]scan, error) {
	parent, id := splitParent(collRel)
	cuts, err := db.cuts(ctx, parent, []string{id}, readTime, parts)
	if err != nil {
		return nil, err
	}
	whole := scan{parent: db.full(parent), collection: id}
	return whole.cut(cuts), nil
}

// doc converts a document of the API into a [Doc].
func (db *DB) doc(d *pb.Document) (Doc, error) {
	rel := db.rel(d.GetName())
	fields, err := fromPBFields(d.GetFields())
	if err != nil {
		return Doc{}, errs.New(errs.ErrInternal, "read", rel, "%v", err)
	}
	data, err := value.EncodeMap(fields)
	if err != nil {
		return Doc{}, errs.Wrap(err, "read", rel)
	}
	return Doc{Path: rel, Data: data, CreateTime: d.GetCreateTime().AsTime(), UpdateTime: d.GetUpdateTime().AsTime()}, nil
}
