package metrics

import (
	"io"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	w := httptest.NewRecorder()
	m.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	b, _ := io.ReadAll(w.Body)
	return string(b)
}

func TestServiceMetrics(t *testing.T) {
	m := New()
	m.HTTPRequests.WithLabelValues("public", "/public/me", "GET", "200").Inc()
	m.Deliveries.WithLabelValues("delivered").Add(3)
	m.AttemptDuration.Observe(0.02)
	m.SetBuild("v1.2.3")
	m.SetBuild("v1.2.4") // a second call replaces, never adds, the series
	out := scrape(t, m)
	if strings.Count(out, "pcx_build_info{") != 1 {
		t.Errorf("pcx_build_info series: %d, want 1", strings.Count(out, "pcx_build_info{"))
	}
	for _, want := range []string{
		`pcx_http_requests_total{method="GET",route="/public/me",server="public",status="200"} 1`,
		`pcx_webhook_deliveries_total{outcome="delivered"} 3`,
		`pcx_webhook_attempt_duration_seconds_count 1`,
		`pcx_build_info{go_version="` + runtime.Version() + `",version="v1.2.4"} 1`,
		`go_goroutines`, `process_resident_memory_bytes`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("scrape lacks %s", want)
		}
	}
}

// series returns the value of the series of name whose non-empty labels are exactly labels (as
// PromQL sees it: an empty label is absent): a counter's or gauge's value, a histogram's count.
func series(t *testing.T, m *Metrics, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	metrics:
		for _, mt := range f.GetMetric() {
			got := map[string]string{}
			for _, l := range mt.GetLabel() {
				if l.GetValue() != "" {
					got[l.GetName()] = l.GetValue()
				}
			}
			if len(got) != len(labels) {
				continue
			}
			for k, v := range labels {
				if got[k] != v {
					continue metrics
				}
			}
			switch {
			case mt.Counter != nil:
				return mt.GetCounter().GetValue(), true
			case mt.Gauge != nil:
				return mt.GetGauge().GetValue(), true
			case mt.Histogram != nil:
				return float64(mt.GetHistogram().GetSampleCount()), true
			}
		}
	}
	return 0, false
}

func wantSeries(t *testing.T, m *Metrics, name string, labels map[string]string, want float64) {
	t.Helper()
	got, ok := series(t, m, name, labels)
	if !ok {
		t.Errorf("no series %s%v\n%s", name, labels, scrape(t, m))
		return
	}
	if got != want {
		t.Errorf("%s%v = %v, want %v", name, labels, got, want)
	}
}

// The SDK tags one metric name with different label sets; each lands in its own series under the
// one label set of every Temporal metric, none may panic, and names get the prefix and suffixes
// Temporal's dashboards query.
func TestTemporalHandler(t *testing.T) {
	m := New()
	h := m.TemporalHandler().WithTags(map[string]string{"namespace": "default", "task-queue": "q"})
	h.Counter("temporal_request").Inc(2)
	h.WithTags(map[string]string{"operation": "Poll", "not_an_sdk_tag": "x"}).Counter("temporal_request").Inc(1)
	h.Gauge("worker_task_slots_available").Update(7)
	h.Timer("activity_execution_latency").Record(150 * time.Millisecond)
	m.TemporalHandler().Counter("temporal_request").Inc(1)
	// A name first used as a counter and then as a gauge must not panic.
	h.Gauge("temporal_request").Update(1)

	q := map[string]string{"namespace": "default", "task_queue": "q"}
	wantSeries(t, m, "temporal_request_total", q, 2)
	wantSeries(t, m, "temporal_request_total", map[string]string{"namespace": "default", "task_queue": "q", "operation": "Poll"}, 1)
	wantSeries(t, m, "temporal_request_total", map[string]string{}, 1)
	wantSeries(t, m, "temporal_worker_task_slots_available", q, 7)
	wantSeries(t, m, "temporal_activity_execution_latency_seconds", q, 1)
	if out := scrape(t, m); !strings.Contains(out, "temporal_activity_execution_latency_seconds_bucket{") || strings.Contains(out, "not_an_sdk_tag") {
		t.Errorf("want a histogram in seconds and no tag outside the SDK's:\n%s", out)
	}
}

// Names lists every family of the service's own, series or not, and nothing of the Go runtime's.
func TestNames(t *testing.T) {
	names := New().Names()
	for _, want := range []string{"pcx_build_info", "pcx_webhook_delivery_latency_seconds", "pcx_webhook_oldest_pending_delivery_seconds", "pcx_dynamodb_throttles_total", "pcx_http_requests_total"} {
		if !slices.Contains(names, want) {
			t.Errorf("Names() lacks %s: %v", want, names)
		}
	}
	for _, n := range names {
		if !strings.HasPrefix(n, "pcx_") {
			t.Errorf("Names() has %s, not the service's own", n)
		}
	}
}
