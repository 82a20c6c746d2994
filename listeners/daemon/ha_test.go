package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/fbadmin/fbadmin/internal/emutest"
	"github.com/fbadmin/fbadmin/listeners"
)

// haConfig is the config of replica id: n listeners l0..l(n-1) on
// collections c0..c(n-1), one file sink, leases with the given TTL.
func haConfig(t *testing.T, project, dir, id string, n int, ttl string) string {
	var ls strings.Builder
	for i := range n {
		fmt.Fprintf(&ls, "  - {name: l%d, collection: c%d, sinks: [archive]}\n", i, i)
	}
	sub := filepath.Join(dir, id)
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	return writeConfig(t, sub, fmt.Sprintf(`
project: %s
state_dir: %s/state
http: {addr: "off"}
log: {format: json}
engine: {checkpoint_interval: 1s, backoff_initial: 20ms, backoff_max: 300ms}
ha: {replica_id: %s, ttl: %s}
sinks:
  - name: archive
    file: {path: %s/events.ndjson, fsync: always}
listeners:
%s`, project, sub, id, ttl, dir, ls.String()))
}

// latestState merges the events of several sinks, in no particular order
// across them, the way a consumer of per-replica files must: per path, the
// event with the greatest update time wins, and at the same update time a
// removal wins (a removal carries the update time of the version it
// removes).
func latestState(evs []listeners.Event) map[string]listeners.Event {
	st := map[string]listeners.Event{}
	for _, ev := range evs {
		old, ok := st[ev.Path]
		if !ok || ev.UpdateTime.After(old.UpdateTime) || (ev.UpdateTime.Equal(old.UpdateTime) && ev.Type == listeners.Removed) {
			st[ev.Path] = ev
		}
	}
	return st
}

func leaseHolders(t testing.TB, c *firestore.Client) map[string]string {
	t.Helper()
	docs, err := c.Collection("_fbadmin_leases").Documents(context.Background()).GetAll()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, d := range docs {
		var l leaseDoc
		if err := d.DataTo(&l); err != nil {
			t.Fatal(err)
		}
		if l.Holder != "" && time.Now().Before(l.Expires) {
			out[d.Ref.ID] = l.Holder
		}
	}
	return out
}

// TestReplicasSurviveKills runs three replicas sharing ten listeners while
// writers create, update and delete documents, kills (SIGKILL) the replica
// holding the most leases, then another one: the last replica takes every
// listener over within the lease TTL plus a margin, and the state rebuilt
// from every replica's file equals the database.
func TestReplicasSurviveKills(t *testing.T) {
	const n, ttl = 10, 8 * time.Second
	f := emutest.NewFirestore(t)
	dir := t.TempDir()
	ids := []string{"ra", "rb", "rc"}
	procs := map[string]*daemonProc{}
	for _, id := range ids {
		procs[id] = startDaemon(t, haConfig(t, f.ProjectID, dir, id, n, ttl.String()))
	}
	files := func() map[string][]listeners.Event {
		out := map[string][]listeners.Event{}
		for _, id := range ids {
			out[id] = fileEvents(t, filepath.Join(dir, "events."+id+".ndjson"))
		}
		return out
	}

	bg := context.Background()
	var stop atomic.Bool
	var wg sync.WaitGroup
	var werr atomic.Value
	var ops atomic.Int64
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(7, uint64(w)))
			for !stop.Load() {
				ref := f.Client.Collection(fmt.Sprintf("c%d", rng.IntN(n))).Doc(fmt.Sprintf("d%02d", rng.IntN(30)))
				del := rng.IntN(10) < 3
				var err error
				for try := 0; try < 5; try++ {
					if del {
						_, err = ref.Delete(bg)
					} else {
						_, err = ref.Set(bg, map[string]any{"v": rng.Int64(), "w": int64(w)})
					}
					if err == nil {
						break
					}
					time.Sleep(50 * time.Millisecond)
				}
				if err != nil {
					werr.Store(err)
					return
				}
				ops.Add(1)
				time.Sleep(time.Duration(5+rng.IntN(15)) * time.Millisecond)
			}
		}()
	}
	defer func() { stop.Store(true); wg.Wait() }()

	// The three replicas share the listeners (the first one up takes them
	// all, then leaves some to the others) and every listener delivers.
	waitUntil(t, 90*time.Second, "every replica holding leases and every listener delivering", func() bool {
		h := leaseHolders(t, f.Client)
		per := map[string]int{}
		for _, id := range h {
			per[id]++
		}
		if len(h) != n || len(per) != 3 {
			return false
		}
		seen := map[string]bool{}
		for _, evs := range files() {
			for _, ev := range evs {
				seen[ev.Listener] = true
			}
		}
		return len(seen) == n
	})

	alive := map[string]bool{"ra": true, "rb": true, "rc": true}
	for round := 0; round < 2; round++ {
		// Kill the replica holding the most leases.
		h := leaseHolders(t, f.Client)
		per := map[string][]string{}
		for l, id := range h {
			per[id] = append(per[id], l)
		}
		victim := ""
		for id := range alive {
			if victim == "" || len(per[id]) > len(per[victim]) {
				victim = id
			}
		}
		if len(per[victim]) == 0 {
			t.Fatalf("round %d: no live replica holds a lease: %v", round, h)
		}
		// Events of the victim's listeners in the other replicas' files.
		count := func() map[string]int {
			c := map[string]int{}
			for id, evs := range files() {
				if id == victim {
					continue
				}
				for _, ev := range evs {
					c[ev.Listener]++
				}
			}
			return c
		}
		before := count()
		killed := time.Now()
		if err := procs[victim].cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		procs[victim].wait(t, 10*time.Second)
		delete(alive, victim)
		// Delivery of each of its listeners resumes in another replica
		// within the TTL plus a margin for a loaded machine.
		resumed := map[string]time.Duration{}
		waitUntil(t, ttl+40*time.Second, fmt.Sprintf("the listeners %v of killed replica %s delivering again", per[victim], victim), func() bool {
			c := count()
			for _, l := range per[victim] {
				if _, ok := resumed[l]; !ok && c[l] > before[l] {
					resumed[l] = time.Since(killed)
				}
			}
			return len(resumed) == len(per[victim])
		})
		var worst time.Duration
		for _, d := range resumed {
			worst = max(worst, d)
		}
		t.Logf("round %d: killed %s holding %d leases; delivery resumed after %v at worst (TTL %v)", round, victim, len(per[victim]), worst.Round(10*time.Millisecond), ttl)
		if limit := ttl + 20*time.Second; worst > limit {
			t.Errorf("round %d: delivery resumed after %v, want at most the TTL + 20 s (%v)", round, worst, limit)
		}
	}

	stop.Store(true)
	wg.Wait()
	if err, _ := werr.Load().(error); err != nil {
		t.Fatal(err)
	}
	want := map[string]json.RawMessage{}
	for i := range n {
		for p, d := range dbState(t, f.Client.Collection(fmt.Sprintf("c%d", i)).Query) {
			want[p] = d
		}
	}
	converge := func() string {
		var all []listeners.Event
		for _, evs := range files() {
			all = append(all, evs...)
		}
		got := map[string]json.RawMessage{}
		for p, ev := range latestState(all) {
			if ev.Type != listeners.Removed {
				got[p] = ev.Data
			}
		}
		return sameState(got, want)
	}
	deadline := time.Now().Add(60 * time.Second)
	for converge() != "" && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	if s := converge(); s != "" {
		t.Fatalf("the sinks' files differ from the database: %s", s)
	}
	total := 0
	for id, evs := range files() {
		checkOneType(t, id, evs)
		total += len(evs)
	}
	t.Logf("%d writes over %d collections; %d documents at the end; %d events in the replicas' files; 0 missing, 0 extra, 0 stale", ops.Load(), n, len(want), total)

	// SIGTERM drains the last replica, which releases its leases at once.
	for id := range alive {
		if err := procs[id].cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if code := procs[id].wait(t, 60*time.Second); code != 0 {
			t.Fatalf("replica %s exited %d after SIGTERM, want 0", id, code)
		}
	}
	if h := leaseHolders(t, f.Client); len(h) != 0 {
		t.Errorf("leases still held after the last replica drained: %v", h)
	}
}

// TestFencedStoreRefusesStaleToken: a replica whose lease was taken over
// can no longer write the listener's checkpoints or journal.
func TestFencedStoreRefusesStaleToken(t *testing.T) {
	f := emutest.NewFirestore(t)
	ctx := context.Background()
	mk := func(id string) *leases {
		return &leases{client: f.Client, col: f.Client.Collection("_fbadmin_leases"), reps: f.Client.Collection("_fbadmin_leases_replicas"), id: id, ttl: 3 * time.Second}
	}
	a, b := mk("a"), mk("b")
	ta, err := a.acquire(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.acquire(ctx, "orders"); !errors.Is(err, errLeaseBusy) {
		t.Fatalf("b.acquire of a live lease = %v, want errLeaseBusy", err)
	}
	sa := &fsStore{client: f.Client, col: f.Client.Collection("_fbadmin_listen_state"), listener: "orders", holder: "a", token: ta}
	if _, err := sa.Read(ctx, "orders/archive.ckpt"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Read before any write = %v, want fs.ErrNotExist", err)
	}
	if err := sa.Write(ctx, "orders/archive.ckpt", []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := sa.Append(ctx, ".journal/archive.wal", []byte("j1")); err != nil {
		t.Fatal(err)
	}
	if err := sa.Append(ctx, ".journal/archive.wal", []byte("j2")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3100 * time.Millisecond) // a's lease expires unrenewed
	tb, err := b.acquire(ctx, "orders")
	if err != nil || tb != ta+1 {
		t.Fatalf("b.acquire after expiry = %d, %v; want token %d", tb, err, ta+1)
	}
	if err := a.renew(ctx, "orders", ta); !errors.Is(err, errLeaseLost) {
		t.Errorf("a.renew after takeover = %v, want errLeaseLost", err)
	}
	sb := *sa
	sb.holder, sb.token = "b", tb
	if err := sb.claim(ctx, []string{"orders/archive.ckpt", ".journal/archive.wal", "orders/other.ckpt"}); err != nil {
		t.Fatal(err)
	}
	if _, err := sb.Read(ctx, "orders/other.ckpt"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Read of a claimed, never written name = %v, want fs.ErrNotExist", err)
	}
	if err := sa.Write(ctx, "orders/archive.ckpt", []byte("stale")); !errors.Is(err, errFenced) {
		t.Errorf("stale Write = %v, want errFenced", err)
	}
	if err := sa.Append(ctx, ".journal/archive.wal", []byte("stale")); !errors.Is(err, errFenced) {
		t.Errorf("stale Append = %v, want errFenced", err)
	}
	for name, want := range map[string]string{"orders/archive.ckpt": "one", ".journal/archive.wal": "j1j2"} {
		got, err := sb.Read(ctx, name)
		if err != nil || string(got) != want {
			t.Errorf("Read(%s) = %q, %v; want %q", name, got, err, want)
		}
	}
	// A large checkpoint spans several parts; rewriting it replaces them.
	big := []byte(strings.Repeat("x", 2*partSize+17))
	if err := sb.Write(ctx, "orders/archive.ckpt", big); err != nil {
		t.Fatal(err)
	}
	if err := sb.Write(ctx, ".journal/archive.wal", nil); err != nil {
		t.Fatal(err)
	}
	if got, err := sb.Read(ctx, "orders/archive.ckpt"); err != nil || string(got) != string(big) {
		t.Errorf("Read of a %d-byte checkpoint: %d bytes, %v", len(big), len(got), err)
	}
	if got, err := sb.Read(ctx, ".journal/archive.wal"); err != nil || len(got) != 0 {
		t.Errorf("Read of an emptied journal = %q, %v; want empty", got, err)
	}
	if err := b.release(ctx, "orders", tb); err != nil {
		t.Fatal(err)
	}
	if ta2, err := a.acquire(ctx, "orders"); err != nil || ta2 != tb+1 {
		t.Errorf("acquire after release = %d, %v; want token %d at once", ta2, err, tb+1)
	}
}

func TestHAConfig(t *testing.T) {
	t.Setenv("POD_NAME", "listen-7f9c-x2")
	base := "project: p\nstate_dir: /tmp/s\nsinks: [{name: s, stdout: {}}]\nlisteners: [{name: l, collection: c, sinks: [s]}]\n"
	cfg, err := ParseConfig("ha.yaml", []byte(base+"ha: {}\n"))
	if err != nil {
		t.Fatal(err)
	}
	h := cfg.HA
	if h.ReplicaID != "listen-7f9c-x2" || h.TTL != 15*time.Second || h.LeaseCollection != "_fbadmin_leases" ||
		h.Checkpoints != "firestore:_fbadmin_listen_state" || h.Project != "p" || h.Database != "(default)" {
		t.Errorf("defaults: got %+v", *h)
	}
	for _, tc := range []struct{ ha, want string }{
		{"{ttl: 2s}", "ha.ttl: 2s: at least 3s"},
		{"{checkpoints: gs://bucket/prefix}", "gs:// checkpoints are not supported yet"},
		{"{checkpoints: s3://b/p}", "want firestore:COLLECTION"},
		{"{lease_collection: a/b}", "ha.lease_collection"},
		{"{replica_id: a/b}", "ha.replica_id"},
		{"{lease: x}", `unknown field "lease"`},
	} {
		_, err := ParseConfig("ha.yaml", []byte(base+"ha: "+tc.ha+"\n"))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ha: %s: got %v, want an error containing %q", tc.ha, err, tc.want)
		}
	}
	for in, want := range map[string]string{"/d/events.ndjson": "/d/events.r1.ndjson", "/d/events": "/d/events.r1", "/d.x/events": "/d.x/events.r1"} {
		if got := replicaPath(in, "r1"); got != want {
			t.Errorf("replicaPath(%q) = %q, want %q", in, got, want)
		}
	}
}
