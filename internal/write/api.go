package write

import (
	"context"
	"strings"

	pb "cloud.google.com/go/firestore/apiv1/firestorepb"
	"github.com/googleapis/gax-go/v2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/fbadmin/fbadmin/internal/errs"
)

// Client is the part of Firestore's low-level API client
// (cloud.google.com/go/firestore/apiv1.Client) that [API] uses.
type Client interface {
	Commit(ctx context.Context, req *pb.CommitRequest, opts ...gax.CallOption) (*pb.CommitResponse, error)
	BatchWrite(ctx context.Context, req *pb.BatchWriteRequest, opts ...gax.CallOption) (*pb.BatchWriteResponse, error)
}

// API is the [Sender] of writes given as protocol buffers: it sends them
// with the Commit and BatchWrite calls of the low-level API. When every
// item of a batch has its Wire bytes, they go into the request as they
// are, with no message built or marshalled on the way (they ride as the
// request's unknown fields, which the protobuf runtime serializes as they
// are; the generated client still sends the request, with its headers and
// call options).
//
// Request errors are classified ([errs.Wrap]) and name the first
// document; the statuses of single writes are returned as gRPC status
// errors, for the caller to word.
type API struct {
	Client Client
	// Database is the database's resource name, projects/P/databases/D.
	Database string
}

var _ BatchSender = (*API)(nil)

// Field number of CommitRequest.writes and BatchWriteRequest.writes.
const wireRequestWrites = 2

// Commit implements [Sender].
func (a *API) Commit(ctx context.Context, batch []Item) error {
	req := &pb.CommitRequest{Database: a.Database}
	if raw := rawWrites(batch); raw != nil {
		req.ProtoReflect().SetUnknown(raw)
	} else {
		writes, err := a.writes(batch, nil)
		if err != nil {
			return err
		}
		req.Writes = writes
	}
	_, err := a.Client.Commit(a.ctx(ctx), req)
	return errs.Wrap(err, "commit", a.Rel(batch[0].Name))
}

// BatchWrite implements [BatchSender]. An item whose Wire bytes do not
// decode is not sent: its outcome is an ErrInvalid error.
func (a *API) BatchWrite(ctx context.Context, batch []Item) ([]error, error) {
	out := make([]error, len(batch))
	writes, err := a.writes(batch, out)
	if err != nil {
		return nil, err
	}
	sent := make([]int, 0, len(batch))
	for i := range batch {
		if out[i] == nil {
			sent = append(sent, i)
		}
	}
	if len(sent) == 0 {
		return out, nil
	}
	resp, err := a.Client.BatchWrite(a.ctx(ctx), &pb.BatchWriteRequest{Database: a.Database, Writes: writes})
	if err != nil {
		return nil, errs.Wrap(err, "batch write", a.Rel(batch[sent[0]].Name))
	}
	st := resp.GetStatus()
	for k, i := range sent {
		if k >= len(st) {
			out[i] = errs.New(errs.ErrInternal, "batch write", a.Rel(batch[i].Name), "no status in the answer")
			continue
		}
		if codes.Code(st[k].GetCode()) != codes.OK {
			out[i] = status.ErrorProto(st[k])
		}
	}
	return out, nil
}

// writes returns the messages of batch. With bad not nil, an item that
// cannot be decoded gets its error there and is left out; with bad nil,
// it is the error.
func (a *API) writes(batch []Item, bad []error) ([]*pb.Write, error) {
	writes := make([]*pb.Write, 0, len(batch))
	for i := range batch {
		w := batch[i].Write
		if w == nil {
			w = new(pb.Write)
			if err := proto.Unmarshal(batch[i].Wire, w); err != nil {
				err = errs.New(errs.ErrInvalid, "write", a.Rel(batch[i].Name), "%v", err)
				if bad == nil {
					return nil, err
				}
				bad[i] = err
				continue
			}
		}
		writes = append(writes, w)
	}
	return writes, nil
}

// rawWrites returns the encoded writes field of a request carrying the
// batch, or nil unless every item has its Wire bytes.
func rawWrites(batch []Item) []byte {
	size := 0
	for i := range batch {
		if batch[i].Wire == nil {
			return nil
		}
		size += len(batch[i].Wire) + 8
	}
	b := make([]byte, 0, size)
	for i := range batch {
		b = protowire.AppendTag(b, wireRequestWrites, protowire.BytesType)
		b = protowire.AppendBytes(b, batch[i].Wire)
	}
	return b
}

// Rel returns a document's path relative to the database's root, the form
// messages use.
func (a *API) Rel(name string) string {
	root := a.Database + "/documents/"
	if strings.HasPrefix(name, root) {
		return name[len(root):]
	}
	return name
}

// ctx adds the routing header Firestore expects on every call.
func (a *API) ctx(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "google-cloud-resource-prefix", a.Database)
}
