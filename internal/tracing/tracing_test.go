package tracing_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/pcx/publicservice/internal/tracing"
	"github.com/pcx/publicservice/internal/tracing/tracingtest"
)

// otelVars are the settings Setup reads; every test starts with all of them unset.
var otelVars = []string{
	"OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
	"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES",
}

// cleanEnv unsets the OTEL_* settings for the test and puts the no-op provider back after it.
func cleanEnv(t *testing.T, set map[string]string) {
	t.Helper()
	for _, k := range otelVars {
		t.Setenv(k, set[k])
	}
	t.Cleanup(func() { tracing.Install(noop.NewTracerProvider()) })
}

func TestSetupRefusesWhatItCannotHonour(t *testing.T) {
	for name, tc := range map[string]struct {
		vars  map[string]string
		names string // the setting the error names
	}{
		"another exporter":   {map[string]string{"OTEL_TRACES_EXPORTER": "zipkin", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, "OTEL_TRACES_EXPORTER"},
		"grpc":               {map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317"}, "OTEL_EXPORTER_OTLP_PROTOCOL"},
		"traces grpc":        {map[string]string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc"}, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"},
		"no scheme":          {map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"}, "OTEL_EXPORTER_OTLP_ENDPOINT"},
		"traces not http":    {map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "ftp://collector/v1/traces"}, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"},
		"unparsable address": {map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://[::1"}, "OTEL_EXPORTER_OTLP_ENDPOINT"},
	} {
		t.Run(name, func(t *testing.T) {
			cleanEnv(t, tc.vars)
			_, err := tracing.Setup(context.Background(), "api", "test", zerolog.Nop())
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.names)
		})
	}
}

// Without an endpoint (or with one and tracing switched off) nothing is exported and nothing
// runs: the provider stays the no-op one, no goroutine starts; the W3C propagator is installed.
func TestSetupWithoutAnEndpointIsOff(t *testing.T) {
	for name, vars := range map[string]map[string]string{
		"nothing set":      {"OTEL_SERVICE_NAME": "x"},
		"sdk disabled":     {"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1"},
		"exporter is none": {"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1"},
	} {
		t.Run(name, func(t *testing.T) {
			cleanEnv(t, vars)
			otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator()) // none, until Setup
			before := runtime.NumGoroutine()
			shutdown, err := tracing.Setup(context.Background(), "api", "test", zerolog.Nop())
			require.NoError(t, err)
			assert.Equal(t, before, runtime.NumGoroutine(), "goroutines after Setup")
			_, isSDK := otel.GetTracerProvider().(*sdktrace.TracerProvider)
			assert.False(t, isSDK, "an SDK provider was installed")
			assert.False(t, tracing.On())
			_, span := tracing.Tracer().Start(context.Background(), "x")
			assert.False(t, span.IsRecording())
			span.End()
			require.NoError(t, shutdown(context.Background()))

			h := http.Header{}
			otel.GetTextMapPropagator().Inject(trace.ContextWithSpanContext(context.Background(), remoteParent(true)), propagation.HeaderCarrier(h))
			assert.Equal(t, "00-0102030405060708090a0b0c0d0e0f10-0102030405060708-01", h.Get("traceparent"))
		})
	}
}

// With OTEL_EXPORTER_OTLP_ENDPOINT set, spans reach the collector over OTLP/HTTP by the time
// shutdown returns, under service.name pcx-<service> unless OTEL_SERVICE_NAME says otherwise;
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is the full URL and wins.
func TestSetupExportsOverOTLPToTheEndpoint(t *testing.T) {
	c := tracingtest.NewCollector(t)
	for name, tc := range map[string]struct {
		vars    map[string]string
		service string
	}{
		"base endpoint":   {map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": c.Endpoint()}, "pcx-worker"},
		"traces endpoint": {map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": c.Endpoint() + "/v1/traces"}, "pcx-worker"},
		"service name":    {map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": c.Endpoint(), "OTEL_SERVICE_NAME": "pcx-worker-eu"}, "pcx-worker-eu"},
	} {
		t.Run(name, func(t *testing.T) {
			cleanEnv(t, tc.vars)
			shutdown, err := tracing.Setup(context.Background(), "worker", "v9", zerolog.Nop())
			require.NoError(t, err)
			_, span := tracing.Tracer().Start(context.Background(), "span of "+name)
			require.True(t, span.IsRecording())
			assert.True(t, tracing.On())
			span.End()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			require.NoError(t, shutdown(ctx))
			var found *tracingtest.Span
			for _, s := range c.Spans() {
				if s.Name == "span of "+name {
					found = &s
				}
			}
			require.NotNil(t, found, "the collector did not get the span; it got %v", c.Spans())
			assert.Equal(t, tc.service, found.Service)
			assert.Equal(t, span.SpanContext().TraceID().String(), found.TraceID)
		})
	}
}

func remoteParent(sampled bool) trace.SpanContext {
	cfg := trace.SpanContextConfig{
		TraceID: trace.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		SpanID:  trace.SpanID{1, 2, 3, 4, 5, 6, 7, 8}, Remote: true,
	}
	if sampled {
		cfg.TraceFlags = trace.FlagsSampled
	}
	return trace.NewSpanContext(cfg)
}

// traceparent parses a W3C traceparent header into its span context.
func traceparent(t *testing.T, h http.Header) trace.SpanContext {
	t.Helper()
	sc := trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(), propagation.HeaderCarrier(h)))
	require.True(t, sc.IsValid(), "traceparent %q is not a valid trace context", h.Get("traceparent"))
	return sc
}

// A send carries a valid traceparent whatever the provider: its own span's when spans are
// recorded, a span ID of its own in the parent's trace under the no-op provider, and a new
// unsampled trace when there is no parent either.
func TestStartSendAlwaysWritesATraceparent(t *testing.T) {
	t.Run("recorded", func(t *testing.T) {
		cleanEnv(t, nil)
		exp := tracingtest.InMemory(t)
		h := http.Header{}
		parent := trace.ContextWithSpanContext(context.Background(), remoteParent(true))
		_, span := tracing.StartSend(parent, "send", h)
		span.End()
		sc := traceparent(t, h)
		assert.Equal(t, span.SpanContext().SpanID(), sc.SpanID(), "the header names the send's own span")
		assert.Equal(t, remoteParent(true).TraceID(), sc.TraceID())
		assert.True(t, sc.IsSampled())
		require.Len(t, exp.GetSpans(), 1)
		assert.Equal(t, trace.SpanKindClient, exp.GetSpans()[0].SpanKind)
		assert.Equal(t, remoteParent(true).SpanID(), exp.GetSpans()[0].Parent.SpanID())
	})
	t.Run("no-op provider, a parent", func(t *testing.T) {
		cleanEnv(t, nil)
		for _, sampled := range []bool{true, false} {
			h := http.Header{}
			_, span := tracing.StartSend(trace.ContextWithSpanContext(context.Background(), remoteParent(sampled)), "send", h)
			span.End()
			sc := traceparent(t, h)
			assert.Equal(t, remoteParent(sampled).TraceID(), sc.TraceID(), "the parent's trace")
			assert.NotEqual(t, remoteParent(sampled).SpanID(), sc.SpanID(), "a span ID of its own, not the parent's")
			assert.Equal(t, sampled, sc.IsSampled(), "the parent's sampling decision")
		}
	})
	t.Run("no-op provider, no parent", func(t *testing.T) {
		cleanEnv(t, nil)
		seen := map[trace.TraceID]bool{}
		for range 3 {
			h := http.Header{}
			_, span := tracing.StartSend(context.Background(), "send", h)
			span.End()
			sc := traceparent(t, h)
			assert.False(t, sc.IsSampled(), "traceparent %s: sampled flag set on a trace nobody records", h.Get("traceparent"))
			assert.False(t, seen[sc.TraceID()], "trace ID %s reused", sc.TraceID())
			seen[sc.TraceID()] = true
			assert.Empty(t, h.Get("baggage"))
		}
	})
}

// A probe's request starts no trace, and nothing under it is recorded.
func TestUntracedRecordsNothing(t *testing.T) {
	cleanEnv(t, nil)
	exp := tracingtest.InMemory(t)
	var recording bool
	h := tracing.Untraced(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, span := tracing.Tracer().Start(r.Context(), "a DynamoDB call")
		recording = span.IsRecording()
		span.End()
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/readyz", nil))
	assert.False(t, recording)
	assert.Empty(t, exp.GetSpans())
}

func TestLogFieldsNameTheSpan(t *testing.T) {
	var buf bytes.Buffer
	log := zerolog.New(&buf)
	sc := remoteParent(true)
	l := tracing.LogFields(trace.ContextWithSpanContext(context.Background(), sc), log.With()).Logger()
	l.Info().Msg("with")
	l = tracing.LogFields(context.Background(), log.With()).Logger()
	l.Info().Msg("without")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	require.Len(t, lines, 2)
	var with, without map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &with))
	require.NoError(t, json.Unmarshal([]byte(lines[1]), &without))
	assert.Equal(t, sc.TraceID().String(), with["trace_id"])
	assert.Equal(t, sc.SpanID().String(), with["span_id"])
	assert.NotContains(t, without, "trace_id")
	assert.NotContains(t, without, "span_id")
}
