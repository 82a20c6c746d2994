package server

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the server's Prometheus metrics.
type metrics struct {
	reg           *prometheus.Registry
	requests      *prometheus.CounterVec
	latency       *prometheus.HistogramVec
	subscriptions prometheus.Gauge
	events        *prometheus.CounterVec
	dropped       prometheus.Counter
	rateLimited   prometheus.Counter
	refused       *prometheus.CounterVec
	reopened      *prometheus.CounterVec
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fbadmin_serve_requests_total", Help: "HTTP requests by route (a template), method (known methods, else other) and status class (2xx, 4xx, ...).",
		}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "fbadmin_serve_request_duration_seconds", Help: "HTTP request latency by route (WebSocket routes: the connection's lifetime).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route"}),
		subscriptions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "fbadmin_serve_subscriptions_open", Help: "Open change-stream subscriptions (WebSocket watch and GraphQL).",
		}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fbadmin_serve_events_sent_total", Help: "Change-stream messages sent to clients, by transport.",
		}, []string{"transport"}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fbadmin_serve_clients_dropped_total", Help: "Change-stream clients dropped because their send queue filled up.",
		}),
		rateLimited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fbadmin_serve_rate_limited_total", Help: "Requests refused with 429 by the per-user rate limit.",
		}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fbadmin_serve_limit_refusals_total", Help: "Requests, sockets and subscriptions refused by a budget of docs/serve.md#limits-and-abuse, by limit.",
		}, []string{"limit"}),
		reopened: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fbadmin_serve_streams_reopened_total", Help: "Firestore listen streams of live queries reopened, by reason (error, watchdog: silent past watch.watchdog, inconsistent: a snapshot that differed from the query).",
		}, []string{"reason"}),
	}
	m.reg.MustRegister(m.requests, m.latency, m.subscriptions, m.events, m.dropped, m.rateLimited, m.refused, m.reopened,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
