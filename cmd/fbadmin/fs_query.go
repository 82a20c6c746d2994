package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"cloud.google.com/go/firestore"
	"github.com/urfave/cli/v2"

	"github.com/fbadmin/fbadmin/internal/docpath"
	"github.com/fbadmin/fbadmin/internal/value"
	"github.com/fbadmin/fbadmin/repository"
)

// Firestore's query operators, as the flags spell them.
var operators = []string{"==", "!=", "<", "<=", ">", ">=", "in", "not-in", "array-contains", "array-contains-any"}

// condition is one parsed --where or --or clause.
type condition struct {
	Field string
	Op    string
	Value any
}

// parseCondition parses 'FIELD OP VALUE'. The value is typed JSON in the
// lossless format (30, "x", true, null, [1,2], {"$timestamp":"..."}); a
// bare word that is not JSON (alice) is taken as a string.
func parseCondition(flag, s string) (condition, error) {
	bad := func(format string, args ...any) (condition, error) {
		return condition{}, usagef("--%s %q: %s (hint: write 'FIELD OP VALUE', such as 'age >= 18' or 'tags array-contains-any [\"a\",\"b\"]')",
			flag, s, fmt.Sprintf(format, args...))
	}
	rest := strings.TrimSpace(s)
	var field string
	if strings.HasPrefix(rest, "`") {
		end := strings.Index(rest[1:], "`")
		if end < 0 {
			return bad("unclosed backquote in the field name")
		}
		field, rest = rest[1:end+1], rest[end+2:]
	} else {
		i := strings.IndexAny(rest, " \t")
		if i < 0 {
			return bad("want three parts")
		}
		field, rest = rest[:i], rest[i:]
	}
	rest = strings.TrimSpace(rest)
	i := strings.IndexAny(rest, " \t")
	if i < 0 {
		return bad("want three parts")
	}
	op, raw := rest[:i], strings.TrimSpace(rest[i:])
	known := false
	for _, o := range operators {
		if op == o {
			known = true
		}
	}
	if !known {
		return bad("unknown operator %q: use one of %s", op, strings.Join(operators, " "))
	}
	v, err := value.Decode([]byte(raw))
	if err != nil {
		if !bareWord(raw) {
			return bad("value: %v", err)
		}
		v = raw
	}
	switch op {
	case "in", "not-in", "array-contains-any":
		arr, ok := v.([]any)
		if !ok {
			return bad("%s needs a JSON array of values, such as [1, 2] or [\"a\", \"b\"]", op)
		}
		if len(arr) == 0 || len(arr) > 30 {
			return bad("%s takes 1 to 30 values, got %d", op, len(arr))
		}
	}
	if field == "" {
		return bad("empty field name")
	}
	return condition{Field: field, Op: op, Value: v}, nil
}

// bareWord reports whether s can only be meant as a string.
func bareWord(s string) bool {
	if s == "" || strings.ContainsAny(s, "{}[]\",: \t") {
		return false
	}
	c := s[0]
	return !(c == '-' || c >= '0' && c <= '9')
}

func (c condition) filter() firestore.EntityFilter {
	if c.Field == "__name__" || c.Field == "id()" {
		return firestore.PropertyPathFilter{Path: firestore.FieldPath{firestore.DocumentID}, Operator: c.Op, Value: c.Value}
	}
	return firestore.PropertyFilter{Path: c.Field, Operator: c.Op, Value: c.Value}
}

// queryFilters are the flags shared by query and count.
func queryFilterFlags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "group", Usage: "query every collection with this ID (a collection group), not one collection"},
		&cli.StringSliceFlag{Name: "where", Aliases: []string{"w"}, Usage: "filter 'FIELD OP VALUE' (repeatable, all must hold); OP: " + strings.Join(operators, " ")},
		&cli.StringSliceFlag{Name: "or", Usage: "alternative 'FIELD OP VALUE' (repeatable): at least one --or must hold, besides every --where"},
	}
}

type queryBase struct {
	Collection string
	Group      bool
	Where, Or  []string
}

func queryBaseFrom(c *cli.Context) queryBase {
	return queryBase{Collection: c.Args().First(), Group: c.Bool("group"), Where: c.StringSlice("where"), Or: c.StringSlice("or")}
}

// build makes the repository query with the filters.
func (b queryBase) build(client *firestore.Client) (repository.Query[map[string]any], error) {
	var q repository.Query[map[string]any]
	if b.Group {
		if err := docpath.CheckID(b.Collection); err != nil {
			return q, usagef("--group takes a collection ID such as comments: %v", err)
		}
		q = repository.Group[map[string]any](client, b.Collection)
	} else {
		coll, err := checkCollPath(b.Collection)
		if err != nil {
			return q, err
		}
		q = repo(client, coll).Query()
	}
	for _, w := range b.Where {
		c, err := parseCondition("where", w)
		if err != nil {
			return q, err
		}
		q = q.WhereFilter(c.filter())
	}
	if len(b.Or) > 0 {
		var alts []firestore.EntityFilter
		for _, o := range b.Or {
			c, err := parseCondition("or", o)
			if err != nil {
				return q, err
			}
			alts = append(alts, c.filter())
		}
		if len(alts) == 1 {
			q = q.WhereFilter(alts[0])
		} else {
			q = q.WhereFilter(firestore.OrFilter{Filters: alts})
		}
	}
	return q, nil
}

// ---- query

type queryOptions struct {
	queryBase
	OrderBy    []string
	Limit      int
	Select     []string
	StartAfter string
	PageSize   int
	PageToken  string
	All        bool
}

// defaultQueryLimit caps a query without --limit, --all or --page-size.
const defaultQueryLimit = 100

func fsQueryCommand() *cli.Command {
	return &cli.Command{
		Name:      "query",
		Usage:     "query a collection or a collection group",
		ArgsUsage: "COLLECTION",
		Flags: append(queryFilterFlags(),
			&cli.StringSliceFlag{Name: "order-by", Usage: "sort by `FIELD[:desc]` (repeatable); __name__ is the document ID"},
			&cli.IntFlag{Name: "limit", Aliases: []string{"n"}, Usage: "at most N documents (--all for every one; --page-size pages instead)", DefaultText: fmt.Sprint(defaultQueryLimit)},
			&cli.StringSliceFlag{Name: "select", Usage: "only these fields, comma-separated `F,G`"},
			&cli.StringFlag{Name: "start-after", Usage: "start after these order-by `VALUES` (typed JSON; an array for several --order-by fields)"},
			&cli.IntFlag{Name: "page-size", Usage: "return one page of N documents and a token for the next"},
			&cli.StringFlag{Name: "page-token", Usage: "the page to return (from the previous page's next_page_token)"},
			&cli.BoolFlag{Name: "all", Usage: "stream every matching document"},
		),
		Description: `Values are typed JSON: 18 is an integer, 18.0 a double, "18" a string, a bare
word such as alice a string; {"$timestamp":"2024-01-01T00:00:00Z"} a timestamp.
Several --where are ANDed; --or clauses form one OR group ANDed with them.
With --page-size, JSON and YAML print {"documents": [...], "next_page_token": T};
NDJSON and tables print the documents and the token on stderr.

Examples:
   fbadmin fs query users --where 'age >= 18' --where 'country == FR' --order-by age:desc --limit 10
   fbadmin fs query users --or 'role == admin' --or 'role == owner' --select name,role
   fbadmin fs query users --where 'tags array-contains-any ["go","rust"]' --all -o ndjson
   fbadmin fs query comments --group --where 'score > 3' --order-by score
   fbadmin fs query users --order-by name --page-size 50 --page-token "$TOKEN" -o json`,
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef("query needs exactly one collection (or, with --group, a collection ID)")
			}
			var sel []string
			for _, s := range c.StringSlice("select") {
				for _, f := range strings.Split(s, ",") {
					if f = strings.TrimSpace(f); f != "" {
						sel = append(sel, f)
					}
				}
			}
			opts := queryOptions{queryBase: queryBaseFrom(c), OrderBy: c.StringSlice("order-by"), Limit: c.Int("limit"),
				Select: sel, StartAfter: c.String("start-after"), PageSize: c.Int("page-size"), PageToken: c.String("page-token"), All: c.Bool("all")}
			return withDeps(c, func(ctx context.Context, d *deps) error { return runQuery(ctx, opts, d) })
		},
	}
}

func runQuery(ctx context.Context, opts queryOptions, d *deps) error {
	if opts.All && opts.PageSize > 0 {
		return usagef("--all and --page-size exclude each other")
	}
	if opts.PageToken != "" && opts.PageSize <= 0 {
		return usagef("--page-token needs --page-size")
	}
	if opts.Limit < 0 || opts.PageSize < 0 {
		return usagef("--limit and --page-size take positive numbers")
	}
	client, err := d.firestore(ctx)
	if err != nil {
		return err
	}
	q, err := opts.build(client)
	if err != nil {
		return err
	}
	for _, o := range opts.OrderBy {
		field, dir := o, firestore.Asc
		if f, suffix, ok := strings.Cut(o, ":"); ok {
			field = f
			switch strings.ToLower(suffix) {
			case "desc":
				dir = firestore.Desc
			case "asc":
			default:
				return usagef("--order-by %q: the direction is asc or desc", o)
			}
		}
		if field == "__name__" || field == "id()" {
			q = q.OrderByPath(firestore.FieldPath{firestore.DocumentID}, dir)
		} else {
			q = q.OrderBy(field, dir)
		}
	}
	if len(opts.Select) > 0 {
		q = q.Select(opts.Select...)
	}
	if opts.StartAfter != "" {
		v, err := value.Decode([]byte(opts.StartAfter))
		if err != nil {
			if !bareWord(opts.StartAfter) {
				return usagef("--start-after: %v", err)
			}
			v = opts.StartAfter
		}
		if len(opts.OrderBy) == 0 {
			return usagef("--start-after needs --order-by (the cursor values follow the sort fields)")
		}
		if arr, ok := v.([]any); ok && len(opts.OrderBy) > 1 {
			q = q.StartAfter(arr...)
		} else {
			q = q.StartAfter(v)
		}
	}
	limit := opts.Limit
	capped := false
	if limit == 0 && !opts.All && opts.PageSize == 0 {
		limit, capped = defaultQueryLimit, true
	}
	if limit > 0 {
		q = q.Limit(limit)
	}
	pr := d.printer()
	pr.Empty = "(no documents)"

	if opts.PageSize > 0 {
		page, err := q.Page(ctx, opts.PageSize, opts.PageToken)
		if err != nil {
			return err
		}
		recs := make([]docRecord, 0, len(page.Docs))
		for _, doc := range page.Docs {
			r, err := newDocRecord(doc)
			if err != nil {
				return err
			}
			recs = append(recs, r)
		}
		if d.format == "json" || d.format == "yaml" {
			return pr.One(struct {
				Documents []docRecord `json:"documents"`
				Next      string      `json:"next_page_token"`
			}{recs, page.Next})
		}
		for _, r := range recs {
			if err := pr.Item(r); err != nil {
				return err
			}
		}
		if err := pr.Close(); err != nil {
			return err
		}
		if page.Next != "" {
			fmt.Fprintf(d.stderr, "next page: --page-token %s\n", page.Next)
		}
		return nil
	}

	n := 0
	for doc, err := range q.All(ctx) {
		if err != nil {
			pr.Close()
			return err
		}
		r, err := newDocRecord(doc)
		if err != nil {
			return err
		}
		if err := pr.Item(r); err != nil {
			return err
		}
		n++
	}
	if err := pr.Close(); err != nil {
		return err
	}
	if capped && n == limit {
		d.info("showing the first %d documents: use --limit N, --all or --page-size N for more", limit)
	}
	return nil
}

// ---- count

type countOptions struct {
	queryBase
	Sum, Avg []string
}

func fsCountCommand() *cli.Command {
	return &cli.Command{
		Name:      "count",
		Usage:     "count the documents of a query, with sums and averages",
		ArgsUsage: "COLLECTION",
		Flags: append(queryFilterFlags(),
			&cli.StringSliceFlag{Name: "sum", Usage: "also sum `FIELD` (repeatable)"},
			&cli.StringSliceFlag{Name: "avg", Usage: "also average `FIELD` (repeatable)"},
		),
		Description: `Runs server-side aggregations: no document is downloaded.

Examples:
   fbadmin fs count users
   fbadmin fs count users --where 'age >= 18' --sum age --avg age -o json
   fbadmin fs count comments --group`,
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef("count needs exactly one collection (or, with --group, a collection ID)")
			}
			opts := countOptions{queryBase: queryBaseFrom(c), Sum: c.StringSlice("sum"), Avg: c.StringSlice("avg")}
			return withDeps(c, func(ctx context.Context, d *deps) error { return runCount(ctx, opts, d) })
		},
	}
}

func runCount(ctx context.Context, opts countOptions, d *deps) error {
	client, err := d.firestore(ctx)
	if err != nil {
		return err
	}
	q, err := opts.build(client)
	if err != nil {
		return err
	}
	aggs := []repository.Aggregation{repository.Count("count")}
	keys := []string{"count"}
	for i, f := range opts.Sum {
		aggs = append(aggs, repository.Sum(fmt.Sprintf("sum_%d", i), f))
		keys = append(keys, "sum("+f+")")
	}
	for i, f := range opts.Avg {
		aggs = append(aggs, repository.Avg(fmt.Sprintf("avg_%d", i), f))
		keys = append(keys, "avg("+f+")")
	}
	res, err := q.Aggregate(ctx, aggs...)
	if err != nil {
		return err
	}
	// An ordered object: count, then the sums and averages as asked.
	var b strings.Builder
	b.WriteByte('{')
	aliases := []string{"count"}
	for i := range opts.Sum {
		aliases = append(aliases, fmt.Sprintf("sum_%d", i))
	}
	for i := range opts.Avg {
		aliases = append(aliases, fmt.Sprintf("avg_%d", i))
	}
	for i, a := range aliases {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(keys[i])
		b.Write(k)
		b.WriteByte(':')
		b.Write(jsonNumber(res[a]))
	}
	b.WriteByte('}')
	return d.printer().One(json.RawMessage(b.String()))
}
