package console

import (
	"encoding/json"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/fbadmin/fbadmin/internal/docpath"
	"github.com/fbadmin/fbadmin/internal/value"
	"github.com/fbadmin/fbadmin/server"
)

// Operators are the filter operators of the query builder, those of
// Firestore.
var Operators = []string{"==", "!=", "<", "<=", ">", ">=", "in", "not-in", "array-contains", "array-contains-any"}

type filterRow struct {
	Field, Op, Value, Combine string
}

type orderRow struct {
	Field, Dir string
}

// queryForm is the query builder's state, read from and written to the
// URL, so that a query can be shared and reloaded.
type queryForm struct {
	Filters []filterRow
	Orders  []orderRow
	Limit   int
	Size    int
	Page    string
	Live    bool
	def     int // the console's default page size, left out of URLs
}

// target names what a collection view shows: a collection path, or a
// collection ID queried as a group.
type target struct {
	Path  string
	Group bool
}

func (t target) base() string {
	if t.Group {
		return "/g/" + url.PathEscape(t.Path)
	}
	return "/c/" + escapePath(t.Path)
}

func (t target) spec() server.QuerySpec {
	return server.QuerySpec{Collection: t.Path, Group: t.Group}
}

// checkTarget refuses a path that is not a collection (or a group ID with
// a slash) with a message saying what to give instead.
func checkTarget(t target) error {
	if t.Group {
		if t.Path == "" || strings.Contains(t.Path, "/") {
			return errorf("collection group %q: want a collection ID, without slashes (such as comments)", t.Path)
		}
		return nil
	}
	p, err := docpath.ParseRel(t.Path)
	if err != nil {
		return errorf("collection path %q: %v", t.Path, err)
	}
	if !p.IsCollection() {
		return errorf("%q is a document path, not a collection: open it at /d/%s", t.Path, escapePath(t.Path))
	}
	return nil
}

// parseQuery reads the query builder's parameters (TESTING.md, "Collection
// view parameters") into a form and the QuerySpec it means.
func parseQuery(q url.Values, t target, defaultSize int) (queryForm, server.QuerySpec, error) {
	f := queryForm{Size: defaultSize, def: defaultSize, Page: q.Get("page"), Live: q.Get("live") == "1"}
	spec := t.spec()
	fields, ops, vals, combs := q["f"], q["op"], q["v"], q["c"]
	at := func(l []string, i int) string {
		if i < len(l) {
			return l[i]
		}
		return ""
	}
	var firstErr error
	fail := func(err error) {
		if firstErr == nil {
			firstErr = err
		}
	}
	for i, field := range fields {
		row := filterRow{Field: strings.TrimSpace(field), Op: at(ops, i), Value: at(vals, i), Combine: at(combs, i)}
		if row.Op == "" {
			row.Op = "=="
		}
		if row.Combine == "" {
			row.Combine = "and"
		}
		if row.Field == "" {
			continue
		}
		f.Filters = append(f.Filters, row)
		if !slices.Contains(Operators, row.Op) {
			fail(errorf("filter %d on %s: unknown operator %q (want one of %s)", i+1, row.Field, row.Op, strings.Join(Operators, " ")))
			continue
		}
		raw, err := filterValue(row.Value)
		if err != nil {
			fail(errorf("filter %d on %s: value %s (write it in the value format: 18, \"FR\", [\"FR\",\"DE\"], {\"$int\":\"9007199254740993\"})", i+1, row.Field, err))
			continue
		}
		flt := server.Filter{Field: row.Field, Op: row.Op, Value: raw}
		switch row.Combine {
		case "and":
			spec.Where = append(spec.Where, flt)
		case "or":
			spec.Or = append(spec.Or, flt)
		default:
			fail(errorf("filter %d on %s: combine %q (want and or or)", i+1, row.Field, row.Combine))
		}
	}
	dirs := q["od"]
	for i, field := range q["of"] {
		field = strings.TrimSpace(field)
		if field == "" {
			continue
		}
		o := orderRow{Field: field, Dir: at(dirs, i)}
		if o.Dir == "" {
			o.Dir = "asc"
		}
		if o.Dir != "asc" && o.Dir != "desc" {
			fail(errorf("order by %s: direction %q (want asc or desc)", field, o.Dir))
		}
		f.Orders = append(f.Orders, o)
		spec.OrderBy = append(spec.OrderBy, server.Order{Field: field, Direction: o.Dir})
	}
	if s := q.Get("limit"); s != "" && s != "0" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			fail(errorf("limit %q: want a positive whole number, or 0 for none", s))
		}
		f.Limit, spec.Limit = n, n
	}
	if s := q.Get("size"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 || n > MaxPageSize {
			fail(errorf("page size %q: want a whole number from 1 to %d", s, MaxPageSize))
		} else {
			f.Size = n
		}
	}
	return f, spec, firstErr
}

// filterValue reads a filter's value: JSON in the value format, or, when
// the text is not JSON at all, the text as a string.
func filterValue(text string) (json.RawMessage, error) {
	t := strings.TrimSpace(text)
	if t == "" {
		return nil, errorf("is empty")
	}
	if !json.Valid([]byte(t)) {
		b, _ := json.Marshal(text)
		return b, nil
	}
	if _, err := value.Decode([]byte(t)); err != nil {
		return nil, err
	}
	return json.RawMessage(t), nil
}

// values writes the form back as URL parameters; page and live as given.
func (f queryForm) values(page string, live bool) url.Values {
	q := url.Values{}
	for _, r := range f.Filters {
		q.Add("f", r.Field)
		q.Add("op", r.Op)
		q.Add("v", r.Value)
		q.Add("c", r.Combine)
	}
	for _, o := range f.Orders {
		q.Add("of", o.Field)
		q.Add("od", o.Dir)
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	if f.Size != f.def {
		q.Set("size", strconv.Itoa(f.Size))
	}
	if page != "" {
		q.Set("page", page)
	}
	if live {
		q.Set("live", "1")
	}
	return q
}

func withQuery(base string, q url.Values) string {
	if len(q) == 0 {
		return base
	}
	return base + "?" + q.Encode()
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }
