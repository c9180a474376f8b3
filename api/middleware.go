package api

import (
	"context"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/pcx/publicservice/internal/logs"

	"github.com/go-chi/chi/v5"
	"github.com/rs/zerolog"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/pcx/publicservice/internal/httpx"
	"github.com/pcx/publicservice/internal/keyformat"
	"github.com/pcx/publicservice/internal/metrics"
	"github.com/pcx/publicservice/internal/tracing"
	"github.com/pcx/publicservice/pcx"
)

type ctxKey int

const ctxPrincipal ctxKey = iota

// principalFrom returns who the request acts for; only routes behind authenticate have one.
func principalFrom(ctx context.Context) pcx.Principal {
	p, _ := ctx.Value(ctxPrincipal).(pcx.Principal)
	return p
}

// statusWriter remembers the status and size of a response for the access log.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += n
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// accessLog writes one line per request: method, route pattern, path (never the query string,
// which is where a careless client would put a key, and with anything shaped like a key's secret
// redacted, since a careless client may paste a full key where a prefix belongs), status, size and duration. Fields the
// handlers add (org_id, prefix, event_id, ...) appear on the same line. The same figures feed the
// HTTP metrics, labelled by route pattern so IDs in paths do not explode the series.
func accessLog(m *metrics.Metrics, server string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			sw := &statusWriter{ResponseWriter: w}
			next.ServeHTTP(sw, r)
			elapsed := time.Since(start)
			route := routeOf(r)
			if route == "" {
				route = "unmatched"
			}
			if sw.status == 0 {
				sw.status = http.StatusOK
			}
			m.HTTPRequests.WithLabelValues(server, route, r.Method, strconv.Itoa(sw.status)).Inc()
			m.HTTPDuration.WithLabelValues(server, route, r.Method).Observe(elapsed.Seconds())
			zerolog.Ctx(r.Context()).Info().
				Str("method", r.Method).Str("route", route).Str("path", keyformat.Redact(r.URL.Path)).
				Int("status_code", sw.status).Int("bytes", sw.bytes).
				Float64("duration_ms", logs.Ms(elapsed)).
				Msg("request")
		})
	}
}

// routeOf is the route pattern r matched ("/public/webhooks/{webhook_id}"), once routed; "" if
// none.
func routeOf(r *http.Request) string {
	if rc := chi.RouteContext(r.Context()); rc != nil {
		return rc.RoutePattern()
	}
	return ""
}

// probes are the paths that are never traced (tracing.Untraced): a load balancer's and a
// scraper's calls every few seconds are not traces anyone reads.
var probes = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

// traced records each request as a server span (otelhttp), continuing a caller's W3C trace
// context, and puts its trace_id and span_id on the request's log lines. The span is named
// "<method> <route pattern>" ("POST /public/webhooks/notify"; only the method when no route
// matched), never after the raw path, and its url.path is redacted as the access log's path is:
// paths hold IDs, and a careless caller's key.
//
// With tracing off (tracing.On) no span is made, which would record nothing at the cost of about
// forty allocations a request: the caller's trace context, if any, is passed on as it is (to the
// workflow, and so to the deliveries) and logged.
func traced(server string) func(http.Handler) http.Handler {
	start := otelhttp.NewMiddleware(server, otelhttp.WithPropagators(tracing.Propagator),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method }))
	return func(next http.Handler) http.Handler {
		spanned := start(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			span := trace.SpanFromContext(r.Context())
			span.SetAttributes(semconv.URLPath(keyformat.Redact(r.URL.Path)))
			logTrace(r)
			next.ServeHTTP(w, r)
			if route := routeOf(r); route != "" {
				span.SetName(r.Method + " " + route)
				span.SetAttributes(semconv.HTTPRoute(route))
			}
		}))
		untraced := tracing.Untraced(next)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch {
			case probes[r.URL.Path]:
				untraced.ServeHTTP(w, r)
			case tracing.On():
				spanned.ServeHTTP(w, r)
			default:
				if ctx := tracing.Propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header)); ctx != r.Context() {
					r = r.WithContext(ctx) // a caller's trace context, passed on
					logTrace(r)
				}
				next.ServeHTTP(w, r)
			}
		})
	}
}

// logTrace puts the trace_id and span_id of r's span context on the request's log lines.
func logTrace(r *http.Request) {
	if !trace.SpanContextFromContext(r.Context()).IsValid() {
		return
	}
	zerolog.Ctx(r.Context()).UpdateContext(func(c zerolog.Context) zerolog.Context {
		return tracing.LogFields(r.Context(), c)
	})
}

// recoverer turns a panic into a logged 500 with the generic envelope.
func recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				zerolog.Ctx(r.Context()).Error().Interface("panic", v).Bytes("stack", debug.Stack()).Msg("handler panicked")
				httpx.WriteError(w, r, pcx.Errorf(pcx.EInternal, ""))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// limitBody caps every request body at MaxBodyBytes; reading past it fails with a 413.
func limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > MaxBodyBytes {
			httpx.WriteError(w, r, errBodyTooLarge)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
		next.ServeHTTP(w, r)
	})
}

// timeout bounds the work of a request: every store and Temporal call takes the context, so a
// slow dependency ends in a 503, not a hung connection.
func timeout(d time.Duration) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx, cancel := context.WithTimeout(r.Context(), d)
			defer cancel()
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}

// Authenticator resolves an X-API-Key header value.
type Authenticator interface {
	Authenticate(ctx context.Context, header string) (pcx.Principal, error)
}

// authenticate requires a valid X-API-Key. The key is read from that header only. A valid key
// is always let through; failed attempts are counted per client address and, past the limit,
// answered 429 instead of 401 (FailureLimiter).
func authenticate(auth Authenticator, limiter *FailureLimiter, m *metrics.Metrics) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			p, err := auth.Authenticate(r.Context(), r.Header.Get("X-API-Key"))
			if pcx.ErrorCode(err) == pcx.EUnauthenticated {
				if limited := limiter.fail(clientAddr(r)); limited != nil {
					m.AuthFailures.WithLabelValues("rate_limited").Inc()
					return limited
				}
				m.AuthFailures.WithLabelValues("unauthenticated").Inc()
			}
			if err != nil {
				return err
			}
			log := zerolog.Ctx(r.Context())
			log.UpdateContext(func(c zerolog.Context) zerolog.Context {
				return c.Str("org_id", p.OrgID).Str("prefix", p.Prefix)
			})
			ctx := context.WithValue(r.Context(), ctxPrincipal, p)
			// Who acts, and from where: what the audit record of any change it makes says.
			ctx = pcx.WithOrigin(ctx, pcx.Origin{Actor: pcx.KeyActor(p), RequestID: w.Header().Get("X-Request-ID"), ClientIP: peerHost(r)})
			next.ServeHTTP(w, r.WithContext(ctx))
			return nil
		})
	}
}

// requireScope refuses a request whose key lacks scope with 403 missing_scope; "" needs none.
// It runs after authenticate, so a bad key is still the one 401.
func requireScope(scope pcx.Scope) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		if scope == "" {
			return next
		}
		return httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			if !pcx.HasScope(principalFrom(r.Context()).Scopes, scope) {
				return pcx.MissingScope(scope)
			}
			next.ServeHTTP(w, r)
			return nil
		})
	}
}
