// Package tracing is the service's OpenTelemetry floor: the process's tracer provider built from
// the standard OTEL_* environment (exporting over OTLP/HTTP only when an endpoint is set), the
// W3C propagators, the Temporal interceptor that carries a trace from notify through the
// workflow to its activities, the traceparent every delivery carries, and the trace fields of
// log lines.
//
// Instrumentation reads the process-wide provider (otel.GetTracerProvider), as OpenTelemetry's
// own instrumentation does, so the DynamoDB, HTTP and Temporal spans and ours land in one place,
// and a test installs an in-memory provider with Install.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync/atomic"

	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// scope names the tracer of the service's own spans (the delivery attempts).
const scope = "github.com/pcx/publicservice"

// Propagator reads and writes the W3C trace context (traceparent, tracestate) and baggage: what
// the api accepts from callers and installs process-wide, whatever else is configured.
var Propagator propagation.TextMapPropagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

// Setup installs the process's tracing from the standard OTEL_* environment and returns the
// shutdown that flushes it. The W3C propagators are always installed. Spans are exported only
// when OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT is set (and neither
// OTEL_SDK_DISABLED=true nor OTEL_TRACES_EXPORTER=none says otherwise); without one the provider
// stays OpenTelemetry's no-op: no exporter, no goroutine, nothing recorded.
//
// The exporter and the provider read the rest themselves (OTEL_EXPORTER_OTLP_HEADERS, _TIMEOUT,
// OTEL_TRACES_SAMPLER and _ARG, OTEL_BSP_*, OTEL_RESOURCE_ATTRIBUTES). service.name is
// "pcx-<service>" unless OTEL_SERVICE_NAME names another. Settings this service cannot honour
// (another exporter, the gRPC protocol, an endpoint that is not an http(s) URL) are refused, as
// every invalid setting is, so a misconfigured collector shows at start, not as missing traces.
// Export failures are logged to log, at warn.
func Setup(ctx context.Context, service, version string, log zerolog.Logger) (shutdown func(context.Context) error, err error) {
	otel.SetTextMapPropagator(Propagator)
	on, err := exporting(os.Getenv)
	if err != nil || !on {
		return func(context.Context) error { return nil }, err
	}
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		log.Warn().Err(err).Str("component", "tracing").Msg("exporting traces failed")
	}))
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("tracing: OTLP exporter: %w", err)
	}
	res, err := resource.New(ctx, resource.WithTelemetrySDK(),
		resource.WithAttributes(semconv.ServiceName("pcx-"+service), semconv.ServiceVersion(version)),
		resource.WithFromEnv(), // last, so OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win
	)
	if err != nil {
		return nil, fmt.Errorf("tracing: OTEL_RESOURCE_ATTRIBUTES: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	Install(tp)
	return tp.Shutdown, nil
}

// Install makes tp the process's tracer provider and installs the W3C propagators. Setup calls
// it; tests call it with an in-memory provider, and with noop.NewTracerProvider() to turn
// tracing off again.
func Install(tp trace.TracerProvider) {
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(Propagator)
	_, off := tp.(noop.TracerProvider)
	on.Store(!off)
}

// on is whether a provider that records spans is installed.
var on atomic.Bool

// On reports whether spans are recorded: a provider other than the no-op one is installed. When
// they are not, instrumentation that would only make no-op spans can stand aside, passing a
// caller's trace context on as it is.
func On() bool { return on.Load() }

// exporting reports whether the environment asks for traces to be exported, or what in it cannot
// be honoured.
func exporting(getenv func(string) string) (bool, error) {
	if strings.EqualFold(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")), "true") {
		return false, nil
	}
	switch e := strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER")); e {
	case "", "otlp":
	case "none":
		return false, nil
	default:
		return false, fmt.Errorf("OTEL_TRACES_EXPORTER %q: only otlp (or none) is supported", e)
	}
	for _, name := range []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		if p := strings.TrimSpace(getenv(name)); p != "" && p != "http/protobuf" {
			return false, fmt.Errorf("%s %q: only http/protobuf is supported (the collector's OTLP/HTTP port, 4318)", name, p)
		}
	}
	for _, name := range []string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"} {
		v := strings.TrimSpace(getenv(name))
		if v == "" {
			continue
		}
		if err := checkEndpoint(v); err != nil {
			return false, fmt.Errorf("%s %q: %w", name, v, err)
		}
		return true, nil // the traces endpoint, when set, is the one the exporter uses
	}
	return false, nil
}

func checkEndpoint(v string) error {
	u, err := url.Parse(v)
	if err != nil {
		return err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("want an http(s) URL such as http://otel-collector:4318")
	}
	return nil
}

// Tracer is the tracer of the service's own spans, from the provider installed at the time of
// the call.
func Tracer() trace.Tracer { return otel.Tracer(scope) }

// LogFields adds trace_id and span_id to a log context when ctx carries a valid span context, so
// a log line leads to its trace.
func LogFields(ctx context.Context, c zerolog.Context) zerolog.Context {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return c
	}
	return c.Str("trace_id", sc.TraceID().String()).Str("span_id", sc.SpanID().String())
}
