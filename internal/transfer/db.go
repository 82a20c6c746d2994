package transfer

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	vkit "cloud.google.com/go/firestore/apiv1"
	"github.com/googleapis/gax-go/v2"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
)

// DB is one Firestore database reached through the low-level Firestore API,
// which the engine needs for queries the SDK does not build (every document
// under a parent, whatever its collection) and for non-atomic batch writes
// that report each document's outcome.
type DB struct {
	api      *vkit.Client
	project  string
	database string
	emulator bool
	own      bool // api is closed by Close
	// evenCuts plans ranges of equal document counts on the emulator,
	// reading a large collection's names (see [DB.evenNames]).
	evenCuts bool
}

// planner returns db, planning with even cuts when the job is sharded.
func (db *DB) planner(s Shard) *DB {
	if s.Whole() {
		return db
	}
	p := *db
	p.own = false
	p.evenCuts = true
	return &p
}

// Config says which database to open and how.
type Config struct {
	Project  string
	Database string // "" means "(default)"
	// EmulatorHost, when set, connects to that Firestore emulator without
	// credentials, as the SDK does when FIRESTORE_EMULATOR_HOST is set. Writes
	// are then not throttled.
	EmulatorHost string
	// DialOptions are added to the gRPC connection (interceptors for request
	// logging, for example).
	DialOptions []grpc.DialOption
	// ClientOptions are passed to the API client (credentials, endpoint).
	// Ignored in emulator mode.
	ClientOptions []option.ClientOption
}

// Open connects to the database described by cfg.
func Open(ctx context.Context, cfg Config) (*DB, error) {
	if cfg.Project == "" {
		return nil, fmt.Errorf("open firestore: no project ID")
	}
	db := &DB{project: cfg.Project, database: cfg.Database, emulator: cfg.EmulatorHost != "", own: true}
	if db.database == "" {
		db.database = "(default)"
	}
	var opts []option.ClientOption
	if db.emulator {
		conn, err := DialEmulator(cfg.EmulatorHost, cfg.DialOptions...)
		if err != nil {
			return nil, err
		}
		opts = []option.ClientOption{option.WithGRPCConn(conn)}
	} else {
		opts = append(opts, option.WithGRPCDialOption(grpc.WithDefaultCallOptions(
			grpc.MaxCallRecvMsgSize(math.MaxInt32), grpc.MaxCallSendMsgSize(math.MaxInt32))))
		for _, o := range cfg.DialOptions {
			opts = append(opts, option.WithGRPCDialOption(o))
		}
		opts = append(opts, cfg.ClientOptions...)
	}
	api, err := vkit.NewClient(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("open firestore %s: %w", db.Name(), err)
	}
	ownRetries(api.CallOptions)
	db.api = api
	return db, nil
}

// callTimeout bounds one attempt of a unary call (a batch commit, a page
// of a listing): an attempt that gets no answer is retried like one that
// failed.
const callTimeout = 60 * time.Second

// ownRetries removes the generated client's retries from the calls the
// engine makes. Those retry a call for up to a minute (streams: with no
// bound at all) while the backend is unreachable, and a write batch fell
// back to writing documents one by one, a minute each. The engine retries
// instead (see [retryCall]), within the one bound that decides when a lost
// backend stops a job so that it can be resumed.
func ownRetries(co *vkit.CallOptions) {
	unary := []gax.CallOption{gax.WithTimeout(callTimeout)}
	co.Commit = unary
	co.BatchWrite = unary
	co.ListDocuments = unary
	co.ListCollectionIds = unary
	co.PartitionQuery = unary
	co.RunQuery = nil
	co.RunAggregationQuery = nil
	co.BatchGetDocuments = nil
}

// DialEmulator opens an unauthenticated gRPC connection to a Firestore
// emulator, sending the "owner" bearer token the emulator expects for
// admin access (it bypasses security rules).
func DialEmulator(host string, extra ...grpc.DialOption) (*grpc.ClientConn, error) {
	host = strings.TrimPrefix(strings.TrimPrefix(host, "http://"), "https://")
	opts := append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(ownerCreds{}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(math.MaxInt32), grpc.MaxCallSendMsgSize(math.MaxInt32)),
	}, extra...)
	conn, err := grpc.NewClient(host, opts...)
	if err != nil {
		return nil, fmt.Errorf("dial firestore emulator %s: %w", host, err)
	}
	return conn, nil
}

type ownerCreds struct{}

func (ownerCreds) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer owner"}, nil
}
func (ownerCreds) RequireTransportSecurity() bool { return false }

// Close releases the connection.
func (db *DB) Close() error {
	if db == nil || db.api == nil || !db.own {
		return nil
	}
	return db.api.Close()
}

// Project returns the project ID.
func (db *DB) Project() string { return db.project }

// Database returns the database ID.
func (db *DB) Database() string { return db.database }

// Emulator reports whether the database is on an emulator (writes are not
// throttled there).
func (db *DB) Emulator() bool { return db.emulator }

// Name returns the database's resource name, projects/P/databases/D.
func (db *DB) Name() string { return "projects/" + db.project + "/databases/" + db.database }

// Root returns the resource name under which documents live.
func (db *DB) Root() string { return db.Name() + "/documents" }

// full turns a path relative to the database root into a resource name.
func (db *DB) full(rel string) string {
	if rel == "" {
		return db.Root()
	}
	return db.Root() + "/" + rel
}

// rel turns a document resource name into a path relative to the root.
func (db *DB) rel(name string) string {
	root := db.Root()
	if strings.HasPrefix(name, root+"/") {
		return name[len(root)+1:]
	}
	return name
}

// ctx adds the routing header Firestore expects on every call.
func (db *DB) ctx(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "google-cloud-resource-prefix", db.Name())
}
