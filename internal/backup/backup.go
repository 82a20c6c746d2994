// Package backup drives Firestore's managed exports and imports: the
// long-running operations of the Firestore Admin API that write a database
// (or some collection groups) to Cloud Storage and read such an export back,
// as `gcloud firestore export` and `gcloud firestore import` do.
//
// # Operations
//
// [Client.Export] and [Client.Import] start an operation and return at once
// with its first state; [Client.Wait] polls it until it ends, reporting its
// progress; [Client.Get], [Client.List] and [Client.Cancel] act on the
// operations of the client's database. Every operation is described by an
// [Operation]: its name, kind, state, progress in documents and bytes, and,
// once done, its result or its error.
//
// # Errors
//
// Errors are classified by internal/errs: a refused call (permission,
// invalid argument, another operation in the way) keeps its gRPC code's
// kind, and so does an operation that ended in failure ([Operation.Err]).
//
// # Endpoints
//
// The client talks to firestore.googleapis.com with the usual credentials.
// [Config.Endpoint] points it elsewhere: "host:port" (TLS, same
// credentials), or "http://host:port" for a plaintext server without
// credentials, which is how the tests reach the in-process fake of
// [github.com/fbadmin/fbadmin/internal/backup/backuptest]. The Firestore
// emulator does not implement the Admin API.
package backup

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strings"
	"time"

	admin "cloud.google.com/go/firestore/apiv1/admin"
	"cloud.google.com/go/firestore/apiv1/admin/adminpb"
	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/fbadmin/fbadmin/internal/errs"
)

// Config says which database a [Client] acts on and how it connects.
type Config struct {
	Project  string
	Database string // "" is "(default)"
	// Endpoint overrides the Admin API's address: "host:port" (TLS, with
	// the credentials of Options) or "http://host:port" (plaintext, no
	// credentials: a local fake).
	Endpoint string
	// Options are extra client options (credentials) for a TLS endpoint.
	Options []option.ClientOption
	// DialOptions are added to the gRPC connection (request logging).
	DialOptions []grpc.DialOption
}

// Client starts and follows the managed export and import operations of
// one database. It is safe for concurrent use.
type Client struct {
	admin    *admin.FirestoreAdminClient
	conn     *grpc.ClientConn // a plaintext endpoint's connection, closed by Close
	database string           // projects/P/databases/D
}

// New connects to the Admin API. It makes no call.
func New(ctx context.Context, cfg Config) (*Client, error) {
	if cfg.Project == "" {
		return nil, errs.New(errs.ErrInvalid, "connect", "firestore admin", "no project given")
	}
	if cfg.Database == "" {
		cfg.Database = "(default)"
	}
	c := &Client{database: "projects/" + cfg.Project + "/databases/" + cfg.Database}
	var opts []option.ClientOption
	switch host, plain := strings.CutPrefix(cfg.Endpoint, "http://"); {
	case plain:
		conn, err := grpc.NewClient(strings.TrimSuffix(host, "/"), append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, cfg.DialOptions...)...)
		if err != nil {
			return nil, errs.New(errs.ErrInvalid, "connect", cfg.Endpoint, "%v", err)
		}
		c.conn = conn
		opts = append(opts, option.WithGRPCConn(conn))
	default:
		if cfg.Endpoint != "" {
			opts = append(opts, option.WithEndpoint(strings.TrimPrefix(cfg.Endpoint, "https://")))
		}
		opts = append(opts, cfg.Options...)
		for _, o := range cfg.DialOptions {
			opts = append(opts, option.WithGRPCDialOption(o))
		}
	}
	a, err := admin.NewFirestoreAdminClient(ctx, opts...)
	if err != nil {
		if c.conn != nil {
			c.conn.Close()
		}
		return nil, errs.Wrap(err, "connect", "firestore admin")
	}
	c.admin = a
	return c, nil
}

// Close releases the connection.
func (c *Client) Close() error {
	err := c.admin.Close()
	if c.conn != nil {
		c.conn.Close()
	}
	return err
}

// Databases lists the IDs of the project's databases.
func (c *Client) Databases(ctx context.Context) ([]string, error) {
	project, _, _ := strings.Cut(strings.TrimPrefix(c.database, "projects/"), "/")
	res, err := c.admin.ListDatabases(ctx, &adminpb.ListDatabasesRequest{Parent: "projects/" + project})
	if err != nil {
		return nil, errs.Wrap(err, "list databases", project)
	}
	ids := make([]string, 0, len(res.GetDatabases()))
	for _, d := range res.GetDatabases() {
		name := d.GetName()
		ids = append(ids, name[strings.LastIndexByte(name, '/')+1:])
	}
	return ids, nil
}

// Database returns the database's resource name, projects/P/databases/D.
func (c *Client) Database() string { return c.database }

// OperationName expands an operation ID to its full name in the client's
// database; a full name (projects/...) is returned as it is.
func (c *Client) OperationName(arg string) string {
	if strings.HasPrefix(arg, "projects/") {
		return arg
	}
	return c.database + "/operations/" + strings.TrimPrefix(arg, "operations/")
}

// ExportRequest is what [Client.Export] exports.
type ExportRequest struct {
	// OutputURIPrefix is gs://BUCKET[/PATH]: the export's files go under
	// PATH, or under a prefix named after the start time without one.
	OutputURIPrefix string
	// CollectionIDs are the collection groups to export (nil: all).
	CollectionIDs []string
	// SnapshotTime, when set, exports the database as it was then: a
	// whole minute, within the point-in-time-recovery window.
	SnapshotTime time.Time
}

// ImportRequest is what [Client.Import] imports.
type ImportRequest struct {
	// InputURIPrefix is the output URI prefix of a finished export.
	InputURIPrefix string
	// CollectionIDs are the collection groups to import (nil: all those
	// of the export).
	CollectionIDs []string
}

// Export starts a managed export and returns its operation, not waiting
// for it.
func (c *Client) Export(ctx context.Context, r ExportRequest) (*Operation, error) {
	req := &adminpb.ExportDocumentsRequest{Name: c.database, OutputUriPrefix: r.OutputURIPrefix, CollectionIds: r.CollectionIDs}
	if !r.SnapshotTime.IsZero() {
		req.SnapshotTime = timestamppb.New(r.SnapshotTime)
	}
	op, err := c.admin.ExportDocuments(ctx, req)
	if err != nil {
		return nil, errs.Wrap(err, "export", c.database)
	}
	o := &Operation{Name: op.Name(), Kind: KindExport, Done: op.Done()}
	if md, err := op.Metadata(); err == nil && md != nil {
		o.fill(md)
	}
	o.finish(nil, nil)
	return o, nil
}

// Import starts a managed import and returns its operation, not waiting
// for it.
func (c *Client) Import(ctx context.Context, r ImportRequest) (*Operation, error) {
	req := &adminpb.ImportDocumentsRequest{Name: c.database, InputUriPrefix: r.InputURIPrefix, CollectionIds: r.CollectionIDs}
	op, err := c.admin.ImportDocuments(ctx, req)
	if err != nil {
		return nil, errs.Wrap(err, "import", c.database)
	}
	o := &Operation{Name: op.Name(), Kind: KindImport, Done: op.Done()}
	if md, err := op.Metadata(); err == nil && md != nil {
		o.fill(md)
	}
	o.finish(nil, nil)
	return o, nil
}

// Get returns the operation of that name (or ID).
func (c *Client) Get(ctx context.Context, name string) (*Operation, error) {
	name = c.OperationName(name)
	op, err := c.admin.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: name})
	if err != nil {
		return nil, errs.Wrap(err, "get operation", name)
	}
	return FromProto(op), nil
}

// List returns the operations of the database, newest first as the API
// lists them. filter is the API's (for example "done: true"; "" lists
// what it lists by default: operations in progress and failed ones).
func (c *Client) List(ctx context.Context, filter string) iter.Seq2[*Operation, error] {
	return func(yield func(*Operation, error) bool) {
		it := c.admin.ListOperations(ctx, &longrunningpb.ListOperationsRequest{Name: c.database, Filter: filter})
		for {
			op, err := it.Next()
			if errors.Is(err, iterator.Done) {
				return
			}
			if err != nil {
				yield(nil, errs.Wrap(err, "list operations", c.database))
				return
			}
			if !yield(FromProto(op), nil) {
				return
			}
		}
	}
}

// Cancel asks for the operation to stop. It returns before the operation
// has stopped: its state is CANCELLING, then CANCELLED.
func (c *Client) Cancel(ctx context.Context, name string) error {
	name = c.OperationName(name)
	if err := c.admin.CancelOperation(ctx, &longrunningpb.CancelOperationRequest{Name: name}); err != nil {
		return errs.Wrap(err, "cancel operation", name)
	}
	return nil
}

// WaitOptions configures [Client.Wait].
type WaitOptions struct {
	// Interval is the time between polls; 0 starts at 1 s and grows to
	// MaxInterval.
	Interval time.Duration
	// MaxInterval caps a growing interval (default 10 s).
	MaxInterval time.Duration
	// OnPoll, if set, is called with each state read, the last included.
	OnPoll func(*Operation)
}

// Wait polls the operation until it is done and returns its last state,
// with [Operation.Err] as the error when it failed or was cancelled. A
// cancelled or expired ctx stops the waiting, not the operation: the error
// is then ctx's, and the operation returned is the last state read.
// Transient failures to read it (unavailable) are retried a few times.
func (c *Client) Wait(ctx context.Context, name string, o WaitOptions) (*Operation, error) {
	interval, grow := o.Interval, o.Interval <= 0
	if grow {
		interval = time.Second
	}
	maxInterval := o.MaxInterval
	if maxInterval <= 0 {
		maxInterval = 10 * time.Second
	}
	var last *Operation
	transient := 0
	for {
		op, err := c.Get(ctx, name)
		switch {
		case err != nil && ctx.Err() != nil:
			return last, ctx.Err()
		case err != nil && errs.KindOf(err) == errs.ErrUnavailable && transient < 5:
			transient++
		case err != nil:
			return last, err
		default:
			transient = 0
			last = op
			if o.OnPoll != nil {
				o.OnPoll(op)
			}
			if op.Done {
				return op, op.Err()
			}
		}
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return last, ctx.Err()
		case <-t.C:
		}
		if grow {
			interval = min(interval*3/2, maxInterval)
		}
	}
}

// The kinds of operation.
const (
	KindExport = "export"
	KindImport = "import"
)

// Operation is the state of a long-running operation, as printed by
// fbadmin: flat, with its progress as counts.
type Operation struct {
	Name  string `json:"name"`
	Kind  string `json:"type"`  // export, import, or another kind (index, field, bulk-delete, ...)
	State string `json:"state"` // INITIALIZING, PROCESSING, CANCELLING, FINALIZING, SUCCESSFUL, FAILED, CANCELLED
	Done  bool   `json:"done"`

	DocumentsDone      int64 `json:"documents_done"`
	DocumentsEstimated int64 `json:"documents_estimated,omitempty"`
	BytesDone          int64 `json:"bytes_done"`
	BytesEstimated     int64 `json:"bytes_estimated,omitempty"`

	OutputURIPrefix string     `json:"output_uri_prefix,omitempty"`
	InputURIPrefix  string     `json:"input_uri_prefix,omitempty"`
	CollectionIDs   []string   `json:"collection_ids,omitempty"`
	SnapshotTime    *time.Time `json:"snapshot_time,omitempty"`
	StartTime       *time.Time `json:"start_time,omitempty"`
	EndTime         *time.Time `json:"end_time,omitempty"`

	ErrorCode string `json:"error_code,omitempty"` // the gRPC code of a failure: PERMISSION_DENIED, CANCELLED, ...
	Error     string `json:"error,omitempty"`      // its message

	err *status.Status
}

// Err returns the failure of a done operation (nil if it succeeded or is
// not done), classified by its code; a cancelled operation's is of kind
// errs.ErrCanceled.
func (o *Operation) Err() error {
	if o.err == nil {
		return nil
	}
	return errs.Wrap(o.err.Err(), o.Kind, o.Name)
}

// metadata is what the Admin API's operation metadata types have in common.
type metadata interface {
	GetStartTime() *timestamppb.Timestamp
	GetEndTime() *timestamppb.Timestamp
	GetProgressDocuments() *adminpb.Progress
	GetProgressBytes() *adminpb.Progress
}

// FromProto describes a long-running operation of the Admin API.
func FromProto(op *longrunningpb.Operation) *Operation {
	o := &Operation{Name: op.GetName(), Done: op.GetDone()}
	if md := op.GetMetadata(); md != nil {
		if m, err := md.UnmarshalNew(); err == nil {
			o.fill(m)
		} else {
			o.Kind = kindOfType(string(md.MessageName().Name()))
		}
	}
	var resp proto.Message
	if r := op.GetResponse(); r != nil {
		resp, _ = r.UnmarshalNew()
	}
	var st *status.Status
	if e := op.GetError(); e != nil {
		st = status.FromProto(e)
	}
	o.finish(resp, st)
	return o
}

// fill reads an operation's metadata.
func (o *Operation) fill(m proto.Message) {
	o.Kind = kindOfType(string(m.ProtoReflect().Descriptor().Name()))
	if md, ok := m.(metadata); ok {
		o.StartTime, o.EndTime = timeOf(md.GetStartTime()), timeOf(md.GetEndTime())
		o.DocumentsDone, o.DocumentsEstimated = md.GetProgressDocuments().GetCompletedWork(), md.GetProgressDocuments().GetEstimatedWork()
		o.BytesDone, o.BytesEstimated = md.GetProgressBytes().GetCompletedWork(), md.GetProgressBytes().GetEstimatedWork()
	}
	if s, ok := m.(interface{ GetOperationState() adminpb.OperationState }); ok {
		o.State = stateName(s.GetOperationState())
	} else if s, ok := m.(interface{ GetState() adminpb.OperationState }); ok {
		o.State = stateName(s.GetState())
	}
	switch md := m.(type) {
	case *adminpb.ExportDocumentsMetadata:
		o.OutputURIPrefix, o.CollectionIDs, o.SnapshotTime = md.GetOutputUriPrefix(), md.GetCollectionIds(), timeOf(md.GetSnapshotTime())
	case *adminpb.ImportDocumentsMetadata:
		o.InputURIPrefix, o.CollectionIDs = md.GetInputUriPrefix(), md.GetCollectionIds()
	case *adminpb.BulkDeleteDocumentsMetadata:
		o.CollectionIDs = md.GetCollectionIds()
	}
}

// finish reads a done operation's result or error, and gives a state to
// an operation whose metadata had none.
func (o *Operation) finish(resp proto.Message, st *status.Status) {
	if r, ok := resp.(*adminpb.ExportDocumentsResponse); ok && r.GetOutputUriPrefix() != "" {
		o.OutputURIPrefix = r.GetOutputUriPrefix()
	}
	if st != nil && st.Code() != codes.OK {
		o.err = st
		o.ErrorCode = codeName(st.Code())
		o.Error = st.Message()
	}
	if o.State != "" {
		return
	}
	switch {
	case !o.Done:
		o.State = "PROCESSING"
	case o.err != nil && o.err.Code() == codes.Canceled:
		o.State = "CANCELLED"
	case o.err != nil:
		o.State = "FAILED"
	default:
		o.State = "SUCCESSFUL"
	}
}

func stateName(s adminpb.OperationState) string {
	if s == adminpb.OperationState_OPERATION_STATE_UNSPECIFIED {
		return ""
	}
	return s.String()
}

// codeName is a gRPC code as the API's JSON spells it: PERMISSION_DENIED.
func codeName(c codes.Code) string {
	if c == codes.Canceled {
		return "CANCELLED"
	}
	var b strings.Builder
	for i, r := range c.String() {
		if i > 0 && r >= 'A' && r <= 'Z' {
			b.WriteByte('_')
		}
		b.WriteRune(r)
	}
	return strings.ToUpper(b.String())
}

// kindOfType names an operation by its metadata type:
// ExportDocumentsMetadata is an export, IndexOperationMetadata an index.
func kindOfType(name string) string {
	switch name {
	case "ExportDocumentsMetadata":
		return KindExport
	case "ImportDocumentsMetadata":
		return KindImport
	case "BulkDeleteDocumentsMetadata":
		return "bulk-delete"
	case "IndexOperationMetadata":
		return "index"
	case "FieldOperationMetadata":
		return "field"
	}
	name = strings.TrimSuffix(strings.TrimSuffix(name, "Metadata"), "Operation")
	if name == "" {
		return "unknown"
	}
	var b strings.Builder
	for i, r := range name {
		if i > 0 && r >= 'A' && r <= 'Z' {
			b.WriteByte('-')
		}
		b.WriteRune(r)
	}
	return strings.ToLower(b.String())
}

func timeOf(ts *timestamppb.Timestamp) *time.Time {
	if ts == nil {
		return nil
	}
	t := ts.AsTime().UTC()
	return &t
}

// Progress renders an operation's progress for a log line:
// "PROCESSING, 1200/5000 docs (24%), 3.1 MB".
func (o *Operation) Progress() string {
	s := o.State
	if o.DocumentsEstimated > 0 {
		s += fmt.Sprintf(", %d/%d docs (%.0f%%)", o.DocumentsDone, o.DocumentsEstimated, 100*float64(o.DocumentsDone)/float64(o.DocumentsEstimated))
	} else if o.DocumentsDone > 0 {
		s += fmt.Sprintf(", %d docs", o.DocumentsDone)
	}
	return s
}
