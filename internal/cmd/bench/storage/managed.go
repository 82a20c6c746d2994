package main

// Section "managed": the figures of Firestore's managed export format
// (internal/managed, fbadmin fs convert and fs import of a managed export):
//
//   - managed_write_docs_per_s: NDJSON -> managed export of -managed-n
//     small documents (200,000), no database, in this process (best of
//     -managed-rounds);
//   - managed_read_docs_per_s: managed export -> NDJSON of the same;
//   - managed_convert_peak_rss_mb: the peak RSS (VmHWM) of the
//     fbadmin binary converting -managed-rss-n documents (1,000,000) each
//     way with `fbadmin fs convert` (the larger of the two; both are
//     reported too);
//   - managed_import_vs_ndjson_import: `fbadmin fs import` of the same
//     -managed-import-n documents (20,000) on the emulator from a managed
//     export, divided by from NDJSON (speed ratio, higher is better; the
//     median of -managed-rounds alternating rounds, each import into a
//     fresh project).
//
// The fbadmin binary is built from the checkout into the work directory.

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/fbadmin/fbadmin/internal/emutest"
	"github.com/fbadmin/fbadmin/internal/managed"
)

// managedConfig sets the sizes of the managed figures.
type managedConfig struct {
	n, rssN, importN, rounds int
	bin                      string // the fbadmin binary
	work                     string // scratch directory
	host                     string // Firestore emulator
}

var (
	flagManagedN       = flag.Int("managed-n", 200000, "documents converted (each way, no database) for managed_read/write_docs_per_s")
	flagManagedRSSN    = flag.Int("managed-rss-n", 1000000, "documents converted by the fbadmin binary for managed_convert_peak_rss_mb")
	flagManagedImportN = flag.Int("managed-import-n", 20000, "documents imported from a managed export and from NDJSON for managed_import_vs_ndjson_import")
	flagManagedRounds  = flag.Int("managed-rounds", 5, "rounds of each managed measure")
)

func init() { register("managed", managedSection) }

func managedSection(ctx context.Context, e *benchEnv) (map[string]any, error) {
	work := filepath.Join(e.Work, "managed")
	if err := os.MkdirAll(work, 0o755); err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	mlogf("building the fbadmin binary")
	bin, err := emutest.BuildFbadmin(work)
	if err != nil {
		return nil, err
	}
	return managedFigures(ctx, managedConfig{n: *flagManagedN, rssN: *flagManagedRSSN, importN: *flagManagedImportN,
		rounds: max(*flagManagedRounds, 1), bin: bin, work: work, host: e.Host})
}

func mlogf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench storage (managed): "+format+"\n", args...)
}

// managedFigures measures the managed export figures.
func managedFigures(ctx context.Context, c managedConfig) (map[string]any, error) {
	out := map[string]any{}
	small := filepath.Join(c.work, "managed-small.ndjson")
	if err := genSmallDocs(small, c.n); err != nil {
		return nil, err
	}
	// write and read rates, without a database
	var writeBest, readBest float64
	for r := range c.rounds {
		dir := filepath.Join(c.work, fmt.Sprintf("managed-small-%d", r))
		start := time.Now()
		n, err := ndjsonToManaged(ctx, small, dir)
		if err != nil {
			return nil, err
		}
		writeBest = max(writeBest, float64(n)/time.Since(start).Seconds())
		start = time.Now()
		n, err = managedToNDJSON(ctx, dir, filepath.Join(c.work, "managed-small-back.ndjson"))
		if err != nil {
			return nil, err
		}
		readBest = max(readBest, float64(n)/time.Since(start).Seconds())
		os.RemoveAll(dir)
		mlogf("round %d: write %.0f docs/s, read %.0f docs/s (best so far)", r+1, writeBest, readBest)
	}
	out["managed_write_docs_per_s"] = r2(writeBest)
	out["managed_read_docs_per_s"] = r2(readBest)
	out["managed_docs"] = c.n

	// peak RSS of the binary converting a million documents each way
	big := filepath.Join(c.work, "managed-big.ndjson")
	if err := genSmallDocs(big, c.rssN); err != nil {
		return nil, err
	}
	bigDir := filepath.Join(c.work, "managed-big")
	toManaged, err := childRSS(c.bin, nil, "fs", "convert", big, bigDir)
	if err != nil {
		return nil, err
	}
	toNDJSON, err := childRSS(c.bin, nil, "fs", "convert", bigDir, filepath.Join(c.work, "managed-big-back.ndjson"))
	if err != nil {
		return nil, err
	}
	os.RemoveAll(bigDir)
	os.Remove(big)
	os.Remove(filepath.Join(c.work, "managed-big-back.ndjson"))
	mlogf("peak RSS converting %d documents: to managed %.1f MB, to NDJSON %.1f MB", c.rssN, toManaged, toNDJSON)
	out["managed_convert_peak_rss_mb"] = r2(max(toManaged, toNDJSON))
	out["managed_convert_to_managed_peak_rss_mb"] = r2(toManaged)
	out["managed_convert_to_ndjson_peak_rss_mb"] = r2(toNDJSON)
	out["managed_rss_docs"] = c.rssN

	// import from a managed export vs from NDJSON, on the emulator
	if c.host == "" {
		return out, fmt.Errorf("no Firestore emulator (FIRESTORE_EMULATOR_HOST) for managed_import_vs_ndjson_import")
	}
	imp := filepath.Join(c.work, "managed-import.ndjson")
	if err := genSmallDocs(imp, c.importN); err != nil {
		return nil, err
	}
	impDir := filepath.Join(c.work, "managed-import")
	if _, err := ndjsonToManaged(ctx, imp, impDir); err != nil {
		return nil, err
	}
	env := append(os.Environ(), "FIRESTORE_EMULATOR_HOST="+c.host, "XDG_CACHE_HOME="+filepath.Join(c.work, "cache"))
	var ratios, ndjsonRates, managedRates []float64
	for r := range c.rounds + 1 { // round 0 warms up
		var tN, tM time.Duration
		for k := range 2 {
			managedFirst := r%2 == 1
			useManaged := (k == 0) == managedFirst
			project := "demo-bench-managed-" + randHex()
			src := imp
			if useManaged {
				src = impDir
			}
			start := time.Now()
			cmd := exec.Command(c.bin, "--quiet", "--project", project, "fs", "import", src)
			cmd.Env = env
			if b, err := cmd.CombinedOutput(); err != nil {
				resetBenchProject(c.host, project)
				return nil, fmt.Errorf("fbadmin fs import %s: %v\n%s", src, err, b)
			}
			d := time.Since(start)
			resetBenchProject(c.host, project)
			if useManaged {
				tM = d
			} else {
				tN = d
			}
		}
		if r == 0 {
			continue
		}
		ndjsonRates = append(ndjsonRates, float64(c.importN)/tN.Seconds())
		managedRates = append(managedRates, float64(c.importN)/tM.Seconds())
		ratios = append(ratios, tN.Seconds()/tM.Seconds())
		mlogf("import round %d: NDJSON %.2f s, managed %.2f s (ratio %.3f)", r, tN.Seconds(), tM.Seconds(), tN.Seconds()/tM.Seconds())
	}
	out["managed_import_docs"] = c.importN
	out["managed_import_docs_per_s"] = r2(median(managedRates))
	out["ndjson_import_docs_per_s"] = r2(median(ndjsonRates))
	out["managed_import_vs_ndjson_import"] = r2(median(ratios))
	return out, nil
}

func randHex() string {
	var b [5]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func resetBenchProject(host, project string) {
	req, _ := http.NewRequest(http.MethodDelete, "http://"+host+"/emulator/v1/projects/"+project+"/databases/(default)/documents", nil)
	if resp, err := (&http.Client{Timeout: 5 * time.Minute}).Do(req); err == nil {
		resp.Body.Close()
	}
}

// genSmallDocs writes n small documents (5 fields) as fbadmin NDJSON.
func genSmallDocs(file string, n int) error {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for i := range n {
		fmt.Fprintf(w, `{"path":"items/%07d","data":{"active":%t,"i":{"$int":"%d"},"name":"item %d","score":{"$double":%d.5},"tags":["a","b"]}}`+"\n", i, i%2 == 0, i, i, i%1000)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func ndjsonToManaged(ctx context.Context, file, dir string) (int64, error) {
	in, err := os.Open(file)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	w := managed.NewWriter(ctx, managed.DirStore(dir), managed.WriterOptions{Name: filepath.Base(dir), Project: "demo-bench"})
	st, err := managed.FromNDJSON(ctx, in, filepath.Base(file), w, nil)
	if err != nil {
		w.Abort()
		return 0, err
	}
	return st.Docs, w.Close()
}

func managedToNDJSON(ctx context.Context, dir, file string) (int64, error) {
	exp, err := managed.Open(ctx, managed.DirStore(dir), "")
	if err != nil {
		return 0, err
	}
	out, err := os.Create(file)
	if err != nil {
		return 0, err
	}
	st, err := managed.ToNDJSON(ctx, exp, out, managed.ReadOptions{}, nil)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return st.Docs, err
}

// childRSS runs the binary and returns its peak RSS in MB: the last
// VmHWM of /proc/PID/status read while it runs (every 20 ms; the mark only
// grows). Not the rusage of wait4: a child that this (large) process
// starts with vfork and exec inherits this process's high-water mark in
// its ru_maxrss.
func childRSS(bin string, env []string, args ...string) (float64, error) {
	cmd := exec.Command(bin, append([]string{"--quiet"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	var outBuf strings.Builder
	cmd.Stdout, cmd.Stderr = &outBuf, &outBuf
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	status := fmt.Sprintf("/proc/%d/status", cmd.Process.Pid)
	var peakKB int64
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if kb := vmHWM(status); kb > peakKB {
			peakKB = kb
		}
		select {
		case err := <-done:
			if err != nil {
				return 0, fmt.Errorf("%s %v: %v\n%s", bin, args, err, outBuf.String())
			}
			if peakKB == 0 {
				return 0, fmt.Errorf("no VmHWM read from %s", status)
			}
			return float64(peakKB) / 1024, nil
		case <-tick.C:
		}
	}
}

// vmHWM reads the VmHWM line of a /proc status file, in kB (0 if gone).
func vmHWM(status string) int64 {
	b, err := os.ReadFile(status)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(rest), "%d", &kb)
			return kb
		}
	}
	return 0
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
