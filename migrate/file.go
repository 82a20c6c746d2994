package migrate

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/fbadmin/fbadmin/internal/errs"
	"github.com/fbadmin/fbadmin/internal/value"
	"github.com/fbadmin/fbadmin/internal/yamlconf"
)

// FileSpec is a declarative migration file, decoded strictly: unknown keys
// and values of the wrong type are errors that name the line and the key.
type FileSpec struct {
	// Description says what the migration does (shown by status and plan).
	Description string `yaml:"description"`
	// Collection is the path of the collection the migration reads (users,
	// or users/alice/posts); CollectionGroup reads every collection with
	// that ID instead. Exactly one is given.
	Collection      string `yaml:"collection"`
	CollectionGroup string `yaml:"collection_group"`
	// Where filters the documents, in the listeners' syntax; the clauses
	// are ANDed.
	Where []Filter `yaml:"where"`
	// Operations are applied to each document in order.
	Operations []Operation `yaml:"operations"`
	// Down, when given, is the explicit reverse migration that
	// `down --explicit` runs instead of restoring the journal.
	Down *DownSpec `yaml:"down"`
}

// DownSpec is a file's explicit down migration: its own target (the up
// target when left empty) and operations.
type DownSpec struct {
	Collection      string      `yaml:"collection"`
	CollectionGroup string      `yaml:"collection_group"`
	Where           []Filter    `yaml:"where"`
	Operations      []Operation `yaml:"operations"`
}

// Filter is one where clause: field, operator and value, as in the
// listeners' configuration.
type Filter struct {
	// Field is a dotted field path.
	Field string `yaml:"field"`
	// Op is one of ==, !=, <, <=, >, >=, array-contains,
	// array-contains-any, in, not-in.
	Op string `yaml:"op"`
	// Value is plain YAML or a typed form of the value format, such as
	// {$timestamp: "2026-01-01T00:00:00Z"}.
	Value any `yaml:"value"`
}

// Operation is one step applied to each document. Exactly one of its
// kinds is given; When, a CEL condition, limits it to the documents for
// which it is true.
type Operation struct {
	// Set sets fields (dotted paths) to values (plain YAML or typed
	// forms). With IfMissing, only the fields that are absent.
	Set       map[string]any `yaml:"set"`
	IfMissing bool           `yaml:"if_missing"`
	// Unset removes fields.
	Unset []string `yaml:"unset"`
	// Rename moves a field's value to another name.
	Rename *RenameOp `yaml:"rename"`
	// Transform sets a field to the value of a CEL expression.
	Transform *TransformOp `yaml:"transform"`
	// Copy writes the document, as it is at this step, to another
	// collection; Move does the same and deletes the source.
	Copy *CopyOp `yaml:"copy"`
	Move *CopyOp `yaml:"move"`
	// Delete deletes the document.
	Delete bool `yaml:"delete"`
	// When is a CEL condition: the operation applies only where it is true.
	When string `yaml:"when"`
}

// RenameOp renames field From to To (dotted paths).
type RenameOp struct {
	From string `yaml:"from"`
	To   string `yaml:"to"`
}

// TransformOp sets Field to the value of the CEL expression Expr; an
// expression that gives null removes the field.
type TransformOp struct {
	Field string `yaml:"field"`
	Expr  string `yaml:"expr"`
}

// CopyOp names a target collection and a document ID template: {id} is the
// source document's ID, {field.path} the value of a string or integer
// field.
type CopyOp struct {
	To string `yaml:"to"`
	ID string `yaml:"id"`
}

var filterOps = []string{"==", "!=", "<", "<=", ">", ">=", "array-contains", "array-contains-any", "in", "not-in"}

// idRE is the form of a migration ID: a version number, an underscore and a
// name.
var idRE = regexp.MustCompile(`^([0-9]+)_([A-Za-z0-9_.-]+)$`)

// ParseID splits a migration ID such as 0007_add_plan into its version.
func ParseID(id string) (int64, error) {
	m := idRE.FindStringSubmatch(id)
	if m == nil {
		return 0, errs.New(errs.ErrInvalid, "migration", id, "the ID must be a version number, an underscore and a name, such as 0007_add_plan")
	}
	v, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return 0, errs.New(errs.ErrInvalid, "migration", id, "version %s: %v", m[1], err)
	}
	return v, nil
}

// Checksum is the checksum of a migration file's content, as state
// records it.
func Checksum(src []byte) string {
	s := sha256.Sum256(src)
	return "sha256:" + hex.EncodeToString(s[:])
}

// ParseFile decodes and checks a declarative migration file, compiling its
// CEL expressions: every problem names the file, the line and the key.
// name is the file's path; its base name less .yaml or .yml is the ID.
func ParseFile(name string, src []byte) (*Migration, error) {
	id := strings.TrimSuffix(strings.TrimSuffix(filepath.Base(name), ".yaml"), ".yml")
	version, err := ParseID(id)
	if err != nil {
		return nil, errs.New(errs.ErrInvalid, "migration", name, "file name: the ID must be a version number, an underscore and a name, such as 0007_add_plan.yaml")
	}
	var spec FileSpec
	var up, down *plan
	err = yamlconf.Decode(name, src, &spec, nil, func(bad func(path, format string, args ...any)) {
		up = compileTarget("$", spec.Collection, spec.CollectionGroup, spec.Where, spec.Operations, bad)
		if spec.Down != nil {
			coll, group, where := spec.Down.Collection, spec.Down.CollectionGroup, spec.Down.Where
			if coll == "" && group == "" {
				coll, group = spec.Collection, spec.CollectionGroup
				if where == nil {
					where = spec.Where
				}
			}
			down = compileTarget("$.down", coll, group, where, spec.Down.Operations, bad)
		}
	})
	if err != nil {
		return nil, withLines(name, src, err)
	}
	return &Migration{ID: id, Version: version, Description: spec.Description, Checksum: Checksum(src), Source: name, up: up, down: down}, nil
}

var posRE = regexp.MustCompile(`\[(\d+):(\d+)\] `)

// withLines words the decoder's positions ([4:5]) as lines and columns.
func withLines(name string, src []byte, err error) error {
	msg := err.Error()
	if m := posRE.FindStringSubmatch(msg); m != nil {
		msg, _, _ = strings.Cut(msg, "\n") // the decoder's excerpt of the source
		key := ""
		if n, _ := strconv.Atoi(m[1]); n > 0 {
			if lines := strings.Split(string(src), "\n"); n <= len(lines) {
				if k, _, ok := strings.Cut(lines[n-1], ":"); ok {
					key = "key " + strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(k), "- ")) + ": "
				}
			}
		}
		msg = posRE.ReplaceAllString(msg, "line $1, column $2: "+key)
	}
	msg = strings.TrimPrefix(msg, "config "+name+": invalid argument: ")
	return errs.New(errs.ErrInvalid, "migration", name, "%s", msg)
}

// compileTarget checks a target and its operations and returns their plan.
func compileTarget(p, coll, group string, where []Filter, ops []Operation, bad func(path, format string, args ...any)) *plan {
	pl := &plan{collection: coll, group: group}
	switch {
	case coll == "" && group == "":
		bad(p+".collection", "required: give collection (a collection path such as users) or collection_group (a collection ID)")
	case coll != "" && group != "":
		bad(p+".collection_group", "give collection or collection_group, not both")
	case coll != "":
		if n := strings.Count(coll, "/") + 1; n%2 == 0 || strings.HasPrefix(coll, "/") || strings.HasSuffix(coll, "/") || strings.Contains(coll, "//") {
			bad(p+".collection", "%q is not a collection path (users, or users/alice/posts)", coll)
		}
	case strings.Contains(group, "/"):
		bad(p+".collection_group", "%q: a collection group is a collection ID, without /", group)
	}
	for j, w := range where {
		wp := fmt.Sprintf("%s.where[%d]", p, j)
		if w.Field == "" {
			bad(wp+".field", "required")
		}
		if !slices.Contains(filterOps, w.Op) {
			bad(wp+".op", "%q: use one of %s", w.Op, strings.Join(filterOps, " "))
		}
		v, err := yamlValue(w.Value)
		if err != nil {
			bad(wp+".value", "%v", err)
		}
		pl.where = append(pl.where, filter{field: w.Field, op: w.Op, value: v})
	}
	if len(ops) == 0 {
		bad(p+".operations", "required: list at least one operation (set, unset, rename, transform, copy, move, delete)")
	}
	for i, op := range ops {
		pl.ops = append(pl.ops, compileOp(fmt.Sprintf("%s.operations[%d]", p, i), op, bad))
	}
	return pl
}

func compileOp(p string, op Operation, bad func(path, format string, args ...any)) compiledOp {
	var kinds []string
	c := compiledOp{}
	if op.Set != nil {
		kinds = append(kinds, "set")
		c.kind = "set"
		c.ifMissing = op.IfMissing
		keys := make([]string, 0, len(op.Set))
		for k := range op.Set {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if err := checkField(k); err != nil {
				bad(p+".set", "field %q: %v", k, err)
			}
			v, err := yamlValue(op.Set[k])
			if err != nil {
				bad(p+".set."+k, "%v", err)
			}
			c.fields = append(c.fields, k)
			c.values = append(c.values, v)
		}
	} else if op.IfMissing {
		bad(p+".if_missing", "only applies to set")
	}
	if op.Unset != nil {
		kinds = append(kinds, "unset")
		c.kind = "unset"
		for j, f := range op.Unset {
			if err := checkField(f); err != nil {
				bad(fmt.Sprintf("%s.unset[%d]", p, j), "%v", err)
			}
		}
		c.fields = op.Unset
	}
	if op.Rename != nil {
		kinds = append(kinds, "rename")
		c.kind = "rename"
		for _, f := range []struct{ k, v string }{{"from", op.Rename.From}, {"to", op.Rename.To}} {
			if err := checkField(f.v); err != nil {
				bad(p+".rename."+f.k, "%v", err)
			}
		}
		c.fields = []string{op.Rename.From, op.Rename.To}
	}
	if op.Transform != nil {
		kinds = append(kinds, "transform")
		c.kind = "transform"
		if err := checkField(op.Transform.Field); err != nil {
			bad(p+".transform.field", "%v", err)
		}
		c.fields = []string{op.Transform.Field}
		prg, err := compileCEL(op.Transform.Expr, false)
		if err != nil {
			bad(p+".transform.expr", "%v", err)
		}
		c.expr = prg
	}
	for _, cp := range []struct {
		k  string
		op *CopyOp
	}{{"copy", op.Copy}, {"move", op.Move}} {
		if cp.op == nil {
			continue
		}
		kinds = append(kinds, cp.k)
		c.kind = cp.k
		if n := strings.Count(cp.op.To, "/") + 1; cp.op.To == "" || n%2 == 0 || strings.Contains(cp.op.To, "//") {
			bad(p+"."+cp.k+".to", "%q: give the target collection's path (archive, or users/alice/archive)", cp.op.To)
		}
		c.to = cp.op.To
		c.idTemplate = cp.op.ID
		if c.idTemplate == "" {
			c.idTemplate = "{id}"
		}
		if err := checkTemplate(c.idTemplate); err != nil {
			bad(p+"."+cp.k+".id", "%v", err)
		}
	}
	if op.Delete {
		kinds = append(kinds, "delete")
		c.kind = "delete"
	}
	switch len(kinds) {
	case 0:
		bad(p, "no operation: give one of set, unset, rename, transform, copy, move, delete")
	case 1:
	default:
		bad(p, "several operations in one item (%s): give one per item", strings.Join(kinds, ", "))
	}
	if op.When != "" {
		prg, err := compileCEL(op.When, true)
		if err != nil {
			bad(p+".when", "%v", err)
		}
		c.when = prg
	}
	return c
}

// checkField checks a dotted field path.
func checkField(f string) error {
	if f == "" {
		return fmt.Errorf("empty field path")
	}
	for _, s := range strings.Split(f, ".") {
		if s == "" {
			return fmt.Errorf("%q: empty segment in the dotted path", f)
		}
		if strings.HasPrefix(s, "__") && strings.HasSuffix(s, "__") {
			return fmt.Errorf("%q: names of the form __x__ are reserved by Firestore", f)
		}
	}
	return nil
}

var templateRE = regexp.MustCompile(`\{([^{}]*)\}`)

func checkTemplate(t string) error {
	if strings.Contains(t, "/") {
		return fmt.Errorf("%q: a document ID has no /", t)
	}
	for _, m := range templateRE.FindAllStringSubmatch(t, -1) {
		if m[1] != "id" {
			if err := checkField(m[1]); err != nil {
				return err
			}
		}
	}
	if s := templateRE.ReplaceAllString(t, ""); strings.ContainsAny(s, "{}") {
		return fmt.Errorf("%q: unbalanced braces (use {id} or {field})", t)
	}
	return nil
}

// yamlValue turns a YAML value into a Firestore value through the value
// format, so that typed forms ({$timestamp: ...}) work. YAML integers are
// int64, other numbers doubles.
func yamlValue(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("value %v: %v", v, err)
	}
	return value.Decode(b)
}

// LoadDir reads and checks every migration file (*.yaml, *.yml) of dir,
// ordered by version. Every file is checked before any is returned, and
// all problems come back together; two files of one version are refused.
func LoadDir(dir string) ([]*Migration, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, errs.New(errs.ErrInvalid, "migrations", dir, "no such directory (hint: create it with fbadmin migrate new NAME --dir %s)", dir)
		}
		return nil, errs.Wrap(err, "migrations", dir)
	}
	var out []*Migration
	var problems []error
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || strings.HasPrefix(n, ".") || (!strings.HasSuffix(n, ".yaml") && !strings.HasSuffix(n, ".yml")) {
			continue
		}
		p := filepath.Join(dir, n)
		src, err := os.ReadFile(p)
		if err != nil {
			problems = append(problems, errs.Wrap(err, "read", p))
			continue
		}
		m, err := ParseFile(p, src)
		if err != nil {
			problems = append(problems, err)
			continue
		}
		out = append(out, m)
	}
	switch len(problems) {
	case 0:
	case 1:
		return nil, problems[0]
	default:
		msgs := make([]string, len(problems))
		for i, p := range problems {
			msgs[i] = p.Error()
		}
		return nil, errs.New(errs.ErrInvalid, "migrations", dir, "%d files refused:\n  - %s", len(problems), strings.Join(msgs, "\n  - "))
	}
	sortMigrations(out)
	for i := 1; i < len(out); i++ {
		if out[i].Version == out[i-1].Version {
			return nil, errs.New(errs.ErrInvalid, "migrations", dir, "%s and %s have the same version %d: renumber one", out[i-1].Source, out[i].Source, out[i].Version)
		}
	}
	return out, nil
}

func sortMigrations(ms []*Migration) {
	sort.SliceStable(ms, func(i, j int) bool {
		if ms[i].Version != ms[j].Version {
			return ms[i].Version < ms[j].Version
		}
		return ms[i].ID < ms[j].ID
	})
}

// Template is the file that `fbadmin migrate new` writes.
const Template = `# Migration %s: applied in the order of the number in the file name.
# See docs/migrate.md for every operation and CEL examples.
description: %s
collection: users            # or collection_group: ID
# where:
#   - {field: active, op: "==", value: true}
operations:
  - set: {plan: free}
    if_missing: true
  # - rename: {from: name, to: displayName}
  # - unset: [legacy]
  # - transform: {field: total, expr: "double(doc.qty) * doc.price"}
  # - copy: {to: archive, id: "{id}"}
  # - delete: true
  #   when: "has(doc.deletedAt)"
`

// NewFile writes the next numbered migration file in dir, named after
// name, and returns its path.
func NewFile(dir, name string) (string, error) {
	slug := strings.Trim(regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(strings.ToLower(name), "_"), "_")
	if slug == "" {
		return "", errs.New(errs.ErrInvalid, "new migration", name, "the name needs letters or digits, such as add_plan")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", errs.Wrap(err, "new migration", dir)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", errs.Wrap(err, "new migration", dir)
	}
	var next int64 = 1
	for _, e := range entries {
		id := strings.TrimSuffix(strings.TrimSuffix(e.Name(), ".yaml"), ".yml")
		if v, err := ParseID(id); err == nil && v >= next {
			next = v + 1
		}
	}
	id := fmt.Sprintf("%04d_%s", next, slug)
	p := filepath.Join(dir, id+".yaml")
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return "", errs.Wrap(err, "new migration", p)
	}
	defer f.Close()
	if _, err := fmt.Fprintf(f, Template, id, strconv.Quote(name)); err != nil {
		return "", errs.Wrap(err, "new migration", p)
	}
	return p, f.Close()
}
