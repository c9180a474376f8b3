package metrics

import (
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"
)

// TemporalHandler exposes the Temporal SDK's own metrics (task slots, poll latencies, schedule-to-
// start latency, activity failures, ...) on the registry under the names Temporal's SDK dashboards
// query: the SDK's name with the "temporal_" prefix (added where missing), counters ending in
// "_total", timers as histograms in seconds ending in "_seconds" — as the SDK's documented tally
// Prometheus route (contrib/tally NewPrometheusNamingScope) names them (temporalio/dashboards sdk/temporal-go-java-sdks-tally.json
// queries temporal_request_failure_total, temporal_workflow_task_schedule_to_start_latency_seconds_bucket,
// temporal_activity_schedule_to_start_latency_seconds_count, temporal_workflow_completed_total).
// TestTemporalMetricNames runs a workflow against a real server and checks the scrape.
//
// Prometheus wants one label set per metric name, while the SDK tags one name differently in
// different places (temporal_request with and without operation, for one): every Temporal metric
// carries all of the SDK's tag names (temporalLabels), those a call does not set empty, which
// PromQL treats as absent. Tags outside that list are dropped.
func (m *Metrics) TemporalHandler() client.MetricsHandler {
	return &temporalHandler{reg: m.temporal}
}

// TemporalSeries are series of the Temporal SDK's metrics that a worker exports once it ran a
// workflow with an activity and a local activity and a request failed, under the names Temporal's
// Go SDK dashboard (temporalio/dashboards sdk/temporal-go-java-sdks-tally.json) queries:
// TestTemporalMetricNames proves each on a real server's worker. deploy/'s dashboard and alert
// rules may query these.
var TemporalSeries = []string{
	"temporal_request_total",
	"temporal_request_failure_total",
	"temporal_request_latency_seconds_bucket",
	"temporal_long_request_total",
	"temporal_workflow_completed_total",
	"temporal_workflow_endtoend_latency_seconds_bucket",
	"temporal_workflow_task_schedule_to_start_latency_seconds_bucket",
	"temporal_workflow_task_execution_latency_seconds_bucket",
	"temporal_workflow_task_queue_poll_succeed_total",
	"temporal_activity_schedule_to_start_latency_seconds_bucket",
	"temporal_activity_execution_latency_seconds_bucket",
	"temporal_activity_succeed_endtoend_latency_seconds_bucket",
	"temporal_local_activity_execution_latency_seconds_bucket",
	"temporal_local_activity_total", // the SDK's name ends in _total already: not doubled
	"temporal_worker_task_slots_available",
	"temporal_worker_task_slots_used",
	"temporal_sticky_cache_size",
}

type temporalRegistry struct {
	r    prometheus.Registerer
	mu   sync.Mutex
	vecs map[string]any
}

// temporalLabels are the tag names the Go SDK sets (go.temporal.io/sdk internal/common/metrics
// constants.go), already Prometheus names, sorted: the labels of every Temporal metric.
var temporalLabels = []string{
	"activity_type", "cause", "client_name", "failure_reason", "namespace", "nexus_operation",
	"nexus_service", "operation", "poller_type", "status_code", "task_queue", "worker_type", "workflow_type",
}

type temporalHandler struct {
	reg  *temporalRegistry
	tags map[string]string
}

func (h *temporalHandler) WithTags(tags map[string]string) client.MetricsHandler {
	merged := make(map[string]string, len(h.tags)+len(tags))
	for k, v := range h.tags {
		merged[k] = v
	}
	for k, v := range tags {
		merged[k] = v
	}
	return &temporalHandler{reg: h.reg, tags: merged}
}

// promName turns an SDK metric or tag name into a Prometheus one.
func promName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' {
			return r
		}
		return '_'
	}, s)
}

// vec returns the vector for name, creating it on first use, and the handler's tags as its
// label values.
func (h *temporalHandler) vec(name string, create func(name string, labels []string) prometheus.Collector) (any, []string) {
	r := h.reg
	full := promName(name)
	if !strings.HasPrefix(full, "temporal_") {
		full = "temporal_" + full
	}
	r.mu.Lock()
	v, ok := r.vecs[full]
	if !ok {
		c := create(full, temporalLabels)
		if err := r.r.Register(c); err != nil {
			r.mu.Unlock()
			return nil, nil // clashes with a metric of the service's own: not exported
		}
		r.vecs[full] = c
		v = c
	}
	r.mu.Unlock()
	byProm := make(map[string]string, len(h.tags))
	for k, val := range h.tags {
		byProm[promName(k)] = val
	}
	values := make([]string, len(temporalLabels))
	for i, l := range temporalLabels {
		values[i] = byProm[l]
	}
	return v, values
}

func (h *temporalHandler) Counter(name string) client.MetricsCounter {
	v, values := h.vec(name, func(n string, l []string) prometheus.Collector {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: withSuffix(n, "_total"), Help: "Temporal SDK counter " + n}, l)
	})
	cv, ok := v.(*prometheus.CounterVec)
	if !ok {
		return nopMetric{}
	}
	c := cv.WithLabelValues(values...)
	return counterFunc(func(d int64) { c.Add(float64(d)) })
}

func (h *temporalHandler) Gauge(name string) client.MetricsGauge {
	v, values := h.vec(name, func(n string, l []string) prometheus.Collector {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: n, Help: "Temporal SDK gauge " + n}, l)
	})
	gv, ok := v.(*prometheus.GaugeVec)
	if !ok {
		return nopMetric{}
	}
	g := gv.WithLabelValues(values...)
	return gaugeFunc(g.Set)
}

func (h *temporalHandler) Timer(name string) client.MetricsTimer {
	v, values := h.vec(name, func(n string, l []string) prometheus.Collector {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: withSuffix(n, "_seconds"), Help: "Temporal SDK timer " + n,
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}}, l)
	})
	hv, ok := v.(*prometheus.HistogramVec)
	if !ok {
		return nopMetric{}
	}
	o := hv.WithLabelValues(values...)
	return timerFunc(func(d time.Duration) { o.Observe(d.Seconds()) })
}

// withSuffix appends suffix unless name ends in it already, as the SDK's tally route
// (go.temporal.io/sdk/contrib/tally NewPrometheusNamingScope) names counters and timers:
// temporal_local_activity_total stays as it is.
func withSuffix(name, suffix string) string {
	if strings.HasSuffix(name, suffix) {
		return name
	}
	return name + suffix
}

type counterFunc func(int64)

func (f counterFunc) Inc(d int64) { f(d) }

type gaugeFunc func(float64)

func (f gaugeFunc) Update(v float64) { f(v) }

type timerFunc func(time.Duration)

func (f timerFunc) Record(d time.Duration) { f(d) }

type nopMetric struct{}

func (nopMetric) Inc(int64)            {}
func (nopMetric) Update(float64)       {}
func (nopMetric) Record(time.Duration) {}
