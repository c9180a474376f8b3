package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/pcx/publicservice/activities"
	"github.com/pcx/publicservice/internal/tracing/tracingtest"
)

// traceOf is the W3C trace context a receiver got in traceparent (invalid when it got none).
func traceOf(r received) trace.SpanContext {
	return trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(), propagation.HeaderCarrier(r.header)))
}

// Promise (contract §11): one trace runs from the notify request through the workflow to each
// delivery attempt, and each delivery carries that trace in its traceparent.
//
// The api and the worker run in-process with an in-memory exporter installed as the process's
// provider, as tracing.Setup installs the OTLP one. One endpoint answers at once; the other fails
// its first attempt (sent by the batch activity) and takes the retry (the Deliver activity). All
// three attempts are spans of the notify request's trace, each descending from the notify span
// through the workflow's and the activity's spans; each request the receivers got names its
// attempt's span as parent; the DynamoDB calls are in the trace; and the notify request's log
// line and the worker's attempt lines carry its trace_id.
//
// Not parallel: the provider is the process's, and no other test's services may run meanwhile.
func TestOneTraceFromNotifyToEachDeliveryAttempt(t *testing.T) {
	exp := tracingtest.InMemory(t)

	rc := newReceiver(t)
	rc.answer("/retry", 500, 200)
	e := newEnv(t)
	e.allow(rc)
	e.fastRetries("200ms")
	e.vars["LOG_LEVEL"] = "debug"
	e.capture = &lockedBuffer{}
	api := e.startAPI()
	e.startWorker()
	key := e.bootstrapKey("org-trace", "u")
	ok := register(t, api.base, key, rc.url("/ok"))
	retry := register(t, api.base, key, rc.url("/retry"))
	acc := notify(t, api.base, key, "org-trace", `{"id":"tx_trace"}`)
	waitDelivery(t, api.base, key, acc.EventID, ok.WebhookID, "delivered", 1, 30*time.Second)
	waitDelivery(t, api.base, key, acc.EventID, retry.WebhookID, "delivered", 2, 30*time.Second)
	waitWorkflowClosed(t, temporalClient(t), acc.WorkflowID, 30*time.Second)

	var notifySpan *tracetest.SpanStub
	for _, s := range exp.GetSpans() {
		if s.Name == "POST /public/webhooks/notify" {
			notifySpan = &s
		}
	}
	if notifySpan == nil {
		t.Fatalf("no span named after notify's route; spans: %v", spanNames(exp.GetSpans()))
	}
	traceID := notifySpan.SpanContext.TraceID()

	// Every span has ended once the workflow has closed and the receivers have answered, but the
	// activity's own span ends after its result is sent: wait for the attempts' ancestry.
	var attempts []tracetest.SpanStub
	eventually(t, 10*time.Second, "every attempt's span descends from the notify span", func() bool {
		attempts = attempts[:0]
		byID := map[trace.SpanID]tracetest.SpanStub{}
		for _, s := range exp.GetSpans() {
			if s.SpanContext.TraceID() == traceID {
				byID[s.SpanContext.SpanID()] = s
			}
			if s.Name == activities.DeliverySpan {
				attempts = append(attempts, s)
			}
		}
		for _, a := range attempts {
			if !descends(byID, a, notifySpan.SpanContext.SpanID()) {
				return false
			}
		}
		return len(attempts) == 3
	})
	var names []string
	for _, s := range exp.GetSpans() {
		if s.SpanContext.TraceID() == traceID {
			names = append(names, s.Name)
		}
	}
	joined := strings.Join(names, ", ")
	t.Logf("the trace's spans: %s", joined)
	for _, want := range []string{"StartWorkflow:", "RunWorkflow:", "StartActivity:DeliverBatch", "RunActivity:DeliverBatch", "RunActivity:Deliver", "DynamoDB."} {
		if !strings.Contains(joined, want) {
			t.Errorf("the trace has no %q span; it has %s", want, joined)
		}
	}

	attemptIDs := map[trace.SpanID]bool{}
	for _, a := range attempts {
		attemptIDs[a.SpanContext.SpanID()] = true
		if a.SpanKind != trace.SpanKindClient {
			t.Errorf("attempt span kind %v, want client", a.SpanKind)
		}
	}
	got := append(rc.requests("/ok"), rc.requests("/retry")...)
	if len(got) != 3 {
		t.Fatalf("the receivers got %d requests, want 3", len(got))
	}
	for _, r := range got {
		sc := traceOf(r)
		if sc.TraceID() != traceID || !attemptIDs[sc.SpanID()] || !sc.IsSampled() {
			t.Errorf("traceparent %q: want trace %s, an attempt span's ID as parent, sampled", r.header.Get("traceparent"), traceID)
		}
	}

	var notifyLogged, attemptLogged bool
	for _, line := range strings.Split(e.capture.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil || m["trace_id"] != traceID.String() || m["span_id"] == nil {
			continue
		}
		notifyLogged = notifyLogged || m["message"] == "request" && m["route"] == "/public/webhooks/notify"
		attemptLogged = attemptLogged || m["message"] == "delivery attempt"
	}
	if !notifyLogged || !attemptLogged {
		t.Errorf("log lines with trace_id %s: notify's request line %v, a delivery attempt line %v", traceID, notifyLogged, attemptLogged)
	}
}

// descends reports whether s has the span ancestor among its ancestors in byID.
func descends(byID map[trace.SpanID]tracetest.SpanStub, s tracetest.SpanStub, ancestor trace.SpanID) bool {
	for range len(byID) + 1 {
		p := s.Parent.SpanID()
		if p == ancestor {
			return true
		}
		var ok bool
		if s, ok = byID[p]; !ok {
			return false
		}
	}
	return false
}

func spanNames(spans tracetest.SpanStubs) []string {
	names := make([]string, len(spans))
	for i, s := range spans {
		names[i] = s.Name
	}
	return names
}

// Promise (contract §11): with OTEL_EXPORTER_OTLP_ENDPOINT set, the api and worker binaries
// export their spans over OTLP/HTTP, one trace from notify to the delivery, and flush them when
// they stop; unset, they export nothing and the delivery still carries a traceparent.
//
// The export's schedule is a minute long here, so what the collector gets arrives by the exit
// flush. Without the variable a collector listens on the exporter's default address
// (127.0.0.1:4318, when it is free), where an exporter started regardless would send.
func TestTracesExportOverOTLPOnlyWhenConfigured(t *testing.T) {
	t.Parallel()
	apiBin, workerBin := binaries(t)
	// stack runs the binaries with the settings; send notifies (with headers) and returns what
	// the receiver got; stop stops both processes, which flushes their spans.
	stack := func(t *testing.T, settings ...string) (send func(headers ...string) received, stop func()) {
		rc := newReceiver(t)
		e := newEnv(t)
		e.allow(rc)
		dir := t.TempDir()
		settings = append(settings, "OTEL_BSP_SCHEDULE_DELAY=60000", "OTEL_SERVICE_NAME=")
		api := e.startAPIProcess(apiBin, dir, settings...)
		worker := e.startWorkerProcess(workerBin, dir, settings...)
		key := e.bootstrapKey("org-otlp", "u")
		register(t, api.base, key, rc.url("/hook"))
		n := 0
		send = func(headers ...string) received {
			n++
			notify(t, api.base, key, "org-otlp", `{"id":"tx_otlp"}`, headers...)
			return rc.waitCount(t, "/hook", n, 30*time.Second)[n-1]
		}
		return send, func() { api.p.Stop(); worker.Stop() }
	}

	t.Run("configured", func(t *testing.T) {
		c := tracingtest.NewCollector(t)
		send, stop := stack(t, "OTEL_EXPORTER_OTLP_ENDPOINT="+c.Endpoint())
		got := send()
		stop()
		sent := traceOf(got)
		var notifySpan, attempt *tracingtest.Span
		for _, s := range c.Spans() {
			switch {
			case s.Service == "pcx-api" && s.Name == "POST /public/webhooks/notify":
				notifySpan = &s
			case s.Service == "pcx-worker" && s.Name == activities.DeliverySpan:
				attempt = &s
			}
		}
		if notifySpan == nil || attempt == nil {
			t.Fatalf("the collector lacks the api's notify span or the worker's attempt span (%d requests): %+v", c.Requests(), c.Spans())
		}
		if attempt.TraceID != notifySpan.TraceID {
			t.Errorf("the attempt's trace %s is not notify's %s", attempt.TraceID, notifySpan.TraceID)
		}
		if sent.TraceID().String() != notifySpan.TraceID || sent.SpanID().String() != attempt.SpanID {
			t.Errorf("traceparent %q: want trace %s, parent %s (the attempt's span)", got.header.Get("traceparent"), notifySpan.TraceID, attempt.SpanID)
		}
		if attempt.Attrs["http.response.status_code"] != "200" || attempt.Attrs["pcx.webhook_id"] == "" {
			t.Errorf("attempt span attributes %v: want the status code and the endpoint", attempt.Attrs)
		}
	})

	t.Run("unset", func(t *testing.T) {
		def, err := tracingtest.NewCollectorAt(t, "127.0.0.1:4318")
		if err != nil {
			t.Logf("the exporters' default address is taken (%v): not checking that nothing is sent there", err)
		}
		send, stop := stack(t, "OTEL_EXPORTER_OTLP_ENDPOINT=", "OTEL_TRACES_SAMPLER=always_on")
		got := send()
		// A caller's trace context still reaches the receiver, through the workflow's header.
		const caller = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
		continued := send("traceparent", caller)
		stop()
		if sc := traceOf(got); !sc.IsValid() || sc.IsSampled() {
			t.Errorf("traceparent %q: want a valid trace context, its sampled flag off", got.header.Get("traceparent"))
		}
		if sc := traceOf(continued); sc.TraceID().String() != caller[3:35] || sc.SpanID().String() == caller[36:52] {
			t.Errorf("traceparent %q after a notify with %q: want the caller's trace, a span ID of its own", continued.header.Get("traceparent"), caller)
		}
		if def != nil && def.Connections() != 0 {
			t.Errorf("with no endpoint set, %d connection(s) reached the exporters' default address", def.Connections())
		}
	})
}
