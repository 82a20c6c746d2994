package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"cloud.google.com/go/firestore"
	"github.com/urfave/cli/v2"

	"github.com/fbadmin/fbadmin/internal/cliout"
	"github.com/fbadmin/fbadmin/internal/docpath"
	"github.com/fbadmin/fbadmin/internal/errs"
	"github.com/fbadmin/fbadmin/internal/transfer"
	"github.com/fbadmin/fbadmin/internal/value"
	"github.com/fbadmin/fbadmin/repository"
)

// fsCommand is the Firestore command group.
func fsCommand() *cli.Command {
	return &cli.Command{
		Name:  "fs",
		Usage: "read, write, query, export, import, copy and watch Firestore documents",
		Description: `Paths are relative to the database root: a collection ("users") or a
document ("users/alice", "users/alice/posts/p1"). Document data is JSON in
fbadmin's lossless value format: plain JSON for strings, booleans, null, maps
and arrays; {"$int":"42"} (or a bare integer), {"$double":1.5}, {"$bytes":"AAE="},
{"$timestamp":"2024-01-02T03:04:05.123456Z"}, {"$geopoint":{"latitude":1,"longitude":2}},
{"$ref":"projects/P/databases/(default)/documents/users/bob"}, {"$vector":[1,2]}.

Examples:
   fbadmin fs set users/alice --data '{"name":"Alice","age":30}'
   fbadmin fs get users/alice -o yaml
   fbadmin fs query users --where 'age >= 18' --order-by name
   fbadmin fs export users --out users.ndjson`,
		Subcommands: []*cli.Command{
			fsGetCommand(),
			fsSetCommand(),
			fsCreateCommand(),
			fsUpdateCommand(),
			fsDeleteCommand(),
			fsQueryCommand(),
			fsCountCommand(),
			fsCollectionsCommand(),
			fsExportCommand(),
			fsImportCommand(),
			fsConvertCommand(),
			fsCopyCommand(),
			fsWatchCommand(),
			fsBackupCommand(),
		},
	}
}

// docRecord is how a document is printed: the export line format.
type docRecord = transfer.Line

func newDocRecord(d *repository.Doc[map[string]any]) (docRecord, error) {
	data, err := value.EncodeMap(d.Data)
	if err != nil {
		return docRecord{}, errs.Wrap(err, "encode", d.Path)
	}
	r := docRecord{Path: d.Path, Data: data}
	if !d.CreateTime.IsZero() {
		ct, ut := d.CreateTime.UTC(), d.UpdateTime.UTC()
		r.CreateTime, r.UpdateTime = &ct, &ut
	}
	return r, nil
}

// writeRecord is how a write is printed.
type writeRecord struct {
	Path       string    `json:"path"`
	UpdateTime time.Time `json:"update_time"`
}

// splitDocPath checks a document path and splits it into its collection
// path and ID.
func splitDocPath(arg string) (coll, id string, err error) {
	p, err := parsePath(arg)
	if err != nil {
		return "", "", err
	}
	if !p.IsDocument() {
		return "", "", usagef("%q is a collection path: give a document path such as %s/ID (an even number of segments)", p, p)
	}
	return p.Parent().String(), p.ID(), nil
}

// checkCollPath checks a collection path.
func checkCollPath(arg string) (string, error) {
	p, err := parsePath(arg)
	if err != nil {
		return "", err
	}
	if p.IsDocument() {
		return "", usagef("%q is a document path: give a collection path (an odd number of segments)", p)
	}
	return p.String(), nil
}

// parsePath checks a path argument, given relative to the database or as
// a full resource name (projects/P/databases/D/documents/...); slashes
// around it are ignored. A refusal is a usage error.
func parsePath(arg string) (docpath.Path, error) {
	p, err := docpath.Parse(strings.Trim(arg, "/"))
	if err != nil {
		return p, usageError{err}
	}
	return p, nil
}

func repo(client *firestore.Client, coll string) *repository.Repository[map[string]any] {
	return repository.New[map[string]any](client, coll)
}

// dataFlags are the flags that give a document's fields.
func dataFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "data", Aliases: []string{"d"}, Usage: "document fields as a JSON object in the lossless format"},
		&cli.StringFlag{Name: "file", Aliases: []string{"f"}, Usage: "read the fields from `FILE` (- for stdin)"},
	}
}

type dataInput struct{ Data, File string }

func dataInputFrom(c *cli.Context) dataInput {
	return dataInput{Data: c.String("data"), File: c.String("file")}
}

// read parses the fields given by --data or --file.
func (in dataInput) read(stdin io.Reader) (map[string]any, error) {
	var b []byte
	src := "--data"
	switch {
	case in.Data != "" && in.File != "":
		return nil, usagef("give the fields with --data or --file, not both")
	case in.Data != "":
		b = []byte(in.Data)
	case in.File == "-":
		src = "stdin"
		var err error
		if b, err = io.ReadAll(stdin); err != nil {
			return nil, fmt.Errorf("read stdin: %w", err)
		}
	case in.File != "":
		src = in.File
		var err error
		if b, err = os.ReadFile(in.File); err != nil {
			return nil, usagef("--file: %v", err)
		}
	default:
		return nil, usagef("no fields given: pass --data '{\"field\": \"value\"}' or --file FILE")
	}
	m, err := value.DecodeMap(b)
	if err != nil {
		return nil, usagef("%s: %v (hint: fields are a JSON object in the lossless format, see 'fbadmin fs --help')", src, err)
	}
	return m, nil
}

// ---- get

type getOptions struct{ Paths []string }

func fsGetCommand() *cli.Command {
	return &cli.Command{
		Name:      "get",
		Usage:     "print documents",
		ArgsUsage: "PATH...",
		Description: `Prints each document with its path, fields (lossless JSON) and times.
A missing document is an error (exit 4) naming it; the others are still printed.

Examples:
   fbadmin fs get users/alice
   fbadmin fs get users/alice users/bob -o ndjson
   fbadmin fs get users/alice -o json | jq .data.name`,
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return usagef("get needs at least one document path")
			}
			opts := getOptions{Paths: c.Args().Slice()}
			return withDeps(c, func(ctx context.Context, d *deps) error { return runGet(ctx, opts, d) })
		},
	}
}

func runGet(ctx context.Context, opts getOptions, d *deps) error {
	type ref struct{ coll, id string }
	refs := make([]ref, len(opts.Paths))
	for i, p := range opts.Paths {
		coll, id, err := splitDocPath(p)
		if err != nil {
			return err
		}
		refs[i] = ref{coll, id}
	}
	client, err := d.firestore(ctx)
	if err != nil {
		return err
	}
	pr := d.printer()
	var missing []string
	for _, r := range refs {
		doc, err := repo(client, r.coll).Get(ctx, r.id)
		if errors.Is(err, repository.ErrNotFound) {
			missing = append(missing, r.coll+"/"+r.id)
			continue
		}
		if err != nil {
			return err
		}
		rec, err := newDocRecord(doc)
		if err != nil {
			return err
		}
		if len(refs) == 1 {
			return pr.One(rec)
		}
		if err := pr.Item(rec); err != nil {
			return err
		}
	}
	if len(refs) > 1 {
		if err := pr.Close(); err != nil {
			return err
		}
	}
	if len(missing) > 0 {
		return errs.New(errs.ErrNotFound, "get", strings.Join(missing, ", "), "no such document")
	}
	return nil
}

// ---- set

type setOptions struct {
	Path  string
	Input dataInput
	Merge bool
}

func fsSetCommand() *cli.Command {
	return &cli.Command{
		Name:      "set",
		Usage:     "write a document, replacing it (or merging with --merge)",
		ArgsUsage: "PATH",
		Flags: append(dataFlags(),
			&cli.BoolFlag{Name: "merge", Usage: "merge the fields into the existing document (nested maps merge too) instead of replacing it"},
		),
		Description: `Examples:
   fbadmin fs set users/alice --data '{"name":"Alice","age":30,"joined":{"$timestamp":"2024-01-02T00:00:00Z"}}'
   fbadmin fs set users/alice --merge --data '{"age":31}'
   cat alice.json | fbadmin fs set users/alice --file -`,
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef("set needs exactly one document path")
			}
			opts := setOptions{Path: c.Args().First(), Input: dataInputFrom(c), Merge: c.Bool("merge")}
			return withDeps(c, func(ctx context.Context, d *deps) error { return runSet(ctx, opts, d) })
		},
	}
}

func runSet(ctx context.Context, opts setOptions, d *deps) error {
	coll, id, err := splitDocPath(opts.Path)
	if err != nil {
		return err
	}
	data, err := opts.Input.read(d.stdin)
	if err != nil {
		return err
	}
	client, err := d.firestore(ctx)
	if err != nil {
		return err
	}
	var setOpts []firestore.SetOption
	if opts.Merge {
		setOpts = append(setOpts, firestore.MergeAll)
	}
	wr, err := repo(client, coll).Set(ctx, id, data, setOpts...)
	if err != nil {
		return err
	}
	return d.printer().One(writeRecord{Path: wr.Path, UpdateTime: wr.UpdateTime.UTC()})
}

// ---- create

type createOptions struct {
	Path  string
	Input dataInput
}

func fsCreateCommand() *cli.Command {
	return &cli.Command{
		Name:      "create",
		Usage:     "create a document; fails if it exists (a collection path gets an automatic ID)",
		ArgsUsage: "PATH_OR_COLLECTION",
		Flags:     dataFlags(),
		Description: `With a document path, fails (exit 5) if the document exists. With a
collection path, creates a document with a new automatic ID and prints its path.

Examples:
   fbadmin fs create users/carol --data '{"name":"Carol"}'
   fbadmin fs create logs --data '{"msg":"hello"}' -o json | jq -r .path`,
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef("create needs exactly one document or collection path")
			}
			opts := createOptions{Path: c.Args().First(), Input: dataInputFrom(c)}
			return withDeps(c, func(ctx context.Context, d *deps) error { return runCreate(ctx, opts, d) })
		},
	}
}

func runCreate(ctx context.Context, opts createOptions, d *deps) error {
	p, err := parsePath(opts.Path)
	if err != nil {
		return err
	}
	data, err := opts.Input.read(d.stdin)
	if err != nil {
		return err
	}
	client, err := d.firestore(ctx)
	if err != nil {
		return err
	}
	var wr *repository.WriteResult
	if p.IsDocument() {
		wr, err = repo(client, p.Parent().String()).Create(ctx, p.ID(), data)
	} else {
		wr, err = repo(client, p.String()).Add(ctx, data)
	}
	if err != nil {
		return err
	}
	return d.printer().One(writeRecord{Path: wr.Path, UpdateTime: wr.UpdateTime.UTC()})
}

// ---- update

type updateOptions struct {
	Path            string
	Input           dataInput
	IfUpdateTime    string
	DeleteFields    []string
	ServerTimestamp []string
}

func fsUpdateCommand() *cli.Command {
	return &cli.Command{
		Name:      "update",
		Usage:     "update fields of an existing document",
		ArgsUsage: "PATH",
		Flags: append(dataFlags(),
			&cli.StringFlag{Name: "if-update-time", Usage: "only if the document's update time is still `TIME` (RFC 3339, as printed by get); else exit 5"},
			&cli.StringSliceFlag{Name: "delete-field", Usage: "remove `FIELD` (repeatable)"},
			&cli.StringSliceFlag{Name: "server-timestamp", Usage: "set `FIELD` to the server's time (repeatable)"},
		),
		Description: `Each key of the data is a field path: "a.b" updates field b of map a and
leaves a's other fields alone. A missing document is an error (exit 4).

Examples:
   fbadmin fs update users/alice --data '{"age":31,"address.city":"Paris"}'
   fbadmin fs update users/alice --data '{"age":32}' --if-update-time 2024-05-01T10:00:00.123456Z
   fbadmin fs update users/alice --delete-field nickname --server-timestamp seen`,
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef("update needs exactly one document path")
			}
			opts := updateOptions{Path: c.Args().First(), Input: dataInputFrom(c), IfUpdateTime: c.String("if-update-time"),
				DeleteFields: c.StringSlice("delete-field"), ServerTimestamp: c.StringSlice("server-timestamp")}
			return withDeps(c, func(ctx context.Context, d *deps) error { return runUpdate(ctx, opts, d) })
		},
	}
}

func runUpdate(ctx context.Context, opts updateOptions, d *deps) error {
	coll, id, err := splitDocPath(opts.Path)
	if err != nil {
		return err
	}
	var updates []firestore.Update
	if opts.Input.Data != "" || opts.Input.File != "" || (len(opts.DeleteFields) == 0 && len(opts.ServerTimestamp) == 0) {
		data, err := opts.Input.read(d.stdin)
		if err != nil {
			return err
		}
		for k, v := range data {
			updates = append(updates, firestore.Update{Path: k, Value: v})
		}
	}
	for _, f := range opts.DeleteFields {
		updates = append(updates, firestore.Update{Path: f, Value: firestore.Delete})
	}
	for _, f := range opts.ServerTimestamp {
		updates = append(updates, firestore.Update{Path: f, Value: firestore.ServerTimestamp})
	}
	if len(updates) == 0 {
		return usagef("nothing to update: the data is empty")
	}
	var pre []firestore.Precondition
	if opts.IfUpdateTime != "" {
		t, err := time.Parse(time.RFC3339Nano, opts.IfUpdateTime)
		if err != nil {
			return usagef("--if-update-time %q: want an RFC 3339 time such as 2024-05-01T10:00:00.123456Z", opts.IfUpdateTime)
		}
		pre = append(pre, firestore.LastUpdateTime(t))
	}
	client, err := d.firestore(ctx)
	if err != nil {
		return err
	}
	wr, err := repo(client, coll).Update(ctx, id, updates, pre...)
	if err != nil {
		return err
	}
	return d.printer().One(writeRecord{Path: wr.Path, UpdateTime: wr.UpdateTime.UTC()})
}

// ---- delete

type deleteOptions struct {
	Paths       []string
	Recursive   bool
	DryRun      bool
	Yes         bool
	Resume      bool
	Concurrency int
	// Shard, Shards and ReadTime select one part of a sharded delete.
	Shard    string
	Shards   int
	ReadTime string
	// Flow is the flow control (fs_flow.go).
	Flow flowOptions
}

func fsDeleteCommand() *cli.Command {
	return &cli.Command{
		Name:      "delete",
		Usage:     "delete documents, or whole trees with --recursive",
		ArgsUsage: "PATH...",
		Flags: append([]cli.Flag{
			&cli.BoolFlag{Name: "recursive", Aliases: []string{"r"}, Usage: "delete everything below each path too (required for collections)"},
			&cli.BoolFlag{Name: "dry-run", Usage: "print the paths that would be deleted, delete nothing"},
			&cli.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: "do not ask for confirmation"},
			&cli.BoolFlag{Name: "resume", Usage: "finish a recursive delete that was interrupted"},
			&cli.IntFlag{Name: "concurrency", Value: 16, Usage: "batches of 500 deletes in flight"},
			&cli.StringFlag{Name: "shard", Usage: "with --recursive: delete only part `K/N` (from 0), or auto (a Kubernetes Indexed Job's or Cloud Run job's task); needs --read-time"},
			&cli.IntFlag{Name: "shards", Usage: "with --shard auto in a Kubernetes Indexed Job: the job's `N` completions"},
			&cli.StringFlag{Name: "read-time", Usage: "with --shard: the `TIME` every shard plans and reads names at (RFC 3339); documents created later are left"},
		}, flowFlags()...),
		Description: `Asks for confirmation on a terminal; elsewhere --yes is required. A recursive
delete reads every document below the paths (subcollections at any depth,
including under documents that do not exist) with parallel queries and deletes
them in parallel batches. Interrupted (Ctrl-C), or cut off from the backend
for longer than its retries last (about 16 seconds), it stops and prints the
command that finishes the job (--resume).

Examples:
   fbadmin fs delete users/alice
   fbadmin fs delete users --recursive --dry-run
   fbadmin fs delete users/alice users/bob --recursive --yes
   fbadmin fs delete users --recursive --yes --resume
   fbadmin fs delete logs --recursive --yes --shard 1/8 --read-time 2026-12-05T10:00:00Z

Sharding: N processes (the tasks of a Kubernetes Indexed Job or a Cloud Run
job, see deploy/) each delete one disjoint part with --shard K/N or auto, all
at the same --read-time; each keeps its own journal, so a failed shard is
rerun alone with --resume. Documents created after the read time are left: a
last unsharded run deletes them.`,
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return usagef("delete needs at least one path")
			}
			opts := deleteOptions{Paths: c.Args().Slice(), Recursive: c.Bool("recursive"), DryRun: c.Bool("dry-run"),
				Yes: c.Bool("yes"), Resume: c.Bool("resume"), Concurrency: c.Int("concurrency"),
				Shard: c.String("shard"), Shards: c.Int("shards"), ReadTime: c.String("read-time"), Flow: flowOptionsOf(c)}
			return withDeps(c, func(ctx context.Context, d *deps) error { return runDelete(ctx, opts, d) })
		},
	}
}

func runDelete(ctx context.Context, opts deleteOptions, d *deps) error {
	limitMemory()
	var rels []string
	for _, arg := range opts.Paths {
		p, err := parsePath(arg)
		if err != nil {
			return err
		}
		if !opts.Recursive && !p.IsDocument() {
			return usagef("%s is a collection: add --recursive to delete it with all its documents", p)
		}
		rels = append(rels, p.String())
	}
	if opts.Resume && !opts.Recursive {
		return usagef("--resume goes with --recursive")
	}
	shard, err := transfer.ParseShard(opts.Shard, opts.Shards, nil)
	if err != nil {
		return usageError{fmt.Errorf("--shard: %w", err)}
	}
	rt, err := parseReadTime(opts.ReadTime)
	if err != nil {
		return err
	}
	var shardArgs []string // repeated in the commands printed to finish the job
	switch {
	case !shard.Whole() && !opts.Recursive:
		return usagef("--shard goes with --recursive")
	case !shard.Whole() && rt.IsZero():
		return usagef("--shard %s: give every shard the same --read-time (such as the job's start), so that they cut the data the same way", opts.Shard)
	case shard.Whole() && !rt.IsZero():
		return usagef("--read-time goes with --shard: an unsharded delete reads the latest state")
	case !shard.Whole():
		shardArgs = []string{"--shard", shard.String(), "--read-time", rt.UTC().Truncate(time.Microsecond).Format(time.RFC3339Nano)}
	}
	flow, err := opts.Flow.parse(shard.N)
	if err != nil {
		return err
	}
	shardArgs = append(shardArgs, opts.Flow.args()...)
	if d.g.As != "" && !opts.Recursive && !opts.DryRun {
		return deleteAsUser(ctx, rels, opts.Yes, d)
	}
	db, err := d.transferDB(ctx)
	if err != nil {
		return err
	}
	what := strings.Join(rels, ", ")
	if opts.Recursive {
		what += " and everything below"
	}
	if !opts.DryRun && !opts.Resume {
		if err := d.confirm(opts.Yes, fmt.Sprintf("delete %s in %s?", what, db.Name())); err != nil {
			return err
		}
	}
	label := "delete"
	if opts.DryRun {
		label = "delete (dry run)"
	}
	pr := d.printer()
	var failures failureLog
	failures.init(d, "delete")
	var onPath func(string)
	if opts.DryRun {
		onPath = func(p string) { pr.Item(map[string]string{"path": p}) } // called one at a time
	}
	if !opts.DryRun {
		var stopped string
		if opts.Recursive {
			stopped = "delete stopped at once; to finish, run: " + d.command(append(append(append([]string{"fs", "delete"}, rels...), "--recursive", "--yes", "--resume"), shardArgs...)...)
		}
		defer d.onInterrupt(ctx, "delete: interrupted: finishing the batches in flight... (Ctrl-C again to stop at once; --resume finishes the job either way)", stopped)()
	}
	prog := d.progress(label)
	st, err := transfer.Delete(ctx, db, transfer.DeleteOptions{
		Paths: rels, Recursive: opts.Recursive, DryRun: opts.DryRun, Resume: opts.Resume,
		Concurrency: opts.Concurrency, Progress: prog, OnFailure: failures.add, OnPath: onPath, Shard: shard, ReadTime: rt, Flow: flow,
	})
	prog.Finish()
	if opts.DryRun {
		if cerr := pr.Close(); err == nil {
			err = cerr
		}
	}
	failures.flush()
	verb := "deleted"
	if opts.DryRun {
		verb = "would be deleted"
	}
	if st.Docs > 0 || err == nil {
		summary := summaryLine(label, verb, st)
		if st.Resumed > 0 {
			summary += fmt.Sprintf(" (%d more before the interruption)", st.Resumed)
		}
		d.info("%s", summary)
	}
	if err != nil {
		resumeCmd := d.command(append(append(append([]string{"fs", "delete"}, rels...), "--recursive", "--yes", "--resume"), shardArgs...)...)
		if interrupted(ctx) && opts.Recursive && !opts.DryRun {
			return interruptedError{fmt.Sprintf("delete interrupted after %d documents; to finish, run: %s", st.Docs, resumeCmd)}
		}
		if errors.Is(err, transfer.ErrNothingToResume) {
			return fmt.Errorf("%w (hint: to delete what is there, run: %s)", err,
				d.command(append(append(append([]string{"fs", "delete"}, rels...), "--recursive", "--yes"), shardArgs...)...))
		}
		if opts.Recursive && !opts.DryRun && ctx.Err() == nil && errs.KindOf(err) == errs.ErrUnavailable {
			// The backend stayed unreachable through every retry; the
			// job's state file says what is left to do.
			return fmt.Errorf("delete stopped after %d documents: %w (hint: once the backend answers again, finish with: %s)",
				st.Docs, err, resumeCmd)
		}
		return err
	}
	if !opts.DryRun {
		d.doneDespite(ctx, "delete")
	}
	if st.Failed > 0 {
		return partialError{fmt.Errorf("delete: %d documents could not be deleted", st.Failed)}
	}
	return nil
}

func summaryLine(label, verb string, st transfer.Stats) string {
	return cliout.Summary(label, verb, st.Docs, st.Skipped, st.Failed, st.Bytes, st.Elapsed)
}

// failureLog prints per-document failures on stderr, the first 20 in full.
type failureLog struct {
	d      *deps
	label  string
	n      int
	exists int // of which the document already existed
}

const maxFailureLines = 20

func (f *failureLog) init(d *deps, label string) { f.d, f.label = d, label }

func (f *failureLog) add(fl transfer.Failure) {
	f.n++
	if errs.KindOf(fl.Err) == errs.ErrAlreadyExists {
		f.exists++
	}
	if f.n > maxFailureLines {
		return
	}
	var le *transfer.LineError
	switch {
	case errors.As(fl.Err, &le):
		fmt.Fprintf(f.d.stderr, "%s: %v\n", f.label, fl.Err)
	case fl.Line > 0:
		fmt.Fprintf(f.d.stderr, "%s: line %d: %v\n", f.label, fl.Line, fl.Err)
	default:
		fmt.Fprintf(f.d.stderr, "%s: %v\n", f.label, fl.Err)
	}
}

func (f *failureLog) flush() {
	if f.n > maxFailureLines {
		fmt.Fprintf(f.d.stderr, "%s: ... and %d more failures\n", f.label, f.n-maxFailureLines)
	}
}

// ---- collections

type collectionsOptions struct{ Doc string }

func fsCollectionsCommand() *cli.Command {
	return &cli.Command{
		Name:      "collections",
		Usage:     "list the top-level collections, or those of a document",
		ArgsUsage: "[DOC_PATH]",
		Description: `Lists collection IDs; under a document, that document need not exist itself.

Examples:
   fbadmin fs collections
   fbadmin fs collections users/alice -o ndjson`,
		Action: func(c *cli.Context) error {
			if c.NArg() > 1 {
				return usagef("collections takes at most one document path")
			}
			opts := collectionsOptions{Doc: c.Args().First()}
			return withDeps(c, func(ctx context.Context, d *deps) error { return runCollections(ctx, opts, d) })
		},
	}
}

type collectionRecord struct {
	ID   string `json:"id"`
	Path string `json:"path"`
}

func runCollections(ctx context.Context, opts collectionsOptions, d *deps) error {
	doc := ""
	if opts.Doc != "" {
		coll, id, err := splitDocPath(opts.Doc)
		if err != nil {
			return err
		}
		doc = coll + "/" + id
	}
	db, err := d.transferDB(ctx)
	if err != nil {
		return err
	}
	ids, err := db.CollectionIDs(ctx, doc)
	if err != nil {
		return err
	}
	pr := d.printer()
	pr.Empty = "(no collections)"
	for _, id := range ids {
		p := id
		if doc != "" {
			p = doc + "/" + id
		}
		if err := pr.Item(collectionRecord{ID: id, Path: p}); err != nil {
			return err
		}
	}
	return pr.Close()
}

// jsonNumber renders an aggregate for output.
func jsonNumber(n repository.Number) json.RawMessage {
	if n.IsNull() {
		return json.RawMessage("null")
	}
	if v, ok := n.Int64(); ok && n.IsInt() {
		return json.RawMessage(fmt.Sprint(v))
	}
	f, _ := n.Float64()
	b, err := json.Marshal(f)
	if err != nil { // NaN, Inf
		return json.RawMessage(fmt.Sprintf("%q", fmt.Sprint(f)))
	}
	return b
}

// deleteAsUser deletes documents one by one as the --as user, so that a
// document the security rules protect stops the command with a denial
// (exit 6) rather than a failure in a batch.
func deleteAsUser(ctx context.Context, rels []string, yes bool, d *deps) error {
	client, err := d.firestore(ctx)
	if err != nil {
		return err
	}
	if err := d.confirm(yes, fmt.Sprintf("delete %s as %s?", strings.Join(rels, ", "), d.g.As)); err != nil {
		return err
	}
	for _, p := range rels {
		if _, err := client.Doc(p).Delete(ctx); err != nil {
			return errs.Wrap(err, "delete", p)
		}
	}
	d.info("delete: %d documents deleted as %s", len(rels), d.as.label)
	return nil
}
