package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/Shopify/toxiproxy/v2"
	"github.com/Shopify/toxiproxy/v2/collectors"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// Network is a class of network faults, injected by a [Proxy] between a
// client and its server.
type Network string

// The network fault classes.
const (
	// Latency delays every chunk of data 5 ms (±2 ms) each way.
	Latency Network = "latency"
	// Bandwidth limits each direction to 4 MB/s.
	Bandwidth Network = "bandwidth"
	// Resets closes every connection after 8 MiB from the client, and
	// every 10 s resets (TCP RST) those carrying data from the server:
	// the calls in flight fail, the client reconnects.
	Resets Network = "resets"
	// Stalls stops every connection for 1 s every 12 s (what it carries
	// is dropped, as a dead link drops it), and then closes it.
	Stalls Network = "stalls"
)

// NetworkFaults lists the classes.
var NetworkFaults = []Network{Latency, Bandwidth, Resets, Stalls}

// Proxy is a Toxiproxy proxy (github.com/Shopify/toxiproxy, in process)
// in front of a TCP server, injecting one class of network faults into
// every connection made through it. Point a client at [Proxy.Addr].
type Proxy struct {
	p      *toxiproxy.Proxy
	stop   context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	events int
}

// NewProxy starts a proxy to upstream (host:port) with the faults of
// class; Close stops it.
func NewProxy(upstream string, class Network) (*Proxy, error) {
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	srv.Metrics.ProxyMetrics = collectors.NewProxyMetricCollectors()
	p := &Proxy{p: toxiproxy.NewProxy(srv, "fbadmin-"+string(class), "127.0.0.1:0", upstream)}
	if err := p.p.Start(); err != nil {
		return nil, fmt.Errorf("toxiproxy: %w", err)
	}
	ctx, stop := context.WithCancel(context.Background())
	p.stop = stop
	var err error
	switch class {
	case Latency:
		err = p.add("latency", "latency", "downstream", `{"latency": 5, "jitter": 2}`)
		if err == nil {
			err = p.add("latency_up", "latency", "upstream", `{"latency": 5, "jitter": 2}`)
		}
	case Bandwidth:
		err = p.add("bandwidth", "bandwidth", "downstream", `{"rate": 4096}`)
		if err == nil {
			err = p.add("bandwidth_up", "bandwidth", "upstream", `{"rate": 4096}`)
		}
	case Resets:
		// Every connection closes after 8 MiB from the client, and every
		// 10 s those carrying data from the server are reset.
		err = p.add("limit", "limit_data", "upstream", `{"bytes": 8388608}`)
		p.pulse(ctx, "reset", "reset_peer", `{"timeout": 0}`, 10*time.Second, 50*time.Millisecond)
	case Stalls:
		// Every 12 s, the connections stop for 1 s (what they carry is
		// dropped), then close.
		p.pulse(ctx, "stall", "timeout", `{"timeout": 1000}`, 12*time.Second, 1100*time.Millisecond)
	default:
		err = fmt.Errorf("unknown network fault class %q", class)
	}
	if err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

// pulse adds a downstream toxic for hold, first after two seconds (so that
// a short job is struck too), then every period, until ctx ends.
func (p *Proxy) pulse(ctx context.Context, name, typ, attrs string, period, hold time.Duration) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		wait := 2 * time.Second
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			wait = period - hold
			if p.add(name, typ, "downstream", attrs) != nil {
				return
			}
			select {
			case <-ctx.Done():
			case <-time.After(hold):
			}
			p.p.Toxics.RemoveToxic(context.Background(), name)
		}
	}()
}

func (p *Proxy) add(name, typ, stream, attrs string) error {
	b, _ := json.Marshal(map[string]any{"name": name, "type": typ, "stream": stream, "toxicity": 1, "attributes": json.RawMessage(attrs)})
	if _, err := p.p.Toxics.AddToxicJson(strings.NewReader(string(b))); err != nil {
		return fmt.Errorf("toxiproxy: add %s: %w", name, err)
	}
	p.mu.Lock()
	p.events++
	p.mu.Unlock()
	return nil
}

// Addr is the proxy's address (host:port).
func (p *Proxy) Addr() string { return p.p.Listen }

// Toxics returns how many toxics were added: with resets and stalls, how
// many times they struck.
func (p *Proxy) Toxics() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.events
}

// Close stops the proxy and its connections.
func (p *Proxy) Close() {
	p.stop()
	p.wg.Wait()
	p.p.Stop()
}
