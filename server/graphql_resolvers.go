package server

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"runtime/debug"
	"time"

	"github.com/fbadmin/fbadmin/internal/errs"
	"github.com/fbadmin/fbadmin/internal/value"
	"github.com/fbadmin/fbadmin/listeners"
	"github.com/fbadmin/fbadmin/server/internal/gql"
)

// gqlResolver implements the generated gql.ResolverRoot over the server's
// Store and Hub. Every resolver runs as the caller of the context.
type gqlResolver struct{ s *Server }

func (r *gqlResolver) Query() gql.QueryResolver               { return gqlQuery{r.s} }
func (r *gqlResolver) Mutation() gql.MutationResolver         { return gqlMutation{r.s} }
func (r *gqlResolver) Subscription() gql.SubscriptionResolver { return gqlSubscription{r.s} }

type (
	gqlQuery        struct{ s *Server }
	gqlMutation     struct{ s *Server }
	gqlSubscription struct{ s *Server }
)

// gqlCaller returns the caller of the operation.
func gqlCaller(ctx context.Context) (*Caller, error) {
	c, ok := CallerFrom(ctx)
	if !ok {
		return nil, errs.New(errs.ErrUnauthenticated, "graphql", "", "no verified ID token")
	}
	return c, nil
}

// gqlFail classifies an error of the data layer for the error presenter
// (which maps an unclassified error to INTERNAL).
func gqlFail(err error, op, target string) error {
	return classify(err, op, target)
}

func gqlDocument(d *Document) *gql.Document {
	return &gql.Document{ID: d.ID, Path: d.Path, Data: d.Data, CreateTime: d.CreateTime, UpdateTime: d.UpdateTime}
}

// gqlSpec turns the query arguments into the Store's QuerySpec.
func gqlSpec(collection string, group *bool, where, or []gql.FilterInput, orderBy []gql.OrderInput) QuerySpec {
	q := QuerySpec{Collection: collection, Group: group != nil && *group}
	filters := func(in []gql.FilterInput) []Filter {
		var out []Filter
		for _, f := range in {
			v := f.Value
			if len(v) == 0 {
				v = json.RawMessage("null")
			}
			out = append(out, Filter{Field: f.Field, Op: f.Op, Value: v})
		}
		return out
	}
	q.Where, q.Or = filters(where), filters(or)
	for _, o := range orderBy {
		dir := "asc"
		if o.Direction != nil && *o.Direction == gql.DirectionDesc {
			dir = "desc"
		}
		q.OrderBy = append(q.OrderBy, Order{Field: o.Field, Direction: dir})
	}
	return q
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func (q gqlQuery) Document(ctx context.Context, path string) (*gql.Document, error) {
	c, err := gqlCaller(ctx)
	if err != nil {
		return nil, err
	}
	if err := spend(ctx, 1); err != nil {
		return nil, err
	}
	d, err := q.s.store.Get(ctx, c, path)
	if errs.KindOf(err) == errs.ErrNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, gqlFail(err, "get", path)
	}
	return gqlDocument(d), nil
}

func (q gqlQuery) Documents(ctx context.Context, collection string, group *bool, where, or []gql.FilterInput, orderBy []gql.OrderInput, first *int, after *string) (*gql.DocumentConnection, error) {
	c, err := gqlCaller(ctx)
	if err != nil {
		return nil, err
	}
	size := 0 // the Store's default page size
	if first != nil {
		if *first < 1 {
			return nil, badField("first", "first is %d: ask for at least 1 document", *first)
		}
		size = *first
	}
	if err := spend(ctx, min(cmp.Or(size, 50), q.s.cfg.Limits.MaxPageSize)); err != nil {
		return nil, err
	}
	page, err := q.s.store.Query(ctx, c, gqlSpec(collection, group, where, or, orderBy), size, deref(after))
	if err != nil {
		return nil, gqlFail(err, "query", collection)
	}
	conn := &gql.DocumentConnection{
		Edges:    make([]gql.DocumentEdge, 0, len(page.Documents)),
		Nodes:    make([]gql.Document, 0, len(page.Documents)),
		PageInfo: &gql.PageInfo{HasNextPage: page.HasNextPage, HasPreviousPage: deref(after) != ""},
	}
	for i := range page.Documents {
		d := gqlDocument(&page.Documents[i])
		cursor := ""
		if i < len(page.Cursors) {
			cursor = page.Cursors[i]
		}
		conn.Edges = append(conn.Edges, gql.DocumentEdge{Cursor: cursor, Node: d})
		conn.Nodes = append(conn.Nodes, *d)
	}
	if n := len(conn.Edges); n > 0 {
		conn.PageInfo.StartCursor = &conn.Edges[0].Cursor
		conn.PageInfo.EndCursor = &conn.Edges[n-1].Cursor
	}
	return conn, nil
}

func (q gqlQuery) Aggregate(ctx context.Context, collection string, group *bool, where, or []gql.FilterInput, orderBy []gql.OrderInput, limit *int, count *bool, sum, avg []string) (*gql.AggregateResult, error) {
	c, err := gqlCaller(ctx)
	if err != nil {
		return nil, err
	}
	if err := spend(ctx, 1); err != nil {
		return nil, err
	}
	spec := gqlSpec(collection, group, where, or, orderBy)
	spec.Limit = deref(limit)
	a, err := q.s.store.Aggregate(ctx, c, spec, deref(count), sum, avg)
	if err != nil {
		return nil, gqlFail(err, "aggregate", collection)
	}
	out := &gql.AggregateResult{Sum: []gql.AggregateValue{}, Avg: []gql.AggregateValue{}}
	if len(a.Count) > 0 {
		n, ok := gqlNumber(a.Count)
		if !ok {
			return nil, errs.New(errs.ErrInternal, "aggregate", collection, "count %s is not a number", a.Count)
		}
		i := int(n)
		out.Count = &i
	}
	values := func(fields []string, m map[string]json.RawMessage) []gql.AggregateValue {
		vs := make([]gql.AggregateValue, 0, len(fields))
		for _, f := range fields {
			v := gql.AggregateValue{Field: f, Value: m[f]}
			if n, ok := gqlNumber(m[f]); ok {
				v.Number = &n
			}
			vs = append(vs, v)
		}
		return vs
	}
	out.Sum, out.Avg = values(sum, a.Sum), values(avg, a.Avg)
	return out, nil
}

// gqlNumber reads a number in the value format as a float.
func gqlNumber(raw json.RawMessage) (float64, bool) {
	if len(raw) == 0 {
		return 0, false
	}
	v, err := value.Decode(raw)
	if err != nil {
		return 0, false
	}
	switch n := v.(type) {
	case int64:
		return float64(n), true
	case float64:
		return n, true
	}
	return 0, false
}

func (m gqlMutation) CreateDocument(ctx context.Context, collection string, id *string, data json.RawMessage) (*gql.Document, error) {
	c, err := gqlCaller(ctx)
	if err != nil {
		return nil, err
	}
	if err := spend(ctx, 1); err != nil {
		return nil, err
	}
	d, err := m.s.store.Create(ctx, c, collection, deref(id), data)
	if err != nil {
		return nil, gqlFail(err, "create", collection)
	}
	return gqlDocument(d), nil
}

func (m gqlMutation) SetDocument(ctx context.Context, path string, data json.RawMessage, ifUpdateTime *time.Time) (*gql.Document, error) {
	c, err := gqlCaller(ctx)
	if err != nil {
		return nil, err
	}
	if err := spend(ctx, 1); err != nil {
		return nil, err
	}
	d, err := m.s.store.Set(ctx, c, path, data, deref(ifUpdateTime))
	if err != nil {
		return nil, gqlFail(err, "set", path)
	}
	return gqlDocument(d), nil
}

func (m gqlMutation) UpdateDocument(ctx context.Context, path string, data json.RawMessage, ifUpdateTime *time.Time) (*gql.Document, error) {
	c, err := gqlCaller(ctx)
	if err != nil {
		return nil, err
	}
	if err := spend(ctx, 1); err != nil {
		return nil, err
	}
	d, err := m.s.store.Update(ctx, c, path, data, deref(ifUpdateTime))
	if err != nil {
		return nil, gqlFail(err, "update", path)
	}
	return gqlDocument(d), nil
}

func (m gqlMutation) DeleteDocument(ctx context.Context, path string, ifUpdateTime *time.Time) (bool, error) {
	c, err := gqlCaller(ctx)
	if err != nil {
		return false, err
	}
	if err := spend(ctx, 1); err != nil {
		return false, err
	}
	if err := m.s.store.Delete(ctx, c, path, deref(ifUpdateTime)); err != nil {
		return false, gqlFail(err, "delete", path)
	}
	return true, nil
}

// Changes streams the query's changes from the hub. The channel is
// unbuffered: a client that reads slowly blocks the sender, its queue in
// the hub fills, and the hub ends the subscription (ErrSlowClient), so a
// slow client never makes the server hold more than the queue.
func (sr gqlSubscription) Changes(ctx context.Context, collection string, group *bool, where, or []gql.FilterInput, orderBy []gql.OrderInput, resume *string) (<-chan *gql.ChangeEvent, error) {
	s := sr.s
	c, err := gqlCaller(ctx)
	if err != nil {
		return nil, err
	}
	wc := gqlWSFrom(ctx)
	if wc == nil {
		return nil, errs.New(errs.ErrInvalid, "graphql", "", "subscriptions need a WebSocket")
	}
	if !wc.reserve(s.cfg.Watch.MaxSubscriptionsPerSocket) {
		return nil, s.hub.overLimit(limitSubscriptionsPerSocket, errs.ErrResourceLimit, collection,
			"too many subscriptions on this socket (at most %d: watch.max_subscriptions_per_socket)", s.cfg.Watch.MaxSubscriptionsPerSocket)
	}
	sub, err := s.subscribe(ctx, c, gqlSpec(collection, group, where, or, orderBy), deref(resume))
	if err != nil {
		wc.unreserve()
		return nil, gqlFail(err, "watch", collection)
	}
	wc.subStarted(sub)
	ch := make(chan *gql.ChangeEvent)
	go func() {
		defer wc.subEnded(sub)
		defer close(ch)
		defer sub.Close()
		defer func() {
			if p := recover(); p != nil {
				s.log.Error("graphql subscription panicked", "panic", p, "stack", string(debug.Stack()))
				endStream(ctx, s.gqlPresent(ctx, errs.New(errs.ErrInternal, "watch", collection, "panic: %v", p)))
			}
		}()
		for {
			m, err := sub.Next(ctx)
			if err != nil {
				if ctx.Err() == nil {
					endStream(ctx, s.gqlPresent(ctx, gqlStreamEnd(err, collection)))
				}
				if errors.Is(err, ErrTokenExpired) || errors.Is(err, ErrSessionRevoked) {
					// Every operation of this socket would fail now: close
					// it, as /v1/watch does, so that clients reconnect
					// with a fresh token (after the error went out).
					reason := "the ID token expired: reconnect with a fresh token"
					if errors.Is(err, ErrSessionRevoked) {
						reason = "the session was revoked or the user disabled: sign in again"
					}
					time.AfterFunc(gqlShutdownGrace/4, func() { wc.closeWith(4401, reason) })
				}
				return
			}
			select {
			case ch <- gqlChangeEvent(m):
				s.metrics.events.WithLabelValues("graphql").Inc()
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch, nil
}

// gqlStreamEnd classifies why the hub ended a subscription.
func gqlStreamEnd(err error, collection string) error {
	switch {
	case errors.Is(err, ErrShuttingDown):
		return errs.New(errs.ErrUnavailable, "watch", collection, "%v", err)
	case errors.Is(err, ErrSlowClient):
		return errs.New(errs.ErrResourceLimit, "watch", collection, "%v", err)
	case errors.Is(err, ErrTokenExpired):
		return errs.New(errs.ErrUnauthenticated, "watch", collection, "%v", err)
	}
	return classify(err, "watch", collection)
}

// gqlChangeEvent turns a hub message into a ChangeEvent.
func gqlChangeEvent(m *StreamMessage) *gql.ChangeEvent {
	ev := &gql.ChangeEvent{Position: m.Position}
	if m.Type == MsgResync || m.Event == nil {
		ev.Type = gql.ChangeTypeResync
		if m.Reason != "" {
			ev.Reason = &m.Reason
		}
		return ev
	}
	e := m.Event
	switch e.Type {
	case listeners.Modified:
		ev.Type = gql.ChangeTypeModified
	case listeners.Removed:
		ev.Type = gql.ChangeTypeRemoved
	default:
		ev.Type = gql.ChangeTypeAdded
	}
	id, path := e.ID, e.Path
	ev.ID, ev.Path = &id, &path
	if e.Type != listeners.Removed {
		ev.Data = e.Data
	}
	if !e.UpdateTime.IsZero() {
		t := e.UpdateTime
		ev.UpdateTime = &t
	}
	if !e.ReadTime.IsZero() {
		t := e.ReadTime
		ev.ReadTime = &t
	}
	return ev
}
