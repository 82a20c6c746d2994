package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/fbadmin/fbadmin/listeners/daemon"
	"github.com/fbadmin/fbadmin/repository"
)

// deliveryConfig is the delivery section's settings.
type deliveryConfig struct {
	dur     time.Duration // how long the writers run
	writers int           // batches committed in parallel
	batch   int           // documents per batch
}

// delivery runs the daemon with two listeners on the collection live, one
// delivering to the file sink and one to the postgres sink, while writers
// create documents at full speed, and compares the sinks' delivered events
// over the writers' window.
func delivery(ctx context.Context, project, dir string, db *database, dc deliveryConfig) map[string]any {
	cfg := config(project, dir, "127.0.0.1:0", `
  - name: live_file
    collection: live
    initial: changes-only
    sinks: [file]
  - name: live_pg
    collection: live
    initial: changes-only
    sinks: [pg]`)
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- daemon.Run(runCtx, cfg, daemon.Options{Logger: quiet, Ready: func(addr string) { addrc <- addr }})
	}()
	var base string
	select {
	case addr := <-addrc:
		base = "http://" + addr
	case err := <-done:
		check(fmt.Errorf("delivery: the daemon stopped before it served: %v", err))
	}
	hc := &http.Client{Timeout: 10 * time.Second}
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(50 * time.Millisecond) {
		resp, err := hc.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			check(fmt.Errorf("delivery: the daemon's listeners not live after 2 minutes (/readyz: %v)", err))
		}
	}
	delivered := func() map[string]float64 {
		m, err := scrape(hc, base+"/metrics")
		check(err)
		return m
	}

	client, err := firestore.NewClient(ctx, project)
	check(err)
	defer client.Close()
	logf("delivery: %d writers committing batches of %d new documents for %v; the daemon delivers them to a file sink and a postgres sink (one listener each)",
		dc.writers, dc.batch, dc.dur)
	d0 := delivered()
	start := time.Now()
	w := repository.New[map[string]any](client, "live").BulkWriter(ctx, &repository.BulkOptions{Concurrency: dc.writers, BatchSize: dc.batch})
	for i := 0; time.Since(start) < dc.dur; i++ {
		if err := w.Set(fmt.Sprintf("w%08d", i), benchDoc(i)); err != nil {
			_, _ = w.Close()
			check(err)
		}
	}
	// A write the emulator failed (under load it cancels a commit now and
	// then) is left out: the sinks are expected to deliver those written.
	sum, err := w.Close()
	end := time.Now()
	d1 := delivered()
	if err != nil {
		logf("delivery: %d writes failed and are not counted: %v", sum.Failed, err)
	}
	written := int(sum.Written)
	window := end.Sub(start)

	// Then until both sinks hold every document written.
	caught := map[string]time.Duration{}
	for deadline := end.Add(5 * time.Minute); len(caught) < 2; time.Sleep(50 * time.Millisecond) {
		m := delivered()
		for _, s := range []string{"file", "pg"} {
			if _, ok := caught[s]; !ok && int(m[s]) >= written {
				caught[s] = time.Since(end)
			}
		}
		if time.Now().After(deadline) {
			check(fmt.Errorf("delivery: 5 minutes after the writers' end, the file sink has delivered %.0f and the postgres sink %.0f of %d documents",
				m["file"], m["pg"], written))
		}
	}
	stop()
	check(<-done)
	// A failed commit may have been applied all the same.
	if rows := db.count(ctx, "live_pg"); rows < written || rows > written+int(sum.Failed) {
		check(fmt.Errorf("delivery: the postgres table holds %d rows, want %d (%d more if failed writes were applied)", rows, written, sum.Failed))
	}

	r := map[string]any{
		"delivery_writers": dc.writers, "delivery_batch": dc.batch, "delivery_window_s": round(window.Seconds()),
		"delivery_written": written, "delivery_written_per_s": rate(written, window), "delivery_write_failures": sum.Failed,
	}
	for _, s := range []string{"file", "pg"} {
		k := int(d1[s] - d0[s])
		r[s+"_delivered_in_window"] = k
		r[s+"_delivered_per_s"] = rate(k, window)
		r[s+"_caught_up_after_writers_s"] = round(caught[s].Seconds())
	}
	r["delivered_vs_file_sink"] = round((d1["pg"] - d0["pg"]) / (d1["file"] - d0["file"]))
	logf("delivery: %d documents written in %.1f s (%.0f/s); in that window the file sink delivered %d (%.0f/s), the postgres sink %d (%.0f/s): ratio %.3f; both caught up %.2f s (file) and %.2f s (postgres) after the writers' end",
		written, window.Seconds(), r["delivery_written_per_s"], r["file_delivered_in_window"], r["file_delivered_per_s"],
		r["pg_delivered_in_window"], r["pg_delivered_per_s"], r["delivered_vs_file_sink"],
		r["file_caught_up_after_writers_s"], r["pg_caught_up_after_writers_s"])
	return r
}

var sinkLabel = regexp.MustCompile(`[{,]sink="([^"]*)"`)

// scrape returns fbadmin_listen_events_delivered_total per sink from the
// daemon's /metrics (summed over listeners).
func scrape(hc *http.Client, url string) (map[string]float64, error) {
	resp, err := hc.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	m := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "fbadmin_listen_events_delivered_total{") {
			continue
		}
		sink := sinkLabel.FindStringSubmatch(line)
		i := strings.LastIndexByte(line, ' ')
		if sink == nil || i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			return nil, fmt.Errorf("/metrics: %q: %w", line, err)
		}
		m[sink[1]] += v
	}
	return m, sc.Err()
}
