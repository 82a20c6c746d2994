// Command rules is the benchmark of 'fbadmin rules check', run by
// "scripts/bench.sh rules": on a Firestore emulator of its own started
// with the test rules (internal/rulecheck/testdata/firestore.rules), it
// checks the 50 cases of internal/rulecheck/testdata/cases50.yaml with the
// fbadmin binary, and the same cases as a JavaScript rules unit test with
// @firebase/rules-unit-testing (the peer, pinned in rulesjs/package-lock.json
// and installed there with npm ci when missing), each as a whole process,
// after an untimed warm-up of each, in -rounds alternating rounds. The
// last line of stdout is one JSON object: the median seconds of each
// (fbadmin_s, rules_unit_testing_s), their ratio
// (fbadmin_vs_rules_unit_testing, higher is faster) and the mismatches each
// reported (both must be 0: the cases' expectations are right).
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/goccy/go-yaml"
)

const (
	rulesFile = "internal/rulecheck/testdata/firestore.rules"
	casesFile = "internal/rulecheck/testdata/cases50.yaml"
	peerDir   = "internal/cmd/bench/rules/rulesjs"
)

func main() {
	rounds := flag.Int("rounds", 3, "timed rounds of each")
	flag.Parse()
	dir, err := os.MkdirTemp("", "fbadmin-bench-rules")
	check(err)
	defer os.RemoveAll(dir)

	if _, err := os.Stat(filepath.Join(peerDir, "node_modules", "@firebase", "rules-unit-testing")); err != nil {
		logf("installing the peer: npm ci in %s", peerDir)
		run(peerDir, nil, "npm", "ci", "--no-audit", "--no-fund")
	}
	bin := filepath.Join(dir, "fbadmin")
	run(".", nil, "go", "build", "-o", bin, "./cmd/fbadmin")

	host, stop := startEmulator(dir)
	defer stop()
	logf("Firestore emulator with %s on %s", rulesFile, host)

	src, err := os.ReadFile(casesFile)
	check(err)
	var spec map[string]any
	check(yaml.Unmarshal(src, &spec))
	specJSON, err := json.Marshal(spec)
	check(err)
	abs, err := filepath.Abs(rulesFile)
	check(err)

	env := append(os.Environ(), "FIRESTORE_EMULATOR_HOST="+host)
	fbadmin := func() (time.Duration, int) {
		t0 := time.Now()
		cmd := exec.Command(bin, "--project", "demo-bench-rules", "rules", "check", "--file", casesFile, "-o", "ndjson")
		cmd.Env = env
		var out, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &stderr
		err := cmd.Run()
		d := time.Since(t0)
		mismatches := 0
		if err != nil {
			mismatches = strings.Count(out.String(), `"ok":false`)
			if mismatches == 0 {
				check(fmt.Errorf("fbadmin rules check: %v\n%s", err, stderr.String()))
			}
		}
		return d, mismatches
	}
	js := func() (time.Duration, int) {
		t0 := time.Now()
		cmd := exec.Command("node", "check.js", abs, host, "demo-bench-rules-js")
		cmd.Dir = peerDir
		cmd.Env = env
		cmd.Stdin = bytes.NewReader(specJSON)
		var out, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &stderr
		if err := cmd.Run(); err != nil {
			check(fmt.Errorf("the JavaScript peer: %v\n%s", err, stderr.String()))
		}
		d := time.Since(t0)
		var r struct{ Cases, Mismatches int }
		check(json.Unmarshal(bytes.TrimSpace(out.Bytes()), &r))
		if r.Cases != 50 {
			check(fmt.Errorf("the JavaScript peer checked %d cases, want 50", r.Cases))
		}
		return d, r.Mismatches
	}
	fbadmin() // warm-up: the emulator compiles the rules and its JIT warms up
	js()
	var fs, jss []float64
	var fm, jm int
	for i := range *rounds {
		// Alternate which goes first: the machine's load drifts.
		steps := []func(){
			func() { d, m := fbadmin(); fs, fm = append(fs, d.Seconds()), fm+m },
			func() { d, m := js(); jss, jm = append(jss, d.Seconds()), jm+m },
		}
		if i%2 == 1 {
			steps[0], steps[1] = steps[1], steps[0]
		}
		steps[0]()
		steps[1]()
		logf("round %d: fbadmin %.2f s, @firebase/rules-unit-testing %.2f s", i+1, fs[len(fs)-1], jss[len(jss)-1])
	}
	f, j := median(fs), median(jss)
	out := map[string]any{"cases": 50, "rounds": *rounds, "fbadmin_s": round(f), "rules_unit_testing_s": round(j),
		"fbadmin_vs_rules_unit_testing": round(j / f), "fbadmin_mismatches": fm, "rules_unit_testing_mismatches": jm}
	b, err := json.Marshal(out)
	check(err)
	fmt.Println(string(b))
}

// startEmulator starts a gcloud Firestore emulator with the rules on a
// free port, in its own process group.
func startEmulator(dir string) (string, func()) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	host := l.Addr().String()
	l.Close()
	abs, err := filepath.Abs(rulesFile)
	check(err)
	logf2, err := os.Create(filepath.Join(dir, "emulator.log"))
	check(err)
	cmd := exec.Command("gcloud", "emulators", "firestore", "start", "--host-port="+host, "--rules="+abs)
	cmd.Stdout, cmd.Stderr = logf2, logf2
	cmd.Env = append(os.Environ(), "CLOUDSDK_CORE_DISABLE_PROMPTS=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	check(cmd.Start())
	stop := func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		cmd.Wait()
	}
	deadline := time.Now().Add(120 * time.Second)
	for {
		resp, err := (&http.Client{Timeout: 2 * time.Second}).Get("http://" + host + "/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return host, stop
			}
		}
		if time.Now().After(deadline) {
			stop()
			check(fmt.Errorf("the emulator did not answer at %s within 120 s (log: %s)", host, logf2.Name()))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func run(dir string, env []string, name string, args ...string) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	if env != nil {
		cmd.Env = env
	}
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	check(cmd.Run())
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func round(f float64) float64 { return float64(int64(f*1000+0.5)) / 1000 }

func logf(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench rules:", err)
		os.Exit(1)
	}
}
