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
	// Latency delays every chunk of data 25 ms (±10 ms) each way.
	Latency Network = "latency"
	// Bandwidth limits each direction to 512 KB/s.
	Bandwidth Network = "bandwidth"
	// Resets resets every connection (TCP RST) a second after its first
	// data, and closes it after 256 KiB from the client, whichever
	// comes first: connections live a second or so, in-flight calls fail.
	Resets Network = "resets"
	// Stalls stops every connection for 2 s (data dropped, as a dead
	// link drops it) and then closes it, every 4 s.
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
		err = p.add("latency", "latency", "downstream", `{"latency": 25, "jitter": 10}`)
		if err == nil {
			err = p.add("latency_up", "latency", "upstream", `{"latency": 25, "jitter": 10}`)
		}
	case Bandwidth:
		err = p.add("bandwidth", "bandwidth", "downstream", `{"rate": 512}`)
		if err == nil {
			err = p.add("bandwidth_up", "bandwidth", "upstream", `{"rate": 512}`)
		}
	case Resets:
		err = p.add("reset", "reset_peer", "downstream", `{"timeout": 1000}`)
		if err == nil {
			err = p.add("limit", "limit_data", "upstream", `{"bytes": 262144}`)
		}
	case Stalls:
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case <-time.After(2 * time.Second):
				}
				if p.add("stall", "timeout", "downstream", `{"timeout": 2000}`) != nil {
					return
				}
				select {
				case <-ctx.Done():
				case <-time.After(2200 * time.Millisecond):
				}
				p.p.Toxics.RemoveToxic(context.Background(), "stall")
			}
		}()
	default:
		err = fmt.Errorf("unknown network fault class %q", class)
	}
	if err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
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

// Stalled returns how many stalls were started (class Stalls).
func (p *Proxy) Stalled() int {
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
