package repository

import (
	"context"
	"errors"

	"cloud.google.com/go/firestore"
	"google.golang.org/api/iterator"
)

// Page is one page of a query's results.
type Page[T any] struct {
	Docs []*Doc[T]
	// Next is the token of the next page, "" after the last page.
	Next string
	// Cursors[i] is the token of the page that starts right after Docs[i]
	// (Relay-style edge cursors); the last one differs from Next only in
	// that it is set even after the last page.
	Cursors []string
}

// Page returns up to size documents of the query, starting after the page
// that token ends ("" for the first page).
//
// A token is opaque and self-contained: it holds the last document's
// order-by values (every Firestore type, losslessly) and its path, not a
// snapshot, so it stays valid in another process or after a restart, as
// long as it is used with the same query (same collection, filters, order,
// limit, project and database). A token of another query, or a damaged
// one, is ErrInvalid. Pages are consistent with the query's order: writes
// between two calls may show up in later pages, never twice.
//
// The query's Limit caps all pages together and its Offset applies to the
// first page. LimitToLast queries cannot be paged.
func (q Query[T]) Page(ctx context.Context, size int, token string) (*Page[T], error) {
	const op = "page"
	if err := q.check(); err != nil {
		return nil, err
	}
	if size <= 0 {
		return nil, invalid(op, q.target, "page size %d (want at least 1)", size)
	}
	if q.limitToLast {
		return nil, invalid(op, q.target, "LimitToLast queries cannot be paged (reverse the OrderBy and use Limit)")
	}
	hash, err := queryHash(q.q)
	if err != nil {
		return nil, wrap(err, op, q.target)
	}
	sq, err := structured(q.q)
	if err != nil {
		return nil, wrap(err, op, q.target)
	}
	orders, err := effectiveOrders(sq)
	if err != nil {
		return nil, invalid(op, q.target, "%v", err)
	}
	base, err := withOrderFieldsSelected(explicitOrders(q.q, orders))
	if err != nil {
		return nil, wrap(err, op, q.target)
	}

	run, consumed := base, 0
	if token != "" {
		t, err := decodeToken(token)
		if err != nil {
			return nil, invalid(op, q.target, "%v (pass \"\" for the first page)", err)
		}
		if t.Q != hash {
			return nil, invalid(op, q.target,
				"the page token belongs to another query (tokens only work with the query that produced them; pass \"\" to start over)")
		}
		if len(t.C) != len(orders) {
			return nil, invalid(op, q.target, "page token has %d cursor values, the query orders by %d fields", len(t.C), len(orders))
		}
		vals, err := goValues(q.client, t.C)
		if err != nil {
			return nil, invalid(op, q.target, "bad page token: %v", err)
		}
		run = run.StartAfter(vals...)
		if sq.GetOffset() > 0 {
			run = run.Offset(0)
		}
		consumed = t.N
	}

	// Read one document more than asked to know whether a next page
	// exists, unless the query's own limit ends before.
	fetch, more := size+1, true
	if l := sq.GetLimit(); l != nil {
		remaining := int(l.GetValue()) - consumed
		if remaining <= 0 {
			return &Page[T]{}, nil
		}
		if remaining <= size {
			fetch, more = remaining, false
		}
	}
	it := run.Limit(fetch).Documents(ctx)
	defer it.Stop()
	var snaps []*firestore.DocumentSnapshot
	for {
		s, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return nil, wrap(err, op, q.target)
		}
		snaps = append(snaps, s)
	}

	page := &Page[T]{}
	if more && len(snaps) > size {
		snaps = snaps[:size]
		vals, err := cursorValues(base, orders, snaps[size-1])
		if err != nil {
			return nil, invalid(op, q.target, "cannot build the next page token: %v", err)
		}
		page.Next, err = encodeToken(pageToken{V: tokenVersion, Q: hash, N: consumed + size, C: vals})
		if err != nil {
			return nil, wrap(err, op, q.target)
		}
	}
	page.Docs = make([]*Doc[T], 0, len(snaps))
	page.Cursors = make([]string, 0, len(snaps))
	for i, s := range snaps {
		vals, err := cursorValues(base, orders, s)
		if err != nil {
			return nil, invalid(op, q.target, "cannot build the page token of document %d: %v", i, err)
		}
		c, err := encodeToken(pageToken{V: tokenVersion, Q: hash, N: consumed + i + 1, C: vals})
		if err != nil {
			return nil, wrap(err, op, q.target)
		}
		page.Cursors = append(page.Cursors, c)
		d, err := decode[T](s)
		if err != nil {
			return nil, err
		}
		page.Docs = append(page.Docs, d)
	}
	return page, nil
}
