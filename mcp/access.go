package mcp

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/fbadmin/fbadmin/internal/errs"
	"github.com/fbadmin/fbadmin/server"
)

// collFilter is the allow and deny lists of collections. Patterns are
// matched by serve's rule engine (each pattern is a rule allowing every
// operation), so they mean exactly what a serve rule's match means.
type collFilter struct {
	allow, deny       *server.Rules
	allowSet, denySet bool
	allowText         string
	denyText          string
}

func newCollFilter(allow, deny []string) (*collFilter, error) {
	f := &collFilter{}
	var err error
	if f.allow, err = patternRules("--allow-collections", allow); err != nil {
		return nil, err
	}
	if f.deny, err = patternRules("--deny-collections", deny); err != nil {
		return nil, err
	}
	f.allowSet, f.denySet = len(allow) > 0, len(deny) > 0
	f.allowText, f.denyText = strings.Join(allow, ","), strings.Join(deny, ",")
	return f, nil
}

// patternRules validates patterns as serve's config does and returns them
// as rules that allow everything where they match.
func patternRules(flag string, patterns []string) (*server.Rules, error) {
	if len(patterns) == 0 {
		return server.NewRules(nil), nil
	}
	var rules []server.Rule
	for _, p := range patterns {
		q, _ := json.Marshal(strings.TrimSpace(p)) // a JSON string is a YAML string
		cfg, err := server.ParseConfig(flag, fmt.Appendf(nil, "rules:\n  - match: %s\n    allow: [all]\n", q))
		if err != nil {
			msg := err.Error()
			if i := strings.Index(msg, ".match: "); i >= 0 {
				msg = msg[i+len(".match: "):]
			}
			return nil, errs.New(errs.ErrInvalid, "", "", "%s %s: %s (hint: patterns are collection paths with * for one segment and ** for any number, such as users, users/*/posts, **/comments)", flag, q, msg)
		}
		rules = append(rules, cfg.Rules...)
	}
	return server.NewRules(rules), nil
}

var anyone = &server.Caller{}

// check refuses a collection (a path, or with group a collection ID)
// that the lists keep out.
func (f *collFilter) check(coll string, group bool) error {
	decide := func(rs *server.Rules) bool {
		var err error
		if group {
			_, err = rs.DecideGroup(anyone, server.OpGet, coll)
		} else {
			_, err = rs.Decide(anyone, server.OpGet, coll)
		}
		return err == nil
	}
	what := "collection " + coll
	if group {
		what = "collection group " + coll
	}
	if f.denySet && decide(f.deny) {
		return errs.New(errs.ErrPermission, "access", coll, "%s is denied to this server (--deny-collections %s)", what, f.denyText)
	}
	if f.allowSet && !decide(f.allow) {
		return errs.New(errs.ErrPermission, "access", coll, "%s is not among the allowed collections (--allow-collections %s)", what, f.allowText)
	}
	return nil
}

// access checks a Firestore operation on a collection (or, with group, a
// collection group): the allow and deny lists, then, in HTTP mode, serve's
// rules for the caller. The grant says whether the caller is limited to
// their own documents.
func (s *Server) access(c *call, op server.Op, coll string, group bool) (server.Grant, error) {
	if err := s.filter.check(coll, group); err != nil {
		return server.Grant{}, err
	}
	if s.o.Rules == nil {
		return server.Grant{}, nil
	}
	if c.caller == nil {
		return server.Grant{}, errs.New(errs.ErrUnauthenticated, string(op), coll, "no verified caller: access rules need a Firebase ID token")
	}
	if group {
		return s.o.Rules.DecideGroup(c.caller, op, coll)
	}
	return s.o.Rules.Decide(c.caller, op, coll)
}

// owns reports whether the caller may see data under the grant.
func owns(g server.Grant, c *call, data map[string]any) bool {
	if g.Owner == "" {
		return true
	}
	return c.caller != nil && g.Owns(c.caller, data)
}

// needWrites refuses writes on a read-only server.
func (s *Server) needWrites(op string) error {
	if !s.o.AllowWrites {
		return errs.New(errs.ErrPermission, op, "", "this server is read-only (hint: restart it with `fbadmin mcp --allow-writes` to allow writes)")
	}
	return nil
}

// needDestructive refuses deletes without --allow-destructive.
func (s *Server) needDestructive(op string) error {
	if err := s.needWrites(op); err != nil {
		return err
	}
	if !s.o.AllowDestructive {
		return errs.New(errs.ErrPermission, op, "", "deletes are off (hint: restart with `fbadmin mcp --allow-writes --allow-destructive`; each delete then needs a dry run and its confirmation token)")
	}
	return nil
}

// needAuthAdmin refuses Auth tools to an HTTP caller without the admin
// claim (over stdio, the operator who started the server is trusted).
func (s *Server) needAuthAdmin(c *call) error {
	if s.o.Rules == nil {
		return nil
	}
	if c.caller == nil {
		return errs.New(errs.ErrUnauthenticated, c.tool, "", "no verified caller")
	}
	if s.o.AuthClaim == "" {
		return errs.New(errs.ErrPermission, c.tool, "", "Auth tools are off over HTTP (hint: start the server with --auth-claim CLAIM to allow them to callers whose token has CLAIM: true)")
	}
	if v, ok := c.caller.Claims[s.o.AuthClaim].(bool); !ok || !v {
		return errs.New(errs.ErrPermission, c.tool, "", "the caller's token lacks the custom claim %q: true that Auth tools need", s.o.AuthClaim)
	}
	return nil
}
