package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"cloud.google.com/go/firestore"
	"github.com/urfave/cli/v2"
	"google.golang.org/api/option"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/fbadmin/fbadmin/internal/errs"
	"github.com/fbadmin/fbadmin/internal/rulecheck"
	"github.com/fbadmin/fbadmin/internal/transfer"
)

// rulesCommand is the security rules command group.
func rulesCommand() *cli.Command {
	return &cli.Command{
		Name:  "rules",
		Usage: "ask Firestore's security rules what a user may do",
		Description: `Checks run on a Firestore emulator that enforces the rules: start it with
them (scripts/emulators.sh start --rules firestore.rules, or gcloud emulators
firestore start --rules=FILE). Against production only read checks run.

Examples:
   fbadmin --emulator rules check --as alice get users/alice
   fbadmin --emulator rules check --file rules-cases.yaml`,
		Subcommands: []*cli.Command{rulesCheckCommand()},
	}
}

// mismatchError reports rules checks whose outcome was not the expected one.
type mismatchError struct{ msg string }

func (e mismatchError) Error() string { return e.msg }

type rulesCheckOptions struct {
	File            string
	Op, Path        string
	Data            dataInput
	Claims          string
	Unauthenticated bool
	Expect          string
	Copy            []string
	Concurrency     int
	Keep            bool
}

func rulesCheckCommand() *cli.Command {
	return &cli.Command{
		Name:      "check",
		Usage:     "say whether the rules allow one operation (--as USER OP PATH), or run a cases file (--file)",
		ArgsUsage: "get|list|create|update|delete PATH",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "data", Aliases: []string{"d"}, Usage: "create/update: the fields, a JSON object in the lossless format"},
			&cli.StringFlag{Name: "claims", Usage: "emulator: the user's custom claims, a JSON object (the user is then the UID --as names)"},
			&cli.BoolFlag{Name: "unauthenticated", Usage: "check a request without a signed-in user"},
			&cli.StringFlag{Name: "expect", Usage: "allow or deny: exit 7 when the outcome differs"},
			&cli.StringSliceFlag{Name: "copy", Usage: "emulator, writes: also copy this document into the scratch project (one the rules read with get() or exists())"},
			&cli.StringFlag{Name: "file", Aliases: []string{"f"}, Usage: "run the cases of this YAML `FILE` (fixtures, users with claims, cases with expectations)"},
			&cli.IntFlag{Name: "concurrency", Value: 8, Usage: "--file: cases run at once"},
			&cli.BoolFlag{Name: "keep", Usage: "--file: leave the scratch projects' data on the emulator to look at"},
		},
		Description: `One operation: prints allowed or denied (with the rules' reason) and exits 0
when allowed, 6 when denied; with --expect, 0 when the outcome is the expected
one and 7 otherwise. USER is a session (auth login) or a UID; on the emulator a
UID gets an unsigned emulator ID token carrying --claims. Reads run on the
project's data; writes run in a scratch project of the emulator seeded with a
copy of the target document (and of each --copy document), so the write is
evaluated for real and no real data changes. Against production only get
and list run (with a session, or a UID with admin credentials and the Web API
key): a write check would change real data.

A cases file (emulator only) seeds its fixtures into scratch projects (one
for the read cases, one per write case), runs every case as its user,
prints one result a case, deletes the scratch data, and exits 7 when a case
did not go as expected:

   users:
     alice: {uid: alice}
     admin: {uid: root, claims: {admin: true}}
   fixtures:
     users/alice: {name: Alice}
   cases:
     - {name: owner reads, as: alice, op: get, path: users/alice, expect: allow}
     - {name: anonymous cannot, op: get, path: users/alice, expect: deny}
     - {as: alice, op: update, path: users/alice, data: {name: Al}, expect: allow}

Examples:
   fbadmin --emulator rules check --as alice get users/alice
   fbadmin --emulator rules check --as bob --claims '{"admin":true}' update users/alice --data '{"role":"x"}' --expect deny
   fbadmin --emulator rules check --unauthenticated list users
   fbadmin --emulator rules check --file rules-cases.yaml -o table
   fbadmin --as ada@example.com rules check get users/ada   # production: reads only`,
		Action: func(c *cli.Context) error {
			opts := rulesCheckOptions{File: c.String("file"), Data: dataInput{Data: c.String("data")}, Claims: c.String("claims"),
				Unauthenticated: c.Bool("unauthenticated"), Expect: c.String("expect"), Copy: c.StringSlice("copy"),
				Concurrency: c.Int("concurrency"), Keep: c.Bool("keep")}
			g := readGlobals(c)
			if opts.File != "" {
				if c.NArg() > 0 || g.As != "" || opts.Unauthenticated || opts.Data.Data != "" || opts.Claims != "" || opts.Expect != "" {
					return usagef("--file runs the cases of the file: it takes no operation, --as, --data, --claims or --expect (the cases say them)")
				}
				return withDeps(c, func(ctx context.Context, d *deps) error { return runRulesFile(ctx, opts, d) })
			}
			if c.NArg() != 2 {
				return usagef("rules check needs an operation and a path (get|list|create|update|delete PATH), or --file CASES.yaml")
			}
			opts.Op, opts.Path = c.Args().Get(0), strings.Trim(c.Args().Get(1), "/")
			if (g.As == "") == !opts.Unauthenticated {
				return usagef("say who: --as USER (a session or a UID) or --unauthenticated")
			}
			if err := rulecheck.CheckOp(opts.Op, opts.Path, opts.Data.Data != ""); err != nil {
				return usagef("%v", err)
			}
			if opts.Expect != "" && opts.Expect != rulecheck.Allow && opts.Expect != rulecheck.Deny {
				return usagef("--expect is allow or deny, got %q", opts.Expect)
			}
			return withDeps(c, func(ctx context.Context, d *deps) error { return runRulesCheck(ctx, opts, d) })
		},
	}
}

type ruleCheckRecord struct {
	As     string `json:"as"`
	Op     string `json:"op"`
	Path   string `json:"path"`
	Result string `json:"result"` // allowed or denied
	Reason string `json:"reason,omitempty"`
	Expect string `json:"expect,omitempty"`
	Where  string `json:"where"` // emulator or production
}

func runRulesCheck(ctx context.Context, opts rulesCheckOptions, d *deps) error {
	project, err := d.project()
	if err != nil {
		return err
	}
	var data map[string]any
	if opts.Data.Data != "" {
		if data, err = opts.Data.read(d.stdin); err != nil {
			return err
		}
	}
	who := d.g.As
	if opts.Unauthenticated {
		who = "(unauthenticated)"
	}
	rec := ruleCheckRecord{As: who, Op: opts.Op, Path: opts.Path, Expect: opts.Expect}
	var reqErr error
	if d.emulator() {
		rec.Where = "emulator"
		reqErr, err = d.ruleCheckEmulator(ctx, project, opts, data)
	} else {
		rec.Where = "production"
		if rulecheck.Writes(opts.Op) {
			return usagef("against production only read checks (get, list) run: a %s would change real data (hint: check writes on the emulator with the same rules: --emulator, the emulator started with --rules)", opts.Op)
		}
		if opts.Unauthenticated || opts.Claims != "" || len(opts.Copy) > 0 {
			return usagef("against production a check runs as a session or a UID (--as); --unauthenticated, --claims and --copy are for the emulator")
		}
		var client *firestore.Client
		if client, err = d.firestore(ctx); err == nil {
			reqErr = rulecheck.Do(ctx, client, opts.Op, opts.Path, nil)
			d.info("rules check: production, read only: %s %s as %s", opts.Op, opts.Path, who)
		}
	}
	if err != nil {
		return err
	}
	got, reason := rulecheck.Outcome(reqErr)
	if got == "" {
		return errs.Wrap(reqErr, opts.Op, opts.Path)
	}
	rec.Result, rec.Reason = map[string]string{rulecheck.Allow: "allowed", rulecheck.Deny: "denied"}[got], reason
	if err := d.printer().One(rec); err != nil {
		return err
	}
	switch {
	case opts.Expect != "" && got != opts.Expect:
		return mismatchError{fmt.Sprintf("rules check: %s %s as %s was %s, expected %s", opts.Op, opts.Path, who, rec.Result, opts.Expect)}
	case opts.Expect == "" && got == rulecheck.Deny:
		return &errs.Error{Kind: errs.ErrDenied, Op: opts.Op, Target: opts.Path + " as " + who, Cause: fmt.Errorf("%s", reason)}
	}
	return nil
}

// ruleCheckEmulator makes one request on the emulator as the user. Reads
// run on the project's data; writes in a scratch project seeded with
// copies of the target document and the --copy documents. It returns the
// request's error (nil when allowed) and an error when the check itself
// could not run.
func (d *deps) ruleCheckEmulator(ctx context.Context, project string, opts rulesCheckOptions, data map[string]any) (reqErr, err error) {
	host := d.firestoreEmulatorHost()
	if err := checkEmulator("Firestore", host, "FIRESTORE_EMULATOR_HOST"); err != nil {
		return nil, err
	}
	d.warnOpenRules(ctx, host)
	// Who: a session's ID token, or an unsigned emulator token for a UID.
	var token string
	if !opts.Unauthenticated {
		claims, err := parseJSONObject("claims", opts.Claims)
		if err != nil {
			return nil, err
		}
		m, err := d.sessions("")
		if err != nil {
			return nil, err
		}
		s, gerr := m.Get(d.g.As)
		switch {
		case gerr == nil && claims == nil:
			src, err := d.sessionSource(m, s)
			if err != nil {
				return nil, err
			}
			defer src.Close()
			if token, err = src.IDToken(ctx); err != nil {
				return nil, err
			}
		case gerr == nil || asNotFound(gerr):
			token = rulecheck.EmulatorIDToken(project, d.g.As, claims, time.Now())
		default:
			return nil, gerr
		}
	}
	userConn, err := rulecheck.DialUser(host, d.grpcOptions()...)
	if err != nil {
		return nil, err
	}
	defer userConn.Close()
	target := project
	if rulecheck.Writes(opts.Op) {
		owner, err := transfer.DialEmulator(host, d.grpcOptions()...)
		if err != nil {
			return nil, err
		}
		defer owner.Close()
		src, err := firestore.NewClientWithDatabase(ctx, project, d.g.Database, option.WithGRPCConn(owner))
		if err != nil {
			return nil, err
		}
		docs := map[string]map[string]any{}
		for _, p := range append([]string{opts.Path}, opts.Copy...) {
			p = strings.Trim(p, "/")
			snap, err := src.Doc(p).Get(ctx)
			if status.Code(err) == codes.NotFound {
				continue
			}
			if err != nil {
				return nil, errs.Wrap(err, "copy", p)
			}
			docs[p] = snap.Data()
		}
		target = rulecheck.ScratchProject("demo-rulecheck")
		defer rulecheck.ResetProject(host, target)
		scratch, err := firestore.NewClient(ctx, target, option.WithGRPCConn(owner))
		if err != nil {
			return nil, err
		}
		if err := rulecheck.Seed(ctx, scratch, docs); err != nil {
			return nil, err
		}
		d.info("rules check: %s evaluated in the scratch project %s of the emulator (documents copied: %d); %s is not changed", opts.Op, target, len(docs), project)
	}
	database := d.g.Database
	if target != project {
		database = "(default)"
	}
	client, err := firestore.NewClientWithDatabase(ctx, target, database, option.WithGRPCConn(userConn))
	if err != nil {
		return nil, err
	}
	if token != "" {
		ctx = rulecheck.WithToken(ctx, token)
	}
	return rulecheck.Do(ctx, client, opts.Op, opts.Path, data), nil
}

func runRulesFile(ctx context.Context, opts rulesCheckOptions, d *deps) error {
	if !d.emulator() {
		return usagef("a cases file runs on the emulator only: its fixtures and write cases need a scratch project (hint: --emulator, with the emulator started with --rules FILE; against production, check reads one by one: fbadmin --as USER rules check get PATH)")
	}
	src, err := os.ReadFile(opts.File)
	if err != nil {
		return usagef("--file: %v", err)
	}
	f, err := rulecheck.Parse(opts.File, src)
	if err != nil {
		return usageError{err}
	}
	host := d.firestoreEmulatorHost()
	if err := checkEmulator("Firestore", host, "FIRESTORE_EMULATOR_HOST"); err != nil {
		return err
	}
	d.warnOpenRules(ctx, host)
	start := time.Now()
	r := &rulecheck.Runner{Host: host, Concurrency: opts.Concurrency, Keep: opts.Keep, DialOptions: d.grpcOptions()}
	results, err := r.Run(ctx, f)
	if err != nil {
		return err
	}
	elapsed := time.Since(start)
	pr := d.printer()
	failed := 0
	for _, res := range results {
		if !res.Pass {
			failed++
		}
		if err := pr.Item(res); err != nil {
			return err
		}
	}
	if err := pr.Close(); err != nil {
		return err
	}
	for _, res := range results {
		if res.Pass {
			continue
		}
		got := res.Got
		if got == "" {
			got = "an error"
		}
		fmt.Fprintf(d.stderr, "FAIL %s: %s %s as %s: got %s, expected %s", res.Name, res.Op, res.Path, orAnonymous(res.As), got, res.Expect)
		if res.Reason != "" {
			fmt.Fprintf(d.stderr, " (%s)", res.Reason)
		}
		fmt.Fprintln(d.stderr)
	}
	d.info("rules check: %d cases, %d passed, %d failed in %.2fs", len(results), len(results)-failed, failed, elapsed.Seconds())
	if failed > 0 {
		return mismatchError{fmt.Sprintf("rules check: %d of %d cases did not go as expected", failed, len(results))}
	}
	return nil
}

func orAnonymous(as string) string {
	if as == "" {
		return "(unauthenticated)"
	}
	return as
}

// warnOpenRules warns when the emulator enforces no rules (started
// without --rules): every check would say allowed.
func (d *deps) warnOpenRules(ctx context.Context, host string) {
	if open, err := rulecheck.OpenRules(ctx, host); err == nil && open {
		fmt.Fprintf(d.stderr, "fbadmin: warning: the Firestore emulator at %s lets an unauthenticated request read a path no rule matches: it enforces no rules (started without --rules?), so every check says allowed (hint: scripts/emulators.sh start --rules firestore.rules, or gcloud emulators firestore start --rules=FILE)\n", host)
	}
}
