package migrate

import (
	"fmt"
	"strconv"
	"strings"

	"cloud.google.com/go/firestore"
	"github.com/google/cel-go/cel"

	"github.com/fbadmin/fbadmin/internal/errs"
	"github.com/fbadmin/fbadmin/internal/value"
)

// plan is a compiled declarative target and its operations.
type plan struct {
	collection, group string
	where             []filter
	ops               []compiledOp
}

type filter struct {
	field, op string
	value     any
}

type compiledOp struct {
	kind       string
	fields     []string
	values     []any
	ifMissing  bool
	expr       cel.Program
	when       cel.Program
	to         string
	idTemplate string
}

// query returns the plan's query.
func (p *plan) query(c *firestore.Client) firestore.Query {
	var q firestore.Query
	if p.collection != "" {
		q = c.Collection(p.collection).Query
	} else {
		q = c.CollectionGroup(p.group).Query
	}
	for _, w := range p.where {
		q = q.Where(w.field, w.op, w.value)
	}
	return q
}

// outcome is what the operations do to one document: its new data (nil
// when deleted) and the documents they copy it to.
type outcome struct {
	data    map[string]any
	deleted bool
	copies  []copyOut
}

type copyOut struct {
	path string
	data map[string]any
}

// apply runs the operations on a copy of data, the document at path
// (relative), in a database whose documents' names start with root.
func (p *plan) apply(path, root string, data map[string]any) (outcome, error) {
	doc := deepCopy(data).(map[string]any)
	var out outcome
	for i, op := range p.ops {
		if out.deleted {
			break
		}
		if op.when != nil {
			v, err := evalCEL(op.when, path, doc)
			if err != nil {
				return out, opErr(i, op, path, err)
			}
			b, ok := v.(bool)
			if !ok {
				return out, opErr(i, op, path, fmt.Errorf("when gave %s, not a bool", describe(v)))
			}
			if !b {
				continue
			}
		}
		switch op.kind {
		case "set":
			for j, f := range op.fields {
				if op.ifMissing {
					if _, ok := getField(doc, f); ok {
						continue
					}
				}
				setField(doc, f, deepCopy(op.values[j]))
			}
		case "unset":
			for _, f := range op.fields {
				unsetField(doc, f)
			}
		case "rename":
			if v, ok := getField(doc, op.fields[0]); ok {
				unsetField(doc, op.fields[0])
				setField(doc, op.fields[1], v)
			}
		case "transform":
			v, err := evalCEL(op.expr, path, doc)
			if err != nil {
				return out, opErr(i, op, path, err)
			}
			fixRefs(v, root)
			if v == nil {
				unsetField(doc, op.fields[0])
			} else {
				setField(doc, op.fields[0], v)
			}
		case "copy", "move":
			id, err := expandID(op.idTemplate, path, doc)
			if err != nil {
				return out, opErr(i, op, path, err)
			}
			out.copies = append(out.copies, copyOut{path: op.to + "/" + id, data: deepCopy(doc).(map[string]any)})
			if op.kind == "move" {
				out.deleted = true
			}
		case "delete":
			out.deleted = true
		}
	}
	if !out.deleted {
		out.data = doc
	}
	return out, nil
}

func opErr(i int, op compiledOp, path string, err error) error {
	return errs.New(errs.ErrInvalid, fmt.Sprintf("operations[%d] (%s)", i, op.kind), path, "%v", err)
}

func describe(v any) string {
	b, err := value.Encode(v)
	if err != nil {
		return fmt.Sprintf("%T", v)
	}
	return string(b)
}

// expandID fills an ID template.
func expandID(t, path string, doc map[string]any) (string, error) {
	var err error
	id := templateRE.ReplaceAllStringFunc(t, func(m string) string {
		f := m[1 : len(m)-1]
		if f == "id" {
			return path[strings.LastIndexByte(path, '/')+1:]
		}
		v, ok := getField(doc, f)
		switch x := v.(type) {
		case string:
			return x
		case int64:
			return strconv.FormatInt(x, 10)
		}
		if !ok {
			err = fmt.Errorf("ID template %q: field %s is missing", t, f)
		} else if err == nil {
			err = fmt.Errorf("ID template %q: field %s is %s, not a string or integer", t, f, describe(v))
		}
		return ""
	})
	if err == nil && (id == "" || strings.Contains(id, "/")) {
		err = fmt.Errorf("ID template %q gave %q, not a document ID", t, id)
	}
	return id, err
}

// fixRefs completes references made by ref() in CEL with the database's
// root.
func fixRefs(v any, root string) {
	switch x := v.(type) {
	case *firestore.DocumentRef:
		if !strings.HasPrefix(x.Path, "projects/") {
			x.Path = root + "/" + x.Path
		}
	case map[string]any:
		for _, e := range x {
			fixRefs(e, root)
		}
	case []any:
		for _, e := range x {
			fixRefs(e, root)
		}
	}
}

func getField(doc map[string]any, f string) (any, bool) {
	segs := strings.Split(f, ".")
	m := doc
	for i, s := range segs {
		v, ok := m[s]
		if !ok {
			return nil, false
		}
		if i == len(segs)-1 {
			return v, true
		}
		if m, ok = v.(map[string]any); !ok {
			return nil, false
		}
	}
	return nil, false
}

func setField(doc map[string]any, f string, v any) {
	segs := strings.Split(f, ".")
	m := doc
	for _, s := range segs[:len(segs)-1] {
		next, ok := m[s].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[s] = next
		}
		m = next
	}
	m[segs[len(segs)-1]] = v
}

func unsetField(doc map[string]any, f string) {
	segs := strings.Split(f, ".")
	m := doc
	for _, s := range segs[:len(segs)-1] {
		next, ok := m[s].(map[string]any)
		if !ok {
			return
		}
		m = next
	}
	delete(m, segs[len(segs)-1])
}

// deepCopy copies maps and lists; other values are immutable or copied by
// value where it matters ([]byte is copied too).
func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = deepCopy(e)
		}
		return l
	case []byte:
		return append([]byte(nil), x...)
	}
	return v
}
