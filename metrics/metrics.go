// Package metrics exposes Lasso's operational metrics in Prometheus's text format with the
// official client. It holds one registry with the Go runtime and process collectors and
// Lasso's own series, and offers small adapters that main installs where events pass: a
// jobs.Publisher wrapper, a cdf observer, a timing decorator around the segmentation engine,
// and functions read at scrape time for the hub and the outbox.
//
// No label carries anything personal or unbounded: routes are Echo's route templates, CDF
// calls are named by the client's fixed op names, and job labels are the backend and the
// final status. User names, file names and ids never become label values.
package metrics

import (
	"context"
	"net/http"
	"regexp"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/lassoteam/lasso/cdf"
	"github.com/lassoteam/lasso/hub"
	"github.com/lassoteam/lasso/jobs"
	"github.com/lassoteam/lasso/segment"
)

// Metrics is Lasso's registry and its collectors. Create it with New; it is safe for
// concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	httpDuration *prometheus.HistogramVec
	jobDuration  *prometheus.HistogramVec
	cdfAttempts  *prometheus.CounterVec
	cdfRetries   *prometheus.CounterVec
	cdfDuration  *prometheus.HistogramVec
	engine       *prometheus.HistogramVec
}

// New returns a registry with the Go runtime and process collectors and Lasso's series. The
// Go collector adds go_gc_heap_live_bytes, the heap the last GC found live: unlike the heap
// in use it leaves out garbage, so it shows a leak apart from the GC's pacing.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/gc/heap/live:bytes$`)})),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	m := &Metrics{
		reg: reg,
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "lasso_http_request_duration_seconds",
			Help:    "HTTP requests by method, route template and status, with their latency.",
			Buckets: prometheus.DefBuckets,
		}, []string{"method", "route", "status"}),
		jobDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "lasso_segment_job_duration_seconds",
			Help:    "Segment jobs that ended, by backend and final status, with the time from prompt to end.",
			Buckets: []float64{0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120},
		}, []string{"backend", "status"}),
		cdfAttempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lasso_cdf_requests_total",
			Help: `HTTP attempts to CDF by endpoint (the client's op name) and status ("0" when no answer came), retries included.`,
		}, []string{"endpoint", "status"}),
		cdfRetries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lasso_cdf_retries_total",
			Help: "Attempts to CDF that repeated an earlier one (after a 429, a gateway error or a transport error), by endpoint.",
		}, []string{"endpoint"}),
		cdfDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "lasso_cdf_request_duration_seconds",
			Help:    "Latency of HTTP attempts to CDF by endpoint.",
			Buckets: prometheus.DefBuckets,
		}, []string{"endpoint"}),
		engine: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "lasso_engine_duration_seconds",
			Help:    "Time Lasso's segmentation engine spent on one prompt, by outcome (ok or error).",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30},
		}, []string{"outcome"}),
	}
	reg.MustRegister(m.httpDuration, m.jobDuration, m.cdfAttempts, m.cdfRetries, m.cdfDuration, m.engine)
	return m
}

// Handler serves the registry in Prometheus's text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Registry is the registry itself, for tests and for collectors registered by main.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// methods are the HTTP methods counted by name; any other is "other", so a client sending
// made-up methods cannot grow the series.
var methods = map[string]bool{http.MethodGet: true, http.MethodHead: true, http.MethodPost: true,
	http.MethodPut: true, http.MethodPatch: true, http.MethodDelete: true, http.MethodOptions: true}

// ObserveRequest records one HTTP request. route must be the route template (e.g.
// /api/images/:id/segment), never the raw URL; an empty route (no route matched) is counted
// as "unmatched".
func (m *Metrics) ObserveRequest(method, route string, status int, d time.Duration) {
	if !methods[method] {
		method = "other"
	}
	if route == "" {
		route = "unmatched"
	}
	m.httpDuration.WithLabelValues(method, route, strconv.Itoa(status)).Observe(d.Seconds())
}

// ObserveCDF records one attempt of the CDF client; install it with cdf.WithObserver.
func (m *Metrics) ObserveCDF(a cdf.Attempt) {
	m.cdfAttempts.WithLabelValues(a.Op, strconv.Itoa(a.Status)).Inc()
	if a.Retry {
		m.cdfRetries.WithLabelValues(a.Op).Inc()
	}
	m.cdfDuration.WithLabelValues(a.Op).Observe(a.Duration.Seconds())
}

// Jobs wraps a jobs.Publisher: every job event passes through to next, and a job's final
// event (done or failed) is counted by backend and status with its duration.
func (m *Metrics) Jobs(next jobs.Publisher) jobs.Publisher {
	return jobPublisher{next: next, m: m}
}

type jobPublisher struct {
	next jobs.Publisher
	m    *Metrics
}

// Publish implements jobs.Publisher.
func (p jobPublisher) Publish(room, typ string, data any) (hub.Message, error) {
	if ev, ok := data.(jobs.Event); ok && (ev.Status == jobs.StatusDone || ev.Status == jobs.StatusFailed) {
		backend := ev.Backend
		if backend == "" {
			backend = "unknown"
		}
		p.m.jobDuration.WithLabelValues(backend, string(ev.Status)).Observe(float64(ev.ElapsedMS) / 1000)
	}
	return p.next.Publish(room, typ, data)
}

// Engine is what vision runs prompts on; *segment.Engine satisfies it (vision.Engine).
type Engine interface {
	Segment(ctx context.Context, src segment.Source, p segment.Prompt) ([]segment.Segment, error)
}

// TimeEngine wraps e so that every prompt it segments is timed.
func (m *Metrics) TimeEngine(e Engine) Engine { return timedEngine{e: e, m: m} }

type timedEngine struct {
	e Engine
	m *Metrics
}

// Segment implements Engine.
func (t timedEngine) Segment(ctx context.Context, src segment.Source, p segment.Prompt) ([]segment.Segment, error) {
	start := time.Now()
	segs, err := t.e.Segment(ctx, src, p)
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	t.m.engine.WithLabelValues(outcome).Observe(time.Since(start).Seconds())
	return segs, err
}

// Hub registers gauges and counters read from stats at every scrape: rooms, live WebSocket
// subscriptions, messages fanned out and slow subscribers dropped (hub.Hub.Stats).
func (m *Metrics) Hub(stats func() hub.Stats) {
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "lasso_hub_rooms", Help: "Rooms the hub holds (with subscribers or recent history)."},
			func() float64 { return float64(stats().Rooms) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "lasso_websocket_subscriptions", Help: "Live WebSocket subscriptions to rooms."},
			func() float64 { return float64(stats().Subscribers) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "lasso_hub_messages_delivered_total", Help: "Events handed to a subscriber (fan-out)."},
			func() float64 { return float64(stats().Delivered) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "lasso_hub_slow_subscribers_dropped_total", Help: "Subscribers dropped because they fell too far behind."},
			func() float64 { return float64(stats().DroppedSlow) }),
	)
}

// Backlog returns the outbox's pending writes and when the oldest was accepted (zero when
// none is pending); store.SQLite.OutboxBacklog satisfies it.
type Backlog func(ctx context.Context) (pending int, oldest time.Time, err error)

// Outbox registers the outbox's depth and the age of its oldest pending write, read from
// backlog at every scrape with timeout. A failed read leaves both series out of that scrape
// and counts lasso_outbox_read_errors_total; the scrape itself succeeds.
func (m *Metrics) Outbox(backlog Backlog, timeout time.Duration) {
	m.reg.MustRegister(&outboxCollector{backlog: backlog, timeout: timeout, now: time.Now})
}

var (
	outboxDepth = prometheus.NewDesc("lasso_outbox_pending_writes", "Annotation writes waiting in the outbox.", nil, nil)
	outboxAge   = prometheus.NewDesc("lasso_outbox_oldest_pending_age_seconds", "Age of the oldest annotation write waiting in the outbox (0 when none).", nil, nil)
	outboxErrs  = prometheus.NewDesc("lasso_outbox_read_errors_total", "Scrapes that could not read the outbox in time.", nil, nil)
)

type outboxCollector struct {
	backlog Backlog
	timeout time.Duration
	now     func() time.Time
	errN    atomic.Uint64 // failed reads; concurrent scrapes may collect at once
}

// Describe implements prometheus.Collector.
func (c *outboxCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- outboxDepth
	ch <- outboxAge
	ch <- outboxErrs
}

// Collect implements prometheus.Collector.
func (c *outboxCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	n, oldest, err := c.backlog(ctx)
	if err != nil {
		c.errN.Add(1)
	} else {
		age := 0.0
		if !oldest.IsZero() {
			age = max(0, c.now().Sub(oldest).Seconds())
		}
		ch <- prometheus.MustNewConstMetric(outboxDepth, prometheus.GaugeValue, float64(n))
		ch <- prometheus.MustNewConstMetric(outboxAge, prometheus.GaugeValue, age)
	}
	ch <- prometheus.MustNewConstMetric(outboxErrs, prometheus.CounterValue, float64(c.errN.Load()))
}
