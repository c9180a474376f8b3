package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/pcx/publicservice/internal/keyformat"
	"github.com/pcx/publicservice/internal/tracing"
	"github.com/pcx/publicservice/internal/tracing/tracingtest"
)

// Each request is a server span named "<method> <route pattern>", never after its path (which
// holds IDs, and here a whole key); it continues the caller's traceparent; its url.path is
// redacted; its log line carries its trace_id and span_id; probes make no span.
func TestRequestsAreSpansNamedByRoute(t *testing.T) {
	exp := tracingtest.InMemory(t)
	var logs bytes.Buffer
	h := NewServer(Deps{
		Webhooks: noWebhookService{}, Log: zerolog.New(&logs), Auth: &fakeAuth{}, Keys: &fakeKeys{},
		RequestTimeout: 5 * time.Second,
	})
	key, err := keyformat.New()
	require.NoError(t, err)
	const caller = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

	for _, rq := range []struct{ method, path, traceparent string }{
		{"POST", "/public/webhooks/notify", caller},
		{"GET", "/public/api-keys/" + key.String(), ""},
		{"GET", "/no/such/" + key.String(), ""},
		{"GET", "/healthz", ""},
		{"GET", "/readyz", ""},
	} {
		req := httptest.NewRequest(rq.method, rq.path, strings.NewReader(`{}`))
		req.Header.Set("X-API-Key", goodKey)
		req.Header.Set("Content-Type", "application/json")
		if rq.traceparent != "" {
			req.Header.Set("traceparent", rq.traceparent)
		}
		h.ServeHTTP(httptest.NewRecorder(), req)
	}

	spans := exp.GetSpans()
	names := make([]string, len(spans))
	for i, s := range spans {
		names[i] = s.Name
	}
	require.Equal(t, []string{"POST /public/webhooks/notify", "GET /public/api-keys/{key}", "GET"}, names, "span names (no probe spans)")

	notify := spans[0]
	assert.Equal(t, "4bf92f3577b34da6a3ce929d0e0e4736", notify.SpanContext.TraceID().String(), "the caller's trace")
	assert.Equal(t, "00f067aa0ba902b7", notify.Parent.SpanID().String(), "the caller's span is the parent")
	attrs := map[string]string{}
	for _, kv := range spans[1].Attributes {
		attrs[string(kv.Key)] = kv.Value.Emit()
	}
	assert.Equal(t, "/public/api-keys/{key}", attrs["http.route"])
	assert.Equal(t, keyformat.Redact("/public/api-keys/"+key.String()), attrs["url.path"])
	for _, s := range spans {
		for _, kv := range s.Attributes {
			assert.NotContains(t, kv.Value.Emit(), key.Secret, "span %q attribute %s carries the key's secret", s.Name, kv.Key)
		}
	}

	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m))
		if m["message"] == "request" {
			lines = append(lines, m)
		}
	}
	require.Len(t, lines, 5, "one request line per request")
	for i, s := range spans {
		assert.Equal(t, s.SpanContext.TraceID().String(), lines[i]["trace_id"], "line %v", lines[i])
		assert.Equal(t, s.SpanContext.SpanID().String(), lines[i]["span_id"], "line %v", lines[i])
	}
	for _, probe := range lines[3:] {
		assert.NotContains(t, probe, "trace_id", "a probe is not traced: %v", probe)
	}
}

// A request refused before its route is matched (a bad key: authentication runs before the
// /public routes are told apart) is named after the pattern it reached, as its access log line
// and metrics are; never after its path.
func TestUnauthenticatedRequestsAreNamedByThePatternReached(t *testing.T) {
	exp := tracingtest.InMemory(t)
	h := NewServer(Deps{Webhooks: noWebhookService{}, Log: zerolog.Nop(), Auth: &fakeAuth{}, Keys: &fakeKeys{}, RequestTimeout: time.Second})
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/public/webhooks/wh_123/deliveries", nil))
	require.Equal(t, http.StatusUnauthorized, w.Code)
	require.Len(t, exp.GetSpans(), 1)
	assert.Equal(t, "GET /public/*", exp.GetSpans()[0].Name)
}

// With tracing off no span is made, but a caller's trace context is passed on and logged.
func TestTracingOffPassesTheCallersTraceOn(t *testing.T) {
	tracing.Install(noop.NewTracerProvider())
	var logs bytes.Buffer
	h := NewServer(Deps{Webhooks: noWebhookService{}, Log: zerolog.New(&logs), Auth: &fakeAuth{}, Keys: &fakeKeys{}, RequestTimeout: time.Second})
	for _, tp := range []string{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", ""} {
		req := httptest.NewRequest(http.MethodGet, "/public/me", nil)
		req.Header.Set("X-API-Key", goodKey)
		if tp != "" {
			req.Header.Set("traceparent", tp)
		}
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	require.Len(t, lines, 2)
	var with, without map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &with))
	require.NoError(t, json.Unmarshal([]byte(lines[1]), &without))
	assert.Equal(t, "4bf92f3577b34da6a3ce929d0e0e4736", with["trace_id"])
	assert.Equal(t, "00f067aa0ba902b7", with["span_id"])
	assert.NotContains(t, without, "trace_id")
}
