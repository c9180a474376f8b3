package metrics

import (
	"io"
	"net/http/httptest"
	"runtime"
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

// The SDK may tag one metric name with different label sets; none of them may panic, and the
// values land in the first set's series.
func TestTemporalHandler(t *testing.T) {
	m := New()
	h := m.TemporalHandler().WithTags(map[string]string{"namespace": "default", "task-queue": "q"})
	h.Counter("temporal_request").Inc(2)
	h.WithTags(map[string]string{"operation": "Poll"}).Counter("temporal_request").Inc(1) // extra label dropped
	h.Gauge("worker_task_slots_available").Update(7)
	h.Timer("activity_execution_latency").Record(150 * time.Millisecond)
	m.TemporalHandler().Counter("temporal_request").Inc(1) // missing labels: empty
	// A name first used as a counter and then as a gauge must not panic.
	h.Gauge("temporal_request").Update(1)
	out := scrape(t, m)
	for _, want := range []string{
		`temporal_request_total{namespace="default",task_queue="q"} 3`,
		`temporal_request_total{namespace="",task_queue=""} 1`,
		`temporal_worker_task_slots_available{namespace="default",task_queue="q"} 7`,
		`temporal_activity_execution_latency_seconds_count{namespace="default",task_queue="q"} 1`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("scrape lacks %s\n%s", want, out)
		}
	}
}
