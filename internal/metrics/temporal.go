package metrics

import (
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"
)

// TemporalHandler exposes the Temporal SDK's own metrics (task slots, poll latencies, schedule-to-
// start latency, activity failures, ...) on the registry, under their SDK names (most already
// start with "temporal_"; the others get that prefix). It adapts the SDK's tagged counters, gauges and timers to Prometheus vectors.
//
// Prometheus wants one label set per metric name, while the SDK may tag one name differently in
// different places; the first label set seen for a name wins, missing labels are empty and extra
// ones are dropped.
func (m *Metrics) TemporalHandler() client.MetricsHandler {
	return &temporalHandler{reg: m.temporal}
}

type temporalRegistry struct {
	r      prometheus.Registerer
	mu     sync.Mutex
	vecs   map[string]any
	labels map[string][]string
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

// vec returns the vector for name, creating it with the handler's label names on first use, and
// the label values in its order.
func (h *temporalHandler) vec(name string, create func(name string, labels []string) prometheus.Collector) (any, []string) {
	r := h.reg
	r.mu.Lock()
	defer r.mu.Unlock()
	full := promName(name)
	if !strings.HasPrefix(full, "temporal_") {
		full = "temporal_" + full
	}
	v, ok := r.vecs[full]
	if !ok {
		labels := make([]string, 0, len(h.tags))
		for k := range h.tags {
			labels = append(labels, promName(k))
		}
		sort.Strings(labels)
		c := create(full, labels)
		if err := r.r.Register(c); err != nil {
			return nil, nil // clashes with a metric of the service's own: not exported
		}
		r.vecs[full], r.labels[full] = c, labels
		v = c
	}
	labels := r.labels[full]
	values := make([]string, len(labels))
	byProm := make(map[string]string, len(h.tags))
	for k, val := range h.tags {
		byProm[promName(k)] = val
	}
	for i, l := range labels {
		values[i] = byProm[l]
	}
	return v, values
}

func (h *temporalHandler) Counter(name string) client.MetricsCounter {
	v, values := h.vec(name, func(n string, l []string) prometheus.Collector {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: n + "_total", Help: "Temporal SDK counter " + n}, l)
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
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: n + "_seconds", Help: "Temporal SDK timer " + n,
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}}, l)
	})
	hv, ok := v.(*prometheus.HistogramVec)
	if !ok {
		return nopMetric{}
	}
	o := hv.WithLabelValues(values...)
	return timerFunc(func(d time.Duration) { o.Observe(d.Seconds()) })
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
