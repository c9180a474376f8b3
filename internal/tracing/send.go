package tracing

import (
	"context"
	"crypto/rand"
	"net/http"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// StartSend starts the client span of a request the service sends (a delivery attempt) and
// writes its W3C traceparent into h. The header is written whether or not traces are exported:
// OpenTelemetry's no-op tracer hands back its parent's context (or none), so then the request
// carries a context of its own, a new span ID in the parent's trace or, with no parent, a new
// trace with the sampled flag off. Only traceparent is written (and tracestate when the trace
// has one), never baggage: a receiver is outside the service.
func StartSend(ctx context.Context, name string, h http.Header, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	parent := trace.SpanContextFromContext(ctx)
	ctx, span := Tracer().Start(ctx, name, append(opts, trace.WithSpanKind(trace.SpanKindClient))...)
	sc := span.SpanContext()
	switch {
	case !sc.IsValid():
		sc = newRoot()
	case sc.Equal(parent): // the no-op tracer's span: its parent's context
		sc = sc.WithSpanID(newSpanID())
	}
	propagation.TraceContext{}.Inject(trace.ContextWithSpanContext(ctx, sc), propagation.HeaderCarrier(h))
	return ctx, span
}

// Untraced serves next with an unsampled trace context, so nothing it does is recorded (spans
// under an unsampled parent are not, with the default parent-based sampler): for probes
// (/healthz, /readyz, /metrics), whose every call would otherwise start a trace of its own, the
// readiness check's DynamoDB call included. With tracing off (On) it stands aside.
func Untraced(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !On() {
			next.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r.WithContext(trace.ContextWithSpanContext(r.Context(), newRoot())))
	})
}

// newRoot is a new, valid span context of a new trace, its sampled flag off.
func newRoot() trace.SpanContext {
	var tid trace.TraceID
	for !tid.IsValid() {
		_, _ = rand.Read(tid[:])
	}
	return trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: newSpanID()})
}

// newSpanID is a new, valid (non-zero) span ID.
func newSpanID() trace.SpanID {
	var sid trace.SpanID
	for !sid.IsValid() {
		_, _ = rand.Read(sid[:])
	}
	return sid
}
