package mcp

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/firestore"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/fbadmin/fbadmin/internal/docpath"
	"github.com/fbadmin/fbadmin/internal/errs"
	"github.com/fbadmin/fbadmin/internal/transfer"
	"github.com/fbadmin/fbadmin/repository"
	"github.com/fbadmin/fbadmin/server"
)

// WriteResult is what a write returns.
type WriteResult struct {
	Path       string    `json:"path"`
	UpdateTime time.Time `json:"update_time" jsonschema:"the document's new update time (pass it as if_update_time to the next update)"`
}

func writeResult(wr *repository.WriteResult) WriteResult {
	return WriteResult{Path: wr.Path, UpdateTime: wr.UpdateTime.UTC()}
}

// checkSize refuses data over the per-call byte cap.
func (s *Server) checkSize(raw json.RawMessage) error {
	if int64(len(raw)) > s.o.MaxBytes {
		return errs.New(errs.ErrResourceLimit, "write", "", "$.data is %d bytes, over the per-call cap of %d bytes", len(raw), s.o.MaxBytes)
	}
	return nil
}

// ownerOf checks, under an owner rule, that data written sets the owner
// field to the caller's UID.
func ownerOK(g server.Grant, c *call, data anyMap, op, path string) error {
	if !owns(g, c, data) {
		return errs.New(errs.ErrPermission, op, path, "the document must set its %q field to the caller's UID", g.Owner)
	}
	return nil
}

// ---- set

type setInput struct {
	Path        string          `json:"path" jsonschema:"the document path, such as users/alice"`
	Data        json.RawMessage `json:"data" jsonschema:"the fields as a JSON object in the value format"`
	Merge       bool            `json:"merge,omitempty" jsonschema:"merge into the existing document (nested maps merge too) instead of replacing it"`
	MergeFields []string        `json:"merge_fields,omitempty" jsonschema:"merge only these field paths of data"`
}

func (s *Server) set(ctx context.Context, c *call, in *setInput) (WriteResult, error) {
	var out WriteResult
	if err := s.needWrites("set"); err != nil {
		return out, err
	}
	p, err := docPath("$.path", in.Path)
	if err != nil {
		return out, err
	}
	c.target = p.String()
	if err := s.checkSize(in.Data); err != nil {
		return out, err
	}
	data, err := decodeFields("$.data", in.Data)
	if err != nil {
		return out, err
	}
	var opts []firestore.SetOption
	switch {
	case in.Merge && len(in.MergeFields) > 0:
		return out, errs.New(errs.ErrInvalid, "arguments", "", "give merge or merge_fields, not both")
	case in.Merge:
		opts = append(opts, firestore.MergeAll)
	case len(in.MergeFields) > 0:
		fps := make([]firestore.FieldPath, len(in.MergeFields))
		for i, f := range in.MergeFields {
			fps[i] = fieldPath(f)
		}
		opts = append(opts, firestore.Merge(fps...))
	}
	coll := p.Parent().String()
	if err := s.filter.check(coll, false); err != nil {
		return out, err
	}
	if s.o.Rules != nil {
		// Creating needs create, replacing needs update (and, under an
		// owner rule, the caller's document), as in serve.
		ref := s.o.Firestore.Doc(p.String())
		err := s.o.Firestore.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
			snap, err := tx.Get(ref)
			exists := err == nil && snap.Exists()
			if err != nil && status.Code(err) != codes.NotFound {
				return err
			}
			op := server.OpCreate
			if exists {
				op = server.OpUpdate
			}
			g, err := s.access(c, op, coll, false)
			if err != nil {
				return err
			}
			if exists && !owns(g, c, snap.Data()) {
				return errs.New(errs.ErrNotFound, "set", p.String(), "no such document")
			}
			// A new or replaced document must carry the caller's UID in
			// the owner field; a merge into the caller's document must not
			// change it.
			if !exists || len(opts) == 0 {
				if err := ownerOK(g, c, data, "set", p.String()); err != nil {
					return err
				}
			} else if g.Owner != "" {
				if v, ok := lookup(data, g.Owner); ok && v != c.caller.UID {
					return errs.New(errs.ErrPermission, "set", p.String(), "the %q field must stay the caller's UID", g.Owner)
				}
			}
			return tx.Set(ref, data, opts...)
		}, firestore.MaxAttempts(5))
		if err != nil {
			return out, errs.Wrap(err, "set", p.String())
		}
		d, err := s.repo(coll).Get(ctx, p.ID())
		if err != nil {
			return out, err
		}
		return WriteResult{Path: d.Path, UpdateTime: d.UpdateTime.UTC()}, nil
	}
	wr, err := s.repo(coll).Set(ctx, p.ID(), data, opts...)
	if err != nil {
		return out, err
	}
	c.docs = 1
	return writeResult(wr), nil
}

// ---- create

type createInput struct {
	Path string          `json:"path" jsonschema:"a document path (fails if it exists), or a collection path for a new automatic ID"`
	Data json.RawMessage `json:"data" jsonschema:"the fields as a JSON object in the value format"`
}

func (s *Server) create(ctx context.Context, c *call, in *createInput) (WriteResult, error) {
	var out WriteResult
	if err := s.needWrites("create"); err != nil {
		return out, err
	}
	p, err := docpath.Parse(strings.Trim(in.Path, "/"))
	if err != nil {
		return out, errs.New(errs.ErrInvalid, "arguments", "$.path", "%v", err)
	}
	c.target = p.String()
	if err := s.checkSize(in.Data); err != nil {
		return out, err
	}
	data, err := decodeFields("$.data", in.Data)
	if err != nil {
		return out, err
	}
	coll := p.String()
	if p.IsDocument() {
		coll = p.Parent().String()
	}
	g, err := s.access(c, server.OpCreate, coll, false)
	if err != nil {
		return out, err
	}
	if err := ownerOK(g, c, data, "create", p.String()); err != nil {
		return out, err
	}
	var wr *repository.WriteResult
	if p.IsDocument() {
		wr, err = s.repo(coll).Create(ctx, p.ID(), data)
	} else {
		wr, err = s.repo(coll).Add(ctx, data)
	}
	if err != nil {
		return out, err
	}
	c.docs = 1
	return writeResult(wr), nil
}

// ---- update

type updateInput struct {
	Path            string                       `json:"path" jsonschema:"the document path; the document must exist"`
	Data            json.RawMessage              `json:"data,omitempty" jsonschema:"fields to set: each key is a field path (a.b sets field b of map a and leaves the rest of a), each value in the value format"`
	DeleteFields    []string                     `json:"delete_fields,omitempty" jsonschema:"field paths to remove"`
	ServerTimestamp []string                     `json:"server_timestamp,omitempty" jsonschema:"field paths to set to the server's commit time"`
	Increment       map[string]json.RawMessage   `json:"increment,omitempty" jsonschema:"field path -> number to add (value format: {\"$int\":\"1\"} or {\"$double\":0.5})"`
	ArrayUnion      map[string][]json.RawMessage `json:"array_union,omitempty" jsonschema:"field path -> values to add to the array if missing"`
	ArrayRemove     map[string][]json.RawMessage `json:"array_remove,omitempty" jsonschema:"field path -> values to remove from the array"`
	IfUpdateTime    string                       `json:"if_update_time,omitempty" jsonschema:"precondition: only if the document's update time is still this (RFC 3339, as returned by reads and writes); else a conflict"`
}

func (s *Server) update(ctx context.Context, c *call, in *updateInput) (WriteResult, error) {
	var out WriteResult
	if err := s.needWrites("update"); err != nil {
		return out, err
	}
	p, err := docPath("$.path", in.Path)
	if err != nil {
		return out, err
	}
	c.target = p.String()
	if err := s.checkSize(in.Data); err != nil {
		return out, err
	}
	var updates []firestore.Update
	var newData anyMap
	if len(in.Data) > 0 {
		if newData, err = decodeFields("$.data", in.Data); err != nil {
			return out, err
		}
		for k, v := range newData {
			updates = append(updates, firestore.Update{FieldPath: fieldPath(k), Value: v})
		}
	}
	for _, f := range in.DeleteFields {
		updates = append(updates, firestore.Update{FieldPath: fieldPath(f), Value: firestore.Delete})
	}
	for _, f := range in.ServerTimestamp {
		updates = append(updates, firestore.Update{FieldPath: fieldPath(f), Value: firestore.ServerTimestamp})
	}
	for _, f := range sortedKeys(in.Increment) {
		v, err := decodeValue(fmt.Sprintf("$.increment[%q]", f), in.Increment[f])
		if err != nil {
			return out, err
		}
		switch v.(type) {
		case int64, float64:
		default:
			return out, errs.New(errs.ErrInvalid, "arguments", "", "$.increment[%q]: want a number ({\"$int\":\"1\"}, {\"$double\":0.5} or a bare number)", f)
		}
		updates = append(updates, firestore.Update{FieldPath: fieldPath(f), Value: firestore.Increment(v)})
	}
	for _, t := range []struct {
		arg string
		m   map[string][]json.RawMessage
		fn  func(...any) any
	}{{"$.array_union", in.ArrayUnion, func(v ...any) any { return firestore.ArrayUnion(v...) }},
		{"$.array_remove", in.ArrayRemove, func(v ...any) any { return firestore.ArrayRemove(v...) }}} {
		for _, f := range sortedKeys(t.m) {
			vs, err := cursorValues(fmt.Sprintf("%s[%q]", t.arg, f), t.m[f])
			if err != nil {
				return out, err
			}
			updates = append(updates, firestore.Update{FieldPath: fieldPath(f), Value: t.fn(vs...)})
		}
	}
	if len(updates) == 0 {
		return out, errs.New(errs.ErrInvalid, "arguments", "", "nothing to update: give data, delete_fields, server_timestamp, increment, array_union or array_remove")
	}
	var pre []firestore.Precondition
	if in.IfUpdateTime != "" {
		t, err := time.Parse(time.RFC3339Nano, in.IfUpdateTime)
		if err != nil {
			return out, errs.New(errs.ErrInvalid, "arguments", "", "$.if_update_time: %q is not an RFC 3339 time such as 2024-05-01T10:00:00.123456Z", in.IfUpdateTime)
		}
		pre = append(pre, firestore.LastUpdateTime(t))
	}
	coll := p.Parent().String()
	g, err := s.access(c, server.OpUpdate, coll, false)
	if err != nil {
		return out, err
	}
	if g.Owner != "" {
		if v, ok := newData[g.Owner]; ok && v != c.caller.UID {
			return out, errs.New(errs.ErrPermission, "update", p.String(), "the %q field must stay the caller's UID", g.Owner)
		}
		ref := s.o.Firestore.Doc(p.String())
		err := s.o.Firestore.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
			snap, err := tx.Get(ref)
			if status.Code(err) == codes.NotFound || (err == nil && !owns(g, c, snap.Data())) {
				return errs.New(errs.ErrNotFound, "update", p.String(), "no such document")
			}
			if err != nil {
				return err
			}
			return tx.Update(ref, updates, pre...)
		}, firestore.MaxAttempts(5))
		if err != nil {
			return out, errs.Wrap(err, "update", p.String())
		}
		d, err := s.repo(coll).Get(ctx, p.ID())
		if err != nil {
			return out, err
		}
		c.docs = 1
		return WriteResult{Path: d.Path, UpdateTime: d.UpdateTime.UTC()}, nil
	}
	wr, err := s.repo(coll).Update(ctx, p.ID(), updates, pre...)
	if err != nil {
		return out, err
	}
	c.docs = 1
	return writeResult(wr), nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// ---- delete

type deleteInput struct {
	Paths        []string `json:"paths" jsonschema:"document paths, or with recursive also collection paths"`
	Recursive    bool     `json:"recursive,omitempty" jsonschema:"also delete every document below each path (subcollections at any depth)"`
	ConfirmToken string   `json:"confirm_token,omitempty" jsonschema:"the confirm_token of the dry run of this exact request; without it, nothing is deleted and a dry run is returned"`
}

type deleteOutput struct {
	DryRun       bool      `json:"dry_run"`
	Documents    int64     `json:"documents" jsonschema:"documents deleted, or that the dry run found"`
	Sample       []string  `json:"sample,omitempty" jsonschema:"some of the paths that would be deleted"`
	ConfirmToken string    `json:"confirm_token,omitempty" jsonschema:"pass it with the same paths and recursive to delete"`
	ExpiresAt    time.Time `json:"expires_at,omitzero"`
}

const confirmTTL = 5 * time.Minute

func (s *Server) delete(ctx context.Context, c *call, in *deleteInput) (deleteOutput, error) {
	var out deleteOutput
	if err := s.needDestructive("delete"); err != nil {
		return out, err
	}
	if len(in.Paths) == 0 {
		return out, errs.New(errs.ErrInvalid, "arguments", "", "$.paths: give at least one path")
	}
	if len(in.Paths) > s.o.MaxDocs {
		return out, capError("delete", len(in.Paths), s.o.MaxDocs)
	}
	c.target = targetOf(in.Paths)
	var rels []string
	owned := false
	for i, arg := range in.Paths {
		p, err := docpath.Parse(strings.Trim(arg, "/"))
		if err != nil {
			return out, errs.New(errs.ErrInvalid, "arguments", fmt.Sprintf("$.paths[%d]", i), "%v", err)
		}
		if !p.IsDocument() && !in.Recursive {
			return out, errs.New(errs.ErrInvalid, "arguments", "", "$.paths[%d]: %s is a collection: set recursive to delete it with all its documents", i, p)
		}
		coll := p.String()
		if p.IsDocument() {
			coll = p.Parent().String()
		}
		g, err := s.access(c, server.OpDelete, coll, false)
		if err != nil {
			return out, err
		}
		if g.Owner != "" {
			if in.Recursive {
				return out, errs.New(errs.ErrPermission, "delete", p.String(), "a recursive delete needs a rule without an owner field")
			}
			owned = true
		}
		rels = append(rels, p.String())
	}
	request := fmt.Sprintf("delete\x00%t\x00%s", in.Recursive, strings.Join(rels, "\x00"))
	if in.ConfirmToken != "" {
		if err := s.checkToken(in.ConfirmToken, request); err != nil {
			return out, err
		}
	}
	// The dry run (also before the real delete of a tree: the tree may
	// have grown past the cap or into denied collections since).
	var (
		mu     sync.Mutex
		denied error
		sample []string
	)
	st, err := transfer.Delete(ctx, s.o.DB, transfer.DeleteOptions{Paths: rels, Recursive: in.Recursive, DryRun: true, Journal: transfer.NoJournal,
		OnPath: func(rel string) {
			mu.Lock()
			defer mu.Unlock()
			if len(sample) < 20 {
				sample = append(sample, rel)
			}
			p := docpath.FromFirestore(rel)
			if denied == nil {
				if _, err := s.access(c, server.OpDelete, p.Parent().String(), false); err != nil {
					denied = err
				}
			}
		}})
	if err != nil {
		return out, err
	}
	if denied != nil {
		return out, fmt.Errorf("the tree holds documents this caller may not delete: %w", denied)
	}
	if st.Docs > int64(s.o.MaxDocs) {
		return out, capError("delete", int(st.Docs), s.o.MaxDocs)
	}
	if in.ConfirmToken == "" {
		exp := time.Now().Add(confirmTTL).UTC().Truncate(time.Second)
		return deleteOutput{DryRun: true, Documents: st.Docs, Sample: sample, ConfirmToken: s.token(request, exp), ExpiresAt: exp}, nil
	}
	if owned {
		// Under an owner rule each document is checked and deleted in a
		// transaction, as serve does.
		var n int64
		for _, rel := range rels {
			ref := s.o.Firestore.Doc(rel)
			g, _ := s.access(c, server.OpDelete, docpath.FromFirestore(rel).Parent().String(), false)
			err := s.o.Firestore.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
				snap, err := tx.Get(ref)
				if status.Code(err) == codes.NotFound || (err == nil && !owns(g, c, snap.Data())) {
					return nil // nothing of the caller's to delete
				}
				if err != nil {
					return err
				}
				n++
				return tx.Delete(ref)
			}, firestore.MaxAttempts(5))
			if err != nil {
				return out, errs.Wrap(err, "delete", rel)
			}
		}
		c.docs = int(n)
		return deleteOutput{Documents: n}, nil
	}
	st, err = transfer.Delete(ctx, s.o.DB, transfer.DeleteOptions{Paths: rels, Recursive: in.Recursive, Journal: transfer.NoJournal})
	if err != nil {
		return out, err
	}
	if st.Failed > 0 {
		return out, errs.New(errs.ErrInternal, "delete", c.target, "%d documents deleted, %d could not be", st.Docs, st.Failed)
	}
	c.docs = int(st.Docs)
	return deleteOutput{Documents: st.Docs}, nil
}

// token makes a confirmation token for request, valid until exp: the
// expiry and an HMAC of both under the server's secret, so that it
// confirms only this exact request, only on this server, only for a while.
func (s *Server) token(request string, exp time.Time) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(exp.Unix()))
	m := hmac.New(sha256.New, s.secret)
	m.Write(b[:])
	m.Write([]byte(request))
	return base64.RawURLEncoding.EncodeToString(append(b[:], m.Sum(nil)[:16]...))
}

func (s *Server) checkToken(tok, request string) error {
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(raw) != 24 {
		return errs.New(errs.ErrInvalid, "confirm", "", "$.confirm_token is not a token of this server (hint: call again without confirm_token for a dry run and a fresh token)")
	}
	exp := time.Unix(int64(binary.BigEndian.Uint64(raw[:8])), 0)
	if !hmac.Equal([]byte(s.token(request, exp)), []byte(tok)) {
		return errs.New(errs.ErrInvalid, "confirm", "", "$.confirm_token does not match this request (it confirms only the exact arguments of its dry run, on the server that issued it; hint: call again without confirm_token)")
	}
	if time.Now().After(exp) {
		return errs.New(errs.ErrInvalid, "confirm", "", "$.confirm_token expired at %s (hint: call again without confirm_token for a fresh dry run)", exp.UTC().Format(time.RFC3339))
	}
	return nil
}

func (s *Server) addFirestoreWriteTools() {
	no := false
	write := &sdk.ToolAnnotations{DestructiveHint: &no}
	yes := true
	destructive := &sdk.ToolAnnotations{DestructiveHint: &yes}
	ro := ""
	if !s.o.AllowWrites {
		ro = " (This server is read-only: the call will be refused.)"
	}
	addTool(s, &sdk.Tool{Name: "firestore_set", Annotations: write,
		Description: "Write a document, replacing it (or merging with merge / merge_fields). data is a JSON object in the value format: {\"count\":{\"$int\":\"9007199254740993\"},\"at\":{\"$timestamp\":\"2024-01-02T03:04:05Z\"}}." + ro}, s.set)
	addTool(s, &sdk.Tool{Name: "firestore_create", Annotations: write,
		Description: "Create a document; fails if it exists. With a collection path, the document gets a new automatic ID (returned in path)." + ro}, s.create)
	addTool(s, &sdk.Tool{Name: "firestore_update", Annotations: write,
		Description: "Update fields of an existing document: data keys are field paths (a.b); transforms: delete_fields, server_timestamp, increment, array_union, array_remove; precondition if_update_time (the update_time a read returned) makes it fail with a conflict if the document changed since." + ro}, s.update)
	addTool(s, &sdk.Tool{Name: "firestore_delete", Annotations: destructive,
		Description: "Delete documents, or whole trees with recursive. Two calls: the first returns a dry run (how many documents, a sample) and a confirm_token; call again with the same arguments and confirm_token to delete. Needs a server started with --allow-writes --allow-destructive."}, s.delete)
}

// lookup reads a dotted field path in decoded fields.
func lookup(data anyMap, path string) (any, bool) {
	var cur any = data
	for _, k := range strings.Split(path, ".") {
		m, ok := cur.(anyMap)
		if !ok {
			return nil, false
		}
		if cur, ok = m[k]; !ok {
			return nil, false
		}
	}
	return cur, true
}
