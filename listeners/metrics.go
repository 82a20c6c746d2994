package listeners

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the engine's Prometheus metrics. Create them with
// [NewMetrics] and pass them in [Options]; a nil *Metrics records nothing.
//
//	fbadmin_listen_events_in_total{listener}            document changes received from Firestore
//	fbadmin_listen_events_queued_total{listener,sink}   events handed to a sink's queue
//	fbadmin_listen_events_delivered_total{listener,sink} events the sink acknowledged
//	fbadmin_listen_events_coalesced_total{sink}         events merged into a pending one
//	fbadmin_listen_lag_seconds{listener,sink}           read time to acknowledgement, last batch
//	fbadmin_listen_delivery_seconds{sink}               histogram of the same
//	fbadmin_listen_sink_retries_total{sink}             failed Send calls retried
//	fbadmin_listen_queue_depth{sink}                    events waiting for the sink
//	fbadmin_listen_spool_bytes{sink}                    size of a sink's on-disk spool
//	fbadmin_listen_restarts_total{listener,reason}      listener restarts (error, watchdog, inconsistent)
//	fbadmin_listen_listener_live{listener}              1 once the listener has its first snapshot
type Metrics struct {
	eventsIn  *prometheus.CounterVec
	queued    *prometheus.CounterVec
	delivered *prometheus.CounterVec
	coalesced *prometheus.CounterVec
	lag       *prometheus.GaugeVec
	delivery  *prometheus.HistogramVec
	retries   *prometheus.CounterVec
	restarts  *prometheus.CounterVec
	live      *prometheus.GaugeVec

	depthDesc *prometheus.Desc
	spoolDesc *prometheus.Desc
	mu        sync.Mutex
	sinks     map[string]*sinkRunner
}

// NewMetrics creates the metrics and registers them with reg (when not nil).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		eventsIn: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "fbadmin_listen_events_in_total",
			Help: "Document changes received from Firestore."}, []string{"listener"}),
		queued: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "fbadmin_listen_events_queued_total",
			Help: "Events handed to a sink's queue."}, []string{"listener", "sink"}),
		delivered: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "fbadmin_listen_events_delivered_total",
			Help: "Events acknowledged by a sink."}, []string{"listener", "sink"}),
		coalesced: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "fbadmin_listen_events_coalesced_total",
			Help: "Events merged into a pending event for the same document."}, []string{"sink"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "fbadmin_listen_lag_seconds",
			Help: "Seconds from an event's snapshot read time to its acknowledgement, for the last batch."}, []string{"listener", "sink"}),
		delivery: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "fbadmin_listen_delivery_seconds",
			Help:    "Seconds from an event's snapshot read time to its acknowledgement.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16)}, []string{"sink"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "fbadmin_listen_sink_retries_total",
			Help: "Failed sink sends that were retried."}, []string{"sink"}),
		restarts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "fbadmin_listen_restarts_total",
			Help: "Listener restarts, by reason (error, watchdog, inconsistent)."}, []string{"listener", "reason"}),
		live: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "fbadmin_listen_listener_live",
			Help: "1 when the listener's stream has delivered its first snapshot."}, []string{"listener"}),
		depthDesc: prometheus.NewDesc("fbadmin_listen_queue_depth", "Events waiting in a sink's queue.", []string{"sink"}, nil),
		spoolDesc: prometheus.NewDesc("fbadmin_listen_spool_bytes", "Bytes in a sink's on-disk spool.", []string{"sink"}, nil),
		sinks:     map[string]*sinkRunner{},
	}
	if reg != nil {
		reg.MustRegister(m)
	}
	return m
}

func (m *Metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.eventsIn, m.queued, m.delivered, m.coalesced, m.lag, m.delivery, m.retries, m.restarts, m.live}
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range m.collectors() {
		c.Describe(ch)
	}
	ch <- m.depthDesc
	ch <- m.spoolDesc
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	for _, c := range m.collectors() {
		c.Collect(ch)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for name, s := range m.sinks {
		ch <- prometheus.MustNewConstMetric(m.depthDesc, prometheus.GaugeValue, float64(s.q.len()), name)
		if sp, ok := s.sink.(Spooler); ok {
			ch <- prometheus.MustNewConstMetric(m.spoolDesc, prometheus.GaugeValue, float64(sp.SpoolBytes()), name)
		}
	}
}

func (m *Metrics) addSink(s *sinkRunner) {
	if m == nil {
		return
	}
	m.mu.Lock()
	m.sinks[s.name] = s
	m.mu.Unlock()
	m.coalesced.WithLabelValues(s.name)
	m.retries.WithLabelValues(s.name)
}

func (m *Metrics) addRoute(listener, sink string) {
	if m == nil {
		return
	}
	m.queued.WithLabelValues(listener, sink)
	m.delivered.WithLabelValues(listener, sink)
	m.eventsIn.WithLabelValues(listener)
	m.restarts.WithLabelValues(listener, "error")
	m.restarts.WithLabelValues(listener, "watchdog")
	m.restarts.WithLabelValues(listener, "inconsistent")
	m.live.WithLabelValues(listener).Set(0)
}
