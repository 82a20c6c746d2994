package backup_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"cloud.google.com/go/firestore/apiv1/admin/adminpb"
	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/fbadmin/fbadmin/internal/backup"
	"github.com/fbadmin/fbadmin/internal/backup/backuptest"
	"github.com/fbadmin/fbadmin/internal/errs"
)

const database = "projects/demo-backup/databases/(default)"

func newClient(t *testing.T) (*backup.Client, *backuptest.Server) {
	t.Helper()
	srv := backuptest.Start(t)
	c, err := backup.New(context.Background(), backup.Config{Project: "demo-backup", Endpoint: srv.Endpoint})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, srv
}

var fast = backup.WaitOptions{Interval: time.Millisecond}

func TestExportWaitsWithProgress(t *testing.T) {
	ctx := context.Background()
	c, srv := newClient(t)
	snap := time.Now().Add(-10 * time.Minute).Truncate(time.Minute).UTC()
	op, err := c.Export(ctx, backup.ExportRequest{OutputURIPrefix: "gs://my-bucket/nightly/1", CollectionIDs: []string{"users", "orders"}, SnapshotTime: snap})
	if err != nil {
		t.Fatal(err)
	}
	if op.Kind != backup.KindExport || op.State != "PROCESSING" || op.Done || op.Name != database+"/operations/export-0001" {
		t.Fatalf("started: got %+v, want a PROCESSING export named %s/operations/export-0001", op, database)
	}
	var seen []*backup.Operation
	fast := fast
	fast.OnPoll = func(o *backup.Operation) { seen = append(seen, o) }
	final, err := c.Wait(ctx, op.Name, fast)
	if err != nil {
		t.Fatal(err)
	}
	if final.State != "SUCCESSFUL" || !final.Done || final.OutputURIPrefix != "gs://my-bucket/nightly/1" ||
		final.DocumentsDone != 1000 || final.BytesDone != 64000 || final.EndTime == nil {
		t.Errorf("final: got %+v, want SUCCESSFUL with gs://my-bucket/nightly/1, 1000 docs, 64000 bytes and an end time", final)
	}
	if final.SnapshotTime == nil || !final.SnapshotTime.Equal(snap) || !slices.Equal(final.CollectionIDs, []string{"users", "orders"}) {
		t.Errorf("final: snapshot %v, collections %v; want %v, [users orders]", final.SnapshotTime, final.CollectionIDs, snap)
	}
	// Polled through PROCESSING with growing progress, then SUCCESSFUL.
	if len(seen) != 4 {
		t.Fatalf("polls: got %d, want 4 (3 PROCESSING, then SUCCESSFUL)", len(seen))
	}
	for i, o := range seen[:3] {
		if o.State != "PROCESSING" || o.DocumentsEstimated != 1000 || o.DocumentsDone != int64(250*(i+1)) {
			t.Errorf("poll %d: got %s %d/%d docs, want PROCESSING %d/1000", i, o.State, o.DocumentsDone, o.DocumentsEstimated, 250*(i+1))
		}
	}
	reqs := srv.Requests(database)
	if len(reqs) == 0 || reqs[0].Method != "ExportDocuments" {
		t.Fatalf("requests: got %+v, want ExportDocuments first", reqs)
	}
	r := reqs[0]
	if r.Name != database || r.URIPrefix != "gs://my-bucket/nightly/1" || !slices.Equal(r.CollectionIDs, []string{"users", "orders"}) ||
		r.SnapshotTime == nil || !r.SnapshotTime.Equal(snap) {
		t.Errorf("export request: got %+v", r)
	}
}

func TestExportToBucketNamesAPrefix(t *testing.T) {
	ctx := context.Background()
	c, _ := newClient(t)
	op, err := c.Export(ctx, backup.ExportRequest{OutputURIPrefix: "gs://my-bucket"})
	if err != nil {
		t.Fatal(err)
	}
	final, err := c.Wait(ctx, op.Name, fast)
	if err != nil {
		t.Fatal(err)
	}
	if len(final.OutputURIPrefix) <= len("gs://my-bucket/") || final.OutputURIPrefix[:len("gs://my-bucket/")] != "gs://my-bucket/" {
		t.Errorf("output: got %q, want a prefix under gs://my-bucket/", final.OutputURIPrefix)
	}
}

func TestImportOfAnExport(t *testing.T) {
	ctx := context.Background()
	c, srv := newClient(t)
	ex, err := c.Export(ctx, backup.ExportRequest{OutputURIPrefix: "gs://bk1/x"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Wait(ctx, ex.Name, fast); err != nil {
		t.Fatal(err)
	}
	im, err := c.Import(ctx, backup.ImportRequest{InputURIPrefix: "gs://bk1/x", CollectionIDs: []string{"users"}})
	if err != nil {
		t.Fatal(err)
	}
	final, err := c.Wait(ctx, im.Name, fast)
	if err != nil {
		t.Fatal(err)
	}
	if final.Kind != backup.KindImport || final.State != "SUCCESSFUL" || final.InputURIPrefix != "gs://bk1/x" || !slices.Equal(final.CollectionIDs, []string{"users"}) {
		t.Errorf("import: got %+v", final)
	}
	var imp *backuptest.Request
	for _, r := range srv.Requests(database) {
		if r.Method == "ImportDocuments" {
			imp = &r
		}
	}
	if imp == nil || imp.URIPrefix != "gs://bk1/x" || !slices.Equal(imp.CollectionIDs, []string{"users"}) {
		t.Errorf("import request: got %+v", imp)
	}

	// A prefix no export wrote: the operation fails, not found.
	im, err = c.Import(ctx, backup.ImportRequest{InputURIPrefix: "gs://bk1/nothing"})
	if err != nil {
		t.Fatal(err)
	}
	final, err = c.Wait(ctx, im.Name, fast)
	if !errors.Is(err, errs.ErrNotFound) || final.State != "FAILED" || final.ErrorCode != "NOT_FOUND" {
		t.Errorf("import of nothing: got %v, state %s, code %s; want not found, FAILED, NOT_FOUND", err, final.State, final.ErrorCode)
	}
}

func TestFailedOperation(t *testing.T) {
	ctx := context.Background()
	c, srv := newClient(t)
	srv.Plan(database, backuptest.Plan{Polls: 1, Fail: status.New(codes.PermissionDenied, "service account cannot write to bucket b")})
	op, err := c.Export(ctx, backup.ExportRequest{OutputURIPrefix: "gs://bkt/x"})
	if err != nil {
		t.Fatal(err)
	}
	final, err := c.Wait(ctx, op.Name, fast)
	if !errors.Is(err, errs.ErrPermission) || status.Code(err) != codes.PermissionDenied {
		t.Fatalf("wait: got %v, want permission denied", err)
	}
	if final.State != "FAILED" || final.ErrorCode != "PERMISSION_DENIED" || final.Error != "service account cannot write to bucket b" {
		t.Errorf("final: got %+v", final)
	}
}

func TestStartRefused(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		err  error
		kind error
	}{
		{status.Error(codes.PermissionDenied, "missing datastore.databases.export"), errs.ErrPermission},
		{status.Error(codes.FailedPrecondition, "another operation is running"), errs.ErrConflict},
		{status.Error(codes.InvalidArgument, "bad bucket"), errs.ErrInvalid},
	} {
		client, srv := newClient(t)
		srv.Plan(database, backuptest.Plan{StartErr: c.err})
		op, err := client.Export(ctx, backup.ExportRequest{OutputURIPrefix: "gs://bkt/x"})
		if op != nil || !errors.Is(err, c.kind) {
			t.Errorf("%v: got %v, %v; want an error of kind %v", c.err, op, err, c.kind)
		}
	}
}

func TestFakeChecksRequests(t *testing.T) {
	ctx := context.Background()
	c, srv := newClient(t)
	for _, r := range []backup.ExportRequest{
		{OutputURIPrefix: "s3://bkt/x"},
		{OutputURIPrefix: "gs://bkt/x", CollectionIDs: []string{"a", "a"}},
		{OutputURIPrefix: "gs://bkt/x", CollectionIDs: []string{"a/b"}},
		{OutputURIPrefix: "gs://bkt/x", SnapshotTime: time.Now().Add(-time.Hour).Truncate(time.Minute).Add(time.Second)},
		{OutputURIPrefix: "gs://bkt/x", SnapshotTime: time.Now().Add(time.Hour).Truncate(time.Minute)},
	} {
		if _, err := c.Export(ctx, r); !errors.Is(err, errs.ErrInvalid) {
			t.Errorf("export %+v: got %v, want invalid argument", r, err)
		}
	}
	other, err := backup.New(ctx, backup.Config{Project: "Bad_Project", Endpoint: srv.Endpoint})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.Export(ctx, backup.ExportRequest{OutputURIPrefix: "gs://bkt/x"}); !errors.Is(err, errs.ErrInvalid) {
		t.Errorf("bad database name: got %v, want invalid argument", err)
	}
}

func TestListGetCancel(t *testing.T) {
	ctx := context.Background()
	c, srv := newClient(t)
	srv.Plan(database, backuptest.Plan{Polls: 1})
	first, err := c.Export(ctx, backup.ExportRequest{OutputURIPrefix: "gs://bkt/one"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Wait(ctx, first.Name, fast); err != nil {
		t.Fatal(err)
	}
	srv.Plan(database, backuptest.Plan{Hang: true})
	second, err := c.Export(ctx, backup.ExportRequest{OutputURIPrefix: "gs://bkt/two"})
	if err != nil {
		t.Fatal(err)
	}

	names := func(filter string) []string {
		var out []string
		for op, err := range c.List(ctx, filter) {
			if err != nil {
				t.Fatalf("list %q: %v", filter, err)
			}
			out = append(out, op.Name)
		}
		return out
	}
	if got := names(""); !slices.Equal(got, []string{second.Name, first.Name}) {
		t.Errorf("list: got %v, want [%s %s]", got, second.Name, first.Name)
	}
	if got := names("done: true"); !slices.Equal(got, []string{first.Name}) {
		t.Errorf("list done: got %v, want [%s]", got, first.Name)
	}
	if got := names("done: false"); !slices.Equal(got, []string{second.Name}) {
		t.Errorf("list running: got %v, want [%s]", got, second.Name)
	}
	for _, err := range c.List(ctx, "nonsense") {
		if !errors.Is(err, errs.ErrInvalid) {
			t.Errorf("list with a bad filter: got %v, want invalid argument", err)
		}
	}

	// Get by ID or full name.
	id := second.Name[len(database+"/operations/"):]
	got, err := c.Get(ctx, id)
	if err != nil || got.Name != second.Name || got.State != "PROCESSING" {
		t.Fatalf("get %s: got %+v, %v", id, got, err)
	}
	if _, err := c.Get(ctx, "nope"); !errors.Is(err, errs.ErrNotFound) {
		t.Errorf("get nope: got %v, want not found", err)
	}

	// Waiting stops with ctx; the operation goes on.
	wctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	last, err := c.Wait(wctx, second.Name, fast)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) || last == nil || last.Done {
		t.Errorf("wait with a deadline: got %+v, %v; want the running operation and DeadlineExceeded", last, err)
	}
	if op, _ := srv.Operation(second.Name); op.GetDone() {
		t.Errorf("the operation ended when the wait stopped")
	}

	// Cancel: CANCELLING, then CANCELLED with code CANCELLED.
	if err := c.Cancel(ctx, second.Name); err != nil {
		t.Fatal(err)
	}
	final, err := c.Wait(ctx, second.Name, fast)
	if !errors.Is(err, errs.ErrCanceled) || final.State != "CANCELLED" || final.ErrorCode != "CANCELLED" {
		t.Errorf("cancelled: got %v, state %s, code %s; want canceled, CANCELLED, CANCELLED", err, final.State, final.ErrorCode)
	}
	if err := c.Cancel(ctx, "nope"); !errors.Is(err, errs.ErrNotFound) {
		t.Errorf("cancel nope: got %v, want not found", err)
	}
}

func TestOperationName(t *testing.T) {
	c, _ := newClient(t)
	for in, want := range map[string]string{
		"abc":                                 database + "/operations/abc",
		"operations/abc":                      database + "/operations/abc",
		"projects/p/databases/d/operations/x": "projects/p/databases/d/operations/x",
	} {
		if got := c.OperationName(in); got != want {
			t.Errorf("OperationName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFromProtoKinds(t *testing.T) {
	for _, c := range []struct {
		md   proto.Message
		kind string
	}{
		{&adminpb.ExportDocumentsMetadata{OperationState: adminpb.OperationState_PROCESSING}, "export"},
		{&adminpb.ImportDocumentsMetadata{OperationState: adminpb.OperationState_FINALIZING}, "import"},
		{&adminpb.IndexOperationMetadata{State: adminpb.OperationState_PROCESSING}, "index"},
		{&adminpb.FieldOperationMetadata{State: adminpb.OperationState_PROCESSING}, "field"},
		{&adminpb.BulkDeleteDocumentsMetadata{OperationState: adminpb.OperationState_PROCESSING}, "bulk-delete"},
		{&adminpb.RestoreDatabaseMetadata{OperationState: adminpb.OperationState_PROCESSING}, "restore-database"},
	} {
		a, err := anypb.New(c.md)
		if err != nil {
			t.Fatal(err)
		}
		op := backup.FromProto(&longrunningpb.Operation{Name: "projects/p/databases/d/operations/x", Metadata: a})
		want := "PROCESSING"
		if c.kind == "import" {
			want = "FINALIZING"
		}
		if op.Kind != c.kind || op.State != want {
			t.Errorf("%T: got kind %q state %q, want %q %q", c.md, op.Kind, op.State, c.kind, want)
		}
	}
	// No metadata: the state follows from done and the result.
	for _, c := range []struct {
		op   *longrunningpb.Operation
		want string
	}{
		{&longrunningpb.Operation{}, "PROCESSING"},
		{&longrunningpb.Operation{Done: true}, "SUCCESSFUL"},
		{&longrunningpb.Operation{Done: true, Result: &longrunningpb.Operation_Error{Error: status.New(codes.Canceled, "x").Proto()}}, "CANCELLED"},
		{&longrunningpb.Operation{Done: true, Result: &longrunningpb.Operation_Error{Error: status.New(codes.ResourceExhausted, "x").Proto()}}, "FAILED"},
	} {
		op := backup.FromProto(c.op)
		if op.State != c.want {
			t.Errorf("%v: got %s, want %s", c.op, op.State, c.want)
		}
	}
	op := backup.FromProto(&longrunningpb.Operation{Done: true, Result: &longrunningpb.Operation_Error{Error: status.New(codes.ResourceExhausted, "quota").Proto()}})
	if op.ErrorCode != "RESOURCE_EXHAUSTED" || op.Error != "quota" || !errors.Is(op.Err(), errs.ErrResourceLimit) {
		t.Errorf("failed operation: got %s %q %v", op.ErrorCode, op.Error, op.Err())
	}
}
