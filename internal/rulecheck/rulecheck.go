// Package rulecheck asks Firestore's security rules what a user may do:
// it makes one request as that user and reports whether the rules allowed
// or denied it.
//
// # Where checks run
//
// On a Firestore emulator started with --rules (gcloud emulators firestore
// start --rules=FILE), requests carrying an unsigned emulator ID token
// ([EmulatorIDToken]) are decided by the rules as production decides
// client requests, and requests carrying the "owner" token bypass them. A
// [Runner] seeds a cases file's fixture documents with the owner token into
// scratch projects of the emulator (one shared by the read cases, one for
// each write case, so that a write that the rules allow changes nothing
// another case sees and no real data), runs every case as its user, and
// deletes the scratch projects' data afterwards.
//
// # Cases files
//
// [Parse] reads YAML:
//
//	users:
//	  alice: {uid: alice}
//	  admin: {uid: root, claims: {admin: true}}
//	fixtures:
//	  users/alice: {name: Alice}
//	cases:
//	  - {name: owner reads, as: alice, op: get, path: users/alice, expect: allow}
//	  - {name: anonymous reads, op: get, path: users/alice, expect: deny}
//	  - {as: alice, op: update, path: users/alice, data: {name: A}, expect: allow}
//
// A case without "as" is unauthenticated; an "as" that names no user is a
// UID without claims. Values are in fbadmin's lossless format
// ({"$timestamp": "..."} and so on).
package rulecheck

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/fbadmin/fbadmin/internal/errs"
	"github.com/fbadmin/fbadmin/internal/transfer"
	"github.com/fbadmin/fbadmin/internal/value"
	"github.com/fbadmin/fbadmin/internal/yamlconf"
)

// Operations, as security rules name them.
const (
	Get    = "get"
	List   = "list"
	Create = "create"
	Update = "update"
	Delete = "delete"
)

// Ops lists the operations a check can make.
var Ops = []string{Get, List, Create, Update, Delete}

// Outcomes.
const (
	Allow = "allow"
	Deny  = "deny"
)

// User is who a case runs as.
type User struct {
	UID    string         `yaml:"uid" json:"uid"`
	Claims map[string]any `yaml:"claims" json:"claims,omitempty"`
}

// Case is one check.
type Case struct {
	Name   string         `yaml:"name" json:"name,omitempty"`
	As     string         `yaml:"as" json:"as,omitempty"`
	Op     string         `yaml:"op" json:"op"`
	Path   string         `yaml:"path" json:"path"`
	Data   map[string]any `yaml:"data" json:"-"`
	Expect string         `yaml:"expect" json:"expect,omitempty"`

	data map[string]any // Data decoded in the lossless format
}

// File is a cases file.
type File struct {
	Users    map[string]User           `yaml:"users"`
	Fixtures map[string]map[string]any `yaml:"fixtures"`
	Cases    []Case                    `yaml:"cases"`

	fixtures map[string]map[string]any // decoded
}

// Parse reads a cases file strictly: unknown keys, unknown operations,
// paths of the wrong kind and missing expectations are errors that name
// their line.
func Parse(name string, src []byte) (*File, error) {
	var f File
	err := yamlconf.Decode(name, src, &f, nil, func(bad func(path, format string, args ...any)) {
		for n, u := range f.Users {
			if u.UID == "" {
				bad(fmt.Sprintf("$.users.%s.uid", n), "a user needs a uid")
			}
		}
		for p := range f.Fixtures {
			if !isDoc(p) {
				bad("$.fixtures", "%q is not a document path (collection/id, an even number of segments)", p)
			}
		}
		if len(f.Cases) == 0 {
			bad("$.cases", "no cases")
		}
		for i, c := range f.Cases {
			at := fmt.Sprintf("$.cases[%d]", i)
			if err := CheckOp(c.Op, c.Path, c.Data != nil); err != nil {
				bad(at, "%v", err)
			}
			if c.Expect != Allow && c.Expect != Deny {
				bad(at+".expect", "expect is allow or deny, got %q", c.Expect)
			}
		}
	})
	if err != nil {
		return nil, err
	}
	f.fixtures = map[string]map[string]any{}
	for p, fields := range f.Fixtures {
		m, err := decodeFields(fields)
		if err != nil {
			return nil, errs.New(errs.ErrInvalid, "cases", name, "fixtures %s: %v", p, err)
		}
		f.fixtures[p] = m
	}
	for i := range f.Cases {
		c := &f.Cases[i]
		if c.Name == "" {
			c.Name = fmt.Sprintf("#%d %s %s", i+1, c.Op, c.Path)
		}
		if c.Data != nil {
			m, err := decodeFields(c.Data)
			if err != nil {
				return nil, errs.New(errs.ErrInvalid, "cases", name, "case %q: data: %v", c.Name, err)
			}
			c.data = m
		}
	}
	return &f, nil
}

// decodeFields turns YAML-decoded fields into Firestore values through
// the lossless JSON format.
func decodeFields(fields map[string]any) (map[string]any, error) {
	b, err := json.Marshal(fields)
	if err != nil {
		return nil, err
	}
	return value.DecodeMap(b)
}

// SetData sets a case's fields (already decoded in the lossless format).
func (c *Case) SetData(m map[string]any) { c.data = m }

func isDoc(p string) bool {
	segs := strings.Split(strings.Trim(p, "/"), "/")
	return len(segs)%2 == 0 && !slices.Contains(segs, "")
}

func isColl(p string) bool {
	segs := strings.Split(strings.Trim(p, "/"), "/")
	return len(segs)%2 == 1 && !slices.Contains(segs, "")
}

// CheckOp checks that op is known, that path is of the kind it takes, and
// that data is given exactly for create and update.
func CheckOp(op, path string, hasData bool) error {
	switch op {
	case Get, Create, Update, Delete:
		if !isDoc(path) {
			return fmt.Errorf("%s takes a document path (collection/id), got %q", op, path)
		}
	case List:
		if !isColl(path) {
			return fmt.Errorf("list takes a collection path, got %q", path)
		}
	default:
		return fmt.Errorf("unknown operation %q (want %s)", op, strings.Join(Ops, ", "))
	}
	write := op == Create || op == Update
	switch {
	case write && !hasData:
		return fmt.Errorf("%s needs data (the document's fields)", op)
	case !write && hasData:
		return fmt.Errorf("%s takes no data", op)
	}
	return nil
}

// Writes reports whether op writes.
func Writes(op string) bool { return op == Create || op == Update || op == Delete }

// Result is the outcome of one case.
type Result struct {
	Case
	Got    string `json:"got,omitempty"` // allow or deny; "" when the request failed otherwise
	Pass   bool   `json:"pass"`
	Reason string `json:"reason,omitempty"` // the rules' message on a denial, or the error
	Millis int64  `json:"ms"`
}

// Runner runs cases on a rules-enforcing Firestore emulator.
type Runner struct {
	// Host is the emulator (host:port).
	Host string
	// ProjectPrefix names the scratch projects; default "demo-rulecheck".
	ProjectPrefix string
	// Concurrency is how many cases run at once; default 8.
	Concurrency int
	// Keep leaves the scratch projects' data in place (for a look).
	Keep bool
	// DialOptions are added to the connections (request logging).
	DialOptions []grpc.DialOption

	used []string // the scratch projects of the last run
}

type tokenKey struct{}

// ctxCreds sends the ID token the request's context carries, or no
// authorization at all.
type ctxCreds struct{}

func (ctxCreds) GetRequestMetadata(ctx context.Context, _ ...string) (map[string]string, error) {
	if tok, ok := ctx.Value(tokenKey{}).(string); ok && tok != "" {
		return map[string]string{"authorization": "Bearer " + tok}, nil
	}
	return nil, nil
}
func (ctxCreds) RequireTransportSecurity() bool { return false }

// DialUser opens a connection to a Firestore emulator whose requests carry
// the ID token their context holds ([WithToken]), or no authorization at
// all: never the owner token.
func DialUser(host string, extra ...grpc.DialOption) (*grpc.ClientConn, error) {
	host = strings.TrimPrefix(host, "http://")
	conn, err := grpc.NewClient(host, append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithPerRPCCredentials(ctxCreds{}),
	}, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("dial firestore emulator %s: %w", host, err)
	}
	return conn, nil
}

// Seed writes documents with the connection's credentials (the owner's,
// from transfer.DialEmulator), in batches of 500.
func Seed(ctx context.Context, client *firestore.Client, docs map[string]map[string]any) error {
	//lint:ignore SA1019 plain batches: the BulkWriter throttles itself, and fixtures are seeded before every write case
	bw := client.Batch()
	n := 0
	for path, fields := range docs {
		bw.Set(client.Doc(path), fields)
		n++
		if n == 500 {
			if _, err := bw.Commit(ctx); err != nil {
				return errs.Wrap(err, "seed fixtures", "")
			}
			//lint:ignore SA1019 as above
			bw, n = client.Batch(), 0
		}
	}
	if n > 0 {
		if _, err := bw.Commit(ctx); err != nil {
			return errs.Wrap(err, "seed fixtures", "")
		}
	}
	return nil
}

// ResetProject deletes a scratch project's documents on the emulator.
func ResetProject(host, project string) { resetProject(host, project) }

// ScratchProject returns a new scratch project ID: prefix, a dash and
// random hex digits.
func ScratchProject(prefix string) string {
	var b [5]byte
	rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])
}

// Run runs the cases of f and returns their results in order. It returns
// an error only when the run itself could not happen (emulator
// unreachable, seeding failed); a case whose outcome differs from its
// expectation is a Result with Pass false.
func (r *Runner) Run(ctx context.Context, f *File) ([]Result, error) {
	prefix := r.ProjectPrefix
	if prefix == "" {
		prefix = "demo-rulecheck"
	}
	run := ScratchProject(prefix)

	owner, err := transfer.DialEmulator(r.Host, r.DialOptions...)
	if err != nil {
		return nil, err
	}
	defer owner.Close()
	userConn, err := DialUser(r.Host, r.DialOptions...)
	if err != nil {
		return nil, err
	}
	defer userConn.Close()

	var mu sync.Mutex
	var projects []string
	project := func(p string) string {
		mu.Lock()
		defer mu.Unlock()
		projects = append(projects, p)
		return p
	}
	defer func() {
		r.used = projects
		if !r.Keep {
			for _, p := range projects {
				resetProject(r.Host, p)
			}
		}
	}()
	clientFor := func(conn *grpc.ClientConn, p string) (*firestore.Client, error) {
		return firestore.NewClient(ctx, p, option.WithGRPCConn(conn))
	}
	seed := func(p string) error {
		if len(f.fixtures) == 0 {
			return nil
		}
		c, err := clientFor(owner, p)
		if err != nil {
			return err
		}
		return Seed(ctx, c, f.fixtures)
	}
	readProject := project(run)
	if err := seed(readProject); err != nil {
		return nil, err
	}
	readClient, err := clientFor(userConn, readProject)
	if err != nil {
		return nil, err
	}

	results := make([]Result, len(f.Cases))
	conc := r.Concurrency
	if conc <= 0 {
		conc = 8
	}
	sem := make(chan struct{}, conc)
	var wg sync.WaitGroup
	var firstErr error
	var errOnce sync.Once
	for i, c := range f.Cases {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			client, p := readClient, readProject
			if Writes(c.Op) {
				p = project(fmt.Sprintf("%s-%d", run, i))
				if err := seed(p); err != nil {
					errOnce.Do(func() { firstErr = err })
					return
				}
				cl, err := clientFor(userConn, p)
				if err != nil {
					errOnce.Do(func() { firstErr = err })
					return
				}
				client = cl
			}
			u := f.Users[c.As]
			if c.As != "" && u.UID == "" {
				u.UID = c.As
			}
			results[i] = Check(ctx, client, p, u, c)
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	return results, nil
}

// Check runs one case on client (a connection whose credentials come from
// the context, see [Runner]), as u (u.UID "" for a request without a
// token), and compares the outcome with c.Expect when it is set.
func Check(ctx context.Context, client *firestore.Client, project string, u User, c Case) Result {
	res := Result{Case: c}
	if u.UID != "" {
		ctx = context.WithValue(ctx, tokenKey{}, EmulatorIDToken(project, u.UID, u.Claims, time.Now()))
	}
	start := time.Now()
	err := Do(ctx, client, c.Op, c.Path, c.data)
	res.Millis = time.Since(start).Milliseconds()
	res.Got, res.Reason = Outcome(err)
	res.Pass = res.Got != "" && (c.Expect == "" || res.Got == c.Expect)
	return res
}

// WithToken returns a context whose requests on a [Runner]-style
// connection carry idToken.
func WithToken(ctx context.Context, idToken string) context.Context {
	return context.WithValue(ctx, tokenKey{}, idToken)
}

// Outcome classifies a request's error: nil (or a read of a missing
// document) is allowed; PermissionDenied is denied, with the rules'
// message; anything else is no outcome ("") with the error as reason.
func Outcome(err error) (got, reason string) {
	switch {
	case err == nil:
		return Allow, ""
	case status.Code(err) == codes.PermissionDenied || errors.Is(err, errs.ErrPermission) || errors.Is(err, errs.ErrDenied):
		msg := err.Error()
		if st, ok := status.FromError(err); ok {
			msg = st.Message()
		}
		return Deny, strings.Join(strings.Fields(msg), " ")
	default:
		return "", strings.Join(strings.Fields(err.Error()), " ")
	}
}

// Do makes one request: get and list read (a missing document or an empty
// list is allowed: the rules let the read happen), create, update and
// delete write data (update sets the given top-level fields of an
// existing document).
func Do(ctx context.Context, client *firestore.Client, op, path string, data map[string]any) error {
	switch op {
	case Get:
		_, err := client.Doc(path).Get(ctx)
		if status.Code(err) == codes.NotFound {
			return nil
		}
		return err
	case List:
		// No limit: the rules see the query as a client's plain listing;
		// reading stops after the first document.
		it := client.Collection(path).Documents(ctx)
		defer it.Stop()
		_, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return nil
		}
		return err
	case Create:
		_, err := client.Doc(path).Create(ctx, data)
		return err
	case Update:
		var ups []firestore.Update
		for k, v := range data {
			ups = append(ups, firestore.Update{FieldPath: firestore.FieldPath{k}, Value: v})
		}
		_, err := client.Doc(path).Update(ctx, ups)
		return err
	case Delete:
		_, err := client.Doc(path).Delete(ctx)
		return err
	}
	return fmt.Errorf("unknown operation %q", op)
}

// resetProject deletes a scratch project's documents on the emulator.
func resetProject(host, project string) {
	req, err := http.NewRequest(http.MethodDelete, "http://"+strings.TrimPrefix(host, "http://")+"/emulator/v1/projects/"+project+"/databases/(default)/documents", nil)
	if err != nil {
		return
	}
	c := &http.Client{Timeout: 10 * time.Second}
	if resp, err := c.Do(req); err == nil {
		resp.Body.Close()
	}
}

// OpenRules reports whether the emulator at host let a request without a
// token read a document under a collection no rules are written for (in
// a scratch project): what an emulator started without --rules does for
// every request. Checks against such an emulator say "allowed" for all.
func OpenRules(ctx context.Context, host string) (bool, error) {
	conn, err := DialUser(host)
	if err != nil {
		return false, err
	}
	defer conn.Close()
	client, err := firestore.NewClient(ctx, ScratchProject("demo-rulecheck-probe"), option.WithGRPCConn(conn))
	if err != nil {
		return false, err
	}
	err = Do(ctx, client, Get, "fbadmin-rules-probe-no-rule-matches/x", nil)
	got, _ := Outcome(err)
	switch got {
	case Allow:
		return true, nil
	case Deny:
		return false, nil
	}
	return false, err
}
