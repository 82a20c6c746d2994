//go:build unix

package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fbadmin/fbadmin/internal/emutest"
)

// TestDocExamples runs every ```sh block of README.md and docs/*.md as a
// reader would paste it: each file's blocks in order, in one bash (so a
// variable set by one block is there for the next), with `set -e -o
// pipefail` (every command must succeed; a block that shows a failure says
// `cmd || echo "exit $?"`), in a temporary working directory, with the
// fbadmin binary built from this checkout first on PATH, against the
// running emulators. A failure names the file, the block's line, the
// command's line, the command and the output since it started.
//
// Markers, an HTML comment on the line above a fence (blank lines between
// are allowed):
//
//	<!-- not run: REASON -->   the block is shown, never run (production
//	                           credentials, a clone, the test suite itself);
//	                           a marker without a reason is an error
//	<!-- run in background: REASON; ready at URL -->
//	                           the block's long-running commands (fbadmin
//	                           serve, listen and fs watch, without --check)
//	                           run in the background, the next command once
//	                           URL answers (when given); they are stopped with
//	                           SIGTERM at the end of the file and must still be
//	                           running then and stop cleanly
//	<!-- file: NAME -->        the block (```yaml, say) is written to NAME in
//	                           the working directory when the run reaches it
//
// Isolation: each file runs in a project of its own, FBADMIN_PROJECT=
// demo-docs-FILE-RANDOM, reset (Firestore, Auth, Pub/Sub) when the file is
// done. Other demo-* project IDs written in a file's blocks (--to-project
// demo-staging) are shared names: they are reset before and after the
// file, and runs of this test on the same emulators take turns (a lock file
// in the temporary directory), which also keeps the fixed ports of the
// examples (serve's 8088) to one run at a time. The Auth emulator issues ID
// tokens for its own project only (GCLOUD_PROJECT, as scripts/emulators.sh
// env prints it), so the examples that verify tokens or serve requests work
// there, as a reader's shell does after eval "$(scripts/emulators.sh env)".
// That project is shared with other tests and never reset: after each file
// the test deletes there the users and top-level collections that appeared
// meanwhile and whose IDs the file's blocks spell out (other tests use
// random IDs).
// `scripts/emulators.sh` in the working directory runs the checkout's
// script with a run directory of this test's own: its start finds the
// emulators running and uses them, its stop stops nothing it did not
// start, and its env prints the emulators' project.
//
// The log (go test -v) lists, per file, the blocks run and the blocks not
// run with their reasons. Without the emulators the test is skipped, and
// fails under CI=true.
// FBADMIN_DOCS_OUTPUT=1 logs each file's whole output (go test -v).
func TestDocExamples(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true: bash is not installed")
		}
		t.Skip("bash not found")
	}
	for _, tool := range []string{"curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			msg := tool + " not found on PATH: the examples use it (apt-get install " + tool + ")"
			if emutest.InCI() {
				t.Fatal("CI=true: " + msg)
			}
			t.Skip(msg)
		}
	}
	fsHost := emutest.FirestoreHost(t)
	authHost := emutest.AuthHost(t)
	psHost := emutest.PubSubHost(t)
	emuProject := emutest.EmulatorProject()

	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	files := []string{"README.md"}
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range docs {
		files = append(files, "docs/"+filepath.Base(d))
	}

	tmp := t.TempDir()
	bin := filepath.Join(tmp, "bin")
	start := time.Now()
	// A plain build, as released (without -race even under go test -race:
	// a race-enabled binary takes over a second to start).
	build := exec.Command("go", "build", "-o", filepath.Join(bin, "fbadmin"), ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Logf("built fbadmin in %s", time.Since(start).Round(time.Millisecond))

	start = time.Now()
	unlock := lockDocExamples(t, fsHost)
	defer unlock()
	if d := time.Since(start); d > time.Second {
		t.Logf("waited %s for another run of TestDocExamples on these emulators", d.Round(time.Millisecond))
	}

	for _, file := range files {
		t.Run(file, func(t *testing.T) {
			text, err := os.ReadFile(filepath.Join(root, file))
			if err != nil {
				t.Fatal(err)
			}
			doc, err := parseDocBlocks(string(text))
			if err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			script, err := doc.script()
			if err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			run, skipped := doc.summary()
			for _, s := range skipped {
				t.Logf("%s:%d: not run: %s", file, s.fence, s.skip)
			}
			if run == 0 {
				t.Logf("%s: no block to run (%d not run)", file, len(skipped))
				return
			}
			r := &docRun{
				t: t, file: file, root: root, doc: doc, bin: bin,
				fsHost: fsHost, authHost: authHost, psHost: psHost, emuProject: emuProject,
			}
			start := time.Now()
			r.run(script)
			t.Logf("%s: %d blocks run, %d not run, in %s", file, run, len(skipped), time.Since(start).Round(time.Millisecond))
		})
	}
}

// lockDocExamples waits for the other runs of TestDocExamples on the same
// Firestore emulator (other checkouts, other go test processes) and
// returns the function that lets the next one go.
func lockDocExamples(t *testing.T, host string) func() {
	t.Helper()
	name := filepath.Join(os.TempDir(), "fbadmin-docexamples-"+regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(host, "_")+".lock")
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		t.Fatalf("lock: %v", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		t.Fatalf("lock %s: %v", name, err)
	}
	return func() { f.Close() } // closing the file releases the lock
}

// docBlock is one fenced block of a Markdown file.
type docBlock struct {
	fence int      // line of the opening fence, from 1
	lang  string   // the info string's first word
	lines []string // content, without the fence's indentation
	skip  string   // <!-- not run: REASON -->
	bg    bool     // <!-- run in background ... -->
	ready string   // the URL that answers once the background server is up
	file  string   // <!-- file: NAME -->
}

func (b *docBlock) runnable() bool {
	switch b.lang {
	case "sh", "bash", "shell":
		return true
	}
	return false
}

type docFile struct {
	nlines int
	blocks []docBlock
}

var (
	docFenceRE   = regexp.MustCompile("^( *)(```+|~~~+)[ \t]*([^`\\s]*)")
	docCommentRE = regexp.MustCompile(`^\s*<!--\s*(.*?)\s*-->\s*$`)
	// docMarkerRE tells a comment meant as a marker, typos included.
	docMarkerRE = regexp.MustCompile(`(?i)^(not[ _-]*run|run[ _-]*in[ _-]*background|file\s*:)`)
	docURLRE    = regexp.MustCompile(`https?://[^\s;,)]+`)
	// docLongRunningRE: the commands a background block runs in the
	// background (servers and watches, not their --check).
	docLongRunningRE = regexp.MustCompile(`^\s*fbadmin\b.*\s(serve|listen|watch)\b`)
	docProjectRE     = regexp.MustCompile(`\bdemo-[a-z0-9][a-z0-9-]*[a-z0-9]\b`)
)

// parseDocBlocks finds the fenced blocks of a Markdown text and their
// markers.
func parseDocBlocks(text string) (*docFile, error) {
	lines := strings.Split(text, "\n")
	d := &docFile{nlines: len(lines)}
	var errs []string
	used := map[int]bool{} // marker lines attached to a block
	for i := 0; i < len(lines); i++ {
		m := docFenceRE.FindStringSubmatch(lines[i])
		if m == nil {
			continue
		}
		indent, fence := len(m[1]), m[2]
		b := docBlock{fence: i + 1, lang: strings.ToLower(m[3])}
		closed := false
		for i++; i < len(lines); i++ {
			l := lines[i]
			if t := strings.TrimLeft(l, " "); strings.HasPrefix(t, fence) && strings.Trim(t, fence[:1]+" \t") == "" {
				closed = true
				break
			}
			for k := 0; k < indent && strings.HasPrefix(l, " "); k++ {
				l = l[1:]
			}
			b.lines = append(b.lines, l)
		}
		if !closed {
			errs = append(errs, fmt.Sprintf("line %d: the block is never closed", b.fence))
		}
		// The marker: the comment on the nearest non-blank line above.
		j := b.fence - 2
		for j >= 0 && strings.TrimSpace(lines[j]) == "" {
			j--
		}
		if j >= 0 {
			if c := docCommentRE.FindStringSubmatch(lines[j]); c != nil && docMarkerRE.MatchString(c[1]) {
				used[j] = true
				if err := b.setMarker(c[1]); err != nil {
					errs = append(errs, fmt.Sprintf("line %d: %v", j+1, err))
				}
			}
		}
		d.blocks = append(d.blocks, b)
	}
	for i, l := range lines {
		if c := docCommentRE.FindStringSubmatch(l); c != nil && docMarkerRE.MatchString(c[1]) && !used[i] {
			errs = append(errs, fmt.Sprintf("line %d: marker %q is not right above a fenced block", i+1, strings.TrimSpace(l)))
		}
	}
	if len(errs) > 0 {
		return nil, errors.New(strings.Join(errs, "\n"))
	}
	return d, nil
}

// setMarker applies the text of a marker comment to the block.
func (b *docBlock) setMarker(c string) error {
	switch {
	case strings.HasPrefix(c, "not run"):
		reason, ok := strings.CutPrefix(c, "not run:")
		if !ok || strings.TrimSpace(reason) == "" {
			return fmt.Errorf("%q: a block that is not run says why: <!-- not run: REASON -->", c)
		}
		if !b.runnable() {
			return fmt.Errorf("%q: a ```%s block is never run", c, b.lang)
		}
		b.skip = strings.TrimSpace(reason)
	case strings.HasPrefix(c, "run in background"):
		reason, ok := strings.CutPrefix(c, "run in background:")
		if !ok || strings.TrimSpace(reason) == "" {
			return fmt.Errorf("%q: say what runs and, for a server, where it is ready: <!-- run in background: fbadmin serve; ready at URL -->", c)
		}
		if !b.runnable() {
			return fmt.Errorf("%q: a ```%s block is never run", c, b.lang)
		}
		b.bg = true
		b.ready = docURLRE.FindString(reason)
		n := 0
		for _, l := range b.lines {
			if docLongRunningRE.MatchString(l) && !strings.Contains(l, "--check") {
				n++
			}
		}
		if n == 0 {
			return fmt.Errorf("%q: the block starts no server or watch (fbadmin serve, listen, fs watch)", c)
		}
	case strings.HasPrefix(c, "file:"):
		name := strings.TrimSpace(strings.TrimPrefix(c, "file:"))
		if name == "" || strings.ContainsAny(name, " '\"$`\\") || filepath.IsAbs(name) || strings.HasPrefix(filepath.Clean(name), "..") {
			return fmt.Errorf("%q: want <!-- file: NAME --> with NAME a plain relative path", c)
		}
		b.file = name
	default:
		return fmt.Errorf("%q: unknown marker (want not run: REASON, run in background: REASON, or file: NAME)", c)
	}
	return nil
}

// summary counts the blocks that run and lists those that do not.
func (d *docFile) summary() (run int, skipped []docBlock) {
	for _, b := range d.blocks {
		switch {
		case !b.runnable():
		case b.skip != "":
			skipped = append(skipped, b)
		default:
			run++
		}
	}
	return run, skipped
}

// The script's first line: bash settings and helpers. Markers on stderr
// (@@FBDOC ...) tell the test which command ran and which failed.
const docScriptHeader = `set -eE -o pipefail; __fbdoc_bg_pids=(); __fbdoc_bg_lines=(); ` +
	`__fbdoc_block() { echo "@@FBDOC block $1" >&2; }; ` +
	// __fbdoc_bg PID LINE [URL]: a command put in the background; wait until URL answers.
	`__fbdoc_bg() { local pid=$1 i st; __fbdoc_bg_pids+=("$pid"); __fbdoc_bg_lines+=("$2"); [ -n "${3:-}" ] || return 0; ` +
	`for ((i = 0; i < 600; i++)); do curl -fsS -o /dev/null --max-time 2 "$3" 2>/dev/null && return 0; ` +
	`kill -0 "$pid" 2>/dev/null || { st=0; wait "$pid" || st=$?; echo "the background command exited with status $st before $3 answered" >&2; return 1; }; sleep 0.1; done; ` +
	`echo "$3 did not answer within 60s" >&2; return 1; }; ` +
	// __fbdoc_stop: the background commands must still run; SIGTERM, then they must exit cleanly.
	`__fbdoc_stop() { local i k pid st rc=0; for k in "${!__fbdoc_bg_pids[@]}"; do pid=${__fbdoc_bg_pids[$k]}; ` +
	`if ! kill -0 "$pid" 2>/dev/null; then st=0; wait "$pid" || st=$?; echo "@@FBDOC bgfail ${__fbdoc_bg_lines[$k]} exited early with status $st" >&2; rc=1; continue; fi; ` +
	`kill -TERM "$pid"; for ((i = 0; i < 200; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done; ` +
	`if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; echo "@@FBDOC bgfail ${__fbdoc_bg_lines[$k]} did not stop within 20s of SIGTERM" >&2; rc=1; fi; ` +
	`st=0; wait "$pid" || st=$?; case $st in 0 | 130 | 143) ;; *) echo "@@FBDOC bgfail ${__fbdoc_bg_lines[$k]} exited with status $st on SIGTERM" >&2; rc=1 ;; esac; done; return $rc; }; ` +
	`trap '__fbdoc_st=$?; trap - DEBUG ERR; __fbdoc_stop || __fbdoc_st=1; exit $__fbdoc_st' EXIT; ` +
	`trap 'echo "@@FBDOC fail $LINENO $?" >&2' ERR; ` +
	`trap 'echo "@@FBDOC cmd $LINENO" >&2' DEBUG`

// script turns the file into a bash script whose line N is line N of the
// file: blocks that run keep their lines, everything else is blank, so
// that $LINENO is the file's line number.
func (d *docFile) script() (string, error) {
	out := make([]string, d.nlines)
	for _, b := range d.blocks {
		if b.fence == 1 {
			return "", errors.New("line 1: a block on the first line leaves no room for the script's settings")
		}
		switch {
		case b.file != "":
			out[b.fence-1] = "cat >'" + b.file + "' <<'__FBDOC_EOF__'"
			copy(out[b.fence:], b.lines)
			if end := b.fence + len(b.lines); end < len(out) {
				out[end] = "__FBDOC_EOF__"
			}
		case !b.runnable() || b.skip != "":
		default:
			out[b.fence-1] = "__fbdoc_block " + strconv.Itoa(b.fence)
			for k, l := range b.lines {
				n := b.fence + k + 1 // the line's number in the file
				if b.bg && docLongRunningRE.MatchString(l) && !strings.Contains(l, "--check") {
					cmd, comment := splitShellComment(l)
					l = cmd + " & __fbdoc_bg $! " + strconv.Itoa(n)
					if b.ready != "" {
						l += " '" + b.ready + "'"
					}
					if comment != "" {
						l += " " + comment
					}
				}
				out[n-1] = l
			}
		}
	}
	out[0] = docScriptHeader
	return strings.Join(out, "\n") + "\n", nil
}

// splitShellComment splits a line at a # that starts a comment (after a
// blank, outside quotes).
func splitShellComment(l string) (cmd, comment string) {
	var quote byte
	for i := 0; i < len(l); i++ {
		c := l[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			} else if c == '\\' && quote == '"' {
				i++
			}
		case c == '\\':
			i++
		case c == '\'' || c == '"':
			quote = c
		case c == '#' && (i == 0 || l[i-1] == ' ' || l[i-1] == '\t'):
			return strings.TrimRight(l[:i], " \t"), l[i:]
		}
	}
	return strings.TrimRight(l, " \t"), ""
}

// docRun runs one file's script.
type docRun struct {
	t                        *testing.T
	file, root, bin          string
	doc                      *docFile
	fsHost, authHost, psHost string
	emuProject               string
}

// docFileTimeout bounds one file's run.
const docFileTimeout = 3 * time.Minute

func (r *docRun) run(script string) {
	t := r.t
	dir := t.TempDir()
	work := filepath.Join(dir, "work")
	home := filepath.Join(dir, "home")
	for _, p := range []string{filepath.Join(work, "scripts"), home, filepath.Join(dir, "tmp")} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	project := r.project(t)
	shared := r.sharedProjects(project)
	resetAll := func(p string) {
		for _, err := range []error{
			emutest.ResetFirestore(r.fsHost, p, "(default)"),
			emutest.ResetAuth(r.authHost, p),
			emutest.ResetPubSub(r.psHost, p),
		} {
			if err != nil {
				t.Logf("reset %s: %v", p, err)
			}
		}
	}
	for _, p := range shared {
		resetAll(p)
	}
	defer func() {
		for _, p := range append(shared, project) {
			resetAll(p)
		}
	}()
	env := r.env(project, home, filepath.Join(dir, "tmp"))
	before := r.emuState(env)
	defer r.cleanEmuProject(env, before)
	if err := os.WriteFile(filepath.Join(work, "scripts", "emulators.sh"), []byte(r.emulatorsShim(filepath.Join(dir, "emulators-run"))), 0o755); err != nil {
		t.Fatal(err)
	}
	scriptFile := filepath.Join(dir, "doc.sh")
	if err := os.WriteFile(scriptFile, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), docFileTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", scriptFile)
	cmd.Dir = work
	cmd.Env = env
	cmd.Stdin = nil
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	err := cmd.Run()
	// Whatever the script left behind (a background server after a
	// failure) goes with its process group.
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	if os.Getenv("FBADMIN_DOCS_OUTPUT") == "1" {
		t.Logf("%s: output:\n%s", r.file, clean(strings.Split(out.String(), "\n"), 0))
	}
	if err == nil {
		return
	}
	if ctx.Err() != nil {
		line, output := r.lastCommand(out.String())
		t.Errorf("%s: timed out after %s\n%s\noutput:\n%s", r.file, docFileTimeout, r.describe(line), output)
		return
	}
	r.report(out.String(), err)
}

// project returns the file's own project ID: demo-docs-NAME-RANDOM, at most
// 30 characters.
func (r *docRun) project(t *testing.T) string {
	name := strings.ToLower(strings.TrimSuffix(filepath.Base(r.file), ".md"))
	name = regexp.MustCompile(`[^a-z0-9]+`).ReplaceAllString(name, "-")
	if len(name) > 12 {
		name = name[:12]
	}
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return "demo-docs-" + strings.Trim(name, "-") + "-" + hex.EncodeToString(b[:])
}

// sharedProjects lists the demo-* project IDs the file's blocks name,
// other than the file's own and the emulators' project.
func (r *docRun) sharedProjects(own string) []string {
	seen := map[string]bool{own: true, r.emuProject: true}
	var ps []string
	for _, b := range r.doc.blocks {
		if !b.runnable() || b.skip != "" {
			continue
		}
		for _, l := range b.lines {
			for _, p := range docProjectRE.FindAllString(l, -1) {
				if !seen[p] {
					seen[p] = true
					ps = append(ps, p)
				}
			}
		}
	}
	return ps
}

// emulatorsShim is scripts/emulators.sh in the working directory: the
// checkout's script, with this run's own run directory (start uses the
// running emulators and records nothing; stop then stops nothing) and the
// emulators' own hosts and project (what env prints); a port variable the
// block sets (FBADMIN_FIRESTORE_PORT=8181 scripts/emulators.sh start
// --rules ...) starts an emulator of the block's own, which its stop stops.
func (r *docRun) emulatorsShim(runDir string) string {
	var b strings.Builder
	b.WriteString("#!/usr/bin/env bash\n# TestDocExamples: the checkout's scripts/emulators.sh, with a run directory of its own\n")
	fmt.Fprintf(&b, "export FBADMIN_RUN_DIR=%s FBADMIN_PROJECT=%s\n", shQuote(runDir), shQuote(r.emuProject))
	for _, h := range []struct{ host, portVar string }{
		{r.fsHost, "FBADMIN_FIRESTORE_PORT"}, {r.authHost, "FBADMIN_AUTH_PORT"}, {r.psHost, "FBADMIN_PUBSUB_PORT"},
	} {
		if ip, port, err := net.SplitHostPort(h.host); err == nil {
			// A port the block gives (an emulator of its own beside the
			// suite, as the README's rules example starts) wins.
			fmt.Fprintf(&b, "export FBADMIN_EMULATOR_HOST_IP=%s %s=${%s:-%s}\n", shQuote(ip), h.portVar, h.portVar, shQuote(port))
		}
	}
	fmt.Fprintf(&b, "exec %s \"$@\"\n", shQuote(filepath.Join(r.root, "scripts", "emulators.sh")))
	return b.String()
}

func shQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// env is the scripts' environment: the test's, less fbadmin's own settings
// and credentials, with the emulators', the file's project and a home of
// its own.
func (r *docRun) env(project, home, tmp string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "FBADMIN_"), k == "GOOGLE_APPLICATION_CREDENTIALS", k == "FIREBASE_API_KEY",
			k == "GCLOUD_PROJECT", k == "GOOGLE_CLOUD_PROJECT", k == "HOME", k == "TMPDIR", k == "PATH",
			k == "BASH_ENV", k == "ENV", k == "CDPATH", strings.HasSuffix(k, "_EMULATOR_HOST"), strings.HasPrefix(k, "XDG_"):
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"PATH="+r.bin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"HOME="+home,
		"TMPDIR="+tmp,
		"FIRESTORE_EMULATOR_HOST="+r.fsHost,
		"FIREBASE_AUTH_EMULATOR_HOST="+r.authHost,
		"PUBSUB_EMULATOR_HOST="+r.psHost,
		"GCLOUD_PROJECT="+r.emuProject,
		"GOOGLE_CLOUD_PROJECT="+r.emuProject,
		"FBADMIN_PROJECT="+project,
		"NO_UPDATE_NOTIFIER=1",
		"FIREBASE_CLI_DISABLE_UPDATE_CHECK=true",
	)
}

// emuState lists the Auth UIDs and the top-level collections of the
// emulators' own project.
func (r *docRun) emuState(env []string) map[string]bool {
	state := map[string]bool{}
	for _, q := range []struct{ kind, cmd, key string }{{"user", "auth users list", "uid"}, {"collection", "fs collections", "id"}} {
		args := append([]string{"--emulator", "--project", r.emuProject, "-o", "ndjson"}, strings.Fields(q.cmd)...)
		cmd := exec.Command(filepath.Join(r.bin, "fbadmin"), args...)
		cmd.Env = env
		out, err := cmd.Output()
		if err != nil {
			r.t.Fatalf("fbadmin %s: %v", strings.Join(args, " "), err)
		}
		for _, l := range strings.Split(string(out), "\n") {
			var v map[string]any
			if json.Unmarshal([]byte(l), &v) == nil {
				if id, ok := v[q.key].(string); ok {
					state[q.kind+":"+id] = true
				}
			}
		}
	}
	return state
}

// cleanEmuProject deletes, in the emulators' own project (which is shared
// and never reset), the users and top-level collections that appeared
// while the file ran and whose IDs its blocks spell out: what the examples
// that need the Auth emulator's tokens left there. Other tests' data there
// carries random IDs that no example names.
func (r *docRun) cleanEmuProject(env []string, before map[string]bool) {
	var text strings.Builder
	for _, b := range r.doc.blocks {
		if b.runnable() && b.skip == "" || b.file != "" {
			text.WriteString(strings.Join(b.lines, "\n") + "\n")
		}
	}
	mentioned := func(id string) bool {
		re := regexp.MustCompile(`(^|[^A-Za-z0-9_-])` + regexp.QuoteMeta(id) + `($|[^A-Za-z0-9_-])`)
		return re.MatchString(text.String())
	}
	var uids, colls []string
	for k := range r.emuState(env) {
		kind, id, _ := strings.Cut(k, ":")
		if before[k] || !mentioned(id) {
			continue
		}
		if kind == "user" {
			uids = append(uids, id)
		} else {
			colls = append(colls, id)
		}
	}
	run := func(args ...string) {
		cmd := exec.Command(filepath.Join(r.bin, "fbadmin"), append([]string{"--emulator", "--project", r.emuProject, "-q"}, args...)...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			r.t.Errorf("clean up the emulators' project: fbadmin %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	if len(uids) > 0 {
		run(append(append([]string{"auth", "users", "delete"}, uids...), "--yes")...)
	}
	if len(colls) > 0 {
		run(append(append([]string{"fs", "delete"}, colls...), "--recursive", "--yes")...)
	}
	if len(uids)+len(colls) > 0 {
		r.t.Logf("%s: deleted from the emulators' project %s what the examples left there: users %v, collections %v", r.file, r.emuProject, uids, colls)
	}
}

var docMarkerLineRE = regexp.MustCompile(`^@@FBDOC (block|cmd|fail|bgfail) (\d+)(?: (.*))?$`)

// report explains a failed run: the failing command (the last ERR marker,
// or a background command that failed), and the output since it started.
func (r *docRun) report(output string, err error) {
	lines := strings.Split(output, "\n")
	failLine, status, bgMsg := 0, "", ""
	for _, l := range lines {
		m := docMarkerLineRE.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		n, _ := strconv.Atoi(m[2])
		switch m[1] {
		case "fail":
			failLine, status = n, m[3]
		case "bgfail":
			if bgMsg == "" {
				failLine, bgMsg = n, m[3]
			}
		}
	}
	if failLine == 0 {
		r.t.Errorf("%s: bash failed (%v) before or after any command\noutput:\n%s", r.file, err, clean(lines, 0))
		return
	}
	if bgMsg != "" {
		r.t.Errorf("%s: the background command %s\n%s\noutput of the file's run:\n%s", r.file, bgMsg, r.describe(failLine), tail(clean(lines, 0), 60))
		return
	}
	first, last := r.commandRange(failLine)
	// The output since the command started: from its first marker after
	// the last marker of another command.
	from, in := 0, false
	for i, l := range lines {
		m := docMarkerLineRE.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		n, _ := strconv.Atoi(m[2])
		if m[1] == "fail" && n == failLine {
			break
		}
		switch inRange := n >= first && n <= last; {
		case m[1] == "cmd" && inRange && !in:
			from, in = i+1, true
		case m[1] == "block" || m[1] == "cmd" && !inRange:
			in = false
		}
	}
	r.t.Errorf("%s: exit status %s\n%s\noutput:\n%s", r.file, status, r.describe(failLine), tail(clean(lines, from), 60))
}

// lastCommand returns the line of the last command started and the output
// since.
func (r *docRun) lastCommand(output string) (int, string) {
	lines := strings.Split(output, "\n")
	line, from := 0, 0
	for i, l := range lines {
		if m := docMarkerLineRE.FindStringSubmatch(l); m != nil && m[1] == "cmd" {
			n, _ := strconv.Atoi(m[2])
			if n != line {
				line, from = n, i+1
			}
		}
	}
	return line, tail(clean(lines, from), 60)
}

// describe names the block and the command of a line of the file.
func (r *docRun) describe(line int) string {
	block := 0
	for _, b := range r.doc.blocks {
		if b.fence < line && line <= b.fence+len(b.lines) {
			block = b.fence
		}
	}
	if block == 0 {
		return fmt.Sprintf("  at line %d", line)
	}
	first, last := r.commandRange(line)
	var cmd []string
	for n := first; n <= last; n++ {
		cmd = append(cmd, "    "+r.lineText(n))
	}
	return fmt.Sprintf("  block at %s:%d, command at line %d:\n%s", r.file, block, first, strings.Join(cmd, "\n"))
}

// lineText returns line n of the file as the block holds it.
func (r *docRun) lineText(n int) string {
	for _, b := range r.doc.blocks {
		if k := n - b.fence - 1; k >= 0 && k < len(b.lines) {
			return b.lines[k]
		}
	}
	return ""
}

// commandRange widens a line to the lines of its command: continued by a
// trailing \, |, && or ||, or an unclosed quote.
func (r *docRun) commandRange(line int) (first, last int) {
	continues := func(n int) bool {
		cmd, _ := splitShellComment(r.lineText(n))
		cmd = strings.TrimSpace(cmd)
		return strings.HasSuffix(cmd, "\\") || strings.HasSuffix(cmd, "|") || strings.HasSuffix(cmd, "&&") ||
			strings.Count(cmd, "'")%2 == 1
	}
	first, last = line, line
	for first > 1 && r.lineText(first-1) != "" && continues(first-1) {
		first--
	}
	for r.lineText(last+1) != "" && continues(last) {
		last++
	}
	return first, last
}

// clean drops the markers from lines[from:].
func clean(lines []string, from int) string {
	var b strings.Builder
	for _, l := range lines[min(from, len(lines)):] {
		if !strings.HasPrefix(l, "@@FBDOC ") {
			b.WriteString("    " + l + "\n")
		}
	}
	return b.String()
}

// tail keeps the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) <= n {
		return s
	}
	return fmt.Sprintf("    ... (%d lines)\n", len(lines)-n) + strings.Join(lines[len(lines)-n:], "\n") + "\n"
}

func TestDocBlockMarkers(t *testing.T) {
	const fence = "```"
	good := "# T\n\n<!-- not run: production credentials -->\n" + fence + "sh\nfbadmin --credentials key.json fs get a/b\n" + fence + "\n\n" +
		"<!-- file: serve.yaml -->\n" + fence + "yaml\nrules: []\n" + fence + "\n" +
		"<!-- run in background: fbadmin serve; ready at http://127.0.0.1:8088/healthz -->\n" + fence + "sh\n" +
		"fbadmin serve --config serve.yaml --check\nfbadmin --emulator serve --config serve.yaml   # listens\ncurl -s localhost:8088/healthz\n" + fence + "\n"
	d, err := parseDocBlocks(good)
	if err != nil {
		t.Fatal(err)
	}
	if run, skipped := d.summary(); run != 1 || len(skipped) != 1 || skipped[0].skip != "production credentials" {
		t.Errorf("summary: %d run, %+v skipped", run, skipped)
	}
	script, err := d.script()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(script, "\n")
	if want := "fbadmin --emulator serve --config serve.yaml & __fbdoc_bg $! 15 'http://127.0.0.1:8088/healthz' # listens"; lines[14] != want {
		t.Errorf("line 15 = %q, want %q", lines[15], want)
	}
	if lines[8] != "cat >'serve.yaml' <<'__FBDOC_EOF__'" || lines[9] != "rules: []" || lines[10] != "__FBDOC_EOF__" {
		t.Errorf("file block: %q", lines[8:11])
	}
	if lines[4] != "" {
		t.Errorf("a block not run is in the script: %q", lines[4])
	}
	for _, bad := range []struct{ doc, want string }{
		{"# T\n<!-- not run -->\n" + fence + "sh\nls\n" + fence + "\n", "says why"},
		{"# T\n<!-- not run:  -->\n" + fence + "sh\nls\n" + fence + "\n", "says why"},
		{"# T\n<!-- notrun: x -->\n" + fence + "sh\nls\n" + fence + "\n", "unknown marker"},
		{"# T\n<!-- run in background -->\n" + fence + "sh\nfbadmin --emulator serve -c s.yaml\n" + fence + "\n", "ready at URL"},
		{"# T\n<!-- run in background: nothing -->\n" + fence + "sh\nls\n" + fence + "\n", "starts no server"},
		{"# T\n<!-- not run: x -->\n\ntext\n" + fence + "sh\nls\n" + fence + "\n", "not right above"},
		{"# T\n<!-- file: ../x -->\n" + fence + "yaml\na: 1\n" + fence + "\n", "plain relative path"},
		{"# T\n" + fence + "sh\nls\n", "never closed"},
	} {
		if _, err := parseDocBlocks(bad.doc); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("parseDocBlocks(%q) = %v, want an error with %q", bad.doc, err, bad.want)
		}
	}
}
