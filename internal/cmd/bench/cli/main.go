// Command cli is the benchmark of the fbadmin command line, run by
// "scripts/bench.sh cli": on the Firestore emulator, in one run, it times
// the fbadmin binary's export, import, recursive delete and start-up beside
// the raw SDK ceilings (parallel batched commits of 500; one query stream
// at a time) and beside the npm peers pinned in emulator/package-lock.json
// (firestore-backfire for export and import, firebase-tools for recursive
// delete and start-up). With -large it also measures the peak RSS of an
// export and an import of 1,000,000 small documents, on a private emulator
// it starts with a larger heap (a million documents would exhaust a shared
// emulator's heap).
//
// Every figure is a whole process as a user waits for it (start-up
// included), except the raw ceilings, which run in this process. fbadmin
// and the raw ceilings are measured in -rounds interleaved rounds, after an
// untimed warm-up round and in alternating order, and their medians
// reported (the machine is shared; the *_vs_raw ratios are the medians of
// the rounds' ratios); the peers, much slower, run once. fbadmin's import is timed with --mode set, the raw ceiling's write
// (plain sets); its default create mode is reported beside it
// (fbadmin_import_create_docs_per_s). The last
// line of stdout is one JSON object with the figures and the ratios
// export_vs_raw, import_vs_raw, export_vs_backfire, import_vs_backfire,
// delete_vs_firebase_tools and startup_vs_firebase (fbadmin's speed divided
// by the other's: higher is better).
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"cloud.google.com/go/firestore"
	"github.com/fbadmin/fbadmin/internal/emutest"
	"golang.org/x/sync/errgroup"
	"google.golang.org/api/iterator"
)

type config struct {
	n         int
	large     bool
	largeN    int
	largeHeap string
	host      string
	root      string // module root
	peers     string // folder holding node_modules with the peers
	skipPeers bool
	keep      bool
	rounds    int
	// startupRuns is how many times "fbadmin version" runs (firebase
	// --version runs a fifth as often, at least 5 times).
	startupRuns int
	startupOnly bool
}

// Three levels: top/T/mid/M/leaf/L.
const (
	topColl  = "bench"
	midColl  = "mid"
	leafColl = "leaf"
	tops     = 20
	midsEach = 20
)

func main() {
	var c config
	flag.IntVar(&c.n, "n", 20000, "documents in the three-level tree")
	flag.BoolVar(&c.large, "large", false, "also measure peak RSS of export and import of -large-n documents")
	flag.IntVar(&c.largeN, "large-n", 1000000, "documents for the -large RSS runs")
	flag.StringVar(&c.largeHeap, "large-heap", "10g", "Java heap of the private emulator of the -large runs")
	flag.StringVar(&c.host, "emulator", "", "Firestore emulator host (default: FIRESTORE_EMULATOR_HOST or 127.0.0.1:8080)")
	flag.StringVar(&c.peers, "peers", "", "folder whose node_modules holds firebase-tools and firestore-backfire (default: emulator/ of the module)")
	flag.BoolVar(&c.skipPeers, "skip-peers", false, "skip the npm peers (quick runs)")
	flag.BoolVar(&c.keep, "keep", false, "keep the work folder")
	flag.IntVar(&c.rounds, "rounds", 7, "rounds of the fbadmin and raw measurements (the median is reported)")
	flag.BoolVar(&c.startupOnly, "startup-only", false, "measure only the start-up times (fbadmin version, firebase --version)")
	flag.IntVar(&c.startupRuns, "startup-runs", 51, "runs of \"fbadmin version\" for the start-up time (the median is reported)")
	flag.Parse()
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "bench cli:", err)
		os.Exit(1)
	}
}

type result map[string]any

func run(c config) error {
	if c.host == "" {
		c.host = os.Getenv("FIRESTORE_EMULATOR_HOST")
	}
	if c.host == "" {
		c.host = "127.0.0.1:8080"
	}
	if conn, err := net.DialTimeout("tcp", c.host, 2*time.Second); err != nil {
		return fmt.Errorf("the Firestore emulator is not reachable at %s: %v (start it with scripts/emulators.sh start)", c.host, err)
	} else {
		conn.Close()
	}
	os.Setenv("FIRESTORE_EMULATOR_HOST", c.host)
	root, err := emutest.ModuleRoot()
	if err != nil {
		return err
	}
	c.root = root
	if c.peers == "" {
		c.peers = filepath.Join(root, "emulator")
	}
	work, err := os.MkdirTemp("", "fbadmin-bench-cli-")
	if err != nil {
		return err
	}
	if !c.keep {
		defer os.RemoveAll(work)
	}
	logf("building fbadmin")
	bin, err := emutest.BuildFbadmin(work)
	if err != nil {
		return err
	}

	b := &bench{c: c, work: work, bin: bin, res: result{"docs": 0, "emulator": c.host}}
	defer b.cleanup()
	steps := []func() error{b.seed, b.rounds, b.startup}
	if !c.skipPeers {
		steps = append(steps, b.backfire, b.firebaseDelete)
	}
	if c.startupOnly {
		steps = []func() error{b.startup}
	}
	if c.large {
		steps = append(steps, b.largeRSS)
	}
	for _, s := range steps {
		if err := s(); err != nil {
			return err
		}
	}
	b.ratios()
	out, _ := json.Marshal(b.res)
	fmt.Println(string(out))
	return nil
}

type bench struct {
	c        config
	work     string
	bin      string
	file     string // the tree as an fbadmin export file
	docs     int
	res      result
	projects []string
}

func logf(format string, args ...any) { fmt.Fprintf(os.Stderr, "bench cli: "+format+"\n", args...) }

func (b *bench) project(tag string) string {
	var r [4]byte
	rand.Read(r[:])
	p := "demo-bench-" + tag + "-" + hex.EncodeToString(r[:])
	b.projects = append(b.projects, p)
	return p
}

func (b *bench) cleanup() {
	for _, p := range b.projects {
		resetProject(b.c.host, p)
	}
}

// resetProject deletes a project's documents (best effort: a benchmark
// run goes on with what is left).
func resetProject(host, project string) {
	_ = emutest.ResetFirestore(host, project, "(default)")
}

// treePath names document i of the three-level tree of n documents: 20 top
// documents, 20 mid documents under each, the rest spread as leaves.
func treePaths(n int) []string {
	mids := tops * midsEach
	leaves := max(n-tops-mids, 0)
	var paths []string
	for t := range tops {
		top := fmt.Sprintf("%s/t%02d", topColl, t)
		paths = append(paths, top)
		for m := range midsEach {
			mid := fmt.Sprintf("%s/%s/m%02d", top, midColl, m)
			paths = append(paths, mid)
			k := t*midsEach + m
			per := leaves / mids
			if k < leaves%mids {
				per++
			}
			for l := range per {
				paths = append(paths, fmt.Sprintf("%s/%s/l%04d", mid, leafColl, l))
			}
		}
	}
	return paths
}

func docData(i int) map[string]any {
	return map[string]any{
		"name":  fmt.Sprintf("document %d", i),
		"n":     int64(i),
		"score": float64(i) / 7,
		"ok":    i%2 == 0,
		"at":    time.Unix(1700000000+int64(i), 123456000).UTC(),
	}
}

func writeLine(w *bufio.Writer, path string, i int) {
	fmt.Fprintf(w, `{"path":%q,"data":{"at":{"$timestamp":%q},"n":{"$int":"%d"},"name":"document %d","ok":%t,"score":{"$double":%v}}}`+"\n",
		path, time.Unix(1700000000+int64(i), 123456000).UTC().Format(time.RFC3339Nano), i, i, i%2 == 0, float64(i)/7)
}

// seed writes the tree as an import file.
func (b *bench) seed() error {
	paths := treePaths(b.c.n)
	b.docs = len(paths)
	b.res["docs"] = b.docs
	b.file = filepath.Join(b.work, "tree.ndjson")
	f, err := os.Create(b.file)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for i, p := range paths {
		writeLine(w, p, i)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	logf("%d documents in a three-level tree (%s/*/%s/*/%s/*)", b.docs, topColl, midColl, leafColl)
	return f.Close()
}

func rate(docs int, d time.Duration) float64 { return float64(docs) / d.Seconds() }

func round(f float64) float64 { return float64(int64(f*100+0.5)) / 100 }

// rounds measures raw and fbadmin import, export and recursive delete,
// interleaved, several times, after one untimed warm-up round (the
// emulator's JIT compiler makes its first thousands of writes slower).
// Odd rounds run the raw ceiling first, even rounds fbadmin first, so
// neither always meets the emulator in the same state. The medians are
// reported; the *_vs_raw ratios are the medians of each round's ratio.
func (b *bench) rounds() error {
	keys := []string{"raw_import_docs_per_s", "fbadmin_import_docs_per_s", "fbadmin_import_create_docs_per_s", "raw_export_docs_per_s", "fbadmin_export_docs_per_s", "fbadmin_delete_docs_per_s"}
	samples := map[string][]float64{}
	rss := map[string]float64{}
	for r := 0; r <= max(b.c.rounds, 1); r++ {
		if r == 0 {
			logf("warm-up round (not counted)")
		} else {
			logf("round %d of %d", r, b.c.rounds)
		}
		imports := []func() error{b.rawImport, b.fbImport}
		exports := []func() error{b.rawExport, b.fbExport}
		if r%2 == 0 {
			slices.Reverse(imports)
			slices.Reverse(exports)
		}
		for _, step := range slices.Concat(imports, exports, []func() error{b.delete}) {
			if err := step(); err != nil {
				return err
			}
		}
		resetProject(b.c.host, b.res["raw_project"].(string))
		if r == 0 {
			continue
		}
		for _, k := range keys {
			samples[k] = append(samples[k], b.res[k].(float64))
		}
		samples["import_vs_raw"] = append(samples["import_vs_raw"], b.res["fbadmin_import_docs_per_s"].(float64)/b.res["raw_import_docs_per_s"].(float64))
		samples["export_vs_raw"] = append(samples["export_vs_raw"], b.res["fbadmin_export_docs_per_s"].(float64)/b.res["raw_export_docs_per_s"].(float64))
		for _, k := range []string{"fbadmin_import_rss_mb", "fbadmin_export_rss_mb"} {
			rss[k] = max(rss[k], b.res[k].(float64))
		}
	}
	for _, k := range append(keys, "import_vs_raw", "export_vs_raw") {
		b.res[k] = round(median(samples[k]))
	}
	logf("per-round import_vs_raw %s, export_vs_raw %s", fmtRatios(samples["import_vs_raw"]), fmtRatios(samples["export_vs_raw"]))
	for k, v := range rss {
		b.res[k] = v
	}
	return nil
}

func fmtRatios(xs []float64) string {
	var parts []string
	for _, x := range xs {
		parts = append(parts, fmt.Sprintf("%.2f", x))
	}
	return strings.Join(parts, " ")
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// rawImport writes the tree with the plainest fast SDK path: WriteBatch of
// 500, 16 goroutines, data built in memory.
func (b *bench) rawImport() error {
	ctx := context.Background()
	p := b.project("raw")
	client, err := firestore.NewClient(ctx, p)
	if err != nil {
		return err
	}
	defer client.Close()
	paths := treePaths(b.c.n)
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for lo := 0; lo < len(paths); lo += 500 {
		hi := min(lo+500, len(paths))
		g.Go(func() error {
			//lint:ignore SA1019 the raw ceiling is plain batched commits of 500, as the benchmark defines it
			wb := client.Batch()
			for i := lo; i < hi; i++ {
				wb.Set(client.Doc(paths[i]), docData(i))
			}
			_, err := wb.Commit(gctx)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return fmt.Errorf("raw import: %w", err)
	}
	el := time.Since(start)
	b.res["raw_import_docs_per_s"] = round(rate(len(paths), el))
	logf("raw import (WriteBatch 500 x 16): %.0f docs/s", rate(len(paths), el))
	b.res["raw_project"] = p
	return nil
}

// rawExport reads the tree with one query stream at a time: a collection
// group query per level, each document's data decoded.
func (b *bench) rawExport() error {
	ctx := context.Background()
	p := b.res["raw_project"].(string)
	client, err := firestore.NewClient(ctx, p)
	if err != nil {
		return err
	}
	defer client.Close()
	start := time.Now()
	n := 0
	for _, id := range []string{topColl, midColl, leafColl} {
		it := client.CollectionGroup(id).Documents(ctx)
		for {
			s, err := it.Next()
			if err == iterator.Done {
				break
			}
			if err != nil {
				return fmt.Errorf("raw export: %w", err)
			}
			_ = s.Data()
			n++
		}
	}
	el := time.Since(start)
	if n != b.docs {
		return fmt.Errorf("raw export read %d documents, want %d", n, b.docs)
	}
	b.res["raw_export_docs_per_s"] = round(rate(n, el))
	logf("raw export (one query stream at a time): %.0f docs/s", rate(n, el))
	return nil
}

type timing struct {
	wall  time.Duration
	rssMB float64
	out   string
}

// timeCmd runs a command and returns its wall time and peak RSS.
func timeCmd(env []string, dir string, name string, args ...string) (timing, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Dir = dir
	var out strings.Builder
	cmd.Stdout = &out
	cmd.Stderr = &out
	start := time.Now()
	err := cmd.Run()
	t := timing{wall: time.Since(start), out: out.String()}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		t.rssMB = float64(ru.Maxrss) / 1024
	}
	if err != nil {
		return t, fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, tail(out.String()))
	}
	return t, nil
}

func tail(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	return strings.Join(lines, "\n")
}

func (b *bench) fbadmin(project string, args ...string) (timing, error) {
	return timeCmd([]string{"FBADMIN_PROJECT=" + project, "FIRESTORE_EMULATOR_HOST=" + b.c.host}, b.work, b.bin, args...)
}

func (b *bench) fbImport() error {
	p := b.project("imp")
	// --mode set writes what the raw ceiling writes (plain sets); create
	// mode (the default, which refuses to overwrite) is timed apart.
	t, err := b.fbadmin(p, "fs", "import", b.file, "--mode", "set", "-q")
	if err != nil {
		return err
	}
	b.res["fbadmin_import_docs_per_s"] = round(rate(b.docs, t.wall))
	b.res["fbadmin_import_rss_mb"] = round(t.rssMB)
	b.res["fbadmin_project"] = p
	logf("fbadmin fs import --mode set: %.0f docs/s (%.2f s, peak RSS %.0f MB)", rate(b.docs, t.wall), t.wall.Seconds(), t.rssMB)
	pc := b.project("impc")
	t, err = b.fbadmin(pc, "fs", "import", b.file, "--mode", "create", "-q")
	if err != nil {
		return err
	}
	b.res["fbadmin_import_create_docs_per_s"] = round(rate(b.docs, t.wall))
	logf("fbadmin fs import --mode create: %.0f docs/s (%.2f s)", rate(b.docs, t.wall), t.wall.Seconds())
	resetProject(b.c.host, pc)
	return nil
}

func (b *bench) fbExport() error {
	p := b.res["fbadmin_project"].(string)
	out := filepath.Join(b.work, "export.ndjson")
	t, err := b.fbadmin(p, "fs", "export", "--out", out, "-q")
	if err != nil {
		return err
	}
	lines, err := countLines(out)
	if err != nil {
		return err
	}
	if lines != b.docs {
		return fmt.Errorf("fbadmin export wrote %d documents, want %d", lines, b.docs)
	}
	b.res["fbadmin_export_docs_per_s"] = round(rate(b.docs, t.wall))
	b.res["fbadmin_export_rss_mb"] = round(t.rssMB)
	logf("fbadmin fs export: %.0f docs/s (%.2f s, peak RSS %.0f MB)", rate(b.docs, t.wall), t.wall.Seconds(), t.rssMB)
	return nil
}

func countLines(file string) (int, error) {
	f, err := os.Open(file)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	n := 0
	for sc.Scan() {
		if len(strings.TrimSpace(sc.Text())) > 0 {
			n++
		}
	}
	return n, sc.Err()
}

// countTree counts a project's documents, level by level.
func countTree(project string) (int, error) {
	ctx := context.Background()
	client, err := firestore.NewClient(ctx, project)
	if err != nil {
		return 0, err
	}
	defer client.Close()
	total := 0
	for _, id := range []string{topColl, midColl, leafColl} {
		res, err := client.CollectionGroup(id).NewAggregationQuery().WithCount("n").Get(ctx)
		if err != nil {
			return 0, err
		}
		total += int(res["n"].(interface{ GetIntegerValue() int64 }).GetIntegerValue())
	}
	return total, nil
}

func (b *bench) delete() error {
	p := b.res["fbadmin_project"].(string)
	t, err := b.fbadmin(p, "fs", "delete", topColl, "--recursive", "--yes", "-q")
	if err != nil {
		return err
	}
	if n, err := countTree(p); err != nil || n != 0 {
		return fmt.Errorf("after fbadmin delete: %d documents left (%v)", n, err)
	}
	b.res["fbadmin_delete_docs_per_s"] = round(rate(b.docs, t.wall))
	logf("fbadmin fs delete --recursive: %.0f docs/s (%.2f s)", rate(b.docs, t.wall), t.wall.Seconds())
	return nil
}

// startup times "fbadmin version" and, unless -skip-peers, "firebase
// --version", from process start to exit, and reports the medians. Both
// binaries are warmed up first (file cache), and the runs are interleaved
// so that both see the same load on a shared machine.
func (b *bench) startup() error {
	var fb string // the firebase-tools binary, "" without peers
	var fbEnv []string
	if !b.c.skipPeers {
		var err error
		if fb, err = b.peerBin("firebase"); err != nil {
			return err
		}
		if fbEnv, err = b.firebaseHome(); err != nil {
			return err
		}
	}
	runFbadmin := func() (float64, error) {
		t, err := timeCmd(nil, b.work, b.bin, "version")
		return float64(t.wall.Microseconds()) / 1000, err
	}
	runFirebase := func() (float64, error) {
		t, err := timeCmd(fbEnv, b.work, fb, "--version")
		return float64(t.wall.Microseconds()) / 1000, err
	}
	const warmup = 3
	for range warmup {
		if _, err := runFbadmin(); err != nil {
			return err
		}
		if fb != "" {
			if _, err := runFirebase(); err != nil {
				return err
			}
		}
	}
	runs := max(b.c.startupRuns, 1)
	fbRuns := max(runs/5, 5) // firebase-tools takes about a second a run
	var ours, theirs []float64
	for i := 0; i < runs || (fb != "" && len(theirs) < fbRuns); i++ {
		if i < runs {
			ms, err := runFbadmin()
			if err != nil {
				return err
			}
			ours = append(ours, ms)
		}
		if fb != "" && len(theirs) < fbRuns && (i >= runs || i%max(runs/fbRuns, 1) == 0) {
			ms, err := runFirebase()
			if err != nil {
				return err
			}
			theirs = append(theirs, ms)
		}
	}
	b.res["fbadmin_version_ms"] = round(median(ours))
	b.res["fbadmin_version_ms_p90"] = round(quantile(ours, 0.9))
	logf("fbadmin version: %.1f ms (median of %d; min %.1f, p90 %.1f)", median(ours), len(ours), slices.Min(ours), quantile(ours, 0.9))
	if fb != "" {
		b.res["firebase_version_ms"] = round(median(theirs))
		logf("firebase --version: %.1f ms (median of %d; min %.1f, p90 %.1f)", median(theirs), len(theirs), slices.Min(theirs), quantile(theirs, 0.9))
	}
	return nil
}

// quantile returns the q-quantile of xs (nearest rank).
func quantile(xs []float64, q float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func (b *bench) peerBin(name string) (string, error) {
	p := filepath.Join(b.c.peers, "node_modules", ".bin", name)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("%s not installed in %s: run npm ci there (or pass -skip-peers)", name, b.c.peers)
	}
	return p, nil
}

var nodeEnv = []string{"METADATA_SERVER_DETECTION=none", "NO_UPDATE_NOTIFIER=1"}

func (b *bench) backfire() error {
	bf, err := b.peerBin("backfire")
	if err != nil {
		return err
	}
	src := b.project("bfsrc")
	if _, err := b.fbadmin(src, "fs", "import", b.file, "-q"); err != nil {
		return err
	}
	out := filepath.Join(b.work, "backfire.ndjson")
	logf("firestore-backfire export (this peer takes minutes)")
	t, err := timeCmd(nodeEnv, b.work, bf, "export", out, "-P", src, "-E", b.c.host, "-q")
	if err != nil {
		return err
	}
	b.res["backfire_export_docs_per_s"] = round(rate(b.docs, t.wall))
	logf("firestore-backfire export: %.0f docs/s (%.2f s)", rate(b.docs, t.wall), t.wall.Seconds())

	dst := b.project("bfimp")
	logf("firestore-backfire import")
	t, err = timeCmd(nodeEnv, b.work, bf, "import", out, "-P", dst, "-E", b.c.host, "-q")
	if err != nil {
		return err
	}
	n, err := countTree(dst)
	if err != nil {
		return err
	}
	if n != b.docs {
		logf("warning: firestore-backfire imported %d documents of %d", n, b.docs)
	}
	b.res["backfire_import_docs_per_s"] = round(rate(b.docs, t.wall))
	logf("firestore-backfire import: %.0f docs/s (%.2f s)", rate(b.docs, t.wall), t.wall.Seconds())
	resetProject(b.c.host, dst)
	return nil
}

// firebaseHome makes a private HOME with a fake signed-in account:
// firebase-tools asks for one even against the emulator, which ignores it.
func (b *bench) firebaseHome() ([]string, error) {
	home := filepath.Join(b.work, "home")
	cfg := filepath.Join(home, ".config", "configstore")
	if err := os.MkdirAll(cfg, 0o755); err != nil {
		return nil, err
	}
	acct := fmt.Sprintf(`{"user":{"email":"bench@example.com"},"tokens":{"access_token":"owner","refresh_token":"x","expires_at":%d}}`,
		time.Now().Add(24*time.Hour).UnixMilli())
	if err := os.WriteFile(filepath.Join(cfg, "firebase-tools.json"), []byte(acct), 0o600); err != nil {
		return nil, err
	}
	return append([]string{"HOME=" + home, "XDG_CONFIG_HOME=" + filepath.Join(home, ".config"), "FIRESTORE_EMULATOR_HOST=" + b.c.host}, nodeEnv...), nil
}

func (b *bench) firebaseDelete() error {
	fb, err := b.peerBin("firebase")
	if err != nil {
		return err
	}
	env, err := b.firebaseHome()
	if err != nil {
		return err
	}
	p := b.project("fbtools")
	if _, err := b.fbadmin(p, "fs", "import", b.file, "-q"); err != nil {
		return err
	}
	t, err := timeCmd(env, b.work, fb, "firestore:delete", topColl, "-r", "--force", "--project", p)
	if err != nil {
		return err
	}
	if n, err := countTree(p); err != nil || n != 0 {
		return fmt.Errorf("after firebase firestore:delete: %d documents left (%v)", n, err)
	}
	b.res["firebase_tools_delete_docs_per_s"] = round(rate(b.docs, t.wall))
	logf("firebase firestore:delete -r: %.0f docs/s (%.2f s)", rate(b.docs, t.wall), t.wall.Seconds())
	return nil
}

// largeRSS imports and exports many small documents, recording fbadmin's
// peak RSS. A million documents outgrow the heap of a shared emulator (and
// would starve everyone using it), so this runs on a private Firestore
// emulator started on a free port with a larger heap (-large-heap), in its
// own process group, stopped at the end.
func (b *bench) largeRSS() error {
	host, stop, err := startPrivateEmulator(b.work, b.c.largeHeap)
	if err != nil {
		return err
	}
	defer stop()
	shared := b.c.host
	b.c.host = host
	defer func() { b.c.host = shared }()
	file := filepath.Join(b.work, "large.ndjson")
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for i := range b.c.largeN {
		fmt.Fprintf(w, `{"path":"large/%08d","data":{"n":%d,"s":"x%d"}}`+"\n", i, i, i)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	f.Close()
	p := b.project("large")
	logf("import of %d documents (peak RSS)", b.c.largeN)
	t, err := b.fbadmin(p, "fs", "import", file, "--mode", "set", "-q")
	if err != nil {
		return err
	}
	b.res["large_docs"] = b.c.largeN
	b.res["large_import_rss_mb"] = round(t.rssMB)
	b.res["large_import_docs_per_s"] = round(rate(b.c.largeN, t.wall))
	logf("large import: peak RSS %.0f MB, %.0f docs/s", t.rssMB, rate(b.c.largeN, t.wall))
	os.Remove(file)
	out := filepath.Join(b.work, "large-export.ndjson")
	logf("export of %d documents (peak RSS)", b.c.largeN)
	t, err = b.fbadmin(p, "fs", "export", "--out", out, "-q")
	if err != nil {
		return err
	}
	n, err := countLines(out)
	if err != nil {
		return err
	}
	if n != b.c.largeN {
		return fmt.Errorf("large export wrote %d documents, want %d", n, b.c.largeN)
	}
	b.res["large_export_rss_mb"] = round(t.rssMB)
	b.res["large_export_docs_per_s"] = round(rate(b.c.largeN, t.wall))
	logf("large export: peak RSS %.0f MB, %.0f docs/s", t.rssMB, rate(b.c.largeN, t.wall))
	os.Remove(out)
	resetProject(b.c.host, p)
	return nil
}

func (b *bench) ratios() {
	div := func(name, a, z string) {
		x, ok1 := b.res[a].(float64)
		y, ok2 := b.res[z].(float64)
		if ok1 && ok2 && y > 0 {
			b.res[name] = round(x / y)
		}
	}
	// export_vs_raw and import_vs_raw are set by rounds, per round.
	div("export_vs_backfire", "fbadmin_export_docs_per_s", "backfire_export_docs_per_s")
	div("import_vs_backfire", "fbadmin_import_docs_per_s", "backfire_import_docs_per_s")
	div("delete_vs_firebase_tools", "fbadmin_delete_docs_per_s", "firebase_tools_delete_docs_per_s")
	// Start-up: a speed is 1/time, so the ratio is their time over ours.
	div("startup_vs_firebase", "firebase_version_ms", "fbadmin_version_ms")
	delete(b.res, "raw_project")
	delete(b.res, "fbadmin_project")
}

// startPrivateEmulator starts a gcloud Firestore emulator on a free port,
// in its own process group, and waits until it answers.
func startPrivateEmulator(work, heap string) (string, func(), error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	host := l.Addr().String()
	l.Close()
	logf("starting a private Firestore emulator on %s (heap %s)", host, heap)
	logFile, err := os.Create(filepath.Join(work, "emulator.log"))
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command("gcloud", "emulators", "firestore", "start", "--host-port="+host)
	cmd.Env = append(os.Environ(), "JAVA_TOOL_OPTIONS=-Xmx"+heap)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return "", nil, fmt.Errorf("start the Firestore emulator (gcloud): %w", err)
	}
	stop := func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		logFile.Close()
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if out, err := exec.Command("curl", "-s", "-m", "2", "http://"+host+"/").Output(); err == nil && strings.TrimSpace(string(out)) == "Ok" {
			return host, stop, nil
		}
		time.Sleep(500 * time.Millisecond)
	}
	stop()
	return "", nil, fmt.Errorf("the private Firestore emulator on %s did not answer within 60 s (see %s)", host, logFile.Name())
}
