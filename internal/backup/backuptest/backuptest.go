// Package backuptest is an in-process fake of the Firestore Admin API's
// managed export and import operations, for tests: the Firestore emulator
// does not implement the Admin API, and production needs a project, a
// bucket and time.
//
// # What it does
//
// [Start] serves, on a loopback port and without TLS, ExportDocuments and
// ImportDocuments (google.firestore.admin.v1.FirestoreAdmin) and GetOperation,
// ListOperations and CancelOperation (google.longrunning.Operations), shaped
// like httptest.Server. It checks each request as the real API documents
// them (a database name projects/P/databases/D; an output or input URI
// prefix gs://BUCKET[/PATH]; unique collection IDs without a slash; a
// snapshot time in the past, at a whole minute, at most 7 days back) and
// answers InvalidArgument naming the field otherwise. It records every
// request it accepted or refused ([Server.Requests]) so that a test can check
// what a client sent.
//
// # Operations
//
// An operation starts PROCESSING with no progress, and every GetOperation
// of it moves it one step: its documents and bytes grow by a share of the
// work estimated, and after [Plan.Polls] steps it ends SUCCESSFUL (an export
// with its output URI prefix as response: the one requested, or one named
// after the start time for a bare bucket), or FAILED with [Plan.Fail]. An
// import of a prefix that no successful export of this server produced
// ends FAILED with NOT_FOUND. CancelOperation makes a running operation
// CANCELLING, and the next GetOperation CANCELLED (done, with code
// CANCELLED), as the real service does; a done operation is not changed.
// ListOperations lists a database's operations newest first, all of them,
// or with the filter "done: true" or "done: false" only those.
//
// [Server.Plan] queues how the next operation started on a database
// behaves: refused at start ([Plan.StartErr], a status error such as
// PermissionDenied or FailedPrecondition), failing, never finishing
// ([Plan.Hang]), or with other sizes.
package backuptest

import (
	"context"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/firestore/apiv1/admin/adminpb"
	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Plan is how an operation behaves.
type Plan struct {
	// StartErr, if set, is the error the start call returns (no operation
	// is created): status.Error(codes.PermissionDenied, "...").
	StartErr error
	// Polls is the number of GetOperation steps before the operation ends
	// (default 3).
	Polls int
	// Fail, if set, is the status the operation ends FAILED with.
	Fail *status.Status
	// Hang keeps the operation PROCESSING until it is cancelled.
	Hang bool
	// Documents and Bytes are the work estimated (default 1000 documents
	// and 64000 bytes).
	Documents, Bytes int64
}

// Request is a request the server received, accepted or not.
type Request struct {
	Method        string     `json:"method"` // ExportDocuments, ImportDocuments, GetOperation, ListOperations, CancelOperation
	Name          string     `json:"name"`   // the database, or the operation
	CollectionIDs []string   `json:"collection_ids,omitempty"`
	URIPrefix     string     `json:"uri_prefix,omitempty"` // output (export) or input (import)
	SnapshotTime  *time.Time `json:"snapshot_time,omitempty"`
	Filter        string     `json:"filter,omitempty"`
	Code          string     `json:"code"` // the answer's gRPC code
}

// Server is the fake Admin API.
type Server struct {
	// Addr is host:port; Endpoint is "http://" + Addr, the form fbadmin
	// takes for a plaintext endpoint.
	Addr, Endpoint string

	srv *grpc.Server
	lis net.Listener

	mu       sync.Mutex
	ops      map[string]*op
	order    []string // operation names, oldest first
	reqs     []Request
	plans    map[string][]Plan // by database name
	exported map[string]bool   // output prefixes of successful exports
	seq      int
}

type op struct {
	pb     *longrunningpb.Operation
	plan   Plan
	db     string
	kind   string // export or import
	steps  int
	cancel bool // cancelling: the next poll ends it
	meta   proto.Message
}

// Start starts a server; it stops when the test ends.
func Start(tb testing.TB) *Server {
	tb.Helper()
	s, err := Listen("127.0.0.1:0")
	if err != nil {
		tb.Fatalf("backuptest: %v", err)
	}
	tb.Cleanup(s.Close)
	return s
}

// Listen starts a server on addr (host:port; port 0 picks one).
func Listen(addr string) (*Server, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &Server{
		Addr: lis.Addr().String(), lis: lis, srv: grpc.NewServer(),
		ops: map[string]*op{}, plans: map[string][]Plan{}, exported: map[string]bool{},
	}
	s.Endpoint = "http://" + s.Addr
	adminpb.RegisterFirestoreAdminServer(s.srv, adminServer{s: s})
	longrunningpb.RegisterOperationsServer(s.srv, opsServer{s: s})
	go s.srv.Serve(lis)
	return s, nil
}

// Close stops the server.
func (s *Server) Close() { s.srv.Stop() }

// Plan queues p for the next operation started on database
// (projects/P/databases/D).
func (s *Server) Plan(database string, p Plan) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.plans[database] = append(s.plans[database], p)
}

// Requests returns the requests received for database (projects/P/
// databases/D) and its operations, oldest first.
func (s *Server) Requests(database string) []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Request
	for _, r := range s.reqs {
		if r.Name == database || strings.HasPrefix(r.Name, database+"/") {
			out = append(out, r)
		}
	}
	return out
}

// Operations returns the names of database's operations, oldest first.
func (s *Server) Operations(database string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, name := range s.order {
		if s.ops[name].db == database {
			out = append(out, name)
		}
	}
	return out
}

// Operation returns the current state of an operation, as the last
// GetOperation answered it (no step is taken).
func (s *Server) Operation(name string) (*longrunningpb.Operation, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.ops[name]
	if !ok {
		return nil, false
	}
	return proto.Clone(o.pb).(*longrunningpb.Operation), true
}

func (s *Server) record(r Request, err error) error {
	r.Code = status.Code(err).String()
	s.reqs = append(s.reqs, r)
	return err
}

var (
	databaseRE = regexp.MustCompile(`^projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/databases/(\(default\)|[a-z][a-z0-9-]{2,61}[a-z0-9])$`)
	gcsRE      = regexp.MustCompile(`^gs://[a-z0-9][a-z0-9._-]{1,220}[a-z0-9](/.*)?$`)
)

func invalid(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, format, args...)
}

func checkDatabase(name string) error {
	if !databaseRE.MatchString(name) {
		return invalid("name %q: want projects/{project_id}/databases/{database_id}", name)
	}
	return nil
}

func checkCollections(ids []string) error {
	seen := map[string]bool{}
	for _, id := range ids {
		switch {
		case id == "" || strings.Contains(id, "/"):
			return invalid("collection_ids: %q is not a collection ID", id)
		case seen[id]:
			return invalid("collection_ids: %q is listed twice: each collection group must be unique", id)
		}
		seen[id] = true
	}
	return nil
}

func checkURI(field, uri string) error {
	if uri == "" {
		return invalid("Missing required field: %s", field)
	}
	if !gcsRE.MatchString(uri) {
		return invalid("%s %q: want a Cloud Storage URI gs://BUCKET_NAME[/NAMESPACE_PATH]", field, uri)
	}
	return nil
}

func checkSnapshot(ts *timestamppb.Timestamp, now time.Time) error {
	if ts == nil {
		return nil
	}
	t := ts.AsTime()
	switch {
	case ts.GetNanos() != 0 || ts.GetSeconds()%60 != 0:
		return invalid("snapshot_time %s: must be rounded to the minute", t.Format(time.RFC3339Nano))
	case t.After(now):
		return invalid("snapshot_time %s: must be in the past", t.Format(time.RFC3339))
	case t.Before(now.Add(-7 * 24 * time.Hour)):
		return status.Errorf(codes.FailedPrecondition, "snapshot_time %s is older than the database's earliest version time", t.Format(time.RFC3339))
	}
	return nil
}

// start creates an operation on database following its next plan.
func (s *Server) start(db, kind string, meta proto.Message) (*longrunningpb.Operation, error) {
	var p Plan
	if q := s.plans[db]; len(q) > 0 {
		p, s.plans[db] = q[0], q[1:]
	}
	if p.StartErr != nil {
		return nil, p.StartErr
	}
	if p.Polls <= 0 {
		p.Polls = 3
	}
	if p.Documents <= 0 {
		p.Documents = 1000
	}
	if p.Bytes <= 0 {
		p.Bytes = 64000
	}
	s.seq++
	name := fmt.Sprintf("%s/operations/%s-%04d", db, kind, s.seq)
	o := &op{db: db, kind: kind, plan: p, meta: meta}
	o.pb = &longrunningpb.Operation{Name: name}
	s.setMeta(o, adminpb.OperationState_PROCESSING)
	s.ops[name] = o
	s.order = append(s.order, name)
	return proto.Clone(o.pb).(*longrunningpb.Operation), nil
}

// setMeta rewrites o's metadata with its progress and state.
func (s *Server) setMeta(o *op, state adminpb.OperationState) {
	docs := o.plan.Documents * int64(o.steps) / int64(o.plan.Polls+1)
	byts := o.plan.Bytes * int64(o.steps) / int64(o.plan.Polls+1)
	if state == adminpb.OperationState_SUCCESSFUL {
		docs, byts = o.plan.Documents, o.plan.Bytes
	}
	var end *timestamppb.Timestamp
	if o.pb.GetDone() {
		end = timestamppb.Now()
	}
	switch m := o.meta.(type) {
	case *adminpb.ExportDocumentsMetadata:
		m.OperationState, m.EndTime = state, end
		m.ProgressDocuments = &adminpb.Progress{EstimatedWork: o.plan.Documents, CompletedWork: docs}
		m.ProgressBytes = &adminpb.Progress{EstimatedWork: o.plan.Bytes, CompletedWork: byts}
	case *adminpb.ImportDocumentsMetadata:
		m.OperationState, m.EndTime = state, end
		m.ProgressDocuments = &adminpb.Progress{EstimatedWork: o.plan.Documents, CompletedWork: docs}
		m.ProgressBytes = &adminpb.Progress{EstimatedWork: o.plan.Bytes, CompletedWork: byts}
	}
	a, err := anypb.New(o.meta)
	if err != nil {
		panic(err)
	}
	o.pb.Metadata = a
}

// step moves a running operation on, as a poll of it does.
func (s *Server) step(o *op) {
	if o.pb.GetDone() {
		return
	}
	if o.cancel {
		o.pb.Done = true
		o.pb.Result = &longrunningpb.Operation_Error{Error: status.New(codes.Canceled, "the operation was cancelled").Proto()}
		s.setMeta(o, adminpb.OperationState_CANCELLED)
		return
	}
	if o.plan.Hang {
		o.steps = min(o.steps+1, o.plan.Polls)
		s.setMeta(o, adminpb.OperationState_PROCESSING)
		return
	}
	o.steps++
	if o.steps <= o.plan.Polls {
		s.setMeta(o, adminpb.OperationState_PROCESSING)
		return
	}
	o.pb.Done = true
	fail := o.plan.Fail
	if in, ok := o.meta.(*adminpb.ImportDocumentsMetadata); ok && fail == nil && !s.exported[in.GetInputUriPrefix()] {
		fail = status.Newf(codes.NotFound, "no export found at %s", in.GetInputUriPrefix())
	}
	if fail != nil {
		o.pb.Result = &longrunningpb.Operation_Error{Error: fail.Proto()}
		s.setMeta(o, adminpb.OperationState_FAILED)
		return
	}
	var resp proto.Message = &emptypb.Empty{}
	if ex, ok := o.meta.(*adminpb.ExportDocumentsMetadata); ok {
		resp = &adminpb.ExportDocumentsResponse{OutputUriPrefix: ex.GetOutputUriPrefix()}
		s.exported[ex.GetOutputUriPrefix()] = true
	}
	a, err := anypb.New(resp)
	if err != nil {
		panic(err)
	}
	o.pb.Result = &longrunningpb.Operation_Response{Response: a}
	s.setMeta(o, adminpb.OperationState_SUCCESSFUL)
}

type adminServer struct {
	adminpb.UnimplementedFirestoreAdminServer
	s *Server
}

func (a adminServer) ExportDocuments(_ context.Context, req *adminpb.ExportDocumentsRequest) (*longrunningpb.Operation, error) {
	s := a.s
	s.mu.Lock()
	defer s.mu.Unlock()
	r := Request{Method: "ExportDocuments", Name: req.GetName(), CollectionIDs: req.GetCollectionIds(), URIPrefix: req.GetOutputUriPrefix()}
	if ts := req.GetSnapshotTime(); ts != nil {
		t := ts.AsTime().UTC()
		r.SnapshotTime = &t
	}
	now := time.Now()
	for _, err := range []error{checkDatabase(req.GetName()), checkURI("output_uri_prefix", req.GetOutputUriPrefix()),
		checkCollections(req.GetCollectionIds()), checkSnapshot(req.GetSnapshotTime(), now)} {
		if err != nil {
			return nil, s.record(r, err)
		}
	}
	prefix := strings.TrimSuffix(req.GetOutputUriPrefix(), "/")
	if !strings.Contains(strings.TrimPrefix(prefix, "gs://"), "/") {
		// A bare bucket: a prefix named after the start time.
		prefix += "/" + now.UTC().Format("2006-01-02T15:04:05_") + fmt.Sprint(now.Nanosecond()/1000%100000)
	}
	meta := &adminpb.ExportDocumentsMetadata{
		StartTime: timestamppb.New(now), CollectionIds: req.GetCollectionIds(),
		OutputUriPrefix: prefix, SnapshotTime: req.GetSnapshotTime(),
	}
	op, err := s.start(req.GetName(), "export", meta)
	return op, s.record(r, err)
}

func (a adminServer) ImportDocuments(_ context.Context, req *adminpb.ImportDocumentsRequest) (*longrunningpb.Operation, error) {
	s := a.s
	s.mu.Lock()
	defer s.mu.Unlock()
	r := Request{Method: "ImportDocuments", Name: req.GetName(), CollectionIDs: req.GetCollectionIds(), URIPrefix: req.GetInputUriPrefix()}
	for _, err := range []error{checkDatabase(req.GetName()), checkURI("input_uri_prefix", req.GetInputUriPrefix()),
		checkCollections(req.GetCollectionIds())} {
		if err != nil {
			return nil, s.record(r, err)
		}
	}
	meta := &adminpb.ImportDocumentsMetadata{
		StartTime: timestamppb.Now(), CollectionIds: req.GetCollectionIds(),
		InputUriPrefix: strings.TrimSuffix(req.GetInputUriPrefix(), "/"),
	}
	op, err := s.start(req.GetName(), "import", meta)
	return op, s.record(r, err)
}

type opsServer struct {
	longrunningpb.UnimplementedOperationsServer
	s *Server
}

func (o opsServer) GetOperation(_ context.Context, req *longrunningpb.GetOperationRequest) (*longrunningpb.Operation, error) {
	s := o.s
	s.mu.Lock()
	defer s.mu.Unlock()
	r := Request{Method: "GetOperation", Name: req.GetName()}
	op, ok := s.ops[req.GetName()]
	if !ok {
		return nil, s.record(r, status.Errorf(codes.NotFound, "operation %s not found", req.GetName()))
	}
	s.step(op)
	s.record(r, nil)
	return proto.Clone(op.pb).(*longrunningpb.Operation), nil
}

func (o opsServer) ListOperations(_ context.Context, req *longrunningpb.ListOperationsRequest) (*longrunningpb.ListOperationsResponse, error) {
	s := o.s
	s.mu.Lock()
	defer s.mu.Unlock()
	r := Request{Method: "ListOperations", Name: req.GetName(), Filter: req.GetFilter()}
	if err := checkDatabase(req.GetName()); err != nil {
		return nil, s.record(r, err)
	}
	var want *bool
	switch f := strings.Join(strings.Fields(req.GetFilter()), ""); f {
	case "":
	case "done:true", "done=true":
		want = new(true)
	case "done:false", "done=false":
		want = new(false)
	default:
		return nil, s.record(r, invalid("filter %q: this fake knows only done: true and done: false", req.GetFilter()))
	}
	resp := &longrunningpb.ListOperationsResponse{}
	for _, name := range slices.Backward(s.order) {
		op := s.ops[name]
		if op.db != req.GetName() || (want != nil && op.pb.GetDone() != *want) {
			continue
		}
		resp.Operations = append(resp.Operations, proto.Clone(op.pb).(*longrunningpb.Operation))
	}
	s.record(r, nil)
	return resp, nil
}

func (o opsServer) CancelOperation(_ context.Context, req *longrunningpb.CancelOperationRequest) (*emptypb.Empty, error) {
	s := o.s
	s.mu.Lock()
	defer s.mu.Unlock()
	r := Request{Method: "CancelOperation", Name: req.GetName()}
	op, ok := s.ops[req.GetName()]
	if !ok {
		return nil, s.record(r, status.Errorf(codes.NotFound, "operation %s not found", req.GetName()))
	}
	if !op.pb.GetDone() {
		op.cancel = true
		s.setMeta(op, adminpb.OperationState_CANCELLING)
	}
	s.record(r, nil)
	return &emptypb.Empty{}, nil
}
