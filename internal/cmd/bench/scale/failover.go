package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/fbadmin/fbadmin/internal/emutest"
	"github.com/fbadmin/fbadmin/internal/value"
	"github.com/fbadmin/fbadmin/listeners"
)

// failoverFigures runs `fbadmin listen` as three replicas sharing ten
// listeners (ha section, leases and checkpoints in Firestore, default TTL
// 15 s unless FBADMIN_BENCH_LEASE_TTL says otherwise), each with a file
// sink of its own, while four writers create, update and delete documents
// of the ten collections. It kills (SIGKILL) the replica holding the most
// leases, waits for its listeners to deliver again from another replica,
// then does the same to a second one. failover_s is the longest time, over
// both kills and every listener of the killed replica, from the kill to
// the listener's next event in another replica's file (target at most the
// lease TTL + 5 s); failover_lost counts the documents whose state rebuilt
// from all the replicas' files (per path, the event with the greatest
// update time, a removal winning a tie) differs from the database once the
// writers stop (target 0). failover_acquired_s_each is, per kill, when the
// last of the killed replica's leases was taken over (from the replicas'
// logs): the rest of failover_s is the listeners' start.
func failoverFigures(ctx context.Context, host string) map[string]any {
	const nListeners, nReplicas = 10, 3
	ttl := 15 * time.Second
	if v := os.Getenv("FBADMIN_BENCH_LEASE_TTL"); v != "" {
		d, err := time.ParseDuration(v)
		check(err)
		ttl = d
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	project := "demo-bench-failover-" + hex.EncodeToString(b)
	defer func() {
		if err := emutest.ResetFirestore(host, project, firestore.DefaultDatabaseID); err != nil {
			logf("reset %s: %v", project, err)
		}
	}()
	dir, err := os.MkdirTemp("", "fbadmin-bench-failover-")
	check(err)
	keep := false // a run that lost documents keeps its files
	defer func() {
		if !keep {
			os.RemoveAll(dir)
		}
	}()

	bin := os.Getenv("FBADMIN_BIN")
	if bin == "" {
		logf("failover: building fbadmin")
		var err error
		bin, err = emutest.BuildFbadmin(dir)
		check(err)
	}

	var ls strings.Builder
	for i := range nListeners {
		fmt.Fprintf(&ls, "  - {name: l%d, collection: c%d, sinks: [archive]}\n", i, i)
	}
	ids := []string{"ra", "rb", "rc"}
	procs := map[string]*exec.Cmd{}
	exited := map[string]chan struct{}{}
	for _, id := range ids {
		sub := filepath.Join(dir, id)
		check(os.MkdirAll(sub, 0o755))
		conf := filepath.Join(sub, "listen.yaml")
		check(os.WriteFile(conf, []byte(fmt.Sprintf(`project: %s
state_dir: %s/state
http: {addr: "off"}
log: {format: json}
ha: {replica_id: %s, ttl: %s}
sinks:
  - name: archive
    file: {path: %s/events.ndjson, fsync: always}
listeners:
%s`, project, sub, id, ttl, dir, ls.String())), 0o600))
		logFile, err := os.Create(filepath.Join(sub, "stderr.log"))
		check(err)
		defer logFile.Close()
		cmd := exec.Command(bin, "listen", "--config", conf)
		cmd.Env = os.Environ()
		cmd.Stderr = logFile
		check(cmd.Start())
		procs[id] = cmd
		ch := make(chan struct{})
		exited[id] = ch
		go func() { _ = cmd.Wait(); close(ch) }()
	}
	defer func() {
		for id, cmd := range procs {
			select {
			case <-exited[id]:
			default:
				_ = cmd.Process.Signal(syscall.SIGTERM)
				select {
				case <-exited[id]:
				case <-time.After(40 * time.Second):
					_ = cmd.Process.Kill()
				}
			}
		}
	}()

	client, err := firestore.NewClient(ctx, project)
	check(err)
	defer client.Close()
	files := func() map[string][]listeners.Event {
		out := map[string][]listeners.Event{}
		for _, id := range ids {
			out[id] = readEvents(filepath.Join(dir, "events."+id+".ndjson"))
		}
		return out
	}

	var stop atomic.Bool
	var wg sync.WaitGroup
	var writes atomic.Int64
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := mrand.New(mrand.NewPCG(11, uint64(w)))
			for !stop.Load() {
				ref := client.Collection(fmt.Sprintf("c%d", rng.IntN(nListeners))).Doc(fmt.Sprintf("d%02d", rng.IntN(30)))
				var err error
				if rng.IntN(10) < 3 {
					_, err = ref.Delete(ctx)
				} else {
					_, err = ref.Set(ctx, map[string]any{"v": rng.Int64(), "w": int64(w)})
				}
				if err == nil {
					writes.Add(1)
				}
				time.Sleep(time.Duration(5+rng.IntN(15)) * time.Millisecond)
			}
		}()
	}
	defer func() { stop.Store(true); wg.Wait() }()

	holders := func() map[string]string {
		docs, err := client.Collection("_fbadmin_leases").Documents(ctx).GetAll()
		check(err)
		out := map[string]string{}
		for _, d := range docs {
			var l struct {
				Holder  string    `firestore:"holder"`
				Expires time.Time `firestore:"expires"`
			}
			if d.DataTo(&l) == nil && l.Holder != "" && time.Now().Before(l.Expires) {
				out[d.Ref.ID] = l.Holder
			}
		}
		return out
	}
	waitFor := func(timeout time.Duration, what string, cond func() bool) {
		for end := time.Now().Add(timeout); !cond(); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(end) {
				for _, cmd := range procs { // fail exits: no replica outlives the benchmark
					_ = cmd.Process.Kill()
				}
				fail(fmt.Errorf("failover: timed out after %v waiting for %s (replica logs in %s)", timeout, what, dir))
			}
		}
	}
	waitFor(3*ttl+60*time.Second, "the replicas sharing the listeners, each delivering", func() bool {
		h := holders()
		per := map[string]int{}
		for _, id := range h {
			per[id]++
		}
		if len(h) != nListeners || len(per) != nReplicas || slices.Max(mapValues(per)) > (nListeners+nReplicas-1)/nReplicas {
			return false
		}
		seen := map[string]bool{}
		for _, evs := range files() {
			for _, ev := range evs {
				seen[ev.Listener] = true
			}
		}
		return len(seen) == nListeners
	})

	alive := map[string]bool{}
	for _, id := range ids {
		alive[id] = true
	}
	var each, acquired []float64
	for r := range 2 {
		per := map[string][]string{}
		for l, id := range holders() {
			per[id] = append(per[id], l)
		}
		victim := ""
		for _, id := range ids {
			if alive[id] && (victim == "" || len(per[id]) > len(per[victim])) {
				victim = id
			}
		}
		count := func() map[string]int {
			c := map[string]int{}
			for id, evs := range files() {
				if id != victim {
					for _, ev := range evs {
						c[ev.Listener]++
					}
				}
			}
			return c
		}
		before := count()
		killed := time.Now()
		check(procs[victim].Process.Signal(syscall.SIGKILL))
		<-exited[victim]
		delete(alive, victim)
		resumed := map[string]time.Duration{}
		waitFor(ttl+60*time.Second, "the killed replica's listeners delivering again", func() bool {
			c := count()
			for _, l := range per[victim] {
				if _, ok := resumed[l]; !ok && c[l] > before[l] {
					resumed[l] = time.Since(killed)
				}
			}
			return len(resumed) == len(per[victim])
		})
		worst := slices.Max(mapValues(resumed))
		// When the others took the leases over, from their logs: the rest
		// of the failover is the listeners' start.
		var taken time.Duration
		for _, id := range ids {
			b, _ := os.ReadFile(filepath.Join(dir, id, "stderr.log"))
			for _, line := range bytes.Split(b, []byte("\n")) {
				var rec struct {
					Time     time.Time `json:"time"`
					Msg      string    `json:"msg"`
					Listener string    `json:"listener"`
				}
				if json.Unmarshal(line, &rec) == nil && rec.Msg == "acquired lease" && rec.Time.After(killed) && slices.Contains(per[victim], rec.Listener) {
					taken = max(taken, rec.Time.Sub(killed))
				}
			}
		}
		acquired = append(acquired, round(taken.Seconds()))
		logf("failover round %d: the leases were taken over %v after the kill", r, taken.Round(time.Millisecond))
		logf("failover round %d: killed %s holding %d leases (%v); its listeners delivered again after %v at worst", r, victim, len(per[victim]), per[victim], worst.Round(time.Millisecond))
		each = append(each, round(worst.Seconds()))
	}
	stop.Store(true)
	wg.Wait()

	want := map[string]map[string]any{}
	for i := range nListeners {
		docs, err := client.Collection(fmt.Sprintf("c%d", i)).Documents(ctx).GetAll()
		check(err)
		for _, d := range docs {
			p := d.Ref.Path
			want[p[strings.Index(p, "/documents/")+len("/documents/"):]] = d.Data()
		}
	}
	wantTime := map[string]time.Time{}
	for i := range nListeners {
		docs, err := client.Collection(fmt.Sprintf("c%d", i)).Documents(ctx).GetAll()
		check(err)
		for _, d := range docs {
			p := d.Ref.Path
			wantTime[p[strings.Index(p, "/documents/")+len("/documents/"):]] = d.UpdateTime
		}
	}
	var diffs []string
	lost := func() int {
		diffs = diffs[:0]
		st := map[string]listeners.Event{}
		for _, evs := range files() {
			for _, ev := range evs {
				old, ok := st[ev.Path]
				if !ok || ev.UpdateTime.After(old.UpdateTime) || (ev.UpdateTime.Equal(old.UpdateTime) && ev.Type == listeners.Removed) {
					st[ev.Path] = ev
				}
			}
		}
		n := 0
		for p, w := range want {
			ev, ok := st[p]
			if !ok || ev.Type == listeners.Removed {
				n++
				diffs = append(diffs, fmt.Sprintf("missing %s (database %s)", p, wantTime[p].Format(time.RFC3339Nano)))
				continue
			}
			got, err := value.DecodeMap(ev.Data)
			if err != nil || !value.Equal(got, w) {
				n++
				diffs = append(diffs, fmt.Sprintf("stale %s: database %s, files %s %s", p, wantTime[p].Format(time.RFC3339Nano), ev.Type, ev.UpdateTime.Format(time.RFC3339Nano)))
			}
		}
		for p, ev := range st {
			if _, ok := want[p]; !ok && ev.Type != listeners.Removed {
				n++
				diffs = append(diffs, fmt.Sprintf("extra %s: files %s %s", p, ev.Type, ev.UpdateTime.Format(time.RFC3339Nano)))
			}
		}
		return n
	}
	// The survivor delivers what the writers did last; give it time.
	n := lost()
	for end := time.Now().Add(60 * time.Second); n != 0 && time.Now().Before(end); n = lost() {
		time.Sleep(200 * time.Millisecond)
	}
	total := 0
	for _, evs := range files() {
		total += len(evs)
	}
	if n > 0 {
		keep = true
		for _, d := range diffs[:min(len(diffs), 10)] {
			logf("failover: %s", d)
		}
		logf("failover: the replicas' configs, logs and files are kept in %s", dir)
	}
	logf("failover: %d writes, %d documents at the end, %d events in the replicas' files, %d documents lost or stale", writes.Load(), len(want), total, n)
	return map[string]any{"failover_s": slices.Max(each), "failover_s_each": each, "failover_acquired_s_each": acquired, "failover_lost": n,
		"lease_ttl_s": ttl.Seconds(), "failover_writes": writes.Load()}
}

func mapValues[K comparable, V any](m map[K]V) []V {
	out := make([]V, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// readEvents reads a file sink's NDJSON events; a line cut by SIGKILL
// mid-write (only ever the last) is skipped.
func readEvents(path string) []listeners.Event {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var out []listeners.Event
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var ev listeners.Event
		if json.Unmarshal(sc.Bytes(), &ev) == nil {
			out = append(out, ev)
		}
	}
	return out
}
