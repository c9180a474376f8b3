// Package tracingtest is what tests of tracing need: an OpenTelemetry collector, an HTTP server
// that accepts what an OTLP/HTTP exporter sends (POST /v1/traces, protobuf, plain or gzip) and
// keeps the spans, so a test can point OTEL_EXPORTER_OTLP_ENDPOINT at it and check what a
// process exported; and an in-memory provider for the spans of this process.
package tracingtest

import (
	"compress/gzip"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace/noop"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	"google.golang.org/protobuf/proto"

	"github.com/pcx/publicservice/internal/tracing"
)

// Span is one exported span, flattened: the service.name of the resource it came with, and its
// string, integer and boolean attributes as text.
type Span struct {
	Service  string
	Name     string
	TraceID  string // 32 hex digits
	SpanID   string // 16 hex digits
	ParentID string // "" for a root
	Attrs    map[string]string
}

// Collector is a running OTLP/HTTP traces receiver.
type Collector struct {
	srv *httptest.Server

	mu          sync.Mutex
	spans       []Span
	requests    int
	connections int
}

// NewCollector starts a collector on a free loopback port, closed when the test ends.
func NewCollector(t testing.TB) *Collector {
	c := &Collector{}
	c.srv = httptest.NewUnstartedServer(http.HandlerFunc(c.serve))
	c.start(t)
	return c
}

// NewCollectorAt starts a collector on addr (such as the exporters' default, 127.0.0.1:4318),
// closed when the test ends; the error is the listen's (the address is taken).
func NewCollectorAt(t testing.TB, addr string) (*Collector, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	c := &Collector{}
	c.srv = httptest.NewUnstartedServer(http.HandlerFunc(c.serve))
	c.srv.Listener.Close()
	c.srv.Listener = ln
	c.start(t)
	return c, nil
}

// start serves, counting connections, until the test ends.
func (c *Collector) start(t testing.TB) {
	c.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			c.mu.Lock()
			c.connections++
			c.mu.Unlock()
		}
	}
	c.srv.Start()
	t.Cleanup(c.srv.Close)
}

// Connections is how many connections were made to the collector, whatever came over them (an
// exporter with the default https endpoint sends a TLS handshake this plain server refuses).
func (c *Collector) Connections() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.connections
}

// Endpoint is the collector's base URL, the value of OTEL_EXPORTER_OTLP_ENDPOINT.
func (c *Collector) Endpoint() string { return c.srv.URL }

// Spans are the spans received so far, in the order they came.
func (c *Collector) Spans() []Span {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Span(nil), c.spans...)
}

// Requests is how many export requests came, whatever their content.
func (c *Collector) Requests() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.requests
}

func (c *Collector) serve(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	c.requests++
	c.mu.Unlock()
	if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" {
		http.Error(w, "only POST /v1/traces", http.StatusNotFound)
		return
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = zr
	}
	b, err := io.ReadAll(body)
	var req coltracepb.ExportTraceServiceRequest
	if err == nil {
		err = proto.Unmarshal(b, &req)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var got []Span
	for _, rs := range req.GetResourceSpans() {
		service := attrs(rs.GetResource().GetAttributes())["service.name"]
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				got = append(got, Span{
					Service: service, Name: s.GetName(),
					TraceID: hex.EncodeToString(s.GetTraceId()), SpanID: hex.EncodeToString(s.GetSpanId()),
					ParentID: hex.EncodeToString(s.GetParentSpanId()), Attrs: attrs(s.GetAttributes()),
				})
			}
		}
	}
	c.mu.Lock()
	c.spans = append(c.spans, got...)
	c.mu.Unlock()
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

// attrs flattens OTLP attributes to text (the kinds the service's spans use).
func attrs(kvs []*commonpb.KeyValue) map[string]string {
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		v := kv.GetValue()
		switch v.GetValue().(type) {
		case *commonpb.AnyValue_StringValue:
			m[kv.GetKey()] = v.GetStringValue()
		case *commonpb.AnyValue_IntValue:
			m[kv.GetKey()] = strconv.FormatInt(v.GetIntValue(), 10)
		case *commonpb.AnyValue_BoolValue:
			m[kv.GetKey()] = map[bool]string{true: "true", false: "false"}[v.GetBoolValue()]
		}
	}
	return m
}

// InMemory installs, for the rest of the test, a provider that records every span at once into
// the returned exporter (as tracing.Setup installs the OTLP one), and the no-op provider again
// when the test ends. The provider is the process's: a test using it must not run in parallel
// with another that records spans.
func InMemory(t testing.TB) *tracetest.InMemoryExporter {
	exp := tracetest.NewInMemoryExporter()
	tracing.Install(sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp)))
	t.Cleanup(func() { tracing.Install(noop.NewTracerProvider()) })
	return exp
}
