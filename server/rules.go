package server

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/fbadmin/fbadmin/internal/errs"
)

// Op is an operation that rules allow.
type Op string

// The operations. OpList covers queries, counts and aggregations, and
// change streams (WebSocket watch and GraphQL subscriptions).
const (
	OpGet    Op = "get"
	OpList   Op = "list"
	OpCreate Op = "create"
	OpUpdate Op = "update"
	OpDelete Op = "delete"
)

// opAliases expands the shorthands of Rule.Allow.
var opAliases = map[string][]Op{
	"get": {OpGet}, "list": {OpList}, "create": {OpCreate}, "update": {OpUpdate}, "delete": {OpDelete},
	"read":  {OpGet, OpList},
	"write": {OpCreate, OpUpdate, OpDelete},
	"all":   {OpGet, OpList, OpCreate, OpUpdate, OpDelete},
}

// Rule allows operations on the documents of the collections that Match
// names, to callers that hold Claims, optionally only on their own
// documents (Owner).
//
// Match is a collection path pattern of segments separated by "/": a
// literal segment, "*" for any one segment, "{uid}" for the caller's UID,
// and "**" for any number of segments (zero included), so
// "users/{uid}/notes" is the caller's own notes and "users/{uid}/**" every
// collection under the caller's user document. A collection-group query
// on ID X is allowed by rules whose Match is "**/X" or "**".
type Rule struct {
	Match string `yaml:"match"`
	// Allow lists operations: get, list, create, update, delete, or the
	// shorthands read (get, list), write (create, update, delete) and all.
	Allow []string `yaml:"allow"`
	// Claims the caller's token must carry, each with the given value (a
	// value of "*" only requires the claim to be present).
	Claims map[string]any `yaml:"claims"`
	// Owner names a field that must equal the caller's UID: documents
	// read, written or streamed must have it, queries are narrowed to it,
	// and created or replaced documents must set it to the caller's UID.
	Owner string `yaml:"owner"`

	segs []string
	ops  []string // expanded, sorted
	set  map[Op]bool
}

type ruleProblem struct{ key, msg string }

func (r *Rule) normalize() {
	r.Match = strings.Trim(strings.TrimSpace(r.Match), "/")
	r.segs = strings.Split(r.Match, "/")
	r.set = map[Op]bool{}
	for _, a := range r.Allow {
		for _, op := range opAliases[strings.ToLower(strings.TrimSpace(a))] {
			r.set[op] = true
		}
	}
	r.ops = r.ops[:0]
	for op := range r.set {
		r.ops = append(r.ops, string(op))
	}
	slices.SortFunc(r.ops, func(a, b string) int { return opOrder(Op(a)) - opOrder(Op(b)) })
}

func opOrder(op Op) int {
	return slices.Index([]Op{OpGet, OpList, OpCreate, OpUpdate, OpDelete}, op)
}

func (r *Rule) problems() []ruleProblem {
	var out []ruleProblem
	if r.Match == "" {
		out = append(out, ruleProblem{"match", "missing: a collection path pattern such as \"posts\" or \"users/{uid}/notes\""})
	}
	for _, s := range r.segs {
		switch {
		case s == "":
			out = append(out, ruleProblem{"match", fmt.Sprintf("%q has an empty segment", r.Match)})
		case s == "*" || s == "**" || s == "{uid}":
		case strings.ContainsAny(s, "*{}"):
			out = append(out, ruleProblem{"match", fmt.Sprintf("segment %q: wildcards are whole segments: *, ** or {uid}", s)})
		}
	}
	if !slices.Contains(r.segs, "**") && len(r.segs)%2 == 0 {
		out = append(out, ruleProblem{"match", fmt.Sprintf("%q names documents, not collections (a collection path has an odd number of segments)", r.Match)})
	}
	if len(r.Allow) == 0 {
		out = append(out, ruleProblem{"allow", "missing: list the operations (get, list, create, update, delete, read, write, all)"})
	}
	for _, a := range r.Allow {
		if _, ok := opAliases[strings.ToLower(strings.TrimSpace(a))]; !ok {
			out = append(out, ruleProblem{"allow", fmt.Sprintf("unknown operation %q (want get, list, create, update, delete, read, write or all)", a)})
		}
	}
	if strings.ContainsAny(r.Owner, "`") {
		out = append(out, ruleProblem{"owner", "must be a plain (dotted) field path"})
	}
	return out
}

func (r *Rule) claimsString() string {
	if len(r.Claims) == 0 {
		return "-"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(r.Claims)) {
		b, _ := json.Marshal(r.Claims[k])
		parts = append(parts, k+"="+string(b))
	}
	return strings.Join(parts, ",")
}

// matches reports whether the collection path (its segments) matches.
func (r *Rule) matches(coll []string, uid string) bool {
	return matchSegs(r.segs, coll, uid)
}

func matchSegs(pat, path []string, uid string) bool {
	for len(pat) > 0 {
		switch p := pat[0]; p {
		case "**":
			for i := 0; i <= len(path); i++ {
				if matchSegs(pat[1:], path[i:], uid) {
					return true
				}
			}
			return false
		default:
			if len(path) == 0 {
				return false
			}
			switch p {
			case "*":
			case "{uid}":
				if uid == "" || path[0] != uid {
					return false
				}
			default:
				if p != path[0] {
					return false
				}
			}
			pat, path = pat[1:], path[1:]
		}
	}
	return len(path) == 0
}

// groupMatches reports whether the rule covers every collection with the
// given ID, at any depth.
func (r *Rule) groupMatches(id string) bool {
	return r.Match == "**" || r.Match == "**/"+id || r.Match == "**/*"
}

// hasClaims reports whether the caller holds the rule's claims, naming
// the first missing one otherwise.
func (r *Rule) hasClaims(c *Caller) (bool, string) {
	for _, k := range slices.Sorted(maps.Keys(r.Claims)) {
		want := r.Claims[k]
		got, ok := c.Claims[k]
		if !ok {
			return false, k
		}
		if s, isStr := want.(string); isStr && s == "*" {
			continue
		}
		if !claimEqual(want, got) {
			return false, k
		}
	}
	return true, ""
}

// claimEqual compares a YAML value with a JSON-decoded claim: numbers by
// value whatever their Go types.
func claimEqual(want, got any) bool {
	wb, err1 := json.Marshal(want)
	gb, err2 := json.Marshal(got)
	if err1 != nil || err2 != nil {
		return reflect.DeepEqual(want, got)
	}
	var w, g any
	_ = json.Unmarshal(wb, &w)
	_ = json.Unmarshal(gb, &g)
	return reflect.DeepEqual(w, g)
}

// Caller is the authenticated user of a request.
type Caller struct {
	UID string
	// Claims are all the token's claims, custom ones included.
	Claims map[string]any
	// Expires is when the token stops being valid; change streams end then.
	Expires time.Time

	token string // the ID token of a WebSocket's caller, for re-checks; never logged
}

// Grant is what a rule allowed: unconditionally, or only on documents
// whose Owner field equals the caller's UID.
type Grant struct {
	Rule  int // index in Config.Rules
	Owner string
}

// Rules decides access. The zero value denies everything.
type Rules struct{ rules []Rule }

// NewRules returns the decision function of rules (already validated by
// the config).
func NewRules(rules []Rule) *Rules {
	rs := slices.Clone(rules)
	for i := range rs {
		if rs[i].set == nil {
			rs[i].normalize()
		}
	}
	return &Rules{rules: rs}
}

// Decide returns the grant for op on the collection at collPath (segments
// joined by "/"), or a Permission error saying what is missing. Rules are
// tried in order; the first that matches the path, allows the operation
// and whose claims the caller holds, decides.
func (rs *Rules) Decide(c *Caller, op Op, collPath string) (Grant, error) {
	coll := strings.Split(collPath, "/")
	return rs.decide(c, op, collPath, func(r *Rule) bool { return r.matches(coll, c.UID) })
}

// DecideGroup is Decide for a collection-group query on collection ID id.
func (rs *Rules) DecideGroup(c *Caller, op Op, id string) (Grant, error) {
	return rs.decide(c, op, "collection group "+id, func(r *Rule) bool { return r.groupMatches(id) })
}

func (rs *Rules) decide(c *Caller, op Op, target string, match func(*Rule) bool) (Grant, error) {
	missing := ""
	for i := range rs.rules {
		r := &rs.rules[i]
		if !r.set[op] || !match(r) {
			continue
		}
		if ok, claim := r.hasClaims(c); !ok {
			if missing == "" {
				missing = claim
			}
			continue
		}
		return Grant{Rule: i, Owner: r.Owner}, nil
	}
	if missing != "" {
		return Grant{}, errs.New(errs.ErrPermission, string(op), target, "the caller's token lacks the custom claim %q that the matching rule requires", missing)
	}
	return Grant{}, errs.New(errs.ErrPermission, string(op), target, "no rule allows %s here (access is denied by default)", op)
}

// Owns reports whether data (a decoded document) satisfies the grant's
// owner constraint for the caller: always without an owner field, else
// when the field holds the caller's UID. Other front ends over the same
// rules (fbadmin mcp) use it.
func (g Grant) Owns(c *Caller, data map[string]any) bool { return g.ownerOK(c, data) }

// ownerOK reports whether data (a decoded document) satisfies the grant's
// owner constraint for the caller.
func (g Grant) ownerOK(c *Caller, data map[string]any) bool {
	if g.Owner == "" {
		return true
	}
	v, ok := lookupField(data, g.Owner)
	if !ok {
		return false
	}
	s, isStr := v.(string)
	return isStr && s != "" && s == c.UID
}

func lookupField(data map[string]any, path string) (any, bool) {
	var cur any = data
	for _, p := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[p]; !ok {
			return nil, false
		}
	}
	return cur, true
}
